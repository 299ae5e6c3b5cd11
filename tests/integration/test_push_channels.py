"""Push channels: opened per calendar, renewed before they expire, reopened when Graph drops them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from mirrorcal.providers.google import GoogleCalendar
from mirrorcal.providers.graph import GraphCalendar
from mirrorcal.providers.http import make_client
from mirrorcal.push import RENEW_BEFORE, Channels, PushReceiver
from mirrorcal.testing.world import ProviderWorld


@pytest.fixture
async def setup() -> AsyncIterator[tuple[ProviderWorld, Channels, list[str]]]:
    changed: list[str] = []
    with ProviderWorld() as world:
        gid = world.calendar("client-b", "google")
        mid = world.calendar("client-a", "microsoft")
        receiver = PushReceiver(changed.append)
        port = await receiver.start("127.0.0.1", 0)
        google_http = make_client(headers={"Authorization": f"Bearer {world.google.access_token}"})
        graph_http = make_client(headers={"Authorization": f"Bearer {world.graph.access_token}"})
        calendars = {
            "client-b": GoogleCalendar("client-b", gid, google_http, api_url=world.google.api_url),
            "client-a": GraphCalendar("client-a", mid, graph_http, api_url=f"{world.graph.base_url}/v1.0"),
        }
        channels = Channels(receiver, calendars, f"http://127.0.0.1:{port}")  # type: ignore[arg-type]
        try:
            yield world, channels, changed
        finally:
            await channels.close()
            await receiver.stop()
            await google_http.aclose()
            await graph_http.aclose()


async def settle(world: ProviderWorld) -> None:
    await asyncio.to_thread(world.google.push.wait_idle)
    await asyncio.to_thread(world.graph.push.wait_idle)
    await asyncio.sleep(0.05)


async def test_channels_open_deliver_renew_and_close(setup: tuple[ProviderWorld, Channels, list[str]]) -> None:
    world, channels, changed = setup
    await channels.maintain()
    first = channels.by_calendar()
    assert set(first) == {"client-a", "client-b"} and len(world.google.channels) == len(world.graph.subscriptions) == 1
    world.book("client-b", "x", datetime.now(UTC) + timedelta(days=1))
    world.book("client-a", "y", datetime.now(UTC) + timedelta(days=1))
    await settle(world)
    assert sorted(set(changed)) == ["client-a", "client-b"]

    # Nothing to do while they are fresh.
    await channels.maintain()
    assert channels.by_calendar()["client-b"].id == first["client-b"].id

    # Close to expiry: Google gets a new channel (the old one is stopped), Graph an extension.
    soon = datetime.now(UTC) + RENEW_BEFORE - timedelta(minutes=1)
    first_b_id = first["client-b"].id
    for channel in first.values():
        channel.expires = soon
    await channels.maintain()
    renewed = channels.by_calendar()
    assert renewed["client-b"].id != first_b_id
    assert list(world.google.channels) == [renewed["client-b"].id]
    assert renewed["client-a"].id == first["client-a"].id and renewed["client-a"].expires > soon + timedelta(days=1)
    changed.clear()
    world.book("client-b", "z", datetime.now(UTC) + timedelta(days=2))
    await settle(world)
    assert changed == ["client-b"]  # delivered once, on the new channel

    await channels.close()
    assert not world.google.channels and not world.graph.subscriptions


async def test_a_removed_graph_subscription_is_reopened(setup: tuple[ProviderWorld, Channels, list[str]]) -> None:
    world, channels, changed = setup
    await channels.maintain()
    old = channels.by_calendar()["client-a"]
    world.graph.send_lifecycle(old.id, "subscriptionRemoved")
    await settle(world)
    assert "client-a" in changed  # a lifecycle event also means: look at the calendar now
    await channels.maintain()
    new = channels.by_calendar()["client-a"]
    assert new.id != old.id and list(world.graph.subscriptions) == [new.id]


async def test_a_failing_provider_is_retried_later_and_polling_goes_on(setup: tuple[ProviderWorld, Channels, list[str]]) -> None:
    world, channels, _ = setup
    world.google.faults.retry_after = 0
    world.google.faults.fail_next(10, "500")
    await channels.maintain()
    assert set(channels.by_calendar()) == {"client-a"} and "client-b" in channels.retry_at
    world.google.faults.clear()
    await channels.maintain()  # not yet: retried after a pause
    assert "client-b" not in channels.by_calendar()
    await channels.maintain(now=channels.retry_at["client-b"] + timedelta(seconds=1))
    assert "client-b" in channels.by_calendar()
