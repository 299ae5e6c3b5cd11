"""MemoryCalendar's test knobs: injected failures, expired cursors, owner writes, read-only override."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mirrorcal.errors import AlreadyExistsError, CursorExpiredError, ReadOnlyError, TransientError
from mirrorcal.model import Component, Event
from mirrorcal.providers.memory import MemoryCalendar


def event(uid: str, summary: str = "x") -> Event:
    start = datetime(2026, 3, 10, 9, tzinfo=UTC)
    return Event(uid, (Component(start=start, end=start.replace(hour=10), summary=summary),))


async def test_fail_next_raises_then_recovers() -> None:
    cal = MemoryCalendar()
    cal.fail_next(2, TransientError("boom"))
    for _ in range(2):
        with pytest.raises(TransientError):
            await cal.list_changes(None)
    assert (await cal.list_changes(None)).full
    assert cal.calls["list_changes"] == 3


async def test_fail_after_write_applies_it_then_raises() -> None:
    cal = MemoryCalendar()
    cal.fail_next(1, TransientError, after=True)
    with pytest.raises(TransientError):
        await cal.create(event("a"))
    assert "a.ics" in cal.items
    with pytest.raises(AlreadyExistsError):  # the retried create finds it
        await cal.create(event("a"))


async def test_expire_cursors_and_foreign_cursors() -> None:
    cal = MemoryCalendar()
    cursor = (await cal.list_changes(None)).cursor
    assert cursor
    with pytest.raises(CursorExpiredError):
        await cal.list_changes("http://radicale.org/ns/sync/bogus")
    cal.expire_cursors()
    with pytest.raises(CursorExpiredError):
        await cal.list_changes(cursor)


async def test_owner_writes_ignore_read_only_and_are_listed() -> None:
    cal = MemoryCalendar("feed", read_only=True)
    assert cal.read_only and not MemoryCalendar.read_only
    cursor = (await cal.list_changes(None)).cursor
    href = cal.user_put(event("u", "by hand"))
    with pytest.raises(ReadOnlyError):
        await cal.delete(href, None)
    listing = await cal.list_changes(cursor)
    assert [i.event.master.summary for i in listing.items] == ["by hand"]
    etag = cal.etag_of(href)
    cal.user_put(event("u", "edited"))
    assert cal.etag_of(href) != etag
    cal.user_delete(href)
    assert (await cal.list_changes(listing.cursor)).removed == [href]
