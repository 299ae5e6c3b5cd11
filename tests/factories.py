"""Events the calendar tests share: one-hour interviews and a weekly series with a moved occurrence."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from mirrorcal.model import Attendee, Component, Event

BERLIN = ZoneInfo("Europe/Berlin")


def interview(uid: str, summary: str = "Interview", day: int = 10) -> Event:
    """09:00-10:00 Berlin time on the given day of March 2026."""
    start = datetime(2026, 3, day, 9, 0, tzinfo=BERLIN)
    return Event(uid, (Component(start=start, end=start.replace(hour=10), summary=summary),))


def weekly_series(
    uid: str, *, attendees: tuple[Attendee, ...] = (), cancelled_override: bool = False, marker: str | None = None
) -> Event:
    """A 10-week Monday standup with an EXDATE, a moved occurrence and, optionally, a cancelled one."""
    master = Component(
        start=datetime(2026, 3, 2, 9, 0, tzinfo=BERLIN),
        end=datetime(2026, 3, 2, 9, 30, tzinfo=BERLIN),
        summary="Standup",
        rrule=("FREQ=WEEKLY;COUNT=10",),
        exdates=(datetime(2026, 3, 9, 9, 0, tzinfo=BERLIN),),
        attendees=attendees,
    )
    moved = Component(
        start=datetime(2026, 3, 16, 11, 0, tzinfo=BERLIN),
        end=datetime(2026, 3, 16, 11, 30, tzinfo=BERLIN),
        recurrence_id=datetime(2026, 3, 16, 9, 0, tzinfo=BERLIN),
        summary="Standup (moved)",
    )
    cancelled = Component(
        start=datetime(2026, 3, 23, 8, 0, tzinfo=UTC),
        end=datetime(2026, 3, 23, 8, 30, tzinfo=UTC),
        recurrence_id=datetime(2026, 3, 23, 8, 0, tzinfo=UTC),
        summary="Standup",
        status="CANCELLED",
    )
    components = (master, moved, cancelled) if cancelled_override else (master, moved)
    return Event(uid, components, marker=marker)
