"""GraphCalendar against the Graph emulator: what the contract suite does not cover."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from factories import interview, weekly_series
from graph_receiver import Receiver

from mirrorcal.errors import (
    AlreadyExistsError,
    ConflictError,
    CursorExpiredError,
    InvalidEventError,
    NotFoundError,
)
from mirrorcal.model import Component, Event
from mirrorcal.providers.base import Listing
from mirrorcal.providers.graph import GraphCalendar
from mirrorcal.providers.graph_mapping import kept
from mirrorcal.providers.http import make_client
from mirrorcal.testing.graph import GraphEmulator

sys.path.insert(0, str(Path(__file__).parents[1] / "contract"))
from graph_harness import graph_calendar  # noqa: E402

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def emu() -> Iterator[GraphEmulator]:
    with GraphEmulator() as emulator:
        emulator.faults.retry_after = 0.01
        emulator.faults.hang_seconds = 0.6
        yield emulator


@pytest.fixture
async def cal(emu: GraphEmulator) -> AsyncIterator[GraphCalendar]:
    headers = {"Authorization": f"Bearer {emu.access_token}"}
    async with make_client(timeout=0.3, headers=headers) as client:
        yield graph_calendar(emu, client, emu.calendar_id, page_size=3)


def uid() -> str:
    return f"{uuid.uuid4()}@test"


async def listing_events(cal: GraphCalendar) -> dict[str, Event]:
    return {i.event.uid: i.event for i in (await cal.list_changes(None)).items}


async def test_token_reset_raises_cursor_expired_for_both_codes(
    emu: GraphEmulator, cal: GraphCalendar
) -> None:
    await cal.create(interview(uid()))
    first = await cal.list_changes(None)
    second = await cal.list_changes(first.cursor)
    emu.expire_delta_tokens()
    for cursor in (first.cursor, second.cursor):  # answered syncStateNotFound, then resyncRequired
        with pytest.raises(CursorExpiredError):
            await cal.list_changes(cursor)
    with pytest.raises(CursorExpiredError):
        await cal.list_changes("graph:not json")
    again = await cal.list_changes(None)
    assert again.full and len(again.items) == 1


async def test_create_retried_after_a_lost_answer_makes_one_event(
    emu: GraphEmulator, cal: GraphCalendar
) -> None:
    ev = interview(uid())
    emu.faults.fail_next(1, "timeout")  # the lookup answers late; then the POST is answered late
    emu.faults.fail_next(1, "timeout")
    ref = await cal.create(ev)
    assert len(emu.events()) == 1 and emu.events()[0]["id"] == ref.href
    assert emu.faults.injected["timeout"] == 2
    with pytest.raises(AlreadyExistsError):
        await cal.create(ev)
    [got] = await cal.get([cal.href_for(ev.uid)])
    assert got.href == ref.href and got.event == kept(ev)


async def test_twenty_percent_faults_converge(emu: GraphEmulator, cal: GraphCalendar) -> None:
    emu.faults.kinds = ("429", "500", "timeout")
    emu.faults.rate = 0.2
    emu.faults._random.seed(7)
    wanted: dict[str, Event] = {}
    for n in range(6):
        ev = interview(uid(), f"Interview {n}", day=2 + n)
        try:
            await cal.create(ev)
        except AlreadyExistsError:
            pass  # a retried create found its own first attempt
        wanted[ev.uid] = ev
    series = weekly_series(uid())
    await cal.create(series)
    wanted[series.uid] = series
    listing = await cal.list_changes(None)
    for item in listing.items[:2]:
        try:
            await cal.delete(item.href, None)
        except NotFoundError:
            pass  # deleted by the attempt whose answer was lost
        del wanted[item.event.uid]
    emu.faults.clear()
    assert sum(emu.faults.injected.values()) > 0
    assert await listing_events(cal) == {u: kept(e) for u, e in wanted.items()}


async def test_stale_etag_and_the_412_fault_raise_conflict(emu: GraphEmulator, cal: GraphCalendar) -> None:
    ev = interview(uid())
    ref = await cal.create(ev)
    emu.faults.fail_next(1, "412")
    with pytest.raises(ConflictError):
        await cal.update(ref.href, interview(ev.uid, "changed"), ref.etag)
    with pytest.raises(ConflictError):
        await cal.delete(ref.href, ref.etag)
    [item] = await cal.get([ref.href])
    await cal.delete(ref.href, item.etag)
    assert emu.events() == []


async def test_series_edited_in_outlook(emu: GraphEmulator, cal: GraphCalendar) -> None:
    ev = weekly_series(uid())
    ref = await cal.create(ev)
    first = await cal.list_changes(None)
    assert [i.event for i in first.items] == [kept(ev)]
    instances = [i for i in (await cal._instances(ref.href)) if i["type"] == "occurrence"]
    last = max(instances, key=lambda i: i["originalStart"])
    emu.user_delete(last["id"])  # cancel the last occurrence
    second = await cal.list_changes(first.cursor)
    [item] = second.items
    assert item.href == ref.href and second.removed == []
    assert item.event.master.exdates[-1] == datetime(2026, 5, 4, 9, tzinfo=BERLIN)
    assert len(item.event.master.exdates) == 2
    moved = min(instances, key=lambda i: i["originalStart"])
    emu.user_update(moved["id"], {"subject": "First one, renamed"})
    third = await cal.list_changes(second.cursor)
    [item] = third.items
    assert [o.summary for o in item.event.overrides] == ["First one, renamed", "Standup (moved)"]
    emu.user_delete(ref.href)
    fourth = await cal.list_changes(third.cursor)
    assert fourth.items == [] and fourth.removed == [ref.href]


async def test_update_reshapes_a_series(emu: GraphEmulator, cal: GraphCalendar) -> None:
    ev = weekly_series(uid(), cancelled_override=True)
    ref = await cal.create(ev)
    plain = Event(ev.uid, (ev.master,))  # overrides and cancellations dropped at the source
    stale = Event(ev.uid, (ev.components[0], ev.components[1]))
    await cal.update(ref.href, stale, None)
    [item] = await cal.get([ref.href])
    assert item.event == kept(stale)
    fewer = Event(
        ev.uid, (Component(**{**_fields(plain.master), "rrule": ("FREQ=WEEKLY;COUNT=5",), "exdates": ()}),)
    )
    new = await cal.update(ref.href, fewer, item.etag)
    [item] = await cal.get([ref.href])
    assert item.event == kept(fewer) and new.etag == item.etag


def _fields(c: Component) -> dict[str, object]:
    return {name: getattr(c, name) for name in c.__slots__}  # type: ignore[attr-defined]


async def test_rules_graph_cannot_hold_are_refused_before_writing(
    emu: GraphEmulator, cal: GraphCalendar
) -> None:
    start = datetime(2026, 3, 2, 9, tzinfo=BERLIN)
    ev = Event(
        uid(), (Component(start=start, end=start + timedelta(hours=1), rrule=("FREQ=HOURLY;COUNT=3",)),)
    )
    requests = emu.requests
    with pytest.raises(InvalidEventError, match="HOURLY"):
        await cal.create(ev)
    assert emu.requests == requests and emu.events() == []


async def test_outlook_events_without_our_properties(emu: GraphEmulator, cal: GraphCalendar) -> None:
    event_id = emu.user_create(
        emu.calendar_id,
        {
            "subject": "Made in Outlook",
            "start": {"dateTime": "2026-03-10T09:00:00", "timeZone": "Pacific Standard Time"},
            "end": {"dateTime": "2026-03-10T10:00:00", "timeZone": "Pacific Standard Time"},
            "showAs": "free",
        },
    )
    [item] = (await cal.list_changes(None)).items
    assert (
        item.href == event_id and item.event.uid == emu.events()[0]["iCalUId"] and item.event.marker is None
    )
    assert item.event.master.start == datetime(2026, 3, 10, 9, tzinfo=ZoneInfo("America/Los_Angeles"))
    assert item.event.master.transparent


async def test_requests_stay_within_four_and_always_ask_for_immutable_ids(
    emu: GraphEmulator, cal: GraphCalendar
) -> None:
    for n in range(10):
        emu.user_create(
            emu.calendar_id,
            {
                "subject": f"e{n}",
                "start": {"dateTime": f"2026-03-{n + 2:02d}T09:00:00", "timeZone": "UTC"},
                "end": {"dateTime": f"2026-03-{n + 2:02d}T10:00:00", "timeZone": "UTC"},
            },
        )
    await cal.create(weekly_series(uid()))
    listing: Listing = await cal.list_changes(None)
    assert len(listing.items) == 11
    assert emu.peak_in_flight <= 4
    assert emu.id_types["default"] == 0 and emu.id_types["ImmutableId"] > 0
    known = {i.href: i.etag for i in listing.items}
    requests = emu.requests
    again = await cal.list_changes(None, known)
    assert again.items == [] and sorted(again.unchanged) == sorted(known)
    assert emu.requests - requests == 7 + 1  # 20 delta entries in pages of 3 + the series master's etag


async def test_subscriptions(emu: GraphEmulator) -> None:
    with Receiver() as receiver:
        async with httpx.AsyncClient(
            headers={"Authorization": f"Bearer {emu.access_token}"}, timeout=10
        ) as client:
            cal = GraphCalendar("sub", emu.calendar_id, client, api_url=f"{emu.base_url}/v1.0")
            expiration = datetime.now(UTC) + timedelta(hours=1)
            sid, until = await cal.subscribe(
                receiver.url(), "state-1", expiration, lifecycle_url=receiver.url("/lifecycle")
            )
            assert abs((until - expiration).total_seconds()) < 1 and receiver.validations == 2
            await cal.create(interview(uid()))
            assert emu.push.wait_idle()
            assert [(n["changeType"], n["clientState"]) for n in receiver.received] == [
                ("created", "state-1")
            ]
            later = await cal.renew(sid, expiration + timedelta(days=2))
            assert later > until
            await cal.unsubscribe(sid)
            await cal.unsubscribe(sid)  # already gone: fine
            with pytest.raises(NotFoundError):
                await cal.renew(sid, expiration)
            assert [c[1:] for c in await cal.list_calendars()] == [("Calendar", True)]
            assert await cal.check() == "Microsoft calendar 'Calendar' (writable)"
