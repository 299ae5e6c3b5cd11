"""CalDAV discovery: from a server root, principal or home set to the calendars it holds.

A start URL may be a calendar, a calendar home set, a principal, or a server root that names
the current user's principal (iCloud's ``https://caldav.icloud.com/``), whose home set may live
on another host (``pNN-caldav.icloud.com``); nothing is hard-coded.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import urljoin

import httpx

from .webdav import CALDAV, CS, DAV, DavResponse, canonical_href, propfind, tag

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
_WRITE_PRIVILEGES = frozenset(tag(DAV, p) for p in ("all", "write", "write-content", "bind"))


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
    if tag(CALDAV, "calendar") not in response.resource_types():
        return None
    comp_set = response.props.get(tag(CALDAV, "supported-calendar-component-set"))
    components: tuple[str, ...] = ()
    if comp_set is not None:
        components = tuple(
            (c.get("name") or "").upper() for c in comp_set.iter(tag(CALDAV, "comp")) if c.get("name")
        )
    privileges = response.props.get(tag(DAV, "current-user-privilege-set"))
    read_only = False
    if privileges is not None:
        granted = {child.tag for p in privileges.iter(tag(DAV, "privilege")) for child in p if isinstance(child.tag, str)}
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
    url, responses = await propfind(client, url, "0", (*_DISCOVERY_PROPS, *_HOME_PROPS[2:]))
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
            principal_url, found = await propfind(client, urljoin(url, principal[0]), "0", _DISCOVERY_PROPS)
            for r in found:
                homes.extend(urljoin(principal_url, h) for h in r.hrefs_in(CALDAV, "calendar-home-set"))
    if url not in homes:
        homes.append(url)
    calendars: list[CalendarInfo] = []
    seen: set[str] = set()
    for home in homes:
        home, found = await propfind(client, home, "1", _HOME_PROPS)
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
