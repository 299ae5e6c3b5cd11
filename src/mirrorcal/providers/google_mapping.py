"""Google Calendar API v3 event JSON <-> the canonical Event: pure functions, no I/O.

One ``Event`` is one series (the master resource plus its exception instances) or one single
event. What Google keeps and what it loses (``kept`` computes the difference exactly):

* Kept: times (``{date}``, or ``{dateTime, timeZone}`` with an IANA zone; UTC as ``"UTC"``),
  RRULE / EXDATE / RDATE lines, exceptions (``originalStartTime`` = recurrence id),
  summary, description, location, status, transparency, visibility (CLASS), attendees
  (e-mail, name, responseStatus, optional), organizer, the iCalendar UID (``iCalUID``),
  the mirror marker (``extendedProperties.private[MARKER_KEY]``) and an http(s) URL
  (``source.url``).
* Lost: categories, the busy status beyond free/busy (a sync's ``show_as`` "tentative" or
  "oof" shows as opaque, i.e. busy: Google has no such transparency), non-http URLs, attendee roles other than OPT-PARTICIPANT (-> REQ),
  PARTSTATs Google has no word for (-> NEEDS-ACTION), CREATED / LAST-MODIFIED (Google sets
  its own, which are not read back), statuses other than tentative/cancelled (-> CONFIRMED).
  Floating times: Google needs a zone, so they are written as wall-clock times in the
  calendar's zone and come back as aware times in that zone.
* An exception instance identical to what the master would produce there is not an override
  (that is how an adapter "resets" one); a cancelled instance that carries its own start is a
  ``STATUS:CANCELLED`` override, a bare one (only ``originalStartTime``, as Google keeps a
  deleted instance) becomes an EXDATE of the master. The calendar itself as organizer
  (``organizer.self``) is implicit and read as no organizer.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar.parser import Contentline
from icalendar.prop import vDDDLists, vRecur

from ..errors import InvalidEventError
from ..model import Attendee, Component, Event, Moment, as_utc, parse_stamp

MARKER_KEY = "mirrorcalMirror"
"""The ``extendedProperties.private`` key holding a mirror's opaque id."""

_EVENT_ID = re.compile(r"[a-v0-9]{5,1024}")
_UTC_NAMES = frozenset(
    {"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu", "GMT"}
)
_STATUS_IN = {"confirmed": "CONFIRMED", "tentative": "TENTATIVE", "cancelled": "CANCELLED"}
_VISIBILITY_IN = {"public": "PUBLIC", "private": "PRIVATE", "confidential": "CONFIDENTIAL"}
_PARTSTAT_IN = {
    "needsAction": "NEEDS-ACTION",
    "accepted": "ACCEPTED",
    "declined": "DECLINED",
    "tentative": "TENTATIVE",
}
_PARTSTAT_OUT = {v: k for k, v in _PARTSTAT_IN.items()}
_OPTIONAL = "OPT-PARTICIPANT"
_REQUIRED = "REQ-PARTICIPANT"

Resource = dict[str, Any]


# --------------------------------------------------------------------------- ids


def is_event_id(text: str) -> bool:
    """True when ``text`` is a valid client-chosen Google event id (base32hex a-v0-9, 5-1024 chars)."""
    return bool(_EVENT_ID.fullmatch(text))


def event_id_for(uid: str) -> str:
    """The Google event id for an iCalendar UID: the UID itself when valid, else a stable base32hex hash."""
    if is_event_id(uid):
        return uid
    digest = hashlib.blake2b(uid.encode("utf-8"), digest_size=20).digest()
    return base64.b32hexencode(digest).decode().rstrip("=").lower()


def instance_id(master_id: str, recurrence_id: Moment, zone: ZoneInfo) -> str:
    """The id Google gives an instance: ``{master}_{YYYYMMDDTHHMMSSZ}`` or ``{master}_{YYYYMMDD}``."""
    if not isinstance(recurrence_id, datetime):
        return f"{master_id}_{recurrence_id.strftime('%Y%m%d')}"
    return f"{master_id}_{as_utc(_aware(recurrence_id, zone)).strftime('%Y%m%dT%H%M%SZ')}"


# --------------------------------------------------------------------------- moments


def zone_named(name: str) -> ZoneInfo | None:
    """The IANA zone called ``name`` (None for UTC names); InvalidEventError when unknown."""
    if name in _UTC_NAMES:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidEventError(f"unknown time zone {name!r}") from None


def parse_moment(value: object, what: str, zone: ZoneInfo | None = None) -> Moment:
    """A ``{date}`` / ``{dateTime, timeZone}`` object as a Moment; ``zone`` (the calendar's) is
    used when neither an offset nor ``timeZone`` says where. Raises InvalidEventError."""
    if not isinstance(value, Mapping):
        raise InvalidEventError(f"{what} is missing")
    try:
        if value.get("date"):
            return date.fromisoformat(str(value["date"]))
        if not value.get("dateTime"):
            raise InvalidEventError(f"{what} has neither date nor dateTime")
        moment = datetime.fromisoformat(str(value["dateTime"]))
    except ValueError:
        raise InvalidEventError(f"{what} is not a valid date or time: {dict(value)!r}") from None
    name = value.get("timeZone")
    tz = zone_named(str(name)) if name else zone
    if moment.tzinfo is None:
        return moment.replace(tzinfo=tz or UTC)
    return moment.astimezone(tz) if tz is not None else moment.astimezone(UTC)


def format_moment(moment: Moment, zone: ZoneInfo) -> dict[str, str]:
    """A Moment as Google writes it; floating times are put in ``zone`` (the calendar's)."""
    if not isinstance(moment, datetime):
        return {"date": moment.isoformat()}
    moment = _aware(moment, zone)
    tz = moment.tzinfo
    if isinstance(tz, ZoneInfo) and tz.key not in _UTC_NAMES:
        return {"dateTime": moment.isoformat(), "timeZone": tz.key}
    return {"dateTime": moment.astimezone(UTC).isoformat().replace("+00:00", "Z"), "timeZone": "UTC"}


def _aware(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


def _normal_zone(moment: Moment) -> Moment:
    """ZoneInfo('UTC') and friends as ``datetime.UTC``, as the model wants."""
    if (
        isinstance(moment, datetime)
        and isinstance(moment.tzinfo, ZoneInfo)
        and moment.tzinfo.key in _UTC_NAMES
    ):
        return moment.replace(tzinfo=UTC)
    return moment


# --------------------------------------------------------------------------- recurrence lines


def parse_recurrence(
    lines: Iterable[object],
) -> tuple[tuple[str, ...], tuple[Moment, ...], tuple[Moment, ...]]:
    """``recurrence[]`` as (rrules, exdates, rdates); EXRULE is ignored. Raises InvalidEventError."""
    rrules: list[str] = []
    exdates: list[Moment] = []
    rdates: list[Moment] = []
    for line in lines:
        try:
            name, params, value = Contentline(str(line)).parts()
            name = name.upper()
            if name == "RRULE":
                rrules.append(vRecur.from_ical(value).to_ical().decode())
            elif name in ("EXDATE", "RDATE"):
                tzid = params.get("TZID")
                if tzid:
                    zone_named(str(tzid))  # an unknown zone is an error, not a floating time
                moments = vDDDLists.from_ical(value, timezone=tzid)
                (exdates if name == "EXDATE" else rdates).extend(_normal_zone(m) for m in moments)
        except InvalidEventError:
            raise
        except Exception:
            raise InvalidEventError(f"recurrence line is not valid: {line!r}") from None
    return tuple(rrules), tuple(exdates), tuple(rdates)


def format_recurrence(component: Component, zone: ZoneInfo) -> list[str]:
    """The ``recurrence[]`` lines of a master: RRULE, then one EXDATE / RDATE line per moment."""
    lines = [f"RRULE:{rule}" for rule in component.rrule]
    for name, moments in (("EXDATE", component.exdates), ("RDATE", component.rdates)):
        lines.extend(f"{name}{_moment_line(m, zone)}" for m in moments)
    return lines


def _moment_line(moment: Moment, zone: ZoneInfo) -> str:
    if not isinstance(moment, datetime):
        return f";VALUE=DATE:{moment.strftime('%Y%m%d')}"
    moment = _aware(moment, zone)
    tz = moment.tzinfo
    if isinstance(tz, ZoneInfo) and tz.key not in _UTC_NAMES:
        return f";TZID={tz.key}:{moment.strftime('%Y%m%dT%H%M%S')}"
    return f":{moment.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"


# --------------------------------------------------------------------------- reading


def component_from(resource: Mapping[str, Any], zone: ZoneInfo | None = None) -> Component:
    """One Google event resource (single, master or exception instance) as a Component.

    Raises InvalidEventError naming the problem (missing or unreadable start/end, end before
    start, date mixed with dateTime, a bad recurrence line, an unknown time zone).
    """
    start = parse_moment(resource.get("start"), "start", zone)
    end = parse_moment(resource.get("end"), "end", zone)
    if isinstance(start, datetime) != isinstance(end, datetime):
        raise InvalidEventError("start and end mix a date with a dateTime")
    if (as_utc(end) if isinstance(end, datetime) else end) < (
        as_utc(start) if isinstance(start, datetime) else start
    ):  # type: ignore[operator]
        raise InvalidEventError(f"end {end.isoformat()} is before start {start.isoformat()}")
    rrules, exdates, rdates = parse_recurrence(resource.get("recurrence") or ())
    original = resource.get("originalStartTime")
    organizer = resource.get("organizer") or {}
    source = resource.get("source") or {}
    return Component(
        start=_normal_zone(start),
        end=_normal_zone(end),
        recurrence_id=_normal_zone(parse_moment(original, "originalStartTime", zone)) if original else None,
        summary=str(resource.get("summary") or ""),
        description=str(resource.get("description") or ""),
        location=str(resource.get("location") or ""),
        url=str(source.get("url") or "") if isinstance(source, Mapping) else "",
        status=_STATUS_IN.get(str(resource.get("status") or "confirmed"), "CONFIRMED"),
        transparent=resource.get("transparency") == "transparent",
        klass=_VISIBILITY_IN.get(str(resource.get("visibility") or "default"), ""),
        organizer=""
        if not isinstance(organizer, Mapping) or organizer.get("self")
        else str(organizer.get("email") or ""),
        attendees=tuple(
            _attendee(a) for a in resource.get("attendees") or () if isinstance(a, Mapping) and a.get("email")
        ),
        rrule=rrules,
        exdates=exdates,
        rdates=rdates,
        created=parse_stamp(resource.get("created")),
        last_modified=parse_stamp(resource.get("updated")),
    )


def _attendee(data: Mapping[str, Any]) -> Attendee:
    return Attendee(
        email=str(data["email"]),
        name=str(data.get("displayName") or ""),
        partstat=_PARTSTAT_IN.get(str(data.get("responseStatus") or "needsAction"), "NEEDS-ACTION"),
        role=_OPTIONAL if data.get("optional") else _REQUIRED,
    )


def marker_of(resource: Mapping[str, Any]) -> str | None:
    """The mirror marker stored in ``extendedProperties.private``, None when absent."""
    private = (resource.get("extendedProperties") or {}).get("private") or {}
    value = private.get(MARKER_KEY) if isinstance(private, Mapping) else None
    return str(value) if value is not None else None


def is_bare_cancellation(resource: Mapping[str, Any]) -> bool:
    """A cancelled instance without times of its own (how Google keeps a deleted instance)."""
    return resource.get("status") == "cancelled" and not resource.get("start")


def event_from(
    master: Mapping[str, Any] | None, exceptions: Iterable[Mapping[str, Any]], zone: ZoneInfo | None = None
) -> Event | None:
    """The Event of one series: ``master`` (None for orphan instances) and its exception instances.

    Returns None when nothing remains to show (orphan instances that are all cancelled).
    Raises InvalidEventError naming the resource and the problem.
    """
    head: Component | None = None
    if master is not None:
        head = _read(master, zone)
    overrides: dict[str, Component] = {}
    extra_exdates: list[Moment] = []
    for resource in exceptions:
        if is_bare_cancellation(resource):
            if head is not None and resource.get("originalStartTime"):
                rid = _normal_zone(_read_moment(resource, zone))
                if all(as_utc(rid) != as_utc(x) for x in (*head.exdates, *extra_exdates)):
                    extra_exdates.append(rid)
            continue
        component = _read(resource, zone)
        if component.recurrence_id is None:
            raise InvalidEventError(f"instance {resource.get('id')!r} has no originalStartTime")
        if head is not None and component == pattern_instance(head, component.recurrence_id):
            continue
        overrides[as_utc(component.recurrence_id).isoformat()] = component
    ordered = [overrides[key] for key in sorted(overrides)]
    first = master if master is not None else next(iter(exceptions), None)
    if head is not None:
        if extra_exdates:
            head = replace(head, exdates=head.exdates + tuple(sorted(extra_exdates, key=as_utc)))
        components = (head, *ordered)
    elif ordered:
        components = tuple(ordered)
    else:
        return None
    assert first is not None
    uid = str(first.get("iCalUID") or f"{first.get('recurringEventId') or first.get('id')}@google.com")
    return Event(uid=uid, components=components, marker=marker_of(first))


def _read(resource: Mapping[str, Any], zone: ZoneInfo | None) -> Component:
    try:
        return component_from(resource, zone)
    except InvalidEventError as exc:
        raise InvalidEventError(f"event {resource.get('id')!r}: {exc}") from None


def _read_moment(resource: Mapping[str, Any], zone: ZoneInfo | None) -> Moment:
    try:
        return parse_moment(resource.get("originalStartTime"), "originalStartTime", zone)
    except InvalidEventError as exc:
        raise InvalidEventError(f"event {resource.get('id')!r}: {exc}") from None


def pattern_instance(master: Component, recurrence_id: Moment) -> Component:
    """The instance ``master`` produces at ``recurrence_id`` (what an un-modified exception holds)."""
    end = recurrence_id + (master.end - master.start)  # type: ignore[operator]
    return replace(
        master, start=recurrence_id, end=end, recurrence_id=recurrence_id, rrule=(), exdates=(), rdates=()
    )


# --------------------------------------------------------------------------- writing


def resource_body(component: Component, *, uid: str, marker: str | None, zone: ZoneInfo) -> Resource:
    """The JSON body (without ``id``) Google should hold for one component of an event."""
    body: Resource = {
        "iCalUID": uid,
        "start": format_moment(component.start, zone),
        "end": format_moment(component.end, zone),
        "status": {"TENTATIVE": "tentative", "CANCELLED": "cancelled"}.get(
            component.status.upper(), "confirmed"
        ),
        "transparency": "transparent" if component.transparent else "opaque",
        "visibility": {"PUBLIC": "public", "PRIVATE": "private", "CONFIDENTIAL": "confidential"}.get(
            component.klass.upper(), "default"
        ),
        "summary": component.summary,
    }
    if component.description:
        body["description"] = component.description
    if component.location:
        body["location"] = component.location
    if component.url.lower().startswith(("http://", "https://")):
        body["source"] = {"title": component.url, "url": component.url}
    if component.organizer:
        body["organizer"] = {"email": component.organizer}
    if component.attendees:
        body["attendees"] = [_attendee_out(a) for a in component.attendees]
    if component.rrule or component.exdates or component.rdates:
        body["recurrence"] = format_recurrence(component, zone)
    if marker is not None:
        body["extendedProperties"] = {"private": {MARKER_KEY: marker}}
    return body


def _attendee_out(attendee: Attendee) -> dict[str, Any]:
    out: dict[str, Any] = {
        "email": attendee.email,
        "responseStatus": _PARTSTAT_OUT.get(attendee.partstat.upper(), "needsAction"),
    }
    if attendee.name:
        out["displayName"] = attendee.name
    if attendee.role.upper() == _OPTIONAL:
        out["optional"] = True
    return out


def master_body(event: Event, event_id: str, zone: ZoneInfo) -> Resource:
    """The insert/update body of ``event``'s master (or single event), with ``id``.

    Raises InvalidEventError for an event without a master (orphan overrides): Google cannot
    hold an exception without its series."""
    if event.master.recurrence_id is not None:
        raise InvalidEventError(f"event {event.uid!r}: Google cannot hold overrides without their series")
    return {"id": event_id, **resource_body(event.master, uid=event.uid, marker=event.marker, zone=zone)}


def override_bodies(event: Event, event_id: str, zone: ZoneInfo) -> dict[str, Resource]:
    """Instance id -> PUT body for every override of ``event``."""
    bodies: dict[str, Resource] = {}
    for component in event.overrides:
        assert component.recurrence_id is not None
        iid = instance_id(event_id, component.recurrence_id, zone)
        bodies[iid] = {
            "id": iid,
            "recurringEventId": event_id,
            "originalStartTime": format_moment(component.recurrence_id, zone),
            **resource_body(component, uid=event.uid, marker=event.marker, zone=zone),
        }
    return bodies


def reset_body(event: Event, event_id: str, original: Mapping[str, Any], zone: ZoneInfo) -> Resource:
    """The PUT body restoring the instance at ``original`` (its originalStartTime) to the master's pattern."""
    rid = parse_moment(original, "originalStartTime", zone)
    iid = instance_id(event_id, rid, zone)
    body = resource_body(pattern_instance(event.master, rid), uid=event.uid, marker=event.marker, zone=zone)
    return {"id": iid, "recurringEventId": event_id, "originalStartTime": dict(original), **body}


def kept(event: Event, zone: ZoneInfo) -> Event:
    """What Google keeps of ``event``: ``event_from(bodies)`` equals this (see the module docstring)."""

    def moment(m: Moment) -> Moment:
        return _normal_zone(_aware(m, zone)) if isinstance(m, datetime) else m

    def one(c: Component) -> Component:
        return replace(
            c,
            start=moment(c.start),
            end=moment(c.end),
            recurrence_id=moment(c.recurrence_id) if c.recurrence_id is not None else None,
            url=c.url if c.url.lower().startswith(("http://", "https://")) else "",
            status=c.status.upper() if c.status.upper() in ("TENTATIVE", "CANCELLED") else "CONFIRMED",
            klass=c.klass.upper() if c.klass.upper() in _VISIBILITY_IN.values() else "",
            attendees=tuple(
                replace(
                    a,
                    partstat=a.partstat.upper() if a.partstat.upper() in _PARTSTAT_OUT else "NEEDS-ACTION",
                    role=_OPTIONAL if a.role.upper() == _OPTIONAL else _REQUIRED,
                )
                for a in c.attendees
            ),
            exdates=tuple(moment(x) for x in c.exdates),
            rdates=tuple(moment(x) for x in c.rdates),
            categories=(),
            created=None,
            last_modified=None,
            busy_status="",
        )

    components = [one(c) for c in event.components]
    if components[0].recurrence_id is None:
        head = components[0]
        components = [head] + [c for c in components[1:] if c != pattern_instance(head, c.recurrence_id)]  # type: ignore[arg-type]
    return replace(event, components=tuple(components), raw=None)


def split_etag(etag: str) -> str:
    """The master's own etag inside an item etag built by ``item_etag``."""
    return etag.split("~", 1)[0]


def item_etag(master: Mapping[str, Any] | None, exceptions: Iterable[Mapping[str, Any]]) -> str:
    """The etag of a series item: the master's etag, plus a digest of its exceptions' etags."""
    head = str((master or {}).get("etag") or '""')
    others = sorted(f"{r.get('id')}={r.get('etag')}" for r in exceptions)
    if not others:
        return head
    return f"{head}~{hashlib.sha256('|'.join(others).encode()).hexdigest()[:16]}"
