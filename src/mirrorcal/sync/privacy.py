"""Build a private mirror from an allow-list of the origin's timing and busy/free, nothing else."""

from __future__ import annotations

from ..model import Component, Event


def private_copy(event: Event, *, uid: str, marker: str, title: str) -> Event:
    """A new Event holding only what a client may see of ``event``.

    Allowed: start, end (hence the all-day flag), recurrence timing (RRULE, EXDATE, RDATE,
    each override's recurrence id and times), busy/free (and its busy status: tentative, out of
    office), cancelled overrides, CLASS:PRIVATE
    and the neutral ``title``. Nothing is copied by default: a field added to ``Component``
    later stays out of private mirrors until it is named here. ``raw`` is never carried over.
    """
    components = tuple(
        Component(
            start=c.start,
            end=c.end,
            recurrence_id=c.recurrence_id,
            summary=title,
            status="CANCELLED" if c.status.upper() == "CANCELLED" else "CONFIRMED",
            transparent=c.transparent,
            busy_status=c.busy_status,
            klass="PRIVATE",
            rrule=tuple(_timing_only(rule) for rule in c.rrule),
            exdates=c.exdates,
            rdates=c.rdates,
        )
        for c in event.components
    )
    return Event(uid=uid, components=components, marker=marker, raw=None)


RRULE_PARTS = frozenset(
    {"FREQ", "UNTIL", "COUNT", "INTERVAL", "BYSECOND", "BYMINUTE", "BYHOUR", "BYDAY", "BYMONTHDAY",
     "BYYEARDAY", "BYWEEKNO", "BYMONTH", "BYSETPOS", "WKST", "RSCALE", "SKIP"}
)  # fmt: skip


def _timing_only(rule: str) -> str:
    """The RRULE with its RFC 5545/7529 parts only: an ``X-`` part could carry text."""
    return ";".join(p for p in rule.split(";") if p.split("=", 1)[0].upper() in RRULE_PARTS)
