"""The REST API for the account's calendars and syncs (``/api/v1/calendars``, ``/api/v1/syncs``).

The same operations as the pages, over ``Setup``. Separate schemas for create, update and what
is shown (``*Create``, ``SyncUpdate``, ``*Public``); a password is write-only. Errors are JSON
``{"detail": "..."}``: 400 for refused input (naming the field), 404 for a name that is not the
token owner's, 409 when the plan's syncs are all in use.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Response
from pydantic import BaseModel, Field

from mirrorcal.accounts import plan_limit
from mirrorcal.workspace import CalendarEntry, SyncEntry

from .api import ErrorOut
from .deps import ApiSetup
from .setup import CalendarForm, CheckResult, Choose, NotFound, PlanLimitReached, Refused, Setup, SyncForm

Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
ShowAs = Literal["busy", "free", "tentative", "oof", "original"]
_SHOW_AS_DOC = (
    "What the copies show the time as: busy, free, tentative, oof (out of office) or original; "
    "null for the usual (busy for private copies, as the original for full ones). Google "
    "calendars show tentative and oof as busy."
)


class CheckOut(BaseModel):
    """The last live check of a calendar."""

    ok: bool
    message: str
    at: datetime


class CalendarCreate(BaseModel):
    """A calendar to add. ``caldav``: ``url`` (a calendar, or a server/account address: its
    calendars are discovered; when it holds several, send the chosen one's URL as
    ``calendar_url``), ``username``, ``password``. ``icloud``: ``username`` (Apple ID) and an
    app-specific ``password``. ``ics``: ``url``."""

    kind: Literal["caldav", "icloud", "ics"]
    name: Name
    url: str = ""
    username: str = ""
    password: str = Field(default="", json_schema_extra={"writeOnly": True})
    client: str = ""
    email: list[str] = []
    calendar_url: str = ""


class CalendarPublic(BaseModel):
    """A calendar of the account (its password is never shown)."""

    name: str
    kind: str
    url: str | None
    username: str | None
    client: str | None
    email: list[str]
    last_check: CheckOut | None


class SyncBase(BaseModel):
    privacy: Literal["full", "private", "custom"]
    title: str = ""
    on_target_delete: Literal["restore", "forget"] = "restore"
    skip_free: bool = True
    skip_declined: bool = True
    skip_all_day: bool = False
    working_hours: str = ""
    window_days: int = Field(default=180, ge=1)
    exclude_titles: list[str] = []
    paused: bool = False
    show_as: ShowAs | None = Field(default=None, description=_SHOW_AS_DOC)


class SyncCreate(SyncBase):
    """A sync to create: copy ``source`` into ``target`` (and back when ``two_way``)."""

    name: Name
    source: str
    target: str
    two_way: bool = False


class SyncUpdate(BaseModel):
    """Settings to change; fields left out stay. Name, calendars and direction cannot change."""

    privacy: Literal["full", "private", "custom"] | None = None
    title: str | None = None
    on_target_delete: Literal["restore", "forget"] | None = None
    skip_free: bool | None = None
    skip_declined: bool | None = None
    skip_all_day: bool | None = None
    working_hours: str | None = None
    window_days: int | None = Field(default=None, ge=1)
    exclude_titles: list[str] | None = None
    paused: bool | None = None
    show_as: ShowAs | Literal[""] | None = Field(default=None, description=_SHOW_AS_DOC + ' Send "" to go back to the usual.')


class RunOut(BaseModel):
    """A sync's latest run (both ways of a two-way sync together)."""

    at: datetime
    running: bool
    ok: bool
    created: int
    updated: int
    deleted: int
    skipped: int
    failed: int
    errors: list[str] = Field(description="The first few errors, in words.")


class ChangeOut(BaseModel):
    """A sync's latest run that created, updated or deleted copies."""

    at: datetime
    created: int
    updated: int
    deleted: int


class SyncPublic(SyncBase):
    """A sync of the account, with its last run and last change (None before there was one)."""

    name: str
    source: str
    target: str
    two_way: bool
    last_run: RunOut | None = None
    last_change: ChangeOut | None = None


class RunQueued(BaseModel):
    queued: bool = Field(description="False when this server runs no syncs itself (they run with `mirrorcal run`).")


class SyncList(BaseModel):
    syncs: list[SyncPublic]
    syncs_used: int
    syncs_allowed: int


class DeletedOut(BaseModel):
    copies_removed: int


_errors: dict[int | str, dict[str, object]] = {code: {"model": ErrorOut} for code in (400, 401, 404)}
router = APIRouter(prefix="/api/v1", responses=_errors)


def _bad(exc: Refused) -> HTTPException:
    return HTTPException(400, "; ".join(f"{k}: {v}" if k != "form" else v for k, v in exc.errors.items()))


def _check(result: CheckResult | None) -> CheckOut | None:
    return None if result is None else CheckOut(ok=result.ok, message=result.message, at=result.at)


def _calendar(setup: Setup, c: CalendarEntry) -> CalendarPublic:
    return CalendarPublic(
        name=c.name, kind=c.kind, url=c.url, username=c.username, client=c.client, email=c.email,
        last_check=_check(setup.last_check(c.name)),
    )  # fmt: skip


def _sync(setup: Setup, s: SyncEntry) -> SyncPublic:
    run, change = setup.last_run(s), setup.last_change(s)
    return SyncPublic(
        name=s.name, source=s.source, target=s.target, two_way=s.two_way, privacy=s.privacy,  # type: ignore[arg-type]
        title=s.title or "", on_target_delete=s.on_target_delete, skip_free=s.skip_free,  # type: ignore[arg-type]
        skip_declined=s.skip_declined, skip_all_day=s.skip_all_day, working_hours=s.working_hours,
        window_days=s.window_days, exclude_titles=s.exclude_titles, paused=s.paused,
        show_as=s.show_as or None,  # type: ignore[arg-type]
        last_run=None if run is None else RunOut(
            at=run.at, running=run.running, ok=run.ok, created=run.created, updated=run.updated,
            deleted=run.deleted, skipped=run.skipped, failed=run.failed, errors=run.errors,
        ),
        last_change=None if change is None else ChangeOut(
            at=change.at, created=change.created, updated=change.updated, deleted=change.deleted,
        ),
    )  # fmt: skip


def owned_calendar(setup: ApiSetup, calendar_name: str) -> CalendarEntry:
    try:
        return setup.calendar(calendar_name)
    except NotFound:
        raise HTTPException(404, f"You have no calendar named {calendar_name!r}.") from None


def owned_sync(setup: ApiSetup, sync_name: str) -> SyncEntry:
    try:
        return setup.sync(sync_name)
    except NotFound:
        raise HTTPException(404, f"You have no sync named {sync_name!r}.") from None


OwnedCalendar = Annotated[CalendarEntry, Depends(owned_calendar)]
OwnedSync = Annotated[SyncEntry, Depends(owned_sync)]


# calendars ------------------------------------------------------------------------------------
@router.get("/calendars", tags=["calendars"], summary="The account's calendars")
def list_calendars(setup: ApiSetup) -> list[CalendarPublic]:
    return [_calendar(setup, c) for c in setup.workspace().calendars]


@router.post("/calendars", tags=["calendars"], status_code=201, summary="Add a calendar (discovered and checked now)")
async def create_calendar(body: CalendarCreate, setup: ApiSetup) -> CalendarPublic:
    form = CalendarForm(**body.model_dump())
    try:
        entry = await setup.add_calendar(form)
    except Refused as exc:
        raise _bad(exc) from None
    except Choose as choice:
        found = ", ".join(c.url for c in choice.calendars)
        raise HTTPException(400, f"calendar_url: this address holds {len(choice.calendars)} calendars; send one of them: {found}") from None
    return _calendar(setup, entry)


@router.get("/calendars/{calendar_name}", tags=["calendars"], summary="One calendar")
def get_calendar(setup: ApiSetup, calendar: OwnedCalendar) -> CalendarPublic:
    return _calendar(setup, calendar)


@router.post("/calendars/{calendar_name}/check", tags=["calendars"], summary="Reach the calendar now")
async def check_calendar(setup: ApiSetup, calendar: OwnedCalendar) -> CalendarPublic:
    await setup.check_calendar(calendar.name)
    return _calendar(setup, calendar)


@router.delete("/calendars/{calendar_name}", tags=["calendars"], status_code=204, summary="Remove a calendar")
def delete_calendar(setup: ApiSetup, calendar: OwnedCalendar) -> Response:
    try:
        setup.remove_calendar(calendar.name)
    except Refused as exc:
        raise _bad(exc) from None
    return Response(status_code=204)


# syncs ----------------------------------------------------------------------------------------
@router.get("/syncs", tags=["syncs"], summary="The account's syncs and the plan's use")
def list_syncs(setup: ApiSetup) -> SyncList:
    model = setup.workspace()
    return SyncList(syncs=[_sync(setup, s) for s in model.syncs], syncs_used=len(model.syncs), syncs_allowed=plan_limit(setup.user.plan))


@router.post(
    "/syncs", tags=["syncs"], status_code=201, summary="Create a sync", responses={409: {"model": ErrorOut}}
)
def create_sync(body: SyncCreate, setup: ApiSetup) -> SyncPublic:
    try:
        entry = setup.add_sync(SyncForm(**(body.model_dump() | {"show_as": body.show_as or ""})))
    except Refused as exc:
        raise _bad(exc) from None
    except PlanLimitReached as exc:
        raise HTTPException(409, str(exc)) from None
    return _sync(setup, entry)


@router.get("/syncs/{sync_name}", tags=["syncs"], summary="One sync, with its last run")
def get_sync(setup: ApiSetup, sync: OwnedSync) -> SyncPublic:
    return _sync(setup, sync)


@router.post("/syncs/{sync_name}/run", tags=["syncs"], status_code=202, summary="Run the account's syncs soon (“Sync now”)")
def run_sync(setup: ApiSetup, sync: OwnedSync) -> RunQueued:
    return RunQueued(queued=setup.run_soon())


@router.patch("/syncs/{sync_name}", tags=["syncs"], summary="Change a sync's settings, pause or resume it")
def update_sync(body: SyncUpdate, setup: ApiSetup, sync: OwnedSync) -> SyncPublic:
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if "title" in changes:
        changes["title"] = changes["title"].strip() or None
    try:
        return _sync(setup, setup.update_sync(sync.name, changes))
    except Refused as exc:
        raise _bad(exc) from None


@router.delete("/syncs/{sync_name}", tags=["syncs"], summary="Delete a sync, optionally with every copy it made")
async def delete_sync(setup: ApiSetup, sync: OwnedSync, remove_copies: bool = False) -> DeletedOut:
    try:
        removed = await setup.delete_sync(sync.name, remove_copies=remove_copies)
    except Refused as exc:
        raise _bad(exc) from None
    return DeletedOut(copies_removed=removed)
