"""The iCalendar codec: every RFC 5545 trap, the feed reader, hashing, full copies and round trips."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import recurring_ical_events
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mirrorcal.errors import InvalidEventError, MirrorcalError
from mirrorcal.ical import (
    PRODID,
    content_hash,
    full_copy,
    occurrences_calendar,
    parse_feed,
    parse_resource,
    serialize,
)
from mirrorcal.model import MARKER_PROPERTY, Attendee, Component, Event, Moment, as_utc

FIXTURES = Path(__file__).parent.parent / "fixtures"
BERLIN = ZoneInfo("Europe/Berlin")
LA = ZoneInfo("America/Los_Angeles")
NY = ZoneInfo("America/New_York")

EU_RULES = """BEGIN:VTIMEZONE
TZID:{tzid}
BEGIN:STANDARD
DTSTART:16010101T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3
END:DAYLIGHT
END:VTIMEZONE
"""
US_EAST_RULES = """BEGIN:VTIMEZONE
TZID:{tzid}
BEGIN:STANDARD
DTSTART:16010101T020000
TZOFFSETFROM:-0400
TZOFFSETTO:-0500
RRULE:FREQ=YEARLY;BYDAY=1SU;BYMONTH=11
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T020000
TZOFFSETFROM:-0500
TZOFFSETTO:-0400
RRULE:FREQ=YEARLY;BYDAY=2SU;BYMONTH=3
END:DAYLIGHT
END:VTIMEZONE
"""
ODD_FIXED_RULES = """BEGIN:VTIMEZONE
TZID:{tzid}
BEGIN:STANDARD
DTSTART:16010101T000000
TZOFFSETFROM:+0517
TZOFFSETTO:+0517
END:STANDARD
END:VTIMEZONE
"""


def vcal(*vevents: str, head: str = "", zones: str = "") -> str:
    """A VCALENDAR around VEVENT bodies (their property lines, without BEGIN/END)."""
    body = "".join(f"BEGIN:VEVENT\n{v.strip()}\nEND:VEVENT\n" for v in vevents)
    return f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//test//EN\n{head}{zones}{body}END:VCALENDAR\n"


def one(*lines: str, zones: str = "", uid: str = "u1@test") -> Event:
    return parse_resource(vcal("\n".join((f"UID:{uid}", "DTSTAMP:20260101T000000Z", *lines)), zones=zones))


def sig(moment: Moment | None) -> tuple[object, ...] | None:
    """A moment with its kind and zone, so equal instants in different zones differ."""
    if moment is None:
        return None
    if not isinstance(moment, datetime):
        return ("date", moment.isoformat())
    tz = moment.tzinfo
    key = None if tz is None else ("UTC" if tz is UTC else getattr(tz, "key", repr(tz)))
    return ("datetime", moment.replace(tzinfo=None).isoformat(), key)


def timing(event: Event) -> list[tuple[object, ...]]:
    return [
        (
            sig(c.start),
            sig(c.end),
            sig(c.recurrence_id),
            c.rrule,
            tuple(sig(m) for m in c.exdates),
            tuple(sig(m) for m in c.rdates),
        )
        for c in event.components
    ]


# --------------------------------------------------------------------------- timing traps

TIMING_CASES = [
    (
        "iana",
        ["DTSTART;TZID=Europe/Berlin:20260310T090000", "DTEND;TZID=Europe/Berlin:20260310T100000"],
        "",
        datetime(2026, 3, 10, 9, tzinfo=BERLIN),
        datetime(2026, 3, 10, 10, tzinfo=BERLIN),
    ),
    (
        "windows",
        [
            "DTSTART;TZID=Pacific Standard Time:20260310T090000",
            "DTEND;TZID=Pacific Standard Time:20260310T100000",
        ],
        "",
        datetime(2026, 3, 10, 9, tzinfo=LA),
        datetime(2026, 3, 10, 10, tzinfo=LA),
    ),
    (
        "windows-with-vtimezone",
        [
            "DTSTART;TZID=W. Europe Standard Time:20260310T090000",
            "DTEND;TZID=W. Europe Standard Time:20260310T100000",
        ],
        EU_RULES.format(tzid="W. Europe Standard Time"),
        datetime(2026, 3, 10, 9, tzinfo=BERLIN),
        datetime(2026, 3, 10, 10, tzinfo=BERLIN),
    ),
    (
        "globally-unique-tzid",
        ["DTSTART;TZID=/freeassociation.sourceforge.net/Europe/Berlin:20260310T090000", "DURATION:PT1H"],
        "",
        datetime(2026, 3, 10, 9, tzinfo=BERLIN),
        datetime(2026, 3, 10, 10, tzinfo=BERLIN),
    ),
    (
        "custom-vtimezone",
        [
            "DTSTART;TZID=Customized Time Zone:20260710T090000",
            "DTEND;TZID=Customized Time Zone:20260710T100000",
        ],
        US_EAST_RULES.format(tzid="Customized Time Zone"),
        datetime(2026, 7, 10, 13, tzinfo=UTC),
        datetime(2026, 7, 10, 14, tzinfo=UTC),
    ),
    (
        "floating",
        ["DTSTART:20260310T090000", "DTEND:20260310T100000"],
        "",
        datetime(2026, 3, 10, 9),
        datetime(2026, 3, 10, 10),
    ),
    (
        "utc",
        ["DTSTART:20260310T090000Z", "DTEND:20260310T100000Z"],
        "",
        datetime(2026, 3, 10, 9, tzinfo=UTC),
        datetime(2026, 3, 10, 10, tzinfo=UTC),
    ),
    (
        "tzid-utc",
        ["DTSTART;TZID=UTC:20260310T090000", "DTEND;TZID=UTC:20260310T100000"],
        "",
        datetime(2026, 3, 10, 9, tzinfo=UTC),
        datetime(2026, 3, 10, 10, tzinfo=UTC),
    ),
    (
        "all-day-exclusive-end",
        ["DTSTART;VALUE=DATE:20260310", "DTEND;VALUE=DATE:20260312"],
        "",
        date(2026, 3, 10),
        date(2026, 3, 12),
    ),
    ("all-day-default-one-day", ["DTSTART;VALUE=DATE:20260310"], "", date(2026, 3, 10), date(2026, 3, 11)),
    (
        "all-day-duration",
        ["DTSTART;VALUE=DATE:20260310", "DURATION:P2D"],
        "",
        date(2026, 3, 10),
        date(2026, 3, 12),
    ),
    (
        "timed-default-zero-length",
        ["DTSTART:20260310T090000Z"],
        "",
        datetime(2026, 3, 10, 9, tzinfo=UTC),
        datetime(2026, 3, 10, 9, tzinfo=UTC),
    ),
    (
        "duration-minutes",
        ["DTSTART:20260310T090000Z", "DURATION:PT45M"],
        "",
        datetime(2026, 3, 10, 9, tzinfo=UTC),
        datetime(2026, 3, 10, 9, 45, tzinfo=UTC),
    ),
    (
        "duration-day-is-nominal-across-dst",
        ["DTSTART;TZID=Europe/Berlin:20260328T120000", "DURATION:P1D"],
        "",
        datetime(2026, 3, 28, 12, tzinfo=BERLIN),
        datetime(2026, 3, 29, 12, tzinfo=BERLIN),
    ),
    (
        "duration-hours-are-exact-across-dst",
        ["DTSTART;TZID=Europe/Berlin:20260328T120000", "DURATION:PT23H"],
        "",
        datetime(2026, 3, 28, 12, tzinfo=BERLIN),
        datetime(2026, 3, 29, 12, tzinfo=BERLIN),
    ),
    (
        "unknown-tzid-without-vtimezone-is-floating",
        ["DTSTART;TZID=Mars/Olympus_Mons:20260310T090000", "DTEND;TZID=Mars/Olympus_Mons:20260310T100000"],
        "",
        datetime(2026, 3, 10, 9),
        datetime(2026, 3, 10, 10),
    ),
]


@pytest.mark.parametrize(
    ("lines", "zones", "start", "end"), [c[1:] for c in TIMING_CASES], ids=[c[0] for c in TIMING_CASES]
)
def test_timing(lines: list[str], zones: str, start: Moment, end: Moment) -> None:
    component = one(*lines, zones=zones).master
    assert component.start == start and component.end == end
    assert type(component.start) is type(start)
    if isinstance(start, datetime):
        assert (component.start.tzinfo is None) == (start.tzinfo is None)
        if start.tzinfo is not None:
            assert isinstance(component.start.tzinfo, ZoneInfo) or component.start.tzinfo is UTC
    if isinstance(start, datetime) and start.tzinfo in (BERLIN, LA, NY):
        assert component.start.tzinfo is start.tzinfo
    if isinstance(start, datetime) and start.tzinfo is UTC and start.tzinfo is not None:
        assert component.start.utcoffset() == start.astimezone(component.start.tzinfo).utcoffset()


def test_custom_vtimezone_becomes_an_iana_zone_that_keeps_dst() -> None:
    event = one(
        "DTSTART;TZID=Customized Time Zone:20260115T090000",
        "DTEND;TZID=Customized Time Zone:20260115T100000",
        "RRULE:FREQ=MONTHLY;COUNT=12",
        zones=US_EAST_RULES.format(tzid="Customized Time Zone"),
    )
    start = event.master.start
    assert isinstance(start, datetime) and isinstance(start.tzinfo, ZoneInfo)
    assert start.astimezone(UTC) == datetime(2026, 1, 15, 14, tzinfo=UTC)
    july = start.replace(month=7)  # a July occurrence keeps 09:00 wall clock, now EDT
    assert july.utcoffset() == timedelta(hours=-4)
    assert serialize(replace(event, raw=None)).count("TZID:") >= 1


def test_same_custom_tzid_in_two_documents_uses_each_documents_rules() -> None:
    eu = one(
        "DTSTART;TZID=Customized Time Zone:20260710T090000",
        zones=EU_RULES.format(tzid="Customized Time Zone"),
    )
    us = one(
        "DTSTART;TZID=Customized Time Zone:20260710T090000",
        zones=US_EAST_RULES.format(tzid="Customized Time Zone"),
    )
    assert eu.master.start == datetime(2026, 7, 10, 7, tzinfo=UTC)
    assert us.master.start == datetime(2026, 7, 10, 13, tzinfo=UTC)
    alone = one("DTSTART;TZID=Customized Time Zone:20260710T090000")  # no VTIMEZONE here: floating
    assert alone.master.start == datetime(2026, 7, 10, 9)


def test_custom_vtimezone_without_iana_equivalent_keeps_the_instant_in_utc() -> None:
    event = one(
        "DTSTART;TZID=Odd Zone:20260310T090000",
        "DTEND;TZID=Odd Zone:20260310T100000",
        zones=ODD_FIXED_RULES.format(tzid="Odd Zone"),
    )
    assert event.master.start == datetime(2026, 3, 10, 3, 43, tzinfo=UTC)
    assert event.master.start.tzinfo is UTC


# --------------------------------------------------------------------------- recurrence


def test_rrule_exdate_rdate_flattened() -> None:
    event = one(
        "DTSTART;TZID=Europe/Berlin:20260303T090000",
        "DTEND;TZID=Europe/Berlin:20260303T100000",
        "RRULE:FREQ=WEEKLY;BYDAY=TU;UNTIL=20270101T000000Z",
        "EXDATE;TZID=Europe/Berlin:20260310T090000,20260317T090000",
        "EXDATE;TZID=Europe/Berlin:20260331T090000",
        "RDATE;TZID=Europe/Berlin:20260305T090000",
        "RDATE;VALUE=PERIOD:20260306T080000Z/PT1H",
    )
    master = event.master
    assert master.rrule == ("FREQ=WEEKLY;UNTIL=20270101T000000Z;BYDAY=TU",)
    assert master.exdates == (
        datetime(2026, 3, 10, 9, tzinfo=BERLIN),
        datetime(2026, 3, 17, 9, tzinfo=BERLIN),
        datetime(2026, 3, 31, 9, tzinfo=BERLIN),
    )
    assert master.rdates == (datetime(2026, 3, 5, 9, tzinfo=BERLIN), datetime(2026, 3, 6, 8, tzinfo=UTC))
    assert event.recurring


def test_all_day_exdates_stay_dates() -> None:
    event = one("DTSTART;VALUE=DATE:20260302", "RRULE:FREQ=DAILY;COUNT=5", "EXDATE;VALUE=DATE:20260304")
    assert event.master.exdates == (date(2026, 3, 4),)


def test_overrides_with_tzid_recurrence_id_sorted_after_master_and_cancelled() -> None:
    text = vcal(
        "UID:s1\nDTSTAMP:20260101T000000Z\nRECURRENCE-ID;TZID=Pacific Standard Time:20260421T090000\n"
        "DTSTART;TZID=Pacific Standard Time:20260421T130000\nDTEND;TZID=Pacific Standard Time:20260421T140000",
        "UID:s1\nDTSTAMP:20260101T000000Z\nRECURRENCE-ID;TZID=Pacific Standard Time:20260414T090000\n"
        "DTSTART;TZID=Pacific Standard Time:20260414T090000\nDTEND;TZID=Pacific Standard Time:20260414T100000\n"
        "STATUS:CANCELLED",
        "UID:s1\nDTSTAMP:20260101T000000Z\nDTSTART;TZID=Pacific Standard Time:20260407T090000\n"
        "DTEND;TZID=Pacific Standard Time:20260407T100000\nRRULE:FREQ=WEEKLY;COUNT=6",
    )
    event = parse_resource(text)
    assert [c.recurrence_id for c in event.components] == [
        None,
        datetime(2026, 4, 14, 9, tzinfo=LA),
        datetime(2026, 4, 21, 9, tzinfo=LA),
    ]
    cancelled, moved = event.overrides
    assert cancelled.status == "CANCELLED" and not cancelled.busy
    assert moved.start == datetime(2026, 4, 21, 13, tzinfo=LA) and moved.busy
    assert event.raw == text


def test_orphan_override_is_an_event_of_its_own() -> None:
    event = one("RECURRENCE-ID:20260310T090000Z", "DTSTART:20260310T100000Z", "DTEND:20260310T110000Z")
    assert event.master.recurrence_id == datetime(2026, 3, 10, 9, tzinfo=UTC)
    assert event.recurrence_key == "20260310T090000Z"


# --------------------------------------------------------------------------- other fields


def test_every_field_is_filled() -> None:
    event = one(
        "DTSTART:20260310T090000Z",
        "DTEND:20260310T100000Z",
        "SUMMARY:Onsite: Jane\\, round 2",
        "DESCRIPTION:line 1\\nline 2",
        "LOCATION:Room 4",
        "URL:https://ats.example/i/1",
        "STATUS:tentative",
        "TRANSP:OPAQUE",
        "CLASS:CONFIDENTIAL",
        "ORGANIZER;CN=Boss:MAILTO:boss@client.example",
        "ATTENDEE;CN=Jane Doe;PARTSTAT=DECLINED;ROLE=OPT-PARTICIPANT:mailto:jane@mail.example",
        "ATTENDEE:mailto:rita@recruit.example",
        "CATEGORIES:Interview,Onsite",
        "CATEGORIES:Urgent",
        "CREATED:20260301T080000Z",
        "LAST-MODIFIED:20260302T090000Z",
        f"{MARKER_PROPERTY}:opaque-123",
    )
    c = event.master
    assert (c.summary, c.description, c.location, c.url) == (
        "Onsite: Jane, round 2",
        "line 1\nline 2",
        "Room 4",
        "https://ats.example/i/1",
    )
    assert (c.status, c.transparent, c.klass) == ("TENTATIVE", False, "CONFIDENTIAL")
    assert c.organizer == "boss@client.example"
    assert c.attendees == (
        Attendee("jane@mail.example", "Jane Doe", "DECLINED", "OPT-PARTICIPANT"),
        Attendee("rita@recruit.example", "", "NEEDS-ACTION", "REQ-PARTICIPANT"),
    )
    assert c.declined_by(frozenset({"jane@mail.example"}))
    assert c.categories == ("Interview", "Onsite", "Urgent")
    assert c.created == datetime(2026, 3, 1, 8, tzinfo=UTC)
    assert c.last_modified == datetime(2026, 3, 2, 9, tzinfo=UTC)
    assert event.marker == "opaque-123" and event.uid == "u1@test"


@pytest.mark.parametrize(
    ("lines", "transparent"),
    [
        (["TRANSP:TRANSPARENT"], True),
        (["TRANSP:OPAQUE"], False),
        ([], False),
        (["X-MICROSOFT-CDO-BUSYSTATUS:FREE"], True),
        (["TRANSP:OPAQUE", "X-MICROSOFT-CDO-BUSYSTATUS:BUSY"], False),
        (["X-MICROSOFT-CDO-BUSYSTATUS:TENTATIVE"], False),
    ],
)
def test_transparency(lines: list[str], transparent: bool) -> None:
    assert one("DTSTART:20260310T090000Z", *lines).master.transparent is transparent


# --------------------------------------------------------------------------- errors

ERROR_CASES = [
    ("not-ical", "hello there", "not iCalendar"),
    ("empty", "", "not iCalendar"),
    ("truncated", "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nDTSTART:20260101T000000Z\n", "not iCalendar"),
    (
        "no-vevent",
        "BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VTODO\nUID:t\nEND:VTODO\nEND:VCALENDAR\n",
        "no VEVENT",
    ),
    ("no-dtstart", vcal("UID:a\nSUMMARY:x"), "DTSTART missing"),
    ("broken-dtstart", vcal("UID:a\nDTSTART:2026-03-10 9am"), "DTSTART is not valid"),
    (
        "several-uids",
        vcal("UID:a\nDTSTART:20260101T000000Z", "UID:b\nDTSTART:20260101T000000Z"),
        "several UIDs",
    ),
    (
        "end-before-start",
        vcal("UID:a\nDTSTART:20260310T100000Z\nDTEND:20260310T090000Z"),
        "DTEND before DTSTART",
    ),
    (
        "mixed-kinds",
        vcal("UID:a\nDTSTART;VALUE=DATE:20260310\nDTEND:20260310T090000Z"),
        "mix a date with a date-time",
    ),
    (
        "floating-and-zoned",
        vcal("UID:a\nDTSTART:20260310T090000\nDTEND:20260310T100000Z"),
        "mix a floating time",
    ),
    (
        "several-masters",
        vcal("UID:a\nDTSTART:20260310T090000Z", "UID:a\nDTSTART:20260311T090000Z"),
        "several masters",
    ),
    (
        "duplicate-override",
        vcal(
            "UID:a\nDTSTART:20260310T090000Z\nRRULE:FREQ=DAILY",
            "UID:a\nRECURRENCE-ID:20260311T090000Z\nDTSTART:20260311T100000Z",
            "UID:a\nRECURRENCE-ID:20260311T090000Z\nDTSTART:20260311T110000Z",
        ),
        "same RECURRENCE-ID",
    ),
]


@pytest.mark.parametrize(("text", "needle"), [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES])
def test_invalid_input_raises_invalid_event_error_only(text: str, needle: str) -> None:
    with pytest.raises(InvalidEventError, match=needle) as info:
        parse_resource(text)
    assert isinstance(info.value, MirrorcalError)


def test_parse_resource_rejects_non_text() -> None:
    with pytest.raises(InvalidEventError):
        parse_resource(b"BEGIN:VCALENDAR")  # type: ignore[arg-type]


def test_bare_vevent_and_crlf_are_accepted() -> None:
    event = parse_resource("BEGIN:VEVENT\r\nUID:bare\r\nDTSTART:20260310T090000Z\r\nEND:VEVENT\r\n")
    assert event.uid == "bare" and event.master.start == datetime(2026, 3, 10, 9, tzinfo=UTC)


# --------------------------------------------------------------------------- feeds


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_google_export_with_x_wr_timezone() -> None:
    events, errors = parse_feed(fixture("google_export.ics"))
    assert errors == []
    assert [e.uid for e in events] == [
        "4kq1b2c3d4e5f6g7h8i9j0@google.com",
        "7m2n3o4p5q6r7s8t9u0v1w@google.com",
        "2a3b4c5d6e7f8g9h0i1j2k@google.com",
    ]
    single, series, allday = events
    # a UTC single moves into the X-WR-TIMEZONE zone, same instant
    assert single.master.start == datetime(2026, 3, 10, 14, tzinfo=UTC)
    assert single.master.start.tzinfo is NY
    assert single.master.attendees[1] == Attendee(
        "jane.candidate@mail.example", "Jane Candidate", "NEEDS-ACTION"
    )
    assert series.master.rrule == ("FREQ=WEEKLY;UNTIL=20260430T035959Z;BYDAY=TU;WKST=SU",)
    assert series.master.exdates == (datetime(2026, 3, 17, 10, tzinfo=NY),)
    assert [o.recurrence_id for o in series.overrides] == [datetime(2026, 3, 24, 10, tzinfo=NY)]
    assert series.overrides[0].start == datetime(2026, 3, 24, 11, 30, tzinfo=NY)
    assert allday.master.start == date(2026, 3, 20) and allday.master.transparent
    # each raw stands alone: it parses back to the same event and keeps the alarm
    for event in events:
        assert parse_resource(event.raw) == event  # type: ignore[arg-type]
        assert "X-WR-CALNAME" not in event.raw  # type: ignore[operator]
    assert "BEGIN:VALARM" in single.raw  # type: ignore[operator]
    assert "X-GOOGLE-CONFERENCE" in single.raw  # type: ignore[operator]


def test_exchange_export_windows_zones_custom_zone_and_overrides() -> None:
    events, errors = parse_feed(fixture("exchange_export.ics"))
    assert errors == []
    series, committee, allhands, focus = events
    assert series.master.start == datetime(2026, 4, 7, 9, tzinfo=LA)
    assert series.master.exdates == (datetime(2026, 4, 14, 9, tzinfo=LA),)
    assert [o.recurrence_id for o in series.overrides] == [
        datetime(2026, 4, 21, 9, tzinfo=LA),
        datetime(2026, 4, 28, 9, tzinfo=LA),
    ]
    assert series.overrides[1].status == "CANCELLED"
    assert committee.master.start.tzinfo is BERLIN and committee.master.klass == "PRIVATE"
    assert committee.master.attendees[0].partstat == "TENTATIVE"
    assert committee.master.location == ""
    assert allhands.master.start == datetime(2026, 7, 2, 15, tzinfo=UTC)
    assert isinstance(allhands.master.start.tzinfo, ZoneInfo)
    assert focus.master.transparent  # X-MICROSOFT-CDO-BUSYSTATUS:FREE
    # raws carry only the VTIMEZONEs their VEVENTs reference
    assert "TZID:W. Europe Standard Time" in committee.raw  # type: ignore[operator]
    assert "TZID:Pacific Standard Time" not in committee.raw  # type: ignore[operator]
    assert "TZID:Customized Time Zone" in allhands.raw  # type: ignore[operator]
    for event in events:
        assert parse_resource(event.raw) == event  # type: ignore[arg-type]


def test_exchange_series_expands_with_recurring_ical_events() -> None:
    events, _ = parse_feed(fixture("exchange_export.ics"))
    series = events[0]
    occurrences = recurring_ical_events.of(occurrences_calendar(series)).between(
        date(2026, 4, 1), date(2026, 6, 1)
    )
    starts = sorted(
        (o["DTSTART"].dt, str(o.get("STATUS", "")))
        for o in occurrences
        if str(o.get("STATUS", "")) != "CANCELLED"
    )
    assert [s for s, _ in starts] == [
        datetime(2026, 4, 7, 9, tzinfo=LA),
        datetime(2026, 4, 21, 13, tzinfo=LA),
        datetime(2026, 5, 5, 9, tzinfo=LA),
        datetime(2026, 5, 12, 9, tzinfo=LA),
        datetime(2026, 5, 19, 9, tzinfo=LA),
        datetime(2026, 5, 26, 9, tzinfo=LA),
    ]


def test_ats_feed_contains_the_malformed_event_and_keeps_the_rest() -> None:
    events, errors = parse_feed(fixture("ats_feed.ics"))
    assert [key for key, _ in errors] == ["gh-interview-88232@greenhouse.io"]
    assert "DTSTART" in errors[0][1] and "VEVENT #2" in errors[0][1]
    assert [e.uid for e in events] == [
        "gh-interview-88231@greenhouse.io",
        "gh-interview-88233@greenhouse.io",  # a repeated UID: two masters, two events
        "gh-interview-88233@greenhouse.io",
        "",  # no UID
        "gh-interview-88234@greenhouse.io",
    ]
    onsite, screen1, screen2, nouid, fair = events
    assert onsite.master.categories == ("Interview", "Onsite") and onsite.master.url.endswith("/88231")
    assert screen1.master.end - screen1.master.start == timedelta(minutes=45)  # type: ignore[operator]
    assert screen2.master.start == datetime(2026, 3, 16, 15, tzinfo=UTC)
    assert "20260316T150000Z" not in screen1.raw and "20260314T150000Z" not in screen2.raw  # type: ignore[operator]
    assert nouid.master.start == datetime(2026, 3, 17, 9)
    assert fair.master.end == date(2026, 3, 19) and fair.master.transparent


def test_feed_error_key_without_uid_and_overrides_follow_first_master() -> None:
    text = vcal(
        "UID:r\nDTSTART:20260310T090000Z\nRRULE:FREQ=DAILY;COUNT=3\nSUMMARY:first",
        "SUMMARY:broken without uid",
        "UID:r\nRECURRENCE-ID:20260311T090000Z\nDTSTART:20260311T100000Z",
        "UID:r\nDTSTART:20260320T090000Z\nSUMMARY:second",
        "UID:r\nRECURRENCE-ID:20260311T090000Z\nDTSTART:20260311T110000Z",
    )
    events, errors = parse_feed(text)
    assert errors[0] == ("VEVENT #2", "VEVENT #2: DTSTART missing")
    assert errors[1][0] == "r" and "second override" in errors[1][1]
    assert [(e.uid, len(e.components)) for e in events] == [("r", 2), ("r", 1)]
    assert events[0].overrides[0].start == datetime(2026, 3, 11, 10, tzinfo=UTC)


def test_feed_without_events_and_unparseable_feed() -> None:
    assert parse_feed("BEGIN:VCALENDAR\nVERSION:2.0\nEND:VCALENDAR\n") == ([], [])
    with pytest.raises(InvalidEventError):
        parse_feed("<html>502 Bad Gateway</html>")


# --------------------------------------------------------------------------- content hash

BASE = [
    "UID:h1",
    "DTSTAMP:20260101T000000Z",
    "CREATED:20260101T000000Z",
    "LAST-MODIFIED:20260101T000000Z",
    "SEQUENCE:0",
    "DTSTART;TZID=Europe/Berlin:20260310T090000",
    "DTEND;TZID=Europe/Berlin:20260310T100000",
    "SUMMARY:Interview",
    "ATTENDEE;CN=Jane;PARTSTAT=ACCEPTED:mailto:jane@mail.example",
    "STATUS:CONFIRMED",
    "TRANSP:OPAQUE",
    "CLASS:PUBLIC",
    "RRULE:FREQ=WEEKLY;COUNT=4",
    "X-CLIENT-REF:abc",
    "BEGIN:VALARM\nACTION:DISPLAY\nDESCRIPTION:soon\nTRIGGER:-PT10M\nEND:VALARM",
]


def hashed(lines: list[str], newline: str = "\n") -> str:
    text = vcal("\n".join(lines)).replace("\n", newline)
    return content_hash(parse_resource(text))


def test_content_hash_is_hex_sha256() -> None:
    value = hashed(BASE)
    assert len(value) == 64 and int(value, 16) >= 0


@pytest.mark.parametrize(
    "changed",
    [
        pytest.param([*BASE[:1], "DTSTAMP:20270101T000000Z", *BASE[2:]], id="dtstamp"),
        pytest.param([line.replace("SEQUENCE:0", "SEQUENCE:7") for line in BASE], id="sequence"),
        pytest.param(
            [
                line.replace("20260101T000000Z", "20260202T000000Z")
                if line.startswith(("CREATED", "LAST-"))
                else line
                for line in BASE
            ],
            id="created-last-modified",
        ),
        pytest.param(list(reversed(BASE[:-1])) + BASE[-1:], id="property-order"),
        pytest.param(
            [line.replace("CN=Jane;PARTSTAT=ACCEPTED", "PARTSTAT=ACCEPTED;CN=Jane") for line in BASE],
            id="param-order",
        ),
        pytest.param(
            [line.replace("SUMMARY:Interview", "SUMMARY:Inter\n view") for line in BASE], id="folding"
        ),
        pytest.param([line.replace("UID:h1", "UID:regenerated-by-feed") for line in BASE], id="uid"),
    ],
)
def test_content_hash_invariances(changed: list[str]) -> None:
    assert hashed(changed) == hashed(BASE)


def test_content_hash_ignores_crlf() -> None:
    assert hashed(BASE, "\r\n") == hashed(BASE, "\n")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("DTSTART;TZID=Europe/Berlin:20260310T090000", "DTSTART;TZID=Europe/Berlin:20260310T091500"),
        ("DTSTART;TZID=Europe/Berlin:20260310T090000", "DTSTART;TZID=Europe/London:20260310T090000"),
        ("DTEND;TZID=Europe/Berlin:20260310T100000", "DTEND;TZID=Europe/Berlin:20260310T110000"),
        ("SUMMARY:Interview", "SUMMARY:Interview 2"),
        ("PARTSTAT=ACCEPTED", "PARTSTAT=DECLINED"),
        ("mailto:jane@mail.example", "mailto:john@mail.example"),
        ("STATUS:CONFIRMED", "STATUS:CANCELLED"),
        ("TRANSP:OPAQUE", "TRANSP:TRANSPARENT"),
        ("CLASS:PUBLIC", "CLASS:PRIVATE"),
        ("RRULE:FREQ=WEEKLY;COUNT=4", "RRULE:FREQ=WEEKLY;COUNT=5"),
        ("X-CLIENT-REF:abc", "X-CLIENT-REF:abd"),
        ("TRIGGER:-PT10M", "TRIGGER:-PT15M"),
    ],
)
def test_content_hash_sensitivities(old: str, new: str) -> None:
    changed = [line.replace(old, new) for line in BASE]
    assert changed != BASE
    assert hashed(changed) != hashed(BASE)


def test_content_hash_sees_added_properties_and_custom_zone_rules() -> None:
    assert hashed([*BASE, "EXDATE;TZID=Europe/Berlin:20260317T090000"]) != hashed(BASE)
    assert hashed([*BASE, "LOCATION:Room 1"]) != hashed(BASE)
    custom = ["UID:z", "DTSTART;TZID=Customized Time Zone:20260710T090000"]
    eu = content_hash(
        parse_resource(vcal("\n".join(custom), zones=EU_RULES.format(tzid="Customized Time Zone")))
    )
    us = content_hash(
        parse_resource(vcal("\n".join(custom), zones=US_EAST_RULES.format(tzid="Customized Time Zone")))
    )
    assert eu != us


def test_content_hash_of_components_when_there_is_no_raw() -> None:
    event = replace(parse_resource(vcal("\n".join(BASE))), raw=None)
    later = replace(
        event, components=(replace(event.master, last_modified=datetime(2030, 1, 1, tzinfo=UTC)),)
    )
    assert content_hash(later) == content_hash(event)
    for change in (
        {"summary": "x"},
        {"start": datetime(2026, 3, 10, 9, tzinfo=ZoneInfo("Europe/Paris"))},
        {"attendees": ()},
        {"transparent": True},
        {"exdates": (datetime(2026, 3, 17, 9, tzinfo=BERLIN),)},
    ):
        assert content_hash(replace(event, components=(replace(event.master, **change),))) != content_hash(
            event
        )
    assert content_hash(replace(event, marker="m")) != content_hash(event)


# --------------------------------------------------------------------------- full copy


def test_full_copy_keeps_everything_but_uid_and_marker() -> None:
    events, _ = parse_feed(fixture("exchange_export.ics"))
    origin = replace(events[0], raw=events[0].raw.replace("VERSION:2.0", "VERSION:2.0\nMETHOD:REQUEST"))  # type: ignore[union-attr]
    text = origin.raw.replace(
        "X-MICROSOFT-CDO-IMPORTANCE:1", f"X-MICROSOFT-CDO-IMPORTANCE:1\n{MARKER_PROPERTY}:old"
    )  # type: ignore[union-attr]
    text = text.replace(
        "X-MICROSOFT-DISALLOW-COUNTER:FALSE",
        "X-MICROSOFT-DISALLOW-COUNTER:FALSE\nORGANIZER;CN=Boss:mailto:boss@globex.example\n"
        "ATTENDEE;PARTSTAT=ACCEPTED:mailto:rita@recruit.example\nBEGIN:VALARM\nACTION:DISPLAY\n"
        "DESCRIPTION:r\nTRIGGER:-PT5M\nEND:VALARM",
    )
    origin = parse_resource(text)
    copy = full_copy(origin, uid="mirror-1", marker="opaque")
    assert copy.uid == "mirror-1" and copy.marker == "opaque"
    assert copy.components == origin.components
    reread = parse_resource(copy.raw)  # type: ignore[arg-type]
    assert reread.uid == "mirror-1" and reread.marker == "opaque"
    assert reread.components == origin.components and timing(reread) == timing(origin)
    raw = copy.raw
    assert raw is not None
    assert "METHOD" not in raw and "UID:mirror-1" in raw and origin.uid not in raw.replace("\r\n ", "")
    assert raw.count(f"{MARKER_PROPERTY}:opaque") == 3 and f"{MARKER_PROPERTY}:old" not in raw
    assert "SCHEDULE-AGENT=CLIENT:mailto:boss@globex.example" in raw.replace("\r\n ", "")
    assert raw.replace("\r\n ", "").count("SCHEDULE-AGENT=CLIENT") == 4
    for kept in (
        "BEGIN:VTIMEZONE",
        "TZID:Pacific Standard Time",
        "X-MICROSOFT-CDO-INSTTYPE:3",
        "TRIGGER:-PT5M",
        "PRIORITY:5",
    ):
        assert kept in raw


def test_full_copy_without_raw_lets_serialize_build_it() -> None:
    origin = replace(one("DTSTART:20260310T090000Z", "SUMMARY:x"), raw=None)
    copy = full_copy(origin, uid="m2", marker="opaque")
    assert copy.raw is None and copy.uid == "m2" and copy.components == origin.components
    assert f"{MARKER_PROPERTY}:opaque" in serialize(copy)


# --------------------------------------------------------------------------- serialize


def test_serialize_returns_raw_verbatim() -> None:
    text = vcal("UID:a\nDTSTART:20260310T090000Z")
    assert serialize(parse_resource(text)) == text


def test_serialize_builds_a_calendar() -> None:
    event = Event(
        uid="b1",
        components=(
            Component(
                start=datetime(2026, 3, 10, 9, tzinfo=LA),
                end=datetime(2026, 3, 10, 10, tzinfo=LA),
                rrule=("FREQ=DAILY;COUNT=3",),
                exdates=(datetime(2026, 3, 11, 9, tzinfo=LA),),
            ),
            Component(
                start=datetime(2026, 3, 12, 17, tzinfo=UTC),
                end=datetime(2026, 3, 12, 18, tzinfo=UTC),
                recurrence_id=datetime(2026, 3, 12, 9, tzinfo=LA),
            ),
        ),
        marker="opaque",
    )
    text = serialize(event, dtstamp=datetime(2026, 1, 1, tzinfo=UTC))
    unfolded = text.replace("\r\n ", "")
    assert f"PRODID:{PRODID}" in text and "VERSION:2.0" in text
    assert unfolded.count("BEGIN:VTIMEZONE") == 1 and "TZID:America/Los_Angeles" in text
    assert "DTSTART;TZID=America/Los_Angeles:20260310T090000" in text
    assert "DTSTART:20260312T170000Z" in text and "DTSTAMP:20260101T000000Z" in text
    assert "RECURRENCE-ID;TZID=America/Los_Angeles:20260312T090000" in text
    assert text.count(f"{MARKER_PROPERTY}:opaque") == 2
    assert parse_resource(text) == event and timing(parse_resource(text)) == timing(event)
    allday = Event(uid="d", components=(Component(start=date(2026, 3, 10), end=date(2026, 3, 11)),))
    floating = Event(
        uid="f", components=(Component(start=datetime(2026, 3, 10, 9), end=datetime(2026, 3, 10, 9)),)
    )
    assert "DTSTART;VALUE=DATE:20260310" in serialize(allday) and "DTEND;VALUE=DATE:20260311" in serialize(
        allday
    )
    assert "DTSTART:20260310T090000\r\n" in serialize(floating) and "VTIMEZONE" not in serialize(floating)


def test_attendee_name_ending_in_backslash_does_not_corrupt_parameters() -> None:
    attendee = Attendee("a@a.example", "Ops\\", "ACCEPTED", "CHAIR")
    event = Event(
        uid="x", components=(Component(start=date(2026, 1, 1), end=date(2026, 1, 2), attendees=(attendee,)),)
    )
    assert parse_resource(serialize(event)).master.attendees == (
        Attendee("a@a.example", "Ops", "ACCEPTED", "CHAIR"),
    )


@pytest.mark.parametrize("name", ["google_export.ics", "exchange_export.ics", "ats_feed.ics"])
def test_fixture_events_round_trip_through_serialize(name: str) -> None:
    events, _ = parse_feed(fixture(name))
    for event in events:
        rebuilt = parse_resource(serialize(replace(event, raw=None)))
        assert rebuilt == event and timing(rebuilt) == timing(event)


ZONES = [None, UTC, BERLIN, LA, ZoneInfo("Asia/Kolkata"), ZoneInfo("Australia/Lord_Howe")]
TEXT = st.text(
    alphabet=st.characters(
        codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp"), exclude_characters='"'
    ),
    max_size=30,
)
EMAIL = st.from_regex(r"[a-z][a-z0-9.]{0,10}@[a-z]{1,8}\.example", fullmatch=True)
RRULES = [
    "FREQ=DAILY;COUNT=5",
    "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE",
    "FREQ=MONTHLY;UNTIL=20300101T000000Z;BYMONTHDAY=1",
]
STAMP = st.none() | st.datetimes(datetime(2000, 1, 1), datetime(2037, 1, 1)).map(
    lambda d: d.replace(microsecond=0, tzinfo=UTC)
)


@st.composite
def events(draw: st.DrawFn) -> Event:
    all_day = draw(st.booleans())
    zone = draw(st.sampled_from(ZONES))

    def moment() -> Moment:
        if all_day:
            return draw(st.dates(date(2000, 1, 1), date(2037, 1, 1)))
        naive = draw(st.datetimes(datetime(2000, 1, 1), datetime(2037, 1, 1))).replace(microsecond=0)
        return naive if zone is None else naive.replace(tzinfo=zone)

    def component(recurrence_id: Moment | None) -> Component:
        start = moment()
        end = start + (
            timedelta(days=draw(st.integers(1, 5)))
            if all_day
            else timedelta(minutes=draw(st.integers(0, 3000)))
        )
        return Component(
            start=start,
            end=end,
            recurrence_id=recurrence_id,
            summary=draw(TEXT),
            description=draw(TEXT),
            location=draw(TEXT),
            url=draw(st.sampled_from(["", "https://example.com/x?y=1"])),
            status=draw(st.sampled_from(["CONFIRMED", "TENTATIVE", "CANCELLED"])),
            transparent=draw(st.booleans()),
            klass=draw(st.sampled_from(["", "PUBLIC", "PRIVATE", "CONFIDENTIAL"])),
            organizer=draw(st.just("") | EMAIL),
            attendees=tuple(
                draw(
                    st.lists(
                        st.builds(
                            Attendee,
                            email=EMAIL,
                            name=TEXT.filter(lambda n: not n.endswith("\\")),
                            partstat=st.sampled_from(["NEEDS-ACTION", "ACCEPTED", "DECLINED", "TENTATIVE"]),
                            role=st.sampled_from(["REQ-PARTICIPANT", "OPT-PARTICIPANT", "CHAIR"]),
                        ),
                        max_size=3,
                    )
                )
            ),
            rrule=()
            if recurrence_id is not None
            else tuple(draw(st.lists(st.sampled_from(RRULES), max_size=1))),
            exdates=tuple(draw(st.lists(st.builds(moment), max_size=3))) if recurrence_id is None else (),
            rdates=tuple(draw(st.lists(st.builds(moment), max_size=2))) if recurrence_id is None else (),
            categories=tuple(draw(st.lists(TEXT.filter(bool), max_size=3))),
            created=draw(STAMP),
            last_modified=draw(STAMP),
        )

    master = component(None)
    rids = draw(st.lists(st.builds(moment), max_size=3, unique_by=as_utc))
    overrides = sorted((component(rid) for rid in rids), key=lambda c: c.recurrence_id.isoformat())  # type: ignore[union-attr]
    if zone is not None and not all_day:
        overrides.sort(key=lambda c: c.recurrence_id.astimezone(UTC))  # type: ignore[union-attr]
    return Event(
        uid=draw(st.from_regex(r"[A-Za-z0-9@._-]{1,40}", fullmatch=True)),
        components=(master, *overrides),
        marker=draw(st.none() | st.from_regex(r"[a-f0-9]{8,32}", fullmatch=True)),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events())
def test_serialize_parse_round_trip(event: Event) -> None:
    text = serialize(event)
    back = parse_resource(text)
    assert back == event
    assert timing(back) == timing(event)
    assert content_hash(back) == content_hash(parse_resource(text))
