"""The provider contract (providers/base.py), run unchanged against every calendar implementation.

The harnesses (tests/contract/harness.py and the providers' own) give each one the owner's hands.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import date
from zoneinfo import ZoneInfo

import caldav
import httpx
import pytest
from factories import interview, weekly_series
from google_harness import google_harness
from graph_harness import graph_harness
from harness import Harness, caldav_harness, memory_harness

from mirrorcal import ical
from mirrorcal.errors import (
    AlreadyExistsError,
    ConflictError,
    CursorExpiredError,
    NotFoundError,
    ReadOnlyError,
)
from mirrorcal.model import Attendee, Component, Event
from mirrorcal.providers.base import Listing
from mirrorcal.providers.caldav import SETTLE_SECONDS, VERIFY_EVERY, CalDAVCalendar, Probe
from mirrorcal.providers.http import counter_for, make_client
from mirrorcal.testing import RadicaleServer

BERLIN = ZoneInfo("Europe/Berlin")


def event(uid: str | None = None, summary: str = "Interview", day: int = 10) -> Event:
    return interview(uid or f"{uuid.uuid4()}@test", summary, day)


def series(uid: str) -> Event:
    return weekly_series(uid, attendees=(Attendee("ann@client-a.example", "Ann", "ACCEPTED"),), cancelled_override=True)


@pytest.fixture(params=["memory", "caldav", "google", "microsoft"])
async def h(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    """The same contract on the in-memory calendar, Radicale, the Google and the Graph emulators."""
    if request.param == "memory":
        harnesses = memory_harness()
    elif request.param == "caldav":
        harnesses = caldav_harness(request.getfixturevalue("radicale"))
    elif request.param == "google":
        harnesses = google_harness()
    else:
        harnesses = graph_harness()
    async for harness in harnesses:
        yield harness


def by_href(listing: Listing) -> dict[str, Event]:
    return {item.href: item.event for item in listing.items}


# --------------------------------------------------------------------------- the contract


async def test_empty_calendar_lists_fully(h: Harness) -> None:
    listing = await h.calendar.list_changes(None)
    assert listing.full and listing.cursor
    assert (listing.items, listing.unchanged, listing.removed, listing.errors) == ([], [], [], [])


async def test_create_list_get(h: Harness) -> None:
    ev = event(summary="Interview: Ada")
    ref = await h.calendar.create(ev)
    # The created item is found again from its UID alone (a retried create relies on it);
    # providers that choose their own ids (Graph) resolve href_for(uid) on reads.
    assert [i.href for i in await h.calendar.get([h.calendar.href_for(ev.uid)])] == [ref.href]
    listing = await h.calendar.list_changes(None)
    assert listing.full
    [item] = listing.items
    assert item.href == ref.href and item.event == h.kept(ev)
    assert ref.etag is None or ref.etag == item.etag
    [got] = await h.calendar.get([ref.href, h.calendar.href_for("missing")])
    assert got.event == h.kept(ev) and got.etag == item.etag


async def test_update_changes_etag_and_content(h: Harness) -> None:
    ev = event()
    ref = await h.calendar.create(ev)
    [before] = (await h.calendar.list_changes(None)).items
    new = await h.calendar.update(ref.href, event(ev.uid, summary="Rescheduled", day=11), before.etag)
    [after] = (await h.calendar.list_changes(None)).items
    assert after.etag != before.etag
    assert new.etag is None or new.etag == after.etag
    assert after.event.master.summary == "Rescheduled"
    # An update without an etag is unconditional.
    await h.calendar.update(ref.href, event(ev.uid, summary="Again"), None)
    [again] = (await h.calendar.list_changes(None)).items
    assert again.event.master.summary == "Again"


async def test_incremental_listing_shows_only_changes(h: Harness) -> None:
    a, b = event(), event()
    ref_a = await h.calendar.create(a)
    await h.calendar.create(b)
    first = await h.calendar.list_changes(None)
    etag_a = {i.href: i.etag for i in first.items}[ref_a.href]
    await h.calendar.update(ref_a.href, event(a.uid, summary="changed"), etag_a)
    ref_c = await h.calendar.create(event())
    second = await h.calendar.list_changes(first.cursor)
    assert not second.full
    assert set(by_href(second)) == {ref_a.href, ref_c.href}
    assert by_href(second)[ref_a.href].master.summary == "changed"
    assert second.removed == [] and second.errors == []
    third = await h.calendar.list_changes(second.cursor)
    assert (third.items, third.removed, third.unchanged) == ([], [], [])
    assert third.cursor


async def test_removed_items_are_listed_as_removed(h: Harness) -> None:
    ref_a = await h.calendar.create(event())
    ref_b = await h.calendar.create(event())
    first = await h.calendar.list_changes(None)
    etags = {i.href: i.etag for i in first.items}
    await h.calendar.delete(ref_a.href, etags[ref_a.href])
    second = await h.calendar.list_changes(first.cursor)
    assert second.removed == [ref_a.href] and second.items == []
    full = await h.calendar.list_changes(None)
    assert set(by_href(full)) == {ref_b.href} and full.removed == []


async def test_changes_made_by_the_user_are_listed(h: Harness) -> None:
    first = await h.calendar.list_changes(None)
    ev = event(summary="added in the calendar app")
    href = await h.user_put(ev)
    second = await h.calendar.list_changes(first.cursor)
    assert by_href(second) == {href: h.kept(ev)}
    await h.user_delete(href)
    third = await h.calendar.list_changes(second.cursor)
    assert third.removed == [href] and third.items == []


async def test_known_etags_are_not_fetched_again(h: Harness) -> None:
    b = event()
    ref_a = await h.calendar.create(event())
    ref_b = await h.calendar.create(b)
    first = await h.calendar.list_changes(None)
    known = {i.href: i.etag for i in first.items}
    full = await h.calendar.list_changes(None, known)
    assert full.full and full.items == [] and sorted(full.unchanged) == sorted([ref_a.href, ref_b.href])
    await h.calendar.update(ref_b.href, event(b.uid, summary="b2"), known[ref_b.href])
    full = await h.calendar.list_changes(None, known)
    assert full.unchanged == [ref_a.href] and list(by_href(full)) == [ref_b.href]
    # Incrementally: a change the caller already holds (it wrote it) is not fetched either.
    known[ref_b.href] = full.items[0].etag
    incremental = await h.calendar.list_changes(first.cursor, known)
    assert incremental.items == [] and incremental.unchanged == [ref_b.href]


async def test_create_twice_raises_already_exists(h: Harness) -> None:
    ev = event()
    await h.calendar.create(ev)
    with pytest.raises(AlreadyExistsError):
        await h.calendar.create(event(ev.uid, summary="retried"))
    [item] = (await h.calendar.list_changes(None)).items
    assert item.event == h.kept(ev)


async def test_stale_etag_raises_conflict(h: Harness) -> None:
    ev = event()
    ref = await h.calendar.create(ev)
    [item] = (await h.calendar.list_changes(None)).items
    await h.calendar.update(ref.href, event(ev.uid, summary="newer"), item.etag)
    with pytest.raises(ConflictError):
        await h.calendar.update(ref.href, event(ev.uid, summary="stale"), item.etag)
    with pytest.raises(ConflictError):
        await h.calendar.delete(ref.href, item.etag)
    [still] = (await h.calendar.list_changes(None)).items
    assert still.event.master.summary == "newer"


async def test_missing_items_raise_not_found(h: Harness) -> None:
    href = h.calendar.href_for("never-there")
    with pytest.raises(NotFoundError):
        await h.calendar.delete(href, None)
    with pytest.raises(NotFoundError):
        await h.calendar.update(href, event("never-there"), None)
    ref = await h.calendar.create(event())
    await h.calendar.delete(ref.href, None)
    with pytest.raises(NotFoundError):
        await h.calendar.delete(ref.href, None)
    assert (await h.calendar.get([ref.href])) == []


async def test_rejected_cursor_raises_cursor_expired(h: Harness) -> None:
    await h.calendar.create(event())
    first = await h.calendar.list_changes(None)
    assert first.cursor
    with pytest.raises(CursorExpiredError):
        await h.calendar.list_changes(h.expired_cursor(first.cursor))
    again = await h.calendar.list_changes(None)
    assert again.full and len(again.items) == 1


async def test_malformed_item_is_reported_and_the_rest_listed(h: Harness) -> None:
    good = event()
    ref = await h.calendar.create(good)
    first = await h.calendar.list_changes(None)
    bad_href, word = await h.put_malformed()
    full = await h.calendar.list_changes(None)
    assert by_href(full) == {ref.href: h.kept(good)}
    [error] = full.errors
    assert error.href == bad_href and word in error.message
    incremental = await h.calendar.list_changes(first.cursor)
    assert incremental.items == [] and [e.href for e in incremental.errors] == [bad_href]


async def test_series_with_overrides_survives_a_round_trip(h: Harness) -> None:
    ev = series(f"{uuid.uuid4()}@test")
    ref = await h.calendar.create(ev)
    [item] = (await h.calendar.list_changes(None)).items
    assert item.href == ref.href
    assert item.event == h.kept(ev)
    assert len(item.event.overrides) == len(h.kept(ev).overrides) >= 1


async def test_all_day_and_odd_uids_round_trip(h: Harness) -> None:
    ev = Event(f"odd uid/{uuid.uuid4()}@example.com", (Component(start=date(2026, 3, 1), end=date(2026, 3, 3)),))
    ref = await h.calendar.create(ev)
    listing = await h.calendar.list_changes(None)
    assert by_href(listing) == {ref.href: h.kept(ev)}
    assert [i.event for i in await h.calendar.get([ref.href])] == [ev]


async def test_read_only_calendar_refuses_writes(h: Harness) -> None:
    ref = await h.calendar.create(event())
    view = h.read_only_view()
    with pytest.raises(ReadOnlyError):
        await view.create(event())
    with pytest.raises(ReadOnlyError):
        await view.update(ref.href, event(), None)
    with pytest.raises(ReadOnlyError):
        await view.delete(ref.href, None)
    assert [i.href for i in (await view.list_changes(None)).items] == [ref.href]


# --------------------------------------------------------------------------- CalDAV on Radicale only


@pytest.fixture
async def caldav_cal(radicale: RadicaleServer, radicale_calendar: str) -> AsyncIterator[CalDAVCalendar]:
    async with make_client(timeout=10.0) as client:
        yield CalDAVCalendar("Personal", radicale_calendar, client)


async def test_python_caldav_sees_what_we_wrote(caldav_cal: CalDAVCalendar, radicale_calendar: str) -> None:
    """python-caldav, an independent client, is the oracle of what the server holds."""
    kept, gone = series(f"{uuid.uuid4()}@test"), event(summary="to delete")
    await caldav_cal.create(kept)
    ref = await caldav_cal.create(gone)
    await caldav_cal.delete(ref.href, None)

    def oracle() -> list[str]:
        with caldav.DAVClient(url=radicale_calendar) as dav:
            return [obj.data for obj in dav.calendar(url=radicale_calendar).events()]

    [text] = await asyncio.to_thread(oracle)
    assert ical.parse_resource(text) == kept


async def test_request_counts(caldav_cal: CalDAVCalendar) -> None:
    counter = counter_for(caldav_cal.client)
    for _ in range(3):
        await caldav_cal.create(event())
    counter.reset()
    first = await caldav_cal.list_changes(None)
    assert counter.total == 1 and len(first.items) == 3  # one sync-collection, calendar-data included
    counter.reset()
    second = await caldav_cal.list_changes(first.cursor)
    assert counter.total == 2 and not second.items  # pre-check + REPORT: nothing seen settled yet
    await asyncio.sleep(SETTLE_SECONDS + 1.1)
    third = await caldav_cal.list_changes(second.cursor)
    counter.reset()
    quiet = await caldav_cal.list_changes(third.cursor)
    assert counter.total == 1 and not quiet.items  # settled and unchanged: the PROPFIND alone
    ref = await caldav_cal.create(event())
    counter.reset()
    changed = await caldav_cal.list_changes(quiet.cursor)
    assert counter.total == 2 and [i.href for i in changed.items] == [ref.href]  # pre-check + REPORT with data
    counter.reset()
    known = {i.href: i.etag for i in first.items + changed.items}
    await caldav_cal.list_changes(None, known)
    assert counter.total == 1  # everything known: nothing more


async def test_precheck_checks_anyway_every_so_often(caldav_cal: CalDAVCalendar) -> None:
    listing = await caldav_cal.list_changes(None)
    await asyncio.sleep(SETTLE_SECONDS + 1.1)
    cursor = (await caldav_cal.list_changes(listing.cursor)).cursor
    counter = counter_for(caldav_cal.client)
    reports = 0
    for _ in range(VERIFY_EVERY):
        counter.reset()
        cursor = (await caldav_cal.list_changes(cursor)).cursor
        reports += counter.by_method.get("REPORT", 0)
    assert reports == 1


def test_a_server_whose_lastmodified_stands_still_is_not_trusted_again() -> None:
    stamp = "Sat, 21 Nov 2026 10:00:00 GMT"
    before = Probe("t1", stamp, 1_900_000_000.0)  # observed long after the stamp: settled
    assert before.unchanged((stamp, 1_900_000_100.0))
    moved = Listing(items=[], removed=["/cal/x.ics"], cursor="t2")
    after = Probe.next(before, (stamp, 1_900_000_200.0), moved)
    assert not after.trusted and not after.unchanged((stamp, 1_900_000_300.0))
    assert Probe.load(after.dumps()) == after


async def test_uid_used_under_another_href_is_already_exists(caldav_cal: CalDAVCalendar, radicale_calendar: str) -> None:
    ev = event()
    async with httpx.AsyncClient() as client:
        response = await client.put(radicale_calendar + "other-name.ics", content=ical.serialize(ev))
        assert response.status_code == 201
    with pytest.raises(AlreadyExistsError, match="elsewhere"):
        await caldav_cal.create(ev)


async def test_ctag_fallback_when_sync_collection_is_unavailable(caldav_cal: CalDAVCalendar) -> None:
    caldav_cal._sync_supported = False  # as if the server had refused sync-collection
    counter = counter_for(caldav_cal.client)
    ref = await caldav_cal.create(event())
    first = await caldav_cal.list_changes(None)
    assert first.full and first.cursor and first.cursor.startswith("ctag:")
    counter.reset()
    same = await caldav_cal.list_changes(first.cursor)
    assert counter.total == 1 and same.items == [] and not same.full and same.cursor == first.cursor
    await caldav_cal.create(event())
    known = {i.href: i.etag for i in first.items}
    changed = await caldav_cal.list_changes(first.cursor, known)
    assert changed.full and changed.unchanged == [ref.href] and len(changed.items) == 1
    assert changed.cursor != first.cursor


async def test_check_describes_the_calendar(caldav_cal: CalDAVCalendar, radicale_calendar: str) -> None:
    description = await caldav_cal.check()
    assert description.startswith("CalDAV calendar 'Test ") and "sync-token supported" in description


async def test_check_on_a_home_set_names_the_calendars(radicale: RadicaleServer) -> None:
    user = f"u{uuid.uuid4().hex[:8]}"
    work = radicale.make_calendar(user, "work", displayname="Work")
    radicale.make_calendar(user, "home", displayname="Home")
    async with make_client(timeout=10.0, auth=(user, "pw")) as client:
        not_a_calendar = CalDAVCalendar("oops", f"{radicale.url}/{user}/", client)
        with pytest.raises(Exception, match="not a calendar") as info:
            await not_a_calendar.check()
        assert "'Work'" in str(info.value) and "'Home'" in str(info.value) and work in str(info.value)
        from mirrorcal.providers.discovery import discover_calendars

        found = dict(await discover_calendars(client, radicale.url + "/"))
        assert found[work] == "Work" and len(found) == 2
