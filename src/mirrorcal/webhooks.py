"""Outbound webhooks: an account's events POSTed, signed, to its own endpoints, retried with backoff.

An account has up to ``MAX_ENDPOINTS`` endpoints. Each names the events it wants (some of
``conflict.detected``, ``sync.failed``, ``connection.needs_reauth``; a ``ping`` test can always be
sent) and has a signing secret (``whsec_`` + 32 random URL-safe characters), kept encrypted with the
vault (``mirrorcal.secrets``) like the connections' credentials: it must be readable to sign.

The request
-----------
``POST <url>`` with the JSON body ``{"id": "evt_...", "type": "sync.failed", "created": "<ISO 8601>",
"data": {...}}`` (``web.events.AccountEvent.as_json()``: names are the account's own) and the headers::

    Content-Type: application/json
    User-Agent: mirrorcal-webhooks/<version>
    Mirrorcal-Event: <type>
    Mirrorcal-Delivery: dlv_<delivery id>          (the same on every retry of one delivery)
    Mirrorcal-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>

The signature is computed over the exact bytes of the body, prefixed by the timestamp and a dot
(as Stripe does). To verify: split the header on commas, recompute the HMAC with the endpoint's
secret (the whole ``whsec_...`` text, UTF-8) over ``t + "." + raw body``, compare in constant time
with any ``v1`` value, and refuse a ``t`` more than 5 minutes away from now (replays)::

    import hashlib, hmac, time

    def verify(secret: str, body: bytes, header: str, tolerance: int = 300) -> bool:
        parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
        t = next((v for k, v in parts if k == "t"), "")
        if not t.isdigit() or abs(time.time() - int(t)) > tolerance:
            return False
        expected = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
        return any(k == "v1" and hmac.compare_digest(v, expected) for k, v in parts)

``verify`` below does exactly this. An event's ``id`` is stable for one fact, so a receiver can drop
repeats.

Delivery
--------
A 2xx answer within ``timeout`` (10 s) is delivered. Anything else (another status, a redirect,
which is not followed, a timeout, a connection error) is retried after ``schedule[n]`` seconds
(10 s, 30 s, 2 min, 10 min, 1 h, 6 h; plus up to ``jitter`` of it at random) until
``len(schedule) + 1`` attempts were made; then the delivery has "failed". A 410 Gone means the
receiver wants no more: the endpoint is turned off (with the reason shown) and the delivery fails.

Deliveries live in the store (``webhook_deliveries``) with their exact body, attempts, next due
time and last outcome, so a restart loses none: a new ``WebhookSender`` over the same database
picks up what is due. One sender should run per database (the web app's, beside its sync worker).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import random
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from mirrorcal import __version__
from mirrorcal.dueloop import DueLoop
from mirrorcal.errors import MirrorcalError
from mirrorcal.secrets import Vault
from mirrorcal.store.base import WEBHOOK_EVENTS, DeliveryRow, Store, WebhookRow

log = logging.getLogger(__name__)

EVENTS = WEBHOOK_EVENTS
"""The events an endpoint may ask for."""
PING = "ping"
"""The test event, sent on request to one endpoint whatever its events."""
MAX_ENDPOINTS = 10
MAX_URL_LENGTH = 2000
MAX_DESCRIPTION_LENGTH = 200
SECRET_PREFIX = "whsec_"
DEFAULT_SCHEDULE: tuple[float, ...] = (10, 30, 120, 600, 3600, 6 * 3600)
"""Seconds to wait after the 1st, 2nd, ... failed attempt; one attempt more than its length in all."""
TIMEOUT = 10.0
TOLERANCE = 300
"""How far (seconds) a signature's timestamp may be from now for ``verify``."""
USER_AGENT = f"mirrorcal-webhooks/{__version__}"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


class WebhookError(MirrorcalError):
    """A refused webhook input (its message says what to change), or too many endpoints."""


# signing ----------------------------------------------------------------------------------------
def new_secret() -> str:
    """A new signing secret: ``whsec_`` + 32 random URL-safe characters."""
    return SECRET_PREFIX + secrets.token_urlsafe(24)


def signature(secret: str, body: bytes, t: int) -> str:
    """The hex HMAC-SHA256 of ``f"{t}.{body}"`` keyed with ``secret``."""
    return hmac.new(secret.encode(), str(t).encode() + b"." + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, t: int | None = None) -> str:
    """The ``Mirrorcal-Signature`` header value: ``t=<unix>,v1=<hex>`` (``t``: now by default)."""
    t = int(time.time()) if t is None else t
    return f"t={t},v1={signature(secret, body, t)}"


def verify(secret: str, body: bytes, header: str, *, tolerance: int = TOLERANCE, now: float | None = None) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` at a time within ``tolerance`` seconds of
    ``now`` (see the module docstring; what a receiver does)."""
    parts = [p.strip().split("=", 1) for p in header.split(",") if "=" in p]
    t = next((v for k, v in parts if k == "t"), "")
    if not t.isdigit() or abs((time.time() if now is None else now) - int(t)) > tolerance:
        return False
    expected = signature(secret, body, int(t))
    return any(k == "v1" and hmac.compare_digest(v, expected) for k, v in parts)


def body_of(event: Mapping[str, Any]) -> str:
    """The JSON text POSTed for ``event`` (``{"id", "type", "created", "data"}``)."""
    return json.dumps(dict(event), ensure_ascii=False, separators=(",", ":"), sort_keys=False)


def ping_event(webhook_id: int, at: datetime | None = None) -> dict[str, Any]:
    """A test event for endpoint ``webhook_id`` (a new id each time)."""
    at = at or datetime.now(UTC)
    return {
        "id": "evt_" + secrets.token_hex(12),
        "type": PING,
        "created": at.isoformat(),
        "data": {"webhook": webhook_id, "message": "A test from mirrorcal: this endpoint receives its events."},
    }


# inputs -----------------------------------------------------------------------------------------
def check_url(url: str) -> str:
    """``url`` stripped, or ``WebhookError`` saying why it cannot receive webhooks: it must be an
    absolute https address (http only on this machine: localhost, 127.0.0.1, [::1])."""
    url = url.strip()
    if not url:
        raise WebhookError("Enter the address that should receive the events, like https://example.com/hooks.")
    if len(url) > MAX_URL_LENGTH:
        raise WebhookError(f"Use an address of at most {MAX_URL_LENGTH} characters.")
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise WebhookError("This is not a valid web address.") from None
    if parts.scheme not in ("http", "https") or not host:
        raise WebhookError("Use an http or https address, like https://example.com/hooks.")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise WebhookError("A web address cannot contain spaces or control characters.")
    if parts.scheme == "http" and not _loopback(host):
        raise WebhookError("Use https: plain http is only allowed for this machine (localhost, 127.0.0.1).")
    return url


def _loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host).is_loopback
    return False


def check_events(events: Sequence[str] | None) -> tuple[str, ...]:
    """``events`` in their usual order, all of them when None or empty; ``WebhookError`` for an unknown one."""
    if not events:
        return EVENTS
    unknown = sorted({e for e in events if e not in EVENTS})
    if unknown:
        raise WebhookError(f"Unknown event {', '.join(unknown)}: choose from {', '.join(EVENTS)}.")
    return tuple(e for e in EVENTS if e in events)


def check_description(text: str) -> str:
    """``text`` with its spaces tidied; ``WebhookError`` when too long or holding control characters."""
    text = " ".join(text.split())
    if not text.isprintable():
        raise WebhookError("The description cannot contain control characters.")
    if len(text) > MAX_DESCRIPTION_LENGTH:
        raise WebhookError(f"Use at most {MAX_DESCRIPTION_LENGTH} characters for the description.")
    return text


# the book: endpoints with their secrets ---------------------------------------------------------
class WebhookBook:
    """An account's endpoints in ``store``, their secrets encrypted with ``vault``; and the
    deliveries made from account events. Raises ``WebhookError`` for refused input,
    ``StoreError`` from the store, ``SecretsError`` when a secret cannot be decrypted."""

    def __init__(self, store: Store, vault: Vault | Callable[[], Vault]) -> None:
        """``vault`` may be a function that loads it: then it is loaded on first use (and a key
        that cannot be loaded fails that use, not the book's creation)."""
        self.store = store
        self._vault = vault

    @property
    def vault(self) -> Vault:
        if not isinstance(self._vault, Vault):
            self._vault = self._vault()
        return self._vault

    def create(
        self, user_id: int, url: str, events: Sequence[str] | None = None, description: str = "", at: datetime | None = None
    ) -> WebhookRow:
        url, kinds, description = check_url(url), check_events(events), check_description(description)
        if len(self.store.webhooks(user_id)) >= MAX_ENDPOINTS:
            raise WebhookError(f"An account can have at most {MAX_ENDPOINTS} webhook endpoints; delete one first.")
        secret = self.vault.encrypt(new_secret())
        return self.store.create_webhook(user_id, url, kinds, description, secret, at or datetime.now(UTC))

    def secret(self, row: WebhookRow) -> str:
        """The endpoint's signing secret in clear (for its owner and for signing)."""
        return self.vault.decrypt(row.secret)

    def update(
        self,
        row: WebhookRow,
        *,
        url: str | None = None,
        events: Sequence[str] | None = None,
        description: str | None = None,
        active: bool | None = None,
    ) -> WebhookRow:
        """``row`` changed as asked and stored; turning it on again clears why it was off."""
        changed = row
        if url is not None:
            changed = replace(changed, url=check_url(url))
        if events is not None:
            changed = replace(changed, events=check_events(events))
        if description is not None:
            changed = replace(changed, description=check_description(description))
        if active is not None and active != row.active:
            changed = replace(changed, active=active, disabled_reason="")
        self.store.update_webhook(changed)
        return changed

    def rotate(self, row: WebhookRow) -> WebhookRow:
        """A new signing secret for the endpoint (the old one stops signing at once)."""
        changed = replace(row, secret=self.vault.encrypt(new_secret()))
        self.store.update_webhook(changed)
        return changed

    def enqueue(self, user_id: int, event: Mapping[str, Any], at: datetime | None = None) -> list[DeliveryRow]:
        """A delivery of ``event`` (an ``AccountEvent.as_json()``) for each active endpoint of the
        user that wants its type; an event already enqueued for an endpoint is not enqueued again."""
        kind = str(event["type"])
        if kind not in EVENTS:
            return []
        made = []
        for hook in self.store.webhooks(user_id):
            if hook.active and kind in hook.events:
                row = self.store.enqueue_delivery(hook.id, str(event["id"]), kind, body_of(event), at or datetime.now(UTC))
                if row is not None:
                    made.append(row)
        return made

    def ping(self, row: WebhookRow, at: datetime | None = None) -> DeliveryRow:
        """A test delivery to the endpoint (even when it is off: a ping is asked for by hand)."""
        event = ping_event(row.id, at)
        made = self.store.enqueue_delivery(row.id, event["id"], PING, body_of(event), at or datetime.now(UTC))
        assert made is not None, "a ping's id is new"
        return made


# sending ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt gave: the receiver's status (None: no answer) and, when not delivered, why."""

    status: int | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class WebhookSender(DueLoop):
    """Delivers due deliveries until ``stop()``: each is POSTed, signed, and retried on ``schedule``.

    ``wake()`` (any thread) makes it look for due deliveries at once (after an enqueue); else it
    looks when the next one is due, at least every ``poll`` seconds (another process may enqueue).
    ``attempts`` counts every POST made (tests wait on it). ``on_event`` is an ``Events`` listener.
    """

    NAME = "webhook"

    def __init__(
        self,
        book: WebhookBook,
        *,
        schedule: Sequence[float] = DEFAULT_SCHEDULE,
        jitter: float = 0.1,
        timeout: float = TIMEOUT,
        poll: float = 30.0,
        concurrency: int = 4,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(schedule=schedule, poll=poll, clock=clock)
        self.book = book
        self.store = book.store
        self.jitter = jitter
        self.timeout = timeout
        self._bound = asyncio.Semaphore(concurrency)
        self._client: httpx.AsyncClient | None = None

    async def _open(self) -> None:
        self._client = self._new_client()

    async def _close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def next_due(self) -> datetime | None:
        return self.store.next_delivery_at()

    def on_event(self, event: Any) -> None:
        """An ``Events`` listener: enqueue ``event`` (an ``AccountEvent``) for the account's endpoints."""
        if self._stopping or event.kind not in EVENTS:
            return
        if self.book.enqueue(event.user_id, event.as_json(), at=self._now()):
            self.wake()

    # the loop ---------------------------------------------------------------------------------
    async def run_due(self) -> int:
        """Attempt every delivery due now, once; returns how many were attempted."""
        due = self.store.due_deliveries(self._now())
        if due:
            await asyncio.gather(*(self._bounded(row) for row in due))
        return len(due)

    async def _bounded(self, row: DeliveryRow) -> None:
        async with self._bound:
            try:
                await self.attempt(row)
            except Exception as exc:  # noqa: BLE001 - one delivery must not stop the others
                log.exception("webhook delivery %s failed unexpectedly", row.id)
                self._give_later(row, f"mirrorcal could not send it ({_plain(exc)}).")

    def _give_later(self, row: DeliveryRow, error: str) -> None:
        """Count a failed attempt that never reached the receiver (say, a secret the vault cannot
        decrypt), so the delivery waits its backoff instead of being retried at once forever."""
        attempts = row.attempts + 1
        at = self._now()
        try:
            if attempts >= self.max_attempts:
                self._record(row, "failed", attempts, None, at, None, error)
            else:
                self._record(row, "pending", attempts, at + timedelta(seconds=self.schedule[attempts - 1]), at, None, error)
        except Exception:  # noqa: BLE001 - e.g. the endpoint was deleted meanwhile
            log.exception("webhook delivery %s: its attempt could not be recorded", row.id)

    async def attempt(self, row: DeliveryRow) -> DeliveryRow:
        """POST ``row`` once and record the outcome; returns the delivery as now stored."""
        hook = self.store.webhook(row.user_id, row.webhook_id)
        at = self._now()
        if hook is None or (not hook.active and row.kind != PING):
            why = "The endpoint was turned off before this event could be sent."
            return self._record(row, "failed", row.attempts, None, at, None, why)
        outcome = await self._post(hook, row)
        self.attempts += 1
        attempts = row.attempts + 1
        at = self._now()
        if outcome.ok:
            return self._record(row, "delivered", attempts, None, at, outcome.status, "")
        if outcome.status == 410:
            reason = f"Turned off on {at:%Y-%m-%d %H:%M} UTC: the receiver answered 410 Gone (it wants no more events)."
            self.store.update_webhook(replace(hook, active=False, disabled_reason=reason))
            return self._record(row, "failed", attempts, None, at, outcome.status, outcome.error)
        if attempts >= self.max_attempts:
            error = f"{outcome.error} Gave up after {attempts} attempts."
            return self._record(row, "failed", attempts, None, at, outcome.status, error)
        delay = self.schedule[attempts - 1] * (1 + random.uniform(0, self.jitter))  # noqa: S311 - not a secret
        return self._record(row, "pending", attempts, at + timedelta(seconds=delay), at, outcome.status, outcome.error)

    def _record(
        self, row: DeliveryRow, state: str, attempts: int, next_at: datetime | None, at: datetime, status: int | None, error: str
    ) -> DeliveryRow:
        self.store.record_attempt(row.id, state=state, attempts=attempts, next_at=next_at, at=at, status=status, error=error)
        return replace(row, state=state, attempts=attempts, next_at=next_at, last_at=at, last_status=status, last_error=error)

    async def _post(self, hook: WebhookRow, row: DeliveryRow) -> Outcome:
        body = row.body.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Mirrorcal-Event": row.kind,
            "Mirrorcal-Delivery": f"dlv_{row.id}",
            "Mirrorcal-Signature": signature_header(self.book.secret(hook), body),
        }
        client = self._client or self._new_client()
        try:
            response = await client.post(hook.url, content=body, headers=headers)
        except httpx.TimeoutException:
            return Outcome(None, f"The receiver did not answer within {self.timeout:g} seconds.")
        except httpx.HTTPError as exc:
            return Outcome(None, f"Could not reach the receiver: {_plain(exc)}.")
        finally:
            if client is not self._client:
                await client.aclose()
        status = response.status_code
        if 200 <= status < 300:
            return Outcome(status)
        phrase = f"{status} {response.reason_phrase}".strip()
        if 300 <= status < 400:
            return Outcome(status, f"The receiver answered {phrase}, a redirect, which is not followed: use the final address.")
        return Outcome(status, f"The receiver answered {phrase}.")

    def _new_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=self.timeout, follow_redirects=False, trust_env=False)


def _plain(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__
