"""The contract harness for GraphCalendar against the Graph emulator (a real HTTP server on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from harness import Harness

from mirrorcal.model import Event
from mirrorcal.providers.base import Calendar
from mirrorcal.providers.graph import GraphCalendar
from mirrorcal.providers.graph_mapping import kept, to_graph
from mirrorcal.providers.http import make_client
from mirrorcal.testing.graph import GraphEmulator

WINDOW_DAYS_BACK = 3 * 365
"""The contract's events are in March 2026: list far enough back to see them."""


def graph_calendar(
    emulator: GraphEmulator, client: httpx.AsyncClient, cid: str, **kwargs: object
) -> GraphCalendar:
    """A GraphCalendar on the emulator's calendar ``cid`` with the contract's window."""
    options: dict[str, object] = {"window_days_back": WINDOW_DAYS_BACK, **kwargs}
    return GraphCalendar("contract", cid, client, api_url=f"{emulator.base_url}/v1.0", **options)  # type: ignore[arg-type]


async def graph_harness() -> AsyncIterator[Harness]:
    """A fresh emulator and calendar; the owner acts through the emulator's knobs."""
    with GraphEmulator() as emulator:
        cid = emulator.add_calendar("Contract")
        headers = {"Authorization": f"Bearer {emulator.access_token}"}
        async with make_client(timeout=10.0, headers=headers) as client:
            cal = graph_calendar(emulator, client, cid)

            async def put_malformed() -> tuple[str, str]:
                body = {
                    "subject": "broken",
                    "start": {"dateTime": "2026-03-10T10:00:00.0000000", "timeZone": "UTC"},
                    "end": {"dateTime": "2026-03-10T09:00:00.0000000", "timeZone": "UTC"},
                }
                return emulator.put_raw(cid, body), "before start"

            async def user_put(ev: Event) -> str:
                body = to_graph(ev.master, uid=ev.uid, marker=ev.marker)
                return emulator.user_create(cid, body)

            async def user_delete(href: str) -> None:
                emulator.user_delete(href)

            def read_only_view() -> Calendar:
                return graph_calendar(emulator, client, cid, read_only=True)

            def expired_cursor(cursor: str) -> str:
                emulator.expire_delta_tokens()
                return cursor

            def kept_by_graph(ev: Event) -> Event:
                return kept(ev, owner=emulator.oauth.subject)

            yield Harness(
                cal, put_malformed, user_put, user_delete, read_only_view, expired_cursor, kept_by_graph
            )
