"""A Google Calendar API v3 emulator: a real HTTP server on 127.0.0.1 for tests, the demo and benchmarks.

Routes (under ``{base_url}/calendar/v3/``; Bearer auth on every one): ``users/me/calendarList``,
``calendars/{cid}``, ``calendars/{cid}/events`` (list, insert), ``calendars/{cid}/events/{id}``
(get, PUT, PATCH, DELETE), ``calendars/{cid}/events/watch``, ``channels/stop``, ``freeBusy``.
OAuth: ``/o/oauth2/v2/auth``, ``/token``, ``/revoke`` (the base's ``OAuthAuthority``).
The event rules live in ``google_store``. Faults on API routes: ``"429"`` answers 429 with
``Retry-After`` and 403 ``rateLimitExceeded`` alternately, ``"500"`` 500 ``backendError``,
``"timeout"`` applies the request and then hangs ``faults.hang_seconds`` before answering, and
``"412"`` (only with ``If-Match``) bumps the event's etag as a concurrent edit would and answers
412 ``conditionNotMet``. Push: a watch channel gets a ``sync`` notification, then ``exists`` on
every change to its calendar, until it expires (``max_channel_seconds``) or is stopped.
"""

from __future__ import annotations

import json
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .emulator import Emulator
from .google_store import ApiError, GoogleStore, Resource

API = "/calendar/v3"
Handler = Callable[[Request, Any], Response]


@dataclass(slots=True)
class Channel:
    """One watch channel on a calendar's events."""

    id: str
    resource_id: str
    calendar_id: str
    address: str
    token: str
    expiration_ms: int
    messages: int = 0


class GoogleEmulator(Emulator):
    """The Google Calendar API v3 over real HTTP, with knobs and an owner's direct access (thread-safe).

    ``calendar_id`` is ``"primary"`` (the default calendar, stored under the user's e-mail).
    ``requests`` counts API requests by ``"METHOD kind"``; ``last_send_updates`` is the
    ``sendUpdates`` of the last write (None when absent); ``store.max_page_items`` caps the
    items per page so pages come short with a token. ``serve_empty`` holds calendar ids whose
    event listings (full or incremental, not ``iCalUID`` look-ups) answer one valid, complete page
    with no items and the sync token they would have ended with: a provider's glitch (the owner
    deleted nothing); expired tokens still get their 410.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        subject: str = "recruiter@example.test",
        max_channel_seconds: float = 7 * 86400,
    ) -> None:
        super().__init__(port=port, subject=subject)
        self.store = GoogleStore(subject, on_change=self._notify)
        self.store.add_calendar(subject, subject, primary=True)
        self.calendar_id = "primary"
        self.max_channel_seconds = max_channel_seconds
        self.channels: dict[str, Channel] = {}
        self.requests: Counter[str] = Counter()
        self.last_send_updates: str | None = None
        self.send_updates: Counter[str] = Counter()
        self.serve_empty: set[str] = set()
        self._flip = False

    # ----------------------------------------------------------------- knobs (owner's hands)

    def describe(self) -> dict[str, str]:
        return {"base_url": self.base_url, "access_token": self.access_token, "calendar_id": self.calendar_id}

    @property
    def api_url(self) -> str:
        return self.base_url + API

    def add_calendar(self, cid: str, summary: str = "", time_zone: str = "UTC") -> str:
        with self.lock:
            return self.store.add_calendar(cid, summary or cid, time_zone=time_zone)

    def user_insert(self, cid: str, body: Resource) -> Resource:
        """Insert an event as the calendar's owner would (validated; raises ApiError)."""
        with self.lock:
            return self.store.insert(cid, body)

    def user_update(self, cid: str, event_id: str, fields: Resource) -> Resource:
        """PATCH ``fields`` into an event or instance as the owner would."""
        with self.lock:
            return self.store.update(cid, event_id, fields, if_match=None, patch=True)

    def user_delete(self, cid: str, event_id: str) -> None:
        with self.lock:
            self.store.delete(cid, event_id, if_match=None)

    def put_raw(self, cid: str, body: Resource) -> Resource:
        """Store any JSON as an event, unvalidated (a malformed event)."""
        with self.lock:
            return self.store.put_raw(cid, body)

    def events(self, cid: str = "primary") -> list[Resource]:
        """The calendar's current non-cancelled resources (masters, singles, exceptions)."""
        with self.lock:
            return self.store.live(cid)

    def expire_sync_tokens(self) -> None:
        with self.lock:
            self.store.expire_sync_tokens()

    # ----------------------------------------------------------------- push

    def _notify(self, cid: str) -> None:
        """Called under the lock after every change to calendar ``cid``."""
        for channel in list(self.channels.values()):
            if channel.calendar_id == cid:
                self._send(channel, "exists")

    def _send(self, channel: Channel, state: str) -> None:
        if channel.expiration_ms <= time.time() * 1000:
            return
        channel.messages += 1
        expires = datetime.fromtimestamp(channel.expiration_ms / 1000, UTC)
        headers = {
            "X-Goog-Channel-ID": channel.id,
            "X-Goog-Message-Number": str(channel.messages),
            "X-Goog-Resource-ID": channel.resource_id,
            "X-Goog-Resource-State": state,
            "X-Goog-Resource-URI": f"{self.api_url}/calendars/{channel.calendar_id}/events?alt=json",
            "X-Goog-Channel-Expiration": format_datetime(expires, usegmt=True),
        }
        if channel.token:
            headers["X-Goog-Channel-Token"] = channel.token
        self.push.deliver(channel.address, headers=headers)

    # ----------------------------------------------------------------- routes

    def routes(self) -> list[BaseRoute]:
        ev = API + "/calendars/{cid}/events"
        return [
            Route("/o/oauth2/v2/auth", self.oauth.authorize_endpoint, methods=["GET"]),
            Route("/token", self.oauth.token_endpoint, methods=["POST"]),
            Route("/revoke", self.oauth.revoke_endpoint, methods=["POST"]),
            Route(
                API + "/users/me/calendarList",
                self._api("calendarList", self._calendar_list),
                methods=["GET"],
            ),
            Route(API + "/freeBusy", self._api("freeBusy", self._free_busy), methods=["POST"]),
            Route(API + "/channels/stop", self._api("stop", self._stop), methods=["POST"]),
            Route(ev + "/watch", self._api("watch", self._watch), methods=["POST"]),
            Route(ev + "/{eid}", self._api("event", self._event), methods=["GET", "PUT", "PATCH", "DELETE"]),
            Route(ev, self._api("events", self._events), methods=["GET", "POST"]),
            Route(API + "/calendars/{cid}", self._api("calendar", self._calendar), methods=["GET"]),
        ]

    def _api(self, kind: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            denied = await self.authorize(request)
            if denied is not None:
                return denied
            self.requests[f"{request.method} {kind}"] += 1
            fault = self.faults.pick(request)
            if fault == "429":
                return self._rate_limited()
            if fault == "500":
                return _error(ApiError(500, "backendError", "Backend Error"))
            body: Any = None
            if request.method in ("POST", "PUT", "PATCH"):
                try:
                    raw = await request.body()
                except ClientDisconnect:  # the client died mid-request (a killed process): nobody to answer
                    return Response(status_code=499)
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    return _error(ApiError(400, "parseError", "Parse Error"))
                if not isinstance(body, dict):
                    return _error(ApiError(400, "parseError", "Parse Error"))
            if fault == "412":
                with self.lock:
                    try:
                        self.store.bump(
                            request.path_params.get("cid", ""), request.path_params.get("eid", "")
                        )
                    except ApiError:
                        pass
                return _error(ApiError(412, "conditionNotMet", "Precondition Failed"))
            if request.method != "GET" and "sendUpdates" in request.query_params:
                self.last_send_updates = request.query_params["sendUpdates"]
                self.send_updates[self.last_send_updates] += 1
            try:
                with self.lock:
                    response = handler(request, body)
            except ApiError as exc:
                response = _error(exc)
            if fault == "timeout":
                await self.hang()
            return response

        return endpoint

    def _rate_limited(self) -> Response:
        self._flip = not self._flip
        headers = {"Retry-After": f"{self.faults.retry_after:g}"}
        if self._flip:
            return _error(ApiError(429, "rateLimitExceeded", "Rate Limit Exceeded", "usageLimits"), headers)
        return _error(ApiError(403, "rateLimitExceeded", "Rate Limit Exceeded", "usageLimits"))

    def _calendar_list(self, request: Request, body: Any) -> Response:
        entries = [
            {"kind": "calendar#calendarListEntry", "etag": '"1"', "id": c.id, "summary": c.summary,
             "timeZone": c.time_zone, "accessRole": "owner", **({"primary": True} if c.primary else {})}
            for c in self.store.calendars.values()
        ]  # fmt: skip
        size = int(request.query_params.get("maxResults", "100"))
        start = int(request.query_params.get("pageToken", "0") or 0)
        page: Resource = {
            "kind": "calendar#calendarList",
            "etag": '"1"',
            "items": entries[start : start + size],
        }
        if start + size < len(entries):
            page["nextPageToken"] = str(start + size)
        else:
            page["nextSyncToken"] = "calendarList-1"
        return JSONResponse(page)

    def _calendar(self, request: Request, body: Any) -> Response:
        cal = self.store.calendar(request.path_params["cid"])
        return JSONResponse(
            {
                "kind": "calendar#calendar",
                "etag": '"1"',
                "id": cal.id,
                "summary": cal.summary,
                "timeZone": cal.time_zone,
            }
        )

    def _events(self, request: Request, body: Any) -> Response:
        cid = request.path_params["cid"]
        if request.method == "GET":
            page = self.store.list_events(cid, request.query_params)
            glitch = {cid, self.store.calendar(cid).id} & self.serve_empty
            if glitch and "iCalUID" not in request.query_params:
                while page.get("nextPageToken"):
                    params = {**request.query_params, "pageToken": str(page.pop("nextPageToken"))}
                    page = self.store.list_events(cid, params)
                page["items"] = []
            return JSONResponse(page)
        return JSONResponse(self.store.insert(cid, body))

    def _event(self, request: Request, body: Any) -> Response:
        cid, eid = request.path_params["cid"], request.path_params["eid"]
        if_match = request.headers.get("if-match")
        if request.method == "GET":
            return JSONResponse(self.store.get(cid, eid))
        if request.method == "DELETE":
            self.store.delete(cid, eid, if_match=if_match)
            return Response(status_code=204)
        return JSONResponse(
            self.store.update(cid, eid, body, if_match=if_match, patch=request.method == "PATCH")
        )

    def _watch(self, request: Request, body: Any) -> Response:
        cal = self.store.calendar(request.path_params["cid"])
        if body.get("type") not in ("web_hook", "webhook") or not str(body.get("address", "")).startswith(
            ("http://", "https://")
        ):
            raise ApiError(
                400, "invalid", "Invalid channel: type must be web_hook and address an http(s) URL"
            )
        cid = str(body.get("id") or "")
        if not cid or cid in self.channels:
            raise ApiError(400, "channelIdNotUnique", f"Channel id {cid!r} is missing or not unique")
        longest = int((time.time() + self.max_channel_seconds) * 1000)
        try:
            asked = int(body["expiration"]) if body.get("expiration") else longest
        except (TypeError, ValueError):
            raise ApiError(400, "invalid", "Invalid expiration") from None
        channel = Channel(
            cid,
            secrets.token_urlsafe(18),
            cal.id,
            str(body["address"]),
            str(body.get("token") or ""),
            min(asked, longest),
        )
        self.channels[cid] = channel
        self._send(channel, "sync")
        return JSONResponse({
            "kind": "api#channel", "id": channel.id, "resourceId": channel.resource_id,
            "resourceUri": f"{self.api_url}/calendars/{cal.id}/events?alt=json",
            "token": channel.token, "expiration": str(channel.expiration_ms),
        })  # fmt: skip

    def _stop(self, request: Request, body: Any) -> Response:
        channel = self.channels.get(str(body.get("id")))
        if channel is None or channel.resource_id != body.get("resourceId"):
            raise ApiError(404, "notFound", "Channel not found")
        del self.channels[channel.id]
        return Response(status_code=204)

    def _free_busy(self, request: Request, body: Any) -> Response:
        try:
            start = datetime.fromisoformat(str(body["timeMin"]).replace("Z", "+00:00"))
            end = datetime.fromisoformat(str(body["timeMax"]).replace("Z", "+00:00"))
            if start.tzinfo is None or end.tzinfo is None:
                raise ValueError
        except (KeyError, ValueError):
            raise ApiError(
                400, "invalid", "timeMin and timeMax must be RFC 3339 times with an offset"
            ) from None
        calendars: dict[str, Any] = {}
        for item in body.get("items") or []:
            cid = str(item.get("id"))
            try:
                spans = self.store.busy(cid, start, end)
            except ApiError:
                calendars[cid] = {"errors": [{"domain": "global", "reason": "notFound"}], "busy": []}
                continue
            calendars[cid] = {"busy": [{"start": _rfc3339(a), "end": _rfc3339(b)} for a, b in spans]}
        return JSONResponse(
            {
                "kind": "calendar#freeBusy",
                "timeMin": body["timeMin"],
                "timeMax": body["timeMax"],
                "calendars": calendars,
            }
        )


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _error(exc: ApiError, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(exc.body(), exc.status, headers=headers)


__all__ = ["Channel", "GoogleEmulator"]
