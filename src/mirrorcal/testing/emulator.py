"""What the Google and Graph emulators share: a server thread, an OAuth 2 authority, faults and push delivery.

An emulator is a Starlette app served by uvicorn on 127.0.0.1 from a background thread, so
tests, benchmarks and ``mirrorcal emulate`` talk to it over real HTTP. Its state is shared
between that thread and the caller's (knobs, direct "owner" edits): subclasses guard it with
``self.lock``.

* ``OAuthAuthority`` issues authorization codes (auto-consent, PKCE S256 checked), access
  tokens and refresh tokens; knobs expire access tokens and revoke refresh tokens.
* ``Faults`` decides, per API request, whether to inject a failure: a rate, the kinds
  allowed (``"429"``, ``"500"``, ``"timeout"``, ``"412"``) and a queue of forced ones. What a
  kind means for a route is the emulator's business (see each subclass).
* ``PushDelivery`` POSTs notifications to receivers from its own thread, in order, never
  blocking the request that caused them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import queue
import random
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlencode

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute

FAULT_KINDS = ("429", "500", "timeout", "412")

DEFAULT_CLIENT_ID = "mirrorcal-test"
DEFAULT_CLIENT_SECRET = "mirrorcal-test-secret"


# --------------------------------------------------------------------------- OAuth 2


@dataclass(slots=True)
class _Code:
    client_id: str
    redirect_uri: str
    scope: str
    challenge: str | None
    method: str | None
    expires: float


@dataclass(slots=True)
class _Access:
    subject: str
    expires: float


class OAuthAuthority:
    """An OAuth 2 authorization server for one emulated user, with the knobs tests need.

    Any client id registered in ``clients`` (the default test client is) may sign in; the
    user always consents unless ``deny`` is set. ``rotate_refresh_tokens`` makes every refresh
    return a new refresh token and retire the old one (Microsoft does; Google does not).
    ``access_token_ttl`` is the lifetime of new access tokens in seconds.
    """

    def __init__(self, subject: str = "recruiter@example.test") -> None:
        self.subject = subject
        self.clients: dict[str, str] = {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET}
        self.deny = False
        self.rotate_refresh_tokens = False
        self.access_token_ttl = 3600.0
        self.lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self._codes: dict[str, _Code] = {}
        self._access: dict[str, _Access] = {}
        self._refresh: dict[str, str] = {}  # refresh token -> client id

    # -- knobs ----------------------------------------------------------------------

    def issue_token(self, ttl: float | None = None) -> str:
        """A new valid access token (no sign-in needed), for tests and ``mirrorcal emulate``."""
        token = "at-" + secrets.token_urlsafe(24)
        with self.lock:
            self._access[token] = _Access(self.subject, time.time() + (ttl or self.access_token_ttl))
        return token

    def issue_refresh_token(self, client_id: str = DEFAULT_CLIENT_ID) -> str:
        """A new valid refresh token, as if the user had signed in."""
        token = "rt-" + secrets.token_urlsafe(32)
        with self.lock:
            self._refresh[token] = client_id
        return token

    def expire_access_tokens(self) -> None:
        """Every access token issued so far answers 401 from now on."""
        with self.lock:
            self._access.clear()

    def revoke_refresh_tokens(self) -> None:
        """Every refresh token issued so far gets ``invalid_grant`` (the user revoked access)."""
        with self.lock:
            self._refresh.clear()

    def valid(self, token: str) -> bool:
        with self.lock:
            access = self._access.get(token)
            return access is not None and access.expires > time.time()

    # -- endpoints --------------------------------------------------------------------

    async def authorize_endpoint(self, request: Request) -> Response:
        """GET: check the client and redirect back with a code (or ``error=access_denied``)."""
        self.requests["authorize"] += 1
        q = request.query_params
        client_id, redirect_uri, state = q.get("client_id", ""), q.get("redirect_uri", ""), q.get("state")
        if client_id not in self.clients:
            return JSONResponse({"error": "invalid_client", "error_description": "unknown client_id"}, 400)
        if not redirect_uri.startswith(("http://127.0.0.1", "http://localhost")):
            return JSONResponse({"error": "invalid_request", "error_description": "redirect_uri not allowed"}, 400)
        if q.get("response_type") != "code":
            return _redirect(redirect_uri, {"error": "unsupported_response_type", "state": state})
        method = q.get("code_challenge_method")
        if q.get("code_challenge") and method not in ("S256", "plain"):
            return _redirect(redirect_uri, {"error": "invalid_request", "state": state})
        if self.deny:
            return _redirect(redirect_uri, {"error": "access_denied", "state": state})
        code = secrets.token_urlsafe(16)
        with self.lock:
            self._codes[code] = _Code(
                client_id, redirect_uri, q.get("scope", ""), q.get("code_challenge"), method, time.time() + 600
            )
        return _redirect(redirect_uri, {"code": code, "state": state})

    async def token_endpoint(self, request: Request) -> Response:
        """POST (form): ``authorization_code`` (with PKCE) and ``refresh_token`` grants."""
        form = await request.form()
        data = {k: str(v) for k, v in form.items()}
        client_id, client_secret = _client_credentials(request, data)
        grant = data.get("grant_type", "")
        self.requests[f"token:{grant}"] += 1
        if self.clients.get(client_id) is None or (client_secret and self.clients[client_id] != client_secret):
            return _oauth_error("invalid_client", "client authentication failed", 401)
        if grant == "authorization_code":
            with self.lock:
                code = self._codes.pop(data.get("code", ""), None)
            if code is None or code.expires < time.time() or code.client_id != client_id:
                return _oauth_error("invalid_grant", "authorization code is invalid or expired")
            if data.get("redirect_uri") != code.redirect_uri:
                return _oauth_error("invalid_grant", "redirect_uri does not match the authorization request")
            if code.challenge is not None and not _pkce_ok(code.challenge, code.method, data.get("code_verifier")):
                return _oauth_error("invalid_grant", "PKCE verification failed")
            return self._tokens(client_id, code.scope, refresh=self.issue_refresh_token(client_id))
        if grant == "refresh_token":
            token = data.get("refresh_token", "")
            with self.lock:
                owner = self._refresh.get(token)
                if owner is not None and self.rotate_refresh_tokens:
                    del self._refresh[token]
            if owner is None or owner != client_id:
                return _oauth_error("invalid_grant", "Token has been expired or revoked.")
            new_refresh = self.issue_refresh_token(client_id) if self.rotate_refresh_tokens else None
            return self._tokens(client_id, data.get("scope", ""), refresh=new_refresh)
        return _oauth_error("unsupported_grant_type", f"grant_type {grant!r} is not supported")

    async def revoke_endpoint(self, request: Request) -> Response:
        """POST ``token=``: revoke a refresh or access token (Google's /revoke)."""
        form = await request.form()
        token = str(form.get("token") or request.query_params.get("token") or "")
        with self.lock:
            found = self._refresh.pop(token, None) is not None or self._access.pop(token, None) is not None
        if not found:
            return _oauth_error("invalid_token", "token is unknown")
        return Response(status_code=200)

    def _tokens(self, client_id: str, scope: str, *, refresh: str | None) -> Response:
        body: dict[str, Any] = {
            "access_token": self.issue_token(),
            "token_type": "Bearer",
            "expires_in": int(self.access_token_ttl),
            "scope": scope,
        }
        if refresh:
            body["refresh_token"] = refresh
        return JSONResponse(body, headers={"Cache-Control": "no-store"})


def _client_credentials(request: Request, data: Mapping[str, str]) -> tuple[str, str]:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return "", ""
        return user, password
    return data.get("client_id", ""), data.get("client_secret", "")


def _pkce_ok(challenge: str, method: str | None, verifier: str | None) -> bool:
    if not verifier:
        return False
    if method == "plain":
        return secrets.compare_digest(challenge, verifier)
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return secrets.compare_digest(challenge, digest)


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status)


def _redirect(uri: str, params: Mapping[str, str | None]) -> Response:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return RedirectResponse(f"{uri}{'&' if '?' in uri else '?'}{query}", status_code=302)


# --------------------------------------------------------------------------- faults


@dataclass(slots=True)
class Faults:
    """Which failure, if any, to inject into the next API request (thread-safe).

    ``rate`` is the probability that a request fails with one of ``kinds`` (chosen uniformly);
    ``fail_next(n, kind)`` forces the next ``n``. A ``"412"`` is only injected into requests
    that carry ``If-Match`` (others are left alone). ``retry_after`` is what 429 answers put in
    ``Retry-After``; ``hang_seconds`` how long a ``"timeout"`` keeps the client waiting.
    ``injected`` counts what was injected, by kind.
    """

    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    retry_after: float = 1.0
    hang_seconds: float = 2.0
    seed: int | None = None
    injected: Counter[str] = field(default_factory=Counter)
    _forced: list[str] = field(default_factory=list)
    _random: random.Random = field(default_factory=random.Random)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.seed is not None:
            self._random.seed(self.seed)

    def fail_next(self, n: int = 1, kind: str = "500") -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
        with self._lock:
            self._forced.extend([kind] * n)

    def clear(self) -> None:
        with self._lock:
            self.rate = 0.0
            self._forced.clear()

    def pick(self, request: Request) -> str | None:
        """The fault to inject into ``request`` now, or None; counts it."""
        conditional = "if-match" in request.headers
        with self._lock:
            kind: str | None = None
            if self._forced:
                if self._forced[0] != "412" or conditional:
                    kind = self._forced.pop(0)
            elif self.rate and self._random.random() < self.rate:
                allowed = [k for k in self.kinds if k != "412" or conditional]
                kind = self._random.choice(allowed) if allowed else None
            if kind is not None:
                self.injected[kind] += 1
            return kind


# --------------------------------------------------------------------------- push delivery


@dataclass(slots=True)
class Delivery:
    """One notification as sent: where, what, and the receiver's answer (None: unreachable)."""

    url: str
    headers: dict[str, str]
    body: Any
    status: int | None


class PushDelivery:
    """POSTs notifications from a background thread, in the order they were queued.

    ``drop_rate`` loses that share of notifications silently (delivery is not guaranteed by
    the real services either). ``delivered`` records every attempt; ``wait_idle()`` waits until
    the queue is empty (tests).
    """

    def __init__(self, timeout: float = 10.0) -> None:
        self.drop_rate = 0.0
        self.delivered: list[Delivery] = []
        self._timeout = timeout
        self._queue: queue.Queue[tuple[str, dict[str, str], Any] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._random = random.Random()
        self._idle = threading.Condition()
        self._pending = 0

    def deliver(self, url: str, *, headers: Mapping[str, str] | None = None, json: Any = None) -> None:
        """Queue one POST of ``json`` (None: no body) to ``url``."""
        with self._idle:
            self._pending += 1
        self._queue.put((url, dict(headers or {}), json))

    def wait_idle(self, timeout: float = 10.0) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="push-delivery", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        with httpx.Client(timeout=self._timeout) as client:
            while (job := self._queue.get()) is not None:
                url, headers, body = job
                status: int | None = None
                if not (self.drop_rate and self._random.random() < self.drop_rate):
                    try:
                        if body is None:
                            status = client.post(url, headers=headers).status_code
                        else:
                            status = client.post(url, headers=headers, json=body).status_code
                    except httpx.HTTPError:
                        status = None
                self.delivered.append(Delivery(url, headers, body, status))
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()


# --------------------------------------------------------------------------- the server


class Emulator:
    """Base of the provider emulators: serves ``routes()`` on 127.0.0.1 from a background thread.

    Subclasses implement ``routes()`` and call ``await self.authorize(request)`` on API routes
    (None: go on; otherwise return that 401 response) and ``self.faults.pick(request)``.
    ``access_token`` is a valid token issued at start; ``base_url`` has no trailing slash.
    """

    def __init__(self, *, port: int = 0, subject: str = "recruiter@example.test") -> None:
        self.port = port
        self.lock = threading.RLock()
        self.oauth = OAuthAuthority(subject)
        self.faults = Faults()
        self.push = PushDelivery()
        self.access_token = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    def routes(self) -> list[BaseRoute]:
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        if self._socket is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        host, port = self._socket.getsockname()[:2]
        return f"http://{host}:{port}"

    async def authorize(self, request: Request) -> Response | None:
        """None when the request carries a valid bearer token, else the 401 to answer."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and self.oauth.valid(token.strip()):
            return None
        return self.unauthorized(request)

    def unauthorized(self, request: Request) -> Response:
        """The provider's 401 body; subclasses may override the shape."""
        body = {"error": {"code": 401, "message": "Request had invalid authentication credentials."}}
        return JSONResponse(body, 401, headers={"WWW-Authenticate": 'Bearer realm="emulator", error="invalid_token"'})

    async def hang(self) -> None:
        """Keep the client waiting for ``faults.hang_seconds`` (a ``"timeout"`` fault)."""
        await asyncio.sleep(self.faults.hang_seconds)

    def start(self) -> Self:
        if self._server is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # IPPROTO_TCP: asyncio then sets TCP_NODELAY (else ~40 ms per keep-alive request)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self._socket = sock
        app = Starlette(routes=self.routes())
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=type(self).__name__, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{type(self).__name__} did not start")
            time.sleep(0.01)
        self.push.start()
        self.access_token = self.oauth.issue_token(ttl=365 * 86400)
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.push.stop()
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def serve_forever(self) -> None:
        """Block until interrupted (``mirrorcal emulate``)."""
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(timeout=0.5)
        finally:
            self.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
