"""The booking page's settings: defaults, JSON round trips, the rules they make, and the form with
an error for every bad field (``mirrorcal.booking``)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from mirrorcal import workspace as ws
from mirrorcal.booking import (
    BookingError,
    BookingSettings,
    load_settings,
    parse_form,
    save_settings,
    zone_names,
    zone_of,
)
from mirrorcal.store.memory import MemoryStore

AT = datetime(2026, 3, 9, 12, tzinfo=UTC)


def good_form(**changes: str) -> dict[str, str]:
    form = {
        "calendar": "",
        "zone": "Europe/London",
        "step_minutes": "30",
        "buffer_before_minutes": "5",
        "buffer_after_minutes": "10",
        "notice_hours": "24",
        "window_days": "14",
        "daily_limit": "3",
    }
    for day in range(5):
        form |= {f"day{day}": "on", f"opens{day}": "09:00", f"closes{day}": "17:30"}
    form |= {"opens5": "10:00", "closes5": "12:00"}  # Saturday's times without its box: closed
    return form | changes


def test_defaults_are_the_documented_ones_and_make_rules() -> None:
    s = BookingSettings()
    assert (s.calendar, s.zone, s.step_minutes, s.buffer_before_minutes, s.buffer_after_minutes) == ("", "Europe/Berlin", 15, 0, 15)
    assert (s.notice_hours, s.window_days, s.daily_limit) == (12, 21, 4)
    assert s.hours == {d: (time(9), time(17)) for d in range(5)}
    assert s.problems() == {}
    rules = s.rules(timedelta(minutes=45))
    assert rules.zone == ZoneInfo("Europe/Berlin") and rules.duration == timedelta(minutes=45)
    assert (rules.step, rules.buffer_before, rules.buffer_after) == (timedelta(minutes=15), timedelta(0), timedelta(minutes=15))
    assert (rules.notice, rules.window_days, rules.daily_limit) == (timedelta(hours=12), 21, 4)
    assert dict(rules.hours) == s.hours


def test_json_round_trip_and_missing_keys_take_defaults() -> None:
    s = BookingSettings(
        calendar="personal", zone="America/New_York", hours={0: (time(8, 30), time(12)), 6: (time(10), time(11, 45))},
        step_minutes=20, buffer_before_minutes=10, buffer_after_minutes=0, notice_hours=0, window_days=366, daily_limit=None,
    )  # fmt: skip
    assert BookingSettings.from_json(s.to_json()) == s
    assert BookingSettings.from_json('{"zone": "Asia/Tokyo"}') == BookingSettings(zone="Asia/Tokyo")
    assert BookingSettings.from_json('{"zone": "Asia/Tokyo", "unknown": 1}').zone == "Asia/Tokyo"


@pytest.mark.parametrize(
    "text",
    ["not json", "[1, 2]", '{"hours": {"0": ["9am", "17:00"]}}', '{"step_minutes": "15"}', '{"daily_limit": 2.5}',
     '{"zone": "Mars/Olympus"}', '{"hours": {"1": ["17:00", "09:00"]}}', '{"window_days": 0}', '{"calendar": 3}'],
)  # fmt: skip
def test_unreadable_or_bad_stored_settings_are_refused(text: str) -> None:
    with pytest.raises(BookingError) as caught:
        BookingSettings.from_json(text)
    assert str(caught.value)


def test_load_gives_defaults_in_the_accounts_zone_then_what_was_saved() -> None:
    store = MemoryStore()
    user = store.create_user("r@example.com", "x", "personal", AT)
    assert load_settings(store, user.id) == BookingSettings()
    store.save_workspace(user.id, ws.dump(ws.Workspace(timezone="America/Chicago")), AT)
    assert load_settings(store, user.id) == BookingSettings(zone="America/Chicago")
    mine = BookingSettings(zone="Asia/Kolkata", daily_limit=None)
    save_settings(store, user.id, mine, AT)
    assert load_settings(store, user.id) == mine
    with pytest.raises(BookingError):
        save_settings(store, user.id, BookingSettings(step_minutes=0), AT)
    assert load_settings(store, user.id) == mine  # nothing stored


def test_the_form_reads_every_field() -> None:
    s = parse_form(good_form(calendar="personal"), ["personal", "client-a"])
    assert s == BookingSettings(
        calendar="personal", zone="Europe/London", hours={d: (time(9), time(17, 30)) for d in range(5)},
        step_minutes=30, buffer_before_minutes=5, buffer_after_minutes=10, notice_hours=24, window_days=14, daily_limit=3,
    )  # fmt: skip
    assert parse_form(good_form(daily_limit=" "), []).daily_limit is None  # empty: no limit
    assert parse_form(good_form(day6="on", opens6="7:05", closes6="08:00"), []).hours[6] == (time(7, 5), time(8))


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"calendar": "elsewhere"}, "calendar", "calendars that mirrorcal can write to"),
        ({"zone": "Mars/Olympus"}, "zone", "is not a time zone"),
        ({"zone": ""}, "zone", "is not a time zone"),
        ({"opens2": "9"}, "opens2", "Wednesday's opening time"),
        ({"closes0": "25:00"}, "closes0", "Monday's closing time"),
        ({"closes4": "08:00"}, "closes4", "On Fridays the day must close after it opens (09:00)"),
        ({"step_minutes": "0"}, "step_minutes", "from 5 to 240"),
        ({"step_minutes": "ten"}, "step_minutes", "whole number"),
        ({"buffer_before_minutes": "-5"}, "buffer_before_minutes", "whole number"),
        ({"buffer_after_minutes": "241"}, "buffer_after_minutes", "from 0 to 240"),
        ({"notice_hours": "721"}, "notice_hours", "from 0 to 720"),
        ({"window_days": "0"}, "window_days", "from 1 to 366"),
        ({"daily_limit": "0"}, "daily_limit", "from 1 to 48"),
        ({"daily_limit": "many"}, "daily_limit", "whole number"),
    ],
)
def test_each_bad_field_gets_its_own_message(changes: dict[str, str], field: str, words: str) -> None:
    with pytest.raises(BookingError) as caught:
        parse_form(good_form(**changes), ["personal"])
    assert caught.value.errors.keys() == {field}, caught.value.errors
    assert words in caught.value.errors[field]


def test_every_problem_is_reported_at_once_and_no_open_day_is_one() -> None:
    form = {k: v for k, v in good_form(zone="Nowhere", window_days="x").items() if not k.startswith("day")}
    with pytest.raises(BookingError) as caught:
        parse_form(form, [])
    assert set(caught.value.errors) == {"zone", "window_days", "hours"}
    assert caught.value.errors["hours"] == "Open at least one day of the week."


def test_zone_names_are_exact_iana_names() -> None:
    names = zone_names()
    assert "Europe/Berlin" in names and "UTC" in names and not any(n.startswith(("posix/", "right/")) for n in names)
    assert zone_of("America/New_York") == ZoneInfo("America/New_York")
    for bad in ("america/new_york", "../etc/passwd", "", "Europe/Berlin\x00"):
        assert zone_of(bad) is None
