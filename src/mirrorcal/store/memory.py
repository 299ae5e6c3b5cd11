"""An in-memory ``Store`` for fast tests: plain dicts, same contract as ``SqlStore``."""

from __future__ import annotations

import itertools
import json
import secrets
import threading
from dataclasses import replace
from datetime import UTC, datetime

from mirrorcal.errors import EmailTakenError, StoreError
from mirrorcal.store.base import (
    ApiTokenRow,
    CachedItem,
    CandidateRow,
    ConnectionRow,
    DeliveryRow,
    FeedRow,
    HistoryRow,
    InterviewRow,
    MailRow,
    MessageRow,
    MirrorRow,
    RunRow,
    Store,
    TransitionRow,
    UserRow,
    WebhookRow,
    WebSessionRow,
    check_author,
    check_connection_state,
    check_delivery_state,
    check_link_kind,
    check_mail_state,
    check_plan,
    check_webhook_events,
    email_key,
    prepare_connection,
)
from mirrorcal.store.base import as_utc as _utc


class MemoryStore(Store):
    """Everything in dicts; "durable" for the life of the object.

    Behaves like ``SqlStore`` where the contract is observable: datetimes come back aware in
    UTC, a ``mirror_uid`` already used by another (sync, origin key) and a history row or
    finish for an unknown run raise ``StoreError``. Thread-safe through one lock.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._cursors: dict[str, str | None] = {}
        self._items: dict[str, dict[str, CachedItem]] = {}
        self._mirrors: dict[tuple[str, str], MirrorRow] = {}
        self._runs: dict[int, RunRow] = {}
        self._history: list[HistoryRow] = []
        self._secrets: dict[str, bytes] = {}
        self._connections: dict[str, ConnectionRow] = {}
        self._users: dict[int, UserRow] = {}
        self._web_sessions: dict[str, WebSessionRow] = {}
        self._api_tokens: dict[int, ApiTokenRow] = {}
        self._workspaces: dict[int, str] = {}
        self._feeds: dict[int, FeedRow] = {}
        self._webhooks: dict[int, WebhookRow] = {}
        self._deliveries: dict[int, DeliveryRow] = {}
        self._hook_ids = itertools.count(1)  # webhooks and deliveries
        self._candidates: dict[int, CandidateRow] = {}
        self._interviews: dict[int, InterviewRow] = {}
        self._transitions: dict[int, TransitionRow] = {}
        self._messages: dict[int, MessageRow] = {}
        self._mails: dict[int, MailRow] = {}
        self._booking_settings: dict[int, str] = {}
        self._rec_ids = itertools.count(1)  # every recruiting row; never reused
        self._ids = itertools.count(1)  # users and API tokens; like a database sequence, never reused

    # calendars ------------------------------------------------------------------------------
    def get_cursor(self, calendar: str) -> str | None:
        with self._lock:
            return self._cursors.get(calendar)

    def items(self, calendar: str) -> dict[str, CachedItem]:
        with self._lock:
            return dict(self._items.get(calendar, {}))

    def apply_listing(
        self,
        calendar: str,
        upserts: list[CachedItem],
        removed: list[str],
        cursor: str | None,
        full: bool,
    ) -> None:
        with self._lock:
            current = {} if full else dict(self._items.get(calendar, {}))
            if not full:
                for href in removed:
                    current.pop(href, None)
            for item in upserts:
                current[item.href] = item
            self._items[calendar] = current
            self._cursors[calendar] = cursor

    def put_item(self, calendar: str, item: CachedItem) -> None:
        with self._lock:
            self._items.setdefault(calendar, {})[item.href] = item

    def remove_item(self, calendar: str, href: str) -> None:
        with self._lock:
            self._items.get(calendar, {}).pop(href, None)

    def forget_calendar(self, calendar: str) -> None:
        with self._lock:
            self._cursors.pop(calendar, None)
            self._items.pop(calendar, None)

    # mirrors --------------------------------------------------------------------------------
    def mirrors(self, sync: str) -> dict[str, MirrorRow]:
        with self._lock:
            return {key: row for (s, key), row in self._mirrors.items() if s == sync}

    def mirror_by_uid(self, mirror_uid: str) -> MirrorRow | None:
        with self._lock:
            for row in self._mirrors.values():
                if row.mirror_uid == mirror_uid:
                    return row
            return None

    def save_mirror(self, row: MirrorRow) -> None:
        """Upsert by (sync, origin_key); raises ``StoreError`` if another row has the uid."""
        with self._lock:
            key = (row.sync, row.origin_key)
            other = self.mirror_by_uid(row.mirror_uid)
            if other is not None and (other.sync, other.origin_key) != key:
                raise StoreError(f"mirror uid {row.mirror_uid!r} already belongs to another mirror")
            self._mirrors[key] = row

    def delete_mirror(self, sync: str, origin_key: str) -> None:
        with self._lock:
            self._mirrors.pop((sync, origin_key), None)

    # runs and history -----------------------------------------------------------------------
    def start_run(self, sync: str, at: datetime) -> int:
        with self._lock:
            run_id = max(self._runs, default=0) + 1
            self._runs[run_id] = RunRow(id=run_id, sync=sync, started_at=_utc(at), finished_at=None)
            return run_id

    def finish_run(self, run_id: int, at: datetime, counts: dict[str, int], error: str | None) -> None:
        """Close run ``run_id``; raises ``StoreError`` if there is no such run."""
        with self._lock:
            run = self._runs.get(run_id)
            if run is None:
                raise StoreError(f"no run {run_id}")
            self._runs[run_id] = replace(run, finished_at=_utc(at), counts=dict(counts), error=error)

    def record(self, run_id: int, sync: str, origin_key: str, action: str, reason: str, summary: str, at: datetime) -> None:
        """Append one history row; raises ``StoreError`` if there is no such run."""
        with self._lock:
            if run_id not in self._runs:
                raise StoreError(f"no run {run_id}")
            self._history.append(HistoryRow(run_id, sync, origin_key, action, reason, summary, _utc(at)))

    def last_run(self, sync: str) -> RunRow | None:
        """The run of ``sync`` started last (highest id), finished or not."""
        with self._lock:
            runs = [run for run in self._runs.values() if run.sync == sync]
            if not runs:
                return None
            run = max(runs, key=lambda r: r.id)
            return replace(run, counts=dict(run.counts))

    def history(self, sync: str | None = None, limit: int = 100) -> list[HistoryRow]:
        with self._lock:
            out: list[HistoryRow] = []
            for row in reversed(self._history):
                if len(out) >= limit:
                    break
                if sync is None or row.sync == sync:
                    out.append(row)
            return out

    # secrets --------------------------------------------------------------------------------
    def secret(self, name: str) -> bytes:
        with self._lock:
            return self._secrets.setdefault(name, secrets.token_bytes(32))

    # connections ----------------------------------------------------------------------------
    def save_connection(self, row: ConnectionRow) -> None:
        prepared = prepare_connection(row)
        with self._lock:
            self._connections[row.name] = prepared

    def connection(self, name: str) -> ConnectionRow | None:
        with self._lock:
            row = self._connections.get(name)
        return None if row is None else _copy(row)

    def connections(self) -> list[ConnectionRow]:
        with self._lock:
            return [_copy(self._connections[name]) for name in sorted(self._connections)]

    def set_connection_state(self, name: str, state: str, message: str, at: datetime | None = None) -> None:
        check_connection_state(state)
        with self._lock:
            row = self._connections.get(name)
            if row is None:
                raise StoreError(f"no connection named {name!r}")
            self._connections[name] = replace(row, state=state, message=message, updated=_utc(at or datetime.now(UTC)))

    def delete_connection(self, name: str) -> None:
        with self._lock:
            self._connections.pop(name, None)

    # accounts -------------------------------------------------------------------------------
    def create_user(self, email: str, password_hash: str, plan: str, at: datetime) -> UserRow:
        check_plan(plan)
        created = _utc(at)
        with self._lock:
            if self.user_by_email(email) is not None:
                raise EmailTakenError(email)
            row = UserRow(next(self._ids), email, password_hash, plan, created)
            self._users[row.id] = row
            return row

    def user(self, user_id: int) -> UserRow | None:
        with self._lock:
            return self._users.get(user_id)

    def user_by_email(self, email: str) -> UserRow | None:
        key = email_key(email)
        with self._lock:
            return next((row for row in self._users.values() if email_key(row.email) == key), None)

    def set_password_hash(self, user_id: int, password_hash: str) -> None:
        with self._lock:
            self._users[user_id] = replace(self._known_user(user_id), password_hash=password_hash)

    def set_plan(self, user_id: int, plan: str) -> None:
        check_plan(plan)
        with self._lock:
            self._users[user_id] = replace(self._known_user(user_id), plan=plan)

    def save_web_session(self, row: WebSessionRow) -> None:
        row = replace(row, created=_utc(row.created), expires=_utc(row.expires))
        now = datetime.now(UTC)
        with self._lock:
            self._known_user(row.user_id)
            for key, other in list(self._web_sessions.items()):
                if other.user_id == row.user_id and other.expires <= now:
                    del self._web_sessions[key]
            self._web_sessions[row.token_hash] = row

    def web_session(self, token_hash: str) -> WebSessionRow | None:
        with self._lock:
            row = self._web_sessions.get(token_hash)
        return row if row is not None and row.expires > datetime.now(UTC) else None

    def delete_web_session(self, token_hash: str) -> None:
        with self._lock:
            self._web_sessions.pop(token_hash, None)

    def delete_web_sessions(self, user_id: int) -> None:
        with self._lock:
            for key, row in list(self._web_sessions.items()):
                if row.user_id == user_id:
                    del self._web_sessions[key]

    def create_api_token(self, user_id: int, name: str, token_hash: str, at: datetime) -> ApiTokenRow:
        created = _utc(at)
        with self._lock:
            self._known_user(user_id)
            if self.api_token(token_hash) is not None:
                raise StoreError("an API token with this hash is stored already")
            row = ApiTokenRow(next(self._ids), user_id, name, token_hash, created, None)
            self._api_tokens[row.id] = row
            return row

    def api_token(self, token_hash: str) -> ApiTokenRow | None:
        with self._lock:
            return next((row for row in self._api_tokens.values() if row.token_hash == token_hash), None)

    def api_tokens(self, user_id: int) -> list[ApiTokenRow]:
        with self._lock:
            return [row for _, row in sorted(self._api_tokens.items()) if row.user_id == user_id]

    def delete_api_token(self, user_id: int, token_id: int) -> bool:
        with self._lock:
            row = self._api_tokens.get(token_id)
            if row is None or row.user_id != user_id:
                return False
            del self._api_tokens[token_id]
            return True

    def touch_api_token(self, token_id: int, at: datetime) -> None:
        used = _utc(at)
        with self._lock:
            row = self._api_tokens.get(token_id)
            if row is not None:
                self._api_tokens[token_id] = replace(row, last_used=used)

    # workspaces -----------------------------------------------------------------------------
    def workspace(self, user_id: int) -> str | None:
        with self._lock:
            return self._workspaces.get(user_id)

    def save_workspace(self, user_id: int, text: str, at: datetime) -> None:
        _utc(at)
        with self._lock:
            self._known_user(user_id)
            self._workspaces[user_id] = text

    def workspace_users(self) -> list[int]:
        with self._lock:
            return sorted(uid for uid, text in self._workspaces.items() if text)

    # busy-only feeds -----------------------------------------------------------------------
    def set_feed(self, user_id: int, token_hash: str, at: datetime) -> FeedRow:
        created = _utc(at)
        with self._lock:
            self._known_user(user_id)
            if any(row.token_hash == token_hash and uid != user_id for uid, row in self._feeds.items()):
                raise StoreError("a feed with this token hash is stored already")
            row = FeedRow(user_id, token_hash, created)
            self._feeds[user_id] = row
            return row

    def feed(self, user_id: int) -> FeedRow | None:
        with self._lock:
            return self._feeds.get(user_id)

    def feed_by_token(self, token_hash: str) -> FeedRow | None:
        with self._lock:
            return next((row for row in self._feeds.values() if row.token_hash == token_hash), None)

    def delete_feed(self, user_id: int) -> bool:
        with self._lock:
            return self._feeds.pop(user_id, None) is not None

    # outbound webhooks ---------------------------------------------------------------------
    def create_webhook(
        self, user_id: int, url: str, events: tuple[str, ...], description: str, secret: str, at: datetime
    ) -> WebhookRow:
        kinds = check_webhook_events(events)
        created = _utc(at)
        with self._lock:
            self._known_user(user_id)
            row = WebhookRow(next(self._hook_ids), user_id, url, kinds, description, secret, True, "", created)
            self._webhooks[row.id] = row
            return row

    def webhook(self, user_id: int, webhook_id: int) -> WebhookRow | None:
        with self._lock:
            row = self._webhooks.get(webhook_id)
            return row if row is not None and row.user_id == user_id else None

    def webhooks(self, user_id: int | None = None) -> list[WebhookRow]:
        with self._lock:
            return [r for _, r in sorted(self._webhooks.items()) if user_id is None or r.user_id == user_id]

    def update_webhook(self, row: WebhookRow) -> bool:
        kinds = check_webhook_events(row.events)
        with self._lock:
            old = self.webhook(row.user_id, row.id)
            if old is None:
                return False
            self._webhooks[row.id] = replace(row, events=kinds, created=old.created)
            return True

    def delete_webhook(self, user_id: int, webhook_id: int) -> bool:
        with self._lock:
            if self.webhook(user_id, webhook_id) is None:
                return False
            del self._webhooks[webhook_id]
            for key in [k for k, d in self._deliveries.items() if d.webhook_id == webhook_id]:
                del self._deliveries[key]
            return True

    def enqueue_delivery(self, webhook_id: int, event_id: str, kind: str, body: str, at: datetime) -> DeliveryRow | None:
        due = _utc(at)
        with self._lock:
            hook = self._webhooks.get(webhook_id)
            if hook is None:
                raise StoreError(f"no webhook {webhook_id}")
            if any(d.webhook_id == webhook_id and d.event_id == event_id for d in self._deliveries.values()):
                return None
            row = DeliveryRow(next(self._hook_ids), webhook_id, hook.user_id, event_id, kind, body, "pending", 0, due, due)
            self._deliveries[row.id] = row
            return row

    def due_deliveries(self, now: datetime, limit: int = 50) -> list[DeliveryRow]:
        at = _utc(now)
        with self._lock:
            due = [d for d in self._deliveries.values() if d.state == "pending" and d.next_at is not None and d.next_at <= at]
        return sorted(due, key=lambda d: (d.next_at, d.id))[: max(limit, 0)]

    def next_delivery_at(self) -> datetime | None:
        with self._lock:
            return min((d.next_at for d in self._deliveries.values() if d.state == "pending" and d.next_at), default=None)

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
        check_delivery_state(state)
        last = _utc(at)
        due = None if next_at is None else _utc(next_at)
        with self._lock:
            row = self._deliveries.get(delivery_id)
            if row is None:
                raise StoreError(f"no delivery {delivery_id}")
            self._deliveries[delivery_id] = replace(
                row, state=state, attempts=attempts, next_at=due, last_at=last, last_status=status, last_error=error
            )

    def deliveries(self, user_id: int, webhook_id: int | None = None, limit: int = 20) -> list[DeliveryRow]:
        with self._lock:
            mine = [
                d
                for d in self._deliveries.values()
                if d.user_id == user_id and (webhook_id is None or d.webhook_id == webhook_id)
            ]
        return sorted(mine, key=lambda d: d.id, reverse=True)[: max(limit, 0)]

    # recruiting: candidates -------------------------------------------------------------------
    def create_candidate(self, user_id: int, name: str, email: str, client: str, role: str, at: datetime) -> CandidateRow:
        created = _utc(at)
        with self._lock:
            self._known_user(user_id)
            row = CandidateRow(next(self._rec_ids), user_id, name, email, client, role, created)
            self._candidates[row.id] = row
            return row

    def candidate(self, user_id: int, candidate_id: int) -> CandidateRow | None:
        with self._lock:
            row = self._candidates.get(candidate_id)
            return row if row is not None and row.user_id == user_id else None

    def candidates(self, user_id: int) -> list[CandidateRow]:
        with self._lock:
            return [r for _, r in sorted(self._candidates.items()) if r.user_id == user_id]

    def update_candidate(self, row: CandidateRow) -> bool:
        with self._lock:
            old = self.candidate(row.user_id, row.id)
            if old is None:
                return False
            self._candidates[row.id] = replace(old, name=row.name, email=row.email, client=row.client, role=row.role)
            return True

    def delete_candidate(self, user_id: int, candidate_id: int) -> bool:
        with self._lock:
            if self.candidate(user_id, candidate_id) is None:
                return False
            gone = {i for i, r in self._interviews.items() if r.candidate_id == candidate_id}
            for interview_id in gone:
                del self._interviews[interview_id]
            for key in [k for k, t in self._transitions.items() if t.interview_id in gone]:
                del self._transitions[key]
            for key in [k for k, m in self._messages.items() if m.candidate_id == candidate_id]:
                del self._messages[key]
            for key, mail in list(self._mails.items()):
                if mail.interview_id in gone:
                    self._mails[key] = replace(mail, interview_id=None)
            del self._candidates[candidate_id]
            return True

    # recruiting: interview requests -----------------------------------------------------------
    def create_interview(self, row: InterviewRow) -> InterviewRow:
        check_link_kind(row.link_kind)
        row = _interview_times(row)
        with self._lock:
            if self.candidate(row.user_id, row.candidate_id) is None:
                raise StoreError(f"no candidate {row.candidate_id} of user {row.user_id}")
            if self.interview_by_token(row.token_hash) is not None:
                raise StoreError("an interview request with this token hash is stored already")
            row = replace(row, id=next(self._rec_ids), version=1)
            self._interviews[row.id] = row
            return row

    def interview(self, user_id: int, interview_id: int) -> InterviewRow | None:
        with self._lock:
            row = self._interviews.get(interview_id)
            return row if row is not None and row.user_id == user_id else None

    def interview_by_token(self, token_hash: str) -> InterviewRow | None:
        with self._lock:
            return next((r for r in self._interviews.values() if r.token_hash == token_hash), None)

    def interviews(self, user_id: int, candidate_id: int | None = None) -> list[InterviewRow]:
        with self._lock:
            return [
                r
                for _, r in sorted(self._interviews.items())
                if r.user_id == user_id and (candidate_id is None or r.candidate_id == candidate_id)
            ]

    def interviews_in(self, states: tuple[str, ...]) -> list[InterviewRow]:
        with self._lock:
            return [r for _, r in sorted(self._interviews.items()) if r.state in states]

    def save_interview(self, row: InterviewRow) -> InterviewRow | None:
        check_link_kind(row.link_kind)
        row = _interview_times(row)
        with self._lock:
            old = self.interview(row.user_id, row.id)
            if old is None or old.version != row.version:
                return None
            new = replace(row, candidate_id=old.candidate_id, token_hash=old.token_hash, version=old.version + 1)
            self._interviews[row.id] = new
            return new

    def add_transition(
        self, interview_id: int, action: str, actor: str, at: datetime, before: str, after: str, note: str
    ) -> TransitionRow:
        check_author(actor)
        when = _utc(at)
        with self._lock:
            if interview_id not in self._interviews:
                raise StoreError(f"no interview request {interview_id}")
            row = TransitionRow(next(self._rec_ids), interview_id, action, actor, when, before, after, note)
            self._transitions[row.id] = row
            return row

    def transitions(self, interview_id: int) -> list[TransitionRow]:
        with self._lock:
            return [r for _, r in sorted(self._transitions.items()) if r.interview_id == interview_id]

    # recruiting: chat -------------------------------------------------------------------------
    def add_message(
        self, user_id: int, candidate_id: int, author: str, body: str, at: datetime, interview_id: int | None = None
    ) -> MessageRow:
        check_author(author)
        when = _utc(at)
        with self._lock:
            if self.candidate(user_id, candidate_id) is None:
                raise StoreError(f"no candidate {candidate_id} of user {user_id}")
            if interview_id is not None:
                about = self.interview(user_id, interview_id)
                if about is None or about.candidate_id != candidate_id:
                    raise StoreError(f"no interview request {interview_id} of candidate {candidate_id}")
            row = MessageRow(next(self._rec_ids), user_id, candidate_id, interview_id, author, body, when)
            self._messages[row.id] = row
            return row

    def messages(self, user_id: int, candidate_id: int) -> list[MessageRow]:
        with self._lock:
            return [
                r for _, r in sorted(self._messages.items()) if r.user_id == user_id and r.candidate_id == candidate_id
            ]

    # recruiting: the mail outbox --------------------------------------------------------------
    def add_mail(
        self, user_id: int, interview_id: int | None, kind: str, to: str, subject: str, body: str, state: str, at: datetime
    ) -> MailRow:
        check_mail_state(state)
        created = _utc(at)
        with self._lock:
            self._known_user(user_id)
            if interview_id is not None and self.interview(user_id, interview_id) is None:
                raise StoreError(f"no interview request {interview_id} of user {user_id}")
            due = created if state == "pending" else None
            row = MailRow(next(self._rec_ids), user_id, interview_id, kind, to, subject, body, state, created, 0, due)
            self._mails[row.id] = row
            return row

    def mails(self, user_id: int, limit: int = 100) -> list[MailRow]:
        with self._lock:
            mine = [m for m in self._mails.values() if m.user_id == user_id]
        return sorted(mine, key=lambda m: m.id, reverse=True)[: max(limit, 0)]

    def due_mails(self, now: datetime, limit: int = 50) -> list[MailRow]:
        at = _utc(now)
        with self._lock:
            due = [m for m in self._mails.values() if m.state == "pending" and m.next_at is not None and m.next_at <= at]
        return sorted(due, key=lambda m: (m.next_at, m.id))[: max(limit, 0)]

    def record_mail_attempt(
        self, mail_id: int, *, state: str, attempts: int, next_at: datetime | None, sent_at: datetime | None, error: str
    ) -> None:
        check_mail_state(state)
        due = None if next_at is None else _utc(next_at)
        sent = None if sent_at is None else _utc(sent_at)
        with self._lock:
            row = self._mails.get(mail_id)
            if row is None:
                raise StoreError(f"no mail {mail_id}")
            self._mails[mail_id] = replace(row, state=state, attempts=attempts, next_at=due, sent_at=sent, last_error=error)

    # recruiting: the booking page's settings -----------------------------------------------------
    def booking_settings(self, user_id: int) -> str | None:
        with self._lock:
            return self._booking_settings.get(user_id)

    def save_booking_settings(self, user_id: int, text: str, at: datetime) -> None:
        _utc(at)
        with self._lock:
            self._known_user(user_id)
            self._booking_settings[user_id] = text

    def _known_user(self, user_id: int) -> UserRow:
        """The user ``user_id``; raises ``StoreError`` when there is none (the database's foreign key)."""
        row = self._users.get(user_id)
        if row is None:
            raise StoreError(f"no user {user_id}")
        return row


def _interview_times(row: InterviewRow) -> InterviewRow:
    """``row`` with every datetime in UTC; raises ``StoreError`` for a naive one."""
    return replace(
        row,
        starts_at=None if row.starts_at is None else _utc(row.starts_at),
        ends_at=None if row.ends_at is None else _utc(row.ends_at),
        sent_at=_utc(row.sent_at),
        updated=_utc(row.updated),
        reminded_at=None if row.reminded_at is None else _utc(row.reminded_at),
    )


def _copy(row: ConnectionRow) -> ConnectionRow:
    """A row whose ``extra`` the caller may change without touching the store."""
    return replace(row, extra=json.loads(json.dumps(row.extra)))
