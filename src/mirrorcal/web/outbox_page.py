"""The account's outbox: every e-mail the app wrote for it (/outbox, /api/v1/outbox), newest first.

Invitations, reminders and confirmations to candidates and the notices to the recruiter, each
with its state in words: waiting to be sent, sent, failed (with the reason), or held because
no mail server is configured (``WebSettings.smtp_url`` empty: the demo shows them here).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.responses import Response

from mirrorcal.store.base import MailRow

from .api import ErrorOut
from .deps import ApiUser, Csrf, CurrentUser, StoreDep
from .pages import _when, render

router = APIRouter()
api_router = APIRouter(prefix="/api/v1/outbox", tags=["outbox"], responses={401: {"model": ErrorOut}})

SHOWN = 200


def state_words(mail: MailRow) -> str:
    """A mail's state as the outbox shows it."""
    if mail.state == "sent":
        return f"Sent {_when(mail.sent_at)}" if mail.sent_at else "Sent"
    if mail.state == "failed":
        return f"Failed: {mail.last_error}" if mail.last_error else "Failed"
    if mail.state == "held":
        return "Held: no mail server is configured"
    tried = f" (tried {mail.attempts} times: {mail.last_error})" if mail.attempts and mail.last_error else ""
    return f"Waiting to be sent{tried}"


@router.get("/outbox", include_in_schema=False)
def outbox_page(request: Request, csrf: Csrf, user: CurrentUser, store: StoreDep) -> Response:
    mails = store.mails(user.id, limit=SHOWN)
    context = {
        "active": "outbox",
        "mails": mails,
        "state_words": state_words,
        "held": any(m.state == "held" for m in mails),
        "zone": recruiting.zone(user.id) if (recruiting := request.app.state.recruiting) is not None else None,
    }
    return render(request, "outbox.html", context)


class MailOut(BaseModel):
    """One e-mail: ``state`` pending, sent, failed or held (no mail server configured);
    ``next_attempt`` when a pending one is tried; ``error`` why the last attempt failed."""

    id: int
    interview_id: int | None
    kind: str
    to: str
    subject: str
    body: str
    state: str
    created: datetime
    attempts: int
    next_attempt: datetime | None
    sent_at: datetime | None
    error: str


def _out(row: MailRow) -> MailOut:
    return MailOut(
        id=row.id, interview_id=row.interview_id, kind=row.kind, to=row.to, subject=row.subject, body=row.body,
        state=row.state, created=row.created, attempts=row.attempts, next_attempt=row.next_at, sent_at=row.sent_at,
        error=row.last_error,
    )  # fmt: skip


@api_router.get("", summary="The account's e-mails, newest first")
def api_outbox(user: ApiUser, store: StoreDep) -> list[MailOut]:
    return [_out(m) for m in store.mails(user.id, limit=SHOWN)]


router.include_router(api_router)
