"""The candidate's private page (/i/{token}): the request, "Schedule Interview", "I have booked it", and the chat.

The candidate has no account: the token in the path is the credential (only its hash is
stored; ``Recruiting.by_token`` finds the request). Forms carry the double-submit CSRF token
of signed-out visitors (``deps.Csrf``). An unknown token is a 404 page saying the link is not
valid, whatever the rest of the path.

Confidentiality: the page names this candidate's own client and role, the recruiter's e-mail
and nothing else of the recruiter's account; it is rendered with ``_interview_layout.html``,
which has none of the app's navigation.

Moves map like the recruiter's pages: ``TransitionRefused`` (and ``RaceLost``) → 409 with the
message on the page; bad input (a decline without a reason, an empty message) → 400 with the
message next to the field. Cancel, "ask to reschedule" and decline give up a booked time, so they
go through the booker when the app has one, which deletes a booking-page event too (see
``candidates.move``).
"""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from mirrorcal.interviews import OFFLINE_NOTE, Action, Actor, State, TransitionRefused, allowed
from mirrorcal.recruiting import Recruiting, RecruitingError, candidate_status
from mirrorcal.store.base import CandidateRow, InterviewRow, Store
from mirrorcal.zones import zone_named

from .candidates import MAX_MESSAGE, RecruitingDep, move, sentence
from .deps import MAX_TOKEN_LENGTH, Csrf, StoreDep
from .pages import render, see_other

router = APIRouter(prefix="/i/{token}", include_in_schema=False)

INVALID = (
    "This link is not valid. It may be mistyped or cut short, or the request may have been withdrawn. "
    "Ask the recruiter who sent it for a new one."
)
NOTICES = {
    "confirmed": "Thank you: your interview is scheduled.",
    "declined": "You declined this interview. The recruiter has been told.",
    "rescheduling": "The recruiter has been told you would like a new time. Book one with the same button.",
    "cancelled": "You cancelled this interview. The recruiter has been told.",
    "message": "Your message was sent to the recruiter.",
    "booked": "Booked: your interview is scheduled, and the recruiter has been told.",
}


def _find(recruiting: Recruiting, token: str) -> tuple[InterviewRow, CandidateRow] | None:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    return recruiting.by_token(token)


def _shown_zone(request: Request) -> ZoneInfo | None:
    """The zone the candidate chose on the booking page (``?tz=``, an IANA name), if it is one."""
    name = request.query_params.get("tz", "")
    return zone_named(name) if 0 < len(name) <= 64 else None


def _invalid(request: Request) -> Response:
    return render(request, "interview_public.html", {"invalid": True, "message": INVALID}, status_code=404)


def _page(
    request: Request,
    store: Store,
    token: str,
    row: InterviewRow,
    candidate: CandidateRow,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    recruiter = store.user(row.user_id)
    can = {a.value for a in allowed(State(row.state), Actor.CANDIDATE)}
    context: dict[str, Any] = {
        "invalid": False,
        "base": f"/i/{token}",
        "booking_url": f"/b/{token}",
        "row": row,
        "client": candidate.client,
        "role": candidate.role,
        "name": candidate.name,
        "status": candidate_status(row),
        "recruiter_email": recruiter.email if recruiter is not None else "",
        "messages": store.messages(row.user_id, candidate.id),
        "can": can,
        "offline": row.state == State.SCHEDULED and row.how == "offline",
        "offline_note": OFFLINE_NOTE,
        "max_message": MAX_MESSAGE,
        "notice": NOTICES.get(request.query_params.get("done", "")),
        "zone": _shown_zone(request) or request.app.state.recruiting.zone(row.user_id),
    }
    return render(request, "interview_public.html", context | extra, status_code=status_code)


def _done(request: Request, token: str, key: str) -> Response:
    anchor = "#chat" if key == "message" else ""
    return see_other(request, f"/i/{token}?done={key}{anchor}")


@router.get("")
def interview_page(
    request: Request, csrf: Csrf, store: StoreDep, recruiting: RecruitingDep, token: str
) -> Response:
    found = _find(recruiting, token)
    if found is None:
        return _invalid(request)
    return _page(request, store, token, *found)


async def _move(
    request: Request, store: Store, recruiting: Recruiting, token: str, action: Action, done: str, reason: str | None = None
) -> Response:
    """The candidate takes ``action`` (``reason`` for a decline): the page again with 409 when the
    state does not allow it, 400 next to the reason field when it is refused, else on to ``done``."""
    found = _find(recruiting, token)
    if found is None:
        return _invalid(request)
    row, candidate = found
    kept = {} if reason is None else {"values": {"reason": reason}}
    try:
        if reason is not None and not reason.strip():
            raise RecruitingError("reason", "Say why you are declining, in a few words: the recruiter reads it.")
        await move(request, recruiting, row, action, Actor.CANDIDATE, reason or "")
    except TransitionRefused as exc:
        return _page(request, store, token, row, candidate, 409, problem=sentence(exc), **kept)
    except RecruitingError as exc:
        return _page(request, store, token, row, candidate, 400, errors={exc.field: sentence(exc)}, **kept)
    except LookupError:
        return _invalid(request)
    return _done(request, token, done)


@router.post("/confirm")
async def confirm(request: Request, csrf: Csrf, store: StoreDep, recruiting: RecruitingDep, token: str) -> Response:
    """The candidate's "I have booked it" (after booking through the scheduling link)."""
    return await _move(request, store, recruiting, token, Action.CONFIRM, "confirmed")


@router.post("/decline")
async def decline(
    request: Request,
    csrf: Csrf,
    store: StoreDep,
    recruiting: RecruitingDep,
    token: str,
    reason: Annotated[str, Form(max_length=2 * MAX_MESSAGE)] = "",
) -> Response:
    return await _move(request, store, recruiting, token, Action.DECLINE, "declined", reason)


@router.post("/reschedule")
async def reschedule(request: Request, csrf: Csrf, store: StoreDep, recruiting: RecruitingDep, token: str) -> Response:
    return await _move(request, store, recruiting, token, Action.RESCHEDULE, "rescheduling")


@router.post("/cancel")
async def cancel(request: Request, csrf: Csrf, store: StoreDep, recruiting: RecruitingDep, token: str) -> Response:
    return await _move(request, store, recruiting, token, Action.CANCEL, "cancelled")


@router.post("/messages")
def post_message(
    request: Request,
    csrf: Csrf,
    store: StoreDep,
    recruiting: RecruitingDep,
    token: str,
    body: Annotated[str, Form(max_length=2 * MAX_MESSAGE)] = "",
) -> Response:
    found = _find(recruiting, token)
    if found is None:
        return _invalid(request)
    row, candidate = found
    try:
        recruiting.post_message(row.user_id, candidate.id, Actor.CANDIDATE, body, interview_id=row.id)
    except RecruitingError as exc:
        return _page(
            request,
            store,
            token,
            row,
            candidate,
            400,
            errors={exc.field: sentence(exc)},
            values={"body": body},
        )
    return _done(request, token, "message")
