"""Our own booking page in real headless Chromium, from both sides, over a real Radicale account.

The recruiter (one browser context) adds two CalDAV calendars — "personal" (with their e-mail)
and a client's — and a private sync personal → client, then sends a candidate an interview
request on "Our booking page". The candidate (another context, no account, the browser in
America/New_York) opens the private link, follows "Schedule Interview" to ``/b/{token}``, sees
the times in their own zone and books one: back on ``/i/{token}`` it is "Scheduled". The event is
on the recruiter's personal calendar with the candidate as attendee, the sync carries it to the
client as a bare "Busy", the recruiter's page says "Scheduled"; the candidate cancels, and the
event leaves the personal calendar (and its copy the client's). No slot falls in time the
personal calendar is busy (a team offsite over the next three days).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from live import DAV_PASSWORD, LiveServer, add_caldav, add_candidate, events_on, sign_up
from playwright.sync_api import Browser, Page, expect

from mirrorcal.testing import RadicaleServer

FMT = "%Y%m%dT%H%M%SZ"
RECRUITER = "rita@agency.example"
NEW_YORK = ZoneInfo("America/New_York")
DEADLINE = 15.0
"""Seconds to wait for the sync worker (it runs every second) or a calendar to change."""


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    """The app with its sync worker on, running each account every second."""
    server = LiveServer(tmp_path / "web.db", worker=True, worker_interval=1.0).start()
    yield server
    server.stop()





def unfolded(ics: str) -> str:
    """``ics`` with its folded lines joined (RFC 5545 §3.1) and plain newlines: one property a line."""
    return re.sub(r"\n[ \t]", "", ics.replace("\r\n", "\n"))


def in_words(text: str) -> tuple[datetime, datetime]:
    """The interview's start and end from its time in words on a page, in the zone the text
    names ("Thursday 26 November 2026, 08:00–08:45 (Europe/Berlin, UTC+01:00)", or "(UTC)")."""
    found = re.search(r"(\d{1,2} \w+ \d{4}), (\d\d:\d\d)–(\d\d:\d\d) \((?:([\w/+-]+), )?UTC([+-]\d\d:\d\d)?\)", text)
    assert found, f"no time in words in {text!r}"
    day, opens, closes, name, offset = found.groups()
    begin = datetime.strptime(f"{day} {opens}", "%d %B %Y %H:%M")
    zone = ZoneInfo(name) if name else UTC
    start = begin.replace(tzinfo=zone)
    assert start.strftime("%z") == (offset or "+00:00").replace(":", ""), f"the offset in {text!r} is not {zone}'s"
    end = datetime.strptime(f"{day} {closes}", "%d %B %Y %H:%M").replace(tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def offsite(until: datetime) -> str:
    """The recruiter away from a day ago until ``until``: no slot may fall in it."""
    since = until - timedelta(days=4)
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//EN\r\nBEGIN:VEVENT\r\nUID:offsite@agency.example\r\n"
        f"DTSTAMP:{since.strftime(FMT)}\r\nDTSTART:{since.strftime(FMT)}\r\nDTEND:{until.strftime(FMT)}\r\n"
        "SUMMARY:Team offsite\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def wait_for(what: str, check: Callable[[], list[str]], count: int) -> list[str]:
    """Poll ``check`` until it returns ``count`` items; fail naming ``what`` after ``DEADLINE``."""
    deadline = time.monotonic() + DEADLINE
    found = check()
    while len(found) != count and time.monotonic() < deadline:
        time.sleep(0.3)
        found = check()
    assert len(found) == count, f"{what}: expected {count} event(s), found {len(found)}"
    return found


def test_a_candidate_books_and_cancels_on_our_booking_page(page: Page, browser: Browser, live: LiveServer, radicale: RadicaleServer) -> None:
    owner = "rec" + uuid.uuid4().hex[:8]
    personal = radicale.make_calendar(owner, "personal", "Personal")
    client = radicale.make_calendar(owner, "client-a", "Client A")
    sign_up(page, live, RECRUITER)
    away_until = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=3)
    put = httpx.put(personal + "offsite.ics", content=offsite(away_until), headers={"Content-Type": "text/calendar"}, auth=(owner, DAV_PASSWORD))
    put.raise_for_status()
    add_caldav(page, live, "personal", personal, owner, email=RECRUITER)
    add_caldav(page, live, "client-a", client, owner)

    page.goto(f"{live.url}/syncs/new")
    page.get_by_label("Name", exact=True).fill("personal-to-client-a")
    page.get_by_label("From calendar").select_option("personal")
    page.get_by_label("To calendar").select_option("client-a")
    page.get_by_label(re.compile("a “Busy” block", re.I)).check()
    page.get_by_role("button", name="Create sync").click()
    expect(page.get_by_role("status")).to_contain_text("The sync was created.")

    # the recruiter: a candidate and a request on our booking page
    add_candidate(page, live, "Nina Novak", "nina@candidate.example", "Acme Robotics", "Platform Engineer")
    candidate_url = page.url
    interview = page.locator("#interview")
    interview.locator("label.plan-option", has_text="Our booking page").click()
    interview.get_by_label("Title").fill("First round: platform chat")
    interview.get_by_label("Message to the candidate").fill("Pick any time that suits you.")
    interview.get_by_role("button", name="Send invitation").click()
    expect(page.locator(".interview .status").first).to_have_text("Awaiting Response")
    link = page.locator("input.interview-link").first.input_value()
    assert link.startswith(f"{live.url}/i/")
    token = link.rsplit("/", 1)[1]

    candidate_side = browser.new_context(viewport={"width": 1000, "height": 900}, timezone_id="America/New_York")
    try:
        nina = candidate_side.new_page()
        nina.set_default_timeout(10_000)
        nina.goto(link)
        expect(nina.locator("#status")).to_have_text("Schedule your interview")
        nina.get_by_role("link", name="Schedule Interview").click()
        expect(nina).to_have_url(re.compile(rf"/b/{re.escape(token)}\?tz=America%2FNew_York$"))  # booking.js: the browser's zone
        expect(nina.locator("#tz")).to_have_value("America/New_York")
        expect(nina.get_by_role("heading", name="First round: platform chat")).to_be_visible()

        # no slot is offered before the account's syncs ran once: wait for that
        slot = nina.locator("button.bk-slot")
        deadline = time.monotonic() + DEADLINE
        while not slot.first.is_visible() and time.monotonic() < deadline:
            expect(nina.locator("#no-slots")).to_be_visible()
            nina.wait_for_timeout(300)
            nina.reload()
        expect(slot.first).to_be_visible()
        expect(nina.locator("#tz")).to_have_value("America/New_York")
        offered = [datetime.fromisoformat(v) for v in slot.evaluate_all("buttons => buttons.map(b => b.value)")]
        assert min(offered) >= away_until, f"a slot at {min(offered)} falls in the offsite (until {away_until})"

        # a day further out is closed until opened; its times are New York's
        day = nina.locator("details.bk-day").nth(3)
        expect(day).not_to_have_attribute("open", "")
        day.locator("summary").click()
        expect(day).to_have_attribute("open", "")
        button = day.locator("button.bk-slot").first
        expect(button).to_be_visible()
        start = datetime.fromisoformat(button.get_attribute("value") or "")
        end = start + timedelta(minutes=45)
        here = start.astimezone(NEW_YORK)
        assert button.get_attribute("title") == f"{here:%H:%M}–{end.astimezone(NEW_YORK):%H:%M}"
        expect(button).to_have_text(f"{here:%H:%M}")
        expect(button).to_have_attribute("aria-label", f"Book {here:%A} {here.day} {here:%B}, {here:%H:%M} to {end.astimezone(NEW_YORK):%H:%M}")
        button.click()

        expect(nina).to_have_url(f"{live.url}/i/{token}?done=booked&tz=America%2FNew_York")  # times in her zone
        expect(nina.locator("#status")).to_have_text("Scheduled")
        assert in_words(nina.locator(".interview-time").inner_text()) == (start, end)
        expect(nina.locator(".interview-time")).to_contain_text(re.compile(r"\(America/New_York, UTC-0[45]:00\)"))
        expect(nina.get_by_role("status")).to_contain_text("Booked: your interview is scheduled")

        # the event on the personal calendar, the candidate its attendee
        def bookings() -> list[str]:
            return [e for e in events_on(personal, owner) if "UID:mirrorcal-booking-" in e]

        def copies() -> list[str]:
            return [e for e in events_on(client, owner) if f"DTSTART:{start.astimezone(UTC).strftime(FMT)}" in e]

        booked = wait_for("the booking on the personal calendar", bookings, 1)[0]
        event = unfolded(booked)
        assert f"DTSTART:{start.astimezone(UTC).strftime(FMT)}" in event and f"DTEND:{end.astimezone(UTC).strftime(FMT)}" in event
        assert "SUMMARY:Interview: Nina Novak (Platform Engineer\\, Acme Robotics)" in event  # TEXT escapes its comma
        assert re.search(r"^ATTENDEE[;:].*mailto:nina@candidate\.example$", event, re.M | re.I), event
        assert re.search(rf"^ORGANIZER[;:].*mailto:{re.escape(RECRUITER)}$", event, re.M | re.I), event

        # the worker carries it to the client as a bare "Busy"
        mirror = wait_for("the Busy copy on the client calendar", copies, 1)[0]
        assert "SUMMARY:Busy" in mirror
        for secret in ("Interview", "Nina", "Novak", "candidate.example", "Acme", "Platform", "ATTENDEE", "ORGANIZER", token):
            assert secret not in unfolded(mirror), f"the client's copy shows {secret!r}"

        # the recruiter sees it scheduled
        page.goto(candidate_url)
        expect(page.locator(".interview .status").first).to_have_text("Scheduled")
        assert in_words(page.locator(".interview-time").first.inner_text()) == (start, end)

        # the candidate cancels: the event leaves the personal calendar, its copy the client's
        nina.get_by_role("button", name="Cancel", exact=True).click()
        expect(nina.locator("#status")).to_have_text("Cancelled")
        wait_for("the booking on the personal calendar after the cancellation", bookings, 0)
        wait_for("its copy on the client calendar after the cancellation", copies, 0)
        assert len(events_on(personal, owner)) == 1 and len(events_on(client, owner)) == 1  # the offsite and its copy stay
    finally:
        candidate_side.close()

    page.reload()
    expect(page.locator(".interview .status").first).to_have_text("Cancelled")

