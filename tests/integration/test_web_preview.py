"""“What this client sees” over a real SQLite file and Radicale: the page and the API show exactly the private mirrors on the client's calendar."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import icalendar
import recurring_ical_events
from webkit import TestClient, app, bearer, client, clients, create_token, csrf_of, db_url, signup, store

from mirrorcal import workspace as ws
from mirrorcal.bootstrap import Credentials, build_engine
from mirrorcal.model import MARKER_PROPERTY
from mirrorcal.store.sql import SqlStore
from mirrorcal.testing import RadicaleServer

__all__ = ["app", "client", "clients", "db_url", "store"]  # fixtures, used by name

FMT = "%Y%m%dT%H%M%SZ"
SECRETS = ("Jane", "Acme", "jane.doe@acme.example", "floor 5", "Salary", "Globex", "Tower", "Gym", "standup", "own@p")


def calendar_text(uid: str, summary: str, start: datetime, *extra: str) -> str:
    lines = [
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//t//EN", "BEGIN:VEVENT", f"UID:{uid}",
        f"DTSTAMP:{start.strftime(FMT)}", f"DTSTART:{start.strftime(FMT)}",
        f"DTEND:{(start + timedelta(hours=1)).strftime(FMT)}", f"SUMMARY:{summary}", *extra, "END:VEVENT", "END:VCALENDAR",
    ]  # fmt: skip
    return "\r\n".join(lines) + "\r\n"


def put(url: str, user: str, name: str, text: str) -> None:
    headers = {"Content-Type": "text/calendar"}
    httpx.put(url + name, content=text, auth=(user, "x"), headers=headers).raise_for_status()


def add(browser: TestClient, page: str, path: str, /, **data: str) -> httpx.Response:
    response = browser.post(path, data={"csrf": csrf_of(browser.get(page).text), **data})
    assert response.status_code == 200 and response.url.path in ("/calendars", "/syncs"), response.text
    return response


async def run_syncs(store: SqlStore, db_url: str, uid: int) -> None:
    config = ws.runtime_config(store.workspace(uid) or "", uid, db_url)
    credentials = Credentials(config, store)
    engine = build_engine(config, store, credentials)
    try:
        await engine.sync()
    finally:
        await engine.aclose()
        await credentials.aclose()


def on_target(url: str, user: str, start: datetime, end: datetime) -> set[tuple[datetime, datetime, str]]:
    """The mirrors' occurrences in [start, end) as Radicale serves them, read independently of mirrorcal."""
    listing = httpx.request("PROPFIND", url, headers={"Depth": "1"}, auth=(user, "x")).text
    found = set()
    for href in re.findall(r"<[^>]*href>([^<]+\.ics)</", listing):
        text = httpx.get(httpx.URL(url).join(href), auth=(user, "x")).text
        calendar = icalendar.Calendar.from_ical(text)
        if not any(MARKER_PROPERTY in v for v in calendar.walk("VEVENT")):
            continue  # the client's own event
        for secret in SECRETS:
            assert secret not in text, f"the mirror on the target holds {secret!r}"
        for occ in recurring_ical_events.of(calendar).between(start, end):
            found.add((occ.start.astimezone(UTC), occ.end.astimezone(UTC), str(occ["SUMMARY"])))
    return found


def shown(body: dict[str, Any]) -> set[tuple[datetime, datetime, str]]:
    return {(datetime.fromisoformat(s["start"]).astimezone(UTC), datetime.fromisoformat(s["end"]).astimezone(UTC), s["title"]) for s in body["shown"]}


def test_the_preview_shows_exactly_the_private_mirrors_and_nothing_of_the_source(
    client: TestClient, store: SqlStore, db_url: str, radicale: RadicaleServer
) -> None:
    dav_user = "u" + uuid.uuid4().hex[:8]
    personal, target = radicale.make_calendar(dav_user, "p"), radicale.make_calendar(dav_user, "b")
    signup(client, "ivy@example.com")
    _, token = create_token(client, "script")
    api = bearer(token)
    dav = {"kind": "caldav", "username": dav_user, "password": "dav-secret-Pw-123"}
    add(client, "/calendars/new?kind=caldav", "/calendars/new", name="personal", url=personal, **dav)
    add(client, "/calendars/new?kind=caldav", "/calendars/new", name="client-b", url=target, client="Beta", **dav)
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    put(personal, dav_user, "interview.ics", calendar_text(
        "own@p", "Interview: Jane Doe (Acme)", base, "LOCATION:Acme HQ\\, floor 5", "DESCRIPTION:Salary 120k",
        "ATTENDEE;CN=Jane Doe:mailto:jane.doe@acme.example", "ORGANIZER:mailto:me@example.com",
    ))  # fmt: skip
    put(personal, dav_user, "weekly.ics", calendar_text("w@p", "Globex sync", base + timedelta(days=1, hours=3), "RRULE:FREQ=WEEKLY;COUNT=2", "LOCATION:Globex Tower"))
    put(personal, dav_user, "gym.ics", calendar_text("g@p", "Gym", base + timedelta(days=2), "TRANSP:TRANSPARENT"))
    put(personal, dav_user, "far.ics", calendar_text("f@p", "Acme onsite", base + timedelta(days=20)))
    put(target, dav_user, "standup.ics", calendar_text("s@b", "Beta standup", base + timedelta(days=3)))

    other = client.get("/calendars/personal/preview")
    assert other.status_code == 200 and "No private sync copies into this calendar" in other.text
    assert client.get("/calendars/nope/preview").status_code == 404
    assert client.get("/api/v1/calendars/nope/preview", headers=api).status_code == 404

    add(client, "/syncs/new", "/syncs/new", name="me-to-b", source="personal", target="client-b", privacy="private", skip_free="on", skip_declined="on")
    assert 'href="/calendars/client-b/preview"' in client.get("/calendars").text
    before = client.get("/calendars/client-b/preview")
    assert "Nothing has synced to this calendar yet" in before.text
    assert client.get("/api/v1/calendars/client-b/preview", headers=api).json()["state"] == "not-synced"

    uid = store.user_by_email("ivy@example.com").id  # type: ignore[union-attr]
    asyncio.run(run_syncs(store, db_url, uid))

    body = client.get("/api/v1/calendars/client-b/preview", headers=api).json()
    assert body["state"] == "shown" and body["syncs"] == ["me-to-b"] and body["full_syncs"] == []
    assert {(s["title"], s["busy"], s["all_day"], s["sync"], tuple(s["extra_properties"])) for s in body["shown"]} == {("Busy", True, False, "me-to-b", ())}
    expected = {
        (base, base + timedelta(hours=1), "Busy"),
        (base + timedelta(days=1, hours=3), base + timedelta(days=1, hours=4), "Busy"),
        (base + timedelta(days=8, hours=3), base + timedelta(days=8, hours=4), "Busy"),
    }  # the interview and both weekly occurrences; not the free one, not the one in 20 days, not the client's own
    assert shown(body) == expected and len(body["shown"]) == 3
    window = (datetime.fromisoformat(body["start"]), datetime.fromisoformat(body["end"]))
    assert window[1] - window[0] == timedelta(days=14)
    assert on_target(target, dav_user, *window) == expected, "the preview matches what Radicale holds"
    assert body["unified_events"] == 4  # interview, two weekly, the client's standup: a mirror counts with its origin
    assert body["message"] == "4 events on your unified calendar in the next 14 days, shown to this client as 3 Busy blocks."

    page = client.get("/calendars/client-b/preview")
    assert page.status_code == 200 and body["message"] in page.text
    assert page.text.count('<td class="shown-title">Busy</td>') == 3
    for text in (page.text, str(body)):
        for secret in SECRETS:
            assert secret not in text, f"the preview shows {secret!r}"
