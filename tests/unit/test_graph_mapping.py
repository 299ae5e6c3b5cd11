"""Graph JSON <-> Event mapping: zones (IANA, Windows, custom), recurrence both ways, all-day, series, privacy."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from mirrorcal.errors import InvalidEventError
from mirrorcal.model import Attendee, Component, Event
from mirrorcal.providers import graph_mapping as gm
from mirrorcal.providers.graph_recurrence import occurrence_starts, recurrence_to_rrule, rrule_to_recurrence
from mirrorcal.zones import is_utc_name, windows_name, zone_named

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=BERLIN)


# --------------------------------------------------------------------------- zones


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("W. Europe Standard Time", "Europe/Berlin"),
        ("Pacific Standard Time", "America/Los_Angeles"),
        ("GMT Standard Time", "Europe/London"),
        ("Tokyo Standard Time", "Asia/Tokyo"),
        ("Europe/Paris", "Europe/Paris"),
        ("America/New_York", "America/New_York"),
        ("/mozilla.org/20050126_1/Europe/Vienna", "Europe/Vienna"),
        ("UTC", "UTC"),
        ("tzone://Microsoft/Custom", None),
        ("Customized Time Zone", None),
        ("Nowhere/Atlantis", None),
    ],
)
def test_zone_names(name: str, key: str | None) -> None:
    zone = zone_named(name)
    assert (zone.key if zone else None) == key


def test_windows_names_and_utc() -> None:
    assert windows_name(BERLIN) == "W. Europe Standard Time"
    assert windows_name(ZoneInfo("Europe/Madrid")) is None  # not CLDR's representative
    assert is_utc_name("UTC") and is_utc_name("Etc/UTC") and not is_utc_name("Europe/London")


def test_wall_times_with_seven_digits_and_offsets() -> None:
    assert gm.parse_wall("2016-12-09T20:30:00.1234567") == datetime(2016, 12, 9, 20, 30, 0, 123456)
    assert gm.parse_wall("2016-12-09T20:30:00Z") == datetime(2016, 12, 9, 20, 30)
    assert gm.parse_wall("2016-12-09T21:30:00+01:00") == datetime(2016, 12, 9, 20, 30)
    assert gm.format_wall(datetime(2016, 12, 9, 20, 30)) == "2016-12-09T20:30:00.0000000"


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        # Times come in UTC (no Prefer zone); the original zone, Windows-named, decides how they read.
        (
            {"timeZone": "UTC", "dateTime": "2026-03-10T08:00:00.0000000", "zone": "W. Europe Standard Time"},
            datetime(2026, 3, 10, 9, 0, tzinfo=BERLIN),
        ),
        (
            {
                "timeZone": "Pacific Standard Time",
                "dateTime": "2026-07-01T09:00:00.0000000",
                "zone": "Europe/Berlin",
            },
            datetime(2026, 7, 1, 18, 0, tzinfo=BERLIN),
        ),
        # Custom zones keep the exact instant, in UTC.
        (
            {
                "timeZone": "UTC",
                "dateTime": "2026-03-10T08:00:00.0000000",
                "zone": "tzone://Microsoft/Custom",
            },
            datetime(2026, 3, 10, 8, 0, tzinfo=UTC),
        ),
        (
            {"timeZone": "UTC", "dateTime": "2026-03-10T08:00:00.0000000", "zone": "UTC"},
            datetime(2026, 3, 10, 8, tzinfo=UTC),
        ),
    ],
)
def test_times_read_in_the_original_zone(obj: dict[str, str], expected: datetime) -> None:
    when = {"dateTime": obj["dateTime"], "timeZone": obj["timeZone"]}
    c = gm.component_from_graph({"start": when, "end": when, "originalStartTimeZone": obj["zone"]})
    assert c.start == expected and c.start.tzinfo == expected.tzinfo


def test_unknown_zone_and_end_before_start_are_readable_errors() -> None:
    with pytest.raises(InvalidEventError, match="unknown time zone"):
        gm.read_time({"dateTime": "2026-03-10T08:00:00", "timeZone": "Mars Standard Time"}, "start")
    start = {"dateTime": "2026-03-10T10:00:00", "timeZone": "UTC"}
    end = {"dateTime": "2026-03-10T09:00:00", "timeZone": "UTC"}
    with pytest.raises(InvalidEventError, match="before start"):
        gm.component_from_graph({"start": start, "end": end})
    with pytest.raises(InvalidEventError, match="start is missing"):
        gm.component_from_graph({"end": end})


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (
            datetime(2026, 3, 10, 9, 0, tzinfo=BERLIN),
            {"dateTime": "2026-03-10T09:00:00.0000000", "timeZone": "Europe/Berlin"},
        ),
        (
            datetime(2026, 3, 10, 9, 0, tzinfo=UTC),
            {"dateTime": "2026-03-10T09:00:00.0000000", "timeZone": "UTC"},
        ),
        (datetime(2026, 3, 10, 9, 0), {"dateTime": "2026-03-10T09:00:00.0000000", "timeZone": "UTC"}),
        (date(2026, 3, 10), {"dateTime": "2026-03-10T00:00:00.0000000", "timeZone": "UTC"}),
    ],
)
def test_graph_time(moment: datetime | date, expected: dict[str, str]) -> None:
    assert gm.graph_time(moment) == expected


# --------------------------------------------------------------------------- recurrence

# (RRULE, DTSTART, the pattern fields that matter, the range type, RRULE read back)
CASES = [
    ("FREQ=DAILY;COUNT=5", MONDAY, {"type": "daily", "interval": 1}, "numbered", None),
    ("FREQ=DAILY;INTERVAL=3", MONDAY, {"type": "daily", "interval": 3}, "noEnd", None),
    ("FREQ=WEEKLY;COUNT=10", MONDAY, {"type": "weekly", "daysOfWeek": ["monday"]}, "numbered", None),
    (
        "FREQ=WEEKLY;BYDAY=MO,WE,FR;COUNT=6",
        MONDAY,
        {"type": "weekly", "daysOfWeek": ["monday", "wednesday", "friday"]},
        "numbered",
        None,
    ),
    (
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH;WKST=SU",
        MONDAY,
        {"type": "weekly", "interval": 2, "firstDayOfWeek": "sunday"},
        "noEnd",
        None,
    ),
    ("FREQ=WEEKLY;BYDAY=MO", MONDAY, {"type": "weekly", "daysOfWeek": ["monday"]}, "noEnd", "FREQ=WEEKLY"),
    (
        "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR",
        MONDAY,
        {"type": "weekly", "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"]},
        "noEnd",
        "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
    ),
    ("FREQ=MONTHLY;COUNT=3", MONDAY, {"type": "absoluteMonthly", "dayOfMonth": 2}, "numbered", None),
    ("FREQ=MONTHLY;BYMONTHDAY=15", MONDAY, {"type": "absoluteMonthly", "dayOfMonth": 15}, "noEnd", None),
    (
        "FREQ=MONTHLY;BYDAY=2TU",
        MONDAY,
        {"type": "relativeMonthly", "daysOfWeek": ["tuesday"], "index": "second"},
        "noEnd",
        None,
    ),
    ("FREQ=MONTHLY;BYDAY=-1FR", MONDAY, {"type": "relativeMonthly", "index": "last"}, "noEnd", None),
    (
        "FREQ=MONTHLY;BYDAY=TU;BYSETPOS=3",
        MONDAY,
        {"type": "relativeMonthly", "index": "third"},
        "noEnd",
        "FREQ=MONTHLY;BYDAY=3TU",
    ),
    (
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
        MONDAY,
        {
            "type": "relativeMonthly",
            "index": "last",
            "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
        },
        "noEnd",
        None,
    ),
    ("FREQ=YEARLY", MONDAY, {"type": "absoluteYearly", "month": 3, "dayOfMonth": 2}, "noEnd", None),
    (
        "FREQ=YEARLY;BYMONTH=7;BYMONTHDAY=4",
        MONDAY,
        {"type": "absoluteYearly", "month": 7, "dayOfMonth": 4},
        "noEnd",
        None,
    ),
    (
        "FREQ=YEARLY;BYMONTH=11;BYDAY=4TH",
        MONDAY,
        {"type": "relativeYearly", "month": 11, "index": "fourth", "daysOfWeek": ["thursday"]},
        "noEnd",
        None,
    ),
    ("FREQ=WEEKLY;UNTIL=20260330T070000Z", MONDAY, {"type": "weekly"}, "endDate", None),
    ("FREQ=DAILY;UNTIL=20260310", date(2026, 3, 2), {"type": "daily"}, "endDate", None),
]


@pytest.mark.parametrize(("rule", "start", "pattern", "range_type", "back"), CASES)
def test_rrule_to_pattern_and_back(
    rule: str, start: datetime | date, pattern: dict[str, object], range_type: str, back: str | None
) -> None:
    recurrence = rrule_to_recurrence((rule,), start, "Europe/Berlin")
    assert {k: recurrence["pattern"][k] for k in pattern} == pattern
    assert recurrence["range"]["type"] == range_type
    assert recurrence["range"]["startDate"] == "2026-03-02"
    assert recurrence_to_rrule(recurrence, start) == (back or rule)


def test_until_becomes_the_end_date_in_the_series_zone() -> None:
    recurrence = rrule_to_recurrence(("FREQ=WEEKLY;UNTIL=20260330T070000Z",), MONDAY, "Europe/Berlin")
    assert recurrence["range"] == {
        "type": "endDate",
        "startDate": "2026-03-02",
        "endDate": "2026-03-30",
        "recurrenceTimeZone": "Europe/Berlin",
    }


def test_graph_written_series_read_back() -> None:
    recurrence = {
        "pattern": {
            "type": "weekly",
            "interval": 1,
            "daysOfWeek": ["tuesday", "thursday"],
            "firstDayOfWeek": "sunday",
        },
        "range": {"type": "numbered", "startDate": "2026-03-03", "numberOfOccurrences": 4},
    }
    tuesday = datetime(2026, 3, 3, 9, tzinfo=BERLIN)
    rule = recurrence_to_rrule(recurrence, tuesday)
    assert rule == "FREQ=WEEKLY;BYDAY=TU,TH;COUNT=4"
    after, before = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    assert [s.day for s in occurrence_starts(rule, tuesday, after, before)] == [3, 5, 10, 12]


def test_occurrences_follow_dst() -> None:
    starts = occurrence_starts("FREQ=WEEKLY;COUNT=6", datetime(2026, 3, 16, 9, tzinfo=BERLIN), *_year())
    assert {s.hour for s in starts} == {9}
    assert {s.utcoffset() for s in starts} == {timedelta(hours=1), timedelta(hours=2)}


def _year() -> tuple[datetime, datetime]:
    return datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("rule", "why"),
    [
        ("FREQ=HOURLY", "FREQ=HOURLY"),
        ("FREQ=DAILY;BYHOUR=9,17", "BYHOUR"),
        ("FREQ=YEARLY;BYWEEKNO=20", "BYWEEKNO"),
        ("FREQ=MONTHLY;BYMONTHDAY=1,15", "one positive BYMONTHDAY"),
        ("FREQ=MONTHLY;BYMONTHDAY=-1", "one positive BYMONTHDAY"),
        ("FREQ=MONTHLY;BYDAY=5MO", "position"),
        ("FREQ=MONTHLY;BYDAY=1MO,2TU", "share one position"),
        ("FREQ=WEEKLY;BYDAY=1MO", "plain BYDAY"),
        ("FREQ=YEARLY;BYDAY=1MO", "needs a BYMONTH"),
    ],
)
def test_rules_graph_cannot_express(rule: str, why: str) -> None:
    with pytest.raises(InvalidEventError, match="cannot be expressed in Microsoft Graph") as info:
        rrule_to_recurrence((rule,), MONDAY, "Europe/Berlin")
    assert why in str(info.value)


def test_rdate_and_two_rules_are_refused_on_write() -> None:
    c = Component(
        start=MONDAY,
        end=MONDAY + timedelta(hours=1),
        rrule=("FREQ=DAILY",),
        rdates=(MONDAY + timedelta(days=30),),
    )
    with pytest.raises(InvalidEventError, match="RDATE"):
        gm.to_graph(c, uid="u")
    with pytest.raises(InvalidEventError, match="2 RRULEs"):
        rrule_to_recurrence(("FREQ=DAILY", "FREQ=WEEKLY"), MONDAY, "UTC")


# --------------------------------------------------------------------------- whole events


def _round_trip(c: Component, **kwargs: str) -> Component:
    """Write a component, then read it as Graph would return it (in UTC, original zone named)."""
    body = gm.to_graph(c, uid="uid-1", **kwargs)
    served = dict(body)
    for side in ("start", "end"):
        instant = gm.read_time(body[side], side)
        served[side] = {
            "dateTime": gm.format_wall(instant.astimezone(UTC).replace(tzinfo=None)),
            "timeZone": "UTC",
        }
        served[f"original{side.title()}TimeZone"] = body[side]["timeZone"]
        if c.all_day:
            served[side] = body[side]
    return gm.component_from_graph(served)


def test_all_day_round_trip() -> None:
    c = Component(start=date(2026, 3, 1), end=date(2026, 3, 3), summary="Offsite")
    body = gm.to_graph(c, uid="u")
    assert body["isAllDay"] is True and body["start"]["dateTime"] == "2026-03-01T00:00:00.0000000"
    assert _round_trip(c) == c


@pytest.mark.parametrize(
    ("component", "show_as", "sensitivity"),
    [
        (Component(start=MONDAY, end=MONDAY, summary="Busy", klass="PRIVATE"), "busy", "private"),
        (Component(start=MONDAY, end=MONDAY, transparent=True), "free", "normal"),
        (
            Component(start=MONDAY, end=MONDAY, status="TENTATIVE", klass="CONFIDENTIAL"),
            "tentative",
            "confidential",
        ),
        (Component(start=MONDAY, end=MONDAY, klass="PUBLIC"), "busy", "normal"),
    ],
)
def test_privacy_and_busy(component: Component, show_as: str, sensitivity: str) -> None:
    body = gm.to_graph(component, uid="u")
    assert (body["showAs"], body["sensitivity"]) == (show_as, sensitivity)
    assert _round_trip(component) == gm.kept(Event("u", (component,))).master


def test_details_round_trip() -> None:
    c = Component(
        start=MONDAY,
        end=MONDAY + timedelta(hours=1),
        summary="Interview: Ada",
        description="Line 1\nLine 2",
        location="Room 4",
        url="https://meet.example/abc",
        organizer="boss@client-a.example",
        attendees=(
            Attendee("ada@example.com", "Ada", "ACCEPTED"),
            Attendee("bob@example.com", "Bob", "TENTATIVE", "OPT-PARTICIPANT"),
            Attendee("room@example.com", "Room", "NEEDS-ACTION", "NON-PARTICIPANT"),
        ),
        categories=("Interview", "Client A"),
    )
    body = gm.to_graph(c, uid="uid-1", marker="m1")
    assert {p["id"]: p["value"] for p in body["singleValueExtendedProperties"]} == {
        gm.UID_ID: "uid-1",
        gm.MARKER_ID: "m1",
        gm.URL_ID: "https://meet.example/abc",
    }
    assert body["attendees"][1] == {
        "emailAddress": {"address": "bob@example.com", "name": "Bob"},
        "type": "optional",
        "status": {"response": "tentativelyAccepted"},
    }
    served = {
        **body,
        "originalStartTimeZone": "Europe/Berlin",
        "createdDateTime": "2026-03-01T08:15:30.1234567Z",
        "lastModifiedDateTime": "not a stamp",
    }
    event = gm.event_from_graph(served)
    assert event == Event("uid-1", (c,), marker="m1")
    # Graph's seven fractional digits read; an unreadable stamp is no reason to refuse the event.
    assert event.master.created == datetime(2026, 3, 1, 8, 15, 30, 123456, tzinfo=UTC)
    assert event.master.last_modified is None


def test_html_body_reads_as_text_and_organizer_needs_attendees() -> None:
    when = {"dateTime": "2026-03-10T08:00:00", "timeZone": "UTC"}
    obj = {
        "start": when,
        "end": when,
        "body": {"contentType": "html", "content": "<html><body><p>Hello &amp; welcome</p>Bye</body></html>"},
        "organizer": {"emailAddress": {"address": "me@example.com"}},
    }
    c = gm.component_from_graph(obj)
    assert c.description == "Hello & welcome\nBye" and c.organizer == ""


def _series_master() -> dict[str, object]:
    return {
        "id": "M1",
        "iCalUId": "ical-1",
        "type": "seriesMaster",
        "subject": "Standup",
        "start": {"dateTime": "2026-03-02T08:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2026-03-02T08:30:00.0000000", "timeZone": "UTC"},
        "originalStartTimeZone": "W. Europe Standard Time",
        "recurrence": {
            "pattern": {
                "type": "weekly",
                "interval": 1,
                "daysOfWeek": ["monday"],
                "firstDayOfWeek": "sunday",
            },
            "range": {
                "type": "numbered",
                "startDate": "2026-03-02",
                "numberOfOccurrences": 4,
                "recurrenceTimeZone": "W. Europe Standard Time",
            },
        },
    }


def _instance(
    day: int, kind: str = "occurrence", hour: int = 8, subject: str = "Standup", **extra: object
) -> dict[str, object]:
    original = datetime(2026, 3, day, 8, tzinfo=UTC) if day < 29 else datetime(2026, 3, day, 7, tzinfo=UTC)
    start = original.replace(hour=hour)
    return {
        "id": f"O{day}",
        "type": kind,
        "seriesMasterId": "M1",
        "subject": subject,
        "originalStart": original.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "start": {"dateTime": gm.format_wall(start.replace(tzinfo=None)), "timeZone": "UTC"},
        "end": {
            "dateTime": gm.format_wall((start + timedelta(minutes=30)).replace(tzinfo=None)),
            "timeZone": "UTC",
        },
        "originalStartTimeZone": "W. Europe Standard Time",
        **extra,
    }


def test_series_with_exception_missing_and_cancelled_occurrences() -> None:
    instances = [
        _instance(2),
        _instance(16, "exception", hour=10, subject="Standup (moved)"),
        _instance(23, "exception", subject="Standup"),  # identical to its occurrence: no override
        _instance(30, isCancelled=True),
    ]  # 9 March is missing: deleted
    event = gm.event_from_graph(_series_master(), instances, checked=_year())
    master, moved = event.components
    assert event.uid == "ical-1" and master.rrule == ("FREQ=WEEKLY;COUNT=4",)
    assert master.start == datetime(2026, 3, 2, 9, tzinfo=BERLIN)
    assert master.exdates == (datetime(2026, 3, 9, 9, tzinfo=BERLIN), datetime(2026, 3, 30, 9, tzinfo=BERLIN))
    assert moved.recurrence_id == datetime(2026, 3, 16, 9, tzinfo=BERLIN)
    assert moved.start == datetime(2026, 3, 16, 11, tzinfo=BERLIN) and moved.summary == "Standup (moved)"


def test_exdates_are_only_inferred_inside_the_checked_window() -> None:
    event = gm.event_from_graph(
        _series_master(),
        [_instance(2)],
        checked=(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC)),
    )
    assert event.master.exdates == (datetime(2026, 3, 9, 9, tzinfo=BERLIN),)


def test_malformed_recurrence_is_an_invalid_event() -> None:
    master = {**_series_master(), "recurrence": {"pattern": {"type": "fortnightly"}, "range": {}}}
    with pytest.raises(InvalidEventError, match="fortnightly"):
        gm.event_from_graph(master, [])


def test_kept_turns_cancelled_overrides_into_exdates_and_floating_into_the_zone() -> None:
    start = datetime(2026, 3, 2, 9, 0)
    master = Component(start=start, end=start + timedelta(hours=1), rrule=("FREQ=WEEKLY;BYDAY=MO;COUNT=3",))
    cancelled = Component(
        start=start + timedelta(days=7),
        end=start + timedelta(days=7, hours=1),
        recurrence_id=start + timedelta(days=7),
        status="CANCELLED",
    )
    event = gm.kept(Event("u", (master, cancelled)), floating_zone="Europe/Berlin")
    assert len(event.components) == 1
    assert event.master.start == datetime(2026, 3, 2, 9, tzinfo=BERLIN)
    assert event.master.rrule == ("FREQ=WEEKLY;COUNT=3",)
    assert event.master.exdates == (datetime(2026, 3, 9, 9, tzinfo=BERLIN),)


def test_private_mirror_body_carries_no_details() -> None:
    c = Component(start=MONDAY, end=MONDAY + timedelta(hours=1), summary="Busy", klass="PRIVATE")
    body = gm.to_graph(c, uid="mirror-uid", marker="mirror-uid")
    assert body["sensitivity"] == "private" and body["showAs"] == "busy"
    assert body["attendees"] == [] and "organizer" not in body and body["location"] == {"displayName": ""}
