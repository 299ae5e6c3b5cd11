"""An event's history across every sync of the account (/history/event, /api/v1/history/event)
over a real SQLite file and Radicale: an interview at client A is copied to the personal
calendar and from there, as Busy, to client B; its history follows it along the chain."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from test_web_guided import submit
from test_web_preview import add, calendar_text, put, run_syncs
from webkit import Clients, TestClient, app, bearer, client, clients, create_token, db_url, signup, store

from mirrorcal.store.sql import SqlStore
from mirrorcal.testing import RadicaleServer

__all__ = ["app", "client", "clients", "db_url", "store"]  # fixtures, used by name


def test_an_events_history_follows_it_through_every_sync_and_is_the_owners_only(
    client: TestClient, clients: Clients, store: SqlStore, db_url: str, radicale: RadicaleServer
) -> None:
    dav_user = "u" + uuid.uuid4().hex[:8]
    urls = {name: radicale.make_calendar(dav_user, name[-1]) for name in ("personal", "client-a", "client-b")}
    signup(client, "eve@example.com", plan="professional")
    api = bearer(create_token(client, "script")[1])
    dav = {"kind": "caldav", "username": dav_user, "password": "dav-secret-Pw-123"}
    for name, url in urls.items():
        add(client, "/calendars/new?kind=caldav", "/calendars/new", name=name, url=url, **dav)
    assert submit(client, "personal", ["client-a", "client-b"], client_a="A", client_b="B").url.path == "/syncs"
    uid = store.user_by_email("eve@example.com").id  # type: ignore[union-attr]
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    put(urls["client-a"], dav_user, "john.ics", calendar_text("john@a", "Interview: John", base))
    put(urls["personal"], dav_user, "dentist.ics", calendar_text("dentist@p", "Dentist", base + timedelta(hours=4)))
    asyncio.run(run_syncs(store, db_url, uid))
    put(urls["client-a"], dav_user, "john.ics", calendar_text("john@a", "Interview: John (moved)", base + timedelta(hours=1)))
    asyncio.run(run_syncs(store, db_url, uid))
    httpx.delete(urls["client-a"] + "john.ics", auth=(dav_user, "x")).raise_for_status()
    asyncio.run(run_syncs(store, db_url, uid))

    # the per-sync history links each row to its event's history
    page = client.get("/syncs/personal-to-client-b/history")
    assert 'href="/history/event?root=client-a/john%40a"' in page.text
    assert 'href="/history/event?root=personal/dentist%40p"' in page.text
    rows = client.get("/api/v1/syncs/personal-to-client-b/history", headers=api).json()["entries"]
    assert {e["root"] for e in rows} == {"client-a/john@a", "personal/dentist@p"}

    body = client.get("/api/v1/history/event", params={"root": "client-a/john@a"}, headers=api).json()
    assert body["root"] == "client-a/john@a" and body["calendar"] == "client-a"
    done = [(e["sync"], e["target"], e["action"]) for e in body["entries"]]
    for step in (
        ("client-a-to-personal", "personal", "created"), ("personal-to-client-b", "client-b", "created"),
        ("client-a-to-personal", "personal", "updated"), ("personal-to-client-b", "client-b", "updated"),
        ("client-a-to-personal", "personal", "deleted"), ("personal-to-client-b", "client-b", "deleted"),
    ):  # fmt: skip
        assert step in done, (step, done)
    assert all(e["reason"] for e in body["entries"])
    assert not any(e["sync"] == "personal-to-client-a" and e["action"] in ("created", "updated") for e in body["entries"])
    assert "Dentist" not in str(body)
    ats = [datetime.fromisoformat(e["at"]) for e in body["entries"]]
    assert ats == sorted(ats, reverse=True) and body["entries"][-1]["action"] == "created"
    assert body["entries"][0]["action"] == "deleted"

    dentist = client.get("/api/v1/history/event", params={"root": "personal/dentist@p"}, headers=api).json()
    assert {(e["sync"], e["action"]) for e in dentist["entries"]} >= {("personal-to-client-a", "created"), ("personal-to-client-b", "created")}
    assert all(e["sync"] != "client-a-to-personal" for e in dentist["entries"])

    html = client.get("/history/event", params={"root": "client-a/john@a"})
    assert html.status_code == 200 and "History of “Interview: John (moved)”" in html.text
    assert html.text.count('<td class="history-action') == len(body["entries"])
    assert f"u{uid}." not in html.text and f"u{uid}." not in str(body)

    # unknown events, and another account's, are 404; no token is 401
    for root in ("client-a/nope@a", "", "nope"):
        assert client.get("/history/event", params={"root": root}).status_code == 404
        assert client.get("/api/v1/history/event", params={"root": root}, headers=api).status_code == 404
    assert client.get("/api/v1/history/event", params={"root": "client-a/john@a"}).status_code == 401
    intruder = clients.new()
    signup(intruder, "mal@example.com")
    intruder_api = bearer(create_token(intruder, "mal's")[1])
    assert intruder.get("/history/event", params={"root": "client-a/john@a"}).status_code == 404
    refused = intruder.get("/api/v1/history/event", params={"root": "client-a/john@a"}, headers=intruder_api)
    assert refused.status_code == 404 and refused.json() == {"detail": "No sync of yours has handled this event."}
