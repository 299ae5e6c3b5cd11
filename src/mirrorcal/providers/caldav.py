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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote, urljoin, urlsplit
from xml.sax.saxutils import escape

import httpx
from lxml import etree

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
from .http import error_for, send

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
CS = "http://calendarserver.org/ns/"
_NS = f'xmlns:D="{DAV}" xmlns:C="{CALDAV}" xmlns:CS="{CS}"'
_XML = {"Content-Type": "application/xml; charset=utf-8"}
MULTIGET_BATCH = 500
CTAG_PREFIX = "ctag:"
_MAX_SYNC_ROUNDS = 1000
_SAFE_NAME = re.compile(r"[A-Za-z0-9_~@+=-][A-Za-z0-9._~@+=-]{0,150}")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


def _tag(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


# --------------------------------------------------------------------------- multistatus parsing


@dataclass(slots=True)
class DavResponse:
    """One ``<D:response>`` of a multistatus: its href, status and the properties found (200)."""

    href: str
    status: int | None
    props: dict[str, etree._Element] = field(default_factory=dict)
    error: str = ""

    def text(self, ns: str, name: str) -> str | None:
        """The text of a found property, None when it was not returned."""
        element = self.props.get(_tag(ns, name))
        return None if element is None else (element.text or "")

    def has(self, ns: str, name: str) -> bool:
        return _tag(ns, name) in self.props

    def resource_types(self) -> set[str]:
        element = self.props.get(_tag(DAV, "resourcetype"))
        return set() if element is None else {child.tag for child in element if isinstance(child.tag, str)}

    def hrefs_in(self, ns: str, name: str) -> list[str]:
        element = self.props.get(_tag(ns, name))
        if element is None:
            return []
        return [(h.text or "").strip() for h in element.iter(_tag(DAV, "href")) if (h.text or "").strip()]


def _status_code(element: etree._Element | None) -> int | None:
    if element is None or not element.text:
        return None
    parts = element.text.split()
    try:
        return int(parts[1])
    except (IndexError, ValueError):
        return None


def parse_multistatus(body: bytes) -> tuple[list[DavResponse], str | None]:
    """The responses of a 207 multistatus body and its ``<D:sync-token>`` (None if absent).

    A response's ``status`` is its own ``<D:status>`` when it has one (e.g. 404 for a removed
    member, 507 for truncation), else 200 when some propstat succeeded, else the first
    propstat's status. Raises ``ProviderError`` when the body is not a multistatus.
    """
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ProviderError(f"unreadable WebDAV multistatus: {exc}") from exc
    if root.tag != _tag(DAV, "multistatus"):
        raise ProviderError(f"expected a WebDAV multistatus, got <{root.tag}>")
    responses: list[DavResponse] = []
    for node in root.findall(_tag(DAV, "response")):
        hrefs = [(h.text or "").strip() for h in node.findall(_tag(DAV, "href"))]
        status = _status_code(node.find(_tag(DAV, "status")))
        props: dict[str, etree._Element] = {}
        propstat_statuses: list[int | None] = []
        for propstat in node.findall(_tag(DAV, "propstat")):
            code = _status_code(propstat.find(_tag(DAV, "status")))
            propstat_statuses.append(code)
            prop = propstat.find(_tag(DAV, "prop"))
            if code is not None and 200 <= code < 300 and prop is not None:
                for child in prop:
                    if isinstance(child.tag, str):
                        props[child.tag] = child
        if status is None:
            if props or any(c is not None and 200 <= c < 300 for c in propstat_statuses):
                status = 200
            elif propstat_statuses:
                status = propstat_statuses[0]
        error = node.find(_tag(DAV, "error"))
        error_text = "" if error is None else " ".join(etree.QName(c).localname for c in error if isinstance(c.tag, str))
        for href in hrefs:  # a response may name several hrefs sharing one status
            if href:
                responses.append(DavResponse(href, status, props, error_text))
    token_node = root.find(_tag(DAV, "sync-token"))
    token = None if token_node is None or not (token_node.text or "").strip() else token_node.text.strip()
    return responses, token


# --------------------------------------------------------------------------- hrefs


def canonical_href(href: str) -> str:
    """The absolute path of ``href`` (a path or a URL), percent-encoded one canonical way."""
    path = urlsplit(href).path or "/"
    return quote(unquote(path), safe="/")


def _multiget_body(hrefs: Iterable[str]) -> str:
    inner = "".join(f"<D:href>{escape(h)}</D:href>" for h in hrefs)
    return (
        f'<?xml version="1.0" encoding="utf-8"?><C:calendar-multiget {_NS}>'
        f"<D:prop><D:getetag/><C:calendar-data/></D:prop>{inner}</C:calendar-multiget>"
    )


def _sync_body(token: str) -> str:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><D:sync-collection {_NS}>'
        f"<D:sync-token>{escape(token)}</D:sync-token><D:sync-level>1</D:sync-level>"
        "<D:prop><D:getetag/><D:getcontenttype/><C:calendar-data/></D:prop></D:sync-collection>"
    )


def _propfind_body(props: Iterable[str]) -> str:
    return f'<?xml version="1.0" encoding="utf-8"?><D:propfind {_NS}><D:prop>{"".join(props)}</D:prop></D:propfind>'


# --------------------------------------------------------------------------- discovery


async def _propfind(
    client: httpx.AsyncClient, url: str, depth: str, props: Iterable[str]
) -> tuple[str, list[DavResponse]]:
    """PROPFIND ``url`` following up to 5 redirects; returns the final URL and the responses."""
    for _ in range(6):
        response = await send(
            client,
            "PROPFIND",
            url,
            headers={"Depth": depth, **_XML},
            content=_propfind_body(props),
            handle=(301, 302, 303, 307, 308),
        )
        if response.status_code in (301, 302, 303, 307, 308) and "location" in response.headers:
            url = urljoin(url, response.headers["location"])
            continue
        if response.status_code != 207:
            raise ProviderError(f"PROPFIND {url}: expected 207 Multi-Status, got HTTP {response.status_code}")
        return url, parse_multistatus(response.content)[0]
    raise ProviderError(f"PROPFIND {url}: too many redirects")


_DISCOVERY_PROPS = (
    "<D:resourcetype/>",
    "<D:displayname/>",
    "<D:current-user-principal/>",
    "<C:calendar-home-set/>",
)
_HOME_PROPS = (
    "<D:resourcetype/>",
    "<D:displayname/>",
    "<C:supported-calendar-component-set/>",
    "<CS:getctag/>",
    "<D:current-user-privilege-set/>",
)
_WRITE_PRIVILEGES = frozenset(_tag(DAV, p) for p in ("all", "write", "write-content", "bind"))


@dataclass(frozen=True, slots=True)
class CalendarInfo:
    """A calendar found by discovery.

    ``components`` are the component types it accepts (empty: the server did not say, which
    means any); ``ctag`` its getctag (None if not served); ``read_only`` is True when the
    server's current-user-privilege-set for us grants no write privilege (unknown: False).
    """

    url: str
    name: str
    components: tuple[str, ...] = ()
    ctag: str | None = None
    read_only: bool = False

    @property
    def holds_events(self) -> bool:
        return not self.components or "VEVENT" in self.components


def calendar_info(base_url: str, response: DavResponse) -> CalendarInfo | None:
    """The ``CalendarInfo`` of one PROPFIND response (its href resolved against ``base_url``),
    None when the resource is not a calendar collection."""
    if _tag(CALDAV, "calendar") not in response.resource_types():
        return None
    comp_set = response.props.get(_tag(CALDAV, "supported-calendar-component-set"))
    components: tuple[str, ...] = ()
    if comp_set is not None:
        components = tuple(
            (c.get("name") or "").upper() for c in comp_set.iter(_tag(CALDAV, "comp")) if c.get("name")
        )
    privileges = response.props.get(_tag(DAV, "current-user-privilege-set"))
    read_only = False
    if privileges is not None:
        granted = {child.tag for p in privileges.iter(_tag(DAV, "privilege")) for child in p if isinstance(child.tag, str)}
        read_only = not (granted & _WRITE_PRIVILEGES)
    return CalendarInfo(
        url=urljoin(base_url, response.href),
        name=response.text(DAV, "displayname") or "",
        components=components,
        ctag=response.text(CS, "getctag"),
        read_only=read_only,
    )


async def discover(client: httpx.AsyncClient, url: str, *, events_only: bool = True) -> list[CalendarInfo]:
    """The calendars reachable from ``url``, in the server's order.

    ``url`` may be a calendar (itself returned), a calendar home set, a principal, or a server
    root that names the current user's principal (iCloud's ``https://caldav.icloud.com/``):
    PROPFIND ``current-user-principal`` (Depth 0), then ``calendar-home-set`` on the principal,
    which may be an absolute URL on another host (iCloud partitions, ``pNN-caldav.icloud.com``),
    then a Depth 1 PROPFIND of the home set. With ``events_only``, calendars that accept no
    VEVENT (task lists) are left out. Raises ``ProviderError`` (or a subclass: ``AuthError`` on
    401, with ``status`` set) when a step fails.
    """
    url, responses = await _propfind(client, url, "0", (*_DISCOVERY_PROPS, *_HOME_PROPS[2:]))
    me = next((r for r in responses if canonical_href(r.href) == canonical_href(url)), responses[0] if responses else None)
    if me is None:
        return []
    itself = calendar_info(url, me)
    if itself is not None:
        return [replace(itself, url=url)] if itself.holds_events or not events_only else []
    homes = [urljoin(url, h) for h in me.hrefs_in(CALDAV, "calendar-home-set")]
    if not homes:
        principal = me.hrefs_in(DAV, "current-user-principal")
        if principal:
            principal_url, found = await _propfind(client, urljoin(url, principal[0]), "0", _DISCOVERY_PROPS)
            for r in found:
                homes.extend(urljoin(principal_url, h) for h in r.hrefs_in(CALDAV, "calendar-home-set"))
    if url not in homes:
        homes.append(url)
    calendars: list[CalendarInfo] = []
    seen: set[str] = set()
    for home in homes:
        home, found = await _propfind(client, home, "1", _HOME_PROPS)
        for r in found:
            info = calendar_info(home, r)
            if info is None or info.url in seen:
                continue
            seen.add(info.url)
            if info.holds_events or not events_only:
                calendars.append(info)
        if calendars:
            break
    return calendars


async def discover_calendars(client: httpx.AsyncClient, url: str) -> list[tuple[str, str]]:
    """The event calendars reachable from ``url`` as (absolute URL, display name) pairs; see
    ``discover``."""
    return [(info.url, info.name) for info in await discover(client, url)]


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
        if _tag(DAV, "collection") in response.resource_types():
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
            self.client, "PROPFIND", self.url, headers={"Depth": "0", **_XML},
            content=_propfind_body(("<D:getlastmodified/>",)), handle=(400, 403, 404, 405, 501),
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
                headers={"Depth": "0", **_XML},
                content=_sync_body(token),
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
        _, responses = await _propfind(self.client, self.url, "0", ("<CS:getctag/>",))
        me = next((r for r in responses if self._is_self(r.href)), None)
        return None if me is None else me.text(CS, "getctag")

    async def _list_by_ctag(self, cursor: str | None, known: Mapping[str, str | None]) -> Listing:
        """ctag polling: unchanged ctag → empty listing (one request); else a full listing."""
        if cursor is not None:
            ctag = await self._ctag()
            if ctag is not None and CTAG_PREFIX + ctag == cursor:
                return Listing(cursor=cursor)
        _, responses = await _propfind(
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
                headers={"Depth": "1", **_XML},
                content=_multiget_body(batch),
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
        _, responses = await _propfind(
            self.client,
            self.url,
            "0",
            ("<D:displayname/>", "<D:resourcetype/>", "<CS:getctag/>", "<D:supported-report-set/>", "<D:sync-token/>"),
        )
        me = next((r for r in responses if self._is_self(r.href)), responses[0] if responses else None)
        if me is None or _tag(CALDAV, "calendar") not in me.resource_types():
            found = await discover_calendars(self.client, self.url)
            if found:
                names = ", ".join(f"{name or '(no name)'!r} <{href}>" for href, name in found)
                raise ProviderError(f"{self.url} is not a calendar; calendars found under it: {names}")
            raise ProviderError(f"{self.url} is not a calendar and holds no calendars")
        display = me.text(DAV, "displayname") or self.name
        reports = me.props.get(_tag(DAV, "supported-report-set"))
        sync = me.has(DAV, "sync-token") or (
            reports is not None and reports.find(f".//{_tag(DAV, 'sync-collection')}") is not None
        )
        if sync:
            mode = "sync-token supported"
        elif me.has(CS, "getctag"):
            mode = "no sync-token: polling by ctag"
        else:
            mode = "no sync-token nor ctag: every poll lists everything"
        return f"CalDAV calendar {display!r}, {mode}"
