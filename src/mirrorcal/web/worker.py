"""The in-process sync worker: runs every account's syncs on a timer, and soon after a change in the app.

``SyncWorker`` is started and stopped by the web app's lifespan (``WebSettings.worker``). Each
account with a saved setup is run on its own: its document becomes the namespaced runtime
configuration (``workspace.runtime_config``), an engine is built over the app's own store
(``bootstrap.build_engine``: one database, one connection pool, no second store opened), and its
non-paused syncs run. Accounts run one after another up to ``concurrency`` at a time; one
account never runs twice at once. A failing account is logged and remembered (``runs``), and
the others go on. Runs are recorded in the store by the engine, under the namespaced sync names.

The engine calls the store synchronously from the event loop, as ``mirrorcal run`` does: with
SQLite in WAL mode readers never wait, and a writer waits at most the store's busy timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import time as clock
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from mirrorcal import workspace as ws
from mirrorcal.bootstrap import Credentials, build_engine
from mirrorcal.config import Config
from mirrorcal.conflicts import Conflict
from mirrorcal.errors import (
    AuthError,
    MirrorcalError,
    NeedsReauthError,
    NotFoundError,
    ProviderError,
    RateLimitError,
    TransientError,
)
from mirrorcal.service import conflict_key
from mirrorcal.store.base import Store
from mirrorcal.sync.engine import Engine, SyncReport
from mirrorcal.unified import BusyCache, conflicts_between

from .events import AccountEvent, Events, event_id
from .settings import WebSettings

log = logging.getLogger(__name__)

CONFLICT_DAYS = 14
"""How far ahead the worker looks for conflicts after each run (as ``mirrorcal run`` does)."""


@dataclass(frozen=True, slots=True)
class AccountRun:
    """One run of one account: the engine's reports by namespaced sync name, or why it could not run."""

    user_id: int
    at: datetime
    error: str | None = None
    """Why the account's syncs did not run at all (its setup, a missing connection, a bug)."""
    reports: Mapping[str, SyncReport] = field(default_factory=dict)
    conflicts: tuple[Conflict, ...] = ()
    """The conflicts on the account's unified calendars after the run (the next ``CONFLICT_DAYS`` days)."""

    @property
    def ok(self) -> bool:
        return self.error is None and all(r.ok for r in self.reports.values())


class SyncWorker:
    """Runs the accounts' syncs every ``interval`` seconds until ``stop()``; ``poke`` runs one soon.

    ``runs`` holds each account's last ``AccountRun``; ``rounds`` counts finished account runs
    (tests wait on it). ``grace`` is how long ``stop()`` lets running accounts finish before
    cancelling them (a cancelled run is safe: the engine records every write as it lands).
    """

    def __init__(
        self,
        store: Store,
        settings: WebSettings,
        *,
        interval: float | None = None,
        concurrency: int = 2,
        grace: float = 5.0,
        env: dict[str, str] | None = None,
        events: Events | None = None,
        after_run: Callable[[int, Config], object] | None = None,
    ) -> None:
        self.store = store
        self.events = events
        self.after_run = after_run
        """Called with the account and its runtime configuration after each run of its syncs
        (the bookings noticed in the calendars, see ``recruiting.Recruiting.notice``); a failure
        is logged, never stops the worker."""
        self.settings = settings
        self.interval = settings.worker_interval if interval is None else interval
        self.grace = grace
        self.env = dict(os.environ) if env is None else env
        self.runs: dict[int, AccountRun] = {}
        self.rounds = 0
        self._bound = asyncio.Semaphore(concurrency)
        self._due: dict[int, float] = {}
        self._poked: set[int] = set()
        self._running: dict[int, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._busy: dict[int, BusyCache] = {}
        self._failing: dict[tuple[int, str], str] = {}  # (user, sync) -> the error last announced
        self._announced: dict[int, set[str]] = {}  # user -> conflict event ids announced and still there
        self._reauth: set[tuple[int, str]] = set()  # connections announced as needing a new sign-in

    # lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the loop on the running event loop (every account is due at once)."""
        if self._task is not None:
            raise RuntimeError("the sync worker is already started")
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._serve(), name="mirrorcal sync worker")

    async def stop(self) -> None:
        """Stop taking work, let running accounts finish for up to ``grace`` seconds, then cancel them."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        running = list(self._running.values())
        if running:
            _, late = await asyncio.wait(running, timeout=self.grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    def running(self, user_id: int) -> bool:
        """Whether the account's syncs are running (or about to) right now."""
        return user_id in self._running

    @property
    def started(self) -> bool:
        return self._task is not None and not self._task.done()

    def poke(self, user_id: int) -> None:
        """Run the account ``user_id`` soon (again after its current run, if one is running).
        Safe to call from any thread (page handlers run in a thread pool); a no-op once stopped."""
        loop = self._loop
        if loop is None or self._stopping or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._poke_now(user_id)
        else:
            loop.call_soon_threadsafe(self._poke_now, user_id)

    def _poke_now(self, user_id: int) -> None:
        self._due[user_id] = 0.0
        self._poked.add(user_id)
        self._wake.set()

    # the loop ---------------------------------------------------------------------------------
    async def _serve(self) -> None:
        while not self._stopping:
            try:
                self._start_due()
            except Exception:  # noqa: BLE001 - the worker must outlive a failing store read
                log.exception("the sync worker could not list the accounts")
            now = clock.monotonic()
            waiting = [t for u, t in self._due.items() if u not in self._running]
            wait = max(0.0, min(waiting, default=now + self.interval) - now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)
            self._wake.clear()

    def _start_due(self) -> None:
        users = set(self.store.workspace_users())
        for uid in users:
            self._due.setdefault(uid, 0.0)
        for uid in [u for u in self._due if u not in users and u not in self._poked]:
            del self._due[uid]  # the account emptied its setup
        now = clock.monotonic()
        for uid, due in sorted(self._due.items()):
            if due <= now and uid not in self._running:
                self._poked.discard(uid)
                self._due[uid] = float("inf")  # until this run ends
                self._running[uid] = asyncio.create_task(self._run(uid), name=f"mirrorcal sync u{uid}")

    async def _run(self, user_id: int) -> None:
        try:
            async with self._bound:
                if not self._stopping:
                    await self.run_account(user_id)
        finally:
            self._running.pop(user_id, None)
            self._due[user_id] = 0.0 if user_id in self._poked else clock.monotonic() + self.interval
            self._wake.set()

    async def run_account(self, user_id: int) -> AccountRun:
        """Run the account's non-paused syncs once; never raises (but for cancellation): a failure
        is logged and returned (and kept in ``runs``)."""
        at = datetime.now(UTC)
        try:
            run = await self._sync(user_id, at)
        except MirrorcalError as exc:  # its setup or a provider: the user's to fix
            log.warning("the syncs of account %s could not run: %s", user_id, exc)
            run = AccountRun(user_id, at, error=_plain(exc, user_id))
        except Exception as exc:  # noqa: BLE001 - one account's failure must not stop the others
            log.exception("the syncs of account %s could not run", user_id)
            run = AccountRun(user_id, at, error=_plain(exc, user_id))
        else:
            for name, report in run.reports.items():
                if report.errors:
                    log.warning("sync %s: %s", name, "; ".join(report.errors[:3]))
        self.runs[user_id] = run
        self._announce(run)
        self.rounds += 1
        return run

    async def _sync(self, user_id: int, at: datetime) -> AccountRun:
        text = self.store.workspace(user_id)
        if not text:
            return AccountRun(user_id, at)
        config = ws.runtime_config(text, user_id, self.settings.database_url, oauth=self.settings.oauth())
        names = [s.name for s in config.syncs if not s.paused]
        reports: Mapping[str, SyncReport] = {}
        if names:
            credentials = Credentials(config, self.store, env=self.env)
            try:
                engine = build_engine(config, self.store, credentials)
                reads = _watch_reads(engine)
                try:
                    reports = await engine.sync(names, paused=credentials.needs_reauth())
                finally:
                    await engine.aclose()
                _connection_states(config, credentials, reads, user_id)
            finally:
                await credentials.aclose()
        run = AccountRun(user_id, at, reports=reports, conflicts=tuple(self._conflicts(config, user_id)))
        if self.after_run is not None:
            try:
                await asyncio.to_thread(self.after_run, user_id, config)  # it reads the whole cache: off the loop
            except Exception:  # noqa: BLE001 - the syncs ran; what follows them must not undo that
                log.exception("after the syncs of account %s", user_id)
        return run

    def _conflicts(self, config: Config, user_id: int) -> list[Conflict]:
        unified = [(n, c.emails) for n, c in config.calendars.items() if c.unified]
        if not unified:
            return []
        start = datetime.now(config.timezone).replace(hour=0, minute=0, second=0, microsecond=0)
        found, _ = conflicts_between(
            self.store,
            unified,
            start=start,
            days=CONFLICT_DAYS,
            tz=config.timezone,
            buffer=config.conflict_buffer,
            working_hours=config.conflict_working_hours,
            cache=self._busy.setdefault(user_id, BusyCache()),
        )
        return found

    # events -----------------------------------------------------------------------------------
    def _announce(self, run: AccountRun) -> None:
        """Publish what this run changed: ``sync.ran`` always, and each new failure, conflict
        and lost sign-in once (see ``web.events``)."""
        if self.events is None:
            return
        uid = run.user_id
        plain = ws.unprefixed
        publish = self.events.publish
        summary = {
            plain(name, uid): {
                "created": r.counts["created"],
                "updated": r.counts["updated"],
                "deleted": r.counts["deleted"],
                "errors": len(r.errors),
            }
            for name, r in run.reports.items()
        }
        changed = any(r.writes for r in run.reports.values())
        publish(AccountEvent(uid, "sync.ran", {"changed": changed, "syncs": summary}, at=run.at))
        for name, report in run.reports.items():
            key = (uid, name)
            if report.ok:
                self._failing.pop(key, None)
                continue
            error = plain("; ".join(report.errors[:3]), uid)
            if self._failing.get(key) != error:
                self._failing[key] = error
                sync = plain(name, uid)
                publish(AccountEvent(uid, "sync.failed", {"sync": sync, "error": error}, at=run.at))
        if run.error is not None:
            key = (uid, "")
            if self._failing.get(key) != run.error:
                self._failing[key] = run.error
                publish(AccountEvent(uid, "sync.failed", {"sync": None, "error": run.error}, at=run.at))
        else:
            self._failing.pop((uid, ""), None)
        live: set[str] = set()
        before = self._announced.get(uid, set())
        for c in run.conflicts:
            eid = event_id(uid, "conflict.detected", *map(str, conflict_key(c)))
            live.add(eid)
            if eid not in before:
                data = {"conflict": _plain_conflict(c, uid)}
                publish(AccountEvent(uid, "conflict.detected", data, at=run.at, id=eid))
        self._announced[uid] = live
        self._announce_reauth(uid, run.at)

    def _announce_reauth(self, uid: int, at: datetime) -> None:
        p = ws.prefix(uid)
        lost = {(uid, row.name): row for row in self.store.connections() if row.name.startswith(p) and row.state == "needs_reauth"}
        assert self.events is not None
        for key, row in lost.items():
            if key not in self._reauth:
                data = {"connection": row.name[len(p) :], "message": ws.unprefixed(row.message, uid)}
                eid = event_id(uid, "connection.needs_reauth", row.name, str(row.updated))
                self.events.publish(AccountEvent(uid, "connection.needs_reauth", data, at=at, id=eid))
        self._reauth = {k for k in self._reauth if k[0] != uid} | set(lost)


def _watch_reads(engine: Engine) -> dict[str, BaseException | None]:
    """Each calendar the engine reads during the run, with why it could not (None: it could)."""
    reads: dict[str, BaseException | None] = {}

    def seen(name: str, failure: ProviderError | None) -> None:
        if failure is not None:
            reads[name] = failure
        else:
            reads.setdefault(name, None)

    engine.on_read = seen
    return reads


def _connection_states(config: Config, credentials: Credentials, reads: Mapping[str, BaseException | None], user_id: int) -> None:
    """After a run: a connection whose calendars were all read is "ok" again (when it was in
    "error"; "needs_reauth" is only cleared by a new sign-in); one whose calendar could not be
    read is in "error" with the provider's words (a refused password: "needs_reauth")."""
    by_connection: dict[str, list[BaseException | None]] = {}
    for name, outcome in reads.items():
        cfg = config.calendars.get(name)
        if cfg is not None and cfg.connection is not None:
            by_connection.setdefault(cfg.connection, []).append(outcome)
    if not by_connection:
        return
    book = credentials.book
    for connection, outcomes in by_connection.items():
        row = book.get(connection)
        if row is None or row.state == "needs_reauth":
            continue
        failure = next((o for o in outcomes if o is not None), None)
        if failure is None:
            if row.state == "error":
                book.mark_ok(connection)
        elif isinstance(failure, NeedsReauthError):
            continue  # the token source has marked it already
        elif isinstance(failure, AuthError) and row.kind in ("caldav", "icloud"):
            book.mark_needs_reauth(connection, _in_words(failure, user_id))
        else:
            book.mark_error(connection, _in_words(failure, user_id))


def _in_words(exc: BaseException, user_id: int) -> str:
    """A provider's failure as a sentence: what it means, then the provider's own answer
    (without the request line: the user did not send it)."""
    answer = re.sub(r"^[A-Z]+ \S+: ", "", _plain(exc, user_id))
    status = getattr(exc, "status", None)
    if isinstance(exc, RateLimitError) or status == 429:
        meaning = "The provider is limiting requests for now; mirrorcal tries again at the next run."
    elif isinstance(exc, AuthError):
        meaning = "The provider refused access to the calendar."
    elif isinstance(exc, NotFoundError):
        meaning = "The calendar was not found at the provider: it may have been deleted or unshared."
    elif isinstance(exc, TransientError):
        meaning = "The provider did not answer properly; mirrorcal tries again at the next run."
    else:
        meaning = "The provider refused the request."
    return f"{meaning} Its answer: {answer}"


def _plain_conflict(c: Conflict, user_id: int) -> dict[str, object]:
    data = c.as_json()
    for side in ("a", "b"):
        data[side]["calendar"] = ws.unprefixed(data[side]["calendar"], user_id)
    return data


def _plain(exc: BaseException, user_id: int) -> str:
    """The error in words, without the account's namespace prefix."""
    return ws.unprefixed(str(exc).strip() or type(exc).__name__, user_id)
