"""The composition root of the web app: ``create_app(settings, store)`` wires routers, templates and handlers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mirrorcal import __version__
from mirrorcal.errors import StoreError
from mirrorcal.store.base import Store

from . import (
    api,
    api_setup,
    auth,
    booking_page,
    calendars,
    candidate_page,
    candidates,
    candidates_api,
    connections,
    feed,
    guided,
    home,
    hooks,
    outbox_page,
    recruit,
    syncs,
    tokens,
    week,
)
from .events import Events
from .history import router as history_router
from .pages import (
    STATIC_DIR,
    FormExpired,
    SignInRequired,
    make_templates,
    on_form_expired,
    on_http_error,
    on_sign_in_required,
    on_store_error,
    on_validation_error,
)
from .preview import router as preview_router
from .security import Passwords, SignInThrottle
from .settings import WebSettings
from .worker import SyncWorker

DOCS_PREFIX = "/api/v1/docs"
_PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


def create_app(settings: WebSettings, store: Store | None = None) -> FastAPI:
    """The web app and REST API over ``store``.

    With no ``store`` the app opens ``settings.database_url`` (migrating it) when it starts
    and closes it when it stops; a given store is the caller's to close (it must be the
    database of ``settings.database_url``, whose key file the connections use). With
    ``settings.worker`` the lifespan also runs the accounts' syncs (``app.state.worker``, a
    ``SyncWorker`` over that store), stopped before the store is closed. The OpenAPI
    document is at ``/api/v1/openapi.json`` and its docs at ``/api/v1/docs``.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from mirrorcal.store.sql import SqlStore

        opened = None
        if app.state.store is None:
            opened = await asyncio.to_thread(SqlStore.open, settings.database_url)
            app.state.store = opened
            recruit.wire(app, opened)
        worker = None
        try:
            app.state.events.bind(asyncio.get_running_loop())
            if settings.worker:
                await hooks.start_sender(app, app.state.store)  # before the worker: it listens to its events
                await recruit.start(app)
                worker = SyncWorker(
                    app.state.store, settings, events=app.state.events, after_run=recruit.notice_after_run(app)
                )
                await worker.start()
                app.state.worker = worker
            yield
        finally:
            if worker is not None:
                app.state.worker = None
                await worker.stop()
            await recruit.stop(app)
            await hooks.stop_sender(app)
            app.state.events.bind(None)
            if opened is not None:
                app.state.store = None
                opened.close()

    app = FastAPI(
        title="mirrorcal",
        version=__version__,
        summary="Keep a recruiter's calendars in step without leaking one client's business into another's.",
        openapi_url="/api/v1/openapi.json",
        docs_url=DOCS_PREFIX,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.templates = make_templates()
    app.state.passwords = Passwords(fast=settings.password_hash_fast)
    app.state.throttle = SignInThrottle()
    app.state.worker = None  # the SyncWorker while the app runs with settings.worker
    app.state.checks = {}  # (user id, calendar) -> the last live check, see setup.Setup
    app.state.events = Events()  # what happens in the accounts: the worker publishes, see web.events
    app.state.webhooks = None  # the WebhookSender while the app runs with settings.worker, see web.hooks
    app.state.recruiting = app.state.booker = None  # interview requests and the booking page, see web.recruit
    app.state.mail_sender = app.state.sweeper = None  # their background work while the app runs with settings.worker
    if store is not None:
        recruit.wire(app, store)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for router in (auth.router, home.router, calendars.router, syncs.router, tokens.router, api.router, api_setup.router):
        app.include_router(router)
    app.include_router(feed.router)
    app.include_router(preview_router)
    app.include_router(history_router)
    for router in (week.router, connections.router, hooks.router, guided.router):
        app.include_router(router)
    for router in (candidates.router, candidates_api.router, candidate_page.router, outbox_page.router, booking_page.router):
        app.include_router(router)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(FormExpired, on_form_expired)
    app.add_exception_handler(SignInRequired, on_sign_in_required)
    app.add_exception_handler(StoreError, on_store_error)
    app.add_middleware(SecurityHeaders)
    return app


class SecurityHeaders:
    """Adds the headers every response should carry: no sniffing, no framing, no referrer
    leaks, and a strict Content-Security-Policy on pages (the API docs page loads its own
    scripts, so it is left out)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        strict = not str(scope.get("path", "")).startswith(DOCS_PREFIX)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "same-origin")
                headers.setdefault("X-Frame-Options", "DENY")
                if strict:
                    headers.setdefault("Content-Security-Policy", _PAGE_POLICY)
            await send(message)

        await self.app(scope, receive, send_with_headers)
