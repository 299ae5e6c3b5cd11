"""The store's webhook endpoints and deliveries, on every ``Store`` (memory, SQLite, PostgreSQL).

Uses the backends of ``test_store_contract`` (PostgreSQL in a fresh schema per test)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from test_store_contract import Backend, backend, durable, pg_admin, store

from mirrorcal.errors import StoreError
from mirrorcal.store.base import Store, UserRow, WebhookRow

__all__ = ["backend", "durable", "pg_admin", "store"]  # fixtures, used by name

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
PARIS = timezone(timedelta(hours=1))
ALL = ("conflict.detected", "sync.failed", "connection.needs_reauth")


def users(store: Store) -> tuple[UserRow, UserRow]:
    return (
        store.create_user("ada@example.test", "$argon2id$x", "personal", T0),
        store.create_user("bob@example.test", "$argon2id$y", "personal", T0),
    )


def hook(store: Store, user: UserRow, url: str = "https://example.test/h", events: tuple[str, ...] = ALL) -> WebhookRow:
    return store.create_webhook(user.id, url, events, "Team bot ✓", "gAAAA-encrypted", T0)


def test_webhook_create_read_update_delete_per_user(store: Store) -> None:
    ada, bob = users(store)
    assert store.webhooks(ada.id) == [] and store.webhooks() == []
    first = store.create_webhook(ada.id, "https://a.test/1", ("sync.failed", "conflict.detected"), "d", "enc1", T0.astimezone(PARIS))
    assert first.events == ("conflict.detected", "sync.failed")  # the usual order, whatever was given
    assert first.active and first.disabled_reason == "" and first.created == T0 and first.created.tzinfo == UTC
    second = hook(store, ada, "https://a.test/2")
    bobs = hook(store, bob, "https://b.test/1")
    assert store.webhooks(ada.id) == [first, second] and store.webhooks(bob.id) == [bobs]
    assert store.webhooks() == [first, second, bobs]
    assert store.webhook(ada.id, first.id) == first
    assert store.webhook(bob.id, first.id) is None  # another account's endpoint is not found

    changed = replace(
        first, url="https://a.test/new", events=("connection.needs_reauth",), description="", secret="enc2",
        active=False, disabled_reason="410 Gone",
    )  # fmt: skip
    assert store.update_webhook(changed) is True
    assert store.webhook(ada.id, first.id) == changed
    assert store.update_webhook(replace(changed, user_id=bob.id, url="https://evil.test")) is False
    assert store.webhook(ada.id, first.id) == changed

    assert store.delete_webhook(bob.id, first.id) is False and store.webhook(ada.id, first.id) == changed
    assert store.delete_webhook(ada.id, first.id) is True and store.delete_webhook(ada.id, first.id) is False
    assert store.webhooks(ada.id) == [second]


def test_bad_webhooks_are_store_errors(store: Store) -> None:
    ada, _ = users(store)
    with pytest.raises(StoreError):
        store.create_webhook(ada.id + 1000, "https://x.test", ALL, "", "enc", T0)  # unknown user
    with pytest.raises(StoreError):
        store.create_webhook(ada.id, "https://x.test", ("sync.ran",), "", "enc", T0)  # not a webhook event
    with pytest.raises(StoreError):
        store.create_webhook(ada.id, "https://x.test", (), "", "enc", T0)
    with pytest.raises(StoreError):
        store.create_webhook(ada.id, "https://x.test", ALL, "", "enc", datetime(2026, 3, 1, 9, 30))  # naive
    row = hook(store, ada)
    with pytest.raises(StoreError):
        store.update_webhook(replace(row, events=("nope",)))
    assert store.webhooks(ada.id) == [row]
    with pytest.raises(StoreError):
        store.enqueue_delivery(row.id + 1000, "evt_1", "sync.failed", "{}", T0)


def test_deliveries_enqueue_once_come_due_and_record_attempts(store: Store) -> None:
    ada, bob = users(store)
    a1, a2, b1 = hook(store, ada), hook(store, ada, "https://a.test/2"), hook(store, bob)
    first = store.enqueue_delivery(a1.id, "evt_1", "sync.failed", '{"id":"evt_1","é":"✓"}', T0)
    assert first is not None
    assert (first.user_id, first.state, first.attempts, first.next_at, first.created) == (ada.id, "pending", 0, T0, T0)
    assert first.last_at is None and first.last_status is None and first.last_error == ""
    assert store.enqueue_delivery(a1.id, "evt_1", "sync.failed", "{}", T0 + timedelta(hours=1)) is None  # dedupe
    other = store.enqueue_delivery(a2.id, "evt_1", "sync.failed", "{}", T0 + timedelta(seconds=5))  # same event, other endpoint
    bobs = store.enqueue_delivery(b1.id, "evt_1", "sync.failed", "{}", T0 - timedelta(seconds=5))
    assert other is not None and bobs is not None

    assert store.due_deliveries(T0 - timedelta(seconds=6)) == []
    assert store.due_deliveries(T0) == [bobs, first]  # most overdue first
    assert store.due_deliveries(T0 + timedelta(seconds=5)) == [bobs, first, other]
    assert store.due_deliveries(T0 + timedelta(seconds=5), limit=1) == [bobs]
    assert store.next_delivery_at() == T0 - timedelta(seconds=5)

    later = T0 + timedelta(minutes=1)
    store.record_attempt(first.id, state="pending", attempts=1, next_at=later, at=T0, status=500, error="The receiver answered 500.")
    store.record_attempt(bobs.id, state="delivered", attempts=1, next_at=None, at=T0.astimezone(PARIS), status=204, error="")
    assert store.due_deliveries(T0 + timedelta(seconds=5)) == [other]
    assert store.next_delivery_at() == T0 + timedelta(seconds=5)
    (again,) = store.deliveries(ada.id, a1.id)
    assert again == replace(first, attempts=1, next_at=later, last_at=T0, last_status=500, last_error="The receiver answered 500.")
    assert [d.id for d in store.deliveries(ada.id)] == [other.id, first.id]  # newest first, this account's only
    assert store.deliveries(ada.id, limit=1) == [other] and store.deliveries(ada.id, limit=0) == []
    assert store.deliveries(bob.id, a1.id) == []  # another account's endpoint: nothing
    (done,) = store.deliveries(bob.id)
    assert done.state == "delivered" and done.next_at is None and done.last_at == T0 and done.last_status == 204

    store.record_attempt(other.id, state="failed", attempts=7, next_at=None, at=later, status=None, error="gave up")
    assert store.next_delivery_at() == later and store.due_deliveries(later) == [replace(first, attempts=1, next_at=later, last_at=T0, last_status=500, last_error="The receiver answered 500.")]
    with pytest.raises(StoreError):
        store.record_attempt(first.id, state="lost", attempts=2, next_at=None, at=later, status=None, error="")
    with pytest.raises(StoreError):
        store.record_attempt(first.id + 1000, state="failed", attempts=2, next_at=None, at=later, status=None, error="")
    with pytest.raises(StoreError):
        store.record_attempt(first.id, state="failed", attempts=2, next_at=None, at=datetime(2026, 3, 1), status=None, error="")

    assert store.delete_webhook(ada.id, a1.id)  # its deliveries go with it
    assert [d.id for d in store.deliveries(ada.id)] == [other.id] and store.next_delivery_at() is None


def test_webhooks_and_deliveries_are_durable(durable: Backend) -> None:
    ada, _ = users(durable.store)
    row = hook(durable.store, ada)
    made = durable.store.enqueue_delivery(row.id, "evt_9", "conflict.detected", '{"a":1}', T0)
    assert made is not None
    again = durable.another()
    assert again.webhooks(ada.id) == [row]
    assert again.due_deliveries(T0) == [made]
    assert again.enqueue_delivery(row.id, "evt_9", "conflict.detected", "{}", T0) is None


def test_concurrent_enqueues_of_one_event_make_one_delivery(durable: Backend) -> None:
    import threading

    ada, _ = users(durable.store)
    row = hook(durable.store, ada)
    stores = [durable.store, durable.another()]
    made: list[object] = []
    start = threading.Barrier(8)

    def enqueue(n: int) -> None:
        start.wait()
        made.append(stores[n % 2].enqueue_delivery(row.id, "evt_same", "sync.failed", "{}", T0))

    threads = [threading.Thread(target=enqueue, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 8 and len([m for m in made if m is not None]) == 1
    assert len(durable.store.deliveries(ada.id)) == 1
