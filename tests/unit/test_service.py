"""The polling service: intervals per calendar, one cycle syncs what changed and reports new conflicts once."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from mirrorcal.config import CalendarConfig, Config
from mirrorcal.conflicts import Conflict
from mirrorcal.model import Component, Event
from mirrorcal.providers.memory import MemoryCalendar
from mirrorcal.service import Service
from mirrorcal.store.memory import MemoryStore
from mirrorcal.sync.engine import Engine, SyncReport
from mirrorcal.sync.spec import SyncSpec

TZ = ZoneInfo("Europe/London")


def _world() -> tuple[Config, Engine, dict[str, MemoryCalendar]]:
    cals = {"a": MemoryCalendar("a"), "p": MemoryCalendar("p"), "feed": MemoryCalendar("feed", read_only=True)}
    config = Config(
        database_url="sqlite://",
        timezone=TZ,
        calendars={
            "a": CalendarConfig("a", "caldav", url="http://127.0.0.1/a/", unified=False, client="A", poll_seconds=30),
            "p": CalendarConfig("p", "caldav", url="http://127.0.0.1/p/", unified=True, client="me", poll_seconds=30),
            "feed": CalendarConfig("feed", "ics", url="http://127.0.0.1/f.ics", unified=False, client="C", read_only=True, poll_seconds=300),
        },
        syncs=[SyncSpec(name="a-p", source="a", target="p"), SyncSpec(name="f-p", source="feed", target="p")],
    )
    engine = Engine(cals, config.syncs, MemoryStore(), clients={"a": "A", "p": "me", "feed": "C"}, tz=TZ)
    return config, engine, cals


def _event(uid: str, start: datetime, minutes: int) -> Event:
    return Event(uid, (Component(start=start, end=start + timedelta(minutes=minutes), summary=uid),))


def test_poll_intervals() -> None:
    config, engine, cals = _world()
    service = Service(config, engine)
    assert service.poll_seconds("p") == 30 and service.poll_seconds("feed") == 300
    cals["feed"].refresh_interval = 60  # type: ignore[attr-defined]  # the feed asks for more frequent reads
    assert service.poll_seconds("feed") == 60
    cals["feed"].refresh_interval = 5  # type: ignore[attr-defined]
    assert service.poll_seconds("feed") == 30
    cals["feed"].refresh_interval = 3600  # type: ignore[attr-defined]
    assert service.poll_seconds("feed") == 300
    assert Service(config, engine, interval=0.5).poll_seconds("feed") == 0.5


async def test_a_cycle_syncs_and_reports_each_conflict_once() -> None:
    config, engine, cals = _world()
    found: list[Conflict] = []
    service = Service(config, engine, on_conflict=found.append)
    tomorrow = datetime.now(TZ).replace(hour=9, minute=0, second=0, microsecond=0) + timedelta(days=1)
    cals["a"].user_put(_event("john@a", tomorrow, 60))
    await service.cycle(["a", "p", "feed"])
    assert len(cals["p"].items) == 1 and found == []
    cals["feed"].user_put(_event("david@c", tomorrow + timedelta(minutes=50), 30))
    await service.cycle(["feed"])
    assert [(c.a.summary, c.b.summary, c.overlap_minutes) for c in found] == [("john@a", "david@c", 10)]
    assert found[0].proposed_start == tomorrow + timedelta(minutes=60)
    await service.cycle(["a", "p", "feed"])
    assert len(found) == 1  # not news the second time


async def test_a_push_that_lands_while_its_calendar_syncs_is_not_lost() -> None:
    # The cycle may have read the calendar before the change the notification announces:
    # the calendar must run again at once, not at its next poll (ten minutes here).
    config, engine, _ = _world()
    service = Service(config, engine, interval=600)
    cycles: list[list[str]] = []
    real_cycle = service.cycle

    async def cycle(ready: list[str]) -> dict[str, SyncReport]:
        cycles.append(sorted(ready))
        if len(cycles) == 1:
            service.poke("a")  # a notification for "a" arrives mid-cycle
        return await real_cycle(ready)

    service.cycle = cycle  # type: ignore[method-assign]
    runner = asyncio.create_task(service.serve())
    try:
        for _ in range(100):
            if len(cycles) >= 2:
                break
            await asyncio.sleep(0.01)
    finally:
        service.stop()
        await runner
    assert cycles[:2] == [["a", "feed", "p"], ["a"]]
