"""The unified view: busy blocks of every unified calendar, from the state store's cache."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from . import ical
from .conflicts import Busy, Conflict, find_conflicts, occurrences
from .errors import MirrorcalError
from .slots import BookingRules, Slot, free_slots
from .store.base import Store


class BusyCache:
    """Expanded busy blocks per item version and window, kept between checks by a long-running
    service so that an unchanged item is neither parsed nor expanded again."""

    def __init__(self) -> None:
        self._blocks: dict[tuple[str, str], tuple[tuple[object, ...], list[Busy]]] = {}

    def get(self, calendar: str, href: str, version: tuple[object, ...]) -> list[Busy] | None:
        hit = self._blocks.get((calendar, href))
        return hit[1] if hit is not None and hit[0] == version else None

    def put(self, calendar: str, href: str, version: tuple[object, ...], blocks: list[Busy]) -> None:
        self._blocks[(calendar, href)] = (version, blocks)

    def __len__(self) -> int:
        """How many items are kept expanded."""
        return len(self._blocks)


def busy_blocks(
    store: Store,
    calendars: Iterable[tuple[str, frozenset[str]]],
    *,
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    cache: BusyCache | None = None,
) -> tuple[list[Busy], list[str]]:
    """Busy blocks in ``[start, end)`` of the given (calendar, owner e-mails) pairs.

    A mirror's root is its origin's, so an event and its mirrors never conflict. Returns the
    blocks and readable problems (an item that cannot be expanded is reported, not fatal).
    """
    blocks: list[Busy] = []
    problems: list[str] = []
    roots: dict[str, str | None] = {}
    for name, emails in calendars:
        # With a cache, only the stamps are read, then the text of the items it lacks.
        listed = store.stamps(name) if cache is not None else store.items(name)
        missing: list[tuple[str, tuple[object, ...]]] = []
        for stamp in listed.values():
            if stamp.marker:
                if stamp.marker not in roots:
                    row = store.mirror_by_uid(stamp.marker)
                    roots[stamp.marker] = row.root_key if row else None
                root = roots[stamp.marker] or f"{name}/{stamp.uid}"
            else:
                root = f"{name}/{stamp.uid}"
            version: tuple[object, ...] = (stamp.etag, stamp.content_hash, root, start, end, tz.key, emails)
            known = cache.get(name, stamp.href, version) if cache is not None else None
            if known is not None:
                blocks.extend(known)
            else:
                missing.append((stamp.href, version))
        texts = listed if cache is None else store.items_at(name, [href for href, _ in missing])
        for href, version in missing:
            item = texts.get(href)
            if item is None:  # gone between the two reads
                continue
            if not item.ics:  # nothing readable was served: nothing busy (the sync reports it)
                if cache is not None:
                    cache.put(name, href, version, [])
                continue
            root = str(version[2])
            try:
                event = ical.parse_resource(item.ics)
                found = occurrences(event, calendar=name, root=root, start=start, end=end, tz=tz, declined_by=emails)
                blocks.extend(found)
                if cache is not None:
                    cache.put(name, item.href, version, found)
            except (MirrorcalError, ValueError) as exc:
                problems.append(f"{name}: {item.href}: {exc}")
    return blocks, problems


def conflicts_between(
    store: Store,
    calendars: Iterable[tuple[str, frozenset[str]]],
    *,
    start: datetime,
    days: int,
    tz: ZoneInfo,
    buffer: timedelta,
    working_hours: tuple[time, time] | None = None,
    search_days: int = 14,
    cache: BusyCache | None = None,
) -> tuple[list[Conflict], list[str]]:
    """Conflicts among the unified calendars that start from ``start`` within ``days`` days.

    Busy blocks are read ``search_days`` further, so a proposed slot is free there too.
    """
    until = start + timedelta(days=days)
    blocks, problems = busy_blocks(
        store, calendars, start=start, end=until + timedelta(days=search_days), tz=tz, cache=cache
    )
    found = find_conflicts(blocks, buffer=buffer, tz=tz, working_hours=working_hours, search_days=search_days)
    return [c for c in found if min(c.a.start, c.b.start) < until], problems


def booking_window(now: datetime, window_days: int) -> tuple[datetime, datetime]:
    """The busy time a booking page reads at ``now``: from a day before to a day past its
    rolling window, on whole UTC days, so that the expansion cached for one request serves every
    request of the day (``BusyCache`` keys it by window)."""
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight - timedelta(days=1), midnight + timedelta(days=window_days + 2)


def booking_slots(
    store: Store,
    calendars: Iterable[tuple[str, frozenset[str]]],
    rules: BookingRules,
    *,
    now: datetime,
    booked: Iterable[datetime] = (),
    cache: BusyCache | None = None,
) -> tuple[list[Slot], list[str]]:
    """A booking page's free slots over the unified calendars' busy time (``slots.free_slots``),
    and the problems met reading them (an unreadable item is reported, never treated as free
    silently: the caller decides whether to show slots anyway)."""
    start, end = booking_window(now, rules.window_days)
    blocks, problems = busy_blocks(store, calendars, start=start, end=end, tz=rules.zone, cache=cache)
    return free_slots(((b.start, b.end) for b in blocks), rules, now=now, booked=booked), problems
