"""iCloud: discovery from the front door to calendars on another host, app-specific passwords, the iCloud calendar.

The front door (``IcloudFrontDoor``) plays caldav.icloud.com on one 127.0.0.1 port; the
calendars live on the session's Radicale on another port, the "partition host".
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from factories import interview

from mirrorcal import ical
from mirrorcal.errors import AlreadyExistsError, AuthError
from mirrorcal.providers.caldav import CalDAVCalendar
from mirrorcal.providers.discovery import calendar_info, discover
from mirrorcal.providers.http import make_client
from mirrorcal.providers.icloud import APP_PASSWORD_HELP, IcloudCalendar, discover_icloud, icloud_client
from mirrorcal.providers.webdav import parse_multistatus
from mirrorcal.testing import RadicaleServer
from mirrorcal.testing.icloud import IcloudFrontDoor

APPLE_ID = "ada@icloud.example"
APP_PASSWORD = "wxyz-abcd-efgh-ijkl"
ACCOUNT_PASSWORD = "Apple-ID-password-1"


class Account:
    """One iCloud account: its calendars on Radicale and the front door that leads to them."""

    def __init__(self, radicale: RadicaleServer, door: IcloudFrontDoor, user: str) -> None:
        self.radicale = radicale
        self.door = door
        self.user = user
        self.work = radicale.make_calendar(user, "work", displayname="Work")
        self.home = radicale.make_calendar(user, "home", displayname="Home ✓")
        self.reminders = _make_task_list(radicale, user, "reminders")


def _make_task_list(radicale: RadicaleServer, user: str, name: str) -> str:
    url = radicale.calendar_url(user, name)
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>'
        "<D:displayname>Reminders</D:displayname>"
        '<C:supported-calendar-component-set><C:comp name="VTODO"/></C:supported-calendar-component-set>'
        "</D:prop></D:set></C:mkcalendar>"
    )
    response = httpx.request("MKCALENDAR", url, content=body.encode(), auth=(user, "x"), timeout=10.0)
    assert response.status_code == 201, response.text
    return url


def _account(radicale: RadicaleServer, principal_on_partition: bool) -> Iterator[Account]:
    user = f"icl{uuid.uuid4().hex[:8]}"
    door = IcloudFrontDoor(
        radicale.url,
        user,
        apple_id=APPLE_ID,
        app_password=APP_PASSWORD,
        account_password=ACCOUNT_PASSWORD,
        principal_on_partition=principal_on_partition,
    )
    with door:
        yield Account(radicale, door, user)


@pytest.fixture(params=[False, True], ids=["principal-on-front-door", "principal-on-partition"])
def account(request: pytest.FixtureRequest, radicale: RadicaleServer) -> Iterator[Account]:
    yield from _account(radicale, request.param)


@pytest.fixture
def icloud(radicale: RadicaleServer) -> Iterator[Account]:
    """The usual iCloud layout: principal on the front door, home set on the partition."""
    yield from _account(radicale, False)


# --------------------------------------------------------------------------- discovery


async def test_discovery_follows_the_principal_to_calendars_on_another_host(account: Account) -> None:
    door, radicale = account.door, account.radicale
    assert httpx.URL(door.url).port != httpx.URL(radicale.url).port
    async with icloud_client(APPLE_ID, APP_PASSWORD, timeout=10.0) as client:
        found = await discover_icloud(client, door.url)
    by_name = {info.name: info for info in found}
    assert set(by_name) == {"Work", "Home ✓"}  # the task list is not an event calendar
    assert by_name["Work"].url == account.work and by_name["Home ✓"].url == account.home
    for info in found:
        assert info.url.startswith(radicale.url + "/")
        assert info.components == ("VEVENT",) and info.holds_events
        assert info.ctag and not info.read_only
    assert door.requests["/"] == 1
    assert door.requests[door.principal_path] == (0 if door.principal_on_partition else 1)


async def test_task_lists_are_found_when_asked_for(icloud: Account) -> None:
    async with icloud_client(APPLE_ID, APP_PASSWORD, timeout=10.0) as client:
        found = await discover(client, icloud.door.url, events_only=False)
    reminders = next(info for info in found if info.url == icloud.reminders)
    assert reminders.components == ("VTODO",) and not reminders.holds_events
    assert len(found) == 3


async def test_discovery_from_the_well_known_address(icloud: Account) -> None:
    async with icloud_client(APPLE_ID, APP_PASSWORD, timeout=10.0) as client:
        found = await discover_icloud(client, icloud.door.base_url + "/.well-known/caldav")
    assert {info.url for info in found} == {icloud.work, icloud.home}


@pytest.mark.parametrize("password", [ACCOUNT_PASSWORD, "", APP_PASSWORD.upper()])
async def test_a_normal_password_gets_the_app_specific_password_message(icloud: Account, password: str) -> None:
    async with icloud_client(APPLE_ID, password, timeout=10.0) as client:
        with pytest.raises(AuthError) as info:
            await discover_icloud(client, icloud.door.url)
    message = str(info.value)
    assert message.startswith(APP_PASSWORD_HELP)
    assert "app-specific password" in message and "appleid.apple.com" in message
    assert "App-Specific Passwords" in message and "Sign-In and Security" in message
    assert info.value.status == 401
    if password:
        assert password not in message
    assert icloud.door.refused == 1 and sum(icloud.door.requests.values()) == 0


async def test_wrong_apple_id_is_refused_too(icloud: Account) -> None:
    async with icloud_client("someone@icloud.example", APP_PASSWORD, timeout=10.0) as client:
        with pytest.raises(AuthError, match="app-specific password"):
            await discover_icloud(client, icloud.door.url)


async def test_generic_caldav_keeps_its_own_401_message(icloud: Account) -> None:
    async with make_client(timeout=10.0, auth=(APPLE_ID, ACCOUNT_PASSWORD)) as client:
        with pytest.raises(AuthError) as generic:
            await discover(client, icloud.door.url)
        assert "app-specific" not in str(generic.value) and "401" in str(generic.value)
        with pytest.raises(AuthError) as plain:
            await CalDAVCalendar("caldav", icloud.door.url, client).check()
        assert "app-specific" not in str(plain.value)
        with pytest.raises(AuthError, match="app-specific password"):
            await IcloudCalendar("icloud", icloud.door.url, client).check()


# --------------------------------------------------------------------------- the calendar


async def test_icloud_calendar_reads_and_writes_where_discovery_led(icloud: Account) -> None:
    async with icloud_client(APPLE_ID, APP_PASSWORD, timeout=10.0) as client:
        work = next(info for info in await discover_icloud(client, icloud.door.url) if info.name == "Work")
        cal = IcloudCalendar("icloud-work", work.url, client, read_only=work.read_only)
        assert cal.kind == "icloud"
        assert (await cal.check()).startswith("iCloud calendar 'Work'")
        ev = interview(f"icloud-{uuid.uuid4().hex}")
        ref = await cal.create(ev)
        listing = await cal.list_changes(None)
        assert [item.event.uid for item in listing.items] == [ev.uid]
        assert listing.items[0].href == ref.href
        await cal.delete(ref.href, ref.etag)
        assert (await cal.list_changes(listing.cursor)).removed == [ref.href]


async def test_a_uid_already_used_is_already_exists(icloud: Account) -> None:
    ev = interview(f"icloud-{uuid.uuid4().hex}")
    async with icloud_client(APPLE_ID, APP_PASSWORD, timeout=10.0) as client:
        response = await client.put(icloud.work + "made-by-the-user.ics", content=ical.serialize(ev))
        assert response.status_code == 201
        cal = IcloudCalendar("icloud-work", icloud.work, client)
        with pytest.raises(AlreadyExistsError, match="no-uid-conflict"):
            await cal.create(ev)


# --------------------------------------------------------------------------- privileges


_PRIVILEGES = """<?xml version="1.0" encoding="utf-8"?>
<d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
 <d:response><d:href>/1/calendars/shared/</d:href><d:propstat><d:prop>
  <d:resourcetype><d:collection/><c:calendar/></d:resourcetype><d:displayname>Shared</d:displayname>
  <d:current-user-privilege-set><d:privilege><d:read/></d:privilege><d:privilege><c:read-free-busy/></d:privilege>
  </d:current-user-privilege-set>
 </d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
 <d:response><d:href>/1/calendars/mine/</d:href><d:propstat><d:prop>
  <d:resourcetype><d:collection/><c:calendar/></d:resourcetype>
  <d:current-user-privilege-set><d:privilege><d:read/></d:privilege><d:privilege><d:write-content/></d:privilege>
  </d:current-user-privilege-set>
  <c:supported-calendar-component-set><c:comp name="VEVENT"/><c:comp name="vtodo"/></c:supported-calendar-component-set>
 </d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
 <d:response><d:href>/1/calendars/unknown/</d:href><d:propstat><d:prop>
  <d:resourcetype><d:collection/><c:calendar/></d:resourcetype>
 </d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
 <d:response><d:href>/1/calendars/inbox/</d:href><d:propstat><d:prop>
  <d:resourcetype><d:collection/></d:resourcetype>
 </d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
</d:multistatus>"""


def test_read_only_comes_from_the_privilege_set() -> None:
    # Radicale reports every privilege to everyone, so this part is read from a served-like body.
    responses, _ = parse_multistatus(_PRIVILEGES.encode())
    home = "https://p42-caldav.icloud.example/1/calendars/"
    infos = [calendar_info(home, r) for r in responses]
    shared, mine, unknown, inbox = infos
    assert shared is not None and shared.read_only and shared.name == "Shared"
    assert shared.url == "https://p42-caldav.icloud.example/1/calendars/shared/"
    assert mine is not None and not mine.read_only and mine.components == ("VEVENT", "VTODO")
    assert unknown is not None and not unknown.read_only and unknown.components == () and unknown.holds_events
    assert inbox is None
