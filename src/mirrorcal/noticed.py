"""Bookings noticed in the calendars: a candidate's interview appearing on a synced calendar.

When a recruiter sends a scheduling link to Calendly or an ATS, the booking lands in some
client's calendar, which mirrorcal already syncs. ``noticed_bookings`` looks through the cached
items of the given calendars for a confirmed event that lists a pending request's candidate
among its attendees (not declined), booked after the request was sent (its CREATED, else
DTSTAMP, not before ``sent_at``) and not over yet. An event and its full mirrors (the same
interview copied into the personal calendar) count once: the origin wins.

Pure over the state store's cache: nothing is fetched. A cheap text test skips every item that
does not even mention the e-mail before anything is parsed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from . import ical
from .conflicts import raw_dtstamp
from .errors import MirrorcalError
from .model import Component, as_utc
from .store.base import Store


@dataclass(frozen=True, slots=True)
class Pending:
    """A request waiting for a booking: whose, and since when."""

    request_id: int
    email: str
    sent_at: datetime


@dataclass(frozen=True, slots=True)
class Noticed:
    """The booking found for a request: where, and its time (UTC)."""

    request_id: int
    calendar: str
    uid: str
    summary: str
    start: datetime
    end: datetime


def _booked_at(c: Component, raw: str) -> datetime | None:
    """When it was booked: CREATED, else LAST-MODIFIED, else the resource's DTSTAMP (as conflicts reads it)."""
    stamp = c.created or c.last_modified
    return as_utc(stamp) if stamp is not None else raw_dtstamp(raw)


def noticed_bookings(store: Store, calendars: Iterable[str], pending: Sequence[Pending], *, now: datetime) -> list[Noticed]:
    """The earliest upcoming booking per pending request (see the module docstring), by request id."""
    wanted = [(p, p.email.strip().lower()) for p in pending if "@" in p.email]
    if not wanted:
        return []
    best: dict[int, tuple[bool, Noticed]] = {}  # request -> (is a mirror, booking)
    for calendar in calendars:
        for item in store.items(calendar).values():
            text = item.ics.lower()
            hits = [(p, email) for p, email in wanted if email in text]
            if not hits:
                continue
            try:
                event = ical.parse_resource(item.ics)
            except MirrorcalError:
                continue  # an unreadable item is reported by the sync, not here
            for c in event.components:
                if c.all_day or not c.busy:
                    continue
                start, end = as_utc(c.start), as_utc(c.end)
                if end <= now:
                    continue
                booked = _booked_at(c, item.ics)
                for p, email in hits:
                    who = [a for a in c.attendees if a.email.lower() == email]
                    if not who or any(a.partstat.upper() == "DECLINED" for a in who):
                        continue
                    if booked is not None and booked < p.sent_at:
                        continue
                    found = Noticed(p.request_id, calendar, event.uid, c.summary, start, end)
                    mirror = item.marker is not None
                    known = best.get(p.request_id)
                    if known is None or (mirror, found.start) < (known[0], known[1].start):
                        best[p.request_id] = (mirror, found)
    return sorted((n for _, n in best.values()), key=lambda n: n.request_id)
