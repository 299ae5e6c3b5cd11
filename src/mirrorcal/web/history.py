"""History: a sync's (``/syncs/{name}/history``, ``/api/v1/syncs/{name}/history``) and an
event's (``/history/event?root=...``, ``/api/v1/history/event?root=...``).

Both list, newest first, what the runs did to events and why, read from the store's per-event
history (``Store.history``; both halves of a two-way sync). An event's history follows it across
every sync of the account: an origin event is named by its root, ``CALENDAR/KEY`` (the calendar
where it was created and its key there); a history row of a sync whose source event is itself a
mirror (a chain: client A → personal → client B) is traced back to that root through the mirror
ids (``planner.mirror_uid`` is a keyed hash of sync and origin key, so even a deleted mirror's
row is traced). Names lose the account's ``u{id}.`` namespace. A sync or an event that is not
the user's is 404, as everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from mirrorcal import workspace as ws
from mirrorcal.config import BACK_SUFFIX
from mirrorcal.store.base import HistoryRow, Store
from mirrorcal.sync.planner import mirror_uid
from mirrorcal.workspace import SyncEntry, Workspace

from . import api_setup, syncs
from .api import ErrorOut
from .deps import ApiSetup, Csrf, PageSetup
from .pages import render
from .setup import Setup

ACTIONS = ("created", "updated", "deleted", "skipped", "error")
SHOWN = 200
"""At most this many entries are listed (the newest that match)."""
SCANNED = 5000
"""How many of each half's latest history rows are searched for matches."""

Action = Literal["created", "updated", "deleted", "skipped", "error"]
_errors: dict[int | str, dict[str, object]] = {code: {"model": ErrorOut} for code in (401, 404)}
router = APIRouter(responses=_errors)


@dataclass(frozen=True, slots=True)
class Entry:
    """One thing a run did (or chose not to do) to one event, in the user's own names."""

    at: datetime
    event: str
    action: str
    reason: str
    back: bool
    """True for the way back of a two-way sync (target to source)."""
    root: str = ""
    """The origin event's root, ``CALENDAR/KEY`` (see the module docstring): its history's key."""
    sync: str = ""
    target: str = ""
    """The calendar the sync writes to (for this half)."""


_MAX_HOPS = 16


class Roots:
    """Traces history rows of the account's syncs back to their origin event's root.

    Reads each half's latest ``SCANNED`` history rows and mirror rows once. ``root(half,
    origin_key)`` takes the engine's (namespaced) names and gives the root without the
    namespace."""

    def __init__(self, store: Store, user_id: int, model: Workspace) -> None:
        self.user_id, self.p = user_id, ws.prefix(user_id)
        self.key = store.secret("mirror-id")
        self.halves: dict[str, tuple[SyncEntry, str, str]] = {}  # half -> (sync, source, target), namespaced
        for s in model.syncs:
            self.halves[self.p + s.name] = (s, self.p + s.source, self.p + s.target)
            if s.two_way:
                self.halves[self.p + s.name + BACK_SUFFIX] = (s, self.p + s.target, self.p + s.source)
        self.rows: dict[str, list[HistoryRow]] = {h: store.history(h, limit=SCANNED) for h in self.halves}
        self.made: dict[str, tuple[str, str]] = {}  # mirror uid -> (half, origin key) it was made for
        self.known: dict[str, str] = {}  # mirror uid -> root key (namespaced), from the mirror rows
        for half in self.halves:
            for row in self.rows[half]:
                self.made.setdefault(mirror_uid(self.key, half, row.origin_key), (half, row.origin_key))
            for origin_key, mirror in store.mirrors(half).items():
                self.made.setdefault(mirror.mirror_uid, (half, origin_key))
                self.known[mirror.mirror_uid] = mirror.root_key
        self._cache: dict[tuple[str, str], str] = {}

    def root(self, half: str, origin_key: str) -> str:
        found = self._cache.get((half, origin_key))
        if found is None:
            found = ws.unprefixed(self._root(half, origin_key), self.user_id)
            self._cache[(half, origin_key)] = found
        return found

    def _root(self, half: str, origin_key: str) -> str:
        for _ in range(_MAX_HOPS):
            uid = origin_key.split("#", 1)[0]
            if uid in self.made and self.made[uid] != (half, origin_key):
                half, origin_key = self.made[uid]
                continue
            if uid in self.known:
                return self.known[uid]
            break
        source = self.halves[half][1] if half in self.halves else ""
        return f"{source}/{origin_key}"


def entries(
    store: Store, user_id: int, sync: SyncEntry, action: str | None = None, query: str = "", roots: Roots | None = None
) -> list[Entry]:
    """The newest ``SHOWN`` history entries of ``sync`` (both halves), newest first, keeping only
    ``action`` (when given) and events whose title holds ``query`` (case-insensitive, when given).
    An entry recorded without a title (a deletion) takes the newest title its event had; with none
    known, the event's key stands in.

    ``roots`` (over the whole account, so chains are traced) gives each entry its event's root.
    Only each half's latest ``SCANNED`` rows are searched. Raises ``StoreError`` when the store
    cannot be read."""
    p = ws.prefix(user_id)
    needle = query.strip().casefold()
    found: list[Entry] = []
    roots = roots or Roots(store, user_id, Workspace(syncs=[sync]))
    for half in ws.halves(sync):
        rows = roots.rows.get(p + half) or store.history(p + half, limit=SCANNED)
        titles: dict[str, str] = {}  # a deleted event's row has no title: use the newest one it had
        for row in reversed(rows):
            if row.summary:
                titles[row.origin_key] = row.summary
        for row in rows:
            title = row.summary or titles.get(row.origin_key, "")
            if action and row.action != action:
                continue
            if needle and needle not in title.casefold():
                continue
            event = ws.unprefixed(title or row.origin_key, user_id)
            back = half.endswith(BACK_SUFFIX)
            found.append(
                Entry(
                    row.at, event, row.action, ws.unprefixed(row.reason, user_id), back,
                    root=roots.root(p + half, row.origin_key), sync=sync.name,
                    target=sync.source if back else sync.target,
                )
            )  # fmt: skip
    found.sort(key=lambda e: e.at, reverse=True)  # stable: within a half, store order stays
    return found[:SHOWN]


@router.get("/syncs/{sync_name}/history", include_in_schema=False)
def history_page(
    request: Request, csrf: Csrf, setup: PageSetup, sync: syncs.OwnedSync, action: str = "", q: str = ""
) -> Response:
    chosen = action if action in ACTIONS else ""
    context = {
        "active": "syncs",
        "sync": sync,
        "entries": entries(setup.store, setup.user.id, sync, chosen or None, q, Roots(setup.store, setup.user.id, setup.workspace())),
        "actions": ACTIONS,
        "action": chosen,
        "q": q,
        "shown": SHOWN,
    }
    return render(request, "history.html", context)


class EntryOut(BaseModel):
    """One history entry of a sync."""

    at: datetime = Field(description="When the run handled the event (ISO 8601, UTC).")
    event: str = Field(
        description="The event's title (its address when it has none, as for an unreadable one)."
    )
    action: str = Field(
        description="What was done: created, updated, deleted, skipped, error (or forgotten: a copy let go)."
    )
    reason: str = Field(description="Why, in words.")
    way_back: bool = Field(description="True for the way back of a two-way sync.")
    root: str = Field(
        default="", description="The origin event's root (CALENDAR/KEY): its whole history is /api/v1/history/event?root=…"
    )


class HistoryOut(BaseModel):
    """The newest entries (at most 200) of a sync's history, newest first."""

    sync: str
    entries: list[EntryOut]


@router.get(
    "/api/v1/syncs/{sync_name}/history", tags=["syncs"], summary="What a sync did to each event, and why"
)
def history_api(
    setup: ApiSetup, sync: api_setup.OwnedSync, action: Action | None = None, q: str = ""
) -> HistoryOut:
    found = entries(setup.store, setup.user.id, sync, action, q, Roots(setup.store, setup.user.id, setup.workspace()))
    return HistoryOut(
        sync=sync.name,
        entries=[
            EntryOut(at=e.at, event=e.event, action=e.action, reason=e.reason, way_back=e.back, root=e.root)
            for e in found
        ],
    )


# one event across every sync -------------------------------------------------------------------
def event_entries(store: Store, user_id: int, model: Workspace, root: str) -> list[Entry]:
    """Everything the account's syncs did to the event whose root is ``root`` (``CALENDAR/KEY``,
    as ``Entry.root``), newest first (at most ``SHOWN``); [] when none of its syncs touched it."""
    roots = Roots(store, user_id, model)
    found = [e for s in model.syncs for e in entries(store, user_id, s, roots=roots) if e.root == root]
    found.sort(key=lambda e: e.at, reverse=True)
    return found[:SHOWN]


def _event_or_404(setup: Setup, root: str) -> list[Entry]:
    found = event_entries(setup.store, setup.user.id, setup.workspace(), root) if root else []
    if not found:
        raise HTTPException(404, "No sync of yours has handled this event.")
    return found


@router.get("/history/event", include_in_schema=False)
def event_history_page(request: Request, csrf: Csrf, setup: PageSetup, root: str = "") -> Response:
    found = _event_or_404(setup, root)
    calendar = root.split("/", 1)[0]
    title = next((e.event for e in found if e.event), root)
    context = {"active": "syncs", "entries": found, "root": root, "calendar": calendar, "title": title, "shown": SHOWN}
    return render(request, "history_event.html", context)


class EventEntryOut(EntryOut):
    """One thing a sync did to the event (or to one of its copies)."""

    sync: str = Field(description="The sync that did it.")
    target: str = Field(description="The calendar the sync writes to (its source for the way back).")


class EventHistoryOut(BaseModel):
    """Everything the account's syncs did to one origin event, newest first (at most 200)."""

    root: str = Field(description="The event's root: CALENDAR/KEY, the calendar where it was created and its key there.")
    calendar: str
    entries: list[EventEntryOut]


@router.get(
    "/api/v1/history/event", tags=["syncs"], summary="What every sync did to one event and its copies, and why"
)
def event_history_api(setup: ApiSetup, root: str = Query(description="The event's root, as `root` in a history entry.")) -> EventHistoryOut:
    found = _event_or_404(setup, root)
    return EventHistoryOut(
        root=root, calendar=root.split("/", 1)[0],
        entries=[
            EventEntryOut(
                at=e.at, event=e.event, action=e.action, reason=e.reason, way_back=e.back, root=e.root,
                sync=e.sync, target=e.target,
            )
            for e in found
        ],
    )  # fmt: skip
