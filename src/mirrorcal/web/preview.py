"""“What this client sees”: the page ``/calendars/{name}/preview`` and ``/api/v1/calendars/{name}/preview``.

Both show the occurrences the account's private and custom syncs' mirrors hold on the calendar
for the next 14 days (``mirrorcal.preview``), with the account's own unified count for contrast.
A calendar that is not the user's is 404, as everywhere.
"""

from __future__ import annotations

from datetime import date, datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from mirrorcal import preview as pv
from mirrorcal import workspace as ws

from . import api_setup, calendars
from .api import ErrorOut
from .deps import ApiSetup, Csrf, PageSetup, utcnow
from .pages import render
from .setup import Setup

DAYS = 14
STATE_TEXT = {
    "no-private-sync": "No private sync copies into this calendar, so no Busy blocks of yours are on it.",
    "not-synced": "Nothing has synced to this calendar yet: the client sees none of your events so far.",
    "empty": "The private syncs have run, and they show nothing on this calendar in the next {days} days.",
    "shown": "",
}
_errors: dict[int | str, dict[str, object]] = {code: {"model": ErrorOut} for code in (401, 404)}
router = APIRouter(responses=_errors)


def build(setup: Setup, calendar: str) -> pv.Preview:
    """The preview of the user's calendar ``calendar`` as of now."""
    model = setup.workspace()
    config = ws.runtime_config(ws.dump(model), setup.user.id, setup.settings.database_url)
    return pv.preview(setup.store, model, config, setup.user.id, calendar, now=utcnow(), days=DAYS)


@router.get("/calendars/{calendar_name}/preview", include_in_schema=False)
def preview_page(
    request: Request, csrf: Csrf, setup: PageSetup, calendar: calendars.OwnedCalendar
) -> Response:
    found = build(setup, calendar.name)
    context = {
        "active": "calendars",
        "calendar": calendar,
        "preview": found,
        "message": STATE_TEXT[found.state].format(days=DAYS),
        "days": DAYS,
    }
    return render(request, "preview.html", context)


class ShownOut(BaseModel):
    """One occurrence a private mirror shows on the calendar."""

    start: date | datetime = Field(
        description="An ISO 8601 time with its offset, or a date for an all-day one."
    )
    end: date | datetime
    all_day: bool
    title: str = Field(description="The title the client reads.")
    busy: bool = Field(description="False when the mirror shows the time as free.")
    sync: str = Field(description="The sync that wrote it.")
    extra_properties: list[str] = Field(
        description="Properties beyond start, end, title and busy/free found on it (none when mirrorcal wrote it)."
    )


class PreviewOut(BaseModel):
    """What the account's private mirrors show on a calendar, and the account's own view."""

    calendar: str
    start: datetime
    end: datetime
    state: str = Field(description="no-private-sync, not-synced, empty or shown.")
    message: str = Field(description="The preview in words, with the unified count for contrast.")
    syncs: list[str] = Field(description="The private and custom syncs that copy into this calendar.")
    full_syncs: list[str] = Field(description="Syncs that copy full details into it (not previewed).")
    unified_events: int = Field(description="Busy occurrences on your unified calendars in the same days.")
    shown: list[ShownOut]
    problems: list[str]


@router.get(
    "/api/v1/calendars/{calendar_name}/preview",
    tags=["calendars"],
    summary="What this client sees: the private mirrors on a calendar",
)
def preview_api(setup: ApiSetup, calendar: api_setup.OwnedCalendar) -> PreviewOut:
    found = build(setup, calendar.name)
    return PreviewOut(
        calendar=found.calendar, start=found.start, end=found.end, state=found.state, message=found.summary(),
        syncs=found.syncs, full_syncs=found.full_syncs, unified_events=found.unified_events,
        shown=[
            ShownOut(start=s.start, end=s.end, all_day=s.all_day, title=s.title, busy=s.busy, sync=s.sync, extra_properties=list(s.extra))
            for s in found.shown
        ],
        problems=found.problems,
    )  # fmt: skip
