"""“What this client sees”: the occurrences an account's private mirrors show on one calendar, from the store's cache.

Read-only and offline: built from the cached items of the calendar (what the last run listed
or wrote there) whose marker is a mirror of one of the account's private or custom syncs
copying into it, so it shows what the client really has, not what the settings promise.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

from . import ical
from . import workspace as ws
from .config import Config
from .errors import MirrorcalError
from .model import MARKER_PROPERTY
from .store.base import Store
from .unified import busy_blocks
from .workspace import Workspace

PRIVATE_MODES = ("private", "custom")
ALLOWED_PROPERTIES = frozenset(
    {"UID", "DTSTAMP", "DTSTART", "DTEND", "DURATION", "SUMMARY", "STATUS", "TRANSP", "CLASS", "RRULE",
     "EXDATE", "RDATE", "RECURRENCE-ID", "SEQUENCE", "CREATED", "LAST-MODIFIED", MARKER_PROPERTY}
)  # fmt: skip
"""What a private mirror may carry; anything else found on one is reported with it."""

_SLACK = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Shown:
    """One occurrence a mirror shows on the calendar.

    ``start``/``end`` are aware datetimes in the account's zone, or dates when ``all_day``;
    ``title`` the SUMMARY the client reads; ``busy`` False for a free (transparent) one; ``sync``
    the account's name of the sync that wrote it; ``extra`` the names of properties beyond
    ``ALLOWED_PROPERTIES`` found on the mirror (empty for a mirror the engine wrote)."""

    start: date | datetime
    end: date | datetime
    all_day: bool
    title: str
    busy: bool
    sync: str
    extra: tuple[str, ...] = ()


@dataclass(slots=True)
class Preview:
    """What the private mirrors show on ``calendar`` in ``[start, end)``, and the account's own view.

    ``syncs`` are the private/custom syncs copying into the calendar (the account's names),
    ``full_syncs`` those copying full details into it (not previewed: the client sees everything).
    ``synced`` is False until one of ``syncs`` has run. ``unified_events`` counts the distinct
    busy occurrences on the account's unified calendars in the same window (an event and its
    mirrors count once). ``problems`` names mirrors that could not be read."""

    calendar: str
    start: datetime
    end: datetime
    syncs: list[str] = field(default_factory=list)
    full_syncs: list[str] = field(default_factory=list)
    synced: bool = False
    shown: list[Shown] = field(default_factory=list)
    unified_events: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def state(self) -> str:
        """``no-private-sync``, ``not-synced``, ``empty`` (nothing in the window) or ``shown``."""
        if not self.syncs:
            return "no-private-sync"
        if not self.synced:
            return "not-synced"
        return "shown" if self.shown else "empty"

    def summary(self) -> str:
        """The contrast in words, e.g. "12 events on your unified calendar, shown to this client as 12 Busy blocks"."""
        days = (self.end - self.start).days
        mine = f"{_count(self.unified_events, 'event')} on your unified calendar in the next {days} days"
        if self.state == "no-private-sync":
            return f"{mine}; no private sync copies them into {self.calendar}."
        if self.state == "not-synced":
            return f"{mine}; nothing has synced to {self.calendar} yet, so this client sees none of them."
        titles = Counter(s.title for s in self.shown if s.busy)
        parts = [
            f"{n} {title or '(untitled)'} block{'s' if n != 1 else ''}" for title, n in sorted(titles.items())
        ]
        free = sum(1 for s in self.shown if not s.busy)
        if free:
            parts.append(f"{free} free block{'s' if free != 1 else ''}")
        return f"{mine}, shown to this client as {' and '.join(parts) or 'nothing'}."


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"


def preview(
    store: Store,
    model: Workspace,
    config: Config,
    user_id: int,
    calendar: str,
    *,
    now: datetime,
    days: int = 14,
) -> Preview:
    """The preview of the account's calendar ``calendar`` for ``days`` days from the start of
    ``now``'s day in the account's zone (``config.timezone``).

    ``model`` is the account's setup and ``config`` its runtime configuration
    (``workspace.runtime_config``: names prefixed with ``u{user_id}.``). Raises ``KeyError`` for
    a calendar not in ``model`` and ``StoreError`` from the store; an unreadable mirror is
    reported in ``problems``, not raised."""
    if model.calendar(calendar) is None:
        raise KeyError(calendar)
    tz = config.timezone
    start = datetime.combine(now.astimezone(tz).date(), time(0), tzinfo=tz)
    end = start + timedelta(days=days)
    result = Preview(calendar=calendar, start=start, end=end)
    p = ws.prefix(user_id)
    owners: dict[str, str] = {}  # mirror uid -> the account's sync name
    for entry in model.syncs:
        for half in ws.halves(entry):
            target = entry.source if half != entry.name else entry.target
            if target != calendar:
                continue
            if entry.privacy not in PRIVATE_MODES:
                result.full_syncs.append(entry.name)
                continue
            if entry.name not in result.syncs:
                result.syncs.append(entry.name)
            result.synced = result.synced or store.last_run(p + half) is not None
            owners |= {row.mirror_uid: entry.name for row in store.mirrors(p + half).values()}
    for item in store.items(p + calendar).values():
        sync = owners.get(item.marker or "")
        if sync is None or not item.ics:
            continue
        try:
            result.shown += _occurrences(item.ics, sync, start, end, tz)
        except (MirrorcalError, ValueError) as exc:
            result.problems.append(f"{item.href}: {exc}")
    result.shown.sort(key=lambda s: (_utc(s.start, tz), _utc(s.end, tz), s.title))
    unified = [(name, c.emails) for name, c in config.calendars.items() if c.unified]
    blocks, problems = busy_blocks(store, unified, start=start, end=end, tz=tz)
    result.unified_events = len({(b.root, b.start.astimezone(UTC), b.end.astimezone(UTC)) for b in blocks})
    result.problems += problems
    return result


def _occurrences(text: str, sync: str, start: datetime, end: datetime, tz: ZoneInfo) -> list[Shown]:
    """The occurrences of the mirror ``text`` overlapping ``[start, end)``, cancelled ones left out."""
    event = ical.parse_resource(text)
    extra = tuple(sorted(_extra_properties(text)))
    lo, hi = start.astimezone(UTC), end.astimezone(UTC)
    found = []
    for occ in recurring_ical_events.of(ical.occurrences_calendar(event)).between(lo - _SLACK, hi + _SLACK):
        if str(occ.get("STATUS", "")).upper() == "CANCELLED":
            continue
        o_start, o_end = occ.start, occ.end
        if _utc(o_end, tz) <= lo or _utc(o_start, tz) >= hi:
            continue
        all_day = not isinstance(o_start, datetime)
        found.append(
            Shown(
                start=o_start if all_day else _aware(o_start, tz),
                end=o_end if all_day else _aware(o_end, tz),
                all_day=all_day,
                title=str(occ.get("SUMMARY", "")),
                busy=str(occ.get("TRANSP", "OPAQUE")).upper() != "TRANSPARENT",
                sync=sync,
                extra=extra,
            )
        )
    return found


def _extra_properties(text: str) -> set[str]:
    """Names of the VEVENT properties in ``text`` that a private mirror should not carry."""
    names: set[str] = set()
    for vevent in icalendar.Calendar.from_ical(text).walk("VEVENT"):
        names |= {str(name).upper() for name in vevent} - ALLOWED_PROPERTIES
        names |= {str(c.name) for c in vevent.subcomponents}  # e.g. a VALARM
    return names


def _aware(moment: datetime, tz: ZoneInfo) -> datetime:
    return (moment.replace(tzinfo=tz) if moment.tzinfo is None else moment).astimezone(tz)


def _utc(moment: date | datetime, tz: ZoneInfo) -> datetime:
    """``moment`` as UTC: a date at local midnight, a naive time read in ``tz``."""
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, time(0))
    return _aware(moment, tz).astimezone(UTC)
