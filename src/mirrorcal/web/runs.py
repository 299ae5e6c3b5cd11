"""A sync's last run and last change, as the pages and the API show them, read from the store's run records.

The engine records runs under the namespaced sync names (``u{user_id}.NAME``, and
``u{user_id}.NAME~back`` for the way back of a two-way sync); a two-way sync's figures are the
sum of its two halves. Messages lose the namespace prefix, so users read their own names.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from mirrorcal import workspace as ws
from mirrorcal.store.base import RunRow, Store
from mirrorcal.workspace import SyncEntry

WRITES = ("created", "updated", "deleted")
FIRST_ERRORS = 3
HISTORY_WINDOW = 500
"""How many of a sync's latest history rows are read to find its last change."""


@dataclass(frozen=True, slots=True)
class LastRun:
    """The latest run of a sync: when, whether it is still going, and what it did."""

    at: datetime
    running: bool
    created: int = 0
    updated: int = 0
    deleted: int = 0
    skipped: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    """The first few errors, in words."""

    @property
    def ok(self) -> bool:
        return not self.errors and not self.failed


@dataclass(frozen=True, slots=True)
class LastChange:
    """The latest run that wrote to the target: when, and how many copies it created, updated, deleted."""

    at: datetime
    created: int = 0
    updated: int = 0
    deleted: int = 0


def last_run(store: Store, user_id: int, entry: SyncEntry) -> LastRun | None:
    """The sync's latest run (both halves of a two-way sync together), None before its first."""
    p = ws.prefix(user_id)
    rows = [r for r in (store.last_run(p + half) for half in ws.halves(entry)) if r is not None]
    if not rows:
        return None
    counts: Counter[str] = Counter()
    errors: list[str] = []
    for row in rows:
        counts.update(row.counts)
        if row.error:
            errors += [ws.unprefixed(e.strip(), user_id) for e in row.error.split("; ") if e.strip()]
    return LastRun(
        at=max(_when(r) for r in rows),
        running=any(r.finished_at is None for r in rows),
        created=counts["created"],
        updated=counts["updated"],
        deleted=counts["deleted"],
        skipped=counts["skipped"],
        failed=counts["errors"],
        errors=errors[:FIRST_ERRORS],
    )


def last_change(store: Store, user_id: int, entry: SyncEntry) -> LastChange | None:
    """The sync's latest run that created, updated or deleted a copy (per half, the latest of
    the two for a two-way sync); None when none is among its last ``HISTORY_WINDOW`` records."""
    found: LastChange | None = None
    for half in ws.halves(entry):
        rows = [r for r in store.history(ws.prefix(user_id) + half, limit=HISTORY_WINDOW) if r.action in WRITES]
        if not rows:
            continue
        run_id = rows[0].run_id
        counts = Counter(r.action for r in rows if r.run_id == run_id)
        change = LastChange(rows[0].at, counts["created"], counts["updated"], counts["deleted"])
        if found is None or change.at > found.at:
            found = change
    return found


def _when(row: RunRow) -> datetime:
    return row.finished_at or row.started_at
