"""The first sync in real headless Chromium: sign up, add two CalDAV calendars on Radicale, create a private sync, see the mirror arrive."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from live import DAV_PASSWORD, LiveServer, add_caldav, events_on, sign_up
from playwright.sync_api import Page, expect

from mirrorcal.testing import RadicaleServer

FMT = "%Y%m%dT%H%M%SZ"


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    """The app with its sync worker on, running each account every second."""
    server = LiveServer(tmp_path / "web.db", worker=True, worker_interval=1.0).start()
    yield server
    server.stop()





def interview(start: datetime) -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//ATS//EN\r\nBEGIN:VEVENT\r\nUID:interview-42@ats.example\r\n"
        f"DTSTAMP:{start.strftime(FMT)}\r\nDTSTART:{start.strftime(FMT)}\r\nDTEND:{(start + timedelta(minutes=45)).strftime(FMT)}\r\n"
        "SUMMARY:Interview: Cat Candidate for Client A\r\nLOCATION:Client A HQ\r\n"
        "ORGANIZER;CN=Client A Talent:mailto:talent@client-a.example\r\n"
        "ATTENDEE;CN=Cat Candidate:mailto:cat@candidate.example\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )



def test_a_private_sync_mirrors_an_interview_as_busy(page: Page, live: LiveServer, radicale: RadicaleServer) -> None:
    owner = "rec" + uuid.uuid4().hex[:8]
    personal = radicale.make_calendar(owner, "personal", "Personal")
    client_b = radicale.make_calendar(owner, "client-b", "Client B")
    sign_up(page, live, "rita@agency.example")
    add_caldav(page, live, "personal", personal, owner)
    add_caldav(page, live, "client-b", client_b, owner)

    page.goto(f"{live.url}/syncs/new")
    page.get_by_label("Name", exact=True).fill("personal-to-client-b")
    page.get_by_label("From calendar").select_option("personal")
    page.get_by_label("To calendar").select_option("client-b")
    page.get_by_label(re.compile("a “Busy” block", re.I)).check()
    page.get_by_role("button", name="Create sync").click()
    expect(page.get_by_role("status")).to_contain_text("The sync was created.")

    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=2, hours=1)
    headers = {"Content-Type": "text/calendar"}
    put = httpx.put(personal + "interview-42.ics", content=interview(start), headers=headers, auth=(owner, DAV_PASSWORD))
    put.raise_for_status()

    row = page.get_by_role("row", name=re.compile("personal-to-client-b"))
    deadline = time.monotonic() + 15
    while "1 created" not in row.inner_text() and time.monotonic() < deadline:
        page.wait_for_timeout(300)
        page.reload()
    expect(row).to_contain_text("1 created")
    expect(row).to_contain_text("OK")

    mirrors = events_on(client_b, owner)
    assert len(mirrors) == 1
    mirror = mirrors[0]
    assert "SUMMARY:Busy" in mirror and f"DTSTART:{start.strftime(FMT)}" in mirror
    for secret in ("Interview", "Cat Candidate", "candidate.example", "Client A", "ATTENDEE", "ORGANIZER", "LOCATION", "interview-42"):
        assert secret not in mirror, f"the private mirror shows {secret!r}"
    assert len(events_on(personal, owner)) == 1  # nothing came back

    page.get_by_role("button", name="Sync personal-to-client-b now").click()
    expect(page.get_by_role("status")).to_contain_text("Your syncs run in a moment.")
