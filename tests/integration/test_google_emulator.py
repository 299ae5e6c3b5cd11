"""Protocol facts of the Google Calendar emulator, checked with raw httpx over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from mirrorcal.testing.google import GoogleEmulator

BERLIN_9 = {"dateTime": "2026-03-02T09:00:00+01:00", "timeZone": "Europe/Berlin"}
BERLIN_930 = {"dateTime": "2026-03-02T09:30:00+01:00", "timeZone": "Europe/Berlin"}


def single(n: int, **fields: Any) -> dict[str, Any]:
    return {"summary": f"e{n}", "start": {"dateTime": f"2026-03-{n + 1:02d}T09:00:00Z", "timeZone": "UTC"},
            "end": {"dateTime": f"2026-03-{n + 1:02d}T10:00:00Z", "timeZone": "UTC"}, **fields}  # fmt: skip


def weekly(**fields: Any) -> dict[str, Any]:
    return {
        "summary": "Standup",
        "start": BERLIN_9,
        "end": BERLIN_930,
        "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=10"],
        **fields,
    }


@pytest.fixture
def emu() -> Iterator[GoogleEmulator]:
    with GoogleEmulator() as server:
        yield server


@pytest.fixture
async def api(emu: GoogleEmulator) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {emu.access_token}"}
    async with httpx.AsyncClient(base_url=emu.api_url, headers=headers, timeout=5.0) as client:
        yield client


EVENTS = "/calendars/primary/events"


def reason(response: httpx.Response) -> str:
    return str(response.json()["error"]["errors"][0]["reason"])


async def test_pages_may_be_short_and_only_the_last_carries_the_sync_token(
    emu: GoogleEmulator, api: httpx.AsyncClient
) -> None:
    for n in range(5):
        emu.user_insert("primary", single(n))
    emu.store.max_page_items = 2
    pages: list[dict[str, Any]] = []
    params = {"maxResults": "4"}
    while True:
        page = (await api.get(EVENTS, params=params)).json()
        pages.append(page)
        assert ("nextPageToken" in page) != ("nextSyncToken" in page)
        if "nextSyncToken" in page:
            break
        params = {"pageToken": page["nextPageToken"]}
    assert [len(p["items"]) for p in pages] == [2, 2, 1]
    assert sorted(i["summary"] for p in pages for i in p["items"]) == [f"e{n}" for n in range(5)]
    assert (await api.get(EVENTS, params={"maxResults": "2501"})).status_code == 400
    assert (await api.get(EVENTS, params={"pageToken": "bogus"})).status_code == 400


async def test_incremental_listing_returns_changes_and_cancellations(
    emu: GoogleEmulator, api: httpx.AsyncClient
) -> None:
    kept, gone = emu.user_insert("primary", single(1)), emu.user_insert("primary", single(2))
    series = emu.user_insert("primary", weekly())
    token = (await api.get(EVENTS)).json()["nextSyncToken"]
    emu.user_update("primary", kept["id"], {"summary": "changed"})
    emu.user_delete("primary", gone["id"])
    emu.user_delete("primary", f"{series['id']}_20260316T080000Z")
    page = (await api.get(EVENTS, params={"syncToken": token})).json()
    by_id = {i["id"]: i for i in page["items"]}
    assert set(by_id) == {kept["id"], gone["id"], f"{series['id']}_20260316T080000Z"}
    assert by_id[kept["id"]]["summary"] == "changed"
    assert by_id[gone["id"]]["status"] == "cancelled" and "summary" not in by_id[gone["id"]]
    instance = by_id[f"{series['id']}_20260316T080000Z"]
    assert instance["status"] == "cancelled" and instance["recurringEventId"] == series["id"]
    assert instance["originalStartTime"]["dateTime"].startswith("2026-03-16T09:00:00")
    again = (await api.get(EVENTS, params={"syncToken": page["nextSyncToken"]})).json()
    assert again["items"] == [] and again["nextSyncToken"]
    # A full listing hides the deleted event but keeps the cancelled instance (singleEvents=false).
    full = {i["id"] for i in (await api.get(EVENTS)).json()["items"]}
    assert gone["id"] not in full and instance["id"] in full


async def test_sync_token_rules(emu: GoogleEmulator, api: httpx.AsyncClient) -> None:
    token = (await api.get(EVENTS)).json()["nextSyncToken"]
    for forbidden in ("iCalUID", "timeMin", "q", "updatedMin", "privateExtendedProperty"):
        response = await api.get(EVENTS, params={"syncToken": token, forbidden: "x"})
        assert response.status_code == 400, forbidden
    emu.expire_sync_tokens()
    response = await api.get(EVENTS, params={"syncToken": token})
    assert response.status_code == 410
    error = response.json()["error"]
    assert error["code"] == 410 and error["message"]
    assert error["errors"][0]["domain"] == "calendar" and error["errors"][0]["reason"] == "fullSyncRequired"
    assert (await api.get(EVENTS, params={"syncToken": "garbage"})).status_code == 410


async def test_client_chosen_ids(emu: GoogleEmulator, api: httpx.AsyncClient) -> None:
    created = await api.post(EVENTS, json=single(1, id="abcdefghij0123456789"))
    assert created.status_code == 200 and created.json()["iCalUID"] == "abcdefghij0123456789@google.com"
    duplicate = await api.post(EVENTS, json=single(1, id="abcdefghij0123456789"))
    assert duplicate.status_code == 409 and reason(duplicate) == "duplicate"
    assert duplicate.json()["error"]["errors"][0]["domain"] == "global"
    for bad in ("ABCDEFG", "abcd", "wxyz012345", "abc_defgh"):
        assert (await api.post(EVENTS, json=single(1, id=bad))).status_code == 400, bad
    # A deleted id stays taken; a PUT revives it.
    assert (await api.delete(f"{EVENTS}/abcdefghij0123456789")).status_code == 204
    assert (await api.post(EVENTS, json=single(1, id="abcdefghij0123456789"))).status_code == 409
    assert (await api.get(f"{EVENTS}/abcdefghij0123456789")).json()["status"] == "cancelled"
    assert (await api.delete(f"{EVENTS}/abcdefghij0123456789")).status_code == 410
    revived = await api.put(f"{EVENTS}/abcdefghij0123456789", json=single(1, iCalUID="x@y"))
    assert revived.status_code == 200 and revived.json()["status"] == "confirmed"


async def test_if_match(api: httpx.AsyncClient) -> None:
    created = (await api.post(EVENTS, json=single(1, id="ifmatch01"))).json()
    url = f"{EVENTS}/ifmatch01"
    ok = await api.put(url, json=single(1, summary="v2"), headers={"If-Match": created["etag"]})
    assert ok.status_code == 200 and ok.json()["etag"] != created["etag"] and ok.json()["sequence"] == 1
    stale = await api.put(url, json=single(1, summary="v3"), headers={"If-Match": created["etag"]})
    assert stale.status_code == 412 and reason(stale) == "conditionNotMet"
    assert (await api.delete(url, headers={"If-Match": created["etag"]})).status_code == 412
    assert (await api.get(url)).json()["summary"] == "v2"


async def test_ical_uid_filter_returns_the_series(emu: GoogleEmulator, api: httpx.AsyncClient) -> None:
    series = emu.user_insert("primary", weekly(iCalUID="standup@client"))
    emu.user_insert("primary", single(1, iCalUID="other@client"))
    moved = emu.user_update("primary", f"{series['id']}_20260309T080000Z", {"summary": "moved"})
    assert moved["recurringEventId"] == series["id"] and moved["iCalUID"] == "standup@client"
    items = (await api.get(EVENTS, params={"iCalUID": "standup@client"})).json()["items"]
    assert {i["id"] for i in items} == {series["id"], moved["id"]}
    # An id that is no occurrence of the series is not an instance.
    assert (await api.put(f"{EVENTS}/{series['id']}_20260310T080000Z", json=single(1))).status_code == 404


async def test_validation(api: httpx.AsyncClient) -> None:
    async def status(body: dict[str, Any]) -> int:
        return (await api.post(EVENTS, json=body)).status_code

    assert await status(single(1, extendedProperties={"private": {"k" * 44: "v" * 1024}})) == 200
    assert await status(single(1, extendedProperties={"private": {"k" * 45: "v"}})) == 400
    assert await status(single(1, extendedProperties={"private": {"k": "v" * 1025}})) == 400
    assert await status(single(1, extendedProperties={"private": {"k": 1}})) == 400
    assert await status(single(1, end={"dateTime": "2026-03-02T08:00:00Z"})) == 400
    assert await status(single(1, end={"date": "2026-03-03"})) == 400
    assert await status({"summary": "no times"}) == 400
    assert (
        await status(weekly(start={"dateTime": "2026-03-02T09:00:00+01:00"})) == 400
    )  # recurring needs a zone
    assert await status(single(1, recurrence=["FREQ=DAILY"])) == 400


async def test_send_updates_is_recorded(emu: GoogleEmulator, api: httpx.AsyncClient) -> None:
    await api.post(EVENTS, json=single(1), params={"sendUpdates": "none"})
    assert emu.last_send_updates == "none"
    await api.post(EVENTS, json=single(2), params={"sendUpdates": "all"})
    assert emu.last_send_updates == "all" and emu.send_updates == {"none": 1, "all": 1}
    assert emu.requests["POST events"] == 2


async def test_bearer_auth(emu: GoogleEmulator, api: httpx.AsyncClient) -> None:
    async with httpx.AsyncClient(base_url=emu.api_url) as anonymous:
        assert (await anonymous.get(EVENTS)).status_code == 401
        assert (await anonymous.get(EVENTS, headers={"Authorization": "Bearer nope"})).status_code == 401
    assert (await api.get(EVENTS)).status_code == 200
    emu.oauth.expire_access_tokens()
    response = await api.get(EVENTS)
    assert response.status_code == 401 and "invalid_token" in response.headers["www-authenticate"]


async def test_oauth_refresh_at_googles_paths(emu: GoogleEmulator) -> None:
    refresh = emu.oauth.issue_refresh_token()
    async with httpx.AsyncClient(base_url=emu.base_url) as client:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh,
            "client_id": "mirrorcal-test",
            "client_secret": "mirrorcal-test-secret",
        }
        token = (await client.post("/token", data=form)).json()["access_token"]
        assert (
            await client.get(f"/calendar/v3{EVENTS}", headers={"Authorization": f"Bearer {token}"})
        ).status_code == 200
        assert (await client.post("/revoke", data={"token": refresh})).status_code == 200
        assert (await client.post("/token", data=form)).json()["error"] == "invalid_grant"


async def test_calendar_list_pages(emu: GoogleEmulator, api: httpx.AsyncClient) -> None:
    for n in range(3):
        emu.add_calendar(f"client{n}@group.calendar.google.com", f"Client {n}")
    first = (await api.get("/users/me/calendarList", params={"maxResults": "2"})).json()
    second = (
        await api.get(
            "/users/me/calendarList", params={"maxResults": "2", "pageToken": first["nextPageToken"]}
        )
    ).json()
    entries = first["items"] + second["items"]
    assert len(entries) == 4 and "nextSyncToken" in second
    [primary] = [e for e in entries if e.get("primary")]
    assert primary["id"] == "recruiter@example.test" and primary["accessRole"] == "owner"


async def test_free_busy_expands_series(emu: GoogleEmulator, api: httpx.AsyncClient) -> None:
    series = emu.user_insert("primary", weekly(recurrence=["RRULE:FREQ=WEEKLY;COUNT=3"]))
    emu.user_update("primary", f"{series['id']}_20260309T080000Z",
                    {"start": {"dateTime": "2026-03-09T14:00:00Z"}, "end": {"dateTime": "2026-03-09T15:00:00Z"}})  # fmt: skip
    emu.user_delete("primary", f"{series['id']}_20260316T080000Z")
    emu.user_insert("primary", single(20, transparency="transparent"))
    gone = emu.user_insert("primary", single(21))
    emu.user_delete("primary", gone["id"])
    body = {
        "timeMin": "2026-03-01T00:00:00Z",
        "timeMax": "2026-04-01T00:00:00Z",
        "items": [{"id": "primary"}, {"id": "nope"}],
    }
    answer = (await api.post("/freeBusy", json=body)).json()
    assert answer["calendars"]["primary"]["busy"] == [
        {"start": "2026-03-02T08:00:00Z", "end": "2026-03-02T08:30:00Z"},
        {"start": "2026-03-09T14:00:00Z", "end": "2026-03-09T15:00:00Z"},
    ]
    assert answer["calendars"]["nope"]["errors"][0]["reason"] == "notFound"


# --------------------------------------------------------------------------- faults


async def test_faults(emu: GoogleEmulator, api: httpx.AsyncClient) -> None:
    emu.faults.retry_after = 3
    emu.faults.fail_next(2, "429")
    first, second = await api.get(EVENTS), await api.get(EVENTS)
    assert first.status_code == 429 and first.headers["retry-after"] == "3"
    assert second.status_code == 403 and reason(second) == "rateLimitExceeded"
    emu.faults.fail_next(1, "500")
    failed = await api.get(EVENTS)
    assert failed.status_code == 500 and reason(failed) == "backendError"
    # 412 is only injected into conditional requests: this one passes, the next conditional one fails.
    emu.faults.fail_next(1, "412")
    created = (await api.post(EVENTS, json=single(1, id="fault0001"))).json()
    conflict = await api.put(f"{EVENTS}/fault0001", json=single(1), headers={"If-Match": created["etag"]})
    assert (
        conflict.status_code == 412
        and (await api.get(f"{EVENTS}/fault0001")).json()["etag"] != created["etag"]
    )
    assert emu.faults.injected == {"429": 2, "500": 1, "412": 1}


async def test_a_timeout_fault_applies_the_request_then_hangs(emu: GoogleEmulator) -> None:
    emu.faults.hang_seconds = 0.5
    emu.faults.fail_next(1, "timeout")
    headers = {"Authorization": f"Bearer {emu.access_token}"}
    async with httpx.AsyncClient(base_url=emu.api_url, headers=headers, timeout=0.2) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post(EVENTS, json=single(1, id="hung00001"))
    assert [e["id"] for e in emu.events()] == ["hung00001"]


# --------------------------------------------------------------------------- push


class Receiver:
    """A small push receiver on 127.0.0.1 recording the headers of every POST."""

    def __init__(self) -> None:
        self.received: list[dict[str, str]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                received.append({k.lower(): v for k, v in self.headers.items()})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


async def test_watch_notifies_sync_then_exists_until_stopped(
    emu: GoogleEmulator, api: httpx.AsyncClient
) -> None:
    with Receiver() as receiver:
        expiration = int((time.time() + 3600) * 1000)
        body = {
            "id": "chan-1",
            "type": "web_hook",
            "address": receiver.url,
            "token": "secret-token",
            "expiration": expiration,
        }
        channel = (await api.post(f"{EVENTS}/watch", json=body)).json()
        assert channel["kind"] == "api#channel" and channel["id"] == "chan-1" and channel["resourceId"]
        assert int(channel["expiration"]) == expiration and channel["token"] == "secret-token"
        assert (await api.post(f"{EVENTS}/watch", json=body)).status_code == 400  # channel ids are unique
        emu.user_insert("primary", single(1))
        await api.post(EVENTS, json=single(2))
        assert await asyncio.to_thread(emu.push.wait_idle, 5)
        assert [r["x-goog-resource-state"] for r in receiver.received] == ["sync", "exists", "exists"]
        assert [r["x-goog-message-number"] for r in receiver.received] == ["1", "2", "3"]
        last = receiver.received[-1]
        assert last["x-goog-channel-id"] == "chan-1" and last["x-goog-channel-token"] == "secret-token"
        assert (
            last["x-goog-resource-id"] == channel["resourceId"]
            and last["x-goog-resource-uri"] == channel["resourceUri"]
        )
        assert "x-goog-channel-expiration" in last
        stop = await api.post("/channels/stop", json={"id": "chan-1", "resourceId": channel["resourceId"]})
        assert stop.status_code == 204
        emu.user_insert("primary", single(3))
        assert await asyncio.to_thread(emu.push.wait_idle, 5)
        assert len(receiver.received) == 3
        assert (
            await api.post("/channels/stop", json={"id": "chan-1", "resourceId": channel["resourceId"]})
        ).status_code == 404


async def test_channels_expire(emu: GoogleEmulator, api: httpx.AsyncClient) -> None:
    emu.max_channel_seconds = 0.3
    with Receiver() as receiver:
        body = {
            "id": "chan-2",
            "type": "web_hook",
            "address": receiver.url,
            "expiration": int((time.time() + 3600) * 1000),
        }
        channel = (await api.post(f"{EVENTS}/watch", json=body)).json()
        assert int(channel["expiration"]) <= (time.time() + 0.5) * 1000  # capped at the maximum lifetime
        await asyncio.sleep(0.4)
        emu.user_insert("primary", single(1))
        assert await asyncio.to_thread(emu.push.wait_idle, 5)
        assert [r["x-goog-resource-state"] for r in receiver.received] == ["sync"]
