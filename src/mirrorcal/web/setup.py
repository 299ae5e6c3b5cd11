"""The account's setup as the pages and the API use it: add, check and remove calendars; create, edit, pause and delete syncs.

One ``Setup`` per request, for one user. The account's document is read and written through the
store (``workspace``/``save_workspace``); passwords go to the connection book as
``u{user_id}.{calendar}``; every edit is checked by ``workspace`` (``ConfigError`` naming the key
becomes a message on the form field it is about). Refused input raises ``Refused`` (field →
message), a name that is not the user's raises ``NotFound``, a full plan ``PlanLimitReached``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from mirrorcal import workspace as ws
from mirrorcal.bootstrap import Credentials, build_calendar, build_engine
from mirrorcal.connections import ConnectionBook
from mirrorcal.errors import AuthError, ConfigError, MirrorcalError, ProviderError
from mirrorcal.providers.discovery import CalendarInfo
from mirrorcal.secrets import default_key_file, load_vault
from mirrorcal.store.base import Store, UserRow
from mirrorcal.workspace import CalendarEntry, PlanLimitReached, SyncEntry, Workspace

from .runs import LastChange, LastRun, last_change, last_run
from .settings import WebSettings

ADDABLE_KINDS = ("caldav", "icloud", "ics")
OAUTH_KINDS = ("google", "microsoft")
"""Kinds added by signing in with the provider (``web.connections``), then picking calendars."""
COMING_NEXT: tuple[str, ...] = ()
KIND_NAMES = {
    "caldav": "CalDAV",
    "icloud": "iCloud",
    "ics": "ICS feed",
    "google": "Google Calendar",
    "microsoft": "Microsoft 365",
}

__all__ = ["CalendarForm", "CheckResult", "NotFound", "PlanLimitReached", "Refused", "Setup", "SyncForm"]


class Refused(Exception):
    """Input the setup cannot take: a message per form field ("form" for the whole form)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class NotFound(Exception):
    """No calendar or sync of that name in this account."""


class Choose(Exception):
    """Discovery found several calendars at the address: the user must pick one."""

    def __init__(self, calendars: list[CalendarInfo]) -> None:
        super().__init__(f"{len(calendars)} calendars found")
        self.calendars = calendars


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The last live ``check()`` of a calendar: ok with the provider's description, or the error."""

    ok: bool
    message: str
    at: datetime


@dataclass(slots=True)
class CalendarForm:
    """What the user gives to add a calendar (``password`` goes to the connection book only)."""

    kind: str
    name: str
    url: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    client: str = ""
    email: list[str] = field(default_factory=list)
    calendar_url: str = ""
    """The calendar picked among those discovery found (second step)."""
    connection: str = ""
    """Google / Microsoft: the stored connection (signed in on the connections page)."""
    calendar_id: str = ""
    """Google / Microsoft: the calendar's id in that account."""


@dataclass(slots=True)
class SyncForm:
    """A sync's settings as a form or the API gives them."""

    name: str
    source: str
    target: str
    privacy: str
    title: str = ""
    two_way: bool = False
    on_target_delete: str = "restore"
    skip_free: bool = True
    skip_declined: bool = True
    skip_all_day: bool = False
    working_hours: str = ""
    window_days: int = 180
    exclude_titles: list[str] = field(default_factory=list)
    paused: bool = False
    show_as: str = ""
    """busy, free, tentative, oof or original; "" for the privacy's default."""

    def entry(self) -> SyncEntry:
        return SyncEntry(
            name=self.name.strip(),
            source=self.source,
            target=self.target,
            privacy=self.privacy,
            title=self.title.strip() or None,
            two_way=self.two_way,
            on_target_delete=self.on_target_delete,
            skip_free=self.skip_free,
            skip_declined=self.skip_declined,
            skip_all_day=self.skip_all_day,
            working_hours=self.working_hours.strip(),
            window_days=self.window_days,
            exclude_titles=[p for p in (t.strip() for t in self.exclude_titles) if p],
            paused=self.paused,
            show_as=self.show_as,
        )


def _refused(error: ConfigError) -> Refused:
    problem = error.problem[:1].upper() + error.problem[1:]
    return Refused({ws.field_of(error): problem if problem.endswith(".") else problem + "."})


def _now() -> datetime:
    return datetime.now(UTC)


class Setup:
    """The setup of ``user``; ``checks`` is the app's memory of the last live checks; ``poke``
    (the sync worker's, when the app runs one) is told the user's id after every change that
    should run the syncs soon: a calendar added, a sync created, edited, paused or resumed."""

    def __init__(
        self,
        store: Store,
        settings: WebSettings,
        user: UserRow,
        checks: dict[tuple[int, str], CheckResult],
        poke: Callable[[int], None] | None = None,
    ) -> None:
        self.store, self.settings, self.user, self.checks = store, settings, user, checks
        self.poke = poke
        self.env = dict(os.environ)

    def run_soon(self) -> bool:
        """Ask the sync worker to run this account's syncs soon; False when the app runs none."""
        if self.poke is None:
            return False
        self.poke(self.user.id)
        return True

    def last_run(self, entry: SyncEntry) -> LastRun | None:
        return last_run(self.store, self.user.id, entry)

    def last_change(self, entry: SyncEntry) -> LastChange | None:
        return last_change(self.store, self.user.id, entry)
    # the document -------------------------------------------------------------------------
    def workspace(self) -> Workspace:
        text = self.store.workspace(self.user.id)
        return Workspace() if not text else ws.load(text)

    def document(self) -> str:
        return ws.dump(self.workspace())

    def _save(self, model: Workspace) -> None:
        self.store.save_workspace(self.user.id, ws.dump(model), _now())

    def _runtime(self, model: Workspace) -> Any:
        return ws.runtime_config(ws.dump(model), self.user.id, self.settings.database_url, oauth=self.settings.oauth())

    def _connection(self, name: str) -> str:
        return ws.prefix(self.user.id) + name

    @property
    def book(self) -> ConnectionBook:
        return ConnectionBook(self.store, load_vault(self.env, default_key_file(self.settings.database_url)))

    def syncs_used(self) -> int:
        return ws.syncs_used(self.workspace())

    # calendars ----------------------------------------------------------------------------
    def calendar(self, name: str) -> CalendarEntry:
        entry = self.workspace().calendar(name)
        if entry is None:
            raise NotFound(name)
        return entry

    def last_check(self, name: str) -> CheckResult | None:
        return self.checks.get((self.user.id, name))

    async def add_calendar(self, form: CalendarForm) -> CalendarEntry:
        """Discover (CalDAV, iCloud) or fetch (ICS) the calendar, store its password as a
        connection, add it to the document and check it. Raises ``Refused`` (with the
        provider's error on the field it is about) and ``Choose`` when the address holds several
        calendars and none is picked."""
        model = self.workspace()
        name = form.name.strip()
        errors: dict[str, str] = {}
        if form.kind in OAUTH_KINDS:
            return await self._add_oauth_calendar(model, form)
        if form.kind not in ADDABLE_KINDS:
            raise Refused({"kind": "Choose CalDAV, iCloud or an ICS feed."})
        if not name:
            errors["name"] = "Give the calendar a short name, such as client-a."
        secret = form.kind in ("caldav", "icloud")
        if secret and not form.username.strip():
            errors["username"] = "Enter the user name." if form.kind == "caldav" else "Enter your Apple ID."
        if form.kind != "icloud" and not form.url.strip():
            errors["url"] = "Enter the calendar's address (URL)."
        if errors:
            raise Refused(errors)
        username = form.username.strip() if secret else None
        start = form.url.strip() if form.kind != "icloud" else self.settings.icloud_url
        entry = CalendarEntry(
            name=name,
            kind=form.kind,
            url=start,
            username=username,
            connection=name if secret else None,
            client=form.client.strip() or None,
            email=[e.strip() for e in form.email if e.strip()],
        )
        try:
            ws.add_calendar(model, entry)  # names, address syntax, e-mails: before any network
        except ConfigError as exc:
            raise _refused(exc) from None
        if secret:
            entry.url = await self._discover(entry, form)
        try:
            model = ws.add_calendar(model, entry)
        except ConfigError as exc:
            raise _refused(exc) from None
        result = await self._check(model, entry)
        if not secret and not result.ok:
            raise Refused({"url": result.message})
        self._save(model)
        self.run_soon()
        return entry

    async def _add_oauth_calendar(self, model: Workspace, form: CalendarForm) -> CalendarEntry:
        """A calendar of a signed-in Google / Microsoft account (``form.connection``), checked live
        before it is saved. Raises ``Refused``."""
        name, connection = form.name.strip(), form.connection.strip()
        stored = self.book.get(self._connection(connection)) if connection else None
        if stored is None or stored.kind != form.kind:
            raise Refused({"connection": f"Sign in with {KIND_NAMES[form.kind]} first (Connections → Add {KIND_NAMES[form.kind]})."})
        errors: dict[str, str] = {}
        if not name:
            errors["name"] = "Give the calendar a short name, such as client-a."
        if not form.calendar_id.strip():
            errors["calendar_id"] = "Choose one of the account's calendars."
        if errors:
            raise Refused(errors)
        base = self.settings.google_base_url if form.kind == "google" else self.settings.microsoft_base_url
        entry = CalendarEntry(
            name=name,
            kind=form.kind,
            connection=connection,
            calendar_id=form.calendar_id.strip(),
            base_url=base.rstrip("/") or None,
            client=form.client.strip() or None,
            email=[e.strip() for e in form.email if e.strip()],
        )
        try:
            model = ws.add_calendar(model, entry)
        except ConfigError as exc:
            raise _refused(exc) from None
        result = await self._check(model, entry)
        if not result.ok:
            self.checks.pop((self.user.id, entry.name), None)  # not added: no state to show
            raise Refused({"calendar_id": result.message})
        self._save(model)
        self.run_soon()
        return entry

    async def _discover(self, entry: CalendarEntry, form: CalendarForm) -> str:
        """The calendar URL to use; the password is stored (encrypted) once it is known to work."""
        import httpx

        from mirrorcal.providers.discovery import discover
        from mirrorcal.providers.http import make_client
        from mirrorcal.providers.icloud import discover_icloud

        assert entry.username is not None and entry.url is not None
        connection = self._connection(entry.name)
        password = form.password
        if not password:
            stored = self.book.get(connection)
            if not form.calendar_url or stored is None or stored.account != entry.username:
                raise Refused({"password": "Enter the password." if entry.kind == "caldav" else "Enter an app-specific password."})
            password = self.book.secret(connection)
        async with make_client(timeout=20.0, auth=httpx.BasicAuth(entry.username, password)) as client:
            try:
                if entry.kind == "icloud":
                    found = await discover_icloud(client, entry.url)
                else:
                    found = await discover(client, entry.url)
            except AuthError as exc:
                raise Refused({"password": _sentence(exc)}) from None
            except ProviderError as exc:
                raise Refused({"url" if entry.kind == "caldav" else "username": _sentence(exc)}) from None
        writable = [c for c in found if not c.read_only]
        if form.calendar_url:
            chosen = next((c.url for c in found if c.url == form.calendar_url), None)
            if chosen is None:
                raise Refused({"calendar_url": "That calendar is not one of those found at this address."})
        elif len(found) == 1:
            chosen = found[0].url
        elif not found:
            raise Refused({"url": "No calendars were found at this address. Check the address and the user name."})
        else:
            self.book.save(connection, entry.kind, entry.username, password, {"url": entry.url})
            raise Choose(writable or found)
        self.book.save(connection, entry.kind, entry.username, password, {"url": chosen})
        return chosen

    async def check_calendar(self, name: str) -> CheckResult:
        """Reach the calendar now and remember the result (and the connection's state)."""
        model = self.workspace()
        entry = model.calendar(name)
        if entry is None:
            raise NotFound(name)
        return await self._check(model, entry)

    async def _check(self, model: Workspace, entry: CalendarEntry) -> CheckResult:
        config = self._runtime(model)
        cfg = config.calendars[self._connection(entry.name)]
        credentials = Credentials(config, self.store, env=self.env)
        try:
            calendar = build_calendar(cfg, credentials)
            try:
                result = CheckResult(True, await calendar.check(), _now())
            finally:
                await calendar.aclose()
        except MirrorcalError as exc:
            result = CheckResult(False, _sentence(exc), _now())
            if cfg.connection is not None and isinstance(exc, ProviderError) and self.book.get(cfg.connection):
                mark = self.book.mark_needs_reauth if isinstance(exc, AuthError) else self.book.mark_error
                mark(cfg.connection, result.message)
        else:
            if cfg.connection is not None and self.book.get(cfg.connection):
                self.book.mark_ok(cfg.connection)
        finally:
            await credentials.aclose()
        self.checks[(self.user.id, entry.name)] = result
        return result

    def remove_calendar(self, name: str) -> None:
        """Remove the calendar, its stored connection (unless another calendar uses it) and
        what the state store remembers of it. Raises ``NotFound`` and ``Refused`` (syncs use it)."""
        model = self.workspace()
        entry = model.calendar(name)
        if entry is None:
            raise NotFound(name)
        try:
            model = ws.remove_calendar(model, name)
        except ConfigError as exc:
            raise _refused(exc) from None
        self._save(model)
        if entry.connection is not None and all(c.connection != entry.connection for c in model.calendars):
            self.store.delete_connection(self._connection(entry.connection))
        self.store.forget_calendar(self._connection(name))
        self.checks.pop((self.user.id, name), None)

    # syncs --------------------------------------------------------------------------------
    def sync(self, name: str) -> SyncEntry:
        entry = self.workspace().sync(name)
        if entry is None:
            raise NotFound(name)
        return entry

    def add_sync(self, form: SyncForm) -> SyncEntry:
        """Raises ``PlanLimitReached`` and ``Refused`` (name taken, or what the document refuses)."""
        model = self.workspace()
        entry = form.entry()
        if not entry.name:
            raise Refused({"name": "Give the sync a name, such as personal-to-client-a."})
        if entry.name == "new":
            raise Refused({"name": "'new' is kept for the page that creates syncs; choose another name."})
        if model.sync(entry.name) is not None:
            raise Refused({"name": f"You already have a sync named '{entry.name}'."})
        try:
            model = ws.add_sync(model, entry, self.user.plan)
        except ConfigError as exc:
            raise _refused(exc) from None
        self._save(model)
        self.run_soon()
        return entry

    def add_syncs(self, forms: list[SyncForm], clients: dict[str, str] | None = None) -> list[SyncEntry]:
        """Create every sync of ``forms`` and set the ``client`` label of the calendars named in
        ``clients`` (an empty label removes it), all in one save: all or nothing. Raises
        ``PlanLimitReached`` (nothing created) when they would exceed the plan, ``NotFound`` for a
        labelled calendar that is not the user's and ``Refused`` (nothing changed) for anything
        the document refuses."""
        model = self.workspace()
        for name, label in (clients or {}).items():
            calendar = model.calendar(name)
            if calendar is None:
                raise NotFound(name)
            calendar.client = label.strip() or None
        left = ws.plan_limit(self.user.plan) - ws.syncs_used(model)
        if len(forms) > left:
            raise PlanLimitReached(f"These need {len(forms)} syncs and your plan has {max(left, 0)} left.")
        entries = [form.entry() for form in forms]
        try:
            model = ws.validated(model)
            for entry in entries:
                if model.sync(entry.name) is not None:
                    raise Refused({"name": f"You already have a sync named '{entry.name}'."})
                model = ws.add_sync(model, entry, self.user.plan)
        except ConfigError as exc:
            raise _refused(exc) from None
        self._save(model)
        if entries:
            self.run_soon()
        return entries

    def update_sync(self, name: str, changes: dict[str, Any]) -> SyncEntry:
        """Change the settings of sync ``name``; its name, calendars and direction stay (its
        copies belong to them). Raises ``NotFound`` and ``Refused``."""
        model = self.workspace()
        old = model.sync(name)
        if old is None:
            raise NotFound(name)
        fixed = {"name", "source", "target", "two_way"}
        entry = replace(old, **{k: v for k, v in changes.items() if k not in fixed})
        entry.title = (entry.title or "").strip() or None  # an empty title field: the default, "Busy"
        if entry.privacy == "full":
            entry.title = None
        try:
            model = ws.replace_sync(model, name, entry)
        except ConfigError as exc:
            raise _refused(exc) from None
        self._save(model)
        self.run_soon()
        return entry

    async def delete_sync(self, name: str, *, remove_copies: bool) -> int:
        """Delete sync ``name``; with ``remove_copies`` first delete every copy it made (both
        halves of a two-way sync) and return how many. Raises ``NotFound``, and ``Refused``
        (the sync is kept) when some copies could not be removed."""
        model = self.workspace()
        entry = model.sync(name)
        if entry is None:
            raise NotFound(name)
        removed = 0
        if remove_copies:
            config = self._runtime(model)
            credentials = Credentials(config, self.store, env=self.env)
            try:
                engine = build_engine(config, self.store, credentials)
            except MirrorcalError as exc:
                await credentials.aclose()
                raise Refused({"form": f"The copies cannot be removed: {_sentence(exc)} The sync was kept."}) from None
            try:
                for half in ws.halves(entry):
                    report = await engine.unsync(self._connection(half))
                    removed += report.counts["deleted"]
                    if report.errors:
                        raise Refused(
                            {"form": f"Some copies could not be removed ({report.errors[0]}). The sync was kept; try again."}
                        )
            finally:
                await engine.aclose()
                await credentials.aclose()
        self._save(ws.remove_sync(model, name))
        return removed


def _sentence(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", ")")) else text + "."
