"""The recruiter's candidates and their interview requests: the pages (/candidates/…, /interviews/…).

The flow of ``seeds/000_…`` from the recruiter's side: a candidate list (name, e-mail, the
client and role they are put forward for) → a candidate's page → the "Interview" form (a
scheduling link or our booking page, a title, a length and a message) → the request shows
"Awaiting Response"; the Progress menu offers what ``interviews.allowed(state, RECRUITER)``
allows (Schedule offline, Mark as scheduled, Reject, Hire, Cancel, Reschedule, Send again), and
"Send the next interview request" advances the candidate to the next round. The chat thread
shows both sides' messages and the system notes of every move.

Everything goes through ``mirrorcal.recruiting.Recruiting`` (``app.state.recruiting``, see
``get_recruiting``); this module only maps its answers to HTTP:

- ``TransitionRefused`` (and ``RaceLost``): 409; the page again with the message / ``{"detail"}``.
- ``RecruitingError``: 400 with the message next to its field / 422 ``{"detail"}`` in the API.
- an id that is not the account's (or not an id at all, ``deps.row_id``): 404.

Cancelling and rescheduling go through ``app.state.booker`` (``booking.Booker.cancel``) when the
app has one, so that a booking-page event is deleted first; otherwise straight to ``act``.
The same as a REST API is ``web.candidates_api``. Successful page forms redirect (303) to the
page with ``?done=<key>`` naming one of ``NOTICES`` (never free text).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from mirrorcal.booking import RELEASING
from mirrorcal.errors import SecretsError
from mirrorcal.interviews import (
    OFFLINE_NOTE,
    Action,
    Actor,
    State,
    TransitionRefused,
    allowed,
)
from mirrorcal.recruiting import (
    MAX_NAME_LENGTH,
    MAX_TEXT_LENGTH,
    MAX_TITLE_LENGTH,
    MAX_URL_LENGTH,
    OPEN_STATES,
    Recruiting,
    RecruitingError,
    recruiter_status,
)
from mirrorcal.store.base import CandidateRow, InterviewRow, Store, UserRow

from .deps import Csrf, CurrentUser, StoreDep, row_id
from .pages import render, see_other

router = APIRouter(include_in_schema=False)
"""The pages (the API is ``candidates_api.router``)."""

MAX_TEXT = MAX_NAME_LENGTH  # name, client, role
MAX_EMAIL = 254
MAX_URL = MAX_URL_LENGTH
MAX_MESSAGE = MAX_TEXT_LENGTH
MAX_TITLE = MAX_TITLE_LENGTH
NO_CANDIDATE = "There is no such candidate. They may have been deleted."
NO_INTERVIEW = "There is no such interview request. It may have been deleted."
NOT_SET_UP = "Interview requests are not set up on this server."

OPEN = OPEN_STATES
ADVANCEABLE = (State.SCHEDULED, State.AWAITING_FEEDBACK)

ACTION_LABELS = {
    Action.SCHEDULE_OFFLINE: "Schedule offline",
    Action.MARK_SCHEDULED: "Mark as scheduled",
    Action.REJECT: "Reject",
    Action.HIRE: "Hire",
    Action.CANCEL: "Cancel the interview",
    Action.RESCHEDULE: "Ask to reschedule",
    Action.RESEND: "Send again",
}
"""The Progress menu's words for the recruiter's actions (ADVANCE has its own form)."""
ACTION_HINTS = {
    Action.SCHEDULE_OFFLINE: "The candidate booked through your link but did not confirm here.",
    Action.MARK_SCHEDULED: "The booking found in your calendars is the interview.",
    Action.REJECT: "Close the process: not progressing.",
    Action.HIRE: "Close the process: hired.",
    Action.CANCEL: "Call the interview off; the candidate is told.",
    Action.RESCHEDULE: "The candidate picks a new time with the same link.",
    Action.RESEND: "Send the expired request again, with a new reminder clock.",
}
LINK_KINDS = {
    "link": "Scheduling link (Calendly, a Google appointment page, your ATS…)",
    "booking_page": "Our booking page",
}
NOTICES = {
    "added": "The candidate was added. Send them an interview request below.",
    "saved": "The candidate's details were saved.",
    "deleted": "The candidate was deleted, with their interview requests and messages.",
    "sent": "The interview request was sent. It shows as Awaiting Response until the candidate acts.",
    "advanced": "The candidate moved on: the next interview request was sent.",
    "moved": "The interview request was updated.",
    "message": "Your message was sent.",
}


# shared pieces (the candidate's page and the outbox use them too) --------------------------------
def get_recruiting(request: Request) -> Recruiting:
    """The app's ``Recruiting`` service (``app.state.recruiting``); 503 when the app has none."""
    recruiting: Recruiting | None = getattr(request.app.state, "recruiting", None)
    if recruiting is None:
        raise HTTPException(503, NOT_SET_UP)
    return recruiting


RecruitingDep = Annotated[Recruiting, Depends(get_recruiting)]


def private_link(recruiting: Recruiting, row: InterviewRow) -> str:
    """The candidate's private link, or "" when it cannot be read back (the key changed)."""
    try:
        return recruiting.link(row)
    except (SecretsError, ValueError):
        return ""


def notice_of(request: Request) -> str | None:
    return NOTICES.get(request.query_params.get("done", ""))


async def move(
    request: Request, recruiting: Recruiting, row: InterviewRow, action: Action, actor: Actor, reason: str = ""
) -> InterviewRow:
    """Take ``action``; a move that gives up a booked time (cancel, reschedule, decline, reject)
    goes through the app's booker when it has one, which deletes a booking-page event too. A
    move the state does not allow is refused (``TransitionRefused``) before any calendar is touched."""
    booker = getattr(request.app.state, "booker", None)
    if booker is not None and action in RELEASING:
        moved: InterviewRow = await booker.close(row, action, actor, reason=reason)
        return moved
    return await run_in_threadpool(lambda: recruiting.act(row.user_id, row.id, action, actor, reason=reason))


async def release_bookings(request: Request, rows: list[InterviewRow]) -> None:
    """Delete the booking-page events of ``rows`` (before their candidate is deleted)."""
    booker = getattr(request.app.state, "booker", None)
    if booker is not None:
        for row in rows:
            await booker.release(row)


def own_candidate(store: Store, user: UserRow, candidate_id: int) -> CandidateRow:
    row = store.candidate(user.id, candidate_id) if row_id(candidate_id) else None
    if row is None:
        raise HTTPException(404, NO_CANDIDATE)
    return row


def own_interview(store: Store, user: UserRow, interview_id: int) -> InterviewRow:
    row = store.interview(user.id, interview_id) if row_id(interview_id) else None
    if row is None:
        raise HTTPException(404, NO_INTERVIEW)
    return row


# the pages --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Shown:
    """One request as the candidate's page shows it."""

    row: InterviewRow
    status: str
    link: str
    actions: list[tuple[str, str, str]]  # (action value, label, hint)
    can_advance: bool


def latest_requests(store: Store, user: UserRow) -> dict[int, InterviewRow]:
    latest: dict[int, InterviewRow] = {}
    for row in store.interviews(user.id):
        latest[row.candidate_id] = row  # oldest first: the last one wins
    return latest


def _list(request: Request, store: Store, user: UserRow, status_code: int = 200, **extra: Any) -> Response:
    latest = latest_requests(store, user)
    rows = [
        (c, recruiter_status(latest[c.id]) if c.id in latest else "No request yet")
        for c in store.candidates(user.id)
    ]
    context: dict[str, Any] = {
        "active": "candidates",
        "rows": rows,
        "max_text": MAX_TEXT,
        "max_email": MAX_EMAIL,
    }
    context["notice"] = notice_of(request)
    return render(request, "candidates.html", context | extra, status_code=status_code)


def _detail(
    request: Request,
    store: Store,
    recruiting: Recruiting,
    user: UserRow,
    candidate: CandidateRow,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    requests = store.interviews(user.id, candidate.id)
    shown = [
        _Shown(
            row=row,
            status=recruiter_status(row),
            link=private_link(recruiting, row),
            actions=[
                (a.value, ACTION_LABELS[a], ACTION_HINTS[a])
                for a in allowed(State(row.state), Actor.RECRUITER)
                if a in ACTION_LABELS
            ],
            can_advance=State(row.state) in ADVANCEABLE,
        )
        for row in reversed(requests)  # newest first
    ]
    open_request = next((s for s in shown if State(s.row.state) in OPEN), None)
    context: dict[str, Any] = {
        "active": "candidates",
        "candidate": candidate,
        "requests": shown,
        "open_request": open_request,
        "messages": store.messages(user.id, candidate.id),
        "link_kinds": LINK_KINDS,
        "limits": {
            "text": MAX_TEXT,
            "email": MAX_EMAIL,
            "url": MAX_URL,
            "message": MAX_MESSAGE,
            "title": MAX_TITLE,
        },
        "values": {
            "name": candidate.name,
            "email": candidate.email,
            "client": candidate.client,
            "role": candidate.role,
        }
        | {"link_kind": "link", "duration_minutes": "45"},
        "notice": notice_of(request),
        "round": len(requests) + 1,
        "offline_note": OFFLINE_NOTE,
        "zone": recruiting.zone(user.id),
    }
    if "values" in extra:
        extra["values"] = context["values"] | extra["values"]
    return render(request, "candidate.html", context | extra, status_code=status_code)


@router.get("/candidates", include_in_schema=False)
def candidates_page(request: Request, csrf: Csrf, user: CurrentUser, store: StoreDep) -> Response:
    return _list(request, store, user)


@router.post("/candidates", include_in_schema=False)
def add_candidate_page(
    request: Request,
    csrf: Csrf,
    user: CurrentUser,
    store: StoreDep,
    recruiting: RecruitingDep,
    name: Annotated[str, Form(max_length=4 * MAX_TEXT)] = "",
    email: Annotated[str, Form(max_length=4 * MAX_EMAIL)] = "",
    client: Annotated[str, Form(max_length=4 * MAX_TEXT)] = "",
    role: Annotated[str, Form(max_length=4 * MAX_TEXT)] = "",
) -> Response:
    values = {"name": name, "email": email, "client": client, "role": role}
    try:
        row = recruiting.add_candidate(user.id, name=name, email=email, client=client, role=role)
    except RecruitingError as exc:
        return _list(request, store, user, status_code=400, errors={exc.field: sentence(exc)}, values=values)
    return see_other(request, f"/candidates/{row.id}?done=added")


@router.get("/candidates/{candidate_id}", include_in_schema=False)
def candidate_page(
    request: Request,
    csrf: Csrf,
    user: CurrentUser,
    store: StoreDep,
    recruiting: RecruitingDep,
    candidate_id: int,
) -> Response:
    return _detail(request, store, recruiting, user, own_candidate(store, user, candidate_id))


@router.post("/candidates/{candidate_id}/edit", include_in_schema=False)
def edit_candidate_page(
    request: Request,
    csrf: Csrf,
    user: CurrentUser,
    store: StoreDep,
    recruiting: RecruitingDep,
    candidate_id: int,
    name: Annotated[str, Form(max_length=4 * MAX_TEXT)] = "",
    email: Annotated[str, Form(max_length=4 * MAX_EMAIL)] = "",
    client: Annotated[str, Form(max_length=4 * MAX_TEXT)] = "",
    role: Annotated[str, Form(max_length=4 * MAX_TEXT)] = "",
) -> Response:
    candidate = own_candidate(store, user, candidate_id)
    values = {"name": name, "email": email, "client": client, "role": role}
    try:
        row = recruiting.edit_candidate(
            user.id, candidate.id, name=name, email=email, client=client, role=role
        )
    except RecruitingError as exc:
        errors = {exc.field: sentence(exc)}
        return _detail(
            request, store, recruiting, user, candidate, 400, errors=errors, values=values, editing=True
        )
    if row is None:
        raise HTTPException(404, NO_CANDIDATE)
    return see_other(request, f"/candidates/{row.id}?done=saved")


@router.post("/candidates/{candidate_id}/delete", include_in_schema=False)
async def delete_candidate_page(
    request: Request, csrf: Csrf, user: CurrentUser, store: StoreDep, candidate_id: int
) -> Response:
    candidate = own_candidate(store, user, candidate_id)
    await release_bookings(request, store.interviews(user.id, candidate.id))
    if not store.delete_candidate(user.id, candidate.id):
        raise HTTPException(404, NO_CANDIDATE)
    return see_other(request, "/candidates?done=deleted")


@router.post("/candidates/{candidate_id}/interviews", include_in_schema=False)
async def send_request_page(
    request: Request,
    csrf: Csrf,
    user: CurrentUser,
    store: StoreDep,
    recruiting: RecruitingDep,
    candidate_id: int,
) -> Response:
    candidate = own_candidate(store, user, candidate_id)
    form = await _interview_form(request)
    errors = form.errors
    if not errors:
        try:
            await run_in_threadpool(lambda: recruiting.send_request(user.id, candidate.id, **form.fields))
        except RecruitingError as exc:
            errors = {exc.field: sentence(exc)}
        except TransitionRefused as exc:
            return _detail(
                request, store, recruiting, user, candidate, 409, problem=sentence(exc), values=form.values
            )
        else:
            return see_other(request, f"/candidates/{candidate.id}?done=sent")
    return _detail(request, store, recruiting, user, candidate, 400, errors=errors, values=form.values)


@router.post("/interviews/{interview_id}/advance", include_in_schema=False)
async def advance_page(
    request: Request,
    csrf: Csrf,
    user: CurrentUser,
    store: StoreDep,
    recruiting: RecruitingDep,
    interview_id: int,
) -> Response:
    row = own_interview(store, user, interview_id)
    candidate = own_candidate(store, user, row.candidate_id)
    form = await _interview_form(request)
    errors = form.errors
    if not errors:
        try:
            await run_in_threadpool(lambda: recruiting.advance(user.id, row.id, **form.fields))
        except RecruitingError as exc:
            errors = {exc.field: sentence(exc)}
        except TransitionRefused as exc:
            return _detail(
                request, store, recruiting, user, candidate, 409, problem=sentence(exc), values=form.values
            )
        except LookupError:
            raise HTTPException(404, NO_INTERVIEW) from None
        else:
            return see_other(request, f"/candidates/{candidate.id}?done=advanced")
    return _detail(
        request, store, recruiting, user, candidate, 400, errors=errors, values=form.values, advancing=row.id
    )


@router.post("/interviews/{interview_id}/progress", include_in_schema=False)
async def progress_page(
    request: Request,
    csrf: Csrf,
    user: CurrentUser,
    store: StoreDep,
    recruiting: RecruitingDep,
    interview_id: int,
    action: Annotated[str, Form(max_length=40)] = "",
    reason: Annotated[str, Form(max_length=MAX_MESSAGE)] = "",
) -> Response:
    row = own_interview(store, user, interview_id)
    candidate = own_candidate(store, user, row.candidate_id)
    try:
        await progress(request, recruiting, row, action, reason)
    except BadAction as exc:
        return _detail(request, store, recruiting, user, candidate, 400, problem=str(exc))
    except RecruitingError as exc:
        return _detail(request, store, recruiting, user, candidate, 400, problem=sentence(exc))
    except TransitionRefused as exc:
        return _detail(request, store, recruiting, user, candidate, 409, problem=sentence(exc))
    except LookupError:
        raise HTTPException(404, NO_INTERVIEW) from None
    return see_other(request, f"/candidates/{candidate.id}?done=moved#interview-{row.id}")


@router.post("/candidates/{candidate_id}/messages", include_in_schema=False)
def post_message_page(
    request: Request,
    csrf: Csrf,
    user: CurrentUser,
    store: StoreDep,
    recruiting: RecruitingDep,
    candidate_id: int,
    body: Annotated[str, Form(max_length=2 * MAX_MESSAGE)] = "",
) -> Response:
    candidate = own_candidate(store, user, candidate_id)
    try:
        recruiting.post_message(user.id, candidate.id, Actor.RECRUITER, body)
    except RecruitingError as exc:
        errors = {exc.field: sentence(exc)}
        return _detail(request, store, recruiting, user, candidate, 400, errors=errors, values={"body": body})
    return see_other(request, f"/candidates/{candidate.id}?done=message#chat")


# form parsing and actions -----------------------------------------------------------------------
class BadAction(Exception):
    """A progress action that is not one of the recruiter's (the page answers 400)."""


@dataclass(frozen=True)
class _InterviewForm:
    values: dict[str, str]
    fields: dict[str, Any]
    errors: dict[str, str]


async def _interview_form(request: Request) -> _InterviewForm:
    """The Interview form's fields (link_kind, url, title, duration_minutes, message) as typed,
    as ``send_request`` keywords, and the errors this layer finds (the service checks the rest)."""
    data = await request.form()
    values = {k: str(data.get(k, "")) for k in ("link_kind", "url", "title", "duration_minutes", "message")}
    errors: dict[str, str] = {}
    kind = values["link_kind"] or "link"
    if kind not in LINK_KINDS:
        errors["link_kind"] = "Choose a scheduling link or our booking page."
    limits = {"url": MAX_URL, "title": MAX_TITLE, "message": MAX_MESSAGE}
    for name, limit in limits.items():
        if len(values[name]) > limit:
            errors[name] = f"Use at most {limit} characters."
    duration = values["duration_minutes"].strip() or "45"
    if not (duration.isascii() and duration.isdigit()) or len(duration) > 4:
        errors["duration_minutes"] = "Enter the interview's length in whole minutes, from 10 to 480."
        minutes = 45
    else:
        minutes = int(duration)
    fields = {
        "link_kind": kind,
        "url": values["url"].strip(),
        "title": values["title"].strip(),
        "message": values["message"],
        "duration_minutes": minutes,
    }
    return _InterviewForm(values=values | {"link_kind": kind}, fields=fields, errors=errors)


async def progress(
    request: Request, recruiting: Recruiting, row: InterviewRow, action: str, reason: str
) -> InterviewRow:
    """Take the recruiter's ``action`` on ``row``; raises ``BadAction``, ``TransitionRefused``, ``LookupError``."""
    try:
        chosen = Action(action)
    except ValueError:
        raise BadAction("Choose one of the actions the Progress menu offers.") from None
    if chosen is Action.ADVANCE:
        raise BadAction("To move the candidate on, send the next interview request with its form.")
    return await move(request, recruiting, row, chosen, Actor.RECRUITER, reason)


def sentence(exc: Exception) -> str:
    """The refusal's sentence, starting with a capital letter."""
    text = str(exc)
    return text[:1].upper() + text[1:] if text else "That was refused."
