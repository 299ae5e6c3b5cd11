"""Outbound webhooks (``mirrorcal.webhooks``): signing, payload, inputs, and delivery with retries to a
real HTTP receiver on 127.0.0.1, over a real SQLite store."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mirrorcal import __version__
from mirrorcal.secrets import Vault
from mirrorcal.store.base import UserRow
from mirrorcal.store.sql import SqlStore
from mirrorcal.web.events import AccountEvent
from mirrorcal.webhooks import (
    DEFAULT_SCHEDULE,
    MAX_ENDPOINTS,
    WebhookBook,
    WebhookError,
    WebhookSender,
    body_of,
    check_events,
    check_url,
    new_secret,
    ping_event,
    signature_header,
    verify,
)

SECRET = "whsec_test-secret"


# a receiver -------------------------------------------------------------------------------------
class Receiver:
    """A real HTTP server on 127.0.0.1 answering POSTs with the statuses in ``answers`` (the last
    one repeats), recording each request's headers, body and arrival time."""

    def __init__(self, *answers: int, delay: float = 0.0) -> None:
        self.answers = list(answers) or [200]
        self.delay = delay
        self.requests: list[tuple[dict[str, str], bytes, float]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body, time.monotonic()))
                if receiver.delay:
                    time.sleep(receiver.delay)
                n = len(receiver.requests) - 1
                status = receiver.answers[min(n, len(receiver.answers) - 1)]
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "https://elsewhere.example/")
                self.send_header("Content-Length", "2")
                self.end_headers()
                with_body = self.wfile
                with_body.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def gaps(self) -> list[float]:
        times = [t for _, _, t in self.requests]
        return [b - a for a, b in zip(times, times[1:], strict=False)]


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{(tmp_path / 'hooks.db').as_posix()}"


@pytest.fixture
def store(db_url: str) -> Iterator[SqlStore]:
    store = SqlStore.open(db_url)
    yield store
    store.close()


@pytest.fixture
def book(store: SqlStore) -> WebhookBook:
    return WebhookBook(store, Vault(Vault.generate_key()))


@pytest.fixture
def ada(store: SqlStore) -> UserRow:
    return store.create_user("ada@example.test", "$argon2id$x", "personal", datetime.now(UTC))


async def until(condition: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


def failed_event(user_id: int, sync: str = "client-a-to-personal") -> AccountEvent:
    return AccountEvent(user_id, "sync.failed", {"sync": sync, "error": "Radicale answered 503"})


# signing and payload ----------------------------------------------------------------------------
def test_signature_verifies_and_fails_when_anything_changes() -> None:
    body = b'{"id":"evt_1","type":"ping"}'
    now = 1_800_000_000
    header = signature_header(SECRET, body, t=now)
    assert header.startswith(f"t={now},v1=") and len(header.split("v1=")[1]) == 64
    assert verify(SECRET, body, header, now=now)
    assert verify(SECRET, body, header, now=now + 299)  # within the tolerance
    assert not verify(SECRET, body + b" ", header, now=now)  # body changed
    assert not verify("whsec_other", body, header, now=now)  # another secret
    assert not verify(SECRET, body, header.replace(f"t={now}", f"t={now + 1}"), now=now)  # timestamp changed
    assert not verify(SECRET, body, header, now=now + 301)  # too old: a replay
    assert not verify(SECRET, body, "v1=" + header.split("v1=")[1], now=now)  # no timestamp
    assert not verify(SECRET, body, "garbage", now=now)
    # the documented recipe, by hand
    import hashlib
    import hmac

    expected = hmac.new(SECRET.encode(), f"{now}.".encode() + body, hashlib.sha256).hexdigest()
    assert header == f"t={now},v1={expected}"


def test_payload_is_the_events_json_and_secrets_look_right() -> None:
    event = AccountEvent(7, "conflict.detected", {"conflict": {"a": {"title": "Réunion ✓"}}}, id="evt_abc")
    body = body_of(event.as_json())
    data = json.loads(body)
    assert data == {"id": "evt_abc", "type": "conflict.detected", "created": event.at.isoformat(), "data": {"conflict": {"a": {"title": "Réunion ✓"}}}}
    assert list(data) == ["id", "type", "created", "data"] and "Réunion ✓" in body
    ping = ping_event(3)
    assert ping["type"] == "ping" and ping["data"]["webhook"] == 3 and ping["id"].startswith("evt_")
    assert ping_event(3)["id"] != ping["id"]
    secrets = {new_secret() for _ in range(20)}
    assert len(secrets) == 20 and all(s.startswith("whsec_") and len(s) == 38 for s in secrets)


@pytest.mark.parametrize(
    "url", ["https://example.com/hooks", "http://127.0.0.1:8080/x", "http://localhost/x", "http://[::1]:9/x", "  https://a.b/c  "]
)
def test_urls_accepted(url: str) -> None:
    assert check_url(url) == url.strip()


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("", "Enter the address"),
        ("ftp://example.com/x", "http or https"),
        ("example.com/hooks", "http or https"),
        ("javascript:alert(1)", "http or https"),
        ("http://example.com/hooks", "Use https"),
        ("http://10.0.0.1/hooks", "Use https"),
        ("https://exa mple.com/", "spaces"),
        ("https://example.com:99999/", "not a valid"),
        ("https://" + "a" * 2000 + ".com", "at most 2000"),
    ],
)
def test_urls_refused_with_a_reason(url: str, words: str) -> None:
    with pytest.raises(WebhookError, match=words):
        check_url(url)


def test_events_default_to_all_and_unknown_ones_are_refused() -> None:
    assert check_events(None) == ("conflict.detected", "sync.failed", "connection.needs_reauth", "interview.status_changed")
    assert check_events(["sync.failed", "conflict.detected"]) == ("conflict.detected", "sync.failed")
    with pytest.raises(WebhookError, match=r"sync\.ran"):
        check_events(["sync.ran"])


# the book ---------------------------------------------------------------------------------------
def test_book_keeps_secrets_encrypted_limits_endpoints_rotates(book: WebhookBook, ada: UserRow, db_url: str) -> None:
    row = book.create(ada.id, "https://example.com/h", None, "  Team   bot ")
    clear = book.secret(row)
    assert clear.startswith("whsec_") and clear not in row.secret and row.description == "Team bot"
    assert clear.encode() not in Path(db_url.removeprefix("sqlite:///")).read_bytes()
    rotated = book.rotate(row)
    assert book.secret(rotated) != clear and book.secret(book.store.webhook(ada.id, row.id)) == book.secret(rotated)  # type: ignore[arg-type]
    for n in range(MAX_ENDPOINTS - 1):
        book.create(ada.id, f"https://example.com/{n}")
    with pytest.raises(WebhookError, match="at most 10"):
        book.create(ada.id, "https://example.com/11")
    with pytest.raises(WebhookError, match="control characters"):
        book.update(row, description="a\x00b")


def test_enqueue_matches_active_endpoints_and_dedupes(book: WebhookBook, ada: UserRow, store: SqlStore) -> None:
    bob = store.create_user("bob@example.test", "$argon2id$y", "personal", datetime.now(UTC))
    every = book.create(ada.id, "https://example.com/all")
    conflicts = book.create(ada.id, "https://example.com/c", ["conflict.detected"])
    off = book.update(book.create(ada.id, "https://example.com/off"), active=False)
    bobs = book.create(bob.id, "https://example.com/bob")
    event = failed_event(ada.id)
    made = book.enqueue(ada.id, event.as_json())
    assert [d.webhook_id for d in made] == [every.id]
    assert book.enqueue(ada.id, event.as_json()) == []  # the same event once per endpoint
    conflict = AccountEvent(ada.id, "conflict.detected", {"conflict": {}}, id="evt_c")
    assert {d.webhook_id for d in book.enqueue(ada.id, conflict.as_json())} == {every.id, conflicts.id}
    assert book.enqueue(ada.id, AccountEvent(ada.id, "sync.ran", {}).as_json()) == []  # never sent
    assert off.id not in {d.webhook_id for d in store.deliveries(ada.id)}
    assert store.deliveries(bob.id, bobs.id) == []
    (first,) = store.deliveries(ada.id, every.id, limit=1)
    assert json.loads(first.body) == conflict.as_json()


# delivery ---------------------------------------------------------------------------------------
async def test_retries_with_growing_delays_then_delivers(book: WebhookBook, ada: UserRow) -> None:
    with Receiver(500, 500, 200) as receiver:
        hook = book.create(ada.id, receiver.url)
        sender = WebhookSender(book, schedule=(0.15, 0.6), jitter=0.0, poll=5)
        await sender.start()
        try:
            sender.on_event(failed_event(ada.id))
            await until(lambda: len(receiver.requests) == 3)
            await until(lambda: book.store.deliveries(ada.id)[0].state == "delivered")
        finally:
            await sender.stop()
    (delivery,) = book.store.deliveries(ada.id)
    assert delivery.attempts == 3 and delivery.last_status == 200 and delivery.last_error == "" and delivery.next_at is None
    first, second = receiver.gaps()
    assert 0.15 <= first < 0.6 <= second < 2.0  # the schedule's delays, growing
    secret = book.secret(hook)
    for headers, body, _ in receiver.requests:
        assert headers["content-type"] == "application/json"
        assert headers["user-agent"] == f"mirrorcal-webhooks/{__version__}"
        assert headers["mirrorcal-event"] == "sync.failed"
        assert headers["mirrorcal-delivery"] == f"dlv_{delivery.id}"  # the same on every retry
        assert verify(secret, body, headers["mirrorcal-signature"])
        assert json.loads(body)["data"] == {"sync": "client-a-to-personal", "error": "Radicale answered 503"}
    assert sender.attempts == 3


async def test_gives_up_after_the_last_attempt(book: WebhookBook, ada: UserRow) -> None:
    with Receiver(503) as receiver:
        book.create(ada.id, receiver.url)
        sender = WebhookSender(book, schedule=(0.01, 0.01, 0.01), jitter=0.0, poll=5)
        await sender.start()
        try:
            sender.on_event(failed_event(ada.id))
            await until(lambda: book.store.deliveries(ada.id)[0].state == "failed")
            await asyncio.sleep(0.1)
        finally:
            await sender.stop()
    (delivery,) = book.store.deliveries(ada.id)
    assert len(receiver.requests) == 4 == delivery.attempts == sender.max_attempts
    assert delivery.last_status == 503 and delivery.next_at is None
    assert delivery.last_error == "The receiver answered 503 Service Unavailable. Gave up after 4 attempts."
    assert DEFAULT_SCHEDULE == (10, 30, 120, 600, 3600, 21600)


async def test_410_gone_turns_the_endpoint_off(book: WebhookBook, ada: UserRow) -> None:
    with Receiver(410) as receiver:
        hook = book.create(ada.id, receiver.url)
        sender = WebhookSender(book, schedule=(0.01,) * 5, jitter=0.0, poll=5)
        await sender.start()
        try:
            sender.on_event(failed_event(ada.id))
            await until(lambda: book.store.deliveries(ada.id)[0].state == "failed")
            sender.on_event(failed_event(ada.id, "another"))  # not enqueued: the endpoint is off
            await asyncio.sleep(0.1)
        finally:
            await sender.stop()
    off = book.store.webhook(ada.id, hook.id)
    assert off is not None and not off.active and "410 Gone" in off.disabled_reason
    assert len(receiver.requests) == 1 and len(book.store.deliveries(ada.id)) == 1


async def test_timeouts_refusals_and_redirects_are_retried_with_the_reason(book: WebhookBook, ada: UserRow) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/nobody"
    with Receiver(200, delay=1.0) as slow, Receiver(302) as moved:
        hooks = [book.create(ada.id, url) for url in (slow.url, closed, moved.url)]
        sender = WebhookSender(book, schedule=(60,), timeout=0.3, poll=5)
        for hook in hooks:
            book.ping(hook)
        assert await sender.run_due() == 3
        assert await sender.run_due() == 0  # the retries are a minute away
        await sender.stop()
    by_hook = {d.webhook_id: d for d in book.store.deliveries(ada.id)}
    timed_out, refused, redirected = (by_hook[h.id] for h in hooks)
    assert timed_out.last_error == "The receiver did not answer within 0.3 seconds." and timed_out.last_status is None
    assert refused.last_error.startswith("Could not reach the receiver") and refused.last_status is None
    assert redirected.last_status == 302 and "redirect, which is not followed" in redirected.last_error
    assert len(moved.requests) == 1  # not followed to elsewhere.example
    for d in (timed_out, refused, redirected):
        assert d.state == "pending" and d.attempts == 1 and d.next_at is not None and d.last_at is not None
        assert 59 <= (d.next_at - d.last_at).total_seconds() <= 66  # 60 s plus up to 10% jitter


async def test_a_restart_resumes_a_pending_delivery(db_url: str, ada: UserRow, store: SqlStore) -> None:
    vault = Vault(Vault.generate_key())
    with Receiver(500, 200) as receiver:
        first_book = WebhookBook(store, vault)
        first_book.create(ada.id, receiver.url)
        first = WebhookSender(first_book, schedule=(0.3,), jitter=0.0, poll=5)
        await first.start()
        first.on_event(failed_event(ada.id))
        await until(lambda: len(receiver.requests) == 1)
        await first.stop()  # the app stops before the retry is due
        (pending,) = store.deliveries(ada.id)
        assert pending.state == "pending" and pending.attempts == 1

        reopened = SqlStore.open(db_url)  # a new process over the same file
        try:
            second = WebhookSender(WebhookBook(reopened, vault), schedule=(0.3,), jitter=0.0, poll=5)
            await second.start()
            try:
                await until(lambda: reopened.deliveries(ada.id)[0].state == "delivered")
            finally:
                await second.stop()
        finally:
            reopened.close()
    assert len(receiver.requests) == 2 and receiver.gaps()[0] >= 0.3
    assert {h["mirrorcal-delivery"] for h, _, _ in receiver.requests} == {f"dlv_{pending.id}"}
    assert receiver.requests[0][1] == receiver.requests[1][1]  # the same body, as stored


async def test_a_ping_goes_to_an_endpoint_whatever_its_events(book: WebhookBook, ada: UserRow) -> None:
    with Receiver(204) as receiver:
        hook = book.create(ada.id, receiver.url, ["conflict.detected"])
        sender = WebhookSender(book, poll=5)
        await sender.start()
        try:
            book.ping(hook)
            sender.wake()
            await until(lambda: len(receiver.requests) == 1)
        finally:
            await sender.stop()
    headers, body, _ = receiver.requests[0]
    assert headers["mirrorcal-event"] == "ping" and json.loads(body)["type"] == "ping"
    assert verify(book.secret(hook), body, headers["mirrorcal-signature"])


async def test_a_secret_the_vault_cannot_read_waits_its_backoff_instead_of_spinning(
    book: WebhookBook, ada: UserRow, store: SqlStore
) -> None:
    with Receiver(200) as receiver:
        book.create(ada.id, receiver.url)
        book.enqueue(ada.id, failed_event(ada.id).as_json())
        other_key = WebhookBook(store, Vault(Vault.generate_key()))  # e.g. MIRRORCAL_SECRET_KEY changed
        sender = WebhookSender(other_key, schedule=(60,), jitter=0.0)
        assert await sender.run_due() == 1
        assert await sender.run_due() == 0  # not retried at once
        await sender.stop()
    (delivery,) = store.deliveries(ada.id)
    assert receiver.requests == [] and delivery.state == "pending" and delivery.attempts == 1
    assert delivery.last_error.startswith("mirrorcal could not send it (a stored credential cannot be decrypted")


async def test_a_retry_for_an_endpoint_turned_off_meanwhile_is_not_sent(book: WebhookBook, ada: UserRow) -> None:
    with Receiver(500) as receiver:
        hook = book.create(ada.id, receiver.url)
        book.enqueue(ada.id, failed_event(ada.id).as_json())
        sender = WebhookSender(book, schedule=(0.0,), jitter=0.0)
        assert await sender.run_due() == 1 and len(receiver.requests) == 1
        book.update(hook, active=False)
        assert await sender.run_due() == 1  # due again at once, but the endpoint is off now
        await sender.stop()
    (delivery,) = book.store.deliveries(ada.id)
    assert len(receiver.requests) == 1 and delivery.state == "failed" and delivery.attempts == 1
    assert delivery.last_error == "The endpoint was turned off before this event could be sent."
