"""A frozen copy of mirrorcal's source for one benchmark run: others edit the work tree while
it runs, and every phase must measure the same code. Run with ``PYTHONPATH=<copy>``."""

from __future__ import annotations

import compileall
import hashlib
import shutil
import subprocess
from pathlib import Path


def digest(src: Path) -> str:
    """A short SHA-256 over the package's ``.py`` files (paths and contents) under ``src``."""
    found = hashlib.sha256()
    for path in sorted((src / "mirrorcal").rglob("*.py")):
        found.update(path.relative_to(src).as_posix().encode() + b"\0" + path.read_bytes())
    return found.hexdigest()[:12]


def take(root: Path, dest: Path) -> dict[str, object]:
    """Copy ``root/src`` (work tree, uncommitted changes included) to ``dest`` and byte-compile
    it, so no measured run pays for compiling; returns what was copied."""
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(root / "src", dest, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    compileall.compile_dir(dest, quiet=1)
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=False)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=root, capture_output=True, text=True, check=False)
    return {
        "commit": head.stdout.strip() or "?",
        "uncommitted_changes": bool(dirty.stdout.strip()),
        "source_digest": digest(dest),
        "path": str(dest),
    }
