"""The mail outbox's sender (``mirrorcal.outbox.MailSender``) against a real SMTP server on 127.0.0.1
(aiosmtpd, ``tests/mailsink.py``), over a MemoryStore and a real SQLite store: a real interview
invitation arrives; a refusing or unreachable server is retried on the schedule, then given up."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from mailsink import smtp_sink

from mirrorcal.interviews import Actor
from mirrorcal.mail import SmtpMailer
from mirrorcal.outbox import MailSender
from mirrorcal.recruiting import Recruiting
from mirrorcal.secrets import Vault
from mirrorcal.store.base import CandidateRow, Store
from mirrorcal.store.memory import MemoryStore
from mirrorcal.store.sql import SqlStore

SENDER = "mirrorcal <no-reply@mirrorcal.test>"
RECRUITER = "ada@recruit.example.test"
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made: Store = MemoryStore() if request.param == "memory" else SqlStore.open(f"sqlite:///{(tmp_path / 'outbox.db').as_posix()}")
    yield made
    made.close()


def recruiting(store: Store, clock: Clock, **kw: object) -> tuple[Recruiting, int, CandidateRow]:
    user = store.user_by_email(RECRUITER) or store.create_user(RECRUITER, "$argon2id$x", "personal", T0)
    service = Recruiting(store, Vault(Vault.generate_key()), base_url="https://mc.example.test", mail_enabled=True, clock=clock, **kw)  # type: ignore[arg-type]
    grace = service.add_candidate(user.id, name="Grace Hopper", email="grace@example.test", client="Acme GmbH", role="Backend engineer")
    return service, user.id, grace


async def test_a_real_invitation_arrives_once(store: Store) -> None:
    clock = Clock()
    service, user_id, grace = recruiting(store, clock)
    row, token = service.send_request(user_id, grace.id, link_kind="link", url="https://cal.example.test/ada", message="See you!")
    with smtp_sink() as (sink, url):
        sender = MailSender(store, SmtpMailer(url, SENDER), clock=clock)
        assert await sender.run_due() == 1
        (got,) = sink.wait_for(1)
        assert await sender.run_due() == 0  # sent: never again
    assert got.recipients == ["grace@example.test"]
    assert got.message["Subject"] == "Interview request: Backend engineer at Acme GmbH"
    assert got.message["Reply-To"] == RECRUITER  # a reply reaches the recruiter
    assert got.message["X-Mirrorcal-Kind"] == "invitation"
    text = got.text()
    assert text.startswith("Hello Grace Hopper,") and "See you!" in text
    assert f"https://mc.example.test/i/{token}" in text and text.rstrip().endswith(RECRUITER)
    (mail,) = store.mails(user_id)
    assert (mail.state, mail.attempts, mail.sent_at, mail.next_at, mail.last_error) == ("sent", 1, T0, None, "")
    assert sender.attempts == 1


async def test_the_running_sender_sends_when_woken(store: Store) -> None:
    with smtp_sink() as (sink, url):
        sender = MailSender(store, SmtpMailer(url, SENDER), poll=60)
        service, user_id, grace = recruiting(store, Clock(datetime.now(UTC)), on_mail=sender.wake)
        await sender.start()
        try:
            assert sender.started
            service.send_request(user_id, grace.id, link_kind="booking_page")
            for _ in range(200):  # far less than the 60 s poll: the wake did it
                if sender.attempts:
                    break
                await asyncio.sleep(0.02)
            (got,) = await asyncio.to_thread(sink.wait_for, 1)
        finally:
            await sender.stop()
        assert not sender.started
    assert got.message["Subject"] == "Interview request: Backend engineer at Acme GmbH"
    assert store.mails(user_id)[0].state == "sent"


async def test_a_refusing_server_is_retried_on_the_schedule_then_given_up(store: Store) -> None:
    clock = Clock()
    service, user_id, grace = recruiting(store, clock)
    service.send_request(user_id, grace.id, link_kind="booking_page")
    with smtp_sink() as (sink, url):
        sink.refuse.add("grace@example.test")
        sender = MailSender(store, SmtpMailer(url, SENDER), schedule=(30, 120), clock=clock)
        for attempt, wait in [(1, 30), (2, 120)]:
            assert await sender.run_due() == 1
            (mail,) = store.mails(user_id)
            assert (mail.state, mail.attempts, mail.next_at) == ("pending", attempt, clock.now + timedelta(seconds=wait))
            assert mail.last_error == f"The mail server at {url.removeprefix('smtp://')} refused the recipient grace@example.test."
            clock.now += timedelta(seconds=wait - 1)
            assert await sender.run_due() == 0  # not due yet
            clock.now += timedelta(seconds=1)
        assert await sender.run_due() == 1
        (mail,) = store.mails(user_id)
        assert (mail.state, mail.attempts, mail.next_at, mail.sent_at) == ("failed", 3, None, None)
        assert mail.last_error.endswith("refused the recipient grace@example.test. Gave up after 3 attempts.")
        clock.now += timedelta(days=1)
        assert await sender.run_due() == 0  # failed stays failed
        assert sink.received == []
        # the next mail, to an address the server takes, goes through
        service.post_message(user_id, grace.id, Actor.RECRUITER, "Could you try another address?")
        sink.refuse.clear()
        assert await sender.run_due() == 1
        assert [r.message["Subject"] for r in sink.wait_for(1)] == ["New message about your interview"]


async def test_an_unreachable_server_leaves_the_mail_pending(store: Store) -> None:
    clock = Clock()
    service, user_id, grace = recruiting(store, clock)
    service.send_request(user_id, grace.id, link_kind="booking_page")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        sender = MailSender(store, SmtpMailer(f"smtp://127.0.0.1:{port}", SENDER, timeout=3), clock=clock)
        assert await sender.run_due() == 1
    (mail,) = store.mails(user_id)
    assert (mail.state, mail.attempts, mail.next_at) == ("pending", 1, T0 + timedelta(seconds=30))
    assert mail.last_error.startswith(f"Could not reach the mail server at 127.0.0.1:{port}")


async def test_held_mail_is_never_sent(store: Store) -> None:
    clock = Clock()
    user = store.create_user(RECRUITER, "$argon2id$x", "personal", T0)
    service = Recruiting(store, Vault(Vault.generate_key()), base_url="https://mc.example.test", mail_enabled=False, clock=clock)
    grace = service.add_candidate(user.id, name="Grace Hopper", email="grace@example.test", client="Acme", role="Dev")
    service.send_request(user.id, grace.id, link_kind="booking_page")
    with smtp_sink() as (sink, url):
        assert await MailSender(store, SmtpMailer(url, SENDER), clock=clock).run_due() == 0
    assert [m.state for m in store.mails(user.id)] == ["held"] and sink.received == []


async def test_a_mail_that_cannot_be_written_fails_at_once(store: Store) -> None:
    clock = Clock()
    user = store.create_user(RECRUITER, "$argon2id$x", "personal", T0)
    store.add_mail(user.id, None, "message", "not an address", "Hello", "Body", "pending", T0)
    with smtp_sink() as (sink, url):
        sender = MailSender(store, SmtpMailer(url, SENDER), clock=clock)
        assert await sender.run_due() == 1
        assert sender.attempts == 0 and sink.received == []
    (mail,) = store.mails(user.id)
    assert (mail.state, mail.attempts) == ("failed", 1)
    assert mail.last_error == "Cannot be sent: 'not an address' is not an e-mail address."
