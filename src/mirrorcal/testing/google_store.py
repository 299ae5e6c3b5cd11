"""The state of the Google Calendar emulator: calendars, event resources, change log, validation, expansion.

Not thread-safe by itself: ``GoogleEmulator`` holds its lock around every call. Errors are
raised as ``ApiError`` carrying Google's status, domain and reason; the server turns them into
Google's error body. Behaviour follows /work/shared/PROTOCOLS.md "Google Calendar API v3":

* ids: client-chosen base32hex (a-v, 0-9, 5-1024 chars) or generated; an id ever used, even by
  a deleted event, is a 409 ``duplicate`` on insert (a deleted event is revived by a PUT).
* A deleted master stays as a tombstone (``status:"cancelled"``, id, etag) and its exceptions
  vanish; a deleted instance becomes a bare cancelled exception (``recurringEventId`` +
  ``originalStartTime`` only).
* Instance ids are ``{master}_{YYYYMMDDTHHMMSSZ}`` (``_{YYYYMMDD}`` all-day); PUT/PATCH on one
  that is an occurrence creates the exception. A master whose timing changes drops the
  exceptions that are no longer occurrences.
* Listing: every change gets a sequence number; a sync token is (calendar, epoch, sequence),
  so ``expire_sync_tokens`` (a new epoch) makes every earlier token a 410.
"""

from __future__ import annotations

import base64
import copy
import itertools
import re
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
import recurring_ical_events

Resource = dict[str, Any]

_ID = re.compile(r"[a-v0-9]{5,1024}")
_INSTANCE = re.compile(r"(?P<master>[a-v0-9]{5,1024})_(?P<when>\d{8}(T\d{6}Z)?)")
_RECURRENCE = re.compile(r"(RRULE|EXRULE|RDATE|EXDATE)[;:]", re.IGNORECASE)
SYNC_FORBIDDEN = ("iCalUID", "orderBy", "privateExtendedProperty", "q", "sharedExtendedProperty",
                  "timeMin", "timeMax", "updatedMin")  # fmt: skip
_TOMBSTONE_KEYS = (
    "kind",
    "etag",
    "id",
    "status",
    "updated",
    "recurringEventId",
    "originalStartTime",
    "iCalUID",
)


class ApiError(Exception):
    """A Google API error: HTTP ``status``, ``reason`` and ``domain`` as Google names them."""

    def __init__(self, status: int, reason: str, message: str, domain: str = "global") -> None:
        super().__init__(message)
        self.status, self.reason, self.message, self.domain = status, reason, message, domain

    def body(self) -> dict[str, Any]:
        error = {"domain": self.domain, "reason": self.reason, "message": self.message}
        return {"error": {"errors": [error], "code": self.status, "message": self.message}}


@dataclass(slots=True)
class GoogleCalendarState:
    """One calendar: its metadata and its event resources (tombstones included)."""

    id: str
    summary: str
    time_zone: str = "UTC"
    primary: bool = False
    owner: str = ""
    events: dict[str, Resource] = field(default_factory=dict)
    seqs: dict[str, int] = field(default_factory=dict)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _encode(*parts: object) -> str:
    return base64.urlsafe_b64encode("|".join(map(str, parts)).encode()).decode().rstrip("=")


def _decode(token: str) -> list[str]:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode().split("|")
    except (ValueError, UnicodeDecodeError):
        return []


class GoogleStore:
    """Calendars and events of one emulated Google account; ``on_change(cid)`` runs after each change."""

    def __init__(self, owner: str, on_change: Callable[[str], None] = lambda cid: None) -> None:
        self.owner = owner
        self.on_change = on_change
        self.calendars: dict[str, GoogleCalendarState] = {}
        self.max_page_items: int | None = None
        self._epoch = 1
        self._seq = itertools.count(1)
        self._etags = itertools.count(3_181_161_784_712_000)
        self._pages: dict[str, tuple[str, list[str], str]] = {}

    # ----------------------------------------------------------------- calendars

    def add_calendar(self, cid: str, summary: str, *, time_zone: str = "UTC", primary: bool = False) -> str:
        self.calendars[cid] = GoogleCalendarState(
            cid, summary, time_zone, primary, owner=self.owner if primary else cid
        )
        return cid

    def calendar(self, cid: str) -> GoogleCalendarState:
        if cid == "primary":
            cid = next((c.id for c in self.calendars.values() if c.primary), cid)
        cal = self.calendars.get(cid)
        if cal is None:
            raise ApiError(404, "notFound", "Not Found")
        return cal

    def expire_sync_tokens(self) -> None:
        self._epoch += 1

    # ----------------------------------------------------------------- writes

    def insert(self, cid: str, body: Resource) -> Resource:
        cal = self.calendar(cid)
        eid = body.get("id") or secrets.token_hex(13)  # hex digits are base32hex too
        if not isinstance(eid, str) or not _ID.fullmatch(eid):
            raise ApiError(400, "invalid", "Invalid resource id value.")
        if eid in cal.events:
            raise ApiError(409, "duplicate", "The requested identifier already exists.")
        if body.get("recurringEventId"):
            raise ApiError(400, "invalid", "Cannot insert an instance; update it by its instance id.")
        now = _now()
        resource = {**body, "kind": "calendar#event", "id": eid, "created": now, "sequence": 0}
        resource.setdefault("status", "confirmed")
        resource["iCalUID"] = body.get("iCalUID") or f"{eid}@google.com"
        self._organizer(cal, resource)
        validate(resource, cal)
        return self._store(cal, resource)

    def update(self, cid: str, eid: str, body: Resource, *, if_match: str | None, patch: bool) -> Resource:
        """PUT (``patch=False``) or PATCH an event or instance; a missing occurrence instance is created."""
        cal = self.calendar(cid)
        current = cal.events.get(eid)
        if current is None:
            master, original = self._occurrence(cal, eid)
            base = self._pattern(master, original) if patch else {}
            current = {"kind": "calendar#event", "id": eid, "created": _now(), "sequence": 0}
            fixed = {
                "recurringEventId": master["id"],
                "originalStartTime": original,
                "iCalUID": master["iCalUID"],
            }
        else:
            if if_match is not None and if_match != current["etag"]:
                raise ApiError(412, "conditionNotMet", "Precondition Failed")
            base = current if patch else {}
            fixed = {k: current[k] for k in ("recurringEventId", "originalStartTime") if k in current}
        merged = _merge(base, body) if patch else dict(body)
        resource = {
            **merged,
            **fixed,
            "kind": "calendar#event",
            "id": eid,
            "created": current.get("created") or _now(),
        }
        resource["sequence"] = int(current.get("sequence") or 0) + 1
        resource.setdefault("status", "confirmed")
        resource["iCalUID"] = resource.get("iCalUID") or current.get("iCalUID") or f"{eid}@google.com"
        self._organizer(cal, resource)
        validate(resource, cal)
        stored = self._store(cal, resource)
        if "recurringEventId" not in resource:
            self._drop_stale_exceptions(cal, resource)
        return stored

    def delete(self, cid: str, eid: str, *, if_match: str | None) -> None:
        cal = self.calendar(cid)
        current = cal.events.get(eid)
        if current is None:
            master, original = self._occurrence(cal, eid)
            tomb = {
                "id": eid,
                "recurringEventId": master["id"],
                "originalStartTime": original,
                "iCalUID": master["iCalUID"],
            }
            self._store(cal, {**tomb, "kind": "calendar#event", "status": "cancelled"})
            return
        if current.get("status") == "cancelled" and "recurringEventId" not in current:
            raise ApiError(410, "deleted", "Resource has been deleted")
        if if_match is not None and if_match != current["etag"]:
            raise ApiError(412, "conditionNotMet", "Precondition Failed")
        if "recurringEventId" not in current:
            for other in [k for k, r in cal.events.items() if r.get("recurringEventId") == eid]:
                del cal.events[other]
                cal.seqs.pop(other, None)
        tomb = {k: current[k] for k in _TOMBSTONE_KEYS if k in current}
        self._store(cal, {**tomb, "status": "cancelled"})

    def put_raw(self, cid: str, body: Resource) -> Resource:
        """Store ``body`` as is (no validation): a malformed event for tests."""
        cal = self.calendar(cid)
        eid = str(body.get("id") or secrets.token_hex(10))
        return self._store(cal, {"kind": "calendar#event", "status": "confirmed", **body, "id": eid})

    def bump(self, cid: str, eid: str) -> None:
        """A concurrent edit: a new etag (and a change) for ``eid`` if it exists."""
        cal = self.calendar(cid)
        if eid in cal.events:
            self._store(cal, dict(cal.events[eid]))

    def _store(self, cal: GoogleCalendarState, resource: Resource) -> Resource:
        resource["etag"] = f'"{next(self._etags)}"'
        resource["updated"] = _now()
        cal.events[resource["id"]] = resource
        cal.seqs[resource["id"]] = next(self._seq)
        self.on_change(cal.id)
        return copy.deepcopy(resource)

    def _organizer(self, cal: GoogleCalendarState, resource: Resource) -> None:
        organizer = resource.get("organizer")
        if not isinstance(organizer, dict) or not organizer.get("email"):
            resource["organizer"] = {"email": cal.owner, "self": True}
        elif organizer.get("email") == cal.owner:
            resource["organizer"] = {**organizer, "self": True}

    # ----------------------------------------------------------------- instances

    def _occurrence(self, cal: GoogleCalendarState, eid: str) -> tuple[Resource, dict[str, str]]:
        """The live recurring master of instance id ``eid`` and the instance's originalStartTime; 404 otherwise."""
        match = _INSTANCE.fullmatch(eid)
        master = cal.events.get(match["master"]) if match else None
        if (
            match is None
            or master is None
            or master.get("status") == "cancelled"
            or not master.get("recurrence")
        ):
            raise ApiError(404, "notFound", "Not Found")
        when = match["when"]
        if len(when) == 8:
            original: dict[str, str] = {"date": f"{when[:4]}-{when[4:6]}-{when[6:]}"}
        else:
            instant = datetime.strptime(when, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            zone = master["start"].get("timeZone") or cal.time_zone
            original = {"dateTime": instant.astimezone(_zone(zone)).isoformat(), "timeZone": zone}
        if not any(
            _same(start, original)
            for start, _ in occurrences(
                master, cal, moment(original, cal), moment(original, cal) + timedelta(seconds=1)
            )
        ):
            raise ApiError(404, "notFound", "Not Found")
        return master, original

    def _pattern(self, master: Resource, original: dict[str, str]) -> Resource:
        """What the instance at ``original`` holds before anyone changes it (for PATCH)."""
        skip = {"id", "etag", "recurrence", "created", "updated", "sequence", "kind", "start", "end"}
        base = {k: copy.deepcopy(v) for k, v in master.items() if k not in skip}
        span = _span(master)
        if "date" in original:
            end: dict[str, str] = {"date": (date.fromisoformat(original["date"]) + span).isoformat()}
        else:
            end = {
                "dateTime": (datetime.fromisoformat(original["dateTime"]) + span).isoformat(),
                "timeZone": original["timeZone"],
            }
        return {**base, "start": dict(original), "end": end}

    def _drop_stale_exceptions(self, cal: GoogleCalendarState, master: Resource) -> None:
        for eid, resource in list(cal.events.items()):
            if resource.get("recurringEventId") != master["id"]:
                continue
            original = resource.get("originalStartTime") or {}
            start = moment(original, cal)
            if not master.get("recurrence") or not any(
                _same(s, original) for s, _ in occurrences(master, cal, start, start + timedelta(seconds=1))
            ):
                del cal.events[eid]
                cal.seqs.pop(eid, None)

    # ----------------------------------------------------------------- reads

    def get(self, cid: str, eid: str) -> Resource:
        resource = self.calendar(cid).events.get(eid)
        if resource is None:
            raise ApiError(404, "notFound", "Not Found")
        return copy.deepcopy(resource)

    def list_events(self, cid: str, params: Mapping[str, str]) -> Resource:
        """One page of ``events.list`` (see the module docstring for the rules)."""
        cal = self.calendar(cid)
        try:
            size = int(params.get("maxResults", "250"))
        except ValueError:
            raise ApiError(400, "invalid", "Invalid value for maxResults") from None
        if not 1 <= size <= 2500:
            raise ApiError(400, "invalid", "Invalid value for maxResults")
        if params.get("singleEvents", "false").lower() == "true":
            raise ApiError(400, "invalid", "singleEvents=true is not emulated")
        if params.get("pageToken"):
            page = self._pages.pop(params["pageToken"], None)
            if page is None or page[0] != cal.id:
                raise ApiError(400, "invalid", "Invalid page token value.")
            _, ids, next_sync = page
        else:
            next_sync = _encode(cal.id, self._epoch, max(cal.seqs.values(), default=0))
            ids = self._select(cal, params)
        cap = min(size, self.max_page_items or size)
        ids = [i for i in ids if i in cal.events]
        page_ids, rest = ids[:cap], ids[cap:]
        body: Resource = {"kind": "calendar#events", "etag": f'"{next(self._etags)}"', "summary": cal.summary,
                          "updated": _now(), "timeZone": cal.time_zone, "accessRole": "owner", "defaultReminders": [],
                          "items": [copy.deepcopy(cal.events[i]) for i in page_ids]}  # fmt: skip
        if rest:
            token = secrets.token_urlsafe(12)
            self._pages[token] = (cal.id, rest, next_sync)
            body["nextPageToken"] = token
        else:
            body["nextSyncToken"] = next_sync
        return body

    def _select(self, cal: GoogleCalendarState, params: Mapping[str, str]) -> list[str]:
        ordered = sorted(cal.events, key=lambda i: cal.seqs[i])
        if params.get("syncToken"):
            bad = [p for p in SYNC_FORBIDDEN if p in params]
            if bad:
                raise ApiError(400, "invalid", f"syncToken cannot be combined with {', '.join(bad)}")
            parts = _decode(params["syncToken"])
            if (
                len(parts) != 3
                or parts[0] != cal.id
                or parts[1] != str(self._epoch)
                or not parts[2].isdigit()
            ):
                raise ApiError(
                    410,
                    "fullSyncRequired",
                    "Sync token is no longer valid, a full sync is required.",
                    "calendar",
                )
            since = int(parts[2])
            return [i for i in ordered if cal.seqs[i] > since]
        show_deleted = params.get("showDeleted", "false").lower() == "true"
        uid = params.get("iCalUID")
        chosen = []
        for eid in ordered:
            resource = cal.events[eid]
            if uid is not None and resource.get("iCalUID") != uid:
                continue
            if (
                resource.get("status") == "cancelled"
                and "recurringEventId" not in resource
                and not show_deleted
            ):
                continue  # cancelled instances stay listed with showDeleted=false, singleEvents=false
            chosen.append(eid)
        return chosen

    def live(self, cid: str) -> list[Resource]:
        """Every resource that is not cancelled."""
        return [
            copy.deepcopy(r) for r in self.calendar(cid).events.values() if r.get("status") != "cancelled"
        ]

    def busy(self, cid: str, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """Merged busy spans of opaque, non-cancelled events (series expanded) within [start, end)."""
        cal = self.calendar(cid)
        spans: list[tuple[datetime, datetime]] = []
        for resource in cal.events.values():
            if resource.get("status") == "cancelled" or resource.get("transparency") == "transparent":
                continue
            try:
                if "recurringEventId" in resource:
                    spans.append((moment(resource["start"], cal), moment(resource["end"], cal)))
                    continue
                changed = {moment(r["originalStartTime"], cal) for r in cal.events.values()
                           if r.get("recurringEventId") == resource["id"] and r.get("originalStartTime")}  # fmt: skip
                spans.extend(s for s in occurrences(resource, cal, start, end) if s[0] not in changed)
            except (KeyError, TypeError, ValueError, ApiError):
                continue  # a malformed resource (put_raw) blocks no time
        clipped = sorted((max(a, start), min(b, end)) for a, b in spans if a < end and b > start)
        merged: list[tuple[datetime, datetime]] = []
        for a, b in clipped:
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        return merged


# --------------------------------------------------------------------------- helpers


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ApiError(400, "invalid", f"Invalid time zone definition: {name}") from None


def moment(value: Mapping[str, Any], cal: GoogleCalendarState) -> datetime:
    """A ``{date}``/``{dateTime,timeZone}`` as an aware UTC datetime (dates at midnight in the calendar's zone)."""
    if value.get("date"):
        day = date.fromisoformat(value["date"])
        return datetime(day.year, day.month, day.day, tzinfo=_zone(cal.time_zone)).astimezone(UTC)
    when = datetime.fromisoformat(value["dateTime"])
    if when.tzinfo is None:
        when = when.replace(tzinfo=_zone(value.get("timeZone") or cal.time_zone))
    return when.astimezone(UTC)


def _same(start: datetime, original: Mapping[str, Any]) -> bool:
    if original.get("date"):
        return start.date().isoformat() == original["date"]
    return start == datetime.fromisoformat(original["dateTime"]).astimezone(UTC)


def _span(resource: Resource) -> timedelta:
    start, end = resource["start"], resource["end"]
    if start.get("date"):
        return date.fromisoformat(end["date"]) - date.fromisoformat(start["date"])
    return datetime.fromisoformat(end["dateTime"]) - datetime.fromisoformat(start["dateTime"])


def _ical_time(name: str, value: Mapping[str, Any], cal: GoogleCalendarState) -> str:
    if value.get("date"):
        return f"{name};VALUE=DATE:{value['date'].replace('-', '')}"
    when = datetime.fromisoformat(value["dateTime"])
    zone = value.get("timeZone") or (None if when.tzinfo else cal.time_zone)
    if zone and zone not in ("UTC", "Etc/UTC"):
        local = when.astimezone(_zone(zone)) if when.tzinfo else when
        return f"{name};TZID={zone}:{local.strftime('%Y%m%dT%H%M%S')}"
    return f"{name}:{when.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"


def occurrences(
    master: Resource, cal: GoogleCalendarState, start: datetime, end: datetime
) -> Iterator[tuple[datetime, datetime]]:
    """(start, end) in UTC of ``master``'s occurrences overlapping [start, end); dates at midnight in the calendar's zone."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//emulator//EN", "BEGIN:VEVENT", "UID:x",
             _ical_time("DTSTART", master["start"], cal), _ical_time("DTEND", master["end"], cal),
             *master.get("recurrence", ()), "END:VEVENT", "END:VCALENDAR"]  # fmt: skip
    parsed = icalendar.Calendar.from_ical("\r\n".join(lines) + "\r\n")
    lo = start - timedelta(days=2)
    for vevent in recurring_ical_events.of(parsed).between(lo, end + timedelta(days=2)):
        yield (_utc(vevent["DTSTART"].dt, cal), _utc(vevent["DTEND"].dt, cal))


def _utc(value: date | datetime, cal: GoogleCalendarState) -> datetime:
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=_zone(cal.time_zone)).astimezone(UTC)
    return (
        value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=_zone(cal.time_zone)).astimezone(UTC)
    )


def _merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> Resource:
    """PATCH semantics: named fields replace, objects merge one level (extendedProperties two)."""
    out = copy.deepcopy(dict(base))
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            merged = dict(out[key])
            for sub, sub_value in value.items():
                if isinstance(sub_value, dict) and isinstance(merged.get(sub), dict):
                    merged[sub] = {**merged[sub], **sub_value}
                else:
                    merged[sub] = sub_value
            out[key] = merged
        else:
            out[key] = copy.deepcopy(value)
    return out


def validate(resource: Mapping[str, Any], cal: GoogleCalendarState) -> None:
    """Raise ApiError(400) for what Google refuses: times, recurrence, statuses, extended properties."""
    if resource.get("status") not in ("confirmed", "tentative", "cancelled"):
        raise ApiError(400, "invalid", f"Invalid value for status: {resource.get('status')!r}")
    if resource.get("transparency", "opaque") not in ("opaque", "transparent"):
        raise ApiError(400, "invalid", "Invalid value for transparency")
    if resource.get("visibility", "default") not in ("default", "public", "private", "confidential"):
        raise ApiError(400, "invalid", "Invalid value for visibility")
    instance = "recurringEventId" in resource
    if not (instance and resource["status"] == "cancelled" and "start" not in resource):
        _check_times(resource, cal)
    recurrence = resource.get("recurrence") or []
    if recurrence:
        if instance:
            raise ApiError(400, "invalid", "An instance cannot have a recurrence")
        if not isinstance(recurrence, list) or not all(
            isinstance(r, str) and _RECURRENCE.match(r) for r in recurrence
        ):
            raise ApiError(400, "invalid", "Invalid recurrence rule.")
        if resource["start"].get("dateTime") and not resource["start"].get("timeZone"):
            raise ApiError(400, "invalid", "Missing time zone definition for start time.")
        try:
            next(
                occurrences(
                    dict(resource),
                    cal,
                    moment(resource["start"], cal),
                    moment(resource["start"], cal) + timedelta(days=1),
                ),
                None,
            )
        except ApiError:
            raise
        except Exception:
            raise ApiError(400, "invalid", "Invalid recurrence rule.") from None
    for scope, props in (resource.get("extendedProperties") or {}).items():
        if scope not in ("private", "shared") or not isinstance(props, dict):
            raise ApiError(400, "invalid", f"Invalid extended property scope {scope!r}")
        for key, value in props.items():
            if (
                not isinstance(key, str)
                or not isinstance(value, str)
                or not key
                or len(key) > 44
                or len(value) > 1024
            ):
                raise ApiError(
                    400,
                    "invalid",
                    "Invalid extended property value: keys up to 44 characters, string values up to 1024.",
                )
    for attendee in resource.get("attendees") or []:
        if not isinstance(attendee, dict) or not attendee.get("email"):
            raise ApiError(400, "required", "Missing attendee email.")


def _check_times(resource: Mapping[str, Any], cal: GoogleCalendarState) -> None:
    for name in ("start", "end"):
        value = resource.get(name)
        if not isinstance(value, dict) or not (value.get("date") or value.get("dateTime")):
            raise ApiError(400, "required", f"Missing {name} time.")
        try:
            if value.get("date"):
                date.fromisoformat(value["date"])
            else:
                when = datetime.fromisoformat(value["dateTime"])
                if value.get("timeZone"):
                    _zone(value["timeZone"])
                elif when.tzinfo is None:
                    raise ApiError(400, "invalid", f"Missing time zone definition for {name} time.")
        except ValueError:
            raise ApiError(400, "invalid", f"Invalid {name} time.") from None
    if bool(resource["start"].get("date")) != bool(resource["end"].get("date")):
        raise ApiError(400, "invalid", "Start and end times must either both be date or both be dateTime.")
    if moment(resource["end"], cal) < moment(resource["start"], cal):
        raise ApiError(400, "timeRangeEmpty", "The specified time range is empty.")
