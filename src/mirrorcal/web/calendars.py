"""Calendar pages: the list with each calendar's state, add one (CalDAV, iCloud, ICS feed), check it, remove it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from starlette.responses import PlainTextResponse, Response

from mirrorcal.workspace import CalendarEntry

from .deps import Csrf, PageSetup
from .pages import render, see_other
from .setup import (
    ADDABLE_KINDS,
    COMING_NEXT,
    KIND_NAMES,
    OAUTH_KINDS,
    CalendarForm,
    Choose,
    NotFound,
    Refused,
    Setup,
)

router = APIRouter(include_in_schema=False)


def owned_calendar(setup: PageSetup, calendar_name: str) -> CalendarEntry:
    """The user's calendar ``calendar_name``; 404 for an unknown or another user's name."""
    try:
        return setup.calendar(calendar_name)
    except NotFound:
        raise HTTPException(404) from None


OwnedCalendar = Annotated[CalendarEntry, Depends(owned_calendar)]


def _list(request: Request, setup: Setup, errors: dict[str, str] | None = None, status_code: int = 200) -> Response:
    model = setup.workspace()
    rows = [(c, setup.last_check(c.name), [s.name for s in model.syncs if c.name in (s.source, s.target)]) for c in model.calendars]
    context: dict[str, Any] = {"active": "calendars", "rows": rows, "kinds": KIND_NAMES, "errors": errors or {}}
    return render(request, "calendars.html", context, status_code=status_code)


@router.get("/calendars")
def calendars_page(request: Request, csrf: Csrf, setup: PageSetup) -> Response:
    return _list(request, setup)


@router.get("/calendars/new")
def new_calendar_page(request: Request, csrf: Csrf, setup: PageSetup, kind: str = "") -> Response:
    if kind not in ADDABLE_KINDS:
        if kind in OAUTH_KINDS:  # signing in comes first: the connections page takes it from there
            return see_other(request, f"/connections/new/{kind}")
        context = {"active": "calendars", "kinds": KIND_NAMES, "addable": ADDABLE_KINDS, "coming": COMING_NEXT, "oauth": OAUTH_KINDS}
        return render(request, "calendar_kind.html", context)
    return render(request, "calendar_new.html", {"active": "calendars", "kind": kind, "kinds": KIND_NAMES, "values": {"kind": kind}})


@router.post("/calendars/new")
async def add_calendar(request: Request, csrf: Csrf, setup: PageSetup) -> Response:
    data = await request.form()
    values = {k: str(data.get(k, "")) for k in ("kind", "name", "url", "username", "client", "email", "calendar_url")}
    form = CalendarForm(
        kind=values["kind"],
        name=values["name"],
        url=values["url"],
        username=values["username"],
        password=str(data.get("password", "")),
        client=values["client"],
        email=values["email"].replace(",", " ").split(),
        calendar_url=values["calendar_url"],
    )
    kind = values["kind"] if values["kind"] in ADDABLE_KINDS else "caldav"
    context: dict[str, Any] = {"active": "calendars", "kind": kind, "kinds": KIND_NAMES, "values": values}
    try:
        await setup.add_calendar(form)
    except Refused as exc:
        return render(request, "calendar_new.html", context | {"errors": exc.errors}, status_code=400)
    except Choose as choice:
        return render(request, "calendar_new.html", context | {"choices": choice.calendars})
    return see_other(request, "/calendars", "calendar-added")


@router.post("/calendars/{calendar_name}/check")
async def check_calendar(request: Request, csrf: Csrf, setup: PageSetup, calendar: OwnedCalendar) -> Response:
    await setup.check_calendar(calendar.name)
    return see_other(request, "/calendars", "calendar-checked")


@router.post("/calendars/{calendar_name}/delete")
def delete_calendar(request: Request, csrf: Csrf, setup: PageSetup, calendar: OwnedCalendar) -> Response:
    try:
        setup.remove_calendar(calendar.name)
    except Refused as exc:
        return _list(request, setup, {"form": next(iter(exc.errors.values()))}, status_code=400)
    return see_other(request, "/calendars", "calendar-removed")


@router.get("/account/mirrorcal.toml")
def download_setup(request: Request, csrf: Csrf, setup: PageSetup) -> Response:
    """The account's setup as the configuration file the command line reads (no passwords in it)."""
    return PlainTextResponse(
        setup.document(),
        media_type="application/toml",
        headers={"Content-Disposition": 'attachment; filename="mirrorcal.toml"', "Cache-Control": "no-store"},
    )
