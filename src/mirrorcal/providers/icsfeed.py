"""Read-only calendars from ICS feeds: conditional GET, content hashes, stable keys for unstable UIDs.

Also home of the keying rules the local-file adapter (``icsfile``) shares: how a whole
iCalendar document becomes items with stable hrefs.

Keying (the href of an item; ``Calendar.href_for`` of its key):

* An event whose UID is present and unique in the document is keyed by its UID
  (``<uid>.ics``; an orphan override adds its recurrence key: ``<uid>#<rkey>.ics``).
* An event without UID, or whose UID (with its recurrence key) occurs more than once, is keyed
  by a *content key*: ``content-<sha256 of start, end, summary, location, description, rrule
  and recurrence key>`` (never the UID or DTSTAMP). The Event's ``uid`` (and every UID in its
  ``raw``) becomes that content key too, so a mirror's identity does not depend on a UID the
  feed does not keep. Two events with the same content key are one busy block: the first is
  listed, the others are dropped, so no duplicate is ever created.
* A feed that regenerates every UID on each download is keyed entirely by content ("content"
  UID mode, kept in the cursor once detected; see ``IcsFeedCalendar``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from icalendar import Calendar as ICalendar
from icalendar.prop import vDuration

from .. import ical
from ..errors import CursorExpiredError, InvalidEventError, ProviderError
from ..model import Event, Moment, moment_key
from .base import Calendar, Item, ItemError, Listing
from .http import send

CONTENT_KEY_PREFIX = "content-"
"""How every content key starts, so a reader can tell it from a real UID."""

_CONTENT_DIGITS = 10  # hex digits of a content digest kept in the cursor's ``seen`` map
_UID_DIGITS = 6  # hex digits of a UID digest kept there
_MAX_REDIRECTS = 5
_HEADER_PROPERTY = re.compile(r"^(REFRESH-INTERVAL|X-PUBLISHED-TTL)(?:;[^:]*)?:(.*)$", re.IGNORECASE)


# --------------------------------------------------------------------------- shared keying


@dataclass(frozen=True, slots=True)
class Entry:
    """One keyed event of a document: its href, etag (``ical.content_hash``), the event as
    listed (re-keyed when keyed by content) and the event exactly as parsed."""

    href: str
    etag: str
    event: Event
    parsed: Event


@dataclass(slots=True)
class Document:
    """A parsed and keyed iCalendar document."""

    entries: list[Entry] = field(default_factory=list)
    errors: list[ItemError] = field(default_factory=list)
    seen: dict[str, str] = field(default_factory=dict)
    """content digest -> UID digest of every event with a unique UID (for regeneration checks)."""
    refresh: int | None = None
    """REFRESH-INTERVAL (or X-PUBLISHED-TTL) in seconds, None when absent or unreadable."""
    by_content: bool = False


def content_key(event: Event) -> str:
    """The key of ``event`` by its content: its master's start, end, summary, location,
    description and rrule plus its recurrence key; never its UID, DTSTAMP or SEQUENCE."""
    master = event.master
    parts = [
        event.recurrence_key,
        _moment_text(master.start),
        _moment_text(master.end),
        master.summary,
        master.location,
        master.description,
        *master.rrule,
    ]
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return CONTENT_KEY_PREFIX + digest[:32]


def _moment_text(moment: Moment) -> str:
    text = moment_key(moment)
    if isinstance(moment, datetime) and isinstance(moment.tzinfo, ZoneInfo):
        text += "/" + moment.tzinfo.key  # the zone matters to a series' wall-clock times
    return text


def parse_document(text: str, where: str) -> tuple[list[Event], list[tuple[str, str]], int | None]:
    """``ical.parse_feed`` of ``text`` plus its refresh interval; raises ProviderError (naming
    ``where``) when the text is empty or not iCalendar at all."""
    if not text.strip():
        raise ProviderError(f"{where}: the document is empty, not iCalendar")
    try:
        events, errors = ical.parse_feed(text)
    except InvalidEventError as exc:
        raise ProviderError(f"{where}: {exc}") from exc
    return events, errors, refresh_interval_of(text)


def uid_pairs(events: list[Event]) -> dict[str, str]:
    """content digest -> UID digest for every event whose UID (and recurrence key) is unique."""
    counts = Counter((e.uid, e.recurrence_key) for e in events if e.uid)
    seen: dict[str, str] = {}
    for event in events:
        if event.uid and counts[(event.uid, event.recurrence_key)] == 1:
            content = content_key(event)[len(CONTENT_KEY_PREFIX) :][:_CONTENT_DIGITS]
            seen[content] = hashlib.sha256(event.uid.encode("utf-8")).hexdigest()[:_UID_DIGITS]
    return seen


def regenerated(previous: Mapping[str, str], current: Mapping[str, str]) -> bool:
    """True when most events whose content is unchanged since the previous download came back
    under a different UID: the feed regenerates UIDs."""
    matched = changed = 0
    for content, uid in current.items():
        if content in previous:
            matched += 1
            changed += previous[content] != uid
    return changed > 0 and changed * 2 > matched


def key_document(
    events: list[Event],
    errors: list[tuple[str, str]],
    *,
    by_content: bool,
    href_for: Callable[[str], str],
) -> Document:
    """Key parsed events as the module docstring says; errors get the href their key would have
    (made distinct when a listed item already holds it, e.g. a dropped second override)."""
    counts = Counter((e.uid, e.recurrence_key) for e in events if e.uid)
    doc = Document(seen=uid_pairs(events), by_content=by_content)
    taken: set[str] = set()
    for event in events:
        if event.uid and not by_content and counts[(event.uid, event.recurrence_key)] == 1:
            listed, ident = event, event.uid
        else:
            key = content_key(event)
            listed, ident = _rekey(event, key), key
        if event.recurrence_key:
            ident = f"{ident}#{event.recurrence_key}"
        href = href_for(ident)
        if href in taken:  # identical content: one busy block, never a duplicate
            continue
        taken.add(href)
        doc.entries.append(Entry(href, ical.content_hash(event), listed, event))
    for n, (key, message) in enumerate(errors, start=1):
        href = href_for(key)
        if href in taken:
            href = href_for(f"{key}#invalid-{n}")
        taken.add(href)
        doc.errors.append(ItemError(href, message))
    return doc


def _rekey(event: Event, uid: str) -> Event:
    """``event`` with ``uid`` as its UID, in the model and in every VEVENT of ``raw``."""
    raw = event.raw
    if raw is not None:
        try:
            cal = ICalendar.from_ical(raw)
            for vevent in cal.walk("VEVENT"):
                vevent.pop("UID", None)
                vevent.add("UID", uid)
            raw = cal.to_ical().decode("utf-8")
        except (ValueError, KeyError):
            raw = None  # serialize() builds it from the components
    return replace(event, uid=uid, raw=raw)


def refresh_interval_of(text: str) -> int | None:
    """Seconds from the calendar's REFRESH-INTERVAL;VALUE=DURATION, else X-PUBLISHED-TTL;
    None when neither is there (or readable, or positive)."""
    found: dict[str, str] = {}
    unfolded = re.sub(r"\r?\n[ \t]", "", text)
    for line in unfolded.splitlines():
        upper = line.upper()
        if upper.startswith("BEGIN:") and upper.strip() != "BEGIN:VCALENDAR":
            break  # calendar properties come before the first component
        match = _HEADER_PROPERTY.match(line.strip())
        if match:
            found.setdefault(match.group(1).upper(), match.group(2).strip())
    for name in ("REFRESH-INTERVAL", "X-PUBLISHED-TTL"):
        if name in found:
            try:
                seconds = int(vDuration.from_ical(found[name]).total_seconds())
            except (ValueError, TypeError):
                continue
            if seconds > 0:
                return seconds
    return None


def describe_interval(seconds: int | None) -> str:
    """``3600`` -> ``1h``, ``5400`` -> ``1h30m``, ``90`` -> ``1m30s``; None -> ``not set``."""
    if not seconds:
        return "not set"
    delta = timedelta(seconds=seconds)
    parts = []
    if delta.days:
        parts.append(f"{delta.days}d")
    hours, rest = divmod(delta.seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts += [f"{v}{u}" for v, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if v]
    return "".join(parts)


# --------------------------------------------------------------------------- the feed


@dataclass(frozen=True, slots=True)
class FeedCursor:
    """What the feed adapter remembers between downloads (stored as a small JSON string)."""

    etag: str | None = None
    last_modified: str | None = None
    sha256: str | None = None
    refresh: int | None = None
    uid_mode: str = "uid"
    seen: dict[str, str] = field(default_factory=dict)

    def dumps(self) -> str:
        data: dict[str, object] = {
            "v": 1,
            "etag": self.etag,
            "last_modified": self.last_modified,
            "sha256": self.sha256,
            "refresh": self.refresh,
            "uid_mode": self.uid_mode,
            "seen": self.seen,
        }
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    @classmethod
    def loads(cls, text: str) -> FeedCursor:
        """Raises CursorExpiredError for a cursor this adapter did not write."""
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("v") != 1:
                raise ValueError("unknown cursor version")
            seen = data.get("seen") or {}
            mode = data.get("uid_mode", "uid")
            if not isinstance(seen, dict) or mode not in ("uid", "content"):
                raise ValueError("bad cursor fields")
            refresh = data.get("refresh")
            return cls(
                etag=data.get("etag"),
                last_modified=data.get("last_modified"),
                sha256=data.get("sha256"),
                refresh=int(refresh) if refresh else None,
                uid_mode=mode,
                seen={str(k): str(v) for k, v in seen.items()},
            )
        except (ValueError, TypeError) as exc:
            raise CursorExpiredError(f"not an ICS feed cursor: {exc}") from exc


@dataclass(frozen=True, slots=True)
class _Download:
    status: int
    text: str
    etag: str | None
    last_modified: str | None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def http_url(url: str) -> str:
    """``webcal://`` -> ``http://`` and ``webcals://`` -> ``https://``; other URLs unchanged."""
    lower = url.lower()
    if lower.startswith("webcals://"):
        return "https://" + url[len("webcals://") :]
    if lower.startswith("webcal://"):
        return "http://" + url[len("webcal://") :]
    return url


def full_listing(doc: Document, known: Mapping[str, str | None], cursor: str) -> Listing:
    """A full listing of a keyed document: items the caller already holds go to ``unchanged``."""
    listing = Listing(errors=doc.errors, cursor=cursor, full=True)
    for entry in doc.entries:
        if entry.href in known and known[entry.href] == entry.etag:
            listing.unchanged.append(entry.href)
        else:
            listing.items.append(Item(entry.href, entry.etag, entry.event))
    return listing


class IcsFeedCalendar(Calendar):
    """An ICS feed (an ATS export, a published calendar) read over HTTP; never written.

    ``list_changes(cursor, known)`` sends a conditional GET (If-None-Match / If-Modified-Since
    from the cursor). A 304, or a body whose SHA-256 equals the cursor's, gives an empty
    listing (``full=False``) with the cursor (its validators refreshed). Anything else gives a
    full listing (``full=True``) keyed as the module docstring says; items whose etag equals
    ``known[href]`` go to ``unchanged``. The cursor is JSON: ``etag``, ``last_modified``,
    ``sha256``, ``refresh`` (seconds), ``uid_mode`` (``uid`` or ``content``) and ``seen``
    (a short digest of each unique-UID event's content -> a short digest of its UID).

    UID stability: a download is compared with the previous one (``seen``); when most events
    whose content came back unchanged carry a new UID, the feed regenerates UIDs and from then
    on (sticky) every event is keyed by content. Without a previous download (no cursor) and
    with ``probe_uids`` (default), a second, conditional GET right after the first answers the
    same question, so even the first listing has stable keys: a feed with validators answers it
    with a cheap 304.

    ``refresh_interval`` holds the seconds from the feed's REFRESH-INTERVAL / X-PUBLISHED-TTL
    (None when absent) after a listing or ``check``. Raises ProviderError (never an empty
    listing) for an empty body or one that is not iCalendar, and the errors of
    ``providers.http.send`` for HTTP failures; a bad VEVENT is an ``ItemError``, the rest is
    still listed. An empty but valid VCALENDAR is an empty full listing (the engine's
    mass-deletion guard decides). Writes raise ReadOnlyError.
    """

    kind = "ics"
    read_only = True

    def __init__(
        self,
        name: str,
        url: str,
        client: httpx.AsyncClient,
        *,
        probe_uids: bool = True,
        retries: int = 4,
    ) -> None:
        super().__init__(name)
        self.url = http_url(url)
        self.client = client
        self.probe_uids = probe_uids
        self.retries = retries
        self.refresh_interval: int | None = None
        self._uid_mode = "uid"

    async def list_changes(self, cursor: str | None, known: Mapping[str, str | None] | None = None) -> Listing:
        known = known or {}
        previous = FeedCursor.loads(cursor) if cursor is not None else None
        if previous is not None:
            self._uid_mode = previous.uid_mode
            self.refresh_interval = previous.refresh
        download = await self._download(previous)
        if previous is not None and (download.status == 304 or download.sha256 == previous.sha256):
            etag = download.etag or previous.etag
            last_modified = download.last_modified or previous.last_modified
            same = replace(previous, etag=etag, last_modified=last_modified)
            return Listing(cursor=cursor if same == previous else same.dumps(), full=False)

        events, errors, refresh = parse_document(download.text, self._where)
        seen = uid_pairs(events)
        by_content = previous is not None and previous.uid_mode == "content"
        if previous is not None and not by_content:
            by_content = regenerated(previous.seen, seen)
        elif previous is None and self.probe_uids and seen:
            probed = await self._probe(download, seen)
            if probed is not None:
                download, events, errors, refresh, by_content = probed
        doc = key_document(events, errors, by_content=by_content, href_for=self.href_for)
        self._uid_mode = "content" if by_content else "uid"
        self.refresh_interval = refresh
        new_cursor = FeedCursor(
            etag=download.etag,
            last_modified=download.last_modified,
            sha256=download.sha256,
            refresh=refresh,
            uid_mode=self._uid_mode,
            seen={} if by_content else doc.seen,
        )
        return full_listing(doc, known, new_cursor.dumps())

    async def get(self, hrefs: list[str]) -> list[Item]:
        """Download the feed and return the named items (keyed in the last known UID mode)."""
        download = await self._download(None)
        events, errors, self.refresh_interval = parse_document(download.text, self._where)
        doc = key_document(events, errors, by_content=self._uid_mode == "content", href_for=self.href_for)
        wanted = set(hrefs)
        return [Item(e.href, e.etag, e.event) for e in doc.entries if e.href in wanted]

    async def check(self) -> str:
        """Download the feed once and describe it: ``ICS feed, 12 events, refresh every 1h``."""
        download = await self._download(None)
        events, errors, self.refresh_interval = parse_document(download.text, self._where)
        text = f"ICS feed, {len(events)} events, refresh every {describe_interval(self.refresh_interval)}"
        if self.refresh_interval is None:
            text = f"ICS feed, {len(events)} events, no refresh interval set"
        if errors:
            text += f", {len(errors)} unreadable"
        return text

    @property
    def _where(self) -> str:
        return f"ICS feed {self.name!r} ({self.url})"

    async def _probe(
        self, first: _Download, seen: dict[str, str]
    ) -> tuple[_Download, list[Event], list[tuple[str, str]], int | None, bool] | None:
        """Download again to learn whether UIDs are stable; None when they are (or the probe
        tells nothing), else the second download parsed and whether to key by content."""
        try:
            second = await self._download(FeedCursor(etag=first.etag, last_modified=first.last_modified))
            if second.status == 304 or second.sha256 == first.sha256:
                return None
            events, errors, refresh = parse_document(second.text, self._where)
        except ProviderError:
            return None
        return second, events, errors, refresh, regenerated(seen, uid_pairs(events))

    async def _download(self, previous: FeedCursor | None) -> _Download:
        headers = {"Accept": "text/calendar, text/plain;q=0.8, */*;q=0.5"}
        if previous is not None and previous.etag:
            headers["If-None-Match"] = previous.etag
        if previous is not None and previous.last_modified:
            headers["If-Modified-Since"] = previous.last_modified
        url: str | httpx.URL = self.url
        for _ in range(_MAX_REDIRECTS + 1):
            response = await send(self.client, "GET", url, headers=headers, retries=self.retries)
            location = response.headers.get("location")
            if response.status_code in (301, 302, 303, 307, 308) and location:
                url = response.url.join(location)
                continue
            break
        else:
            raise ProviderError(f"{self._where}: more than {_MAX_REDIRECTS} redirects")
        status = response.status_code
        etag = response.headers.get("etag")
        last_modified = response.headers.get("last-modified")
        if status == 304:
            return _Download(304, "", etag, last_modified)
        if status != 200:
            raise ProviderError(f"{self._where}: unexpected HTTP {status} {response.reason_phrase}")
        return _Download(200, _decode(response), etag, last_modified)


def _decode(response: httpx.Response) -> str:
    """The body as text: UTF-8 (RFC 5545's charset; a BOM is dropped), else httpx's guess."""
    try:
        return response.content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return response.text
