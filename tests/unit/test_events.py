"""The events hub (``web.events``): per-account queues, listeners, overflow, other threads."""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import UTC, datetime

import pytest

from mirrorcal.web.events import KINDS, QUEUE_SIZE, AccountEvent, Events, event_id


def ran(user_id: int, n: int = 0) -> AccountEvent:
    return AccountEvent(user_id, "sync.ran", {"changed": False, "n": n})


def test_events_have_stable_ids_and_known_kinds() -> None:
    at = datetime(2026, 3, 1, 9, tzinfo=UTC)
    a, b = AccountEvent(1, "sync.failed", {"sync": "x"}, at=at), AccountEvent(1, "sync.failed", {"sync": "y"}, at=at)
    assert a.id == b.id == event_id(1, "sync.failed", at.isoformat()) and a.id.startswith("evt_") and len(a.id) == 28
    assert AccountEvent(2, "sync.failed", at=at).id != a.id
    assert event_id(1, "conflict.detected", "k") == event_id(1, "conflict.detected", "k") != event_id(1, "conflict.detected", "j")
    assert a.as_json() == {"id": a.id, "type": "sync.failed", "created": at.isoformat(), "data": {"sync": "x"}}
    assert "ping" not in KINDS
    with pytest.raises(ValueError, match="unknown event kind"):
        AccountEvent(1, "ping")


async def test_subscribe_gets_only_its_accounts_events_until_unsubscribed() -> None:
    hub = Events()
    hub.bind(asyncio.get_running_loop())
    mine, also_mine, theirs = hub.subscribe(1), hub.subscribe(1), hub.subscribe(2)
    first = ran(1)
    hub.publish(first)
    assert mine.get_nowait() is first and also_mine.get_nowait() is first and theirs.empty()
    hub.unsubscribe(1, mine)
    hub.publish(ran(1, 2))
    assert mine.empty() and also_mine.get_nowait().data["n"] == 2
    hub.unsubscribe(1, also_mine)
    hub.unsubscribe(1, also_mine)  # twice is fine
    hub.unsubscribe(3, theirs)  # an account with no queue is fine
    hub.publish(ran(1, 3))
    assert also_mine.empty() and hub.published == 3


async def test_a_full_queue_drops_its_oldest_event_and_never_blocks() -> None:
    hub = Events()
    hub.bind(asyncio.get_running_loop())
    queue = hub.subscribe(1)
    for n in range(QUEUE_SIZE + 5):
        hub.publish(ran(1, n))
    assert queue.qsize() == QUEUE_SIZE
    assert [queue.get_nowait().data["n"] for _ in range(QUEUE_SIZE)] == list(range(5, QUEUE_SIZE + 5))


async def test_a_failing_listener_is_logged_and_the_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    hub = Events()
    hub.bind(asyncio.get_running_loop())
    seen: list[str] = []

    def broken(event: AccountEvent) -> None:
        raise RuntimeError("listener bug")

    hub.listen(seen.append)  # type: ignore[arg-type]
    hub.listen(broken)
    hub.listen(lambda e: seen.append(e.kind))
    queue = hub.subscribe(5)
    with caplog.at_level(logging.ERROR, logger="mirrorcal.web.events"):
        event = AccountEvent(5, "connection.needs_reauth", {"connection": "g", "message": "sign in again"})
        hub.publish(event)
    assert seen == [event, "connection.needs_reauth"]  # type: ignore[comparison-overlap]
    assert queue.get_nowait() is event
    assert "an event listener failed on connection.needs_reauth" in caplog.text


async def test_publish_from_another_thread_is_delivered_on_the_loop() -> None:
    hub = Events()
    loop = asyncio.get_running_loop()
    hub.bind(loop)
    queue = hub.subscribe(1)
    threads: list[int] = []
    hub.listen(lambda e: threads.append(threading.get_ident()))
    worker = threading.Thread(target=lambda: [hub.publish(ran(1, n)) for n in range(3)])
    worker.start()
    worker.join()
    got = [await asyncio.wait_for(queue.get(), timeout=2) for _ in range(3)]
    assert [e.data["n"] for e in got] == [0, 1, 2]
    assert threads == [threading.get_ident()] * 3  # the listeners ran on the loop's thread, not the publisher's


def test_publish_without_a_loop_delivers_at_once_and_after_the_loop_closed_drops() -> None:
    hub = Events()
    seen: list[AccountEvent] = []
    hub.listen(seen.append)
    hub.publish(ran(1))  # unbound: delivered in the caller
    assert len(seen) == 1
    loop = asyncio.new_event_loop()
    hub.bind(loop)
    loop.close()
    hub.publish(ran(1))  # the app stopped: nothing to deliver on, nothing raised
    assert len(seen) == 1 and hub.published == 1
