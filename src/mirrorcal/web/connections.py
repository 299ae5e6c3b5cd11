"""Connections: the account's stored sign-ins (Google, Microsoft, iCloud, CalDAV) with their states; add Google or Microsoft by OAuth; remove one.

Adding Google or Microsoft: ``GET /connections/new/{google|microsoft}`` sends the browser to the
provider's sign-in (authorization code + PKCE S256). The ``state`` and the PKCE verifier stay on
the server for ``PENDING_SECONDS``, bound to the user who started; the provider redirects to
``/connections/oauth/callback``, which trades the code for tokens, stores the refresh token
encrypted as connection ``u{id}.{name}`` and goes on to the account's calendars, where the user
ticks those to add. "Sign in again" (``POST /connections/{name}/reauth``) runs the same flow for
a stored connection and puts it back to "ok", which resumes its syncs.

The callback completes only in a browser signed in as the user who started the sign-in (also
when the API started it with ``POST /api/v1/connections/{kind}/authorize``): the refresh token
is never attached to whoever happens to hold the link. Signed out, the browser is sent to sign
in and back.

States shown: "OK", "Syncing…" (the account's syncs are running now in the app's worker),
"Needs re-authorisation" (the provider refused the stored sign-in: its syncs are paused) and
"Error: …" (the provider's words, set by the worker after a run, see ``web.worker``).
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field
from starlette.responses import RedirectResponse, Response

from mirrorcal import workspace as ws
from mirrorcal.bootstrap import http_client
from mirrorcal.config import DEFAULT_API_URLS, CalendarConfig
from mirrorcal.connect import account_calendars
from mirrorcal.errors import MirrorcalError, NeedsReauthError
from mirrorcal.oauth import (
    AuthorizationRequest,
    BearerAuth,
    OAuthClient,
    OAuthEndpoints,
    TokenSource,
    authorization_request,
    endpoints_for,
    exchange_code,
)
from mirrorcal.store.base import ConnectionRow, UserRow

from .api import ErrorOut
from .deps import ApiSetup, Csrf, PageSetup, SessionDep, SettingsDep, StoreDep
from .pages import SignInRequired, error_page, render
from .settings import WebSettings
from .setup import KIND_NAMES, OAUTH_KINDS, CalendarForm, Refused, Setup

router = APIRouter()

PENDING_SECONDS = 600.0
"""How long a started sign-in may take before its ``state`` is forgotten."""
CALLBACK_PATH = "/connections/oauth/callback"
SETTING_NAMES = {
    "google": ("MIRRORCAL_GOOGLE_CLIENT_ID", "MIRRORCAL_GOOGLE_CLIENT_SECRET"),
    "microsoft": ("MIRRORCAL_MICROSOFT_CLIENT_ID", "MIRRORCAL_MICROSOFT_CLIENT_SECRET"),
}
STATE_WORDS = {"ok": "OK", "syncing": "Syncing…", "needs_reauth": "Needs re-authorisation", "error": "Error"}
DONE = {
    "removed": "The connection was removed. Its stored sign-in was deleted.",
    "removed-calendars": "The connection and its calendars were removed. Its stored sign-in was deleted.",
    "signed-in": "Signed in again. The connection is OK and its syncs run again.",
    "added": "The calendars were added. Create syncs between them on the Syncs page.",
}
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


# pending sign-ins -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PendingSignIn:
    """A sign-in sent to the provider and not back yet."""

    user_id: int
    kind: str
    name: str
    reauth: bool
    endpoints: OAuthEndpoints
    request: AuthorizationRequest = field(repr=False)
    expires: float


class SignIns:
    """The pending sign-ins by ``state`` (thread-safe: page handlers run in a thread pool)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, PendingSignIn] = {}
        self.tokens: dict[tuple[int, str], tuple[str, float]] = {}
        """The access token of a sign-in just completed, by (user, connection), so that the
        calendars page does not need a refresh straight away."""

    def add(self, pending: PendingSignIn) -> None:
        with self._lock:
            now = time.monotonic()
            for state in [s for s, p in self._pending.items() if p.expires < now]:
                del self._pending[state]
            for key in [k for k, (_, expires) in list(self.tokens.items()) if expires < time.time()]:
                del self.tokens[key]
            self._pending[pending.request.state] = pending

    def take(self, state: str) -> PendingSignIn | None:
        """The sign-in of ``state``, once (None when unknown or expired)."""
        with self._lock:
            pending = self._pending.pop(state, None)
        return pending if pending is not None and pending.expires >= time.monotonic() else None


_made = threading.Lock()


def sign_ins(request: Request) -> SignIns:
    with _made:
        found: SignIns | None = getattr(request.app.state, "sign_ins", None)
        if found is None:
            found = SignIns()
            request.app.state.sign_ins = found
        return found


class NotConfigured(Exception):
    """The server has no OAuth registration for this kind."""

    def __init__(self, kind: str) -> None:
        ident, secret = SETTING_NAMES[kind]
        super().__init__(
            f"{KIND_NAMES[kind]} cannot be connected on this server yet: its administrator must register an app with "
            f"{KIND_NAMES[kind]} and set {ident} (and {secret}), with {CALLBACK_PATH} on this server's address "
            "(MIRRORCAL_PUBLIC_URL) as its redirect address."
        )


# helpers ----------------------------------------------------------------------------------------
def api_root(settings: WebSettings, kind: str) -> str:
    """The provider's API root (an emulator's when the settings name one)."""
    base = settings.google_base_url if kind == "google" else settings.microsoft_base_url
    return base.rstrip("/") or DEFAULT_API_URLS[kind]


def _endpoints(settings: WebSettings, kind: str) -> tuple[OAuthEndpoints, OAuthClient]:
    oauth = settings.oauth().get(kind)
    if oauth is None:
        raise NotConfigured(kind)
    root = api_root(settings, kind)
    endpoints = endpoints_for(kind, None if root == DEFAULT_API_URLS[kind] else root, tenant=oauth.tenant)
    return endpoints, OAuthClient(oauth.client_id, oauth.client_secret)


def _full(setup: Setup, name: str) -> str:
    return ws.prefix(setup.user.id) + name


def own_connections(setup: Setup) -> list[ConnectionRow]:
    p = ws.prefix(setup.user.id)
    return [row for row in setup.book.list() if row.name.startswith(p)]


def free_name(setup: Setup, kind: str) -> str:
    """``kind``, else ``kind-2``, ``kind-3``… : the first name no connection of the account uses."""
    taken = {row.name for row in own_connections(setup)} | {
        _full(setup, c.connection) for c in setup.workspace().calendars if c.connection
    }
    name, n = kind, 1
    while _full(setup, name) in taken:
        n += 1
        name = f"{kind}-{n}"
    return name


def start_sign_in(request: Request, setup: Setup, kind: str, name: str = "", *, reauth: bool = False) -> PendingSignIn:
    """A new pending sign-in for connection ``name`` (a free one when empty). Raises
    ``NotConfigured`` and ``Refused`` (``name``: malformed or already used)."""
    endpoints, client = _endpoints(setup.settings, kind)
    name = name.strip()
    if not name:
        name = free_name(setup, kind)
    elif not _NAME.fullmatch(name):
        raise Refused({"name": "A connection name may only use letters, digits, '_', '.' and '-' (at most 64)."})
    elif not reauth and (setup.book.get(_full(setup, name)) is not None or name in {c.connection for c in setup.workspace().calendars}):
        raise Refused({"name": f"You already have a connection named '{name}'."})
    redirect_uri = setup.settings.base_url() + CALLBACK_PATH
    pending = PendingSignIn(
        user_id=setup.user.id,
        kind=kind,
        name=name,
        reauth=reauth,
        endpoints=endpoints,
        request=authorization_request(endpoints, client, redirect_uri),
        expires=time.monotonic() + PENDING_SECONDS,
    )
    sign_ins(request).add(pending)
    return pending


class SignInFailed(Exception):
    """The callback cannot complete; the message says why in plain words."""


async def complete_sign_in(request: Request, setup: Setup, pending: PendingSignIn) -> ConnectionRow:
    """Trade the callback's code for tokens, name the account, store the refresh token (encrypted)."""
    endpoints, client = _endpoints(setup.settings, pending.kind)
    callback = f"{pending.request.redirect_uri}?{request.url.query}"
    provider = KIND_NAMES[pending.kind]
    root = api_root(setup.settings, pending.kind)
    try:
        async with httpx.AsyncClient(timeout=30.0) as http:
            tokens = await exchange_code(http, endpoints, client, pending.request, callback)
        if not tokens.refresh_token:
            raise SignInFailed(f"{provider} gave no lasting sign-in (no refresh token): the app registration must allow offline access.")
        probe = CalendarConfig(name=pending.name, kind=pending.kind, url=root)
        async with http_client(probe, BearerAuth(TokenSource(access_token=tokens.access_token))) as api:
            account, _ = await account_calendars(pending.kind, root, api)
    except MirrorcalError as exc:
        raise SignInFailed(_sentence(exc)) from None
    full = _full(setup, pending.name)
    book = setup.book
    stored = book.get(full)
    if pending.reauth:
        if stored is None:
            raise SignInFailed(f"The connection '{pending.name}' was removed meanwhile. Add it again from Connections.")
        if stored.account and account and stored.account.lower() != account.lower():
            raise SignInFailed(
                f"You signed in as {account}, but the connection '{pending.name}' is for {stored.account}. "
                f"Sign in again as {stored.account}."
            )
    elif stored is not None:  # taken meanwhile: keep both
        full = _full(setup, free_name(setup, pending.kind))
    row = book.save(full, pending.kind, account or (stored.account if stored else ""), tokens.refresh_token, {"scope": tokens.scope})
    sign_ins(request).tokens[(setup.user.id, full)] = (tokens.access_token, tokens.expires_at)
    return row


@dataclass(frozen=True, slots=True)
class AccountCalendar:
    calendar_id: str
    title: str
    primary: bool
    added_as: str | None
    """The account's calendar of that name using it already, if any."""
    suggested: str


async def account_calendars_of(request: Request, setup: Setup, row: ConnectionRow) -> list[AccountCalendar]:
    """The calendars of the connection's account, read now. Raises ``SignInFailed``."""
    full = row.name
    kind = row.kind
    endpoints, client = _endpoints(setup.settings, kind)
    root = api_root(setup.settings, kind)
    book = setup.book
    cached = sign_ins(request).tokens.get((setup.user.id, full))
    if cached is not None and cached[1] - 60 > time.time():
        source = TokenSource(access_token=cached[0], name=full)
    else:
        source = TokenSource(
            endpoints=endpoints,
            client=client,
            refresh_token=book.secret(full),
            on_rotated=lambda token: book.replace_secret(full, token),
            on_revoked=lambda message: book.mark_needs_reauth(full, message),
            name=full,
        )
        source.revoked = row.state == "needs_reauth"
    probe = CalendarConfig(name=full, kind=kind, url=root)
    try:
        async with http_client(probe, BearerAuth(source)) as api:
            _, found = await account_calendars(kind, root, api)
    except NeedsReauthError:
        raise SignInFailed(f"{KIND_NAMES[kind]} no longer accepts this connection's sign-in: sign in again.") from None
    except MirrorcalError as exc:
        raise SignInFailed(_sentence(ws.unprefixed(str(exc), setup.user.id))) from None
    finally:
        await source.aclose()
    model = setup.workspace()
    connection = full[len(ws.prefix(setup.user.id)) :]
    taken = {c.name for c in model.calendars}
    out = []
    for cid, title, primary in found:
        added = next((c.name for c in model.calendars if c.connection == connection and c.calendar_id == cid), None)
        suggested = _unique(_slug(title or cid) or kind, taken)
        taken.add(suggested)
        out.append(AccountCalendar(cid, title or cid, primary, added, suggested))
    return out


def _slug(text: str) -> str:
    return re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9_.-]+", "-", text.lower())).strip("-.")[:56]


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}-{n}"
    return candidate


def _sentence(exc: BaseException | str) -> str:
    text = str(exc).strip() or type(exc).__name__
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", ")")) else text + "."


@dataclass(frozen=True, slots=True)
class ConnectionView:
    """One connection as the page and the API show it."""

    name: str
    kind: str
    account: str
    state: str
    """ok | syncing | needs_reauth | error"""
    message: str
    calendars: list[str]
    syncs: list[str]
    """Syncs reading or writing one of its calendars."""

    @property
    def oauth(self) -> bool:
        return self.kind in OAUTH_KINDS

    @property
    def words(self) -> str:
        return STATE_WORDS.get(self.state, self.state)


def views(request: Request, setup: Setup) -> list[ConnectionView]:
    model = setup.workspace()
    uid = setup.user.id
    worker = request.app.state.worker
    running = worker is not None and worker.running(uid)
    out = []
    for row in own_connections(setup):
        name = row.name[len(ws.prefix(uid)) :]
        calendars = [c.name for c in model.calendars if c.connection == name]
        syncs = [s.name for s in model.syncs if {s.source, s.target} & set(calendars)]
        state = "syncing" if running and row.state == "ok" and syncs else row.state
        out.append(ConnectionView(name, row.kind, row.account, state, ws.unprefixed(row.message, uid), calendars, syncs))
    return out


def owned(setup: Setup, connection_name: str) -> ConnectionRow | None:
    if not _NAME.fullmatch(connection_name):
        return None
    return setup.book.get(_full(setup, connection_name))


def remove_connection(setup: Setup, name: str, *, with_calendars: bool) -> int:
    """Remove connection ``name`` (and, asked to, its calendars); how many calendars went.
    Raises ``Refused`` while calendars use it (or, with them, while syncs use those)."""
    model = setup.workspace()
    calendars = [c.name for c in model.calendars if c.connection == name]
    if calendars and not with_calendars:
        raise Refused(
            {"form": f"The connection '{name}' is used by the calendar(s) {', '.join(calendars)}. "
             "Tick “also remove its calendars”, or remove them on the Calendars page first."}
        )  # fmt: skip
    syncs = [s.name for s in model.syncs if {s.source, s.target} & set(calendars)]
    if syncs:
        raise Refused(
            {"form": f"The calendars of '{name}' are used by the sync(s) {', '.join(syncs)}. "
             "Delete those syncs first (Syncs page), then remove the connection."}
        )  # fmt: skip
    for calendar in calendars:
        setup.remove_calendar(calendar)
    setup.book.remove(_full(setup, name))
    return len(calendars)


# pages ------------------------------------------------------------------------------------------
def _list(request: Request, setup: Setup, errors: dict[str, str] | None = None, status_code: int = 200) -> Response:
    done = DONE.get(request.query_params.get("done", ""))
    context: dict[str, Any] = {
        "active": "connections",
        "connections": views(request, setup),
        "kinds": KIND_NAMES,
        "oauth_kinds": OAUTH_KINDS,
        "configured": setup.settings.oauth(),
        "errors": errors or {},
        "done": done,
    }
    return render(request, "connections.html", context, status_code=status_code)


def _notice(request: Request, title: str, message: str, status_code: int = 200, *, again: str | None = None) -> Response:
    context = {"active": "connections", "title": title, "message": message, "again": again}
    return render(request, "connection_notice.html", context, status_code=status_code)


def owned_page_connection(setup: PageSetup, connection_name: str) -> ConnectionRow:
    row = owned(setup, connection_name)
    if row is None:
        raise HTTPException(404)
    return row


OwnedConnection = Annotated[ConnectionRow, Depends(owned_page_connection)]


@router.get("/connections", include_in_schema=False)
def connections_page(request: Request, csrf: Csrf, setup: PageSetup) -> Response:
    return _list(request, setup)


def _start_page(kind: str) -> Any:
    def start(request: Request, csrf: Csrf, setup: PageSetup, name: str = "") -> Response:
        try:
            pending = start_sign_in(request, setup, kind, name)
        except NotConfigured as exc:
            return _notice(request, f"{KIND_NAMES[kind]} is not set up on this server", str(exc))
        except Refused as exc:
            return _list(request, setup, exc.errors, status_code=400)
        return RedirectResponse(pending.request.url, status_code=303)

    return start


for _kind in OAUTH_KINDS:  # one literal route per kind: no path parameter that names nothing of the user's
    router.add_api_route(
        f"/connections/new/{_kind}", _start_page(_kind), methods=["GET"], include_in_schema=False, name=f"connect_{_kind}"
    )


def callback_user(request: Request, session: SessionDep, store: StoreDep) -> UserRow:
    """The signed-in user; signed out, a sign-in that comes back here with the same query."""
    user = store.user(session.user_id) if session is not None else None
    if user is None:
        raise SignInRequired(f"{request.url.path}?{request.url.query}" if request.url.query else request.url.path)
    request.state.user = user
    return user


@router.get(CALLBACK_PATH, include_in_schema=False)
async def oauth_callback(
    request: Request,
    csrf: Csrf,
    user: Annotated[UserRow, Depends(callback_user)],
    store: StoreDep,
    settings: SettingsDep,
    state: str = "",
    error: str = "",
) -> Response:
    pending = sign_ins(request).take(state) if state else None
    if pending is None:
        message = "This sign-in is not known or has expired (a sign-in must be completed within 10 minutes). Start again from Connections."
        return error_page(request, 400, message)
    if pending.user_id != user.id:
        return error_page(request, 400, "This sign-in was started by another mirrorcal account. Sign in to mirrorcal as that account, or start again.")
    provider = KIND_NAMES[pending.kind]
    again = f"/connections/new/{pending.kind}" if not pending.reauth else "/connections"
    if error == "access_denied":
        message = f"You did not allow mirrorcal to use your {provider}, so nothing was connected. You can try again at any time."
        return _notice(request, "Nothing was connected", message, again=again)
    worker = request.app.state.worker
    setup = Setup(store, settings, user, request.app.state.checks, poke=None if worker is None else worker.poke)
    if error:
        detail = request.query_params.get("error_description") or error
        return _notice(request, "Nothing was connected", f"{provider} did not complete the sign-in: {detail}", 400, again=again)
    try:
        row = await complete_sign_in(request, setup, pending)
    except SignInFailed as exc:
        return _notice(request, "Nothing was connected", str(exc), 400, again=again)
    name = row.name[len(ws.prefix(user.id)) :]
    if pending.reauth:
        setup.run_soon()
        return RedirectResponse("/connections?done=signed-in", status_code=303)
    return RedirectResponse(f"/connections/{name}/calendars", status_code=303)


def _calendars_page(
    request: Request,
    row: ConnectionRow,
    found: list[AccountCalendar],
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    picked: set[str] | None = None,
    status_code: int = 200,
) -> Response:
    context: dict[str, Any] = {
        "active": "connections",
        "connection": row,
        "name": row.name.split(".", 1)[1],
        "provider": KIND_NAMES[row.kind],
        "found": found,
        "errors": errors or {},
        "values": values or {},
        "picked": picked if picked is not None else {c.calendar_id for c in found if c.primary and c.added_as is None},
    }
    return render(request, "connection_calendars.html", context, status_code=status_code)


@router.get("/connections/{connection_name}/calendars", include_in_schema=False)
async def calendars_of_connection(request: Request, csrf: Csrf, setup: PageSetup, row: OwnedConnection) -> Response:
    if row.kind not in OAUTH_KINDS:
        raise HTTPException(404)
    try:
        found = await account_calendars_of(request, setup, row)
    except (SignInFailed, NotConfigured) as exc:
        return _notice(request, "The calendars cannot be listed", str(exc), 400, again="/connections")
    return _calendars_page(request, row, found)


@router.post("/connections/{connection_name}/calendars", include_in_schema=False)
async def add_calendars_of_connection(request: Request, csrf: Csrf, setup: PageSetup, row: OwnedConnection) -> Response:
    if row.kind not in OAUTH_KINDS:
        raise HTTPException(404)
    data = await request.form()
    try:
        found = await account_calendars_of(request, setup, row)
    except (SignInFailed, NotConfigured) as exc:
        return _notice(request, "The calendars cannot be listed", str(exc), 400, again="/connections")
    picked = {str(v) for v in data.getlist("pick")}
    values = {k: str(v) for k, v in data.items() if k.startswith(("name.", "client."))}
    chosen = [c for c in found if c.calendar_id in picked and c.added_as is None]
    if not chosen:
        return _calendars_page(request, row, found, {"form": "Tick at least one calendar to add."}, values, picked, 400)
    errors = await add_picked(setup, row, chosen, lambda c: (values.get(f"name.{c.calendar_id}", ""), values.get(f"client.{c.calendar_id}", "")))
    if errors:
        found = await account_calendars_of(request, setup, row)
        return _calendars_page(request, row, found, errors, values, picked - {c.calendar_id for c in found if c.added_as}, 400)
    return RedirectResponse("/connections?done=added", status_code=303)


async def add_picked(setup: Setup, row: ConnectionRow, chosen: list[AccountCalendar], labels: Any) -> dict[str, str]:
    """Add each chosen calendar (``labels(calendar)`` gives its name and client label); the
    problems by form field, empty when all were added."""
    errors: dict[str, str] = {}
    connection = row.name[len(ws.prefix(setup.user.id)) :]
    poke, setup.poke = setup.poke, None  # one run once all are added: a run meanwhile would race the checks' token refreshes
    added = 0
    try:
        for cal in chosen:
            name, client = labels(cal)
            form = CalendarForm(kind=row.kind, name=name.strip() or cal.suggested, client=client, connection=connection, calendar_id=cal.calendar_id)
            try:
                await setup.add_calendar(form)
                added += 1
            except Refused as exc:
                for key, message in exc.errors.items():
                    errors[f"name.{cal.calendar_id}"] = f"{cal.title}: {message}" if key != "name" else message
    finally:
        setup.poke = poke
    if added:
        setup.run_soon()
    return errors


@router.post("/connections/{connection_name}/reauth", include_in_schema=False)
def reauthorise(request: Request, csrf: Csrf, setup: PageSetup, row: OwnedConnection) -> Response:
    name = row.name[len(ws.prefix(setup.user.id)) :]
    if row.kind not in OAUTH_KINDS:
        message = "Remove its calendars and add them again with the new password." if row.kind == "caldav" else (
            "Remove its calendars and add them again with a new app-specific password."
        )
        return _list(request, setup, {"form": f"'{name}' signs in with a password: {message}"}, status_code=400)
    try:
        pending = start_sign_in(request, setup, row.kind, name, reauth=True)
    except NotConfigured as exc:
        return _notice(request, f"{KIND_NAMES[row.kind]} is not set up on this server", str(exc))
    return RedirectResponse(pending.request.url, status_code=303)


@router.post("/connections/{connection_name}/delete", include_in_schema=False)
async def delete_connection(request: Request, csrf: Csrf, setup: PageSetup, row: OwnedConnection) -> Response:
    data = await request.form()
    name = row.name[len(ws.prefix(setup.user.id)) :]
    try:
        removed = remove_connection(setup, name, with_calendars=data.get("also_calendars") == "on")
    except Refused as exc:
        return _list(request, setup, exc.errors, status_code=400)
    return RedirectResponse("/connections?" + urlencode({"done": "removed-calendars" if removed else "removed"}), status_code=303)


# API --------------------------------------------------------------------------------------------
class ConnectionPublic(BaseModel):
    """A stored connection (its credential is never shown)."""

    name: str
    kind: str
    account: str = Field(description="The account's e-mail address or user name.")
    state: str = Field(description="ok | syncing | needs_reauth | error")
    message: str = Field(description="Why it needs re-authorisation or failed, in the provider's words.")
    calendars: list[str] = Field(description="The account's calendars that use it.")


class AuthorizeIn(BaseModel):
    name: str = Field(default="", max_length=64, description="The new connection's name; empty: the kind, then kind-2…")


class AuthorizeOut(BaseModel):
    authorize_url: str = Field(
        description="Open it in a browser signed in to mirrorcal as this token's owner; the sign-in completes there "
        "(within 10 minutes) and then lists the account's calendars to add."
    )
    name: str


_responses: dict[int | str, dict[str, Any]] = {code: {"model": ErrorOut} for code in (401, 404)}


def owned_api_connection(setup: ApiSetup, connection_name: str) -> ConnectionRow:
    row = owned(setup, connection_name)
    if row is None:
        raise HTTPException(404, f"You have no connection named {connection_name!r}.")
    return row


@router.get("/api/v1/connections", tags=["connections"], summary="The account's connections and their states", responses=_responses)
def list_connections(request: Request, setup: ApiSetup) -> list[ConnectionPublic]:
    return [
        ConnectionPublic(name=v.name, kind=v.kind, account=v.account, state=v.state, message=v.message, calendars=v.calendars)
        for v in views(request, setup)
    ]


@router.delete(
    "/api/v1/connections/{connection_name}",
    tags=["connections"],
    status_code=204,
    summary="Remove a connection (with also_calendars, its calendars too)",
    responses=_responses | {409: {"model": ErrorOut}},
)
def delete_api_connection(
    setup: ApiSetup, row: Annotated[ConnectionRow, Depends(owned_api_connection)], also_calendars: bool = False
) -> Response:
    name = row.name[len(ws.prefix(setup.user.id)) :]
    try:
        remove_connection(setup, name, with_calendars=also_calendars)
    except Refused as exc:
        raise HTTPException(409, next(iter(exc.errors.values()))) from None
    return Response(status_code=204)


class AccountCalendarOut(BaseModel):
    """A calendar of the connection's account."""

    calendar_id: str
    title: str
    primary: bool
    added_as: str | None = Field(description="The name of your calendar that uses it, if one does.")


class CalendarPick(BaseModel):
    calendar_id: str
    name: str = Field(default="", max_length=64, description="Empty: derived from the calendar's title.")
    client: str = ""


class CalendarsPick(BaseModel):
    calendars: list[CalendarPick] = []


class CalendarsAdded(BaseModel):
    added: list[str] = Field(description="The names of the calendars added (each checked live).")


OwnedApiConnection = Annotated[ConnectionRow, Depends(owned_api_connection)]


async def _api_account_calendars(request: Request, setup: Setup, row: ConnectionRow) -> list[AccountCalendar]:
    if row.kind not in OAUTH_KINDS:
        raise HTTPException(400, f"'{row.name[len(ws.prefix(setup.user.id)) :]}' is a {KIND_NAMES[row.kind]} connection: its calendars are added with their address.")
    try:
        return await account_calendars_of(request, setup, row)
    except (SignInFailed, NotConfigured) as exc:
        raise HTTPException(409, str(exc)) from None


@router.get(
    "/api/v1/connections/{connection_name}/calendars",
    tags=["connections"],
    summary="The calendars of a Google or Microsoft connection's account (read now)",
    responses=_responses | {400: {"model": ErrorOut}, 409: {"model": ErrorOut}},
)
async def api_account_calendars(request: Request, setup: ApiSetup, row: OwnedApiConnection) -> list[AccountCalendarOut]:
    found = await _api_account_calendars(request, setup, row)
    return [AccountCalendarOut(calendar_id=c.calendar_id, title=c.title, primary=c.primary, added_as=c.added_as) for c in found]


@router.post(
    "/api/v1/connections/{connection_name}/calendars",
    tags=["connections"],
    status_code=201,
    summary="Add calendars of a Google or Microsoft connection's account as your calendars",
    responses=_responses | {400: {"model": ErrorOut}, 409: {"model": ErrorOut}},
)
async def api_add_calendars(request: Request, body: CalendarsPick, setup: ApiSetup, row: OwnedApiConnection) -> CalendarsAdded:
    found = {c.calendar_id: c for c in await _api_account_calendars(request, setup, row)}
    unknown = [p.calendar_id for p in body.calendars if p.calendar_id not in found]
    if not body.calendars or unknown:
        raise HTTPException(400, f"calendars: {', '.join(unknown)} not in this account." if unknown else "calendars: give at least one calendar_id.")
    already = [p.calendar_id for p in body.calendars if found[p.calendar_id].added_as]
    if already:
        raise HTTPException(400, f"calendars: {', '.join(already)} already added.")
    picks = {p.calendar_id: p for p in body.calendars}
    before = {c.name for c in setup.workspace().calendars}
    errors = await add_picked(setup, row, [found[c] for c in picks], lambda c: (picks[c.calendar_id].name, picks[c.calendar_id].client))
    if errors:
        raise HTTPException(400, "; ".join(errors.values()))
    return CalendarsAdded(added=[c.name for c in setup.workspace().calendars if c.name not in before])


def _authorize_api(kind: str) -> Any:
    def authorize(request: Request, setup: ApiSetup, body: AuthorizeIn | None = None) -> AuthorizeOut:
        try:
            pending = start_sign_in(request, setup, kind, body.name if body else "")
        except NotConfigured as exc:
            raise HTTPException(409, str(exc)) from None
        except Refused as exc:
            raise HTTPException(400, "; ".join(f"{k}: {v}" for k, v in exc.errors.items())) from None
        return AuthorizeOut(authorize_url=pending.request.url, name=pending.name)

    return authorize


for _kind in OAUTH_KINDS:
    router.add_api_route(
        f"/api/v1/connections/{_kind}/authorize",
        _authorize_api(_kind),
        methods=["POST"],
        tags=["connections"],
        summary=f"Start connecting a {KIND_NAMES[_kind]} account (the sign-in completes in a browser)",
        responses=_responses | {400: {"model": ErrorOut}, 409: {"model": ErrorOut}},
        name=f"authorize_{_kind}",
    )
