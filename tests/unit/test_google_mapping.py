"""Google event JSON <-> Event: tables of times and zones, all-day, series with exceptions, privacy, losses."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from factories import interview, weekly_series

from mirrorcal.errors import InvalidEventError
from mirrorcal.model import Attendee, Component, Event
from mirrorcal.providers import google_mapping as gm
from mirrorcal.sync.privacy import private_copy

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
UTC_Z = ZoneInfo("UTC")


# --------------------------------------------------------------------------- moments


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"date": "2026-03-01"}, date(2026, 3, 1)),
        (
            {"dateTime": "2026-03-10T09:00:00+01:00", "timeZone": "Europe/Berlin"},
            datetime(2026, 3, 10, 9, tzinfo=BERLIN),
        ),
        (
            {"dateTime": "2026-03-10T09:00:00", "timeZone": "America/New_York"},
            datetime(2026, 3, 10, 9, tzinfo=NEW_YORK),
        ),
        ({"dateTime": "2026-03-10T08:00:00Z", "timeZone": "UTC"}, datetime(2026, 3, 10, 8, tzinfo=UTC)),
        ({"dateTime": "2026-03-10T09:00:00+01:00"}, datetime(2026, 3, 10, 8, tzinfo=UTC)),
        # The offset wins over the zone's wall clock: same instant, shown in the zone.
        (
            {"dateTime": "2026-03-10T08:00:00Z", "timeZone": "Europe/Berlin"},
            datetime(2026, 3, 10, 9, tzinfo=BERLIN),
        ),
    ],
)
def test_parse_moment(value: dict[str, str], expected: object) -> None:
    got = gm.parse_moment(value, "start")
    assert got == expected
    if isinstance(expected, datetime):
        assert isinstance(got, datetime) and got.tzinfo == expected.tzinfo


def test_parse_moment_without_zone_uses_the_calendars() -> None:
    assert gm.parse_moment({"dateTime": "2026-07-01T10:00:00"}, "start", LONDON) == datetime(
        2026, 7, 1, 10, tzinfo=LONDON
    )


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (date(2026, 3, 1), {"date": "2026-03-01"}),
        (
            datetime(2026, 3, 10, 9, tzinfo=BERLIN),
            {"dateTime": "2026-03-10T09:00:00+01:00", "timeZone": "Europe/Berlin"},
        ),
        (datetime(2026, 3, 10, 9, tzinfo=UTC), {"dateTime": "2026-03-10T09:00:00Z", "timeZone": "UTC"}),
        (
            datetime(2026, 7, 1, 9),
            {"dateTime": "2026-07-01T09:00:00+01:00", "timeZone": "Europe/London"},
        ),  # floating
    ],
)
def test_format_moment(moment: datetime | date, expected: dict[str, str]) -> None:
    assert gm.format_moment(moment, LONDON) == expected


def test_unknown_zone_is_an_error() -> None:
    with pytest.raises(InvalidEventError, match="Mars/Olympus"):
        gm.parse_moment({"dateTime": "2026-03-10T09:00:00", "timeZone": "Mars/Olympus"}, "start")


# --------------------------------------------------------------------------- ids


def test_event_ids() -> None:
    mirror = "0123456789abcdefghijklmnopqrstuv"
    assert gm.event_id_for(mirror) == mirror
    odd = gm.event_id_for("odd uid/x@example.com")
    assert (
        gm.is_event_id(odd)
        and odd == gm.event_id_for("odd uid/x@example.com")
        and odd != gm.event_id_for("other")
    )
    assert not gm.is_event_id("ABCDEF") and not gm.is_event_id("abcd") and not gm.is_event_id("wxyz12")


@pytest.mark.parametrize(
    ("rid", "expected"),
    [
        (datetime(2026, 3, 16, 9, tzinfo=BERLIN), "m0001_20260316T080000Z"),
        (datetime(2026, 3, 16, 8, tzinfo=UTC), "m0001_20260316T080000Z"),
        (datetime(2026, 7, 16, 9), "m0001_20260716T080000Z"),  # floating, in London summer time
        (date(2026, 3, 16), "m0001_20260316"),
    ],
)
def test_instance_ids(rid: datetime | date, expected: str) -> None:
    assert gm.instance_id("m0001", rid, LONDON) == expected


# --------------------------------------------------------------------------- reading Google's JSON


def test_a_resource_as_google_serves_it() -> None:
    resource = {
        "kind": "calendar#event", "id": "abc123def", "etag": '"31"', "status": "tentative", "iCalUID": "x@client",
        "summary": "Interview", "description": "notes", "location": "Room 1", "transparency": "transparent",
        "visibility": "confidential", "source": {"title": "ATS", "url": "https://ats.example/1"},
        "start": {"dateTime": "2026-03-10T09:00:00+01:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2026-03-10T10:00:00+01:00", "timeZone": "Europe/Berlin"},
        "organizer": {"email": "boss@client.example", "displayName": "Boss"},
        "attendees": [
            {"email": "ann@client.example", "displayName": "Ann", "responseStatus": "accepted"},
            {"email": "bob@client.example", "responseStatus": "declined", "optional": True},
            {"email": "cy@client.example", "responseStatus": "tentative", "self": True},
            {"email": "di@client.example"},
            {"id": "no-email"},
        ],
        "extendedProperties": {"private": {gm.MARKER_KEY: "mirror-1", "other": "x"}},
        "created": "2026-01-01T00:00:00.000Z", "updated": "2026-01-02T00:00:00.000Z", "sequence": 3,
    }  # fmt: skip
    event = gm.event_from(resource, [])
    assert event == Event(
        "x@client",
        (
            Component(
                start=datetime(2026, 3, 10, 9, tzinfo=BERLIN),
                end=datetime(2026, 3, 10, 10, tzinfo=BERLIN),
                summary="Interview", description="notes", location="Room 1", url="https://ats.example/1",
                status="TENTATIVE", transparent=True, klass="CONFIDENTIAL", organizer="boss@client.example",
                attendees=(
                    Attendee("ann@client.example", "Ann", "ACCEPTED"),
                    Attendee("bob@client.example", "", "DECLINED", "OPT-PARTICIPANT"),
                    Attendee("cy@client.example", "", "TENTATIVE"),
                    Attendee("di@client.example", "", "NEEDS-ACTION"),
                ),
            ),
        ),
        marker="mirror-1",
    )  # fmt: skip
    # When it was booked and last changed ride along (metadata: equality leaves them out).
    assert event.master.created == datetime(2026, 1, 1, tzinfo=UTC)
    assert event.master.last_modified == datetime(2026, 1, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("visibility", "klass"),
    [("default", ""), ("public", "PUBLIC"), ("private", "PRIVATE"), ("confidential", "CONFIDENTIAL")],
)
def test_visibility_is_class(visibility: str, klass: str) -> None:
    resource = {
        "id": "abcde",
        "start": {"date": "2026-03-01"},
        "end": {"date": "2026-03-02"},
        "visibility": visibility,
    }
    event = gm.event_from(resource, [])
    assert event is not None and event.master.klass == klass
    body = gm.master_body(event, "abcde", UTC_Z)
    assert body["visibility"] == visibility


def test_the_calendar_itself_as_organizer_is_implicit() -> None:
    resource = {"id": "abcde", "start": {"date": "2026-03-01"}, "end": {"date": "2026-03-02"},
                "organizer": {"email": "me@example.test", "self": True}}  # fmt: skip
    event = gm.event_from(resource, [])
    assert event is not None and event.master.organizer == "" and event.uid == "abcde@google.com"


def _series_json() -> tuple[dict[str, object], list[dict[str, object]]]:
    master: dict[str, object] = {
        "id": "ser1es", "iCalUID": "standup@x", "summary": "Standup",
        "start": {"dateTime": "2026-03-02T09:00:00+01:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2026-03-02T09:30:00+01:00", "timeZone": "Europe/Berlin"},
        "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=10", "EXDATE;TZID=Europe/Berlin:20260309T090000"],
    }  # fmt: skip

    def at(day: int, hour: int, minute: int = 0) -> dict[str, str]:
        wall = datetime(2026, 3, day, hour, minute, tzinfo=BERLIN)  # summer time from 29 March
        return {"dateTime": wall.isoformat(), "timeZone": "Europe/Berlin"}

    def instance(day: int, **fields: object) -> dict[str, object]:
        return {"id": gm.instance_id("ser1es", datetime(2026, 3, day, 9, tzinfo=BERLIN), LONDON),
                "recurringEventId": "ser1es", "iCalUID": "standup@x", "originalStartTime": at(day, 9), **fields}  # fmt: skip

    instances = [
        instance(16, summary="Standup (moved)", start=at(16, 11), end=at(16, 11, 30)),
        instance(23, status="cancelled"),  # deleted in Google's own app: bare
        instance(
            30, summary="Standup", start=at(30, 10), end=at(30, 10, 30), status="cancelled"
        ),  # with details
        instance(2, summary="Standup", start=at(2, 9), end=at(2, 9, 30)),  # "reset": same as the pattern
    ]
    return master, instances


def test_series_with_exceptions_and_cancelled_instances() -> None:
    master, instances = _series_json()
    event = gm.event_from(master, instances)
    assert event is not None
    head, *overrides = event.components
    assert head.rrule == ("FREQ=WEEKLY;COUNT=10",)
    assert head.exdates == (datetime(2026, 3, 9, 9, tzinfo=BERLIN), datetime(2026, 3, 23, 9, tzinfo=BERLIN))
    assert [(o.recurrence_id, o.summary, o.status) for o in overrides] == [
        (datetime(2026, 3, 16, 9, tzinfo=BERLIN), "Standup (moved)", "CONFIRMED"),
        (datetime(2026, 3, 30, 9, tzinfo=BERLIN), "Standup", "CANCELLED"),
    ]


def test_orphan_instances_make_an_event_of_their_own() -> None:
    _, instances = _series_json()
    event = gm.event_from(None, instances[:2])
    assert (
        event is not None
        and event.uid == "standup@x"
        and [c.summary for c in event.components] == ["Standup (moved)"]
    )
    assert gm.event_from(None, [instances[1]]) is None  # only a bare cancellation: nothing to show


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"end": {"dateTime": "2026-03-10T08:00:00Z"}}, "before start"),
        ({"end": {"date": "2026-03-11"}}, "mix a date"),
        ({"start": None}, "start is missing"),
        ({"start": {"dateTime": "yesterday"}}, "not a valid date"),
        ({"recurrence": ["RRULE:FREQ=SOMETIMES"]}, "recurrence line"),
        ({"start": {"dateTime": "2026-03-10T09:00:00", "timeZone": "Nowhere/Land"}}, "Nowhere/Land"),
        ({"recurrence": ["EXDATE;TZID=Nowhere/Land:20260310T090000"]}, "Nowhere/Land"),
    ],
)
def test_unreadable_resources_name_the_problem(change: dict[str, object], message: str) -> None:
    resource: dict[str, object] = {
        "id": "bad01",
        "start": {"dateTime": "2026-03-10T09:00:00Z"},
        "end": {"dateTime": "2026-03-10T10:00:00Z"},
    }
    resource.update(change)
    with pytest.raises(InvalidEventError, match=message) as info:
        gm.event_from(resource, [])
    assert "bad01" in str(info.value)


# --------------------------------------------------------------------------- round trips (writer -> reader)


def _round_trip(event: Event, zone: ZoneInfo = LONDON) -> Event | None:
    master = gm.master_body(event, "m0001", zone)
    instances = list(gm.override_bodies(event, "m0001", zone).values())
    return gm.event_from(master, instances, zone)


ANN = Attendee("ann@client-a.example", "Ann", "ACCEPTED")
ROUND_TRIPS = {
    "zoned single": interview("one@x"),
    "utc": Event("u@x", (Component(start=datetime(2026, 3, 1, 8, tzinfo=UTC), end=datetime(2026, 3, 1, 9, tzinfo=UTC)),)),
    "all-day two days": Event("d@x", (Component(start=date(2026, 3, 1), end=date(2026, 3, 3), transparent=True),)),
    "series": weekly_series("s@x", attendees=(ANN,), cancelled_override=True, marker="mk1"),
    "all-day series": Event("ad@x", (Component(start=date(2026, 3, 2), end=date(2026, 3, 3), rrule=("FREQ=DAILY;COUNT=5",),
                                               exdates=(date(2026, 3, 4),), rdates=(date(2026, 3, 20),)),
                                     Component(start=date(2026, 3, 6), end=date(2026, 3, 7), recurrence_id=date(2026, 3, 5), summary="moved"))),
    "attendees": Event("a@x", (Component(start=date(2026, 3, 1), end=date(2026, 3, 2), organizer="boss@x.example",
                                         attendees=(ANN, Attendee("b@x", "", "TENTATIVE", "OPT-PARTICIPANT"),
                                                    Attendee("c@x", "C", "DELEGATED", "CHAIR"))),)),
}  # fmt: skip


@pytest.mark.parametrize("name", list(ROUND_TRIPS))
def test_round_trip_keeps_what_google_keeps(name: str) -> None:
    event = ROUND_TRIPS[name]
    assert _round_trip(event) == gm.kept(event, LONDON)


def test_what_is_lost_is_exactly_what_kept_drops() -> None:
    floating = datetime(2026, 7, 1, 9)
    event = Event("l@x", (Component(start=floating, end=floating.replace(hour=10), url="mailto:x@y", categories=("a",),
                                    status="DRAFT", klass="X-SECRET", created=datetime(2026, 1, 1, tzinfo=UTC)),))  # fmt: skip
    kept = gm.kept(event, LONDON)
    assert kept.master == Component(
        start=datetime(2026, 7, 1, 9, tzinfo=LONDON), end=datetime(2026, 7, 1, 10, tzinfo=LONDON)
    )
    assert _round_trip(event) == kept
    http = replace(event, components=(replace(event.master, url="https://meet.example/x"),))
    assert gm.kept(http, LONDON).master.url == "https://meet.example/x" == _round_trip(http).master.url  # type: ignore[union-attr]


def test_an_override_equal_to_the_pattern_is_no_override() -> None:
    series = weekly_series("p@x")
    same = replace(series.master, start=datetime(2026, 3, 23, 9, tzinfo=BERLIN), end=datetime(2026, 3, 23, 9, 30, tzinfo=BERLIN),
                   recurrence_id=datetime(2026, 3, 23, 9, tzinfo=BERLIN), rrule=(), exdates=())  # fmt: skip
    event = replace(series, components=(*series.components, same))
    assert gm.kept(event, LONDON) == series == _round_trip(event)


def test_reset_body_restores_the_pattern() -> None:
    series = weekly_series("r@x", marker="mk")
    original = {"dateTime": "2026-03-16T09:00:00+01:00", "timeZone": "Europe/Berlin"}
    body = gm.reset_body(series, "m0001", original, UTC_Z)
    assert (
        body["id"] == "m0001_20260316T080000Z"
        and body["summary"] == "Standup"
        and body["status"] == "confirmed"
    )
    master = gm.master_body(series, "m0001", UTC_Z)
    assert gm.event_from(master, [body]) == replace(series, components=(series.master,))


# --------------------------------------------------------------------------- privacy, marker, etags


def test_a_private_mirror_carries_times_busy_and_the_marker_only() -> None:
    origin = weekly_series("secret-uid@client-a", attendees=(ANN,), cancelled_override=True)
    origin = replace(
        origin,
        components=tuple(replace(c, description="SECRET", location="SECRET-ROOM") for c in origin.components),
    )
    mirror = private_copy(
        origin,
        uid="0123456789abcdefghijklmnopqrstuv",
        marker="0123456789abcdefghijklmnopqrstuv",
        title="Busy",
    )
    bodies = [
        gm.master_body(mirror, mirror.uid, UTC_Z),
        *gm.override_bodies(mirror, mirror.uid, UTC_Z).values(),
    ]
    allowed = {"id", "iCalUID", "start", "end", "status", "transparency", "visibility", "summary", "recurrence",
               "extendedProperties", "recurringEventId", "originalStartTime"}  # fmt: skip
    for body in bodies:
        assert set(body) <= allowed and body["visibility"] == "private" and body["summary"] == "Busy"
        assert body["extendedProperties"] == {"private": {gm.MARKER_KEY: mirror.uid}}
        text = repr(body)
        assert (
            "SECRET" not in text
            and "secret-uid" not in text
            and "ann@" not in text
            and "client-a" not in text
        )


def test_item_etag_combines_master_and_exceptions() -> None:
    master = {"id": "m1", "etag": '"1"'}
    assert gm.item_etag(master, []) == '"1"'
    combined = gm.item_etag(master, [{"id": "m1_a", "etag": '"2"'}])
    assert combined != '"1"' and gm.split_etag(combined) == '"1"'
    assert combined != gm.item_etag(master, [{"id": "m1_a", "etag": '"3"'}])
