"""iCloud calendars: CalDAV with discovery from caldav.icloud.com and a 401 that explains app-specific passwords.

iCloud speaks CalDAV (see ``providers.caldav``) with three twists, per PROTOCOLS.md:

* the calendars live on a partition host (``pNN-caldav.icloud.com``) that only discovery
  reveals: ``current-user-principal`` on ``https://caldav.icloud.com/``, then the principal's
  ``calendar-home-set`` (never hard-code the partition);
* sign-in is Basic auth with the Apple ID and an app-specific password; the normal Apple ID
  password gets 401, which we turn into an ``AuthError`` saying how to make one;
* a UID is unique across all the user's calendars: a create whose UID lives in another
  calendar gets ``no-uid-conflict``, which ``CalDAVCalendar`` maps to ``AlreadyExistsError``.

There is no push: iCloud calendars are polled like any CalDAV calendar.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import httpx

from ..errors import AuthError
from ..model import Event
from .base import Item, ItemRef, Listing
from .caldav import CalDAVCalendar
from .discovery import CalendarInfo, discover
from .http import make_client

ICLOUD_URL = "https://caldav.icloud.com/"
"""Where iCloud discovery starts."""

APP_PASSWORD_HELP = (
    "iCloud refused the Apple ID and password. iCloud calendars need an app-specific password, "
    "not your Apple ID password: make one at https://appleid.apple.com (Sign-In and Security → "
    "App-Specific Passwords → +), then connect again with your Apple ID e-mail and that password."
)


@asynccontextmanager
async def explain_app_password() -> AsyncIterator[None]:
    """Turn an ``AuthError`` from a 401 into one whose message explains app-specific passwords.

    Other errors, and a 403 (which iCloud sends for a calendar that is not ours), pass unchanged.
    """
    try:
        yield
    except AuthError as exc:
        if exc.status != 401:
            raise
        error = AuthError(f"{APP_PASSWORD_HELP} ({exc})")
        error.status = 401
        raise error from exc


def icloud_client(apple_id: str, app_password: str, *, timeout: float = 30.0) -> httpx.AsyncClient:
    """An HTTP client signing in to iCloud with Basic auth (sent to the partition host too)."""
    return make_client(timeout=timeout, auth=httpx.BasicAuth(apple_id, app_password))


async def discover_icloud(client: httpx.AsyncClient, url: str = ICLOUD_URL) -> list[CalendarInfo]:
    """The event calendars of the signed-in iCloud account (``client`` from ``icloud_client``).

    Follows ``url`` → current-user-principal → calendar-home-set (on whatever host it names).
    Raises ``AuthError`` explaining app-specific passwords on 401, other ``ProviderError``s as
    ``discovery.discover`` does.
    """
    async with explain_app_password():
        return await discover(client, url)


class IcloudCalendar(CalDAVCalendar):
    """One iCloud calendar (its URL as discovery found it, on the partition host).

    A ``CalDAVCalendar`` whose kind is "icloud" and whose 401s explain app-specific passwords.
    """

    kind = "icloud"

    async def list_changes(self, cursor: str | None, known: Mapping[str, str | None] | None = None) -> Listing:
        async with explain_app_password():
            return await super().list_changes(cursor, known)

    async def get(self, hrefs: list[str]) -> list[Item]:
        async with explain_app_password():
            return await super().get(hrefs)

    async def _create(self, event: Event) -> ItemRef:
        async with explain_app_password():
            return await super()._create(event)

    async def _update(self, href: str, event: Event, etag: str | None) -> ItemRef:
        async with explain_app_password():
            return await super()._update(href, event, etag)

    async def _delete(self, href: str, etag: str | None) -> None:
        async with explain_app_password():
            await super()._delete(href, etag)

    async def check(self) -> str:
        """Like ``CalDAVCalendar.check``, worded for iCloud."""
        async with explain_app_password():
            description = await super().check()
        return description.replace("CalDAV calendar", "iCloud calendar", 1)
