"""Candidates and interview requests in the web app over a real SQLite file: the seed's whole flow
from both sides (recruiter pages, the candidate's private link), Schedule offline, refused moves
(409, nothing changes), bad input (400 next to the field), the API (404/409/422), the outbox,
and tenant isolation."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from webkit import (
    OWN_ORIGIN,
    Clients,
    TestClient,
    assert_foreign_ids_not_found,
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
    post_routes,
    signup,
    store,
)

from mirrorcal.interviews import OFFLINE_NOTE
from mirrorcal.store.sql import SqlStore

__all__ = ["client", "clients", "db_url", "store"]  # fixtures, used by name

CALENDLY = "https://calendly.com/rita/30min"
NO_CANDIDATE = "There is no such candidate. They may have been deleted."
NO_INTERVIEW = "There is no such interview request. It may have been deleted."


@pytest.fixture
def app(store: SqlStore, db_url: str) -> FastAPI:
    return make_app(store, db_url, public_url=OWN_ORIGIN)  # the candidates' links point at the test clients


# helpers ----------------------------------------------------------------------------------------
def text(response: httpx.Response) -> str:
    return unescape(response.text)


def add_candidate(browser: TestClient, name: str, email: str, client: str, role: str) -> int:
    page = browser.get("/candidates")
    added = browser.post(
        "/candidates", data={"csrf": csrf_of(page.text), "name": name, "email": email, "client": client, "role": role}
    )
    assert added.status_code == 200, added.text
    found = re.fullmatch(r"/candidates/(\d+)", added.url.path)
    assert found, added.url
    return int(found.group(1))


def send_request(browser: TestClient, candidate_id: int, **fields: str) -> httpx.Response:
    page = browser.get(f"/candidates/{candidate_id}")
    data = {"link_kind": "link", "url": CALENDLY, "title": "", "duration_minutes": "45", "message": "Looking forward!"}
    return browser.post(f"/candidates/{candidate_id}/interviews", data={"csrf": csrf_of(page.text)} | data | fields)


def links_of(html: str) -> dict[int, str]:
    """Interview id -> the private link's path, as the recruiter's page shows them."""
    return {int(i): urlsplit(url).path for i, url in re.findall(r'id="link-(\d+)"[^>]*value="([^"]+)"', html)}


def status_of(html: str, interview_id: int) -> str:
    found = re.search(rf'id="interview-{interview_id}-title">.*?data-status="([^"]+)"', html, re.DOTALL)
    assert found, f"no request {interview_id} on the page"
    return unescape(found.group(1))


def candidate_status(html: str) -> str:
    found = re.search(r'id="status">([^<]+)<', html)
    assert found, "the candidate's page shows no status"
    return unescape(found.group(1))


def progress(browser: TestClient, candidate_id: int, interview_id: int, action: str) -> httpx.Response:
    page = browser.get(f"/candidates/{candidate_id}")
    return browser.post(f"/interviews/{interview_id}/progress", data={"csrf": csrf_of(page.text), "action": action})


def candidate_post(browser: TestClient, path: str, what: str, **data: str) -> httpx.Response:
    page = browser.get(path)
    return browser.post(f"{path}/{what}", data={"csrf": csrf_of(page.text)} | data)


def chat_of(html: str) -> list[str]:
    return [unescape(b) for b in re.findall(r'<p class="chat-body">([^<]*)</p>', html)]


def recruiter_with_candidate(clients: Clients) -> tuple[TestClient, int, int, str]:
    """A signed-in recruiter with one candidate and a link request sent: (browser, candidate id, request id, link path)."""
    recruiter = clients.new()
    signup(recruiter, "rita@example.com")
    cid = add_candidate(recruiter, "Dana Whitfield", "dana@example.com", "Acme", "Staff engineer")
    sent = send_request(recruiter, cid)
    assert sent.status_code == 200, sent.text
    ((iid, link),) = links_of(sent.text).items()
    return recruiter, cid, iid, link


# the seed's flow --------------------------------------------------------------------------------
def test_the_whole_flow_from_both_sides(clients: Clients, store: SqlStore) -> None:
    recruiter = clients.new()
    signup(recruiter, "rita@example.com")
    listing = recruiter.get("/candidates")
    assert listing.status_code == 200 and "No candidates yet." in listing.text
    assert '<a href="/candidates" aria-current="page">Candidates</a>' in listing.text

    cid = add_candidate(recruiter, "Dana Whitfield", "dana@example.com", "Acme", "Staff engineer")
    other = add_candidate(recruiter, "Bob Other", "bob@example.com", "Globex", "Designer")
    page = recruiter.get(f"/candidates/{cid}")
    assert "No interview request yet." in page.text and "Send invitation" in page.text

    # Interview → scheduling link → message → Send: "Awaiting Response"
    sent = send_request(recruiter, cid)
    assert sent.status_code == 200 and sent.url.path == f"/candidates/{cid}"
    assert "The interview request was sent." in sent.text
    ((iid, link),) = links_of(sent.text).items()
    assert status_of(sent.text, iid) == "Awaiting Response" and link.startswith("/i/")
    assert "Round 1: Interview 1" in sent.text and "Send invitation" not in sent.text  # one open request at a time
    listed = text(recruiter.get("/candidates"))
    assert re.search(rf'id="candidate-{cid}">.*?Awaiting Response', listed, re.DOTALL)
    assert re.search(rf'id="candidate-{other}">.*?No request yet', listed, re.DOTALL)

    outbox = text(recruiter.get("/outbox"))
    assert "Interview request: Staff engineer at Acme" in outbox and "to dana@example.com" in outbox
    assert "Held: no mail server is configured" in outbox and f"http://testserver{link}" in outbox

    # the candidate: no account, the private link
    candidate = clients.new()
    public = candidate.get(link)
    shown = text(public)
    assert public.status_code == 200 and candidate_status(public.text) == "Schedule your interview"
    assert "Staff engineer at Acme" in shown and "Looking forward!" in shown and "rita@example.com" in shown
    assert f'<a class="button" href="{CALENDLY}" target="_blank" rel="noopener noreferrer">Schedule Interview</a>' in public.text
    assert "I have booked it" in public.text
    for hidden in ("Globex", "Bob Other", "bob@example.com", 'href="/candidates', "Sign out", 'href="/week"'):
        assert hidden not in shown, hidden

    confirmed = candidate_post(candidate, link, "confirm")
    assert confirmed.status_code == 200 and confirmed.url.path == link
    assert candidate_status(confirmed.text) == "Scheduled" and "Thank you: your interview is scheduled." in confirmed.text
    note = "The candidate confirmed the booking: the interview is scheduled offline."
    assert note in chat_of(confirmed.text) and "I have booked it" not in confirmed.text
    assert "Ask to reschedule" in confirmed.text and ">Cancel<" in confirmed.text

    # the recruiter: Requires Action until they progress the candidate; the chat shows it
    page = recruiter.get(f"/candidates/{cid}")
    assert status_of(page.text, iid) == "Requires Action" and note in chat_of(page.text)
    assert ">Reject<" in page.text and ">Hire<" in page.text and "Send the next interview request" in page.text
    assert "Requires Action" in recruiter.get("/candidates").text
    assert "mirrorcal" in re.sub(r"\s+", " ", page.text.split('id="chat"')[1])  # system notes are mirrorcal's

    # both sides write
    candidate_post(candidate, link, "messages", body="Can I bring a laptop?")
    mid = recruiter.get(f"/candidates/{cid}")
    assert "Can I bring a laptop?" in chat_of(mid.text)
    answered = recruiter.post(f"/candidates/{cid}/messages", data={"csrf": csrf_of(mid.text), "body": "Yes, please."})
    assert answered.status_code == 200 and "Your message was sent." in answered.text
    thread = chat_of(candidate.get(link).text)
    assert thread[-2:] == ["Can I bring a laptop?", "Yes, please."] and note in thread

    # progress: send the next interview request (our booking page this time)
    advanced = recruiter.post(
        f"/interviews/{iid}/advance",
        data={"csrf": csrf_of(mid.text), "link_kind": "booking_page", "title": "", "duration_minutes": "60", "message": "Round two"},
    )
    assert advanced.status_code == 200 and "The candidate moved on" in advanced.text
    links = links_of(advanced.text)
    (iid2,) = set(links) - {iid}
    assert status_of(advanced.text, iid) == "Next round" and status_of(advanced.text, iid2) == "Awaiting Response"
    assert "Round 2: Interview 2" in advanced.text
    assert candidate_status(candidate.get(link).text) == "Next round"
    second = candidate.get(links[iid2])
    assert f'<a class="button" href="/b/{links[iid2].removeprefix("/i/")}">Schedule Interview</a>' in second.text
    assert "I have booked it" not in second.text and "60 minutes" in second.text

    # and reject at round two
    rejected = progress(recruiter, cid, iid2, "reject")
    assert rejected.status_code == 200 and status_of(rejected.text, iid2) == "Rejected"
    assert candidate_status(candidate.get(links[iid2]).text) == "Closed"
    user = store.user_by_email("rita@example.com")
    assert user is not None
    assert [r.state for r in store.interviews(user.id, cid)] == ["advanced", "rejected"]
    assert [(t.actor, t.action) for t in store.transitions(iid)] == [("candidate", "confirm"), ("recruiter", "advance")]


def test_hire_after_the_candidate_confirmed(clients: Clients, store: SqlStore) -> None:
    recruiter, cid, iid, link = recruiter_with_candidate(clients)
    candidate = clients.new()
    candidate_post(candidate, link, "confirm")
    hired = progress(recruiter, cid, iid, "hire")
    assert status_of(hired.text, iid) == "Hired" and "Progress" not in hired.text.split('id="chat"')[0].split("Interview requests")[1]
    assert candidate_status(candidate.get(link).text) == "Offer stage"
    assert "The recruiter marked the candidate as hired." in chat_of(candidate.get(link).text)


def test_schedule_offline_when_the_candidate_never_confirms(clients: Clients) -> None:
    recruiter, cid, iid, link = recruiter_with_candidate(clients)
    page = recruiter.get(f"/candidates/{cid}")
    assert ">Schedule offline<" in page.text and ">Hire<" not in page.text
    offline = progress(recruiter, cid, iid, "schedule_offline")
    assert offline.status_code == 200 and status_of(offline.text, iid) == "Scheduled offline"
    assert f'<p class="offline-note">{OFFLINE_NOTE}</p>' in offline.text
    note = f"Interview scheduled offline. {OFFLINE_NOTE}."
    assert note in chat_of(offline.text)

    candidate = clients.new()
    public = candidate.get(link)
    assert candidate_status(public.text) == "Scheduled offline" and OFFLINE_NOTE in public.text
    assert note in chat_of(public.text) and "I have booked it" not in public.text


def test_a_booking_noticed_in_the_calendars_is_marked_scheduled_in_one_click(clients: Clients) -> None:
    recruiter, cid, iid, link = recruiter_with_candidate(clients)
    user = clients.app.state.store.user_by_email("rita@example.com")
    start = datetime(2030, 3, 5, 9, tzinfo=UTC)
    clients.app.state.recruiting.act(  # the worker's part: a booking with the candidate seen on client-a
        user.id, iid, "notice_booking", "system", starts_at=start, ends_at=start + timedelta(minutes=45),
        booking_calendar="client-a", booking_uid="calendly-1",
    )  # fmt: skip
    page = recruiter.get(f"/candidates/{cid}")
    assert status_of(page.text, iid) == "Booked, not confirmed"
    form = re.search(r'<form method="post" action="/interviews/(\d+)/progress" class="noticed-booking">(.*?)</form>', page.text, re.S)
    assert form and int(form.group(1)) == iid and "appeared on client-a" in form.group(2)
    assert 'name="action" value="mark_scheduled"' in form.group(2) and ">Mark as scheduled<" in form.group(2)
    marked = progress(recruiter, cid, iid, "mark_scheduled")  # the one click
    assert status_of(marked.text, iid) == "Requires Action" and 'class="noticed-booking"' not in marked.text
    assert "Tuesday 5 March 2030, 10:00–10:45 (Europe/Berlin, UTC+01:00)" in text(marked)
    assert candidate_status(clients.new().get(link).text) == "Scheduled"


def test_cancel_and_reschedule_from_either_side(clients: Clients) -> None:
    recruiter, cid, iid, link = recruiter_with_candidate(clients)
    candidate = clients.new()
    candidate_post(candidate, link, "confirm")
    again = candidate_post(candidate, link, "reschedule")
    assert again.status_code == 200 and candidate_status(again.text) == "Choose a new time"
    assert "I have booked it" in again.text  # book a new time with the same link, then confirm
    assert status_of(recruiter.get(f"/candidates/{cid}").text, iid) == "Rescheduling"
    cancelled = progress(recruiter, cid, iid, "cancel")
    assert status_of(cancelled.text, iid) == "Cancelled"
    assert "The recruiter cancelled the interview." in chat_of(cancelled.text)
    public = candidate.get(link)
    assert candidate_status(public.text) == "Cancelled" and "Decline this interview" not in public.text
    refused = candidate_post(candidate, link, "cancel")
    assert refused.status_code == 409 and "Cannot cancel: the interview is cancelled" in text(refused)


def test_the_candidate_declines_with_a_reason(clients: Clients) -> None:
    recruiter, cid, iid, link = recruiter_with_candidate(clients)
    candidate = clients.new()
    empty = candidate_post(candidate, link, "decline", reason="   ")
    assert empty.status_code == 400 and errors_of(empty.text) == ["Say why you are declining, in a few words: the recruiter reads it."]
    assert candidate_status(empty.text) == "Schedule your interview"
    declined = candidate_post(candidate, link, "decline", reason="I took another offer")
    assert declined.status_code == 200 and candidate_status(declined.text) == "Declined"
    page = recruiter.get(f"/candidates/{cid}")
    assert status_of(page.text, iid) == "Declined" and "I took another offer" in page.text
    assert "The candidate declined: I took another offer" in chat_of(page.text)


# refusals ---------------------------------------------------------------------------------------
def test_a_refused_move_is_a_409_and_changes_nothing(clients: Clients, store: SqlStore) -> None:
    recruiter, cid, iid, link = recruiter_with_candidate(clients)
    user = store.user_by_email("rita@example.com")
    assert user is not None
    before, moves, said = store.interview(user.id, iid), store.transitions(iid), store.messages(user.id, cid)

    hire = progress(recruiter, cid, iid, "hire")  # not before the interview is scheduled
    assert hire.status_code == 409
    assert "Cannot hire the candidate: the interview is waiting for the candidate" in text(hire)
    assert status_of(hire.text, iid) == "Awaiting Response"
    confirm = progress(recruiter, cid, iid, "confirm")  # the candidate's move, not the recruiter's
    assert confirm.status_code == 409 and "is not something the recruiter can do" in text(confirm)
    second = send_request(recruiter, cid)  # one open request per candidate
    assert second.status_code == 409 and "already has an open request" in text(second)
    unknown = progress(recruiter, cid, iid, "teleport")
    assert unknown.status_code == 400 and "Choose one of the actions the Progress menu offers." in unknown.text
    advance = progress(recruiter, cid, iid, "advance")
    assert advance.status_code == 400 and "send the next interview request with its form" in advance.text
    too_early = recruiter.post(f"/interviews/{iid}/advance", data={"csrf": csrf_of(hire.text), "link_kind": "link", "url": CALENDLY})
    assert too_early.status_code == 409 and "the interview is waiting for the candidate" in text(too_early)

    candidate = clients.new()
    candidate_post(candidate, link, "confirm")
    twice = candidate_post(candidate, link, "confirm")
    assert twice.status_code == 409 and "Cannot confirm the booking: the interview is scheduled" in text(twice)
    assert candidate_status(twice.text) == "Scheduled"

    after = store.interview(user.id, iid)
    assert before is not None and after is not None
    assert after.version == before.version + 1 and after.state == "scheduled"  # only the candidate's one confirm
    assert len(store.transitions(iid)) == len(moves) + 1 and len(store.messages(user.id, cid)) == len(said) + 1
    assert len(store.interviews(user.id, cid)) == 1


def test_bad_input_is_a_400_with_the_message_next_to_the_field(client: TestClient, store: SqlStore) -> None:
    signup(client, "rita@example.com")
    csrf = csrf_of(client.get("/candidates").text)
    good = {"name": "Dana", "email": "dana@example.com", "client": "Acme", "role": "Engineer"}
    for field, value in [("email", "not-an-address"), ("name", "  "), ("client", ""), ("role", "x" * 121)]:
        refused = client.post("/candidates", data={"csrf": csrf} | good | {field: value})
        assert refused.status_code == 400, (field, refused.text)
        assert re.search(rf'<div class="field has-error">\s*<label for="{field}">', refused.text), field
        assert errors_of(refused.text), field
        assert f'value="{good["name"]}"' in refused.text or field == "name"  # what was typed stays
    user = store.user_by_email("rita@example.com")
    assert user is not None and store.candidates(user.id) == []

    cid = add_candidate(client, **good)
    for fields, field in [
        ({"url": ""}, "url"),
        ({"url": "ftp://example.com/book"}, "url"),
        ({"duration_minutes": "abc"}, "duration_minutes"),
        ({"duration_minutes": "²"}, "duration_minutes"),  # a digit to str.isdigit, not to int()
        ({"duration_minutes": "5"}, "duration_minutes"),
        ({"link_kind": "carrier-pigeon"}, "link_kind"),
        ({"message": "x" * 4001}, "message"),
    ]:
        refused = send_request(client, cid, **fields)
        assert refused.status_code == 400, (fields, refused.text)
        assert f'id="{field}-error"' in refused.text, (fields, errors_of(refused.text))
    assert store.interviews(user.id) == []

    page = client.get(f"/candidates/{cid}")
    empty = client.post(f"/candidates/{cid}/messages", data={"csrf": csrf_of(page.text), "body": "  "})
    assert empty.status_code == 400 and 'id="body-error"' in empty.text and store.messages(user.id, cid) == []
    edit = client.post(f"/candidates/{cid}/edit", data={"csrf": csrf_of(page.text)} | good | {"email": "nope"})
    assert edit.status_code == 400 and 'id="email-error"' in edit.text and 'value="nope"' in edit.text
    saved = client.post(f"/candidates/{cid}/edit", data={"csrf": csrf_of(page.text)} | good | {"role": "Lead engineer"})
    assert saved.status_code == 200 and "The candidate&#39;s details were saved." in saved.text
    assert store.candidate(user.id, cid).role == "Lead engineer"  # type: ignore[union-attr]
    gone = client.post(f"/candidates/{cid}/delete", data={"csrf": csrf_of(page.text)})
    assert gone.url.path == "/candidates" and "The candidate was deleted" in gone.text and store.candidates(user.id) == []
    assert client.get(f"/candidates/{cid}").status_code == 404


def test_an_unknown_link_is_a_404_page_without_the_app(client: TestClient) -> None:
    for path in ("/i/not-a-token", "/i/" + "x" * 300):
        page = client.get(path)
        assert page.status_code == 404 and "This link is not valid" in page.text and "Sign in" not in page.text
    csrf = csrf_of(client.get("/signin").text)
    for what in ("confirm", "decline", "reschedule", "cancel", "messages"):
        response = client.post(f"/i/not-a-token/{what}", data={"csrf": csrf, "reason": "r", "body": "b"})
        assert response.status_code == 404 and "This link is not valid" in response.text
    assert client.post("/i/not-a-token/confirm", data={}).status_code == 403  # no CSRF token: refused first


def test_ids_past_the_database_range_are_404(client: TestClient) -> None:
    signup(client, "rita@example.com")
    _, token = create_token(client, "t")
    huge = 2**63
    assert client.get(f"/candidates/{huge}").status_code == 404
    assert client.get(f"/api/v1/candidates/{huge}", headers=bearer(token)).json() == {"detail": NO_CANDIDATE}
    assert client.get(f"/api/v1/interviews/{huge}", headers=bearer(token)).json() == {"detail": NO_INTERVIEW}
    csrf = csrf_of(client.get("/candidates").text)
    assert client.post(f"/interviews/{huge}/progress", data={"csrf": csrf, "action": "hire"}).status_code == 404


# the API ----------------------------------------------------------------------------------------
def test_api_candidates_interviews_actions_messages_outbox(client: TestClient) -> None:
    signup(client, "rita@example.com")
    _, token = create_token(client, "ats")
    auth = bearer(token)
    created = client.post(
        "/api/v1/candidates", json={"name": "Dana", "email": "Dana@Example.com", "client": "Acme", "role": "Engineer"}, headers=auth
    )
    assert created.status_code == 201, created.text
    dana = created.json()
    assert dana["email"] == "dana@example.com" and dana["status"] is None
    cid = dana["id"]
    assert client.get("/api/v1/candidates", headers=auth).json() == [dana]

    bad = client.post("/api/v1/candidates", json={"name": "X", "email": "nope", "client": "A", "role": "R"}, headers=auth)
    assert bad.status_code == 422 and isinstance(bad.json()["detail"], str) and "nope" in bad.json()["detail"]
    patched = client.patch(f"/api/v1/candidates/{cid}", json={"role": "Lead engineer"}, headers=auth)
    assert patched.status_code == 200 and patched.json()["role"] == "Lead engineer" and patched.json()["client"] == "Acme"
    assert client.patch(f"/api/v1/candidates/{cid}", json={"email": "x"}, headers=auth).status_code == 422

    no_url = client.post(f"/api/v1/candidates/{cid}/interviews", json={"link_kind": "link"}, headers=auth)
    assert no_url.status_code == 422 and isinstance(no_url.json()["detail"], str)
    sent = client.post(f"/api/v1/candidates/{cid}/interviews", json={"url": CALENDLY, "message": "Hi"}, headers=auth)
    assert sent.status_code == 201, sent.text
    request = sent.json()
    iid = request["id"]
    assert request["state"] == "requested" and request["recruiter_status"] == "Awaiting Response"
    assert request["candidate_status"] == "Schedule your interview" and request["link"].startswith("http://testserver/i/")
    assert request["round"] == 1 and request["title"] == "Interview 1" and request["transitions"] == []
    again = client.post(f"/api/v1/candidates/{cid}/interviews", json={"url": CALENDLY}, headers=auth)
    assert again.status_code == 409 and "already has an open request" in again.json()["detail"]

    hire = client.post(f"/api/v1/interviews/{iid}/actions", json={"action": "hire"}, headers=auth)
    assert hire.status_code == 409 and hire.json() == {"detail": "Cannot hire the candidate: the interview is waiting for the candidate"}
    unknown = client.post(f"/api/v1/interviews/{iid}/actions", json={"action": "teleport"}, headers=auth)
    assert unknown.status_code == 422 and "action must be one of" in unknown.json()["detail"]
    assert client.post(f"/api/v1/interviews/{iid}/actions", json={"action": "advance"}, headers=auth).status_code == 422
    offline = client.post(f"/api/v1/interviews/{iid}/actions", json={"action": "schedule_offline"}, headers=auth)
    assert offline.status_code == 200, offline.text
    moved = offline.json()
    assert moved["state"] == "scheduled" and moved["how"] == "offline" and moved["recruiter_status"] == "Scheduled offline"
    (transition,) = moved["transitions"]
    assert transition["actor"] == "recruiter" and transition["before"] == "requested" and transition["after"] == "scheduled"
    assert OFFLINE_NOTE in transition["note"]
    assert client.get(f"/api/v1/interviews/{iid}", headers=auth).json() == moved
    assert client.get(f"/api/v1/candidates/{cid}", headers=auth).json()["interviews"][0]["state"] == "scheduled"
    assert client.get(f"/api/v1/candidates/{cid}", headers=auth).json()["status"] == "Scheduled offline"

    advanced = client.post(
        f"/api/v1/interviews/{iid}/actions",
        json={"action": "advance", "next": {"link_kind": "booking_page", "duration_minutes": 30}},
        headers=auth,
    )
    assert advanced.status_code == 200, advanced.text
    nxt = advanced.json()
    assert nxt["round"] == 2 and nxt["link_kind"] == "booking_page" and nxt["state"] == "requested" and nxt["id"] != iid
    assert [r["id"] for r in client.get("/api/v1/interviews?state=advanced", headers=auth).json()] == [iid]
    assert [r["id"] for r in client.get("/api/v1/interviews", headers=auth).json()] == [iid, nxt["id"]]
    wrong_state = client.get("/api/v1/interviews?state=sleeping", headers=auth)
    assert wrong_state.status_code == 422 and "state must be one of" in wrong_state.json()["detail"]

    written = client.post(f"/api/v1/candidates/{cid}/messages", json={"body": "See you soon"}, headers=auth)
    assert written.status_code == 201 and written.json()["author"] == "recruiter"
    assert client.post(f"/api/v1/candidates/{cid}/messages", json={"body": " "}, headers=auth).status_code == 422
    thread = client.get(f"/api/v1/candidates/{cid}/messages", headers=auth).json()
    assert thread[-1]["body"] == "See you soon" and {m["author"] for m in thread} == {"system", "recruiter"}

    mails = client.get("/api/v1/outbox", headers=auth).json()
    assert mails and all(m["state"] == "held" for m in mails) and mails[0]["id"] > mails[-1]["id"]  # newest first
    assert any(m["subject"] == "Interview request: Lead engineer at Acme" for m in mails)

    assert client.delete(f"/api/v1/candidates/{cid}", headers=auth).status_code == 204
    for method, path in [("GET", f"/api/v1/candidates/{cid}"), ("GET", f"/api/v1/interviews/{iid}"), ("DELETE", f"/api/v1/candidates/{cid}")]:
        gone = client.request(method, path, headers=auth)
        assert gone.status_code == 404 and gone.json()["detail"] in (NO_CANDIDATE, NO_INTERVIEW)
    assert client.get("/api/v1/candidates", headers={"Authorization": "Bearer nope"}).status_code == 401


# tenant isolation -------------------------------------------------------------------------------
def test_another_account_gets_404_for_every_candidate_and_interview(clients: Clients, store: SqlStore) -> None:
    owner, cid, iid, link = recruiter_with_candidate(clients)
    intruder = clients.new()
    signup(intruder, "max@example.com")
    _, intruder_token = create_token(intruder, "intruder")
    csrf = csrf_of(intruder.get("/candidates").text)
    ids: dict[str, int | str] = {"candidate_id": cid, "interview_id": iid, "token": "not-the-owners-token"}
    walked = 0
    for path, methods in endpoints(clients.app):
        if not any(f"{{{name}}}" in path for name in ids):
            continue
        url = fill(path, ids)
        for method in sorted(methods):
            if path.startswith("/api/"):
                body = {"json": {"name": "x", "body": "x", "action": "hire", "url": CALENDLY}} if method in ("POST", "PATCH") else {}
                response = intruder.request(method, url, headers=bearer(intruder_token), **body)  # type: ignore[arg-type]
                assert response.json()["detail"] in (NO_CANDIDATE, NO_INTERVIEW), url
            else:
                data = {"csrf": csrf, "action": "hire", "body": "x", "name": "x", "url": CALENDLY} if method == "POST" else None
                response = intruder.request(method, url, data=data)
            assert response.status_code == 404, f"{method} {url} answered {response.status_code}"
            walked += 1
    assert walked >= 18
    everything: dict[str, int | str] = {"token_id": 10**6, "calendar_name": "none", "sync_name": "none", "feed_token": "none", "connection_name": "none"}
    assert assert_foreign_ids_not_found(clients.app, intruder, everything | {"hook_id": 10**6} | ids, intruder_token) >= walked

    assert intruder.get("/api/v1/candidates", headers=bearer(intruder_token)).json() == []
    assert intruder.get("/api/v1/interviews", headers=bearer(intruder_token)).json() == []
    assert intruder.get("/api/v1/outbox", headers=bearer(intruder_token)).json() == []
    for page in ("/candidates", "/outbox"):
        assert "Dana" not in intruder.get(page).text
    user = store.user_by_email("rita@example.com")
    assert user is not None
    row = store.interview(user.id, iid)
    assert row is not None and row.state == "requested" and row.version == 1 and store.candidate(user.id, cid) is not None
    assert owner.get(link).status_code == 200  # the owner's link itself still works


def test_every_form_refuses_a_post_without_its_csrf_token(clients: Clients, store: SqlStore) -> None:
    owner, cid, iid, link = recruiter_with_candidate(clients)
    ids: dict[str, int | str] = {"candidate_id": cid, "interview_id": iid, "token": link.removeprefix("/i/")}
    mine = [p for p in post_routes(clients.app) if p.startswith(("/candidates", "/interviews", "/i/"))]
    assert len(mine) >= 11
    candidate = clients.new()
    for path in mine:
        for browser in (owner, candidate):
            data = {"action": "hire", "body": "x", "reason": "x", "name": "x", "url": CALENDLY}
            response = browser.post(fill(path, ids), data=data)
            assert response.status_code == 403 and "This form expired" in response.text, path
    user = store.user_by_email("rita@example.com")
    assert user is not None
    row = store.interview(user.id, iid)
    assert row is not None and row.version == 1 and len(store.messages(user.id, cid)) == 1  # "Interview request sent"
