"""The harness the calendar contract suite runs against: a calendar plus ways to act on it as its owner."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from mirrorcal import ical
from mirrorcal.model import Event
from mirrorcal.providers.base import Calendar
from mirrorcal.providers.caldav import CalDAVCalendar
from mirrorcal.providers.http import make_client
from mirrorcal.providers.memory import MemoryCalendar
from mirrorcal.testing import RadicaleServer

# Radicale accepts it; our reader refuses it (DTEND before DTSTART).
MALFORMED = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:broken-1\r\n"
    "DTSTAMP:20260101T000000Z\r\nDTSTART:20260310T100000Z\r\nDTEND:20260310T090000Z\r\n"
    "SUMMARY:broken\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


def _same(event: Event) -> Event:
    return event


@dataclass
class Harness:
    """A calendar under test plus ways to act on it as its owner would (not through mirrorcal).

    ``put_malformed`` stores an item the adapter cannot read and returns its href and a word
    the adapter's error message must contain. ``kept`` is what the provider keeps of an event
    (providers with lossy mappings drop what they cannot hold; the identity elsewhere).
    """

    calendar: Calendar
    put_malformed: Callable[[], Awaitable[tuple[str, str]]]
    user_put: Callable[[Event], Awaitable[str]]  # -> href
    user_delete: Callable[[str], Awaitable[None]]
    read_only_view: Callable[[], Calendar]
    expired_cursor: Callable[[str], str]  # a cursor the provider will reject
    kept: Callable[[Event], Event] = field(default=_same)


async def memory_harness() -> AsyncIterator[Harness]:
    cal = MemoryCalendar("contract")

    async def put_malformed() -> tuple[str, str]:
        cal.put_raw("broken-1.ics", MALFORMED)
        return "broken-1.ics", "DTEND"

    async def user_put(ev: Event) -> str:
        return cal.user_put(ev)

    async def user_delete(href: str) -> None:
        cal.user_delete(href)

    def read_only_view() -> Calendar:
        view = MemoryCalendar("contract-ro", read_only=True)
        view.items = cal.items
        return view

    def expired_cursor(cursor: str) -> str:
        cal.expire_cursors()
        return cursor

    yield Harness(cal, put_malformed, user_put, user_delete, read_only_view, expired_cursor)


async def caldav_harness(radicale: RadicaleServer) -> AsyncIterator[Harness]:
    url = radicale.make_calendar("contract", uuid.uuid4().hex[:12], displayname="Contract")
    async with make_client(timeout=10.0) as client:
        cal = CalDAVCalendar("contract", url, client)

        async def put_raw(name: str, text: str) -> str:
            response = await client.put(url + name, content=text.encode(), headers={"Content-Type": "text/calendar"})
            assert response.status_code in (201, 204), response.text
            return cal.href_for(name.removesuffix(".ics"))

        async def put_malformed() -> tuple[str, str]:
            return await put_raw("broken-1.ics", MALFORMED), "DTEND"

        async def user_put(ev: Event) -> str:
            return await put_raw(f"{ev.uid}.ics", ical.serialize(ev))

        async def user_delete(href: str) -> None:
            response = await client.delete(httpx.URL(url).join(href))
            assert response.status_code in (200, 204), response.text

        def read_only_view() -> Calendar:
            return CalDAVCalendar("contract-ro", url, client, read_only=True)

        def expired_cursor(cursor: str) -> str:
            return "http://radicale.org/ns/sync/bogus"

        yield Harness(cal, put_malformed, user_put, user_delete, read_only_view, expired_cursor)
