"""The one HTTP helper every adapter uses: retries with jittered backoff and error mapping at the edge.

``send`` sends a request through a caller-owned ``httpx.AsyncClient``. It retries 429, 408,
500/502/503/504 (and Google's ``403 rateLimitExceeded``), timeouts and dropped connections
with exponential, jittered backoff, honouring ``Retry-After``; when the retries are spent, or
for any other 4xx/5xx the caller did not say it handles, it raises a ``mirrorcal.errors``
exception whose message names the method, the URL and the status. Every request that goes on
the wire (retries included) is counted per client by ``RequestCounter`` so benchmarks can report
HTTP requests.

Retries are safe for the adapters' writes: creates carry ``If-None-Match: *`` or a client-chosen
id, so a create retried after a lost answer comes back as ``AlreadyExistsError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import weakref
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from ..errors import (
    AuthError,
    ConflictError,
    NotFoundError,
    ProviderError,
    RateLimitError,
    TransientError,
)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
"""Statuses worth another try; 501 (not implemented) and 507 are answers, not hiccups."""

_RATE_LIMIT_REASONS = ("ratelimitexceeded", "userratelimitexceeded", "quotaexceeded")


# --------------------------------------------------------------------------- request counting


@dataclass(slots=True)
class RequestCounter:
    """How many requests a client sent, in total and per method (retries count)."""

    total: int = 0
    by_method: Counter[str] = field(default_factory=Counter)

    async def _hook(self, request: httpx.Request) -> None:
        self.total += 1
        self.by_method[request.method] += 1

    def reset(self) -> None:
        self.total = 0
        self.by_method.clear()


_counters: weakref.WeakKeyDictionary[httpx.AsyncClient, RequestCounter] = weakref.WeakKeyDictionary()


def counter_for(client: httpx.AsyncClient) -> RequestCounter:
    """The request counter of ``client``, attaching it as a request event hook the first time.

    Attach it before sending anything you want counted; it counts every request of the client,
    whoever sends it.
    """
    counter = _counters.get(client)
    if counter is None:
        counter = _counters[client] = RequestCounter()
        hooks = client.event_hooks
        hooks.setdefault("request", []).append(counter._hook)
        client.event_hooks = hooks
    return counter


def make_client(*, timeout: float = 30.0, **kwargs: object) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` with mirrorcal's defaults and a request counter attached."""
    client = httpx.AsyncClient(timeout=timeout, **kwargs)  # type: ignore[arg-type]
    counter_for(client)
    return client


# --------------------------------------------------------------------------- error mapping


def _excerpt(response: httpx.Response, limit: int = 200) -> str:
    try:
        text = response.text
    except Exception:  # undecodable body: the status says enough
        return ""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def is_rate_limit(response: httpx.Response) -> bool:
    """True for 429 and for a 403 whose body names a rate limit (Google's ``rateLimitExceeded``)."""
    if response.status_code == 429:
        return True
    if response.status_code == 403:
        try:
            body = response.text.lower()
        except Exception:
            return False
        return any(reason in body for reason in _RATE_LIMIT_REASONS)
    return False


def retry_after(response: httpx.Response, *, now: datetime | None = None) -> float | None:
    """Seconds the ``Retry-After`` header asks for (delta-seconds or HTTP-date), None if absent/bad."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def describe(method: str, url: str | httpx.URL, response: httpx.Response | None = None) -> str:
    """A readable one-line description of a request and its answer, for error messages."""
    text = f"{method} {url}"
    if response is not None:
        text += f": HTTP {response.status_code} {response.reason_phrase}".rstrip()
        body = _excerpt(response)
        if body:
            text += f": {body}"
    return text


def error_for(response: httpx.Response, method: str | None = None) -> ProviderError:
    """The ``mirrorcal.errors`` exception for an error ``response`` (not raised, returned), its
    ``status`` set to the response's."""
    error = _error_class(response, describe(method or response.request.method, response.request.url, response))
    error.status = response.status_code
    return error


def _error_class(response: httpx.Response, message: str) -> ProviderError:
    status = response.status_code
    if is_rate_limit(response):
        return RateLimitError(message, retry_after(response))
    if status in (401, 403):
        return AuthError(message)
    if status in (404, 410):
        return NotFoundError(message)
    if status in (409, 412):
        return ConflictError(message)
    if status in RETRY_STATUSES:
        return TransientError(message)
    return ProviderError(message)


# --------------------------------------------------------------------------- sending


PER_HOST = 4
"""Requests in flight to one host at once, across every calendar and client: servers queue or
drop connections beyond their own limit (Radicale answers the ninth concurrent connection a
second late; Graph allows four per mailbox)."""

_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]] = (
    weakref.WeakKeyDictionary()
)


def host_slot(client: httpx.AsyncClient, url: str | httpx.URL) -> asyncio.Semaphore:
    """The semaphore bounding concurrent requests to ``url``'s host in the running loop."""
    target = client.base_url.join(url) if client.base_url else httpx.URL(url)
    per_loop = _slots.setdefault(asyncio.get_running_loop(), {})
    key = f"{target.scheme}://{target.host}:{target.port}"
    if key not in per_loop:
        per_loop[key] = asyncio.Semaphore(PER_HOST)
    return per_loop[key]


def backoff_delay(attempt: int, base_delay: float, max_delay: float) -> float:
    """Jittered exponential delay before retry number ``attempt`` (0-based): in [½, 1] × base·2^n."""
    cap = min(max_delay, base_delay * (2**attempt))
    return cap * random.uniform(0.5, 1.0)


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str | httpx.URL,
    *,
    headers: Mapping[str, str] | None = None,
    content: str | bytes | None = None,
    params: Mapping[str, str] | None = None,
    json: object = None,
    handle: Collection[int] = (),
    retries: int = 4,
    base_delay: float = 0.1,
    max_delay: float = 5.0,
    max_retry_after: float = 60.0,
    per_host: bool = True,
) -> httpx.Response:
    """Send one request, retrying transient failures; return the response or raise a ProviderError.

    Returns the response when its status is < 400 or listed in ``handle`` (statuses the caller
    interprets itself, e.g. 412 or 207 subtleties). Otherwise, after up to ``retries`` retries of
    retryable failures (delays from ``base_delay`` doubling up to ``max_delay``, or the server's
    ``Retry-After`` when it is at most ``max_retry_after`` seconds), raises:

    * ``RateLimitError`` (429, 403 rate limit; ``retry_after`` set from the header),
    * ``TransientError`` (5xx retry statuses, timeouts, dropped connections),
    * ``AuthError`` (401, other 403), ``NotFoundError`` (404, 410), ``ConflictError`` (409, 412),
    * ``ProviderError`` for anything else; every message names method, URL and status.

    ``per_host=False`` sends outside the per-host bound (``PER_HOST``): for requests made while
    the caller may itself hold that host's slots, such as a token refresh from inside an API
    request's auth flow (waiting for a slot there would deadlock).
    """
    if isinstance(content, str):
        content = content.encode("utf-8")
    attempt = 0
    while True:
        try:
            async with host_slot(client, url) if per_host else contextlib.nullcontext():
                response = await client.request(
                    method, url, headers=dict(headers or {}), content=content, params=params, json=json
                )
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            if attempt >= retries:
                raise TransientError(f"{method} {url}: {type(exc).__name__}: {exc or 'no answer'}") from exc
            await asyncio.sleep(backoff_delay(attempt, base_delay, max_delay))
            attempt += 1
            continue
        except httpx.HTTPError as exc:
            raise ProviderError(f"{method} {url}: {type(exc).__name__}: {exc}") from exc

        status = response.status_code
        if status < 400 or status in handle:
            return response
        retryable = status in RETRY_STATUSES or is_rate_limit(response)
        if retryable and attempt < retries:
            wait = retry_after(response)
            if wait is None:
                wait = backoff_delay(attempt, base_delay, max_delay)
            if wait <= max_retry_after:
                await asyncio.sleep(wait)
                attempt += 1
                continue
        raise error_for(response, method)
