"""Free slots for a booking page: the recruiter's unified busy time against their booking rules (pure).

``free_slots(busy, rules, now=...)`` lists every start a candidate may book: inside the working
hours of the recruiter's zone, with the buffers before and after free too, no sooner than the
minimum notice, within the rolling window, and on no day that already holds the daily limit of
bookings. ``busy`` is absolute intervals (any aware zone), e.g. the unified calendars' busy
blocks (``unified.busy_blocks``). It sorts and merges them once, then walks the days with one
pointer, so a month of slots costs O(busy + slots).

Times come back in UTC; ``by_day(slots, tz)`` groups them for the candidate's own zone.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .errors import MirrorcalError

WEEKDAYS = (0, 1, 2, 3, 4)
"""Monday to Friday (``date.weekday()`` numbers)."""


class RulesError(MirrorcalError):
    """Booking rules that cannot give a sensible slot (the message names the rule)."""


@dataclass(frozen=True, slots=True)
class BookingRules:
    """What a booking page offers. ``hours`` maps a weekday (0 = Monday) to its opening and
    closing times in ``zone``; days not in it are closed. Raises ``RulesError`` when a rule makes
    no sense (a zero duration, closing before opening, a negative buffer, ...)."""

    zone: ZoneInfo
    duration: timedelta = timedelta(minutes=30)
    step: timedelta = timedelta(minutes=15)
    """Slots start every ``step`` from the day's opening time."""
    hours: Mapping[int, tuple[time, time]] = field(default_factory=lambda: {d: (time(9), time(17)) for d in WEEKDAYS})
    buffer_before: timedelta = timedelta(0)
    buffer_after: timedelta = timedelta(0)
    notice: timedelta = timedelta(hours=4)
    """No slot starts sooner than this after now."""
    window_days: int = 30
    """No slot starts later than this many days after now (a rolling window)."""
    daily_limit: int | None = None
    """At most this many bookings a day (in ``zone``); None: no limit."""

    def __post_init__(self) -> None:
        if self.duration <= timedelta(0):
            raise RulesError("duration: must be longer than zero")
        if self.step <= timedelta(0):
            raise RulesError("step: must be longer than zero")
        if self.buffer_before < timedelta(0) or self.buffer_after < timedelta(0):
            raise RulesError("buffers: cannot be negative")
        if self.notice < timedelta(0):
            raise RulesError("notice: cannot be negative")
        if not 1 <= self.window_days <= 366:
            raise RulesError("window_days: must be between 1 and 366")
        if self.daily_limit is not None and self.daily_limit < 1:
            raise RulesError("daily_limit: must be at least 1 (or none)")
        for day, (opens, closes) in self.hours.items():
            if not 0 <= day <= 6:
                raise RulesError(f"hours: {day} is not a weekday number (0 = Monday … 6 = Sunday)")
            if closes <= opens:
                raise RulesError(f"hours: the day {day} closes ({closes:%H:%M}) before it opens ({opens:%H:%M})")


@dataclass(frozen=True, slots=True, order=True)
class Slot:
    start: datetime
    end: datetime


def _merged(busy: Iterable[tuple[datetime, datetime]]) -> tuple[list[datetime], list[datetime]]:
    """Disjoint, sorted busy intervals as two lists (starts, ends), in UTC."""
    spans = sorted((s.astimezone(UTC), e.astimezone(UTC)) for s, e in busy if e > s)
    starts: list[datetime] = []
    ends: list[datetime] = []
    for s, e in spans:
        if ends and s <= ends[-1]:
            if e > ends[-1]:
                ends[-1] = e
        else:
            starts.append(s)
            ends.append(e)
    return starts, ends


def _local(day: date, moment: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, moment, tzinfo=zone).astimezone(UTC)


def free_slots(
    busy: Iterable[tuple[datetime, datetime]],
    rules: BookingRules,
    *,
    now: datetime,
    booked: Iterable[datetime] = (),
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[Slot]:
    """Every bookable slot, sorted, between ``start`` and ``end`` (default: the whole rolling
    window). ``booked`` are the starts of bookings that count toward the daily limit."""
    if now.tzinfo is None:
        raise RulesError("now: needs a time zone")
    zone = rules.zone
    earliest = now.astimezone(UTC) + rules.notice
    latest = now.astimezone(UTC) + timedelta(days=rules.window_days)
    if start is not None:
        earliest = max(earliest, start.astimezone(UTC))
    if end is not None:
        latest = min(latest, end.astimezone(UTC))
    if latest <= earliest:
        return []
    per_day = Counter(b.astimezone(zone).date() for b in booked)
    starts, ends = _merged(busy)
    before, after, length, step = rules.buffer_before, rules.buffer_after, rules.duration, rules.step
    found: list[Slot] = []
    day = earliest.astimezone(zone).date() - timedelta(days=1)  # a late-closing day may reach past midnight
    last_day = latest.astimezone(zone).date()
    while day <= last_day:
        hours = rules.hours.get(day.weekday())
        limit = rules.daily_limit
        if hours is None or (limit is not None and per_day[day] >= limit):
            day += timedelta(days=1)
            continue
        opens, closes = _local(day, hours[0], zone), _local(day, hours[1], zone)
        slot = opens
        if slot < earliest:  # first grid start not before ``earliest``
            slot = opens + -(-(earliest - opens) // step) * step
        while slot + length <= closes and slot <= latest:
            guard_start, guard_end = slot - before, slot + length + after
            # the last busy interval starting before the guarded end; intervals are disjoint and
            # sorted, so their ends are sorted too and only that one can reach past guard_start
            i = bisect_right(starts, guard_end - timedelta(microseconds=1)) - 1
            if i >= 0 and ends[i] > guard_start:
                slot = opens + -(-(ends[i] + before - opens) // step) * step
                continue
            found.append(Slot(slot, slot + length))
            slot += step
        day += timedelta(days=1)
    return found


def by_day(slots: Iterable[Slot], tz: ZoneInfo) -> dict[date, list[Slot]]:
    """Slots grouped by their start's local day in ``tz`` (the candidate's zone), in order."""
    days: dict[date, list[Slot]] = {}
    for slot in sorted(slots):
        days.setdefault(slot.start.astimezone(tz).date(), []).append(slot)
    return days
