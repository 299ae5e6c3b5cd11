"""Conflicts on the unified view: expanding events, overlaps and buffers, the slot to propose, gaps."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mirrorcal.conflicts import GRID, Busy, Conflict, find_conflicts, gaps, occurrences
from mirrorcal.errors import InvalidEventError
from mirrorcal.ical import parse_resource
from mirrorcal.model import Component, Event

NY = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
UTC_ZONE = ZoneInfo("UTC")
TUESDAY = date(2026, 3, 10)
BOOKED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(hhmm: str, day: date = TUESDAY, tz: ZoneInfo = NY) -> datetime:
    hour, minute = map(int, hhmm.split(":"))
    return datetime.combine(day, time(hour, minute), tzinfo=tz)


def block(
    summary: str,
    start: str,
    end: str,
    *,
    calendar: str = "Personal",
    root: str | None = None,
    booked: int = 0,
    day: date = TUESDAY,
    tz: ZoneInfo = NY,
) -> Busy:
    """A busy block on ``day``; ``booked`` is minutes after BOOKED (-1: unknown)."""
    return Busy(
        calendar=calendar,
        summary=summary,
        start=at(start, day, tz),
        end=at(end, day, tz) if end != "24:00" else at("00:00", day + timedelta(days=1), tz),
        root=root or summary,
        created=None if booked < 0 else BOOKED + timedelta(minutes=booked),
    )


def pairs(conflicts: list[Conflict]) -> list[tuple[str, str, int]]:
    return [(c.a.summary, c.b.summary, c.overlap_minutes) for c in conflicts]


# --- the recruiter's Tuesday (seed 004) ----------------------------------------------------------------

JOHN = block("Candidate John", "09:00", "10:00", calendar="Client A ATS", booked=1)
MARIA = block("Candidate Maria", "10:00", "10:30", calendar="Client B ATS", booked=2)
DAVID = block("Candidate David", "09:50", "10:20", calendar="Client C Lever", booked=60)
TUESDAY_MORNING = [JOHN, MARIA, DAVID]


def test_recruiters_tuesday_two_conflicts_and_david_moves_to_half_past_ten() -> None:
    conflicts = find_conflicts(TUESDAY_MORNING, tz=NY)

    assert [c.as_json() for c in conflicts] == [
        {
            "a": {
                "calendar": "Client A ATS",
                "summary": "Candidate John",
                "start": "2026-03-10T09:00:00-04:00",
                "end": "2026-03-10T10:00:00-04:00",
            },
            "b": {
                "calendar": "Client C Lever",
                "summary": "Candidate David",
                "start": "2026-03-10T09:50:00-04:00",
                "end": "2026-03-10T10:20:00-04:00",
            },
            "overlap_minutes": 10,
            "proposed_start": "2026-03-10T10:30:00-04:00",
        },
        {
            "a": {
                "calendar": "Client B ATS",
                "summary": "Candidate Maria",
                "start": "2026-03-10T10:00:00-04:00",
                "end": "2026-03-10T10:30:00-04:00",
            },
            "b": {
                "calendar": "Client C Lever",
                "summary": "Candidate David",
                "start": "2026-03-10T09:50:00-04:00",
                "end": "2026-03-10T10:20:00-04:00",
            },
            "overlap_minutes": 20,
            "proposed_start": "2026-03-10T10:30:00-04:00",
        },
    ]


def test_recruiters_tuesday_with_a_ten_minute_buffer() -> None:
    conflicts = find_conflicts(TUESDAY_MORNING, tz=NY, buffer=timedelta(minutes=10))

    assert pairs(conflicts) == [
        ("Candidate John", "Candidate David", 10),
        ("Candidate John", "Candidate Maria", 0),  # back-to-back: a tight conflict
        ("Candidate Maria", "Candidate David", 20),
    ]
    proposed = {c.b.summary: c.proposed_start for c in conflicts}
    assert proposed["Candidate David"] == at("10:40")
    # Maria, moved on her own, must clear John (10:00) and David (10:20) by 10 minutes each.
    assert proposed["Candidate Maria"] == at("10:30")


def test_recruiters_tuesday_gaps() -> None:
    assert [(a.summary, b.summary, m) for a, b, m in gaps(TUESDAY_MORNING, NY)] == [
        ("Candidate John", "Candidate David", -10),
        ("Candidate David", "Candidate Maria", -20),
    ]


# --- find_conflicts: table ------------------------------------------------------------------------------

CASES: list[tuple[str, list[Busy], timedelta, list[tuple[str, str, int]]]] = [
    (
        "overlap",
        [block("A", "09:00", "10:00"), block("B", "09:30", "10:30", booked=5)],
        timedelta(0),
        [("A", "B", 30)],
    ),
    (
        "contained",
        [block("A", "09:00", "12:00"), block("B", "10:00", "10:45", booked=5)],
        timedelta(0),
        [("A", "B", 45)],
    ),
    ("touching, no buffer", [block("A", "09:00", "10:00"), block("B", "10:00", "11:00")], timedelta(0), []),
    (
        "touching, buffer: tight",
        [block("A", "09:00", "10:00"), block("B", "10:00", "11:00")],
        timedelta(minutes=10),
        [("A", "B", 0)],
    ),
    (
        "gap below buffer",
        [block("A", "09:00", "10:00"), block("B", "10:05", "11:00")],
        timedelta(minutes=10),
        [("A", "B", 0)],
    ),
    (
        "gap equal to buffer",
        [block("A", "09:00", "10:00"), block("B", "10:10", "11:00")],
        timedelta(minutes=10),
        [],
    ),
    (
        "same root: an event and its mirror",
        [
            block("Interview", "09:00", "10:00", calendar="Client A ATS", root="a/1"),
            block("Busy", "09:00", "10:00", calendar="Client B", root="a/1"),
            block("Busy", "09:30", "10:30", calendar="Client C", root="a/1"),
        ],
        timedelta(minutes=10),
        [],
    ),
    (
        "mirrors collapse: one conflict",
        [
            block("Interview", "09:00", "10:00", calendar="Client A ATS", root="a/1", booked=1),
            block("Busy", "09:00", "10:00", calendar="Personal", root="a/1", booked=3),
            block("Busy", "09:00", "10:00", calendar="Client B", root="a/1", booked=4),
            block("Lunch", "09:45", "10:15", root="p/9", booked=2),
        ],
        timedelta(0),
        [("Interview", "Lunch", 15)],
    ),
    (
        "exact duplicates listed once",
        [block("A", "09:00", "10:00"), block("A", "09:00", "10:00"), block("B", "09:15", "09:45", booked=1)],
        timedelta(0),
        [("A", "B", 30)],
    ),
    (
        "sub-minute overlap rounds up",
        [
            Busy("P", "A", at("09:00"), at("10:00") + timedelta(seconds=20), "A", BOOKED),
            block("B", "10:00", "11:00", booked=1),
        ],
        timedelta(0),
        [("A", "B", 1)],
    ),
    (
        "three-way",
        [
            block("A", "09:00", "11:00"),
            block("B", "09:30", "10:00", booked=1),
            block("C", "09:45", "10:30", booked=2),
        ],
        timedelta(0),
        [("A", "B", 30), ("A", "C", 45), ("B", "C", 15)],
    ),
]


@pytest.mark.parametrize(("busy", "buffer", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_find_conflicts(busy: list[Busy], buffer: timedelta, expected: list[tuple[str, str, int]]) -> None:
    assert pairs(find_conflicts(busy, buffer=buffer, tz=NY)) == expected


def test_collapsed_mirrors_keep_the_earliest_booked_origin() -> None:
    origin = block("Interview", "09:00", "10:00", calendar="Client A ATS", root="a/1", booked=1)
    mirror = block("Busy", "09:00", "10:00", calendar="Personal", root="a/1", booked=30)
    lunch = block("Lunch", "09:30", "10:30", root="p/1", booked=10)
    [conflict] = find_conflicts([mirror, lunch, origin], tz=NY)
    # The mirror is younger than the lunch, but the interview was booked first: lunch moves.
    assert (conflict.a, conflict.b) == (origin, lunch)


def test_a_conflict_names_the_origin_rather_than_an_earlier_stamped_busy_copy() -> None:
    # A private mirror carries no CREATED, so its stamp can look older than its origin's.
    copy = block("Busy", "09:00", "10:00", calendar="client-a", root="personal/1", booked=0)
    origin = block("Interview", "09:00", "10:00", calendar="personal", root="personal/1", booked=20)
    standup = block("Stand-up", "09:30", "10:00", calendar="client-a", root="client-a/2", booked=10)
    [conflict] = find_conflicts([copy, standup, origin], tz=NY)
    assert {conflict.a.summary, conflict.b.summary} == {"Interview", "Stand-up"}


MOVE_CASES = [
    (
        "booked last moves, even if it starts first",
        block("Early", "09:00", "10:00", booked=50),
        block("Late", "09:30", "10:30", booked=10),
        "Early",
    ),
    (
        "same booking: the later start moves",
        block("Early", "09:00", "10:00", booked=5),
        block("Late", "09:30", "10:30", booked=5),
        "Late",
    ),
    (
        "unknown booking: the later start moves",
        block("Early", "09:00", "10:00", booked=50),
        block("Late", "09:30", "10:30", booked=-1),
        "Late",
    ),
    (
        "same start: calendar order",
        block("X", "09:00", "10:00", calendar="Client B", booked=-1),
        block("X", "09:00", "10:00", calendar="Client A", root="other", booked=-1),
        "Client B",
    ),
]


@pytest.mark.parametrize(
    ("first", "second", "moves"), [c[1:] for c in MOVE_CASES], ids=[c[0] for c in MOVE_CASES]
)
def test_which_one_moves(first: Busy, second: Busy, moves: str) -> None:
    for order in ([first, second], [second, first]):
        [conflict] = find_conflicts(order, tz=NY)
        assert moves in (conflict.b.summary, conflict.b.calendar)
        assert {conflict.a, conflict.b} == {first, second}


# --- proposals ------------------------------------------------------------------------------------------

NINE_TO_FIVE = (time(9), time(17))


def test_working_hours_push_the_proposal_to_the_next_morning() -> None:
    busy = [block("A", "16:00", "17:00", booked=1), block("B", "16:30", "17:00", booked=2)]
    [conflict] = find_conflicts(busy, tz=NY, working_hours=NINE_TO_FIVE)
    assert conflict.proposed_start == at("09:00", TUESDAY + timedelta(days=1))
    [without] = find_conflicts(busy, tz=NY)
    assert without.proposed_start == at("17:00")


def test_working_hours_skip_a_busy_next_morning_and_stay_on_one_day() -> None:
    wednesday = TUESDAY + timedelta(days=1)
    busy = [
        block("A", "16:00", "17:00", booked=1),
        block("B", "16:30", "17:00", booked=2),
        block("Standup", "09:00", "09:20", day=wednesday, booked=0),
    ]
    [conflict] = find_conflicts(busy, tz=NY, working_hours=NINE_TO_FIVE, buffer=timedelta(minutes=5))
    assert conflict.proposed_start == at("09:25", wednesday)


def test_proposal_rounds_up_to_the_five_minute_grid() -> None:
    busy = [block("A", "09:00", "09:52"), block("B", "09:30", "10:00", booked=1)]
    [conflict] = find_conflicts(busy, tz=NY)
    assert conflict.proposed_start == at("09:55")


def test_proposal_ignores_the_moved_events_own_mirrors() -> None:
    busy = [
        block("A", "09:00", "10:00", booked=1),
        block("B", "09:30", "10:00", root="b", booked=2),
        block("Busy", "10:00", "10:30", calendar="Client A", root="b", booked=3),
    ]
    conflict = find_conflicts(busy, tz=NY)[0]
    assert conflict.b.summary == "B" and conflict.proposed_start == at("10:00")


@pytest.mark.parametrize(
    ("busy", "kwargs"),
    [
        (
            [
                block("Retreat", "00:00", "24:00", day=TUESDAY),
                block("Offsite", "00:00", "24:00", day=TUESDAY + timedelta(days=1)),
                block("B", "09:00", "10:00", booked=1),
            ],
            {"search_days": 1},
        ),
        (
            [block("A", "09:00", "10:00"), block("B", "09:30", "18:00", booked=1)],
            {"working_hours": NINE_TO_FIVE},
        ),  # longer than a working day
        ([block("A", "09:00", "10:00"), block("B", "09:30", "10:00", booked=1)], {"search_days": 0}),
    ],
    ids=["busy for the whole search", "longer than the working day", "no search"],
)
def test_no_slot_found(busy: list[Busy], kwargs: dict[str, Any]) -> None:
    conflicts = find_conflicts(busy, tz=NY, **kwargs)
    assert conflicts and all(c.proposed_start is None for c in conflicts)
    assert conflicts[0].as_json()["proposed_start"] is None


def test_dst_fall_back_in_london_compares_instants_not_wall_clocks() -> None:
    # On 2026-10-25 London's 01:00–02:00 happens twice: first in BST, then in GMT.
    first = Busy(
        "Personal",
        "BST hour",
        datetime(2026, 10, 25, 0, 0, tzinfo=UTC).astimezone(LONDON),
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC).astimezone(LONDON),
        "x",
        BOOKED,
    )
    second = Busy(
        "Personal",
        "GMT hour",
        datetime(2026, 10, 25, 1, 15, tzinfo=UTC).astimezone(LONDON),
        datetime(2026, 10, 25, 1, 45, tzinfo=UTC).astimezone(LONDON),
        "y",
        BOOKED,
    )
    assert first.start.strftime("%H:%M") == "01:00" and second.start.strftime("%H:%M") == "01:15"
    assert find_conflicts([first, second], tz=LONDON) == []
    late = Busy(
        "Personal",
        "late",
        datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 2, 0, tzinfo=UTC),
        "z",
        BOOKED + timedelta(1),
    )
    [conflict] = find_conflicts([first, second, late], tz=LONDON)
    assert (conflict.a.summary, conflict.b.summary, conflict.overlap_minutes) == ("GMT hour", "late", 15)
    assert conflict.proposed_start is not None  # in the fold: PEP 495 makes == across zones False
    assert conflict.proposed_start.astimezone(UTC) == datetime(2026, 10, 25, 1, 45, tzinfo=UTC)
    assert conflict.as_json()["proposed_start"] == "2026-10-25T01:45:00+00:00"
    assert gaps([first, second], LONDON)[0][2] == 45


def test_dst_spring_forward_working_hours_in_london() -> None:
    sunday = date(2026, 3, 29)  # 01:00 becomes 02:00: a 23-hour day
    busy = [
        block("A", "16:00", "17:00", day=sunday - timedelta(days=1), tz=LONDON),
        block("B", "16:30", "17:00", day=sunday - timedelta(days=1), tz=LONDON, booked=1),
    ]
    [conflict] = find_conflicts(busy, tz=LONDON, working_hours=NINE_TO_FIVE)
    assert conflict.proposed_start == datetime(2026, 3, 29, 8, 0, tzinfo=UTC)  # 09:00 BST
    assert conflict.as_json()["proposed_start"] == "2026-03-29T09:00:00+01:00"


def test_an_unreadable_rule_is_a_readable_error_for_that_event() -> None:
    master = Component(start=at("09:00"), end=at("10:00"), rrule=("FREQ=FORTNIGHTLY",))
    with pytest.raises(InvalidEventError, match="'bad-1'.*FORTNIGHTLY"):
        occurrences(
            Event("bad-1", (master,)), calendar="C", root="r", start=at("00:00"), end=at("23:00"), tz=NY
        )


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        find_conflicts([], tz=NY, buffer=timedelta(minutes=-1))
    with pytest.raises(ValueError):
        find_conflicts([], tz=NY, working_hours=(time(17), time(9)))
    with pytest.raises(ValueError):
        Busy("P", "x", datetime(2026, 3, 10, 9), datetime(2026, 3, 10, 10), "r")
    with pytest.raises(ValueError):
        Busy("P", "x", at("10:00"), at("10:00"), "r")


# --- gaps -----------------------------------------------------------------------------------------------


def test_gaps_between_interviews_on_each_day() -> None:
    wednesday = TUESDAY + timedelta(days=1)
    busy = [
        block("A", "09:00", "09:45"),
        block("B", "10:00", "10:30"),
        block("Mirror of B", "10:00", "10:30", calendar="Client A", root="B", booked=5),
        block("C", "10:40", "11:00"),
        block("D", "09:00", "10:00", day=wednesday),
        block("E", "13:00", "14:00", day=wednesday),
    ]
    assert [(a.summary, b.summary, m) for a, b, m in gaps(busy, NY)] == [
        ("A", "B", 15),
        ("B", "C", 10),
        ("D", "E", 180),
    ]


def test_gaps_measure_from_the_block_that_ends_last() -> None:
    busy = [
        block("Workshop", "09:00", "12:00"),
        block("Call", "09:30", "10:00"),
        block("Lunch", "12:30", "13:00"),
    ]
    assert [(a.summary, b.summary, m) for a, b, m in gaps(busy, NY)] == [
        ("Workshop", "Call", -150),
        ("Workshop", "Lunch", 30),
    ]


# --- occurrences: from iCalendar text -------------------------------------------------------------------


def resource(*vevents: str) -> str:
    body = "".join(
        f"BEGIN:VEVENT\r\nDTSTAMP:20260101T000000Z\r\n{v.strip()}\r\nEND:VEVENT\r\n" for v in vevents
    )
    body = body.replace("\n", "\r\n").replace("\r\r\n", "\r\n")
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//mirrorcal//tests//EN\r\n{body}END:VCALENDAR\r\n"


SERIES = (
    """UID:series-1
SUMMARY:Weekly sync
CREATED:20260201T120000Z
DTSTART;TZID=America/New_York:20260302T090000
DTEND;TZID=America/New_York:20260302T093000
RRULE:FREQ=DAILY;COUNT=5
EXDATE;TZID=America/New_York:20260304T090000""",
    """UID:series-1
SUMMARY:Weekly sync (moved)
RECURRENCE-ID;TZID=America/New_York:20260305T090000
DTSTART;TZID=America/New_York:20260305T140000
DTEND;TZID=America/New_York:20260305T143000""",
    """UID:series-1
SUMMARY:Weekly sync
RECURRENCE-ID;TZID=America/New_York:20260306T090000
DTSTART;TZID=America/New_York:20260306T090000
DTEND;TZID=America/New_York:20260306T093000
STATUS:CANCELLED""",
)

WEEK = (datetime(2026, 3, 2, tzinfo=NY), datetime(2026, 3, 9, tzinfo=NY))
ONE = "UID:one\nSUMMARY:Interview\nDTSTART:20260310T140000Z\nDTEND:20260310T150000Z"
OCCURRENCE_CASES: list[tuple[str, tuple[str, ...], ZoneInfo, list[tuple[str, str, str]]]] = [
    ("single opaque", (ONE,), NY, [("Interview", "2026-03-10T10:00:00-04:00", "2026-03-10T11:00:00-04:00")]),
    ("free", (ONE + "\nTRANSP:TRANSPARENT",), NY, []),
    ("cancelled", (ONE + "\nSTATUS:CANCELLED",), NY, []),
    ("declined by the owner", (ONE + "\nATTENDEE;PARTSTAT=DECLINED:mailto:Recruiter@Example.com",), NY, []),
    (
        "declined by someone else",
        (
            ONE + "\nATTENDEE;PARTSTAT=DECLINED:mailto:john@example.com"
            "\nATTENDEE;PARTSTAT=ACCEPTED:mailto:recruiter@example.com",
        ),
        NY,
        [("Interview", "2026-03-10T10:00:00-04:00", "2026-03-10T11:00:00-04:00")],
    ),
    (
        "outside the window",
        ("UID:x\nSUMMARY:Later\nDTSTART:20260402T140000Z\nDTEND:20260402T150000Z",),
        NY,
        [],
    ),
    (
        "partly inside the window",
        ("UID:x\nSUMMARY:Long\nDTSTART:20260309T230000Z\nDTEND:20260310T050000Z",),
        NY,
        [("Long", "2026-03-09T19:00:00-04:00", "2026-03-10T01:00:00-04:00")],
    ),
    (
        "floating read in the display zone",
        ("UID:f\nSUMMARY:Gym\nDTSTART:20260310T070000\nDTEND:20260310T080000",),
        LONDON,
        [("Gym", "2026-03-10T07:00:00+00:00", "2026-03-10T08:00:00+00:00")],
    ),
    (
        "duration instead of end",
        ("UID:d\nSUMMARY:Call\nDTSTART:20260310T140000Z\nDURATION:PT45M",),
        NY,
        [("Call", "2026-03-10T10:00:00-04:00", "2026-03-10T10:45:00-04:00")],
    ),
    ("no time taken", ("UID:z\nSUMMARY:Reminder\nDTSTART:20260310T140000Z",), NY, []),
    (
        "all-day opaque blocks the local day",
        ("UID:ad\nSUMMARY:Offsite\nDTSTART;VALUE=DATE:20260310\nDTEND;VALUE=DATE:20260311\nTRANSP:OPAQUE",),
        NY,
        [("Offsite", "2026-03-10T00:00:00-04:00", "2026-03-11T00:00:00-04:00")],
    ),
    (
        "all-day without TRANSP is opaque (RFC 5545)",
        ("UID:ad\nSUMMARY:Offsite\nDTSTART;VALUE=DATE:20260310\nDTEND;VALUE=DATE:20260311",),
        NY,
        [("Offsite", "2026-03-10T00:00:00-04:00", "2026-03-11T00:00:00-04:00")],
    ),
    ("all-day free", ("UID:ad\nSUMMARY:Birthday\nDTSTART;VALUE=DATE:20260310\nTRANSP:TRANSPARENT",), NY, []),
    (
        "all-day on the London spring-forward day is 23 hours",
        ("UID:ad\nSUMMARY:Away\nDTSTART;VALUE=DATE:20260329\nDTEND;VALUE=DATE:20260330",),
        LONDON,
        [("Away", "2026-03-29T00:00:00+00:00", "2026-03-30T00:00:00+01:00")],
    ),
]


@pytest.mark.parametrize(
    ("vevents", "tz", "expected"), [c[1:] for c in OCCURRENCE_CASES], ids=[c[0] for c in OCCURRENCE_CASES]
)
def test_occurrences(vevents: tuple[str, ...], tz: ZoneInfo, expected: list[tuple[str, str, str]]) -> None:
    event = parse_resource(resource(*vevents))
    found = occurrences(
        event,
        calendar="Client A",
        root="r",
        tz=tz,
        declined_by=frozenset({"recruiter@example.com"}),
        start=datetime(2026, 3, 10, tzinfo=tz),
        end=datetime(2026, 3, 31, tzinfo=tz),
    )
    assert [(b.summary, b.start.isoformat(), b.end.isoformat()) for b in found] == expected
    assert all(b.calendar == "Client A" and b.root == "r" for b in found)


def test_series_with_exdate_a_moved_override_and_a_cancelled_one() -> None:
    event = parse_resource(resource(*SERIES))
    found = occurrences(event, calendar="Client B ATS", root="b/series-1", start=WEEK[0], end=WEEK[1], tz=NY)
    assert [(b.summary, b.start.isoformat()) for b in found] == [
        ("Weekly sync", "2026-03-02T09:00:00-05:00"),
        ("Weekly sync", "2026-03-03T09:00:00-05:00"),
        ("Weekly sync (moved)", "2026-03-05T14:00:00-05:00"),
    ]
    assert found[0].created == datetime(2026, 2, 1, 12, tzinfo=UTC)
    assert found[2].created == found[0].created  # the override has no CREATED: the master's


def test_rdate_adds_an_occurrence() -> None:
    event = parse_resource(
        resource(
            "UID:r\nSUMMARY:Panel\nDTSTART:20260302T150000Z\nDTEND:20260302T160000Z\n"
            "RRULE:FREQ=WEEKLY;COUNT=2\nRDATE:20260304T170000Z"
        )
    )
    found = occurrences(
        event, calendar="C", root="r", start=WEEK[0], end=datetime(2026, 3, 31, tzinfo=NY), tz=UTC_ZONE
    )
    assert [b.start for b in found] == [
        datetime(2026, 3, 2, 15, tzinfo=UTC),
        datetime(2026, 3, 4, 17, tzinfo=UTC),
        datetime(2026, 3, 9, 15, tzinfo=UTC),
    ]


@pytest.mark.parametrize(
    ("extra", "booked"),
    [
        ("\nCREATED:20260301T070000Z\nLAST-MODIFIED:20260305T080000Z", datetime(2026, 3, 1, 7, tzinfo=UTC)),
        ("\nLAST-MODIFIED:20260305T080000Z", datetime(2026, 3, 5, 8, tzinfo=UTC)),
        ("", datetime(2026, 1, 1, tzinfo=UTC)),  # DTSTAMP, read from the provider's text
    ],
    ids=["created", "last-modified", "dtstamp"],
)
def test_when_it_was_booked(extra: str, booked: datetime) -> None:
    event = parse_resource(resource(ONE + extra))
    [found] = occurrences(
        event, calendar="C", root="r", start=WEEK[0], end=datetime(2026, 3, 31, tzinfo=NY), tz=NY
    )
    assert found.created == booked


def test_series_and_its_mirror_conflict_with_a_new_booking_once() -> None:
    origin = parse_resource(resource(*SERIES))
    lever = parse_resource(
        resource(
            "UID:lever-1\nSUMMARY:Candidate David\nCREATED:20260302T080000Z\n"
            "DTSTART;TZID=America/New_York:20260303T091500\nDTEND;TZID=America/New_York:20260303T094500"
        )
    )
    busy = [
        *occurrences(origin, calendar="Client B ATS", root="b/series-1", start=WEEK[0], end=WEEK[1], tz=NY),
        *occurrences(origin, calendar="Personal", root="b/series-1", start=WEEK[0], end=WEEK[1], tz=NY),
        *occurrences(lever, calendar="Client C Lever", root="c/lever-1", start=WEEK[0], end=WEEK[1], tz=NY),
    ]
    [conflict] = find_conflicts(busy, tz=NY)
    assert (conflict.a.calendar, conflict.b.summary, conflict.overlap_minutes) == (
        "Client B ATS",
        "Candidate David",
        15,
    )
    assert conflict.proposed_start == datetime(2026, 3, 3, 9, 30, tzinfo=NY)


# --- properties -----------------------------------------------------------------------------------------

BASE = datetime(2026, 3, 28, 6, 0, tzinfo=UTC)  # spans the London spring-forward night


@st.composite
def busy_lists(draw: st.DrawFn) -> list[Busy]:
    count = draw(st.integers(0, 9))
    span = draw(st.sampled_from([3 * 60, 12 * 60, 48 * 60]))  # dense mornings to sparse days
    found: dict[tuple[str, datetime, datetime], Busy] = {}
    for i in range(count):
        start = BASE + timedelta(minutes=draw(st.integers(0, span)))
        length = timedelta(minutes=draw(st.sampled_from([5, 7, 15, 30, 45, 60, 90, 240])))
        root = draw(st.sampled_from(["r0", "r1", "r2", "r3", "r4"]))
        created = draw(st.one_of(st.none(), st.integers(0, 3).map(lambda m: BOOKED + timedelta(minutes=m))))
        found.setdefault(
            (root, start, start + length),
            Busy(
                f"cal{i % 3}",
                f"e{i}",
                start.astimezone(LONDON),
                (start + length).astimezone(LONDON),
                root,
                created,
            ),
        )
    return list(found.values())


def _utc(moment: datetime) -> datetime:
    """UTC, for arithmetic: between two datetimes of one ZoneInfo, Python subtracts wall clocks."""
    return moment.astimezone(UTC)


def _free(
    slot: datetime, b: Busy, busy: list[Busy], buffer: timedelta, hours: tuple[time, time] | None
) -> bool:
    slot, length = _utc(slot), _utc(b.end) - _utc(b.start)
    if hours is not None:
        local = slot.astimezone(LONDON)
        opens = datetime.combine(local.date(), hours[0], tzinfo=LONDON)
        closes = datetime.combine(local.date(), hours[1], tzinfo=LONDON)
        if not (opens <= slot and slot + length <= closes):
            return False
    return all(
        not (_utc(x.start) < slot + length + buffer and _utc(x.end) > slot - buffer)
        for x in busy
        if x.root != b.root
    )


@settings(max_examples=150, deadline=None)
@given(
    busy=busy_lists(),
    buffer=st.sampled_from(
        [timedelta(0), timedelta(minutes=5), timedelta(minutes=10), timedelta(minutes=25)]
    ),
    hours=st.sampled_from([None, NINE_TO_FIVE, (time(8, 0), time(12, 30))]),
    search_days=st.integers(0, 2),
)
def test_property_conflicts_are_exactly_the_close_pairs_and_proposals_are_the_earliest_free_slot(
    busy: list[Busy], buffer: timedelta, hours: tuple[time, time] | None, search_days: int
) -> None:
    conflicts = find_conflicts(busy, buffer=buffer, tz=LONDON, working_hours=hours, search_days=search_days)

    expected = {
        frozenset((x, y))
        for i, x in enumerate(busy)
        for y in busy[i + 1 :]
        if x.root != y.root and _utc(x.start) < _utc(y.end) + buffer and _utc(y.start) < _utc(x.end) + buffer
    }
    assert [frozenset((c.a, c.b)) for c in conflicts] == list(
        {frozenset((c.a, c.b)): None for c in conflicts}
    )
    assert {frozenset((c.a, c.b)) for c in conflicts} == expected
    assert [_utc(c.a.start) for c in conflicts] == sorted(_utc(c.a.start) for c in conflicts)

    checked: set[Busy] = set()
    for c in conflicts:
        overlap = min(_utc(c.a.end), _utc(c.b.end)) - max(_utc(c.a.start), _utc(c.b.start))
        assert c.overlap_minutes == max(0, -(-int(overlap.total_seconds()) // 60))
        if c.a.created is not None and c.b.created is not None and c.a.created != c.b.created:
            assert c.a.created < c.b.created
        if c.b in checked:
            continue
        checked.add(c.b)
        limit = c.b.start.astimezone(LONDON) + timedelta(days=search_days)  # same local time, days later
        slot = datetime.fromtimestamp(-(-int(c.b.start.timestamp()) // 300) * 300, UTC)
        while slot < (c.proposed_start or limit):
            assert not _free(slot, c.b, busy, buffer, hours), f"{slot} was free before {c.proposed_start}"
            slot += GRID
        if c.proposed_start is not None:
            assert c.proposed_start.timestamp() < limit.timestamp()
            assert c.proposed_start.timestamp() % 300 == 0
            assert _free(c.proposed_start, c.b, busy, buffer, hours)


# --- scale ----------------------------------------------------------------------------------------------


def test_five_thousand_busy_blocks() -> None:
    """200 working days of 25 half-hour interviews, back to back; every tenth also double-booked."""
    busy: list[Busy] = []
    day = date(2026, 1, 5)
    for d in range(200):
        for slot in range(25):
            start = datetime.combine(day + timedelta(days=d), time(6), tzinfo=NY) + slot * timedelta(
                minutes=30
            )
            busy.append(
                Busy(
                    f"Client {slot % 5}",
                    f"i{d}.{slot}",
                    start,
                    start + timedelta(minutes=30),
                    f"{d}.{slot}",
                    BOOKED,
                )
            )
            if slot % 10 == 0:
                busy.append(
                    Busy(
                        "Client C",
                        f"x{d}.{slot}",
                        start + timedelta(minutes=10),
                        start + timedelta(minutes=40),
                        f"x{d}.{slot}",
                        BOOKED + timedelta(hours=1),
                    )
                )
    assert len(busy) == 5600

    conflicts = find_conflicts(busy, tz=NY, working_hours=(time(6), time(20)))

    assert len(conflicts) == 200 * 3 * 2
    assert all(c.b.summary.startswith("x") for c in conflicts)
    assert all(c.proposed_start is not None and c.proposed_start.time() == time(18, 30) for c in conflicts)
    assert len(gaps(busy, NY)) == 200 * (25 + 3 - 1)
