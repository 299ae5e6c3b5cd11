"""Interview requests in the app: the services behind the recruiter's and candidates' pages, and their background work.

``wire(app, store)`` (``create_app`` with a store, else the lifespan once it opened one) puts on
``app.state``:

- ``recruiting``: a ``recruiting.Recruiting`` whose links point at ``settings.base_url()``; each
  committed move is published on the app's events hub as ``interview.status_changed`` (so
  webhooks receive it, signed like the others), each new mail wakes the mail sender;
- ``booker``: a ``booking.Booker`` over the accounts' runtime configurations, poking the sync
  worker after a booking so the syncs carry it out as Busy at once.

Mail goes out over SMTP when ``settings.smtp_url`` is set; otherwise every mail is *held* in the
account's outbox (``/outbox``), which is what the demo shows.

``start(app)`` / ``stop(app)`` (the lifespan, when ``settings.worker`` is on) run the mail sender
(with SMTP) and the sweep every ``SWEEP_SECONDS``: reminders, expiries, interviews whose time has
passed (``Recruiting.sweep``). ``notice_after_run`` is the sync worker's ``after_run``: after an
account's syncs ran, bookings with a pending request's candidate are looked for in its calendars,
and the booking page's busy time is expanded ahead of a candidate (the first expansion of a large
account takes seconds; later requests reuse it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from fastapi import FastAPI

from mirrorcal.booking import Booker
from mirrorcal.config import Config
from mirrorcal.mail import SmtpMailer
from mirrorcal.outbox import MailSender
from mirrorcal.recruiting import STATUS_EVENT, WAITING_STATES, Change, Recruiting, status_event
from mirrorcal.store.base import MailRow, Store

from .events import AccountEvent, event_id
from .hooks import vault_for
from .settings import WebSettings

log = logging.getLogger(__name__)

SWEEP_SECONDS = 60.0
"""How often reminders, expiries and passed interviews are looked for."""


def wire(app: FastAPI, store: Store) -> None:
    """Put ``recruiting`` and ``booker`` over ``store`` on ``app.state`` (see the module docstring)."""
    settings: WebSettings = app.state.settings
    events = app.state.events

    def on_change(change: Change) -> None:
        row = change.interview
        key = event_id(row.user_id, STATUS_EVENT, str(row.id), str(row.version))
        events.publish(AccountEvent(row.user_id, STATUS_EVENT, status_event(change), id=key))

    def on_mail(_: MailRow) -> None:
        sender: MailSender | None = getattr(app.state, "mail_sender", None)
        if sender is not None:
            sender.wake()

    def poke(user_id: int) -> None:
        worker = getattr(app.state, "worker", None)
        if worker is not None:
            worker.poke(user_id)

    recruiting = Recruiting(
        store,
        lambda: vault_for(settings.database_url),
        base_url=settings.base_url(),
        mail_enabled=bool(settings.smtp_url),
        reminder_days=settings.reminder_days,
        expiry_days=settings.expiry_days,
        on_change=on_change,
        on_mail=on_mail,
    )
    app.state.recruiting = recruiting
    app.state.booker = Booker(store, recruiting, database_url=settings.database_url, oauth=settings.oauth(), poke=poke)


def notice_after_run(app: FastAPI) -> Callable[[int, Config], None]:
    """The sync worker's ``after_run``: bookings noticed in the account's calendars, and the booking
    page's busy time expanded ahead of a candidate when the account has a booking-page request out."""

    def after_run(user_id: int, config: Config) -> None:
        recruiting: Recruiting | None = getattr(app.state, "recruiting", None)
        if recruiting is not None:
            recruiting.notice(user_id, list(config.calendars))
        booker: Booker | None = getattr(app.state, "booker", None)
        if booker is not None and any(
            r.link_kind == "booking_page" and r.state in WAITING_STATES for r in booker.store.interviews(user_id)
        ):
            booker.preview(user_id)  # a candidate may come: have the busy time expanded before they do

    return after_run


async def start(app: FastAPI) -> None:
    """Start the mail sender (when SMTP is configured) and the sweep."""
    settings: WebSettings = app.state.settings
    if settings.smtp_url:
        sender = MailSender(app.state.store, SmtpMailer(settings.smtp_url, settings.mail_from))
        await sender.start()
        app.state.mail_sender = sender
    app.state.sweeper = asyncio.create_task(_sweep_forever(app), name="mirrorcal interview sweep")


async def stop(app: FastAPI) -> None:
    task: asyncio.Task[None] | None = getattr(app.state, "sweeper", None)
    app.state.sweeper = None
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    sender: MailSender | None = getattr(app.state, "mail_sender", None)
    app.state.mail_sender = None
    if sender is not None:
        await sender.stop()


async def _sweep_forever(app: FastAPI) -> None:
    while True:
        recruiting: Recruiting | None = app.state.recruiting
        if recruiting is not None:
            try:
                counts = await asyncio.to_thread(recruiting.sweep)
                if any(counts.values()):
                    log.info("interview requests swept: %s", counts)
            except Exception:  # noqa: BLE001 - the sweep must outlive one bad request
                log.exception("the interview sweep failed")
        await asyncio.sleep(SWEEP_SECONDS)
