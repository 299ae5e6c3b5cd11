"""The web app's sync worker over a real SQLite file and Radicale: accounts isolated, failures contained, poke, shutdown; last runs on the pages and API."""

from __future__ import annotations

import asyncio
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from webkit import TestClient, bearer, create_token, csrf_of, db_url, make_app, signup, store

from mirrorcal import workspace as ws
from mirrorcal.store.sql import SqlStore
from mirrorcal.testing import RadicaleServer
from mirrorcal.web.settings import WebSettings
from mirrorcal.web.worker import SyncWorker
from mirrorcal.workspace import CalendarEntry, SyncEntry

__all__ = ["db_url", "store"]  # fixtures, used by name

NOW = datetime.now(UTC).replace(microsecond=0)


def vcalendar(uid: str, summary: str, start: datetime) -> str:
    fmt = "%Y%m%dT%H%M%SZ"
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:{start.strftime(fmt)}\r\nDTSTART:{start.strftime(fmt)}\r\n"
        f"DTEND:{(start + timedelta(hours=1)).strftime(fmt)}\r\nSUMMARY:{summary}\r\n"
        "ATTENDEE;CN=Cat Candidate:mailto:cat@example.com\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def book(calendar_url: str, uid: str, summary: str, start: datetime) -> None:
    headers = {"Content-Type": "text/calendar"}
    httpx.put(f"{calendar_url}{uid}.ics", content=vcalendar(uid, summary, start), headers=headers).raise_for_status()


def hrefs(calendar_url: str) -> list[str]:
    listing = httpx.request("PROPFIND", calendar_url, headers={"Depth": "1"}).text
    return re.findall(r"<[^>]*href>([^<]*\.ics)</", listing)


def document(source: str, target: str, *, connection: str | None = None) -> str:
    calendars = [
        CalendarEntry("personal", "caldav", url=source),
        CalendarEntry("client-a", "caldav", url=target, username="x" if connection else None, connection=connection),
    ]
    return ws.dump(ws.validated(ws.Workspace(calendars=calendars, syncs=[SyncEntry("s", "personal", "client-a", "private")])))


def account(store: SqlStore, text: str) -> int:
    user = store.create_user(f"{uuid.uuid4().hex[:8]}@example.com", "x", "personal", NOW)
    store.save_workspace(user.id, text, NOW)
    return user.id


@pytest.fixture
def calendars(radicale: RadicaleServer) -> Callable[[], str]:
    return lambda: radicale.make_calendar("test", uuid.uuid4().hex[:12])


@pytest.fixture
def settings(db_url: str) -> WebSettings:
    return WebSettings(database_url=db_url, worker_interval=3600)


async def until(done: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not done():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_accounts_run_isolated_and_a_failing_one_stops_no_other(
    store: SqlStore, settings: WebSettings, calendars: Callable[[], str]
) -> None:
    a_src, a_dst, b_src, b_dst = calendars(), calendars(), calendars(), calendars()
    ann = account(store, document(a_src, a_dst))
    broken = account(store, document(calendars(), calendars(), connection="gone"))  # its password was never stored
    bob = account(store, document(b_src, b_dst))  # the same names as ann's: namespaced apart
    book(a_src, "ann-1", "Interview: Ann's candidate", NOW + timedelta(days=2))
    book(b_src, "bob-1", "Interview: Bob's candidate", NOW + timedelta(days=3))
    book(b_src, "bob-2", "Bob's second", NOW + timedelta(days=4))

    worker = SyncWorker(store, settings)
    await worker.start()
    try:
        await until(lambda: len(worker.runs) == 3)
    finally:
        await worker.stop()
    assert worker.runs[broken].error is not None and "no stored connection 'gone'" in worker.runs[broken].error
    assert f"u{broken}." not in worker.runs[broken].error  # the user reads their own names
    assert worker.runs[ann].ok and worker.runs[bob].ok
    assert worker.runs[ann].reports[f"u{ann}.s"].counts["created"] == 1
    assert worker.runs[bob].reports[f"u{bob}.s"].counts["created"] == 2
    assert len(hrefs(a_dst)) == 1 and len(hrefs(b_dst)) == 2
    assert len(store.mirrors(f"u{ann}.s")) == 1 and len(store.mirrors(f"u{bob}.s")) == 2
    assert store.last_run(f"u{broken}.s") is None


async def test_poke_runs_an_account_soon_even_from_another_thread(
    store: SqlStore, settings: WebSettings, calendars: Callable[[], str]
) -> None:
    source, target = calendars(), calendars()
    ann = account(store, document(source, target))
    worker = SyncWorker(store, settings)  # an hour between runs: only a poke runs it again
    await worker.start()
    try:
        await until(lambda: worker.rounds == 1)
        assert hrefs(target) == []
        book(source, "late", "Booked after the first run", NOW + timedelta(days=1))
        await asyncio.sleep(0.2)
        assert worker.rounds == 1
        started = time.monotonic()
        await asyncio.to_thread(worker.poke, ann)
        await until(lambda: worker.rounds == 2)
        assert time.monotonic() - started < 5
        assert len(hrefs(target)) == 1
    finally:
        await worker.stop()
    assert not worker.started
    worker.poke(ann)  # a poke after the stop is ignored
    assert worker.rounds == 2


@pytest.fixture
def black_hole() -> Iterator[str]:
    """A calendar address that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/cal/"


async def test_stop_cancels_a_hanging_run_after_the_grace_and_records_it_finished(
    store: SqlStore, settings: WebSettings, calendars: Callable[[], str], black_hole: str
) -> None:
    ann = account(store, document(black_hole, calendars()))
    worker = SyncWorker(store, settings, grace=0.2)
    await worker.start()
    await until(lambda: store.last_run(f"u{ann}.s") is not None)
    started = time.monotonic()
    await worker.stop()
    assert time.monotonic() - started < 3
    run = store.last_run(f"u{ann}.s")
    assert run is not None and run.finished_at is not None  # the engine closed its run record
    assert not worker.started and worker.rounds == 0


def test_pages_and_api_show_the_last_run_and_sync_now(store: SqlStore, db_url: str, radicale: RadicaleServer) -> None:
    app = make_app(store, db_url, worker=False)
    browser = TestClient(app, follow_redirects=True)
    signup(browser, "ivy@example.com")
    user = store.user_by_email("ivy@example.com")
    assert user is not None
    source = radicale.make_calendar("test", uuid.uuid4().hex[:12])
    target = radicale.make_calendar("test", uuid.uuid4().hex[:12])
    store.save_workspace(user.id, document(source, target), NOW)
    assert "Not run yet" in browser.get("/syncs").text
    now = browser.post("/syncs/s/run", data={"csrf": csrf_of(browser.get("/syncs").text)})
    assert "does not run syncs itself" in now.text  # this app runs no worker
    _, token = create_token(browser, "script")
    assert browser.post("/api/v1/syncs/s/run", headers=bearer(token)).json() == {"queued": False}

    book(source, "one", "Interview: Dan", NOW + timedelta(days=2))
    run = asyncio.run(SyncWorker(store, app.state.settings).run_account(user.id))
    assert run.ok
    page = browser.get("/syncs").text
    assert "1 created, 0 updated, 0 deleted, 0 skipped" in page and "Last change" in page
    body = browser.get("/api/v1/syncs/s", headers=bearer(token)).json()
    assert body["last_run"] | {"at": None} == {
        "at": None, "running": False, "ok": True, "created": 1, "updated": 0, "deleted": 0, "skipped": 0,
        "failed": 0, "errors": [],
    }  # fmt: skip
    assert body["last_change"]["created"] == 1

    asyncio.run(SyncWorker(store, app.state.settings).run_account(user.id))  # nothing new
    page = browser.get("/syncs").text
    assert "0 created, 0 updated" in page and "1 created, 0 updated, 0 deleted</span>" in page
    browser.close()
