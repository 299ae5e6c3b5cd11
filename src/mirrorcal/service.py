"""The long-running sync service behind ``mirrorcal run``: polls each calendar on its own
interval, syncs at once what a push notification names (chains included, in one burst) and
reports new conflicts the moment they appear."""

from __future__ import annotations

import asyncio
import logging
import time as clock
from collections.abc import Callable
from datetime import datetime

from .config import Config
from .conflicts import Conflict
from .push import Channels, PushReceiver
from .sync.engine import Engine, SyncReport
from .unified import BusyCache, conflicts_between

log = logging.getLogger(__name__)


def conflict_key(c: Conflict) -> tuple[str, str, str, str]:
    return (c.a.root, c.b.root, c.a.start.isoformat(), c.b.start.isoformat())


class Service:
    """Polls and syncs until ``stop()``; see the module docstring.

    ``on_report`` receives each round's reports that wrote or failed; ``on_conflict`` each
    conflict not seen before (looking ``conflict_days`` ahead on the unified calendars).
    ``needs_reauth`` returns the calendars whose connection must be signed in again: their
    syncs stop (nothing is deleted) and ``on_reauth`` hears of each such calendar once.
    With ``[push]`` configured, a receiver listens for notifications and channels are kept
    open for the Google and Microsoft calendars; polling continues as the backstop.
    """

    def __init__(
        self,
        config: Config,
        engine: Engine,
        *,
        interval: float | None = None,
        on_report: Callable[[dict[str, SyncReport]], None] | None = None,
        on_conflict: Callable[[Conflict], None] | None = None,
        conflict_days: int = 14,
        needs_reauth: Callable[[], set[str]] | None = None,
        on_reauth: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.engine = engine
        self.interval = interval
        self.on_report = on_report
        self.on_conflict = on_conflict
        self.conflict_days = conflict_days
        self.seen: set[tuple[str, str, str, str]] = set()
        self.busy = BusyCache()
        self._checked: tuple[object, ...] | None = None
        self.cycles = 0
        self.needs_reauth = needs_reauth or set
        self.on_reauth = on_reauth
        self.stopped: set[str] = set()
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        used = {s.source for s in config.syncs} | {s.target for s in config.syncs}
        self.due = {name: 0.0 for name in config.calendars if name in used}
        self._poked: set[str] = set()  # poked since their last cycle began
        self.receiver: PushReceiver | None = None
        self.channels: Channels | None = None
        self.push_port: int | None = None

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def poll_seconds(self, calendar: str) -> float:
        """The interval given on the command line, else the calendar's ``poll_seconds``; a feed
        whose REFRESH-INTERVAL / X-PUBLISHED-TTL asks for more frequent reads gets them (never
        below 30 s). A longer REFRESH-INTERVAL is not obeyed: conditional GETs cost a 304."""
        if self.interval is not None:
            return self.interval
        configured = float(self.config.calendars[calendar].poll_seconds)
        published = getattr(self.engine.calendars.get(calendar), "refresh_interval", None)
        if published:
            return max(30.0, min(configured, float(published)))
        return configured

    async def cycle(self, ready: list[str]) -> dict[str, SyncReport]:
        """One polling cycle over the ``ready`` calendars: sync what touches them, then conflicts."""
        stopped = self.needs_reauth()
        for calendar in sorted(stopped - self.stopped):
            log.warning("calendar %s needs re-authorisation: its syncs stop until it is connected again", calendar)
            if self.on_reauth:
                self.on_reauth(calendar)
        self.stopped = stopped
        names = [
            s.name
            for s in self.config.syncs
            if (s.source in ready or s.target in ready) and not {s.source, s.target} & stopped
        ]
        reports = await self.engine.sync(names, paused=stopped) if names else {}
        self.cycles += 1
        if self.on_report:
            busy = {n: r for n, r in reports.items() if r.writes or r.errors}
            if busy:
                self.on_report(busy)
        self.check_conflicts()
        return reports

    def check_conflicts(self) -> list[Conflict]:
        """New conflicts on the unified calendars since the last check (nothing to do, and
        nothing read, when no unified calendar changed and the day is the same)."""
        unified = [(n, c.emails) for n, c in self.config.calendars.items() if c.unified]
        start = datetime.now(self.config.timezone).replace(hour=0, minute=0, second=0, microsecond=0)
        state = (start, *(self.engine.generation(n) for n, _ in unified))
        if state == self._checked:
            return []
        self._checked = state
        found, _ = conflicts_between(
            self.engine.store,
            unified,
            start=start,
            days=self.conflict_days,
            tz=self.config.timezone,
            buffer=self.config.conflict_buffer,
            working_hours=self.config.conflict_working_hours,
            cache=self.busy,
        )
        fresh = [c for c in found if conflict_key(c) not in self.seen]
        self.seen = {conflict_key(c) for c in found}
        for c in fresh:
            if self.on_conflict:
                self.on_conflict(c)
        return fresh

    async def serve(self) -> None:
        """Poll (and listen for pushes) until ``stop()``."""
        await self._start_push()
        try:
            await self._loop()
        finally:
            await self._stop_push()

    async def _start_push(self) -> None:
        push = self.config.push
        if push is None:
            return
        self.receiver = PushReceiver(self.poke)
        self.push_port = await self.receiver.start(push.host, push.port)
        public = push.public_url
        if push.port == 0:  # tests: the port is known only now
            public = public.replace(":0", f":{self.push_port}", 1)
        self.channels = Channels(self.receiver, self.engine.calendars, public)
        await self.channels.maintain()

    async def _stop_push(self) -> None:
        if self.channels is not None:
            await self.channels.close()
        if self.receiver is not None:
            await self.receiver.stop()

    async def _loop(self) -> None:
        next_maintenance = clock.monotonic() + 60
        while not self._stop.is_set():
            now = clock.monotonic()
            ready = [c for c, t in self.due.items() if t <= now]
            if ready:
                self._poked.difference_update(ready)
                try:
                    await self.cycle(ready)
                except Exception:  # noqa: BLE001 - the service must outlive any one bad cycle
                    log.exception("sync cycle failed")
                for c in ready:
                    if c not in self._poked:  # a push during its cycle may be newer than what it read
                        self.due[c] = clock.monotonic() + self.poll_seconds(c)
            if self.channels is not None and clock.monotonic() >= next_maintenance:
                await self.channels.maintain()
                next_maintenance = clock.monotonic() + 60
            wait = max(0.0, min(self.due.values(), default=now + 1.0) - clock.monotonic())
            if wait > 0:
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=wait)
                except TimeoutError:
                    pass
            self._wake.clear()

    def poke(self, calendar: str | None = None) -> None:
        """Make a calendar (all when None) due now and wake the loop, e.g. after a push notification."""
        for c in self.due:
            if calendar is None or c == calendar:
                self.due[c] = 0.0
                self._poked.add(c)
        self._wake.set()


def format_conflict(c: Conflict) -> str:
    def hm(t: datetime) -> str:
        return t.strftime("%a %d %b %H:%M")

    proposal = f"; proposed: move {c.b.summary!r} to {hm(c.proposed_start)}" if c.proposed_start else "; no free slot found"
    gap = f"overlap {c.overlap_minutes} min" if c.overlap_minutes else "too close (buffer)"
    return (
        f"{c.a.summary!r} ({c.a.calendar}, {hm(c.a.start)}-{c.a.end:%H:%M}) and "
        f"{c.b.summary!r} ({c.b.calendar}, {hm(c.b.start)}-{c.b.end:%H:%M}): {gap}{proposal}"
    )

