"""The Graph emulator's mailbox: calendars, events, series expansion, change keys and rendering.

Plain data guarded by the emulator's lock; no HTTP here. Events are kept as the Graph JSON
fields last written (merged on PATCH); times are resolved on demand from ``{dateTime,
timeZone}`` (IANA or Windows names). A series master keeps its exceptions (by original
start) and its deleted occurrences; any change to an occurrence bumps the master's changeKey,
as Exchange stores exceptions inside the master item.
"""

from __future__ import annotations

import base64
import itertools
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from ..errors import InvalidEventError
from ..providers.graph_mapping import format_wall, graph_time, parse_wall, zone_for
from ..providers.graph_recurrence import occurrence_starts, recurrence_to_rrule
from ..zones import zone_named

WRITABLE = frozenset(
    {
        "subject", "body", "location", "start", "end", "isAllDay", "showAs", "sensitivity", "categories",
        "attendees", "organizer", "recurrence", "importance", "isReminderOn", "reminderMinutesBeforeStart",
        "responseRequested", "allowNewTimeProposals", "isOnlineMeeting",
    }
)  # fmt: skip
OCCURRENCE_WRITABLE = WRITABLE - {"recurrence"}


class BadRequest(Exception):
    """A write the server refuses: ``code`` and message become a Graph 400 error body."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def when(obj: Any, what: str) -> datetime:
    """The aware instant of a written ``{dateTime, timeZone}``; BadRequest when unreadable."""
    if not isinstance(obj, dict) or not isinstance(obj.get("dateTime"), str):
        raise BadRequest("ErrorInvalidRequest", f"{what} must be a dateTimeTimeZone object")
    name = obj.get("timeZone") or "UTC"
    zone = zone_for(name)
    if zone is None:
        raise BadRequest(
            "TimeZoneNotSupportedException", f"A valid TimeZone value must be specified: {name!r}"
        )
    try:
        return parse_wall(obj["dateTime"]).replace(tzinfo=zone)
    except ValueError as exc:
        raise BadRequest("ErrorInvalidRequest", f"{what}.dateTime is not valid: {exc}") from exc


def render_time(instant: datetime, zone_name: str, all_day: bool) -> dict[str, str]:
    """``{dateTime, timeZone}`` of ``instant`` in ``zone_name``; all-day keeps its wall date."""
    if all_day:
        return {"dateTime": format_wall(datetime.combine(instant.date(), time())), "timeZone": zone_name}
    zone = zone_for(zone_name) or UTC
    return {"dateTime": format_wall(instant.astimezone(zone).replace(tzinfo=None)), "timeZone": zone_name}


def occurrence_id(master_id: str, key: str) -> str:
    return "AAMkO" + base64.urlsafe_b64encode(f"{master_id}|{key}".encode()).decode().rstrip("=")


def split_occurrence_id(event_id: str) -> tuple[str, str] | None:
    """(master id, original start key) of an occurrence id; None for any other id."""
    if not event_id.startswith("AAMkO"):
        return None
    raw = event_id[5:]
    try:
        master, sep, key = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode().partition("|")
    except (ValueError, UnicodeDecodeError):
        return None
    return (master, key) if sep else None


def _key(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


@dataclass
class Exception_:
    """One modified occurrence: the fields written to it."""

    id: str
    fields: dict[str, Any]


@dataclass
class Stored:
    """A single event or series master (``raw``: any JSON served as is, for malformed tests)."""

    id: str
    calendar_id: str
    fields: dict[str, Any]
    ext: dict[str, tuple[str, str]] = field(default_factory=dict)  # lower id -> (id, value)
    change_key: str = ""
    ical_uid: str = ""
    created: str = ""
    modified: str = ""
    transaction_id: str | None = None
    exceptions: dict[str, Exception_] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    raw: Any = None
    seq: int = 0

    @property
    def series(self) -> bool:
        return self.raw is None and bool(self.fields.get("recurrence"))

    @property
    def all_day(self) -> bool:
        return bool(self.fields.get("isAllDay"))

    def times(self) -> tuple[datetime, datetime]:
        return when(self.fields.get("start"), "start"), when(self.fields.get("end"), "end")


_counter = itertools.count(1)


def new_id() -> str:
    return "AAMk" + secrets.token_urlsafe(18).replace("-", "A").replace("_", "B")


def stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


class Mailbox:
    """One user's calendars and events (callers hold the emulator's lock)."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.calendars: dict[str, dict[str, Any]] = {}
        self.events: dict[str, Stored] = {}
        self.seq = 0

    # -- writes -----------------------------------------------------------------------

    def add_calendar(self, name: str, *, default: bool = False) -> str:
        cid = "AAMkC" + secrets.token_urlsafe(12).replace("-", "A").replace("_", "B")
        self.calendars[cid] = {"id": cid, "name": name, "isDefaultCalendar": default, "canEdit": True}
        return cid

    def _touch(self, ev: Stored) -> None:
        self.seq += 1
        ev.seq = self.seq
        ev.change_key = f"CK{next(_counter):08d}" + secrets.token_hex(3)
        ev.modified = stamp()

    def create(self, cid: str, body: dict[str, Any], *, transaction_id: str | None = None) -> Stored:
        if cid not in self.calendars:
            raise KeyError(cid)
        fields = self._validated({k: v for k, v in body.items() if k in WRITABLE}, master=True)
        ev = Stored(
            new_id(), cid, fields, ical_uid="040000008200E00074C5B7101A82E008" + secrets.token_hex(16)
        )
        ev.created = stamp()
        ev.transaction_id = transaction_id
        self._set_ext(ev, body.get("singleValueExtendedProperties"))
        if "organizer" not in fields:
            fields["organizer"] = {"emailAddress": {"address": self.owner, "name": self.owner}}
        self.events[ev.id] = ev
        self._touch(ev)
        return ev

    def put_raw(self, cid: str, body: Any) -> Stored:
        ev = Stored(new_id(), cid, {}, raw=body, ical_uid=secrets.token_hex(16), created=stamp())
        self.events[ev.id] = ev
        self._touch(ev)
        return ev

    def update(self, ev: Stored, body: dict[str, Any]) -> None:
        """PATCH a single event or master; changing the recurrence or the times of a master
        drops its exceptions and deleted occurrences (the series is laid out again)."""
        changes = {k: v for k, v in body.items() if k in WRITABLE}
        merged = self._validated({**ev.fields, **changes}, master=True)
        if ev.series and any(
            k in changes and changes[k] != ev.fields.get(k) for k in ("recurrence", "start", "end")
        ):
            ev.exceptions.clear()
            ev.deleted.clear()
        ev.fields = merged
        self._set_ext(ev, body.get("singleValueExtendedProperties"))
        self._touch(ev)

    def update_occurrence(self, master: Stored, key: str, body: dict[str, Any]) -> Exception_:
        if not self.is_occurrence(master, key) or key in master.deleted:
            raise KeyError(key)
        changes = {k: v for k, v in body.items() if k in OCCURRENCE_WRITABLE}
        exc = master.exceptions.get(key) or Exception_(occurrence_id(master.id, key), {})
        merged = {**exc.fields, **changes}
        self._validated({**self._occurrence_base(master, key), **merged}, master=False)
        exc.fields = merged
        master.exceptions[key] = exc
        self._touch(master)
        return exc

    def delete_occurrence(self, master: Stored, key: str) -> None:
        if not self.is_occurrence(master, key) or key in master.deleted:
            raise KeyError(key)
        master.exceptions.pop(key, None)
        master.deleted.add(key)
        self._touch(master)

    def delete(self, ev: Stored) -> None:
        del self.events[ev.id]
        self.seq += 1

    def _set_ext(self, ev: Stored, props: Any) -> None:
        for prop in props or []:
            if isinstance(prop, dict) and isinstance(prop.get("id"), str):
                ev.ext[prop["id"].lower()] = (prop["id"], str(prop.get("value") or ""))

    def _validated(self, fields: dict[str, Any], *, master: bool) -> dict[str, Any]:
        start, end = when(fields.get("start"), "start"), when(fields.get("end"), "end")
        if end < start:
            raise BadRequest("ErrorInvalidRequest", "The end of the event is before its start.")
        if fields.get("isAllDay"):
            for moment in (start, end):
                if moment.time() != time():
                    raise BadRequest("ErrorInvalidRequest", "All-day events must start and end at midnight.")
        recurrence = fields.get("recurrence")
        if master and recurrence:
            try:
                recurrence_to_rrule(recurrence, start)
            except InvalidEventError as exc:
                raise BadRequest("ErrorInvalidRequest", f"recurrence is not valid: {exc}") from exc
        return fields

    # -- series -------------------------------------------------------------------------

    def _series_start(self, master: Stored) -> datetime:
        start = when(master.fields["start"], "start")
        zone = zone_named(
            (master.fields.get("recurrence") or {}).get("range", {}).get("recurrenceTimeZone") or ""
        )
        return start.astimezone(zone) if zone is not None and not master.all_day else start

    def _rule(self, master: Stored) -> tuple[str, datetime]:
        start = self._series_start(master)
        moment = start if not master.all_day else start.date()
        return recurrence_to_rrule(master.fields["recurrence"], moment), start

    def occurrence_starts(self, master: Stored, after: datetime, before: datetime) -> list[datetime]:
        """Original starts (aware) of the master's occurrences in [after, before)."""
        rule, start = self._rule(master)
        if master.all_day:
            found = occurrence_starts(
                rule, start.date(), after - timedelta(days=1), before + timedelta(days=1)
            )
            starts = [datetime.combine(d, time(), tzinfo=start.tzinfo) for d in found]  # type: ignore[arg-type]
            return [s for s in starts if after <= s < before]
        return [s for s in occurrence_starts(rule, start, after, before)]  # type: ignore[misc]

    def is_occurrence(self, master: Stored, key: str) -> bool:
        """True when the master's rule has an occurrence originally starting at ``key``."""
        try:
            instant = datetime.strptime(key, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            return False
        return bool(self.occurrence_starts(master, instant, instant + timedelta(seconds=1)))

    def _occurrence_base(self, master: Stored, key: str) -> dict[str, Any]:
        start, end = master.times()
        original = datetime.strptime(key, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        zone_name = master.fields["start"].get("timeZone") or "UTC"
        zone = zone_for(zone_name) or UTC
        begin = original.astimezone(zone)
        finish = (original + (end - start)).astimezone(zone_for(master.fields["end"].get("timeZone")) or zone)
        return {
            **master.fields,
            "start": graph_time(begin.replace(tzinfo=None), zone_name) | {"timeZone": zone_name},
            "end": graph_time(finish.replace(tzinfo=None), master.fields["end"].get("timeZone") or zone_name),
        }

    def instances(self, master: Stored, after: datetime, before: datetime) -> list[dict[str, Any]]:
        """Occurrences and exceptions overlapping [after, before), as internal dicts with
        ``id``, ``type``, ``key``, ``fields`` (merged), ordered by start."""
        start, end = master.times()
        duration = end - start
        found: dict[str, dict[str, Any]] = {}
        for original in self.occurrence_starts(master, after - duration - timedelta(days=1), before):
            key = _key(original)
            if key in master.deleted or key in master.exceptions:
                continue
            if (
                original < before
                and original + duration > after
                or duration == timedelta(0)
                and original >= after
            ):
                fields = self._occurrence_base(master, key)
                found[key] = {
                    "id": occurrence_id(master.id, key),
                    "type": "occurrence",
                    "key": key,
                    "fields": fields,
                }
        for key, exc in master.exceptions.items():
            fields = {**self._occurrence_base(master, key), **exc.fields}
            s, e = when(fields["start"], "start"), when(fields["end"], "end")
            if s < before and (e > after or (s == e and s >= after)):
                found[key] = {"id": exc.id, "type": "exception", "key": key, "fields": fields}
        return sorted(found.values(), key=lambda o: when(o["fields"]["start"], "start"))

    # -- rendering ------------------------------------------------------------------------

    def render(
        self,
        ev: Stored,
        zone_name: str,
        *,
        instance: dict[str, Any] | None = None,
        expand: frozenset[str] | None = None,
    ) -> dict[str, Any]:
        """The Graph JSON of an event (or of one of its instances) with times in ``zone_name``;
        ``expand``: the extended property ids (lower-case) asked for with ``$expand``."""
        if ev.raw is not None:
            body = dict(ev.raw) if isinstance(ev.raw, dict) else {"value": ev.raw}
            body.update(id=ev.id, changeKey=ev.change_key, **{"@odata.etag": f'W/"{ev.change_key}"'})
            return body
        fields = instance["fields"] if instance else ev.fields
        all_day = bool(fields.get("isAllDay"))
        start, end = when(fields["start"], "start"), when(fields["end"], "end")
        body = dict(fields)
        content = str((fields.get("body") or {}).get("content") or "")
        body.update(
            {
                "@odata.etag": f'W/"{ev.change_key}"',
                "id": instance["id"] if instance else ev.id,
                "createdDateTime": ev.created,
                "lastModifiedDateTime": ev.modified,
                "changeKey": ev.change_key,
                "iCalUId": ev.ical_uid,
                "transactionId": ev.transaction_id,
                "originalStartTimeZone": fields["start"].get("timeZone") or "UTC",
                "originalEndTimeZone": fields["end"].get("timeZone") or "UTC",
                "bodyPreview": content[:255],
                "isCancelled": False,
                "isOrganizer": True,
                "type": instance["type"] if instance else ("seriesMaster" if ev.series else "singleInstance"),
                "seriesMasterId": ev.id if instance else None,
                "start": render_time(start, zone_name, all_day),
                "end": render_time(end, zone_name, all_day),
                "showAs": fields.get("showAs") or "busy",
                "sensitivity": fields.get("sensitivity") or "normal",
                "isAllDay": all_day,
                "categories": fields.get("categories") or [],
                "attendees": fields.get("attendees") or [],
                "location": fields.get("location") or {"displayName": ""},
                "recurrence": None if instance else fields.get("recurrence"),
            }
        )
        if instance:
            original = datetime.strptime(instance["key"], "%Y%m%dT%H%M%SZ")
            body["originalStart"] = original.strftime("%Y-%m-%dT%H:%M:%SZ")
        if expand and not instance:
            body["singleValueExtendedProperties"] = [
                {"id": name, "value": value} for lower, (name, value) in ev.ext.items() if lower in expand
            ]
        return body

    # -- views --------------------------------------------------------------------------

    def view(
        self, cid: str, after: datetime, before: datetime
    ) -> dict[str, tuple[str, Stored, dict[str, Any] | None]]:
        """What a calendarView of [after, before) holds: id -> (version, event, instance)."""
        found: dict[str, tuple[str, Stored, dict[str, Any] | None]] = {}
        for ev in self.events.values():
            if ev.calendar_id != cid:
                continue
            if ev.raw is not None:
                found[ev.id] = (ev.change_key, ev, None)
            elif ev.series:
                for inst in self.instances(ev, after, before):
                    found[inst["id"]] = (ev.change_key, ev, inst)
            else:
                start, end = ev.times()
                if start < before and (end > after or (start == end and start >= after)):
                    found[ev.id] = (ev.change_key, ev, None)
        return found
