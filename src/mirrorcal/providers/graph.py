"""The Microsoft Graph adapter (Outlook / Microsoft 365 calendars), kind ``microsoft``.

Every request goes through ``providers.http.send`` (retries, backoff, error mapping) with
``Prefer: IdType="ImmutableId"`` so ids survive moves. Authentication is the client's (an
``httpx.Auth`` on it, or a bearer header in tests).

* **hrefs** are Graph ids of single events and series masters. Graph chooses ids, so
  ``href_for(uid)`` is ``"uid:" + uid``: a name ``get``/``update``/``delete`` resolve by looking
  the UID up in its extended property (one request).
* **Listing** is a calendarView delta over a window (``window_days_back`` = 90 days before
  now to ``window_days_ahead`` = 400 days after; events wholly outside it are not seen). The
  cursor is ``graph:`` + JSON: the ``@odata.deltaLink`` and, per series seen, short hashes of
  its occurrence ids (delta lists occurrences and exceptions, never masters, and reports a
  removed occurrence by its id alone). Singles are fetched with ``$expand`` of our extended
  properties (delta never returns them); a series is its master plus its instances, read
  again whenever one of its occurrences changes. An expired token (410, ``syncStateNotFound``,
  ``resyncRequired``) raises ``CursorExpiredError``.
* **Writes**: create looks the UID up first (taken -> ``AlreadyExistsError``) and POSTs with a
  ``transactionId`` derived from calendar and UID, so a create retried after a lost answer
  returns the same event. A series' EXDATEs and cancelled overrides become deleted
  occurrences, overrides PATCHed occurrences. Update and delete send ``If-Match`` (412 ->
  ``ConflictError``). An event Graph cannot hold (RDATE, an RRULE outside its patterns)
  raises ``InvalidEventError`` before anything is written. An occurrence deleted earlier that
  must come back makes the update lay the series out afresh (recurrence dropped and set again).
* **Push**: ``subscribe``/``renew``/``unsubscribe`` manage a change subscription on the
  calendar's events; ``list_calendars`` lists the mailbox's calendars.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from ..errors import (
    AlreadyExistsError,
    CursorExpiredError,
    InvalidEventError,
    NotFoundError,
    ProviderError,
)
from ..model import Component, Event, as_utc, moment_key
from . import graph_mapping as gm
from .base import Calendar, Item, ItemError, ItemRef, Listing
from .graph_recurrence import occurrence_starts
from .http import error_for, send

CURSOR_PREFIX = "graph:"
UID_PREFIX = "uid:"
_EXPIRED_CODES = ("syncstatenotfound", "resyncrequired", "syncstateinvalid")
_MAX_PAGES = 10_000
_INSTANCE_MARGIN = timedelta(days=31)
_NAMESPACE = uuid.UUID("5b0d6c3e-2f4a-4f8e-9a7c-1e2d3c4b5a69")


def _short(event_id: str) -> str:
    return base64.urlsafe_b64encode(hashlib.blake2b(event_id.encode(), digest_size=6).digest()).decode()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _etag(obj: Mapping[str, Any]) -> str | None:
    value = obj.get("@odata.etag") or obj.get("changeKey")
    return str(value) if value else None


def _error_code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("code") or "") if isinstance(error, dict) else ""


class GraphCalendar(Calendar):
    """One Outlook calendar (``calendar_id``) of the signed-in mailbox, reached through ``client``."""

    kind = "microsoft"

    def __init__(
        self,
        name: str,
        calendar_id: str,
        client: httpx.AsyncClient,
        *,
        api_url: str = "https://graph.microsoft.com/v1.0",
        read_only: bool = False,
        window_days_back: int = 90,
        window_days_ahead: int = 400,
        floating_zone: str = "UTC",
        page_size: int = 100,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(name)
        self.calendar_id = calendar_id
        self.client = client
        self.api_url = api_url.rstrip("/")
        self.read_only = read_only  # type: ignore[misc]  # instance override of the class flag
        self.window_days_back = window_days_back
        self.window_days_ahead = window_days_ahead
        self.floating_zone = floating_zone
        self.page_size = page_size
        self._clock = clock or (lambda: datetime.now(UTC))

    # ----------------------------------------------------------------- plumbing

    def _url(self, path: str) -> str:
        return f"{self.api_url}/{path.lstrip('/')}"

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = {"Prefer": 'IdType="ImmutableId"', **kwargs.pop("headers", {})}
        return await send(self.client, method, url, headers=headers, **kwargs)

    def window(self) -> tuple[datetime, datetime]:
        """The [start, end) of the calendarView this calendar lists, in UTC, whole days."""
        today = self._clock().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return today - timedelta(days=self.window_days_back), today + timedelta(days=self.window_days_ahead)

    def href_for(self, uid: str) -> str:
        """``uid:<uid>``: resolved to the Graph id by an extended-property lookup (ids are Graph's)."""
        return UID_PREFIX + uid

    async def _find_uid(self, uid: str) -> list[dict[str, Any]]:
        value = uid.replace("'", "''")
        flt = f"singleValueExtendedProperties/Any(ep: ep/id eq '{gm.UID_ID}' and ep/value eq '{value}')"
        response = await self._send(
            "GET",
            self._url(f"me/calendars/{self.calendar_id}/events"),
            params={"$filter": flt, "$expand": gm.EXPAND},
        )
        return list(response.json().get("value") or [])

    async def _resolve(self, href: str) -> str | None:
        if not href.startswith(UID_PREFIX):
            return href
        found = await self._find_uid(href[len(UID_PREFIX) :])
        return str(found[0]["id"]) if found else None

    # ----------------------------------------------------------------- reading

    async def _read(self, event_id: str, known_etag: str | None = None) -> Item | ItemError | str | None:
        """The item for a single event or series master id: an Item, an ItemError, the id itself
        when its etag equals ``known_etag`` (unchanged), or None when it is gone."""
        response = await self._send(
            "GET", self._url(f"me/events/{event_id}"), params={"$expand": gm.EXPAND}, handle=(404,)
        )
        if response.status_code == 404:
            return None
        try:
            obj = response.json()
        except ValueError:
            return ItemError(event_id, f"{event_id}: the server sent an unreadable event")
        etag = _etag(obj) if isinstance(obj, dict) else None
        if known_etag is not None and etag == known_etag:
            return event_id
        try:
            instances: list[dict[str, Any]] = []
            if isinstance(obj, dict) and obj.get("recurrence"):
                instances = await self._instances(event_id)
            event = gm.event_from_graph(obj, instances, checked=self.window())
        except InvalidEventError as exc:
            return ItemError(event_id, f"{event_id}: {exc}")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            return ItemError(event_id, f"{event_id}: could not be read ({type(exc).__name__}: {exc})")
        return Item(event_id, etag, event)

    async def _instances(
        self, master_id: str, span: tuple[datetime, datetime] | None = None
    ) -> list[dict[str, Any]]:
        after, before = span or self.window()
        url: str | None = self._url(f"me/events/{master_id}/instances")
        params: dict[str, str] | None = {
            "startDateTime": _iso(after - _INSTANCE_MARGIN),
            "endDateTime": _iso(before + _INSTANCE_MARGIN),
        }
        found: list[dict[str, Any]] = []
        for _ in range(_MAX_PAGES):
            if url is None:
                break
            response = await self._send("GET", url, params=params, headers={"Prefer": self._prefer_page()})
            body = response.json()
            found += list(body.get("value") or [])
            url, params = body.get("@odata.nextLink"), None
        return found

    def _prefer_page(self) -> str:
        return f'IdType="ImmutableId", odata.maxpagesize={self.page_size}'

    async def _delta(self, cursor: str | None) -> tuple[list[dict[str, Any]], str, dict[str, list[str]]]:
        """Every delta entry since ``cursor``, the new deltaLink and the occurrence map carried."""
        series: dict[str, list[str]] = {}
        if cursor is None:
            after, before = self.window()
            url = self._url(f"me/calendars/{self.calendar_id}/calendarView/delta")
            params: dict[str, str] | None = {"startDateTime": _iso(after), "endDateTime": _iso(before)}
        else:
            if not cursor.startswith(CURSOR_PREFIX):
                raise CursorExpiredError(f"calendar {self.name!r}: {cursor[:40]!r} is not a Graph cursor")
            try:
                state = json.loads(cursor[len(CURSOR_PREFIX) :])
                url, series = str(state["d"]), {str(k): list(v) for k, v in state.get("s", {}).items()}
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise CursorExpiredError(f"calendar {self.name!r}: unreadable Graph cursor ({exc})") from exc
            params = None
        entries: list[dict[str, Any]] = []
        for _ in range(_MAX_PAGES):
            response = await self._send(
                "GET", url, params=params, headers={"Prefer": self._prefer_page()}, handle=(400, 404, 410)
            )
            if response.status_code in (400, 404, 410):
                code = _error_code(response).lower()
                if response.status_code == 410 or code in _EXPIRED_CODES:
                    raise CursorExpiredError(
                        f"calendar {self.name!r}: delta token expired (HTTP {response.status_code} {code})"
                    )
                raise error_for(response)
            body = response.json()
            entries += [e for e in body.get("value") or [] if isinstance(e, dict)]
            if body.get("@odata.deltaLink"):
                return entries, str(body["@odata.deltaLink"]), series
            url, params = body.get("@odata.nextLink"), None
            if not url:
                raise ProviderError(
                    f"calendar {self.name!r}: a delta page had neither nextLink nor deltaLink"
                )
        raise ProviderError(f"calendar {self.name!r}: delta did not end after {_MAX_PAGES} pages")

    async def list_changes(
        self, cursor: str | None, known: Mapping[str, str | None] | None = None
    ) -> Listing:
        """Changes in the window since ``cursor`` (everything in it when None); see the module doc.
        Raises CursorExpiredError when Graph rejects the token, ProviderError subclasses otherwise."""
        known = known or {}
        entries, link, series = await self._delta(cursor)
        by_hash = {h: master for master, hashes in series.items() for h in hashes}
        singles: dict[str, dict[str, Any]] = {}
        masters: set[str] = set()
        removed: list[str] = []
        errors: list[ItemError] = []
        if cursor is None:
            series = {}
        for entry in entries:
            event_id = str(entry.get("id") or "")
            if not event_id:
                errors.append(
                    ItemError("", f"calendar {self.name!r}: a delta entry without an id: {str(entry)[:120]}")
                )
                continue
            if "@removed" in entry:
                master = by_hash.get(_short(event_id))
                if master is not None:
                    masters.add(master)
                    series[master] = [h for h in series.get(master, []) if h != _short(event_id)]
                else:
                    singles.pop(event_id, None)
                    removed.append(event_id)
                continue
            kind = entry.get("type")
            if kind in ("occurrence", "exception") and entry.get("seriesMasterId"):
                master = str(entry["seriesMasterId"])
                masters.add(master)
                hashes = series.setdefault(master, [])
                if _short(event_id) not in hashes:
                    hashes.append(_short(event_id))
            elif kind == "seriesMaster":
                masters.add(event_id)
            else:
                singles[event_id] = entry
                if event_id in removed:
                    removed.remove(event_id)
        listing = Listing(full=cursor is None, errors=errors)
        gate = asyncio.Semaphore(4)

        async def one(event_id: str, entry: dict[str, Any] | None) -> None:
            etag = _etag(entry) if entry is not None else None
            if entry is not None and etag is not None and known.get(event_id) == etag:
                listing.unchanged.append(event_id)
                return
            async with gate:
                result = await self._read(event_id, known.get(event_id) if entry is None else None)
            if result is None:
                series.pop(event_id, None)
                if cursor is not None:
                    listing.removed.append(event_id)
            elif isinstance(result, str):
                listing.unchanged.append(result)
            elif isinstance(result, Item):
                listing.items.append(result)
            else:
                listing.errors.append(result)

        await asyncio.gather(
            *(one(i, e) for i, e in singles.items()), *(one(m, None) for m in sorted(masters - set(singles)))
        )
        listing.removed = list(dict.fromkeys(removed + listing.removed)) if cursor is not None else []
        listing.cursor = CURSOR_PREFIX + json.dumps({"d": link, "s": series}, separators=(",", ":"))
        return listing

    async def get(self, hrefs: list[str]) -> list[Item]:
        """The named items (Graph ids or ``uid:`` names) that exist and parse; others left out."""
        found: list[Item] = []
        for href in hrefs:
            event_id = await self._resolve(href)
            if event_id is None:
                continue
            result = await self._read(event_id)
            if isinstance(result, Item):
                found.append(result)
        return found

    async def check(self) -> str:
        response = await self._send("GET", self._url(f"me/calendars/{self.calendar_id}"))
        body = response.json()
        access = "read-only" if self.read_only or not body.get("canEdit", True) else "writable"
        return f"Microsoft calendar {body.get('name', self.calendar_id)!r} ({access})"

    async def list_calendars(self) -> list[tuple[str, str, bool]]:
        """Every calendar of the mailbox as (id, name, is the default calendar)."""
        url: str | None = self._url("me/calendars")
        found: list[tuple[str, str, bool]] = []
        for _ in range(_MAX_PAGES):
            if url is None:
                break
            body = (await self._send("GET", url)).json()
            found += [
                (str(c.get("id")), str(c.get("name") or ""), bool(c.get("isDefaultCalendar")))
                for c in body.get("value") or []
            ]
            url = body.get("@odata.nextLink")
        return found

    # ----------------------------------------------------------------- writing

    def _bodies(self, event: Event) -> tuple[dict[str, Any], list[tuple[Component, dict[str, Any]]]]:
        """The master's body and each override's; raises InvalidEventError before any write."""
        head = event.components[0]
        if head.recurrence_id is not None:
            raise InvalidEventError(
                f"event {event.uid!r}: an override without its series cannot be written to Graph"
            )
        body = gm.to_graph(head, uid=event.uid, marker=event.marker, floating_zone=self.floating_zone)
        overrides = [(c, gm.to_graph(c, floating_zone=self.floating_zone)) for c in event.overrides]
        if overrides and not head.rrule:
            raise InvalidEventError(f"event {event.uid!r}: overrides without a recurrence rule")
        return body, overrides

    async def _create(self, event: Event) -> ItemRef:
        body, overrides = self._bodies(event)
        existing = await self._find_uid(event.uid)
        if existing:
            raise AlreadyExistsError(
                f"calendar {self.name!r}: an event with UID {event.uid!r} already exists ({existing[0].get('id')})"
            )
        body["transactionId"] = str(uuid.uuid5(_NAMESPACE, f"{self.calendar_id}\x1f{event.uid}"))
        response = await self._send("POST", self._url(f"me/calendars/{self.calendar_id}/events"), json=body)
        created = response.json()
        event_id = str(created["id"])
        etag = await self._apply_overrides(event_id, event, overrides) or _etag(created)
        return ItemRef(event_id, etag)

    async def _update(self, href: str, event: Event, etag: str | None) -> ItemRef:
        body, overrides = self._bodies(event)
        event_id = await self._resolve(href)
        if event_id is None:
            raise NotFoundError(f"calendar {self.name!r}: no event has UID {href[len(UID_PREFIX) :]!r}")
        headers = {"If-Match": etag} if etag else {}
        response = await self._send("PATCH", self._url(f"me/events/{event_id}"), json=body, headers=headers)
        new_etag = await self._apply_overrides(event_id, event, overrides) or _etag(response.json())
        return ItemRef(event_id, new_etag)

    async def _delete(self, href: str, etag: str | None) -> None:
        event_id = await self._resolve(href)
        if event_id is None:
            raise NotFoundError(f"calendar {self.name!r}: no event has UID {href[len(UID_PREFIX) :]!r}")
        headers = {"If-Match": etag} if etag else {}
        await self._send("DELETE", self._url(f"me/events/{event_id}"), headers=headers)

    async def _apply_overrides(
        self, event_id: str, event: Event, overrides: list[tuple[Component, dict[str, Any]]]
    ) -> str | None:
        """Make the series' occurrences match the event: delete EXDATEs and cancelled overrides,
        PATCH overrides, put unwanted exceptions back to the master's values. Returns the
        master's etag after the changes (None when nothing was written)."""
        head = event.components[0]
        if not head.rrule:
            return None
        rids = [(c.recurrence_id, c, b) for c, b in overrides if c.recurrence_id is not None]
        cancelled = {moment_key(m) for m in head.exdates}
        cancelled |= {moment_key(r) for r, c, _ in rids if c.status.upper() == "CANCELLED"}
        wanted = {moment_key(r): (c, b) for r, c, b in rids if c.status.upper() != "CANCELLED"}
        moments = [as_utc(m) for m in head.exdates] + [as_utc(r) for r, _, _ in rids]
        after, before = self.window()
        span = (min([after, *moments]), max([before, *(m + timedelta(days=1) for m in moments)]))
        duration = gm.span(head)
        zone = gm.zone_for(gm.graph_time(head.start, self.floating_zone)["timeZone"])
        instances = await self._instances(event_id, span)
        present = {moment_key(gm.original_start(i, head.start, zone)) for i in instances}
        expected = {moment_key(m) for m in occurrence_starts(head.rrule[0], head.start, *span)}
        wrote = False
        if expected - cancelled - present:
            # An occurrence deleted earlier must come back: Graph lays a series out afresh
            # (exceptions and deletions gone) when its recurrence changes, so drop it and set it again.
            recurrence = gm.to_graph(head, uid=event.uid)["recurrence"]
            for value in (None, recurrence):
                await self._send("PATCH", self._url(f"me/events/{event_id}"), json={"recurrence": value})
            instances = await self._instances(event_id, span)
            wrote = True
        for inst in instances:
            occurrence_id = str(inst["id"])
            rid = gm.original_start(inst, head.start, zone)
            key = moment_key(rid)
            if key in cancelled:
                await self._send("DELETE", self._url(f"me/events/{occurrence_id}"), handle=(404,))
                wrote = True
            elif key in wanted:
                component, body = wanted[key]
                current = replace(gm.component_from_graph(inst), recurrence_id=rid)
                if current != replace(component, url="", created=None, last_modified=None):
                    await self._send("PATCH", self._url(f"me/events/{occurrence_id}"), json=body)
                    wrote = True
            elif inst.get("type") == "exception":
                plain = replace(head, start=rid, end=gm.plus(rid, duration), rrule=(), exdates=(), rdates=())
                await self._send("PATCH", self._url(f"me/events/{occurrence_id}"), json=gm.to_graph(plain))
                wrote = True
        if not wrote:
            return None
        response = await self._send("GET", self._url(f"me/events/{event_id}"))
        return _etag(response.json())

    # ----------------------------------------------------------------- push

    async def subscribe(
        self,
        notification_url: str,
        client_state: str,
        expiration: datetime,
        *,
        lifecycle_url: str | None = None,
    ) -> tuple[str, datetime]:
        """Subscribe to created/updated/deleted events of this calendar; returns (id, expiration).
        Graph first validates ``notification_url`` (it must echo ``validationToken``)."""
        body: dict[str, Any] = {
            "changeType": "created,updated,deleted",
            "notificationUrl": notification_url,
            "resource": f"me/calendars/{self.calendar_id}/events",
            "expirationDateTime": _iso(expiration),
            "clientState": client_state,
        }
        if lifecycle_url:
            body["lifecycleNotificationUrl"] = lifecycle_url
        created = (await self._send("POST", self._url("subscriptions"), json=body)).json()
        return str(created["id"]), _parse_expiration(created, expiration)

    async def renew(self, subscription_id: str, expiration: datetime) -> datetime:
        """Move the subscription's expiration; NotFoundError when it is gone (subscribe again)."""
        body = {"expirationDateTime": _iso(expiration)}
        answer = (await self._send("PATCH", self._url(f"subscriptions/{subscription_id}"), json=body)).json()
        return _parse_expiration(answer, expiration)

    async def unsubscribe(self, subscription_id: str) -> None:
        """Delete the subscription; one already gone is not an error."""
        await self._send("DELETE", self._url(f"subscriptions/{subscription_id}"), handle=(404,))


def _parse_expiration(body: Mapping[str, Any], fallback: datetime) -> datetime:
    try:
        return datetime.fromisoformat(str(body["expirationDateTime"]).replace("Z", "+00:00")).astimezone(UTC)
    except (KeyError, ValueError):
        return fallback


__all__ = ["GraphCalendar"]
