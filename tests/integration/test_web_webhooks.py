"""Outbound webhooks in the web app over a real SQLite file: the page's forms, the API, tenant
isolation, and the whole path from a real worker run (Radicale calendars) through the app's
events hub and sender to a real receiver on 127.0.0.1, signed."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from html import unescape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from fastapi import FastAPI
from mailsink import smtp_sink
from webkit import (
    Clients,
    TestClient,
    app,
    bearer,
    client,
    clients,
    create_token,
    csrf_of,
    db_url,
    endpoints,
    errors_of,
    fill,
    make_app,
    signup,
    store,
)

from mirrorcal import workspace as ws
from mirrorcal.store.sql import SqlStore
from mirrorcal.testing import RadicaleServer
from mirrorcal.web.hooks import vault_for
from mirrorcal.webhooks import WebhookBook, verify
from mirrorcal.workspace import CalendarEntry, SyncEntry

__all__ = ["app", "client", "clients", "db_url", "store"]  # fixtures, used by name

FAST = {"schedule": (0.05, 0.1), "jitter": 0.0, "poll": 1.0}


class Receiver:
    """A real HTTP server on 127.0.0.1 that answers 200 and records every POST (headers, body)."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()} | {":path": self.path}, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def of(self, kind: str) -> list[tuple[dict[str, str], bytes]]:
        return [(h, b) for h, b in self.requests if h.get("mirrorcal-event") == kind]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.close()


def until(done: Callable[[], bool], within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not done():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def secret_on_page(html: str, hook_id: int) -> str:
    found = re.search(rf'id="secret-{hook_id}"[^>]*value="([^"]+)"', html)
    assert found, "the page shows no signing secret for this endpoint"
    return found.group(1)


def hook_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'action="/account/webhooks/(\d+)/ping"', html)]


# the page ---------------------------------------------------------------------------------------
def test_page_add_refuse_ping_rotate_turn_off_on_delete(client: TestClient, store: SqlStore, db_url: str) -> None:
    signup(client, "ada@example.com")
    page = client.get("/account/webhooks")
    assert page.status_code == 200 and "No endpoints yet." in page.text and "Nothing sent yet." in page.text
    assert '<a href="/account/webhooks" aria-current="page">Webhooks</a>' in page.text
    assert "def verify(secret: str, body: bytes, header: str" in page.text  # the verify snippet
    csrf = csrf_of(page.text)

    for data, field, message in [
        ({"url": "http://example.com/h", "events": ["sync.failed"]}, "url", "Use https: plain http is only allowed"),
        ({"url": "ftp://example.com/h", "events": ["sync.failed"]}, "url", "Use an http or https address"),
        ({"url": "", "events": ["sync.failed"]}, "url", "Enter the address that should receive the events"),
        ({"url": "https://example.com/h"}, "events", "Choose at least one event to send."),
        ({"url": "https://example.com/h", "events": ["sync.ran"]}, "form", "Unknown event sync.ran"),
    ]:
        refused = client.post("/account/webhooks", data={"csrf": csrf, **data})
        assert refused.status_code == 400, data
        assert message in unescape(refused.text), (data, errors_of(refused.text))
        if field != "form":
            assert any(message in unescape(e) for e in errors_of(refused.text))
        assert 'value="' + data["url"] + '"' in refused.text or not data["url"]  # what was typed stays
    user = store.user_by_email("ada@example.com")
    assert user is not None and store.webhooks(user.id) == []

    added = client.post(
        "/account/webhooks",
        data={"csrf": csrf, "url": "https://example.com/hooks", "events": ["conflict.detected", "sync.failed"], "description": " Team  bot "},
    )
    assert added.status_code == 201 and "The endpoint https://example.com/hooks was added." in added.text
    (row,) = store.webhooks(user.id)
    assert row.events == ("conflict.detected", "sync.failed") and row.description == "Team bot" and row.active
    secret = secret_on_page(added.text, row.id)
    book = WebhookBook(store, vault_for(db_url))
    assert secret.startswith("whsec_") and secret == book.secret(row) and secret not in row.secret
    assert "Endpoints (1 of 10)" in added.text.replace("Your endpoints", "Endpoints")

    pinged = client.post(f"/account/webhooks/{row.id}/ping", data={"csrf": csrf})
    assert pinged.status_code == 200 and "A test ping is on its way" in pinged.text
    (delivery,) = store.deliveries(user.id)
    assert delivery.kind == "ping" and delivery.state == "pending"
    assert f'id="delivery-{delivery.id}"' in pinged.text and "Waiting" in pinged.text
    assert "Webhooks are not being sent right now" in pinged.text  # this test's app runs no lifespan

    rotated = client.post(f"/account/webhooks/{row.id}/rotate", data={"csrf": csrf})
    assert "was replaced" in rotated.text
    new_secret = secret_on_page(rotated.text, row.id)
    assert new_secret != secret and new_secret == book.secret(store.webhook(user.id, row.id))  # type: ignore[arg-type]

    off = client.post(f"/account/webhooks/{row.id}/disable", data={"csrf": csrf})
    assert "is off: no events are sent" in off.text and f'action="/account/webhooks/{row.id}/enable"' in off.text
    assert not store.webhook(user.id, row.id).active  # type: ignore[union-attr]
    on = client.post(f"/account/webhooks/{row.id}/enable", data={"csrf": csrf})
    assert "is on again" in on.text and store.webhook(user.id, row.id).active  # type: ignore[union-attr]

    gone = client.post(f"/account/webhooks/{row.id}/delete", data={"csrf": csrf})
    assert "was deleted with its deliveries" in gone.text and "No endpoints yet." in gone.text
    assert store.webhooks(user.id) == [] and store.deliveries(user.id) == []
    again = client.post(f"/account/webhooks/{row.id}/delete", data={"csrf": csrf})
    assert again.status_code == 404


def test_page_shows_a_410_reason_and_the_endpoint_limit(client: TestClient, store: SqlStore, db_url: str) -> None:
    signup(client, "bo@example.com")
    user = store.user_by_email("bo@example.com")
    assert user is not None
    book = WebhookBook(store, vault_for(db_url))
    rows = [book.create(user.id, f"https://example.com/{n}") for n in range(10)]
    from dataclasses import replace

    store.update_webhook(replace(rows[0], active=False, disabled_reason="Turned off: the receiver answered 410 Gone."))
    page = client.get("/account/webhooks").text
    assert "Off. Turned off: the receiver answered 410 Gone." in page
    assert "You have 10 endpoints, the most an account can have." in page and 'action="/account/webhooks" novalidate' not in page
    refused = client.post("/account/webhooks", data={"csrf": csrf_of(page), "url": "https://example.com/11", "events": ["sync.failed"]})
    assert refused.status_code == 400 and "at most 10 webhook endpoints" in refused.text
    assert len(store.webhooks(user.id)) == 10


# the API ----------------------------------------------------------------------------------------
def test_api_create_list_get_patch_ping_rotate_deliveries_delete(client: TestClient, store: SqlStore, db_url: str) -> None:
    signup(client, "cy@example.com")
    _, token = create_token(client, "hooks")
    auth = bearer(token)
    created = client.post("/api/v1/webhooks", json={"url": "https://example.com/h", "description": "bot"}, headers=auth)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["events"] == ["conflict.detected", "sync.failed", "connection.needs_reauth", "interview.status_changed"]  # all by default
    assert body["active"] is True and body["disabled_reason"] == "" and body["secret"].startswith("whsec_")
    hid = body["id"]
    assert client.get("/api/v1/webhooks", headers=auth).json() == [body]
    assert client.get(f"/api/v1/webhooks/{hid}", headers=auth).json() == body

    patched = client.patch(f"/api/v1/webhooks/{hid}", json={"events": ["sync.failed"], "active": False}, headers=auth)
    assert patched.status_code == 200 and patched.json()["events"] == ["sync.failed"] and patched.json()["active"] is False
    assert patched.json()["url"] == "https://example.com/h" and patched.json()["description"] == "bot"  # left alone

    for path, data, words in [
        ("", {"url": "http://example.com/h"}, "Use https"),
        ("", {"url": "https://example.com/h", "events": ["sync.ran"]}, "Unknown event sync.ran"),
        ("", {"url": "https://example.com/h", "events": []}, "choose at least one event"),
        (f"/{hid}", {"url": "gopher://x"}, "http or https"),
        (f"/{hid}", {"events": []}, "choose at least one event"),
    ]:
        method = client.post if not path else client.patch
        refused = method(f"/api/v1/webhooks{path}", json=data, headers=auth)
        assert refused.status_code == 400 and words in refused.json()["detail"], (data, refused.text)
    assert client.post("/api/v1/webhooks", json={}, headers=auth).status_code == 422

    ping = client.post(f"/api/v1/webhooks/{hid}/ping", headers=auth)
    assert ping.status_code == 202 and ping.json()["type"] == "ping" and ping.json()["state"] == "pending"
    deliveries = client.get(f"/api/v1/webhooks/{hid}/deliveries", headers=auth).json()
    assert [d["id"] for d in deliveries] == [ping.json()["id"]] and deliveries[0]["attempts"] == 0

    rotated = client.post(f"/api/v1/webhooks/{hid}/rotate", headers=auth).json()
    assert rotated["secret"] != body["secret"] and rotated["secret"].startswith("whsec_")

    for n in range(9):
        assert client.post("/api/v1/webhooks", json={"url": f"https://example.com/{n}"}, headers=auth).status_code == 201
    full = client.post("/api/v1/webhooks", json={"url": "https://example.com/x"}, headers=auth)
    assert full.status_code == 409 and full.json() == {"detail": "An account can have at most 10 webhook endpoints; delete one first."}

    assert client.delete(f"/api/v1/webhooks/{hid}", headers=auth).status_code == 204
    missing = client.get(f"/api/v1/webhooks/{hid}", headers=auth)
    assert missing.status_code == 404 and missing.json() == {"detail": "There is no such webhook endpoint. It may have been deleted."}
    assert client.get(f"/api/v1/webhooks/{hid}/deliveries", headers=auth).status_code == 404
    assert client.get("/api/v1/webhooks", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_another_accounts_endpoint_is_a_404_everywhere(clients: Clients, store: SqlStore) -> None:
    owner, intruder = clients.new(), clients.new()
    signup(owner, "lea@example.com")
    _, owner_token = create_token(owner, "owner")
    hid = owner.post("/api/v1/webhooks", json={"url": "https://example.com/lea"}, headers=bearer(owner_token)).json()["id"]
    owner.post(f"/api/v1/webhooks/{hid}/ping", headers=bearer(owner_token))
    signup(intruder, "max@example.com")
    _, intruder_token = create_token(intruder, "intruder")
    csrf = csrf_of(intruder.get("/account/webhooks").text)
    walked = 0
    for path, methods in endpoints(clients.app):
        if "{hook_id}" not in path:
            continue
        url = fill(path, {"hook_id": hid})
        for method in sorted(methods):
            if path.startswith("/api/"):
                extra = {"json": {"active": False, "url": "https://evil.example/"}} if method in ("PATCH", "POST") else {}
                response = intruder.request(method, url, headers=bearer(intruder_token), **extra)  # type: ignore[arg-type]
                assert response.json() == {"detail": "There is no such webhook endpoint. It may have been deleted."}
            else:
                response = intruder.request(method, url, data={"csrf": csrf} if method == "POST" else None)
            assert response.status_code == 404, f"{method} {url} answered {response.status_code}"
            walked += 1
    assert walked >= 11
    assert intruder.get("/api/v1/webhooks", headers=bearer(intruder_token)).json() == []
    assert "example.com/lea" not in intruder.get("/account/webhooks").text
    owner_row = store.user_by_email("lea@example.com")
    assert owner_row is not None
    (row,) = store.webhooks(owner_row.id)
    assert row.active and row.url == "https://example.com/lea" and len(store.deliveries(owner_row.id)) == 1


# the whole path ---------------------------------------------------------------------------------
def vcalendar(uid: str, summary: str, start: datetime) -> str:
    fmt = "%Y%m%dT%H%M%SZ"
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:{start.strftime(fmt)}\r\nDTSTART:{start.strftime(fmt)}\r\n"
        f"DTEND:{(start + timedelta(hours=1)).strftime(fmt)}\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def put(calendar_url: str, uid: str, summary: str, start: datetime) -> None:
    headers = {"Content-Type": "text/calendar"}
    httpx.put(f"{calendar_url}{uid}.ics", content=vcalendar(uid, summary, start), headers=headers).raise_for_status()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/cal/"


def document(personal: str, client_a: str) -> str:
    calendars = [CalendarEntry("personal", "caldav", url=personal), CalendarEntry("client-a", "caldav", url=client_a)]
    syncs = [SyncEntry("personal-to-a", "personal", "client-a", "private")]
    return ws.dump(ws.validated(ws.Workspace(timezone="UTC", calendars=calendars, syncs=syncs)))


def test_a_real_worker_run_sends_signed_conflict_and_failure_events(
    store: SqlStore, db_url: str, radicale: RadicaleServer, receiver: Receiver
) -> None:
    now = datetime.now(UTC)
    day = (now + timedelta(days=2)).replace(hour=10, minute=0, second=0, microsecond=0)
    personal, client_a = (radicale.make_calendar("test", uuid.uuid4().hex[:12]) for _ in range(2))
    put(personal, "interview", "Interview: Dana Whitfield", day)
    put(client_a, "standup", "Acme stand-up", day + timedelta(minutes=30))  # overlaps the interview
    ann = store.create_user("ann@example.com", "x", "personal", now)
    store.save_workspace(ann.id, document(personal, client_a), now)
    bob = store.create_user("bob@example.com", "x", "personal", now)
    store.save_workspace(bob.id, document(radicale.make_calendar("test", uuid.uuid4().hex[:12]), closed_port_url()), now)
    book = WebhookBook(store, vault_for(db_url))
    ann_hook = book.create(ann.id, receiver.url, ["conflict.detected"])
    bob_hook = book.create(bob.id, receiver.url, ["sync.failed"])
    book.create(bob.id, receiver.url + "/conflicts-only", ["conflict.detected"])  # gets nothing

    app: FastAPI = make_app(store, db_url, worker=True, worker_interval=3600)
    app.state.webhook_options = FAST
    with TestClient(app) as running:  # the lifespan starts the worker and the sender
        until(lambda: receiver.of("conflict.detected") and receiver.of("sync.failed"))
        assert app.state.webhooks is not None and app.state.webhooks.started
        time.sleep(0.2)
        running.get("/signin")
    assert app.state.webhooks is None  # stopped with the app

    assert {h[":path"] for h, _ in receiver.requests} == {"/hooks"}  # bob's conflicts-only endpoint got nothing
    (conflict_headers, conflict_body), *more = receiver.of("conflict.detected")
    assert not more and not receiver.of("sync.ran")
    assert verify(book.secret(ann_hook), conflict_body, conflict_headers["mirrorcal-signature"])
    assert not verify(book.secret(bob_hook), conflict_body, conflict_headers["mirrorcal-signature"])
    event = json.loads(conflict_body)
    assert event["type"] == "conflict.detected" and event["id"].startswith("evt_")
    conflict = event["data"]["conflict"]
    # the account's own names, and the interview itself rather than its Busy copy on client-a
    assert {conflict["a"]["calendar"], conflict["b"]["calendar"]} == {"client-a", "personal"}
    assert {conflict["a"]["summary"], conflict["b"]["summary"]} == {"Acme stand-up", "Interview: Dana Whitfield"}
    assert conflict["overlap_minutes"] == 30
    assert f"u{ann.id}." not in conflict_body.decode()

    (failed_headers, failed_body), *more = receiver.of("sync.failed")
    assert not more
    assert verify(book.secret(bob_hook), failed_body, failed_headers["mirrorcal-signature"])
    failed = json.loads(failed_body)
    assert failed["data"]["sync"] == "personal-to-a" and failed["data"]["error"]
    assert f"u{bob.id}." not in failed_body.decode()
    (delivered,) = store.deliveries(ann.id)
    assert delivered.state == "delivered" and delivered.attempts == 1 and delivered.last_status == 200
    assert {d.state for d in store.deliveries(bob.id)} == {"delivered"} and len(store.deliveries(bob.id)) == 1


def test_a_ping_from_the_page_is_sent_by_the_running_app(store: SqlStore, db_url: str, receiver: Receiver) -> None:
    app = make_app(store, db_url, worker=True, worker_interval=3600)
    app.state.webhook_options = FAST
    with TestClient(app, follow_redirects=True) as browser:
        signup(browser, "di@example.com")
        page = browser.get("/account/webhooks")
        added = browser.post(
            "/account/webhooks", data={"csrf": csrf_of(page.text), "url": receiver.url, "events": ["sync.failed"]}
        )
        (hid,) = hook_ids(added.text)
        secret = secret_on_page(added.text, hid)
        browser.post(f"/account/webhooks/{hid}/ping", data={"csrf": csrf_of(added.text)})
        until(lambda: len(receiver.requests) == 1)
        user = store.user_by_email("di@example.com")
        assert user is not None
        until(lambda: store.deliveries(user.id)[0].state == "delivered")
        shown = browser.get("/account/webhooks").text
    headers, body = receiver.requests[0]
    assert headers["mirrorcal-event"] == "ping" and verify(secret, body, headers["mirrorcal-signature"])
    assert "Delivered (200)" in shown and "not being sent right now" not in shown


def test_a_secret_saved_under_another_key_is_named_unreadable_not_a_crash(
    client: TestClient, store: SqlStore, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mirrorcal.secrets import KEY_ENV, Vault

    signup(client, "eve@example.com")
    _, token = create_token(client, "t")
    hid = client.post("/api/v1/webhooks", json={"url": "https://example.com/e"}, headers=bearer(token)).json()["id"]
    monkeypatch.setenv(KEY_ENV, Vault.generate_key().decode())  # the key changed since
    page = client.get("/account/webhooks")
    assert page.status_code == 200 and "(unreadable: the encryption key changed; rotate the secret)" in page.text
    assert client.get(f"/api/v1/webhooks/{hid}", headers=bearer(token)).json()["secret"].startswith("(unreadable")
    rotated = client.post(f"/account/webhooks/{hid}/rotate", data={"csrf": csrf_of(page.text)})
    assert secret_on_page(rotated.text, hid).startswith("whsec_")  # readable again, under the new key


def test_a_bad_key_does_not_stop_the_app_from_starting(store: SqlStore, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from mirrorcal.secrets import KEY_ENV

    monkeypatch.setenv(KEY_ENV, "not-a-fernet-key")
    app = make_app(store, db_url, worker=True, worker_interval=3600)
    with TestClient(app) as running:  # the sender loads the vault only when it must sign
        assert app.state.webhooks is not None and app.state.webhooks.started
        assert running.get("/signin").status_code == 200


# interview requests -----------------------------------------------------------------------------
def test_the_running_app_mails_the_candidate_and_signs_status_changes(store: SqlStore, db_url: str, receiver: Receiver) -> None:
    """The wiring of ``create_app``: a request sent through the API is mailed over SMTP by the
    app's mail sender (woken at once, no poll), and each status change reaches a webhook, signed."""
    with smtp_sink() as (sink, smtp_url):
        app = make_app(store, db_url, worker=True, worker_interval=3600, smtp_url=smtp_url, public_url="https://hire.example")
        app.state.webhook_options = FAST
        with TestClient(app, follow_redirects=True) as browser:
            signup(browser, "ed@example.com")
            _, token = create_token(browser, "ats")
            auth = bearer(token)
            hook = browser.post(
                "/api/v1/webhooks", json={"url": receiver.url, "events": ["interview.status_changed"]}, headers=auth
            ).json()
            cid = browser.post(
                "/api/v1/candidates",
                json={"name": "Ines Ito", "email": "ines@candidate.example", "client": "Acme", "role": "SRE"},
                headers=auth,
            ).json()["id"]
            sent = browser.post(
                f"/api/v1/candidates/{cid}/interviews", json={"link_kind": "link", "url": "https://cal.com/ed"}, headers=auth
            )
            assert sent.status_code == 201, sent.text
            (mail,) = sink.wait_for(1)
            link = sent.json()["link"]
            assert link.startswith("https://hire.example/i/") and link in mail.text()
            assert mail.recipients == ["ines@candidate.example"] and mail.message["Subject"] == "Interview request: SRE at Acme"
            page = browser.get(link.removeprefix("https://hire.example"))
            confirmed = browser.post(link.removeprefix("https://hire.example") + "/confirm", data={"csrf": csrf_of(page.text)})
            assert confirmed.status_code == 200 and "Scheduled" in confirmed.text
            until(lambda: len(receiver.of("interview.status_changed")) == 2)
            sink.wait_for(3)  # "scheduled" to Ines, "confirmed" to Ed
            user = store.user_by_email("ed@example.com")
            assert user is not None
            until(lambda: all(m.state == "sent" for m in store.mails(user.id)))
    changes = [json.loads(body) for _, body in receiver.of("interview.status_changed")]
    for headers, body in receiver.of("interview.status_changed"):
        assert verify(hook["secret"], body, headers["mirrorcal-signature"])
    assert [(c["data"]["action"], c["data"]["after"]) for c in changes] == [(None, "requested"), ("confirm", "scheduled")]
    assert changes[1]["data"]["interview"]["recruiter_status"] == "Requires Action"
    assert changes[1]["data"]["candidate"]["email"] == "ines@candidate.example"
    assert sorted(m.recipients[0] for m in sink.received) == ["ed@example.com", "ines@candidate.example", "ines@candidate.example"]
