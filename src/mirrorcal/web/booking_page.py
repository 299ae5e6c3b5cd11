"""Our own booking page in the app: the candidate's ``/b/{token}`` and the recruiter's ``/account/booking``.

Everything is ``mirrorcal.booking.Booker`` (``app.state.booker``, see ``get_booker``); this module
maps it to HTTP.

Candidate (no account: the token in the path is the credential; forms carry the signed-out
double-submit CSRF token):

- ``GET /b/{token}``: the request (title, client, role, length) and its free slots by day in the
  candidate's zone, ``?tz=`` (an IANA name; the recruiter's zone when absent, and
  ``static/booking.js`` reloads the page with the browser's own zone); a list changes it.
  Each slot is a button of a POST form (``start`` = the slot's start, ISO 8601 UTC). An unknown
  zone is a 400 with a message; an unknown token a 404.
- ``POST /b/{token}``: books (``Booker.book``) and redirects (303) to the request's page
  ``/i/{token}``, which shows "Scheduled". A start that is not (or no longer) free: 409 with the
  fresh slots and "That time was just taken"; a request not waiting for a booking: 409 naming
  its state; a start that is not a time: 400; a calendar that cannot be written: 503.
  The page names nothing but this request: no navigation, no other client or candidate.

Recruiter (signed in): ``GET/POST /account/booking``, the settings form (``booking.parse_form``:
every bad field gets its message, 400) and a preview of the next slots an interview would be
offered, or why there are none.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from mirrorcal.booking import (
    DAY_NAMES,
    Availability,
    Booker,
    BookingError,
    BookingSettings,
    SlotTaken,
    bookable,
    load_settings,
    parse_form,
    save_settings,
    zone_names,
    zone_of,
)
from mirrorcal.interviews import TransitionRefused, candidate_view
from mirrorcal.recruiting import as_request
from mirrorcal.slots import Slot, by_day
from mirrorcal.store.base import CandidateRow, InterviewRow, UserRow

from .deps import Csrf, CurrentUser, utcnow
from .pages import render, see_other

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

NOT_SET_UP = "Booking pages are not set up on this server."
INVALID = "This link is not valid. It may have been mistyped, or the request was withdrawn. Ask the recruiter for a new link."
NO_SLOTS = "No times are open right now. Please try again later, or write to the recruiter from your interview page."
PREVIEW = 12
"""Slots the recruiter's preview shows."""
MAX_TOKEN = 256
MAX_START = 64


def get_booker(request: Request) -> Booker:
    """The app's ``Booker`` (``app.state.booker``); 503 when the app has none."""
    booker: Booker | None = getattr(request.app.state, "booker", None)
    if booker is None:
        raise HTTPException(503, NOT_SET_UP)
    return booker


BookerDep = Annotated[Booker, Depends(get_booker)]


def app_poke(app: FastAPI) -> Callable[[int], None]:
    """``Booker``'s ``poke`` for ``app``: its sync worker's ``poke`` while it runs, else nothing."""

    def poke(user_id: int) -> None:
        worker = getattr(app.state, "worker", None)
        if worker is not None:
            worker.poke(user_id)

    return poke


# the candidate's page ---------------------------------------------------------------------------
def _zone(booker: Booker, row: InterviewRow, tz: str | None) -> ZoneInfo:
    """The zone slots are shown in: ``tz``, else the recruiter's; 400 for a name that is no zone."""
    if tz:
        zone = zone_of(tz)
        if zone is None:
            shown = tz if len(tz) <= 60 else tz[:57] + "..."
            raise HTTPException(400, f"{shown!r} is not a time zone. Choose yours from the list, like Europe/London or America/New_York.")
        return zone
    try:
        return ZoneInfo(load_settings(booker.store, row.user_id).zone)
    except BookingError:
        return ZoneInfo("UTC")


def _days(slots: list[Slot], zone: ZoneInfo) -> list[dict[str, Any]]:
    days = []
    for day, found in by_day(slots, zone).items():
        days.append({
            "label": f"{day:%A} {day.day} {day:%B %Y}",
            "iso": day.isoformat(),
            "slots": [
                {
                    "start": s.start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "label": f"{s.start.astimezone(zone):%H:%M}–{s.end.astimezone(zone):%H:%M}",
                    "long": f"{day:%A} {day.day} {day:%B}, {s.start.astimezone(zone):%H:%M} to {s.end.astimezone(zone):%H:%M}",
                }
                for s in found
            ],
        })  # fmt: skip
    return days


def _found(booker: Booker, token: str) -> tuple[InterviewRow, CandidateRow] | None:
    return booker.recruiting.by_token(token) if len(token) <= MAX_TOKEN else None


def _page(
    request: Request,
    booker: Booker,
    token: str,
    found: tuple[InterviewRow, CandidateRow] | None,
    zone: ZoneInfo | None = None,
    *,
    status_code: int = 200,
    problem: str = "",
    problem_title: str = "That time was not booked",
    chosen: bool = False,
) -> Response:
    if found is None:
        return render(request, "booking.html", {"invalid": True, "message": INVALID}, status_code=404)
    row, candidate = found
    zone = zone or _zone(booker, row, None)
    context: dict[str, Any] = {
        "token": token,
        "row": row,
        "client": candidate.client,
        "role": candidate.role,
        "status": candidate_view(as_request(row)),
        "zone": zone.key,
        "zone_chosen": chosen,
        "zones": zone_names(),
        "problem": problem,
        "problem_title": problem_title,
        "days": [],
        "closed": "",
        "when": "",
    }
    try:
        bookable(row)
    except TransitionRefused as exc:
        context["closed"] = _sentence(str(exc))
        if row.starts_at is not None and row.ends_at is not None:
            start, end = row.starts_at.astimezone(zone), row.ends_at.astimezone(zone)
            context["when"] = f"{start:%A} {start.day} {start:%B %Y}, {start:%H:%M} to {end:%H:%M} ({zone.key})"
        return render(request, "booking.html", context, status_code=status_code)
    available: Availability = booker.availability(row)
    if available.reason:
        log.info("booking page of request %s offers nothing: %s", row.id, available.reason)
    context["days"] = _days(available.slots, zone)
    context["empty"] = NO_SLOTS
    return render(request, "booking.html", context, status_code=status_code)


@router.get("/b/{token}")
def booking_page(request: Request, csrf: Csrf, booker: BookerDep, token: str, tz: str | None = None) -> Response:
    found = _found(booker, token)
    if found is None:
        return _page(request, booker, token, None)
    try:
        zone = _zone(booker, found[0], tz)
    except HTTPException as exc:  # shown on the page itself, with the times in the recruiter's zone
        return _page(request, booker, token, found, status_code=400, problem=str(exc.detail), problem_title="Unknown time zone")
    return _page(request, booker, token, found, zone, chosen=bool(tz))


@router.post("/b/{token}")
async def book_slot(request: Request, csrf: Csrf, booker: BookerDep, token: str) -> Response:
    form = await request.form()
    start_text, tz = form.get("start"), form.get("tz")
    found = await run_in_threadpool(_found, booker, token)
    if found is None:
        return await run_in_threadpool(_page, request, booker, token, None)
    row, candidate = found
    try:
        zone = await run_in_threadpool(_zone, booker, row, tz if isinstance(tz, str) else None)
    except HTTPException:  # only how a refusal would be shown: in the recruiter's zone then
        zone = await run_in_threadpool(_zone, booker, row, None)

    async def again(status_code: int, problem: str) -> Response:
        fresh = await run_in_threadpool(_found, booker, token)
        return await run_in_threadpool(lambda: _page(request, booker, token, fresh, zone, status_code=status_code, problem=problem, chosen=True))

    start = _start(start_text)
    if start is None:
        return await again(400, "Pick one of the times below (the time sent was not one).")
    try:
        await booker.book(row, candidate, start)
    except SlotTaken as exc:
        return await again(409, str(exc))
    except TransitionRefused as exc:
        return await again(409, _sentence(str(exc)))
    except BookingError as exc:
        return await again(503, exc.message)  # the calendar could not be written, or too many at once
    except LookupError:
        return await run_in_threadpool(_page, request, booker, token, None)
    # back on the candidate's page, which then gives times in the zone they booked in
    return see_other(request, f"/i/{token}?{urlencode({'done': 'booked', 'tz': zone.key})}")


def _sentence(text: str) -> str:
    return f"{text[:1].upper()}{text[1:]}" + ("" if text.endswith(".") else ".")


def _start(value: object) -> datetime | None:
    """The form's ``start`` as an aware datetime; None when it is not one."""
    if not isinstance(value, str) or not value or len(value) > MAX_START:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            return None
        return moment.astimezone(UTC)  # also refuses a moment UTC cannot hold (year 1 or 9999 at the edge)
    except (ValueError, OverflowError):
        return None


# the recruiter's settings -----------------------------------------------------------------------
def _settings_page(
    request: Request,
    booker: Booker,
    user: UserRow,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: str = "",
    status_code: int = 200,
) -> Response:
    problem = ""
    try:
        settings = load_settings(booker.store, user.id)
    except BookingError as exc:
        settings, problem = BookingSettings(), exc.message
    calendars: list[str] = []
    try:
        calendars = booker.writable_calendars(user.id)
    except BookingError as exc:
        problem = problem or exc.message
    preview = booker.preview(user.id, timedelta(minutes=45), utcnow())
    zone = zone_of(settings.zone) or ZoneInfo("UTC")
    default = ""
    if preview.calendar is not None and not settings.calendar:
        default = preview.calendar.name.removeprefix(f"u{user.id}.")
    context: dict[str, Any] = {
        "active": "booking",
        "values": values if values is not None else _values(settings),
        "errors": errors or {},
        "notice": notice,
        "problem": problem,
        "calendars": calendars,
        "default_calendar": default,
        "zones": zone_names(),
        "day_names": DAY_NAMES,
        "preview": _days(preview.slots[:PREVIEW], zone),
        "preview_zone": zone.key,
        "preview_count": len(preview.slots),
        "reason": preview.reason,
        "unreadable": preview.problems,
    }
    return render(request, "booking_settings.html", context, status_code=status_code)


def _values(settings: BookingSettings) -> dict[str, str]:
    """The form's fields for ``settings``."""
    values = {
        "calendar": settings.calendar,
        "zone": settings.zone,
        "step_minutes": str(settings.step_minutes),
        "buffer_before_minutes": str(settings.buffer_before_minutes),
        "buffer_after_minutes": str(settings.buffer_after_minutes),
        "notice_hours": str(settings.notice_hours),
        "window_days": str(settings.window_days),
        "daily_limit": "" if settings.daily_limit is None else str(settings.daily_limit),
    }
    for day in range(7):
        opens, closes = settings.hours.get(day, (None, None))
        values[f"day{day}"] = "on" if opens is not None else ""
        values[f"opens{day}"] = opens.strftime("%H:%M") if opens is not None else "09:00"
        values[f"closes{day}"] = closes.strftime("%H:%M") if closes is not None else "17:00"
    return values


@router.get("/account/booking")
def booking_settings_page(request: Request, csrf: Csrf, user: CurrentUser, booker: BookerDep) -> Response:
    return _settings_page(request, booker, user)


@router.post("/account/booking")
async def save_booking_settings(request: Request, csrf: Csrf, user: CurrentUser, booker: BookerDep) -> Response:
    form = await request.form()
    values = {key: value[:200] for key, value in form.items() if isinstance(value, str) and key != "csrf"}

    def save() -> Response:
        try:
            calendars = booker.writable_calendars(user.id)
        except BookingError:
            calendars = []
        try:
            settings = parse_form(values, calendars)
        except BookingError as exc:
            return _settings_page(request, booker, user, values=values, errors=exc.errors, status_code=400)
        save_settings(booker.store, user.id, settings, utcnow())
        return _settings_page(request, booker, user, notice="Your booking page settings were saved. The preview below follows them.")

    return await run_in_threadpool(save)
