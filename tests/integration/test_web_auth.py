"""The web app's accounts over a real SQLite file: sign-up/in/out, sessions, CSRF, API tokens, isolation."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from webkit import (
    OTHER_PASSWORD,
    OWN_ORIGIN,
    PASSWORD,
    WRONG_PASSWORD,
    Clients,
    TestClient,
    app,
    assert_foreign_ids_not_found,
    bearer,
    candidate_ids,
    client,
    clients,
    create_token,
    csrf_of,
    db_url,
    errors_of,
    fill,
    make_app,
    post_routes,
    signin,
    signout,
    signup,
    store,
    summary_of,
)

from mirrorcal.accounts import hash_password, token_hash
from mirrorcal.store.sql import SqlStore
from mirrorcal.web.pages import FORM_EXPIRED
from mirrorcal.web.security import SignInThrottle
from mirrorcal.web.settings import WebSettings

__all__ = ["app", "client", "clients", "db_url", "store"]  # fixtures, used by name

# sign-up, sign-in, sign-out ----------------------------------------------------------------------
def test_signup_signin_signout_flow(client: TestClient, store: SqlStore) -> None:
    home = signup(client, "Ann.Lee@Example.com")
    assert home.status_code == 200 and home.url.path == "/"
    assert "Welcome to mirrorcal" in home.text
    assert "ann.lee@example.com" in home.text and "Personal" in home.text
    assert "No syncs yet; your plan allows 3." in home.text
    user = store.user_by_email("ann.lee@example.com")
    assert user is not None and user.plan == "personal" and PASSWORD not in user.password_hash

    out = signout(client)
    assert out.url.path == "/signin" and "You are signed out." in out.text
    assert "mirrorcal_session" not in client.cookies
    assert client.get("/").url.path == "/signin"

    back = signin(client, "ANN.LEE@example.com ")
    assert back.url.path == "/" and "You are signed in." in back.text and "ann.lee@example.com" in back.text


def test_professional_plan_and_next_page(client: TestClient) -> None:
    signup(client, "pro@example.com", plan="professional")
    assert "your plan allows 8." in client.get("/").text
    signout(client)
    asked = client.get("/account/tokens")
    assert asked.url.path == "/signin" and asked.url.params["next"] == "/account/tokens"
    landed = client.post(
        "/signin",
        data={"csrf": csrf_of(asked.text), "email": "pro@example.com", "password": PASSWORD, "next": "/account/tokens"},
    )
    assert landed.url.path == "/account/tokens"
    signout(client)
    page = client.get("/signin")
    away = client.post(
        "/signin",
        data={"csrf": csrf_of(page.text), "email": "pro@example.com", "password": PASSWORD, "next": "//evil.example/x"},
    )
    assert away.url.host == "testserver" and away.url.path == "/"


def test_signup_refusals_show_the_form_again(client: TestClient) -> None:
    page = client.get("/signup")
    csrf = csrf_of(page.text)
    refused = client.post(
        "/signup", data={"csrf": csrf, "email": "not-an-address", "password": "short", "confirm": "short", "plan": "gold"}
    )
    assert refused.status_code == 400
    assert errors_of(refused.text) == [
        "&#39;not-an-address&#39; is not an e-mail address. Use one like name@example.com.",
        "Password: at least 10 characters.",
        "Choose a plan.",
    ]
    assert 'value="not-an-address"' in refused.text and 'aria-invalid="true"' in refused.text
    assert "short" not in refused.text.replace("shortcut", "")

    mismatch = client.post(
        "/signup",
        data={"csrf": csrf, "email": "bo@example.com", "password": PASSWORD, "confirm": OTHER_PASSWORD, "plan": "professional"},
    )
    assert mismatch.status_code == 400
    assert errors_of(mismatch.text) == ["The two passwords are not the same. Type the password again."]
    assert 'value="bo@example.com"' in mismatch.text and 'value="professional" checked' in mismatch.text

    assert signup(client, "bo@example.com").url.path == "/"
    signout(client)
    taken = signup(client, "BO@example.com")
    assert taken.status_code == 400
    assert errors_of(taken.text) == ["An account with this e-mail already exists. Sign in instead."]


def test_wrong_password_and_unknown_email_read_the_same(client: TestClient) -> None:
    signup(client, "cy@example.com")
    signout(client)
    wrong = signin(client, "cy@example.com", WRONG_PASSWORD)
    unknown = signin(client, "nobody@example.com", WRONG_PASSWORD)
    assert wrong.status_code == unknown.status_code == 400
    assert summary_of(wrong.text) == summary_of(unknown.text)
    assert "do not match an account" in summary_of(wrong.text)
    assert wrong.text.replace("cy@example.com", "X") == unknown.text.replace("nobody@example.com", "X").replace(
        csrf_of(unknown.text), csrf_of(wrong.text)
    )
    assert client.get("/").url.path == "/signin"


def test_failed_signins_back_off_per_email(app: FastAPI, client: TestClient) -> None:
    now = [1000.0]
    app.state.throttle = SignInThrottle(free=5, base=30, clock=lambda: now[0])
    signup(client, "di@example.com")
    signout(client)
    for _ in range(5):
        assert signin(client, "di@example.com", WRONG_PASSWORD).status_code == 400
        assert signin(client, "ghost@example.com", WRONG_PASSWORD).status_code == 400
    for email in ("di@example.com", "ghost@example.com"):
        waiting = signin(client, email, PASSWORD)
        assert waiting.status_code == 429
        assert "Too many failed attempts for this e-mail. Try again in 1 minute." in waiting.text
    assert client.get("/").url.path == "/signin"
    now[0] += 31
    assert signin(client, "di@example.com", PASSWORD).url.path == "/"


def test_signin_upgrades_an_outdated_hash(client: TestClient, store: SqlStore) -> None:
    old = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1).hash(PASSWORD)
    user = store.create_user("ed@example.com", old, "personal", datetime.now(UTC))
    assert signin(client, "ed@example.com").url.path == "/"
    new = store.user(user.id)
    assert new is not None and new.password_hash != old and "m=8,t=1,p=1" in new.password_hash
    signout(client)
    assert signin(client, "ed@example.com").url.path == "/"


def test_production_hashes_verify_in_fast_mode(client: TestClient, store: SqlStore) -> None:
    store.create_user("fay@example.com", hash_password(PASSWORD), "personal", datetime.now(UTC))
    assert signin(client, "fay@example.com").url.path == "/"


# sessions and cookies ---------------------------------------------------------------------------
def test_session_cookie_flags(store: SqlStore, db_url: str) -> None:
    for secure in (False, True):
        app = make_app(store, db_url, secure_cookies=secure, session_days=3)
        client = TestClient(app, base_url="https://testserver")  # a Secure cookie only goes back over https
        page = client.get("/signup")
        csrf_cookie = page.headers["set-cookie"]
        response = client.post(
            "/signup",
            data={
                "csrf": csrf_of(page.text),
                "email": f"flags{int(secure)}@example.com",
                "password": PASSWORD,
                "confirm": PASSWORD,
                "plan": "personal",
            },
            follow_redirects=False,
        )
        assert response.status_code == 303
        session = next(c for c in response.headers.get_list("set-cookie") if c.startswith("mirrorcal_session="))
        for cookie in (session, csrf_cookie):
            parts = {p.strip().split("=")[0].lower(): p.strip() for p in cookie.split(";")}
            assert "httponly" in parts and parts["samesite"].lower() == "samesite=lax" and parts["path"] == "Path=/"
            assert ("secure" in parts) is secure
        assert "Max-Age=259200" in session
        token = session.split(";")[0].split("=", 1)[1]
        row = store.web_session(token_hash(token))
        assert row is not None and (row.expires - row.created).days == 3
        client.close()


def test_signin_rotates_the_session_and_signout_ends_it(client: TestClient, store: SqlStore) -> None:
    client.get("/signup")
    domain = next(iter(client.cookies.jar)).domain  # the test server's, as the jar keeps it
    client.cookies.set("mirrorcal_session", "planted-by-someone-else", domain=domain)
    signup(client, "gus@example.com")
    first = client.cookies["mirrorcal_session"]
    assert first != "planted-by-someone-else"
    signin(client, "gus@example.com")
    second = client.cookies["mirrorcal_session"]
    assert second != first
    assert store.web_session(token_hash(first)) is None and store.web_session(token_hash(second)) is not None
    signout(client)
    assert store.web_session(token_hash(second)) is None
    client.cookies.set("mirrorcal_session", second, domain=domain)  # a copied cookie no longer works
    assert client.get("/").url.path == "/signin"


# CSRF -------------------------------------------------------------------------------------------
def test_every_post_route_refuses_a_missing_or_wrong_token(app: FastAPI, clients: Clients, store: SqlStore) -> None:
    routes = post_routes(app)
    assert set(routes) >= {
        "/signup",
        "/signin",
        "/signout",
        "/account/tokens",
        "/account/tokens/{token_id}/delete",
    }
    user = clients.new()
    signup(user, "hal@example.com")
    token_id, raw = create_token(user, "kept")
    csrf = csrf_of(user.get("/").text)
    anonymous = clients.new()
    anon_csrf = csrf_of(anonymous.get("/signin").text)
    ids: dict[str, int | str] = {
        "token_id": token_id, "calendar_name": "cal", "sync_name": "sync", "connection_name": "conn", "hook_id": 1,
        "candidate_id": 1, "interview_id": 1, "token": "not-a-token",
    }  # fmt: skip
    for path in routes:
        url = fill(path, ids)
        attempts = [
            (user, {}, {}),
            (user, {"csrf": ""}, {}),
            (user, {"csrf": csrf + "x"}, {}),
            (user, {"csrf": anon_csrf}, {}),
            (user, {"csrf": csrf}, {"Origin": "http://evil.example"}),
            (user, {"csrf": csrf}, {"Origin": "null"}),
            (anonymous, {}, {}),
            (anonymous, {"csrf": "guessed"}, {}),
            (anonymous, {"csrf": anon_csrf}, {"Origin": "https://testserver.evil.example"}),
        ]
        for who, data, headers in attempts:
            response = who.post(url, data=data | {"name": "x", "email": "hal@example.com", "password": PASSWORD}, headers=headers)
            assert response.status_code == 403, f"POST {url} with {data} {headers}: {response.status_code}"
            assert FORM_EXPIRED in response.text
    # nothing happened: still signed in, the token still works, no second token
    assert user.get("/").url.path == "/"
    assert user.get("/api/v1/me", headers=bearer(raw)).status_code == 200
    user_row = store.user_by_email("hal@example.com")
    assert user_row is not None and [t.name for t in store.api_tokens(user_row.id)] == ["kept"]
    # and the right token from the app's own origin is accepted
    ok = user.post("/account/tokens", data={"csrf": csrf, "name": "second"}, headers={"Origin": OWN_ORIGIN})
    assert ok.status_code == 201


# API tokens and /api/v1 -------------------------------------------------------------------------
def test_api_token_create_use_delete(client: TestClient, store: SqlStore, db_url: str) -> None:
    signup(client, "ivy@example.com", plan="professional")
    token_id, raw = create_token(client, "  Weekly   report ")
    listing = client.get("/account/tokens")
    assert raw not in listing.text, "a token is shown once only"
    assert "Weekly report" in listing.text and "never" in listing.text
    user = store.user_by_email("ivy@example.com")
    assert user is not None
    (row,) = store.api_tokens(user.id)
    assert row.id == token_id and row.token_hash == token_hash(raw) and row.last_used is None
    assert raw.encode() not in Path(db_url.removeprefix("sqlite:///")).read_bytes()

    me = client.get("/api/v1/me", headers=bearer(raw))
    assert me.status_code == 200
    assert me.json() == {"id": user.id, "email": "ivy@example.com", "plan": "professional", "syncs_used": 0, "syncs_allowed": 8}
    used = store.api_token(token_hash(raw))
    assert used is not None and used.last_used is not None
    assert "never" not in client.get("/account/tokens").text

    for absurd in (0, 2**63, 2**70):  # ids no row can have are not found, never a database error
        refused = client.post(f"/account/tokens/{absurd}/delete", data={"csrf": csrf_of(listing.text)})
        assert refused.status_code == 404
    deleted = client.post(f"/account/tokens/{token_id}/delete", data={"csrf": csrf_of(listing.text)})
    assert deleted.url.path == "/account/tokens" and "The token was deleted." in deleted.text
    assert "No tokens yet." in deleted.text
    gone = client.get("/api/v1/me", headers=bearer(raw))
    assert gone.status_code == 401 and gone.headers["www-authenticate"] == "Bearer"
    assert gone.json() == {"detail": "This API token is not valid; it may have been deleted."}


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer "}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic aGk6dGhlcmU="}]
)
def test_api_refuses_without_a_valid_token(client: TestClient, headers: dict[str, str]) -> None:
    signup(client, "jo@example.com")  # a browser session is not an API credential
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert set(response.json()) == {"detail"} and "token" in response.json()["detail"]


def test_token_name_refusals(client: TestClient) -> None:
    signup(client, "kim@example.com")
    csrf = csrf_of(client.get("/account/tokens").text)
    for name, message in [
        ("   ", "Give the token a name, such as the program that will use it."),
        ("x" * 81, "Use at most 80 characters for the name."),
    ]:
        refused = client.post("/account/tokens", data={"csrf": csrf, "name": name})
        assert refused.status_code == 400 and errors_of(refused.text) == [message]
    assert "No tokens yet." in client.get("/account/tokens").text


def test_tenant_isolation(clients: Clients) -> None:
    owner, intruder = clients.new(), clients.new()
    signup(owner, "lea@example.com")
    token_id, raw = create_token(owner, "owner's")
    signup(intruder, "max@example.com")
    _, intruder_token = create_token(intruder, "intruder's")
    hook_id = owner.post("/api/v1/webhooks", json={"url": "https://example.com/lea"}, headers=bearer(raw)).json()["id"]
    ids: dict[str, int | str] = {"token_id": token_id, "calendar_name": "none", "sync_name": "none", "feed_token": "none", "connection_name": "none", "hook_id": hook_id}
    ids |= candidate_ids(owner, raw)
    assert assert_foreign_ids_not_found(clients.app, intruder, ids, intruder_token) >= 1  # names: test_web_setup
    assert owner.get("/api/v1/me", headers=bearer(raw)).json()["email"] == "lea@example.com"
    assert "owner&#39;s" in owner.get("/account/tokens").text
    assert "owner&#39;s" not in intruder.get("/account/tokens").text


# pages, errors, OpenAPI -------------------------------------------------------------------------
def test_error_pages_and_openapi(client: TestClient) -> None:
    missing = client.get("/no/such/page")
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"] and "There is nothing here" in missing.text
    assert client.get("/api/v1/nothing").json() == {"detail": "Not Found"}
    signup(client, "ned@example.com")
    csrf = csrf_of(client.get("/").text)
    assert client.post("/account/tokens/not-a-number/delete", data={"csrf": csrf}).status_code == 400

    schema = client.get("/api/v1/openapi.json").json()
    assert list(schema["paths"])[0] == "/api/v1/me"
    me = schema["paths"]["/api/v1/me"]["get"]
    assert me["security"] == [{"HTTPBearer": []}]
    assert set(schema["components"]["schemas"]["MeOut"]["properties"]) == {"id", "email", "plan", "syncs_used", "syncs_allowed"}
    assert client.get("/api/v1/docs").status_code == 200

    page = client.get("/")
    assert page.headers["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    assert client.get("/static/app.css").status_code == 200


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIRRORCAL_PORT", "8123")
    monkeypatch.setenv("MIRRORCAL_SECURE_COOKIES", "true")
    monkeypatch.setenv("MIRRORCAL_DATABASE_URL", "sqlite:///elsewhere.db")
    settings = WebSettings()
    assert (settings.port, settings.secure_cookies, settings.database_url) == (8123, True, "sqlite:///elsewhere.db")
    assert (settings.host, settings.session_days, settings.password_hash_fast) == ("127.0.0.1", 14, False)
