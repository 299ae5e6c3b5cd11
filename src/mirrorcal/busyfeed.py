"""The busy-only ICS feed: an account's unified calendars as opaque "Busy" blocks, for clients that can only subscribe.

What a subscriber learns is exactly what ``PROPERTIES`` allows: when the recruiter is busy, in
UTC, and nothing else. Each VEVENT is built from scratch (never copied from a source event), so
no title, description, location, attendee, organizer, URL, category, alarm, source UID, time
zone or calendar name can leak. The blocks come from ``unified.busy_blocks`` (series expanded
with their overrides and exceptions; free, cancelled and declined occurrences left out), and
overlapping or touching blocks are merged, so an event and its mirrors appear once and the
subscriber cannot count or tell apart back-to-back meetings. A block's UID is an HMAC of its
times under the account's key: stable while the block is unchanged, meaningless otherwise.
The window is whole days, [today - ``PAST_DAYS``, today + ``FUTURE_DAYS`` + 1), in the account's
time zone, so the text (and its ETag) changes only when the busy time does, or at midnight.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from .store.base import Store
from .unified import busy_blocks

PAST_DAYS = 7
FUTURE_DAYS = 60
PRODID = "-//mirrorcal//busy feed//EN"
SUMMARY = "Busy"
CALENDAR_PROPERTIES = frozenset({"VERSION", "PRODID", "CALSCALE", "METHOD", "REFRESH-INTERVAL", "X-PUBLISHED-TTL"})
"""Every property the VCALENDAR carries."""
PROPERTIES = frozenset({"UID", "DTSTAMP", "DTSTART", "DTEND", "SUMMARY", "TRANSP", "CLASS"})
"""Every property a VEVENT of the feed carries (and nothing else)."""
REFRESH = "PT15M"
_UTC_FORMAT = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True, slots=True)
class Feed:
    """A rendered feed: its iCalendar ``text``, its strong ``etag`` (quoted) and block count."""

    text: str
    etag: str
    blocks: int


def window(now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The feed's [start, end) for ``now`` (aware): whole local days around today, in UTC."""
    today = now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    start = (today - timedelta(days=PAST_DAYS)).replace(tzinfo=tz)
    end = (today + timedelta(days=FUTURE_DAYS + 1)).replace(tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def merged(spans: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """``spans`` (aware) in UTC, sorted, with overlapping or touching spans joined into one."""
    out: list[tuple[datetime, datetime]] = []
    for start, end in sorted((s.astimezone(UTC), e.astimezone(UTC)) for s, e in spans):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def render(spans: Iterable[tuple[datetime, datetime]], *, key: bytes, stamp: datetime) -> Feed:
    """The feed of the busy ``spans`` (merged first); ``key`` makes the UIDs (an account's
    secret), ``stamp`` (aware) is every DTSTAMP. Deterministic: same input, same text."""
    blocks = merged(spans)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"REFRESH-INTERVAL;VALUE=DURATION:{REFRESH}",
        f"X-PUBLISHED-TTL:{REFRESH}",
    ]
    dtstamp = stamp.astimezone(UTC).strftime(_UTC_FORMAT)
    for start, end in blocks:
        begin, finish = start.strftime(_UTC_FORMAT), end.strftime(_UTC_FORMAT)
        uid = hmac.new(key, f"{begin}/{finish}".encode(), hashlib.sha256).hexdigest()[:32]
        lines += [
            "BEGIN:VEVENT",
            f"UID:{uid}@busy.mirrorcal",
            f"DTSTAMP:{dtstamp}",
            f"DTSTART:{begin}",
            f"DTEND:{finish}",
            f"SUMMARY:{SUMMARY}",
            "TRANSP:OPAQUE",
            "CLASS:PRIVATE",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    text = "\r\n".join(lines) + "\r\n"
    etag = '"' + hashlib.sha256(text.encode()).hexdigest()[:40] + '"'
    return Feed(text, etag, len(blocks))


def busy_feed(
    store: Store,
    calendars: Iterable[tuple[str, frozenset[str]]],
    *,
    now: datetime,
    tz: ZoneInfo,
    key: bytes,
) -> tuple[Feed, list[str]]:
    """The feed of the given unified (calendar, owner e-mails) pairs as the store has them cached
    now, and the problems met (an item that cannot be expanded is left out, not fatal).
    Raises ``StoreError``."""
    start, end = window(now, tz)
    found, problems = busy_blocks(store, calendars, start=start, end=end, tz=tz)
    return render(((b.start, b.end) for b in found), key=key, stamp=start), problems


def matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (weak comparison, ``*`` matches)."""
    if not if_none_match:
        return False
    tags = [t.strip() for t in if_none_match.split(",")]
    return any(t == "*" or t.removeprefix("W/") == etag for t in tags)
