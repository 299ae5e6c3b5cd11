"""Interview requests: one stored state per request, the actions that move it, and what each side sees.

A recruiter sends a candidate an interview request with a scheduling link (the flow of
``seeds/000_…``: Interview → scheduling link → Send; the request shows "Awaiting Response" until
the candidate acts). This module is the pure core of that flow: no I/O, no clock of its own.

- ``State`` is the one stored state. ``scheduled`` also keeps *how* (``How``: the candidate
  confirmed after using the link, the recruiter scheduled it offline, or our booking page).
- ``Action`` is what can happen, with the actors allowed to do it (``ACTORS``).
- ``TRANSITIONS`` is the whole table: ``(state, action) -> next state``. Anything not in it is
  refused with ``TransitionRefused`` (the web app answers 409 with its message) and changes
  nothing. ``apply`` returns the new request and the ``Transition`` to record (who, when, from,
  to, and a note), plus the system note for the chat thread.
- ``recruiter_view`` / ``candidate_view`` derive the label each side sees; the candidate's never
  says anything the recruiter's side decides internally (e.g. "Requires Action").
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from .errors import MirrorcalError

OFFLINE_NOTE = "This interview is being scheduled outside of mirrorcal"


class State(StrEnum):
    REQUESTED = "requested"
    BOOKED_UNCONFIRMED = "booked_unconfirmed"
    SCHEDULED = "scheduled"
    RESCHEDULING = "rescheduling"
    CANCELLED = "cancelled"
    DECLINED = "declined"
    EXPIRED = "expired"
    AWAITING_FEEDBACK = "awaiting_feedback"
    REJECTED = "rejected"
    HIRED = "hired"
    ADVANCED = "advanced"


class How(StrEnum):
    """How a scheduled interview was scheduled."""

    LINK = "link"  # the candidate booked through the scheduling link and confirmed (or the recruiter did)
    OFFLINE = "offline"  # the recruiter chose Progress → Schedule offline
    BOOKING_PAGE = "booking_page"  # the candidate booked a slot on our own booking page


class Actor(StrEnum):
    RECRUITER = "recruiter"
    CANDIDATE = "candidate"
    SYSTEM = "system"


class Action(StrEnum):
    CONFIRM = "confirm"  # candidate: "I have booked it"
    NOTICE_BOOKING = "notice_booking"  # system: an event with the candidate's e-mail appeared on a synced calendar
    MARK_SCHEDULED = "mark_scheduled"  # recruiter: one click after a booking was noticed
    SCHEDULE_OFFLINE = "schedule_offline"  # recruiter: Progress → Schedule offline
    BOOK = "book"  # candidate: a slot on our booking page
    RESCHEDULE = "reschedule"  # either side asks for a new time
    CANCEL = "cancel"  # either side calls it off
    DECLINE = "decline"  # candidate, with a reason
    EXPIRE = "expire"  # system: no answer within the request's lifetime
    PASS = "pass"  # system: the interview's end time has passed
    REJECT = "reject"  # recruiter progress
    HIRE = "hire"  # recruiter progress
    ADVANCE = "advance"  # recruiter progress: the next round's request was sent
    RESEND = "resend"  # recruiter: send an expired request again


ACTORS: dict[Action, frozenset[Actor]] = {
    Action.CONFIRM: frozenset({Actor.CANDIDATE}),
    Action.NOTICE_BOOKING: frozenset({Actor.SYSTEM}),
    Action.MARK_SCHEDULED: frozenset({Actor.RECRUITER}),
    Action.SCHEDULE_OFFLINE: frozenset({Actor.RECRUITER}),
    Action.BOOK: frozenset({Actor.CANDIDATE}),
    Action.RESCHEDULE: frozenset({Actor.CANDIDATE, Actor.RECRUITER}),
    Action.CANCEL: frozenset({Actor.CANDIDATE, Actor.RECRUITER}),
    Action.DECLINE: frozenset({Actor.CANDIDATE}),
    Action.EXPIRE: frozenset({Actor.SYSTEM}),
    Action.PASS: frozenset({Actor.SYSTEM}),
    Action.REJECT: frozenset({Actor.RECRUITER}),
    Action.HIRE: frozenset({Actor.RECRUITER}),
    Action.ADVANCE: frozenset({Actor.RECRUITER}),
    Action.RESEND: frozenset({Actor.RECRUITER}),
}

S, A = State, Action
_OPEN = (S.REQUESTED, S.BOOKED_UNCONFIRMED, S.RESCHEDULING)
"""States where the candidate has not (re)booked yet."""

TRANSITIONS: dict[tuple[State, Action], State] = {
    **{(s, A.CONFIRM): S.SCHEDULED for s in _OPEN},
    **{(s, A.BOOK): S.SCHEDULED for s in _OPEN},
    **{(s, A.SCHEDULE_OFFLINE): S.SCHEDULED for s in _OPEN},
    (S.REQUESTED, A.NOTICE_BOOKING): S.BOOKED_UNCONFIRMED,
    (S.RESCHEDULING, A.NOTICE_BOOKING): S.BOOKED_UNCONFIRMED,
    (S.BOOKED_UNCONFIRMED, A.MARK_SCHEDULED): S.SCHEDULED,
    **{(s, A.RESCHEDULE): S.RESCHEDULING for s in (S.BOOKED_UNCONFIRMED, S.SCHEDULED)},
    **{(s, A.CANCEL): S.CANCELLED for s in (*_OPEN, S.SCHEDULED)},
    **{(s, A.DECLINE): S.DECLINED for s in (*_OPEN, S.SCHEDULED)},
    (S.REQUESTED, A.EXPIRE): S.EXPIRED,
    (S.RESCHEDULING, A.EXPIRE): S.EXPIRED,
    (S.SCHEDULED, A.PASS): S.AWAITING_FEEDBACK,
    **{(s, A.REJECT): S.REJECTED for s in (*_OPEN, S.SCHEDULED, S.AWAITING_FEEDBACK)},
    **{(s, A.HIRE): S.HIRED for s in (S.SCHEDULED, S.AWAITING_FEEDBACK)},
    **{(s, A.ADVANCE): S.ADVANCED for s in (S.SCHEDULED, S.AWAITING_FEEDBACK)},
    (S.EXPIRED, A.RESEND): S.REQUESTED,
}
"""Every allowed move; the rest is refused."""

TERMINAL = frozenset(s for s in State if not any(k[0] == s for k in TRANSITIONS))
"""States nothing leaves (cancelled, declined, rejected, hired, advanced)."""

_HOW = {A.CONFIRM: How.LINK, A.MARK_SCHEDULED: How.LINK, A.SCHEDULE_OFFLINE: How.OFFLINE, A.BOOK: How.BOOKING_PAGE}


class TransitionRefused(MirrorcalError):
    """An action not allowed in the request's state, or by that actor; nothing was changed."""


@dataclass(frozen=True, slots=True)
class Request:
    """The stored state of one interview request (the fields the state machine reads and writes).

    ``starts_at``/``ends_at`` are known once a time is booked (booking page, or a booking noticed
    in the calendars); ``how`` only while scheduled or after; ``reason`` holds a decline's reason.
    """

    state: State = State.REQUESTED
    how: How | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Transition:
    """One recorded move: who did what, when, from which state to which, and the chat note."""

    action: Action
    actor: Actor
    at: datetime
    before: State
    after: State
    note: str


def allowed(state: State, actor: Actor) -> list[Action]:
    """The actions ``actor`` may take in ``state`` (what the pages offer as buttons)."""
    return [a for (s, a) in TRANSITIONS if s == state and actor in ACTORS[a]]


def apply(
    request: Request,
    action: Action,
    actor: Actor,
    at: datetime,
    *,
    reason: str = "",
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
) -> tuple[Request, Transition]:
    """The request after ``actor`` takes ``action`` at ``at``, and the transition to record.

    ``reason`` is required to decline; ``starts_at``/``ends_at`` (aware, start before end) are
    required to book and may come with a noticed booking or a confirmation. Raises
    ``TransitionRefused`` naming the state and action when the move is not allowed.
    """
    if actor not in ACTORS[action]:
        raise TransitionRefused(f"{_words(action)} is not something the {actor.value} can do")
    after = TRANSITIONS.get((request.state, action))
    if after is None:
        raise TransitionRefused(f"cannot {_words(action)}: the interview is {describe(request.state)}")
    reason = reason.strip()
    if action is A.DECLINE and not reason:
        raise TransitionRefused("say why you are declining (a reason is required)")
    if action is A.PASS and (request.ends_at is None or at < request.ends_at):
        raise TransitionRefused("cannot mark the interview as held before its end time")
    if (starts_at is None) != (ends_at is None):
        raise TransitionRefused("a booking needs both a start and an end")
    if starts_at is not None and ends_at is not None:
        if starts_at.tzinfo is None or ends_at.tzinfo is None or ends_at <= starts_at:
            raise TransitionRefused("a booking must end after it starts (with a time zone)")
    elif action is A.BOOK:
        raise TransitionRefused("a booking needs the slot's start and end")
    how = _HOW.get(action, request.how if after is not S.REQUESTED else None)
    if after in (S.RESCHEDULING, S.REQUESTED):
        how = None
    keep_time = after not in (S.RESCHEDULING, S.REQUESTED)
    updated = replace(
        request,
        state=after,
        how=how,
        starts_at=starts_at if starts_at is not None else (request.starts_at if keep_time else None),
        ends_at=ends_at if ends_at is not None else (request.ends_at if keep_time else None),
        reason=reason if action is A.DECLINE else request.reason,
    )
    return updated, Transition(action, actor, at, request.state, after, _note(action, actor, updated))


def describe(state: State) -> str:
    return {
        S.REQUESTED: "waiting for the candidate",
        S.BOOKED_UNCONFIRMED: "booked but not yet confirmed",
        S.SCHEDULED: "scheduled",
        S.RESCHEDULING: "being rescheduled",
        S.CANCELLED: "cancelled",
        S.DECLINED: "declined by the candidate",
        S.EXPIRED: "expired",
        S.AWAITING_FEEDBACK: "over and awaiting feedback",
        S.REJECTED: "closed: the candidate was rejected",
        S.HIRED: "closed: the candidate was hired",
        S.ADVANCED: "closed: the candidate moved to the next round",
    }[state]


def _words(action: Action) -> str:
    return {
        A.CONFIRM: "confirm the booking",
        A.NOTICE_BOOKING: "note a booking",
        A.MARK_SCHEDULED: "mark it as scheduled",
        A.SCHEDULE_OFFLINE: "schedule it offline",
        A.BOOK: "book a slot",
        A.RESCHEDULE: "reschedule",
        A.CANCEL: "cancel",
        A.DECLINE: "decline",
        A.EXPIRE: "expire the request",
        A.PASS: "mark the interview as held",
        A.REJECT: "reject the candidate",
        A.HIRE: "hire the candidate",
        A.ADVANCE: "move the candidate to the next round",
        A.RESEND: "send the request again",
    }[action]


def _note(action: Action, actor: Actor, request: Request) -> str:
    """The system note the chat thread shows for this move."""
    if request.how is How.OFFLINE and action is A.SCHEDULE_OFFLINE:
        return f"Interview scheduled offline. {OFFLINE_NOTE}."
    return {
        A.CONFIRM: "The candidate confirmed the booking: the interview is scheduled offline.",
        A.NOTICE_BOOKING: "A booking with the candidate appeared in the calendar; waiting for confirmation.",
        A.MARK_SCHEDULED: "The recruiter marked the interview as scheduled.",
        A.SCHEDULE_OFFLINE: f"Interview scheduled offline. {OFFLINE_NOTE}.",
        A.BOOK: "The candidate booked a slot: the interview is scheduled.",
        A.RESCHEDULE: f"The {actor.value} asked to reschedule.",
        A.CANCEL: f"The {actor.value} cancelled the interview.",
        A.DECLINE: f"The candidate declined: {request.reason}",
        A.EXPIRE: "The request expired without an answer.",
        A.PASS: "The interview time has passed: awaiting feedback.",
        A.REJECT: "The recruiter closed the process: not progressing.",
        A.HIRE: "The recruiter marked the candidate as hired.",
        A.ADVANCE: "The candidate moved on to the next interview round.",
        A.RESEND: "The recruiter sent the request again.",
    }[action]


def recruiter_view(request: Request) -> str:
    """The status the recruiter sees (the seed's words where it has them)."""
    state = request.state
    if state is S.SCHEDULED:
        if request.how is How.OFFLINE:
            return "Scheduled offline"
        if request.how is How.BOOKING_PAGE:
            return "Scheduled"  # its time is known; it needs the recruiter once it is over
        return "Requires Action"  # booked elsewhere and confirmed: the recruiter progresses the candidate
    return {
        S.REQUESTED: "Awaiting Response",
        S.BOOKED_UNCONFIRMED: "Booked, not confirmed",
        S.RESCHEDULING: "Rescheduling",
        S.CANCELLED: "Cancelled",
        S.DECLINED: "Declined",
        S.EXPIRED: "Expired",
        S.AWAITING_FEEDBACK: "Requires Action",
        S.REJECTED: "Rejected",
        S.HIRED: "Hired",
        S.ADVANCED: "Next round",
    }[state]


def candidate_view(request: Request) -> str:
    """The status the candidate sees: never the recruiter's internal outcome before it is told."""
    state = request.state
    if state is S.SCHEDULED:
        return "Scheduled offline" if request.how is How.OFFLINE else "Scheduled"
    return {
        S.REQUESTED: "Schedule your interview",
        S.BOOKED_UNCONFIRMED: "Please confirm your booking",
        S.RESCHEDULING: "Choose a new time",
        S.CANCELLED: "Cancelled",
        S.DECLINED: "Declined",
        S.EXPIRED: "Expired",
        S.AWAITING_FEEDBACK: "Interview done: awaiting feedback",
        S.REJECTED: "Closed",
        S.HIRED: "Offer stage",
        S.ADVANCED: "Next round",
    }[state]
