"""The busy-only ICS feed over a real SQLite file: the secret URL, its page and API, replacement, 304, isolation."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

import icalendar
import pytest
from webkit import (
    Clients,
    TestClient,
    app,
    bearer,
    client,
    clients,
    create_token,
    csrf_of,
    db_url,
    signup,
    store,
)

from mirrorcal import workspace as ws
from mirrorcal.accounts import token_hash
from mirrorcal.busyfeed import PROPERTIES
from mirrorcal.store.base import CachedItem
from mirrorcal.store.sql import SqlStore

__all__ = ["app", "client", "clients", "db_url", "store"]  # fixtures, used by name

SECRET_TITLE = "Final round with Dana Whitfield (Acme)"
FMT = "%Y%m%dT%H%M%SZ"


def ics(uid: str, start: datetime, *extra: str) -> str:
    lines = [
        f"UID:{uid}", f"DTSTAMP:{start.strftime(FMT)}", f"DTSTART:{start.strftime(FMT)}",
        f"DTEND:{(start + timedelta(hours=1)).strftime(FMT)}", f"SUMMARY:{SECRET_TITLE}", "LOCATION:Acme HQ, room 4",
        "ATTENDEE;PARTSTAT=ACCEPTED:mailto:dana@acme.test", *extra,
    ]  # fmt: skip
    body = "".join(line + "\r\n" for line in lines)
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\n{body}END:VEVENT\r\nEND:VCALENDAR\r\n"


def give_calendar(store: SqlStore, email: str, *events: tuple[str, str]) -> None:
    """A unified calendar in the account's document, its items in the store's cache (as a sync leaves them)."""
    row = store.user_by_email(email)
    assert row is not None
    model = ws.load(store.workspace(row.id) or "")
    model.timezone = "UTC"
    model.calendars = [c for c in model.calendars if c.name != "personal"]
    model.calendars.append(ws.CalendarEntry("personal", "ics", url="http://127.0.0.1:9/p.ics", email=["me@example.test"]))
    store.save_workspace(row.id, ws.dump(model), datetime.now(UTC))
    items = [CachedItem(f"/p/{uid}.ics", None, uid, text, hashlib.sha256(text.encode()).hexdigest()) for uid, text in events]
    store.apply_listing(f"{ws.prefix(row.id)}personal", items, [], None, True)


def make_feed(browser: TestClient) -> tuple[str, str]:
    """Press "create" (or "replace") on the page: the URL shown once, and the page."""
    page = browser.get("/account/feed")
    made = browser.post("/account/feed", data={"csrf": csrf_of(page.text)})
    assert made.status_code == 201, made.text
    url = re.search(r'id="new-feed-url"[^>]*value="([^"]+)"', made.text)
    assert url and url.group(1).startswith("http://testserver/feeds/") and url.group(1).endswith(".ics")
    return url.group(1), made.text


def events_of(response_text: str) -> list[icalendar.cal.Component]:
    return list(icalendar.Calendar.from_ical(response_text).walk("VEVENT"))


@pytest.fixture
def tomorrow() -> datetime:
    return (datetime.now(UTC) + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)


def test_the_feed_serves_busy_blocks_only_and_304s(clients: Clients, store: SqlStore, tomorrow: datetime) -> None:
    owner, subscriber = clients.new(), clients.new()
    signup(owner, "ann@example.com")
    give_calendar(
        store, "ann@example.com",
        ("a@acme", ics("a@acme", tomorrow)),
        ("w@acme", ics("w@acme", tomorrow + timedelta(days=2), "RRULE:FREQ=DAILY;COUNT=3")),
        ("f@acme", ics("f@acme", tomorrow + timedelta(days=10), "TRANSP:TRANSPARENT")),
        ("d@acme", ics("d@acme", tomorrow + timedelta(days=11), "ATTENDEE;PARTSTAT=DECLINED:mailto:me@example.test")),
        ("old@acme", ics("old@acme", tomorrow - timedelta(days=30))),
    )  # fmt: skip
    off = owner.get("/account/feed")
    assert off.status_code == 200 and "The feed is off" in off.text and 'href="/account/feed" aria-current="page"' in off.text
    url, page = make_feed(owner)
    assert "The feed is on" in page and "4 busy blocks" in page

    feed = subscriber.get(url)  # no sign-in
    assert feed.status_code == 200 and feed.headers["content-type"] == "text/calendar; charset=utf-8"
    events = events_of(feed.text)
    assert len(events) == 4  # one event, a daily series of three; the free, declined and old ones left out
    assert all(set(event) == PROPERTIES for event in events)
    assert [e.decoded("DTSTART") for e in events] == [tomorrow + timedelta(days=d) for d in (0, 2, 3, 4)]
    for leak in ("Dana", "Acme", "acme.test", "room 4", "a@acme", "w@acme"):
        assert leak.lower() not in feed.text.lower()

    etag = feed.headers["etag"]
    again = subscriber.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert subscriber.get(url, headers={"If-None-Match": '"stale"'}).status_code == 200
    assert subscriber.head(url).status_code == 200

    give_calendar(store, "ann@example.com", ("a@acme", ics("a@acme", tomorrow + timedelta(hours=3))))
    changed = subscriber.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag and len(events_of(changed.text)) == 1


def test_replaced_and_turned_off_urls_404_and_accounts_do_not_mix(clients: Clients, store: SqlStore, tomorrow: datetime) -> None:
    owner, other, subscriber = clients.new(), clients.new(), clients.new()
    signup(owner, "bea@example.com")
    give_calendar(store, "bea@example.com", ("a@acme", ics("a@acme", tomorrow)))
    first, _ = make_feed(owner)
    second, page = make_feed(owner)
    assert second != first and "The old address no longer works." in page
    assert subscriber.get(first).status_code == 404
    assert len(events_of(subscriber.get(second).text)) == 1

    signup(other, "cy@example.com")
    others, _ = make_feed(other)
    assert events_of(subscriber.get(others).text) == []  # the second account's URL serves its own (empty) feed
    owners_hash = token_hash(second.rsplit("/", 1)[1].removesuffix(".ics"))
    assert subscriber.get(f"/feeds/{owners_hash}.ics").status_code == 404  # the stored hash is no key
    assert subscriber.get("/feeds/" + "x" * 300 + ".ics").status_code == 404

    page = owner.get("/account/feed")
    off = owner.post("/account/feed/delete", data={"csrf": csrf_of(page.text)})
    assert off.status_code == 200 and "The feed is off" in off.text and "no longer works" in off.text
    assert subscriber.get(second).status_code == 404
    assert len(events_of(subscriber.get(others).text)) == 0 and subscriber.get(others).status_code == 200
    assert owner.post("/account/feed", data={"csrf": "wrong"}).status_code == 403
    assert store.feed(store.user_by_email("bea@example.com").id) is None  # type: ignore[union-attr]


def test_the_api_creates_replaces_and_turns_off_the_feed(client: TestClient, store: SqlStore, tomorrow: datetime) -> None:
    signup(client, "dee@example.com")
    give_calendar(store, "dee@example.com", ("a@acme", ics("a@acme", tomorrow)))
    _, raw = create_token(client, "script")
    auth = bearer(raw)
    assert client.get("/api/v1/feed", headers=auth).json() == {"on": False, "created": None}
    made = client.post("/api/v1/feed", headers=auth)
    assert made.status_code == 201 and set(made.json()) == {"url", "created", "replaced"} and not made.json()["replaced"]
    url = made.json()["url"]
    assert len(events_of(client.get(url).text)) == 1
    status = client.get("/api/v1/feed", headers=auth).json()
    assert status["on"] is True and status["created"] == made.json()["created"] and url not in str(status)
    replaced = client.post("/api/v1/feed", headers=auth).json()
    assert replaced["replaced"] is True and client.get(url).status_code == 404 and client.get(replaced["url"]).status_code == 200
    assert client.delete("/api/v1/feed", headers=auth).status_code == 204
    assert client.get(replaced["url"]).status_code == 404
    gone = client.delete("/api/v1/feed", headers=auth)
    assert gone.status_code == 404 and gone.json() == {"detail": "The feed is already off."}
    assert client.get("/api/v1/feed").status_code == 401
    schema = client.get("/api/v1/openapi.json").json()
    assert set(schema["paths"]["/api/v1/feed"]) == {"get", "post", "delete"}
    assert not any(path.startswith(("/feeds", "/account")) for path in schema["paths"])
