"""What happens in an account, as events: the sync worker publishes, live pages and webhooks listen.

An ``Events`` hub lives on ``app.state.events``. ``publish`` may be called from any thread
(the worker runs on the app's event loop; page handlers run in a thread pool). Two kinds of
listener:

- ``subscribe(user_id)`` gives an asyncio queue of that account's events (the week page's
  live stream); ``unsubscribe`` drops it. A slow reader loses its oldest events, never blocks
  the worker.
- ``listen(callback)`` calls ``callback(event)`` for every account's events on the hub's loop
  (the webhook sender); a failing callback is logged and the others still run.

Kinds (``KINDS``): ``sync.ran`` (an account's syncs ran; ``data``: ``{"changed": bool,
"syncs": {name: {"created": n, "updated": n, "deleted": n, "errors": n}}}``), ``sync.failed``
(``{"sync", "error"}``; once when a sync starts failing or its error changes),
``conflict.detected`` (``{"conflict": Conflict.as_json()}``; once per conflict while it lasts),
``connection.needs_reauth`` (``{"connection", "message"}``; once per sign-in lost),
``interview.status_changed`` (an interview request moved: see ``recruiting.status_event``).
Names in ``data`` are the account's own (no ``u{id}.`` prefix).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)

KINDS = ("sync.ran", "sync.failed", "conflict.detected", "connection.needs_reauth", "interview.status_changed")
QUEUE_SIZE = 100


@dataclass(frozen=True, slots=True)
class AccountEvent:
    """One event of one account. ``id`` is stable for the same fact (a conflict announced twice,
    say after a restart, carries the same id) so receivers can drop repeats."""

    user_id: int
    kind: str
    data: Mapping[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    id: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown event kind {self.kind!r}")
        if not self.id:
            object.__setattr__(self, "id", event_id(self.user_id, self.kind, self.at.isoformat()))

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.kind, "created": self.at.isoformat(), "data": dict(self.data)}


def event_id(user_id: int, kind: str, *key: str) -> str:
    """A stable id for the fact named by ``key`` (``evt_`` + 24 hex digits)."""
    digest = hashlib.blake2b("\x1f".join((str(user_id), kind, *key)).encode(), digest_size=12).hexdigest()
    return "evt_" + digest


class Events:
    """The hub; see the module docstring."""

    def __init__(self) -> None:
        self._queues: dict[int, set[asyncio.Queue[AccountEvent]]] = {}
        self._listeners: list[Callable[[AccountEvent], None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self.published = 0

    def bind(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Deliver on ``loop`` (the app's loop, bound by the lifespan); None unbinds."""
        self._loop = loop

    def subscribe(self, user_id: int) -> asyncio.Queue[AccountEvent]:
        queue: asyncio.Queue[AccountEvent] = asyncio.Queue(QUEUE_SIZE)
        self._queues.setdefault(user_id, set()).add(queue)
        return queue

    def unsubscribe(self, user_id: int, queue: asyncio.Queue[AccountEvent]) -> None:
        queues = self._queues.get(user_id)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self._queues[user_id]

    def listen(self, callback: Callable[[AccountEvent], None]) -> None:
        self._listeners.append(callback)

    def publish(self, event: AccountEvent) -> None:
        loop = self._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or running is loop:
            self._deliver(event)
        elif not loop.is_closed():
            loop.call_soon_threadsafe(self._deliver, event)

    def _deliver(self, event: AccountEvent) -> None:
        self.published += 1
        for queue in list(self._queues.get(event.user_id, ())):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(event)
        for callback in list(self._listeners):
            try:
                callback(event)
            except Exception:  # noqa: BLE001 - one listener must not silence the others
                log.exception("an event listener failed on %s", event.kind)
