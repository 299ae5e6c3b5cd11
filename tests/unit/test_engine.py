"""The engine over in-memory calendars and store: chains, echo, deletions, crashes, guards, bad input."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from mirrorcal.errors import TransientError
from mirrorcal.model import Attendee, Component, Event, Privacy
from mirrorcal.providers.base import Listing
from mirrorcal.providers.memory import MemoryCalendar
from mirrorcal.store.memory import MemoryStore
from mirrorcal.sync.engine import Engine
from mirrorcal.sync.spec import SyncSpec

LONDON = ZoneInfo("Europe/London")
TUESDAY = datetime(2026, 11, 24, tzinfo=LONDON)
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=LONDON)


def interview(uid: str, summary: str, start_h: float, minutes: int, **kw: object) -> Event:
    start = TUESDAY + timedelta(hours=start_h)
    c = Component(start=start, end=start + timedelta(minutes=minutes), summary=summary, **kw)  # type: ignore[arg-type]
    return Event(uid=uid, components=(c,))


class World:
    """The recruiter's calendars and the seed document's syncs, in memory."""

    def __init__(self, *, on_target_delete: str = "restore") -> None:
        self.store = MemoryStore()
        self.cal = {
            "personal": MemoryCalendar("personal"),
            "client-a": MemoryCalendar("client-a"),
            "client-b": MemoryCalendar("client-b"),
            "client-c": MemoryCalendar("client-c", read_only=True),
        }
        self.clients = {"personal": "me", "client-a": "A", "client-b": "B", "client-c": "C"}
        self.syncs = [
            self.spec(f"{c}-to-personal", c, "personal", Privacy.FULL, on_target_delete) for c in ("client-a", "client-b", "client-c")
        ] + [self.spec(f"personal-to-{c}", "personal", c, Privacy.PRIVATE, on_target_delete) for c in ("client-a", "client-b")]

    def spec(self, name: str, source: str, target: str, privacy: Privacy, on_target_delete: str) -> SyncSpec:
        return SyncSpec(
            name=name,
            source=source,
            target=target,
            privacy=privacy,
            on_target_delete=on_target_delete,
            source_client=self.clients[source],
            target_client=self.clients[target],
            owner_emails=frozenset({"recruiter@agency.example"}),
        )

    def engine(self) -> Engine:
        """A fresh engine each time, as a new process would be."""
        return Engine(self.cal, self.syncs, self.store, clients=self.clients, tz=LONDON, clock=lambda: NOW)

    async def sync(self, *names: str):
        return await self.engine().sync(list(names) or None)


def _summaries(cal: MemoryCalendar) -> list[str]:
    from mirrorcal import ical

    return [ical.parse_resource(s.text).master.summary for s in cal.items.values()]


def _raw(cal: MemoryCalendar) -> str:
    return "\n".join(s.text for s in cal.items.values())


@pytest.fixture
def world() -> World:
    w = World()
    w.cal["client-a"].user_put(interview("john@a", "John / Sr. Engineer (Client A)", 9, 60))
    w.cal["client-b"].user_put(interview("maria@b", "Maria / PM (Client B)", 10, 30))
    return w


async def test_the_recruiters_tuesday(world: World) -> None:
    reports = await world.sync()
    assert all(r.ok for r in reports.values()), reports
    assert _summaries(world.cal["personal"]) == ["John / Sr. Engineer (Client A)", "Maria / PM (Client B)"]
    # Client A sees Maria only as Busy, and never its own John twice; Client B the reverse.
    assert sorted(_summaries(world.cal["client-a"])) == ["Busy", "John / Sr. Engineer (Client A)"]
    assert sorted(_summaries(world.cal["client-b"])) == ["Busy", "Maria / PM (Client B)"]
    assert "Maria" not in _raw(world.cal["client-a"]) and "Client B" not in _raw(world.cal["client-a"])
    assert "John" not in _raw(world.cal["client-b"])
    # a chain: David booked in C's read-only feed reaches A and B as Busy in the same run
    world.cal["client-c"].user_put(interview("david@c", "David / Designer (Client C)", 9 + 50 / 60, 30))
    await world.sync("client-c-to-personal")
    assert sorted(_summaries(world.cal["client-a"])) == ["Busy", "Busy", "John / Sr. Engineer (Client A)"]
    assert "David" not in _raw(world.cal["client-a"])


async def test_nothing_changed_means_nothing_written_or_fetched(world: World) -> None:
    await world.sync()
    before = {n: c.calls.copy() for n, c in world.cal.items()}
    reports = await world.sync()
    assert sum(r.writes for r in reports.values()) == 0
    for name, cal in world.cal.items():
        calls = cal.calls - before[name]
        assert set(calls) <= {"list_changes"}, (name, calls)
        assert calls["list_changes"] == 1  # one listing per calendar per round, shared by its syncs


async def test_changed_event_updates_its_mirrors_down_the_chain(world: World) -> None:
    await world.sync()
    moved = interview("maria@b", "Maria / PM (Client B)", 11, 30)
    world.cal["client-b"].user_put(moved)
    reports = await world.sync()
    assert reports["client-b-to-personal"].counts["updated"] == 1
    assert reports["personal-to-client-a"].counts["updated"] == 1
    assert reports["personal-to-client-b"].writes == 0


async def test_cancelled_at_source_removes_mirrors_everywhere(world: World) -> None:
    await world.sync()
    world.cal["client-b"].user_delete(world.cal["client-b"].href_for("maria@b"))
    await world.sync()
    assert _summaries(world.cal["personal"]) == ["John / Sr. Engineer (Client A)"]
    assert _summaries(world.cal["client-a"]) == ["John / Sr. Engineer (Client A)"]


async def test_deleting_a_mirror_never_touches_the_source_and_is_restored(world: World) -> None:
    await world.sync()
    personal = world.cal["personal"]
    john_mirror = next(h for h, s in personal.items.items() if "John" in s.text)
    personal.user_delete(john_mirror)
    reports = await world.sync()
    assert sorted(_summaries(world.cal["client-a"])) == ["Busy", "John / Sr. Engineer (Client A)"]
    assert reports["client-a-to-personal"].counts["created"] == 1  # restored
    assert "John / Sr. Engineer (Client A)" in _summaries(personal)


async def test_forget_mode_keeps_a_deleted_mirror_deleted() -> None:
    w = World(on_target_delete="forget")
    w.cal["client-a"].user_put(interview("john@a", "John", 9, 60))
    await w.sync()
    personal = w.cal["personal"]
    personal.user_delete(next(iter(personal.items)))
    await w.sync()
    await w.sync()
    assert _summaries(personal) == [] and _summaries(w.cal["client-a"]) == ["John"]
    # the origin goes away later: the forgotten row goes with it, nothing else happens
    w.cal["client-a"].user_delete(w.cal["client-a"].href_for("john@a"))
    reports = await w.sync()
    assert all(r.ok for r in reports.values())
    assert w.store.mirrors("client-a-to-personal") == {}


async def test_crash_after_write_before_commit_does_not_duplicate(world: World) -> None:
    personal = world.cal["personal"]
    personal.fail_next(1, TransientError("connection dropped"), after=True)  # the PUT lands, the answer is lost
    first = await world.sync("client-a-to-personal")
    assert not first["client-a-to-personal"].ok
    await world.sync()
    assert _summaries(personal) == ["John / Sr. Engineer (Client A)", "Maria / PM (Client B)"]


async def test_one_failing_calendar_holds_up_no_other(world: World) -> None:
    world.cal["client-b"].fail_next(10, TransientError("server down"))
    reports = await world.sync()
    assert not reports["client-b-to-personal"].ok and "server down" in reports["client-b-to-personal"].errors[0]
    assert reports["client-a-to-personal"].ok and _summaries(world.cal["personal"]) == ["John / Sr. Engineer (Client A)"]


async def test_one_slow_calendar_holds_up_no_other(world: World) -> None:
    gate = asyncio.Event()
    slow = world.cal["client-b"]
    original = slow.list_changes

    async def stalled(cursor: str | None, known: object = None) -> Listing:
        await gate.wait()
        return await original(cursor, known)  # type: ignore[arg-type]

    slow.list_changes = stalled  # type: ignore[method-assign]
    task = asyncio.ensure_future(world.sync("client-a-to-personal", "client-b-to-personal"))
    for _ in range(200):
        if _summaries(world.cal["personal"]):
            break
        await asyncio.sleep(0.01)
    assert _summaries(world.cal["personal"]) == ["John / Sr. Engineer (Client A)"]  # while B still hangs
    gate.set()
    await task
    assert len(_summaries(world.cal["personal"])) == 2


async def test_source_that_suddenly_lists_nothing_deletes_no_mirror(world: World) -> None:
    world.cal["client-a"].user_put(interview("jane@a", "Jane", 14, 60))
    await world.sync()
    a = world.cal["client-a"]
    for href in list(a.items):
        a.user_delete(href)
    a.expire_cursors()  # the next listing is a full one, and it is empty
    reports = await world.sync()
    assert "lists no events" in reports["client-a-to-personal"].errors[0]
    assert len(_summaries(world.cal["personal"])) == 3


async def test_allow_empty_covers_a_calendar_that_is_source_and_target(world: World) -> None:
    """Personal is emptied (every mirror deleted by hand, its own events cancelled): with
    --allow-empty the run accepts it as source and as target alike and restores the mirrors."""
    world.cal["personal"].user_put(interview("own@p", "Dentist", 16, 30))
    await world.sync()
    personal = world.cal["personal"]
    for href in list(personal.items):
        personal.user_delete(href)
    personal.expire_cursors()
    refused = await world.engine().sync()
    assert all("lists no events" in r.errors[0] for n, r in refused.items() if "personal" in n)
    reports = await world.engine().sync(allow_empty=True)
    assert all(r.ok for r in reports.values()), {n: r.errors for n, r in reports.items()}
    assert sorted(_summaries(personal)) == ["John / Sr. Engineer (Client A)", "Maria / PM (Client B)"]
    assert sorted(_summaries(world.cal["client-a"])) == ["Busy", "John / Sr. Engineer (Client A)"]


async def test_failed_read_deletes_no_mirror(world: World) -> None:
    await world.sync()
    world.cal["client-a"].fail_next(5, TransientError("timeout"))
    await world.sync()
    assert len(_summaries(world.cal["personal"])) == 2


async def test_malformed_event_is_reported_and_the_rest_syncs(world: World) -> None:
    world.cal["client-a"].put_raw("/broken.ics", "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nSUMMARY:no start\nEND:VEVENT\nEND:VCALENDAR\n")
    reports = await world.sync()
    report = reports["client-a-to-personal"]
    assert report.counts["errors"] == 1 and "broken.ics" in report.errors[0]
    assert _summaries(world.cal["personal"]) == ["John / Sr. Engineer (Client A)", "Maria / PM (Client B)"]
    assert any(h.action == "error" for h in world.store.history("client-a-to-personal"))


async def test_expired_cursor_lists_everything_without_duplicates(world: World) -> None:
    await world.sync()
    for cal in world.cal.values():
        cal.expire_cursors()
    reports = await world.sync()
    assert sum(r.writes for r in reports.values()) == 0
    assert len(world.cal["personal"].items) == 2


async def test_declined_free_and_cancelled_are_not_copied(world: World) -> None:
    a = world.cal["client-a"]
    a.user_put(interview("free@a", "Focus", 13, 60, transparent=True))
    a.user_put(interview("cx@a", "Cancelled", 14, 60, status="CANCELLED"))
    a.user_put(interview("dec@a", "Declined", 15, 60, attendees=(Attendee("Recruiter@Agency.example", partstat="DECLINED"),)))
    reports = await world.sync()
    assert reports["client-a-to-personal"].counts["skipped"] == 4  # the three, and Maria's Busy block (echo)
    assert len(world.cal["personal"].items) == 2
    reasons = {h.origin_key: h.reason for h in world.store.history("client-a-to-personal") if h.action == "skipped"}
    assert reasons["free@a"].startswith("free") and reasons["cx@a"] == "cancelled" and reasons["dec@a"] == "declined"


async def test_a_paused_sync_does_not_run_even_in_a_chain(world: World) -> None:
    from dataclasses import replace

    world.syncs = [replace(s, paused=s.name == "client-a-to-personal") for s in world.syncs]
    reports = await world.sync()
    assert "client-a-to-personal" not in reports
    assert _summaries(world.cal["personal"]) == ["Maria / PM (Client B)"]
    assert "client-b-to-personal" in reports and "client-a-to-personal" not in await world.sync("client-a-to-personal")


async def test_two_way_pair_never_bounces() -> None:
    store = MemoryStore()
    cal = {"x": MemoryCalendar("x"), "y": MemoryCalendar("y")}
    cal["x"].user_put(interview("e1@x", "From X", 9, 30))
    cal["y"].user_put(interview("e2@y", "From Y", 11, 30))
    syncs = [
        SyncSpec(name="xy", source="x", target="y", pair="xy~back"),
        SyncSpec(name="xy~back", source="y", target="x", pair="xy"),
    ]
    engine = Engine(cal, syncs, store, tz=LONDON, clock=lambda: NOW)
    await engine.sync()
    again = await Engine(cal, syncs, store, tz=LONDON, clock=lambda: NOW).sync()
    assert sum(r.writes for r in again.values()) == 0
    assert sorted(_summaries(cal["x"])) == sorted(_summaries(cal["y"])) == ["From X", "From Y"]


async def test_unsync_deletes_only_that_syncs_mirrors(world: World) -> None:
    await world.sync()
    world.cal["client-a"].user_put(interview("own@a", "Client A's own event", 16, 30))
    report = await world.engine().unsync("personal-to-client-a")
    assert report.counts["deleted"] == 1
    assert sorted(_summaries(world.cal["client-a"])) == ["Client A's own event", "John / Sr. Engineer (Client A)"]
    assert len(world.cal["personal"].items) == 2
