"""A Hypothesis state machine over in-memory calendars, in the style of vdirsyncer's: whatever the
recruiter, the providers and crashes do, a clean sync converges to exactly one mirror per origin
per target, nothing echoes, and a second sync writes nothing."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from mirrorcal import ical
from mirrorcal.errors import TransientError
from mirrorcal.model import Component, Event, Privacy
from mirrorcal.providers.memory import MemoryCalendar
from mirrorcal.store.memory import MemoryStore
from mirrorcal.sync.engine import Engine
from mirrorcal.sync.spec import SyncSpec

TZ = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 11, 23, 8, tzinfo=TZ)
CLIENTS = {"a": "A", "b": "B", "p": "me"}
ORIGINS = ("a", "b", "p")


def _spec(name: str, source: str, target: str, privacy: Privacy) -> SyncSpec:
    return SyncSpec(
        name=name, source=source, target=target, privacy=privacy, source_client=CLIENTS[source], target_client=CLIENTS[target]
    )


SYNCS = [
    _spec("a-p", "a", "p", Privacy.FULL),
    _spec("b-p", "b", "p", Privacy.FULL),
    _spec("p-a", "p", "a", Privacy.PRIVATE),
    _spec("p-b", "p", "b", Privacy.PRIVATE),
]


def _events(cal: MemoryCalendar) -> list[Event]:
    return [ical.parse_resource(s.text) for s in cal.items.values()]


class SyncMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.store = MemoryStore()
        self.cal = {n: MemoryCalendar(n) for n in ORIGINS}
        self.origins: dict[str, tuple[str, str]] = {}  # uid -> (calendar, href)
        self.counter = 0

    def _sync(self, *, allow_empty: bool = False) -> dict[str, object]:
        engine = Engine(self.cal, SYNCS, self.store, clients=CLIENTS, tz=TZ, clock=lambda: NOW)
        return asyncio.run(engine.sync(allow_empty=allow_empty))

    @rule(where=st.sampled_from(ORIGINS), hour=st.integers(0, 23 * 4), minutes=st.sampled_from([15, 30, 60, 90]))
    def book(self, where: str, hour: int, minutes: int) -> None:
        self.counter += 1
        uid = f"ev{self.counter}@{where}"
        start = NOW + timedelta(days=1, minutes=15 * hour)
        event = Event(uid, (Component(start=start, end=start + timedelta(minutes=minutes), summary=f"Interview {uid}"),))
        self.origins[uid] = (where, self.cal[where].user_put(event))

    @precondition(lambda self: self.origins)
    @rule(data=st.data(), shift=st.integers(-8, 8))
    def reschedule(self, data: st.DataObject, shift: int) -> None:
        uid = data.draw(st.sampled_from(sorted(self.origins)))
        where, href = self.origins[uid]
        event = ical.parse_resource(self.cal[where].items[href].text)
        c = event.master
        moved = Component(start=c.start + timedelta(minutes=15 * shift), end=c.end + timedelta(minutes=15 * shift), summary=c.summary + "!")
        self.cal[where].user_put(Event(uid, (moved,)), href=href)

    @precondition(lambda self: self.origins)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        uid = data.draw(st.sampled_from(sorted(self.origins)))
        where, href = self.origins.pop(uid)
        self.cal[where].user_delete(href)

    @rule(data=st.data(), where=st.sampled_from(ORIGINS))
    def delete_a_mirror(self, data: st.DataObject, where: str) -> None:
        cal = self.cal[where]
        mirrors = sorted(h for h, s in cal.items.items() if "X-MIRRORCAL-MIRROR" in s.text)
        if mirrors:
            cal.user_delete(data.draw(st.sampled_from(mirrors)))

    @rule(where=st.sampled_from(ORIGINS))
    def expire_cursors(self, where: str) -> None:
        self.cal[where].expire_cursors()

    @rule(where=st.sampled_from(ORIGINS), after=st.booleans(), n=st.integers(1, 3))
    def provider_fails(self, where: str, after: bool, n: int) -> None:
        self.cal[where].fail_next(n, TransientError("injected"), after=after)

    @rule()
    def sync_while_faulty(self) -> None:
        self._sync()

    @rule()
    def clean_sync_converges(self) -> None:
        for cal in self.cal.values():
            cal._failures.clear()
        # allow_empty: the mass-deletion guard (tested on its own) would rightly keep the
        # mirrors of a calendar whose every event was cancelled at once.
        self._sync(allow_empty=True)
        second = self._sync(allow_empty=True)
        assert sum(r.writes for r in second.values()) == 0, {n: r.counts for n, r in second.items()}  # type: ignore[attr-defined]
        self._check_exact()

    def _check_exact(self) -> None:
        by_origin = Counter(where for where, _ in self.origins.values())
        events = {n: _events(c) for n, c in self.cal.items()}
        # personal: its own + a full mirror of every client event
        personal = Counter(e.master.summary.rstrip("!") for e in events["p"])
        for uid in self.origins:
            assert personal[f"Interview {uid}"] == 1, (uid, personal)
        assert len(events["p"]) == len(self.origins)
        # each client: its own + one Busy per event of the other client and of personal
        for client, other in (("a", "b"), ("b", "a")):
            busy = [e for e in events[client] if e.master.summary == "Busy"]
            own = [e for e in events[client] if e.master.summary != "Busy"]
            assert len(own) == by_origin[client]
            assert len(busy) == by_origin[other] + by_origin["p"], (client, len(busy), by_origin)
            assert all("Interview" not in (e.raw or "") for e in busy)

    @invariant()
    def no_mirror_uid_twice(self) -> None:
        for cal in self.cal.values():
            uids = Counter(ical.parse_resource(s.text).uid for s in cal.items.values())
            assert all(n == 1 for n in uids.values()), uids


SyncMachine.TestCase.settings = settings(
    max_examples=40, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestSync = SyncMachine.TestCase
