"""The iCalendar codec: RFC 5545 text <-> canonical ``Event``, content hashes and full-detail copies.

Every function here speaks iCalendar through the ``icalendar`` package (and ``x-wr-timezone``
for Google's non-standard ``X-WR-TIMEZONE`` header); nothing parses content lines by hand.
Every failure to read text is raised as :class:`~mirrorcal.errors.InvalidEventError`.

Time zones, as a demanding recruiter expects them (exact instants wherever possible):

* ``TZID`` naming an IANA zone -> that ``ZoneInfo``.
* ``TZID`` naming a Windows zone ("Pacific Standard Time", CLDR ``windowsZones`` via
  ``icalendar.timezone.windows_to_olson``) -> the IANA zone it maps to.
* ``TZID`` with a ``VTIMEZONE`` of its own in the same document ("Customized Time Zone" from
  Exchange, "(UTC+01:00) Amsterdam, ..." from Outlook): the rules of *that* VTIMEZONE decide
  (never a same-named zone cached from another document). The zone becomes the first IANA zone
  whose UTC offsets agree with those rules hour by hour for three years from the value's
  year, so wall-clock recurrence keeps following the zone's DST; when no IANA zone agrees,
  the value is converted to UTC (the instant stays exact; a series then keeps UTC spacing).
* ``TZID`` that is unknown and has no ``VTIMEZONE``: the instant cannot be known, so the
  value is read as *floating* (the same wall-clock time wherever it is shown). That is what
  Google Calendar and Outlook do with such input, and it is right whenever sender and
  recruiter share a zone; rejecting the event instead would hide a busy block.
* No ``TZID`` and no ``Z``: floating. ``Z`` (or TZID=UTC): ``datetime.UTC``.
"""

from __future__ import annotations

import functools
import hashlib
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, cast
from zoneinfo import ZoneInfo, available_timezones

import icalendar
import x_wr_timezone
from icalendar import Calendar, Timezone, vCalAddress, vRecur
from icalendar import Event as VEvent
from icalendar.timezone import tzp
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from .errors import InvalidEventError
from .model import MARKER_PROPERTY, Attendee, Component, Event, Moment, as_utc
from .zones import zone_named

__all__ = [
    "PRODID",
    "content_hash",
    "full_copy",
    "occurrences_calendar",
    "parse_feed",
    "parse_resource",
    "serialize",
]

PRODID = "-//mirrorcal//mirrorcal//EN"
BUSY_STATUS_PROPERTY = "X-MICROSOFT-CDO-BUSYSTATUS"
BUSY_STATUSES = frozenset({"FREE", "TENTATIVE", "BUSY", "OOF"})
SHOW_AS_STATUS = {"busy": "", "free": "FREE", "tentative": "TENTATIVE", "oof": "OOF"}
"""A sync's ``show_as`` (other than "original") as the mirror's busy status: "busy" is plain
TRANSP:OPAQUE (what every client reads as busy), the others add X-MICROSOFT-CDO-BUSYSTATUS."""
"""The PRODID of every calendar mirrorcal builds itself."""

_HASH_IGNORED = frozenset({"DTSTAMP", "LAST-MODIFIED", "CREATED", "SEQUENCE", "UID"})
_HASH_IGNORED_CALENDAR = frozenset({"PRODID", "VERSION", "CALSCALE", "METHOD"})
_UTC_KEYS = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu"})
_FIXED_DTSTAMP = datetime(2000, 1, 1, tzinfo=UTC)


# --------------------------------------------------------------------------- reading


def parse_resource(text: str) -> Event:
    """Read one calendar object resource (one UID: its master and RECURRENCE-ID overrides).

    Returns an Event whose components are the master first, then the overrides sorted by
    recurrence id; ``marker`` is the X-MIRRORCAL-MIRROR value when present; ``raw`` is ``text``.
    A VEVENT without UID gives ``uid == ""``. ``X-WR-TIMEZONE`` is honoured.
    Raises InvalidEventError (only) when the text is not iCalendar, holds no VEVENT, holds
    several UIDs or several masters, or a VEVENT lacks a usable DTSTART / has DTEND before it.
    """
    cal = _load(text)
    zones = _zones(cal)
    vevents = [cast(VEvent, c) for c in cal.subcomponents if c.name == "VEVENT"]
    if not vevents:
        raise InvalidEventError("no VEVENT in the calendar object")
    uids = sorted({_uid(v) for v in vevents})
    if len(uids) > 1:
        raise InvalidEventError(f"several UIDs in one calendar object: {', '.join(repr(u) for u in uids)}")
    uid = uids[0]
    label = repr(uid) if uid else "without UID"
    components = []
    for vevent in vevents:
        try:
            components.append(_component(vevent, zones))
        except InvalidEventError as exc:
            raise InvalidEventError(f"event {label}: {exc}") from None
    masters = [c for c in components if c.recurrence_id is None]
    if len(masters) > 1:
        raise InvalidEventError(
            f"event {label}: {len(masters)} VEVENTs without RECURRENCE-ID (several masters)"
        )
    overrides = _sorted_overrides(c for c in components if c.recurrence_id is not None)
    _check_unique_overrides(overrides, label)
    return Event(uid=uid, components=(*masters, *overrides), marker=_marker(vevents), raw=text)


def parse_feed(text: str) -> tuple[list[Event], list[tuple[str, str]]]:
    """Read a whole VCALENDAR (an ICS feed or file) into Events, containing bad VEVENTs.

    ``X-WR-TIMEZONE`` is normalised first. VEVENTs are grouped by UID in order of first
    appearance: each Event holds the master and its overrides, and its ``raw`` is a standalone
    VCALENDAR with just those VEVENTs and the VTIMEZONEs they reference. A VEVENT that does not
    parse becomes an error ``(key, message)`` (key: its UID, or ``"VEVENT #n"`` counting from 1
    when it has none) and the others still parse. A VEVENT without UID is an Event of its own
    with ``uid == ""``. When a UID has several masters (a feed repeating a UID) each master is
    an Event of its own with that uid; the overrides go with the first. A second override for
    the same recurrence id is reported as an error and dropped.
    Raises InvalidEventError when the document as a whole is not iCalendar.
    """
    cal = _load(text)
    zones = _zones(cal)
    groups: dict[str, list[tuple[VEvent, Component]]] = {}
    loose: list[tuple[VEvent, Component]] = []
    order: list[tuple[str, int]] = []  # ("uid", _) or ("", index into loose)
    errors: list[tuple[str, str]] = []
    for n, vevent in enumerate((cast(VEvent, c) for c in cal.subcomponents if c.name == "VEVENT"), start=1):
        uid = _uid(vevent)
        key = uid or f"VEVENT #{n}"
        try:
            component = _component(vevent, zones)
        except InvalidEventError as exc:
            errors.append((key, f"VEVENT #{n}{f' (UID {uid!r})' if uid else ''}: {exc}"))
            continue
        if not uid:
            order.append(("", len(loose)))
            loose.append((vevent, component))
            continue
        if uid not in groups:
            groups[uid] = []
            order.append((uid, 0))
        groups[uid].append((vevent, component))

    events: list[Event] = []
    for uid, index in order:
        if not uid:
            vevent, component = loose[index]
            events.append(_feed_event("", [(vevent, component)], cal))
            continue
        members = groups[uid]
        masters = [m for m in members if m[1].recurrence_id is None]
        overrides: list[tuple[VEvent, Component]] = []
        seen: set[str] = set()
        for member in sorted((m for m in members if m[1].recurrence_id is not None), key=_override_key):
            rid = _rid_key(member[1])
            if rid in seen:
                errors.append((uid, f"UID {uid!r}: a second override for RECURRENCE-ID {rid} was ignored"))
                continue
            seen.add(rid)
            overrides.append(member)
        if not masters:
            events.append(_feed_event(uid, overrides, cal))
        for i, master in enumerate(masters):
            events.append(_feed_event(uid, [master, *(overrides if i == 0 else [])], cal))
    return events, errors


def _feed_event(uid: str, members: list[tuple[VEvent, Component]], feed: Calendar) -> Event:
    """An Event for one group of a feed, with a standalone VCALENDAR as raw."""
    out = Calendar()
    out.add("PRODID", str(feed.get("PRODID", PRODID)))
    out.add("VERSION", "2.0")
    if "CALSCALE" in feed:
        out.add("CALSCALE", str(feed["CALSCALE"]))
    for vevent, _ in members:
        out.add_component(vevent)
    used = out.get_used_tzids()
    timezones = [tz for tz in feed.walk("VTIMEZONE") if str(tz.get("TZID", "")) in used]
    out.subcomponents[:0] = timezones
    with _quiet():
        try:
            out.add_missing_timezones()
        except Exception:  # an unknown TZID: the VEVENT reads as floating anyway
            pass
    vevents = [v for v, _ in members]
    return Event(uid=uid, components=tuple(c for _, c in members), marker=_marker(vevents), raw=_text(out))


def _load(text: str) -> Calendar:
    """Parse ``text`` into one VCALENDAR (several roots are merged; bare VEVENTs are wrapped)
    with X-WR-TIMEZONE normalised. Raises InvalidEventError for anything that is not iCalendar."""
    if not isinstance(text, str):
        raise InvalidEventError(f"expected iCalendar text, got {type(text).__name__}")
    try:
        with _quiet():
            roots = Calendar.from_ical(text, multiple=True)
    except Exception as exc:
        raise InvalidEventError(f"not iCalendar text: {exc}") from None
    if not roots:
        raise InvalidEventError(
            "not iCalendar text: no complete BEGIN:VCALENDAR ... END:VCALENDAR (empty or truncated)"
        )
    if len(roots) == 1 and roots[0].name == "VCALENDAR":
        cal = roots[0]
    else:
        cal = Calendar()
        for root in roots:
            if root.name == "VCALENDAR":
                for name, value in root.property_items(recursive=False):
                    if name not in ("BEGIN", "END") and name not in cal:
                        cal.add(name, value)
                cal.subcomponents.extend(root.subcomponents)
            else:
                cal.add_component(root)
    if "X-WR-TIMEZONE" in cal:
        try:
            with _quiet():
                cal = x_wr_timezone.to_standard(cal)
        except Exception as exc:
            raise InvalidEventError(
                f"cannot apply X-WR-TIMEZONE {str(cal['X-WR-TIMEZONE'])!r}: {exc}"
            ) from None
    return cal


def _zones(cal: Calendar) -> dict[str, Timezone]:
    """The VTIMEZONEs of this document by TZID."""
    return {str(tz["TZID"]): cast(Timezone, tz) for tz in cal.walk("VTIMEZONE") if "TZID" in tz}


def _component(vevent: VEvent, zones: dict[str, Timezone]) -> Component:
    """One VEVENT as a Component; raises InvalidEventError naming the property at fault."""
    if "DTSTART" not in vevent:
        raise InvalidEventError("DTSTART missing")
    start = _moment(vevent["DTSTART"], zones, "DTSTART")
    if "DTEND" in vevent:
        end = _moment(vevent["DTEND"], zones, "DTEND")
    elif "DURATION" in vevent:
        end = _add_duration(start, _get(vevent["DURATION"], "DURATION", timedelta))
    else:
        end = start if isinstance(start, datetime) else start + timedelta(days=1)
    if isinstance(start, datetime) != isinstance(end, datetime):
        raise InvalidEventError("DTSTART and DTEND mix a date with a date-time")
    if (
        isinstance(start, datetime)
        and isinstance(end, datetime)
        and (start.tzinfo is None) != (end.tzinfo is None)
    ):
        raise InvalidEventError("DTSTART and DTEND mix a floating time with a zoned one")
    if end < start:
        raise InvalidEventError(f"DTEND before DTSTART ({_show(end)} < {_show(start)})")
    rid = _moment(vevent["RECURRENCE-ID"], zones, "RECURRENCE-ID") if "RECURRENCE-ID" in vevent else None

    transp = str(vevent.get("TRANSP", "")).upper() == "TRANSPARENT"
    busy_status = str(vevent.get("X-MICROSOFT-CDO-BUSYSTATUS", "")).upper()
    free = busy_status == "FREE"
    organizer = vevent.get("ORGANIZER")
    return Component(
        start=start,
        end=end,
        recurrence_id=rid,
        summary=str(vevent.get("SUMMARY", "")),
        description=str(vevent.get("DESCRIPTION", "")),
        location=str(vevent.get("LOCATION", "")),
        url=str(vevent.get("URL", "")),
        status=str(vevent.get("STATUS", "CONFIRMED")).upper() or "CONFIRMED",
        transparent=transp or free,
        klass=str(vevent.get("CLASS", "")).upper(),
        organizer=_email(organizer) if organizer is not None else "",
        attendees=tuple(_attendee(a) for a in _as_list(vevent.get("ATTENDEE"))),
        rrule=tuple(_rrule_text(r) for r in _as_list(vevent.get("RRULE"))),
        exdates=tuple(_moments(vevent.get("EXDATE"), zones, "EXDATE")),
        rdates=tuple(_moments(vevent.get("RDATE"), zones, "RDATE")),
        categories=tuple(
            str(cat) for c in _as_list(vevent.get("CATEGORIES")) for cat in getattr(c, "cats", [c])
        ),
        created=_utc_stamp(vevent.get("CREATED")),
        last_modified=_utc_stamp(vevent.get("LAST-MODIFIED")),
        busy_status=busy_status if busy_status in BUSY_STATUSES else "",
    )


def _get(prop: Any, name: str, kind: type | tuple[type, ...]) -> Any:
    """``prop.dt`` checked against ``kind``; InvalidEventError when broken."""
    try:
        value = prop.dt
    except Exception:
        raise InvalidEventError(f"{name} is not valid: {_raw_value(prop)!r}") from None
    if isinstance(value, tuple) and kind is not timedelta:  # RDATE;VALUE=PERIOD: its start
        value = value[0]
    if not isinstance(value, kind):
        raise InvalidEventError(f"{name} is not valid: {_raw_value(prop)!r}")
    return value


def _raw_value(prop: Any) -> str:
    try:
        return prop.to_ical().decode() if hasattr(prop, "to_ical") else str(prop)
    except Exception:
        return str(prop)


def _moment(prop: Any, zones: dict[str, Timezone], name: str, tzid: str | None = None) -> Moment:
    """A date, floating, zoned or UTC datetime from a date/date-time property (see module doc)."""
    value = _get(prop, name, date)
    if not isinstance(value, datetime):
        return value
    if tzid is None:
        tzid = _param(prop, "TZID")
    return _zoned(value, tzid, zones)


def _moments(value: Any, zones: dict[str, Timezone], name: str) -> Iterator[Moment]:
    """Every date of an EXDATE/RDATE property (one or several lines), flattened in order."""
    for line in _as_list(value):
        dts = getattr(line, "dts", None)
        if dts is None:
            raise InvalidEventError(f"{name} is not valid: {_raw_value(line)!r}")
        tzid = _param(line, "TZID")
        for item in dts:
            yield _moment(item, zones, name, tzid=tzid or _param(item, "TZID"))


def _zoned(value: datetime, tzid: str | None, zones: dict[str, Timezone]) -> datetime:
    """Normalise a parsed date-time to the model's forms: floating, UTC or ZoneInfo.

    Decided from the TZID text and this document's VTIMEZONEs only (never from icalendar's
    process-wide cache of VTIMEZONEs seen in other documents): see the module docstring."""
    if not tzid:
        if value.tzinfo is None:
            return value
        return value.astimezone(UTC)
    wall = value.replace(tzinfo=None)
    zone = _named_zone(tzid)
    if zone is not None:
        return wall.replace(tzinfo=UTC) if zone.key in _UTC_KEYS else wall.replace(tzinfo=zone)
    if tzid in zones:
        return _in_custom_zone(wall, zones[tzid])
    return wall  # unknown zone, no VTIMEZONE: floating


_named_zone = zone_named
"""The IANA zone a TZID names (see ``mirrorcal.zones.zone_named``)."""


def _in_custom_zone(wall: datetime, vtimezone: Timezone) -> datetime:
    """``wall`` (naive) in the zone a VTIMEZONE defines: its IANA equivalent, else UTC."""
    zone = _custom_zone(vtimezone.to_ical(), wall.year)
    if isinstance(zone, ZoneInfo):
        return wall.replace(tzinfo=zone)
    return wall.replace(tzinfo=zone).astimezone(UTC)


@functools.lru_cache(maxsize=512)
def _custom_zone(vtimezone_ical: bytes, year: int) -> tzinfo:
    """The tzinfo of a VTIMEZONE (built from its own rules, never from a global cache),
    replaced by an IANA zone with identical offsets around ``year`` when there is one."""
    with _quiet():
        component = cast(Timezone, Timezone.from_ical(vtimezone_ical))
        custom = component.to_tz(tzp, lookup_tzid=False)
    return _iana_equivalent(custom, year) or custom


def _offset(tz: tzinfo, instant: datetime) -> timedelta | None:
    return instant.astimezone(tz).utcoffset()


def _iana_equivalent(custom: tzinfo, year: int) -> ZoneInfo | None:
    """The first IANA zone whose UTC offset equals ``custom``'s every hour around DST changes
    and every week otherwise, for three years from ``year``; None when none agrees."""
    year = max(1900, min(year, 2200))
    first = datetime(year, 1, 1, 12, tzinfo=UTC)
    weekly = [first + timedelta(days=7 * i) for i in range(157)]
    try:
        want = [_offset(custom, p) for p in weekly]
    except Exception:
        return None
    hourly = [
        weekly[i - 1] + timedelta(hours=h)
        for i in range(1, len(weekly))
        if want[i] != want[i - 1]
        for h in range(169)
    ]
    want_hourly = [_offset(custom, p) for p in hourly]
    for name in _candidate_zones():
        zone = ZoneInfo(name)
        if all(_offset(zone, p) == w for p, w in zip(weekly, want, strict=True)) and all(
            _offset(zone, p) == w for p, w in zip(hourly, want_hourly, strict=True)
        ):
            return zone
    return None


@functools.lru_cache(maxsize=1)
def _candidate_zones() -> tuple[str, ...]:
    """IANA zones to try: CLDR's representative zones first, then the rest, legacy names last."""
    available = available_timezones()
    preferred = sorted({z for z in WINDOWS_TO_OLSON.values() if z in available})
    rest = sorted(
        z for z in available if z not in preferred and not z.startswith(("posix/", "right/", "SystemV/"))
    )
    regional = [z for z in rest if "/" in z and not z.startswith("Etc/")]
    legacy = [z for z in rest if z not in regional]
    return (*preferred, *regional, *legacy)


def _add_duration(start: Moment, duration: timedelta) -> Moment:
    """DTSTART + DURATION per RFC 5545: whole days are nominal (wall clock), the rest exact.

    icalendar hands DURATION over as a ``timedelta``, so ``PT24H`` reads like ``P1D``: whole
    days are taken as nominal days either way (as recurring-ical-events does)."""
    if not isinstance(start, datetime):
        return start + timedelta(days=duration.days)
    days = timedelta(days=duration.days)
    exact = duration - days
    local = start + days
    if local.tzinfo is None or not exact:
        return local + exact
    return (local.astimezone(UTC) + exact).astimezone(local.tzinfo)


def _utc_stamp(prop: Any) -> datetime | None:
    """CREATED / LAST-MODIFIED as an aware UTC datetime; None when absent or unreadable."""
    if prop is None:
        return None
    try:
        value = prop.dt
    except Exception:
        return None
    if not isinstance(value, date):
        return None
    return as_utc(value)


def _attendee(prop: Any) -> Attendee:
    return Attendee(
        email=_email(prop),
        name=str(_param(prop, "CN") or ""),
        partstat=str(_param(prop, "PARTSTAT") or "NEEDS-ACTION").upper(),
        role=str(_param(prop, "ROLE") or "REQ-PARTICIPANT").upper(),
    )


def _email(prop: Any) -> str:
    value = str(prop).strip()
    return value[7:] if value.lower().startswith("mailto:") else value


def _rrule_text(prop: Any) -> str:
    try:
        return prop.to_ical().decode()
    except Exception:
        raise InvalidEventError(f"RRULE is not valid: {_raw_value(prop)!r}") from None


def _param(prop: Any, name: str) -> str | None:
    params = getattr(prop, "params", None)
    if not params or name not in params:
        return None
    value = params[name]
    if isinstance(value, list):
        value = value[0] if value else None
    return None if value is None else str(value)


def _uid(vevent: VEvent) -> str:
    return str(vevent.get("UID", "")).strip()


def _marker(vevents: Iterable[VEvent]) -> str | None:
    for vevent in vevents:
        if MARKER_PROPERTY in vevent:
            return str(vevent[MARKER_PROPERTY])
    return None


def _sorted_overrides(components: Iterable[Component]) -> list[Component]:
    return sorted(components, key=lambda c: as_utc(c.recurrence_id))  # type: ignore[arg-type]


def _override_key(member: tuple[VEvent, Component]) -> datetime:
    return as_utc(member[1].recurrence_id)  # type: ignore[arg-type]


def _rid_key(component: Component) -> str:
    return as_utc(component.recurrence_id).strftime("%Y%m%dT%H%M%SZ")  # type: ignore[arg-type]


def _check_unique_overrides(overrides: list[Component], label: str) -> None:
    keys = [_rid_key(c) for c in overrides]
    if len(set(keys)) != len(keys):
        raise InvalidEventError(f"event {label}: two overrides for the same RECURRENCE-ID")


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _show(moment: Moment) -> str:
    return moment.isoformat()


# --------------------------------------------------------------------------- writing


def serialize(event: Event, *, dtstamp: datetime | None = None) -> str:
    """iCalendar text for ``event``: ``event.raw`` when set, else a VCALENDAR built from it.

    The built calendar has VERSION 2.0, PRODID ``-//mirrorcal//mirrorcal//EN``, a VTIMEZONE
    for every zone used and one VEVENT per component (UID, DTSTAMP, DTSTART/DTEND with
    VALUE=DATE, TZID, floating or Z as the model says, RECURRENCE-ID, each non-empty field,
    and X-MIRRORCAL-MIRROR when ``event.marker`` is set). DTSTAMP is ``dtstamp``, else the
    component's LAST-MODIFIED, CREATED, else now. ``parse_resource`` of the result gives the
    same components back, except that trailing backslashes of an attendee's name are dropped
    (icalendar would write them unquoted and corrupt the parameters that follow). A tzinfo that
    is neither ZoneInfo nor UTC is written in UTC.
    """
    if event.raw is not None:
        return event.raw
    return _text(_build(event, dtstamp))


def _build(event: Event, dtstamp: datetime | None) -> Calendar:
    cal = Calendar()
    cal.add("PRODID", PRODID)
    cal.add("VERSION", "2.0")
    for c in event.components:
        vevent = VEvent()
        vevent.add("UID", event.uid)
        stamp = dtstamp or c.last_modified or c.created or datetime.now(UTC).replace(microsecond=0)
        vevent.add("DTSTAMP", as_utc(stamp))
        vevent.add("DTSTART", _out(c.start))
        vevent.add("DTEND", _out(c.end))
        if c.recurrence_id is not None:
            vevent.add("RECURRENCE-ID", _out(c.recurrence_id))
        for name, text in (
            ("SUMMARY", c.summary),
            ("DESCRIPTION", c.description),
            ("LOCATION", c.location),
            ("URL", c.url),
            ("CLASS", c.klass),
        ):
            if text:
                vevent.add(name, text)
        vevent.add("STATUS", c.status or "CONFIRMED")
        vevent.add("TRANSP", "TRANSPARENT" if c.transparent else "OPAQUE")
        if c.busy_status:
            vevent.add(BUSY_STATUS_PROPERTY, c.busy_status)
        if c.organizer:
            vevent.add("ORGANIZER", vCalAddress(f"mailto:{c.organizer}"))
        for a in c.attendees:
            address = vCalAddress(f"mailto:{a.email}")
            name = a.name.rstrip("\\")  # icalendar leaves CN=x\ unquoted, which then eats the next ';'
            if name:
                address.params["CN"] = name
            address.params["PARTSTAT"] = a.partstat
            address.params["ROLE"] = a.role
            vevent.add("ATTENDEE", address, encode=False)
        for rule in c.rrule:
            vevent.add("RRULE", vRecur.from_ical(rule))
        for moment in c.exdates:
            vevent.add("EXDATE", _out(moment))
        for moment in c.rdates:
            vevent.add("RDATE", _out(moment))
        if c.categories:
            vevent.add("CATEGORIES", list(c.categories))
        if c.created is not None:
            vevent.add("CREATED", as_utc(c.created))
        if c.last_modified is not None:
            vevent.add("LAST-MODIFIED", as_utc(c.last_modified))
        if event.marker is not None:
            vevent.add(MARKER_PROPERTY, event.marker)
        cal.add_component(vevent)
    years = [m.year for c in event.components for m in (c.start, c.end, *c.exdates, *c.rdates)]
    if years:  # VTIMEZONEs cover the event's years (and ten more for open series), not 1970-2038
        with _quiet():
            cal.add_missing_timezones(date(min(years), 1, 1), date(max(years) + 10, 1, 1))
    return cal


def _out(moment: Moment) -> Moment:
    """A moment as icalendar should write it: ZoneInfo kept (TZID), UTC as Z, others in UTC."""
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        return moment
    tz = moment.tzinfo
    if isinstance(tz, ZoneInfo) and tz.key not in _UTC_KEYS:
        return moment
    return moment.astimezone(UTC)


def _text(cal: Calendar) -> str:
    return cal.to_ical().decode("utf-8")


# --------------------------------------------------------------------------- hashing and copying


def content_hash(event: Event) -> str:
    """Hex SHA-256 of ``event``'s meaning: of ``raw`` when set, else of its components.

    Normalised through icalendar so it ignores DTSTAMP, LAST-MODIFIED, CREATED, SEQUENCE,
    the UID (so a feed that regenerates UIDs can be keyed by content), PRODID/VERSION/
    CALSCALE/METHOD, VTIMEZONEs of IANA or Windows zones (the TZID says it all), the order of
    properties, parameters and components, line folding and line endings. Any other change
    changes it: timing and zones, custom VTIMEZONE rules, text, attendees and their PARTSTAT,
    status, transparency, class, recurrence, X- properties, alarms.
    """
    if event.raw is not None:
        try:
            with _quiet():
                roots = Calendar.from_ical(event.raw, multiple=True)
        except Exception:
            roots = []
        if roots:
            form = "\n".join(sorted(_normal(root, top=True) for root in roots))
        else:  # unreadable raw: its text, line endings and folding aside
            form = "RAW\n" + event.raw.replace("\r\n", "\n").replace("\n ", "").replace("\n\t", "")
    else:
        form = _normal(_build(event, _FIXED_DTSTAMP), top=True)
    return hashlib.sha256(form.encode("utf-8")).hexdigest()


def _normal(component: icalendar.cal.component.Component, *, top: bool = False) -> str:
    """A canonical text of one component: sorted properties with sorted parameters, then
    sorted subcomponents; volatile properties left out."""
    lines: list[str] = []
    for name, value in component.items():
        name = name.upper()
        if name in _HASH_IGNORED or (top and name in _HASH_IGNORED_CALENDAR):
            continue
        for item in _as_list(value):
            params = getattr(item, "params", None)
            param_text = (
                ";".join(
                    f"{k.upper()}={v if not isinstance(v, list) else ','.join(map(str, v))}"
                    for k, v in sorted(params.items(), key=lambda kv: kv[0].upper())
                )
                if params
                else ""
            )
            try:
                value_text = item.to_ical()
                value_text = value_text.decode("utf-8") if isinstance(value_text, bytes) else str(value_text)
            except Exception:
                value_text = str(item)
            lines.append(f"{name};{param_text}:{value_text}")
    lines.sort()
    subs = sorted(
        _normal(sub) for sub in component.subcomponents if not (sub.name == "VTIMEZONE" and _known_tzid(sub))
    )
    return "\n".join([f"BEGIN:{component.name}", *lines, *subs, f"END:{component.name}"])


def _known_tzid(vtimezone: Any) -> bool:
    """True when the VTIMEZONE's TZID names an IANA or Windows zone (its text adds nothing)."""
    return _named_zone(str(vtimezone.get("TZID", ""))) is not None


def full_copy(event: Event, *, uid: str, marker: str) -> Event:
    """A full-detail mirror of ``event``: same components, ``uid`` and ``marker`` set.

    When ``event.raw`` is set, the new raw is it with: the UID of every VEVENT replaced,
    X-MIRRORCAL-MIRROR set to ``marker`` (replacing any existing one), SCHEDULE-AGENT=CLIENT on
    every ORGANIZER and ATTENDEE (so a scheduling server sends no invitations) and METHOD
    removed; everything else (VTIMEZONEs, X- properties, alarms, SEQUENCE) is kept. When
    ``event.raw`` is None the copy's raw stays None (``serialize`` builds it).
    Raises InvalidEventError when ``event.raw`` is not iCalendar.
    """
    if event.raw is None:
        return replace(event, uid=uid, marker=marker, raw=None)
    cal = _load(event.raw)
    cal.pop("METHOD", None)
    for vevent in cal.walk("VEVENT"):
        vevent.pop("UID", None)
        vevent.add("UID", uid)
        vevent.pop(MARKER_PROPERTY, None)
        vevent.add(MARKER_PROPERTY, marker)
        for name in ("ORGANIZER", "ATTENDEE"):
            for address in _as_list(vevent.get(name)):
                if hasattr(address, "params"):
                    address.params["SCHEDULE-AGENT"] = "CLIENT"
    return replace(event, uid=uid, marker=marker, raw=_text(cal))


def with_show_as(event: Event, show_as: str) -> Event:
    """``event`` as a mirror showing as ``show_as`` ("busy", "free", "tentative", "oof"; "original"
    leaves it as it is): every component (cancelled ones too) gets TRANSP (TRANSPARENT for
    "free" only) and X-MICROSOFT-CDO-BUSYSTATUS (none for "busy"), in the model and, when
    set, in ``event.raw``. Raises InvalidEventError when ``event.raw`` is not iCalendar."""
    if show_as == "original":
        return event
    status, free = SHOW_AS_STATUS[show_as], show_as == "free"
    components = tuple(replace(c, transparent=free, busy_status=status) for c in event.components)
    if event.raw is None:
        return replace(event, components=components)
    cal = _load(event.raw)
    for vevent in cal.walk("VEVENT"):
        vevent.pop("TRANSP", None)
        vevent.add("TRANSP", "TRANSPARENT" if free else "OPAQUE")
        vevent.pop(BUSY_STATUS_PROPERTY, None)
        if status:
            vevent.add(BUSY_STATUS_PROPERTY, status)
    return replace(event, components=components, raw=_text(cal))


def occurrences_calendar(event: Event) -> Calendar:
    """A parsed VCALENDAR of ``event``'s components (zones as the model resolved them), ready
    for ``recurring_ical_events.of(...)``. Built from the components, not from ``raw``, so a
    custom or unknown TZID expands exactly as mirrorcal reads it."""
    return _build(replace(event, raw=None), _FIXED_DTSTAMP)


class _quiet(warnings.catch_warnings):
    """Silence icalendar's advisory warnings (e.g. a guessed globally unique TZID) while parsing."""

    def __enter__(self) -> None:
        super().__enter__()
        warnings.simplefilter("ignore")
