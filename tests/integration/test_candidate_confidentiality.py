"""Candidate confidentiality: everything a candidate can see names only their own client and role.

One recruiter puts four candidates forward to three clients (two to the same client, for
different roles). One candidate then goes through every page and e-mail the app shows a
candidate: the private link page in each state (waiting, after a message, scheduled,
rescheduling, cancelled), the decline form refused, the booking page of a later request, the
invitation, reminder, scheduled, reschedule and message e-mails, and the pages for a wrong link.
No response body or header, and no e-mail to them, holds another candidate's name, e-mail or role,
or another client's name.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from webkit import (
    OWN_ORIGIN,
    Clients,
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

from mirrorcal.recruiting import Recruiting
from mirrorcal.store.sql import SqlStore

__all__ = ["app", "client", "clients", "db_url", "store"]  # fixtures, used by name

CANDIDATES = [
    ("Nina Novak", "nina@candidate.example", "Acme Robotics", "Platform Engineer"),  # the one who looks
    ("Pia Park", "pia@elsewhere.example", "Acme Robotics", "Sales Director"),  # same client, other role
    ("Gina Gomez", "gina@candidate.example", "Globex", "Data Scientist"),
    ("Omar Okafor", "omar@candidate.example", "Initech", "QA Lead"),
]


@pytest.fixture
def app(store: SqlStore, db_url: str) -> FastAPI:
    return make_app(store, db_url, public_url=OWN_ORIGIN)


def forbidden() -> list[str]:
    """What Nina must never see: every other candidate's name (and its parts), e-mail and role, and other clients."""
    words = []
    for name, email, client_name, role in CANDIDATES[1:]:
        words += [name, *name.split(), email, role]
        if client_name != CANDIDATES[0][2]:
            words.append(client_name)
    return words


def seen(response: httpx.Response) -> str:
    return response.text + "\n" + "\n".join(f"{k}: {v}" for k, v in response.headers.items())


def test_a_candidate_sees_only_their_own_client_and_role(clients: Clients, store: SqlStore) -> None:
    recruiter = clients.new()
    signup(recruiter, "rita@agency.example")
    _, raw = create_token(recruiter, "script")
    auth = bearer(raw)
    ids = []
    for name, email, client_name, role in CANDIDATES:
        made = recruiter.post("/api/v1/candidates", json={"name": name, "email": email, "client": client_name, "role": role}, headers=auth)
        assert made.status_code == 201, made.text
        ids.append(made.json()["id"])
    links = {}
    for cid in ids:  # every candidate has a request out, so every one of them is somewhere in the store
        sent = recruiter.post(
            f"/api/v1/candidates/{cid}/interviews",
            json={"link_kind": "link", "url": "https://calendly.com/rita/45", "message": "Book a time, please."},
            headers=auth,
        )
        assert sent.status_code == 201, sent.text
        links[cid] = (sent.json()["id"], sent.json()["link"].removeprefix("http://testserver"))
    recruiter.post(f"/api/v1/candidates/{ids[2]}/messages", json={"body": "Gina, Globex loved your portfolio."}, headers=auth)

    nina_id, (first_request, link) = ids[0], links[ids[0]]
    nina = clients.new()
    bodies: list[str] = []

    def look(response: httpx.Response, status: int = 200) -> httpx.Response:
        assert response.status_code == status, (response.request.url, response.status_code, response.text[:500])
        bodies.append(seen(response))
        return response

    page = look(nina.get(link))
    assert "Platform Engineer" in page.text and "Acme Robotics" in page.text
    look(nina.post(f"{link}/messages", data={"csrf": csrf_of(page.text), "body": "Is the interview remote?"}))
    look(nina.post(f"{link}/decline", data={"csrf": csrf_of(page.text), "reason": ""}), 400)
    recruiter.post(f"/api/v1/candidates/{nina_id}/messages", json={"body": "Yes, remote on video."}, headers=auth)
    look(nina.post(f"{link}/confirm", data={"csrf": csrf_of(page.text)}))
    moved = recruiter.post(f"/api/v1/interviews/{first_request}/actions", json={"action": "reschedule"}, headers=auth)
    assert moved.status_code == 200, moved.text
    page = look(nina.get(link))
    look(nina.post(f"{link}/cancel", data={"csrf": csrf_of(page.text)}))
    look(nina.get(link))

    later = recruiter.post(
        f"/api/v1/candidates/{nina_id}/interviews", json={"link_kind": "booking_page", "title": "Second chat"}, headers=auth
    )
    assert later.status_code == 201, later.text
    booking_link = later.json()["link"].removeprefix("http://testserver")
    look(nina.get(booking_link))
    token = booking_link.removeprefix("/i/")
    bodies.append(seen(nina.get(f"/b/{token}")))  # the booking page (no calendars yet: it says so)
    look(nina.get("/i/not-a-real-link"), 404)
    look(nina.get(link + "x"), 404)
    recruiting: Recruiting = clients.app.state.recruiting
    assert recruiting.sweep(now=datetime.now(UTC) + timedelta(days=4))["reminded"] >= 1  # the reminder e-mail

    owner = store.user_by_email("rita@agency.example")
    assert owner is not None
    mails = store.mails(owner.id, limit=1000)
    to_nina = [m for m in mails if m.to == CANDIDATES[0][1]]
    kinds = {m.kind for m in to_nina}
    assert {"invitation", "message", "scheduled", "reminder"} <= kinds, kinds
    assert any(m.to != CANDIDATES[0][1] for m in mails), "the other candidates were mailed too"
    texts = bodies + [f"{m.subject}\n{m.body}" for m in to_nina]
    for text in texts:
        for word in forbidden():
            assert word not in text, f"a candidate can see {word!r}:\n{text[:2000]}"
