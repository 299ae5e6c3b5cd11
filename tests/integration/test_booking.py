"""Our own booking page over a real Radicale account, real syncs and a real SQLite file.

The recruiter has a personal calendar and one client's calendar on Radicale, with a full-details
sync (client → personal) and a private one (personal → client), run for real by the engine so the
state store holds what the booking page reads. Candidates book through ``booking.Booker`` and
through the pages (``/b/{token}``); the event lands on the personal calendar with the candidate
as attendee, and two candidates racing for one slot never both get it.
"""

from __future__ import annotations

import asyncio
import re
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from webkit import TestClient, app, client, clients, csrf_of, db_url, endpoints, errors_of, signup, store

from mirrorcal import workspace as ws
from mirrorcal.booking import Booker, BookingSettings, SlotTaken, save_settings
from mirrorcal.bootstrap import Credentials, build_engine
from mirrorcal.interviews import Action, Actor, TransitionRefused
from mirrorcal.model import Event
from mirrorcal.providers.caldav import CalDAVCalendar
from mirrorcal.recruiting import Recruiting
from mirrorcal.store.base import CandidateRow, InterviewRow
from mirrorcal.store.sql import SqlStore
from mirrorcal.testing import RadicaleServer
from mirrorcal.web import booking_page, recruit
from mirrorcal.web.hooks import vault_for

__all__ = ["app", "client", "clients", "db_url", "store"]  # fixtures, used by name

BERLIN = ZoneInfo("Europe/Berlin")
EMAIL = "recruiter@example.com"
FMT = "%Y%m%dT%H%M%SZ"


def vevent(uid: str, summary: str, start: datetime, end: datetime) -> str:
    lines = [
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//t//EN", "BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20260101T000000Z",
        f"DTSTART:{start.astimezone(UTC).strftime(FMT)}", f"DTEND:{end.astimezone(UTC).strftime(FMT)}", f"SUMMARY:{summary}",
        "END:VEVENT", "END:VCALENDAR",
    ]  # fmt: skip
    return "\r\n".join(lines) + "\r\n"


@dataclass
class Request:
    row: InterviewRow
    token: str
    candidate: CandidateRow


class World:
    """A recruiter with two Radicale calendars and two syncs (set up through the pages), the
    booking settings of the tests (every day 09:00–17:00 Berlin, 15-minute grid, 15 minutes'
    buffer after, 12 hours' notice, 21 days, at most 4 a day), and a ``Booker``."""

    def __init__(self, client: TestClient, store: SqlStore, db_url: str, radicale: RadicaleServer) -> None:
        self.client, self.store, self.db_url = client, store, db_url
        self.dav_user = "bk" + uuid.uuid4().hex[:8]
        self.personal = radicale.make_calendar(self.dav_user, "p")
        self.client_a = radicale.make_calendar(self.dav_user, "a")
        signup(client, EMAIL)
        dav = {"kind": "caldav", "username": self.dav_user, "password": "dav-secret-Pw-123"}
        for name, url, label in (("personal", self.personal, "me"), ("client-a", self.client_a, "Acme")):
            page = client.get("/calendars/new?kind=caldav")
            response = client.post("/calendars/new", data={"csrf": csrf_of(page.text), "name": name, "url": url, "client": label, **dav})
            assert response.url.path == "/calendars", response.text
        for name, source, target, privacy in (("a-to-me", "client-a", "personal", "full"), ("me-to-a", "personal", "client-a", "private")):
            page = client.get("/syncs/new")
            data = {"csrf": csrf_of(page.text), "name": name, "source": source, "target": target, "privacy": privacy, "skip_free": "on", "skip_declined": "on"}
            assert client.post("/syncs/new", data=data).url.path == "/syncs"
        user = store.user_by_email(EMAIL)
        assert user is not None
        self.uid = user.id
        self.recruiting = Recruiting(store, lambda: vault_for(db_url), base_url="http://testserver", mail_enabled=False)
        self.pokes: list[int] = []
        self.booker = Booker(store, self.recruiting, database_url=db_url, poke=self.pokes.append)
        self.settings(BookingSettings(zone="Europe/Berlin", hours={d: (time(9), time(17)) for d in range(7)}))
        self.day = datetime.now(BERLIN).date() + timedelta(days=3)
        """The day most tests book on: well past the notice, inside the window."""

    def settings(self, settings: BookingSettings) -> None:
        save_settings(self.store, self.uid, settings, datetime.now(UTC))

    def at(self, hour: int, minute: int = 0, day: date | None = None) -> datetime:
        return datetime.combine(day or self.day, time(hour, minute), BERLIN).astimezone(UTC)

    def put(self, url: str, uid: str, summary: str, start: datetime, end: datetime) -> None:
        response = httpx.put(f"{url}{uid}.ics", content=vevent(uid, summary, start, end), headers={"Content-Type": "text/calendar"}, auth=(self.dav_user, "x"))
        response.raise_for_status()

    def sync(self) -> None:
        async def run() -> None:
            config = ws.runtime_config(self.store.workspace(self.uid) or "", self.uid, self.db_url)
            credentials = Credentials(config, self.store)
            engine = build_engine(config, self.store, credentials)
            try:
                reports = await engine.sync()
            finally:
                await engine.aclose()
                await credentials.aclose()
            assert all(r.ok for r in reports.values()), reports

        asyncio.run(run())

    def request(self, name: str, client: str = "Acme", role: str = "Platform engineer", minutes: int = 45) -> Request:
        email = f"{name.lower()}@candidates.example"
        candidate = self.recruiting.add_candidate(self.uid, name=name, email=email, client=client, role=role)
        row, token = self.recruiting.send_request(
            self.uid, candidate.id, link_kind="booking_page", message="Looking forward to it.", title=f"{name}'s interview", duration_minutes=minutes
        )
        return Request(row, token, candidate)

    def starts(self, request: Request) -> list[datetime]:
        return [s.start for s in self.booker.slots(self.fresh(request))]

    def fresh(self, request: Request) -> InterviewRow:
        row = self.store.interview(self.uid, request.row.id)
        assert row is not None
        return row

    def events(self, url: str) -> dict[str, Event]:
        """The calendar's events on Radicale itself, by UID."""

        async def listing() -> dict[str, Event]:
            async with httpx.AsyncClient(auth=(self.dav_user, "x")) as http:
                found = await CalDAVCalendar("check", url, http).list_changes(None)
            return {item.event.uid: item.event for item in found.items}

        return asyncio.run(listing())

    def bookings(self) -> dict[str, Event]:
        return {uid: e for uid, e in self.events(self.personal).items() if uid.startswith("mirrorcal-booking-")}


@pytest.fixture
def world(client: TestClient, store: SqlStore, db_url: str, radicale: RadicaleServer) -> World:
    made = World(client, store, db_url, radicale)
    made.put(made.client_a, "acme-call", "Acme standup", made.at(10), made.at(11))  # only the client's calendar
    made.put(made.personal, "dentist", "Dentist", made.at(14), made.at(14, 30))
    return made


def book(world: World, request: Request, start: datetime) -> InterviewRow:
    return asyncio.run(world.booker.book(world.fresh(request), request.candidate, start))


# slots ------------------------------------------------------------------------------------------
def test_no_slot_before_the_syncs_first_ran_then_the_unified_busy_time_and_rules(world: World) -> None:
    alice = world.request("Alice")
    before = world.booker.availability(world.fresh(alice))
    assert before.slots == [] and "not been read yet" in before.reason
    world.sync()
    starts = world.starts(alice)
    assert starts and all(s.minute % 15 == 0 for s in starts)
    local = [s.astimezone(BERLIN) for s in starts]
    assert all(time(9) <= t.time() and (t + timedelta(minutes=45)).time() <= time(17) for t in local)
    assert min(starts) >= datetime.now(UTC) + timedelta(hours=12)  # notice
    assert max(starts) <= datetime.now(UTC) + timedelta(days=21)  # rolling window
    assert world.at(9) in starts  # ends 09:45, its 15 minutes' buffer reaches the standup at 10:00
    for blocked in (world.at(9, 15), world.at(10), world.at(10, 45), world.at(13, 15), world.at(14, 15)):
        assert blocked not in starts, blocked  # the client's standup (synced only) and the dentist
    assert world.at(11) in starts and world.at(14, 30) in starts


# booking ----------------------------------------------------------------------------------------
def test_booking_writes_the_event_with_the_candidate_and_schedules_the_request(world: World) -> None:
    world.sync()
    alice = world.request("Alice")
    for refused in (world.at(10, 15), world.at(9, 7), world.at(9) - timedelta(days=3), world.at(16, 30)):
        with pytest.raises(SlotTaken):  # in the standup, off the grid, in the past, past closing
            book(world, alice, refused)
    assert world.bookings() == {}

    moved = book(world, alice, world.at(11))
    assert (moved.state, moved.how, moved.starts_at, moved.ends_at) == ("scheduled", "booking_page", world.at(11), world.at(11, 45))
    assert moved.booking_calendar == "personal" and moved.booking_uid.startswith("mirrorcal-booking-")
    [(uid, event)] = world.bookings().items()
    assert uid == moved.booking_uid
    c = event.master
    assert (c.start, c.end) == (world.at(11), world.at(11, 45))
    assert c.summary == "Interview: Alice (Platform engineer, Acme)"
    assert [(a.email, a.partstat) for a in c.attendees] == [("alice@candidates.example", "NEEDS-ACTION")]
    assert c.organizer == EMAIL and f"/i/{alice.token}" in c.description and "Looking forward to it." in c.description
    transitions = world.store.transitions(moved.id)
    assert [(t.action, t.actor, t.after) for t in transitions] == [("book", "candidate", "scheduled")]
    assert world.pokes == [world.uid]

    world.sync()  # the syncs carry it out to the client as Busy, naming nothing
    copies = [e.master for e in world.events(world.client_a).values() if e.master.start == world.at(11)]
    assert len(copies) == 1 and "Alice" not in copies[0].summary and not copies[0].attendees
    with pytest.raises(TransitionRefused, match="scheduled"):
        book(world, alice, world.at(15))  # booked already


def test_other_interviews_are_busy_at_once_and_count_toward_the_daily_limit(world: World) -> None:
    world.sync()
    alice, bob = world.request("Alice"), world.request("Bob", client="Globex")
    book(world, alice, world.at(11))
    starts = world.starts(bob)  # no sync in between: from the booked request itself
    for blocked in (world.at(10, 30), world.at(11), world.at(11, 30), world.at(11, 45)):
        assert blocked not in starts, blocked
    assert world.at(12) in starts  # 11:45 + 15 minutes' buffer

    world.settings(BookingSettings(zone="Europe/Berlin", hours={d: (time(9), time(17)) for d in range(7)}, daily_limit=1))
    assert not any(s.astimezone(BERLIN).date() == world.day for s in world.starts(bob))
    assert any(s.astimezone(BERLIN).date() == world.day + timedelta(days=1) for s in world.starts(bob))
    with pytest.raises(SlotTaken):
        book(world, bob, world.at(15))


def test_a_move_that_lands_first_undoes_the_booking_event(world: World) -> None:
    world.sync()
    alice = world.request("Alice")
    calls = []

    def clock() -> datetime:  # the recruiter schedules it offline while the event is being written
        calls.append(1)
        if len(calls) == 2:
            world.recruiting.act(world.uid, alice.row.id, Action.SCHEDULE_OFFLINE, Actor.RECRUITER)
        return datetime.now(UTC)

    racing = Booker(world.store, world.recruiting, database_url=world.db_url, clock=clock)
    with pytest.raises(TransitionRefused, match="scheduled"):
        asyncio.run(racing.book(world.fresh(alice), alice.candidate, world.at(11)))
    assert len(calls) == 2 and world.bookings() == {}
    assert (world.fresh(alice).state, world.fresh(alice).how) == ("scheduled", "offline")


def test_a_calendar_that_cannot_be_written_books_nothing(world: World, app: FastAPI, clients: Any) -> None:
    world.sync()
    wire(app, world)
    alice = world.request("Alice")
    model = ws.load(world.store.workspace(world.uid) or "")
    for entry in model.calendars:
        if entry.name == "personal":
            entry.url = "http://127.0.0.1:9/gone/"
    world.store.save_workspace(world.uid, ws.dump(model), datetime.now(UTC))
    browser = clients.new()
    page = browser.get(f"/b/{alice.token}", params={"tz": "UTC"})
    start = world.at(11).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert f'value="{start}"' in page.text  # the slots come from the cache
    answer = browser.post(f"/b/{alice.token}", data={"csrf": csrf_of(page.text), "start": start, "tz": "UTC"})
    assert answer.status_code == 503 and "could not be booked right now" in answer.text
    assert world.fresh(alice).state == "requested" and world.pokes == []


# racing -----------------------------------------------------------------------------------------
def test_two_candidates_racing_for_one_slot_exactly_one_wins(world: World) -> None:
    world.sync()
    alice, bob, carol, dave = (world.request(n) for n in ("Alice", "Bob", "Carol", "Dave"))

    async def race(*attempts: tuple[Request, datetime]) -> list[Any]:
        rows = [(world.fresh(r), r.candidate, start) for r, start in attempts]
        return await asyncio.gather(*(world.booker.book(row, c, start) for row, c, start in rows), return_exceptions=True)

    same = asyncio.run(race((alice, world.at(11)), (bob, world.at(11))))
    assert sorted(type(r).__name__ for r in same) == ["InterviewRow", "SlotTaken"], same
    overlapping = asyncio.run(race((carol, world.at(15)), (dave, world.at(15, 30))))
    assert sorted(type(r).__name__ for r in overlapping) == ["InterviewRow", "SlotTaken"], overlapping
    starts = sorted(e.master.start for e in world.bookings().values())
    assert len(starts) == 2 and starts[0] == world.at(11) and starts[1] in (world.at(15), world.at(15, 30))
    scheduled = [world.fresh(r) for r in (alice, bob, carol, dave) if world.fresh(r).state == "scheduled"]
    assert len(scheduled) == 2 and {r.booking_uid for r in scheduled} == set(world.bookings())


def test_one_request_booked_twice_at_once_books_once(world: World) -> None:
    world.sync()
    alice = world.request("Alice")

    async def twice() -> list[Any]:
        row = world.fresh(alice)
        attempts = (world.booker.book(row, alice.candidate, world.at(11)), world.booker.book(row, alice.candidate, world.at(15)))
        return list(await asyncio.gather(*attempts, return_exceptions=True))

    results = asyncio.run(twice())
    assert sorted(type(r).__name__ for r in results) == ["InterviewRow", "TransitionRefused"], results
    assert len(world.bookings()) == 1


def test_two_candidates_posting_the_same_slot_at_once_over_http(world: World, app: FastAPI) -> None:
    world.sync()
    wire(app, world)
    alice, bob = world.request("Alice"), world.request("Bob", client="Globex")
    start = world.at(11).strftime("%Y-%m-%dT%H:%M:%SZ")
    browsers = [(TestClient(app, follow_redirects=False), r) for r in (alice, bob)]
    forms = []
    for browser, r in browsers:
        page = browser.get(f"/b/{r.token}", params={"tz": "Europe/Berlin"})
        assert page.status_code == 200 and f'value="{start}"' in page.text
        forms.append({"csrf": csrf_of(page.text), "start": start, "tz": "Europe/Berlin"})
    gate = threading.Barrier(2)
    answers: dict[int, httpx.Response] = {}

    def post(i: int) -> None:
        browser, r = browsers[i]
        gate.wait()
        answers[i] = browser.post(f"/b/{r.token}", data=forms[i])

    threads = [threading.Thread(target=post, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    statuses = sorted(a.status_code for a in answers.values())
    assert statuses == [303, 409], [a.text[:300] for a in answers.values()]
    winner = next(i for i, a in answers.items() if a.status_code == 303)
    assert answers[winner].headers["location"] == f"/i/{browsers[winner][1].token}?done=booked&tz=Europe%2FBerlin"
    loser = answers[1 - winner]
    assert "That time was just taken" in loser.text and f'value="{start}"' not in loser.text and 'name="start"' in loser.text
    assert len(world.bookings()) == 1
    for browser, _ in browsers:
        browser.close()


# cancelling -------------------------------------------------------------------------------------
def test_cancel_and_reschedule_delete_the_event(world: World) -> None:
    world.sync()
    alice, bob = world.request("Alice"), world.request("Bob")
    book(world, alice, world.at(11))
    cancelled = asyncio.run(world.booker.cancel(world.fresh(alice), actor=Actor.CANDIDATE, reschedule=False))
    assert cancelled.state == "cancelled" and world.bookings() == {}
    with pytest.raises(TransitionRefused):
        asyncio.run(world.booker.cancel(world.fresh(alice), actor=Actor.CANDIDATE, reschedule=True))

    first = book(world, bob, world.at(11))
    world.sync()  # the cache now holds the booking (and the client its Busy copy)
    moved = asyncio.run(world.booker.cancel(world.fresh(bob), actor=Actor.RECRUITER, reschedule=True))
    assert moved.state == "rescheduling" and world.bookings() == {}
    assert world.at(11) in world.starts(bob)  # its own earlier booking is not busy for itself
    again = book(world, bob, world.at(12))
    assert again.state == "scheduled" and again.booking_uid != first.booking_uid
    assert set(world.bookings()) == {again.booking_uid}


@pytest.mark.parametrize(("action", "actor", "reason"), [(Action.DECLINE, Actor.CANDIDATE, "Took another offer"), (Action.REJECT, Actor.RECRUITER, "")])
def test_declining_or_rejecting_a_booked_interview_frees_its_time(world: World, action: Action, actor: Actor, reason: str) -> None:
    world.sync()
    alice = world.request("Alice")
    book(world, alice, world.at(11))
    closed = asyncio.run(world.booker.close(world.fresh(alice), action, actor, reason=reason))
    assert closed.state in ("declined", "rejected") and world.bookings() == {}


def test_hiring_keeps_the_interview_on_the_calendar(world: World) -> None:
    world.sync()
    alice = world.request("Alice")
    booked = book(world, alice, world.at(11))
    asyncio.run(world.booker.close(world.fresh(alice), Action.HIRE, Actor.RECRUITER))
    assert set(world.bookings()) == {booked.booking_uid}


# the pages --------------------------------------------------------------------------------------
def wire(app: FastAPI, world: World) -> None:
    """The app's wiring (``web.recruit.wire``) with this world's ``Booker``, whose pokes the tests see."""
    if ("/b/{token}", {"GET"}) not in endpoints(app):
        app.include_router(booking_page.router)
    app.state.recruiting = world.recruiting
    app.state.booker = world.booker


def test_the_candidates_page_shows_slots_in_their_zone_and_books(world: World, app: FastAPI, clients: Any) -> None:
    world.sync()
    wire(app, world)
    alice = world.request("Alice")
    world.request("Bob", client="Globex", role="Data lead")  # another client's candidate: never on her page
    browser = clients.new()
    plain = browser.get(f"/b/{alice.token}")
    assert plain.status_code == 200 and 'data-current="Europe/Berlin"' in plain.text and "data-chosen" not in plain.text
    assert '<script src="/static/booking.js" defer></script>' in plain.text
    page = browser.get(f"/b/{alice.token}", params={"tz": "America/New_York"})
    assert page.status_code == 200
    text = page.text
    assert "Alice&#39;s interview" in text and "Acme" in text and "Platform engineer" in text and "45 minutes" in text
    assert "Globex" not in text and "Bob" not in text and "<nav" not in text and EMAIL not in text
    nine = world.at(11)
    ny = nine.astimezone(ZoneInfo("America/New_York"))
    assert f'value="{nine.strftime("%Y-%m-%dT%H:%M:%SZ")}"' in text and f">{ny:%H:%M}</button>" in text
    assert 'data-chosen="yes"' in text

    bad_zone = browser.get(f"/b/{alice.token}", params={"tz": "Mars/Base"})
    assert bad_zone.status_code == 400 and "&#39;Mars/Base&#39; is not a time zone" in bad_zone.text and 'data-current="Europe/Berlin"' in bad_zone.text
    unknown = browser.get("/b/not-a-real-token")
    assert unknown.status_code == 404 and "This link is not valid" in unknown.text

    csrf = csrf_of(text)
    for absurd in ("tomorrow", "0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00-01:00"):  # the last two: no UTC time
        nonsense = browser.post(f"/b/{alice.token}", data={"csrf": csrf, "start": absurd, "tz": "UTC"})
        assert nonsense.status_code == 400 and "Pick one of the times" in nonsense.text
    taken = browser.post(f"/b/{alice.token}", data={"csrf": csrf, "start": world.at(10).isoformat(), "tz": "UTC"})
    assert taken.status_code == 409 and "That time was just taken" in taken.text and 'name="start"' in taken.text
    no_csrf = browser.post(f"/b/{alice.token}", data={"start": nine.isoformat()})
    assert no_csrf.status_code == 403 and world.fresh(alice).state == "requested"

    done = browser.post(f"/b/{alice.token}", data={"csrf": csrf, "start": nine.isoformat(), "tz": "UTC"}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/i/{alice.token}?done=booked&tz=UTC"
    assert world.fresh(alice).state == "scheduled"
    closed = browser.post(f"/b/{alice.token}", data={"csrf": csrf, "start": world.at(15).isoformat(), "tz": "UTC"})
    assert closed.status_code == 409 and "scheduled" in closed.text and 'name="start"' not in closed.text
    shown = browser.get(f"/b/{alice.token}", params={"tz": "Europe/Berlin"})
    assert shown.status_code == 200 and "11:00 to 11:45 (Europe/Berlin)" in shown.text

    erin = world.recruiting.add_candidate(world.uid, name="Erin", email="erin@candidates.example", client="Acme", role="QA")
    _, link_token = world.recruiting.send_request(world.uid, erin.id, link_kind="link", url="https://calendly.example/r")
    elsewhere = browser.get(f"/b/{link_token}")
    assert elsewhere.status_code == 200 and "its own scheduling link" in elsewhere.text and 'name="start"' not in elsewhere.text
    refused = browser.post(f"/b/{link_token}", data={"csrf": csrf, "start": world.at(15).isoformat(), "tz": "UTC"})
    assert refused.status_code == 409 and "its own scheduling link" in refused.text and world.bookings().keys() == {world.fresh(alice).booking_uid}

    script = browser.get("/static/booking.js")
    assert script.status_code == 200 and "Intl.DateTimeFormat().resolvedOptions().timeZone" in script.text


def test_the_recruiters_settings_page(world: World, app: FastAPI) -> None:
    world.sync()
    wire(app, world)
    page = world.client.get("/account/booking")
    assert page.status_code == 200 and '<option value="personal"' in page.text and '<option value="client-a"' in page.text
    assert "(now: personal)" in page.text and page.text.count('class="bk-preview-slot"') == 12
    form = {"csrf": csrf_of(page.text), "calendar": "nowhere", "zone": "Mars/Base", "step_minutes": "0", "buffer_before_minutes": "0",
            "buffer_after_minutes": "15", "notice_hours": "12", "window_days": "21", "daily_limit": "", "day0": "on", "opens0": "17:00", "closes0": "09:00"}  # fmt: skip
    bad = world.client.post("/account/booking", data=form)
    assert bad.status_code == 400
    assert len(errors_of(bad.text)) == 4 and "There are 4 problems" in bad.text and "On Mondays the day must close after it opens" in bad.text
    assert 'value="17:00"' in bad.text  # what was typed is kept

    good = form | {"calendar": "personal", "zone": "Asia/Tokyo", "step_minutes": "30", "opens0": "09:00", "closes0": "12:00"}
    saved = world.client.post("/account/booking", data=good)
    assert saved.status_code == 200 and "were saved" in saved.text and errors_of(saved.text) == []
    settings = world.booker.preview(world.uid).settings
    assert settings is not None and (settings.calendar, settings.zone, settings.daily_limit) == ("personal", "Asia/Tokyo", None)
    assert settings.hours == {0: (time(9), time(12))}
    assert all(re.fullmatch(r"(09|10|11):(00|30)–\d\d:\d\d", s) for s in re.findall(r'class="bk-preview-slot">([^<]+)<', saved.text))

    signed_out = TestClient(app, follow_redirects=False)
    assert signed_out.get("/account/booking").status_code == 303
    signed_out.close()


def test_the_worker_expands_the_busy_time_before_a_candidate_comes(world: World, app: FastAPI) -> None:
    """After an account's syncs ran, the app's ``after_run`` expands its booking page's busy time
    when a booking-page request is out, so the first candidate does not wait for it."""
    world.sync()
    wire(app, world)
    config = ws.runtime_config(world.store.workspace(world.uid) or "", world.uid, world.db_url)
    after_run = recruit.notice_after_run(app)
    after_run(world.uid, config)
    assert world.booker.expanded(world.uid) == 0  # nothing to book on: nothing done
    alice = world.request("Alice")
    after_run(world.uid, config)
    assert world.booker.expanded(world.uid) >= 2  # the standup and the dentist (and the standup's copy)
    assert world.at(10) not in world.starts(alice)
