"""The unified week over a real SQLite file: the page, its live part, its SSE stream and /api/v1/week.

Most tests fill the state store's cache (and mirror rows) directly, as the sync engine leaves
them; one runs real syncs over Radicale so that the de-duplication is checked against what the
engine really writes."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import uvicorn
from starlette.requests import Request
from starlette.types import Message
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
from mirrorcal.bootstrap import Credentials, build_engine
from mirrorcal.store.base import CachedItem, MirrorRow
from mirrorcal.store.sql import SqlStore
from mirrorcal.testing import RadicaleServer
from mirrorcal.web.events import AccountEvent, Events
from mirrorcal.web.week import PALETTE, stream

__all__ = ["app", "client", "clients", "db_url", "store"]  # fixtures, used by name

FMT = "%Y%m%dT%H%M%SZ"
MONDAY = date(2026, 3, 9)  # a Monday, the day after the USA moved to summer time


# helpers ----------------------------------------------------------------------------------------
def vevent(uid: str, summary: str, start: datetime | date, end: datetime | date, *extra: str) -> str:
    if isinstance(start, datetime):
        times = [f"DTSTART:{start.astimezone(UTC).strftime(FMT)}", f"DTEND:{end.astimezone(UTC).strftime(FMT)}"]  # type: ignore[union-attr]
    else:
        times = [f"DTSTART;VALUE=DATE:{start:%Y%m%d}", f"DTEND;VALUE=DATE:{end:%Y%m%d}"]
    lines = [
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//t//EN", "BEGIN:VEVENT", f"UID:{uid}",
        "DTSTAMP:20260101T000000Z", *times, f"SUMMARY:{summary}", *extra, "END:VEVENT", "END:VCALENDAR",
    ]  # fmt: skip
    return "\r\n".join(lines) + "\r\n"


class Account:
    """A signed-up user whose setup and cache the test writes directly."""

    def __init__(self, client: TestClient, store: SqlStore, email: str, timezone: str | None = "Europe/London") -> None:
        signup(client, email)
        user = store.user_by_email(email)
        assert user is not None
        self.client, self.store, self.id = client, store, user.id
        self.model = ws.Workspace(timezone=timezone)

    def calendar(self, name: str, client: str | None = None, unified: bool | None = None) -> None:
        entry = ws.CalendarEntry(name=name, kind="caldav", url=f"http://127.0.0.1:9/{name}/", username="x", connection=name, client=client, unified=unified)
        self.model.calendars.append(entry)
        self.save()

    def save(self, **changes: Any) -> None:
        for key, value in changes.items():
            setattr(self.model, key, value)
        self.store.save_workspace(self.id, ws.dump(self.model), datetime.now(UTC))

    def put(self, calendar: str, uid: str, summary: str, start: datetime | date, end: datetime | date, *extra: str, marker: str | None = None) -> None:
        text = vevent(uid, summary, start, end, *extra, *([f"X-MIRRORCAL-MIRROR:{marker}"] if marker else []))
        item = CachedItem(href=f"/{calendar}/{uid}.ics", etag=uuid.uuid4().hex, uid=uid, ics=text, content_hash=uuid.uuid4().hex, marker=marker)
        self.store.put_item(f"u{self.id}.{calendar}", item)

    def mirror(self, sync: str, origin_calendar: str, origin_uid: str, marker: str, origin_client: str | None = None) -> None:
        p = f"u{self.id}."
        self.store.save_mirror(MirrorRow(
            sync=p + sync, origin_key=origin_uid, mirror_uid=marker, href=f"/{marker}.ics", etag="e", source_hash="s",
            mirror_hash="m", origin_calendar=p + origin_calendar, origin_client=origin_client, root_key=f"{p}{origin_calendar}/{origin_uid}",
        ))  # fmt: skip

    def api(self, start: str | None = MONDAY.isoformat()) -> dict[str, Any]:
        if not hasattr(self, "token"):
            self.token = create_token(self.client, "week")[1]
        response = self.client.get("/api/v1/week", params={} if start is None else {"start": start}, headers=bearer(self.token))
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def page(self, start: str = MONDAY.isoformat()) -> str:
        response = self.client.get("/week", params={"start": start})
        assert response.status_code == 200 and response.url.path == "/week", response.text
        return response.text


def at(day: int, hour: int, minute: int = 0, tz: str = "Europe/London") -> datetime:
    """``day`` days after MONDAY at the local time in ``tz``."""
    return datetime(MONDAY.year, MONDAY.month, MONDAY.day, hour, minute, tzinfo=ZoneInfo(tz)) + timedelta(days=day)


def events_in(html: str) -> list[tuple[str, str]]:
    """(day, aria-label) of each timed event on the grid."""
    found = []
    for day, column in re.findall(r'<ol class="wk-col"[^>]*data-day="([^"]+)">(.*?)</ol>', html, re.DOTALL):
        found += [(day, label) for label in re.findall(r'<li class="wk-ev[^"]*" tabindex="0" aria-label="([^"]*)"', column)]
    return found


def classes_of(html: str, summary: str) -> list[str]:
    match = re.search(r'<li class="(wk-ev[^"]*)" tabindex="0" aria-label="[^"]*: ' + re.escape(summary) + ",", html)
    assert match, f"no event {summary!r} on the grid"
    return match.group(1).split()


# the page and the API ---------------------------------------------------------------------------
def test_events_fall_on_their_day_in_the_accounts_zone(client: TestClient, store: SqlStore) -> None:
    me = Account(client, store, "nyc@example.com", timezone="America/New_York")
    me.calendar("personal", client="me")
    late = datetime(2026, 3, 10, 3, 30, tzinfo=UTC)  # Tuesday in UTC, Monday 23:30 in New York (EDT, -4)
    me.put("personal", "late", "Late call", late, late + timedelta(minutes=30))
    me.put("personal", "early", "Early run", at(1, 6, 15, "America/New_York"), at(1, 7, 0, "America/New_York"))
    me.put("personal", "off", "Day off", MONDAY + timedelta(days=2), MONDAY + timedelta(days=3))
    me.put("personal", "next", "Next week", at(7, 9, tz="America/New_York"), at(7, 10, tz="America/New_York"))

    body = me.api()
    assert (body["start"], body["end"], body["timezone"]) == ("2026-03-09", "2026-03-16", "America/New_York")
    got = {e["summary"]: e for e in body["events"]}
    assert set(got) == {"Late call", "Early run", "Day off"}
    assert got["Late call"]["start"] == "2026-03-09T23:30:00-04:00" and got["Late call"]["end"] == "2026-03-10T00:00:00-04:00"
    assert (got["Day off"]["all_day"], got["Day off"]["start"], got["Day off"]["end"]) == (True, "2026-03-11", "2026-03-12")
    assert got["Late call"]["all_day"] is False

    html = me.page()
    placed = events_in(html)
    assert [(d, label.split(":")[0]) for d, label in placed if "Late call" in label] == [("2026-03-09", "Mon 09 Mar 23")]
    assert [d for d, label in placed if "Early run" in label] == ["2026-03-10"]
    assert not any("Day off" in label for _, label in placed)  # all-day: in the strip on top
    strip = re.search(r'aria-label="All day, Wednesday 11 March">(.*?)</ul>', html, re.DOTALL)
    assert strip and "Day off" in strip.group(1)
    assert "wk-hours18" in html  # 06:00 to 24:00: the grid grew to cover both
    assert 'href="/week?start=2026-03-02"' in html and 'href="/week?start=2026-03-16"' in html
    assert "America/New_York" in html

    today = datetime.now(ZoneInfo("America/New_York")).date()
    assert me.api(start=None)["start"] == (today - timedelta(days=today.weekday())).isoformat()
    assert "Late call" not in me.page(start="2026-03-16")


def test_an_event_and_its_mirrors_show_once_as_the_origin(client: TestClient, store: SqlStore) -> None:
    me = Account(client, store, "dedup@example.com")
    me.calendar("personal", client="me")
    me.calendar("client-a", client="A")
    me.calendar("ats-c", client="C", unified=False)
    me.save(syncs=[
        ws.SyncEntry("a-to-me", "client-a", "personal", "full"), ws.SyncEntry("me-to-a", "personal", "client-a", "private"),
        ws.SyncEntry("c-to-me", "ats-c", "personal", "full"),
    ])  # fmt: skip
    # the recruiter's dentist, and its Busy block on Client A
    me.put("personal", "dentist", "Dentist", at(1, 8), at(1, 8, 30))
    me.put("client-a", "m-dentist", "Busy", at(1, 8), at(1, 8, 30), marker="m-dentist")
    me.mirror("me-to-a", "personal", "dentist", "m-dentist", "me")
    # John at Client A, its full copy on Personal, and that copy's Busy block back on Client A (a chain)
    me.put("client-a", "john", "Interview: John", at(1, 9), at(1, 10))
    me.put("personal", "m-john", "Interview: John", at(1, 9), at(1, 10), marker="m-john")
    me.mirror("a-to-me", "client-a", "john", "m-john", "A")
    # David at Client C's ATS (not unified): shown once, from Personal, as Client C's
    me.put("personal", "m-david", "Interview: David", at(2, 9), at(2, 10), marker="m-david")
    me.mirror("c-to-me", "ats-c", "david", "m-david", "C")

    body = me.api()
    shown = sorted((e["summary"], e["calendar"], e["client"]) for e in body["events"])
    assert shown == [("Dentist", "personal", "me"), ("Interview: David", "personal", "C"), ("Interview: John", "client-a", "A")]
    assert body["conflicts"] == []  # an event never conflicts with its own mirrors
    html = me.page()
    assert len(events_in(html)) == 3 and "Busy" not in "".join(label for _, label in events_in(html))
    legend = dict(re.findall(r'<span class="wk-swatch wk-c(\d)" aria-hidden="true"></span>([^<]+)</li>', html))
    assert sorted(legend.values()) == ["A", "C", "me"]
    slot = {client: f"wk-c{n}" for n, client in legend.items()}
    assert slot["C"] in classes_of(html, "Interview: David") and slot["A"] in classes_of(html, "Interview: John")
    assert slot["me"] in classes_of(html, "Dentist")


def test_colours_are_stable_and_distinct_per_client(clients: Any, store: SqlStore) -> None:
    labels = [f"Client {n}" for n in range(PALETTE)]
    first = Account(clients.new(), store, "one@example.com")
    second = Account(clients.new(), store, "two@example.com")
    for account, order in ((first, labels), (second, list(reversed(labels)))):
        for n, label in enumerate(order):
            account.calendar(f"cal-{n}", client=label)
            account.put(f"cal-{n}", f"e{n}", f"Meeting {label}", at(0, 8 + n), at(0, 8 + n, 30))
    pages = [first.page(), second.page(), first.page()]
    slots = []
    for html in pages:
        legend = {client: n for n, client in re.findall(r'<span class="wk-swatch wk-c(\d)" aria-hidden="true"></span>([^<]+)</li>', html)}
        assert sorted(legend) == sorted(labels)
        assert len(set(legend.values())) == PALETTE, "ten clients, ten colours"
        for label in labels:
            assert f"wk-c{legend[label]}" in classes_of(html, f"Meeting {label}")
        slots.append(legend)
    assert slots[0] == slots[1] == slots[2], "the same client has the same colour on every load and in every account"


def test_gaps_between_back_to_back_events(client: TestClient, store: SqlStore) -> None:
    me = Account(client, store, "gaps@example.com")
    me.calendar("personal", client="me")
    me.calendar("client-a", client="A")
    me.put("client-a", "a", "Anna", at(1, 9), at(1, 10))
    me.put("personal", "b", "Ben", at(1, 10, 15), at(1, 11))
    me.put("client-a", "c", "Cleo", at(1, 11), at(1, 11, 30))
    me.put("client-a", "d", "Dan", at(1, 13), at(1, 14))  # 90 min later: not a gap worth showing
    me.put("personal", "e", "Eve", at(2, 9, 50), at(2, 10, 5))  # the next day: no gap across days

    body = me.api()
    gaps = [(g["before"]["summary"], g["after"]["summary"], g["minutes"]) for g in body["gaps"]]
    assert gaps == [("Anna", "Ben", 15), ("Ben", "Cleo", 0)]
    assert body["gaps"][0]["before"]["calendar"] == "client-a" and datetime.fromisoformat(body["gaps"][0]["after"]["start"]) == at(1, 10, 15)
    html = me.page()
    assert re.search(r'<li class="wk-gap [^"]*" aria-label="15 min gap between Anna and Ben">15 min gap</li>', html)
    assert "back-to-back</span> between Ben and Cleo" in html
    assert "between Cleo and Dan" not in html


def test_conflicts_are_marked_with_the_proposed_slot(client: TestClient, store: SqlStore) -> None:
    me = Account(client, store, "clash@example.com")
    for name, label in (("personal", "me"), ("client-a", "A"), ("client-b", "B"), ("client-c", "C")):
        me.calendar(name, client=label)
    me.save(working_hours="08:00-19:00", buffer_minutes=0)
    me.put("client-a", "john", "John", at(1, 9), at(1, 10), "CREATED:20260301T090000Z")
    me.put("client-b", "maria", "Maria", at(1, 10), at(1, 10, 30), "CREATED:20260302T090000Z")
    me.put("client-c", "david", "David", at(1, 9, 50), at(1, 10, 20), "CREATED:20260305T090000Z")
    me.put("personal", "lunch", "Lunch", at(1, 12), at(1, 13))

    body = me.api()
    flags = {e["summary"]: e["conflict"] for e in body["events"]}
    assert flags == {"John": True, "Maria": True, "David": True, "Lunch": False}
    pairs = [(c["a"]["summary"], c["a"]["calendar"], c["b"]["summary"], c["b"]["calendar"], c["overlap_minutes"]) for c in body["conflicts"]]
    assert pairs == [("John", "client-a", "David", "client-c", 10), ("Maria", "client-b", "David", "client-c", 20)]
    for c in body["conflicts"]:
        assert datetime.fromisoformat(c["proposed_start"]) == at(1, 10, 30) and c["proposal"] == "Move David to Tue 10:30–11:00"

    html = me.page()
    assert html.count("<strong>Conflict:</strong>") == 2 and "2 conflicts this week" in html
    assert "Move David to Tue 10:30–11:00" in html
    for name in ("John", "Maria", "David"):
        assert "wk-conflict" in classes_of(html, name)
    assert "wk-conflict" not in classes_of(html, "Lunch")
    david = next(label for _, label in events_in(html) if ": David," in label)
    assert "Conflict: overlaps by 10 min with John (client-a); overlaps by 20 min with Maria (client-b)" in david
    assert david.endswith(". Move David to Tue 10:30–11:00")
    assert "wk-lanes2" in classes_of(html, "David")  # side by side with John, not hidden under him

    me.save(buffer_minutes=10)
    tight = {(c["a"]["summary"], c["b"]["summary"], c["overlap_minutes"], c["proposal"]) for c in me.api()["conflicts"]}
    assert tight == {
        ("John", "David", 10, "Move David to Tue 10:40–11:10"),  # 10 min after Maria
        ("Maria", "David", 20, "Move David to Tue 10:40–11:10"),
        ("John", "Maria", 0, "Move Maria to Tue 10:30–11:00"),  # back-to-back is too tight with a buffer
    }
    assert "Maria (client-b) is closer than your buffer to John (client-a)." in me.page()


def test_the_api_refuses_a_bad_start_and_strangers(client: TestClient, store: SqlStore) -> None:
    me = Account(client, store, "api@example.com")
    me.api()
    for bad in ("2026-13-01", "yesterday", "20260310", "2026-03-10T00:00", "0001-01-01", "9999-12-30"):
        response = client.get("/api/v1/week", params={"start": bad}, headers=bearer(me.token))
        assert response.status_code == 400, bad
        assert response.json()["detail"].startswith("start: ")
    page = client.get("/week", params={"start": "nope"})
    assert page.status_code == 400 and "is not a date; use YYYY-MM-DD" in page.text
    assert client.get("/api/v1/week").status_code == 401
    assert client.get("/api/v1/week", headers=bearer("not-a-token")).status_code == 401


def test_an_empty_setup_links_to_calendars_and_the_guided_setup(client: TestClient, store: SqlStore) -> None:
    me = Account(client, store, "new@example.com")
    html = me.page()
    assert "Nothing to show yet" in html and 'href="/calendars"' in html and 'href="/setup"' in html
    assert me.api()["events"] == []
    me.calendar("personal")
    assert "No events this week on your unified calendars." in me.page()


def test_another_users_week_is_not_shown(clients: Any, store: SqlStore) -> None:
    owner = Account(clients.new(), store, "owner@example.com")
    owner.calendar("personal", client="me")
    owner.put("personal", "secret", "Secret interview", at(1, 9), at(1, 10))
    intruder = Account(clients.new(), store, "intruder@example.com")
    intruder.calendar("personal", client="me")  # the same calendar name, its own namespace
    assert [e["summary"] for e in owner.api()["events"]] == ["Secret interview"]
    assert intruder.api()["events"] == []
    for path in ("/week", "/week/grid"):
        response = intruder.client.get(path, params={"start": MONDAY.isoformat()})
        assert response.status_code == 200 and "Secret interview" not in response.text
    signed_out = TestClient(clients.app, follow_redirects=False)
    for path in ("/week", "/week/grid", "/week/events"):
        response = signed_out.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/signin"), path
    signed_out.close()


def test_the_grid_alone_is_the_pages_live_part(client: TestClient, store: SqlStore) -> None:
    me = Account(client, store, "grid@example.com")
    me.calendar("personal", client="me")
    me.put("personal", "x", "Standup", at(0, 9), at(0, 9, 15))
    page = me.page()
    assert '<script src="/static/week.js" defer></script>' in page and 'data-start="2026-03-09"' in page
    assert 'id="week-live"' in page and 'id="week-refresh"' in page
    grid = client.get("/week/grid", params={"start": MONDAY.isoformat()})
    assert grid.status_code == 200 and "<html" not in grid.text and "<nav" not in grid.text
    assert events_in(grid.text) == events_in(page) and len(events_in(grid.text)) == 1
    js = client.get("/static/week.js")
    assert js.status_code == 200 and 'new EventSource("/week/events")' in js.text and "/week/grid?start=" in js.text
    assert ".wk-conflict" in client.get("/static/app.css").text


# real syncs over Radicale -----------------------------------------------------------------------
async def run_syncs(store: SqlStore, db_url: str, uid: int) -> None:
    config = ws.runtime_config(store.workspace(uid) or "", uid, db_url)
    credentials = Credentials(config, store)
    engine = build_engine(config, store, credentials)
    try:
        await engine.sync()
    finally:
        await engine.aclose()
        await credentials.aclose()


def test_after_real_syncs_each_event_shows_once(client: TestClient, store: SqlStore, db_url: str, radicale: RadicaleServer) -> None:
    dav_user = "w" + uuid.uuid4().hex[:8]
    personal, client_a = radicale.make_calendar(dav_user, "p"), radicale.make_calendar(dav_user, "a")
    signup(client, "real@example.com")
    dav = {"kind": "caldav", "username": dav_user, "password": "dav-secret-Pw-123"}
    for name, url, label in (("personal", personal, "me"), ("client-a", client_a, "A")):
        page = client.get("/calendars/new?kind=caldav")
        response = client.post("/calendars/new", data={"csrf": csrf_of(page.text), "name": name, "url": url, "client": label, **dav})
        assert response.url.path == "/calendars", response.text
    for name, source, target, privacy in (("a-to-me", "client-a", "personal", "full"), ("me-to-a", "personal", "client-a", "private")):
        page = client.get("/syncs/new")
        data = {"csrf": csrf_of(page.text), "name": name, "source": source, "target": target, "privacy": privacy, "skip_free": "on", "skip_declined": "on"}
        assert client.post("/syncs/new", data=data).url.path == "/syncs"
    start = (datetime.now(UTC) + timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)
    headers = {"Content-Type": "text/calendar"}
    for url, name, summary, offset in ((client_a, "john", "Interview: John", 0), (personal, "gym", "Gym", 3), (personal, "call", "Call", 0)):
        text = vevent(name, summary, start + timedelta(hours=offset), start + timedelta(hours=offset, minutes=45))
        httpx.put(f"{url}{name}.ics", content=text, headers=headers, auth=(dav_user, "x")).raise_for_status()
    uid = store.user_by_email("real@example.com").id  # type: ignore[union-attr]
    asyncio.run(run_syncs(store, db_url, uid))
    assert len(store.items(f"u{uid}.client-a")) == 3 and len(store.items(f"u{uid}.personal")) == 3  # origins + mirrors

    token = create_token(client, "w")[1]
    local = start.astimezone(ws.runtime_config(store.workspace(uid) or "", uid, db_url).timezone).date()
    body = client.get("/api/v1/week", params={"start": local.isoformat()}, headers=bearer(token)).json()
    shown = sorted((e["summary"], e["calendar"], e["client"], e["conflict"]) for e in body["events"])
    assert shown == [("Call", "personal", "me", True), ("Gym", "personal", "me", False), ("Interview: John", "client-a", "A", True)]
    assert len(body["conflicts"]) == 1 and {body["conflicts"][0]["a"]["summary"], body["conflicts"][0]["b"]["summary"]} == {"Call", "Interview: John"}


# the live stream --------------------------------------------------------------------------------
class Served:
    """The app served by uvicorn on 127.0.0.1 from a thread (TestClient cannot read an endless stream)."""

    def __init__(self, store: SqlStore, db_url: str) -> None:
        self.app = make_app(store, db_url, worker=False)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "the app did not start"
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()
        assert not self.thread.is_alive(), "the server did not stop (a stream stayed open?)"


@pytest.fixture
def served(store: SqlStore, db_url: str) -> Iterator[Served]:
    server = Served(store, db_url)
    yield server
    server.stop()


def wait_until(check: Any, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_the_stream_delivers_the_accounts_events_and_ends_when_the_client_goes(served: Served, store: SqlStore) -> None:
    events = served.app.state.events
    with httpx.Client(base_url=served.url, follow_redirects=True, timeout=5) as browser:
        page = browser.get("/signup")
        form = {"csrf": csrf_of(page.text), "email": "live@example.com", "password": "correct horse battery staple", "plan": "personal"}
        assert browser.post("/signup", data=form | {"confirm": form["password"]}).status_code == 200
        uid = store.user_by_email("live@example.com").id  # type: ignore[union-attr]
        other = store.create_user("other@example.com", "x", "personal", datetime.now(UTC)).id
        with browser.stream("GET", "/week/events", timeout=httpx.Timeout(5)) as response:
            assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
            lines = response.iter_lines()
            assert next(lines) == "retry: 3000"
            wait_until(lambda: uid in events._queues)
            events.publish(AccountEvent(uid, "sync.ran", {"changed": False, "syncs": {}}))  # nothing new: not sent
            events.publish(AccountEvent(other, "conflict.detected", {"conflict": {}}, id="evt_other"))  # not this account's
            events.publish(AccountEvent(uid, "connection.needs_reauth", {"connection": "x", "message": "m"}))  # not on the week
            events.publish(AccountEvent(uid, "sync.ran", {"changed": True, "syncs": {}}, id="evt_changed"))
            events.publish(AccountEvent(uid, "conflict.detected", {"conflict": {}}, id="evt_conflict"))
            events.publish(AccountEvent(uid, "sync.failed", {"sync": "s", "error": "e"}, id="evt_failed"))
            messages = []
            for line in lines:
                if line.startswith("id: "):
                    messages.append(line[4:])
                if len(messages) == 3:
                    break
            assert messages == ["evt_changed", "evt_conflict", "evt_failed"]
        wait_until(lambda: uid not in events._queues)  # the client went away: the stream ended and unsubscribed


async def test_the_stream_keeps_alive_and_ends_by_itself() -> None:
    events = Events()
    events.bind(asyncio.get_running_loop())
    scope = {"type": "http", "method": "GET", "path": "/week/events", "headers": []}

    async def still_there() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def gone() -> Message:
        return {"type": "http.disconnect"}

    loop = asyncio.get_running_loop()
    began = loop.time()
    chunks = [c async for c in stream(Request(scope, still_there), events, 7, keepalive=0.2, lifetime=1.0)]
    took = loop.time() - began
    assert chunks[0].startswith("retry: 3000\n") and chunks.count(": keep-alive\n\n") >= 3 and len(chunks) <= 7
    assert 1.0 <= took < 2.5, took  # ends after its lifetime; the browser reconnects and catches up
    assert 7 not in events._queues

    began = loop.time()
    chunks = [c async for c in stream(Request(scope, gone), events, 7, keepalive=0.2, lifetime=60.0)]
    assert len(chunks) == 1 and loop.time() - began < 1.0  # the client went away: no keep-alive, ended
    assert 7 not in events._queues


def test_a_setup_that_cannot_be_read_is_a_503_not_a_crash(client: TestClient, store: SqlStore) -> None:
    me = Account(client, store, "broken@example.com")
    me.api()
    store.save_workspace(me.id, 'timezone = "Mars/Olympus"\n', datetime.now(UTC))
    response = client.get("/api/v1/week", headers=bearer(me.token))
    assert response.status_code == 503 and "your setup needs attention" in response.json()["detail"]
    page = client.get("/week")
    assert page.status_code == 503 and "your setup needs attention" in page.text
