"""The REST API of candidates, interview requests and their chat (/api/v1/candidates, /api/v1/interviews).

The same service and the same mapping as the pages (``web.candidates``): a personal API token
(``ApiUser``); another account's id (or one past the database range) is 404, checked before
the body is read; ``RecruitingError`` is 422 and ``TransitionRefused``/``RaceLost`` 409, both as
``{"detail": message}``. ``POST /api/v1/interviews/{interview_id}/actions`` takes the recruiter's
moves; ``advance`` needs ``next`` (the next round's request) and answers with that new request.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from mirrorcal.interviews import Action, Actor, State, TransitionRefused
from mirrorcal.recruiting import Recruiting, RecruitingError, candidate_status, recruiter_status
from mirrorcal.store.base import CandidateRow, InterviewRow, MessageRow, Store, TransitionRow, UserRow

from .api import ErrorOut
from .candidates import (
    ACTION_LABELS,
    MAX_EMAIL,
    MAX_MESSAGE,
    MAX_TEXT,
    MAX_TITLE,
    MAX_URL,
    NO_CANDIDATE,
    NO_INTERVIEW,
    BadAction,
    RecruitingDep,
    latest_requests,
    own_candidate,
    own_interview,
    private_link,
    progress,
    release_bookings,
    sentence,
)
from .deps import ApiUser, StoreDep

router = APIRouter(prefix="/api/v1", tags=["candidates"], responses={401: {"model": ErrorOut}})
api_router = router


Text = Annotated[str, Field(max_length=MAX_TEXT)]


class CandidateIn(BaseModel):
    """A new candidate: who, and for which client and role you put them forward."""

    name: str = Field(max_length=MAX_TEXT, examples=["Dana Whitfield"])
    email: str = Field(max_length=MAX_EMAIL, examples=["dana@example.com"])
    client: str = Field(max_length=MAX_TEXT, examples=["Acme"])
    role: str = Field(max_length=MAX_TEXT, examples=["Staff engineer"])


class CandidatePatch(BaseModel):
    """What to change; what is left out stays."""

    name: str | None = Field(default=None, max_length=MAX_TEXT)
    email: str | None = Field(default=None, max_length=MAX_EMAIL)
    client: str | None = Field(default=None, max_length=MAX_TEXT)
    role: str | None = Field(default=None, max_length=MAX_TEXT)


class CandidateOut(BaseModel):
    """A candidate; ``status`` is what the recruiter sees on their latest request (null: none sent)."""

    id: int
    name: str
    email: str
    client: str
    role: str
    created: datetime
    status: str | None


class InterviewIn(BaseModel):
    """An interview request: ``link_kind`` "link" (with ``url``, any http/https scheduling link) or
    "booking_page" (our own booking page; ``url`` is ignored)."""

    link_kind: Literal["link", "booking_page"] = "link"
    url: str = Field(default="", max_length=MAX_URL, examples=["https://calendly.com/you/interview"])
    title: str = Field(default="", max_length=MAX_TITLE, description='Empty: "Interview {round}".')
    duration_minutes: int = Field(default=45, ge=10, le=480)
    message: str = Field(default="", max_length=MAX_MESSAGE)


class ActionIn(BaseModel):
    """A recruiter's move: ``action`` one of schedule_offline, mark_scheduled, reject, hire, cancel,
    reschedule, resend, advance (``advance`` needs ``next``: the next round's request)."""

    action: str = Field(max_length=40, examples=["schedule_offline"])
    reason: str = Field(default="", max_length=MAX_MESSAGE)
    next: InterviewIn | None = None


class TransitionOut(BaseModel):
    """One recorded move: who (recruiter, candidate, system) did what, when, from which state to which."""

    action: str
    actor: str
    at: datetime
    before: str
    after: str
    note: str


class InterviewOut(BaseModel):
    """An interview request. ``state`` is the stored state (see the state machine);
    ``recruiter_status``/``candidate_status`` what each side sees; ``link`` the candidate's private link."""

    id: int
    candidate_id: int
    round: int
    title: str
    link_kind: str
    url: str
    message: str
    duration_minutes: int
    state: str
    how: str | None
    recruiter_status: str
    candidate_status: str
    starts_at: datetime | None
    ends_at: datetime | None
    reason: str
    sent_at: datetime
    updated: datetime
    link: str


class InterviewDetailOut(InterviewOut):
    """An interview request with its recorded moves, oldest first."""

    transitions: list[TransitionOut]


class CandidateDetailOut(CandidateOut):
    """A candidate with their interview requests, oldest first."""

    interviews: list[InterviewOut]


class MessageIn(BaseModel):
    """A message to the candidate (they get it by e-mail too)."""

    body: str = Field(max_length=MAX_MESSAGE)


class MessageOut(BaseModel):
    """One message of the chat thread: ``author`` recruiter, candidate or system (status notes)."""

    id: int
    interview_id: int | None
    author: str
    body: str
    at: datetime


def candidate_out(row: CandidateRow, latest: InterviewRow | None) -> CandidateOut:
    status = recruiter_status(latest) if latest is not None else None
    return CandidateOut(
        id=row.id,
        name=row.name,
        email=row.email,
        client=row.client,
        role=row.role,
        created=row.created,
        status=status,
    )


def interview_out(recruiting: Recruiting, row: InterviewRow) -> InterviewOut:
    return InterviewOut(**_interview_fields(recruiting, row))


def _interview_fields(recruiting: Recruiting, row: InterviewRow) -> dict[str, Any]:
    return {
        "id": row.id, "candidate_id": row.candidate_id, "round": row.round, "title": row.title, "link_kind": row.link_kind,
        "url": row.url, "message": row.message, "duration_minutes": row.duration_minutes, "state": row.state, "how": row.how,
        "recruiter_status": recruiter_status(row), "candidate_status": candidate_status(row), "starts_at": row.starts_at,
        "ends_at": row.ends_at, "reason": row.reason, "sent_at": row.sent_at, "updated": row.updated,
        "link": private_link(recruiting, row),
    }  # fmt: skip


def _transition(row: TransitionRow) -> TransitionOut:
    return TransitionOut(
        action=row.action, actor=row.actor, at=row.at, before=row.before, after=row.after, note=row.note
    )


def _message_out(row: MessageRow) -> MessageOut:
    return MessageOut(id=row.id, interview_id=row.interview_id, author=row.author, body=row.body, at=row.at)


def _detail_out(store: Store, recruiting: Recruiting, user: UserRow, row: InterviewRow) -> InterviewDetailOut:
    return InterviewDetailOut(
        **_interview_fields(recruiting, row), transitions=[_transition(t) for t in store.transitions(row.id)]
    )


_404: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut}}
_409_422: dict[int | str, dict[str, Any]] = {409: {"model": ErrorOut}, 422: {"model": ErrorOut}}


def api_candidate_of(user: ApiUser, store: StoreDep, candidate_id: int) -> CandidateRow:
    """The token owner's candidate ``candidate_id`` (404 otherwise), checked before the body is read."""
    return own_candidate(store, user, candidate_id)


def api_interview_of(user: ApiUser, store: StoreDep, interview_id: int) -> InterviewRow:
    """The token owner's request ``interview_id`` (404 otherwise), checked before the body is read."""
    return own_interview(store, user, interview_id)


ApiCandidate = Annotated[CandidateRow, Depends(api_candidate_of)]
ApiInterview = Annotated[InterviewRow, Depends(api_interview_of)]


@router.get("/candidates", summary="The account's candidates")
def api_candidates(user: ApiUser, store: StoreDep) -> list[CandidateOut]:
    latest = latest_requests(store, user)
    return [candidate_out(c, latest.get(c.id)) for c in store.candidates(user.id)]


@router.post("/candidates", status_code=201, summary="Add a candidate", responses={422: {"model": ErrorOut}})
def api_add_candidate(body: CandidateIn, user: ApiUser, recruiting: RecruitingDep) -> CandidateOut:
    try:
        row = recruiting.add_candidate(
            user.id, name=body.name, email=body.email, client=body.client, role=body.role
        )
    except RecruitingError as exc:
        raise HTTPException(422, sentence(exc)) from None
    return candidate_out(row, None)


@router.get("/candidates/{candidate_id}", summary="A candidate with their interview requests", responses=_404)
def api_candidate(
    row: ApiCandidate, user: ApiUser, store: StoreDep, recruiting: RecruitingDep
) -> CandidateDetailOut:
    requests = store.interviews(user.id, row.id)
    out = candidate_out(row, requests[-1] if requests else None)
    return CandidateDetailOut(**out.model_dump(), interviews=[interview_out(recruiting, r) for r in requests])


@router.patch(
    "/candidates/{candidate_id}", summary="Change a candidate", responses={**_404, 422: {"model": ErrorOut}}
)
def api_edit_candidate(
    row: ApiCandidate, body: CandidatePatch, user: ApiUser, store: StoreDep, recruiting: RecruitingDep
) -> CandidateOut:
    try:
        changed = recruiting.edit_candidate(
            user.id, row.id, name=row.name if body.name is None else body.name, email=row.email if body.email is None else body.email,
            client=row.client if body.client is None else body.client, role=row.role if body.role is None else body.role,
        )  # fmt: skip
    except RecruitingError as exc:
        raise HTTPException(422, sentence(exc)) from None
    if changed is None:
        raise HTTPException(404, NO_CANDIDATE)
    requests = store.interviews(user.id, row.id)
    return candidate_out(changed, requests[-1] if requests else None)


@router.delete(
    "/candidates/{candidate_id}",
    status_code=204,
    summary="Delete a candidate with their requests and messages",
    responses=_404,
)
async def api_delete_candidate(request: Request, row: ApiCandidate, user: ApiUser, store: StoreDep) -> Response:
    await release_bookings(request, store.interviews(user.id, row.id))
    if not store.delete_candidate(user.id, row.id):
        raise HTTPException(404, NO_CANDIDATE)
    return Response(status_code=204)


@router.get(
    "/candidates/{candidate_id}/messages", summary="The candidate's chat thread, oldest first", responses=_404
)
def api_messages(row: ApiCandidate, user: ApiUser, store: StoreDep) -> list[MessageOut]:
    return [_message_out(m) for m in store.messages(user.id, row.id)]


@router.post(
    "/candidates/{candidate_id}/messages",
    status_code=201,
    summary="Write to the candidate",
    responses={**_404, 422: {"model": ErrorOut}},
)
def api_post_message(
    row: ApiCandidate, body: MessageIn, user: ApiUser, store: StoreDep, recruiting: RecruitingDep
) -> MessageOut:
    try:
        made = recruiting.post_message(user.id, row.id, Actor.RECRUITER, body.body)
    except RecruitingError as exc:
        raise HTTPException(422, sentence(exc)) from None
    return _message_out(made)


@router.post(
    "/candidates/{candidate_id}/interviews",
    status_code=201,
    summary="Send the candidate an interview request",
    responses={**_404, **_409_422},
)
def api_send_request(
    row: ApiCandidate, body: InterviewIn, user: ApiUser, store: StoreDep, recruiting: RecruitingDep
) -> InterviewDetailOut:
    try:
        made, _ = recruiting.send_request(user.id, row.id, **body.model_dump())
    except RecruitingError as exc:
        raise HTTPException(422, sentence(exc)) from None
    except TransitionRefused as exc:
        raise HTTPException(409, sentence(exc)) from None
    return _detail_out(store, recruiting, user, made)


@router.get(
    "/interviews",
    summary="The account's interview requests (of one state with ?state=)",
    responses={422: {"model": ErrorOut}},
)
def api_interviews(
    user: ApiUser,
    store: StoreDep,
    recruiting: RecruitingDep,
    state: Annotated[str | None, Query(max_length=40)] = None,
) -> list[InterviewOut]:
    if state is not None and state not in {s.value for s in State}:
        raise HTTPException(422, f"state must be one of {', '.join(s.value for s in State)}")
    return [
        interview_out(recruiting, r) for r in store.interviews(user.id) if state is None or r.state == state
    ]


@router.get(
    "/interviews/{interview_id}",
    summary="An interview request with its moves and private link",
    responses=_404,
)
def api_interview(
    row: ApiInterview, user: ApiUser, store: StoreDep, recruiting: RecruitingDep
) -> InterviewDetailOut:
    return _detail_out(store, recruiting, user, row)


@router.post(
    "/interviews/{interview_id}/actions",
    summary="Progress an interview request (advance returns the next round's request)",
    responses={**_404, **_409_422},
)
async def api_act(
    request: Request,
    row: ApiInterview,
    body: ActionIn,
    user: ApiUser,
    store: StoreDep,
    recruiting: RecruitingDep,
) -> InterviewDetailOut:
    try:
        if body.action == Action.ADVANCE.value:
            if body.next is None:
                raise HTTPException(
                    422,
                    "advance needs next: the next round's interview request (link_kind, url, title, message)",
                )
            fields = body.next.model_dump()
            moved, _ = await run_in_threadpool(lambda: recruiting.advance(user.id, row.id, **fields))
        else:
            moved = await progress(request, recruiting, row, body.action, body.reason)
    except BadAction:
        choices = ", ".join([a.value for a in ACTION_LABELS] + [Action.ADVANCE.value])
        raise HTTPException(422, f"action must be one of {choices}") from None
    except RecruitingError as exc:
        raise HTTPException(422, sentence(exc)) from None
    except TransitionRefused as exc:
        raise HTTPException(409, sentence(exc)) from None
    except LookupError:
        raise HTTPException(404, NO_INTERVIEW) from None
    return _detail_out(store, recruiting, user, moved)
