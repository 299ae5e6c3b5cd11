"""Rendering pages: the Jinja2 environment, flash messages, redirects and the HTML error pages.

Flash messages travel in the ``mirrorcal_flash`` cookie as a key of ``FLASHES`` (never as
free text, so nobody can make the app display words of their choosing); the next page shown
displays the message and clears the cookie.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mirrorcal.accounts import PLANS
from mirrorcal.recruiting import time_in_words

from .security import CSRF_COOKIE, clear_cookie, set_cookie
from .settings import WebSettings

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"
FLASH_COOKIE = "mirrorcal_flash"
FLASHES = {
    "welcome": "Welcome to mirrorcal. Your account is ready.",
    "signed-in": "You are signed in.",
    "signed-out": "You are signed out.",
    "token-deleted": "The token was deleted. Programs that used it can no longer reach your account.",
    "calendar-added": "The calendar was added.",
    "calendar-checked": "The calendar was checked; its state is shown below.",
    "calendar-removed": "The calendar was removed. Its stored password was deleted.",
    "sync-created": "The sync was created. It copies events from its next run.",
    "guided-created": "Your syncs were created: each client's events come to your personal calendar, and your time goes back to each client as Busy.",
    "sync-saved": "The sync's settings were saved. Its copies follow them from its next run.",
    "sync-paused": "The sync is paused. Its copies stay where they are.",
    "sync-resumed": "The sync runs again.",
    "sync-deleted": "The sync was deleted. The copies it made stay where they are.",
    "sync-deleted-copies": "The sync was deleted, with every copy it made.",
    "sync-queued": "Your syncs run in a moment. Reload this page to see what they did.",
    "sync-no-worker": "This server does not run syncs itself: they run where `mirrorcal run` runs.",
}
PLAN_NAMES = {"personal": "Personal", "professional": "Professional"}
FORM_EXPIRED = "This form expired, reload the page and try again."


class SignInRequired(Exception):
    """Raised by ``CurrentUser`` when nobody is signed in; answered by a redirect to /signin."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


class FormExpired(Exception):
    """Raised by ``Csrf`` for a POST whose token is missing or wrong, or whose Origin is foreign."""


def make_templates() -> Jinja2Templates:
    """The app's templates (autoescaped), with the filters and globals they use."""
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    templates.env.filters["when"] = _when
    templates.env.filters["span"] = _span
    templates.env.filters["plan_name"] = plan_name
    templates.env.globals["PLANS"] = PLANS
    templates.env.globals["zip_pairs"] = lambda names: [(n, n) for n in names]
    return templates


def plan_name(plan: str) -> str:
    return PLAN_NAMES.get(plan, plan.capitalize())


def _when(value: datetime | None, zone: tzinfo | None = None) -> str:
    """``value`` as "22 Nov 2026, 09:50 GMT": in ``zone`` (named by its abbreviation) when given, else in UTC."""
    if value is None:
        return "never"
    if zone is None:
        return value.astimezone(UTC).strftime("%d %b %Y, %H:%M UTC")
    return value.astimezone(zone).strftime("%d %b %Y, %H:%M %Z")


def _span(start: datetime | None, end: datetime | None, zone: tzinfo | None = None) -> str:
    """An interview's time in words ("Tuesday 24 November 2026, 09:50–10:20 (Europe/London, UTC+00:00)")."""
    if start is None:
        return ""
    return time_in_words(start, end, zone or UTC)


def settings_of(request: Request) -> WebSettings:
    settings: WebSettings = request.app.state.settings
    return settings


def render(request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200) -> Response:
    """The page ``name`` with the layout's context (user, csrf, flash); never cached.

    Sets the anonymous CSRF cookie when ``Csrf`` made a new token for this request, and
    clears the flash cookie once its message is shown."""
    settings = settings_of(request)
    flash = FLASHES.get(request.cookies.get(FLASH_COOKIE, ""))
    page: dict[str, Any] = {
        "user": getattr(request.state, "user", None),
        "csrf": getattr(request.state, "csrf", ""),
        "flash": flash,
        "errors": {},
        "values": {},
    }
    page.update(context or {})
    response = request.app.state.templates.TemplateResponse(request, name, page, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    if FLASH_COOKIE in request.cookies:
        clear_cookie(response, settings, FLASH_COOKIE)
    new_csrf = getattr(request.state, "new_csrf", None)
    if new_csrf:
        set_cookie(response, settings, CSRF_COOKIE, new_csrf, max_age=settings.session_days * 86400)
    return response


def see_other(request: Request, url: str, flash: str | None = None) -> RedirectResponse:
    """A 303 redirect to ``url`` (a path of this app), carrying the flash message ``flash``."""
    response = RedirectResponse(url, status_code=303)
    if flash is not None:
        set_cookie(response, settings_of(request), FLASH_COOKIE, flash, max_age=300)
    return response


def safe_next(path: str | None) -> str:
    """``path`` when it is a path on this site, else "/" (no open redirects)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path or any(c < " " for c in path):
        return "/"
    return path


# error pages ------------------------------------------------------------------------------------
_MESSAGES = {
    400: "The request was not understood. Go back, check what you entered and try again.",
    403: FORM_EXPIRED,
    404: "There is nothing here. The address may be mistyped, or the item may have been deleted.",
    405: "This address does not accept that kind of request.",
    503: "mirrorcal cannot reach its database right now. Please try again in a moment.",
}


def error_page(request: Request, status_code: int, message: str | None = None) -> Response:
    title = "This form expired" if status_code == 403 else HTTPStatus(status_code).phrase
    text = message or _MESSAGES.get(status_code, "Something went wrong on our side. Please try again.")
    return render(request, "error.html", {"title": title, "message": text}, status_code=status_code)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if _is_api(request):
        return await http_exception_handler(request, exc)
    phrase = HTTPStatus(exc.status_code).phrase if exc.status_code in set(HTTPStatus) else ""
    custom = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else None
    response = error_page(request, exc.status_code, custom)
    for key, value in (exc.headers or {}).items():
        response.headers[key] = value
    return response


async def on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if _is_api(request):
        return await request_validation_exception_handler(request, exc)
    return error_page(request, 400)


async def on_form_expired(request: Request, exc: Exception) -> Response:
    return error_page(request, 403)


async def on_sign_in_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    target = "/signin" if exc.path == "/" else "/signin?" + urlencode({"next": exc.path})
    return see_other(request, target)


async def on_store_error(request: Request, exc: Exception) -> Response:
    if _is_api(request):
        return JSONResponse({"detail": _MESSAGES[503]}, status_code=503)
    return error_page(request, 503)
