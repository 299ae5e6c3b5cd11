"""Recruiting: candidates, interview requests moved through ``interviews``, the chat and the mails.

``Recruiting`` is the service the web pages, the API, the booking page and the worker call. It
is synchronous and does no I/O but the store's: mails are *written to the outbox*
(``store.add_mail``: "pending" when ``mail_enabled``, else "held" for the web app to show) and
sent later by ``outbox.MailSender``.

Every move goes the same way (``act``): the state machine (``interviews.apply``) decides, the
store saves with compare-and-set (``save_interview``; a lost race raises ``RaceLost`` and
changes nothing), then the move is recorded (``add_transition``: who, what, when, from, to), its
note is added to the candidate's chat thread as a system message, the mails it calls for are
written, and ``on_change`` hears of it (for events and webhooks: ``status_event``). Sending a
request records no transition but a chat note "Interview request sent: …" and an ``on_change``
with ``transition=None``.

Mails (plain text; the time in words in the zone of the account's booking-page settings when
it has saved one, else its setup's zone, else ``DEFAULT_ZONE``):

- to the candidate: the invitation (sent, sent again), a reminder, "Your interview is
  scheduled" whenever a move ends in scheduled, "Please choose a new time" when the recruiter
  asks to reschedule, "Interview cancelled" when the recruiter cancels, and the recruiter's chat
  messages. CONFIDENTIALITY: a candidate's mail names that candidate, their own client and role,
  the request's title and message, their private link and the recruiter's e-mail; nothing else
  of the account (no other client, no other candidate).
- to the recruiter (the account's e-mail): when the candidate confirms, books, declines (with
  the reason), cancels or asks to reschedule, and when a booking with the candidate is noticed
  in the calendars, with the link to the candidate's page
  (``{base_url}/candidates/{id}``).

Refused input raises ``RecruitingError`` (``.field`` names the form field), a refused move
``interviews.TransitionRefused``, an unknown candidate or request ``LookupError``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from . import workspace as ws
from .accounts import new_token, normalise_email, token_hash
from .errors import MirrorcalError
from .interviews import (
    Action,
    Actor,
    How,
    Request,
    State,
    TransitionRefused,
    apply,
    candidate_view,
    recruiter_view,
)
from .noticed import Pending, noticed_bookings
from .secrets import Vault
from .store.base import (
    INTERVIEW_LINK_KINDS,
    CandidateRow,
    InterviewRow,
    MailRow,
    MessageRow,
    Store,
    TransitionRow,
)
from .zones import UTC_KEYS, zone_named

log = logging.getLogger(__name__)

STATUS_EVENT = "interview.status_changed"
MAX_NAME_LENGTH = 120
"""Longest candidate name, client name and role."""
MAX_TITLE_LENGTH = 200
MAX_TEXT_LENGTH = 4000
"""Longest request message, chat message and reason."""
MAX_URL_LENGTH = 2000
DURATION_MINUTES = (10, 480)
"""Shortest and longest interview, in minutes."""
OPEN_STATES = (
    State.REQUESTED,
    State.BOOKED_UNCONFIRMED,
    State.RESCHEDULING,
    State.SCHEDULED,
    State.AWAITING_FEEDBACK,
)
"""A candidate with a request in one of these cannot be sent another."""
WAITING_STATES = (State.REQUESTED, State.RESCHEDULING)
"""States where the candidate is expected to pick a time (reminders, expiry, noticed bookings)."""


DEFAULT_ZONE = "Europe/Berlin"
"""The recruiter's zone when neither the booking page's settings nor the setup name one."""


def setup_zone(store: Store, user_id: int) -> str | None:
    """The ``timezone`` the account's setup names, as written; None when it names none or cannot be read."""
    document = store.workspace(user_id)
    if not document:
        return None
    try:
        return ws.load(document).timezone or None
    except (MirrorcalError, ValueError):
        return None


class RecruitingError(MirrorcalError):
    """Refused input: ``field`` names the form field, the message says what to change."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(message)


class RaceLost(TransitionRefused):
    """Someone else moved the request between reading and saving it; nothing was changed."""


@dataclass(frozen=True, slots=True)
class Change:
    """What ``on_change`` receives after every committed move (``transition``) or send (None)."""

    interview: InterviewRow
    candidate: CandidateRow
    transition: TransitionRow | None


# views of a stored request ----------------------------------------------------------------------
def as_request(row: InterviewRow) -> Request:
    """The state machine's view of a stored request."""
    return Request(State(row.state), How(row.how) if row.how else None, row.starts_at, row.ends_at, row.reason)


def recruiter_status(row: InterviewRow) -> str:
    return recruiter_view(as_request(row))


def candidate_status(row: InterviewRow) -> str:
    return candidate_view(as_request(row))


def status_event(change: Change) -> dict[str, Any]:
    """The data of an ``interview.status_changed`` event (times ISO 8601 UTC; ``action``,
    ``actor`` and ``before`` are None for a request just sent)."""
    row, cand, tr = change.interview, change.candidate, change.transition
    return {
        "interview": {
            "id": row.id,
            "round": row.round,
            "title": row.title,
            "state": row.state,
            "how": row.how,
            "recruiter_status": recruiter_status(row),
            "candidate_status": candidate_status(row),
            "starts_at": _iso(row.starts_at),
            "ends_at": _iso(row.ends_at),
        },
        "candidate": {"id": cand.id, "name": cand.name, "email": cand.email, "client": cand.client, "role": cand.role},
        "action": tr.action if tr else None,
        "actor": tr.actor if tr else None,
        "before": tr.before if tr else None,
        "after": tr.after if tr else row.state,
    }


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).isoformat()


def time_in_words(starts_at: datetime, ends_at: datetime | None, zone: tzinfo = UTC) -> str:
    """``Tuesday 3 March 2026, 10:00–10:45 (Europe/Berlin, UTC+01:00)``; ``(UTC)`` in UTC."""
    start = starts_at.astimezone(zone)
    text = f"{start:%A} {start.day} {start:%B %Y}, {start:%H:%M}"
    if ends_at is not None:
        end = ends_at.astimezone(zone)
        text += f"–{end:%H:%M}" if end.date() == start.date() else f" – {end:%A} {end.day} {end:%B %Y}, {end:%H:%M}"
    offset = start.strftime("%z")
    utc = "UTC" if offset in ("", "+0000") else f"UTC{offset[:3]}:{offset[3:]}"
    name = getattr(zone, "key", None)
    return f"{text} ({utc})" if not name or name in UTC_KEYS else f"{text} ({name}, {utc})"


# input ------------------------------------------------------------------------------------------
def _line(field: str, what: str, text: str, limit: int = MAX_NAME_LENGTH) -> str:
    value = " ".join(text.split())
    if not value:
        raise RecruitingError(field, f"Enter {what}.")
    if len(value) > limit:
        raise RecruitingError(field, f"Use at most {limit} characters for {what}.")
    if not value.isprintable():
        raise RecruitingError(field, f"{what[0].upper()}{what[1:]} cannot contain control characters.")
    return value


def _text(field: str, text: str, what: str, *, required: bool) -> str:
    value = text.strip()
    if required and not value:
        raise RecruitingError(field, f"Write {what}.")
    if any(ord(c) < 32 and c not in "\n\r\t" or ord(c) == 127 for c in value):
        raise RecruitingError(field, f"Remove the control characters from {what}.")
    if len(value) > MAX_TEXT_LENGTH:
        raise RecruitingError(field, f"Use at most {MAX_TEXT_LENGTH} characters for {what} ({len(value)} now).")
    return value


def _email(text: str) -> str:
    try:
        return normalise_email(text)
    except ValueError as exc:
        raise RecruitingError("email", f"{exc}: enter the candidate's address, like grace@example.com.") from None


def _url(text: str) -> str:
    url = text.strip()
    if not url:
        raise RecruitingError("url", "Enter the scheduling link, like https://calendly.com/you/interview.")
    if len(url) > MAX_URL_LENGTH:
        raise RecruitingError("url", f"Use a link of at most {MAX_URL_LENGTH} characters.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise RecruitingError("url", "This is not a valid web address.") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise RecruitingError("url", "Use an http or https link, like https://calendly.com/you/interview.")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise RecruitingError("url", "A link cannot contain spaces or control characters.")
    return url


@dataclass(frozen=True, slots=True)
class _Spec:
    link_kind: str
    url: str
    message: str
    title: str
    duration_minutes: int


def _spec(link_kind: str, url: str, message: str, title: str, duration_minutes: int) -> _Spec:
    if link_kind not in INTERVIEW_LINK_KINDS:
        raise RecruitingError("link_kind", "Choose a schedule type: a scheduling link or our booking page.")
    low, high = DURATION_MINUTES
    if isinstance(duration_minutes, bool) or not isinstance(duration_minutes, int) or not low <= duration_minutes <= high:
        raise RecruitingError("duration_minutes", f"An interview lasts {low} to {high} minutes.")
    return _Spec(
        link_kind=link_kind,
        url=_url(url) if link_kind == "link" else "",
        message=_text("message", message, "the message", required=False),
        title=_line("title", "a title", title, MAX_TITLE_LENGTH) if title.strip() else "",
        duration_minutes=duration_minutes,
    )


# the service ------------------------------------------------------------------------------------
class Recruiting:
    """Candidates, interview requests, chat and mail of every account in ``store``.

    ``vault`` seals the candidates' link tokens (a function that loads it is called on first
    use). ``base_url`` (no trailing slash needed) makes the candidates' links
    ``{base_url}/i/{token}``. ``on_change`` hears of every committed move and send (its errors
    are logged, never raised: the move stands); ``on_mail`` of every mail written to the outbox
    (e.g. ``MailSender.wake``). ``clock`` is now, aware.
    """

    def __init__(
        self,
        store: Store,
        vault: Vault | Callable[[], Vault],
        *,
        base_url: str,
        mail_enabled: bool,
        reminder_days: int = 3,
        expiry_days: int = 14,
        on_change: Callable[[Change], None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_mail: Callable[[MailRow], None] | None = None,
    ) -> None:
        self.store = store
        self._vault = vault
        self.base_url = base_url.rstrip("/")
        self.mail_enabled = mail_enabled
        self.reminder_days = reminder_days
        self.expiry_days = expiry_days
        self.on_change = on_change
        self.on_mail = on_mail
        self._now = clock
        self._guard = threading.Lock()
        self._locks: dict[int, threading.Lock] = {}
        """One lock per candidate: checking for an open request and creating one go together
        (within this process; the app runs one)."""

    @property
    def vault(self) -> Vault:
        if not isinstance(self._vault, Vault):
            self._vault = self._vault()
        return self._vault

    # candidates -------------------------------------------------------------------------------
    def add_candidate(self, user_id: int, *, name: str, email: str, client: str, role: str) -> CandidateRow:
        n, e, c, r = self._candidate_fields(name, email, client, role)
        return self.store.create_candidate(user_id, n, e, c, r, self._now())

    def edit_candidate(
        self, user_id: int, candidate_id: int, *, name: str, email: str, client: str, role: str
    ) -> CandidateRow | None:
        """The candidate as changed, or None when it is not ``user_id``'s."""
        old = self.store.candidate(user_id, candidate_id)
        if old is None:
            return None
        n, e, c, r = self._candidate_fields(name, email, client, role)
        row = replace(old, name=n, email=e, client=c, role=r)
        return row if self.store.update_candidate(row) else None

    @staticmethod
    def _candidate_fields(name: str, email: str, client: str, role: str) -> tuple[str, str, str, str]:
        return (
            _line("name", "the candidate's name", name),
            _email(email),
            _line("client", "the client's name", client),
            _line("role", "the role", role),
        )

    # requests ---------------------------------------------------------------------------------
    def send_request(
        self,
        user_id: int,
        candidate_id: int,
        *,
        link_kind: str,
        url: str = "",
        message: str = "",
        title: str = "",
        duration_minutes: int = 45,
    ) -> tuple[InterviewRow, str]:
        """A new request to the candidate, its invitation mailed; returns it with its raw token."""
        spec = _spec(link_kind, url, message, title, duration_minutes)
        return self._send(user_id, self._candidate(user_id, candidate_id), spec)

    def _open_request(self, user_id: int, cand: CandidateRow, but: int | None = None) -> None:
        """Raise ``TransitionRefused`` when the candidate has an open request (other than ``but``)."""
        busy = next((r for r in self.store.interviews(user_id, cand.id) if r.state in OPEN_STATES and r.id != but), None)
        if busy is not None:
            raise TransitionRefused(
                f"{cand.name} already has an open request ({busy.title}: {recruiter_status(busy)}); "
                "progress, cancel or close it before sending another"
            )

    def _send(self, user_id: int, cand: CandidateRow, spec: _Spec) -> tuple[InterviewRow, str]:
        with self._candidate_lock(cand.id):  # check and create as one: a double-click sends one request
            self._open_request(user_id, cand)
            return self._create(user_id, cand, spec)

    def _candidate_lock(self, candidate_id: int) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(candidate_id, threading.Lock())

    def _create(self, user_id: int, cand: CandidateRow, spec: _Spec) -> tuple[InterviewRow, str]:
        earlier = self.store.interviews(user_id, cand.id)
        number = len(earlier) + 1
        now = self._now()
        token = new_token()
        row = self.store.create_interview(
            InterviewRow(
                id=0,
                user_id=user_id,
                candidate_id=cand.id,
                round=number,
                title=spec.title or f"Interview {number}",
                link_kind=spec.link_kind,
                url=spec.url,
                message=spec.message,
                token_hash=token_hash(token),
                state=State.REQUESTED.value,
                how=None,
                starts_at=None,
                ends_at=None,
                reason="",
                sent_at=now,
                updated=now,
                duration_minutes=spec.duration_minutes,
                token_sealed=self.vault.encrypt(token),
            )
        )
        self._invite(row, cand, f"{self.base_url}/i/{token}", now)
        self.store.add_message(user_id, cand.id, Actor.SYSTEM.value, f"Interview request sent: {row.title}", now, row.id)
        self._changed(Change(row, cand, None))
        return row, token

    def act(
        self,
        user_id: int,
        interview_id: int,
        action: Action,
        actor: Actor,
        *,
        reason: str = "",
        starts_at: datetime | None = None,
        ends_at: datetime | None = None,
        booking_calendar: str | None = None,
        booking_uid: str | None = None,
        version: int | None = None,
    ) -> InterviewRow:
        """``actor`` takes ``action`` on the request; returns it as saved. Raises
        ``TransitionRefused`` (``RaceLost`` when another writer won, or when ``version`` is given
        and the request has moved on since it was read), ``RecruitingError`` for a reason that is
        too long, ``LookupError`` when the request is not ``user_id``'s."""
        row = self.store.interview(user_id, interview_id)
        if row is None:
            raise LookupError(f"no interview request {interview_id}")
        if version is not None and row.version != version:
            apply(as_request(row), Action(action), Actor(actor), self._now(), reason=reason or "-")  # the state's own refusal first
            raise RaceLost("someone else changed this interview at the same moment: reload the page and try again")
        if Action(action) is Action.CONFIRM and row.link_kind == "booking_page":
            raise TransitionRefused("this interview is booked on the booking page: choose a time there")
        if Action(action) is Action.RESEND:
            with self._candidate_lock(row.candidate_id):
                self._open_request(user_id, self._candidate(user_id, row.candidate_id), but=row.id)
                return self._act(row, Action.RESEND, Actor(actor), self._now(), reason=reason)
        return self._act(
            row, Action(action), Actor(actor), self._now(), reason=reason, starts_at=starts_at, ends_at=ends_at,
            booking_calendar=booking_calendar, booking_uid=booking_uid,
        )  # fmt: skip

    def _act(
        self,
        row: InterviewRow,
        action: Action,
        actor: Actor,
        now: datetime,
        *,
        reason: str = "",
        starts_at: datetime | None = None,
        ends_at: datetime | None = None,
        booking_calendar: str | None = None,
        booking_uid: str | None = None,
    ) -> InterviewRow:
        reason = _text("reason", reason, "the reason", required=False)
        cand = self._candidate(row.user_id, row.candidate_id)
        new, tr = apply(as_request(row), action, actor, now, reason=reason, starts_at=starts_at, ends_at=ends_at)
        changed = replace(
            row,
            state=new.state.value,
            how=new.how.value if new.how else None,
            starts_at=new.starts_at,
            ends_at=new.ends_at,
            reason=new.reason,
            updated=now,
        )
        if new.state in WAITING_STATES:  # the time is gone, and the event behind it
            changed = replace(changed, booking_calendar="", booking_uid="")
        if booking_calendar is not None:
            changed = replace(changed, booking_calendar=booking_calendar)
        if booking_uid is not None:
            changed = replace(changed, booking_uid=booking_uid)
        if action is Action.RESEND:  # a new reminder clock
            changed = replace(changed, sent_at=now, reminded_at=None)
        saved = self.store.save_interview(changed)
        if saved is None:
            raise RaceLost("someone else changed this interview at the same moment: reload the page and try again")
        recorded = self.store.add_transition(
            saved.id, tr.action.value, tr.actor.value, tr.at, tr.before.value, tr.after.value, tr.note
        )
        self.store.add_message(saved.user_id, cand.id, Actor.SYSTEM.value, tr.note, now, saved.id)
        self._mail_move(saved, cand, action, actor, now)
        self._changed(Change(saved, cand, recorded))
        return saved

    def advance(
        self,
        user_id: int,
        interview_id: int,
        *,
        link_kind: str,
        url: str = "",
        message: str = "",
        title: str = "",
        duration_minutes: int = 45,
    ) -> tuple[InterviewRow, str]:
        """Move the candidate on (ADVANCE the request, as the recruiter) and send the next round's
        request; returns the new one with its raw token. The new request's input is checked
        before anything moves."""
        spec = _spec(link_kind, url, message, title, duration_minutes)
        old = self.act(user_id, interview_id, Action.ADVANCE, Actor.RECRUITER)
        return self._send(user_id, self._candidate(user_id, old.candidate_id), spec)

    def link(self, row: InterviewRow) -> str:
        """The candidate's private link to the request (``SecretsError`` if the vault cannot open it)."""
        return f"{self.base_url}/i/{self.vault.decrypt(row.token_sealed)}"

    def by_token(self, raw_token: str) -> tuple[InterviewRow, CandidateRow] | None:
        """The request and its candidate for a link token, None for an unknown one."""
        if not raw_token or len(raw_token) > 200:
            return None
        row = self.store.interview_by_token(token_hash(raw_token))
        if row is None:
            return None
        cand = self.store.candidate(row.user_id, row.candidate_id)
        return None if cand is None else (row, cand)

    # chat -------------------------------------------------------------------------------------
    def post_message(
        self, user_id: int, candidate_id: int, author: Actor, body: str, interview_id: int | None = None
    ) -> MessageRow:
        """Add a message to the candidate's thread. The recruiter's is mailed to the candidate
        (with the link to the request it is about, else the latest one); the candidate's is not
        mailed. Raises ``RecruitingError("body", …)`` for an empty or too long message,
        ``LookupError`` for a candidate or request that is not ``user_id``'s."""
        author = Actor(author)
        text = _text("body", body, "a message", required=True)
        cand = self._candidate(user_id, candidate_id)
        about: InterviewRow | None = None
        if interview_id is not None:
            about = self.store.interview(user_id, interview_id)
            if about is None or about.candidate_id != candidate_id:
                raise LookupError(f"no interview request {interview_id} of this candidate")
        now = self._now()
        row = self.store.add_message(user_id, candidate_id, author.value, text, now, interview_id)
        if author is Actor.RECRUITER:
            if about is None:
                about = next(iter(reversed(self.store.interviews(user_id, candidate_id))), None)
            self._message_mail(cand, about, text, now)
        return row

    # the worker's sweeps ----------------------------------------------------------------------
    def sweep(self, now: datetime | None = None) -> dict[str, int]:
        """Over every account: expire requests left unanswered ``expiry_days``, remind once after
        ``reminder_days``, and mark scheduled interviews whose end has passed as awaiting feedback.
        The clock of a rescheduling request starts when it was asked to reschedule. Idempotent:
        a second run at the same time changes and sends nothing more."""
        now = now or self._now()
        counts = {"expired": 0, "reminded": 0, "passed": 0}
        expiry, remind = timedelta(days=self.expiry_days), timedelta(days=self.reminder_days)
        for row in self.store.interviews_in(tuple(s.value for s in (*WAITING_STATES, State.SCHEDULED))):
            try:
                if row.state == State.SCHEDULED:
                    if row.ends_at is not None and row.ends_at <= now:
                        self._act(row, Action.PASS, Actor.SYSTEM, now)
                        counts["passed"] += 1
                    continue
                since = self._waiting_since(row)
                if now >= since + expiry:
                    self._act(row, Action.EXPIRE, Actor.SYSTEM, now)
                    counts["expired"] += 1
                elif now >= since + remind and (row.reminded_at is None or row.reminded_at < since):
                    if self._remind(row, now):
                        counts["reminded"] += 1
            except (TransitionRefused, LookupError):
                continue  # moved or deleted meanwhile: the next sweep sees it as it is
            except MirrorcalError:
                log.exception("the sweep could not handle interview request %s", row.id)
        return counts

    def _waiting_since(self, row: InterviewRow) -> datetime:
        """When the candidate was last asked to pick a time."""
        if row.state == State.RESCHEDULING:
            moves = self.store.transitions(row.id)
            if moves:
                return max(row.sent_at, moves[-1].at)
        return row.sent_at

    def _remind(self, row: InterviewRow, now: datetime) -> bool:
        saved = self.store.save_interview(replace(row, reminded_at=now))
        if saved is None:
            return False  # another sweep got there first
        cand = self._candidate(row.user_id, row.candidate_id)
        rescheduling = row.state == State.RESCHEDULING
        ask = "choose a new time for" if rescheduling else "schedule"
        body = self._letter(
            saved.user_id,
            cand,
            [
                f"A quick reminder: please {ask} your interview for the role of {cand.role} at {cand.client}.",
                f"{saved.title} ({saved.duration_minutes} minutes)",
                f"Pick a time here:\n{self.link(saved)}",
                "If the role is no longer of interest, you can decline on the same page.",
            ],
        )
        self._mail(saved, "reminder", cand.email, f"Reminder: interview request for {cand.role} at {cand.client}", body, now)
        self.store.add_message(saved.user_id, cand.id, Actor.SYSTEM.value, "Reminder sent to the candidate.", now, saved.id)
        return True

    def notice(self, user_id: int, calendars: Iterable[str], now: datetime | None = None) -> list[InterviewRow]:
        """Bookings of the account's waiting requests found in ``calendars`` (namespaced names of
        the state store's cache), each moved on by NOTICE_BOOKING with its time and event
        (``booking_calendar`` stored without the account's ``u{id}.`` prefix). Returns the moved."""
        now = now or self._now()
        waiting = [r for r in self.store.interviews(user_id) if r.state in WAITING_STATES]
        if not waiting:
            return []
        pending = []
        for row in waiting:
            cand = self.store.candidate(user_id, row.candidate_id)
            if cand is not None:
                pending.append(Pending(row.id, cand.email, self._waiting_since(row)))
        prefix = f"u{user_id}."
        moved = []
        for found in noticed_bookings(self.store, list(calendars), pending, now=now):
            calendar = found.calendar.removeprefix(prefix)
            try:
                moved.append(
                    self.act(
                        user_id, found.request_id, Action.NOTICE_BOOKING, Actor.SYSTEM, starts_at=found.start,
                        ends_at=found.end, booking_calendar=calendar, booking_uid=found.uid,
                    )  # fmt: skip
                )
            except (TransitionRefused, LookupError):
                continue
        return moved

    # mail -------------------------------------------------------------------------------------
    def _mail_move(self, row: InterviewRow, cand: CandidateRow, action: Action, actor: Actor, now: datetime) -> None:
        """The mails a committed move calls for."""
        if action is Action.RESEND:
            self._invite(row, cand, self.link(row), now)
        elif row.state == State.SCHEDULED:
            self._scheduled_mail(row, cand, now)
        elif action is Action.CANCEL and actor is Actor.RECRUITER:
            body = self._letter(
                row.user_id,
                cand,
                [
                    f"Your interview for the role of {cand.role} at {cand.client} ({row.title}) has been cancelled.",
                    *([f"It was planned for {self._when(row)}."] if row.starts_at else []),
                    "If you have questions, reply to this e-mail.",
                ],
            )
            self._mail(row, "cancelled", cand.email, f"Interview cancelled: {cand.role} at {cand.client}", body, now)
        elif action is Action.RESCHEDULE and actor is Actor.RECRUITER:
            body = self._letter(
                row.user_id,
                cand,
                [
                    f"Your interview for the role of {cand.role} at {cand.client} ({row.title}) needs a new time.",
                    f"Please choose a new time here:\n{self.link(row)}",
                ],
            )
            self._mail(row, "reschedule", cand.email, f"Please choose a new time: {cand.role} at {cand.client}", body, now)
        if actor is Actor.CANDIDATE or action is Action.NOTICE_BOOKING:
            self._recruiter_mail(row, cand, action, now)

    def _invite(self, row: InterviewRow, cand: CandidateRow, link: str, now: datetime) -> None:
        how = (
            "Choose a time that suits you on this page:"
            if row.link_kind == "booking_page"
            else "Open this page, press Schedule Interview to book a time, then come back and confirm you have booked it:"
        )
        body = self._letter(
            row.user_id,
            cand,
            [
                f"You are invited to an interview for the role of {cand.role} at {cand.client}.",
                f"{row.title} ({row.duration_minutes} minutes)",
                *([row.message] if row.message else []),
                f"{how}\n{link}",
                "The link is personal to you: please do not share it. On the same page you can send a message "
                "or decline the interview.",
            ],
        )
        self._mail(row, "invitation", cand.email, f"Interview request: {cand.role} at {cand.client}", body, now)

    def _scheduled_mail(self, row: InterviewRow, cand: CandidateRow, now: datetime) -> None:
        if row.starts_at is not None:
            when = f"When: {self._when(row)}"
        elif row.how == How.OFFLINE:
            when = "The time is being arranged with you outside of mirrorcal."
        else:
            when = "When: the time you booked through the scheduling link."
        body = self._letter(
            row.user_id,
            cand,
            [
                f"Your interview for the role of {cand.role} at {cand.client} is scheduled.",
                f"{row.title} ({row.duration_minutes} minutes)\n{when}",
                f"To ask for another time or to cancel, use your private page:\n{self.link(row)}",
            ],
        )
        self._mail(row, "scheduled", cand.email, f"Your interview is scheduled: {cand.role} at {cand.client}", body, now)

    def _recruiter_mail(self, row: InterviewRow, cand: CandidateRow, action: Action, now: datetime) -> None:
        user = self.store.user(row.user_id)
        if user is None:
            return
        what = {
            Action.CONFIRM: ("confirmed the booking", "confirmed"),
            Action.BOOK: ("booked a time on your booking page", "booked"),
            Action.DECLINE: ("declined the interview", "declined"),
            Action.CANCEL: ("cancelled the interview", "cancelled"),
            Action.RESCHEDULE: ("asked to reschedule the interview", "asks to reschedule"),
            Action.NOTICE_BOOKING: ("has a booking in your calendars, not confirmed yet", "has a booking"),
        }.get(action)
        if what is None:
            return
        lines = [
            f"{cand.name} ({cand.email}) {what[0]}: {row.title}, {cand.role} at {cand.client}.",
            *([f"When: {self._when(row)}"] if row.starts_at else []),
            *([f"Their reason: {row.reason}"] if action is Action.DECLINE and row.reason else []),
            *(
                [f"Found on the calendar {row.booking_calendar!r}. If it is this interview, mark it as scheduled: one click."]
                if action is Action.NOTICE_BOOKING
                else []
            ),
            f"Status now: {recruiter_status(row)}.",
            f"Open the candidate:\n{self.base_url}/candidates/{cand.id}",
        ]
        text = "Hello,\n\n" + "\n\n".join(lines) + "\n\n-- \nmirrorcal\n"
        subject = f"{cand.name} {what[1]}: {row.title} ({cand.role} at {cand.client})"
        self._mail(row, f"candidate_{action.value}", user.email, subject, text, now)

    def _message_mail(self, cand: CandidateRow, about: InterviewRow | None, text: str, now: datetime) -> None:
        where = f"Reply on your interview page:\n{self.link(about)}" if about and about.token_sealed else "Reply to this e-mail."
        body = self._letter(
            cand.user_id,
            cand,
            [f"There is a new message about your interview for the role of {cand.role} at {cand.client}:", text, where],
        )
        self._mail(about, "message", cand.email, "New message about your interview", body, now, user_id=cand.user_id)

    def _letter(self, user_id: int, cand: CandidateRow, paragraphs: list[str]) -> str:
        """A candidate's mail: greeting, paragraphs, and a sign-off naming the recruiter's e-mail only."""
        user = self.store.user(user_id)
        sign = f"Kind regards,\n{user.email}" if user is not None else "Kind regards"
        return f"Hello {cand.name},\n\n" + "\n\n".join(paragraphs) + f"\n\n{sign}\n"

    def _mail(
        self,
        row: InterviewRow | None,
        kind: str,
        to: str,
        subject: str,
        body: str,
        now: datetime,
        *,
        user_id: int | None = None,
    ) -> MailRow:
        owner = row.user_id if row is not None else user_id
        assert owner is not None
        state = "pending" if self.mail_enabled else "held"
        mail = self.store.add_mail(owner, row.id if row else None, kind, to, subject, body, state, now)
        if self.on_mail is not None:
            try:
                self.on_mail(mail)
            except Exception:  # noqa: BLE001 - the mail is stored; a listener must not undo the move
                log.exception("on_mail failed for mail %s", mail.id)
        return mail

    def _when(self, row: InterviewRow) -> str:
        assert row.starts_at is not None
        return time_in_words(row.starts_at, row.ends_at, self.zone(row.user_id))

    def zone(self, user_id: int) -> tzinfo:
        """The zone the account's mails and pages give times in: its booking page's, else its
        setup's (``timezone``), else ``DEFAULT_ZONE`` (as the booking page's hours)."""
        try:
            text = self.store.booking_settings(user_id)
            name = json.loads(text).get("zone") if text else None
        except (MirrorcalError, ValueError, AttributeError):
            name = None
        found: ZoneInfo | None = zone_named(name) if isinstance(name, str) and name else None
        if found is None:
            own = setup_zone(self.store, user_id)
            found = zone_named(own) if own else None
        return found if found is not None else ZoneInfo(DEFAULT_ZONE)

    # helpers ----------------------------------------------------------------------------------
    def _candidate(self, user_id: int, candidate_id: int) -> CandidateRow:
        cand = self.store.candidate(user_id, candidate_id)
        if cand is None:
            raise LookupError(f"no candidate {candidate_id}")
        return cand

    def _changed(self, change: Change) -> None:
        if self.on_change is None:
            return
        try:
            self.on_change(change)
        except Exception:  # noqa: BLE001 - the move is committed; a listener must not undo it
            log.exception("on_change failed for interview request %s", change.interview.id)
