"""Protocol facts of the Graph emulator, checked with raw httpx: what the adapter must cope with."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from graph_receiver import Receiver

from mirrorcal.testing.graph import GraphEmulator

WINDOW = {"startDateTime": "2026-01-01T00:00:00Z", "endDateTime": "2027-01-01T00:00:00Z"}


def body(
    subject: str, day: int = 10, hour: int = 9, zone: str = "W. Europe Standard Time", **extra: Any
) -> dict[str, Any]:
    return {
        "subject": subject,
        "start": {"dateTime": f"2026-03-{day:02d}T{hour:02d}:00:00.0000000", "timeZone": zone},
        "end": {"dateTime": f"2026-03-{day:02d}T{hour + 1:02d}:00:00.0000000", "timeZone": zone},
        **extra,
    }


WEEKLY = {
    "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"], "firstDayOfWeek": "sunday"},
    "range": {"type": "numbered", "startDate": "2026-03-02", "numberOfOccurrences": 4},
}


@pytest.fixture
def emu() -> Iterator[GraphEmulator]:
    with GraphEmulator() as emulator:
        yield emulator


@pytest.fixture
async def api(emu: GraphEmulator) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {emu.access_token}", "Prefer": 'IdType="ImmutableId"'}
    async with httpx.AsyncClient(base_url=f"{emu.base_url}/v1.0/", headers=headers, timeout=10) as client:
        yield client


async def delta_round(
    api: httpx.AsyncClient, url: str, params: dict[str, str] | None = None, size: int = 100
) -> tuple[list[dict[str, Any]], str, int]:
    """All entries of one delta round, the deltaLink and how many pages it took."""
    entries: list[dict[str, Any]] = []
    pages = 0
    while True:
        r = await api.get(url, params=params, headers={"Prefer": f"odata.maxpagesize={size}"})
        assert r.status_code == 200, r.text
        page = r.json()
        pages += 1
        entries += page["value"]
        assert len(page["value"]) <= size
        if "@odata.deltaLink" in page:
            assert "@odata.nextLink" not in page
            return entries, page["@odata.deltaLink"], pages
        url, params = page["@odata.nextLink"], None


async def test_bearer_required(emu: GraphEmulator) -> None:
    async with httpx.AsyncClient() as client:
        r = await client.get(f"{emu.base_url}/v1.0/me/calendars")
        assert r.status_code == 401 and r.json()["error"]["code"] == "InvalidAuthenticationToken"
        emu.oauth.expire_access_tokens()
        r = await client.get(
            f"{emu.base_url}/v1.0/me/calendars", headers={"Authorization": f"Bearer {emu.access_token}"}
        )
        assert r.status_code == 401


async def test_calendars_page(emu: GraphEmulator, api: httpx.AsyncClient) -> None:
    for n in range(11):
        emu.add_calendar(f"Client {n}")
    first = (await api.get("me/calendars")).json()
    assert len(first["value"]) == 10 and first["value"][0]["isDefaultCalendar"] is True
    second = (await api.get(first["@odata.nextLink"])).json()
    assert [c["name"] for c in second["value"]] == [
        "Client 9",
        "Client 10",
    ] and "@odata.nextLink" not in second
    assert set(first["value"][1]) >= {"id", "name", "isDefaultCalendar", "canEdit"}


async def test_delta_pages_honour_maxpagesize(emu: GraphEmulator, api: httpx.AsyncClient) -> None:
    cid = emu.add_calendar("Work")
    ids = [emu.user_create(cid, body(f"e{n}", day=n + 2)) for n in range(5)]
    emu.user_create(
        cid,
        body("outside", day=10)
        | {
            "start": {"dateTime": "2025-01-01T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2025-01-01T10:00:00", "timeZone": "UTC"},
        },
    )
    entries, link, pages = await delta_round(api, f"me/calendars/{cid}/calendarView/delta", WINDOW, size=2)
    assert pages == 3 and sorted(e["id"] for e in entries) == sorted(ids)
    again, _, _ = await delta_round(api, link)
    assert again == []
    r = await api.get(f"{link}&startDateTime={WINDOW['startDateTime']}&endDateTime={WINDOW['endDateTime']}")
    assert r.status_code == 400  # the window is inside the token
    for refused in ("$select", "$filter", "$expand"):
        r = await api.get(f"me/calendars/{cid}/calendarView/delta", params={**WINDOW, refused: "subject"})
        assert r.status_code == 400, refused


async def test_default_calendar_delta_and_removed(emu: GraphEmulator, api: httpx.AsyncClient) -> None:
    keep = emu.user_create(emu.calendar_id, body("keep"))
    gone = emu.user_create(emu.calendar_id, body("gone", day=11))
    moved = emu.user_create(emu.calendar_id, body("moved", day=12))
    _, link, _ = await delta_round(api, "me/calendarView/delta", WINDOW)
    emu.user_delete(gone)
    emu.user_update(
        moved,
        {
            "start": {"dateTime": "2028-01-01T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2028-01-01T10:00:00", "timeZone": "UTC"},
        },
    )
    emu.user_update(keep, {"subject": "kept"})
    entries, _, _ = await delta_round(api, link)
    removed = sorted(e["id"] for e in entries if "@removed" in e)
    assert removed == sorted([gone, moved])
    assert all(e["@removed"] == {"reason": "deleted"} for e in entries if "@removed" in e)
    [changed] = [e for e in entries if "@removed" not in e]
    assert changed["id"] == keep and changed["subject"] == "kept"
    assert "singleValueExtendedProperties" not in changed  # delta never expands them


async def test_expired_tokens_answer_410_with_both_codes(emu: GraphEmulator, api: httpx.AsyncClient) -> None:
    emu.user_create(emu.calendar_id, body("a"))
    emu.user_create(emu.calendar_id, body("b", day=11))
    r = await api.get("me/calendarView/delta", params=WINDOW, headers={"Prefer": "odata.maxpagesize=1"})
    next_link = r.json()["@odata.nextLink"]
    _, delta_link, _ = await delta_round(api, "me/calendarView/delta", WINDOW)
    emu.expire_delta_tokens()
    codes = []
    for link in (next_link, delta_link):
        r = await api.get(link)
        assert r.status_code == 410
        codes.append(r.json()["error"]["code"])
    assert sorted(codes) == ["resyncRequired", "syncStateNotFound"]


async def test_transaction_id_makes_a_retried_create_return_the_same_event(
    emu: GraphEmulator, api: httpx.AsyncClient
) -> None:
    payload = body("once", transactionId="tx-1")
    first = await api.post(f"me/calendars/{emu.calendar_id}/events", json=payload)
    second = await api.post(f"me/calendars/{emu.calendar_id}/events", json=payload)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"] and len(emu.events()) == 1
    created = first.json()
    assert (
        created["iCalUId"]
        and created["type"] == "singleInstance"
        and created["originalStartTimeZone"] == "W. Europe Standard Time"
    )


async def test_if_match_and_412(emu: GraphEmulator, api: httpx.AsyncClient) -> None:
    created = (await api.post("me/events", json=body("x"))).json()
    url, etag = f"me/events/{created['id']}", created["@odata.etag"]
    ok = await api.patch(url, json={"subject": "y"}, headers={"If-Match": etag})
    assert ok.status_code == 200 and ok.json()["@odata.etag"] != etag
    stale = await api.patch(url, json={"subject": "z"}, headers={"If-Match": etag})
    assert stale.status_code == 412 and stale.json()["error"]["code"] == "ErrorIrresolvableConflict"
    assert (await api.delete(url, headers={"If-Match": etag})).status_code == 412
    assert (await api.delete(url, headers={"If-Match": ok.json()["changeKey"]})).status_code == 204
    assert (await api.get(url)).status_code == 404


async def test_immutable_id_is_recorded(emu: GraphEmulator, api: httpx.AsyncClient) -> None:
    await api.get("me/calendars")
    await api.get("me/calendars", headers={"Prefer": "odata.maxpagesize=5"})  # replaces the default Prefer
    assert emu.id_types == {"ImmutableId": 1, "default": 1}


async def test_times_in_the_preferred_zone_and_extended_properties_on_expand(
    emu: GraphEmulator, api: httpx.AsyncClient
) -> None:
    prop = "String {00000000-0000-0000-0000-000000000001} Name tag"
    created = (
        await api.post(
            "me/events", json=body("x", singleValueExtendedProperties=[{"id": prop, "value": "v"}])
        )
    ).json()
    assert created["start"] == {"dateTime": "2026-03-10T08:00:00.0000000", "timeZone": "UTC"}
    assert "singleValueExtendedProperties" not in created
    url = f"me/events/{created['id']}"
    pacific = (await api.get(url, headers={"Prefer": 'outlook.timezone="Pacific Standard Time"'})).json()
    assert pacific["start"] == {
        "dateTime": "2026-03-10T01:00:00.0000000",
        "timeZone": "Pacific Standard Time",
    }  # PDT
    expanded = (
        await api.get(url, params={"$expand": f"singleValueExtendedProperties($filter=id eq '{prop}')"})
    ).json()
    assert expanded["singleValueExtendedProperties"] == [{"id": prop, "value": "v"}]
    found = await api.get(
        f"me/calendars/{emu.calendar_id}/events",
        params={"$filter": f"singleValueExtendedProperties/Any(ep: ep/id eq '{prop}' and ep/value eq 'v')"},
    )
    assert [e["id"] for e in found.json()["value"]] == [created["id"]]


async def test_series_occurrences_exceptions_and_cancellations(
    emu: GraphEmulator, api: httpx.AsyncClient
) -> None:
    master = (await api.post("me/events", json=body("Standup", day=2, recurrence=WEEKLY))).json()
    assert master["type"] == "seriesMaster"
    entries, link, _ = await delta_round(api, "me/calendarView/delta", WINDOW)
    assert {e["type"] for e in entries} == {"occurrence"} and len(entries) == 4  # never the master
    assert {e["seriesMasterId"] for e in entries} == {master["id"]}
    second, third = sorted(entries, key=lambda e: e["originalStart"])[1:3]
    moved = await api.patch(f"me/events/{second['id']}", json={"subject": "Moved"})
    assert moved.status_code == 200 and moved.json()["type"] == "exception"
    assert (await api.delete(f"me/events/{third['id']}")).status_code == 204
    instances = (await api.get(f"me/events/{master['id']}/instances", params=WINDOW)).json()["value"]
    assert [(i["type"], i["subject"]) for i in instances] == [
        ("occurrence", "Standup"),
        ("exception", "Moved"),
        ("occurrence", "Standup"),
    ]
    entries, _, _ = await delta_round(api, link)
    assert third["id"] in {e["id"] for e in entries if "@removed" in e}
    assert (await api.get(f"me/events/{third['id']}")).status_code == 404


async def test_faults(emu: GraphEmulator, api: httpx.AsyncClient) -> None:
    emu.faults.retry_after = 3
    emu.faults.fail_next(1, "429")
    r = await api.get("me/calendars")
    assert (
        r.status_code == 429
        and r.headers["retry-after"] == "3"
        and r.json()["error"]["code"] == "TooManyRequests"
    )
    emu.faults.fail_next(1, "500")
    assert (await api.get("me/calendars")).status_code == 500
    created = (await api.post("me/events", json=body("x"))).json()
    emu.faults.fail_next(1, "412")
    r = await api.patch(
        f"me/events/{created['id']}", json={"subject": "y"}, headers={"If-Match": created["@odata.etag"]}
    )
    assert r.status_code == 412
    assert emu.events()[0]["changeKey"] != created["changeKey"]  # as if edited elsewhere
    emu.faults.hang_seconds = 0.5
    emu.faults.fail_next(1, "timeout")
    with pytest.raises(httpx.ReadTimeout):
        await api.patch(f"me/events/{created['id']}", json={"subject": "applied"}, timeout=0.2)
    assert emu.events()[0]["subject"] == "applied"


async def test_fifth_concurrent_request_is_throttled(emu: GraphEmulator, api: httpx.AsyncClient) -> None:
    emu.faults.hang_seconds = 0.5
    emu.faults.fail_next(4, "timeout")
    answers = await asyncio.gather(*(api.get("me/calendars") for _ in range(5)))
    codes = sorted(a.status_code for a in answers)
    assert codes == [200, 200, 200, 200, 429]
    [throttled] = [a for a in answers if a.status_code == 429]
    assert throttled.json()["error"]["code"] == "ApplicationThrottled" and "retry-after" in throttled.headers
    assert emu.peak_in_flight == 4


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


def soon(minutes: int = 60) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_subscription_handshake_notifications_renew_and_expiry(
    emu: GraphEmulator, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    sub = {
        "changeType": "created,updated,deleted",
        "notificationUrl": receiver.url(),
        "lifecycleNotificationUrl": receiver.url("/lifecycle"),
        "resource": f"me/calendars/{emu.calendar_id}/events",
        "expirationDateTime": soon(),
        "clientState": "secret-state",
    }
    receiver.echo = False
    refused = await api.post("subscriptions", json=sub)
    assert refused.status_code == 400 and "validation" in refused.json()["error"]["message"]
    receiver.echo = True
    too_long = await api.post("subscriptions", json={**sub, "expirationDateTime": soon(4231)})
    assert too_long.status_code == 400
    created = await api.post("subscriptions", json=sub)
    assert created.status_code == 201 and receiver.validations == 3  # refused, then both URLs
    sid = created.json()["id"]
    event_id = emu.user_create(emu.calendar_id, body("new"))
    emu.user_delete(event_id)
    assert emu.push.wait_idle()
    assert [(n["changeType"], n["resourceData"]["id"], n["clientState"]) for n in receiver.received] == [
        ("created", event_id, "secret-state"),
        ("deleted", event_id, "secret-state"),
    ]
    assert receiver.received[0]["subscriptionId"] == sid
    renewed = await api.patch(f"subscriptions/{sid}", json={"expirationDateTime": soon(4000)})
    assert renewed.status_code == 200 and renewed.json()["expirationDateTime"].startswith(soon(4000)[:16])
    assert (
        await api.patch(f"subscriptions/{sid}", json={"expirationDateTime": soon(5000)})
    ).status_code == 400
    emu.send_lifecycle(sid, "reauthorizationRequired")
    assert emu.push.wait_idle()
    assert receiver.received[-1]["lifecycleEvent"] == "reauthorizationRequired"
    emu.expire_subscriptions()
    emu.user_create(emu.calendar_id, body("unheard"))
    assert emu.push.wait_idle() and len(receiver.received) == 3
    assert (await api.patch(f"subscriptions/{sid}", json={"expirationDateTime": soon()})).status_code == 404
    assert (await api.delete(f"subscriptions/{sid}")).status_code == 204
    assert (await api.delete(f"subscriptions/{sid}")).status_code == 404


async def test_a_page_link_can_be_fetched_again(emu: GraphEmulator, api: httpx.AsyncClient) -> None:
    for day in (10, 11, 12):
        emu.user_create(emu.calendar_id, body(f"e{day}", day=day))
    first = (
        await api.get("me/calendarView/delta", params=WINDOW, headers={"Prefer": "odata.maxpagesize=2"})
    ).json()
    link = first["@odata.nextLink"]
    again = [(await api.get(link, headers={"Prefer": "odata.maxpagesize=2"})).json() for _ in range(2)]
    assert (
        again[0]["value"] == again[1]["value"] and len(again[0]["value"]) == 1
    )  # a retried page is the same page
