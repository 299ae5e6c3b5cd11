"""The unified week in real headless Chromium: two CalDAV calendars on Radicale with overlapping
interviews, the conflict on /week, and a new conflict appearing live (no reload) when a sync brings it."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from live import DAV_PASSWORD, LiveServer, add_caldav, sign_up
from playwright.sync_api import Page, expect

from mirrorcal.config import local_timezone
from mirrorcal.testing import RadicaleServer

FMT = "%Y%m%dT%H%M%SZ"


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    """The app with its sync worker on, running each account twice a second."""
    server = LiveServer(tmp_path / "web.db", worker=True, worker_interval=0.5).start()
    yield server
    server.stop()



def add_sync(page: Page, live: LiveServer, name: str, source: str, target: str, privacy: str) -> None:
    page.goto(f"{live.url}/syncs/new")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("From calendar").select_option(source)
    page.get_by_label("To calendar").select_option(target)
    page.locator(f'input[name="privacy"][value="{privacy}"]').check()
    page.get_by_role("button", name="Create sync").click()
    expect(page.get_by_role("status")).to_contain_text("The sync was created.")


def put(calendar_url: str, user: str, uid: str, summary: str, start: datetime, minutes: int, created: datetime) -> None:
    text = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//ATS//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:{created.strftime(FMT)}\r\nCREATED:{created.strftime(FMT)}\r\n"
        f"DTSTART:{start.astimezone(UTC).strftime(FMT)}\r\nDTEND:{(start + timedelta(minutes=minutes)).astimezone(UTC).strftime(FMT)}\r\n"
        f"SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    headers = {"Content-Type": "text/calendar"}
    httpx.put(f"{calendar_url}{uid}.ics", content=text, headers=headers, auth=(user, DAV_PASSWORD)).raise_for_status()


def test_a_new_conflict_appears_on_the_open_week_without_a_reload(page: Page, live: LiveServer, radicale: RadicaleServer) -> None:
    owner = "wk" + uuid.uuid4().hex[:8]
    personal = radicale.make_calendar(owner, "personal", "Personal")
    client_a = radicale.make_calendar(owner, "client-a", "Client A")
    sign_up(page, live, "wendy@agency.example")
    add_caldav(page, live, "personal", personal, owner, client="me")
    add_caldav(page, live, "client-a", client_a, owner, client="A")
    add_sync(page, live, "a-to-me", "client-a", "personal", "full")
    add_sync(page, live, "me-to-a", "personal", "client-a", "private")

    tz = local_timezone({})  # the account sets no zone: the server's
    today = datetime.now(tz).date()
    monday = today - timedelta(days=today.weekday()) + timedelta(days=7)
    tuesday = datetime(monday.year, monday.month, monday.day, 10, 0, tzinfo=tz) + timedelta(days=1)
    booked = datetime.now(UTC) - timedelta(days=3)
    put(client_a, owner, "john", "Interview: John", tuesday, 45, booked)
    put(personal, owner, "gym", "Gym", tuesday + timedelta(minutes=30), 60, booked + timedelta(hours=1))

    page.goto(f"{live.url}/week?start={monday.isoformat()}")
    conflicts = page.locator(".wk-conflicts")
    deadline = time.monotonic() + 10
    while conflicts.count() == 0 and time.monotonic() < deadline:  # the worker's first runs
        page.wait_for_timeout(250)
        page.reload()
    expect(conflicts).to_contain_text("Move Gym to Tue 10:45–11:45")
    john = page.get_by_role("listitem", name=re.compile(r"Interview: John, calendar client-a, client A\. Conflict"))
    expect(john).to_have_count(1)  # once: its full copy on Personal is not shown again
    expect(john).to_contain_text("Conflict")
    expect(page.get_by_role("listitem", name=re.compile("Busy"))).to_have_count(0)  # the Gym's Busy block on Client A neither
    expect(page.locator("#week-grid[data-live=on]")).to_have_count(1)
    page.evaluate("window.notReloaded = true")

    put(personal, owner, "david", "Interview: David", tuesday + timedelta(hours=4), 30, booked + timedelta(days=1))
    put(client_a, owner, "call", "Call with Acme", tuesday + timedelta(hours=4, minutes=15), 30, booked + timedelta(days=2))
    expect(conflicts).to_contain_text("Move Call with Acme to Tue 14:30–15:00", timeout=10_000)
    call = page.get_by_role("listitem", name=re.compile(r"Call with Acme, calendar client-a, client A\. Conflict: overlaps by 15 min"))
    expect(call).to_contain_text("Conflict")
    expect(page.locator("#week-live")).to_contain_text(re.compile(r"Updated \d\d:\d\d"))
    assert page.evaluate("window.notReloaded") is True, "the page was reloaded"
    expect(page.locator(".wk-legend")).to_contain_text("A")

    page.goto("about:blank")  # closes the live stream before the server stops
