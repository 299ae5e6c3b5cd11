"""A background loop over work that falls due: the mail outbox's and the webhooks' senders.

``DueLoop`` runs ``run_due()`` in its own task whenever it is woken (``wake()``, from any thread),
when ``next_due()`` says the next item falls due, and at least every ``poll`` seconds (another
process may add work). A failing round is logged and the loop goes on. Subclasses give
``run_due``, ``next_due``, ``schedule`` (the retry delays) and the names in ``NAME``; they may
open and close what a round needs in ``_open`` / ``_close``.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

log = logging.getLogger(__name__)


class DueLoop(abc.ABC):
    NAME = "work"
    """What is sent, in log lines and the task's name ("mail", "webhook")."""

    def __init__(self, *, schedule: Sequence[float], poll: float, clock: Callable[[], datetime] | None = None) -> None:
        self.schedule = tuple(schedule)
        self.poll = poll
        self.attempts = 0
        """Every attempt made (tests wait on it)."""
        self._now = clock or (lambda: datetime.now(UTC))
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False

    @property
    def max_attempts(self) -> int:
        """Attempts in all before giving up: one more than the retry delays."""
        return len(self.schedule) + 1

    @abc.abstractmethod
    async def run_due(self) -> int:
        """Attempt everything due now, once; returns how many were attempted."""

    @abc.abstractmethod
    def next_due(self) -> datetime | None:
        """When the next pending item falls due (None: nothing pending)."""

    async def _open(self) -> None:
        """Called by ``start`` before the loop runs."""

    async def _close(self) -> None:
        """Called by ``stop`` after the loop ended."""

    # lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError(f"the {self.NAME} sender is already started")
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        await self._open()
        self._task = asyncio.create_task(self._serve(), name=f"mirrorcal {self.NAME} sender")

    async def stop(self) -> None:
        """Stop; an attempt in flight is cancelled (its item stays pending and is tried later)."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._close()

    @property
    def started(self) -> bool:
        return self._task is not None and not self._task.done()

    def wake(self, *_: object) -> None:
        """Look for due work now; safe from any thread, a no-op when not running. Takes and
        ignores any arguments, so it can be passed as a listener."""
        loop = self._loop
        if loop is None or self._stopping or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    # the loop ---------------------------------------------------------------------------------
    async def _serve(self) -> None:
        while not self._stopping:
            self._wake.clear()
            wait = self.poll
            try:
                await self.run_due()
                nxt = self.next_due()
                if nxt is not None:
                    wait = min(wait, max(0.0, (nxt - self._now()).total_seconds()))
            except Exception:  # noqa: BLE001 - the sender must outlive a failing store
                log.exception("the %s sender could not read what is due", self.NAME)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)
