"""The mail outbox's sender: pending mails in the store sent through a ``Mailer``, retried with backoff.

``Recruiting`` writes each mail to the store (``add_mail``, "pending" when a mail server is
configured); ``MailSender`` is the loop that sends them, like ``webhooks.WebhookSender``:

- ``run_due`` sends every mail due now (``store.due_mails``), one after the other (interview mail
  is a trickle), and records each outcome (``record_mail_attempt``).
- A ``MailError`` (server unreachable, sign-in or recipient refused) is retried after
  ``schedule[n-1]`` seconds following the n-th failed attempt; after ``len(schedule) + 1``
  attempts the mail is "failed" with the last reason in plain words. A mail that cannot even be
  built (say, a recipient address the SMTP layer refuses to write) fails at once.
- Each message carries ``Reply-To`` the account's e-mail (unless it goes to the account itself),
  so a candidate's reply reaches the recruiter, and ``X-Mirrorcal-Kind`` the mail's kind.

Mails live in the store, so a restart loses none; one sender should run per database. A mail
whose send was cut off by ``stop()`` stays pending and is sent again later (at least once).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from .dueloop import DueLoop
from .mail import Mail, Mailer, MailError
from .store.base import MailRow, Store

log = logging.getLogger(__name__)

DEFAULT_SCHEDULE: tuple[float, ...] = (30, 120, 600, 3600)
"""Seconds to wait after the 1st, 2nd, ... failed attempt; one attempt more than its length in all."""


class MailSender(DueLoop):
    """Sends due outbox mails until ``stop()`` (a ``DueLoop``).

    ``wake()`` (any thread) makes it look for due mails at once (after ``add_mail``); else it
    looks when the next retry is due, at least every ``poll`` seconds (another process may add
    mail). ``attempts`` counts every send tried (tests wait on it).
    """

    NAME = "mail"

    def __init__(
        self,
        store: Store,
        mailer: Mailer,
        *,
        schedule: Sequence[float] = DEFAULT_SCHEDULE,
        poll: float = 5.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(schedule=schedule, poll=poll, clock=clock)
        self.store = store
        self.mailer = mailer

    def next_due(self) -> datetime | None:
        due = self.store.due_mails(self._now() + timedelta(seconds=self.poll), limit=1)
        return due[0].next_at if due else None

    async def run_due(self) -> int:
        """Try every mail due now, once; returns how many were tried."""
        due = self.store.due_mails(self._now())
        for row in due:
            try:
                await self.attempt(row)
            except Exception:  # noqa: BLE001 - one mail must not stop the others
                log.exception("mail %s: its attempt could not be recorded", row.id)
        return len(due)

    async def attempt(self, row: MailRow) -> MailRow:
        """Send ``row`` once and record the outcome; returns the mail as now stored."""
        attempts = row.attempts + 1
        try:
            mail = self._build(row)
        except MailError as exc:
            return self._record(row, "failed", attempts, None, None, f"Cannot be sent: {exc}.")
        self.attempts += 1
        try:
            await self.mailer.send(mail)
        except MailError as exc:
            error = _sentence(str(exc))
        except Exception as exc:  # noqa: BLE001 - an unexpected failure is retried like any other
            log.exception("mail %s failed unexpectedly", row.id)
            error = f"mirrorcal could not send it ({type(exc).__name__}: {exc})."
        else:
            return self._record(row, "sent", attempts, None, self._now(), "")
        if attempts >= self.max_attempts:
            return self._record(row, "failed", attempts, None, None, f"{error} Gave up after {attempts} attempts.")
        later = self._now() + timedelta(seconds=self.schedule[attempts - 1])
        return self._record(row, "pending", attempts, later, None, error)

    def _build(self, row: MailRow) -> Mail:
        user = self.store.user(row.user_id)
        reply_to = user.email if user is not None and user.email.lower() != row.to.lower() else None
        return Mail(
            to=row.to,
            subject=row.subject,
            text=row.body,
            reply_to=reply_to,
            headers=(("X-Mirrorcal-Kind", row.kind),),
        )

    def _record(
        self, row: MailRow, state: str, attempts: int, next_at: datetime | None, sent_at: datetime | None, error: str
    ) -> MailRow:
        self.store.record_mail_attempt(
            row.id, state=state, attempts=attempts, next_at=next_at, sent_at=sent_at, error=error
        )
        return replace(row, state=state, attempts=attempts, next_at=next_at, sent_at=sent_at, last_error=error)


def _sentence(text: str) -> str:
    text = text.strip() or "the mail server failed"
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
