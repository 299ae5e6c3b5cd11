"""A sync's history over a real SQLite file and Radicale: the page and the API list what each run did to each event and why, in the user's own names, filtered and searched, and only for the sync's owner."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from test_web_preview import add, calendar_text, put, run_syncs
from webkit import Clients, TestClient, app, bearer, client, clients, create_token, db_url, signup, store

from mirrorcal import workspace as ws
from mirrorcal.store.sql import SqlStore
from mirrorcal.testing import RadicaleServer
from mirrorcal.web.history import SHOWN

__all__ = ["app", "client", "clients", "db_url", "store"]  # fixtures, used by name


def entries(client: TestClient, api: dict[str, str], query: str = "") -> list[dict[str, object]]:
    response = client.get("/api/v1/syncs/me-to-b/history" + query, headers=api)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["sync"] == "me-to-b"
    found: list[dict[str, object]] = body["entries"]
    return found


def test_history_lists_what_each_run_did_and_why_filtered_and_searched(
    client: TestClient, clients: Clients, store: SqlStore, db_url: str, radicale: RadicaleServer
) -> None:
    dav_user = "u" + uuid.uuid4().hex[:8]
    personal, target = radicale.make_calendar(dav_user, "p"), radicale.make_calendar(dav_user, "b")
    signup(client, "ivy@example.com")
    api = bearer(create_token(client, "script")[1])
    dav = {"kind": "caldav", "username": dav_user, "password": "dav-secret-Pw-123"}
    add(client, "/calendars/new?kind=caldav", "/calendars/new", name="personal", url=personal, **dav)
    add(client, "/calendars/new?kind=caldav", "/calendars/new", name="client-b", url=target, client="Beta", **dav)
    add(client, "/syncs/new", "/syncs/new", name="me-to-b", source="personal", target="client-b", privacy="private", skip_free="on")
    uid = store.user_by_email("ivy@example.com").id  # type: ignore[union-attr]
    prefix = f"u{uid}."

    assert 'href="/syncs/me-to-b/history"' in client.get("/syncs").text
    assert "Nothing yet: this sync has not handled any event." in client.get("/syncs/me-to-b/history").text
    assert entries(client, api) == []

    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    put(personal, dav_user, "interview.ics", calendar_text("i@p", "Interview: Jane Doe", base))
    put(personal, dav_user, "call.ics", calendar_text("c@p", "Call with Acme", base + timedelta(hours=2)))
    put(personal, dav_user, "gym.ics", calendar_text("g@p", "Gym", base + timedelta(days=1), "TRANSP:TRANSPARENT"))
    asyncio.run(run_syncs(store, db_url, uid))
    put(personal, dav_user, "call.ics", calendar_text("c@p", "Call with Acme (moved)", base + timedelta(hours=3)))
    httpx.delete(personal + "interview.ics", auth=(dav_user, "x")).raise_for_status()
    asyncio.run(run_syncs(store, db_url, uid))

    everything = entries(client, api)
    done = {(e["event"], e["action"]) for e in everything}
    assert {
        ("Interview: Jane Doe", "created"), ("Call with Acme", "created"), ("Gym", "skipped"),
        ("Call with Acme (moved)", "updated"), ("Interview: Jane Doe", "deleted"),
    } <= done, done  # fmt: skip
    assert {e["action"] for e in everything} <= {"created", "updated", "deleted", "skipped"}
    assert all(e["reason"] and e["way_back"] is False for e in everything)
    ats = [datetime.fromisoformat(str(e["at"])) for e in everything]
    assert ats == sorted(ats, reverse=True), "newest first"
    assert everything[0]["action"] in ("updated", "deleted") and everything[-1]["action"] in ("created", "skipped")

    assert {(e["event"], e["action"]) for e in entries(client, api, "?action=skipped")} == {("Gym", "skipped")}
    assert {e["action"] for e in entries(client, api, "?action=deleted")} == {"deleted"}
    assert {(e["event"], e["action"]) for e in entries(client, api, "?q=ACME")} == {
        ("Call with Acme", "created"), ("Call with Acme (moved)", "updated"),
    }  # fmt: skip
    assert [e["event"] for e in entries(client, api, "?action=created&q=interview")] == ["Interview: Jane Doe"]
    assert client.get("/api/v1/syncs/me-to-b/history?action=bogus", headers=api).status_code == 422

    page = client.get("/syncs/me-to-b/history", params={"action": "skipped"})
    assert page.status_code == 200 and page.text.count('<td class="history-event">') == 1
    assert '<td class="history-event"><a href="/history/event?root=personal/g%40p" title="Everything done to this event, in every sync">Gym</a></td>' in page.text and '<option value="skipped" selected>' in page.text
    searched = client.get("/syncs/me-to-b/history", params={"q": "acme"})
    assert searched.text.count('<td class="history-event">') == 2 and 'value="acme"' in searched.text
    nothing = client.get("/syncs/me-to-b/history", params={"q": "no such title"})
    assert "No entries match with “no such title” in the title" in nothing.text
    full = client.get("/syncs/me-to-b/history", params={"action": "not-an-action"})  # ignored: everything
    assert full.text.count('<td class="history-event">') == len(everything)

    # the namespace never shows, in any text; the error's reason names the user's own calendar
    run_id = store.start_run(prefix + "me-to-b", datetime.now(UTC))
    store.record(run_id, prefix + "me-to-b", "x", "error", f"{prefix}client-b: 412 at /b/x.ics (not bu{uid}.z)", "Broken one", datetime.now(UTC))
    store.finish_run(run_id, datetime.now(UTC), {"errors": 1}, None)
    errors = entries(client, api, "?action=error")
    assert [(e["event"], e["reason"]) for e in errors] == [("Broken one", f"client-b: 412 at /b/x.ics (not bu{uid}.z)")]
    for text in (client.get("/syncs/me-to-b/history").text, str(entries(client, api))):
        assert f"{prefix}client-b" not in text and f"{prefix}me-to-b" not in text and "Broken one" in text

    # unknown and another account's syncs are 404 (the tenant walker in test_web_setup covers every method)
    assert client.get("/syncs/nope/history").status_code == 404
    assert client.get("/api/v1/syncs/nope/history", headers=api).status_code == 404
    intruder = clients.new()
    signup(intruder, "hal@example.com")
    assert intruder.get("/syncs/me-to-b/history").status_code == 404
    intruder_api = bearer(create_token(intruder, "hal's")[1])
    assert intruder.get("/api/v1/syncs/me-to-b/history", headers=intruder_api).status_code == 404


def test_history_shows_the_newest_200_of_both_halves_of_a_two_way_sync(client: TestClient, store: SqlStore) -> None:
    signup(client, "joe@example.com")
    api = bearer(create_token(client, "script")[1])
    uid = store.user_by_email("joe@example.com").id  # type: ignore[union-attr]
    model = ws.load(store.workspace(uid) or "")
    for name in ("a", "b"):
        model.calendars.append(ws.CalendarEntry(name, "caldav", url=f"http://127.0.0.1:9/{name}/", username="u", connection=name))
    model = ws.add_sync(model, ws.SyncEntry("me-to-b", "a", "b", "full", two_way=True), "personal")
    store.save_workspace(uid, ws.dump(model), datetime.now(UTC))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    there, back = f"u{uid}.me-to-b", f"u{uid}.me-to-b~back"
    run_there, run_back = store.start_run(there, start), store.start_run(back, start)
    for i in range(SHOWN + 10):
        half, run = (there, run_there) if i % 2 else (back, run_back)
        store.record(run, half, f"k{i}", "created", "new event", f"Event {i:03d}", start + timedelta(minutes=i))
    store.record(run_there, f"u{uid}.other", "k", "created", "new event", "Not this sync", start + timedelta(days=1))

    found = entries(client, api)
    assert len(found) == SHOWN
    assert [e["event"] for e in found] == [f"Event {i:03d}" for i in range(SHOWN + 9, 9, -1)]
    assert [e["way_back"] for e in found[:2]] == [False, True]  # 209 went there, 208 came back
    assert client.get("/syncs/me-to-b/history").text.count("(way back)") == SHOWN // 2
