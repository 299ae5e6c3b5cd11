"""The recruiting service (``mirrorcal.recruiting``) over a MemoryStore: candidates, requests and
their moves (recorded, noted in the chat, mailed, announced), the chat, the sweeps on an injected
clock, noticed bookings, and what the candidates' mails say (and never say)."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from mirrorcal import ical
from mirrorcal.accounts import token_hash
from mirrorcal.interviews import OFFLINE_NOTE, Action, Actor, TransitionRefused
from mirrorcal.recruiting import (
    STATUS_EVENT,
    Change,
    RaceLost,
    Recruiting,
    RecruitingError,
    status_event,
    time_in_words,
)
from mirrorcal.secrets import Vault
from mirrorcal.store.base import CachedItem, CandidateRow, InterviewRow, MailRow
from mirrorcal.store.memory import MemoryStore

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday
SLOT = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)  # Tuesday 10:00 in Berlin
BASE = "https://mirrorcal.example.test"
RECRUITER = "ada@recruit.example.test"


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class World:
    """A store with two accounts (Ada, the recruiter under test, and Bob), the service, its clock
    and what ``on_change`` heard."""

    def __init__(self, *, mail_enabled: bool = True, store: MemoryStore | None = None) -> None:
        self.store = store or MemoryStore()
        self.ada = self.store.create_user(RECRUITER, "$argon2id$x", "personal", T0).id
        self.bob = self.store.create_user("bob@other.example.test", "$argon2id$y", "personal", T0).id
        self.clock = Clock()
        self.changes: list[Change] = []
        self.service = Recruiting(
            self.store,
            Vault(Vault.generate_key()),
            base_url=BASE + "/",
            mail_enabled=mail_enabled,
            on_change=self.changes.append,
            clock=self.clock,
        )

    def grace(self, user_id: int | None = None, /, **fields: str) -> CandidateRow:
        given = {"name": "Grace Hopper", "email": "Grace@Example.test", "client": "Acme GmbH", "role": "Backend engineer"}
        return self.service.add_candidate(self.ada if user_id is None else user_id, **(given | fields))

    def send(self, cand: CandidateRow, **kw: object) -> tuple[InterviewRow, str]:
        args: dict[str, object] = {"link_kind": "link", "url": "https://cal.example.test/ada/45", "message": "Looking forward to it!"}
        return self.service.send_request(cand.user_id, cand.id, **(args | kw))  # type: ignore[arg-type]

    def act(self, row: InterviewRow, action: Action, actor: Actor, /, **kw: object) -> InterviewRow:
        return self.service.act(row.user_id, row.id, action, actor, **kw)  # type: ignore[arg-type]

    def row(self, interview_id: int) -> InterviewRow:
        found = self.store.interview(self.ada, interview_id)
        assert found is not None
        return found

    def mails(self, kind: str | None = None) -> list[MailRow]:
        every = sorted(self.store.mails(self.ada) + self.store.mails(self.bob), key=lambda m: m.id)
        return [m for m in every if kind is None or m.kind == kind]

    def notes(self, cand: CandidateRow) -> list[str]:
        return [m.body for m in self.store.messages(cand.user_id, cand.id) if m.author == "system"]


@pytest.fixture
def w() -> World:
    return World()


# candidates -------------------------------------------------------------------------------------
def test_a_candidate_is_added_tidied_and_edited_only_by_its_account(w: World) -> None:
    grace = w.grace(name="  Grace   Hopper ", client=" Acme  GmbH")
    assert (grace.name, grace.email, grace.client, grace.role) == ("Grace Hopper", "grace@example.test", "Acme GmbH", "Backend engineer")
    assert w.store.candidates(w.ada) == [grace]
    edited = w.service.edit_candidate(w.ada, grace.id, name="Grace B. Hopper", email="gbh@example.test", client="Acme", role="CTO")
    assert edited is not None and (edited.name, edited.email, edited.client, edited.role) == ("Grace B. Hopper", "gbh@example.test", "Acme", "CTO")
    assert w.store.candidate(w.ada, grace.id) == edited
    assert w.service.edit_candidate(w.bob, grace.id, name="X", email="x@example.test", client="X", role="X") is None
    assert w.service.edit_candidate(w.ada, 999, name="X", email="x@example.test", client="X", role="X") is None
    assert w.store.candidate(w.ada, grace.id) == edited


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "   ", "Enter the candidate's name"),
        ("name", "x" * 121, "at most 120 characters"),
        ("name", "Grace\x00Hopper", "control characters"),
        ("email", "grace", "is not an e-mail address"),
        ("email", "grace@localhost", "is not an e-mail address"),
        ("client", "", "Enter the client's name"),
        ("role", "r" * 121, "at most 120 characters for the role"),
    ],
)
def test_bad_candidate_input_names_the_field(w: World, field: str, value: str, message: str) -> None:
    with pytest.raises(RecruitingError, match=message) as caught:
        w.grace(**{field: value})
    assert caught.value.field == field
    assert w.store.candidates(w.ada) == []
    grace = w.grace()
    with pytest.raises(RecruitingError) as again:
        w.service.edit_candidate(w.ada, grace.id, **({"name": "G", "email": "g@example.test", "client": "C", "role": "R"} | {field: value}))
    assert again.value.field == field
    assert w.store.candidate(w.ada, grace.id) == grace


# sending a request ------------------------------------------------------------------------------
def test_sending_a_request_stores_it_with_a_private_link_mails_notes_and_announces(w: World) -> None:
    grace = w.grace()
    row, token = w.send(grace)
    assert (row.round, row.title, row.link_kind, row.url, row.state, row.how, row.duration_minutes) == (
        1, "Interview 1", "link", "https://cal.example.test/ada/45", "requested", None, 45
    )  # fmt: skip
    assert (row.sent_at, row.updated, row.reminded_at) == (T0, T0, None)
    assert row.token_hash == token_hash(token) and token not in row.token_sealed
    assert w.service.link(row) == f"{BASE}/i/{token}"
    assert w.service.by_token(token) == (row, grace)
    assert w.service.by_token(token + "x") is None and w.service.by_token("") is None
    (mail,) = w.mails()
    assert (mail.kind, mail.to, mail.state, mail.interview_id, mail.user_id) == ("invitation", "grace@example.test", "pending", row.id, w.ada)
    assert mail.subject == "Interview request: Backend engineer at Acme GmbH"
    assert f"{BASE}/i/{token}" in mail.body
    assert w.notes(grace) == ["Interview request sent: Interview 1"]
    assert w.store.transitions(row.id) == []
    assert w.changes == [Change(row, grace, None)]
    data = status_event(w.changes[0])
    assert data == {
        "interview": {
            "id": row.id, "round": 1, "title": "Interview 1", "state": "requested", "how": None,
            "recruiter_status": "Awaiting Response", "candidate_status": "Schedule your interview",
            "starts_at": None, "ends_at": None,
        },
        "candidate": {"id": grace.id, "name": "Grace Hopper", "email": "grace@example.test", "client": "Acme GmbH", "role": "Backend engineer"},
        "action": None, "actor": None, "before": None, "after": "requested",
    }  # fmt: skip
    assert STATUS_EVENT == "interview.status_changed"


def test_the_invitation_reads_like_a_letter_from_the_recruiter(w: World) -> None:
    grace = w.grace()
    row, token = w.send(grace, message="Hi Grace,\nthe team would love to meet you.", title="Technical interview", duration_minutes=60)
    (mail,) = w.mails()
    assert mail.body == (
        "Hello Grace Hopper,\n\n"
        "You are invited to an interview for the role of Backend engineer at Acme GmbH.\n\n"
        "Technical interview (60 minutes)\n\n"
        "Hi Grace,\nthe team would love to meet you.\n\n"
        "Open this page, press Schedule Interview to book a time, then come back and confirm you have booked it:\n"
        f"{BASE}/i/{token}\n\n"
        "The link is personal to you: please do not share it. On the same page you can send a message or decline the interview.\n\n"
        f"Kind regards,\n{RECRUITER}\n"
    )


def test_a_booking_page_request_ignores_the_url_and_held_mail_waits_in_the_outbox() -> None:
    w = World(mail_enabled=False)
    grace = w.grace()
    row, token = w.send(grace, link_kind="booking_page", url="not even a url", message="")
    assert (row.link_kind, row.url, row.message) == ("booking_page", "", "")
    (mail,) = w.mails()
    assert mail.state == "held" and "Choose a time that suits you on this page:" in mail.body
    assert "\n\n\n" not in mail.body  # no empty paragraph for the missing message


@pytest.mark.parametrize(
    ("field", "changes", "message"),
    [
        ("url", {"url": ""}, "Enter the scheduling link"),
        ("url", {"url": "ftp://cal.example.test/x"}, "http or https"),
        ("url", {"url": "https:///nohost"}, "http or https"),
        ("url", {"url": "https://cal.example.test/a b"}, "spaces"),
        ("url", {"url": "https://cal.example.test:99999/"}, "not a valid web address"),
        ("url", {"url": "https://cal.example.test/" + "x" * 2000}, "at most 2000"),
        ("message", {"message": "m" * 4001}, "at most 4000 characters for the message"),
        ("message", {"message": "hello\x00world"}, "control characters"),
        ("title", {"title": "t" * 201}, "at most 200"),
        ("duration_minutes", {"duration_minutes": 9}, "10 to 480 minutes"),
        ("duration_minutes", {"duration_minutes": 481}, "10 to 480 minutes"),
        ("link_kind", {"link_kind": "carrier pigeon"}, "schedule type"),
    ],
)
def test_bad_request_input_names_the_field_and_sends_nothing(w: World, field: str, changes: dict[str, object], message: str) -> None:
    grace = w.grace()
    with pytest.raises(RecruitingError, match=message) as caught:
        w.send(grace, **changes)
    assert caught.value.field == field
    assert (w.store.interviews(w.ada), w.mails(), w.changes) == ([], [], [])


def test_one_open_request_per_candidate_and_rounds_count_on(w: World) -> None:
    grace = w.grace()
    first, _ = w.send(grace)
    for state in ("requested", "booked_unconfirmed", "rescheduling", "scheduled", "awaiting_feedback"):
        w.store.save_interview(replace(w.row(first.id), state=state))
        with pytest.raises(TransitionRefused, match="Grace Hopper already has an open request"):
            w.send(grace)
    w.store.save_interview(replace(w.row(first.id), state="declined"))
    second, _ = w.send(grace, title="  Final   round ")
    assert (second.round, second.title) == (2, "Final round")
    third_cand = w.grace(name="Alan Turing", email="alan@example.test")
    assert w.send(third_cand)[0].title == "Interview 1"


def test_unknown_or_foreign_candidates_and_requests_are_not_found(w: World) -> None:
    grace = w.grace()
    row, _ = w.send(grace)
    with pytest.raises(LookupError):
        w.service.send_request(w.bob, grace.id, link_kind="link", url="https://x.example.test")
    with pytest.raises(LookupError):
        w.service.act(w.bob, row.id, Action.CANCEL, Actor.RECRUITER)
    with pytest.raises(LookupError):
        w.service.act(w.ada, 999, Action.CANCEL, Actor.RECRUITER)
    with pytest.raises(LookupError):
        w.service.post_message(w.bob, grace.id, Actor.RECRUITER, "hello")
    assert w.store.interview(w.ada, row.id) == row


def test_a_vault_can_be_loaded_on_first_use() -> None:
    store = MemoryStore()
    user = store.create_user(RECRUITER, "$argon2id$x", "personal", T0)
    loaded: list[Vault] = []

    def load() -> Vault:
        loaded.append(Vault(Vault.generate_key()))
        return loaded[-1]

    service = Recruiting(store, load, base_url=BASE, mail_enabled=True, clock=Clock())
    assert loaded == []
    cand = service.add_candidate(user.id, name="Grace", email="g@example.test", client="Acme", role="Dev")
    row, token = service.send_request(user.id, cand.id, link_kind="booking_page")
    assert len(loaded) == 1 and service.link(row) == f"{BASE}/i/{token}"


# moves ------------------------------------------------------------------------------------------
END = SLOT + timedelta(minutes=45)

MOVES = [
    # (id, moves before, the move, its extra arguments, state after, how, mails as (kind, to whom))
    ("candidate confirms", [], (Action.CONFIRM, Actor.CANDIDATE), {}, "scheduled", "link",
     [("scheduled", "candidate"), ("candidate_confirm", "recruiter")]),
    ("candidate books a slot", [], (Action.BOOK, Actor.CANDIDATE), {"starts_at": SLOT, "ends_at": END, "booking_calendar": "personal", "booking_uid": "b-1"},
     "scheduled", "booking_page", [("scheduled", "candidate"), ("candidate_book", "recruiter")]),
    ("recruiter schedules offline", [], (Action.SCHEDULE_OFFLINE, Actor.RECRUITER), {}, "scheduled", "offline", [("scheduled", "candidate")]),
    ("candidate declines", [], (Action.DECLINE, Actor.CANDIDATE), {"reason": " Took another offer "}, "declined", None,
     [("candidate_decline", "recruiter")]),
    ("recruiter cancels", [], (Action.CANCEL, Actor.RECRUITER), {}, "cancelled", None, [("cancelled", "candidate")]),
    ("candidate cancels", [(Action.CONFIRM, Actor.CANDIDATE)], (Action.CANCEL, Actor.CANDIDATE), {}, "cancelled", "link",
     [("candidate_cancel", "recruiter")]),
    ("candidate asks to reschedule", [(Action.CONFIRM, Actor.CANDIDATE)], (Action.RESCHEDULE, Actor.CANDIDATE), {}, "rescheduling", None,
     [("candidate_reschedule", "recruiter")]),
    ("recruiter asks to reschedule", [(Action.SCHEDULE_OFFLINE, Actor.RECRUITER)], (Action.RESCHEDULE, Actor.RECRUITER), {},
     "rescheduling", None, [("reschedule", "candidate")]),
    ("recruiter rejects", [], (Action.REJECT, Actor.RECRUITER), {}, "rejected", None, []),
    ("recruiter hires", [(Action.SCHEDULE_OFFLINE, Actor.RECRUITER)], (Action.HIRE, Actor.RECRUITER), {}, "hired", "offline", []),
    ("a booking is noticed", [], (Action.NOTICE_BOOKING, Actor.SYSTEM), {"starts_at": SLOT, "ends_at": END}, "booked_unconfirmed", None,
     [("candidate_notice_booking", "recruiter")]),
    ("recruiter marks it scheduled", [(Action.NOTICE_BOOKING, Actor.SYSTEM)], (Action.MARK_SCHEDULED, Actor.RECRUITER), {}, "scheduled",
     "link", [("scheduled", "candidate")]),
]  # fmt: skip


@pytest.mark.parametrize(("before", "move", "extra", "state", "how", "mails"), [m[1:] for m in MOVES], ids=[m[0] for m in MOVES])
def test_every_move_is_recorded_noted_mailed_and_announced(
    w: World,
    before: list[tuple[Action, Actor]],
    move: tuple[Action, Actor],
    extra: dict[str, object],
    state: str,
    how: str | None,
    mails: list[tuple[str, str]],
) -> None:
    grace = w.grace()
    row, _ = w.send(grace)
    for action, actor in before:
        times = {"starts_at": SLOT, "ends_at": END} if action is Action.NOTICE_BOOKING else {}
        w.clock.now += timedelta(minutes=5)
        row = w.act(row, action, actor, **times)
    already = len(w.mails())
    w.clock.now += timedelta(hours=1)
    moved = w.act(row, *move, **extra)
    assert (moved.state, moved.how, moved.updated, moved.version) == (state, how, w.clock.now, row.version + 1)
    assert w.store.interview(w.ada, row.id) == moved
    last = w.store.transitions(row.id)[-1]
    assert (last.action, last.actor, last.at, last.before, last.after) == (move[0].value, move[1].value, w.clock.now, row.state, state)
    assert len(w.store.transitions(row.id)) == len(before) + 1
    assert w.notes(grace)[-1] == last.note and w.notes(grace)[0] == "Interview request sent: Interview 1"
    assert len(w.notes(grace)) == len(before) + 2
    assert w.changes[-1] == Change(moved, grace, last)
    whom = {"candidate": "grace@example.test", "recruiter": RECRUITER}
    assert [(m.kind, m.to) for m in w.mails()[already:]] == [(k, whom[t]) for k, t in mails]
    if move[0] is Action.DECLINE:
        assert moved.reason == "Took another offer" and "Took another offer" in last.note
        assert "Their reason: Took another offer" in w.mails()[-1].body
    if move[0] is Action.SCHEDULE_OFFLINE:
        assert OFFLINE_NOTE in last.note
    if "booking_uid" in extra:
        assert (moved.booking_calendar, moved.booking_uid, moved.starts_at, moved.ends_at) == ("personal", "b-1", SLOT, END)
    if state == "rescheduling":
        assert (moved.starts_at, moved.booking_uid) == (None, "")
    data = status_event(w.changes[-1])
    assert (data["action"], data["actor"], data["before"], data["after"]) == (move[0].value, move[1].value, row.state, state)


def test_a_refused_move_changes_nothing(w: World) -> None:
    grace = w.grace()
    row, _ = w.send(grace)
    before = (w.mails(), w.notes(grace), len(w.changes))
    for action, actor, kw, message in [
        (Action.HIRE, Actor.RECRUITER, {}, "cannot hire the candidate: the interview is waiting for the candidate"),
        (Action.CONFIRM, Actor.RECRUITER, {}, "not something the recruiter can do"),
        (Action.DECLINE, Actor.CANDIDATE, {"reason": "  "}, "a reason is required"),
        (Action.BOOK, Actor.CANDIDATE, {}, "needs the slot's start and end"),
    ]:
        with pytest.raises(TransitionRefused, match=message):
            w.act(row, action, actor, **kw)
    with pytest.raises(RecruitingError, match="at most 4000") as caught:
        w.act(row, Action.DECLINE, Actor.CANDIDATE, reason="r" * 4001)
    assert caught.value.field == "reason"
    assert w.store.interview(w.ada, row.id) == row
    assert w.store.transitions(row.id) == []
    assert (w.mails(), w.notes(grace), len(w.changes)) == before


def test_a_lost_race_raises_race_lost_and_records_nothing() -> None:
    class Interleaved(MemoryStore):
        """A real MemoryStore that lets another writer in just before the next save."""

        cut_in: list[object] = []

        def save_interview(self, row: InterviewRow) -> InterviewRow | None:
            while self.cut_in:
                self.cut_in.pop()()  # type: ignore[operator]
            return super().save_interview(row)

    store = Interleaved()
    w = World(store=store)
    grace = w.grace()
    row, _ = w.send(grace)
    store.cut_in.append(lambda: w.act(row, Action.DECLINE, Actor.CANDIDATE, reason="Found another job"))
    with pytest.raises(RaceLost, match="someone else changed this interview"):
        w.act(row, Action.SCHEDULE_OFFLINE, Actor.RECRUITER)
    assert w.store.interview(w.ada, row.id).state == "declined"  # type: ignore[union-attr]
    assert [t.action for t in w.store.transitions(row.id)] == ["decline"]
    assert [m.kind for m in w.mails()] == ["invitation", "candidate_decline"]
    assert issubclass(RaceLost, TransitionRefused)


def test_two_sends_at_once_make_one_request(w: World) -> None:
    """A double-click on Send: checking for an open request and making one go together."""
    grace = w.grace()
    results: list[str] = []
    barrier = threading.Barrier(6)

    def go() -> None:
        barrier.wait()
        try:
            w.send(grace)
            results.append("sent")
        except TransitionRefused:
            results.append("refused")

    threads = [threading.Thread(target=go) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["refused"] * 5 + ["sent"]
    assert len(w.store.interviews(w.ada, grace.id)) == 1 and len(w.mails("invitation")) == 1


def test_resend_is_refused_while_another_request_is_open(w: World) -> None:
    grace = w.grace()
    old, _ = w.send(grace)
    w.store.save_interview(replace(w.row(old.id), state="expired"))
    w.send(grace)  # the next one went out meanwhile
    with pytest.raises(TransitionRefused, match="already has an open request"):
        w.act(w.row(old.id), Action.RESEND, Actor.RECRUITER)
    assert w.row(old.id).state == "expired" and w.store.transitions(old.id) == []


def test_a_booking_page_request_is_booked_there_not_confirmed(w: World) -> None:
    row, _ = w.send(w.grace(), link_kind="booking_page")
    with pytest.raises(TransitionRefused, match="booked on the booking page"):
        w.act(row, Action.CONFIRM, Actor.CANDIDATE)
    assert w.row(row.id).state == "requested"


def test_a_move_on_a_request_that_moved_on_since_it_was_read_is_refused(w: World) -> None:
    row, _ = w.send(w.grace())
    w.act(row, Action.CONFIRM, Actor.CANDIDATE)
    with pytest.raises(TransitionRefused, match="cannot confirm the booking: the interview is scheduled"):
        w.service.act(w.ada, row.id, Action.CONFIRM, Actor.CANDIDATE, version=row.version)  # not allowed any more
    with pytest.raises(RaceLost):  # allowed now, but on a newer request than the caller read
        w.service.act(w.ada, row.id, Action.CANCEL, Actor.CANDIDATE, version=row.version)
    assert w.row(row.id).state == "scheduled"


def test_parallel_moves_one_wins(w: World) -> None:
    grace = w.grace()
    row, _ = w.send(grace)
    results: list[str] = []
    barrier = threading.Barrier(8)

    def go(n: int) -> None:
        barrier.wait()
        try:
            if n % 2:  # either move ends the other's chance: scheduled allows neither
                w.act(row, Action.CONFIRM, Actor.CANDIDATE)
            else:
                w.act(row, Action.SCHEDULE_OFFLINE, Actor.RECRUITER)
            results.append("won")
        except TransitionRefused:
            results.append("lost")

    threads = [threading.Thread(target=go, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["lost"] * 7 + ["won"]
    assert len(w.store.transitions(row.id)) == 1
    assert w.store.interview(w.ada, row.id).version == row.version + 1  # type: ignore[union-attr]


def test_resend_restarts_the_clock_and_mails_the_invitation_again(w: World) -> None:
    grace = w.grace()
    row, token = w.send(grace)
    w.clock.now = T0 + timedelta(days=4)
    w.service.sweep()
    w.clock.now = T0 + timedelta(days=15)
    assert w.service.sweep() == {"expired": 1, "reminded": 0, "passed": 0}
    expired = w.store.interview(w.ada, row.id)
    assert expired is not None and expired.state == "expired" and expired.reminded_at is not None
    again = w.act(expired, Action.RESEND, Actor.RECRUITER)
    assert (again.state, again.sent_at, again.reminded_at) == ("requested", w.clock.now, None)
    assert [m.kind for m in w.mails()] == ["invitation", "reminder", "invitation"]
    assert f"{BASE}/i/{token}" in w.mails()[-1].body  # the same private link
    assert w.notes(grace)[-1] == "The recruiter sent the request again."


def test_advance_sends_the_next_round_after_checking_its_input(w: World) -> None:
    grace = w.grace()
    row, first_token = w.send(grace)
    with pytest.raises(TransitionRefused, match="cannot move the candidate to the next round"):
        w.service.advance(w.ada, row.id, link_kind="booking_page")
    row = w.act(row, Action.SCHEDULE_OFFLINE, Actor.RECRUITER)
    with pytest.raises(RecruitingError) as caught:
        w.service.advance(w.ada, row.id, link_kind="link", url="")
    assert caught.value.field == "url"
    assert w.store.interview(w.ada, row.id) == row  # nothing moved
    new, token = w.service.advance(w.ada, row.id, link_kind="booking_page", message="Next: the team.", duration_minutes=90)
    assert w.store.interview(w.ada, row.id).state == "advanced"  # type: ignore[union-attr]
    assert (new.round, new.title, new.state, new.duration_minutes, new.candidate_id) == (2, "Interview 2", "requested", 90, grace.id)
    assert token != first_token and w.service.by_token(token) == (new, grace)
    assert w.mails()[-1].kind == "invitation" and "Next: the team." in w.mails()[-1].body
    assert w.notes(grace)[-2:] == ["The candidate moved on to the next interview round.", "Interview request sent: Interview 2"]


def test_actions_and_actors_may_come_as_their_form_values(w: World) -> None:
    grace = w.grace()
    row, _ = w.send(grace)
    moved = w.service.act(w.ada, row.id, "schedule_offline", "recruiter")  # type: ignore[arg-type]
    assert moved.state == "scheduled" and w.store.transitions(row.id)[-1].action == "schedule_offline"
    assert w.service.post_message(w.ada, grace.id, "candidate", "Thanks!").author == "candidate"  # type: ignore[arg-type]


def test_a_failing_listener_does_not_undo_the_move(w: World) -> None:
    def boom(change: Change) -> None:
        raise RuntimeError("listener down")

    w.service.on_change = boom
    grace = w.grace()
    row, _ = w.send(grace)
    assert w.act(row, Action.CANCEL, Actor.RECRUITER).state == "cancelled"


# chat -------------------------------------------------------------------------------------------
def test_the_chat_mails_the_recruiters_messages_only(w: World) -> None:
    grace = w.grace()
    alan = w.grace(name="Alan Turing", email="alan@example.test")
    row, token = w.send(grace)
    w.clock.now += timedelta(minutes=1)
    mine = w.service.post_message(w.ada, grace.id, Actor.RECRUITER, "  Do you have questions?  ")
    assert (mine.author, mine.body, mine.at, mine.interview_id) == ("recruiter", "Do you have questions?", w.clock.now, None)
    mail = w.mails()[-1]
    assert (mail.kind, mail.to, mail.subject) == ("message", "grace@example.test", "New message about your interview")
    assert "Do you have questions?" in mail.body and f"{BASE}/i/{token}" in mail.body
    theirs = w.service.post_message(w.ada, grace.id, Actor.CANDIDATE, "Yes: is it remote?", interview_id=row.id)
    assert (theirs.author, theirs.interview_id) == ("candidate", row.id)
    assert w.mails()[-1] == mail  # nothing mailed
    w.service.post_message(w.ada, alan.id, Actor.RECRUITER, "Hello Alan")  # no request yet: no link
    assert "Reply to this e-mail." in w.mails()[-1].body and w.mails()[-1].interview_id is None
    bodies = [m.body for m in w.store.messages(w.ada, grace.id)]
    assert bodies == ["Interview request sent: Interview 1", "Do you have questions?", "Yes: is it remote?"]
    for body, message in [("   ", "Write a message"), ("x" * 4001, "at most 4000")]:
        with pytest.raises(RecruitingError, match=message) as caught:
            w.service.post_message(w.ada, grace.id, Actor.RECRUITER, body)
        assert caught.value.field == "body"
    with pytest.raises(LookupError):
        w.service.post_message(w.ada, alan.id, Actor.RECRUITER, "about Grace's request", interview_id=row.id)
    assert len(w.store.messages(w.ada, grace.id)) == 3


# sweeps -----------------------------------------------------------------------------------------
DAY = timedelta(days=1)
SWEEPS = [
    # (when after sending, what the sweep counts then) — run in order on one request; each is run twice
    (3 * DAY - timedelta(seconds=1), {"expired": 0, "reminded": 0, "passed": 0}),
    (3 * DAY, {"expired": 0, "reminded": 1, "passed": 0}),
    (5 * DAY, {"expired": 0, "reminded": 0, "passed": 0}),
    (14 * DAY - timedelta(seconds=1), {"expired": 0, "reminded": 0, "passed": 0}),
    (14 * DAY, {"expired": 1, "reminded": 0, "passed": 0}),
    (30 * DAY, {"expired": 0, "reminded": 0, "passed": 0}),
]


def test_the_sweep_reminds_once_then_expires_and_is_idempotent(w: World) -> None:
    grace = w.grace()
    row, _ = w.send(grace)
    nothing = {"expired": 0, "reminded": 0, "passed": 0}
    for after, counts in SWEEPS:
        assert w.service.sweep(T0 + after) == counts, after
        assert w.service.sweep(T0 + after) == nothing, after
    assert [m.kind for m in w.mails()] == ["invitation", "reminder"]
    reminder = w.mails("reminder")[0]
    assert reminder.subject == "Reminder: interview request for Backend engineer at Acme GmbH"
    assert w.service.link(row) in reminder.body and reminder.body.startswith("Hello Grace Hopper,")
    stored = w.store.interview(w.ada, row.id)
    assert stored is not None and (stored.state, stored.reminded_at) == ("expired", T0 + 3 * DAY)
    (expire,) = w.store.transitions(row.id)
    assert (expire.action, expire.actor, expire.at) == ("expire", "system", T0 + 14 * DAY)
    assert w.notes(grace) == [
        "Interview request sent: Interview 1",
        "Reminder sent to the candidate.",
        "The request expired without an answer.",
    ]


def test_the_sweep_passes_interviews_once_over_and_clocks_reschedules_from_the_ask(w: World) -> None:
    grace = w.grace()
    alan = w.grace(name="Alan Turing", email="alan@example.test")
    booked, _ = w.send(grace, link_kind="booking_page")
    booked = w.act(booked, Action.BOOK, Actor.CANDIDATE, starts_at=T0 + 2 * DAY, ends_at=T0 + 2 * DAY + timedelta(minutes=45))
    ask, _ = w.send(alan)
    ask = w.act(ask, Action.CONFIRM, Actor.CANDIDATE)
    w.clock.now = T0 + 10 * DAY
    ask = w.act(ask, Action.RESCHEDULE, Actor.CANDIDATE)
    assert w.service.sweep(T0 + 2 * DAY + timedelta(minutes=44)) == {"expired": 0, "reminded": 0, "passed": 0}
    assert w.service.sweep(T0 + 2 * DAY + timedelta(minutes=45)) == {"expired": 0, "reminded": 0, "passed": 1}
    assert w.store.interview(w.ada, booked.id).state == "awaiting_feedback"  # type: ignore[union-attr]
    # the reschedule was asked on day 10: reminded on day 13, not expired on day 14 but on day 24
    assert w.service.sweep(T0 + 13 * DAY) == {"expired": 0, "reminded": 1, "passed": 0}
    assert w.service.sweep(T0 + 14 * DAY) == {"expired": 0, "reminded": 0, "passed": 0}
    assert "choose a new time" in w.mails("reminder")[0].body
    assert w.service.sweep(T0 + 24 * DAY) == {"expired": 1, "reminded": 0, "passed": 0}
    assert w.store.interview(w.ada, ask.id).state == "expired"  # type: ignore[union-attr]
    assert w.service.sweep(T0 + 40 * DAY) == {"expired": 0, "reminded": 0, "passed": 0}


def test_the_sweep_covers_every_account(w: World) -> None:
    mine, _ = w.send(w.grace())
    theirs, _ = w.send(w.grace(w.bob, name="Edsger Dijkstra", email="edsger@example.test", client="Other Co"))
    assert w.service.sweep(T0 + 3 * DAY) == {"expired": 0, "reminded": 2, "passed": 0}
    assert {(m.user_id, m.to) for m in w.mails("reminder")} == {(w.ada, "grace@example.test"), (w.bob, "edsger@example.test")}


# noticed bookings -------------------------------------------------------------------------------
def event(uid: str, start: datetime, attendee: str, created: datetime) -> CachedItem:
    fmt = "%Y%m%dT%H%M%SZ"
    text = "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN", "BEGIN:VEVENT", f"UID:{uid}",
        f"DTSTAMP:{created:{fmt}}", f"CREATED:{created:{fmt}}", f"DTSTART:{start:{fmt}}",
        f"DTEND:{start + timedelta(minutes=45):{fmt}}", "SUMMARY:Interview",
        f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{attendee}", "END:VEVENT", "END:VCALENDAR",
    ]) + "\r\n"  # fmt: skip
    return CachedItem(f"{uid}.ics", '"1"', uid, text, ical.content_hash(ical.parse_resource(text)), None)


def test_a_booking_noticed_in_a_synced_calendar_moves_the_request(w: World) -> None:
    grace = w.grace()
    row, _ = w.send(grace)
    calendar = f"u{w.ada}.client-a"
    w.store.apply_listing(calendar, [event("calendly-7", SLOT, "grace@example.test", T0 + timedelta(hours=1))], [], None, True)
    assert w.service.notice(w.ada, [calendar], now=T0 + timedelta(hours=2)) == [w.store.interview(w.ada, row.id)]
    moved = w.store.interview(w.ada, row.id)
    assert moved is not None
    assert (moved.state, moved.starts_at, moved.ends_at, moved.booking_calendar, moved.booking_uid) == (
        "booked_unconfirmed", SLOT, END, "client-a", "calendly-7"
    )  # fmt: skip
    (noticed,) = w.store.transitions(row.id)
    assert (noticed.action, noticed.actor) == ("notice_booking", "system")
    (told,) = w.mails("candidate_notice_booking")  # the recruiter hears of it; the candidate is not mailed
    assert told.to == w.store.user(w.ada).email  # type: ignore[union-attr]
    assert "Grace" in told.subject and "'client-a'" in told.body and "mark it as scheduled" in told.body
    assert not [m for m in w.store.mails(w.ada) if m.to == "grace@example.test" and m.kind != "invitation"]
    assert w.service.notice(w.ada, [calendar], now=T0 + timedelta(hours=3)) == []  # not waiting any more
    assert w.service.notice(w.bob, [calendar], now=T0 + timedelta(hours=3)) == []
    # after a reschedule the old booking does not count again; a new one does
    w.clock.now = T0 + timedelta(hours=3, minutes=30)
    moved = w.act(w.act(moved, Action.MARK_SCHEDULED, Actor.RECRUITER), Action.RESCHEDULE, Actor.CANDIDATE)
    assert w.service.notice(w.ada, [calendar], now=T0 + timedelta(hours=4)) == []
    w.store.apply_listing(calendar, [event("calendly-8", SLOT + DAY, "grace@example.test", T0 + timedelta(hours=5))], [], None, False)
    (again,) = w.service.notice(w.ada, [calendar], now=T0 + timedelta(hours=6))
    assert (again.state, again.booking_uid, again.starts_at) == ("booked_unconfirmed", "calendly-8", SLOT + DAY)


# what the mails say -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        (UTC, "Tuesday 3 March 2026, 09:00–09:45 (UTC)"),
        (ZoneInfo("Europe/Berlin"), "Tuesday 3 March 2026, 10:00–10:45 (Europe/Berlin, UTC+01:00)"),
        (ZoneInfo("America/New_York"), "Tuesday 3 March 2026, 04:00–04:45 (America/New_York, UTC-05:00)"),
        (ZoneInfo("Asia/Kolkata"), "Tuesday 3 March 2026, 14:30–15:15 (Asia/Kolkata, UTC+05:30)"),
        (ZoneInfo("Etc/UTC"), "Tuesday 3 March 2026, 09:00–09:45 (UTC)"),
        (timezone(timedelta(hours=2)), "Tuesday 3 March 2026, 11:00–11:45 (UTC+02:00)"),
        (ZoneInfo("Pacific/Auckland"), "Tuesday 3 March 2026, 22:00–22:45 (Pacific/Auckland, UTC+13:00)"),
    ],
)
def test_times_in_words(zone: timezone | ZoneInfo, expected: str) -> None:
    assert time_in_words(SLOT, END, zone) == expected


def test_times_in_words_across_midnight_and_without_an_end() -> None:
    late = datetime(2026, 3, 3, 22, 30, tzinfo=UTC)
    assert time_in_words(late, late + timedelta(hours=2)) == "Tuesday 3 March 2026, 22:30 – Wednesday 4 March 2026, 00:30 (UTC)"
    assert time_in_words(late, None) == "Tuesday 3 March 2026, 22:30 (UTC)"


def test_the_scheduled_mail_gives_the_time_in_the_booking_zone_and_the_private_link(w: World) -> None:
    grace = w.grace()
    row, token = w.send(grace, link_kind="booking_page")
    w.act(row, Action.BOOK, Actor.CANDIDATE, starts_at=SLOT, ends_at=END)
    scheduled = w.mails("scheduled")[-1]
    assert scheduled.subject == "Your interview is scheduled: Backend engineer at Acme GmbH"
    berlin = "When: Tuesday 3 March 2026, 10:00–10:45 (Europe/Berlin, UTC+01:00)"
    assert berlin in scheduled.body  # no booking settings, no setup: the default zone, as the booking page's hours
    assert f"To ask for another time or to cancel, use your private page:\n{BASE}/i/{token}" in scheduled.body
    assert scheduled.body.startswith("Hello Grace Hopper,\n\n") and scheduled.body.endswith(f"Kind regards,\n{RECRUITER}\n")
    booked = w.mails("candidate_book")[-1]
    assert booked.subject == "Grace Hopper booked: Interview 1 (Backend engineer at Acme GmbH)"
    assert berlin in booked.body and "Status now: Scheduled." in booked.body
    assert f"Open the candidate:\n{BASE}/candidates/{grace.id}" in booked.body

    w.store.save_booking_settings(w.ada, json.dumps({"zone": "America/New_York", "step_minutes": 15}), T0)
    alan = w.grace(name="Alan Turing", email="alan@example.test")
    other, _ = w.send(alan, link_kind="booking_page")
    w.act(other, Action.BOOK, Actor.CANDIDATE, starts_at=SLOT, ends_at=END)
    assert "When: Tuesday 3 March 2026, 04:00–04:45 (America/New_York, UTC-05:00)" in w.mails("scheduled")[-1].body
    # unreadable settings: the setup's zone, else the default
    w.store.save_booking_settings(w.ada, "not json", T0)
    assert w.service.zone(w.ada) == ZoneInfo("Europe/Berlin")
    w.store.save_workspace(w.ada, 'timezone = "Asia/Kolkata"\n', T0)
    assert w.service.zone(w.ada) == ZoneInfo("Asia/Kolkata")
    w.store.save_booking_settings(w.ada, json.dumps({"zone": "Mars/Olympus"}), T0)
    assert w.service.zone(w.ada) == ZoneInfo("Asia/Kolkata")


def test_a_confirmed_link_booking_without_a_known_time_says_so(w: World) -> None:
    grace = w.grace()
    row, _ = w.send(grace)
    w.act(row, Action.CONFIRM, Actor.CANDIDATE)
    assert "When: the time you booked through the scheduling link." in w.mails("scheduled")[-1].body
    offline, _ = w.send(w.grace(name="Alan Turing", email="alan@example.test"))
    w.act(offline, Action.SCHEDULE_OFFLINE, Actor.RECRUITER)
    assert "arranged with you outside of mirrorcal" in w.mails("scheduled")[-1].body


CAST = [  # (name, e-mail, client, role): one recruiter, four candidates, three clients
    ("Grace Hopper", "grace@example.test", "Acme GmbH", "Backend engineer"),
    ("Alan Turing", "alan@example.test", "Bletchley Ltd", "Cryptanalyst"),
    ("Edsger Dijkstra", "edsger@example.test", "Globex Corp", "Architect"),
    ("Barbara Liskov", "barbara@example.test", "Acme GmbH", "Staff engineer"),
]


def test_a_candidates_mail_names_nothing_of_the_recruiters_other_clients_or_candidates(w: World) -> None:
    cands = [w.service.add_candidate(w.ada, name=n, email=e, client=c, role=r) for n, e, c, r in CAST]
    rows = [w.send(c, message=f"Dear {c.name.split()[0]}, see you soon.")[0] for c in cands]
    for row, cand in zip(rows, cands, strict=True):  # every kind of candidate mail, for each of them
        w.service.post_message(w.ada, cand.id, Actor.RECRUITER, "A note from your recruiter.")
        row = w.act(row, Action.BOOK, Actor.CANDIDATE, starts_at=SLOT, ends_at=END)
        row = w.act(row, Action.RESCHEDULE, Actor.RECRUITER)
        row = w.act(row, Action.CANCEL, Actor.RECRUITER)
        w.service.send_request(w.ada, cand.id, link_kind="booking_page")
    w.service.sweep(T0 + 3 * DAY)
    kinds = {"invitation", "message", "scheduled", "reschedule", "cancelled", "reminder"}
    by_address = {e: (n, c, r) for n, e, c, r in CAST}
    seen: set[tuple[str, str]] = set()
    for mail in w.mails():
        if mail.to == RECRUITER:
            continue
        assert mail.kind in kinds
        seen.add((mail.to, mail.kind))
        name, client, role = by_address[mail.to]
        text = mail.subject + "\n" + mail.body
        assert name in text and role in text and client in text and RECRUITER in text
        for other_name, other_email, other_client, other_role in CAST:
            if other_email == mail.to:
                continue
            for word in {other_name, *other_name.split(), other_email, other_role} | ({other_client} - {client}):
                assert not re.search(rf"\b{re.escape(word)}\b", text), (mail.kind, mail.to, word)
        assert "bob@other.example.test" not in text
        for address in re.findall(r"[\w.+-]+@[\w.-]+\w", text):
            assert address in (mail.to, RECRUITER), (mail.kind, address)
    assert seen == {(e, k) for _, e, _, _ in CAST for k in kinds}
