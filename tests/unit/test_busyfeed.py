"""The busy-only feed's text: allow-listed properties only, UTC times, series expanded, free/cancelled/declined left out, merged blocks."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar

from mirrorcal.busyfeed import CALENDAR_PROPERTIES, PROPERTIES, busy_feed, matches, merged, window
from mirrorcal.store.base import CachedItem
from mirrorcal.store.memory import MemoryStore

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
ME = frozenset({"me@example.test"})
SECRETS = ("Dana", "Acme", "Room 4", "dana@acme.test", "boss@acme.test", "https://meet", "series@acme", "Globex", "glo@x")


def vcal(*events: str) -> str:
    return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n" + "".join(events) + "END:VCALENDAR\r\n"


def vevent(uid: str, start: str, end: str, *extra: str, summary: str = "Interview with Dana at Acme") -> str:
    lines = [f"UID:{uid}", "DTSTAMP:20260101T000000Z", f"DTSTART{start}", f"DTEND{end}", f"SUMMARY:{summary}", *extra]
    return "BEGIN:VEVENT\r\n" + "".join(line + "\r\n" for line in lines) + "END:VEVENT\r\n"


def put(store: MemoryStore, calendar: str, *resources: tuple[str, str]) -> None:
    items = [
        CachedItem(f"/{calendar}/{uid}.ics", f'"{i}"', uid, text, hashlib.sha256(text.encode()).hexdigest())
        for i, (uid, text) in enumerate(resources)
    ]
    store.apply_listing(calendar, items, [], None, True)


def z(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%dT%H%MZ").replace(tzinfo=UTC)


def filled() -> MemoryStore:
    store = MemoryStore()
    series = vcal(
        vevent("series@acme", ":20260217T080000Z", ":20260217T090000Z", "RRULE:FREQ=WEEKLY;COUNT=4", "EXDATE:20260303T080000Z", "LOCATION:Room 4"),
        vevent("series@acme", ":20260310T100000Z", ":20260310T110000Z", "RECURRENCE-ID:20260310T080000Z"),
    )
    put(
        store,
        "u1.personal",
        ("series@acme", series),
        ("free@acme", vcal(vevent("free@acme", ":20260304T090000Z", ":20260304T100000Z", "TRANSP:TRANSPARENT"))),
        ("gone@acme", vcal(vevent("gone@acme", ":20260305T090000Z", ":20260305T100000Z", "STATUS:CANCELLED"))),
        (
            "no@acme",
            vcal(vevent("no@acme", ":20260306T090000Z", ":20260306T100000Z", "ATTENDEE;PARTSTAT=DECLINED:mailto:ME@example.test")),
        ),
        (
            "full@acme",
            vcal(
                vevent(
                    "full@acme", ":20260309T130000Z", ":20260309T140000Z", "LOCATION:Room 4", "DESCRIPTION:Dana's final round",
                    "ORGANIZER:mailto:boss@acme.test", "ATTENDEE;PARTSTAT=ACCEPTED:mailto:dana@acme.test", "URL:https://meet.example/x",
                    "CATEGORIES:Acme", "CLASS:PUBLIC",
                )
            ),
        ),  # fmt: skip
        ("far@acme", vcal(vevent("far@acme", ":20260601T090000Z", ":20260601T100000Z"))),
        ("day@acme", vcal(vevent("day@acme", ";VALUE=DATE:20260312", ";VALUE=DATE:20260313"))),
    )
    put(store, "u1.client-b", ("b@glo", vcal(vevent("b@glo", ":20260309T133000Z", ":20260309T150000Z", summary="Globex sync"))))
    return store


CALENDARS = [("u1.personal", ME), ("u1.client-b", frozenset({"glo@x"}))]
EXPECTED = [
    (z("20260224T0800Z"), z("20260224T0900Z")),  # the series: 17 Feb is before the window, 3 Mar excluded
    (z("20260309T1300Z"), z("20260309T1500Z")),  # two overlapping events on two calendars: one block
    (z("20260310T1000Z"), z("20260310T1100Z")),  # the moved occurrence
    (z("20260311T2300Z"), z("20260312T2300Z")),  # an all-day event: the whole day in Paris
]


def test_the_feed_holds_only_busy_blocks_built_from_the_allow_list() -> None:
    feed, problems = busy_feed(filled(), CALENDARS, now=NOW, tz=PARIS, key=b"k" * 32)
    assert problems == []
    cal = icalendar.Calendar.from_ical(feed.text)
    assert set(cal) <= CALENDAR_PROPERTIES and {"VERSION", "PRODID"} <= set(cal)
    assert [c.name for c in cal.subcomponents] == ["VEVENT"] * len(EXPECTED)
    spans = []
    for event in cal.walk("VEVENT"):
        assert set(event) == PROPERTIES
        assert (str(event["SUMMARY"]), str(event["TRANSP"]), str(event["CLASS"])) == ("Busy", "OPAQUE", "PRIVATE")
        start, end = event.decoded("DTSTART"), event.decoded("DTEND")
        assert start.utcoffset() == end.utcoffset() == timedelta(0)
        spans.append((start, end))
    assert spans == EXPECTED and feed.blocks == len(EXPECTED)
    times = [line for line in feed.text.splitlines() if line.startswith(("DTSTART", "DTEND"))]
    assert len(times) == 2 * len(EXPECTED) and all(line[-1] == "Z" and ";" not in line for line in times)
    for secret in SECRETS:
        assert secret.lower() not in feed.text.lower()
    uids = [str(e["UID"]) for e in cal.walk("VEVENT")]
    assert len(set(uids)) == len(uids)


def test_the_feed_is_stable_within_a_day_and_changes_with_the_busy_time() -> None:
    store = filled()
    first, _ = busy_feed(store, CALENDARS, now=NOW, tz=PARIS, key=b"k" * 32)
    later, _ = busy_feed(store, CALENDARS, now=NOW + timedelta(hours=5), tz=PARIS, key=b"k" * 32)
    assert later == first  # same text, same ETag: a subscriber's If-None-Match hits
    other_key, _ = busy_feed(store, CALENDARS, now=NOW, tz=PARIS, key=b"j" * 32)
    assert other_key.etag != first.etag and other_key.blocks == first.blocks  # UIDs are keyed per account
    put(store, "u1.client-b")  # the Globex event went away
    changed, _ = busy_feed(store, CALENDARS, now=NOW, tz=PARIS, key=b"k" * 32)
    assert changed.etag != first.etag and "DTEND:20260309T140000Z" in changed.text
    kept = [line for line in first.text.splitlines() if line.startswith("UID:")]
    assert [line for line in changed.text.splitlines() if line.startswith("UID:")] != kept
    assert set(kept) - {kept[1]} <= set(changed.text.splitlines())  # unchanged blocks keep their UID


def test_an_unreadable_item_is_left_out_and_reported() -> None:
    store = filled()
    put(store, "u1.client-b", ("bad", "not a calendar"))
    feed, problems = busy_feed(store, CALENDARS, now=NOW, tz=PARIS, key=b"k")
    assert len(problems) == 1 and "u1.client-b" in problems[0] and feed.blocks == len(EXPECTED)


def test_window_merge_and_etag_matching() -> None:
    assert window(NOW, PARIS) == (z("20260222T2300Z"), z("20260501T2200Z"))
    a, b = z("20260301T0900Z"), z("20260301T1000Z")
    assert merged([(b, b + timedelta(hours=1)), (a, b)]) == [(a, b + timedelta(hours=1))]  # touching blocks join
    assert merged([(a, b), (a + timedelta(minutes=10), a + timedelta(minutes=20))]) == [(a, b)]
    assert merged([(a, a + timedelta(minutes=5)), (b, b + timedelta(minutes=5))]) == [
        (a, a + timedelta(minutes=5)), (b, b + timedelta(minutes=5)),
    ]  # fmt: skip
    assert matches('"x"', '"x"') and matches('W/"x", "y"', '"x"') and matches("*", '"x"')
    assert not matches(None, '"x"') and not matches('"y"', '"x"') and not matches("", '"x"')
