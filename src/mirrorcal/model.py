"""The canonical event model every adapter produces and consumes; imports no I/O and no ORM.

Times are ``date`` (all-day), naive ``datetime`` (floating) or aware ``datetime`` whose
tzinfo is a ``zoneinfo.ZoneInfo`` (IANA key kept) or UTC. Ends are exclusive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, timezone
from enum import Enum

Moment = date | datetime
"""A start, end or recurrence id: ``date`` for all-day, ``datetime`` otherwise."""

MARKER_PROPERTY = "X-MIRRORCAL-MIRROR"
"""The iCalendar property that tags a mirror; its value is the mirror's opaque id, nothing else."""


class Privacy(str, Enum):
    """How much of the origin a mirror shows."""

    FULL = "full"
    PRIVATE = "private"
    CUSTOM = "custom"


@dataclass(frozen=True, slots=True)
class Attendee:
    """One ATTENDEE: its e-mail (without ``mailto:``), display name and participation status."""

    email: str
    name: str = ""
    partstat: str = "NEEDS-ACTION"
    role: str = "REQ-PARTICIPANT"


@dataclass(frozen=True, slots=True)
class Component:
    """One VEVENT: a single event, the master of a series, or an override (``recurrence_id`` set)."""

    start: Moment
    end: Moment
    recurrence_id: Moment | None = None
    summary: str = ""
    description: str = ""
    location: str = ""
    url: str = ""
    status: str = "CONFIRMED"
    transparent: bool = False
    klass: str = ""
    organizer: str = ""
    attendees: tuple[Attendee, ...] = ()
    rrule: tuple[str, ...] = ()
    exdates: tuple[Moment, ...] = ()
    rdates: tuple[Moment, ...] = ()
    categories: tuple[str, ...] = ()
    # When it was booked and last changed: metadata, not content (a copy made later is the same
    # event), so left out of equality as the content hash leaves them out.
    created: datetime | None = field(default=None, compare=False)
    last_modified: datetime | None = field(default=None, compare=False)
    busy_status: str = ""
    """How the time shows beyond busy/free: FREE, TENTATIVE, BUSY or OOF (iCalendar's
    X-MICROSOFT-CDO-BUSYSTATUS, Graph's showAs); "" when only ``transparent`` and ``status`` say."""

    @property
    def all_day(self) -> bool:
        return not isinstance(self.start, datetime)

    @property
    def busy(self) -> bool:
        """True when this component blocks time: opaque and not cancelled."""
        return not self.transparent and self.status.upper() != "CANCELLED"

    @property
    def duration(self) -> timedelta:
        return as_utc(self.end) - as_utc(self.start) if not self.all_day else self.end - self.start  # type: ignore[operator]

    def declined_by(self, emails: frozenset[str]) -> bool:
        """True when one of ``emails`` (lower-case) is an attendee who declined."""
        return any(a.email.lower() in emails and a.partstat.upper() == "DECLINED" for a in self.attendees)


@dataclass(frozen=True, slots=True)
class Event:
    """One calendar object resource: a UID with its master (or single) and its overrides.

    ``components`` holds the master first (``recurrence_id is None``) when there is one, then
    the overrides sorted by recurrence id. An orphan override (no master) is an Event of its own.
    ``marker`` is the opaque mirror id when this event is a mirror written by mirrorcal.
    ``raw`` is the resource's iCalendar text as the provider served it, when it speaks iCalendar;
    full copies start from it so nothing the model does not name is lost.
    """

    uid: str
    components: tuple[Component, ...]
    marker: str | None = None
    raw: str | None = field(default=None, compare=False, repr=False)

    @property
    def master(self) -> Component:
        """The master (or the single component); for an orphan override, its first override."""
        return self.components[0]

    @property
    def overrides(self) -> tuple[Component, ...]:
        return tuple(c for c in self.components if c.recurrence_id is not None)

    @property
    def recurring(self) -> bool:
        return bool(self.master.rrule or self.master.rdates)

    @property
    def recurrence_key(self) -> str:
        """'' for a whole resource; the recurrence id for an orphan override keyed on its own."""
        first = self.components[0]
        return "" if first.recurrence_id is None else moment_key(first.recurrence_id)

    def with_uid(self, uid: str) -> Event:
        return replace(self, uid=uid)


def as_utc(moment: Moment, floating_tz: timezone | None = None) -> datetime:
    """An aware UTC datetime for ``moment``: dates at midnight and floating times in ``floating_tz`` (UTC)."""
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=floating_tz or UTC)
    return moment.astimezone(UTC)


def moment_key(moment: Moment) -> str:
    """A stable text key for a moment: ``20260310`` for dates, UTC ``20260310T090000Z`` otherwise
    (floating times keep no zone: ``20260310T090000``)."""
    if not isinstance(moment, datetime):
        return moment.strftime("%Y%m%d")
    if moment.tzinfo is None:
        return moment.strftime("%Y%m%dT%H%M%S")
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def parse_stamp(value: object) -> datetime | None:
    """A provider's ISO 8601 stamp (Graph's ``createdDateTime`` with up to 7 fractional digits,
    Google's ``created``) as aware UTC (naive read as UTC); None when absent or unreadable: a
    stamp is metadata, never a reason to refuse an event."""
    if not isinstance(value, str) or not value:
        return None
    text = re.sub(r"\.(\d{6})\d+", r".\1", value.strip()).replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).astimezone(UTC)
