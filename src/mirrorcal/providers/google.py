"""The Google Calendar API v3 adapter: one Google calendar behind the provider contract.

An item is one series (master + exception instances) or one single event; its href is the
Google event id of the master (``href_for``: the UID itself when it is a valid Google id, as
mirror ids are, else a stable base32hex hash), its etag the master's etag combined with its
exceptions' etags (``google_mapping.item_etag``). Writes always send ``sendUpdates=none`` so a
mirror never e-mails attendees; ``If-Match`` carries the master's etag. Cursors are Google's
``nextSyncToken``; a 410 ``fullSyncRequired`` raises ``CursorExpiredError``. What the JSON
mapping keeps and loses is documented in ``google_mapping``.

Known limits: an etag does not cover a concurrent edit of an exception alone on update/delete
(Google's If-Match is per resource); an unconditional update of a deleted series revives it
(Google allows that); a cancelled override written with its details may come back from the
real service as a bare cancellation, which reads as an EXDATE.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx

from ..errors import AlreadyExistsError, CursorExpiredError, InvalidEventError, ProviderError
from ..model import Event, as_utc
from . import google_mapping as gm
from .base import Calendar, Item, ItemError, ItemRef, Listing
from .http import send

API_URL = "https://www.googleapis.com/calendar/v3"
PAGE_SIZE = 2500
_NO_MAIL = {"sendUpdates": "none"}
_LIST = {"maxResults": str(PAGE_SIZE), "singleEvents": "false", "showDeleted": "false"}
Resource = dict[str, Any]


class GoogleCalendar(Calendar):
    """One Google calendar (``calendar_id``) reached through ``client`` (which carries the auth)."""

    kind = "google"

    def __init__(
        self,
        name: str,
        calendar_id: str,
        client: httpx.AsyncClient,
        *,
        api_url: str = API_URL,
        read_only: bool = False,
    ) -> None:
        super().__init__(name)
        self.calendar_id = calendar_id
        self.client = client
        self.api_url = api_url.rstrip("/")
        self.read_only = read_only  # type: ignore[misc]  # instance override of the class flag
        self._zone: ZoneInfo | None = None

    # ----------------------------------------------------------------- urls and helpers

    @property
    def _events_url(self) -> str:
        return f"{self.api_url}/calendars/{quote(self.calendar_id, safe='')}/events"

    def _event_url(self, event_id: str) -> str:
        return f"{self._events_url}/{quote(event_id, safe='')}"

    def href_for(self, uid: str) -> str:
        return gm.event_id_for(uid)

    async def _json(self, method: str, url: str, **kwargs: Any) -> Resource:
        response = await send(self.client, method, url, **kwargs)
        return _body(response, method)

    async def time_zone(self) -> ZoneInfo:
        """The calendar's own zone (floating times are written in it); fetched once."""
        if self._zone is None:
            data = await self._json("GET", f"{self.api_url}/calendars/{quote(self.calendar_id, safe='')}")
            name = str(data.get("timeZone") or "UTC")
            try:
                self._zone = ZoneInfo(name)
            except (ValueError, KeyError):
                self._zone = ZoneInfo("UTC")
        return self._zone

    async def _zone_for(self, event: Event) -> ZoneInfo:
        floating = any(
            isinstance(m, datetime) and m.tzinfo is None
            for c in event.components
            for m in (c.start, c.end, c.recurrence_id, *c.exdates, *c.rdates)
        )
        return await self.time_zone() if floating else ZoneInfo("UTC")

    # ----------------------------------------------------------------- reading

    async def list_changes(
        self, cursor: str | None, known: Mapping[str, str | None] | None = None
    ) -> Listing:
        """Everything (cursor None) or what changed since the sync token ``cursor``.

        Raises CursorExpiredError on 410; other failures as ProviderError subclasses.
        """
        params = dict(_LIST)
        if cursor is not None:
            params["syncToken"] = cursor
        resources: list[Resource] = []
        next_sync: str | None = None
        while True:
            response = await send(self.client, "GET", self._events_url, params=params, handle=(410,))
            if response.status_code == 410:
                raise CursorExpiredError(
                    f"calendar {self.name!r}: the sync token expired (410 fullSyncRequired)"
                )
            page = _body(response, "GET")
            resources.extend(r for r in page.get("items") or () if isinstance(r, dict) and r.get("id"))
            if page.get("nextPageToken"):
                params = {**params, "pageToken": str(page["nextPageToken"])}
                continue
            next_sync = page.get("nextSyncToken")
            break
        listing = Listing(cursor=next_sync, full=cursor is None)
        await self._collect(resources, listing, known or {}, incremental=cursor is not None)
        return listing

    async def _collect(
        self,
        resources: list[Resource],
        listing: Listing,
        known: Mapping[str, str | None],
        *,
        incremental: bool,
    ) -> None:
        masters: dict[str, Resource] = {}
        exceptions: dict[str, list[Resource]] = {}
        for resource in resources:
            parent = resource.get("recurringEventId")
            if parent:
                exceptions.setdefault(str(parent), []).append(resource)
            else:
                masters[str(resource["id"])] = resource
        for href in dict.fromkeys([*masters, *exceptions]):
            master = masters.get(href)
            if master is not None and master.get("status") == "cancelled":
                if incremental:
                    listing.removed.append(href)
                continue
            series = exceptions.get(href, [])
            if incremental and (series or (master is not None and master.get("recurrence"))):
                # Only what changed is in the page: fetch the whole series so the item is complete.
                fetched = await self._series(href, master or series[0])
                if fetched is None:
                    listing.removed.append(href)
                    continue
                master, series = fetched
            self._add(listing, href, master, series, known)

    def _add(
        self,
        listing: Listing,
        href: str,
        master: Resource | None,
        series: list[Resource],
        known: Mapping[str, str | None],
    ) -> None:
        etag = gm.item_etag(master, series)
        if href in known and known[href] == etag:
            listing.unchanged.append(href)
            return
        try:
            event = gm.event_from(master, series, self._zone)
        except InvalidEventError as exc:
            listing.errors.append(ItemError(href, f"{href}: {exc}"))
            return
        except Exception as exc:  # a mapping bug on one item must not sink the listing
            listing.errors.append(ItemError(href, f"{href}: could not be read ({type(exc).__name__}: {exc})"))
            return
        if event is None:
            if listing.full is False:
                listing.removed.append(href)
            return
        listing.items.append(Item(href, etag, event))

    async def _series(
        self, master_id: str, sample: Resource
    ) -> tuple[Resource | None, list[Resource]] | None:
        """The master ``master_id`` and its exceptions as they are now; None when the series is gone."""
        uid = sample.get("iCalUID")
        master: Resource | None = None
        if not uid:
            response = await send(self.client, "GET", self._event_url(master_id), handle=(404, 410))
            if response.status_code in (404, 410):
                return None
            master = _body(response, "GET")
            uid = master.get("iCalUID")
        params = {**_LIST, "iCalUID": str(uid)}
        found: list[Resource] = []
        while True:
            page = await self._json("GET", self._events_url, params=params)
            found.extend(r for r in page.get("items") or () if isinstance(r, dict))
            if not page.get("nextPageToken"):
                break
            params = {**params, "pageToken": str(page["nextPageToken"])}
        master = next((r for r in found if r.get("id") == master_id), None)
        series = [r for r in found if r.get("recurringEventId") == master_id]
        if master is not None and master.get("status") == "cancelled":
            return None
        if master is None and not series:
            return None
        return master, series

    async def get(self, hrefs: list[str]) -> list[Item]:
        """The named series that exist and read; the others are left out."""
        items: list[Item] = []
        for href in hrefs:
            response = await send(self.client, "GET", self._event_url(href), handle=(400, 404, 410))
            if response.status_code >= 400:
                continue
            master = _body(response, "GET")
            if master.get("status") == "cancelled" or master.get("recurringEventId"):
                continue
            series: list[Resource] = []
            if master.get("recurrence"):
                fetched = await self._series(href, master)
                if fetched is None:
                    continue
                master, series = fetched[0] or master, fetched[1]
            listing = Listing()
            self._add(listing, href, master, series, {})
            items.extend(listing.items)
        return items

    # ----------------------------------------------------------------- writing

    async def _create(self, event: Event) -> ItemRef:
        href = self.href_for(event.uid)
        zone = await self._zone_for(event)
        body = _mapped(gm.master_body, event, href, zone)
        response = await send(
            self.client, "POST", self._events_url, params=_NO_MAIL, json=body, handle=(409,)
        )
        existing: list[Resource] = []
        if response.status_code == 409:
            master, existing = await self._adopt(href, event, body, zone)
        else:
            master = _body(response, "POST")
        return await self._write_overrides(href, event, zone, master, existing)

    async def _adopt(
        self, href: str, event: Event, body: Resource, zone: ZoneInfo
    ) -> tuple[Resource, list[Resource]]:
        """The id is taken: revive our own deleted event, continue our own interrupted create, else AlreadyExistsError."""
        response = await send(self.client, "GET", self._event_url(href), handle=(404, 410))
        if response.status_code in (404, 410):
            raise AlreadyExistsError(f"calendar {self.name!r}: event id {href} is taken")
        current = _body(response, "GET")
        if current.get("status") == "cancelled":
            headers = {"If-Match": str(current["etag"])} if current.get("etag") else {}
            revived = await self._json(
                "PUT", self._event_url(href), params=_NO_MAIL, json=body, headers=headers
            )
            return revived, []
        try:
            ours = gm.event_from(current, [], self._zone)
        except InvalidEventError:
            ours = None
        wanted = gm.kept(Event(event.uid, (event.master,), event.marker), zone)
        if ours is None or ours.marker is None or ours != wanted:
            raise AlreadyExistsError(f"calendar {self.name!r}: event id {href} already exists")
        fetched = await self._series(href, current) if current.get("recurrence") else None
        return current, (fetched[1] if fetched else [])

    async def _update(self, href: str, event: Event, etag: str | None) -> ItemRef:
        zone = await self._zone_for(event)
        body = _mapped(gm.master_body, event, href, zone)
        headers = {"If-Match": gm.split_etag(etag)} if etag else {}
        master = await self._json("PUT", self._event_url(href), params=_NO_MAIL, json=body, headers=headers)
        existing: list[Resource] = []
        if master.get("recurrence"):
            fetched = await self._series(href, master)
            existing = fetched[1] if fetched else []
        return await self._write_overrides(href, event, zone, master, existing)

    async def _write_overrides(
        self, href: str, event: Event, zone: ZoneInfo, master: Resource, existing: list[Resource]
    ) -> ItemRef:
        """PUT every override, reset exceptions the event no longer has; the ItemRef with the series etag."""
        bodies = _mapped(gm.override_bodies, event, href, zone)
        final: dict[str, Resource] = {str(r.get("id")): r for r in existing}
        exdates = {as_utc(x) for x in event.master.exdates} if event.master.exdates else set()
        for resource in existing:
            iid = str(resource.get("id"))
            if iid in bodies or not resource.get("originalStartTime"):
                continue
            try:
                rid = gm.parse_moment(resource["originalStartTime"], "originalStartTime", zone)
                current = gm.component_from(resource, zone) if resource.get("start") else None
            except InvalidEventError:
                rid, current = None, None
            if gm.is_bare_cancellation(resource) and rid is not None and as_utc(rid) in exdates:
                continue  # cancelled and excluded alike: nothing to reset
            if current is not None and rid is not None and current == gm.pattern_instance(event.master, rid):
                continue
            bodies[iid] = gm.reset_body(event, href, resource["originalStartTime"], zone)
        for iid, body in bodies.items():
            response = await send(
                self.client, "PUT", self._event_url(iid), params=_NO_MAIL, json=body, handle=(404,)
            )
            if response.status_code == 404:
                raise ProviderError(
                    f"calendar {self.name!r}: event {event.uid!r}: override {iid} is not an occurrence of its series"
                )
            final[iid] = _body(response, "PUT")
        return ItemRef(href, gm.item_etag(master, list(final.values())))

    async def _delete(self, href: str, etag: str | None) -> None:
        headers = {"If-Match": gm.split_etag(etag)} if etag else {}
        await send(self.client, "DELETE", self._event_url(href), params=_NO_MAIL, headers=headers)

    # ----------------------------------------------------------------- calendars and push

    async def check(self) -> str:
        data = await self._json("GET", f"{self.api_url}/calendars/{quote(self.calendar_id, safe='')}")
        return f"Google calendar {data.get('summary', self.calendar_id)!r} ({data.get('timeZone', 'UTC')})"

    async def list_calendars(self) -> list[tuple[str, str, bool]]:
        """(id, summary, primary) of every calendar in the account, for connection setup."""
        found: list[tuple[str, str, bool]] = []
        params: dict[str, str] = {"maxResults": "250"}
        while True:
            page = await self._json("GET", f"{self.api_url}/users/me/calendarList", params=params)
            for entry in page.get("items") or ():
                found.append(
                    (str(entry.get("id")), str(entry.get("summary") or ""), bool(entry.get("primary")))
                )
            if not page.get("nextPageToken"):
                return found
            params = {**params, "pageToken": str(page["nextPageToken"])}

    async def watch(
        self, address: str, token: str, channel_id: str, ttl: timedelta
    ) -> tuple[str, str, datetime]:
        """Open a push channel to ``address``; (channel id, resource id, expiration) as Google granted them."""
        expiration = int((datetime.now(UTC) + ttl).timestamp() * 1000)
        body = {
            "id": channel_id,
            "type": "web_hook",
            "address": address,
            "token": token,
            "expiration": str(expiration),
        }
        data = await self._json("POST", f"{self._events_url}/watch", json=body)
        granted = int(data.get("expiration") or expiration)
        return (
            str(data.get("id") or channel_id),
            str(data.get("resourceId") or ""),
            datetime.fromtimestamp(granted / 1000, UTC),
        )

    async def stop_watch(self, channel_id: str, resource_id: str) -> None:
        """Stop a push channel; a channel already gone is not an error."""
        await send(
            self.client,
            "POST",
            f"{self.api_url}/channels/stop",
            json={"id": channel_id, "resourceId": resource_id},
            handle=(404,),
        )


def _body(response: httpx.Response, method: str) -> Resource:
    try:
        data = response.json()
    except ValueError:
        raise ProviderError(f"{method} {response.request.url}: the answer is not JSON") from None
    if not isinstance(data, dict):
        raise ProviderError(f"{method} {response.request.url}: the answer is not a JSON object")
    return data


def _mapped(function: Any, event: Event, href: str, zone: ZoneInfo) -> Any:
    """Call a mapping writer, turning what Google cannot hold into a ProviderError for this event."""
    try:
        return function(event, href, zone)
    except InvalidEventError as exc:
        raise ProviderError(str(exc)) from exc


__all__ = ["GoogleCalendar"]
