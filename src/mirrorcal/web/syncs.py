"""Sync pages: the list with the plan's use ("2 of 3 used") and each sync's last run, create, edit, pause or resume, run now, delete (optionally with every copy)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from mirrorcal.accounts import plan_limit
from mirrorcal.workspace import SyncEntry, syncs_used

from .deps import Csrf, PageSetup
from .pages import plan_name, render, see_other
from .setup import NotFound, PlanLimitReached, Refused, Setup, SyncForm

router = APIRouter(include_in_schema=False)

PRIVACY_CHOICES = {
    "full": "Full details: title, place, people, notes",
    "private": "Private: a “Busy” block, nothing else",
    "custom": "Private with a title of your choice",
}
SHOW_AS_CHOICES = {
    "": "Usual: busy if private, as the original if full",
    "busy": "Busy",
    "free": "Free (the time stays open)",
    "tentative": "Tentative",
    "oof": "Out of office",
    "original": "As the original shows",
}
CHECKBOXES = ("two_way", "skip_free", "skip_declined", "skip_all_day")


def owned_sync(setup: PageSetup, sync_name: str) -> SyncEntry:
    """The user's sync ``sync_name``; 404 for an unknown or another user's name."""
    try:
        return setup.sync(sync_name)
    except NotFound:
        raise HTTPException(404) from None


OwnedSync = Annotated[SyncEntry, Depends(owned_sync)]


def usage(setup: Setup) -> dict[str, Any]:
    plan = setup.user.plan
    return {"syncs_used": setup.syncs_used(), "syncs_allowed": plan_limit(plan), "plan": plan_name(plan)}


def _values(entry: SyncEntry) -> dict[str, Any]:
    values: dict[str, Any] = {k: getattr(entry, k) for k in SyncEntry.__slots__}  # type: ignore[attr-defined]
    values["title"] = entry.title or ""
    values["exclude_titles"] = "\n".join(entry.exclude_titles)
    return values


def _form(data: FormData, base: SyncEntry | None = None) -> tuple[SyncForm, dict[str, Any], dict[str, str]]:
    """The sync a submitted form describes, the values to show again, and problems found on the way."""
    values: dict[str, Any] = {k: str(data.get(k, "")) for k in ("name", "source", "target", "privacy", "title",
                                                              "on_target_delete", "working_hours", "window_days", "exclude_titles", "show_as")}
    values |= {k: data.get(k) == "on" for k in CHECKBOXES}
    values["paused"] = base.paused if base is not None else False
    if base is not None:
        values |= {"name": base.name, "source": base.source, "target": base.target, "two_way": base.two_way}
    errors: dict[str, str] = {}
    try:
        window = int(values["window_days"] or 180)
    except ValueError:
        errors["window_days"] = "Enter a whole number of days, such as 180."
        window = 180
    if values["privacy"] not in PRIVACY_CHOICES:
        errors["privacy"] = "Choose what the copies show."
    if values["show_as"] not in SHOW_AS_CHOICES:
        errors["show_as"] = "Choose how the copies' time shows."
    form = SyncForm(
        name=values["name"],
        source=values["source"],
        target=values["target"],
        privacy=values["privacy"],
        title=values["title"] if values["privacy"] != "full" else "",
        two_way=values["two_way"],
        on_target_delete=values["on_target_delete"] or "restore",
        skip_free=values["skip_free"],
        skip_declined=values["skip_declined"],
        skip_all_day=values["skip_all_day"],
        working_hours=values["working_hours"],
        window_days=window,
        exclude_titles=values["exclude_titles"].splitlines(),
        paused=values["paused"],
        show_as=values["show_as"],
    )
    return form, values, errors


def _page(request: Request, setup: Setup, values: dict[str, Any], errors: dict[str, str], *, editing: bool, status_code: int = 200) -> Response:
    context = {
        "active": "syncs",
        "values": values,
        "errors": errors,
        "editing": editing,
        "calendars": setup.workspace().calendars,
        "privacy_choices": PRIVACY_CHOICES,
        "show_as_choices": SHOW_AS_CHOICES,
    } | usage(setup)
    return render(request, "sync_form.html", context, status_code=status_code)


def runs(request: Request, setup: Setup, syncs: list[SyncEntry]) -> dict[str, Any]:
    """Each sync's last run and last change, and why the worker's last run of the account failed."""
    worker = request.app.state.worker
    account = None if worker is None else worker.runs.get(setup.user.id)
    return {
        "last_runs": {s.name: setup.last_run(s) for s in syncs},
        "last_changes": {s.name: setup.last_change(s) for s in syncs},
        "account_error": None if account is None else account.error,
    }


@router.get("/syncs")
def syncs_page(request: Request, csrf: Csrf, setup: PageSetup) -> Response:
    model = setup.workspace()
    context = {"active": "syncs", "syncs": model.syncs, "privacy_choices": PRIVACY_CHOICES} | usage(setup)
    context |= runs(request, setup, model.syncs)
    return render(request, "syncs.html", context | {"syncs_used": syncs_used(model)})


@router.post("/syncs/{sync_name}/run")
def run_sync(request: Request, csrf: Csrf, setup: PageSetup, sync: OwnedSync) -> Response:
    """"Sync now": the account's syncs run soon (a sync's chain may involve the others)."""
    return see_other(request, "/syncs", "sync-queued" if setup.run_soon() else "sync-no-worker")


@router.get("/syncs/new")
def new_sync_page(request: Request, csrf: Csrf, setup: PageSetup) -> Response:
    defaults = _values(SyncEntry(name="", source="", target="", privacy=""))
    return _page(request, setup, defaults, {}, editing=False)


@router.post("/syncs/new")
async def create_sync(request: Request, csrf: Csrf, setup: PageSetup) -> Response:
    form, values, errors = _form(await request.form())
    if not errors:
        try:
            setup.add_sync(form)
        except Refused as exc:
            errors = exc.errors
        except PlanLimitReached as exc:
            errors = {"form": str(exc)}
        else:
            return see_other(request, "/syncs", "sync-created")
    return _page(request, setup, values, errors, editing=False, status_code=400)


@router.get("/syncs/{sync_name}")
def edit_sync_page(request: Request, csrf: Csrf, setup: PageSetup, sync: OwnedSync) -> Response:
    return _page(request, setup, _values(sync), {}, editing=True)


@router.post("/syncs/{sync_name}")
async def save_sync(request: Request, csrf: Csrf, setup: PageSetup, sync: OwnedSync) -> Response:
    form, values, errors = _form(await request.form(), sync)
    if not errors:
        changes = {k: v for k, v in vars_of(form).items() if k not in ("name", "source", "target", "two_way")}
        try:
            setup.update_sync(sync.name, changes)
        except Refused as exc:
            errors = exc.errors
        else:
            return see_other(request, "/syncs", "sync-saved")
    return _page(request, setup, values, errors, editing=True, status_code=400)


@router.post("/syncs/{sync_name}/pause")
def pause_sync(request: Request, csrf: Csrf, setup: PageSetup, sync: OwnedSync) -> Response:
    setup.update_sync(sync.name, {"paused": not sync.paused})
    return see_other(request, "/syncs", "sync-resumed" if sync.paused else "sync-paused")


@router.post("/syncs/{sync_name}/delete")
async def delete_sync(request: Request, csrf: Csrf, setup: PageSetup, sync: OwnedSync) -> Response:
    remove_copies = (await request.form()).get("remove_copies") == "on"
    try:
        await setup.delete_sync(sync.name, remove_copies=remove_copies)
    except Refused as exc:
        model = setup.workspace()
        context = {"active": "syncs", "syncs": model.syncs, "privacy_choices": PRIVACY_CHOICES, "errors": exc.errors}
        context |= runs(request, setup, model.syncs)
        return render(request, "syncs.html", context | usage(setup), status_code=400)
    return see_other(request, "/syncs", "sync-deleted-copies" if remove_copies else "sync-deleted")


def vars_of(form: SyncForm) -> dict[str, Any]:
    return {k: getattr(form, k) for k in SyncForm.__slots__}  # type: ignore[attr-defined]
