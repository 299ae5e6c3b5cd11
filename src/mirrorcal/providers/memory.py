"""An in-memory calendar honouring the provider contract, with knobs tests use to make it misbehave.

Items are kept as iCalendar text and parsed on listing (parsed events are cached per etag),
so a malformed item (``put_raw``) shows up in ``Listing.errors`` exactly as a bad server item
would. Cursors are ``"mem:<epoch>:<seq>"`` positions in a change log; ``expire_cursors()``
bumps the epoch so every earlier cursor raises ``CursorExpiredError``.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from .. import ical
from ..errors import (
    AlreadyExistsError,
    ConflictError,
    CursorExpiredError,
    InvalidEventError,
    NotFoundError,
)
from ..model import Event
from .base import Calendar, Item, ItemError, ItemRef, Listing

_ids = itertools.count(1)


@dataclass(slots=True)
class _Stored:
    text: str
    etag: str
    event: Event | ItemError | None = None  # parse cache for this etag


@dataclass(slots=True)
class _Failure:
    remaining: int
    exc: BaseException | type[BaseException]
    after: bool


class MemoryCalendar(Calendar):
    """A calendar held in a dict: href -> iCalendar text, with a change log for cursors.

    Test knobs:

    * ``read_only`` (constructor or attribute) makes ``create``/``update``/``delete`` raise
      ``ReadOnlyError``; ``user_put``/``user_delete``/``put_raw`` still work (the user is not
      bound by what mirrorcal may do).
    * ``fail_next(n, exc, after=False)``: the next ``n`` contract calls raise ``exc``; with
      ``after=True`` a write is applied first and then fails (a lost answer).
    * ``expire_cursors()``: every cursor issued so far raises ``CursorExpiredError``.
    * ``put_raw(href, text)``: store any text, malformed or not.
    * ``user_put(event)`` / ``user_delete(href)``: change the calendar as its owner would.
    * ``calls``: a ``Counter`` of contract calls by name; ``parsed``: how many items were parsed.
    """

    kind = "memory"

    def __init__(self, name: str = "memory", read_only: bool = False) -> None:
        super().__init__(name)
        self.read_only = read_only  # type: ignore[misc]  # instance override of the class flag
        self.items: dict[str, _Stored] = {}
        self._log: list[str] = []  # hrefs in the order they changed; a cursor is a position
        self._epoch = next(_ids)
        self._etags = itertools.count(1)
        self._failures: list[_Failure] = []
        self.calls: Counter[str] = Counter()
        self.parsed = 0

    # ----------------------------------------------------------------- knobs

    def fail_next(self, n: int, exc: BaseException | type[BaseException], *, after: bool = False) -> None:
        """Make the next ``n`` contract calls raise ``exc`` (after applying a write if ``after``)."""
        self._failures.append(_Failure(n, exc, after))

    def expire_cursors(self) -> None:
        """Invalidate every cursor issued so far: the next incremental listing raises CursorExpiredError."""
        self._epoch = next(_ids)

    def put_raw(self, href: str, text: str) -> str:
        """Store ``text`` at ``href`` as is (it may be malformed); returns the new etag."""
        return self._store(href, text)

    def user_put(self, event: Event, href: str | None = None) -> str:
        """Create or replace ``event`` as the calendar's owner would (ignores read-only); returns its href."""
        href = href or self._href_of_uid(event.uid) or self.href_for(event.uid)
        self._store(href, ical.serialize(event))
        return href

    def user_delete(self, href: str) -> None:
        """Remove ``href`` as the owner would; raises NotFoundError if it is not there."""
        if href not in self.items:
            raise NotFoundError(f"calendar {self.name!r}: {href} does not exist")
        del self.items[href]
        self._log.append(href)

    def etag_of(self, href: str) -> str | None:
        stored = self.items.get(href)
        return None if stored is None else stored.etag

    # ----------------------------------------------------------------- internals

    def _href_of_uid(self, uid: str) -> str | None:
        href = self.href_for(uid)
        return href if href in self.items else None

    def _store(self, href: str, text: str) -> str:
        etag = f'"{self._epoch}-{next(self._etags)}"'
        self.items[href] = _Stored(text, etag)
        self._log.append(href)
        return etag

    def _enter(self, call: str, *, write: bool = False) -> _Failure | None:
        """Count the call; raise a pending failure now, or return it to raise after the write."""
        self.calls[call] += 1
        if not self._failures:
            return None
        failure = self._failures[0]
        failure.remaining -= 1
        if failure.remaining <= 0:
            self._failures.pop(0)
        if failure.after and write:
            return failure
        raise failure.exc

    def _cursor(self) -> str:
        return f"mem:{self._epoch}:{len(self._log)}"

    def _item(self, href: str) -> Item | ItemError:
        stored = self.items[href]
        if stored.event is None:
            self.parsed += 1
            try:
                stored.event = ical.parse_resource(stored.text)
            except InvalidEventError as exc:
                stored.event = ItemError(href, f"{href}: {exc}")
            except Exception as exc:  # a parser bug on one item must not sink the listing
                stored.event = ItemError(href, f"{href}: could not be read ({type(exc).__name__}: {exc})")
        if isinstance(stored.event, ItemError):
            return stored.event
        return Item(href, stored.etag, stored.event)

    # ----------------------------------------------------------------- contract

    async def list_changes(self, cursor: str | None, known: Mapping[str, str | None] | None = None) -> Listing:
        """Changes since ``cursor`` (all items when None); CursorExpiredError for a stale or foreign cursor."""
        self._enter("list_changes")
        known = known or {}
        removed: list[str] = []
        if cursor is None:
            hrefs = list(self.items)
        else:
            parts = cursor.split(":")
            if len(parts) != 3 or parts[0] != "mem" or parts[1] != str(self._epoch) or not parts[2].isdigit():
                raise CursorExpiredError(f"calendar {self.name!r}: cursor {cursor!r} is no longer valid")
            position = int(parts[2])
            if position > len(self._log):
                raise CursorExpiredError(f"calendar {self.name!r}: cursor {cursor!r} is from the future")
            changed = dict.fromkeys(self._log[position:])
            hrefs = [h for h in changed if h in self.items]
            removed = [h for h in changed if h not in self.items]
        listing = Listing(removed=removed, cursor=self._cursor(), full=cursor is None)
        for href in hrefs:
            if href in known and known[href] == self.items[href].etag:
                listing.unchanged.append(href)
                continue
            entry = self._item(href)
            (listing.items if isinstance(entry, Item) else listing.errors).append(entry)  # type: ignore[arg-type]
        return listing

    async def get(self, hrefs: list[str]) -> list[Item]:
        """The named items that exist and parse; the others are left out."""
        self._enter("get")
        found = [self._item(h) for h in hrefs if h in self.items]
        return [entry for entry in found if isinstance(entry, Item)]

    async def _create(self, event: Event) -> ItemRef:
        failure = self._enter("create", write=True)
        href = self.href_for(event.uid)
        if href in self.items:
            raise AlreadyExistsError(f"calendar {self.name!r}: {href} already exists")
        etag = self._store(href, ical.serialize(event))
        return self._done(ItemRef(href, etag), failure)

    async def _update(self, href: str, event: Event, etag: str | None) -> ItemRef:
        failure = self._enter("update", write=True)
        stored = self.items.get(href)
        if stored is None:
            raise NotFoundError(f"calendar {self.name!r}: {href} does not exist")
        if etag is not None and etag != stored.etag:
            raise ConflictError(f"calendar {self.name!r}: {href} changed since etag {etag}")
        new_etag = self._store(href, ical.serialize(event))
        return self._done(ItemRef(href, new_etag), failure)

    async def _delete(self, href: str, etag: str | None) -> None:
        failure = self._enter("delete", write=True)
        stored = self.items.get(href)
        if stored is None:
            raise NotFoundError(f"calendar {self.name!r}: {href} does not exist")
        if etag is not None and etag != stored.etag:
            raise ConflictError(f"calendar {self.name!r}: {href} changed since etag {etag}")
        del self.items[href]
        self._log.append(href)
        self._done(None, failure)

    @staticmethod
    def _done(result: ItemRef | None, failure: _Failure | None) -> ItemRef:
        if failure is not None:
            raise failure.exc
        return result  # type: ignore[return-value]

    async def check(self) -> str:
        self._enter("check")
        return f"memory calendar {self.name!r}, {len(self.items)} items"


__all__ = ["MemoryCalendar"]
