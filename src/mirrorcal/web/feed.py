"""The busy-only ICS feed at a secret URL: the feed itself, its page (/account/feed) and its API (/api/v1/feed).

One feed per account. Its URL carries a fresh ``accounts.new_token()`` (32 random bytes,
URL-safe); only the token's hash is stored, so the URL is shown once, when it is made.
Replacing it makes a new URL and the old one answers 404 from then on; turning the feed off
does the same without a new one. ``GET /feeds/{token}.ics`` needs no sign-in (calendar apps
cannot sign in): whoever holds the URL sees when the account is busy, never why (see
``mirrorcal.busyfeed``). It answers with an ETag and honours ``If-None-Match`` (304).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel
from starlette.responses import Response

from mirrorcal import workspace as ws
from mirrorcal.accounts import new_token, token_hash
from mirrorcal.busyfeed import Feed, busy_feed, matches
from mirrorcal.errors import ConfigError
from mirrorcal.store.base import Store, UserRow

from .api import ErrorOut
from .deps import MAX_TOKEN_LENGTH, ApiUser, Csrf, CurrentUser, StoreDep, utcnow
from .pages import render

router = APIRouter()
"""Everything below: the feed and the page (left out of the OpenAPI document) and the API."""
api_router = APIRouter(prefix="/api/v1/feed", tags=["feed"], responses={401: {"model": ErrorOut}})

UID_SECRET = "busy-feed-uid"
"""The store secret the feeds' UIDs are keyed with (one key per account is derived from it)."""
GONE = "There is no feed at this address. It may have been replaced or turned off."


# building ---------------------------------------------------------------------------------------
def feed_of(store: Store, user_id: int) -> Feed:
    """The account's feed now, from the store's cache of its unified calendars.

    Raises ``HTTPException`` 503 when the account's saved document cannot be read and
    ``StoreError`` when the store fails."""
    text = store.workspace(user_id)
    calendars: list[tuple[str, frozenset[str]]] = []
    tz = ZoneInfo("UTC")
    if text:
        try:
            config = ws.namespaced(ws.check(text), user_id)
        except ConfigError as exc:
            raise HTTPException(503, "This feed cannot be built right now: the account's setup needs attention.") from exc
        calendars = [(name, cfg.emails) for name, cfg in config.calendars.items() if cfg.unified]
        tz = config.timezone
    key = hmac.new(store.secret(UID_SECRET), str(user_id).encode(), hashlib.sha256).digest()
    feed, _problems = busy_feed(store, calendars, now=utcnow(), tz=tz, key=key)
    return feed


def _new_url(request: Request, store: Store, user: UserRow) -> tuple[str, datetime, bool]:
    """Make (or replace) the user's feed token: the new URL, when, and whether one was replaced."""
    replaced = store.feed(user.id) is not None
    raw = new_token()
    row = store.set_feed(user.id, token_hash(raw), utcnow())
    return str(request.url_for("busy_feed", feed_token=raw)), row.created, replaced


# the feed ---------------------------------------------------------------------------------------
@router.api_route("/feeds/{feed_token}.ics", methods=["GET", "HEAD"], name="busy_feed", include_in_schema=False)
def busy_feed_ics(request: Request, feed_token: str, store: StoreDep) -> Response:
    row = store.feed_by_token(token_hash(feed_token)) if len(feed_token) <= MAX_TOKEN_LENGTH else None
    if row is None:
        raise HTTPException(404, GONE)
    feed = feed_of(store, row.user_id)
    headers = {"ETag": feed.etag, "Cache-Control": "private, no-cache", "X-Robots-Tag": "noindex"}
    if matches(request.headers.get("if-none-match"), feed.etag):
        return Response(status_code=304, headers=headers)
    headers["Content-Disposition"] = 'inline; filename="busy.ics"'
    return Response(feed.text, media_type="text/calendar; charset=utf-8", headers=headers)


# the page ---------------------------------------------------------------------------------------
def _page(request: Request, store: Store, user: UserRow, status_code: int = 200, **extra: object) -> Response:
    row = store.feed(user.id)
    context: dict[str, object] = {"active": "feed", "feed": row, "blocks": feed_of(store, user.id).blocks if row else 0}
    return render(request, "feed.html", context | extra, status_code=status_code)


@router.get("/account/feed", include_in_schema=False)
def feed_page(request: Request, csrf: Csrf, user: CurrentUser, store: StoreDep) -> Response:
    return _page(request, store, user)


@router.post("/account/feed", include_in_schema=False)
def create_feed(request: Request, csrf: Csrf, user: CurrentUser, store: StoreDep) -> Response:
    """Create the feed, or replace its URL (the old one stops working)."""
    url, _, replaced = _new_url(request, store, user)
    return _page(request, store, user, status_code=201, new_url=url, replaced=replaced)


@router.post("/account/feed/delete", include_in_schema=False)
def delete_feed(request: Request, csrf: Csrf, user: CurrentUser, store: StoreDep) -> Response:
    """Turn the feed off: its URL answers 404 from now on."""
    turned_off = store.delete_feed(user.id)
    return _page(request, store, user, turned_off=turned_off)


# the API ----------------------------------------------------------------------------------------
class FeedStatus(BaseModel):
    """Whether the account's busy-only feed is on, and since when its current URL exists."""

    on: bool
    created: datetime | None


class FeedCreated(BaseModel):
    """A new feed URL: shown this once (only its hash is kept). ``replaced``: an older URL
    existed and no longer works."""

    url: str
    created: datetime
    replaced: bool


@api_router.get("", summary="The busy-only ICS feed's state")
def feed_status(user: ApiUser, store: StoreDep) -> FeedStatus:
    row = store.feed(user.id)
    return FeedStatus(on=row is not None, created=None if row is None else row.created)


@api_router.post("", status_code=201, summary="Create the feed, or replace its URL (the old one stops working)")
def feed_create(request: Request, user: ApiUser, store: StoreDep) -> FeedCreated:
    url, created, replaced = _new_url(request, store, user)
    return FeedCreated(url=url, created=created, replaced=replaced)


@api_router.delete("", status_code=204, responses={404: {"model": ErrorOut}}, summary="Turn the feed off")
def feed_delete(user: ApiUser, store: StoreDep) -> Response:
    if not store.delete_feed(user.id):
        raise HTTPException(404, "The feed is already off.")
    return Response(status_code=204)


router.include_router(api_router)
