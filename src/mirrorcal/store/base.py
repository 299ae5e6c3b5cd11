"""The state store interface: cursors, cached items, mirrors, runs, history, connections, accounts, feeds,
webhooks, and the recruiting side (candidates, interview requests, their transitions, chat
messages, the mail outbox and each account's booking-page settings).

Every method commits before it returns, so a crash right after a provider write and its
``save_mirror`` loses nothing, and a crash between them is healed by the mirror's derived id.
Implementations: ``MemoryStore`` (tests) and ``SqlStore`` (SQLAlchemy; SQLite by default,
PostgreSQL at scale); one contract suite runs against both. Raises ``StoreError`` only.
Calendars and syncs are named as in the configuration. Every datetime given must be aware
(a naive one raises ``StoreError``) and every datetime read back is aware in UTC.
"""

from __future__ import annotations

import abc
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from mirrorcal.accounts import PLANS
from mirrorcal.errors import StoreError

CONNECTION_STATES = ("ok", "needs_reauth", "error")
"""What a stored connection's ``state`` may be."""


@dataclass(frozen=True, slots=True)
class CachedItem:
    """What we last saw of one item of a calendar.

    ``ics`` is the item's iCalendar text (one resource), ``content_hash`` its normalised hash,
    ``marker`` the mirror id it carries when it is a mirror (else None), ``error`` the parse
    error when it could not be read (then ``ics`` holds what was served, possibly "").
    """

    href: str
    etag: str | None
    uid: str
    ics: str
    content_hash: str
    marker: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class MirrorRow:
    """One mirror a sync wrote: traced to its origin and to its place on the target.

    ``origin_key`` identifies the source event within the sync (uid, or uid + recurrence id,
    or a content key for feeds without stable UIDs). ``origin_calendar``/``origin_client``
    and ``root_key`` follow chains back to where the event was really created.
    ``state`` is "active", or "forgotten" when the recruiter deleted it on the target and the
    sync is set to ``on_target_delete = "forget"``, or "pending" while its create is in flight
    (``href`` is then the target's ``href_for`` the mirror uid; see the planner's table).
    """

    sync: str
    origin_key: str
    mirror_uid: str
    href: str
    etag: str | None
    source_hash: str
    mirror_hash: str
    origin_calendar: str
    origin_client: str | None
    root_key: str
    state: str = "active"


@dataclass(frozen=True, slots=True)
class RunRow:
    """One run of one sync."""

    id: int
    sync: str
    started_at: datetime
    finished_at: datetime | None
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One thing a run did (or chose not to do) to one event, and why."""

    run_id: int
    sync: str
    origin_key: str
    action: str
    reason: str
    summary: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ConnectionRow:
    """One connected account at a provider (a "connection"), as stored.

    ``name`` is the configuration's connection name (unique); ``kind`` the provider
    ("google", "microsoft", "icloud", "caldav"); ``account`` what the user recognises (an
    e-mail). ``secret`` is ALREADY ENCRYPTED token text (``mirrorcal.secrets.Vault``): the
    store never sees a clear credential. ``state`` is one of ``CONNECTION_STATES`` and
    ``message`` says in plain words why it is not "ok". ``updated`` is aware (UTC when read
    back); ``extra`` holds JSON-able details (scopes, token endpoint, ...).
    """

    name: str
    kind: str
    account: str
    secret: str
    state: str = "ok"
    message: str = ""
    updated: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def prepare_connection(row: ConnectionRow, at: datetime | None = None) -> ConnectionRow:
    """``row`` checked and normalised for storing, as every ``Store`` must: ``updated`` aware in
    UTC (None: ``at`` or now), ``extra`` a fresh JSON round-tripped copy. Raises ``StoreError``."""
    check_connection_state(row.state)
    updated = row.updated if row.updated is not None else (at or datetime.now(UTC))
    if updated.tzinfo is None or updated.utcoffset() is None:
        raise StoreError(f"naive datetime {updated.isoformat()} given to the store; pass an aware one")
    try:
        extra = json.loads(json.dumps(row.extra, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise StoreError(f"connection {row.name!r}: extra is not JSON-able: {exc}") from exc
    if not isinstance(extra, dict):
        raise StoreError(f"connection {row.name!r}: extra must be a dict")
    return replace(row, updated=updated.astimezone(UTC), extra=extra)


@dataclass(frozen=True, slots=True)
class UserRow:
    """One account of the web app. ``email`` is as given to ``create_user`` (pass it through
    ``accounts.normalise_email``); ``password_hash`` an argon2 hash; ``plan`` a key of ``PLANS``."""

    id: int
    email: str
    password_hash: str
    plan: str
    created: datetime


@dataclass(frozen=True, slots=True)
class WebSessionRow:
    """One signed-in browser. ``token_hash`` is ``accounts.token_hash`` of the cookie's token (the
    token itself is never stored); ``csrf`` the session's form token; valid until ``expires``."""

    token_hash: str
    user_id: int
    csrf: str
    created: datetime
    expires: datetime


@dataclass(frozen=True, slots=True)
class ApiTokenRow:
    """One personal API token, known by ``token_hash`` only; ``last_used`` None until first used."""

    id: int
    user_id: int
    name: str
    token_hash: str
    created: datetime
    last_used: datetime | None


@dataclass(frozen=True, slots=True)
class FeedRow:
    """An account's busy-only ICS feed, known by ``token_hash`` (``accounts.token_hash`` of the
    secret in its URL; the token itself is never stored). One per user; ``created`` when the
    current token was made (a replaced token is forgotten)."""

    user_id: int
    token_hash: str
    created: datetime


WEBHOOK_EVENTS = ("conflict.detected", "sync.failed", "connection.needs_reauth", "interview.status_changed")
"""The account events a webhook endpoint may ask for (a "ping" test can always be sent)."""
DELIVERY_STATES = ("pending", "delivered", "failed")
"""What a webhook delivery's ``state`` may be."""


@dataclass(frozen=True, slots=True)
class WebhookRow:
    """One outbound webhook endpoint of an account.

    ``events`` is a subset of ``WEBHOOK_EVENTS`` (in that order); ``secret`` is ALREADY
    ENCRYPTED signing-secret text (``mirrorcal.secrets.Vault``); ``disabled_reason`` says in
    plain words why ``active`` went off when the app turned it off (a receiver's 410), else "".
    """

    id: int
    user_id: int
    url: str
    events: tuple[str, ...]
    description: str
    secret: str
    active: bool
    disabled_reason: str
    created: datetime


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    """One event to deliver (or delivered) to one endpoint.

    ``body`` is the exact JSON text POSTed; ``state`` one of ``DELIVERY_STATES``; ``next_at``
    when a pending delivery is due (None once it is delivered or failed); ``attempts`` how many
    POSTs were made; ``last_status`` the receiver's last HTTP status (None: no answer) and
    ``last_error`` why the last attempt failed, in plain words ("" when it did not).
    """

    id: int
    webhook_id: int
    user_id: int
    event_id: str
    kind: str
    body: str
    state: str
    attempts: int
    created: datetime
    next_at: datetime | None
    last_at: datetime | None = None
    last_status: int | None = None
    last_error: str = ""



# recruiting -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CandidateRow:
    """A candidate the recruiter puts forward: for which ``client`` (the client's display name, as
    the recruiter types it) and which ``role``."""

    id: int
    user_id: int
    name: str
    email: str
    client: str
    role: str
    created: datetime


INTERVIEW_LINK_KINDS = ("link", "booking_page")
"""What an interview request's scheduling link is: any URL (Calendly, a Google appointment page,
an ATS) or our own booking page."""


@dataclass(frozen=True, slots=True)
class InterviewRow:
    """One interview request (see ``mirrorcal.interviews`` for ``state``/``how`` and the moves).

    ``token_hash`` is ``accounts.token_hash`` of the candidate's private link token (the token
    itself is never stored). ``link_kind`` one of ``INTERVIEW_LINK_KINDS``; ``url`` the
    scheduling link ("" for our booking page); ``duration_minutes`` the interview's length (the
    booking page's slot length). ``starts_at``/``ends_at`` once a time is known;
    ``booking_calendar``/``booking_uid`` the calendar event behind it (our booking page's event
    on the personal calendar, or the booking noticed in a synced calendar), "" when none.
    ``token_sealed`` is the same token encrypted by the app's ``secrets.Vault`` (so reminders and
    the recruiter's page can show the link again).
    ``reminded_at`` when the last reminder went out; ``version`` grows by one on every
    ``save_interview`` (compare-and-set: the loser of a race sees False and changes nothing).
    """

    id: int
    user_id: int
    candidate_id: int
    round: int
    title: str
    link_kind: str
    url: str
    message: str
    token_hash: str
    state: str
    how: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    reason: str
    sent_at: datetime
    updated: datetime
    duration_minutes: int = 45
    reminded_at: datetime | None = None
    booking_calendar: str = ""
    booking_uid: str = ""
    token_sealed: str = ""
    version: int = 1


@dataclass(frozen=True, slots=True)
class TransitionRow:
    """One recorded move of an interview request: who (``actor``: recruiter, candidate, system)
    took which ``action`` when, from ``before`` to ``after``, and the chat note it made."""

    id: int
    interview_id: int
    action: str
    actor: str
    at: datetime
    before: str
    after: str
    note: str


MESSAGE_AUTHORS = ("recruiter", "candidate", "system")
"""Who wrote a chat message (``system``: the notes of status changes)."""


@dataclass(frozen=True, slots=True)
class MessageRow:
    """One message of a candidate's chat thread, about ``interview_id`` when it is about one."""

    id: int
    user_id: int
    candidate_id: int
    interview_id: int | None
    author: str
    body: str
    at: datetime


MAIL_STATES = ("pending", "sent", "failed", "held")
"""What an outbox mail's ``state`` may be: waiting to be sent, sent, given up on, or held (no
SMTP server configured: it stays in the outbox for the web app to show, as in the demo)."""


@dataclass(frozen=True, slots=True)
class MailRow:
    """One e-mail the app sends (or holds): to whom, what, about which interview request, and
    how sending went (``attempts``, ``last_error`` in plain words, ``sent_at``)."""

    id: int
    user_id: int
    interview_id: int | None
    kind: str
    to: str
    subject: str
    body: str
    state: str
    created: datetime
    attempts: int = 0
    next_at: datetime | None = None
    sent_at: datetime | None = None
    last_error: str = ""


def check_link_kind(kind: str) -> None:
    """Raise ``StoreError`` unless ``kind`` is one of ``INTERVIEW_LINK_KINDS``."""
    if kind not in INTERVIEW_LINK_KINDS:
        raise StoreError(f"link kind must be one of {', '.join(INTERVIEW_LINK_KINDS)}, not {kind!r}")


def check_author(author: str) -> None:
    """Raise ``StoreError`` unless ``author`` is one of ``MESSAGE_AUTHORS``."""
    if author not in MESSAGE_AUTHORS:
        raise StoreError(f"message author must be one of {', '.join(MESSAGE_AUTHORS)}, not {author!r}")


def check_mail_state(state: str) -> None:
    """Raise ``StoreError`` unless ``state`` is one of ``MAIL_STATES``."""
    if state not in MAIL_STATES:
        raise StoreError(f"mail state must be one of {', '.join(MAIL_STATES)}, not {state!r}")


def check_webhook_events(events: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``events`` in ``WEBHOOK_EVENTS`` order; raises ``StoreError`` for an unknown one or none."""
    unknown = [e for e in events if e not in WEBHOOK_EVENTS]
    if unknown or not events:
        raise StoreError(f"webhook events must be some of {', '.join(WEBHOOK_EVENTS)}, not {list(events)!r}")
    return tuple(e for e in WEBHOOK_EVENTS if e in events)


def check_delivery_state(state: str) -> None:
    """Raise ``StoreError`` unless ``state`` is one of ``DELIVERY_STATES``."""
    if state not in DELIVERY_STATES:
        raise StoreError(f"delivery state must be one of {', '.join(DELIVERY_STATES)}, not {state!r}")


def as_utc(at: datetime) -> datetime:
    """``at`` in UTC; raises ``StoreError`` for a naive datetime (its meaning is unknown)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise StoreError(f"naive datetime {at.isoformat()} given to the store; pass an aware one")
    return at.astimezone(UTC)


def email_key(email: str) -> str:
    """What two e-mail addresses share when they are the same account: the lower-cased text."""
    return email.strip().lower()


def check_plan(plan: str) -> None:
    """Raise ``StoreError`` unless ``plan`` is a key of ``accounts.PLANS``."""
    if plan not in PLANS:
        raise StoreError(f"plan must be one of {', '.join(PLANS)}, not {plan!r}")


def check_connection_state(state: str) -> None:
    """Raise ``StoreError`` unless ``state`` is one of ``CONNECTION_STATES``."""
    if state not in CONNECTION_STATES:
        raise StoreError(f"connection state must be one of {', '.join(CONNECTION_STATES)}, not {state!r}")


class Store(abc.ABC):
    """Durable state for calendars and syncs; see the module docstring for the contract."""

    # calendars ------------------------------------------------------------------------------
    @abc.abstractmethod
    def get_cursor(self, calendar: str) -> str | None: ...

    @abc.abstractmethod
    def items(self, calendar: str) -> dict[str, CachedItem]:
        """Every cached item of ``calendar`` by href."""

    def stamps(self, calendar: str) -> dict[str, CachedItem]:
        """Every cached item of ``calendar`` by href WITHOUT its text (``ics`` is "" for all, and
        ``error`` None): what a cache keyed by etag and content hash needs to know which items
        changed, read without the bulk (``items_at`` then reads the ones it lacks). Implementations
        with a cheaper way than ``items`` override it."""
        return {href: replace(i, ics="", error=None) for href, i in self.items(calendar).items()}

    def items_at(self, calendar: str, hrefs: list[str]) -> dict[str, CachedItem]:
        """The cached items of ``calendar`` at ``hrefs`` (unknown hrefs are left out)."""
        every = self.items(calendar)
        return {h: every[h] for h in hrefs if h in every}

    @abc.abstractmethod
    def apply_listing(
        self,
        calendar: str,
        upserts: list[CachedItem],
        removed: list[str],
        cursor: str | None,
        full: bool,
    ) -> None:
        """Atomically: with ``full``, replace the cache by ``upserts``; else upsert and drop
        ``removed``; then store ``cursor``."""

    @abc.abstractmethod
    def put_item(self, calendar: str, item: CachedItem) -> None:
        """Upsert one cached item (after mirrorcal wrote it)."""

    @abc.abstractmethod
    def remove_item(self, calendar: str, href: str) -> None:
        """Drop one cached item (after mirrorcal deleted it); missing is fine."""

    @abc.abstractmethod
    def forget_calendar(self, calendar: str) -> None:
        """Drop the cursor and every cached item of ``calendar``."""

    # mirrors --------------------------------------------------------------------------------
    @abc.abstractmethod
    def mirrors(self, sync: str) -> dict[str, MirrorRow]:
        """Every mirror of ``sync`` by origin key."""

    @abc.abstractmethod
    def mirror_by_uid(self, mirror_uid: str) -> MirrorRow | None:
        """The mirror with this id, whichever sync wrote it."""

    @abc.abstractmethod
    def save_mirror(self, row: MirrorRow) -> None:
        """Upsert by (sync, origin_key)."""

    @abc.abstractmethod
    def delete_mirror(self, sync: str, origin_key: str) -> None:
        """Drop the row; missing is fine."""

    # runs and history -----------------------------------------------------------------------
    @abc.abstractmethod
    def start_run(self, sync: str, at: datetime) -> int:
        """Open a run and return its id."""

    @abc.abstractmethod
    def finish_run(self, run_id: int, at: datetime, counts: dict[str, int], error: str | None) -> None: ...

    @abc.abstractmethod
    def record(self, run_id: int, sync: str, origin_key: str, action: str, reason: str, summary: str, at: datetime) -> None:
        """Append one history row."""

    @abc.abstractmethod
    def last_run(self, sync: str) -> RunRow | None: ...

    @abc.abstractmethod
    def history(self, sync: str | None = None, limit: int = 100) -> list[HistoryRow]:
        """Newest first; all syncs when ``sync`` is None."""

    # secrets --------------------------------------------------------------------------------
    @abc.abstractmethod
    def secret(self, name: str) -> bytes:
        """A random 32-byte secret created on first use and kept (the mirror-id key)."""

    # connections ----------------------------------------------------------------------------
    @abc.abstractmethod
    def save_connection(self, row: ConnectionRow) -> None:
        """Insert or replace the connection ``row.name``. ``row.updated`` None means now.

        Raises ``StoreError`` for a state not in ``CONNECTION_STATES``, a naive ``updated`` or an
        ``extra`` that is not JSON-able."""

    @abc.abstractmethod
    def connection(self, name: str) -> ConnectionRow | None:
        """The stored connection ``name``, None when there is none."""

    @abc.abstractmethod
    def connections(self) -> list[ConnectionRow]:
        """Every stored connection, by name."""

    @abc.abstractmethod
    def set_connection_state(self, name: str, state: str, message: str, at: datetime | None = None) -> None:
        """Set the state and message of connection ``name`` and its ``updated`` to ``at`` (None:
        now). Raises ``StoreError`` when there is no such connection or the state is unknown."""

    @abc.abstractmethod
    def delete_connection(self, name: str) -> None:
        """Drop the connection; missing is fine."""

    # accounts -------------------------------------------------------------------------------
    @abc.abstractmethod
    def create_user(self, email: str, password_hash: str, plan: str, at: datetime) -> UserRow:
        """Add a user created ``at`` and return it with its new id.

        Raises ``EmailTakenError`` when a user has ``email`` already (compared case-insensitively)
        and ``StoreError`` for a plan not in ``PLANS`` or a naive ``at``."""

    @abc.abstractmethod
    def user(self, user_id: int) -> UserRow | None:
        """The user ``user_id``, None when there is none."""

    @abc.abstractmethod
    def user_by_email(self, email: str) -> UserRow | None:
        """The user with ``email`` (compared case-insensitively), None when there is none."""

    @abc.abstractmethod
    def set_password_hash(self, user_id: int, password_hash: str) -> None:
        """Replace the user's password hash. Raises ``StoreError`` when there is no such user."""

    @abc.abstractmethod
    def set_plan(self, user_id: int, plan: str) -> None:
        """Change the user's plan. Raises ``StoreError`` for an unknown user or plan."""

    @abc.abstractmethod
    def save_web_session(self, row: WebSessionRow) -> None:
        """Insert or replace the session ``row.token_hash``; the user's expired sessions go.

        Raises ``StoreError`` for an unknown user or a naive datetime."""

    @abc.abstractmethod
    def web_session(self, token_hash: str) -> WebSessionRow | None:
        """The session with ``token_hash``; None when there is none or it has expired (now)."""

    @abc.abstractmethod
    def delete_web_session(self, token_hash: str) -> None:
        """Drop one session (sign-out); missing is fine."""

    @abc.abstractmethod
    def delete_web_sessions(self, user_id: int) -> None:
        """Drop every session of the user (sign out everywhere); none is fine."""

    @abc.abstractmethod
    def create_api_token(self, user_id: int, name: str, token_hash: str, at: datetime) -> ApiTokenRow:
        """Add a personal API token created ``at``, never used yet, and return it with its new id.

        Raises ``StoreError`` for an unknown user, a ``token_hash`` already stored or a naive ``at``."""

    @abc.abstractmethod
    def api_token(self, token_hash: str) -> ApiTokenRow | None:
        """The API token with ``token_hash``, None when there is none."""

    @abc.abstractmethod
    def api_tokens(self, user_id: int) -> list[ApiTokenRow]:
        """The user's API tokens, oldest first (by id)."""

    @abc.abstractmethod
    def delete_api_token(self, user_id: int, token_id: int) -> bool:
        """Drop token ``token_id`` if it is ``user_id``'s; False (and nothing changes) when there is
        no such token or it belongs to another user."""

    @abc.abstractmethod
    def touch_api_token(self, token_id: int, at: datetime) -> None:
        """Set the token's ``last_used`` to ``at``; an unknown (e.g. just deleted) token is ignored.

        Raises ``StoreError`` for a naive ``at``."""

    # workspaces -----------------------------------------------------------------------------
    @abc.abstractmethod
    def workspace(self, user_id: int) -> str | None:
        """The user's setup document (TOML text, as last saved), None when none was saved."""

    @abc.abstractmethod
    def save_workspace(self, user_id: int, text: str, at: datetime) -> None:
        """Store (or replace) the user's setup document, updated ``at``.

        Raises ``StoreError`` for an unknown user or a naive ``at``."""

    @abc.abstractmethod
    def workspace_users(self) -> list[int]:
        """The ids of the users whose saved document is not empty, in ascending order."""

    # busy-only feeds -----------------------------------------------------------------------
    @abc.abstractmethod
    def set_feed(self, user_id: int, token_hash: str, at: datetime) -> FeedRow:
        """Give the user's feed the token ``token_hash`` made ``at`` (creating the feed, or
        replacing its token: the old one no longer finds it) and return the row.

        Raises ``StoreError`` for an unknown user, a ``token_hash`` another user's feed has or a
        naive ``at``."""

    @abc.abstractmethod
    def feed(self, user_id: int) -> FeedRow | None:
        """The user's feed, None when it is off."""

    @abc.abstractmethod
    def feed_by_token(self, token_hash: str) -> FeedRow | None:
        """The feed whose current token has ``token_hash``, None when there is none."""

    @abc.abstractmethod
    def delete_feed(self, user_id: int) -> bool:
        """Turn the user's feed off; False (and nothing changes) when it was off."""

    # outbound webhooks ---------------------------------------------------------------------
    @abc.abstractmethod
    def create_webhook(
        self, user_id: int, url: str, events: tuple[str, ...], description: str, secret: str, at: datetime
    ) -> WebhookRow:
        """Add an active endpoint created ``at`` and return it with its new id.

        Raises ``StoreError`` for an unknown user, events not in ``WEBHOOK_EVENTS`` (or none) or
        a naive ``at``."""

    @abc.abstractmethod
    def webhook(self, user_id: int, webhook_id: int) -> WebhookRow | None:
        """The endpoint ``webhook_id`` if it is ``user_id``'s, else None."""

    @abc.abstractmethod
    def webhooks(self, user_id: int | None = None) -> list[WebhookRow]:
        """The user's endpoints (every user's when None), oldest first (by id)."""

    @abc.abstractmethod
    def update_webhook(self, row: WebhookRow) -> bool:
        """Store ``row``'s url, events, description, secret, active and disabled_reason for the
        endpoint ``row.id`` if it is ``row.user_id``'s; False (nothing changes) otherwise.

        Raises ``StoreError`` for events not in ``WEBHOOK_EVENTS`` (or none)."""

    @abc.abstractmethod
    def delete_webhook(self, user_id: int, webhook_id: int) -> bool:
        """Drop the endpoint and its deliveries if it is ``user_id``'s; False otherwise."""

    @abc.abstractmethod
    def enqueue_delivery(self, webhook_id: int, event_id: str, kind: str, body: str, at: datetime) -> DeliveryRow | None:
        """Add a pending delivery of event ``event_id`` to the endpoint, due ``at``; None (and
        nothing changes) when this event was already enqueued for this endpoint.

        Raises ``StoreError`` for an unknown endpoint or a naive ``at``."""

    @abc.abstractmethod
    def due_deliveries(self, now: datetime, limit: int = 50) -> list[DeliveryRow]:
        """Pending deliveries with ``next_at <= now``, the most overdue first."""

    @abc.abstractmethod
    def next_delivery_at(self) -> datetime | None:
        """The earliest ``next_at`` of every pending delivery, None when there is none."""

    @abc.abstractmethod
    def record_attempt(
        self,
        delivery_id: int,
        *,
        state: str,
        attempts: int,
        next_at: datetime | None,
        at: datetime,
        status: int | None,
        error: str,
    ) -> None:
        """Store the outcome of an attempt on delivery ``delivery_id``.

        Raises ``StoreError`` for an unknown delivery or state, or a naive datetime."""

    @abc.abstractmethod
    def deliveries(self, user_id: int, webhook_id: int | None = None, limit: int = 20) -> list[DeliveryRow]:
        """The user's deliveries (of one endpoint when ``webhook_id`` is given), newest first."""

    # recruiting: candidates -------------------------------------------------------------------
    @abc.abstractmethod
    def create_candidate(self, user_id: int, name: str, email: str, client: str, role: str, at: datetime) -> CandidateRow:
        """Add a candidate of ``user_id`` and return it with its new id. Raises ``StoreError`` for an
        unknown user or a naive ``at`` (the caller validates the text)."""

    @abc.abstractmethod
    def candidate(self, user_id: int, candidate_id: int) -> CandidateRow | None:
        """The candidate if it is ``user_id``'s, else None."""

    @abc.abstractmethod
    def candidates(self, user_id: int) -> list[CandidateRow]:
        """The user's candidates, oldest first (by id)."""

    @abc.abstractmethod
    def update_candidate(self, row: CandidateRow) -> bool:
        """Store ``row``'s name, email, client and role if the candidate is ``row.user_id``'s; False otherwise."""

    @abc.abstractmethod
    def delete_candidate(self, user_id: int, candidate_id: int) -> bool:
        """Drop the candidate with its interview requests, their transitions and its messages if it
        is ``user_id``'s; False otherwise. The outbox keeps its mails (``interview_id`` set to None)."""

    # recruiting: interview requests -----------------------------------------------------------
    @abc.abstractmethod
    def create_interview(self, row: InterviewRow) -> InterviewRow:
        """Add ``row`` (its ``id`` and ``version`` are ignored) and return it with its new id and
        version 1. Raises ``StoreError`` when the candidate is not ``row.user_id``'s, for a link
        kind not in ``INTERVIEW_LINK_KINDS``, a token hash already used, or a naive datetime."""

    @abc.abstractmethod
    def interview(self, user_id: int, interview_id: int) -> InterviewRow | None:
        """The request if it is ``user_id``'s, else None."""

    @abc.abstractmethod
    def interview_by_token(self, token_hash: str) -> InterviewRow | None:
        """The request whose candidate link token hashes to ``token_hash``."""

    @abc.abstractmethod
    def interviews(self, user_id: int, candidate_id: int | None = None) -> list[InterviewRow]:
        """The user's requests (of one candidate when given), oldest first (by id)."""

    @abc.abstractmethod
    def interviews_in(self, states: tuple[str, ...]) -> list[InterviewRow]:
        """Every account's requests whose state is one of ``states`` (the worker's sweeps), by id."""

    @abc.abstractmethod
    def save_interview(self, row: InterviewRow) -> InterviewRow | None:
        """Store every field of ``row`` but ``id``, ``user_id``, ``candidate_id`` and
        ``token_hash`` if the stored request ``row.id`` of ``row.user_id`` still has version
        ``row.version``; return it with the version one higher. None (and nothing changes) when
        the version moved on (another writer won) or the request is not ``row.user_id``'s.
        Raises ``StoreError`` for a naive datetime."""

    @abc.abstractmethod
    def add_transition(
        self, interview_id: int, action: str, actor: str, at: datetime, before: str, after: str, note: str
    ) -> TransitionRow:
        """Record one move of request ``interview_id``. Raises ``StoreError`` for an unknown
        request, an actor not in ``MESSAGE_AUTHORS`` or a naive ``at``."""

    @abc.abstractmethod
    def transitions(self, interview_id: int) -> list[TransitionRow]:
        """The request's recorded moves, oldest first (by id)."""

    # recruiting: chat -------------------------------------------------------------------------
    @abc.abstractmethod
    def add_message(
        self, user_id: int, candidate_id: int, author: str, body: str, at: datetime, interview_id: int | None = None
    ) -> MessageRow:
        """Add a message to the candidate's thread. Raises ``StoreError`` when the candidate (or
        the request) is not ``user_id``'s, for an author not in ``MESSAGE_AUTHORS`` or a naive ``at``."""

    @abc.abstractmethod
    def messages(self, user_id: int, candidate_id: int) -> list[MessageRow]:
        """The candidate's thread, oldest first (by id); [] when the candidate is not ``user_id``'s."""

    # recruiting: the mail outbox --------------------------------------------------------------
    @abc.abstractmethod
    def add_mail(
        self, user_id: int, interview_id: int | None, kind: str, to: str, subject: str, body: str, state: str, at: datetime
    ) -> MailRow:
        """Add a mail created ``at`` in ``state`` (pending ones are due at once: ``next_at = at``).
        Raises ``StoreError`` for an unknown user or request, a state not in ``MAIL_STATES`` or a
        naive ``at``."""

    @abc.abstractmethod
    def mails(self, user_id: int, limit: int = 100) -> list[MailRow]:
        """The user's outbox, newest first."""

    @abc.abstractmethod
    def due_mails(self, now: datetime, limit: int = 50) -> list[MailRow]:
        """Pending mails with ``next_at <= now``, the most overdue first."""

    @abc.abstractmethod
    def record_mail_attempt(
        self, mail_id: int, *, state: str, attempts: int, next_at: datetime | None, sent_at: datetime | None, error: str
    ) -> None:
        """Store how sending mail ``mail_id`` went. Raises ``StoreError`` for an unknown mail or
        state, or a naive datetime."""

    # recruiting: the booking page's settings -----------------------------------------------------
    @abc.abstractmethod
    def booking_settings(self, user_id: int) -> str | None:
        """The account's booking-page settings (JSON text, see ``mirrorcal.booking``), None when never saved."""

    @abc.abstractmethod
    def save_booking_settings(self, user_id: int, text: str, at: datetime) -> None:
        """Store the account's booking-page settings. Raises ``StoreError`` for an unknown user or a naive ``at``."""

    def close(self) -> None:
        """Release connections."""
