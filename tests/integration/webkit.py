"""Shared pieces of the web app's tests: a SQLite file store, browser-like clients, form helpers,
and the walkers that visit every route the app registers (CSRF refusal, tenant isolation)."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.exceptions import StarletteDeprecationWarning

from mirrorcal.accounts import token_hash
from mirrorcal.store.base import Store
from mirrorcal.store.sql import SqlStore
from mirrorcal.web.app import create_app
from mirrorcal.web.settings import WebSettings

with warnings.catch_warnings():
    # Starlette 1.10 prefers the httpx2 fork for its TestClient and says so once, on import.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

PASSWORD = "correct horse battery staple"
OTHER_PASSWORD = "tr0ub4dor and 3 more words"
WRONG_PASSWORD = "not the right password at all"
SECRETS = (PASSWORD, OTHER_PASSWORD, WRONG_PASSWORD)
OWN_ORIGIN = "http://testserver"


# fixtures ---------------------------------------------------------------------------------------
@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{(tmp_path / 'web.db').as_posix()}"


@pytest.fixture
def store(db_url: str) -> Iterator[SqlStore]:
    store = SqlStore.open(db_url)
    yield store
    store.close()


def make_app(store: Store, db_url: str, **settings: object) -> FastAPI:
    return create_app(WebSettings(database_url=db_url, password_hash_fast=True, **settings), store)  # type: ignore[arg-type]


@pytest.fixture
def app(store: SqlStore, db_url: str) -> FastAPI:
    return make_app(store, db_url)


class Clients:
    """Makes browser-like clients on one app and checks, at the end, that no response body
    ever held a password."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.bodies: list[bytes] = []
        self.open: list[TestClient] = []
        self.secrets: list[str] = list(SECRETS)
        """What no response body may ever hold; tests may add their own."""

    def new(self) -> TestClient:
        client = TestClient(self.app, follow_redirects=True)

        def keep(response: httpx.Response) -> None:
            self.bodies.append(response.read())

        client.event_hooks["response"].append(keep)
        self.open.append(client)
        return client

    def check_no_password_echoed(self) -> None:
        assert self.bodies, "no response was recorded"
        for body in self.bodies:
            for secret in self.secrets:
                assert secret.encode() not in body


@pytest.fixture
def clients(app: FastAPI) -> Iterator[Clients]:
    made = Clients(app)
    yield made
    made.check_no_password_echoed()
    for client in made.open:
        client.close()


@pytest.fixture
def client(clients: Clients) -> TestClient:
    return clients.new()


# helpers ----------------------------------------------------------------------------------------
def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the page has no CSRF field"
    return match.group(1)


def errors_of(html: str) -> list[str]:
    return re.findall(r'class="field-error" id="[^"]+">([^<]*)<', html)


def summary_of(html: str) -> str:
    match = re.search(r'<div class="error-summary".*?</div>', html, re.DOTALL)
    assert match, "the page shows no error summary"
    return match.group(0)


def signup(client: TestClient, email: str, password: str = PASSWORD, plan: str = "personal", **extra: str) -> httpx.Response:
    page = client.get("/signup")
    data = {"csrf": csrf_of(page.text), "email": email, "password": password, "confirm": password, "plan": plan}
    return client.post("/signup", data=data | extra)


def signin(client: TestClient, email: str, password: str = PASSWORD, next: str = "/") -> httpx.Response:
    page = client.get("/signin")
    if page.url.path != "/signin":  # already signed in: use the session's token
        page = client.get("/account/tokens")
    return client.post("/signin", data={"csrf": csrf_of(page.text), "email": email, "password": password, "next": next})


def signout(client: TestClient) -> httpx.Response:
    return client.post("/signout", data={"csrf": csrf_of(client.get("/").text)})


def create_token(client: TestClient, name: str) -> tuple[int, str]:
    """Create a personal API token; its id and the raw token shown (once)."""
    page = client.get("/account/tokens")
    response = client.post("/account/tokens", data={"csrf": csrf_of(page.text), "name": name})
    assert response.status_code == 201, response.text
    raw = re.search(r'id="new-token-value"[^>]*value="([^"]+)"', response.text)
    assert raw
    ids = [int(i) for i in re.findall(r'action="/account/tokens/(\d+)/delete"', response.text)]
    return max(ids), raw.group(1)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def candidate_ids(client: TestClient, token: str) -> dict[str, int | str]:
    """A candidate with an interview request made through the API with ``token``: the route
    walkers' ids for ``candidate_id``, ``interview_id`` and ``token`` (what the store keeps of the
    candidate's link token, its hash: the link itself is a credential, as the busy feed's is)."""
    auth = bearer(token)
    made = client.post(
        "/api/v1/candidates",
        json={"name": "Wes Walker", "email": "wes@candidate.example", "client": "Walkers Ltd", "role": "Engineer"},
        headers=auth,
    )
    assert made.status_code == 201, made.text
    cid = made.json()["id"]
    sent = client.post(
        f"/api/v1/candidates/{cid}/interviews", json={"link_kind": "link", "url": "https://example.com/book"}, headers=auth
    )
    assert sent.status_code == 201, sent.text
    link = sent.json()["link"]
    return {"candidate_id": cid, "interview_id": sent.json()["id"], "token": token_hash(link.rsplit("/", 1)[1])}


def endpoints(app: FastAPI) -> list[tuple[str, set[str]]]:
    """(path, methods) of every route the app's routers define (FastAPI >= 0.160 nests
    included routers, so ``app.routes`` alone does not list them)."""
    found = []
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute) and context.path and context.methods:
            found.append((context.path, set(context.methods)))
    return found


def post_routes(app: FastAPI) -> list[str]:
    """The pages' POST routes (the API's take a bearer token, not cookies, so no CSRF token)."""
    return [path for path, methods in endpoints(app) if "POST" in methods and not path.startswith("/api/")]


def fill(path: str, ids: dict[str, int | str]) -> str:
    """``path`` with each ``{param}`` replaced by ``ids[param]``; fails for a parameter not in
    ``ids`` so that a new route cannot slip past the tests that walk every route."""
    params = re.findall(r"{(\w+)(?::\w+)?}", path)
    missing = [p for p in params if p not in ids]
    assert not missing, f"{path}: add an id for {missing} to the tests that walk every route"
    return re.sub(r"{(\w+)(?::\w+)?}", lambda m: str(ids[m.group(1)]), path)


def assert_foreign_ids_not_found(
    app: FastAPI, intruder: TestClient, owners_ids: dict[str, int | str], intruder_token: str | None = None
) -> int:
    """Tenant isolation: every route that names an object in its path answers 404 to a signed-in
    ``intruder`` asking for the ids of another user's objects (``owners_ids``, by path
    parameter), for every method; /api/ routes are asked with ``intruder_token`` (the
    intruder's own API token, required when the app has such routes). Returns how many
    requests it made."""
    csrf = csrf_of(intruder.get("/").text)
    made = 0
    for path, methods in endpoints(app):
        if "{" not in path:
            continue
        url = fill(path, owners_ids)
        api = path.startswith("/api/")
        assert not api or intruder_token, f"{path}: pass the intruder's API token"
        for method in sorted(methods):
            if api:
                body = {"json": {}} if method in ("POST", "PATCH", "PUT") else {}
                response = intruder.request(method, url, headers=bearer(intruder_token or ""), **body)  # type: ignore[arg-type]
            else:
                response = intruder.request(method, url, data={"csrf": csrf} if method == "POST" else None)
            assert response.status_code == 404, f"{method} {url} answered {response.status_code}"
            made += 1
    return made
