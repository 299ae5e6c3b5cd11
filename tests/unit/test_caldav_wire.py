"""CalDAV adapter behaviours Radicale cannot show: canned multistatus answers of other servers."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from mirrorcal.errors import AlreadyExistsError, CursorExpiredError, ProviderError
from mirrorcal.providers.caldav import CalDAVCalendar, Probe
from mirrorcal.providers.http import counter_for
from mirrorcal.providers.webdav import canonical_href, parse_multistatus

BASE = "http://127.0.0.1:1/cal/"
GOOD = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
    "DTSTAMP:20260101T000000Z\r\nDTSTART:20260310T090000Z\r\nDTEND:20260310T100000Z\r\n"
    "SUMMARY:{uid}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)
BAD = GOOD.replace("DTEND:20260310T100000Z", "DTEND:20260310T080000Z")
TODO = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VTODO\r\nUID:t\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"


def multistatus(*responses: str, token: str | None = None) -> str:
    tail = f"<d:sync-token>{token}</d:sync-token>" if token else ""
    return f'<?xml version="1.0"?><d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">{"".join(responses)}{tail}</d:multistatus>'


def found(href: str, etag: str, data: str | None = None) -> str:
    body = f"<c:calendar-data>{data.replace('&', '&amp;').replace('<', '&lt;')}</c:calendar-data>" if data else ""
    return (
        f"<d:response><d:href>{href}</d:href><d:propstat><d:prop><d:getetag>{etag}</d:getetag>{body}</d:prop>"
        "<d:status>HTTP/1.1 200 OK</d:status></d:propstat>"
        "<d:propstat><d:prop><d:getcontenttype/></d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat>"
        "</d:response>"
    )


def status(href: str, code: int, reason: str = "") -> str:
    return f"<d:response><d:href>{href}</d:href><d:status>HTTP/1.1 {code} {reason}</d:status></d:response>"


Handler = Callable[[httpx.Request], httpx.Response]


def calendar(script: list[Handler], seen: list[httpx.Request]) -> CalDAVCalendar:
    """A calendar whose server answers from ``script``; the getlastmodified pre-check gets a 405
    (a server without it), so the script holds only the requests under test."""

    def handle(request: httpx.Request) -> httpx.Response:
        request.read()
        if request.method == "PROPFIND" and b"getlastmodified" in request.content:
            return httpx.Response(405)
        seen.append(request)
        return script.pop(0)(request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    counter_for(client)
    return CalDAVCalendar("canned", BASE, client)


def answer(code: int, body: str = "", headers: dict[str, str] | None = None) -> Handler:
    return lambda request: httpx.Response(code, text=body, headers=headers)


def test_parse_multistatus_reads_statuses_props_and_token() -> None:
    responses, token = parse_multistatus(
        multistatus(
            found("/cal/a.ics", '"1"'),
            status("/cal/gone.ics", 404, "Not Found"),
            status("/cal/", 507, "Insufficient Storage"),
            token="tok-2",
        ).encode()
    )
    assert token == "tok-2"
    assert [(r.href, r.status) for r in responses] == [("/cal/a.ics", 200), ("/cal/gone.ics", 404), ("/cal/", 507)]
    assert responses[0].text("DAV:", "getetag") == '"1"'
    assert not responses[0].has("DAV:", "getcontenttype")  # 404 propstat: not found
    with pytest.raises(ProviderError):
        parse_multistatus(b"<html>nope</html>")


def test_canonical_href_compares_quoting_variants_equal() -> None:
    assert canonical_href("/cal/a@b.ics") == canonical_href("/cal/a%40b.ics") == canonical_href("http://h/cal/a%40b.ics")


async def test_truncated_sync_asks_again_and_merges() -> None:
    seen: list[httpx.Request] = []
    cal = calendar(
        [
            answer(207, multistatus(found("/cal/a.ics", '"a1"'), found("/cal/b.ics", '"b1"'), status("/cal/", 507), token="t1")),
            answer(207, multistatus(status("/cal/a.ics", 404), found("/cal/c.ics", '"c1"'), found("/cal/sub/", '"x"'), token="t2")),
            answer(
                207,
                multistatus(
                    found("/cal/b.ics", '"b1"', GOOD.format(uid="b")),
                    found("/cal/c.ics", '"c1"', BAD.format(uid="c")),
                ),
            ),
        ],
        seen,
    )
    listing = await cal.list_changes("t0")
    assert b"<D:sync-token>t0</D:sync-token>" in seen[0].content and b"t1" in seen[1].content
    assert seen[0].headers["Depth"] == "0"
    assert [i.href for i in listing.items] == ["/cal/b.ics"] and listing.items[0].event.uid == "b"
    assert [e.href for e in listing.errors] == ["/cal/c.ics"]
    assert listing.removed == ["/cal/a.ics"] and not listing.full
    assert listing.cursor is not None and Probe.load(listing.cursor).token == "t2"  # type: ignore[union-attr]
    assert b"/cal/sub/" not in seen[2].content  # a sub-collection is not an item
    await cal.client.aclose()


@pytest.mark.parametrize("code", [403, 409, 412])
async def test_every_server_flavour_of_invalid_token_expires_the_cursor(code: int) -> None:
    body = '<?xml version="1.0"?><d:error xmlns:d="DAV:"><d:valid-sync-token/></d:error>'
    cal = calendar([answer(code, body)], [])
    with pytest.raises(CursorExpiredError):
        await cal.list_changes("stale")
    await cal.client.aclose()


async def test_server_without_sync_collection_falls_back_to_ctag() -> None:
    seen: list[httpx.Request] = []
    ctag = (
        '<d:response><d:href>/cal/</d:href><d:propstat><d:prop><cs:getctag xmlns:cs="http://calendarserver.org/ns/">'
        "c7</cs:getctag></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"
    )
    cal = calendar(
        [
            answer(501, "not implemented"),
            answer(207, multistatus(ctag, found("/cal/a.ics", '"a1"'), found("/cal/t.ics", '"t1"'))),
            answer(207, multistatus(found("/cal/a.ics", '"a1"', GOOD.format(uid="a")), found("/cal/t.ics", '"t1"', TODO))),
            answer(207, multistatus(ctag)),
        ],
        seen,
    )
    listing = await cal.list_changes(None)
    assert listing.full and listing.cursor == "ctag:c7"
    assert [i.href for i in listing.items] == ["/cal/a.ics"] and listing.errors == []  # the task is skipped
    again = await cal.list_changes(listing.cursor)
    assert again.items == [] and again.cursor == "ctag:c7" and len(seen) == 4
    await cal.client.aclose()


async def test_no_uid_conflict_on_create_is_already_exists() -> None:
    body = '<?xml version="1.0"?><d:error xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><c:no-uid-conflict><d:href>/other/x.ics</d:href></c:no-uid-conflict></d:error>'
    seen: list[httpx.Request] = []
    cal = calendar([answer(409, body)], seen)
    from mirrorcal import ical

    with pytest.raises(AlreadyExistsError, match="elsewhere"):
        await cal.create(ical.parse_resource(GOOD.format(uid="x")))
    assert seen[0].headers["If-None-Match"] == "*"
    await cal.client.aclose()
