"""Outbound webhooks in the app: the page (/account/webhooks), the API (/api/v1/webhooks) and the sender.

The signing, the payload and the delivery with retries are ``mirrorcal.webhooks``; here an
account manages its endpoints (add, send a test ping, rotate the secret, turn off and on,
delete) and sees the last deliveries. The signing secret is shown to its owner (the receiver
needs it to verify), on the page and in the API. Another account's endpoint is a 404.

``start_sender(app, store)`` (the lifespan, when ``settings.worker`` is on) runs a
``WebhookSender`` as ``app.state.webhooks`` and makes the app's ``Events`` hub feed it: each
``conflict.detected``, ``sync.failed`` and ``connection.needs_reauth`` becomes a delivery per
matching active endpoint of the account. ``app.state.webhook_options`` (a dict, optional) is
passed to the sender (tests give a fast ``schedule``).
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from mirrorcal.errors import SecretsError
from mirrorcal.secrets import Vault, default_key_file, load_vault
from mirrorcal.store.base import DeliveryRow, Store, UserRow, WebhookRow
from mirrorcal.webhooks import (
    EVENTS,
    MAX_DESCRIPTION_LENGTH,
    MAX_ENDPOINTS,
    MAX_URL_LENGTH,
    WebhookBook,
    WebhookError,
    WebhookSender,
    check_events,
    check_url,
)

from .api import ErrorOut
from .deps import ApiUser, Csrf, CurrentUser, SettingsDep, StoreDep, row_id
from .events import AccountEvent
from .pages import render

router = APIRouter()
"""Everything below: the page (left out of the OpenAPI document) and the API."""
api_router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"], responses={401: {"model": ErrorOut}})

NOT_FOUND = "There is no such webhook endpoint. It may have been deleted."
EVENT_LABELS = {
    "conflict.detected": "A conflict is detected (conflict.detected)",
    "sync.failed": "A sync fails (sync.failed)",
    "connection.needs_reauth": "A connection needs a new sign-in (connection.needs_reauth)",
    "interview.status_changed": "An interview request changes status (interview.status_changed)",
}
RECENT = 20


# the sender in the app's lifespan ---------------------------------------------------------------
def vault_for(database_url: str) -> Vault:
    return load_vault(os.environ, default_key_file(database_url))


async def start_sender(app: FastAPI, store: Store) -> WebhookSender:
    """Start a ``WebhookSender`` over ``store`` as ``app.state.webhooks``, fed by ``app.state.events``."""
    database_url = app.state.settings.database_url
    book = WebhookBook(store, lambda: vault_for(database_url))  # loaded when first needed
    sender = WebhookSender(book, **getattr(app.state, "webhook_options", {}))
    await sender.start()
    app.state.webhooks = sender
    if not getattr(app.state, "webhooks_listening", False):  # once per app: the hub has no unlisten

        def forward(event: AccountEvent) -> None:
            current: WebhookSender | None = app.state.webhooks
            if current is not None:
                current.on_event(event)

        app.state.events.listen(forward)
        app.state.webhooks_listening = True
    return sender


async def stop_sender(app: FastAPI) -> None:
    sender: WebhookSender | None = getattr(app.state, "webhooks", None)
    app.state.webhooks = None
    if sender is not None:
        await sender.stop()


def get_book(request: Request, store: StoreDep, settings: SettingsDep) -> WebhookBook:
    sender: WebhookSender | None = getattr(request.app.state, "webhooks", None)
    if sender is not None and sender.store is store:
        return sender.book
    return WebhookBook(store, lambda: vault_for(settings.database_url))


BookDep = Annotated[WebhookBook, Depends(get_book)]


def _wake(request: Request) -> None:
    sender: WebhookSender | None = getattr(request.app.state, "webhooks", None)
    if sender is not None:
        sender.wake()


def _own(book: WebhookBook, user: UserRow, hook_id: int) -> WebhookRow:
    if not row_id(hook_id):
        raise HTTPException(404, NOT_FOUND)
    row = book.store.webhook(user.id, hook_id)
    if row is None:
        raise HTTPException(404, NOT_FOUND)
    return row


# the page ---------------------------------------------------------------------------------------
def _page(request: Request, book: WebhookBook, user: UserRow, status_code: int = 200, **extra: Any) -> Response:
    hooks = book.store.webhooks(user.id)
    context: dict[str, Any] = {
        "active": "webhooks",
        "hooks": [(hook, _shown_secret(book, hook)) for hook in hooks],
        "urls": {hook.id: hook.url for hook in hooks},
        "deliveries": book.store.deliveries(user.id, limit=RECENT),
        "event_labels": EVENT_LABELS,
        "max_endpoints": MAX_ENDPOINTS,
        "max_url": MAX_URL_LENGTH,
        "max_description": MAX_DESCRIPTION_LENGTH,
        "values": {"events": list(EVENTS)},
        "sender_off": getattr(request.app.state, "webhooks", None) is None,
    }
    return render(request, "webhooks.html", context | extra, status_code=status_code)


def _shown_secret(book: WebhookBook, hook: WebhookRow) -> str:
    try:
        return book.secret(hook)
    except SecretsError:
        return "(unreadable: the encryption key changed; rotate the secret)"


@router.get("/account/webhooks", include_in_schema=False)
def webhooks_page(request: Request, csrf: Csrf, user: CurrentUser, book: BookDep) -> Response:
    return _page(request, book, user)


@router.post("/account/webhooks", include_in_schema=False)
def add_webhook(
    request: Request,
    csrf: Csrf,
    user: CurrentUser,
    book: BookDep,
    url: Annotated[str, Form(max_length=4 * MAX_URL_LENGTH)] = "",
    description: Annotated[str, Form(max_length=4 * MAX_DESCRIPTION_LENGTH)] = "",
    events: Annotated[list[str] | None, Form()] = None,
) -> Response:
    values = {"url": url, "description": description, "events": list(events or [])}
    errors: dict[str, str] = {}
    try:
        check_url(url)
    except WebhookError as exc:
        errors["url"] = str(exc)
    if not events:
        errors["events"] = "Choose at least one event to send."
    if not errors:
        try:
            row = book.create(user.id, url, events, description)
        except WebhookError as exc:
            field = "description" if "description" in str(exc) else "form"
            errors[field] = str(exc)
        else:
            return _page(request, book, user, status_code=201, notice=f"The endpoint {row.url} was added.", new_id=row.id)
    return _page(request, book, user, status_code=400, errors=errors, values=values)


@router.post("/account/webhooks/{hook_id}/ping", include_in_schema=False)
def ping_webhook(request: Request, csrf: Csrf, user: CurrentUser, book: BookDep, hook_id: int) -> Response:
    row = _own(book, user, hook_id)
    book.ping(row)
    _wake(request)
    return _page(request, book, user, notice=f"A test ping is on its way to {row.url}. Its delivery shows below.")


@router.post("/account/webhooks/{hook_id}/rotate", include_in_schema=False)
def rotate_webhook(request: Request, csrf: Csrf, user: CurrentUser, book: BookDep, hook_id: int) -> Response:
    row = book.rotate(_own(book, user, hook_id))
    notice = f"The signing secret of {row.url} was replaced. Give the new one to the receiver: the old one no longer signs."
    return _page(request, book, user, notice=notice, new_id=row.id)


@router.post("/account/webhooks/{hook_id}/disable", include_in_schema=False)
def disable_webhook(request: Request, csrf: Csrf, user: CurrentUser, book: BookDep, hook_id: int) -> Response:
    row = book.update(_own(book, user, hook_id), active=False)
    return _page(request, book, user, notice=f"{row.url} is off: no events are sent to it until you turn it on.")


@router.post("/account/webhooks/{hook_id}/enable", include_in_schema=False)
def enable_webhook(request: Request, csrf: Csrf, user: CurrentUser, book: BookDep, hook_id: int) -> Response:
    row = book.update(_own(book, user, hook_id), active=True)
    return _page(request, book, user, notice=f"{row.url} is on again.")


@router.post("/account/webhooks/{hook_id}/delete", include_in_schema=False)
def delete_webhook(request: Request, csrf: Csrf, user: CurrentUser, book: BookDep, hook_id: int) -> Response:
    row = _own(book, user, hook_id)
    book.store.delete_webhook(user.id, row.id)
    return _page(request, book, user, notice=f"The endpoint {row.url} was deleted with its deliveries.")


# the API ----------------------------------------------------------------------------------------
EventName = Annotated[str, Field(max_length=40)]


class WebhookIn(BaseModel):
    """A new endpoint. ``events``: some of conflict.detected, sync.failed, connection.needs_reauth
    (all when left out)."""

    url: str = Field(max_length=MAX_URL_LENGTH, examples=["https://example.com/hooks/mirrorcal"])
    events: list[EventName] | None = Field(default=None, max_length=len(EVENTS) * 2)
    description: str = Field(default="", max_length=MAX_DESCRIPTION_LENGTH)


class WebhookPatch(BaseModel):
    """What to change; what is left out stays. ``active``: false turns it off, true on again."""

    url: str | None = Field(default=None, max_length=MAX_URL_LENGTH)
    events: list[EventName] | None = Field(default=None, max_length=len(EVENTS) * 2)
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION_LENGTH)
    active: bool | None = None


class WebhookOut(BaseModel):
    """An endpoint. ``secret`` signs every request (see the Mirrorcal-Signature header);
    ``disabled_reason`` says why mirrorcal turned it off, if it did."""

    id: int
    url: str
    events: list[str]
    description: str
    active: bool
    disabled_reason: str
    secret: str
    created: datetime


class DeliveryOut(BaseModel):
    """One event for one endpoint: ``state`` pending, delivered or failed; ``next_attempt`` when a
    pending one is tried again; ``error`` why the last attempt failed, in plain words."""

    id: int
    webhook_id: int
    event_id: str
    type: str
    state: str
    attempts: int
    created: datetime
    last_attempt: datetime | None
    next_attempt: datetime | None
    last_status: int | None
    error: str


def _out(book: WebhookBook, row: WebhookRow) -> WebhookOut:
    return WebhookOut(
        id=row.id, url=row.url, events=list(row.events), description=row.description, active=row.active,
        disabled_reason=row.disabled_reason, secret=_shown_secret(book, row), created=row.created,
    )  # fmt: skip


def _delivery(row: DeliveryRow) -> DeliveryOut:
    return DeliveryOut(
        id=row.id, webhook_id=row.webhook_id, event_id=row.event_id, type=row.kind, state=row.state,
        attempts=row.attempts, created=row.created, last_attempt=row.last_at, next_attempt=row.next_at,
        last_status=row.last_status, error=row.last_error,
    )  # fmt: skip


def _api_own(book: WebhookBook, user: UserRow, hook_id: int) -> WebhookRow:
    return _own(book, user, hook_id)


_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut}}


@api_router.get("", summary="The account's webhook endpoints")
def list_webhooks(user: ApiUser, book: BookDep) -> list[WebhookOut]:
    return [_out(book, row) for row in book.store.webhooks(user.id)]


@api_router.post(
    "", status_code=201, summary="Add a webhook endpoint", responses={400: {"model": ErrorOut}, 409: {"model": ErrorOut}}
)
def create_webhook(body: WebhookIn, user: ApiUser, book: BookDep) -> WebhookOut:
    if body.events is not None and not body.events:
        raise HTTPException(400, "events: choose at least one event, or leave it out for all.")
    if len(book.store.webhooks(user.id)) >= MAX_ENDPOINTS:
        raise HTTPException(409, f"An account can have at most {MAX_ENDPOINTS} webhook endpoints; delete one first.")
    try:
        row = book.create(user.id, body.url, body.events, body.description)
    except WebhookError as exc:
        raise HTTPException(400, str(exc)) from None
    return _out(book, row)


@api_router.get("/{hook_id}", summary="One webhook endpoint", responses=_NOT_FOUND)
def get_webhook(hook_id: int, user: ApiUser, book: BookDep) -> WebhookOut:
    return _out(book, _api_own(book, user, hook_id))


@api_router.patch("/{hook_id}", summary="Change a webhook endpoint", responses={**_NOT_FOUND, 400: {"model": ErrorOut}})
def patch_webhook(hook_id: int, body: WebhookPatch, user: ApiUser, book: BookDep) -> WebhookOut:
    row = _api_own(book, user, hook_id)
    if body.events is not None and not body.events:
        raise HTTPException(400, "events: choose at least one event.")
    try:
        check_events(body.events)
        changed = book.update(row, url=body.url, events=body.events, description=body.description, active=body.active)
    except WebhookError as exc:
        raise HTTPException(400, str(exc)) from None
    return _out(book, changed)


@api_router.delete("/{hook_id}", status_code=204, summary="Delete a webhook endpoint and its deliveries", responses=_NOT_FOUND)
def remove_webhook(hook_id: int, user: ApiUser, book: BookDep) -> Response:
    row = _api_own(book, user, hook_id)
    book.store.delete_webhook(user.id, row.id)
    return Response(status_code=204)


@api_router.post("/{hook_id}/rotate", summary="Replace the signing secret (the old one stops at once)", responses=_NOT_FOUND)
def rotate_secret(hook_id: int, user: ApiUser, book: BookDep) -> WebhookOut:
    return _out(book, book.rotate(_api_own(book, user, hook_id)))


@api_router.get("/{hook_id}/deliveries", summary="The endpoint's last deliveries, newest first", responses=_NOT_FOUND)
def list_deliveries(hook_id: int, user: ApiUser, book: BookDep) -> list[DeliveryOut]:
    row = _api_own(book, user, hook_id)
    return [_delivery(d) for d in book.store.deliveries(user.id, row.id, limit=RECENT)]


@api_router.post("/{hook_id}/ping", status_code=202, summary="Send a test ping event", responses=_NOT_FOUND)
def ping(request: Request, hook_id: int, user: ApiUser, book: BookDep) -> DeliveryOut:
    made = book.ping(_api_own(book, user, hook_id))
    _wake(request)
    return _delivery(made)


router.include_router(api_router)
