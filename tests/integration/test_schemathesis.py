"""schemathesis against the REST API's own OpenAPI document (``/api/v1/openapi.json``).

Every ``/api/v1`` operation is called with examples generated from its schema, with a valid API
token, on an account that holds a calendar and a sync; no answer may be a 5xx
(``not_a_server_error``) and every answer must match the document (status code, content type,
body schema). The app runs in-process over ASGI on a real SQLite store, with no sync worker.

Generated bodies may name addresses (a calendar's or a webhook's URL): a guard refuses, at the
socket, any connection that is not to the loopback interface, so nothing ever leaves the
machine (such a request then fails as the provider being unreachable: a 4xx, never a 5xx).
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from webkit import TestClient, bearer, create_token, db_url, make_app, signup, store  # noqa: F401

from mirrorcal.store.sql import SqlStore

EXAMPLES = 12
"""Examples per operation: enough to reach odd corners, few enough for a run well under 60 s."""
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
SEEN: dict[str, set[int]] = {}
"""The status codes each operation answered (to check the calls were authenticated)."""
DOCUMENT = """\
[calendars.personal]
kind = "caldav"
url = "http://127.0.0.1:9/dav/personal/"
username = "me"
connection = "personal"
client = "me"

[calendars.client-a]
kind = "ics"
url = "http://127.0.0.1:9/a.ics"
client = "A"
unified = false

[[syncs]]
name = "client-a-to-personal"
from = "client-a"
to = "personal"
privacy = "full"
"""


def _loopback(host: object) -> bool:
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return str(host) in ("localhost", "testserver")


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Refuse, at the socket, every connection to an address off the loopback interface."""
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def refuse(address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host.startswith("/"):
            return  # a Unix socket
        if not _loopback(host):
            raise ConnectionRefusedError(f"test guard: no connection to {host!r} (loopback only)")

    def connect(self: socket.socket, address: Any) -> None:
        refuse(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        refuse(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _loopback(host.decode() if isinstance(host, bytes) else host):
            raise socket.gaierror(socket.EAI_NONAME, f"test guard: {host!r} is not resolved (loopback only)")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield


@pytest.fixture
def api_app(store: SqlStore, db_url: str, loopback_only: None) -> FastAPI:  # noqa: F811
    return make_app(
        store, db_url, worker=False, icloud_url="http://127.0.0.1:9/", google_base_url="http://127.0.0.1:9",
        microsoft_base_url="http://127.0.0.1:9",
    )  # fmt: skip


@pytest.fixture
def token(api_app: FastAPI, store: SqlStore) -> str:  # noqa: F811
    with TestClient(api_app) as client:
        assert signup(client, "schema@example.com", plan="professional").status_code == 200
        user = store.user_by_email("schema@example.com")
        assert user is not None
        store.save_workspace(user.id, DOCUMENT, user.created)
        return create_token(client, "schemathesis")[1]


def operations(app: FastAPI) -> list[Any]:
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    found = [result.ok() for result in schema.get_all_operations()]
    assert found, "the OpenAPI document lists no operation"
    return found


def send(client: TestClient, case: Any, token: str) -> Any:
    """Send ``case`` with our own (httpx) test client: schemathesis' requests transport does not
    work with the urllib3 build installed here (urllib3-future)."""
    kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=bearer(token))
    data = kwargs.pop("data", None)
    sent = {k: v for k, v in kwargs.items() if k in ("method", "url", "params", "json", "files")}
    sent["headers"] = dict(kwargs.get("headers") or {}) | bearer(token)
    if kwargs.get("cookies"):
        sent["headers"]["Cookie"] = "; ".join(f"{k}={v}" for k, v in kwargs["cookies"].items())
    if data is not None:
        if isinstance(data, dict):
            sent["data"] = data
        else:
            sent["content"] = data
    response = client.request(**sent)
    SEEN.setdefault(f"{case.method} {case.operation.path}", set()).add(response.status_code)
    return response


def run(
    client: TestClient, operation: Any, token: str, mode: GenerationMode, checks: list[Any], path: dict[str, str] | None = None
) -> None:
    """``EXAMPLES`` generated calls of ``operation`` (with the ``path`` parameters given, when
    given); raises the first failed check (shrunk)."""

    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    def calls(case: Any) -> None:
        response = send(client, case, token)
        case.validate_response(response, checks=checks, headers=bearer(token))

    calls()


def test_every_operation_answers_without_5xx_and_as_documented(api_app: FastAPI, token: str) -> None:
    """Valid input (by the document): no 5xx, and status, content type and body as documented."""
    started = time.monotonic()
    ops = operations(api_app)
    assert len(ops) >= 10
    with TestClient(api_app) as client:
        for operation in ops:
            run(client, operation, token, GenerationMode.POSITIVE, CHECKS)
    assert set(SEEN) >= {f"{op.method.upper()} {op.path}" for op in ops}
    assert not any(codes == {401} for codes in SEEN.values()), SEEN  # the token was taken
    assert 200 in SEEN["GET /api/v1/syncs/{sync_name}"] or 200 in SEEN["GET /api/v1/syncs"]
    assert time.monotonic() - started < 60


EXISTING = {"sync_name": "client-a-to-personal", "calendar_name": "client-a"}


def test_operations_on_existing_objects_answer_without_5xx_and_as_documented(api_app: FastAPI, token: str) -> None:
    """The same with the path naming the account's own sync and calendar, so generated bodies and
    queries reach the code behind the 404 (deletions left out: they would end the run early; the
    live check too: it takes no input, and each call waits for the unreachable calendar)."""
    started = time.monotonic()
    ops = [o for o in operations(api_app) if set(EXISTING) & set(re.findall(r"{(\w+)}", o.path)) and o.method.upper() != "DELETE" and not o.path.endswith("/check")]
    assert len(ops) >= 6
    with TestClient(api_app) as client:
        for operation in ops:
            params = {k: v for k, v in EXISTING.items() if "{" + k + "}" in operation.path}
            run(client, operation, token, GenerationMode.POSITIVE, CHECKS, params)
            run(client, operation, token, GenerationMode.NEGATIVE, [not_a_server_error], params)
    reached = {k: v for k, v in SEEN.items() if "{" in k}
    assert any(200 in codes for codes in reached.values()), reached
    assert time.monotonic() - started < 60


def test_every_operation_refuses_invalid_input_without_5xx(api_app: FastAPI, token: str) -> None:
    """Input the document does not allow (wrong types, missing fields, bad paths): never a 5xx."""
    started = time.monotonic()
    with TestClient(api_app) as client:
        for operation in operations(api_app):
            run(client, operation, token, GenerationMode.NEGATIVE, [not_a_server_error])
    assert time.monotonic() - started < 60
