"""``python -m mirrorcal``: the same as the ``mirrorcal`` command."""

from .cli import main

main()
