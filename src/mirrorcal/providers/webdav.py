"""WebDAV on the wire for the CalDAV adapter and discovery: namespaces, request bodies, PROPFIND and
multistatus parsing (lxml, no entity resolution, no network access)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urljoin, urlsplit
from xml.sax.saxutils import escape

import httpx
from lxml import etree

from ..errors import ProviderError
from .http import send

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
CS = "http://calendarserver.org/ns/"
NS = f'xmlns:D="{DAV}" xmlns:C="{CALDAV}" xmlns:CS="{CS}"'
XML_HEADERS = {"Content-Type": "application/xml; charset=utf-8"}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


def tag(ns: str, name: str) -> str:
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
        element = self.props.get(tag(ns, name))
        return None if element is None else (element.text or "")

    def has(self, ns: str, name: str) -> bool:
        return tag(ns, name) in self.props

    def resource_types(self) -> set[str]:
        element = self.props.get(tag(DAV, "resourcetype"))
        return set() if element is None else {child.tag for child in element if isinstance(child.tag, str)}

    def hrefs_in(self, ns: str, name: str) -> list[str]:
        element = self.props.get(tag(ns, name))
        if element is None:
            return []
        return [(h.text or "").strip() for h in element.iter(tag(DAV, "href")) if (h.text or "").strip()]


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
    if root.tag != tag(DAV, "multistatus"):
        raise ProviderError(f"expected a WebDAV multistatus, got <{root.tag}>")
    responses: list[DavResponse] = []
    for node in root.findall(tag(DAV, "response")):
        hrefs = [(h.text or "").strip() for h in node.findall(tag(DAV, "href"))]
        status = _status_code(node.find(tag(DAV, "status")))
        props: dict[str, etree._Element] = {}
        propstat_statuses: list[int | None] = []
        for propstat in node.findall(tag(DAV, "propstat")):
            code = _status_code(propstat.find(tag(DAV, "status")))
            propstat_statuses.append(code)
            prop = propstat.find(tag(DAV, "prop"))
            if code is not None and 200 <= code < 300 and prop is not None:
                for child in prop:
                    if isinstance(child.tag, str):
                        props[child.tag] = child
        if status is None:
            if props or any(c is not None and 200 <= c < 300 for c in propstat_statuses):
                status = 200
            elif propstat_statuses:
                status = propstat_statuses[0]
        error = node.find(tag(DAV, "error"))
        error_text = "" if error is None else " ".join(etree.QName(c).localname for c in error if isinstance(c.tag, str))
        for href in hrefs:  # a response may name several hrefs sharing one status
            if href:
                responses.append(DavResponse(href, status, props, error_text))
    token_node = root.find(tag(DAV, "sync-token"))
    token = None if token_node is None or not (token_node.text or "").strip() else token_node.text.strip()
    return responses, token


# --------------------------------------------------------------------------- hrefs


def canonical_href(href: str) -> str:
    """The absolute path of ``href`` (a path or a URL), percent-encoded one canonical way."""
    path = urlsplit(href).path or "/"
    return quote(unquote(path), safe="/")


def multiget_body(hrefs: Iterable[str]) -> str:
    inner = "".join(f"<D:href>{escape(h)}</D:href>" for h in hrefs)
    return (
        f'<?xml version="1.0" encoding="utf-8"?><C:calendar-multiget {NS}>'
        f"<D:prop><D:getetag/><C:calendar-data/></D:prop>{inner}</C:calendar-multiget>"
    )


def sync_body(token: str) -> str:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><D:sync-collection {NS}>'
        f"<D:sync-token>{escape(token)}</D:sync-token><D:sync-level>1</D:sync-level>"
        "<D:prop><D:getetag/><D:getcontenttype/><C:calendar-data/></D:prop></D:sync-collection>"
    )


def propfind_body(props: Iterable[str]) -> str:
    return f'<?xml version="1.0" encoding="utf-8"?><D:propfind {NS}><D:prop>{"".join(props)}</D:prop></D:propfind>'




async def propfind(
    client: httpx.AsyncClient, url: str, depth: str, props: Iterable[str]
) -> tuple[str, list[DavResponse]]:
    """PROPFIND ``url`` following up to 5 redirects; returns the final URL and the responses."""
    for _ in range(6):
        response = await send(
            client,
            "PROPFIND",
            url,
            headers={"Depth": depth, **XML_HEADERS},
            content=propfind_body(props),
            handle=(301, 302, 303, 307, 308),
        )
        if response.status_code in (301, 302, 303, 307, 308) and "location" in response.headers:
            url = urljoin(url, response.headers["location"])
            continue
        if response.status_code != 207:
            raise ProviderError(f"PROPFIND {url}: expected 207 Multi-Status, got HTTP {response.status_code}")
        return url, parse_multistatus(response.content)[0]
    raise ProviderError(f"PROPFIND {url}: too many redirects")
