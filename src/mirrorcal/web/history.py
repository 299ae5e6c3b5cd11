"""A sync's history: the page ``/syncs/{name}/history`` and ``/api/v1/syncs/{name}/history``.

Both list, newest first, what the sync's runs did to each event and why, read from the store's
per-event history (``Store.history``; both halves of a two-way sync). Names lose the account's
``u{id}.`` namespace. A sync that is not the user's is 404, as everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from mirrorcal import workspace as ws
from mirrorcal.config import BACK_SUFFIX
from mirrorcal.store.base import Store
from mirrorcal.workspace import SyncEntry

from . import api_setup, syncs
from .api import ErrorOut
from .deps import ApiSetup, Csrf, PageSetup
from .pages import render

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


def entries(
    store: Store, user_id: int, sync: SyncEntry, action: str | None = None, query: str = ""
) -> list[Entry]:
    """The newest ``SHOWN`` history entries of ``sync`` (both halves), newest first, keeping only
    ``action`` (when given) and events whose title holds ``query`` (case-insensitive, when given).
    An entry recorded without a title (a deletion) takes the newest title its event had; with none
    known, the event's key stands in.

    Only each half's latest ``SCANNED`` rows are searched. Raises ``StoreError`` when the store
    cannot be read."""
    p = ws.prefix(user_id)
    needle = query.strip().casefold()
    found: list[Entry] = []
    for half in ws.halves(sync):
        rows = store.history(p + half, limit=SCANNED)
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
            found.append(
                Entry(row.at, event, row.action, ws.unprefixed(row.reason, user_id), half.endswith(BACK_SUFFIX))
            )
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
        "entries": entries(setup.store, setup.user.id, sync, chosen or None, q),
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
    found = entries(setup.store, setup.user.id, sync, action, q)
    return HistoryOut(
        sync=sync.name,
        entries=[
            EntryOut(at=e.at, event=e.event, action=e.action, reason=e.reason, way_back=e.back) for e in found
        ],
    )
