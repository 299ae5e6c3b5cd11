"""Real time over the emulators: push notifications drive a chain in one burst; revoked sign-ins stop syncs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mirrorcal.bootstrap import engine_for
from mirrorcal.config import Config, parse_config
from mirrorcal.service import Service
from mirrorcal.testing.world import ProviderWorld, syncs_toml

MONDAY = (datetime.now(UTC) + timedelta(days=7 - datetime.now(UTC).weekday())).replace(
    hour=9, minute=0, second=0, microsecond=0
)

SYNCS = syncs_toml()


@pytest.fixture
def world() -> Iterator[ProviderWorld]:
    with ProviderWorld() as w:
        w.calendar("client-c", "google")
        w.calendar("personal", "google")
        w.calendar("client-b", "google")
        w.calendar("client-a", "microsoft")
        yield w


def chain_config(world: ProviderWorld, tmp_path: Path, *, push: bool = True) -> Config:
    text = f'database = "sqlite:///{tmp_path / "state.db"}"\ntimezone = "UTC"\n'
    if push:
        text += '[push]\nlisten = "127.0.0.1:0"\n'
    text += world.toml("client-c", client="C", unified=False)
    text += world.toml("personal", client="me")
    text += world.toml("client-b", client="B", unified=False)
    text += world.toml("client-a", client="A", unified=False)
    return parse_config(text + SYNCS, base_dir=tmp_path, env={})


async def wait_for(predicate, limit: float = 10.0) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if predicate():
            return time.monotonic() - started
        await asyncio.sleep(0.02)
    raise AssertionError(f"not reached within {limit} s")


async def test_a_pushed_change_flows_down_the_chain_without_polling(world: ProviderWorld, tmp_path: Path) -> None:
    config = chain_config(world, tmp_path)
    async with engine_for(config) as engine:
        service = Service(config, engine, interval=600)  # polling would take ten minutes
        runner = asyncio.create_task(service.serve())
        try:
            await wait_for(lambda: service.cycles >= 1 and len(service.receiver.channels) == 4)  # type: ignore[union-attr]
            world.book("client-c", "Priya Patel / Backend", MONDAY + timedelta(hours=5), 45)
            took = await wait_for(lambda: len(world.seen("client-a")) == 1 and len(world.seen("client-b")) == 1)
            assert took < 5
            assert [s.summary for s in world.seen("personal")] == ["Priya Patel / Backend"]
            assert [s.summary for s in world.seen("client-a")] == ["Busy"] == [s.summary for s in world.seen("client-b")]
            assert world.seen("client-a")[0].start == MONDAY + timedelta(hours=5)
            assert service.receiver.counts["google:exists"] >= 1  # type: ignore[union-attr]
            # A renamed interview travels too; the clients still see only Busy.
            [event_id] = [e["id"] for e in world.raw("client-c")]
            world.rename("client-c", event_id, "Priya Patel / Backend (2nd round)")
            await wait_for(lambda: [s.summary for s in world.seen("personal")] == ["Priya Patel / Backend (2nd round)"])
            world.cancel("client-c", event_id)
            await wait_for(lambda: not world.seen("client-a") and not world.seen("client-b") and not world.seen("personal"))
        finally:
            service.stop()
            await runner
    # Channels are closed on the way out.
    assert not world.google.channels and not world.graph.subscriptions


async def test_notifications_with_a_wrong_token_or_client_state_are_refused(world: ProviderWorld, tmp_path: Path) -> None:
    import httpx

    config = chain_config(world, tmp_path)
    async with engine_for(config) as engine:
        service = Service(config, engine, interval=600)
        runner = asyncio.create_task(service.serve())
        try:
            await wait_for(lambda: service.cycles >= 1 and len(service.receiver.channels) == 4)  # type: ignore[union-attr]
            assert service.receiver is not None
            cycles = service.cycles
            google = next(c for c in service.receiver.channels.values() if c.kind == "google")
            graph = next(c for c in service.receiver.channels.values() if c.kind == "microsoft")
            base = f"http://127.0.0.1:{service.push_port}"
            async with httpx.AsyncClient() as http:
                forged = {"X-Goog-Channel-ID": google.id, "X-Goog-Channel-Token": "forged", "X-Goog-Resource-State": "exists"}
                assert (await http.post(f"{base}/push/google", headers=forged)).status_code == 403
                unknown = {"X-Goog-Channel-ID": "nope", "X-Goog-Resource-State": "exists"}
                assert (await http.post(f"{base}/push/google", headers=unknown)).status_code == 404
                note = {"value": [{"subscriptionId": graph.id, "clientState": "forged", "changeType": "created"}]}
                assert (await http.post(f"{base}/push/microsoft", json=note)).status_code == 202
                echo = await http.post(f"{base}/push/microsoft", params={"validationToken": "abc 123"})
                assert (echo.status_code, echo.text, echo.headers["content-type"].split(";")[0]) == (200, "abc 123", "text/plain")
            await asyncio.sleep(0.3)
            assert service.cycles == cycles  # nothing forged woke the service
            assert service.receiver.counts["bad-client-state"] == 1 and service.receiver.counts["bad-token"] == 1
        finally:
            service.stop()
            await runner
