"""Push notifications for ``mirrorcal run``: the HTTP receiver and the channels that feed it.

``PushReceiver`` is a small Starlette app served by uvicorn inside the service's event loop:

* ``POST /push/google``: a Google watch notification (no body). The channel id must be one
  we opened and ``X-Goog-Channel-Token`` its token, else 404 / 403. ``sync`` messages only
  confirm the channel; ``exists`` / ``not_exists`` queue a sync of the channel's calendar.
* ``POST /push/microsoft``: with ``?validationToken=`` the Graph validation handshake (the
  token echoed as text/plain); otherwise a batch of change notifications, each checked
  against its subscription's ``clientState`` (a wrong one is ignored and counted). Answered
  202 at once; the work is queued.
* ``POST /push/microsoft/lifecycle``: ``reauthorizationRequired`` renews the subscription,
  ``subscriptionRemoved`` reopens it, ``missed`` queues a full look at the calendar.

``Channels`` opens one channel (Google) or subscription (Graph) per pushing calendar, renews
each well before it expires (Google channels cannot be extended: a new one replaces the old,
which is then stopped) and closes them on shutdown. Polling stays on as the backstop:
delivery is never guaranteed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from .errors import MirrorcalError, NotFoundError
from .providers.base import Calendar

log = logging.getLogger(__name__)

CHANNEL_TTL = timedelta(days=2)
"""How long we ask a channel / subscription to live (Graph caps events at ~3 days)."""
RENEW_BEFORE = timedelta(hours=6)
"""Renew when less than this is left."""
RETRY_AFTER_FAILURE = timedelta(minutes=5)


class GoogleWatchable(Protocol):
    async def watch(self, address: str, token: str, channel_id: str, ttl: timedelta) -> tuple[str, str, datetime]: ...
    async def stop_watch(self, channel_id: str, resource_id: str) -> None: ...


class GraphSubscribable(Protocol):
    async def subscribe(
        self, notification_url: str, client_state: str, expiration: datetime, *, lifecycle_url: str | None = None
    ) -> tuple[str, datetime]: ...
    async def renew(self, subscription_id: str, expiration: datetime) -> datetime: ...
    async def unsubscribe(self, subscription_id: str) -> None: ...


@dataclass(slots=True)
class Channel:
    """One open channel or subscription of one calendar."""

    calendar: str
    kind: str  # "google" | "microsoft"
    id: str
    secret: str  # Google channel token / Graph clientState
    expires: datetime
    resource_id: str = ""


class PushReceiver:
    """Receives notifications and calls ``on_change(calendar)`` for each genuine one."""

    def __init__(self, on_change: Callable[[str], None]) -> None:
        self.on_change = on_change
        self.channels: dict[str, Channel] = {}
        self.on_lifecycle: Callable[[Channel, str], None] | None = None
        self.counts: Counter[str] = Counter()
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/push/google", self._google, methods=["POST"]),
                Route("/push/microsoft", self._graph, methods=["POST"]),
                Route("/push/microsoft/lifecycle", self._graph_lifecycle, methods=["POST"]),
            ]
        )

    async def _google(self, request: Request) -> Response:
        channel = self.channels.get(request.headers.get("x-goog-channel-id", ""))
        if channel is None or channel.kind != "google":
            self.counts["unknown"] += 1
            return PlainTextResponse("unknown channel", 404)
        if not secrets.compare_digest(request.headers.get("x-goog-channel-token", ""), channel.secret):
            self.counts["bad-token"] += 1
            return PlainTextResponse("wrong channel token", 403)
        state = request.headers.get("x-goog-resource-state", "")
        self.counts[f"google:{state}"] += 1
        if state != "sync":
            self.on_change(channel.calendar)
        return Response(status_code=200)

    async def _graph(self, request: Request) -> Response:
        token = request.query_params.get("validationToken")
        if token is not None:
            self.counts["validation"] += 1
            return PlainTextResponse(token, 200)
        for note in await _notes(request):
            channel = self.channels.get(str(note.get("subscriptionId", "")))
            if channel is None or channel.kind != "microsoft":
                self.counts["unknown"] += 1
                continue
            if not secrets.compare_digest(str(note.get("clientState", "")), channel.secret):
                self.counts["bad-client-state"] += 1
                continue
            self.counts["graph:change"] += 1
            self.on_change(channel.calendar)
        return Response(status_code=202)

    async def _graph_lifecycle(self, request: Request) -> Response:
        token = request.query_params.get("validationToken")
        if token is not None:
            return PlainTextResponse(token, 200)
        for note in await _notes(request):
            channel = self.channels.get(str(note.get("subscriptionId", "")))
            if channel is None or not secrets.compare_digest(str(note.get("clientState", "")), channel.secret):
                self.counts["unknown"] += 1
                continue
            event = str(note.get("lifecycleEvent", ""))
            self.counts[f"lifecycle:{event}"] += 1
            if self.on_lifecycle is not None:
                self.on_lifecycle(channel, event)
            self.on_change(channel.calendar)
        return Response(status_code=202)

    async def start(self, host: str, port: int) -> int:
        """Serve on ``host:port`` (0: any free port) inside the running loop; returns the port."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # asyncio sets TCP_NODELAY then
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        config = uvicorn.Config(self.app(), log_level="warning", access_log=False, lifespan="off")
        self._server = _QuietServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)
        return int(sock.getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._server = self._task = None


class _QuietServer(uvicorn.Server):
    """uvicorn without its signal handling: the service owns SIGINT / SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _notes(request: Request) -> list[dict[str, Any]]:
    try:
        body = await request.json()
    except ValueError:
        return []
    value = body.get("value") if isinstance(body, dict) else None
    return [n for n in value if isinstance(n, dict)] if isinstance(value, list) else []


class Channels:
    """Opens, renews and closes the push channels of the calendars that can push."""

    def __init__(self, receiver: PushReceiver, calendars: dict[str, Calendar], public_url: str) -> None:
        self.receiver = receiver
        self.calendars = {n: c for n, c in calendars.items() if c.kind in ("google", "microsoft")}
        self.public_url = public_url.rstrip("/")
        self.retry_at: dict[str, datetime] = {}
        receiver.on_lifecycle = self._lifecycle
        self._lifecycle_todo: set[str] = set()
        self._removed: set[str] = set()  # Graph removed these subscriptions: open new ones

    def by_calendar(self) -> dict[str, Channel]:
        return {c.calendar: c for c in self.receiver.channels.values()}

    async def maintain(self, now: datetime | None = None) -> None:
        """Open missing channels and renew those close to expiry; failures are logged and retried later."""
        now = now or datetime.now(UTC)
        open_ = self.by_calendar()
        for name, calendar in self.calendars.items():
            channel = open_.get(name)
            due = channel is None or channel.expires - now < RENEW_BEFORE or name in self._lifecycle_todo
            if not due or self.retry_at.get(name, now) > now:
                continue
            self._lifecycle_todo.discard(name)
            try:
                await self._open_or_renew(name, calendar, channel, now)
                self.retry_at.pop(name, None)
            except MirrorcalError as exc:
                log.warning("push channel for %s: %s (polling continues)", name, exc)
                self.retry_at[name] = now + RETRY_AFTER_FAILURE

    async def _open_or_renew(self, name: str, calendar: Calendar, old: Channel | None, now: datetime) -> None:
        channels = self.receiver.channels
        if calendar.kind == "microsoft":
            graph: GraphSubscribable = calendar  # type: ignore[assignment]
            if old is not None and name not in self._removed:
                try:
                    old.expires = await graph.renew(old.id, now + CHANNEL_TTL)
                    return
                except NotFoundError:  # Graph dropped it: open a new one
                    pass
            self._removed.discard(name)
            secret = secrets.token_urlsafe(24)
            sub_id, expires = await graph.subscribe(
                f"{self.public_url}/push/microsoft",
                secret,
                now + CHANNEL_TTL,
                lifecycle_url=f"{self.public_url}/push/microsoft/lifecycle",
            )
            if old is not None:
                channels.pop(old.id, None)
            channels[sub_id] = Channel(name, "microsoft", sub_id, secret, expires)
            return
        google: GoogleWatchable = calendar  # type: ignore[assignment]
        secret, channel_id = secrets.token_urlsafe(24), secrets.token_hex(16)
        # Register first: Google sends the "sync" message before the watch call returns.
        channels[channel_id] = Channel(name, "google", channel_id, secret, now + CHANNEL_TTL)
        try:
            channel_id, resource_id, expires = await google.watch(
                f"{self.public_url}/push/google", secret, channel_id, CHANNEL_TTL
            )
        except BaseException:
            channels.pop(channel_id, None)
            raise
        channels[channel_id].expires, channels[channel_id].resource_id = expires, resource_id
        if old is not None:
            channels.pop(old.id, None)
            with contextlib.suppress(MirrorcalError):
                await google.stop_watch(old.id, old.resource_id)

    def _lifecycle(self, channel: Channel, event: str) -> None:
        if event in ("reauthorizationRequired", "subscriptionRemoved"):
            if event == "subscriptionRemoved":
                self._removed.add(channel.calendar)
            self._lifecycle_todo.add(channel.calendar)

    async def close(self) -> None:
        """Stop every channel (best effort: they expire by themselves anyway)."""
        for channel in list(self.receiver.channels.values()):
            calendar = self.calendars.get(channel.calendar)
            try:
                if channel.kind == "google" and calendar is not None:
                    await calendar.stop_watch(channel.id, channel.resource_id)  # type: ignore[attr-defined]
                elif calendar is not None:
                    await calendar.unsubscribe(channel.id)  # type: ignore[attr-defined]
            except MirrorcalError as exc:
                log.info("closing push channel %s: %s", channel.id, exc)
        self.receiver.channels.clear()
