"""The provider interface: the one contract every calendar adapter implements.

Contract (the shared suite in ``tests/contract`` checks it against every implementation):

* ``list_changes(cursor, known)`` returns what changed since ``cursor`` (everything when
  ``cursor`` is None): the changed items with their events already parsed, the hrefs removed,
  and the new cursor. ``known`` maps href -> etag of what the caller already holds: an item
  whose etag equals ``known[href]`` is not fetched again; it is listed in ``unchanged``
  instead (providers that cannot tell may return it in ``items``). When the provider says the
  cursor expired it raises ``CursorExpiredError``; the caller then lists again with ``None``.
  An item that does not parse is returned in ``errors`` (with its href) and the rest of the
  listing is still returned. ``Listing.full`` is True when the listing is complete: then
  ``items`` + ``unchanged`` + the hrefs in ``errors`` are everything there is and ``removed``
  is empty; anything else the caller holds is gone.
* ``create(event)`` writes a new item at ``href_for(event.uid)`` and returns its ``ItemRef``; if
  the href (or the provider-side id) is already taken it raises ``AlreadyExistsError``, which
  makes a retried create detectable and harmless.
* ``update(href, event, etag)`` replaces the item if its etag is still ``etag`` (None: any),
  else ``ConflictError``; ``NotFoundError`` if it is gone.
* ``delete(href, etag)`` removes it under the same precondition; deleting a missing item
  raises ``NotFoundError``.
* ``get(hrefs)`` fetches items by href; unknown hrefs are left out.
* Read-only calendars refuse every write with ``ReadOnlyError``: enforced here, once.
* Errors are ``mirrorcal.errors.ProviderError`` subclasses, mapped at the adapter's edge.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from ..errors import ReadOnlyError
from ..model import Event


@dataclass(frozen=True, slots=True)
class ItemRef:
    """Where an item lives at its provider and its version."""

    href: str
    etag: str | None


@dataclass(frozen=True, slots=True)
class Item:
    """One item of a calendar as listed: where it is, its version and its parsed event."""

    href: str
    etag: str | None
    event: Event


@dataclass(frozen=True, slots=True)
class ItemError:
    """An item that could not be read: where, and a message a person can act on."""

    href: str
    message: str


@dataclass(slots=True)
class Listing:
    """The answer to ``list_changes``."""

    items: list[Item] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    errors: list[ItemError] = field(default_factory=list)
    cursor: str | None = None
    full: bool = False


class Calendar(abc.ABC):
    """One calendar at one provider. Subclasses implement the ``_``-prefixed hooks."""

    kind: ClassVar[str] = "abstract"
    read_only: ClassVar[bool] = False

    def __init__(self, name: str) -> None:
        self.name = name

    @abc.abstractmethod
    async def list_changes(self, cursor: str | None, known: Mapping[str, str | None] | None = None) -> Listing:
        """Changes since ``cursor``; raises CursorExpiredError when the provider rejects it."""

    @abc.abstractmethod
    async def get(self, hrefs: list[str]) -> list[Item]:
        """Fetch the named items; unknown hrefs are left out."""

    def href_for(self, uid: str) -> str:
        """The href a created item with this UID gets (deterministic, so retries find it)."""
        return f"{uid}.ics"

    async def create(self, event: Event) -> ItemRef:
        self._check_writable()
        return await self._create(event)

    async def update(self, href: str, event: Event, etag: str | None) -> ItemRef:
        self._check_writable()
        return await self._update(href, event, etag)

    async def delete(self, href: str, etag: str | None) -> None:
        self._check_writable()
        await self._delete(href, etag)

    async def check(self) -> str:
        """Reach the calendar and return a one-line description; raises ProviderError."""
        listing = await self.list_changes(None)
        return f"{len(listing.items)} events"

    async def aclose(self) -> None:
        """Release connections."""

    def _check_writable(self) -> None:
        if self.read_only:
            raise ReadOnlyError(f"calendar {self.name!r} ({self.kind}) is read-only")

    async def _create(self, event: Event) -> ItemRef:
        raise ReadOnlyError(f"calendar {self.name!r} ({self.kind}) cannot create events")

    async def _update(self, href: str, event: Event, etag: str | None) -> ItemRef:
        raise ReadOnlyError(f"calendar {self.name!r} ({self.kind}) cannot update events")

    async def _delete(self, href: str, etag: str | None) -> None:
        raise ReadOnlyError(f"calendar {self.name!r} ({self.kind}) cannot delete events")
