"""IcsFileCalendar on a real temporary file: reading like a feed, atomic writes and their preconditions."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from factories import interview, weekly_series

from mirrorcal import ical
from mirrorcal.errors import (
    AlreadyExistsError,
    ConflictError,
    CursorExpiredError,
    NotFoundError,
    ProviderError,
    ReadOnlyError,
)
from mirrorcal.model import Event
from mirrorcal.providers.icsfeed import CONTENT_KEY_PREFIX
from mirrorcal.providers.icsfile import IcsFileCalendar

BERLIN = ZoneInfo("Europe/Berlin")

FILE = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//someone//file//EN\r\nX-WR-CALNAME:Personal\r\n"
    "BEGIN:VEVENT\r\nUID:keep@x\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260310T090000Z\r\n"
    "DTEND:20260310T100000Z\r\nSUMMARY:Keep me\r\nX-CUSTOM:kept\r\nEND:VEVENT\r\n"
    "BEGIN:VEVENT\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260311T090000Z\r\n"
    "DTEND:20260311T100000Z\r\nSUMMARY:No UID\r\nEND:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:broken@x\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260312T100000Z\r\n"
    "DTEND:20260312T090000Z\r\nSUMMARY:Broken\r\nEND:VEVENT\r\n"
    "BEGIN:VTODO\r\nUID:todo@x\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:A task\r\nEND:VTODO\r\n"
    "END:VCALENDAR\r\n"
)


def event(uid: str, summary: str = "Interview", day: int = 20) -> Event:
    return interview(uid, summary, day)


def series(uid: str) -> Event:
    return weekly_series(uid, marker="m-123")


# Plain-file helpers (sync on purpose: tiny test files, outside the event loop's concern).
def put(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, newline="")


def text_of(path: Path) -> str:
    return path.read_text()


def bytes_of(path: Path) -> bytes:
    return path.read_bytes()


def inode_of(path: Path) -> int:
    return path.stat().st_ino


def names_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "cal" / "personal.ics"


async def test_reading_a_missing_file_raises_never_lists_empty(path: Path) -> None:
    cal = IcsFileCalendar("personal", path)
    with pytest.raises(NotFoundError):
        await cal.list_changes(None)
    with pytest.raises(ProviderError):
        await cal.check()
    assert await cal.get(["a.ics"]) == []


async def test_a_file_that_is_not_icalendar_raises(path: Path) -> None:
    put(path, "this is not a calendar\n")
    cal = IcsFileCalendar("personal", path)
    with pytest.raises(ProviderError):
        await cal.list_changes(None)
    with pytest.raises(ProviderError):  # and a write never clobbers it
        await cal.create(event("new@x"))
    assert text_of(path) == "this is not a calendar\n"


async def test_create_makes_the_file_and_round_trips(path: Path) -> None:
    cal = IcsFileCalendar("personal", path)
    ref = await cal.create(series("s1@mirrorcal"))
    assert ref.href == "s1@mirrorcal.ics" and ref.etag
    listing = await cal.list_changes(None)
    assert listing.full and [i.href for i in listing.items] == [ref.href]
    item = listing.items[0]
    assert item.etag == ref.etag == ical.content_hash(item.event)
    assert item.event.components == series("s1@mirrorcal").components
    assert item.event.marker == "m-123"
    assert "BEGIN:VTIMEZONE" in text_of(path) and "TZID:Europe/Berlin" in text_of(path)

    unchanged = await cal.list_changes(listing.cursor, {ref.href: ref.etag})
    assert not unchanged.full and not unchanged.items and unchanged.cursor == listing.cursor


async def test_cursor_is_mtime_size_and_hash(path: Path) -> None:
    cal = IcsFileCalendar("personal", path)
    ref = await cal.create(event("a@x"))
    listing = await cal.list_changes(None)
    cursor = json.loads(listing.cursor or "")
    assert set(cursor) == {"v", "mtime_ns", "size", "sha256"}
    os.utime(path, ns=(cursor["mtime_ns"] + 10**9, cursor["mtime_ns"] + 10**9))  # touched, same content
    touched = await cal.list_changes(listing.cursor, {ref.href: ref.etag})
    assert not touched.full and not touched.items and touched.cursor != listing.cursor
    with pytest.raises(CursorExpiredError):
        await cal.list_changes("not-json")


async def test_known_etags_are_listed_as_unchanged(path: Path) -> None:
    cal = IcsFileCalendar("personal", path)
    a = await cal.create(event("a@x", day=20))
    b = await cal.create(event("b@x", day=21))
    first = await cal.list_changes(None)
    await cal.update(b.href, event("b@x", "Moved", day=22), b.etag)
    second = await cal.list_changes(first.cursor, {a.href: a.etag, b.href: b.etag})
    assert second.full and second.unchanged == [a.href] and [i.href for i in second.items] == [b.href]


async def test_preconditions(path: Path) -> None:
    cal = IcsFileCalendar("personal", path)
    ref = await cal.create(event("a@x"))
    with pytest.raises(AlreadyExistsError):
        await cal.create(event("a@x", "again"))
    with pytest.raises(ConflictError):
        await cal.update(ref.href, event("a@x", "v2"), "stale-etag")
    with pytest.raises(NotFoundError):
        await cal.update("nope.ics", event("nope"), None)
    new = await cal.update(ref.href, event("a@x", "v2"), ref.etag)
    assert new.href == ref.href and new.etag != ref.etag
    with pytest.raises(ConflictError):
        await cal.delete(ref.href, ref.etag)  # the old etag is stale now
    await cal.delete(ref.href, new.etag)
    with pytest.raises(NotFoundError):
        await cal.delete(ref.href, None)
    assert (await cal.list_changes(None)).items == []
    b = await cal.create(event("b@x"))
    c = await cal.create(event("c@x", day=21))
    with pytest.raises(ConflictError):  # an update may not take another item's UID
        await cal.update(c.href, event("b@x", "stolen"), c.etag)
    assert sorted(i.href for i in (await cal.list_changes(None)).items) == [b.href, c.href]


async def test_writes_keep_everything_else_in_the_file(path: Path) -> None:
    put(path, FILE)
    cal = IcsFileCalendar("personal", path)
    before = await cal.list_changes(None)
    hrefs = sorted(i.href for i in before.items)
    assert hrefs[1] == "keep@x.ics" and hrefs[0].startswith(CONTENT_KEY_PREFIX)
    assert [e.href for e in before.errors] == ["broken@x.ics"]

    ref = await cal.create(event("new@mirrorcal"))
    no_uid = next(i for i in before.items if i.href.startswith(CONTENT_KEY_PREFIX))
    await cal.delete(no_uid.href, no_uid.etag)

    text = text_of(path)
    assert "X-WR-CALNAME:Personal" in text and "BEGIN:VTODO" in text and "X-CUSTOM:kept" in text
    assert "UID:broken@x" in text and "No UID" not in text
    after = await cal.list_changes(before.cursor, {i.href: i.etag for i in before.items})
    assert after.unchanged == ["keep@x.ics"] and [i.href for i in after.items] == [ref.href]
    assert [e.href for e in after.errors] == ["broken@x.ics"]


async def test_delete_removes_only_that_event_when_uids_repeat(path: Path) -> None:
    doc = FILE.replace("UID:broken@x", "UID:dup@x").replace("DTEND:20260312T090000Z", "DTEND:20260312T110000Z")
    doc = doc.replace("UID:keep@x", "UID:dup@x")
    put(path, doc)
    cal = IcsFileCalendar("personal", path)
    listing = await cal.list_changes(None)
    assert len(listing.items) == 3 and all(i.href.startswith(CONTENT_KEY_PREFIX) for i in listing.items)
    keep = next(i for i in listing.items if i.event.master.summary == "Keep me")
    assert keep.href == f"{keep.event.uid}.ics"
    await cal.delete(keep.href, keep.etag)
    rest = await cal.list_changes(None)
    assert sorted(i.event.master.summary for i in rest.items) == ["Broken", "No UID"]
    assert text_of(path).count("UID:dup@x") == 1


async def test_x_wr_timezone_file_keeps_exact_times(path: Path) -> None:
    put(path, FILE.replace("X-WR-CALNAME:Personal\r\n", "X-WR-TIMEZONE:America/New_York\r\n"))
    cal = IcsFileCalendar("personal", path)
    before = {i.href: i.event.components for i in (await cal.list_changes(None)).items}
    await cal.create(event("new@x"))
    after = {i.href: i.event.components for i in (await cal.list_changes(None)).items}
    assert all(after[h] == before[h] for h in before)
    assert after["keep@x.ics"][0].start == datetime(2026, 3, 10, 9, tzinfo=UTC)
    no_uid = next(i for i in (await cal.list_changes(None)).items if i.href.startswith(CONTENT_KEY_PREFIX))
    await cal.delete(no_uid.href, no_uid.etag)
    left = sorted(i.href for i in (await cal.list_changes(None)).items)
    assert left == ["keep@x.ics", "new@x.ics"] and "X-WR-TIMEZONE" not in text_of(path)


async def test_read_only_is_an_instance_flag(path: Path) -> None:
    put(path, FILE)
    cal = IcsFileCalendar("personal", path, read_only=True)
    with pytest.raises(ReadOnlyError):
        await cal.create(event("x@x"))
    with pytest.raises(ReadOnlyError):
        await cal.delete("keep@x.ics", None)
    assert bytes_of(path) == FILE.encode()
    assert IcsFileCalendar.read_only is False and IcsFileCalendar("other", path).read_only is False
    assert (await cal.check()).endswith("2 events, read-only, 1 unreadable")


async def test_rewrites_are_atomic(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cal = IcsFileCalendar("personal", path)
    ref = await cal.create(event("a@x"))
    original = bytes_of(path)
    inode = inode_of(path)

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(ProviderError, match="No space left"):
        await cal.update(ref.href, event("a@x", "v2"), ref.etag)
    assert bytes_of(path) == original
    assert names_in(path.parent) == ["personal.ics"]  # no temp file left
    monkeypatch.undo()

    await cal.update(ref.href, event("a@x", "v2"), ref.etag)
    assert inode_of(path) != inode  # replaced, not written in place
    assert names_in(path.parent) == ["personal.ics"]
