"""A calendar kept in one local .ics file: read like a feed, written by atomic whole-file rewrites."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import x_wr_timezone
from icalendar import Calendar as ICalendar
from icalendar.cal.component import Component as ICalComponent

from .. import ical
from ..errors import (
    AlreadyExistsError,
    ConflictError,
    CursorExpiredError,
    InvalidEventError,
    NotFoundError,
    ProviderError,
)
from ..model import Component, Event
from .base import Calendar, Item, ItemRef, Listing
from .icsfeed import Document, Entry, content_key, full_listing, key_document, parse_document


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """The file as read once: its text (None when missing), stat and hash."""

    text: str | None
    mtime_ns: int = 0
    size: int = 0

    @property
    def sha256(self) -> str:
        return hashlib.sha256((self.text or "").encode("utf-8")).hexdigest()

    def cursor(self) -> str:
        data = {"v": 1, "mtime_ns": self.mtime_ns, "size": self.size, "sha256": self.sha256}
        return json.dumps(data, separators=(",", ":"), sort_keys=True)


class IcsFileCalendar(Calendar):
    """One local iCalendar file (``path``) as a calendar.

    Reading works like the ICS feed (``providers.icsfeed``: same keys, same content keys for
    events without a UID or with a repeated one): the cursor is JSON ``mtime_ns``, ``size``,
    ``sha256``; an unchanged file (same mtime and size, or same content) gives an empty
    listing (``full=False``), a changed one a full listing. Reading a missing or non-iCalendar
    file raises ProviderError (NotFoundError when missing), never an empty listing.

    Writable unless ``read_only=True``. ``create`` / ``update`` / ``delete`` rewrite the whole
    file atomically (a temporary file in the same directory, then ``os.replace``): the
    event's VEVENTs (and the VTIMEZONEs they need) are added, replaced or removed; everything
    else in the file (calendar properties, other components, VEVENTs that do not parse) stays.
    ``X-WR-TIMEZONE`` is applied to the file's times and dropped on the first rewrite. The etag
    of an item is ``ical.content_hash`` of its event as read back; a stale etag raises
    ConflictError, a missing href NotFoundError, a create whose UID (or content key) is already
    in the file AlreadyExistsError. A missing file is created on the first write.
    """

    kind = "file"

    def __init__(self, name: str, path: str | os.PathLike[str], *, read_only: bool = False) -> None:
        super().__init__(name)
        self.path = Path(path)
        self.read_only = read_only  # type: ignore[misc]  # instance override of the class flag
        self._lock = asyncio.Lock()

    # -- reading -------------------------------------------------------------------------

    async def list_changes(self, cursor: str | None, known: Mapping[str, str | None] | None = None) -> Listing:
        known = known or {}
        previous = _load_cursor(cursor) if cursor is not None else None
        async with self._lock:
            if previous is not None:
                stat = await asyncio.to_thread(self._stat)
                if stat is not None and (stat.st_mtime_ns, stat.st_size) == (previous["mtime_ns"], previous["size"]):
                    return Listing(cursor=cursor, full=False)
            snap = await asyncio.to_thread(self._read)
        if snap.text is None:
            raise NotFoundError(f"{self._where}: the file does not exist")
        if previous is not None and snap.sha256 == previous["sha256"]:
            return Listing(cursor=snap.cursor(), full=False)
        doc = self._document(snap.text)
        return full_listing(doc, known, snap.cursor())

    async def get(self, hrefs: list[str]) -> list[Item]:
        async with self._lock:
            snap = await asyncio.to_thread(self._read)
        if snap.text is None:
            return []
        wanted = set(hrefs)
        return [Item(e.href, e.etag, e.event) for e in self._document(snap.text).entries if e.href in wanted]

    async def check(self) -> str:
        async with self._lock:
            snap = await asyncio.to_thread(self._read)
        if snap.text is None:
            raise NotFoundError(f"{self._where}: the file does not exist")
        doc = self._document(snap.text)
        mode = "read-only" if self.read_only else "writable"
        text = f"ICS file {self.path}, {len(doc.entries)} events, {mode}"
        return text + (f", {len(doc.errors)} unreadable" if doc.errors else "")

    # -- writing -------------------------------------------------------------------------

    async def _create(self, event: Event) -> ItemRef:
        async with self._lock:
            return await asyncio.to_thread(self._write, "create", None, event, None)

    async def _update(self, href: str, event: Event, etag: str | None) -> ItemRef:
        async with self._lock:
            return await asyncio.to_thread(self._write, "update", href, event, etag)

    async def _delete(self, href: str, etag: str | None) -> None:
        async with self._lock:
            await asyncio.to_thread(self._write, "delete", href, None, etag)

    def _write(self, op: str, href: str | None, event: Event | None, etag: str | None) -> ItemRef:
        """Read, change and atomically replace the file (runs in a worker thread)."""
        snap = self._read()
        text = snap.text if snap.text and snap.text.strip() else None
        doc = self._document(text) if text is not None else Document()
        entries = {e.href: e for e in doc.entries}
        old: Entry | None = None
        if op == "create":
            assert event is not None
            target = self._href_of(event)
            if target in entries or (event.uid and any(e.parsed.uid == event.uid for e in doc.entries)):
                raise AlreadyExistsError(f"{self._where}: {target} already exists")
        else:
            assert href is not None
            old = entries.get(href)
            if old is None:
                raise NotFoundError(f"{self._where}: {href} does not exist")
            if etag is not None and etag != old.etag:
                raise ConflictError(f"{self._where}: {href} changed (etag {old.etag[:12]}…, expected {etag[:12]}…)")
            target = self._href_of(event) if event is not None else href
            if event is not None and target != href and (
                target in entries or (event.uid and any(e.parsed.uid == event.uid for e in doc.entries))
            ):
                raise ConflictError(f"{self._where}: cannot move {href} to {target}: that key is taken")

        cal = _calendar(text) if text is not None else _empty_calendar()
        if old is not None:
            _remove(cal, old, doc)
        if event is not None:
            _add(cal, event)
        new_text = cal.to_ical().decode("utf-8")
        self._replace(new_text)
        if event is None:
            return ItemRef(href or "", None)
        written = {e.href: e for e in self._document(new_text).entries}
        found = written.get(target)
        return ItemRef(target, found.etag if found is not None else ical.content_hash(event))

    def _href_of(self, event: Event) -> str:
        """Where ``event`` is listed once written: by its UID, by its content key when it has none."""
        ident = event.uid or content_key(event)
        if event.recurrence_key:
            ident = f"{ident}#{event.recurrence_key}"
        return self.href_for(ident)

    def _replace(self, text: str) -> None:
        """Write ``text`` to a temporary file beside the target, fsync it, then ``os.replace``."""
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True)
        try:
            mode = self.path.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = None
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as fobj:
                fobj.write(text.encode("utf-8"))
                fobj.flush()
                os.fsync(fobj.fileno())
            if mode is not None:
                os.chmod(tmp, mode)
            os.replace(tmp, self.path)
        except OSError as exc:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise ProviderError(f"{self._where}: cannot write: {exc.strerror or exc}") from exc
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    # -- helpers -------------------------------------------------------------------------

    @property
    def _where(self) -> str:
        return f"ICS file {self.name!r} ({self.path})"

    def _stat(self) -> os.stat_result | None:
        try:
            return self.path.stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ProviderError(f"{self._where}: {exc.strerror or exc}") from exc

    def _read(self) -> _Snapshot:
        try:
            with self.path.open("rb") as fobj:
                stat = os.fstat(fobj.fileno())
                data = fobj.read()
        except FileNotFoundError:
            return _Snapshot(None)
        except OSError as exc:
            raise ProviderError(f"{self._where}: cannot read: {exc.strerror or exc}") from exc
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ProviderError(f"{self._where}: not UTF-8 text ({exc})") from exc
        return _Snapshot(text, stat.st_mtime_ns, stat.st_size)

    def _document(self, text: str) -> Document:
        events, errors, _ = parse_document(text, self._where)
        return key_document(events, errors, by_content=False, href_for=self.href_for)


def _load_cursor(cursor: str) -> dict[str, object]:
    try:
        data = json.loads(cursor)
        if not isinstance(data, dict) or data.get("v") != 1 or not {"mtime_ns", "size", "sha256"} <= data.keys():
            raise ValueError("unknown cursor")
    except ValueError as exc:
        raise CursorExpiredError(f"not an ICS file cursor: {exc}") from exc
    return data


# --------------------------------------------------------------------------- document editing


def _calendar(text: str) -> ICalendar:
    """The file as one VCALENDAR with X-WR-TIMEZONE applied (and dropped)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cal = ICalendar.from_ical(text)
            if "X-WR-TIMEZONE" in cal:
                cal = x_wr_timezone.to_standard(cal)
                cal.pop("X-WR-TIMEZONE", None)
                _add_missing_timezones(cal)
    except (ValueError, KeyError) as exc:
        raise ProviderError(f"cannot rewrite the file: not one VCALENDAR ({exc})") from exc
    return cal


def _empty_calendar() -> ICalendar:
    cal = ICalendar()
    cal.add("PRODID", ical.PRODID)
    cal.add("VERSION", "2.0")
    return cal


def _add_missing_timezones(cal: ICalendar) -> None:
    try:
        cal.add_missing_timezones()
    except Exception:  # an unknown TZID: readers take it as floating anyway
        pass


def _remove(cal: ICalendar, entry: Entry, doc: Document) -> None:
    """Remove the VEVENTs of ``entry`` from ``cal``.

    When the entry's UID is unique and every VEVENT with it belongs to the entry, those VEVENTs
    go. Otherwise (no UID, a repeated UID, a VEVENT with that UID that did not parse) each
    candidate is read as parsing did and only those equal to the entry's components go.
    """
    uid = entry.parsed.uid
    candidates = [s for s in cal.subcomponents if s.name == "VEVENT" and str(s.get("UID", "")).strip() == uid]
    owned = bool(uid) and sum(1 for e in doc.entries if e.parsed.uid == uid) == 1
    if owned and len(candidates) == len(entry.parsed.components):
        drop = {id(c) for c in candidates}
    else:
        zones = [c for c in cal.subcomponents if c.name == "VTIMEZONE"]
        wanted = list(entry.parsed.components)
        drop = set()
        for sub in candidates:
            component = _component_of(sub, zones)
            if component is not None and component in wanted:
                wanted.remove(component)
                drop.add(id(sub))
    cal.subcomponents[:] = [c for c in cal.subcomponents if id(c) not in drop]


def _component_of(vevent: ICalComponent, zones: list[ICalComponent]) -> Component | None:
    """One VEVENT read the way the codec reads it, or None when it does not parse."""
    cal = _empty_calendar()
    for zone in zones:
        cal.add_component(zone)
    cal.add_component(vevent)
    try:
        return ical.parse_resource(cal.to_ical().decode("utf-8")).components[0]
    except (InvalidEventError, ValueError):
        return None


def _add(cal: ICalendar, event: Event) -> None:
    """Append ``event``'s VEVENTs and the VTIMEZONEs they need that ``cal`` lacks."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            source = ICalendar.from_ical(ical.serialize(event))
    except ValueError as exc:
        raise ProviderError(f"cannot write event {event.uid!r}: {exc}") from exc
    have = {str(c.get("TZID", "")) for c in cal.subcomponents if c.name == "VTIMEZONE"}
    zones = [c for c in source.subcomponents if c.name == "VTIMEZONE" and str(c.get("TZID", "")) not in have]
    first_event = next((i for i, c in enumerate(cal.subcomponents) if c.name != "VTIMEZONE"), len(cal.subcomponents))
    cal.subcomponents[first_event:first_event] = zones
    for vevent in source.subcomponents:
        if vevent.name == "VEVENT":
            cal.add_component(vevent)
