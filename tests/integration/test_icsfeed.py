"""IcsFeedCalendar against a real HTTP server (FeedServer): conditional GET, keying, bad input."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from mirrorcal.errors import CursorExpiredError, NotFoundError, ProviderError, ReadOnlyError, TransientError
from mirrorcal.model import Component, Event
from mirrorcal.providers.base import Listing
from mirrorcal.providers.icsfeed import CONTENT_KEY_PREFIX, FeedCursor, IcsFeedCalendar, http_url
from mirrorcal.testing.feedserver import FeedServer

FIXTURES = Path(__file__).parent.parent / "fixtures"


def vevent(uid: str | None, day: int, summary: str, stamp: str = "20260101T000000Z", extra: str = "") -> str:
    lines = ["BEGIN:VEVENT"]
    if uid is not None:
        lines.append(f"UID:{uid}")
    lines += [
        f"DTSTAMP:{stamp}",
        f"DTSTART:202603{day:02d}T100000Z",
        f"DTEND:202603{day:02d}T110000Z",
        f"SUMMARY:{summary}",
    ]
    if extra:
        lines.append(extra)
    lines.append("END:VEVENT")
    return "\r\n".join(lines) + "\r\n"


def feed(*events: str, header: str = "") -> str:
    head = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//feed//EN\r\n" + header
    return head + "".join(events) + "END:VCALENDAR\r\n"


THREE = feed(vevent("a@ats", 10, "Screen A"), vevent("b@ats", 11, "Screen B"), vevent("c@ats", 12, "Onsite C"))


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        yield srv


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as c:
        yield c


def known_of(listing: Listing) -> dict[str, str | None]:
    return {item.href: item.etag for item in listing.items}


async def test_conditional_get_answers_304_and_changes_nothing(server: FeedServer, client: httpx.AsyncClient) -> None:
    server.set("/feed.ics", THREE)
    cal = IcsFeedCalendar("ats", server.url("/feed.ics"), client)
    first = await cal.list_changes(None)
    assert first.full and sorted(i.href for i in first.items) == ["a@ats.ics", "b@ats.ics", "c@ats.ics"]
    assert server.statuses == [200, 304]  # the download, then the UID-stability probe (cheap)
    cursor = json.loads(first.cursor or "")
    assert cursor["etag"] == '"v1"' and cursor["last_modified"] and cursor["uid_mode"] == "uid"

    again = await cal.list_changes(first.cursor, known_of(first))
    assert again == Listing(cursor=first.cursor, full=False)
    assert server.request_count == 3 and server.statuses[-1] == 304


async def test_if_modified_since_alone_gives_304(server: FeedServer, client: httpx.AsyncClient) -> None:
    server.set("/feed.ics", THREE)
    cal = IcsFeedCalendar("ats", server.url("/feed.ics"), client, probe_uids=False)
    first = await cal.list_changes(None)
    without_etag = FeedCursor.loads(first.cursor or "")
    cursor = FeedCursor(last_modified=without_etag.last_modified, sha256=without_etag.sha256).dumps()
    again = await cal.list_changes(cursor)
    assert not again.full and not again.items and server.statuses == [200, 304]


async def test_changed_feed_gives_full_listing_with_unchanged(server: FeedServer, client: httpx.AsyncClient) -> None:
    server.set("/feed.ics", THREE)
    cal = IcsFeedCalendar("ats", server.url("/feed.ics"), client)
    first = await cal.list_changes(None)
    server.set("/feed.ics", feed(vevent("a@ats", 10, "Screen A"), vevent("b@ats", 11, "Screen B (moved room)")))
    second = await cal.list_changes(first.cursor, known_of(first))
    assert second.full
    assert second.unchanged == ["a@ats.ics"]
    assert [i.href for i in second.items] == ["b@ats.ics"]
    assert second.items[0].event.master.summary == "Screen B (moved room)"
    assert second.removed == []  # full listing: c@ats is gone because it is not listed
    assert json.loads(second.cursor or "")["etag"] == '"v2"'


async def test_feed_without_validators_is_compared_by_content_hash(client: httpx.AsyncClient) -> None:
    with FeedServer(validators=False) as server:
        server.set("/f.ics", THREE)
        cal = IcsFeedCalendar("ats", server.url("/f.ics"), client)
        first = await cal.list_changes(None)
        cursor = json.loads(first.cursor or "")
        assert cursor["etag"] is None and cursor["last_modified"] is None and cursor["sha256"]
        assert len(first.items) == 3 and server.statuses == [200, 200]

        again = await cal.list_changes(first.cursor, known_of(first))
        assert again == Listing(cursor=first.cursor, full=False)
        assert server.statuses == [200, 200, 200]

        server.set("/f.ics", feed(vevent("a@ats", 10, "Screen A")))
        changed = await cal.list_changes(first.cursor, known_of(first))
        assert changed.full and changed.unchanged == ["a@ats.ics"] and not changed.items


@pytest.mark.parametrize(
    ("header", "seconds", "text"),
    [
        ("REFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n", 3600, "refresh every 1h"),
        ("X-PUBLISHED-TTL:PT15M\r\n", 900, "refresh every 15m"),
        ("X-PUBLISHED-TTL:PT15M\r\nREFRESH-INTERVAL;VALUE=DURATION:P1D\r\n", 86400, "refresh every 1d"),
        ("X-PUBLISHED-TTL:garbage\r\n", None, "no refresh interval set"),
        ("", None, "no refresh interval set"),
    ],
)
async def test_refresh_interval_is_parsed(
    server: FeedServer, client: httpx.AsyncClient, header: str, seconds: int | None, text: str
) -> None:
    server.set("/f.ics", feed(vevent("a@ats", 10, "A"), header=header))
    cal = IcsFeedCalendar("ats", server.url("/f.ics"), client)
    assert await cal.check() == f"ICS feed, 1 events, {text}"
    assert cal.refresh_interval == seconds
    listing = await cal.list_changes(None)
    assert json.loads(listing.cursor or "")["refresh"] == seconds
    fresh = IcsFeedCalendar("ats", server.url("/f.ics"), client)  # a new process: from the cursor
    assert not (await fresh.list_changes(listing.cursor)).full
    assert fresh.refresh_interval == seconds


async def test_fixture_feed_refresh_and_bad_row(server: FeedServer, client: httpx.AsyncClient) -> None:
    server.set("/gh.ics", (FIXTURES / "ats_feed.ics").read_text())
    cal = IcsFeedCalendar("gh", server.url("/gh.ics"), client)
    assert await cal.check() == "ICS feed, 5 events, refresh every 1h, 1 unreadable"
    listing = await cal.list_changes(None)
    assert [e.href for e in listing.errors] == ["gh-interview-88232@greenhouse.io.ics"]
    hrefs = [i.href for i in listing.items]
    assert len(hrefs) == len(set(hrefs)) == 5  # the repeated UID (twice) and the missing UID by content
    assert "gh-interview-88231@greenhouse.io.ics" in hrefs
    by_content = [i for i in listing.items if i.href.startswith(CONTENT_KEY_PREFIX)]
    assert len(by_content) == 3 and all(i.href == f"{i.event.uid}.ics" for i in by_content)


async def test_regenerated_uids_are_keyed_by_content_and_never_duplicated(client: httpx.AsyncClient) -> None:
    with FeedServer(regenerate_uids=True) as server:
        server.set("/f.ics", THREE)
        cal = IcsFeedCalendar("ats", server.url("/f.ics"), client)
        first = await cal.list_changes(None)
        hrefs = sorted(i.href for i in first.items)
        assert len(hrefs) == 3 and all(h.startswith(CONTENT_KEY_PREFIX) for h in hrefs)
        assert json.loads(first.cursor or "")["uid_mode"] == "content"
        for item in first.items:
            assert item.href == f"{item.event.uid}.ics"
            assert f"UID:{item.event.uid}" in (item.event.raw or "")

        second = await cal.list_changes(first.cursor, known_of(first))
        assert second.full and not second.items and sorted(second.unchanged) == hrefs

        # Editing one event changes its key and nothing else.
        server.set("/f.ics", THREE.replace("Onsite C", "Onsite C (new room)"))
        third = await cal.list_changes(second.cursor, known_of(first))
        assert len(third.unchanged) == 2 and len(third.items) == 1
        assert third.items[0].href not in hrefs


async def test_regeneration_detected_on_second_download_without_probe(client: httpx.AsyncClient) -> None:
    with FeedServer(regenerate_uids=True) as server:
        server.set("/f.ics", THREE)
        cal = IcsFeedCalendar("ats", server.url("/f.ics"), client, probe_uids=False)
        first = await cal.list_changes(None)
        assert not any(i.href.startswith(CONTENT_KEY_PREFIX) for i in first.items)  # cannot know yet
        second = await cal.list_changes(first.cursor, known_of(first))
        third = await cal.list_changes(second.cursor, known_of(second))
        keys = sorted(i.href for i in second.items)
        assert len(keys) == 3 and all(k.startswith(CONTENT_KEY_PREFIX) for k in keys)
        assert sorted(third.unchanged) == keys and not third.items  # stable from then on (sticky)


async def test_stable_feed_with_edits_keeps_uid_keys(server: FeedServer, client: httpx.AsyncClient) -> None:
    server.set("/f.ics", THREE)
    cal = IcsFeedCalendar("ats", server.url("/f.ics"), client)
    listing = await cal.list_changes(None)
    for summary in ("Onsite C v2", "Onsite C v3"):
        server.set("/f.ics", feed(vevent("a@ats", 10, "Screen A"), vevent("b@ats", 11, "Screen B"),
                                  vevent("c@ats", 12, summary, stamp="20260201T000000Z")))
        listing = await cal.list_changes(listing.cursor)
    assert sorted(i.href for i in listing.items) == ["a@ats.ics", "b@ats.ics", "c@ats.ics"]
    # One event recreated under a new UID with the same content is not "regeneration".
    server.set("/f.ics", feed(vevent("a@ats", 10, "Screen A"), vevent("b@ats", 11, "Screen B"),
                              vevent("c2@ats", 12, "Onsite C v3")))
    listing = await cal.list_changes(listing.cursor)
    assert sorted(i.href for i in listing.items) == ["a@ats.ics", "b@ats.ics", "c2@ats.ics"]


async def test_repeated_and_missing_uids_are_keyed_by_content(server: FeedServer, client: httpx.AsyncClient) -> None:
    doc = feed(vevent("dup@ats", 10, "First"), vevent("dup@ats", 11, "Second"), vevent(None, 12, "No UID"),
               vevent("ok@ats", 13, "Fine"))
    server.set("/f.ics", doc)
    cal = IcsFeedCalendar("ats", server.url("/f.ics"), client)
    first = await cal.list_changes(None)
    hrefs = [i.href for i in first.items]
    assert len(hrefs) == 4 and len(set(hrefs)) == 4 and "ok@ats.ics" in hrefs
    assert sum(h.startswith(CONTENT_KEY_PREFIX) for h in hrefs) == 3
    assert {i.event.uid for i in first.items} == {h.removesuffix(".ics") for h in hrefs}

    # A re-export with new DTSTAMPs (a new document) gives the same keys and etags.
    server.set("/f.ics", doc.replace("20260101T000000Z", "20260301T000000Z"))
    second = await cal.list_changes(first.cursor, known_of(first))
    assert second.full and not second.items and sorted(second.unchanged) == sorted(hrefs)


async def test_identical_events_without_uid_are_one_item(server: FeedServer, client: httpx.AsyncClient) -> None:
    server.set("/f.ics", feed(vevent(None, 10, "Busy"), vevent(None, 10, "Busy"), vevent(None, 11, "Busy")))
    listing = await IcsFeedCalendar("ats", server.url("/f.ics"), client).list_changes(None)
    assert len(listing.items) == 2 and len({i.href for i in listing.items}) == 2


async def test_orphan_override_href_carries_recurrence_key(server: FeedServer, client: httpx.AsyncClient) -> None:
    server.set("/f.ics", feed(vevent("s@ats", 10, "Moved", extra="RECURRENCE-ID:20260309T100000Z")))
    listing = await IcsFeedCalendar("ats", server.url("/f.ics"), client).list_changes(None)
    assert [i.href for i in listing.items] == ["s@ats#20260309T100000Z.ics"]


async def test_one_malformed_vevent_is_reported_and_the_rest_listed(
    server: FeedServer, client: httpx.AsyncClient
) -> None:
    bad = vevent("bad@ats", 10, "Broken").replace("DTEND:20260310T110000Z", "DTEND:20260310T090000Z")
    server.set("/f.ics", feed(vevent("a@ats", 11, "A"), bad, vevent("b@ats", 12, "B")))
    listing = await IcsFeedCalendar("ats", server.url("/f.ics"), client).list_changes(None)
    assert listing.full
    assert sorted(i.href for i in listing.items) == ["a@ats.ics", "b@ats.ics"]
    assert [e.href for e in listing.errors] == ["bad@ats.ics"]
    assert "DTEND before DTSTART" in listing.errors[0].message


@pytest.mark.parametrize("body", ["", "<html><body>Sign in</body></html>", "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"])
async def test_a_body_that_is_not_icalendar_raises(server: FeedServer, client: httpx.AsyncClient, body: str) -> None:
    server.set("/f.ics", THREE)
    cal = IcsFeedCalendar("ats", server.url("/f.ics"), client)
    first = await cal.list_changes(None)
    server.set("/f.ics", body)
    with pytest.raises(ProviderError):
        await cal.list_changes(first.cursor, known_of(first))
    with pytest.raises(ProviderError):
        await cal.check()


async def test_an_empty_vcalendar_is_an_empty_full_listing(server: FeedServer, client: httpx.AsyncClient) -> None:
    server.set("/f.ics", THREE)
    cal = IcsFeedCalendar("ats", server.url("/f.ics"), client)
    first = await cal.list_changes(None)
    server.serve_empty = True
    empty = await cal.list_changes(first.cursor, known_of(first))
    assert empty.full and not empty.items and not empty.unchanged and not empty.errors  # the engine's guard decides


async def test_http_errors_raise_provider_errors(server: FeedServer, client: httpx.AsyncClient) -> None:
    server.set("/f.ics", THREE)
    cal = IcsFeedCalendar("ats", server.url("/f.ics"), client, retries=1)
    server.fail_next(2, status=500)
    with pytest.raises(TransientError):
        await cal.list_changes(None)
    assert server.statuses == [500, 500]
    server.fail_next(1, status=503)  # one hiccup is retried
    assert len((await cal.list_changes(None)).items) == 3
    with pytest.raises(NotFoundError):
        await IcsFeedCalendar("ats", server.url("/missing.ics"), client).list_changes(None)


async def test_writes_are_refused(server: FeedServer, client: httpx.AsyncClient) -> None:
    cal = IcsFeedCalendar("ats", server.url("/f.ics"), client)
    from datetime import UTC, datetime

    start = datetime(2026, 3, 10, 9, tzinfo=UTC)
    with pytest.raises(ReadOnlyError):
        await cal.create(Event("x", (Component(start=start, end=start),)))
    with pytest.raises(ReadOnlyError):
        await cal.delete("a@ats.ics", None)
    assert server.request_count == 0


async def test_webcal_urls_and_get(server: FeedServer, client: httpx.AsyncClient) -> None:
    assert http_url("webcal://example.org/a.ics") == "http://example.org/a.ics"
    assert http_url("WEBCALS://example.org/a.ics") == "https://example.org/a.ics"
    assert http_url("https://example.org/a.ics") == "https://example.org/a.ics"
    server.set("/f.ics", THREE)
    cal = IcsFeedCalendar("ats", server.url("/f.ics", scheme="webcal"), client)
    assert cal.url.startswith("http://127.0.0.1:")
    items = await cal.get(["b@ats.ics", "nope.ics"])
    assert [i.href for i in items] == ["b@ats.ics"] and items[0].event.master.summary == "Screen B"


async def test_a_foreign_cursor_expires(server: FeedServer, client: httpx.AsyncClient) -> None:
    server.set("/f.ics", THREE)
    cal = IcsFeedCalendar("ats", server.url("/f.ics"), client)
    for cursor in ("sync-token-42", '{"v": 9}', "[]"):
        with pytest.raises(CursorExpiredError):
            await cal.list_changes(cursor)
