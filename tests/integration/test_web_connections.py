"""Connections in the web app: Google and Microsoft by OAuth against the real emulators on loopback,
the connections page and its states, sign in again, remove, the API, and isolation."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from webkit import Clients, TestClient, bearer, create_token, csrf_of, db_url, make_app, signup, store

from mirrorcal.store.sql import SqlStore
from mirrorcal.testing.emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from mirrorcal.testing.google import GoogleEmulator
from mirrorcal.testing.graph import GraphEmulator
from mirrorcal.web.settings import WebSettings
from mirrorcal.web.worker import SyncWorker

__all__ = ["db_url", "store"]  # fixtures, used by name

Emulator = GoogleEmulator | GraphEmulator
TOMORROW = (datetime.now(UTC) + timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)


# fixtures ---------------------------------------------------------------------------------------
@pytest.fixture
def google() -> Iterator[GoogleEmulator]:
    with GoogleEmulator(subject="recruiter@gmail.example") as emulator:
        yield emulator


@pytest.fixture
def graph() -> Iterator[GraphEmulator]:
    with GraphEmulator(subject="recruiter@outlook.example") as emulator:
        yield emulator


def oauth_settings(google: GoogleEmulator | None, graph: GraphEmulator | None) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if google is not None:
        found |= {"google_client_id": DEFAULT_CLIENT_ID, "google_client_secret": DEFAULT_CLIENT_SECRET, "google_base_url": google.base_url}
    if graph is not None:
        found |= {"microsoft_client_id": DEFAULT_CLIENT_ID, "microsoft_client_secret": DEFAULT_CLIENT_SECRET, "microsoft_base_url": graph.base_url}
    return found


@pytest.fixture
def app(store: SqlStore, db_url: str, google: GoogleEmulator, graph: GraphEmulator) -> FastAPI:
    return make_app(store, db_url, **oauth_settings(google, graph))


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
def emulator_of(kind: str, google: GoogleEmulator, graph: GraphEmulator) -> Emulator:
    return google if kind == "google" else graph


def through_provider(location: str, emulator: Emulator) -> str:
    """The user's browser at the provider: its (auto-approving) consent redirects back; the
    path and query mirrorcal's callback gets."""
    assert location.startswith(emulator.base_url), location
    query = parse_qs(urlsplit(location).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["redirect_uri"] == ["http://127.0.0.1:8000/connections/oauth/callback"]
    assert query["client_id"] == [DEFAULT_CLIENT_ID] and len(query["state"][0]) >= 20
    back = httpx.get(location, follow_redirects=False, timeout=10)
    assert back.status_code in (302, 303, 307), back.text
    target = urlsplit(back.headers["location"])
    assert target.path == "/connections/oauth/callback"
    return f"{target.path}?{target.query}"


def start(client: TestClient, kind: str, name: str = "") -> str:
    started = client.get(f"/connections/new/{kind}" + (f"?name={name}" if name else ""), follow_redirects=False)
    assert started.status_code == 303, started.text
    return str(started.headers["location"])


def connect(client: TestClient, kind: str, emulator: Emulator, name: str = "") -> httpx.Response:
    """Start, go through the provider and come back: the page the browser ends on."""
    return client.get(through_provider(start(client, kind, name), emulator))


def form(client: TestClient, page: str, path: str, data: dict[str, Any] | None = None) -> httpx.Response:
    return client.post(path, data={"csrf": csrf_of(client.get(page).text), **(data or {})})


def user_id(store: SqlStore, email: str) -> int:
    row = store.user_by_email(email)
    assert row is not None
    return row.id


def book(kind: str, emulator: Emulator, calendar_id: str, title: str) -> None:
    start, end = TOMORROW.strftime("%Y-%m-%dT%H:%M:%S"), (TOMORROW + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    if isinstance(emulator, GoogleEmulator):
        emulator.user_insert(calendar_id, {"summary": title, "start": {"dateTime": start + "Z"}, "end": {"dateTime": end + "Z"}})
    else:
        emulator.user_create(calendar_id, {"subject": title, "start": {"dateTime": start, "timeZone": "UTC"}, "end": {"dateTime": end, "timeZone": "UTC"}})


def titles(emulator: Emulator, calendar_id: str) -> list[str]:
    if isinstance(emulator, GoogleEmulator):
        return [str(e.get("summary")) for e in emulator.events(calendar_id)]
    return [str(e.get("subject")) for e in emulator.events(calendar_id)]


def run_worker(store: SqlStore, db_url: str, uid: int, google: GoogleEmulator, graph: GraphEmulator) -> None:
    settings = WebSettings(database_url=db_url, **oauth_settings(google, graph))
    run = asyncio.run(SyncWorker(store, settings).run_account(uid))
    assert run.error is None, run.error


def second_calendar(kind: str, emulator: Emulator) -> str:
    if isinstance(emulator, GoogleEmulator):
        return emulator.add_calendar("client-b@group.calendar.example", "Client B interviews")
    return emulator.add_calendar("Client B interviews")


def primary_id(emulator: Emulator) -> str:
    return emulator.oauth.subject if isinstance(emulator, GoogleEmulator) else emulator.calendar_id


def connect_and_add(client: TestClient, kind: str, emulator: Emulator) -> tuple[str, str]:
    """Connect the account and add its main calendar as "mine" and the second as "client-b" with a sync mine→client-b."""
    other = second_calendar(kind, emulator)
    main = primary_id(emulator)
    picked = connect(client, kind, emulator)
    assert picked.url.path == f"/connections/{kind}/calendars", picked.text
    added = form(client, picked.url.path, picked.url.path, {"pick": [main, other], f"name.{main}": "mine", f"name.{other}": "client-b", f"client.{other}": "B"})
    assert added.url.path == "/connections" and "The calendars were added." in added.text, added.text
    made = form(client, "/syncs/new", "/syncs/new", {"name": "mine-to-b", "source": "mine", "target": "client-b", "privacy": "full",
                                                      "on_target_delete": "restore", "window_days": "180", "skip_free": "on", "skip_declined": "on"})  # fmt: skip
    assert made.url.path == "/syncs", made.text
    return main, other


# the full flow ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["google", "microsoft"])
def test_connect_pick_calendars_and_sync(
    kind: str, client: TestClient, store: SqlStore, db_url: str, google: GoogleEmulator, graph: GraphEmulator
) -> None:
    emulator = emulator_of(kind, google, graph)
    signup(client, f"{kind}@example.com")
    other = second_calendar(kind, emulator)
    main = primary_id(emulator)

    picked = connect(client, kind, emulator)
    assert picked.url.path == f"/connections/{kind}/calendars"
    assert emulator.oauth.subject in picked.text and "Client B interviews" in picked.text
    assert re.search(rf'name="pick" value="{re.escape(main)}" id="pick-\d+" checked>', picked.text)  # the main calendar is ticked
    assert re.search(rf'name="pick" value="{re.escape(other)}" id="pick-\d+">', picked.text)
    assert 'value="client-b-interviews"' in picked.text  # a name derived from the title

    nothing = form(client, picked.url.path, picked.url.path, {})
    assert nothing.status_code == 400 and "Tick at least one calendar to add." in nothing.text
    added = form(client, picked.url.path, picked.url.path, {"pick": [main, other], f"name.{main}": "mine", f"client.{other}": "B"})
    assert added.url.path == "/connections" and "The calendars were added." in added.text

    uid = user_id(store, f"{kind}@example.com")
    document = store.workspace(uid) or ""
    assert f'kind = "{kind}"' in document and f'connection = "{kind}"' in document and f'calendar_id = "{other}"' in document
    assert f'base_url = "{emulator.base_url}"' in document and "[calendars.mine]" in document
    assert "[calendars.client-b-interviews]" in document and 'client = "B"' in document
    calendars = client.get("/calendars").text
    assert calendars.count("OK</span>:") == 2  # each added calendar was checked live

    row = store.connection(f"u{uid}.{kind}")
    assert row is not None and row.kind == kind and row.account == emulator.oauth.subject and row.state == "ok"
    assert row.secret.startswith("gAAAA")  # encrypted by the vault
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
        conn.execute("PRAGMA wal_checkpoint(FULL)")
    data = Path(db_url.removeprefix("sqlite:///")).read_bytes()
    assert emulator.oauth._refresh and all(t.encode() not in data for t in emulator.oauth._refresh)

    page = client.get("/connections").text
    assert f'id="connection-{kind}"' in page and emulator.oauth.subject in page
    assert "mine, client-b-interviews" in page and '<span class="state-ok">OK</span>' in page
    listed = client.get(f"/connections/{kind}/calendars").text
    assert "Added as mine" in listed and "Added as client-b-interviews" in listed

    made = form(client, "/syncs/new", "/syncs/new", {"name": "mine-to-b", "source": "mine", "target": "client-b-interviews", "privacy": "private",
                                                      "on_target_delete": "restore", "window_days": "180", "skip_free": "on", "skip_declined": "on"})  # fmt: skip
    assert made.url.path == "/syncs", made.text
    book(kind, emulator, main, "Interview with Ada")
    run_worker(store, db_url, uid, google, graph)
    assert titles(emulator, other) == ["Busy"]


def test_a_second_account_of_a_kind_gets_its_own_name_and_a_name_can_be_chosen(
    client: TestClient, store: SqlStore, google: GoogleEmulator
) -> None:
    signup(client, "two@example.com")
    assert connect(client, "google", google).url.path == "/connections/google/calendars"
    assert connect(client, "google", google).url.path == "/connections/google-2/calendars"
    assert connect(client, "google", google, name="work").url.path == "/connections/work/calendars"
    taken = client.get("/connections/new/google?name=work")
    assert taken.status_code == 400 and "You already have a connection named &#39;work&#39;." in taken.text
    bad = client.get("/connections/new/google?name=my%20work")
    assert bad.status_code == 400 and "may only use letters" in bad.text
    uid = user_id(store, "two@example.com")
    assert sorted(r.name for r in store.connections() if r.name.startswith(f"u{uid}.")) == [f"u{uid}.google", f"u{uid}.google-2", f"u{uid}.work"]


# states: needs re-authorisation, sign in again, errors ------------------------------------------------
@pytest.mark.parametrize("kind", ["google", "microsoft"])
def test_revoked_sign_in_needs_reauthorisation_and_signing_in_again_resumes_the_syncs(
    kind: str, client: TestClient, store: SqlStore, db_url: str, google: GoogleEmulator, graph: GraphEmulator
) -> None:
    emulator = emulator_of(kind, google, graph)
    signup(client, f"re-{kind}@example.com")
    uid = user_id(store, f"re-{kind}@example.com")
    main, other = connect_and_add(client, kind, emulator)
    book(kind, emulator, main, "First interview")
    run_worker(store, db_url, uid, google, graph)
    assert titles(emulator, other) == ["First interview"]

    emulator.oauth.revoke_refresh_tokens()  # the user revoked mirrorcal's access at the provider
    emulator.oauth.expire_access_tokens()
    book(kind, emulator, main, "Second interview")
    run_worker(store, db_url, uid, google, graph)
    row = store.connection(f"u{uid}.{kind}")
    assert row is not None and row.state == "needs_reauth"
    page = client.get("/connections").text
    assert "Needs re-authorisation" in page and "Sign in again" in page
    assert f"u{uid}." not in page  # the account's namespace never shows
    run_worker(store, db_url, uid, google, graph)  # paused: nothing read, nothing written, state kept
    assert titles(emulator, other) == ["First interview"]
    assert (store.connection(f"u{uid}.{kind}") or row).state == "needs_reauth"

    started = client.post(f"/connections/{kind}/reauth", data={"csrf": csrf_of(client.get("/connections").text)}, follow_redirects=False)
    assert started.status_code == 303
    done = client.get(through_provider(started.headers["location"], emulator))
    assert done.url.path == "/connections" and "Signed in again." in done.text
    assert '<span class="state-ok">OK</span>' in done.text and "Needs re-authorisation" not in done.text
    run_worker(store, db_url, uid, google, graph)
    assert sorted(titles(emulator, other)) == ["First interview", "Second interview"]


def test_signing_in_again_as_another_account_is_refused(client: TestClient, store: SqlStore, graph: GraphEmulator) -> None:
    signup(client, "swap@example.com")
    connect(client, "microsoft", graph)
    before = store.connection(f"u{user_id(store, 'swap@example.com')}.microsoft")
    graph.oauth.subject = "someone-else@outlook.example"  # the user picks another account at the provider
    started = client.post("/connections/microsoft/reauth", data={"csrf": csrf_of(client.get("/connections").text)}, follow_redirects=False)
    refused = client.get(through_provider(started.headers["location"], graph))
    assert refused.status_code == 400
    assert "You signed in as someone-else@outlook.example, but the connection &#39;microsoft&#39; is for recruiter@outlook.example" in refused.text
    assert store.connection(f"u{user_id(store, 'swap@example.com')}.microsoft") == before  # the stored sign-in is kept


def test_a_calendar_that_cannot_be_read_puts_its_connection_in_error_until_it_reads_again(
    client: TestClient, store: SqlStore, db_url: str, google: GoogleEmulator, graph: GraphEmulator
) -> None:
    signup(client, "err@example.com")
    uid = user_id(store, "err@example.com")
    main, other = connect_and_add(client, "google", google)
    run_worker(store, db_url, uid, google, graph)
    google.faults.fail_next(12, "500")
    run_worker(store, db_url, uid, google, graph)
    google.faults.clear()
    row = store.connection(f"u{uid}.google")
    assert row is not None and row.state == "error" and f"u{uid}." not in row.message
    assert row.message.startswith("The provider did not answer properly; mirrorcal tries again at the next run. Its answer: HTTP 500")
    assert "GET http" not in row.message
    page = client.get("/connections").text
    assert '<span class="state-error">Error</span>: The provider did not answer properly' in page and "Sign in again" in page
    book("google", google, main, "After the outage")
    run_worker(store, db_url, uid, google, graph)
    assert (store.connection(f"u{uid}.google") or row).state == "ok"
    assert titles(google, other) == ["After the outage"]


def test_syncing_is_shown_while_the_worker_runs_the_account(
    client: TestClient, app: FastAPI, store: SqlStore, db_url: str, google: GoogleEmulator, graph: GraphEmulator
) -> None:
    signup(client, "busy@example.com")
    uid = user_id(store, "busy@example.com")
    connect_and_add(client, "google", google)
    settings = WebSettings(database_url=db_url, worker_interval=3600, **oauth_settings(google, graph))
    google.faults.hang_seconds = 1.5
    google.faults.fail_next(1, "timeout")

    async def scenario() -> list[str]:
        worker = SyncWorker(store, settings)
        app.state.worker = worker
        await worker.start()
        seen: list[str] = []
        try:
            for _ in range(200):
                if worker.running(uid):
                    break
                await asyncio.sleep(0.01)
            seen.append(await asyncio.to_thread(lambda: client.get("/api/v1/connections", headers=bearer(token)).json()[0]["state"]))
            seen.append(await asyncio.to_thread(lambda: client.get("/connections").text))
            for _ in range(200):
                if not worker.running(uid):
                    break
                await asyncio.sleep(0.05)
            seen.append(await asyncio.to_thread(lambda: client.get("/api/v1/connections", headers=bearer(token)).json()[0]["state"]))
        finally:
            await worker.stop()
            app.state.worker = None
        return seen

    _, token = create_token(client, "script")
    during, page, after = asyncio.run(scenario())
    assert during == "syncing" and "Syncing…" in page and after == "ok"


# refusals -----------------------------------------------------------------------------------------
def test_a_changed_or_unknown_state_is_refused(clients: Clients, store: SqlStore, google: GoogleEmulator) -> None:
    owner, other = clients.new(), clients.new()
    signup(owner, "own@example.com")
    signup(other, "oth@example.com")
    callback = through_provider(start(owner, "google"), google)
    forged = callback.replace("state=", "state=x")
    unknown = owner.get(forged)
    assert unknown.status_code == 400 and "This sign-in is not known or has expired" in unknown.text
    assert owner.get("/connections/oauth/callback?code=abc").status_code == 400
    stolen = other.get(callback)  # another mirrorcal user's browser gets the link
    assert stolen.status_code == 400 and "started by another mirrorcal account" in stolen.text
    assert owner.get(callback).status_code == 400  # a state is good once
    assert [r for r in store.connections()] == []


def test_signed_out_callback_signs_in_and_comes_back(client: TestClient, store: SqlStore, google: GoogleEmulator) -> None:
    signup(client, "out@example.com")
    callback = through_provider(start(client, "google"), google)
    client.post("/signout", data={"csrf": csrf_of(client.get("/").text)})
    page = client.get(callback)
    assert page.url.path == "/signin" and "next=" in str(page.url)
    back = client.post("/signin", data={"csrf": csrf_of(page.text), "email": "out@example.com", "password": "correct horse battery staple",
                                         "next": parse_qs(urlsplit(str(page.url)).query)["next"][0]})  # fmt: skip
    assert back.url.path == "/connections/google/calendars" and store.connection(f"u{user_id(store, 'out@example.com')}.google") is not None


def test_access_denied_is_a_friendly_message(client: TestClient, store: SqlStore, graph: GraphEmulator) -> None:
    signup(client, "no@example.com")
    graph.oauth.deny = True
    denied = connect(client, "microsoft", graph)
    assert denied.status_code == 200 and "You did not allow mirrorcal to use your Microsoft 365, so nothing was connected." in denied.text
    assert 'href="/connections/new/microsoft"' in denied.text and store.connections() == []


def test_a_kind_without_an_app_registration_says_which_settings_to_set(store: SqlStore, db_url: str, google: GoogleEmulator) -> None:
    clients = Clients(make_app(store, db_url, **oauth_settings(google, None)))
    client = clients.new()
    signup(client, "cfg@example.com")
    page = client.get("/connections/new/microsoft", follow_redirects=False)
    assert page.status_code == 200 and "MIRRORCAL_MICROSOFT_CLIENT_ID" in page.text and "Microsoft 365 cannot be connected" in page.text
    _, token = create_token(client, "t")
    api = client.post("/api/v1/connections/microsoft/authorize", headers=bearer(token))
    assert api.status_code == 409 and "MIRRORCAL_MICROSOFT_CLIENT_ID" in api.json()["detail"]
    kinds = client.get("/calendars/new").text
    assert 'href="/connections/new/google"' in kinds and "Coming next" not in kinds
    assert client.get("/calendars/new?kind=google", follow_redirects=False).headers["location"] == "/connections/new/google"
    client.close()


# remove -------------------------------------------------------------------------------------------
def test_remove_is_refused_while_in_use_and_takes_the_calendars_when_asked(
    client: TestClient, store: SqlStore, google: GoogleEmulator
) -> None:
    signup(client, "rm@example.com")
    uid = user_id(store, "rm@example.com")
    connect_and_add(client, "google", google)
    refused = form(client, "/connections", "/connections/google/delete")
    assert refused.status_code == 400 and "is used by the calendar(s) mine, client-b" in refused.text
    with_syncs = form(client, "/connections", "/connections/google/delete", {"also_calendars": "on"})
    assert with_syncs.status_code == 400 and "used by the sync(s) mine-to-b" in with_syncs.text
    _, token = create_token(client, "t")
    api = client.delete("/api/v1/connections/google", headers=bearer(token))
    assert api.status_code == 409 and "is used by the calendar(s) mine, client-b" in api.json()["detail"]
    assert store.connection(f"u{uid}.google") is not None

    form(client, "/syncs", "/syncs/mine-to-b/delete")
    removed = form(client, "/connections", "/connections/google/delete", {"also_calendars": "on"})
    assert removed.url.path == "/connections" and "The connection and its calendars were removed." in removed.text
    assert store.connection(f"u{uid}.google") is None and "[calendars." not in (store.workspace(uid) or "")
    assert form(client, "/connections", "/connections/google/delete").status_code == 404

    connect(client, "google", google)  # unused: removed at once, also by the API
    assert client.delete("/api/v1/connections/google", headers=bearer(token)).status_code == 204
    assert store.connection(f"u{uid}.google") is None


# API ----------------------------------------------------------------------------------------------
def test_api_lists_connections_and_starts_a_sign_in_for_the_token_owner(
    clients: Clients, store: SqlStore, graph: GraphEmulator
) -> None:
    client = clients.new()
    signup(client, "api@example.com")
    _, token = create_token(client, "script")
    assert client.get("/api/v1/connections", headers=bearer(token)).json() == []
    started = client.post("/api/v1/connections/microsoft/authorize", headers=bearer(token), json={"name": "outlook"})
    assert started.status_code == 200 and started.json()["name"] == "outlook"
    callback = through_provider(started.json()["authorize_url"], graph)
    intruder = clients.new()
    signup(intruder, "nosy@example.com")
    assert intruder.get(callback).status_code == 400  # bound to the token's owner
    started = client.post("/api/v1/connections/microsoft/authorize", headers=bearer(token), json={"name": "outlook"})
    assert client.get(through_provider(started.json()["authorize_url"], graph)).url.path == "/connections/outlook/calendars"
    listed = client.get("/api/v1/connections", headers=bearer(token)).json()
    assert listed == [{"name": "outlook", "kind": "microsoft", "account": "recruiter@outlook.example", "state": "ok", "message": "", "calendars": []}]
    found = client.get("/api/v1/connections/outlook/calendars", headers=bearer(token)).json()
    assert found == [{"calendar_id": graph.calendar_id, "title": "Calendar", "primary": True, "added_as": None}]
    pick = {"calendars": [{"calendar_id": graph.calendar_id, "name": "work", "client": "A"}]}
    added = client.post("/api/v1/connections/outlook/calendars", headers=bearer(token), json=pick)
    assert added.status_code == 201 and added.json() == {"added": ["work"]}
    again = client.post("/api/v1/connections/outlook/calendars", headers=bearer(token), json=pick)
    assert again.status_code == 400 and again.json() == {"detail": f"calendars: {graph.calendar_id} already added."}
    unknown = client.post("/api/v1/connections/outlook/calendars", headers=bearer(token), json={"calendars": [{"calendar_id": "nope"}]})
    assert unknown.status_code == 400 and "nope not in this account" in unknown.json()["detail"]
    assert client.get("/api/v1/connections/outlook/calendars", headers=bearer(token)).json()[0]["added_as"] == "work"
    work = client.get("/api/v1/calendars/work", headers=bearer(token)).json()
    assert work["kind"] == "microsoft" and work["client"] == "A" and work["last_check"]["ok"] is True
    assert client.get("/api/v1/connections", headers=bearer(token)).json()[0]["calendars"] == ["work"]
    bad = client.post("/api/v1/connections/microsoft/authorize", headers=bearer(token), json={"name": "outlook"})
    assert bad.status_code == 400 and "already have a connection named 'outlook'" in bad.json()["detail"]
    assert client.post("/api/v1/connections/google/authorize", headers=bearer(token)).json()["name"] == "google"


# isolation ----------------------------------------------------------------------------------------
def test_another_users_connection_is_not_found(clients: Clients, store: SqlStore, google: GoogleEmulator) -> None:
    owner, intruder = clients.new(), clients.new()
    signup(owner, "mine@example.com")
    connect(owner, "google", google)
    signup(intruder, "yours@example.com")
    _, token = create_token(intruder, "t")
    csrf = csrf_of(intruder.get("/connections").text)
    assert intruder.get("/connections/google/calendars").status_code == 404
    for action in ("reauth", "delete", "calendars"):
        assert intruder.post(f"/connections/google/{action}", data={"csrf": csrf, "also_calendars": "on"}).status_code == 404
    assert intruder.delete("/api/v1/connections/google", headers=bearer(token)).status_code == 404
    assert intruder.get("/api/v1/connections/google/calendars", headers=bearer(token)).status_code == 404
    assert intruder.post("/api/v1/connections/google/calendars", headers=bearer(token), json={"calendars": [{"calendar_id": "primary"}]}).status_code == 404
    assert intruder.get("/api/v1/connections", headers=bearer(token)).json() == []
    assert "recruiter@gmail.example" not in intruder.get("/connections").text
    assert store.connection(f"u{user_id(store, 'mine@example.com')}.google") is not None
