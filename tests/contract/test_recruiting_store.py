"""The store's recruiting side (candidates, interview requests, their moves, chat, the mail outbox
and the booking page's settings), on every ``Store`` (memory, SQLite, PostgreSQL).

Uses the backends of ``test_store_contract`` (PostgreSQL in a fresh schema per test); the last test
upgrades a 0006 SQLite database to 0007 and keeps its data."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect
from test_store_contract import Backend, backend, durable, pg_admin, store

from mirrorcal.errors import StoreError
from mirrorcal.store.base import CandidateRow, InterviewRow, Store, UserRow
from mirrorcal.store.sql import SqlStore, alembic_config

__all__ = ["backend", "durable", "pg_admin", "store"]  # fixtures, used by name

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
PARIS = timezone(timedelta(hours=1))
NAIVE = datetime(2026, 3, 1, 9, 30)


def users(store: Store) -> tuple[UserRow, UserRow]:
    return (
        store.create_user("ada@example.test", "$argon2id$x", "personal", T0),
        store.create_user("bob@example.test", "$argon2id$y", "personal", T0),
    )


def candidate(store: Store, user: UserRow, name: str = "Grace Hopper", client: str = "Acme GmbH") -> CandidateRow:
    return store.create_candidate(user.id, name, f"{name.split()[0].lower()}@example.test", client, "Backend engineer", T0)


def request(store: Store, cand: CandidateRow, token: str = "t1", **changes: object) -> InterviewRow:
    row = InterviewRow(
        id=0, user_id=cand.user_id, candidate_id=cand.id, round=1, title="Interview 1 — Café ✓", link_kind="link",
        url="https://cal.example.test/grace", message="Hallo Grace,\nbitte einen Termin wählen.",
        token_hash=token * (64 // len(token)), state="requested", how=None, starts_at=None, ends_at=None, reason="",
        sent_at=T0, updated=T0, token_sealed="gAAAA-sealed",
    )  # fmt: skip
    return store.create_interview(replace(row, **changes))  # type: ignore[arg-type]


def test_candidates_per_user(store: Store) -> None:
    ada, bob = users(store)
    assert store.candidates(ada.id) == []
    grace = store.create_candidate(ada.id, "Grace Hopper", "grace@example.test", "Acme GmbH", "Backend", T0.astimezone(PARIS))
    assert grace.created == T0 and grace.created.tzinfo == UTC
    assert (grace.user_id, grace.name, grace.email, grace.client, grace.role) == (
        ada.id, "Grace Hopper", "grace@example.test", "Acme GmbH", "Backend"
    )  # fmt: skip
    alan = candidate(store, ada, "Alan Turing", "Bletchley Ltd")
    bobs = candidate(store, bob, "Edsger Dijkstra")
    assert store.candidates(ada.id) == [grace, alan] and store.candidates(bob.id) == [bobs]
    assert store.candidate(ada.id, grace.id) == grace
    assert store.candidate(bob.id, grace.id) is None  # another account's candidate is not found

    changed = replace(grace, name="Grace B. Hopper", email="gbh@example.test", client="Beta AG", role="CTO")
    assert store.update_candidate(changed) is True and store.candidate(ada.id, grace.id) == changed
    assert store.update_candidate(replace(changed, user_id=bob.id, name="stolen")) is False
    assert store.candidate(ada.id, grace.id) == changed
    assert store.update_candidate(replace(changed, id=grace.id + 1000)) is False

    assert store.delete_candidate(bob.id, grace.id) is False and store.candidate(ada.id, grace.id) == changed
    assert store.delete_candidate(ada.id, grace.id) is True and store.delete_candidate(ada.id, grace.id) is False
    assert store.candidates(ada.id) == [alan] and store.candidates(bob.id) == [bobs]


def test_bad_candidates_are_store_errors(store: Store) -> None:
    ada, _ = users(store)
    with pytest.raises(StoreError):
        store.create_candidate(ada.id + 1000, "Grace", "g@example.test", "Acme", "Dev", T0)  # unknown user
    with pytest.raises(StoreError):
        store.create_candidate(ada.id, "Grace", "g@example.test", "Acme", "Dev", NAIVE)
    assert store.candidates(ada.id) == []


def test_interview_requests_round_trip_per_user(store: Store) -> None:
    ada, bob = users(store)
    grace, alan, edsger = candidate(store, ada), candidate(store, ada, "Alan Turing"), candidate(store, bob, "Edsger D")
    first = request(store, grace, "a", id=999, version=7, sent_at=T0.astimezone(PARIS), updated=T0.astimezone(PARIS))
    assert first.id != 999 and first.version == 1  # id and version are the store's
    assert first.sent_at == T0 and first.sent_at.tzinfo == UTC and first.updated.tzinfo == UTC
    assert (first.round, first.title, first.link_kind, first.url) == (
        1, "Interview 1 — Café ✓", "link", "https://cal.example.test/grace"
    )  # fmt: skip
    assert (first.state, first.how, first.starts_at, first.ends_at, first.reminded_at) == ("requested", None, None, None, None)
    assert (first.duration_minutes, first.booking_calendar, first.booking_uid, first.token_sealed) == (45, "", "", "gAAAA-sealed")
    start = T0 + timedelta(days=2)
    second = request(
        store, grace, "b", round=2, link_kind="booking_page", url="", state="scheduled", how="booking_page",
        starts_at=start.astimezone(PARIS), ends_at=start + timedelta(minutes=30), duration_minutes=30,
        reminded_at=T0 + timedelta(hours=1), booking_calendar="personal", booking_uid="mirrorcal-booking-2-1@mirrorcal",
    )  # fmt: skip
    assert second.starts_at == start and second.starts_at is not None and second.starts_at.tzinfo == UTC
    assert second.reminded_at == T0 + timedelta(hours=1) and second.duration_minutes == 30
    third = request(store, alan, "c", state="declined", reason="Took another offer")
    bobs = request(store, edsger, "d")

    assert store.interview(ada.id, first.id) == first and store.interview(ada.id, second.id) == second
    assert store.interview(bob.id, first.id) is None and store.interview(ada.id, bobs.id) is None
    assert store.interview(ada.id, first.id + 1000) is None
    assert store.interview_by_token("b" * 64) == second and store.interview_by_token("z" * 64) is None
    assert store.interviews(ada.id) == [first, second, third]
    assert store.interviews(ada.id, grace.id) == [first, second] and store.interviews(ada.id, alan.id) == [third]
    assert store.interviews(bob.id) == [bobs] and store.interviews(bob.id, grace.id) == []
    assert store.interviews_in(("requested",)) == [first, bobs]  # every account's, by id
    assert store.interviews_in(("scheduled", "declined")) == [second, third]
    assert store.interviews_in(()) == [] and store.interviews_in(("hired",)) == []


def test_bad_interview_requests_are_store_errors(store: Store) -> None:
    ada, bob = users(store)
    grace, edsger = candidate(store, ada), candidate(store, bob, "Edsger D")
    with pytest.raises(StoreError):
        request(store, replace(edsger, user_id=ada.id))  # bob's candidate, ada's request
    with pytest.raises(StoreError):
        request(store, replace(grace, id=grace.id + 1000))  # no such candidate
    with pytest.raises(StoreError):
        request(store, grace, link_kind="calendly")
    with pytest.raises(StoreError):
        request(store, grace, sent_at=NAIVE)
    with pytest.raises(StoreError):
        request(store, grace, starts_at=NAIVE, ends_at=T0)
    kept = request(store, grace, "a")
    with pytest.raises(StoreError):
        request(store, grace, "a")  # the token hash is in use
    with pytest.raises(StoreError):
        request(store, edsger, "a")  # ... by another account's request too
    assert store.interviews(ada.id) == [kept] and store.interviews(bob.id) == []


def test_save_interview_is_compare_and_set_on_the_version(store: Store) -> None:
    ada, bob = users(store)
    grace, alan = candidate(store, ada), candidate(store, ada, "Alan Turing")
    row = request(store, grace, "a")
    start = T0 + timedelta(days=1)
    moved = replace(
        row, round=3, title="Final", link_kind="booking_page", url="", message="See you", state="scheduled",
        how="booking_page", starts_at=start.astimezone(PARIS), ends_at=start + timedelta(hours=1), reason="why not",
        sent_at=T0 + timedelta(minutes=1), updated=(T0 + timedelta(minutes=2)).astimezone(PARIS), duration_minutes=60,
        reminded_at=T0 + timedelta(minutes=3), booking_calendar="personal", booking_uid="uid-1@x", token_sealed="gAAAA-new",
    )  # fmt: skip
    saved = store.save_interview(moved)
    assert saved is not None and saved.version == 2
    assert saved == replace(moved, version=2, starts_at=start, updated=T0 + timedelta(minutes=2))
    assert saved.starts_at is not None and saved.starts_at.tzinfo == UTC and saved.updated.tzinfo == UTC
    assert store.interview(ada.id, row.id) == saved

    assert store.save_interview(replace(moved, state="hired")) is None  # version 1 is stale now
    assert store.save_interview(replace(saved, user_id=bob.id, state="hired")) is None  # not bob's
    assert store.save_interview(replace(saved, id=row.id + 1000)) is None  # no such request
    assert store.interview(ada.id, row.id) == saved

    # id, user_id, candidate_id and token_hash are kept whatever the row says
    again = store.save_interview(replace(saved, candidate_id=alan.id, token_hash="x" * 64, state="hired"))
    assert again is not None and again.version == 3 and again.state == "hired"
    assert (again.candidate_id, again.token_hash) == (grace.id, row.token_hash)
    assert store.interview_by_token(row.token_hash) == again and store.interview_by_token("x" * 64) is None

    with pytest.raises(StoreError):
        store.save_interview(replace(again, updated=NAIVE))
    with pytest.raises(StoreError):
        store.save_interview(replace(again, reminded_at=NAIVE))
    assert store.interview(ada.id, row.id) == again


def test_concurrent_saves_of_one_version_have_one_winner(backend: Backend) -> None:
    ada, _ = users(backend.store)
    row = request(backend.store, candidate(backend.store, ada))
    stores = [backend.store] if backend.reopen is None else [backend.store, backend.another()]
    won: list[InterviewRow | None] = []
    start = threading.Barrier(8)

    def save(n: int) -> None:
        start.wait()
        won.append(stores[n % len(stores)].save_interview(replace(row, state="declined", reason=f"writer {n}")))

    threads = [threading.Thread(target=save, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [w for w in won if w is not None]
    assert len(won) == 8 and len(winners) == 1
    assert backend.store.interview(ada.id, row.id) == winners[0] and winners[0].version == 2


def test_transitions(store: Store) -> None:
    ada, _ = users(store)
    grace = candidate(store, ada)
    row, other = request(store, grace, "a"), request(store, grace, "b")
    assert store.transitions(row.id) == []
    first = store.add_transition(row.id, "confirm", "candidate", T0.astimezone(PARIS), "requested", "booked_unconfirmed", "Grace booked ✓")
    assert (first.interview_id, first.action, first.actor, first.at, first.before, first.after, first.note) == (
        row.id, "confirm", "candidate", T0, "requested", "booked_unconfirmed", "Grace booked ✓"
    )  # fmt: skip
    assert first.at.tzinfo == UTC
    elsewhere = store.add_transition(other.id, "cancel", "recruiter", T0, "requested", "cancelled", "")
    second = store.add_transition(row.id, "mark_scheduled", "system", T0 + timedelta(hours=1), "booked_unconfirmed", "scheduled", "")
    assert store.transitions(row.id) == [first, second] and store.transitions(other.id) == [elsewhere]
    assert store.transitions(row.id + 1000) == []
    with pytest.raises(StoreError):
        store.add_transition(row.id + 1000, "cancel", "recruiter", T0, "requested", "cancelled", "")  # no such request
    with pytest.raises(StoreError):
        store.add_transition(row.id, "cancel", "robot", T0, "requested", "cancelled", "")
    with pytest.raises(StoreError):
        store.add_transition(row.id, "cancel", "recruiter", NAIVE, "requested", "cancelled", "")
    assert store.transitions(row.id) == [first, second]


def test_messages_per_candidate(store: Store) -> None:
    ada, bob = users(store)
    grace, alan, edsger = candidate(store, ada), candidate(store, ada, "Alan Turing"), candidate(store, bob, "Edsger D")
    row, alans = request(store, grace, "a"), request(store, alan, "b")
    assert store.messages(ada.id, grace.id) == []
    note = store.add_message(ada.id, grace.id, "system", "Interview request sent: Interview 1", T0, interview_id=row.id)
    hello = store.add_message(ada.id, grace.id, "candidate", "Hallo! Passt Dienstag? ✓", (T0 + timedelta(minutes=1)).astimezone(PARIS))
    reply = store.add_message(ada.id, grace.id, "recruiter", "Ja.", T0 + timedelta(minutes=2))
    other = store.add_message(ada.id, alan.id, "recruiter", "Hi Alan", T0)
    assert (note.user_id, note.candidate_id, note.interview_id, note.author, note.at) == (ada.id, grace.id, row.id, "system", T0)
    assert hello.interview_id is None and hello.at == T0 + timedelta(minutes=1) and hello.at.tzinfo == UTC
    assert store.messages(ada.id, grace.id) == [note, hello, reply] and store.messages(ada.id, alan.id) == [other]
    assert store.messages(bob.id, grace.id) == []  # another account's candidate: nothing

    with pytest.raises(StoreError):
        store.add_message(bob.id, grace.id, "recruiter", "mine now", T0)  # not bob's candidate
    with pytest.raises(StoreError):
        store.add_message(ada.id, edsger.id, "recruiter", "hi", T0)
    with pytest.raises(StoreError):
        store.add_message(ada.id, grace.id, "recruiter", "about Alan's", T0, interview_id=alans.id)  # another candidate's request
    with pytest.raises(StoreError):
        store.add_message(ada.id, grace.id, "recruiter", "hi", T0, interview_id=row.id + 1000)
    with pytest.raises(StoreError):
        store.add_message(ada.id, grace.id, "bot", "hi", T0)
    with pytest.raises(StoreError):
        store.add_message(ada.id, grace.id, "recruiter", "hi", NAIVE)
    assert store.messages(ada.id, grace.id) == [note, hello, reply]


def test_mail_outbox_comes_due_and_records_attempts(store: Store) -> None:
    ada, bob = users(store)
    grace, edsger = candidate(store, ada), candidate(store, bob, "Edsger D")
    row, bobs_row = request(store, grace, "a"), request(store, edsger, "b")
    invite = store.add_mail(ada.id, row.id, "invitation", "grace@example.test", "Interview request: Backend at Acme", "Hallo ✓", "pending", T0)
    assert (invite.user_id, invite.interview_id, invite.kind, invite.to, invite.state) == (
        ada.id, row.id, "invitation", "grace@example.test", "pending"
    )  # fmt: skip
    assert (invite.created, invite.next_at, invite.attempts, invite.sent_at, invite.last_error) == (T0, T0, 0, None, "")
    held = store.add_mail(ada.id, None, "recruiter", "ada@example.test", "Grace booked", "body", "held", T0.astimezone(PARIS))
    assert held.next_at is None and held.created == T0 and held.created.tzinfo == UTC
    early = store.add_mail(bob.id, bobs_row.id, "invitation", "e@example.test", "s", "b", "pending", T0 - timedelta(seconds=5))
    late = store.add_mail(ada.id, row.id, "reminder", "grace@example.test", "Reminder", "b", "pending", T0 + timedelta(seconds=5))

    assert store.mails(ada.id) == [late, held, invite]  # newest first, this account's only
    assert store.mails(ada.id, limit=1) == [late] and store.mails(ada.id, limit=0) == [] and store.mails(bob.id) == [early]
    assert store.due_mails(T0 - timedelta(seconds=6)) == []
    assert store.due_mails(T0) == [early, invite]  # most overdue first, every account's; held ones never
    assert store.due_mails(T0 + timedelta(seconds=5)) == [early, invite, late]
    assert store.due_mails(T0 + timedelta(seconds=5), limit=1) == [early] and store.due_mails(T0, limit=0) == []

    retry = T0 + timedelta(minutes=2)
    store.record_mail_attempt(invite.id, state="pending", attempts=1, next_at=retry.astimezone(PARIS), sent_at=None, error="The mail server refused: 451")
    store.record_mail_attempt(early.id, state="sent", attempts=1, next_at=None, sent_at=T0.astimezone(PARIS), error="")
    store.record_mail_attempt(late.id, state="failed", attempts=5, next_at=None, sent_at=None, error="gave up")
    assert store.due_mails(T0 + timedelta(minutes=1)) == []
    tried = replace(invite, attempts=1, next_at=retry, last_error="The mail server refused: 451")
    assert store.due_mails(retry) == [tried] and store.mails(ada.id) == [replace(late, state="failed", attempts=5, next_at=None, last_error="gave up"), held, tried]
    (sent,) = store.mails(bob.id)
    assert sent.state == "sent" and sent.sent_at == T0 and sent.sent_at.tzinfo == UTC and sent.next_at is None

    with pytest.raises(StoreError):
        store.record_mail_attempt(invite.id, state="lost", attempts=2, next_at=None, sent_at=None, error="")
    with pytest.raises(StoreError):
        store.record_mail_attempt(invite.id + 1000, state="sent", attempts=2, next_at=None, sent_at=T0, error="")
    with pytest.raises(StoreError):
        store.record_mail_attempt(invite.id, state="sent", attempts=2, next_at=None, sent_at=NAIVE, error="")
    with pytest.raises(StoreError):
        store.record_mail_attempt(invite.id, state="pending", attempts=2, next_at=NAIVE, sent_at=None, error="")
    assert store.due_mails(retry) == [tried]


def test_bad_mails_are_store_errors(store: Store) -> None:
    ada, bob = users(store)
    bobs_row = request(store, candidate(store, bob))
    with pytest.raises(StoreError):
        store.add_mail(ada.id + 1000, None, "x", "a@example.test", "s", "b", "pending", T0)  # unknown user
    with pytest.raises(StoreError):
        store.add_mail(ada.id, bobs_row.id, "x", "a@example.test", "s", "b", "pending", T0)  # another account's request
    with pytest.raises(StoreError):
        store.add_mail(ada.id, bobs_row.id + 1000, "x", "a@example.test", "s", "b", "pending", T0)
    with pytest.raises(StoreError):
        store.add_mail(ada.id, None, "x", "a@example.test", "s", "b", "queued", T0)
    with pytest.raises(StoreError):
        store.add_mail(ada.id, None, "x", "a@example.test", "s", "b", "pending", NAIVE)
    assert store.mails(ada.id) == [] and store.due_mails(T0 + timedelta(days=1)) == []


def test_deleting_a_candidate_takes_its_requests_moves_and_messages_but_keeps_the_mails(store: Store) -> None:
    ada, _ = users(store)
    grace, alan = candidate(store, ada), candidate(store, ada, "Alan Turing")
    row, second, alans = request(store, grace, "a"), request(store, grace, "b"), request(store, alan, "c")
    store.add_transition(row.id, "cancel", "recruiter", T0, "requested", "cancelled", "")
    store.add_transition(second.id, "decline", "candidate", T0, "requested", "declined", "")
    kept_move = store.add_transition(alans.id, "decline", "candidate", T0, "requested", "declined", "")
    store.add_message(ada.id, grace.id, "system", "sent", T0, interview_id=row.id)
    store.add_message(ada.id, grace.id, "candidate", "hi", T0)
    kept_message = store.add_message(ada.id, alan.id, "candidate", "hi", T0)
    mail = store.add_mail(ada.id, row.id, "invitation", "grace@example.test", "s", "b", "pending", T0)
    other_mail = store.add_mail(ada.id, alans.id, "invitation", "alan@example.test", "s", "b", "held", T0)

    assert store.delete_candidate(ada.id, grace.id) is True
    assert store.interviews(ada.id) == [alans] and store.interview(ada.id, row.id) is None
    assert store.interview_by_token(row.token_hash) is None and store.interviews_in(("requested",)) == [alans]
    assert store.transitions(row.id) == [] and store.transitions(second.id) == [] and store.transitions(alans.id) == [kept_move]
    assert store.messages(ada.id, grace.id) == [] and store.messages(ada.id, alan.id) == [kept_message]
    assert store.mails(ada.id) == [other_mail, replace(mail, interview_id=None)]
    assert store.due_mails(T0) == [replace(mail, interview_id=None)]  # still sent
    with pytest.raises(StoreError):
        store.add_transition(row.id, "cancel", "recruiter", T0, "requested", "cancelled", "")


def test_booking_settings_per_user(store: Store) -> None:
    ada, bob = users(store)
    assert store.booking_settings(ada.id) is None
    store.save_booking_settings(ada.id, '{"zone": "Europe/Berlin", "é": "✓"}', T0.astimezone(PARIS))
    assert store.booking_settings(ada.id) == '{"zone": "Europe/Berlin", "é": "✓"}' and store.booking_settings(bob.id) is None
    store.save_booking_settings(ada.id, "{}", T0 + timedelta(hours=1))
    assert store.booking_settings(ada.id) == "{}"
    with pytest.raises(StoreError):
        store.save_booking_settings(ada.id + 1000, "{}", T0)  # unknown user
    with pytest.raises(StoreError):
        store.save_booking_settings(ada.id, "{}", NAIVE)
    assert store.booking_settings(ada.id) == "{}"


def test_recruiting_is_durable(durable: Backend) -> None:
    ada, _ = users(durable.store)
    grace = candidate(durable.store, ada)
    row = request(durable.store, grace, "a", starts_at=T0, ends_at=T0 + timedelta(hours=1))
    saved = durable.store.save_interview(replace(row, state="scheduled"))
    assert saved is not None
    move = durable.store.add_transition(row.id, "mark_scheduled", "recruiter", T0, "requested", "scheduled", "")
    message = durable.store.add_message(ada.id, grace.id, "recruiter", "Bis Dienstag", T0, interview_id=row.id)
    mail = durable.store.add_mail(ada.id, row.id, "scheduled", "grace@example.test", "s", "b", "pending", T0)
    durable.store.save_booking_settings(ada.id, '{"step_minutes": 30}', T0)

    again = durable.another()
    assert again.candidates(ada.id) == [grace] and again.interviews(ada.id) == [saved]
    assert again.interview_by_token(row.token_hash) == saved and again.transitions(row.id) == [move]
    assert again.messages(ada.id, grace.id) == [message] and again.due_mails(T0) == [mail]
    assert again.booking_settings(ada.id) == '{"step_minutes": 30}'
    assert again.save_interview(row) is None  # the version moved on in the other store


def test_concurrent_creates_with_one_token_make_one_request(durable: Backend) -> None:
    ada, _ = users(durable.store)
    grace = candidate(durable.store, ada)
    stores = [durable.store, durable.another()]
    made: list[object] = []
    start = threading.Barrier(6)

    def create(n: int) -> None:
        start.wait()
        try:
            made.append(request(stores[n % 2], grace, "same"))
        except StoreError:
            made.append(None)

    threads = [threading.Thread(target=create, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 6 and len([m for m in made if m is not None]) == 1
    assert len(durable.store.interviews(ada.id)) == 1


def test_0007_adds_recruiting_to_a_0006_database_and_keeps_its_webhooks(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    cfg = alembic_config(url=url)
    command.upgrade(cfg, "0006")
    old = SqlStore(create_engine(url))  # a 0006 store, as the previous release would run it
    ada = old.create_user("ada@example.test", "$argon2id$...", "personal", T0)
    hook = old.create_webhook(ada.id, "https://example.test/h", ("sync.failed",), "", "enc", T0)
    old.close()
    recruiting = {"candidates", "interviews", "interview_transitions", "messages", "mails", "booking_settings"}

    store = SqlStore.open(url)
    try:
        assert store.webhooks(ada.id) == [hook]
        grace = candidate(store, ada)
        row = request(store, grace)
        store.add_mail(ada.id, row.id, "invitation", "grace@example.test", "s", "b", "pending", T0)
        assert store.interviews(ada.id) == [row]
        engine = create_engine(url)
        assert recruiting <= set(inspect(engine).get_table_names())
        engine.dispose()
    finally:
        store.close()
    command.downgrade(cfg, "0006")
    engine = create_engine(url)
    try:
        assert not recruiting & set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
