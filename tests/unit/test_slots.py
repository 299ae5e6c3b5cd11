"""Booking-page slots: working hours, buffers, notice, window, daily limit, zones (and a brute-force oracle)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mirrorcal import ical
from mirrorcal.slots import BookingRules, RulesError, Slot, by_day, free_slots
from mirrorcal.store.base import CachedItem
from mirrorcal.store.memory import MemoryStore
from mirrorcal.unified import BusyCache, booking_slots

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
MONDAY = datetime(2026, 11, 23, 0, 0, tzinfo=LONDON)  # Monday 23 November 2026
NOW = MONDAY - timedelta(days=3)  # the Friday before


def at(day: int, hh: int, mm: int = 0) -> datetime:
    return (MONDAY + timedelta(days=day)).replace(hour=hh, minute=mm)


def rules(**kw: object) -> BookingRules:
    base: dict[str, object] = {"zone": LONDON, "notice": timedelta(0), "window_days": 30}
    return BookingRules(**(base | kw))  # type: ignore[arg-type]


def starts(slots: list[Slot], tz: ZoneInfo = LONDON) -> list[str]:
    return [s.start.astimezone(tz).strftime("%a %H:%M") for s in slots]


def test_an_empty_day_offers_every_step_inside_working_hours() -> None:
    got = free_slots([], rules(hours={0: (time(9), time(11))}, duration=timedelta(minutes=30)), now=NOW, end=at(1, 0))
    assert starts(got) == ["Mon 09:00", "Mon 09:15", "Mon 09:30", "Mon 09:45", "Mon 10:00", "Mon 10:15", "Mon 10:30"]
    assert all(s.end - s.start == timedelta(minutes=30) for s in got)


def test_busy_time_and_buffers_are_kept_free() -> None:
    busy = [(at(0, 10), at(0, 10, 30))]
    r = rules(hours={0: (time(9), time(12))}, duration=timedelta(minutes=30), step=timedelta(minutes=30),
              buffer_before=timedelta(minutes=15), buffer_after=timedelta(minutes=15))
    got = starts(free_slots(busy, r, now=NOW, end=at(1, 0)))
    # 09:30 would end at 10:00 + 15 min after-buffer → overlaps; 10:30 needs 15 min before → 10:30-0:15=10:15 < 10:30 busy end
    assert got == ["Mon 09:00", "Mon 11:00", "Mon 11:30"]


def test_notice_window_and_closed_days() -> None:
    r = rules(hours={0: (time(9), time(10)), 2: (time(9), time(10))}, duration=timedelta(minutes=60),
              notice=timedelta(hours=2), window_days=3)
    now = at(0, 8)  # Monday 08:00 → nothing before 10:00 Monday; window ends Thursday 08:00
    assert starts(free_slots([], r, now=now)) == ["Wed 09:00"]


def test_daily_limit_closes_a_full_day() -> None:
    r = rules(hours={0: (time(9), time(10)), 1: (time(9), time(10))}, duration=timedelta(minutes=60), daily_limit=2)
    got = free_slots([], r, now=NOW, end=at(2, 0), booked=[at(0, 12), at(0, 14), at(1, 12)])
    assert starts(got) == ["Tue 09:00"]


def test_slots_follow_the_recruiters_zone_across_dst_and_group_by_the_candidates_day() -> None:
    r = BookingRules(zone=NEW_YORK, hours={6: (time(9), time(10))}, duration=timedelta(hours=1), notice=timedelta(0))
    # US DST ends Sunday 1 November 2026: 09:00 in New York is 14:00 UTC on the 1st, 13:00 UTC the Sunday before
    got = free_slots([], r, now=datetime(2026, 10, 20, tzinfo=UTC), end=datetime(2026, 11, 2, tzinfo=UTC))
    assert [s.start for s in got] == [datetime(2026, 10, 25, 13, tzinfo=UTC), datetime(2026, 11, 1, 14, tzinfo=UTC)]
    tokyo = by_day(got, ZoneInfo("Asia/Tokyo"))
    assert list(tokyo) == [date(2026, 10, 25), date(2026, 11, 1)]  # 22:00 / 23:00 in Tokyo, same day


def test_busy_in_any_zone_counts() -> None:
    busy = [(datetime(2026, 11, 23, 9, 0, tzinfo=UTC), datetime(2026, 11, 23, 9, 30, tzinfo=UTC))]  # 09:00 London
    got = free_slots(busy, rules(hours={0: (time(9), time(10))}, step=timedelta(minutes=30)), now=NOW, end=at(1, 0))
    assert starts(got) == ["Mon 09:30"]


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"duration": timedelta(0)}, "duration"),
        ({"step": timedelta(0)}, "step"),
        ({"buffer_before": timedelta(minutes=-1)}, "buffers"),
        ({"notice": timedelta(minutes=-1)}, "notice"),
        ({"window_days": 0}, "window_days"),
        ({"daily_limit": 0}, "daily_limit"),
        ({"hours": {7: (time(9), time(10))}}, "weekday"),
        ({"hours": {0: (time(10), time(9))}}, "closes"),
    ],
)
def test_rules_that_make_no_sense_are_refused(kw: dict[str, object], message: str) -> None:
    with pytest.raises(RulesError, match=message):
        rules(**kw)


def _oracle(busy: list[tuple[datetime, datetime]], r: BookingRules, now: datetime, booked: list[datetime]) -> list[Slot]:
    """Every grid start checked one by one against every busy interval (slow and obvious)."""
    out = []
    per_day: dict[date, int] = {}
    for b in booked:
        per_day[b.astimezone(r.zone).date()] = per_day.get(b.astimezone(r.zone).date(), 0) + 1
    first = now.astimezone(r.zone).date() - timedelta(days=1)
    for offset in range(r.window_days + 2):
        day = first + timedelta(days=offset)
        if day.weekday() not in r.hours or (r.daily_limit and per_day.get(day, 0) >= r.daily_limit):
            continue
        opens = datetime.combine(day, r.hours[day.weekday()][0], tzinfo=r.zone).astimezone(UTC)
        closes = datetime.combine(day, r.hours[day.weekday()][1], tzinfo=r.zone).astimezone(UTC)
        s = opens
        while s + r.duration <= closes:
            ok = now + r.notice <= s <= now + timedelta(days=r.window_days)
            if ok and not any(b0 < s + r.duration + r.buffer_after and b1 > s - r.buffer_before for b0, b1 in busy):
                out.append(Slot(s, s + r.duration))
            s += r.step
    return out


minutes = st.integers(min_value=0, max_value=7 * 24 * 60)


@settings(max_examples=150, deadline=None)
@given(
    spans=st.lists(st.tuples(minutes, st.integers(min_value=1, max_value=240)), max_size=25),
    duration=st.sampled_from([15, 30, 45, 60, 90]),
    step=st.sampled_from([10, 15, 30]),
    before=st.sampled_from([0, 5, 15]),
    after=st.sampled_from([0, 10, 30]),
    notice=st.sampled_from([0, 60, 600]),
    limit=st.sampled_from([None, 1, 2]),
    booked=st.lists(minutes, max_size=4),
)
def test_matches_the_brute_force_oracle(
    spans: list[tuple[int, int]], duration: int, step: int, before: int, after: int, notice: int,
    limit: int | None, booked: list[int],
) -> None:
    origin = datetime(2026, 11, 23, 6, 7, tzinfo=UTC)
    busy = [(origin + timedelta(minutes=m), origin + timedelta(minutes=m + d)) for m, d in spans]
    r = BookingRules(
        zone=LONDON, duration=timedelta(minutes=duration), step=timedelta(minutes=step),
        hours={0: (time(8, 30), time(17)), 1: (time(9), time(12)), 3: (time(13), time(18, 45))},
        buffer_before=timedelta(minutes=before), buffer_after=timedelta(minutes=after),
        notice=timedelta(minutes=notice), window_days=7, daily_limit=limit,
    )
    marks = [origin + timedelta(minutes=m) for m in booked]
    assert free_slots(busy, r, now=origin, booked=marks) == _oracle(busy, r, origin, marks)


def _cached(uid: str, start: datetime, minutes: int, *, extra: str = "") -> CachedItem:
    fmt = "%Y%m%dT%H%M%SZ"
    text = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:{start.astimezone(UTC):{fmt}}\r\n"
        f"DTEND:{(start + timedelta(minutes=minutes)).astimezone(UTC):{fmt}}\r\nSUMMARY:{uid}\r\n{extra}"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    return CachedItem(f"{uid}.ics", '"1"', uid, text, ical.content_hash(ical.parse_resource(text)))


def test_booking_slots_read_the_unified_calendars_from_the_store() -> None:
    store = MemoryStore()
    store.apply_listing("personal", [_cached("john", at(0, 9), 60)], [], None, True)
    declined = "ATTENDEE;PARTSTAT=DECLINED:mailto:me@example.test\r\n"
    free = "TRANSP:TRANSPARENT\r\n"
    store.apply_listing(
        "client-a", [_cached("maria", at(0, 10, 30), 30), _cached("no", at(0, 11), 60, extra=declined), _cached("fyi", at(0, 12), 60, extra=free)],
        [], None, True,
    )
    r = rules(hours={0: (time(9), time(13))}, duration=timedelta(minutes=30), step=timedelta(minutes=30), window_days=5)
    cache = BusyCache()
    calendars = [("personal", frozenset({"me@example.test"})), ("client-a", frozenset({"me@example.test"}))]
    got, problems = booking_slots(store, calendars, r, now=NOW, cache=cache)
    assert problems == []
    assert starts(got) == ["Mon 10:00", "Mon 11:00", "Mon 11:30", "Mon 12:00", "Mon 12:30"]
    store.apply_listing("personal", [_cached("late", at(0, 12), 60)], [], None, False)
    again, _ = booking_slots(store, calendars, r, now=NOW, cache=cache)  # the cache sees the new item
    assert starts(again) == ["Mon 10:00", "Mon 11:00", "Mon 11:30"]


class CountingStore(MemoryStore):
    """A real in-memory store that counts the item texts read (the stamps are cheap)."""

    def __init__(self) -> None:
        super().__init__()
        self.texts_read = 0

    def items_at(self, calendar: str, hrefs: list[str]) -> dict[str, CachedItem]:
        found = super().items_at(calendar, hrefs)
        self.texts_read += len(found)
        return found


def test_the_busy_cache_serves_every_request_of_the_day_and_rereads_only_what_changed() -> None:
    store = CountingStore()
    store.apply_listing("personal", [_cached(f"e{i}", at(i % 5, 9 + i % 8), 30) for i in range(40)], [], None, True)
    calendars = [("personal", frozenset({"me@example.test"}))]
    r = rules(window_days=7)
    cache = BusyCache()
    first, _ = booking_slots(store, calendars, r, now=NOW, cache=cache)
    assert store.texts_read == 40
    for minutes in (1, 59, 7 * 60):  # later requests the same day: a moving clock, the same window
        later, _ = booking_slots(store, calendars, r, now=NOW + timedelta(minutes=minutes), cache=cache)
        assert [s for s in later if s.start >= NOW + timedelta(minutes=minutes) + r.notice] == later
    assert store.texts_read == 40
    store.apply_listing("personal", [_cached("e3", at(1, 15), 30)], [], None, False)  # one item changed
    booking_slots(store, calendars, r, now=NOW + timedelta(hours=8), cache=cache)
    assert store.texts_read == 41
