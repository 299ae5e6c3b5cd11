"""The web app's demo (``mirrorcal web`` with ``MIRRORCAL_DEMO`` on, what ``make run`` runs).

Before the app serves, ``WebDemo`` starts the demo's providers on free ports of 127.0.0.1 and
books the Tuesday of the recruiter document (the cast of ``demo_cast``) on them: Personal on
Radicale (CalDAV), Client A on the Microsoft Graph emulator, Client B on the Google Calendar
emulator and Client C's ATS as an ICS feed, where David's interview overlaps John's and
Maria's. It then makes the demo account (``demo@mirrorcal.test``, a password made for this run,
plan Professional) with those four calendars, their connections stored encrypted as the web
app stores them (a CalDAV password, OAuth refresh tokens issued by the emulators for the demo's
app registration), and the recruiter table's five syncs: each client into Personal in full,
Personal out to Clients A and B as private Busy blocks (C is a read-only feed). The app's worker
runs them as soon as it starts.

The providers keep everything in memory, so the demo's state is ephemeral too: a fresh SQLite
database in a temporary directory, removed on ``stop()``, unless ``MIRRORCAL_DATABASE_URL`` names
one (the demo account is then refreshed in it). ``settings`` is what to serve with: the
database, and Google and Microsoft registrations pointing at the emulators (so "connect Google"
in the app signs in at the emulator).
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Self

from . import workspace as ws
from .accounts import hash_password
from .connections import ConnectionBook
from .demo import book_interview
from .demo_cast import RECRUITER, TZ, Interview, feed, next_tuesday, tuesday
from .interviews import Action, Actor
from .oauth import GOOGLE_SCOPES, MICROSOFT_SCOPES
from .recruiting import Recruiting
from .secrets import Vault, default_key_file, load_vault
from .store.sql import SqlStore
from .testing.feedserver import FeedServer
from .testing.radicale import RadicaleServer
from .testing.world import ProviderWorld
from .web.settings import WebSettings
from .workspace import CalendarEntry, SyncEntry, Workspace

DEMO_EMAIL = "demo@mirrorcal.test"
DEMO_PLAN = "professional"
DEMO_CLIENT_ID = "mirrorcal-demo"
"""The demo's app registration at both emulators (its secret is made per run)."""
CALDAV_USER = "recruiter"
FEED_PATH = "/lever.ics"
DEMO_CANDIDATES = (
    ("john", "John Smith", "john@example.org", "Client A", "Sr. Engineer", "link", "https://calendly.com/demo-recruiter/60min"),
    ("maria", "Maria Garcia", "maria@example.org", "Client B", "Product Manager", "link", "https://calendar.app.google/demo"),
    ("david", "David Lee", "david@example.org", "Client C", "Designer", "link", "https://jobs.lever.co/client-c/schedule/demo"),
    ("sam", "Sam Taylor", "sam@example.org", "Client B", "Data Analyst", "booking_page", ""),
)
"""The demo's candidates: (key, name, e-mail, client, role, scheduling link kind, link); the first
three are the Tuesday's cast (their e-mails are the attendees of its interviews)."""
DEMO_MESSAGE = "Thanks for your interest! Please pick a time for the interview with the link below."
SYNCS = (
    ("client-a-to-personal", "client-a", "personal", "full"),
    ("client-b-to-personal", "client-b", "personal", "full"),
    ("client-c-to-personal", "client-c", "personal", "full"),
    ("personal-to-client-a", "personal", "client-a", "private"),
    ("personal-to-client-b", "personal", "client-b", "private"),
)
"""The recruiter table (as ``demo_cast.CONFIG``): (name, from, to, privacy)."""


def _sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.as_posix()}"


def shown_url(database_url: str) -> str:
    """``database_url`` fit to print: any password in it masked."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(database_url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(an unreadable database URL)"


class WebDemo:
    """The demo's providers and account around one run of the web app; a context manager.

    ``start()`` raises whatever a provider or the store raised, after stopping what it started.
    Once started: ``settings`` (to serve with), ``password`` (the demo sign-in's), ``day`` (the
    Tuesday), ``database_url`` and ``temp_dir`` (removed on ``stop()``).
    """

    def __init__(self, settings: WebSettings, env: Mapping[str, str] | None = None) -> None:
        self.base = settings
        self.env = dict(os.environ if env is None else env)
        self.settings = settings
        self.radicale = RadicaleServer()
        self.feeds = FeedServer()
        self.world = ProviderWorld()
        self.temp_dir: Path | None = None
        self.password = ""
        self.day = next_tuesday(datetime.now(TZ).date())
        self.personal_url = ""
        self.user_id = 0
        self.booking_link = ""
        """The demo candidate Sam's private link (the request is for the booking page)."""

    # lifecycle --------------------------------------------------------------------------------
    def start(self) -> Self:
        if self.temp_dir is not None:  # started already
            return self
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every provider and remove the temporary directory (safe to call twice)."""
        self.world.stop()
        self.feeds.stop()
        self.radicale.stop()
        temp, self.temp_dir = self.temp_dir, None
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def database_url(self) -> str:
        return self.settings.database_url

    @property
    def own_database(self) -> bool:
        """Whether the demo made its database (in ``temp_dir``), rather than being given one."""
        return "database_url" not in self.base.model_fields_set

    def _start(self) -> None:
        self.temp_dir = Path(tempfile.mkdtemp(prefix="mirrorcal-web-demo-"))
        self.radicale.start()
        self.feeds.start()
        self.world.start()
        self.personal_url = self.radicale.make_calendar(CALDAV_USER, "personal", "Personal")
        a_id = self.world.calendar("client-a", "microsoft")
        b_id = self.world.calendar("client-b", "google")
        cast = tuesday(self.day)
        book_interview(self.world, "client-a", cast["john"])
        book_interview(self.world, "client-b", cast["maria"])
        # David is booked last, as in the story (so he is the one asked to move): an ICS feed
        # stamps CREATED to the second, so let the clock pass the second John and Maria got.
        time.sleep(1.0 - datetime.now().microsecond / 1e6 + 0.01)
        self.feeds.set(FEED_PATH, feed(cast["david"], cast["priya"]))
        google_secret, graph_secret = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self.world.google.oauth.clients[DEMO_CLIENT_ID] = google_secret
        self.world.graph.oauth.clients[DEMO_CLIENT_ID] = graph_secret
        database = self.base.database_url if not self.own_database else _sqlite_url(self.temp_dir / "mirrorcal.db")
        self.settings = self.base.model_copy(
            update={
                "database_url": database,
                "google_client_id": DEMO_CLIENT_ID,
                "google_client_secret": google_secret,
                "google_base_url": self.world.google.base_url,
                "microsoft_client_id": DEMO_CLIENT_ID,
                "microsoft_client_secret": graph_secret,
                "microsoft_tenant": "common",
                "microsoft_base_url": self.world.graph.base_url,
            }
        )
        self.password = secrets.token_urlsafe(12)
        self._account(a_id, b_id)

    # the account ------------------------------------------------------------------------------
    def workspace(self, a_id: str, b_id: str) -> Workspace:
        """The demo account's setup, built and checked through ``mirrorcal.workspace``."""
        world = self.world
        model = Workspace(timezone=TZ.key, working_hours="08:00-19:00")
        calendars = (
            CalendarEntry(
                "personal", "caldav", url=self.personal_url, username=CALDAV_USER, connection="personal",
                email=[RECRUITER], unified=True,
            ),
            CalendarEntry(
                "client-a", "microsoft", connection="client-a", calendar_id=a_id, base_url=world.graph.base_url,
                client="A", unified=False,
            ),
            CalendarEntry(
                "client-b", "google", connection="client-b", calendar_id=b_id, base_url=world.google.base_url,
                client="B", unified=False,
            ),
            CalendarEntry("client-c", "ics", url=self.feeds.url(FEED_PATH), client="C", unified=False),
        )  # fmt: skip
        for entry in calendars:
            model = ws.add_calendar(model, entry)
        for name, source, target, privacy in SYNCS:
            model = ws.add_sync(model, SyncEntry(name, source, target, privacy), DEMO_PLAN)
        return model

    def _account(self, a_id: str, b_id: str) -> None:
        """Make (or refresh) the demo account, its connections and its setup."""
        now = datetime.now(UTC)
        model = self.workspace(a_id, b_id)
        store = SqlStore.open(self.database_url)
        try:
            hashed = hash_password(self.password)
            user = store.user_by_email(DEMO_EMAIL)
            if user is None:
                user = store.create_user(DEMO_EMAIL, hashed, DEMO_PLAN, now)
            else:  # a given database that held the demo before: its providers are gone
                store.set_password_hash(user.id, hashed)
                store.set_plan(user.id, DEMO_PLAN)
                store.delete_web_sessions(user.id)
                for entry in model.calendars:
                    store.forget_calendar(ws.prefix(user.id) + entry.name)
            self.user_id = user.id
            book = ConnectionBook(store, load_vault(self.env, default_key_file(self.database_url)))
            p = ws.prefix(user.id)
            book.save(p + "personal", "caldav", CALDAV_USER, secrets.token_urlsafe(16), {"url": self.personal_url})
            for name, emulator in (("client-a", self.world.graph), ("client-b", self.world.google)):
                kind = "microsoft" if name == "client-a" else "google"
                token = emulator.oauth.issue_refresh_token(DEMO_CLIENT_ID)
                scope = " ".join(GOOGLE_SCOPES if kind == "google" else MICROSOFT_SCOPES)
                book.save(p + name, kind, emulator.oauth.subject, token, {"scope": scope})
            store.save_workspace(user.id, ws.dump(model), now)
            if not store.candidates(user.id):
                self._candidates(store, user.id, book.vault)
            else:  # a given database that held the demo before: its candidates stay as they are
                sam = next((c for c in store.candidates(user.id) if c.email == DEMO_CANDIDATES[-1][2]), None)
                requests = store.interviews(user.id, sam.id) if sam is not None else []
                if requests:
                    recruiting = Recruiting(store, book.vault, base_url=self.settings.base_url(), mail_enabled=False)
                    self.booking_link = recruiting.link(requests[-1])
        finally:
            store.close()

    def _candidates(self, store: SqlStore, user_id: int, vault: Vault) -> None:
        """The Tuesday's candidates with their interview requests, one in each state worth seeing.

        Their requests went out before the bookings landed (an hour ago, in the demo's clock), so
        the worker notices David's booking in Client C's feed on its first run ("Booked, not
        confirmed", with "Mark as scheduled"). Sam's request is for the booking page: open the link to
        book a slot on the unified calendar. With no mail server the mails are held in the
        outbox.
        """
        sent = datetime.now(UTC) - timedelta(hours=1)
        recruiting = Recruiting(store, vault, base_url=self.settings.base_url(), mail_enabled=False, clock=lambda: sent)
        made = {}
        for key, name, email, client, role, kind, url in DEMO_CANDIDATES:
            candidate = recruiting.add_candidate(user_id, name=name, email=email, client=client, role=role)
            made[key], _ = recruiting.send_request(user_id, candidate.id, link_kind=kind, url=url, message=DEMO_MESSAGE)
        recruiting.act(user_id, made["john"].id, Action.CONFIRM, Actor.CANDIDATE)
        recruiting.act(user_id, made["maria"].id, Action.SCHEDULE_OFFLINE, Actor.RECRUITER)
        self.booking_link = recruiting.link(made["sam"])

    # what to print ----------------------------------------------------------------------------
    def banner(self, url: str) -> str:
        """What ``mirrorcal web`` prints before serving: where to go, how to sign in, what runs where."""
        cast = tuesday(self.day)

        def at(i: Interview) -> str:
            return f"{i.start:%H:%M}-{i.end:%H:%M}"

        john, maria, david, priya = (cast[n] for n in ("john", "maria", "david", "priya"))
        rows = (
            ("Personal", "CalDAV", "Radicale", self.personal_url),
            ("Client A", "Microsoft 365", "Graph emulator", f"{self.world.graph.base_url}/v1.0/"),
            ("Client B", "Google Calendar", "Google emulator", f"{self.world.google.base_url}/calendar/v3/"),
            ("Client C", "ICS feed (ATS)", "feed server", self.feeds.url(FEED_PATH)),
        )
        where = [f"  {a:<9} {b:<16} {c:<16} {d}" for a, b, c, d in rows]
        state = (
            f"{self.database_url} (a fresh database, removed on exit)"
            if self.own_database
            else f"{shown_url(self.database_url)} (MIRRORCAL_DATABASE_URL)"
        )
        return "\n".join(
            [
                "mirrorcal web app with the demo",
                f"  Open {url}",
                f"  Sign in as {DEMO_EMAIL} / {self.password}",
                f"  The Tuesday's week: {url}week?start={self.day - timedelta(days=self.day.weekday())}",
                "",
                "Demo providers (all on 127.0.0.1, stopped on exit):",
                *where,
                f"The Tuesday, {self.day:%a %d %B %Y} (Europe/London): John {at(john)} at Client A, Maria {at(maria)} at"
                f" Client B, David {at(david)} and Priya {at(priya)} in Client C's feed (David clashes with John and Maria).",
                "Five syncs: each client into Personal in full, Personal out to A and B as Busy; they run at once.",
                "Candidates (/candidates): John confirmed his booking (Requires Action), Maria is scheduled offline,",
                "  David's Lever booking is noticed in Client C's feed (Booked, not confirmed); Sam books on the booking page:",
                f"  {self.booking_link}",
                "  No mail server is set (MIRRORCAL_SMTP_URL): the e-mails are held in the outbox (/outbox).",
                f"State: {state}",
                "",
                "This is a demo: set MIRRORCAL_DEMO=false (or pass --no-demo) for real use.",
                "Ctrl-C stops the app and every demo provider.",
            ]
        )


class _MainThreadOnly(logging.Filter):
    """Keeps a record of ``warning`` or worse, or one logged by the main thread (the web app's server)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.threadName == threading.main_thread().name


def quiet_provider_logs() -> None:
    """Keep the emulators' request and lifecycle lines out of the app's log: they run uvicorn in
    background threads and share its loggers (``uvicorn.access``, ``uvicorn.error``), which the
    app's server sets to ``info``. Their warnings and errors still show."""
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _MainThreadOnly) for f in logger.filters):
            logger.addFilter(_MainThreadOnly())
