"""A Microsoft Graph calendar emulator on 127.0.0.1: delta, events, instances, subscriptions, OAuth.

Follows /work/shared PROTOCOLS.md "Microsoft Graph" and the Graph v1.0 reference:

* ``GET /v1.0/me/calendars`` (``$top``/``$skip`` paging); ``GET .../calendarView/delta``
  (per calendar, and ``/me/calendarView/delta`` for the default one): pages of
  ``Prefer: odata.maxpagesize`` (default 100) linked by ``@odata.nextLink``; only the last page
  has ``@odata.deltaLink``; with a token the window must not be sent again (400);
  ``$select/$expand/$filter/$orderby/$search`` are refused (400). Items are single instances,
  occurrences and exceptions (never series masters, as the docs say); what left the view is
  ``{"id", "@removed": {"reason": "deleted"}}``, and so is a single event changed outside the
  window. ``expire_delta_tokens()`` makes every token answer 410, alternately with the codes
  ``syncStateNotFound`` and ``resyncRequired``.
* Events: ``POST /me/calendars/{id}/events`` (201; a repeated ``transactionId`` returns the
  event already created), ``GET/PATCH/DELETE /me/events/{id}`` (an occurrence id PATCHed becomes
  an exception, DELETEd a cancelled occurrence), ``If-Match`` against ``@odata.etag`` or the
  changeKey (412 ``ErrorIrresolvableConflict``), ``GET /me/events/{id}/instances``, ``GET
  /me/calendars/{id}/events`` with the ``singleValueExtendedProperties/Any(...)`` filter.
  Extended properties come back only with ``$expand=singleValueExtendedProperties($filter=...)``.
  ``Prefer: outlook.timezone`` sets the zone of returned times (UTC if absent); requests with
  and without ``Prefer: IdType="ImmutableId"`` are counted in ``id_types``.
* Subscriptions: validation handshake (``validationToken``, 200 text/plain echo within
  ``validation_timeout``), notifications through ``self.push``, renew, delete, a maximum
  lifetime (``max_lifetime_minutes``, default 4230), ``expire_subscriptions()``, and lifecycle
  notifications with ``send_lifecycle(id, event)``.
* Faults (``self.faults``): ``"429"`` (``TooManyRequests`` + Retry-After), ``"500"``,
  ``"timeout"`` (the request is applied, then the answer hangs), ``"412"`` (If-Match requests:
  the item changes as if edited elsewhere, then 412). More than ``max_concurrent`` (4)
  requests in flight answer 429 ``ApplicationThrottled``.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .emulator import Emulator
from .graph_mailbox import BadRequest, Mailbox, Stored, split_occurrence_id

Handler = Callable[[Request, dict[str, str]], Awaitable[Response]]
_PREFER = re.compile(r'([\w.\-]+)\s*=\s*(?:"([^"]*)"|([^,;\s]+))')
_ANY_FILTER = re.compile(
    r"^singleValueExtendedProperties/any\((\w+):\s*\1/id eq '((?:[^']|'')*)' and \1/value eq '((?:[^']|'')*)'\)$",
    re.IGNORECASE,
)
_EXPAND = re.compile(r"^singleValueExtendedProperties\(\$filter=(.*)\)$", re.IGNORECASE)
_EXPAND_ID = re.compile(r"id eq '((?:[^']|'')*)'", re.IGNORECASE)
_RESOURCE = re.compile(r"^/?me/(?:calendars/([^/]+)/)?events/?$", re.IGNORECASE)
_DELTA_REFUSED = ("$select", "$expand", "$filter", "$orderby", "$search")


def graph_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "innerError": {"request-id": str(uuid.uuid4())}}}
    return JSONResponse(body, status, headers=headers)


def _prefer(request: Request) -> dict[str, str]:
    found: dict[str, str] = {}
    for header in request.headers.getlist("prefer"):
        for m in _PREFER.finditer(header):
            found[m.group(1).lower()] = m.group(2) if m.group(2) is not None else m.group(3)
    return found


def _instant(text: str | None, what: str) -> datetime:
    if not text:
        raise BadRequest("ErrorInvalidParameter", f"{what} is required")
    try:
        moment = datetime.fromisoformat(re.sub(r"\.(\d{6})\d+", r".\1", text.replace("Z", "+00:00")))
    except ValueError:
        raise BadRequest("ErrorInvalidParameter", f"{what} {text!r} is not an ISO 8601 date-time") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _etag_value(text: str) -> str:
    return text.strip().removeprefix("W/").strip('"')


@dataclass
class _Round:
    """One delta round being paged: what it sends and the state it ends in."""

    cid: str
    after: datetime
    before: datetime
    pending: list[tuple[str, Any]]  # ("item", (ev, instance)) or ("removed", id), in page order
    snapshot: dict[str, str]
    seq: int
    epoch: int


@dataclass
class _DeltaState:
    cid: str
    after: datetime
    before: datetime
    snapshot: dict[str, str]
    seq: int
    epoch: int


@dataclass
class Subscription:
    id: str
    resource: str
    calendar_id: str
    change_types: frozenset[str]
    notification_url: str
    lifecycle_url: str | None
    expiration: datetime
    client_state: str | None
    tenant_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "resource": self.resource,
            "changeType": ",".join(sorted(self.change_types)),
            "notificationUrl": self.notification_url,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": self.expiration.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "clientState": self.client_state,
        }


class GraphEmulator(Emulator):
    """Microsoft Graph (calendar part) for one mailbox; see the module docstring. Thread-safe knobs."""

    def __init__(self, *, port: int = 0, subject: str = "recruiter@example.test") -> None:
        super().__init__(port=port, subject=subject)
        self.oauth.rotate_refresh_tokens = True
        self.mailbox = Mailbox(subject)
        self.calendar_id = self.mailbox.add_calendar("Calendar", default=True)
        self.requests = 0
        self.id_types: Counter[str] = Counter()
        self.max_concurrent = 4
        self.throttle_retry_after = 1.0
        self.max_lifetime_minutes = 4230
        self.validation_timeout = 10.0
        self.subscriptions: dict[str, Subscription] = {}
        self.peak_in_flight = 0
        self._in_flight = 0
        self._epoch = 0
        self._expired_answers = 0
        self._rounds: dict[str, tuple[_Round, int]] = {}
        self._deltas: dict[str, _DeltaState] = {}

    # ------------------------------------------------------------------ knobs

    def add_calendar(self, name: str) -> str:
        with self.lock:
            return self.mailbox.add_calendar(name)

    def user_create(self, cid: str, body: dict[str, Any]) -> str:
        """Create an event as the owner would in Outlook; returns its id."""
        with self.lock:
            ev = self.mailbox.create(cid, body)
            self._notify(ev.calendar_id, ev.id, "created")
            return ev.id

    def user_update(self, event_id: str, fields: dict[str, Any]) -> None:
        """PATCH an event, series master or occurrence as the owner would."""
        with self.lock:
            self._patch(event_id, fields)

    def user_delete(self, event_id: str) -> None:
        with self.lock:
            self._delete(event_id)

    def put_raw(self, cid: str, body: Any) -> str:
        """Store any JSON as an event of ``cid`` (served as is, for malformed-item tests)."""
        with self.lock:
            ev = self.mailbox.put_raw(cid, body)
            self._notify(cid, ev.id, "created")
            return ev.id

    def events(self, cid: str | None = None) -> list[dict[str, Any]]:
        """The singles and series masters of ``cid`` (default calendar) as Graph JSON, in UTC,
        extended properties included."""
        with self.lock:
            return [
                self.mailbox.render(ev, "UTC", expand=frozenset(ev.ext))
                for ev in self.mailbox.events.values()
                if ev.calendar_id == (cid or self.calendar_id)
            ]

    def expire_delta_tokens(self) -> None:
        """Every delta and skip token issued so far answers 410 from now on."""
        with self.lock:
            self._epoch += 1

    def expire_subscriptions(self) -> None:
        """Every subscription's expirationDateTime is now in the past: no more notifications."""
        with self.lock:
            for sub in self.subscriptions.values():
                sub.expiration = datetime.now(UTC) - timedelta(seconds=1)

    def send_lifecycle(self, subscription_id: str, event: str) -> None:
        """Send a lifecycle notification (``reauthorizationRequired``, ``subscriptionRemoved``,
        ``missed``); ``subscriptionRemoved`` also deletes the subscription."""
        with self.lock:
            sub = self.subscriptions[subscription_id]
            if event == "subscriptionRemoved":
                del self.subscriptions[subscription_id]
        item = {
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": sub.json()["expirationDateTime"],
            "tenantId": sub.tenant_id,
            "clientState": sub.client_state,
            "lifecycleEvent": event,
        }
        self.push.deliver(sub.lifecycle_url or sub.notification_url, json={"value": [item]})

    def describe(self) -> dict[str, str]:
        return {"base_url": self.base_url, "access_token": self.access_token, "calendar_id": self.calendar_id}

    def unauthorized(self, request: Request) -> Response:
        return graph_error(401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.")

    # ------------------------------------------------------------------ routing

    def routes(self) -> list[BaseRoute]:
        api = self._api
        return [
            Route("/common/oauth2/v2.0/authorize", self.oauth.authorize_endpoint, methods=["GET"]),
            Route("/common/oauth2/v2.0/token", self.oauth.token_endpoint, methods=["POST"]),
            Route("/v1.0/me", api(self._me), methods=["GET"]),
            Route("/v1.0/me/calendars", api(self._calendars), methods=["GET"]),
            Route("/v1.0/me/calendarView/delta", api(self._delta), methods=["GET"]),
            Route("/v1.0/me/calendars/{cid}/calendarView/delta", api(self._delta), methods=["GET"]),
            Route("/v1.0/me/calendars/{cid}", api(self._calendar), methods=["GET"]),
            Route("/v1.0/me/calendars/{cid}/events", api(self._list_events), methods=["GET"]),
            Route("/v1.0/me/calendars/{cid}/events", api(self._create), methods=["POST"]),
            Route("/v1.0/me/events", api(self._create), methods=["POST"]),
            Route("/v1.0/me/events/{eid}/instances", api(self._instances), methods=["GET"]),
            Route("/v1.0/me/events/{eid}", api(self._get), methods=["GET"]),
            Route("/v1.0/me/events/{eid}", api(self._update), methods=["PATCH"]),
            Route("/v1.0/me/events/{eid}", api(self._remove), methods=["DELETE"]),
            Route("/v1.0/subscriptions", api(self._subscribe), methods=["POST"]),
            Route("/v1.0/subscriptions/{sid}", api(self._renew), methods=["PATCH"]),
            Route("/v1.0/subscriptions/{sid}", api(self._unsubscribe), methods=["DELETE"]),
        ]

    def _api(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            with self.lock:
                self.requests += 1
            denied = await self.authorize(request)
            if denied is not None:
                return denied
            prefs = _prefer(request)
            with self.lock:
                self.id_types[prefs.get("idtype", "default")] += 1
                if self._in_flight >= self.max_concurrent:
                    return graph_error(
                        429,
                        "ApplicationThrottled",
                        "Application is over its MailboxConcurrency limit.",
                        {"Retry-After": f"{self.throttle_retry_after:g}"},
                    )
                self._in_flight += 1
                self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
            try:
                kind = self.faults.pick(request)
                if kind == "429":
                    return graph_error(
                        429,
                        "TooManyRequests",
                        "Too many requests.",
                        {"Retry-After": f"{self.faults.retry_after:g}"},
                    )
                if kind == "500":
                    return graph_error(500, "InternalServerError", "An internal server error occurred.")
                if kind == "412":
                    with self.lock:
                        target = self._find(request.path_params.get("eid", ""))
                        if target is not None:
                            self.mailbox._touch(target[0])
                    return self._conflict()
                try:
                    response = await handler(request, prefs)
                except BadRequest as exc:
                    response = graph_error(400, exc.code, str(exc))
                except ClientDisconnect:  # the client died mid-request (a killed process): nobody to answer
                    return Response(status_code=499)
                if kind == "timeout":
                    await self.hang()
                return response
            finally:
                with self.lock:
                    self._in_flight -= 1

        return endpoint

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _not_found() -> Response:
        return graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.")

    @staticmethod
    def _conflict() -> Response:
        return graph_error(
            412,
            "ErrorIrresolvableConflict",
            "The send or update operation could not be performed because the change key passed in the "
            "request does not match the current change key for the item.",
        )

    def _find(self, event_id: str) -> tuple[Stored, str | None] | None:
        """(stored event, occurrence key or None) for an event or occurrence id."""
        ev = self.mailbox.events.get(event_id)
        if ev is not None:
            return ev, None
        parts = split_occurrence_id(event_id)
        if parts is None:
            return None
        master = self.mailbox.events.get(parts[0])
        if master is None or not master.series or parts[1] in master.deleted:
            return None
        if parts[1] not in master.exceptions and not self.mailbox.is_occurrence(master, parts[1]):
            return None
        return master, parts[1]

    def _base(self, request: Request) -> str:
        return f"{self.base_url}{request.url.path}"

    def _zone(self, prefs: dict[str, str]) -> str:
        return prefs.get("outlook.timezone") or "UTC"

    def _page_size(self, prefs: dict[str, str], request: Request, default: int) -> int:
        raw = request.query_params.get("$top") or prefs.get("odata.maxpagesize") or str(default)
        try:
            return max(1, int(raw))
        except ValueError:
            raise BadRequest("ErrorInvalidParameter", f"page size {raw!r} is not a number") from None

    def _expand(self, request: Request) -> frozenset[str] | None:
        raw = request.query_params.get("$expand")
        if raw is None:
            return None
        m = _EXPAND.match(raw.strip())
        if m is None:
            raise BadRequest("ErrorInvalidParameter", f"$expand {raw!r} is not supported")
        return frozenset(i.replace("''", "'").lower() for i in _EXPAND_ID.findall(m.group(1)))

    def _render_instance(self, ev: Stored, key: str, zone: str) -> dict[str, Any]:
        original = datetime.strptime(key, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        window = self.mailbox.instances(ev, original - timedelta(days=400), original + timedelta(days=400))
        inst = next(i for i in window if i["key"] == key)
        return self.mailbox.render(ev, zone, instance=inst)

    def _notify(self, cid: str, event_id: str, change: str) -> None:
        now = datetime.now(UTC)
        for sub in self.subscriptions.values():
            if sub.calendar_id != cid or change not in sub.change_types or sub.expiration <= now:
                continue
            item = {
                "subscriptionId": sub.id,
                "subscriptionExpirationDateTime": sub.json()["expirationDateTime"],
                "clientState": sub.client_state,
                "changeType": change,
                "resource": f"Users/{self.oauth.subject}/Events/{event_id}",
                "resourceData": {
                    "@odata.type": "#Microsoft.Graph.Event",
                    "@odata.id": f"Users/{self.oauth.subject}/Events/{event_id}",
                    "id": event_id,
                },
                "tenantId": sub.tenant_id,
            }
            self.push.deliver(sub.notification_url, json={"value": [item]})

    def _patch(self, event_id: str, body: dict[str, Any]) -> tuple[Stored, str | None]:
        found = self._find(event_id)
        if found is None:
            raise KeyError(event_id)
        ev, key = found
        if key is None:
            self.mailbox.update(ev, body)
        else:
            self.mailbox.update_occurrence(ev, key, body)
        self._notify(ev.calendar_id, ev.id, "updated")
        return ev, key

    def _delete(self, event_id: str) -> None:
        found = self._find(event_id)
        if found is None:
            raise KeyError(event_id)
        ev, key = found
        if key is None:
            self.mailbox.delete(ev)
            self._notify(ev.calendar_id, ev.id, "deleted")
        else:
            self.mailbox.delete_occurrence(ev, key)
            self._notify(ev.calendar_id, ev.id, "updated")

    # ------------------------------------------------------------------ calendars and delta

    async def _calendars(self, request: Request, prefs: dict[str, str]) -> Response:
        top = self._page_size({}, request, 10)
        skip = int(request.query_params.get("$skip") or 0)
        with self.lock:
            rows = list(self.mailbox.calendars.values())
        body: dict[str, Any] = {"value": rows[skip : skip + top]}
        if skip + top < len(rows):
            body["@odata.nextLink"] = f"{self._base(request)}?$top={top}&$skip={skip + top}"
        return JSONResponse(body)

    async def _me(self, request: Request, prefs: dict[str, str]) -> Response:
        subject = self.oauth.subject
        return JSONResponse(
            {"id": "user-1", "displayName": subject, "mail": subject, "userPrincipalName": subject}
        )

    async def _calendar(self, request: Request, prefs: dict[str, str]) -> Response:
        with self.lock:
            row = self.mailbox.calendars.get(request.path_params["cid"])
        return JSONResponse(row) if row is not None else self._not_found()

    async def _delta(self, request: Request, prefs: dict[str, str]) -> Response:
        q = request.query_params
        for name in _DELTA_REFUSED:
            if name in q:
                raise BadRequest("ErrorInvalidRequest", f"{name} is not supported with delta on calendarView")
        skip, token = q.get("$skiptoken"), q.get("$deltatoken")
        window_sent = any(k.lower() in ("startdatetime", "enddatetime") for k in q)
        with self.lock:
            if skip or token:
                if window_sent:
                    raise BadRequest(
                        "ErrorInvalidRequest", "startDateTime/endDateTime must not be sent with a token"
                    )
                if skip:
                    found = self._rounds.get(skip)
                    if found is None or found[0].epoch != self._epoch:
                        return self._gone()
                    rnd, offset = found
                else:
                    state = self._deltas.get(token or "")
                    if state is None or state.epoch != self._epoch:
                        return self._gone()
                    rnd, offset = (
                        self._start_round(state.cid, state.after, state.before, state.snapshot, state.seq),
                        0,
                    )
            else:
                cid = request.path_params.get("cid", self.calendar_id)
                if cid not in self.mailbox.calendars:
                    return self._not_found()
                after = _instant(q.get("startDateTime") or q.get("startdatetime"), "startDateTime")
                before = _instant(q.get("endDateTime") or q.get("enddatetime"), "endDateTime")
                rnd, offset = self._start_round(cid, after, before, None, 0), 0
            size = self._page_size(prefs, request, 100)
            page = rnd.pending[offset : offset + size]
            zone = self._zone(prefs)
            value: list[dict[str, Any]] = []
            for kind, what in page:
                if kind == "removed":
                    value.append({"id": what, "@removed": {"reason": "deleted"}})
                else:
                    ev, inst = what
                    value.append(self.mailbox.render(ev, zone, instance=inst))
            body: dict[str, Any] = {"value": value}
            link = secrets.token_urlsafe(16)
            if offset + size < len(rnd.pending):  # a page link can be fetched again (a retry)
                self._rounds[link] = (rnd, offset + size)
                body["@odata.nextLink"] = f"{self._base(request)}?$skiptoken={link}"
            else:
                self._deltas[link] = _DeltaState(
                    rnd.cid, rnd.after, rnd.before, rnd.snapshot, rnd.seq, rnd.epoch
                )
                body["@odata.deltaLink"] = f"{self._base(request)}?$deltatoken={link}"
        return JSONResponse(body)

    def _gone(self) -> Response:
        self._expired_answers += 1
        code = "syncStateNotFound" if self._expired_answers % 2 else "resyncRequired"
        return graph_error(
            410, code, "The sync state is no longer valid; start a new round of synchronization."
        )

    def _start_round(
        self, cid: str, after: datetime, before: datetime, previous: dict[str, str] | None, seq: int
    ) -> _Round:
        view = self.mailbox.view(cid, after, before)
        snapshot = {item_id: version for item_id, (version, _, _) in view.items()}
        pending: list[tuple[str, Any]] = []
        for item_id, (version, ev, inst) in view.items():
            if previous is None or previous.get(item_id) != version:
                pending.append(("item", (ev, inst)))
        if previous is not None:
            gone = [item_id for item_id in previous if item_id not in view]
            moved_out = [
                ev.id
                for ev in self.mailbox.events.values()
                if ev.calendar_id == cid
                and ev.seq > seq
                and ev.id not in view
                and not ev.series
                and ev.id not in gone
            ]
            pending += [("removed", item_id) for item_id in gone + moved_out]
        return _Round(cid, after, before, pending, snapshot, self.mailbox.seq, self._epoch)

    # ------------------------------------------------------------------ events

    async def _list_events(self, request: Request, prefs: dict[str, str]) -> Response:
        cid = request.path_params["cid"]
        flt = request.query_params.get("$filter")
        expand = self._expand(request)
        wanted: tuple[str, str] | None = None
        if flt is not None:
            m = _ANY_FILTER.match(flt.strip())
            if m is None:
                raise BadRequest("ErrorInvalidParameter", f"$filter {flt!r} is not supported")
            wanted = (m.group(2).replace("''", "'").lower(), m.group(3).replace("''", "'"))
        top = self._page_size(prefs, request, 10)
        skip = int(request.query_params.get("$skip") or 0)
        with self.lock:
            if cid not in self.mailbox.calendars:
                return self._not_found()
            rows = [
                ev
                for ev in self.mailbox.events.values()
                if ev.calendar_id == cid
                and ev.raw is None
                and (wanted is None or ev.ext.get(wanted[0], ("", None))[1] == wanted[1])
            ]
            value = [
                self.mailbox.render(ev, self._zone(prefs), expand=expand) for ev in rows[skip : skip + top]
            ]
        body: dict[str, Any] = {"value": value}
        if skip + top < len(rows):
            params = httpx.QueryParams({k: v for k, v in request.query_params.items() if k != "$skip"})
            body["@odata.nextLink"] = f"{self._base(request)}?{params.set('$skip', str(skip + top))}"
        return JSONResponse(body)

    async def _create(self, request: Request, prefs: dict[str, str]) -> Response:
        cid = request.path_params.get("cid", self.calendar_id)
        body = await request.json()
        if not isinstance(body, dict):
            raise BadRequest("ErrorInvalidRequest", "the body must be a JSON object")
        transaction = body.get("transactionId")
        with self.lock:
            if cid not in self.mailbox.calendars:
                return self._not_found()
            existing = next(
                (e for e in self.mailbox.events.values() if transaction and e.transaction_id == transaction),
                None,
            )
            if existing is None:
                existing = self.mailbox.create(cid, body, transaction_id=transaction)
                self._notify(cid, existing.id, "created")
            rendered = self.mailbox.render(existing, self._zone(prefs))
        return JSONResponse(rendered, 201)

    async def _get(self, request: Request, prefs: dict[str, str]) -> Response:
        expand = self._expand(request)
        with self.lock:
            found = self._find(request.path_params["eid"])
            if found is None:
                return self._not_found()
            ev, key = found
            if key is None:
                return JSONResponse(self.mailbox.render(ev, self._zone(prefs), expand=expand))
            return JSONResponse(self._render_instance(ev, key, self._zone(prefs)))

    def _precondition(self, request: Request, ev: Stored) -> bool:
        header = request.headers.get("if-match")
        return header is None or header.strip() == "*" or _etag_value(header) == ev.change_key

    async def _update(self, request: Request, prefs: dict[str, str]) -> Response:
        body = await request.json()
        if not isinstance(body, dict):
            raise BadRequest("ErrorInvalidRequest", "the body must be a JSON object")
        eid = request.path_params["eid"]
        with self.lock:
            found = self._find(eid)
            if found is None or found[0].raw is not None:
                return self._not_found()
            if not self._precondition(request, found[0]):
                return self._conflict()
            ev, key = self._patch(eid, body)
            if key is None:
                return JSONResponse(self.mailbox.render(ev, self._zone(prefs)))
            return JSONResponse(self._render_instance(ev, key, self._zone(prefs)))

    async def _remove(self, request: Request, prefs: dict[str, str]) -> Response:
        eid = request.path_params["eid"]
        with self.lock:
            found = self._find(eid)
            if found is None:
                return self._not_found()
            if not self._precondition(request, found[0]):
                return self._conflict()
            self._delete(eid)
        return Response(status_code=204)

    async def _instances(self, request: Request, prefs: dict[str, str]) -> Response:
        q = request.query_params
        after = _instant(q.get("startDateTime"), "startDateTime")
        before = _instant(q.get("endDateTime"), "endDateTime")
        top = self._page_size(prefs, request, 100)
        skip = int(q.get("$skip") or 0)
        with self.lock:
            found = self._find(request.path_params["eid"])
            if found is None or found[1] is not None:
                return self._not_found()
            ev = found[0]
            rows = self.mailbox.instances(ev, after, before) if ev.series else []
            value = [self.mailbox.render(ev, self._zone(prefs), instance=i) for i in rows[skip : skip + top]]
        body: dict[str, Any] = {"value": value}
        if skip + top < len(rows):
            params = httpx.QueryParams({k: v for k, v in q.items() if k != "$skip"})
            body["@odata.nextLink"] = f"{self._base(request)}?{params.set('$skip', str(skip + top))}"
        return JSONResponse(body)

    # ------------------------------------------------------------------ subscriptions

    def _expiration(self, text: Any) -> datetime:
        expiration = _instant(str(text) if text else None, "expirationDateTime")
        now = datetime.now(UTC)
        if expiration <= now:
            raise BadRequest("InvalidRequest", "expirationDateTime must be in the future")
        if expiration > now + timedelta(minutes=self.max_lifetime_minutes):
            raise BadRequest(
                "InvalidRequest",
                f"Subscription expiration can only be {self.max_lifetime_minutes} minutes in the future.",
            )
        return expiration

    async def _validate(self, url: str) -> bool:
        token = secrets.token_urlsafe(24)
        try:
            async with httpx.AsyncClient(timeout=self.validation_timeout) as client:
                answer = await client.post(
                    url, params={"validationToken": token}, headers={"Content-Type": "text/plain"}
                )
        except httpx.HTTPError:
            return False
        return (
            answer.status_code == 200
            and answer.headers.get("content-type", "").startswith("text/plain")
            and answer.text == token
        )

    async def _subscribe(self, request: Request, prefs: dict[str, str]) -> Response:
        body = await request.json()
        if not isinstance(body, dict):
            raise BadRequest("InvalidRequest", "the body must be a JSON object")
        resource = str(body.get("resource") or "")
        m = _RESOURCE.match(resource)
        if m is None:
            raise BadRequest("InvalidRequest", f"resource {resource!r} is not supported")
        cid = m.group(1) or self.calendar_id
        changes = frozenset(c.strip() for c in str(body.get("changeType") or "").split(",") if c.strip())
        if not changes or changes - {"created", "updated", "deleted"}:
            raise BadRequest("InvalidRequest", f"changeType {body.get('changeType')!r} is not valid")
        url = str(body.get("notificationUrl") or "")
        if not url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise BadRequest("InvalidRequest", "notificationUrl must be https")
        expiration = self._expiration(body.get("expirationDateTime"))
        lifecycle = body.get("lifecycleNotificationUrl")
        with self.lock:
            if cid not in self.mailbox.calendars:
                return self._not_found()
        for target in (url, lifecycle):
            if target and not await self._validate(str(target)):
                raise BadRequest("InvalidRequest", f"Subscription validation request failed for {target}.")
        sub = Subscription(
            str(uuid.uuid4()), resource, cid, changes, url, lifecycle, expiration, body.get("clientState")
        )
        with self.lock:
            self.subscriptions[sub.id] = sub
        return JSONResponse(sub.json(), 201)

    async def _renew(self, request: Request, prefs: dict[str, str]) -> Response:
        body = await request.json()
        expiration = self._expiration((body or {}).get("expirationDateTime"))
        with self.lock:
            sub = self.subscriptions.get(request.path_params["sid"])
            if sub is None or sub.expiration <= datetime.now(UTC):
                return graph_error(404, "ResourceNotFound", "The object was not found.")
            sub.expiration = expiration
            return JSONResponse(sub.json())

    async def _unsubscribe(self, request: Request, prefs: dict[str, str]) -> Response:
        with self.lock:
            if self.subscriptions.pop(request.path_params["sid"], None) is None:
                return graph_error(404, "ResourceNotFound", "The object was not found.")
        return Response(status_code=204)


__all__ = ["GraphEmulator", "Subscription", "graph_error"]
