"""Private mirrors leak nothing but timing: every identifying token of the origin stays out."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mirrorcal.ical import parse_resource, serialize
from mirrorcal.model import MARKER_PROPERTY, Event, Moment
from mirrorcal.sync.privacy import private_copy

# Tokens start with "zq": nothing mirrorcal or icalendar writes contains that pair, so a
# token found in the output can only have come from the origin.
TOKEN = st.from_regex(r"zq[a-z0-9]{6,14}", fullmatch=True)

CUSTOM_ZONE = """BEGIN:VTIMEZONE
TZID:{tzid}
BEGIN:STANDARD
DTSTART:16010101T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3
END:DAYLIGHT
END:VTIMEZONE
"""


def fmt(moment: Moment, zone: str) -> str:
    """``;params:value`` for a moment written in the way ``zone`` says."""
    if not isinstance(moment, datetime):
        return f";VALUE=DATE:{moment:%Y%m%d}"
    if zone == "utc":
        return f":{moment:%Y%m%dT%H%M%S}Z"
    if zone == "floating":
        return f":{moment:%Y%m%dT%H%M%S}"
    return f";TZID={zone}:{moment:%Y%m%dT%H%M%S}"


@st.composite
def origins(draw: st.DrawFn) -> tuple[str, list[str]]:
    """iCalendar text of an origin event stuffed with tokens, and the tokens."""
    tokens = draw(st.lists(TOKEN, min_size=24, max_size=24, unique=True))
    t = iter(tokens)
    zone_name = f"Custom {next(t)} Zone"
    zone = draw(
        st.sampled_from(["utc", "floating", "Europe/Berlin", "W. Europe Standard Time", zone_name, "date"])
    )
    day = draw(st.dates(date(2020, 1, 1), date(2035, 1, 1)))
    start: Moment = day
    if zone != "date":
        start = datetime.combine(day, datetime.min.time()) + timedelta(minutes=15 * draw(st.integers(0, 95)))
    length = (
        timedelta(days=draw(st.integers(1, 3)))
        if zone == "date"
        else timedelta(minutes=draw(st.integers(0, 600)))
    )
    end = start + length
    recurring = draw(st.booleans())
    uid = f"{next(t)}@{next(t)}.example"

    def people() -> list[str]:
        return [
            f"ORGANIZER;CN={next(t)}:mailto:{next(t)}@client.example",
            f"ATTENDEE;CN={next(t)};PARTSTAT=ACCEPTED:mailto:{next(t)}@mail.example",
        ]

    master = [
        f"UID:{uid}",
        "DTSTAMP:20260101T000000Z",
        f"DTSTART{fmt(start, zone)}",
        f"DTEND{fmt(end, zone)}",
        f"SUMMARY:Interview {next(t)}",
        f"DESCRIPTION:Notes {next(t)}\\nmore",
        f"LOCATION:{next(t)} HQ",
        f"URL:https://{next(t)}.example/i",
        f"CATEGORIES:{next(t)},plain",
        f"X-{next(t).upper()}:{next(t)}",
        f"X-CLIENT-NAME:{next(t)}",
        f"{MARKER_PROPERTY}:{next(t)}",
        f"CLASS:{draw(st.sampled_from(['PUBLIC', 'CONFIDENTIAL']))}",
        f"TRANSP:{draw(st.sampled_from(['OPAQUE', 'TRANSPARENT']))}",
        *people(),
        f"BEGIN:VALARM\nACTION:DISPLAY\nDESCRIPTION:{next(t)}\nTRIGGER:-PT10M\nEND:VALARM",
    ]
    vevents = []
    if recurring:
        master.append("RRULE:FREQ=WEEKLY;COUNT=6")
        master.append(f"EXDATE{fmt(start + timedelta(days=7), zone)}")
        second = start + timedelta(days=14)
        moved = second + timedelta(hours=1) if isinstance(second, datetime) else second + timedelta(days=1)
        moved_end = moved + length
        vevents.append(
            "\n".join(
                [
                    f"UID:{uid}",
                    "DTSTAMP:20260101T000000Z",
                    f"RECURRENCE-ID{fmt(second, zone)}",
                    f"DTSTART{fmt(moved, zone)}",
                    f"DTEND{fmt(moved_end, zone)}",
                    f"SUMMARY:{next(t)}",
                    f"STATUS:{draw(st.sampled_from(['CONFIRMED', 'CANCELLED']))}",
                ]
            )
        )
    vevents.insert(0, "\n".join(master))
    zones = CUSTOM_ZONE.format(tzid=zone_name) if zone == zone_name else ""
    body = "".join(f"BEGIN:VEVENT\n{v}\nEND:VEVENT\n" for v in vevents)
    calendar_name = next(t)
    text = (
        f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//{next(t)}//EN\nX-WR-CALNAME:{calendar_name}\n"
        f"{zones}{body}END:VCALENDAR\n"
    )
    used = tokens[: tokens.index(calendar_name) + 2]
    return text, used


def derived_uid(sync_id: str, calendar_name: str, client_name: str, origin_uid: str) -> str:
    return hashlib.sha256(f"{sync_id}|{calendar_name}|{client_name}|{origin_uid}".encode()).hexdigest()


def timing(event: Event) -> list[tuple[object, ...]]:
    def key(moment: Moment | None) -> object:
        if isinstance(moment, datetime) and moment.tzinfo is not None:
            return (moment.astimezone(UTC), getattr(moment.tzinfo, "key", "UTC"))
        return moment

    return [
        (
            key(c.start),
            key(c.end),
            key(c.recurrence_id),
            c.rrule,
            tuple(map(key, c.exdates)),
            tuple(map(key, c.rdates)),
            c.transparent,
            c.status == "CANCELLED",
        )
        for c in event.components
    ]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(origins(), TOKEN, TOKEN)
def test_private_mirror_leaks_no_token_and_keeps_exact_timing(
    origin_and_tokens: tuple[str, list[str]], calendar_name: str, client_name: str
) -> None:
    text, tokens = origin_and_tokens
    origin = parse_resource(text)
    uid = derived_uid("sync-1", calendar_name, client_name, origin.uid)
    marker = hashlib.sha256(f"marker|{uid}".encode()).hexdigest()[:32]

    mirror = private_copy(origin, uid=uid, marker=marker, title="Busy")
    out = serialize(mirror)

    unfolded = out.replace("\r\n ", "").replace("\r\n\t", "")
    for token in [*tokens, calendar_name, client_name]:
        assert token not in out and token not in unfolded, f"{token!r} leaked into the private mirror"
        assert token.upper() not in unfolded.upper()
    assert "BEGIN:VALARM" not in out and "ATTENDEE" not in out and "ORGANIZER" not in out

    back = parse_resource(out)
    assert back.uid == uid and back.marker == marker
    assert timing(back) == timing(origin)
    assert all(c.klass == "PRIVATE" and c.summary == "Busy" for c in back.components)
    assert all(
        not (c.description or c.location or c.url or c.categories or c.attendees or c.organizer)
        for c in back.components
    )


def test_private_mirror_of_a_windows_zone_series_keeps_wall_clock_zone() -> None:
    text = (
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//t//EN\nBEGIN:VEVENT\nUID:secret@client.example\n"
        "DTSTAMP:20260101T000000Z\nDTSTART;TZID=Pacific Standard Time:20260302T090000\n"
        "DTEND;TZID=Pacific Standard Time:20260302T100000\nRRULE:FREQ=WEEKLY;COUNT=4\n"
        "SUMMARY:Secret client pitch\nEND:VEVENT\nEND:VCALENDAR\n"
    )
    mirror = private_copy(parse_resource(text), uid="m", marker="x", title="Busy")
    back = parse_resource(serialize(mirror))
    assert back.master.start == datetime(2026, 3, 2, 9, tzinfo=ZoneInfo("America/Los_Angeles"))
    assert back.master.start.tzinfo is ZoneInfo("America/Los_Angeles")  # type: ignore[union-attr]
    assert "Secret" not in serialize(mirror) and "client.example" not in serialize(mirror)


def test_private_rrule_keeps_only_timing_parts() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from mirrorcal.model import Component, Event
    from mirrorcal.sync.privacy import private_copy

    start = datetime(2027, 1, 4, 9, tzinfo=ZoneInfo("Europe/Paris"))
    master = Component(start=start, end=start.replace(hour=10), summary="x", rrule=("FREQ=WEEKLY;X-CLIENT=Globex;BYDAY=MO;COUNT=4",))
    mirror = private_copy(Event("u", (master,)), uid="m", marker="m", title="Busy")
    assert mirror.master.rrule == ("FREQ=WEEKLY;BYDAY=MO;COUNT=4",)
