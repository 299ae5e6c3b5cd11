"""The unified week: ``/week`` (the page), ``/week/grid`` (its live part), ``/week/events`` (a
Server-Sent Events stream that tells the page to refresh) and ``/api/v1/week``.

Everything comes from the state store's cache of the account's unified calendars
(``unified.busy_blocks``), never from a provider: the page is fast and works while a provider is
down. Decisions:

* The week is the 7 local days from ``start`` (default: Monday of the current week) in the
  account's zone (the document's ``timezone``, else the server's, as ``config`` resolves it).
* An event and its mirrors (same root and times) are shown once: the origin when it is on a
  unified calendar, else a mirror on a calendar a full-details sync writes to, else the first by
  calendar name. Its client is the client of the calendar the root names (where the event was
  really booked), else of the calendar it is shown on; the client is the calendar's ``client``
  label, else its name.
* Colours: each of the account's clients (every calendar's label) takes a slot of a 10-colour
  palette, its hash's slot or the next free one, clients in name order: stable while the
  account's clients stay the same, distinct up to 10 clients.
* All-day: an occurrence that starts and ends at local midnight (how all-day dates are read).
* Gaps: between an event and the next one on the same local day when it starts 0 to 59 minutes
  after the latest end so far (``conflicts.gaps``); 0 is back-to-back.
* Conflicts: ``conflicts.find_conflicts`` with the account's buffer and working hours over the
  week and 14 days more (so a proposed slot is free there too); both events are marked.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import Response, StreamingResponse

from mirrorcal import workspace as ws
from mirrorcal.config import Config, local_timezone
from mirrorcal.conflicts import Busy, Conflict, find_conflicts, gaps
from mirrorcal.errors import ConfigError
from mirrorcal.model import Privacy
from mirrorcal.store.base import Store
from mirrorcal.unified import BusyCache, busy_blocks

from .api import ErrorOut
from .deps import ApiSetup, Csrf, CurrentUser, PageSetup, utcnow
from .events import AccountEvent, Events
from .pages import render
from .setup import Setup

DAYS = 7
SEARCH_DAYS = 14
"""How far past the week busy blocks are read, so that a proposed slot is free there too."""
GAP_UNDER = 60
"""Gaps shorter than this many minutes are shown."""
HOURS = (7, 21)
"""The hours the grid always shows; extended to cover events outside them."""
PALETTE = 10
MAX_LANES = 8
"""Side-by-side overlapping events a day column lays out (more share the last lane)."""
KEEPALIVE = 15.0
"""Seconds between keep-alive comments on the live stream."""
POLL = 1.0
"""Seconds between checks that the live stream's client is still there."""
LIFETIME = 300.0
"""Seconds after which the live stream ends (the browser reconnects at once and catches up):
an open page never holds a server's graceful shutdown longer than this."""
LIVE_KINDS = ("sync.ran", "conflict.detected", "sync.failed")
SETUP_BROKEN = "Your week cannot be shown right now: your setup needs attention (see Calendars and Syncs)."
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_FIRST = date.min + timedelta(days=DAYS)
_LAST = date.max - timedelta(days=2 * DAYS + SEARCH_DAYS + 1)

_errors: dict[int | str, dict[str, object]] = {code: {"model": ErrorOut} for code in (400, 401, 503)}
router = APIRouter(responses=_errors)


# the model ------------------------------------------------------------------------------------
@dataclass(slots=True)
class WeekEvent:
    """One event as the week shows it (an event and its mirrors once)."""

    busy: Busy
    calendar: str
    client: str
    colour: int
    all_day: bool
    conflicts: list[str] = field(default_factory=list)
    """What it conflicts with, in words (empty: no conflict)."""
    proposal: str = ""
    """Where to move it, when it is the one to move."""

    @property
    def conflict(self) -> bool:
        return bool(self.conflicts)

    @property
    def summary(self) -> str:
        return self.busy.summary or "(no title)"

    def when(self) -> str:
        start, end = self.busy.start, self.busy.end
        if self.all_day:
            last = end - timedelta(days=1)
            return start.strftime("%a %d %b") + ("" if last.date() <= start.date() else last.strftime(" to %a %d %b")) + ", all day"
        until = end.strftime("%H:%M") if end.date() == start.date() else end.strftime("%a %d %b %H:%M")
        return f"{start.strftime('%a %d %b %H:%M')}–{until}"

    def label(self) -> str:
        """Everything about it in words (the element's aria-label and title)."""
        text = f"{self.when()}: {self.summary}, calendar {self.calendar}, client {self.client}"
        if self.conflicts:
            text += ". Conflict: " + "; ".join(self.conflicts)
        if self.proposal:
            text += ". " + self.proposal
        return text


@dataclass(slots=True)
class Segment:
    """The part of a timed event on one day's column, in minutes from local midnight."""

    event: WeekEvent
    start: int
    end: int
    lane: int = 0
    lanes: int = 1

    def time_text(self) -> str:
        return f"{self.start // 60:02d}:{self.start % 60:02d}–{self.end // 60:02d}:{self.end % 60:02d}"


@dataclass(slots=True)
class Gap:
    before: WeekEvent
    after: WeekEvent
    minutes: int

    def text(self) -> str:
        return "back-to-back" if self.minutes == 0 else f"{self.minutes} min gap"


@dataclass(slots=True)
class GapMark:
    """A gap drawn on a day's column, in minutes from local midnight."""

    gap: Gap
    start: int
    end: int


@dataclass(slots=True)
class WeekConflict:
    conflict: Conflict
    a: WeekEvent | None
    b: WeekEvent | None
    proposal: str
    """``Move David to Tue 10:30–11:00``, or why there is none."""

    def text(self) -> str:
        c = self.conflict
        names = f"{_name(c.b, self.b)} overlaps {_name(c.a, self.a)}"
        if c.overlap_minutes == 0:
            names = f"{_name(c.b, self.b)} is closer than your buffer to {_name(c.a, self.a)}"
        else:
            names += f" by {c.overlap_minutes} min"
        return f"{c.b.start.strftime('%a %d %b %H:%M')}: {names}."


@dataclass(slots=True)
class Day:
    date: date
    all_day: list[WeekEvent] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    gaps: list[GapMark] = field(default_factory=list)


@dataclass(slots=True)
class Week:
    start: date
    tz: ZoneInfo
    state: str
    """no-calendars, empty or shown."""
    days: list[Day] = field(default_factory=list)
    events: list[WeekEvent] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    conflicts: list[WeekConflict] = field(default_factory=list)
    legend: list[tuple[str, int]] = field(default_factory=list)
    first_hour: int = HOURS[0]
    last_hour: int = HOURS[1]
    problems: list[str] = field(default_factory=list)
    has_syncs: bool = False

    @property
    def end(self) -> date:
        return self.start + timedelta(days=DAYS)

    @property
    def hours(self) -> list[int]:
        return list(range(self.first_hour, self.last_hour))

    def shift(self, days: int) -> str:
        return (self.start + timedelta(days=days)).isoformat()

    def title(self) -> str:
        last = self.end - timedelta(days=1)
        if last.year != self.start.year:
            return f"{self.start.strftime('%d %b %Y')} – {last.strftime('%d %b %Y')}"
        return f"{self.start.strftime('%d %b')} – {last.strftime('%d %b %Y')}"


def _name(busy: Busy, shown: WeekEvent | None) -> str:
    if shown is not None:
        return f"{shown.summary} ({shown.calendar})"
    return f"{busy.summary or '(no title)'} ({busy.calendar})"


# building -------------------------------------------------------------------------------------
def parse_start(text: str | None) -> date | None:
    """``start`` as a date (None: not given); raises ``HTTPException`` 400 with a message."""
    if text is None or text == "":
        return None
    try:
        if not _DATE.fullmatch(text):
            raise ValueError(text)
        day = date.fromisoformat(text)
    except ValueError:
        raise HTTPException(400, f"start: '{text[:40]}' is not a date; use YYYY-MM-DD, e.g. 2026-03-09.") from None
    if not _FIRST <= day <= _LAST:
        raise HTTPException(400, f"start: {text} is too far in the past or the future.")
    return day


def monday(now: datetime, tz: ZoneInfo) -> date:
    today = now.astimezone(tz).date()
    return today - timedelta(days=today.weekday())


def account_config(store: Store, user_id: int, database_url: str) -> Config | None:
    """The account's runtime configuration (None: no setup yet); 503 when it cannot be read."""
    text = store.workspace(user_id)
    if not text:
        return None
    try:
        return ws.runtime_config(text, user_id, database_url)
    except ConfigError as exc:
        raise HTTPException(503, SETUP_BROKEN) from exc


def build(
    store: Store, user_id: int, database_url: str, start: date | None, now: datetime, cache: BusyCache | None = None
) -> Week:
    """The week of ``user_id`` from ``start`` (default: this week's Monday in the account's zone);
    ``cache`` keeps expanded items between calls (an unchanged item is not parsed again)."""
    config = account_config(store, user_id, database_url)
    tz = config.timezone if config is not None else local_timezone({})
    first = start or monday(now, tz)
    week = Week(start=first, tz=tz, state="no-calendars")
    week.days = [Day(first + timedelta(days=i)) for i in range(DAYS)]
    if config is None:
        return week
    unified = [(name, cfg.emails) for name, cfg in config.calendars.items() if cfg.unified]
    week.has_syncs = bool(config.syncs)
    week.legend = _legend(config, user_id)
    colours = dict(week.legend)
    if not unified:
        return week
    lo = datetime.combine(first, time(0), tz)
    hi = datetime.combine(week.end, time(0), tz)
    blocks, problems = busy_blocks(store, unified, start=lo, end=hi + timedelta(days=SEARCH_DAYS), tz=tz, cache=cache)
    week.problems = [ws.unprefixed(p, user_id) for p in problems]

    full_targets = {s.target for s in config.syncs if s.privacy is Privacy.FULL}
    shown: dict[tuple[str, datetime, datetime], WeekEvent] = {}
    for block in sorted((b for b in blocks if b.start < hi), key=lambda b: _rank(b, full_targets)):
        key = _key(block)
        if key in shown:
            continue
        client = _client(config, block, user_id)
        shown[key] = WeekEvent(
            busy=block,
            calendar=ws.unprefixed(block.calendar, user_id),
            client=client,
            colour=colours.get(client, _slot(client)),
            all_day=_all_day(block, tz),
        )
    week.events = sorted(shown.values(), key=lambda e: (not e.all_day, _utc(e.busy.start), _utc(e.busy.end), e.calendar, e.summary))
    week.state = "shown" if week.events else "empty"

    found = find_conflicts(
        blocks, buffer=config.conflict_buffer, tz=tz, working_hours=config.conflict_working_hours, search_days=SEARCH_DAYS
    )
    for c in found:
        if min(_utc(c.a.start), _utc(c.b.start)) >= _utc(hi):
            continue
        a, b = shown.get(_key(c.a)), shown.get(_key(c.b))
        plain = Conflict(_plain(a.busy if a else c.a, user_id), _plain(b.busy if b else c.b, user_id), c.overlap_minutes, c.proposed_start)
        entry = WeekConflict(plain, a, b, _proposal(plain, week))
        week.conflicts.append(entry)
        how = f"overlaps by {c.overlap_minutes} min" if c.overlap_minutes else "closer than your buffer"
        if a is not None:
            a.conflicts.append(f"{how} with {_name(c.b, b)}")
        if b is not None:
            b.conflicts.append(f"{how} with {_name(c.a, a)}")
            b.proposal = entry.proposal

    timed = [e for e in week.events if not e.all_day]
    by_busy = {id(e.busy): e for e in timed}
    for before, after, minutes in gaps([e.busy for e in timed], tz):
        if 0 <= minutes < GAP_UNDER and id(before) in by_busy and id(after) in by_busy:
            week.gaps.append(Gap(by_busy[id(before)], by_busy[id(after)], minutes))
    _lay_out(week)
    return week


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _key(block: Busy) -> tuple[str, datetime, datetime]:
    return (block.root, _utc(block.start), _utc(block.end))


def _rank(block: Busy, full_targets: set[str]) -> tuple[int, str, str]:
    """Which of an event's copies to show: the origin, else a full copy, else the first by name."""
    origin = block.root.split("/", 1)[0] == block.calendar
    return (0 if origin else 1 if block.calendar in full_targets else 2, block.calendar, block.summary)


def _label(config: Config, calendar: str, user_id: int) -> str:
    cfg = config.calendars[calendar]
    return cfg.client or ws.unprefixed(calendar, user_id)


def _client(config: Config, block: Busy, user_id: int) -> str:
    origin = block.root.split("/", 1)[0]
    return _label(config, origin if origin in config.calendars else block.calendar, user_id)


def _slot(client: str) -> int:
    return int.from_bytes(hashlib.blake2b(client.encode(), digest_size=4).digest(), "big") % PALETTE


def _legend(config: Config, user_id: int) -> list[tuple[str, int]]:
    """Every client of the account with its palette slot (see the module docstring)."""
    taken: dict[int, str] = {}
    result: list[tuple[str, int]] = []
    for client in sorted({_label(config, name, user_id) for name in config.calendars}, key=lambda c: (c.casefold(), c)):
        slot = _slot(client)
        for step in range(PALETTE):
            candidate = (slot + step) % PALETTE
            if candidate not in taken:
                slot = candidate
                break
        taken.setdefault(slot, client)
        result.append((client, slot))
    return result


def _all_day(block: Busy, tz: ZoneInfo) -> bool:
    start, end = block.start.astimezone(tz), block.end.astimezone(tz)
    return start.time() == time(0) and end.time() == time(0) and end.date() > start.date()


def _plain(block: Busy, user_id: int) -> Busy:
    return replace(block, calendar=ws.unprefixed(block.calendar, user_id))


def _proposal(c: Conflict, week: Week) -> str:
    if c.proposed_start is None:
        return f"No free slot for {c.b.summary or '(no title)'} within {SEARCH_DAYS} days."
    start = c.proposed_start.astimezone(week.tz)
    end = start + (c.b.end - c.b.start)
    in_week = week.start <= start.date() < week.end
    day = start.strftime("%a" if in_week else "%a %d %b")
    until = end.strftime("%H:%M") if end.date() == start.date() else end.strftime("%a %H:%M")
    return f"Move {c.b.summary or '(no title)'} to {day} {start.strftime('%H:%M')}–{until}"


def _lay_out(week: Week) -> None:
    """Put each event on its days: all-day ones in the strip, timed ones as segments in lanes."""
    tz = week.tz
    index = {day.date: day for day in week.days}
    lowest, highest = HOURS
    for event in week.events:
        start, end = event.busy.start.astimezone(tz), event.busy.end.astimezone(tz)
        if event.all_day:
            current = start.date()
            while current < end.date():
                if current in index:
                    index[current].all_day.append(event)
                current += timedelta(days=1)
            continue
        for day in week.days:
            day_lo = datetime.combine(day.date, time(0), tz)
            day_hi = datetime.combine(day.date + timedelta(days=1), time(0), tz)
            seg_lo, seg_hi = max(_utc(start), _utc(day_lo)), min(_utc(end), _utc(day_hi))
            if seg_lo >= seg_hi:
                continue
            s = seg_lo.astimezone(tz)
            from_min = 0 if seg_lo == _utc(day_lo) else s.hour * 60 + s.minute
            e = seg_hi.astimezone(tz)
            to_min = 24 * 60 if seg_hi == _utc(day_hi) else e.hour * 60 + e.minute + (1 if e.second or e.microsecond else 0)
            to_min = min(24 * 60, max(to_min, from_min + 1))
            day.segments.append(Segment(event, from_min, to_min))
            lowest, highest = min(lowest, from_min // 60), max(highest, math.ceil(to_min / 60))
    for gap in week.gaps:
        before_end = gap.before.busy.end.astimezone(tz)
        after_start = gap.after.busy.start.astimezone(tz)
        target = index.get(after_start.date())
        if target is not None and gap.minutes > 0:
            end_min = after_start.hour * 60 + after_start.minute
            target.gaps.append(GapMark(gap, max(0, end_min - gap.minutes) if before_end.date() == after_start.date() else 0, end_min))
    week.first_hour, week.last_hour = lowest, min(24, highest)
    for day in week.days:
        _lanes(day.segments)


def _lanes(segments: list[Segment]) -> None:
    """Side-by-side lanes for overlapping segments: each cluster of overlaps shares a lane count."""
    segments.sort(key=lambda s: (s.start, -s.end))
    cluster: list[Segment] = []
    ends: list[int] = []  # per lane, the end of its last segment
    cluster_end = -1
    for segment in [*segments, None]:
        if segment is None or segment.start >= cluster_end:
            for member in cluster:
                member.lanes = min(len(ends), MAX_LANES)
            if segment is None:
                break
            cluster, ends, cluster_end = [], [], -1
        lane = next((i for i, end in enumerate(ends) if end <= segment.start), len(ends))
        if lane == len(ends):
            ends.append(segment.end)
        else:
            ends[lane] = segment.end
        segment.lane = min(lane, MAX_LANES - 1)
        cluster.append(segment)
        cluster_end = max(cluster_end, segment.end)


def position(start: int, end: int, first_hour: int) -> str:
    """The CSS classes that place a span of minutes on a day column (the page's CSP allows no
    style attributes): top as hours and 5-minute steps from the first hour, and the length."""
    top = max(0, start - first_hour * 60) // 5
    length = max(1, math.ceil((end - start) / 5))
    return f"wk-th{top // 12} wk-tm{top % 12} wk-lh{length // 12} wk-lm{length % 12}"


# the page -------------------------------------------------------------------------------------
def _week(request: Request, setup: Setup, start: str | None) -> Week:
    """The week of the request's user, with the app's cache of that account's expanded items."""
    caches: dict[int, BusyCache] | None = getattr(request.app.state, "week_busy", None)
    if caches is None:
        caches = request.app.state.week_busy = {}
    cache = caches.setdefault(setup.user.id, BusyCache())
    return build(setup.store, setup.user.id, setup.settings.database_url, parse_start(start), utcnow(), cache)


def _context(week: Week) -> dict[str, Any]:
    return {"active": "week", "week": week, "position": position}


@router.get("/week", include_in_schema=False)
def week_page(request: Request, csrf: Csrf, setup: PageSetup, start: str | None = None) -> Response:
    return render(request, "week.html", _context(_week(request, setup, start)))


@router.get("/week/grid", include_in_schema=False)
def week_grid(request: Request, setup: PageSetup, start: str | None = None) -> Response:
    """The page's live part alone, for the page's script to swap in after a change."""
    return render(request, "_week_grid.html", _context(_week(request, setup, start)))


def sse(event: AccountEvent) -> str:
    """One Server-Sent Events message for ``event`` (its type and id; no account data)."""
    data = json.dumps({"type": event.kind, "id": event.id, "created": event.at.isoformat()})
    return f"id: {event.id}\ndata: {data}\n\n"


def wanted(event: AccountEvent) -> bool:
    """Whether the week may look different after ``event``."""
    if event.kind == "sync.ran":
        return bool(event.data.get("changed"))
    return event.kind in LIVE_KINDS


async def stream(
    request: Request, events: Events, user_id: int, *, keepalive: float = KEEPALIVE, lifetime: float = LIFETIME
) -> AsyncIterator[str]:
    """The live stream of ``user_id``: a message per relevant event, a keep-alive comment every
    ``keepalive`` seconds; ends when the client goes away, or after ``lifetime`` seconds."""
    queue = events.subscribe(user_id)
    loop = asyncio.get_running_loop()
    try:
        yield "retry: 3000\n: connected\n\n"
        quiet_since = opened = loop.time()
        while loop.time() - opened < lifetime:
            try:
                event = await asyncio.wait_for(queue.get(), timeout=min(POLL, keepalive))
            except TimeoutError:
                if await request.is_disconnected():
                    break
                if loop.time() - quiet_since >= keepalive:
                    quiet_since = loop.time()
                    yield ": keep-alive\n\n"
                continue
            if wanted(event):
                quiet_since = loop.time()
                yield sse(event)
    finally:
        events.unsubscribe(user_id, queue)


@router.get("/week/events", include_in_schema=False)
async def week_events(request: Request, user: CurrentUser) -> StreamingResponse:
    """``text/event-stream``: a message whenever a sync may have changed the week."""
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(request, request.app.state.events, user.id), media_type="text/event-stream", headers=headers)


# the API --------------------------------------------------------------------------------------
class BlockOut(BaseModel):
    """An event, as the gaps and conflicts name it."""

    calendar: str
    summary: str
    start: datetime
    end: datetime


class WeekEventOut(BaseModel):
    """One event of the unified week (an event and its mirrors once: the origin)."""

    calendar: str = Field(description="The calendar it is shown from.")
    client: str = Field(description="The client it belongs to: its calendar's client label, else the calendar's name.")
    summary: str
    start: date | datetime = Field(description="ISO 8601 with offset; a date for an all-day event.")
    end: date | datetime = Field(description="Exclusive; a date for an all-day event.")
    all_day: bool
    conflict: bool = Field(description="True when it overlaps (or sits closer than the buffer to) another event.")


class GapOut(BaseModel):
    """Free time between two events of one day, shorter than an hour (0: back-to-back)."""

    before: BlockOut = Field(description="The earlier event (the one the gap comes after).")
    after: BlockOut = Field(description="The later event.")
    minutes: int


class ConflictOut(BaseModel):
    """Two events that overlap or sit closer than the buffer; ``b`` is the one to move."""

    a: BlockOut
    b: BlockOut
    overlap_minutes: int
    proposed_start: datetime | None = Field(description="The earliest free slot for b, or null when none within 14 days.")
    proposal: str = Field(description="The proposal in words, e.g. 'Move David to Tue 10:30–11:00'.")


class WeekOut(BaseModel):
    """The account's unified week."""

    start: date
    end: date = Field(description="Exclusive.")
    timezone: str
    events: list[WeekEventOut]
    gaps: list[GapOut]
    conflicts: list[ConflictOut]
    problems: list[str] = Field(description="Cached events that could not be read.")


def _block(busy: Busy, tz: ZoneInfo) -> BlockOut:
    return BlockOut(calendar=busy.calendar, summary=busy.summary, start=busy.start.astimezone(tz), end=busy.end.astimezone(tz))


def _event_out(event: WeekEvent, tz: ZoneInfo) -> WeekEventOut:
    start: date | datetime = event.busy.start.astimezone(tz)
    end: date | datetime = event.busy.end.astimezone(tz)
    if event.all_day:
        start, end = event.busy.start.astimezone(tz).date(), event.busy.end.astimezone(tz).date()
    return WeekEventOut(
        calendar=event.calendar, client=event.client, summary=event.busy.summary,
        start=start, end=end, all_day=event.all_day, conflict=event.conflict,
    )  # fmt: skip


def _shown_block(event: WeekEvent, tz: ZoneInfo) -> BlockOut:
    return _block(replace(event.busy, calendar=event.calendar), tz)


def week_out(week: Week) -> WeekOut:
    tz = week.tz
    return WeekOut(
        start=week.start,
        end=week.end,
        timezone=tz.key,
        events=[_event_out(e, tz) for e in week.events],
        gaps=[GapOut(before=_shown_block(g.before, tz), after=_shown_block(g.after, tz), minutes=g.minutes) for g in week.gaps],
        conflicts=[
            ConflictOut(
                a=_block(c.conflict.a, tz), b=_block(c.conflict.b, tz), overlap_minutes=c.conflict.overlap_minutes,
                proposed_start=None if c.conflict.proposed_start is None else c.conflict.proposed_start.astimezone(tz),
                proposal=c.proposal,
            )
            for c in week.conflicts
        ],  # fmt: skip
        problems=week.problems,
    )


@router.get("/api/v1/week", tags=["week"], summary="The unified week: events, gaps and conflicts")
def week_api(
    request: Request,
    setup: ApiSetup,
    start: Annotated[str | None, Query(description="The first day, YYYY-MM-DD (default: this week's Monday).")] = None,
) -> WeekOut:
    return week_out(_week(request, setup, start))

