"""The guided setup (/setup and POST /api/v1/setup/guided) over a real SQLite file, and end to end
through Radicale: the recruiter table in one step, within the plan, all or nothing."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from test_web_preview import add, calendar_text, put, run_syncs
from webkit import (
    TestClient,
    app,
    bearer,
    client,
    clients,
    create_token,
    csrf_of,
    db_url,
    make_app,
    signup,
    store,
)

from mirrorcal import workspace as ws
from mirrorcal.store.sql import SqlStore
from mirrorcal.testing import RadicaleServer

__all__ = ["app", "client", "clients", "db_url", "store"]  # fixtures, used by name

DOCUMENT = """\
[calendars.personal]
kind = "caldav"
url = "http://127.0.0.1:9/dav/personal/"
username = "me"
connection = "personal"

[calendars.client-a]
kind = "caldav"
url = "http://127.0.0.1:9/dav/a/"
username = "me"
connection = "personal"

[calendars.client-b]
kind = "caldav"
url = "http://127.0.0.1:9/dav/b/"
username = "me"
connection = "personal"

[calendars.client-c-ats]
kind = "ics"
url = "http://127.0.0.1:9/c.ics"
unified = false
"""


def account(client: TestClient, store: SqlStore, email: str, plan: str = "personal", document: str = DOCUMENT) -> int:
    assert signup(client, email, plan=plan).status_code == 200
    user = store.user_by_email(email)
    assert user is not None
    store.save_workspace(user.id, document, user.created)
    return user.id


def submit(client: TestClient, personal: str, chosen: list[str], **labels: str) -> httpx.Response:
    page = client.get("/setup")
    assert page.status_code == 200
    data: list[tuple[str, str]] = [("csrf", csrf_of(page.text)), ("personal", personal)]
    data += [("clients", c) for c in chosen]
    data += [(f"client:{name.replace('_', '-')}", label) for name, label in labels.items()]
    body = urlencode(data)
    return client.post("/setup", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"})


def syncs_of(store: SqlStore, uid: int) -> list[tuple[str, str, str, str]]:
    model = ws.load(store.workspace(uid) or "")
    return [(s.name, s.source, s.target, s.privacy) for s in model.syncs]


def test_the_page_lists_the_calendars_and_refuses_more_than_the_plan_allows_all_or_nothing(client: TestClient, store: SqlStore) -> None:
    uid = account(client, store, "pat@example.com")
    page = client.get("/setup")
    assert page.status_code == 200
    for name in ("personal", "client-a", "client-b", "client-c-ats"):
        assert f'name="clients" value="{name}"' in page.text and f'name="client:{name}"' in page.text
    assert "0 of 3 used" in page.text and 'href="/calendars/new"' in page.text
    assert "read-only" in page.text  # the ICS feed gets no Busy blocks back

    # a: 2, b: 2, the feed: 1 = 5 syncs on a plan of 3
    refused = submit(client, "personal", ["client-a", "client-b", "client-c-ats"], client_a="A", client_b="B")
    assert refused.status_code == 400
    assert "This needs 5 syncs, 3 of 3 left: upgrade to Professional or choose fewer clients." in refused.text
    assert syncs_of(store, uid) == []
    assert ws.load(store.workspace(uid) or "").calendar("client-a").client is None  # type: ignore[union-attr]
    assert re.search(r'value="client-a" id="clients-2" checked', refused.text)  # the choice is shown again

    for personal, chosen, message in (
        ("", ["client-a"], "Choose your personal calendar."),
        ("personal", [], "Choose at least one client calendar."),
        ("personal", ["personal"], "The personal calendar cannot also be a client's calendar."),
        ("personal", ["nope"], "You have no calendar named 'nope'."),
    ):
        response = submit(client, personal, chosen)
        assert response.status_code == 400 and message.replace("'", "&#39;") in response.text, message
    assert syncs_of(store, uid) == []

    done = submit(client, "personal", ["client-a"], client_a="A")
    assert done.status_code == 200 and done.url.path == "/syncs"
    assert "Your syncs were created" in done.text
    assert syncs_of(store, uid) == [
        ("client-a-to-personal", "client-a", "personal", "full"),
        ("personal-to-client-a", "personal", "client-a", "private"),
    ]
    model = ws.load(store.workspace(uid) or "")
    assert model.calendar("client-a").client == "A"  # type: ignore[union-attr]
    assert model.sync("personal-to-client-a").title is None  # the default title: "Busy"  # type: ignore[union-attr]

    # one sync left: the feed needs one (no way back), b would need two
    assert "This needs 3 syncs, 1 of 3 left" in submit(client, "personal", ["client-a", "client-b", "client-c-ats"]).text
    again = submit(client, "personal", ["client-a"])
    assert again.status_code == 400 and "Nothing to create: every one of these syncs already exists." in again.text
    fed = submit(client, "personal", ["client-a", "client-c-ats"], client_c_ats="C")
    assert fed.url.path == "/syncs"
    assert syncs_of(store, uid)[2:] == [("client-c-ats-to-personal", "client-c-ats", "personal", "full")]
    assert "3 of 3 used" in client.get("/setup").text


def test_the_api_creates_the_table_skips_existing_pairs_and_names_the_limit(client: TestClient, store: SqlStore) -> None:
    uid = account(client, store, "sam@example.com", plan="professional")
    _, token = create_token(client, "script")
    api = bearer(token)
    assert client.post("/api/v1/setup/guided", json={"personal": "personal", "clients": ["client-a"]}).status_code == 401
    # an existing sync with another name is kept, and its name is not taken twice
    made = client.post("/api/v1/syncs", headers=api, json={"name": "client-b-to-personal", "source": "personal", "target": "client-b", "privacy": "private"})
    assert made.status_code == 201, made.text
    response = client.post(
        "/api/v1/setup/guided", headers=api,
        json={"personal": "personal", "clients": ["client-a", "client-b", "client-c-ats"], "client_labels": {"client-b": "B"}},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["created"] == ["client-a-to-personal", "personal-to-client-a", "client-b-to-personal-2", "client-c-ats-to-personal"]
    assert body["skipped"] == ["personal → client-b (sync client-b-to-personal)"]
    assert body["read_only"] == ["client-c-ats"] and (body["syncs_used"], body["syncs_allowed"]) == (5, 8)
    assert ("client-b-to-personal-2", "client-b", "personal", "full") in syncs_of(store, uid)
    assert ws.load(store.workspace(uid) or "").calendar("client-b").client == "B"  # type: ignore[union-attr]

    document = DOCUMENT + "".join(f'\n[calendars.x{i}]\nkind = "ics"\nurl = "http://127.0.0.1:9/{i}.ics"\n' for i in range(4))
    store.save_workspace(uid, document + _syncs_block(store, uid), datetime.now(UTC))
    full = client.post("/api/v1/setup/guided", headers=api, json={"personal": "personal", "clients": ["x0", "x1", "x2", "x3"]})
    assert full.status_code == 409
    assert full.json() == {"detail": "This needs 4 syncs, 3 of 8 left: choose fewer clients or delete syncs you no longer need."}
    assert len(syncs_of(store, uid)) == 5
    bad = client.post("/api/v1/setup/guided", headers=api, json={"personal": "nope", "clients": ["client-a"]})
    assert bad.status_code == 400 and bad.json()["detail"] == "personal: You have no calendar named 'nope'."


def _syncs_block(store: SqlStore, uid: int) -> str:
    text = store.workspace(uid) or ""
    return text[text.index("[[syncs]]") - 1 :]


def test_guided_syncs_bring_interviews_home_in_full_and_send_busy_back(client: TestClient, store: SqlStore, db_url: str, radicale: RadicaleServer) -> None:
    dav_user = "u" + uuid.uuid4().hex[:8]
    personal, client_a = radicale.make_calendar(dav_user, "p"), radicale.make_calendar(dav_user, "a")
    signup(client, "ada@example.com")
    dav = {"kind": "caldav", "username": dav_user, "password": "dav-secret-Pw-123"}
    add(client, "/calendars/new?kind=caldav", "/calendars/new", name="personal", url=personal, **dav)
    add(client, "/calendars/new?kind=caldav", "/calendars/new", name="client-a", url=client_a, **dav)
    assert submit(client, "personal", ["client-a"], client_a="A").url.path == "/syncs"
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    put(client_a, dav_user, "john.ics", calendar_text("john@a", "Interview: John Smith", base, "LOCATION:Acme HQ"))
    put(personal, dav_user, "dentist.ics", calendar_text("dentist@p", "Dentist", base + timedelta(hours=3)))
    uid = store.user_by_email("ada@example.com").id  # type: ignore[union-attr]
    asyncio.run(run_syncs(store, db_url, uid))

    home = _texts(personal, dav_user)
    assert any("Interview: John Smith" in t and "Acme HQ" in t for t in home)  # in full on personal
    away = [t for t in _texts(client_a, dav_user) if "john@a" not in t]
    assert len(away) == 1 and "SUMMARY:Busy" in away[0] and "Dentist" not in away[0]  # only Busy goes back
    assert "John Smith" not in "".join(away)  # the client's own event does not echo back to it


def _texts(url: str, user: str) -> list[str]:
    listing = httpx.request("PROPFIND", url, headers={"Depth": "1"}, auth=(user, "x")).text
    hrefs = re.findall(r"<[^>]*href>([^<]+\.ics)</", listing)
    return [httpx.get(httpx.URL(url).join(h), auth=(user, "x")).text for h in hrefs]


def test_the_guided_setup_pokes_the_sync_worker(store: SqlStore, db_url: str) -> None:
    app = make_app(store, db_url, worker=True, worker_interval=3600)  # an hour between runs: only a poke runs it again
    with TestClient(app) as browser:
        uid = account(browser, store, "kit@example.com")
        worker = app.state.worker
        worker.poke(uid)  # the account was made after the worker's first round
        first = _next_run(worker, uid, None)
        time.sleep(0.5)  # let any run already asked for finish: only the guided setup's poke runs it again
        first = worker.runs[uid]
        response = submit(browser, "personal", ["client-a"])
        assert response.url.path == "/syncs"
        second = _next_run(worker, uid, first)
        assert second is not first and second.at >= first.at


def _next_run(worker: Any, uid: int, after: object) -> Any:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        run = worker.runs.get(uid)
        if run is not None and run is not after:
            return run
        time.sleep(0.02)
    raise AssertionError("the worker did not run the account")
