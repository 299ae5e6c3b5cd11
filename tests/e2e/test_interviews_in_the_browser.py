"""Interview requests in real headless Chromium, from both sides: the recruiter's pages in one
browser context, the candidate's private link in another (no account, no shared cookies).

The seed's flow: add a candidate → Interview with a scheduling link → "Awaiting Response" → the
candidate opens the link, sees "Schedule Interview", confirms "I have booked it" → "Scheduled" for
the candidate, "Requires Action" for the recruiter, the chat says so → the recruiter sends the
next round. And the other path: a candidate who booked but never confirmed, scheduled offline by
the recruiter → both sides see "Scheduled offline" with the note.
"""

from __future__ import annotations

import re

from live import LiveServer, add_candidate, sign_up
from playwright.sync_api import Browser, Page, expect

from mirrorcal.interviews import OFFLINE_NOTE

CALENDLY = "https://calendly.com/rita-recruits/45min"



def send_link_request(page: Page, message: str) -> str:
    """On a candidate's page: Interview → scheduling link → URL and message → Send; the private link."""
    interview = page.locator("#interview")
    interview.locator("label.plan-option", has_text="Scheduling link").click()
    interview.get_by_label("Scheduling URL").fill(CALENDLY)
    interview.get_by_label("Message to the candidate").fill(message)
    interview.get_by_role("button", name="Send invitation").click()
    expect(page.locator(".interview .status").first).to_have_text("Awaiting Response")
    return page.locator("input.interview-link").first.input_value()


def progress(page: Page, action: str) -> None:
    page.get_by_text("Progress", exact=True).first.click()
    page.get_by_role("button", name=action, exact=True).click()


def test_a_scheduling_link_confirmed_by_the_candidate(page: Page, browser: Browser, live: LiveServer) -> None:
    sign_up(page, live, "rita@agency.example")
    add_candidate(page, live, "Gina Gomez", "gina@candidate.example", "Globex", "Data Scientist")  # another client's
    add_candidate(page, live, "Nina Novak", "nina@candidate.example", "Acme Robotics", "Platform Engineer")
    link = send_link_request(page, "Pick any slot that suits you next week.")
    assert link.startswith(f"{live.url}/i/")

    candidate_side = browser.new_context(viewport={"width": 1000, "height": 900})
    try:
        nina = candidate_side.new_page()
        nina.goto(link)
        expect(nina.locator("#status")).to_have_text("Schedule your interview")
        expect(nina.get_by_text("Platform Engineer at Acme Robotics")).to_be_visible()
        expect(nina.get_by_text("Pick any slot that suits you next week.")).to_be_visible()
        schedule = nina.get_by_role("link", name="Schedule Interview")
        assert schedule.get_attribute("href") == CALENDLY and schedule.get_attribute("target") == "_blank"
        nina.get_by_role("button", name="I have booked it").click()
        expect(nina.locator("#status")).to_have_text("Scheduled")
        nina.get_by_label("Write a message").fill("Booked Tuesday at ten, see you then!")
        nina.get_by_role("button", name="Send message").click()
        expect(nina.locator(".chat-thread")).to_contain_text("Booked Tuesday at ten")
        seen = nina.content()
        for other in ("Gina", "Globex", "Data Scientist", "rita@agency.example/candidates"):
            assert other not in seen, f"the candidate's page shows {other!r}"
    finally:
        candidate_side.close()

    page.reload()
    expect(page.locator(".interview .status").first).to_have_text("Requires Action")
    thread = page.locator(".chat-thread")
    expect(thread).to_contain_text("The candidate confirmed the booking")
    expect(thread).to_contain_text("Booked Tuesday at ten, see you then!")
    page.goto(f"{live.url}/candidates")
    expect(page.locator("tr", has_text="Nina Novak").locator(".status")).to_have_text("Requires Action")
    expect(page.locator("tr", has_text="Gina Gomez").locator(".status")).not_to_have_text("Requires Action")

    # progress: the next round, on our own booking page
    page.get_by_role("link", name="Nina Novak").click()
    page.get_by_text("Progress", exact=True).first.click()
    advance = page.locator("section.advance")
    advance.locator("label.plan-option", has_text="Our booking page").click()
    advance.get_by_label("Title").fill("Second round: system design")
    advance.get_by_role("button", name="Send the next interview request").click()
    expect(page.get_by_role("heading", name=re.compile("Round 2: Second round: system design"))).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("Round 1")).locator(".status")).to_have_text("Next round")
    expect(page.get_by_role("heading", name=re.compile("Round 2")).locator(".status")).to_have_text("Awaiting Response")

    page.goto(f"{live.url}/outbox")
    expect(page.get_by_text("Interview request: Platform Engineer at Acme Robotics").first).to_be_visible()


def test_schedule_offline_when_the_candidate_never_confirms(page: Page, browser: Browser, live: LiveServer) -> None:
    sign_up(page, live, "sam@agency.example")
    add_candidate(page, live, "Omar Okafor", "omar@candidate.example", "Initech", "QA Lead")
    link = send_link_request(page, "Use the link to book.")
    progress(page, "Schedule offline")
    expect(page.locator(".interview .status").first).to_have_text("Scheduled offline")
    expect(page.locator(".offline-note").first).to_have_text(OFFLINE_NOTE)
    expect(page.locator(".chat-thread")).to_contain_text(OFFLINE_NOTE)

    candidate_side = browser.new_context()
    try:
        omar = candidate_side.new_page()
        omar.goto(link)
        expect(omar.locator("#status")).to_have_text("Scheduled offline")
        expect(omar.locator(".offline-note")).to_have_text(OFFLINE_NOTE)
        expect(omar.locator(".chat-thread")).to_contain_text(OFFLINE_NOTE)
        expect(omar.get_by_role("button", name="I have booked it")).to_have_count(0)
    finally:
        candidate_side.close()

    progress(page, "Hire")
    expect(page.locator(".interview .status").first).to_have_text("Hired")
