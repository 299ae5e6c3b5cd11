"""providers.http.send against a real scripted HTTP server on 127.0.0.1: retries, backoff, mapping."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from mirrorcal.errors import (
    AuthError,
    ConflictError,
    NotFoundError,
    ProviderError,
    RateLimitError,
    TransientError,
)
from mirrorcal.providers.http import backoff_delay, counter_for, make_client, retry_after, send
from mirrorcal.testing.radicale import free_port

Step = tuple[int, dict[str, str], str] | str  # (status, headers, body), "drop" or "sleep:<seconds>"


class ScriptedServer:
    """Answers requests from a script, one step per request; the last step repeats."""

    def __init__(self) -> None:
        self.script: list[Step] = [(200, {}, "ok")]
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                with server.lock:
                    server.seen.append((self.command, self.path, dict(self.headers), body))
                    step = server.script.pop(0) if len(server.script) > 1 else server.script[0]
                if step == "drop":
                    self.close_connection = True
                    return
                if isinstance(step, str) and step.startswith("sleep:"):
                    time.sleep(float(step.split(":")[1]))
                    step = (200, {}, "late")
                assert not isinstance(step, str)
                status, headers, text = step
                data = text.encode()
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (timeout test)
                    self.close_connection = True

            do_GET = do_PUT = do_POST = do_DELETE = do_REPORT = _answer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/cal/item.ics"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    s = ScriptedServer()
    yield s
    s.close()


@pytest.fixture
async def client() -> object:
    async with make_client(timeout=2.0) as c:
        yield c


FAST = {"base_delay": 0.001, "max_delay": 0.01}


async def test_success_first_time_sends_once(server: ScriptedServer, client: httpx.AsyncClient) -> None:
    response = await send(client, "PUT", server.url, headers={"If-Match": '"1"'}, content="body é", **FAST)
    assert response.status_code == 200
    method, path, headers, body = server.seen[0]
    assert (method, path, headers["If-Match"], body) == ("PUT", "/cal/item.ics", '"1"', "body é".encode())
    assert counter_for(client).total == 1


async def test_5xx_is_retried_until_success(server: ScriptedServer, client: httpx.AsyncClient) -> None:
    server.script = [(503, {}, "busy"), (502, {}, "gw"), (500, {}, "oops"), (200, {}, "fine")]
    response = await send(client, "GET", server.url, **FAST)
    assert response.text == "fine"
    assert len(server.seen) == 4
    assert counter_for(client).total == 4
    assert counter_for(client).by_method["GET"] == 4


async def test_retries_spent_raise_transient_with_readable_message(
    server: ScriptedServer, client: httpx.AsyncClient
) -> None:
    server.script = [(503, {}, "try later")]
    with pytest.raises(TransientError) as info:
        await send(client, "REPORT", server.url, retries=2, **FAST)
    assert len(server.seen) == 3
    message = str(info.value)
    assert "REPORT" in message and server.url in message and "503" in message and "try later" in message


async def test_429_honours_retry_after(server: ScriptedServer, client: httpx.AsyncClient) -> None:
    server.script = [(429, {"Retry-After": "0.3"}, ""), (200, {}, "ok")]
    started = time.monotonic()
    response = await send(client, "GET", server.url, **FAST)
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.28


async def test_429_with_too_long_retry_after_raises_at_once(server: ScriptedServer, client: httpx.AsyncClient) -> None:
    server.script = [(429, {"Retry-After": "120"}, "slow down")]
    with pytest.raises(RateLimitError) as info:
        await send(client, "GET", server.url, max_retry_after=5, **FAST)
    assert info.value.retry_after == 120
    assert len(server.seen) == 1


async def test_429_retries_spent_raise_rate_limit(server: ScriptedServer, client: httpx.AsyncClient) -> None:
    server.script = [(429, {}, "")]
    with pytest.raises(RateLimitError) as info:
        await send(client, "GET", server.url, retries=3, **FAST)
    assert info.value.retry_after is None
    assert len(server.seen) == 4


async def test_google_403_rate_limit_is_retried(server: ScriptedServer, client: httpx.AsyncClient) -> None:
    body = '{"error":{"errors":[{"domain":"usageLimits","reason":"userRateLimitExceeded"}],"code":403}}'
    server.script = [(403, {}, body), (200, {}, "ok")]
    assert (await send(client, "GET", server.url, **FAST)).status_code == 200
    assert len(server.seen) == 2


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, AuthError),
        (403, AuthError),
        (404, NotFoundError),
        (410, NotFoundError),
        (409, ConflictError),
        (412, ConflictError),
        (400, ProviderError),
        (501, ProviderError),
    ],
)
async def test_client_errors_map_without_retry(
    server: ScriptedServer, client: httpx.AsyncClient, status: int, error: type[ProviderError]
) -> None:
    server.script = [(status, {}, "nope")]
    with pytest.raises(error) as info:
        await send(client, "DELETE", server.url, **FAST)
    assert type(info.value) is error
    assert f"DELETE {server.url}: HTTP {status}" in str(info.value)
    assert len(server.seen) == 1


async def test_handled_statuses_are_returned(server: ScriptedServer, client: httpx.AsyncClient) -> None:
    server.script = [(412, {}, "precondition")]
    response = await send(client, "PUT", server.url, handle=(412,), **FAST)
    assert response.status_code == 412


async def test_dropped_connection_is_retried(server: ScriptedServer, client: httpx.AsyncClient) -> None:
    server.script = ["drop", "drop", (200, {}, "back")]
    response = await send(client, "GET", server.url, **FAST)
    assert response.text == "back"


async def test_timeout_becomes_transient_error(server: ScriptedServer) -> None:
    server.script = ["sleep:0.5"]
    async with make_client(timeout=0.1) as client:
        with pytest.raises(TransientError) as info:
            await send(client, "GET", server.url, retries=1, **FAST)
    assert "Timeout" in str(info.value)
    assert isinstance(info.value.__cause__, httpx.TimeoutException)


async def test_refused_connection_becomes_transient_error(client: httpx.AsyncClient) -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    with pytest.raises(TransientError) as info:
        await send(client, "GET", url, retries=2, **FAST)
    assert url in str(info.value)
    assert counter_for(client).total == 3


def test_retry_after_parses_seconds_and_dates() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    request = httpx.Request("GET", "http://127.0.0.1/")

    def answer(value: str) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": value}, request=request)

    assert retry_after(answer("7")) == 7
    assert retry_after(answer(format_datetime(now + timedelta(seconds=30), usegmt=True)), now=now) == 30
    assert retry_after(answer(format_datetime(now - timedelta(seconds=30), usegmt=True)), now=now) == 0
    assert retry_after(answer("soon")) is None


def test_backoff_is_exponential_jittered_and_capped() -> None:
    for attempt in range(8):
        cap = min(1.0, 0.1 * 2**attempt)
        delays = [backoff_delay(attempt, 0.1, 1.0) for _ in range(50)]
        assert all(cap / 2 <= d <= cap for d in delays)
    assert len({backoff_delay(3, 0.1, 10.0) for _ in range(20)}) > 1


async def test_requests_to_one_host_are_bounded_across_clients() -> None:
    from mirrorcal.providers.http import PER_HOST

    state = {"now": 0, "max": 0}
    lock = threading.Lock()

    class Slow(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            with lock:
                state["now"] += 1
                state["max"] = max(state["max"], state["now"])
            time.sleep(0.05)
            with lock:
                state["now"] -= 1
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    clients = [httpx.AsyncClient() for _ in range(3)]
    try:
        await asyncio.gather(*(send(clients[i % 3], "GET", url) for i in range(12)))
    finally:
        for c in clients:
            await c.aclose()
        server.shutdown()
        server.server_close()
        thread.join()
    assert state["max"] == PER_HOST
