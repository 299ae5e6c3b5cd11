"""The guided setup (``/setup`` and ``POST /api/v1/setup/guided``): the recruiter table in one step.

The user picks the personal calendar and each client's calendars among the account's calendars
(and may set each calendar's client label on the way). For every chosen client calendar C it
creates, in one save (all or nothing, through ``Setup.add_syncs``):

* ``C-to-PERSONAL``: C → personal with full details (the interview lands with everything);
* ``PERSONAL-to-C``: personal → C as private "Busy" blocks, unless C is read-only (an ICS
  feed, or ``read_only = true``): nothing can be written there.

A pair that already exists (a sync with the same source and target, whatever its name) is
skipped. When the new syncs would exceed the plan, nothing is created and the message says how
many are needed and how many are left.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from mirrorcal import workspace as ws
from mirrorcal.accounts import PLANS, plan_limit
from mirrorcal.workspace import CalendarEntry, Workspace

from .api import ErrorOut
from .deps import ApiSetup, Csrf, PageSetup
from .pages import plan_name, render, see_other
from .setup import NotFound, PlanLimitReached, Refused, Setup, SyncForm

router = APIRouter()
CLIENT_FIELD = "client:"
"""Prefix of the form fields holding each calendar's client label (``client:NAME``)."""


@dataclass(slots=True)
class Plan:
    """What the guided setup would do: the syncs to create and the pairs already there."""

    create: list[SyncForm] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Each existing pair, as "SOURCE → TARGET (sync NAME)"."""
    read_only: list[str] = field(default_factory=list)
    """Client calendars that get no way back (nothing can be written to them)."""


def read_only(calendar: CalendarEntry) -> bool:
    return calendar.kind == "ics" or bool(calendar.read_only)


def _free_name(wanted: str, taken: set[str]) -> str:
    name, n = wanted, 2
    while name in taken:
        name, n = f"{wanted}-{n}", n + 1
    return name


def plan(model: Workspace, personal: str, clients: list[str]) -> Plan:
    """The syncs for ``personal`` and ``clients`` (calendar names); raises ``Refused`` for a
    choice that cannot be made (no or unknown personal calendar, no client, the personal
    calendar chosen as a client, an unknown client calendar)."""
    errors: dict[str, str] = {}
    chosen = list(dict.fromkeys(c for c in clients if c))
    if not personal:
        errors["personal"] = "Choose your personal calendar."
    elif model.calendar(personal) is None:
        errors["personal"] = f"You have no calendar named '{personal}'."
    if not chosen:
        errors["clients"] = "Choose at least one client calendar."
    elif personal in chosen:
        errors["clients"] = "The personal calendar cannot also be a client's calendar."
    else:
        unknown = [c for c in chosen if model.calendar(c) is None]
        if unknown:
            errors["clients"] = f"You have no calendar named '{unknown[0]}'."
    if errors:
        raise Refused(errors)
    taken = {s.name for s in model.syncs}
    pairs = {(s.source, s.target): s.name for s in model.syncs}
    pairs |= {(s.target, s.source): s.name for s in model.syncs if s.two_way}
    result = Plan()

    def add(source: str, target: str, privacy: str) -> None:
        existing = pairs.get((source, target))
        if existing is not None:
            result.skipped.append(f"{source} → {target} (sync {existing})")
            return
        name = _free_name(f"{source}-to-{target}", taken)
        taken.add(name)
        pairs[(source, target)] = name
        result.create.append(SyncForm(name=name, source=source, target=target, privacy=privacy))

    for client in chosen:
        add(client, personal, "full")
        calendar = model.calendar(client)
        assert calendar is not None
        if read_only(calendar):
            result.read_only.append(client)
        else:
            add(personal, client, "private")
    return result


def limit_message(setup: Setup, needed: int) -> str | None:
    """None when ``needed`` more syncs fit the plan, else the sentence saying why not."""
    limit = plan_limit(setup.user.plan)
    left = max(limit - setup.syncs_used(), 0)
    if needed <= left:
        return None
    bigger = [p for p, n in PLANS.items() if n > limit and n - limit + left >= needed]
    way = f"upgrade to {plan_name(bigger[0])} or choose fewer clients" if bigger else "choose fewer clients or delete syncs you no longer need"
    return f"This needs {needed} syncs, {left} of {limit} left: {way}."


def apply(setup: Setup, personal: str, clients: list[str], labels: dict[str, str]) -> Plan:
    """Make the plan and create its syncs (and set the labels) in one step. Raises ``Refused``
    (nothing changed) and ``PlanLimitReached`` with the needed-versus-left message."""
    model = setup.workspace()
    labels = {k: v for k, v in labels.items() if model.calendar(k) is not None}
    result = plan(model, personal, clients)
    if not result.create:
        raise Refused({"clients": "Nothing to create: every one of these syncs already exists."})
    message = limit_message(setup, len(result.create))
    if message is not None:
        raise PlanLimitReached(message)
    try:
        setup.add_syncs(result.create, labels)
    except NotFound as exc:  # a calendar removed meanwhile
        raise Refused({"clients": f"You have no calendar named '{exc}'."}) from None
    return result


# the page -------------------------------------------------------------------------------------
def _page(request: Request, setup: Setup, values: dict[str, Any], errors: dict[str, str], status_code: int = 200) -> Response:
    model = setup.workspace()
    context = {
        "active": "syncs",
        "calendars": model.calendars,
        "values": values,
        "errors": errors,
        "read_only": {c.name for c in model.calendars if read_only(c)},
        "syncs_used": ws.syncs_used(model),
        "syncs_allowed": plan_limit(setup.user.plan),
        "plan": plan_name(setup.user.plan),
    }
    return render(request, "guided.html", context, status_code=status_code)


@router.get("/setup", include_in_schema=False)
def guided_page(request: Request, csrf: Csrf, setup: PageSetup) -> Response:
    model = setup.workspace()
    personal = next((c.name for c in model.calendars if (c.client or "").casefold() in ("me", "personal")), "")
    values = {"personal": personal, "clients": [], "labels": {c.name: c.client or "" for c in model.calendars}}
    return _page(request, setup, values, {})


@router.post("/setup", include_in_schema=False)
async def guided_create(request: Request, csrf: Csrf, setup: PageSetup) -> Response:
    data = await request.form()
    personal = str(data.get("personal", ""))
    clients = [str(c) for c in data.getlist("clients")]
    labels = {k[len(CLIENT_FIELD):]: str(v) for k, v in data.items() if k.startswith(CLIENT_FIELD)}
    values = {"personal": personal, "clients": clients, "labels": labels}
    try:
        apply(setup, personal, clients, labels)
    except Refused as exc:
        return _page(request, setup, values, exc.errors, status_code=400)
    except PlanLimitReached as exc:
        return _page(request, setup, values, {"form": str(exc)}, status_code=400)
    return see_other(request, "/syncs", "guided-created")


# the API --------------------------------------------------------------------------------------
class GuidedIn(BaseModel):
    """The recruiter table: the personal calendar and each client's calendars (names of the
    account's calendars); ``clients_labels`` optionally sets calendars' client labels first."""

    personal: str = Field(description="The personal calendar: every client's interviews land here in full.")
    clients: list[str] = Field(description="The client calendars: each gets the personal calendar back as Busy blocks.")
    client_labels: dict[str, str] = Field(default={}, description="Calendar name → client label (empty removes it).")


class GuidedOut(BaseModel):
    """What the guided setup did."""

    created: list[str] = Field(description="The names of the syncs created.")
    skipped: list[str] = Field(description="Pairs that already had a sync, as 'SOURCE → TARGET (sync NAME)'.")
    read_only: list[str] = Field(description="Client calendars that get no Busy blocks: they cannot be written to.")
    syncs_used: int
    syncs_allowed: int


_errors: dict[int | str, dict[str, object]] = {code: {"model": ErrorOut} for code in (400, 401, 409)}


@router.post(
    "/api/v1/setup/guided", tags=["syncs"], status_code=201, responses=_errors,
    summary="Create every client → personal (full) and personal → client (Busy) sync in one step",
)  # fmt: skip
def guided_api(body: GuidedIn, setup: ApiSetup) -> GuidedOut:
    try:
        result = apply(setup, body.personal, body.clients, body.client_labels)
    except Refused as exc:
        raise HTTPException(400, "; ".join(f"{k}: {v}" for k, v in exc.errors.items())) from None
    except PlanLimitReached as exc:
        raise HTTPException(409, str(exc)) from None
    return GuidedOut(
        created=[f.name for f in result.create], skipped=result.skipped, read_only=result.read_only,
        syncs_used=setup.syncs_used(), syncs_allowed=plan_limit(setup.user.plan),
    )  # fmt: skip
