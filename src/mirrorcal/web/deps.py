"""Request dependencies as ``Annotated`` aliases: the store, settings, the session, the user and CSRF.

``CurrentUser`` is for pages (nobody signed in: a redirect to /signin); ``ApiUser`` is for
/api/v1 (a personal API token as ``Authorization: Bearer``, else 401 JSON). ``Csrf`` gives the
token a page's forms must carry and, on a POST, refuses (403) a request without it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from mirrorcal.accounts import new_token, token_hash
from mirrorcal.errors import StoreError
from mirrorcal.store.base import Store, UserRow, WebSessionRow

from .pages import FormExpired, SignInRequired
from .security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    SAFE_METHODS,
    SESSION_COOKIE,
    Passwords,
    SignInThrottle,
    same_origin,
    tokens_match,
)
from .settings import WebSettings
from .setup import Setup

MAX_TOKEN_LENGTH = 256  # anything longer is not one of ours; do not hash it
TOUCH_EVERY = timedelta(minutes=1)  # how stale an API token's last_used may get (spares writes)


def row_id(value: int) -> bool:
    """Whether ``value`` can name a stored row at all (a database integer id); anything else is
    simply not found, never asked of the database (SQLite raises OverflowError past 2**63)."""
    return 0 < value < 2**63


def utcnow() -> datetime:
    return datetime.now(UTC)


def get_settings(request: Request) -> WebSettings:
    settings: WebSettings = request.app.state.settings
    return settings


def get_store(request: Request) -> Store:
    store: Store | None = request.app.state.store
    if store is None:
        raise StoreError("the state store is not open (the app was not started)")
    return store


def get_passwords(request: Request) -> Passwords:
    passwords: Passwords = request.app.state.passwords
    return passwords


def get_throttle(request: Request) -> SignInThrottle:
    throttle: SignInThrottle = request.app.state.throttle
    return throttle


SettingsDep = Annotated[WebSettings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
PasswordsDep = Annotated[Passwords, Depends(get_passwords)]
ThrottleDep = Annotated[SignInThrottle, Depends(get_throttle)]


def current_session(request: Request, store: StoreDep) -> WebSessionRow | None:
    """The live session named by the session cookie, or None (no cookie, unknown or expired)."""
    token = request.cookies.get(SESSION_COOKIE)
    row = store.web_session(token_hash(token)) if token and len(token) <= MAX_TOKEN_LENGTH else None
    request.state.session = row
    return row


SessionDep = Annotated[WebSessionRow | None, Depends(current_session)]


def current_user(request: Request, session: SessionDep, store: StoreDep) -> UserRow:
    """The signed-in user; raises ``SignInRequired`` (a redirect to /signin) when there is none."""
    user = store.user(session.user_id) if session is not None else None
    if user is None:
        raise SignInRequired(request.url.path)
    request.state.user = user
    return user


CurrentUser = Annotated[UserRow, Depends(current_user)]


async def csrf_token(request: Request, session: SessionDep) -> str:
    """The CSRF token of this request's forms: the session's, or (signed out) the double-submit
    cookie's, made when missing. On a POST (any unsafe method) raises ``FormExpired`` unless the
    form's ``csrf`` field matches it and any ``Origin`` header is the app's own."""
    expected = session.csrf if session is not None else request.cookies.get(CSRF_COOKIE)
    if expected is not None and not 0 < len(expected) <= MAX_TOKEN_LENGTH:
        expected = None
    if request.method not in SAFE_METHODS:
        given = (await request.form()).get(CSRF_FIELD)
        if not same_origin(request) or not isinstance(given, str) or not tokens_match(expected, given):
            raise FormExpired()
    if expected is None:
        expected = new_token()
        request.state.new_csrf = expected
    request.state.csrf = expected
    return expected


Csrf = Annotated[str, Depends(csrf_token)]

_bearer = HTTPBearer(auto_error=False, description="A personal API token (Account → API tokens).")


def api_user(
    store: StoreDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> UserRow:
    """The owner of the personal API token in ``Authorization: Bearer``; 401 JSON otherwise.

    Records the token's use (at most once a minute)."""
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise HTTPException(
            401, "Send a personal API token as 'Authorization: Bearer <token>'.", headers=challenge
        )
    raw = credentials.credentials
    token = store.api_token(token_hash(raw)) if len(raw) <= MAX_TOKEN_LENGTH else None
    user = store.user(token.user_id) if token is not None else None
    if token is None or user is None:
        raise HTTPException(401, "This API token is not valid; it may have been deleted.", headers=challenge)
    now = utcnow()
    if token.last_used is None or now - token.last_used >= TOUCH_EVERY:
        store.touch_api_token(token.id, now)
    return user


ApiUser = Annotated[UserRow, Depends(api_user)]


def page_setup(request: Request, user: CurrentUser, store: StoreDep, settings: SettingsDep) -> Setup:
    """The signed-in user's setup (pages)."""
    return Setup(store, settings, user, request.app.state.checks, poke=_poke(request))


def api_setup(request: Request, user: ApiUser, store: StoreDep, settings: SettingsDep) -> Setup:
    """The token owner's setup (API)."""
    return Setup(store, settings, user, request.app.state.checks, poke=_poke(request))


def _poke(request: Request) -> Callable[[int], None] | None:
    worker = request.app.state.worker
    return None if worker is None else worker.poke  # type: ignore[no-any-return]


PageSetup = Annotated[Setup, Depends(page_setup)]
ApiSetup = Annotated[Setup, Depends(api_setup)]
