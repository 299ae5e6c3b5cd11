"""Microsoft Graph event JSON <-> canonical ``Event``: pure functions, no I/O.

What Graph keeps of an Event (``kept`` computes it, the contract suite compares with it):

* Times: ``{dateTime, timeZone}`` with IANA or Windows names. Read back in the zone named by
  ``originalStartTimeZone``/``originalEndTimeZone`` (or the series' ``recurrenceTimeZone``);
  ``tzone://Microsoft/Custom`` and unknown names keep the exact instant in UTC. Floating
  times are written in ``floating_zone`` (UTC unless the calendar says otherwise).
  ``isAllDay`` <-> dates.
* showAs ``free`` <-> ``TRANSP:TRANSPARENT``; ``tentative`` <-> ``STATUS:TENTATIVE``; ``oof``
  <-> busy status OOF; busy otherwise. A component's busy status (X-MICROSOFT-CDO-BUSYSTATUS,
  a sync's ``show_as``) decides showAs when set: FREE, TENTATIVE, BUSY, OOF. sensitivity ``private``/``personal`` <-> ``CLASS:PRIVATE``, ``confidential`` <->
  ``CONFIDENTIAL``, ``normal`` <-> no class. ``isCancelled`` reads as ``STATUS:CANCELLED``.
* body (text) <-> description (html bodies are read as text), location.displayName,
  categories, attendees (type <-> role, status.response <-> partstat), organizer (only
  meetings, i.e. events with attendees, have one).
* Our UID, the mirror marker and the URL live in single-value extended properties
  (``UID_ID``, ``MARKER_ID``, ``URL_ID``): Graph's own ``iCalUId`` is server-generated.
* Series: the master carries the recurrence (see ``graph_recurrence``); exceptions become
  overrides (recurrence id = ``originalStart``); occurrences that are missing or cancelled
  become EXDATEs (only inside the window that was read); an exception identical to the
  occurrence it replaces is no override. Cancelled overrides are written as deleted
  occurrences and so come back as EXDATEs. RDATE cannot be written.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from ..errors import InvalidEventError
from ..model import Attendee, Component, Event, Moment, as_utc, moment_key, parse_stamp
from ..zones import UTC_KEYS, zone_named
from .graph_recurrence import occurrence_starts, recurrence_to_rrule, rrule_to_recurrence

GUID = "{8d3c1a52-6e0f-4b47-9a21-5c7e3f9b0d14}"
MARKER_ID = f"String {GUID} Name mirrorcalMirror"
UID_ID = f"String {GUID} Name mirrorcalUid"
URL_ID = f"String {GUID} Name mirrorcalUrl"
EXTENDED_IDS = (MARKER_ID, UID_ID, URL_ID)
EXPAND = "singleValueExtendedProperties($filter=" + " or ".join(f"id eq '{i}'" for i in EXTENDED_IDS) + ")"
"""The ``$expand`` that makes a GET return our extended properties (delta never does)."""

_PARTSTAT = {
    "accepted": "ACCEPTED",
    "declined": "DECLINED",
    "tentativelyaccepted": "TENTATIVE",
    "organizer": "ACCEPTED",
}
_RESPONSE = {"ACCEPTED": "accepted", "DECLINED": "declined", "TENTATIVE": "tentativelyAccepted"}
_ROLE = {"required": "REQ-PARTICIPANT", "optional": "OPT-PARTICIPANT", "resource": "NON-PARTICIPANT"}
_GRAPH_SHOW_AS = {"FREE": "free", "TENTATIVE": "tentative", "BUSY": "busy", "OOF": "oof"}
"""A component's busy status as Graph's showAs (a cancelled one shows as free)."""
_TYPE = {
    "REQ-PARTICIPANT": "required",
    "CHAIR": "required",
    "OPT-PARTICIPANT": "optional",
    "NON-PARTICIPANT": "resource",
}
_TAGS = re.compile(r"<[^>]+>")
_BREAKS = re.compile(r"<br\s*/?>|</p>|</div>", re.IGNORECASE)


# --------------------------------------------------------------------------- times


def format_wall(moment: datetime) -> str:
    """Graph's wall-clock form: ``2016-12-09T20:30:00.0000000``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0"


def parse_wall(text: str) -> datetime:
    """A naive datetime from Graph's ``dateTime`` (up to 7 fractional digits; a Z or offset is
    dropped after converting to UTC). Raises ValueError."""
    text = text.strip()
    if text.endswith("Z") or re.search(r"[+-]\d\d:\d\d$", text):
        aware = datetime.fromisoformat(_trim_fraction(text.replace("Z", "+00:00")))
        return aware.astimezone(UTC).replace(tzinfo=None)
    return datetime.fromisoformat(_trim_fraction(text))


def _trim_fraction(text: str) -> str:
    return re.sub(r"\.(\d{6})\d+", r".\1", text)


def graph_time(moment: Moment, floating_zone: str = "UTC") -> dict[str, str]:
    """``{dateTime, timeZone}`` for a model moment: ZoneInfo keeps its IANA key, UTC is "UTC",
    floating times and dates are in ``floating_zone``, other tzinfos are converted to UTC."""
    if not isinstance(moment, datetime):
        return {"dateTime": format_wall(datetime.combine(moment, time())), "timeZone": floating_zone}
    if moment.tzinfo is None:
        return {"dateTime": format_wall(moment), "timeZone": floating_zone}
    if isinstance(moment.tzinfo, ZoneInfo) and moment.tzinfo.key not in UTC_KEYS:
        return {"dateTime": format_wall(moment.replace(tzinfo=None)), "timeZone": moment.tzinfo.key}
    return {"dateTime": format_wall(moment.astimezone(UTC).replace(tzinfo=None)), "timeZone": "UTC"}


def zone_for(name: str | None) -> tzinfo | None:
    """The tzinfo a Graph zone name stands for: ``datetime.UTC`` for UTC, a ZoneInfo, or None."""
    zone = zone_named(name) if name else None
    if zone is None:
        return None
    return UTC if zone.key in UTC_KEYS else zone


def read_time(obj: Any, what: str) -> datetime:
    """The aware instant of a Graph ``{dateTime, timeZone}``; InvalidEventError when unreadable."""
    if not isinstance(obj, dict) or not isinstance(obj.get("dateTime"), str):
        raise InvalidEventError(f"{what} is missing or not a {{dateTime, timeZone}} object: {obj!r}")
    zone = zone_for(obj.get("timeZone") or "UTC")
    if zone is None:
        raise InvalidEventError(f"{what} has an unknown time zone {obj.get('timeZone')!r}")
    try:
        return parse_wall(obj["dateTime"]).replace(tzinfo=zone)
    except ValueError as exc:
        raise InvalidEventError(f"{what} dateTime {obj['dateTime']!r} is not valid: {exc}") from exc


def _in_zone(instant: datetime, zone: tzinfo | None) -> datetime:
    return instant.astimezone(zone or UTC)


# --------------------------------------------------------------------------- reading


def extended(obj: dict[str, Any]) -> dict[str, str]:
    """The single-value extended properties an event came with (only with ``$expand``)."""
    found: dict[str, str] = {}
    for prop in obj.get("singleValueExtendedProperties") or []:
        if isinstance(prop, dict) and isinstance(prop.get("id"), str):
            found[prop["id"].lower()] = str(prop.get("value") or "")
    return found


def _ext(obj: dict[str, Any], prop_id: str) -> str:
    return extended(obj).get(prop_id.lower(), "")


def _body_text(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    content = str(body.get("content") or "")
    if str(body.get("contentType") or "text").lower() == "html":
        content = html.unescape(_TAGS.sub("", _BREAKS.sub("\n", content))).strip()
    return content


def _attendees(obj: dict[str, Any]) -> tuple[Attendee, ...]:
    found: list[Attendee] = []
    for a in obj.get("attendees") or []:
        email = (a.get("emailAddress") or {}).get("address") or ""
        if not email:
            continue
        response = str((a.get("status") or {}).get("response") or "none").lower()
        found.append(
            Attendee(
                email=email,
                name=(a.get("emailAddress") or {}).get("name") or "",
                partstat=_PARTSTAT.get(response, "NEEDS-ACTION"),
                role=_ROLE.get(str(a.get("type") or "required").lower(), "REQ-PARTICIPANT"),
            )
        )
    return tuple(found)


def component_from_graph(obj: dict[str, Any], *, zone_hint: str | None = None) -> Component:
    """One Component from a Graph event (no recurrence, no recurrence id: callers add those).

    Raises ``InvalidEventError`` naming the problem (missing or unreadable start/end, end
    before start, unknown zone)."""
    if not isinstance(obj, dict):
        raise InvalidEventError(f"an event must be a JSON object, not {type(obj).__name__}")
    start_at, end_at = read_time(obj.get("start"), "start"), read_time(obj.get("end"), "end")
    start: Moment
    end: Moment
    if obj.get("isAllDay"):
        start, end = start_at.date(), end_at.date()
        if end <= start:
            end = start + timedelta(days=1) if end == start else end
    else:
        start_zone = zone_for(obj.get("originalStartTimeZone")) or zone_for(zone_hint)
        end_zone = zone_for(obj.get("originalEndTimeZone")) or start_zone
        start, end = _in_zone(start_at, start_zone), _in_zone(end_at, end_zone)
    if as_utc(end) < as_utc(start):
        raise InvalidEventError(f"end {end.isoformat()} is before start {start.isoformat()}")
    attendees = _attendees(obj)
    show_as = str(obj.get("showAs") or "busy").lower()
    sensitivity = str(obj.get("sensitivity") or "normal").lower()
    status = (
        "CANCELLED" if obj.get("isCancelled") else ("TENTATIVE" if show_as == "tentative" else "CONFIRMED")
    )
    organizer = ((obj.get("organizer") or {}).get("emailAddress") or {}).get("address") or ""
    return Component(
        start=start,
        end=end,
        summary=str(obj.get("subject") or ""),
        description=_body_text(obj.get("body")),
        location=str((obj.get("location") or {}).get("displayName") or ""),
        url=_ext(obj, URL_ID),
        status=status,
        transparent=show_as == "free",
        klass={"private": "PRIVATE", "personal": "PRIVATE", "confidential": "CONFIDENTIAL"}.get(
            sensitivity, ""
        ),
        organizer=organizer if attendees else "",
        attendees=attendees,
        categories=tuple(str(c) for c in obj.get("categories") or []),
        busy_status="OOF" if show_as == "oof" else "",
        created=parse_stamp(obj.get("createdDateTime")),
        last_modified=parse_stamp(obj.get("lastModifiedDateTime")),
    )


def original_start(obj: dict[str, Any], like: Moment, zone: tzinfo | None) -> Moment:
    text = obj.get("originalStart")
    if not isinstance(text, str):
        raise InvalidEventError(f"occurrence {obj.get('id')!r} has no originalStart")
    try:
        instant = parse_wall(text).replace(tzinfo=UTC)
    except ValueError as exc:
        raise InvalidEventError(f"originalStart {text!r} is not valid: {exc}") from exc
    if not isinstance(like, datetime):
        return instant.astimezone(zone or UTC).date()
    return instant.astimezone(like.tzinfo or UTC)


def event_from_graph(
    master: dict[str, Any],
    instances: Sequence[dict[str, Any]] = (),
    *,
    checked: tuple[datetime, datetime] | None = None,
) -> Event:
    """The Event of a single event or a series master with its ``instances`` (occurrences and
    exceptions as Graph lists them). Occurrences of the master's rule starting inside
    ``checked`` (UTC bounds) that are not among the instances become EXDATEs. Raises
    ``InvalidEventError``."""
    recurrence = master.get("recurrence")
    zone_hint = (
        (recurrence or {}).get("range", {}).get("recurrenceTimeZone")
        if isinstance(recurrence, dict)
        else None
    )
    head = component_from_graph(master, zone_hint=zone_hint)
    uid = _ext(master, UID_ID) or str(master.get("iCalUId") or master.get("id") or "")
    marker = _ext(master, MARKER_ID) or None
    if not uid:
        raise InvalidEventError("the event has neither an id nor an iCalUId")
    if not recurrence:
        return Event(uid, (head,), marker=marker)
    rule = recurrence_to_rrule(recurrence, head.start)
    series_zone = zone_for(zone_hint) or zone_for(master.get("originalStartTimeZone"))
    overrides: dict[str, Component] = {}
    exdates: dict[str, Moment] = {}
    seen: set[str] = set()
    duration = span(head)
    for obj in instances:
        if obj.get("type") not in ("occurrence", "exception"):
            continue
        rid = original_start(obj, head.start, series_zone)
        key = moment_key(rid)
        seen.add(key)
        if obj.get("isCancelled"):
            exdates[key] = rid
            continue
        if obj.get("type") != "exception":
            continue
        override = replace(component_from_graph(obj, zone_hint=zone_hint), recurrence_id=rid)
        expected = replace(head, start=rid, end=plus(rid, duration), recurrence_id=rid, url="")
        if replace(override, url="") != expected:
            overrides[key] = override
    if checked is not None:
        for start in occurrence_starts(rule, head.start, *checked):
            if moment_key(start) not in seen:
                exdates[moment_key(start)] = start
    master_component = replace(
        head, rrule=(rule,), exdates=tuple(sorted(exdates.values(), key=lambda m: as_utc(m)))
    )
    ordered = sorted(overrides.values(), key=lambda c: as_utc(c.recurrence_id))  # type: ignore[arg-type]
    return Event(uid, (master_component, *ordered), marker=marker)


def span(c: Component) -> timedelta:
    if isinstance(c.start, datetime) and isinstance(c.end, datetime):
        return as_utc(c.end) - as_utc(c.start)
    return c.end - c.start  # type: ignore[operator]


def plus(moment: Moment, duration: timedelta) -> Moment:
    if isinstance(moment, datetime) and moment.tzinfo is not None:
        return (moment.astimezone(UTC) + duration).astimezone(moment.tzinfo)
    return moment + duration


# --------------------------------------------------------------------------- writing


def to_graph(
    c: Component, *, uid: str | None = None, marker: str | None = None, floating_zone: str = "UTC"
) -> dict[str, Any]:
    """The Graph JSON body (POST/PATCH) for a component: a single event or series master when
    ``uid`` is given (recurrence and extended properties included), else an occurrence's
    exception fields. Raises ``InvalidEventError`` for what Graph cannot hold (RDATE, RRULEs
    outside its patterns)."""
    start, end = graph_time(c.start, floating_zone), graph_time(c.end, floating_zone)
    body: dict[str, Any] = {
        "subject": c.summary,
        "body": {"contentType": "text", "content": c.description},
        "location": {"displayName": c.location},
        "start": start,
        "end": end,
        "isAllDay": c.all_day,
        "showAs": _GRAPH_SHOW_AS[c.busy_status]
        if c.busy_status in _GRAPH_SHOW_AS and c.status.upper() != "CANCELLED"
        else "free"
        if c.transparent or c.status.upper() == "CANCELLED"
        else ("tentative" if c.status.upper() == "TENTATIVE" else "busy"),
        "sensitivity": {"PRIVATE": "private", "CONFIDENTIAL": "confidential"}.get(c.klass.upper(), "normal"),
        "categories": list(c.categories),
        "attendees": [
            {
                "emailAddress": {"address": a.email, "name": a.name},
                "type": _TYPE.get(a.role.upper(), "required"),
                "status": {"response": _RESPONSE.get(a.partstat.upper(), "none")},
            }
            for a in c.attendees
        ],
    }
    if c.organizer and c.attendees:
        body["organizer"] = {"emailAddress": {"address": c.organizer}}
    if uid is None:
        return body
    if c.rdates:
        raise InvalidEventError("RDATE cannot be expressed in Microsoft Graph")
    body["recurrence"] = rrule_to_recurrence(c.rrule, c.start, start["timeZone"]) if c.rrule else None
    body["singleValueExtendedProperties"] = [
        {"id": UID_ID, "value": uid},
        {"id": MARKER_ID, "value": marker or ""},
        {"id": URL_ID, "value": c.url},
    ]
    return body


# --------------------------------------------------------------------------- what Graph keeps


def _kept_moment(moment: Moment, floating: tzinfo) -> Moment:
    if not isinstance(moment, datetime):
        return moment
    if moment.tzinfo is None:
        return moment.replace(tzinfo=floating)
    if isinstance(moment.tzinfo, ZoneInfo) and moment.tzinfo.key not in UTC_KEYS:
        return moment
    return moment.astimezone(UTC)


def _like(moment: Moment, master_start: Moment) -> Moment:
    if isinstance(master_start, datetime) and isinstance(moment, datetime):
        return moment.astimezone(master_start.tzinfo or UTC)
    return moment


def kept(event: Event, *, floating_zone: str = "UTC", owner: str = "") -> Event:
    """What reading ``event`` back from Graph gives after writing it (see the module docstring);
    ``owner`` is the mailbox's address (Graph makes it the organizer of meetings without one)."""
    floating = zone_for(floating_zone) or UTC
    master = event.components[0] if event.components and event.components[0].recurrence_id is None else None

    def one(c: Component, *, is_master: bool) -> Component:
        shown = _GRAPH_SHOW_AS.get(c.busy_status) if c.status.upper() != "CANCELLED" else None
        if shown is None:
            transparent = c.transparent or c.status.upper() == "CANCELLED"
            status = "TENTATIVE" if c.status.upper() == "TENTATIVE" and not transparent else "CONFIRMED"
        else:
            transparent, status = shown == "free", "TENTATIVE" if shown == "tentative" else "CONFIRMED"
        attendees = tuple(
            Attendee(
                a.email,
                a.name,
                _PARTSTAT.get(_RESPONSE.get(a.partstat.upper(), "none").lower(), "NEEDS-ACTION"),
                _ROLE[_TYPE.get(a.role.upper(), "required")],
            )
            for a in c.attendees
        )
        return replace(
            c,
            start=_kept_moment(c.start, floating),
            end=_kept_moment(c.end, floating),
            status=status,
            transparent=transparent,
            klass=c.klass.upper() if c.klass.upper() in ("PRIVATE", "CONFIDENTIAL") else "",
            organizer=(c.organizer or owner) if attendees else "",
            attendees=attendees,
            url=c.url if is_master else "",
            created=None,
            last_modified=None,
            busy_status="OOF" if shown == "oof" else "",
        )

    if master is None or not master.rrule:
        return replace(
            event, raw=None, components=tuple(one(c, is_master=True) for c in event.components[:1])
        )
    head = one(master, is_master=True)
    zone_name = graph_time(master.start, floating_zone)["timeZone"]
    rule = recurrence_to_rrule(rrule_to_recurrence(master.rrule, master.start, zone_name), head.start)
    exdates = {moment_key(m): _like(_kept_moment(m, floating), head.start) for m in master.exdates}
    overrides: list[Component] = []
    duration = span(head)
    for c in event.overrides:
        rid = _like(_kept_moment(c.recurrence_id, floating), head.start)  # type: ignore[arg-type]
        if c.status.upper() == "CANCELLED":
            exdates[moment_key(rid)] = rid
            continue
        o = replace(one(c, is_master=False), recurrence_id=rid)
        expected = replace(
            head, start=rid, end=plus(rid, duration), recurrence_id=rid, url="", rrule=(), exdates=()
        )
        if o != expected:
            overrides.append(o)
    head = replace(head, rrule=(rule,), exdates=tuple(sorted(exdates.values(), key=lambda m: as_utc(m))))
    overrides.sort(key=lambda c: as_utc(c.recurrence_id))  # type: ignore[arg-type]
    return replace(event, raw=None, components=(head, *overrides))
