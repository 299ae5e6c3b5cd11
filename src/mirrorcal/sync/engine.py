"""The engine: refreshes calendars, asks the planner, applies its actions and records each one.

It knows calendars only through ``providers.base.Calendar`` and state only through
``store.base.Store``. Every write to a target is recorded in the store as soon as it returns,
so a crash at any point leaves nothing a re-run duplicates (mirror ids are derived) or loses.
Calendars refresh concurrently; one failing or slow calendar fails only the syncs touching it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from .. import ical
from ..errors import (
    AlreadyExistsError,
    ConflictError,
    CursorExpiredError,
    MirrorcalError,
    NotFoundError,
    ProviderError,
)
from ..model import Event
from ..providers.base import Calendar, Listing
from ..store.base import CachedItem, MirrorRow, Store
from .planner import Action, Create, Delete, Drop, Skip, SourceEvent, Update, plan, source_hash
from .spec import SyncSpec

log = logging.getLogger(__name__)

MAX_ROUNDS = 8
"""Chains longer than this stop (they cannot be: a chain visits each calendar at most once)."""

WRITE_CONCURRENCY = 4
"""Writes in flight per target calendar (the per-host bound in providers.http caps the total).
Measured on Radicale at 2,000 events: 4 copied in 151 s, 2 in 172 s (vdirsyncer, one at a time: 133-136 s)."""


class SourceEmptyError(MirrorcalError):
    """The mass-deletion guard: a calendar that held events suddenly lists none."""


@dataclass
class Refresh:
    """What one refresh of one calendar found."""

    calendar: str
    changed: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def moved(self) -> bool:
        return bool(self.changed or self.removed)


@dataclass
class SyncReport:
    """The outcome of one sync run: counts per action and the errors, in words."""

    sync: str
    counts: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    planned: list[Action] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def writes(self) -> int:
        return self.counts["created"] + self.counts["updated"] + self.counts["deleted"]

    def merge(self, other: SyncReport) -> None:
        """Add a later round's report; skips are a state, not an event: the larger count stands."""
        skipped = max(self.counts["skipped"], other.counts["skipped"])
        self.counts.update(other.counts)
        self.counts["skipped"] = skipped
        self.errors.extend(other.errors)


class Engine:
    """Runs syncs between calendars; see the module docstring."""

    def __init__(
        self,
        calendars: Mapping[str, Calendar],
        syncs: Sequence[SyncSpec],
        store: Store,
        *,
        clients: Mapping[str, str | None] | None = None,
        tz: ZoneInfo | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.calendars = dict(calendars)
        self.syncs = {s.name: s for s in syncs}
        self.store = store
        self.clients = dict(clients or {})
        self.tz = tz or ZoneInfo("UTC")
        self.clock = clock
        self._locks: dict[str, asyncio.Lock] = {}
        self._parsed: dict[tuple[str, str], tuple[str | None, Event]] = {}
        """Parsed events by (calendar, href), with the etag they were parsed at."""
        self._key: bytes | None = None
        self.on_planned: Callable[[str, int], None] | None = None
        """Called with (sync, number of writes) once a sync has planned; for progress bars."""
        self.on_applied: Callable[[str], None] | None = None
        """Called with the sync's name after each write it applied."""
        self.on_read: Callable[[str, ProviderError | None], None] | None = None
        """Called with a calendar's name after each read of it: the ProviderError that stopped
        the read, or None when it was read (a connection's state is about its calendars)."""

    # refreshing -----------------------------------------------------------------------------
    async def refresh(self, name: str, *, allow_empty: bool = False) -> Refresh:
        """Bring the cache of calendar ``name`` up to date with the provider.

        Raises ProviderError when the calendar cannot be read and SourceEmptyError when a
        calendar that held two or more events suddenly lists nothing (the cache is kept, so
        no mirror is deleted); ``allow_empty`` accepts that listing.
        """
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            calendar = self.calendars[name]
            cache = self.store.items(name)
            known = {href: item.etag for href, item in cache.items() if item.error is None}
            cursor = self.store.get_cursor(name)
            try:
                try:
                    listing = await calendar.list_changes(cursor, known)
                except CursorExpiredError:
                    log.info("calendar %s: cursor expired, listing everything", name)
                    listing = await calendar.list_changes(None, known)
            except ProviderError as exc:
                if self.on_read is not None:
                    self.on_read(name, exc)
                raise
            if self.on_read is not None:
                self.on_read(name, None)
            return self._absorb(name, cache, cursor, listing, allow_empty)

    def _absorb(
        self, name: str, cache: Mapping[str, CachedItem], cursor: str | None, listing: Listing, allow_empty: bool
    ) -> Refresh:
        found = Refresh(name)
        if listing.full and not (listing.items or listing.unchanged or listing.errors) and len(cache) >= 2 and not allow_empty:
            raise SourceEmptyError(
                f"calendar {name!r} suddenly lists no events (it held {len(cache)}); "
                "kept every mirror. If that is right, sync again with --allow-empty"
            )
        upserts: list[CachedItem] = []
        for item in listing.items:
            upserts.append(_cached(item.href, item.etag, item.event))
            self._parsed[(name, item.href)] = (item.etag, item.event)
            if cache.get(item.href) is None or cache[item.href].content_hash != upserts[-1].content_hash:
                found.changed.add(item.href)
        for error in listing.errors:
            found.errors[error.href] = error.message
            previous = cache.get(error.href)
            if previous is not None and previous.error is None:
                upserts.append(_with_error(previous, error.message))
            else:
                upserts.append(CachedItem(error.href, None, "", "", "", None, error.message))
        if listing.full:
            upserts.extend(cache[h] for h in listing.unchanged if h in cache)
            listed = {u.href for u in upserts}
            found.removed = {h for h in cache if h not in listed}
        else:
            found.removed = {h for h in listing.removed if h in cache}
        if upserts or found.removed or listing.cursor != cursor or listing.full:
            self.store.apply_listing(name, upserts, sorted(found.removed), listing.cursor, listing.full)
        if found.moved or found.errors:
            self._bump(name)
        return found

    # syncing --------------------------------------------------------------------------------
    async def sync(
        self,
        names: Iterable[str] | None = None,
        *,
        dry_run: bool = False,
        allow_empty: bool = False,
        paused: Collection[str] = (),
    ) -> dict[str, SyncReport]:
        """Run the named syncs (all when None), then every sync whose source they wrote to,
        until nothing moves. Returns one merged report per sync that ran. A sync reading or
        writing a ``paused`` calendar (one whose connection needs re-authorisation), and a sync
        whose spec is paused, never runs, whether named or reached through a chain."""

        def runnable(name: str) -> bool:
            spec = self.syncs[name]
            return not spec.paused and not {spec.source, spec.target} & set(paused)

        pending = [n for n in (list(self.syncs) if names is None else list(names)) if runnable(n)]
        reports: dict[str, SyncReport] = {}
        for _ in range(MAX_ROUNDS):
            if not pending:
                break
            refreshes: dict[str, asyncio.Task[Refresh]] = {}
            results = await asyncio.gather(
                *(self._run_one(self.syncs[n], refreshes, dry_run, allow_empty) for n in pending)
            )
            written: set[str] = set()
            for report in results:
                reports.setdefault(report.sync, SyncReport(report.sync)).merge(report)
                reports[report.sync].planned.extend(report.planned)
                if report.writes:
                    written.add(self.syncs[report.sync].target)
            if dry_run:
                break
            pending = [s.name for s in self.syncs.values() if s.source in written and runnable(s.name)]
        return reports

    async def _run_one(
        self, spec: SyncSpec, refreshes: dict[str, asyncio.Task[Refresh]], dry_run: bool, allow_empty: bool
    ) -> SyncReport:
        report = SyncReport(spec.name)
        now = self.clock()
        run_id = None if dry_run else self.store.start_run(spec.name, now)
        try:
            source_refresh, target_refresh = await asyncio.gather(
                self._shared_refresh(spec.source, refreshes, allow_empty),
                self._shared_refresh(spec.target, refreshes, allow_empty),  # one refresh per calendar and run: the flag covers it whatever its role
            )
            for href, message in source_refresh.errors.items():
                report.counts["errors"] += 1
                report.errors.append(f"{spec.source}: {href}: {message}")
                if run_id is not None:
                    self.store.record(run_id, spec.name, href, "error", message, "", now)
            await self._plan_and_apply(spec, report, run_id, source_refresh, target_refresh, now, dry_run)
        except MirrorcalError as exc:
            report.counts["errors"] += 1
            report.errors.append(str(exc))
        finally:
            if run_id is not None:
                self.store.finish_run(run_id, self.clock(), dict(report.counts), "; ".join(report.errors) or None)
        return report

    async def _shared_refresh(self, name: str, refreshes: dict[str, asyncio.Task[Refresh]], allow_empty: bool) -> Refresh:
        if name not in refreshes:
            refreshes[name] = asyncio.ensure_future(self.refresh(name, allow_empty=allow_empty))
        return await refreshes[name]

    async def _plan_and_apply(
        self,
        spec: SyncSpec,
        report: SyncReport,
        run_id: int | None,
        source_refresh: Refresh,
        target_refresh: Refresh,
        now: datetime,
        dry_run: bool,
    ) -> None:
        # Skip planning when nothing can have changed: the settings and the day (the window
        # moves) are as last planned, and neither calendar's cache changed since this sync last
        # planned successfully (each change, by a listing or by a mirrorcal write, bumps the
        # calendar's generation).
        settings = f"{spec.settings_hash}:{now.astimezone(self.tz).date().isoformat()}"
        everything = dry_run or self._meta(f"sync:{spec.name}") != settings
        generation = f"{self.generation(spec.source)}/{self.generation(spec.target)}"
        unchanged = self._meta(f"seen:{spec.name}") == generation and not source_refresh.moved and not target_refresh.moved
        if not everything and unchanged:
            return
        source_items = self.store.items(spec.source)
        target_items = self.store.items(spec.target)
        mirrors = self.store.mirrors(spec.name)
        target = {href: item.etag for href, item in target_items.items()}
        by_key = {item.uid: item for item in source_items.values() if item.ics}
        candidates: list[SourceEvent] = []
        by_uid = _UidIndex(self.store, {spec.source: by_key})
        for key, item in by_key.items():
            row = mirrors.get(key)
            if not everything and row is not None and not _needs_look(spec, row, item, target):
                continue
            candidates.append(self._source_event(spec.source, item, by_uid))
        actions = plan(spec, candidates, mirrors, target, key=self._mirror_key(), now=now, tz=self.tz, present=by_key.keys())
        report.planned.extend(actions)
        if dry_run:
            for action in actions:
                report.counts[_counted(action)] += 1
            return
        assert run_id is not None
        writes = any(not isinstance(a, Skip | Drop) for a in actions)
        if writes:
            self._bump(spec.target)  # before: a crash mid-way still makes readers look again
        if self.on_planned:
            self.on_planned(spec.name, sum(1 for a in actions if not isinstance(a, Skip)))
        semaphore = asyncio.Semaphore(WRITE_CONCURRENCY)
        changed_keys = {source_items[h].uid for h in source_refresh.changed if h in source_items}

        async def apply(action: Action) -> None:
            async with semaphore:
                await self._apply(spec, action, report, run_id, now, record_skip=everything or action.key in changed_keys)

        await asyncio.gather(*(apply(a) for a in actions))
        if writes:
            self._bump(spec.target)  # after: readers that planned during our writes look again
        if not report.errors:
            self._set_meta(f"sync:{spec.name}", settings)
            self._set_meta(f"seen:{spec.name}", generation)

    def _meta(self, name: str) -> str | None:
        """Engine bookkeeping kept beside the cursors (names with ':' never clash with calendars)."""
        return self.store.get_cursor(name)

    def _set_meta(self, name: str, value: str | None) -> None:
        self.store.apply_listing(name, [], [], value, False)

    def generation(self, calendar: str) -> str | None:
        """Changes whenever the cached content of ``calendar`` does (a listing or a write)."""
        return self._meta(f"gen:{calendar}")

    def _bump(self, calendar: str) -> None:
        """Note that mirrorcal wrote to ``calendar``: syncs reading it must plan again."""
        self._set_meta(f"gen:{calendar}", str(int(self._meta(f"gen:{calendar}") or 0) + 1))

    def _source_event(self, calendar: str, item: CachedItem, by_uid: _UidIndex) -> SourceEvent:
        etag, event = self._parsed.get((calendar, item.href), (None, None))
        if event is None or etag != item.etag:
            event = ical.parse_resource(item.ics)
            self._parsed[(calendar, item.href)] = (item.etag, event)
        if item.marker:
            row = self.store.mirror_by_uid(item.marker)
            if row is None:
                return SourceEvent(item.uid, item.href, event, item.content_hash, calendar, None, "", unknown_mirror=True)
            path = self._path(row, by_uid)
            return SourceEvent(
                item.uid, item.href, event, item.content_hash, row.origin_calendar, row.origin_client, row.root_key, path=path
            )
        client = self.clients.get(calendar)
        return SourceEvent(item.uid, item.href, event, item.content_hash, calendar, client, f"{calendar}/{item.uid}")

    def _path(self, row: MirrorRow, by_uid: _UidIndex) -> frozenset[str]:
        """The calendars a mirror passed through: its sync's source, that item's own path, ..."""
        path = {row.origin_calendar}
        current: MirrorRow | None = row
        for _ in range(MAX_ROUNDS):
            if current is None or current.sync not in self.syncs:
                break
            via = self.syncs[current.sync].source
            path.add(via)
            previous = by_uid.get(via, current.origin_key)
            current = self.store.mirror_by_uid(previous.marker) if previous and previous.marker else None
        return frozenset(path)

    def _mirror_key(self) -> bytes:
        if self._key is None:
            self._key = self.store.secret("mirror-id")
        return self._key

    async def _apply(
        self, spec: SyncSpec, action: Action, report: SyncReport, run_id: int, now: datetime, *, record_skip: bool
    ) -> None:
        target = self.calendars[spec.target]
        summary = ""
        try:
            if isinstance(action, Create | Update):
                summary = action.source.event.master.summary
                mirror = action.mirror if action.mirror.raw else replace(action.mirror, raw=ical.serialize(action.mirror))
                if isinstance(action, Create):
                    # Recorded before the create is sent: if the provider applies it but the answer
                    # or the record below is lost (a crash, a timeout), a later run finds this row
                    # and finishes the create, or deletes the mirror if its origin is gone by then.
                    pending = _mirror_row(spec, action, mirror.uid, target.href_for(mirror.uid), None, "")
                    self.store.save_mirror(replace(pending, state="pending"))
                href, etag = await self._write(target, action, mirror)
                cached = _cached(href, etag, mirror, written=True)
                self.store.put_item(spec.target, cached)
                self.store.save_mirror(_mirror_row(spec, action, mirror.uid, href, etag, cached.content_hash))
            elif isinstance(action, Delete):
                summary = action.summary
                await self._remove(target, action.href, action.etag)
                self.store.remove_item(spec.target, action.href)
                self.store.delete_mirror(spec.name, action.key)
            elif isinstance(action, Drop):
                row = self.store.mirrors(spec.name).get(action.key) if action.forget else None
                if row is not None:
                    self.store.save_mirror(_forgotten(row))
                else:
                    self.store.delete_mirror(spec.name, action.key)
            elif isinstance(action, Skip):
                report.counts["skipped"] += 1
                if record_skip:
                    self.store.record(run_id, spec.name, action.key, "skipped", action.reason, action.summary, now)
                return
        except MirrorcalError as exc:
            report.counts["errors"] += 1
            report.errors.append(f"{action.key}: {exc}")
            self.store.record(run_id, spec.name, action.key, "error", str(exc), summary, now)
            return
        verb = _counted(action)
        report.counts[verb] += 1
        if self.on_applied:
            self.on_applied(spec.name)
        self.store.record(run_id, spec.name, action.key, verb, action.reason, summary, now)

    async def _write(self, target: Calendar, action: Create | Update, mirror: Event) -> tuple[str, str | None]:
        """Create or update; a create that finds its id taken (a retried create) updates it."""
        if isinstance(action, Create):
            try:
                ref = await target.create(mirror)
                return ref.href, ref.etag
            except AlreadyExistsError:
                href = target.href_for(mirror.uid)
                existing = await target.get([href])
                etag = existing[0].etag if existing else None
                ref = await target.update(href, mirror, etag)
                return ref.href, ref.etag
        try:
            ref = await target.update(action.href, mirror, action.etag)
        except ConflictError:
            existing = await target.get([action.href])
            if not existing:
                ref = await target.create(mirror)
            else:
                ref = await target.update(action.href, mirror, existing[0].etag)
        except NotFoundError:
            ref = await target.create(mirror)
        return ref.href, ref.etag

    async def _remove(self, target: Calendar, href: str, etag: str | None) -> None:
        try:
            await target.delete(href, etag)
        except NotFoundError:
            return
        except ConflictError:
            existing = await target.get([href])
            if existing:
                await target.delete(href, existing[0].etag)

    # unsync ---------------------------------------------------------------------------------
    async def unsync(self, name: str) -> SyncReport:
        """Delete every mirror sync ``name`` wrote, and only those; forget its rows."""
        spec = self.syncs[name]
        report = SyncReport(name)
        now = self.clock()
        run_id = self.store.start_run(name, now)
        target = self.calendars[spec.target]
        for key, row in self.store.mirrors(name).items():
            try:
                if row.state != "forgotten":
                    await self._remove(target, row.href, None)
                self.store.remove_item(spec.target, row.href)
                self.store.delete_mirror(name, key)
            except MirrorcalError as exc:
                report.counts["errors"] += 1
                report.errors.append(f"{key}: {exc}")
                continue
            report.counts["deleted"] += 1
            self.store.record(run_id, name, key, "deleted", "unsync", "", now)
        self._set_meta(f"sync:{name}", None)
        self._bump(spec.target)
        self.store.finish_run(run_id, self.clock(), dict(report.counts), "; ".join(report.errors) or None)
        return report

    async def aclose(self) -> None:
        await asyncio.gather(*(c.aclose() for c in self.calendars.values()))


class _UidIndex:
    """Cached items by calendar and key, loaded on first use (for following mirror chains)."""

    def __init__(self, store: Store, preloaded: dict[str, dict[str, CachedItem]]) -> None:
        self.store = store
        self.calendars = preloaded

    def get(self, calendar: str, key: str) -> CachedItem | None:
        if calendar not in self.calendars:
            self.calendars[calendar] = {i.uid: i for i in self.store.items(calendar).values() if i.ics}
        return self.calendars[calendar].get(key)


def _needs_look(spec: SyncSpec, row: MirrorRow, item: CachedItem, target: Mapping[str, str | None]) -> bool:
    """Whether an origin with a mirror row may need an action (else the plan is 'nothing')."""
    if row.state == "forgotten":
        return False
    if row.state == "pending":
        return True
    if row.href not in target or (row.etag is not None and target[row.href] not in (None, row.etag)):
        return True
    return source_hash(spec, item.content_hash) != row.source_hash


def _cached(href: str, etag: str | None, event: Event, *, written: bool = False) -> CachedItem:
    """The cache entry of an item. For an item mirrorcal just ``written``, the hash is of the
    exact text sent (no re-parse): the text only changes when the mirror's content does, and
    the item is read back (and hashed normally) only if someone else changes its etag."""
    key = event.uid if not event.recurrence_key else f"{event.uid}#{event.recurrence_key}"
    text = ical.serialize(event)
    digest = "t:" + hashlib.sha256(text.encode()).hexdigest() if written else ical.content_hash(event)
    return CachedItem(href, etag, key, text, digest, event.marker, None)


def _mirror_row(
    spec: SyncSpec, action: Create | Update, uid: str, href: str, etag: str | None, mirror_hash: str
) -> MirrorRow:
    return MirrorRow(
        sync=spec.name,
        origin_key=action.key,
        mirror_uid=uid,
        href=href,
        etag=etag,
        source_hash=action.source_hash,
        mirror_hash=mirror_hash,
        origin_calendar=action.source.origin_calendar,
        origin_client=action.source.origin_client,
        root_key=action.source.root_key,
    )


def _with_error(item: CachedItem, message: str) -> CachedItem:
    return CachedItem(item.href, item.etag, item.uid, item.ics, item.content_hash, item.marker, message)


def _forgotten(row: MirrorRow) -> MirrorRow:
    return replace(row, state="forgotten")


def _counted(action: Action) -> str:
    return {Create: "created", Update: "updated", Delete: "deleted", Drop: "forgotten", Skip: "skipped"}[type(action)]
