"""Conflicts on the unified view: busy blocks that overlap or sit closer than the buffer, and a free slot to propose.

Pure: no I/O, no clock. The window, the display time zone and the working hours are passed in.
All arithmetic is done on UTC instants (so DST days and wall-clock folds cannot fool a comparison);
times are converted to the display zone only for the results.

Decisions:

* A pair conflicts when the blocks overlap (``overlap_minutes`` > 0) or when the gap between them
  is shorter than the buffer. With a buffer, back-to-back blocks (gap 0) are a *tight* conflict,
  ``overlap_minutes == 0``. Without a buffer, touching blocks never conflict.
* Blocks with the same ``root`` (an event and its mirrors, the occurrences of one series) never
  conflict with each other; several blocks sharing a root and identical times collapse to one,
  the earliest booked (then by calendar, summary), since the mirror is younger than its origin.
* The block to move (``Conflict.b``) is the one booked last; when a ``created`` is unknown or both
  are equal, the later start, then the later (end, calendar, summary, root).
* Proposals sit on a 5-minute grid of UTC instants (xx:00, xx:05 … in every real time zone) and
  see only the busy blocks passed in: expand occurrences ``search_days`` past the shown window.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

from . import ical
from .errors import InvalidEventError
from .model import Event

GRID = timedelta(minutes=5)
"""Proposed starts are multiples of this since the Unix epoch."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SLACK = timedelta(days=1)
"""How far past the window recurring_ical_events is asked, so floating and all-day times read in any zone are seen."""


@dataclass(frozen=True)
class Busy:
    """One busy interval on the unified view.

    ``start`` < ``end`` are aware datetimes (``ValueError`` otherwise). ``root`` names the real origin
    event: an event and its mirrors share it. ``created`` is when it was booked (None: unknown).
    """

    calendar: str
    summary: str
    start: datetime
    end: datetime
    root: str
    created: datetime | None = None

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError(f"busy block {self.summary!r} needs aware start and end")
        if self.end.astimezone(UTC) <= self.start.astimezone(UTC):  # one zone compares wall clocks
            raise ValueError(f"busy block {self.summary!r} does not end after it starts")

    def as_json(self, tz: tzinfo | None = None) -> dict[str, str]:
        """``{"calendar", "summary", "start", "end"}`` with ISO 8601 times carrying their offset (in ``tz`` if given)."""
        start, end = (
            (self.start, self.end) if tz is None else (self.start.astimezone(tz), self.end.astimezone(tz))
        )
        return {
            "calendar": self.calendar,
            "summary": self.summary,
            "start": start.isoformat(),
            "end": end.isoformat(),
        }


@dataclass(frozen=True)
class Conflict:
    """Two busy blocks of different roots that overlap or sit closer than the buffer.

    ``b`` is the one to move; ``overlap_minutes`` is rounded up (0: only closer than the buffer);
    ``proposed_start`` is the earliest free grid slot for ``b`` (None: none within the search).
    """

    a: Busy
    b: Busy
    overlap_minutes: int
    proposed_start: datetime | None

    def as_json(self, tz: tzinfo | None = None) -> dict[str, Any]:
        """``{"a", "b", "overlap_minutes", "proposed_start"}``; the start is ISO 8601 with offset or None."""
        proposed = self.proposed_start
        if proposed is not None and tz is not None:
            proposed = proposed.astimezone(tz)
        return {
            "a": self.a.as_json(tz),
            "b": self.b.as_json(tz),
            "overlap_minutes": self.overlap_minutes,
            "proposed_start": None if proposed is None else proposed.isoformat(),
        }


# --- expanding one event ---------------------------------------------------------------------------


def occurrences(
    event: Event,
    *,
    calendar: str,
    root: str,
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    declined_by: frozenset[str] = frozenset(),
) -> list[Busy]:
    """The busy blocks ``event`` puts on ``calendar`` that overlap ``[start, end)``, sorted by start.

    Series are expanded with their RRULE, RDATE, EXDATE and RECURRENCE-ID overrides. Left out:
    free occurrences (TRANSP:TRANSPARENT or X-MICROSOFT-CDO-BUSYSTATUS:FREE; RFC 5545's default, OPAQUE, counts as busy, all-day
    included), cancelled ones (STATUS:CANCELLED), ones an attendee in ``declined_by`` (e-mails,
    any case) declined, and ones that take no time. Floating times and all-day dates are read in
    ``tz`` (an all-day occurrence is the whole local day). Times come back in ``tz``; a naive
    ``start``/``end`` is read in ``tz``. Raises InvalidEventError when the series cannot be
    expanded (e.g. an unreadable RRULE), naming the event's UID.
    """
    lo, hi = _utc(start, tz), _utc(end, tz)
    if hi <= lo:
        return []
    declined = frozenset(e.lower() for e in declined_by)
    booked = _Booked(event)
    try:
        expanded = recurring_ical_events.of(ical.occurrences_calendar(event)).between(
            lo - _SLACK, hi + _SLACK
        )
    except ValueError as exc:  # recurring_ical_events.InvalidCalendar is one
        raise InvalidEventError(f"event {event.uid!r}: cannot expand its occurrences: {exc}") from exc
    found: list[Busy] = []
    for occ in expanded:
        if str(occ.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT":
            continue
        if str(occ.get("X-MICROSOFT-CDO-BUSYSTATUS", "")).upper() == "FREE":  # Outlook's free, as ical reads it
            continue
        if str(occ.get("STATUS", "")).upper() == "CANCELLED":
            continue
        if declined and _declined(occ, declined):
            continue
        occ_start, occ_end = _utc(occ.start, tz), _utc(occ.end, tz)
        if occ_end <= occ_start or occ_end <= lo or occ_start >= hi:
            continue
        found.append(
            Busy(
                calendar=calendar,
                summary=str(occ.get("SUMMARY", "")),
                start=occ_start.astimezone(tz),
                end=occ_end.astimezone(tz),
                root=root,
                created=booked(occ),
            )
        )
    found.sort(key=lambda b: (b.start.astimezone(UTC), b.end.astimezone(UTC), b.summary))
    return found


def _utc(moment: date | datetime, tz: ZoneInfo) -> datetime:
    """``moment`` as an aware UTC datetime: dates at local midnight and naive times read in ``tz``."""
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, time(0))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(UTC)


def _declined(occ: icalendar.Event, emails: frozenset[str]) -> bool:
    attendees = occ.get("ATTENDEE", [])
    if not isinstance(attendees, list):
        attendees = [attendees]
    for attendee in attendees:
        address = str(attendee).lower().removeprefix("mailto:")
        partstat = str(getattr(attendee, "params", {}).get("PARTSTAT", "")).upper()
        if address in emails and partstat == "DECLINED":
            return True
    return False


class _Booked:
    """When an occurrence was booked: its CREATED, else its LAST-MODIFIED, else the master's, else
    the DTSTAMP of the resource as the provider served it (``Event.raw``; the model keeps no DTSTAMP)."""

    def __init__(self, event: Event) -> None:
        self._fallback: datetime | None = event.master.created or event.master.last_modified
        self._raw = event.raw if self._fallback is None else None

    def __call__(self, occ: icalendar.Event) -> datetime | None:
        for name in ("CREATED", "LAST-MODIFIED"):
            stamp = _stamp(occ.get(name))
            if stamp is not None:
                return stamp
        if self._raw is not None:
            self._fallback, self._raw = raw_dtstamp(self._raw), None
        return self._fallback


def raw_dtstamp(raw: str) -> datetime | None:
    """The first DTSTAMP in an iCalendar text, aware UTC; None when there is none or it cannot be read."""
    try:
        cal = icalendar.Calendar.from_ical(raw)
    except ValueError:
        return None
    for vevent in cal.walk("VEVENT"):
        stamp = _stamp(vevent.get("DTSTAMP"))
        if stamp is not None:
            return stamp
    return None


def _stamp(prop: Any) -> datetime | None:
    """A CREATED / LAST-MODIFIED / DTSTAMP value as aware UTC (naive read as UTC); None if absent."""
    value = getattr(prop, "dt", None)
    if not isinstance(value, datetime):
        return None
    return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).astimezone(UTC)


# --- finding conflicts -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Block:
    """A busy block with its UTC instants, for arithmetic that wall clocks cannot fool."""

    busy: Busy
    start: datetime
    end: datetime


def _collapse(busy: Iterable[Busy]) -> list[_Block]:
    """One block per (root, start, end): the origin itself when it is among them (so a conflict
    names the interview, not one of its Busy copies), else the earliest booked; sorted by start."""
    kept: dict[tuple[str, datetime, datetime], _Block] = {}
    for item in busy:
        block = _Block(item, item.start.astimezone(UTC), item.end.astimezone(UTC))
        key = (item.root, block.start, block.end)
        other = kept.get(key)
        if other is None or _keep_rank(block) < _keep_rank(other):
            kept[key] = block
    return sorted(kept.values(), key=_order)


def _keep_rank(block: _Block) -> tuple[bool, bool, datetime, str, str]:
    created = block.busy.created
    return (
        not block.busy.root.startswith(block.busy.calendar + "/"),  # an origin's root is "calendar/uid"
        created is None,
        _EPOCH if created is None else created.astimezone(UTC),
        block.busy.calendar,
        block.busy.summary,
    )


def _order(block: _Block) -> tuple[datetime, datetime, str, str, str]:
    return (block.start, block.end, block.busy.calendar, block.busy.summary, block.busy.root)


def _to_move(x: _Block, y: _Block) -> tuple[_Block, _Block]:
    """``(stays, moves)``: the later booked moves; unknown or equal booking: the later start (then order)."""
    cx, cy = x.busy.created, y.busy.created
    if cx is not None and cy is not None and cx.astimezone(UTC) != cy.astimezone(UTC):
        return (x, y) if cx.astimezone(UTC) < cy.astimezone(UTC) else (y, x)
    return (x, y) if _order(x) <= _order(y) else (y, x)


def find_conflicts(
    busy: Sequence[Busy],
    *,
    buffer: timedelta = timedelta(0),
    tz: ZoneInfo,
    working_hours: tuple[time, time] | None = None,
    search_days: int = 14,
) -> list[Conflict]:
    """Every pair of busy blocks with different roots that overlap or whose gap is below ``buffer``.

    Sorted by ``a.start`` (then ``b.start``). Each pair is listed once; same-root blocks with equal
    times collapse first. ``proposed_start`` (in ``tz``) is the earliest grid instant ``s`` from
    ``b.start`` until the same local time ``search_days`` later such that
    ``[s - buffer, s + len(b) + buffer)`` overlaps no block of another root and, with
    ``working_hours`` (local wall times, start < end), ``[s, s + len(b))`` lies within them on one
    local day. Sort and sweep: O(n log n + pairs checked), one proposal per block moved.
    Raises ``ValueError`` for a negative buffer or working hours that end before they start.
    """
    if buffer < timedelta(0):
        raise ValueError("buffer must not be negative")
    if working_hours is not None and working_hours[1] <= working_hours[0]:
        raise ValueError("working hours must end after they start")
    blocks = _collapse(busy)
    finder = _SlotFinder(blocks, buffer=buffer, tz=tz, working_hours=working_hours, search_days=search_days)
    proposals: dict[_Block, datetime | None] = {}
    found: list[Conflict] = []
    active: list[tuple[datetime, int]] = []  # (end + buffer, index) of blocks that may still be near
    for index, block in enumerate(blocks):
        while active and active[0][0] <= block.start:
            heapq.heappop(active)
        for _, other_index in active:
            other = blocks[other_index]
            if other.busy.root == block.busy.root:
                continue
            stays, moves = _to_move(other, block)
            overlap = min(other.end, block.end) - block.start
            minutes = math.ceil(overlap.total_seconds() / 60) if overlap > timedelta(0) else 0
            if moves not in proposals:
                proposals[moves] = finder.earliest(moves)
            proposed = proposals[moves]
            found.append(
                Conflict(
                    stays.busy, moves.busy, minutes, None if proposed is None else proposed.astimezone(tz)
                )
            )
        heapq.heappush(active, (block.end + buffer, index))
    found.sort(key=_conflict_order)
    return found


def _conflict_order(c: Conflict) -> tuple[datetime, datetime, str, str, str, str]:
    return (
        c.a.start.astimezone(UTC),
        c.b.start.astimezone(UTC),
        c.a.calendar,
        c.a.summary,
        c.b.calendar,
        c.b.summary,
    )


class _SlotFinder:
    """Answers "earliest free grid slot for this block" in O(log n) per jump.

    Blocks are sorted by start; for each prefix it keeps the two latest ends of distinct roots, so
    "the latest end among blocks starting before t, ignoring root r" is one bisect and a look-up.
    """

    def __init__(
        self,
        blocks: Sequence[_Block],
        *,
        buffer: timedelta,
        tz: ZoneInfo,
        working_hours: tuple[time, time] | None,
        search_days: int,
    ) -> None:
        self._starts = [b.start for b in blocks]
        self._buffer = buffer
        self._tz = tz
        self._hours = working_hours
        self._days = timedelta(days=search_days)
        self._open: dict[date, tuple[datetime, datetime]] = {}
        none: tuple[datetime, str | None] = (_EPOCH, None)
        first, second = none, none  # latest end so far; latest end of a root other than first's
        top: list[tuple[tuple[datetime, str | None], tuple[datetime, str | None]]] = []
        for block in blocks:
            entry: tuple[datetime, str | None] = (block.end, block.busy.root)
            if entry[1] == first[1]:
                first = entry if entry[0] > first[0] else first
            elif entry[0] > first[0]:
                first, second = entry, first
            elif entry[0] > second[0]:
                second = entry
            top.append((first, second))
        self._top = top

    def _latest_end(self, before: datetime, root: str) -> datetime:
        """The latest end among blocks that start before ``before`` and belong to another root."""
        count = bisect_left(self._starts, before)
        if count == 0:
            return _EPOCH
        first, second = self._top[count - 1]
        return first[0] if first[1] != root else second[0]

    def _day(self, day: date) -> tuple[datetime, datetime]:
        """When working hours open and close on local ``day``, as UTC (cached: many jumps ask)."""
        bounds = self._open.get(day)
        if bounds is None:
            assert self._hours is not None
            open_, close = self._hours
            bounds = (
                _utc(datetime.combine(day, open_), self._tz),
                _utc(datetime.combine(day, close), self._tz),
            )
            self._open[day] = bounds
        return bounds

    def earliest(self, block: _Block) -> datetime | None:
        """The earliest free grid instant for ``block`` (UTC), or None within the horizon."""
        length, root = block.end - block.start, block.busy.root
        limit = _utc(block.start.astimezone(self._tz).replace(tzinfo=None) + self._days, self._tz)
        slot = _ceil_grid(block.start)
        while slot < limit:
            if self._hours is not None:
                day = slot.astimezone(self._tz).date()
                opens, closes = self._day(day)
                if slot < opens:
                    slot = _ceil_grid(opens)
                    continue
                if slot + length > closes:
                    slot = _ceil_grid(self._day(day + timedelta(days=1))[0])
                    continue
            blocked_until = self._latest_end(slot + length + self._buffer, root)
            if blocked_until > slot - self._buffer:
                slot = _ceil_grid(blocked_until + self._buffer)
                continue
            return slot
        return None


def _ceil_grid(moment: datetime) -> datetime:
    steps = math.ceil((moment - _EPOCH) / GRID)
    return _EPOCH + steps * GRID


# --- gaps between blocks -----------------------------------------------------------------------------


def gaps(busy: Sequence[Busy], tz: ZoneInfo) -> list[tuple[Busy, Busy, int]]:
    """``(before, after, minutes)`` for each block and the one that follows on the same local day in ``tz``.

    ``before`` is the block of that day, started earlier, that ends last (what you come out of);
    ``minutes`` is from its end to ``after``'s start, negative when they overlap (truncated toward 0).
    Same-root blocks with equal times collapse first. Sorted by ``after``'s start.
    """
    result: list[tuple[Busy, Busy, int]] = []
    current_day: date | None = None
    latest: _Block | None = None
    for block in _collapse(busy):
        day = block.start.astimezone(tz).date()
        if day != current_day:
            current_day, latest = day, block
            continue
        assert latest is not None
        seconds = (block.start - latest.end).total_seconds()
        result.append((latest.busy, block.busy, int(seconds / 60)))
        if block.end > latest.end:
            latest = block
    return result
