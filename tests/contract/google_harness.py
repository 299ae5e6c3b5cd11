"""The contract harness for GoogleCalendar: a fresh calendar on a real GoogleEmulator, the owner's hands on it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

from harness import Harness

from mirrorcal.model import Event
from mirrorcal.providers import google_mapping as gm
from mirrorcal.providers.base import Calendar
from mirrorcal.providers.google import GoogleCalendar
from mirrorcal.providers.http import make_client
from mirrorcal.testing.google import GoogleEmulator

ZONE = "Europe/London"
"""The contract calendar's own zone: where floating times land."""

# Stored as is (the emulator's put_raw skips validation); our reader refuses it: end before start.
MALFORMED = {
    "id": "broken00001",
    "iCalUID": "broken-1",
    "summary": "broken",
    "start": {"dateTime": "2026-03-10T10:00:00Z", "timeZone": "UTC"},
    "end": {"dateTime": "2026-03-10T09:00:00Z", "timeZone": "UTC"},
}


def owner_put(emu: GoogleEmulator, cid: str, event: Event, zone: ZoneInfo) -> str:
    """Write ``event`` as the owner would in Google's own app: a generated id, overrides by instance id."""
    body = gm.master_body(event, "unused", zone)
    del body["id"]
    master = emu.user_insert(cid, body)
    for iid, override in gm.override_bodies(event, master["id"], zone).items():
        emu.user_update(cid, iid, {k: v for k, v in override.items() if k not in ("id", "recurringEventId")})
    return str(master["id"])


async def google_harness() -> AsyncIterator[Harness]:
    with GoogleEmulator() as emu:
        cid = emu.add_calendar(f"contract-{uuid.uuid4().hex[:8]}@group.calendar.google.com", "Contract", ZONE)
        zone = ZoneInfo(ZONE)
        headers = {"Authorization": f"Bearer {emu.access_token}"}
        async with make_client(timeout=10.0, headers=headers) as client:
            cal = GoogleCalendar("contract", cid, client, api_url=emu.api_url)

            async def put_malformed() -> tuple[str, str]:
                emu.put_raw(cid, dict(MALFORMED))
                return str(MALFORMED["id"]), "before start"

            async def user_put(ev: Event) -> str:
                return owner_put(emu, cid, ev, zone)

            async def user_delete(href: str) -> None:
                emu.user_delete(cid, href)

            def read_only_view() -> Calendar:
                return GoogleCalendar("contract-ro", cid, client, api_url=emu.api_url, read_only=True)

            def expired_cursor(cursor: str) -> str:
                emu.expire_sync_tokens()
                return cursor

            def kept(ev: Event) -> Event:
                return gm.kept(ev, zone)

            yield Harness(cal, put_malformed, user_put, user_delete, read_only_view, expired_cursor, kept)
