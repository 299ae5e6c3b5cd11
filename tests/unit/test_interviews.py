"""The interview request state machine: every state × action × actor, table-driven."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mirrorcal.interviews import (
    ACTORS,
    OFFLINE_NOTE,
    TERMINAL,
    TRANSITIONS,
    Action,
    Actor,
    How,
    Request,
    State,
    TransitionRefused,
    allowed,
    apply,
    candidate_view,
    recruiter_view,
)

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
START, END = NOW + timedelta(hours=1), NOW + timedelta(hours=2)

# The expected table, written out by hand (not derived from TRANSITIONS): state -> {action: next}.
EXPECTED: dict[State, dict[Action, State]] = {
    State.REQUESTED: {
        Action.CONFIRM: State.SCHEDULED,
        Action.BOOK: State.SCHEDULED,
        Action.SCHEDULE_OFFLINE: State.SCHEDULED,
        Action.NOTICE_BOOKING: State.BOOKED_UNCONFIRMED,
        Action.CANCEL: State.CANCELLED,
        Action.DECLINE: State.DECLINED,
        Action.EXPIRE: State.EXPIRED,
        Action.REJECT: State.REJECTED,
    },
    State.BOOKED_UNCONFIRMED: {
        Action.CONFIRM: State.SCHEDULED,
        Action.BOOK: State.SCHEDULED,
        Action.SCHEDULE_OFFLINE: State.SCHEDULED,
        Action.MARK_SCHEDULED: State.SCHEDULED,
        Action.RESCHEDULE: State.RESCHEDULING,
        Action.CANCEL: State.CANCELLED,
        Action.DECLINE: State.DECLINED,
        Action.REJECT: State.REJECTED,
    },
    State.SCHEDULED: {
        Action.RESCHEDULE: State.RESCHEDULING,
        Action.CANCEL: State.CANCELLED,
        Action.DECLINE: State.DECLINED,
        Action.PASS: State.AWAITING_FEEDBACK,
        Action.REJECT: State.REJECTED,
        Action.HIRE: State.HIRED,
        Action.ADVANCE: State.ADVANCED,
    },
    State.RESCHEDULING: {
        Action.CONFIRM: State.SCHEDULED,
        Action.BOOK: State.SCHEDULED,
        Action.SCHEDULE_OFFLINE: State.SCHEDULED,
        Action.NOTICE_BOOKING: State.BOOKED_UNCONFIRMED,
        Action.CANCEL: State.CANCELLED,
        Action.DECLINE: State.DECLINED,
        Action.EXPIRE: State.EXPIRED,
        Action.REJECT: State.REJECTED,
    },
    State.AWAITING_FEEDBACK: {Action.REJECT: State.REJECTED, Action.HIRE: State.HIRED, Action.ADVANCE: State.ADVANCED},
    State.EXPIRED: {Action.RESEND: State.REQUESTED},
    State.CANCELLED: {},
    State.DECLINED: {},
    State.REJECTED: {},
    State.HIRED: {},
    State.ADVANCED: {},
}


def test_the_table_is_exactly_the_expected_one() -> None:
    got = {s: {a: n for (st, a), n in TRANSITIONS.items() if st == s} for s in State}
    assert got == EXPECTED
    assert TERMINAL == {State.CANCELLED, State.DECLINED, State.REJECTED, State.HIRED, State.ADVANCED}


def _kwargs(action: Action) -> dict[str, object]:
    if action is Action.DECLINE:
        return {"reason": "I accepted another offer"}
    if action is Action.BOOK:
        return {"starts_at": START, "ends_at": END}
    return {}


def _request(state: State) -> Request:
    how = How.LINK if state in (State.SCHEDULED, State.AWAITING_FEEDBACK) else None
    return Request(state=state, how=how, starts_at=START, ends_at=END)


CASES = [(s, a, who) for s in State for a in Action for who in Actor]


@pytest.mark.parametrize(("state", "action", "actor"), CASES, ids=[f"{s}-{a}-{w}" for s, a, w in CASES])
def test_every_state_action_and_actor(state: State, action: Action, actor: Actor) -> None:
    request = _request(state)
    at = END + timedelta(minutes=1)  # late enough for PASS
    target = EXPECTED[state].get(action)
    if target is None or actor not in ACTORS[action]:
        with pytest.raises(TransitionRefused) as refused:
            apply(request, action, actor, at, **_kwargs(action))  # type: ignore[arg-type]
        assert str(refused.value)  # a message to show
        assert request == _request(state)  # nothing changed (frozen, but say it)
        return
    after, transition = apply(request, action, actor, at, **_kwargs(action))  # type: ignore[arg-type]
    assert after.state is target
    assert (transition.before, transition.after, transition.actor, transition.at) == (state, target, actor, at)
    assert transition.note
    assert action in allowed(state, actor)


def test_the_seed_flow_candidate_confirms() -> None:
    request = Request()
    assert recruiter_view(request) == "Awaiting Response"
    request, t = apply(request, Action.CONFIRM, Actor.CANDIDATE, NOW)
    assert candidate_view(request) == "Scheduled"
    assert recruiter_view(request) == "Requires Action"
    assert "scheduled offline" in t.note
    request, _ = apply(request, Action.ADVANCE, Actor.RECRUITER, NOW)
    assert recruiter_view(request) == "Next round"


def test_schedule_offline_is_seen_as_offline_by_both_with_the_note() -> None:
    request, t = apply(Request(), Action.SCHEDULE_OFFLINE, Actor.RECRUITER, NOW)
    assert request.how is How.OFFLINE
    assert recruiter_view(request) == candidate_view(request) == "Scheduled offline"
    assert OFFLINE_NOTE in t.note


def test_booking_page_keeps_the_slot_and_passes_only_after_it_ends() -> None:
    request, _ = apply(Request(), Action.BOOK, Actor.CANDIDATE, NOW, starts_at=START, ends_at=END)
    assert (request.how, request.starts_at, request.ends_at) == (How.BOOKING_PAGE, START, END)
    assert recruiter_view(request) == "Scheduled"
    with pytest.raises(TransitionRefused, match="before its end"):
        apply(request, Action.PASS, Actor.SYSTEM, END - timedelta(minutes=1))
    request, _ = apply(request, Action.PASS, Actor.SYSTEM, END)
    assert recruiter_view(request) == "Requires Action"


def test_rescheduling_forgets_the_old_slot() -> None:
    request, _ = apply(Request(), Action.BOOK, Actor.CANDIDATE, NOW, starts_at=START, ends_at=END)
    request, _ = apply(request, Action.RESCHEDULE, Actor.CANDIDATE, NOW)
    assert (request.how, request.starts_at, request.ends_at) == (None, None, None)
    assert candidate_view(request) == "Choose a new time"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"action": Action.DECLINE, "actor": Actor.CANDIDATE}, "reason"),
        ({"action": Action.DECLINE, "actor": Actor.CANDIDATE, "reason": "   "}, "reason"),
        ({"action": Action.BOOK, "actor": Actor.CANDIDATE}, "start and end"),
        ({"action": Action.BOOK, "actor": Actor.CANDIDATE, "starts_at": START}, "both"),
        ({"action": Action.BOOK, "actor": Actor.CANDIDATE, "starts_at": END, "ends_at": START}, "end after"),
        ({"action": Action.BOOK, "actor": Actor.CANDIDATE, "starts_at": START.replace(tzinfo=None), "ends_at": END}, "time zone"),
        ({"action": Action.HIRE, "actor": Actor.CANDIDATE}, "not something the candidate"),
        ({"action": Action.HIRE, "actor": Actor.RECRUITER}, "waiting for the candidate"),
    ],
)
def test_refusals_say_why(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(TransitionRefused, match=message):
        apply(Request(), at=NOW, **kwargs)  # type: ignore[arg-type]


def test_decline_keeps_the_reason_and_the_note_names_it() -> None:
    request, t = apply(Request(), Action.DECLINE, Actor.CANDIDATE, NOW, reason=" took another role ")
    assert request.reason == "took another role"
    assert "took another role" in t.note


def test_a_noticed_booking_brings_its_time_and_one_click_marks_it_scheduled() -> None:
    request, _ = apply(Request(), Action.NOTICE_BOOKING, Actor.SYSTEM, NOW, starts_at=START, ends_at=END)
    assert recruiter_view(request) == "Booked, not confirmed"
    assert Action.MARK_SCHEDULED in allowed(request.state, Actor.RECRUITER)
    request, _ = apply(request, Action.MARK_SCHEDULED, Actor.RECRUITER, NOW)
    assert (request.state, request.how, request.starts_at) == (State.SCHEDULED, How.LINK, START)
