"""OAuth 2 for Google and Microsoft: sign-in with PKCE over a loopback redirect, refresh, bearer auth.

The protocol pieces (grant URIs, PKCE challenges, token requests, callback parsing) come
from authlib's RFC 6749 / 7636 helpers; requests go through mirrorcal's own ``send`` so
retries, timeouts and error mapping are the adapters'.

* ``authorization_request`` builds the sign-in URL (PKCE S256, a fresh ``state``);
  ``exchange_code`` turns the callback into ``Tokens``; ``sign_in_via_loopback`` does both
  around a one-shot HTTP listener on 127.0.0.1 (``mirrorcal connect``).
* ``TokenSource`` hands out access tokens for one connection, refreshing them before they
  expire and whenever the provider answers 401. A refresh token the provider refuses
  (``invalid_grant``: revoked, expired) raises ``NeedsReauthError`` after telling
  ``on_revoked``; a rotated refresh token is handed to ``on_rotated`` to be stored.
* ``BearerAuth`` is the ``httpx.Auth`` the adapters' clients carry: it adds the token and
  retries a request once with a fresh token after a 401.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749 import parameters
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from .errors import AuthError, NeedsReauthError, ProviderError
from .providers.http import send

GOOGLE_SCOPES = (
    "https://www.googleapis.com/auth/calendar.events",
    "https://www.googleapis.com/auth/calendar.readonly",
)
MICROSOFT_SCOPES = ("offline_access", "Calendars.ReadWrite", "User.Read")
EARLY_REFRESH = 60.0
"""Seconds before its expiry that an access token is refreshed."""


@dataclass(frozen=True, slots=True)
class OAuthEndpoints:
    """Where one provider signs users in and issues tokens, and what we ask for."""

    provider: str
    authorize_url: str
    token_url: str
    scopes: tuple[str, ...]
    revoke_url: str | None = None
    extra: tuple[tuple[str, str], ...] = ()
    """Extra authorization parameters (Google needs ``access_type=offline`` for a refresh token)."""


def endpoints_for(kind: str, base_url: str | None = None, *, tenant: str = "common") -> OAuthEndpoints:
    """The real endpoints of ``kind`` ("google" | "microsoft"), or an emulator's under ``base_url``."""
    if kind == "google":
        auth = (base_url or "https://accounts.google.com").rstrip("/")
        token = (base_url or "https://oauth2.googleapis.com").rstrip("/")
        return OAuthEndpoints(
            "google",
            f"{auth}/o/oauth2/v2/auth",
            f"{token}/token",
            GOOGLE_SCOPES,
            revoke_url=f"{token}/revoke",
            extra=(("access_type", "offline"), ("prompt", "consent")),
        )
    if kind == "microsoft":
        root = (base_url or "https://login.microsoftonline.com").rstrip("/")
        return OAuthEndpoints(
            "microsoft",
            f"{root}/{tenant}/oauth2/v2.0/authorize",
            f"{root}/{tenant}/oauth2/v2.0/token",
            MICROSOFT_SCOPES,
        )
    raise ValueError(f"no OAuth endpoints for kind {kind!r}")


@dataclass(frozen=True, slots=True)
class OAuthClient:
    """The application's registration at the provider."""

    client_id: str
    client_secret: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class Tokens:
    access_token: str = field(repr=False)
    expires_at: float
    refresh_token: str | None = field(default=None, repr=False)
    scope: str = ""


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    url: str
    state: str
    code_verifier: str = field(repr=False)
    redirect_uri: str


def authorization_request(endpoints: OAuthEndpoints, client: OAuthClient, redirect_uri: str) -> AuthorizationRequest:
    """The URL to send the user's browser to, with a fresh ``state`` and PKCE verifier."""
    state, verifier = generate_token(24), generate_token(64)
    url = parameters.prepare_grant_uri(
        endpoints.authorize_url,
        client.client_id,
        "code",
        redirect_uri=redirect_uri,
        scope=" ".join(endpoints.scopes),
        state=state,
        code_challenge=create_s256_code_challenge(verifier),
        code_challenge_method="S256",
        **dict(endpoints.extra),
    )
    return AuthorizationRequest(url, state, verifier, redirect_uri)


async def exchange_code(
    http: httpx.AsyncClient, endpoints: OAuthEndpoints, client: OAuthClient, request: AuthorizationRequest, callback: str
) -> Tokens:
    """Check the callback URL against ``request`` and trade its code for tokens.

    Raises ``AuthError`` when the user refused, the state does not match or the provider
    refuses the code.
    """
    query = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    if "error" in query:
        detail = query.get("error_description") or query["error"]
        raise AuthError(f"{endpoints.provider} sign-in was not completed: {detail}")
    try:
        answer = parameters.parse_authorization_code_response(callback, state=request.state)
    except (parameters.MismatchingStateException, parameters.MissingCodeException) as exc:
        raise AuthError(f"{endpoints.provider} sign-in answered with an invalid callback: {exc.description}") from exc
    body = parameters.prepare_token_request(
        "authorization_code",
        code=answer["code"],
        redirect_uri=request.redirect_uri,
        code_verifier=request.code_verifier,
        client_id=client.client_id,
        client_secret=client.client_secret or None,
    )
    return await _token_call(http, endpoints, body)


async def refresh_tokens(
    http: httpx.AsyncClient, endpoints: OAuthEndpoints, client: OAuthClient, refresh_token: str
) -> Tokens:
    """New tokens from ``refresh_token``; ``NeedsReauthError`` when the provider refuses it."""
    body = parameters.prepare_token_request(
        "refresh_token",
        refresh_token=refresh_token,
        client_id=client.client_id,
        client_secret=client.client_secret or None,
    )
    return await _token_call(http, endpoints, body)


async def _token_call(http: httpx.AsyncClient, endpoints: OAuthEndpoints, body: str) -> Tokens:
    response = await send(
        http,
        "POST",
        endpoints.token_url,
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        handle=(400, 401),
        per_host=False,  # a refresh runs inside an API request holding a slot of what may be the same host
    )
    try:
        data: dict[str, Any] = response.json()
    except ValueError:
        raise ProviderError(f"POST {endpoints.token_url}: HTTP {response.status_code}: not JSON") from None
    if response.status_code >= 400 or "access_token" not in data:
        error = str(data.get("error", "unknown_error"))
        detail = str(data.get("error_description") or error)
        if error == "invalid_grant":
            raise NeedsReauthError(f"{endpoints.provider} refused the stored sign-in ({detail}): sign in again")
        raise AuthError(f"{endpoints.provider} token endpoint refused the request: {error}: {detail}")
    return Tokens(
        access_token=str(data["access_token"]),
        expires_at=time.time() + float(data.get("expires_in") or 3600),
        refresh_token=data.get("refresh_token"),
        scope=str(data.get("scope", "")),
    )


# --------------------------------------------------------------------------- tokens for requests


class TokenSource:
    """Access tokens for one connection: cached, refreshed early, refreshed on demand.

    With no ``refresh_token`` it serves the fixed ``access_token`` it was given (a token from
    ``mirrorcal emulate``, say) and a 401 is final. Concurrent callers share one refresh.
    """

    def __init__(
        self,
        *,
        endpoints: OAuthEndpoints | None = None,
        client: OAuthClient | None = None,
        refresh_token: str | None = None,
        access_token: str | None = None,
        http: httpx.AsyncClient | None = None,
        on_rotated: Callable[[str], Awaitable[None] | None] | None = None,
        on_revoked: Callable[[str], Awaitable[None] | None] | None = None,
        name: str = "",
    ) -> None:
        if refresh_token is None and access_token is None:
            raise ValueError("a TokenSource needs a refresh token or an access token")
        if refresh_token is not None and (endpoints is None or client is None):
            raise ValueError("refreshing needs the provider's endpoints and the OAuth client")
        self.endpoints, self.client, self.name = endpoints, client, name
        self.refresh_token = refresh_token
        self._access = access_token
        self._expires = float("inf") if refresh_token is None else 0.0
        self._http = http
        self._own_http = http is None
        self._on_rotated, self._on_revoked = on_rotated, on_revoked
        self._lock = asyncio.Lock()
        self.refreshes = 0
        self.revoked = False

    @property
    def can_refresh(self) -> bool:
        return self.refresh_token is not None

    async def token(self) -> str:
        """A token valid for at least ``EARLY_REFRESH`` seconds more (as far as we know)."""
        if self._access is not None and self._expires - EARLY_REFRESH > time.time():
            return self._access
        return await self.refresh(stale=self._access)

    async def refresh(self, stale: str | None = None) -> str:
        """A new token, unless another caller already replaced ``stale`` meanwhile."""
        async with self._lock:
            if self._access is not None and self._access != stale and self._expires - EARLY_REFRESH > time.time():
                return self._access
            if self.refresh_token is None:
                raise AuthError(f"{self.name or 'connection'}: the access token was refused and cannot be refreshed")
            if self.revoked:
                raise NeedsReauthError(f"{self.name or 'connection'} needs re-authorisation: sign in again")
            assert self.endpoints is not None and self.client is not None
            if self._http is None:
                self._http = httpx.AsyncClient(timeout=30.0)
            try:
                tokens = await refresh_tokens(self._http, self.endpoints, self.client, self.refresh_token)
            except NeedsReauthError as exc:
                self.revoked = True
                await _call(self._on_revoked, str(exc))
                raise
            self.refreshes += 1
            self._access, self._expires = tokens.access_token, tokens.expires_at
            if tokens.refresh_token and tokens.refresh_token != self.refresh_token:
                self.refresh_token = tokens.refresh_token
                await _call(self._on_rotated, tokens.refresh_token)
            return tokens.access_token

    async def aclose(self) -> None:
        if self._own_http and self._http is not None:
            await self._http.aclose()
            self._http = None


async def _call(callback: Callable[[str], Awaitable[None] | None] | None, value: str) -> None:
    if callback is not None:
        result = callback(value)
        if result is not None:
            await result


class BearerAuth(httpx.Auth):
    """Adds ``Authorization: Bearer``; after a 401, refreshes once and sends the request again."""

    def __init__(self, source: TokenSource) -> None:
        self.source = source

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.source.token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401 and self.source.can_refresh:
            token = await self.source.refresh(stale=token)
            request.headers["Authorization"] = f"Bearer {token}"
            yield request

    def sync_auth_flow(self, request: httpx.Request) -> Any:
        raise RuntimeError("BearerAuth works with httpx.AsyncClient only")


# --------------------------------------------------------------------------- loopback sign-in

_DONE_PAGE = (
    "<!doctype html><meta charset=utf-8><title>mirrorcal</title>"
    "<body style='font-family:sans-serif'><h1>{title}</h1><p>{text}</p></body>"
)


async def sign_in_via_loopback(
    http: httpx.AsyncClient,
    endpoints: OAuthEndpoints,
    client: OAuthClient,
    open_browser: Callable[[str], Awaitable[None] | None],
    *,
    port: int = 0,
    wait_seconds: float = 300.0,
) -> Tokens:
    """Run the browser sign-in: listen on 127.0.0.1, send the browser to the provider, wait for
    its redirect back, and trade the code for tokens (PKCE S256).

    ``open_browser`` receives the sign-in URL (open it, print it, or follow it in a test).
    Raises ``AuthError`` when the user refuses or the callback is wrong, ``TimeoutError`` when
    nothing comes back within ``wait_seconds``.
    """
    loop = asyncio.get_running_loop()
    callback: asyncio.Future[str] = loop.create_future()

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = (await asyncio.wait_for(reader.readline(), 10)).decode("latin-1")
            while (await asyncio.wait_for(reader.readline(), 10)) not in (b"\r\n", b"\n", b""):
                pass
            method, target, *_ = line.split() + ["", ""]
            query = parse_qs(urlsplit(target).query)
            ok = method == "GET" and urlsplit(target).path == "/callback" and ("code" in query or "error" in query)
            if ok and not callback.done():
                callback.set_result(f"{redirect_uri}?{urlsplit(target).query}")
            title, text = (
                ("Signed in", "mirrorcal has the connection. You can close this window.")
                if ok and "code" in query
                else ("Not signed in", "mirrorcal did not get a sign-in; go back to the terminal.")
            )
            page = _DONE_PAGE.format(title=title, text=text).encode()
            status = "200 OK" if ok else "400 Bad Request"
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n"
                f"Content-Length: {len(page)}\r\nConnection: close\r\n\r\n".encode() + page
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_connection, "127.0.0.1", port)
    try:
        bound = server.sockets[0].getsockname()[1]
        redirect_uri = f"http://127.0.0.1:{bound}/callback"
        request = authorization_request(endpoints, client, redirect_uri)
        await _call(open_browser, request.url)
        answer = await asyncio.wait_for(callback, wait_seconds)
    finally:
        server.close()
        await server.wait_closed()
    return await exchange_code(http, endpoints, client, request, answer)
