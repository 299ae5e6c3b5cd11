"""Calendars and syncs per account over a real SQLite file, Radicale, an ICS feed server and the iCloud front door: pages and API."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from webkit import (
    Clients,
    TestClient,
    app,
    assert_foreign_ids_not_found,
    bearer,
    candidate_ids,
    client,
    create_token,
    csrf_of,
    db_url,
    errors_of,
    make_app,
    signup,
    store,
    summary_of,
)

from mirrorcal import workspace as ws
from mirrorcal.accounts import token_hash
from mirrorcal.bootstrap import Credentials, build_engine
from mirrorcal.store.sql import SqlStore
from mirrorcal.testing import RadicaleServer
from mirrorcal.testing.feedserver import FeedServer
from mirrorcal.testing.icloud import IcloudFrontDoor

__all__ = ["app", "client", "clients", "db_url", "store"]  # fixtures, used by name

DAV_PASSWORD = "dav-pass-Zq81-very-secret"
APP_PASSWORD = "abcd-efgh-ijkl-mnop"
FEED = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n{events}END:VCALENDAR\r\n"


def vevent(uid: str, summary: str, start: datetime) -> str:
    fmt = "%Y%m%dT%H%M%SZ"
    return (
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:{start.strftime(fmt)}\r\nDTSTART:{start.strftime(fmt)}\r\n"
        f"DTEND:{(start + timedelta(hours=1)).strftime(fmt)}\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\n"
    )


@pytest.fixture(scope="module")
def feeds() -> Iterator[FeedServer]:
    with FeedServer() as server:
        server.set("/ats.ics", FEED.format(events=vevent("d@ats", "David", datetime.now(UTC) + timedelta(days=1))))
        yield server


@pytest.fixture
def clients(app: FastAPI) -> Iterator[Clients]:
    """webkit's browser-like clients, also checking that no calendar password is ever echoed."""
    made = Clients(app)
    made.secrets += [DAV_PASSWORD, APP_PASSWORD]
    yield made
    made.check_no_password_echoed()
    for browser in made.open:
        browser.close()


@pytest.fixture
def dav_user(radicale: RadicaleServer) -> str:
    return "u" + uuid.uuid4().hex[:8]


def form(browser: TestClient, page: str, path: str, /, **data: str) -> httpx.Response:
    return browser.post(path, data={"csrf": csrf_of(browser.get(page).text), **data})


def add_caldav(browser: TestClient, name: str, url: str, user: str, /, **extra: str) -> httpx.Response:
    data = {"kind": "caldav", "name": name, "url": url, "username": user, "password": DAV_PASSWORD} | extra
    return form(browser, "/calendars/new?kind=caldav", "/calendars/new", **data)


def add_sync(browser: TestClient, name: str, source: str, target: str, privacy: str = "full", /, **extra: str) -> httpx.Response:
    data = {"name": name, "source": source, "target": target, "privacy": privacy, "skip_free": "on", "skip_declined": "on"}
    return form(browser, "/syncs/new", "/syncs/new", **(data | extra))


def user_id(store: SqlStore, email: str) -> int:
    row = store.user_by_email(email)
    assert row is not None
    return row.id


# calendars ------------------------------------------------------------------------------------
def test_caldav_discovery_choice_state_and_no_secret_stored_in_clear(
    client: TestClient, store: SqlStore, db_url: str, radicale: RadicaleServer, dav_user: str
) -> None:
    signup(client, "ann@example.com")
    kinds = client.get("/calendars/new")
    assert 'href="/connections/new/google"' in kinds.text  # Google and Microsoft start with a sign-in (test_web_connections)
    assert 'href="/calendars/new?kind=google"' not in kinds.text
    work = radicale.make_calendar(dav_user, "work", "Work")
    home = radicale.make_calendar(dav_user, "home", "Home")

    choice = add_caldav(client, "personal", f"{radicale.url}/{dav_user}/", dav_user, client="me", email="me@example.com")
    assert choice.status_code == 200 and "Which calendar?" in choice.text
    assert work in choice.text and home in choice.text and DAV_PASSWORD not in choice.text
    assert 'value="me@example.com"' in choice.text
    added = add_caldav(client, "personal", f"{radicale.url}/{dav_user}/", dav_user, password="", calendar_url=home)
    assert added.url.path == "/calendars" and "The calendar was added." in added.text
    assert "OK</span>: CalDAV calendar" in added.text and home in added.text

    direct = add_caldav(client, "client-a", work, dav_user, client="A")  # a calendar's own URL: no question
    assert direct.url.path == "/calendars" and "client-a" in direct.text

    uid = user_id(store, "ann@example.com")
    document = store.workspace(uid)
    assert document is not None and 'connection = "personal"' in document and f'url = "{home}"' in document
    assert DAV_PASSWORD not in document and "password" not in document
    assert DAV_PASSWORD.encode() not in Path(db_url.removeprefix("sqlite:///")).read_bytes()
    connection = store.connection(f"u{uid}.personal")
    assert connection is not None and connection.kind == "caldav" and connection.account == dav_user
    download = client.get("/account/mirrorcal.toml")
    assert download.headers["content-disposition"] == 'attachment; filename="mirrorcal.toml"'
    assert ws.load(download.text) == ws.load(document)

    taken = add_caldav(client, "personal", work, dav_user)
    assert taken.status_code == 400 and errors_of(taken.text) == ["You already have a calendar named &#39;personal&#39;."]
    assert f'value="{work}"' in taken.text

    radicale.delete_collection(work)
    checked = form(client, "/calendars", "/calendars/client-a/check")
    assert checked.url.path == "/calendars" and "Error</span>: " in checked.text
    assert "OK</span>: CalDAV calendar" in checked.text  # the other one keeps its state

    removed = form(client, "/calendars", "/calendars/client-a/delete")
    assert "The calendar was removed." in removed.text and store.connection(f"u{uid}.client-a") is None
    assert form(client, "/calendars", "/calendars/client-a/delete").status_code == 404


def test_refused_calendars_keep_the_values_and_say_why(client: TestClient, feeds: FeedServer) -> None:
    signup(client, "bea@example.com")
    missing = form(client, "/calendars/new?kind=caldav", "/calendars/new", kind="caldav", name="", url="", username="x")
    assert missing.status_code == 400
    assert errors_of(missing.text) == ["Give the calendar a short name, such as client-a.", "Enter the calendar&#39;s address (URL)."]
    bad = form(client, "/calendars/new?kind=ics", "/calendars/new", kind="ics", name="ats feed", url="ftp://x.example/")
    assert bad.status_code == 400 and "may only use letters" in summary_of(bad.text) and 'value="ftp://x.example/"' in bad.text
    gone = form(client, "/calendars/new?kind=ics", "/calendars/new", kind="ics", name="ats", url=feeds.url("/missing.ics"))
    assert gone.status_code == 400 and 'value="ats"' in gone.text and "404" in summary_of(gone.text)
    google = form(client, "/calendars/new", "/calendars/new", kind="google", name="g")
    assert google.status_code == 400 and "Sign in with Google Calendar first" in google.text
    ok = form(client, "/calendars/new?kind=ics", "/calendars/new", kind="ics", name="ats", url=feeds.url("/ats.ics"), client="C")
    assert ok.url.path == "/calendars" and "OK</span>: ICS feed, 1 events" in ok.text


def test_icloud_needs_an_app_specific_password(store: SqlStore, db_url: str, radicale: RadicaleServer, dav_user: str) -> None:
    radicale.make_calendar(dav_user, "family", "Family")
    with IcloudFrontDoor(radicale.url, dav_user, app_password=APP_PASSWORD) as door:
        watched = Clients(make_app(store, db_url, icloud_url=door.url))
        watched.secrets.append(APP_PASSWORD)
        client = watched.new()
        signup(client, "cat@example.com")
        data = {"kind": "icloud", "name": "family", "username": "recruiter@icloud.example", "password": "Correct-Horse-1"}
        refused = form(client, "/calendars/new?kind=icloud", "/calendars/new", **data)
        assert refused.status_code == 400 and "app-specific password" in errors_of(refused.text)[0]
        assert "Correct-Horse-1" not in refused.text
        added = form(client, "/calendars/new?kind=icloud", "/calendars/new", **(data | {"password": APP_PASSWORD}))
        assert added.url.path == "/calendars" and "OK</span>: iCloud calendar" in added.text
        assert APP_PASSWORD not in (store.workspace(user_id(store, "cat@example.com")) or "")
        client.get("/calendars")
        client.get("/account/mirrorcal.toml")
        watched.check_no_password_echoed()
        client.close()


# syncs ----------------------------------------------------------------------------------------
def test_syncs_within_the_plan_edit_pause_delete(client: TestClient, store: SqlStore, feeds: FeedServer, radicale: RadicaleServer, dav_user: str) -> None:
    signup(client, "dan@example.com")
    add_caldav(client, "personal", radicale.make_calendar(dav_user, "p"), dav_user)
    add_caldav(client, "client-a", radicale.make_calendar(dav_user, "a"), dav_user)
    form(client, "/calendars/new?kind=ics", "/calendars/new", kind="ics", name="ats", url=feeds.url("/ats.ics"))

    custom = add_sync(client, "me-to-a", "personal", "client-a", "custom", title="  ", exclude_titles="^hold:\n(")
    assert custom.status_code == 400
    assert errors_of(custom.text) == ["Is required with privacy = &#34;custom&#34;."]
    assert "^hold:\n(" in custom.text and 'value="me-to-a"' in custom.text
    regex = add_sync(client, "me-to-a", "personal", "client-a", "private", exclude_titles="^hold:\n(")
    assert regex.status_code == 400 and "Not a valid regular expression" in errors_of(regex.text)[0]
    feed_target = add_sync(client, "x", "personal", "ats")
    assert feed_target.status_code == 400 and "read-only" in errors_of(feed_target.text)[0]

    assert add_sync(client, "me-to-a", "personal", "client-a", "private", exclude_titles="^hold:").url.path == "/syncs"
    assert add_sync(client, "a-to-me", "client-a", "personal").url.path == "/syncs"
    page = add_sync(client, "ats-to-a", "ats", "client-a", "custom", title="Recruiting")
    assert "3 of 3 used" in page.text and "Create a sync" not in page.text
    assert "3 of 3 syncs used." in client.get("/").text
    full = add_sync(client, "ats-to-me", "ats", "personal")
    assert full.status_code == 400 and "allows 3 syncs and all 3 are in use" in summary_of(full.text)

    edit = client.get("/syncs/me-to-a")
    assert "^hold:" in edit.text and 'value="private" checked' in edit.text
    saved = form(client, "/syncs/me-to-a", "/syncs/me-to-a", privacy="custom", title="Busy (agency)", window_days="30",
                 source="client-a", target="ats")  # fmt: skip
    assert saved.url.path == "/syncs" and "“Busy (agency)” blocks" in saved.text
    entry = ws.load(store.workspace(user_id(store, "dan@example.com")) or "").sync("me-to-a")
    assert entry is not None and (entry.source, entry.target, entry.window_days) == ("personal", "client-a", 30)
    assert entry.exclude_titles == [] and not entry.skip_free  # an unticked box is off
    bad_days = form(client, "/syncs/me-to-a", "/syncs/me-to-a", privacy="full", window_days="soon")
    assert bad_days.status_code == 400 and errors_of(bad_days.text) == ["Enter a whole number of days, such as 180."]

    paused = form(client, "/syncs", "/syncs/me-to-a/pause")
    assert "The sync is paused." in paused.text and "Paused" in paused.text
    resumed = form(client, "/syncs", "/syncs/me-to-a/pause")
    assert "The sync runs again." in resumed.text

    deleted = form(client, "/syncs", "/syncs/ats-to-a/delete")
    assert "The copies it made stay where they are." in deleted.text and "2 of 3 used" in deleted.text
    assert client.get("/syncs/ats-to-a").status_code == 404
    busy = form(client, "/calendars", "/calendars/personal/delete")
    assert busy.status_code == 400 and "delete them first" in busy.text


async def _run_syncs(store: SqlStore, db_url: str, uid: int) -> None:
    config = ws.runtime_config(store.workspace(uid) or "", uid, db_url)
    credentials = Credentials(config, store)
    engine = build_engine(config, store, credentials)
    try:
        await engine.sync()
    finally:
        await engine.aclose()
        await credentials.aclose()


def test_delete_with_every_copy_removes_the_mirrors_on_radicale(
    client: TestClient, store: SqlStore, db_url: str, radicale: RadicaleServer, dav_user: str
) -> None:
    signup(client, "eve@example.com")
    personal, target = radicale.make_calendar(dav_user, "p"), radicale.make_calendar(dav_user, "t")
    add_caldav(client, "personal", personal, dav_user)
    add_caldav(client, "client-b", target, dav_user)
    add_sync(client, "me-to-b", "personal", "client-b", "private", two_way="on")
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    ics = FEED.format(events=vevent("own@p", "Dentist", start))
    httpx.put(personal + "own.ics", content=ics, auth=(dav_user, "x"), headers={"Content-Type": "text/calendar"}).raise_for_status()
    uid = user_id(store, "eve@example.com")
    asyncio.run(_run_syncs(store, db_url, uid))
    listing = httpx.request("PROPFIND", target, headers={"Depth": "1"}, auth=(dav_user, "x")).text
    assert len(re.findall(r"\.ics</", listing)) == 1, "the mirror arrived"

    done = form(client, "/syncs", "/syncs/me-to-b/delete", remove_copies="on")
    assert "The sync was deleted, with every copy it made." in done.text
    listing = httpx.request("PROPFIND", target, headers={"Depth": "1"}, auth=(dav_user, "x")).text
    assert not re.findall(r"\.ics</", listing)
    assert httpx.get(personal + "own.ics", auth=(dav_user, "x")).status_code == 200  # the original stays
    assert store.mirrors(f"u{uid}.me-to-b") == {}


# API ------------------------------------------------------------------------------------------
def test_api_calendars_and_syncs(client: TestClient, feeds: FeedServer, radicale: RadicaleServer, dav_user: str) -> None:
    signup(client, "fay@example.com")
    _, token = create_token(client, "script")
    api = bearer(token)
    made = client.post("/api/v1/calendars", headers=api, json={"kind": "ics", "name": "ats", "url": feeds.url("/ats.ics")})
    assert made.status_code == 201 and made.json()["last_check"]["ok"] is True
    dav = {"kind": "caldav", "username": dav_user, "password": DAV_PASSWORD}
    for name in ("personal", "client-a"):
        url = radicale.make_calendar(dav_user, name)
        assert client.post("/api/v1/calendars", headers=api, json=dav | {"name": name, "url": url}).status_code == 201
    home = client.post("/api/v1/calendars", headers=api, json=dav | {"name": "x", "url": f"{radicale.url}/{dav_user}/"})
    assert home.status_code == 400 and home.json()["detail"].startswith("calendar_url: this address holds 2 calendars")
    assert [c["name"] for c in client.get("/api/v1/calendars", headers=api).json()] == ["ats", "personal", "client-a"]
    assert DAV_PASSWORD not in client.get("/api/v1/calendars/personal", headers=api).text

    bad = client.post("/api/v1/syncs", headers=api, json={"name": "s", "source": "personal", "target": "ats", "privacy": "full"})
    assert bad.status_code == 400 and "read-only" in bad.json()["detail"]
    for name, source, target in [("s1", "ats", "personal"), ("s2", "personal", "client-a"), ("s3", "ats", "client-a")]:
        body = {"name": name, "source": source, "target": target, "privacy": "private"}
        assert client.post("/api/v1/syncs", headers=api, json=body).status_code == 201
    over = client.post("/api/v1/syncs", headers=api, json={"name": "s4", "source": "client-a", "target": "personal", "privacy": "full"})
    assert over.status_code == 409 and "all 3 are in use" in over.json()["detail"]
    assert client.get("/api/v1/me", headers=api).json()["syncs_used"] == 3

    patched = client.patch("/api/v1/syncs/s2", headers=api, json={"privacy": "custom", "title": "Agency", "paused": True})
    assert patched.status_code == 200 and (patched.json()["title"], patched.json()["paused"]) == ("Agency", True)
    refused = client.patch("/api/v1/syncs/s2", headers=api, json={"title": ""})
    assert refused.status_code == 400 and "title" in refused.json()["detail"]
    assert client.get("/api/v1/syncs/nope", headers=api).json() == {"detail": "You have no sync named 'nope'."}
    assert client.delete("/api/v1/syncs/s3?remove_copies=true", headers=api).json() == {"copies_removed": 0}
    assert client.get("/api/v1/syncs", headers=api).json()["syncs_used"] == 2
    assert client.delete("/api/v1/calendars/personal", headers=api).status_code == 400
    assert client.delete("/api/v1/calendars/ats", headers=api).status_code == 400

    schema = client.get("/api/v1/openapi.json").json()
    assert {"/api/v1/calendars", "/api/v1/calendars/{calendar_name}", "/api/v1/syncs", "/api/v1/syncs/{sync_name}"} <= set(schema["paths"])
    parts = schema["components"]["schemas"]
    assert {"SyncCreate", "SyncUpdate", "SyncPublic", "CalendarCreate", "CalendarPublic"} <= set(parts)
    assert "password" not in parts["CalendarPublic"]["properties"] and "name" not in parts["SyncUpdate"]["properties"]


# isolation ------------------------------------------------------------------------------------
def test_every_route_with_a_name_is_404_for_another_account(clients: Clients, feeds: FeedServer, store: SqlStore) -> None:
    owner, intruder = clients.new(), clients.new()
    signup(owner, "gil@example.com")
    token_id, _ = create_token(owner, "owner's")
    form(owner, "/calendars/new?kind=ics", "/calendars/new", kind="ics", name="shared", url=feeds.url("/ats.ics"))
    form(owner, "/calendars/new?kind=ics", "/calendars/new", kind="ics", name="other", url=feeds.url("/ats.ics"))
    signup(intruder, "hal@example.com")
    _, intruder_token = create_token(intruder, "intruder's")
    # the owner's sync needs a writable target: give it one through the document, as the CLI would
    uid = user_id(store, "gil@example.com")
    model = ws.load(store.workspace(uid) or "")
    model.calendars.append(ws.CalendarEntry("writable", "caldav", url="http://127.0.0.1:9/c/", username="u", connection="writable"))
    model = ws.add_sync(model, ws.SyncEntry("shared", "shared", "writable", "full"), "personal")
    store.save_workspace(uid, ws.dump(model), datetime.now(UTC))
    app: FastAPI = clients.app
    # the busy feed's URL is its own credential (no sign-in): the intruder knows at most what the store keeps
    feed = form(owner, "/account/feed", "/account/feed")
    feed_url = re.search(r'id="new-feed-url"[^>]*value="[^"]*/feeds/([^"/]+)\.ics"', feed.text)
    assert feed.status_code == 201 and feed_url
    ids: dict[str, int | str] = {
        "token_id": token_id, "calendar_name": "shared", "sync_name": "shared", "feed_token": token_hash(feed_url.group(1)),
        "connection_name": "writable",
    }  # fmt: skip
    hooks_token = create_token(owner, "hooks")[1]
    ids["hook_id"] = owner.post("/api/v1/webhooks", json={"url": "https://example.com/gil"}, headers=bearer(hooks_token)).json()["id"]
    ids |= candidate_ids(owner, hooks_token)
    assert assert_foreign_ids_not_found(app, intruder, ids, intruder_token) >= 12
    assert owner.get("/syncs/shared").status_code == 200 and owner.get(f"/feeds/{feed_url.group(1)}.ics").status_code == 200
    assert [c["name"] for c in owner.get("/api/v1/calendars", headers=bearer(create_token(owner, "2")[1])).json()] == [
        "shared", "other", "writable",
    ]  # fmt: skip
    assert "shared" not in intruder.get("/calendars").text and "shared" not in intruder.get("/syncs").text
