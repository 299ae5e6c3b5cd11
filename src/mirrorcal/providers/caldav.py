"""The CalDAV adapter (RFC 4791 + RFC 6578 sync-collection), speaking WebDAV over httpx with lxml.

We do not use python-caldav on the wire: every adapter shares one HTTP stack
(``providers.http.send``: retries, error mapping, request counting), so request counts are
exact, and an invalid sync-token is never silently turned into a full listing (python-caldav's
fallback gotcha). python-caldav serves only as an independent oracle in tests.

Cursors are a server sync-token (RFC 6578) wrapped with what a cheap pre-check saw (``Probe``:
the collection's getlastmodified, so an unchanged calendar costs one light PROPFIND instead
of a sync REPORT), or, for servers without sync-collection, ``"ctag:<getctag>"``: an unchanged
ctag gives an empty listing in one request, a changed one a full listing. The sync REPORT
asks for calendar-data with the etags, so changes arrive in the same request. Hrefs are absolute paths as the server serves them, percent-encoded one canonical
way (``canonical_href``) so hrefs we build and hrefs the server returns compare equal.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime
from urllib.parse import quote, urljoin

import httpx

from .. import ical
from ..errors import (
    AlreadyExistsError,
    ConflictError,
    CursorExpiredError,
    InvalidEventError,
    NotFoundError,
    ProviderError,
)
from ..model import Event
from .base import Calendar, Item, ItemError, ItemRef, Listing
from .discovery import discover_calendars
from .http import error_for, send
from .webdav import (
    CALDAV,
    CS,
    DAV,
    XML_HEADERS,
    DavResponse,
    canonical_href,
    multiget_body,
    parse_multistatus,
    propfind,
    propfind_body,
    sync_body,
    tag,
)

MULTIGET_BATCH = 500
CTAG_PREFIX = "ctag:"
_MAX_SYNC_ROUNDS = 1000
_SAFE_NAME = re.compile(r"[A-Za-z0-9_~@+=-][A-Za-z0-9._~@+=-]{0,150}")


# --------------------------------------------------------------------------- the adapter


def _sort_into(read: Item | ItemError | None, items: list[Item], errors: list[ItemError]) -> None:
    """File one ``read_item`` result: an item, an error, or nothing (a task, not an event)."""
    if isinstance(read, Item):
        items.append(read)
    elif read is not None:
        errors.append(read)


PROBE_PREFIX = "probe:"
VERIFY_EVERY = 10
"""Even when the probe says "unchanged", every VERIFY_EVERY-th poll asks for the sync-token."""
SETTLE_SECONDS = 2.0
"""getlastmodified has one-second resolution: trust it only when observed this long after it."""


@dataclass(frozen=True)
class Probe:
    """A sync-token plus what the cheap pre-check saw: the collection's getlastmodified.

    A sync-collection REPORT costs the server a pass over every item (Radicale hashes every
    item's etag for the token); a Depth 0 PROPFIND of getlastmodified costs a stat of each file.
    When the value is the one we saw, observed safely after that second, nothing changed and
    the REPORT is skipped. Servers whose collection getlastmodified does not follow their
    members are caught by the periodic REPORT (a change found while the value stood still) and
    are never trusted again (``trusted`` False).
    """

    token: str
    modified: str | None = None
    observed: float = 0.0
    trusted: bool = True
    skips: int = 0

    @classmethod
    def load(cls, cursor: str | None) -> Probe | None:
        if cursor is None:
            return None
        if not cursor.startswith(PROBE_PREFIX):
            return cls(token=cursor)
        try:
            raw = json.loads(cursor[len(PROBE_PREFIX) :])
            return cls(raw["t"], raw.get("m"), float(raw.get("o", 0.0)), bool(raw.get("ok", True)), int(raw.get("n", 0)))
        except (ValueError, KeyError, TypeError) as exc:
            raise CursorExpiredError(f"unreadable CalDAV cursor: {exc}") from exc

    def dumps(self) -> str:
        doc = {"t": self.token, "m": self.modified, "o": self.observed, "ok": self.trusted, "n": self.skips}
        return PROBE_PREFIX + json.dumps(doc, separators=(",", ":"))

    def _settled(self) -> bool:
        if self.modified is None:
            return False
        try:
            return self.observed >= parsedate_to_datetime(self.modified).timestamp() + SETTLE_SECONDS
        except (TypeError, ValueError):
            return False

    def unchanged(self, seen: tuple[str, float] | None) -> bool:
        """True when the REPORT can be skipped: trusted, same value, settled, not due for a check."""
        return (
            self.trusted and seen is not None and seen[0] == self.modified and self._settled()
            and self.skips + 1 < VERIFY_EVERY
        )  # fmt: skip

    def after_skip(self) -> Probe:
        return replace(self, skips=self.skips + 1)

    @classmethod
    def next(cls, previous: Probe | None, seen: tuple[str, float] | None, listing: Listing) -> Probe:
        """The cursor after a REPORT, learning whether getlastmodified can be trusted."""
        assert listing.cursor is not None
        trusted = previous.trusted if previous is not None else True
        moved = bool(listing.items or listing.removed or listing.errors)
        if previous is not None and seen is not None and moved and seen[0] == previous.modified and previous._settled():
            trusted = False  # it stood still while members changed: never rely on it here
        if seen is None:
            return cls(listing.cursor, None, 0.0, trusted, 0)
        return cls(listing.cursor, seen[0], seen[1], trusted, 0)


class CalDAVCalendar(Calendar):
    """One CalDAV calendar collection at ``url`` reached through ``client`` (auth set on the client).

    ``read_only`` makes every write raise ``ReadOnlyError``. See the module docstring for cursors.
    """

    kind = "caldav"

    def __init__(self, name: str, url: str, client: httpx.AsyncClient, read_only: bool = False) -> None:
        super().__init__(name)
        self.url = url if url.endswith("/") else url + "/"
        self.client = client
        self.read_only = read_only  # type: ignore[misc]  # instance override of the class flag
        self._path = canonical_href(self.url)
        self._sync_supported: bool | None = None

    # ----------------------------------------------------------------- hrefs

    def href_for(self, uid: str) -> str:
        """The collection path + the UID + ``.ics``; a UID unfit for a path segment (``/``, odd
        characters, too long) is replaced by a hash of it, so the href stays deterministic."""
        name = uid if _SAFE_NAME.fullmatch(uid) else "uid-" + hashlib.sha256(uid.encode()).hexdigest()[:40]
        return self._path + quote(name, safe="") + ".ics"

    def _url(self, href: str) -> str:
        return urljoin(self.url, href)

    def _is_self(self, href: str) -> bool:
        return canonical_href(href).rstrip("/") == self._path.rstrip("/")

    @staticmethod
    def _is_item(response: DavResponse) -> bool:
        if tag(DAV, "collection") in response.resource_types():
            return False
        content_type = (response.text(DAV, "getcontenttype") or "").lower()
        return canonical_href(response.href).endswith(".ics") or content_type.startswith("text/calendar")

    # ----------------------------------------------------------------- listing

    async def list_changes(self, cursor: str | None, known: Mapping[str, str | None] | None = None) -> Listing:
        """Changes since ``cursor`` (a sync-token or ``ctag:...``); everything when it is None.

        Raises ``CursorExpiredError`` when the server rejects the sync-token (403, 409 or 412 with
        ``DAV:valid-sync-token``) and ``ProviderError`` subclasses for other failures. Items that
        do not parse are reported in ``Listing.errors``.
        """
        known_c = {canonical_href(h): e for h, e in (known or {}).items()}
        if cursor is not None and cursor.startswith(CTAG_PREFIX):
            return await self._list_by_ctag(cursor, known_c)
        if cursor is None and self._sync_supported is False:
            return await self._list_by_ctag(None, known_c)
        probe = Probe.load(cursor)
        # The first listing reads everything anyway; the pre-check starts with the next one.
        seen = await self._last_modified() if probe is not None else None
        if probe is not None and probe.unchanged(seen):
            return Listing(cursor=probe.after_skip().dumps())
        listing = await self._sync(probe.token if probe is not None else None, known_c)
        if listing.cursor is not None and not listing.cursor.startswith(CTAG_PREFIX):
            listing.cursor = Probe.next(probe, seen, listing).dumps()
        return listing

    async def _last_modified(self) -> tuple[str, float] | None:
        """The collection's DAV:getlastmodified and the server's Date, or None if it has none."""
        response = await send(
            self.client, "PROPFIND", self.url, headers={"Depth": "0", **XML_HEADERS},
            content=propfind_body(("<D:getlastmodified/>",)), handle=(400, 403, 404, 405, 501),
        )  # fmt: skip
        if response.status_code != 207:
            return None
        me = next((r for r in parse_multistatus(response.content)[0] if self._is_self(r.href)), None)
        stamp = me.text(DAV, "getlastmodified") if me is not None and me.status == 200 else None
        date = response.headers.get("date")
        if not stamp or not date:
            return None
        try:
            return stamp, parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            return None

    async def _sync(self, cursor: str | None, known_c: Mapping[str, str | None]) -> Listing:
        """One RFC 6578 sync-collection pass (following truncation) from ``cursor``."""
        changed: dict[str, str | None] = {}
        data: dict[str, str | None] = {}
        removed: set[str] = set()
        token = cursor or ""
        for _ in range(_MAX_SYNC_ROUNDS):
            response = await send(
                self.client,
                "REPORT",
                self.url,
                headers={"Depth": "0", **XML_HEADERS},
                content=sync_body(token),
                handle=(400, 403, 405, 409, 412, 501),
            )
            if response.status_code != 207:
                if b"valid-sync-token" in response.content and cursor is not None:
                    raise CursorExpiredError(
                        f"calendar {self.name!r}: the server rejected the sync-token (HTTP {response.status_code})"
                    )
                if cursor is None and response.status_code in (400, 403, 405, 501):
                    self._sync_supported = False
                    return await self._list_by_ctag(None, known_c)
                if cursor is not None and response.status_code in (405, 501):
                    raise CursorExpiredError(f"calendar {self.name!r}: sync-collection is no longer supported")
                raise error_for(response, "REPORT")
            responses, new_token = parse_multistatus(response.content)
            if new_token is None:
                if cursor is None:
                    self._sync_supported = False
                    return await self._list_by_ctag(None, known_c)
                raise CursorExpiredError(f"calendar {self.name!r}: the server returned no sync-token")
            self._sync_supported = True
            truncated = False
            for r in responses:
                if self._is_self(r.href):
                    truncated = truncated or r.status == 507
                    continue
                href = canonical_href(r.href)
                if r.status == 404:
                    changed.pop(href, None)
                    removed.add(href)
                elif r.status == 200 and self._is_item(r):
                    removed.discard(href)
                    changed[href] = r.text(DAV, "getetag")
                    data[href] = r.text(CALDAV, "calendar-data")
            token = new_token
            if not truncated:
                break
        else:
            raise ProviderError(f"calendar {self.name!r}: sync-collection kept truncating its answer")
        listing = await self._fetch_changed(changed, known_c, data)
        listing.removed = sorted(removed) if cursor is not None else []
        listing.cursor = token
        listing.full = cursor is None
        return listing

    async def _ctag(self) -> str | None:
        _, responses = await propfind(self.client, self.url, "0", ("<CS:getctag/>",))
        me = next((r for r in responses if self._is_self(r.href)), None)
        return None if me is None else me.text(CS, "getctag")

    async def _list_by_ctag(self, cursor: str | None, known: Mapping[str, str | None]) -> Listing:
        """ctag polling: unchanged ctag → empty listing (one request); else a full listing."""
        if cursor is not None:
            ctag = await self._ctag()
            if ctag is not None and CTAG_PREFIX + ctag == cursor:
                return Listing(cursor=cursor)
        _, responses = await propfind(
            self.client, self.url, "1", ("<D:resourcetype/>", "<D:getetag/>", "<D:getcontenttype/>", "<CS:getctag/>")
        )
        new_ctag: str | None = None
        changed: dict[str, str | None] = {}
        for r in responses:
            if self._is_self(r.href):
                new_ctag = r.text(CS, "getctag")
            elif r.status == 200 and self._is_item(r):
                changed[canonical_href(r.href)] = r.text(DAV, "getetag")
        listing = await self._fetch_changed(changed, known)
        # Without a ctag there is nothing to compare: every listing is a full one.
        listing.cursor = CTAG_PREFIX + (new_ctag or "")
        listing.full = True
        return listing

    async def _fetch_changed(
        self, changed: Mapping[str, str | None], known: Mapping[str, str | None], data: Mapping[str, str | None] | None = None
    ) -> Listing:
        """Items whose etag is new; their text comes from ``data`` when the listing carried it
        (sync-collection asks for calendar-data), else from a calendar-multiget."""
        listing = Listing()
        to_fetch: list[str] = []
        for href, etag in changed.items():
            if etag is not None and href in known and known[href] == etag:
                listing.unchanged.append(href)
            elif data and data.get(href):
                _sort_into(self.read_item(href, etag, data[href]), listing.items, listing.errors)
            else:
                to_fetch.append(href)
        items, errors = await self._multiget(to_fetch)
        listing.items.extend(items)
        listing.errors.extend(errors)
        return listing

    # ----------------------------------------------------------------- fetching

    async def get(self, hrefs: list[str]) -> list[Item]:
        """The named items via calendar-multiget; unknown or unreadable hrefs are left out."""
        items, _ = await self._multiget([canonical_href(h) for h in hrefs])
        return items

    async def _multiget(self, hrefs: list[str]) -> tuple[list[Item], list[ItemError]]:
        items: list[Item] = []
        errors: list[ItemError] = []
        for start in range(0, len(hrefs), MULTIGET_BATCH):
            batch = hrefs[start : start + MULTIGET_BATCH]
            response = await send(
                self.client,
                "REPORT",
                self.url,
                headers={"Depth": "1", **XML_HEADERS},
                content=multiget_body(batch),
            )
            if response.status_code != 207:
                raise ProviderError(f"REPORT calendar-multiget {self.url}: expected 207, got HTTP {response.status_code}")
            responses, _ = parse_multistatus(response.content)
            for r in responses:
                if self._is_self(r.href) or r.status != 200:
                    continue  # gone since it was listed: the next listing reports it removed
                read = self.read_item(canonical_href(r.href), r.text(DAV, "getetag"), r.text(CALDAV, "calendar-data"))
                _sort_into(read, items, errors)
        return items, errors

    @staticmethod
    def read_item(href: str, etag: str | None, text: str | None) -> Item | ItemError | None:
        """Parse one served resource into an Item, or an ItemError naming the problem.

        None for a resource that holds no VEVENT but a task or journal entry (VTODO, VJOURNAL):
        calendars may hold those, they are not events and not errors either.
        """
        if not text:
            return ItemError(href, f"{href}: the server returned no calendar data")
        try:
            return Item(href, etag, ical.parse_resource(text))
        except InvalidEventError as exc:
            if "BEGIN:VEVENT" not in text.upper() and any(f"BEGIN:{c}" in text.upper() for c in ("VTODO", "VJOURNAL")):
                return None
            return ItemError(href, f"{href}: {exc}")
        except Exception as exc:  # a parser bug on one item must not sink the listing
            return ItemError(href, f"{href}: could not be read ({type(exc).__name__}: {exc})")

    # ----------------------------------------------------------------- writing

    async def _put(self, href: str, event: Event, headers: dict[str, str]) -> httpx.Response:
        return await send(
            self.client,
            "PUT",
            self._url(href),
            headers={"Content-Type": "text/calendar; charset=utf-8", **headers},
            content=ical.serialize(event),
            handle=(403, 404, 409, 412),
        )

    async def _create(self, event: Event) -> ItemRef:
        href = self.href_for(event.uid)
        response = await self._put(href, event, {"If-None-Match": "*"})
        status = response.status_code
        if status == 412:
            raise AlreadyExistsError(f"calendar {self.name!r}: {href} already exists")
        if status in (403, 409) and b"uid-conflict" in response.content:
            raise AlreadyExistsError(
                f"calendar {self.name!r}: an event with UID {event.uid!r} already exists elsewhere (no-uid-conflict)"
            )
        if status >= 400:
            raise error_for(response, "PUT")
        return ItemRef(href, response.headers.get("etag"))

    async def _update(self, href: str, event: Event, etag: str | None) -> ItemRef:
        href = canonical_href(href)
        response = await self._put(href, event, {"If-Match": etag or "*"})
        status = response.status_code
        if status == 404 or (status == 412 and etag is None):
            raise NotFoundError(f"calendar {self.name!r}: {href} does not exist")
        if status == 412:
            raise ConflictError(f"calendar {self.name!r}: {href} changed since etag {etag}")
        if status in (403, 409) and b"uid-conflict" in response.content:
            raise ConflictError(f"calendar {self.name!r}: UID {event.uid!r} is already used by another item")
        if status >= 400:
            raise error_for(response, "PUT")
        return ItemRef(href, response.headers.get("etag"))

    async def _delete(self, href: str, etag: str | None) -> None:
        href = canonical_href(href)
        response = await send(
            self.client,
            "DELETE",
            self._url(href),
            headers={"If-Match": etag} if etag else {},
            handle=(404, 410, 412),
        )
        status = response.status_code
        if status in (404, 410):
            raise NotFoundError(f"calendar {self.name!r}: {href} does not exist")
        if status == 412:
            raise ConflictError(f"calendar {self.name!r}: {href} changed since etag {etag}")

    # ----------------------------------------------------------------- checking

    async def check(self) -> str:
        """Describe the calendar, e.g. "CalDAV calendar 'Personal', sync-token supported".

        Raises ``ProviderError`` when ``url`` is not a calendar (naming the calendars found under
        it, if it is a home set or principal), and the mapped errors of the requests.
        """
        _, responses = await propfind(
            self.client,
            self.url,
            "0",
            ("<D:displayname/>", "<D:resourcetype/>", "<CS:getctag/>", "<D:supported-report-set/>", "<D:sync-token/>"),
        )
        me = next((r for r in responses if self._is_self(r.href)), responses[0] if responses else None)
        if me is None or tag(CALDAV, "calendar") not in me.resource_types():
            found = await discover_calendars(self.client, self.url)
            if found:
                names = ", ".join(f"{name or '(no name)'!r} <{href}>" for href, name in found)
                raise ProviderError(f"{self.url} is not a calendar; calendars found under it: {names}")
            raise ProviderError(f"{self.url} is not a calendar and holds no calendars")
        display = me.text(DAV, "displayname") or self.name
        reports = me.props.get(tag(DAV, "supported-report-set"))
        sync = me.has(DAV, "sync-token") or (
            reports is not None and reports.find(f".//{tag(DAV, 'sync-collection')}") is not None
        )
        if sync:
            mode = "sync-token supported"
        elif me.has(CS, "getctag"):
            mode = "no sync-token: polling by ctag"
        else:
            mode = "no sync-token nor ctag: every poll lists everything"
        return f"CalDAV calendar {display!r}, {mode}"
