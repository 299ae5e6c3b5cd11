"""The SQLAlchemy ``Store``: an SQLite file by default, PostgreSQL at scale; schema kept by Alembic."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    Engine,
    ForeignKey,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

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
    as_utc,
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

if TYPE_CHECKING:
    from alembic.config import Config

HEAD_REVISION = "0007"
"""The newest migration; a database already there is opened without loading Alembic (a test
keeps this equal to the migrations' head)."""

SQLITE_BUSY_TIMEOUT_MS = 10_000
_MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
_MIGRATION_LOCK_KEY = 0x6D6972726F72  # pg advisory lock id: "mirror"
_CHUNK = 500  # hrefs per DELETE ... IN (...), well below every driver's parameter limit


# schema ---------------------------------------------------------------------------------------
class UtcDateTime(TypeDecorator[datetime]):
    """An aware datetime stored in UTC and returned aware in UTC; naive values are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}; the store needs an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of the store's tables; ``Base.metadata`` is Alembic's target."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map = {datetime: UtcDateTime(), dict[str, int]: JSON(), bytes: LargeBinary()}


class CalendarStateModel(Base):
    __tablename__ = "calendar_state"
    name: Mapped[str] = mapped_column(String, primary_key=True)
    cursor: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]


class ItemModel(Base):
    __tablename__ = "items"
    calendar: Mapped[str] = mapped_column(String, primary_key=True)
    href: Mapped[str] = mapped_column(String, primary_key=True)
    etag: Mapped[str | None]
    uid: Mapped[str]
    ics: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str]
    marker: Mapped[str | None] = mapped_column(index=True)
    error: Mapped[str | None] = mapped_column(Text)


class MirrorModel(Base):
    __tablename__ = "mirrors"
    sync: Mapped[str] = mapped_column(String, primary_key=True)
    origin_key: Mapped[str] = mapped_column(String, primary_key=True)
    mirror_uid: Mapped[str] = mapped_column(index=True, unique=True)
    href: Mapped[str]
    etag: Mapped[str | None]
    source_hash: Mapped[str]
    mirror_hash: Mapped[str]
    origin_calendar: Mapped[str]
    origin_client: Mapped[str | None]
    root_key: Mapped[str]
    state: Mapped[str]


class RunModel(Base):
    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    sync: Mapped[str] = mapped_column(index=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    counts: Mapped[dict[str, int]]
    error: Mapped[str | None] = mapped_column(Text)


class HistoryModel(Base):
    __tablename__ = "history"
    __table_args__ = (Index("ix_history_sync_id", "sync", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    sync: Mapped[str]
    origin_key: Mapped[str]
    action: Mapped[str]
    reason: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime]


class SecretModel(Base):
    __tablename__ = "secrets"
    name: Mapped[str] = mapped_column(String, primary_key=True)
    value: Mapped[bytes]


class ConnectionModel(Base):
    """A connected account; ``secret`` is Fernet token text, never a clear credential."""

    __tablename__ = "connections"
    name: Mapped[str] = mapped_column(String, primary_key=True)
    kind: Mapped[str]
    account: Mapped[str]
    secret: Mapped[str] = mapped_column(Text)
    state: Mapped[str]
    message: Mapped[str] = mapped_column(Text)
    updated: Mapped[datetime]
    extra: Mapped[dict[str, Any]] = mapped_column(JSON)


class UserModel(Base):
    """A web account; ``email_key`` (the lower-cased e-mail) makes addresses unique whatever their case."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    email: Mapped[str]
    email_key: Mapped[str] = mapped_column(index=True, unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    plan: Mapped[str]
    created: Mapped[datetime]


class WebSessionModel(Base):
    """A signed-in browser, known by the hash of its cookie's token."""

    __tablename__ = "web_sessions"
    token_hash: Mapped[str] = mapped_column(String, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str]
    created: Mapped[datetime]
    expires: Mapped[datetime]


class ApiTokenModel(Base):
    """A personal API token, known by its hash."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str]
    token_hash: Mapped[str] = mapped_column(index=True, unique=True)
    created: Mapped[datetime]
    last_used: Mapped[datetime | None]


class WorkspaceModel(Base):
    """A web account's setup: the TOML document of its calendars and syncs (never a secret)."""

    __tablename__ = "workspaces"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    toml: Mapped[str] = mapped_column(Text)
    updated: Mapped[datetime]


class FeedModel(Base):
    """An account's busy-only ICS feed, known by the hash of the token in its URL."""

    __tablename__ = "feeds"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    token_hash: Mapped[str] = mapped_column(index=True, unique=True)
    created: Mapped[datetime]


class WebhookModel(Base):
    """An account's outbound webhook endpoint; ``secret`` is Fernet token text, ``events`` a
    space-separated subset of ``WEBHOOK_EVENTS``."""

    __tablename__ = "webhooks"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[str]
    description: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean)
    disabled_reason: Mapped[str] = mapped_column(Text)
    created: Mapped[datetime]


class WebhookDeliveryModel(Base):
    """One event for one endpoint: its exact body, how the attempts went, when the next is due."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("webhook_id", "event_id"),
        Index("ix_webhook_deliveries_state_next_at", "state", "next_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[str]
    kind: Mapped[str]
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str]
    attempts: Mapped[int]
    created: Mapped[datetime]
    next_at: Mapped[datetime | None]
    last_at: Mapped[datetime | None]
    last_status: Mapped[int | None]
    last_error: Mapped[str] = mapped_column(Text)


class CandidateModel(Base):
    """A candidate of an account, put forward for one client's role."""

    __tablename__ = "candidates"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str]
    email: Mapped[str]
    client: Mapped[str]
    role: Mapped[str]
    created: Mapped[datetime]


class InterviewModel(Base):
    """One interview request; known to the candidate by the hash of its private link's token
    (``token_sealed`` is the token encrypted by the app's vault); ``version`` for compare-and-set."""

    __tablename__ = "interviews"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), index=True)
    round: Mapped[int]
    title: Mapped[str] = mapped_column(Text)
    link_kind: Mapped[str]
    url: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)
    token_hash: Mapped[str] = mapped_column(index=True, unique=True)
    token_sealed: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(index=True)
    how: Mapped[str | None]
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    reason: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime]
    updated: Mapped[datetime]
    duration_minutes: Mapped[int]
    reminded_at: Mapped[datetime | None]
    booking_calendar: Mapped[str] = mapped_column(Text)
    booking_uid: Mapped[str] = mapped_column(Text)
    version: Mapped[int]


class TransitionModel(Base):
    """One recorded move of an interview request."""

    __tablename__ = "interview_transitions"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    interview_id: Mapped[int] = mapped_column(ForeignKey("interviews.id", ondelete="CASCADE"), index=True)
    action: Mapped[str]
    actor: Mapped[str]
    at: Mapped[datetime]
    before: Mapped[str]
    after: Mapped[str]
    note: Mapped[str] = mapped_column(Text)


class MessageModel(Base):
    """One message of a candidate's chat thread (``author`` "system" for status notes)."""

    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), index=True)
    interview_id: Mapped[int | None] = mapped_column(ForeignKey("interviews.id", ondelete="CASCADE"), index=True)
    author: Mapped[str]
    body: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime]


class MailModel(Base):
    """One outbox mail; it outlives its interview request (``interview_id`` goes NULL)."""

    __tablename__ = "mails"
    __table_args__ = (Index("ix_mails_state_next_at", "state", "next_at"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    interview_id: Mapped[int | None] = mapped_column(ForeignKey("interviews.id", ondelete="SET NULL"), index=True)
    kind: Mapped[str]
    to: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str]
    created: Mapped[datetime]
    attempts: Mapped[int]
    next_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(Text)


class BookingSettingsModel(Base):
    """An account's booking-page settings (JSON text, see ``mirrorcal.booking``)."""

    __tablename__ = "booking_settings"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    settings: Mapped[str] = mapped_column(Text)
    updated: Mapped[datetime]


_calendars: Table = CalendarStateModel.__table__  # type: ignore[assignment]
_items: Table = ItemModel.__table__  # type: ignore[assignment]
_mirrors: Table = MirrorModel.__table__  # type: ignore[assignment]
_runs: Table = RunModel.__table__  # type: ignore[assignment]
_history: Table = HistoryModel.__table__  # type: ignore[assignment]
_secrets: Table = SecretModel.__table__  # type: ignore[assignment]
_connections: Table = ConnectionModel.__table__  # type: ignore[assignment]
_users: Table = UserModel.__table__  # type: ignore[assignment]
_web_sessions: Table = WebSessionModel.__table__  # type: ignore[assignment]
_api_tokens: Table = ApiTokenModel.__table__  # type: ignore[assignment]
_workspaces: Table = WorkspaceModel.__table__  # type: ignore[assignment]
_feeds: Table = FeedModel.__table__  # type: ignore[assignment]
_webhooks: Table = WebhookModel.__table__  # type: ignore[assignment]
_deliveries: Table = WebhookDeliveryModel.__table__  # type: ignore[assignment]
_candidates: Table = CandidateModel.__table__  # type: ignore[assignment]
_interviews: Table = InterviewModel.__table__  # type: ignore[assignment]
_transitions: Table = TransitionModel.__table__  # type: ignore[assignment]
_messages: Table = MessageModel.__table__  # type: ignore[assignment]
_mails: Table = MailModel.__table__  # type: ignore[assignment]
_booking_settings: Table = BookingSettingsModel.__table__  # type: ignore[assignment]


# engine and migrations ------------------------------------------------------------------------
def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    """An Alembic ``Config`` for the packaged migrations, built in code (no ini file).

    ``connection`` (preferred) is used as is, inside its transaction; else ``url``.
    """
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (see _sqlite_on_begin)
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    # Writers take the write lock up front so the busy timeout applies instead of a
    # read-to-write upgrade failing at once; readers share the WAL snapshot.
    write = conn.get_execution_options().get("mirrorcal_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def create_store_engine(url: str) -> Engine:
    """An engine for ``url``; for an SQLite file, its directory is created and the pragmas set.

    Raises ``StoreError`` for a malformed URL, a missing driver or an unwritable directory.
    """
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() != "sqlite":
            return create_engine(parsed, pool_pre_ping=True)
        database = parsed.database or ""
        in_memory = database in ("", ":memory:") or "mode=memory" in database
        if in_memory:
            engine = create_engine(
                parsed, poolclass=StaticPool, connect_args={"check_same_thread": False}
            )
        else:
            if not database.startswith("file:"):
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(parsed)
    except (ArgumentError, ImportError, OSError, SQLAlchemyError) as exc:
        raise StoreError(f"cannot open state store {url!r}: {exc}") from exc
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _detail(exc: BaseException) -> str:
    """The driver's message without SQL parameters (which may hold item text or secrets)."""
    orig = getattr(exc, "orig", None)
    return f"{type(exc).__name__}: {orig if orig is not None else exc}"


# the store ------------------------------------------------------------------------------------
class SqlStore(Store):
    """``Store`` on SQLAlchemy. Make one with ``SqlStore.open(url)``.

    Each method runs in its own transaction and commits before returning. SQLite runs in WAL
    mode with ``synchronous=NORMAL``, foreign keys on and a busy timeout, so several processes
    may share one file. Every database failure surfaces as ``StoreError``.
    """

    def __init__(self, engine: Engine) -> None:
        """Wrap an engine whose database is already migrated; prefer ``open``."""
        self._engine = engine

    @classmethod
    def open(cls, url: str) -> SqlStore:
        """Connect to ``url`` (e.g. ``sqlite:///path/state.db``, ``postgresql+psycopg://...``)
        and migrate its schema to head. Raises ``StoreError``."""
        store = cls(create_store_engine(url))
        try:
            store.migrate()
        except BaseException:
            store.close()
            raise
        return store

    @property
    def engine(self) -> Engine:
        return self._engine

    def migrate(self) -> None:
        """Upgrade the schema to Alembic head in one transaction, serialised across processes."""
        if self._revision() == HEAD_REVISION:
            return
        from alembic import command
        from alembic.util.exc import CommandError

        try:
            with self._write("migrate") as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
                command.upgrade(alembic_config(connection=conn), "head")
        except CommandError as exc:
            raise StoreError(f"cannot migrate the state store: {exc}") from exc

    def _revision(self) -> str | None:
        """The database's Alembic revision, None when it has none (new or foreign database)."""
        try:
            with self._engine.connect() as conn:
                return conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()
        except SQLAlchemyError:
            return None

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def _write(self, what: str) -> Iterator[Connection]:
        try:
            with self._engine.connect() as conn:
                conn.execution_options(mirrorcal_write=True)
                with conn.begin():
                    yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"state store: {what} failed: {_detail(exc)}") from exc

    @contextmanager
    def _read(self, what: str) -> Iterator[Connection]:
        try:
            with self._engine.connect() as conn, conn.begin():
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"state store: {what} failed: {_detail(exc)}") from exc

    # calendars ------------------------------------------------------------------------------
    def get_cursor(self, calendar: str) -> str | None:
        with self._read("get cursor") as conn:
            return conn.scalar(select(_calendars.c.cursor).where(_calendars.c.name == calendar))

    def items(self, calendar: str) -> dict[str, CachedItem]:
        with self._read("read items") as conn:
            rows = conn.execute(select(_items).where(_items.c.calendar == calendar)).mappings()
            return {row["href"]: _to_item(row) for row in rows}

    def stamps(self, calendar: str) -> dict[str, CachedItem]:
        c = _items.c
        with self._read("read item stamps") as conn:
            rows = conn.execute(select(c.href, c.etag, c.uid, c.content_hash, c.marker).where(c.calendar == calendar)).all()
            return {href: CachedItem(href, etag, uid, "", digest, marker) for href, etag, uid, digest, marker in rows}

    def items_at(self, calendar: str, hrefs: list[str]) -> dict[str, CachedItem]:
        found: dict[str, CachedItem] = {}
        with self._read("read items") as conn:
            for i in range(0, len(hrefs), 500):  # within any database's limit of bound parameters
                chunk = hrefs[i : i + 500]
                rows = conn.execute(select(_items).where(_items.c.calendar == calendar, _items.c.href.in_(chunk))).mappings()
                found.update((row["href"], _to_item(row)) for row in rows)
        return found

    def apply_listing(
        self,
        calendar: str,
        upserts: list[CachedItem],
        removed: list[str],
        cursor: str | None,
        full: bool,
    ) -> None:
        latest = {item.href: item for item in upserts}  # a repeated href: the last one wins
        with self._write("apply listing") as conn:
            if full:
                conn.execute(delete(_items).where(_items.c.calendar == calendar))
            else:
                _delete_hrefs(conn, calendar, set(removed) | set(latest))
            if latest:
                conn.execute(insert(_items), [_item_values(calendar, item) for item in latest.values()])
            _upsert(conn, _calendars, {"name": calendar, "cursor": cursor, "updated_at": datetime.now(UTC)}, ("name",))

    def put_item(self, calendar: str, item: CachedItem) -> None:
        with self._write("put item") as conn:
            _upsert(conn, _items, _item_values(calendar, item), ("calendar", "href"))

    def remove_item(self, calendar: str, href: str) -> None:
        with self._write("remove item") as conn:
            _delete_hrefs(conn, calendar, [href])

    def forget_calendar(self, calendar: str) -> None:
        with self._write("forget calendar") as conn:
            conn.execute(delete(_items).where(_items.c.calendar == calendar))
            conn.execute(delete(_calendars).where(_calendars.c.name == calendar))

    # mirrors --------------------------------------------------------------------------------
    def mirrors(self, sync: str) -> dict[str, MirrorRow]:
        with self._read("read mirrors") as conn:
            rows = conn.execute(select(_mirrors).where(_mirrors.c.sync == sync)).mappings()
            return {row["origin_key"]: _to_mirror(row) for row in rows}

    def mirror_by_uid(self, mirror_uid: str) -> MirrorRow | None:
        with self._read("find mirror") as conn:
            row = conn.execute(select(_mirrors).where(_mirrors.c.mirror_uid == mirror_uid)).mappings().first()
            return None if row is None else _to_mirror(row)

    def save_mirror(self, row: MirrorRow) -> None:
        """Upsert by (sync, origin_key); raises ``StoreError`` if another row has the uid."""
        values = {name: getattr(row, name) for name in MirrorRow.__slots__}  # type: ignore[attr-defined]
        with self._write("save mirror") as conn:
            _upsert(conn, _mirrors, values, ("sync", "origin_key"))

    def delete_mirror(self, sync: str, origin_key: str) -> None:
        with self._write("delete mirror") as conn:
            conn.execute(delete(_mirrors).where(_mirrors.c.sync == sync, _mirrors.c.origin_key == origin_key))

    # runs and history -----------------------------------------------------------------------
    def start_run(self, sync: str, at: datetime) -> int:
        with self._write("start run") as conn:
            key = conn.execute(insert(_runs).values(sync=sync, started_at=at, counts={})).inserted_primary_key
            if key is None:
                raise StoreError("the database returned no id for the new run")
            return int(key[0])

    def finish_run(self, run_id: int, at: datetime, counts: dict[str, int], error: str | None) -> None:
        """Close run ``run_id``; raises ``StoreError`` if there is no such run."""
        with self._write("finish run") as conn:
            stmt = update(_runs).where(_runs.c.id == run_id).values(finished_at=at, counts=dict(counts), error=error)
            if conn.execute(stmt).rowcount == 0:
                raise StoreError(f"no run {run_id}")

    def record(self, run_id: int, sync: str, origin_key: str, action: str, reason: str, summary: str, at: datetime) -> None:
        """Append one history row; raises ``StoreError`` if there is no such run."""
        with self._write("record history") as conn:
            conn.execute(
                insert(_history).values(
                    run_id=run_id, sync=sync, origin_key=origin_key, action=action, reason=reason, summary=summary, at=at
                )
            )

    def last_run(self, sync: str) -> RunRow | None:
        """The run of ``sync`` started last (highest id), finished or not."""
        with self._read("read last run") as conn:
            stmt = select(_runs).where(_runs.c.sync == sync).order_by(_runs.c.id.desc()).limit(1)
            row = conn.execute(stmt).mappings().first()
            if row is None:
                return None
            return RunRow(
                id=row["id"],
                sync=row["sync"],
                started_at=row["started_at"],
                finished_at=row["finished_at"],
                counts=dict(row["counts"] or {}),
                error=row["error"],
            )

    def history(self, sync: str | None = None, limit: int = 100) -> list[HistoryRow]:
        if limit <= 0:
            return []
        stmt = select(_history).order_by(_history.c.id.desc()).limit(limit)
        if sync is not None:
            stmt = stmt.where(_history.c.sync == sync)
        with self._read("read history") as conn:
            return [
                HistoryRow(r["run_id"], r["sync"], r["origin_key"], r["action"], r["reason"], r["summary"], r["at"])
                for r in conn.execute(stmt).mappings()
            ]

    # secrets --------------------------------------------------------------------------------
    def secret(self, name: str) -> bytes:
        with self._write("read secret") as conn:
            _insert_if_missing(conn, _secrets, {"name": name, "value": secrets.token_bytes(32)}, ("name",))
            return bytes(conn.execute(select(_secrets.c.value).where(_secrets.c.name == name)).scalar_one())

    # connections ----------------------------------------------------------------------------
    def save_connection(self, row: ConnectionRow) -> None:
        values = {name: getattr(prepare_connection(row), name) for name in _CONNECTION_FIELDS}
        with self._write("save connection") as conn:
            _upsert(conn, _connections, values, ("name",))

    def connection(self, name: str) -> ConnectionRow | None:
        with self._read("read connection") as conn:
            row = conn.execute(select(_connections).where(_connections.c.name == name)).mappings().first()
            return None if row is None else _to_connection(row)

    def connections(self) -> list[ConnectionRow]:
        with self._read("read connections") as conn:
            rows = [_to_connection(row) for row in conn.execute(select(_connections)).mappings()]
        return sorted(rows, key=lambda r: r.name)  # code-point order, whatever the database's collation

    def set_connection_state(self, name: str, state: str, message: str, at: datetime | None = None) -> None:
        check_connection_state(state)
        stmt = (
            update(_connections)
            .where(_connections.c.name == name)
            .values(state=state, message=message, updated=at or datetime.now(UTC))
        )
        with self._write("set connection state") as conn:
            if conn.execute(stmt).rowcount == 0:
                raise StoreError(f"no connection named {name!r}")

    def delete_connection(self, name: str) -> None:
        with self._write("delete connection") as conn:
            conn.execute(delete(_connections).where(_connections.c.name == name))

    # accounts -------------------------------------------------------------------------------
    def create_user(self, email: str, password_hash: str, plan: str, at: datetime) -> UserRow:
        check_plan(plan)
        created = as_utc(at)
        values = {"email": email, "email_key": email_key(email), "password_hash": password_hash, "plan": plan}
        with self._write("create user") as conn:
            try:
                key = conn.execute(insert(_users).values(created=created, **values)).inserted_primary_key
            except IntegrityError as exc:  # the unique e-mail key: another user has the address
                raise EmailTakenError(email) from exc  # the transaction rolls back
            if key is None:
                raise StoreError("the database returned no id for the new user")
            return UserRow(int(key[0]), email, password_hash, plan, created)

    def user(self, user_id: int) -> UserRow | None:
        with self._read("read user") as conn:
            row = conn.execute(select(_users).where(_users.c.id == user_id)).mappings().first()
            return None if row is None else _to_user(row)

    def user_by_email(self, email: str) -> UserRow | None:
        with self._read("find user") as conn:
            row = conn.execute(select(_users).where(_users.c.email_key == email_key(email))).mappings().first()
            return None if row is None else _to_user(row)

    def set_password_hash(self, user_id: int, password_hash: str) -> None:
        with self._write("set password") as conn:
            stmt = update(_users).where(_users.c.id == user_id).values(password_hash=password_hash)
            if conn.execute(stmt).rowcount == 0:
                raise StoreError(f"no user {user_id}")

    def set_plan(self, user_id: int, plan: str) -> None:
        check_plan(plan)
        with self._write("set plan") as conn:
            if conn.execute(update(_users).where(_users.c.id == user_id).values(plan=plan)).rowcount == 0:
                raise StoreError(f"no user {user_id}")

    def save_web_session(self, row: WebSessionRow) -> None:
        values = {name: getattr(row, name) for name in _WEB_SESSION_FIELDS}
        with self._write("save session") as conn:
            conn.execute(
                delete(_web_sessions).where(
                    _web_sessions.c.user_id == row.user_id, _web_sessions.c.expires <= datetime.now(UTC)
                )
            )
            _upsert(conn, _web_sessions, values, ("token_hash",))

    def web_session(self, token_hash: str) -> WebSessionRow | None:
        stmt = select(_web_sessions).where(
            _web_sessions.c.token_hash == token_hash, _web_sessions.c.expires > datetime.now(UTC)
        )
        with self._read("read session") as conn:
            row = conn.execute(stmt).mappings().first()
            return None if row is None else WebSessionRow(**{name: row[name] for name in _WEB_SESSION_FIELDS})

    def delete_web_session(self, token_hash: str) -> None:
        with self._write("delete session") as conn:
            conn.execute(delete(_web_sessions).where(_web_sessions.c.token_hash == token_hash))

    def delete_web_sessions(self, user_id: int) -> None:
        with self._write("delete sessions") as conn:
            conn.execute(delete(_web_sessions).where(_web_sessions.c.user_id == user_id))

    def create_api_token(self, user_id: int, name: str, token_hash: str, at: datetime) -> ApiTokenRow:
        created = as_utc(at)
        with self._write("create API token") as conn:
            stmt = insert(_api_tokens).values(user_id=user_id, name=name, token_hash=token_hash, created=created)
            key = conn.execute(stmt).inserted_primary_key
            if key is None:
                raise StoreError("the database returned no id for the new API token")
            return ApiTokenRow(int(key[0]), user_id, name, token_hash, created, None)

    def api_token(self, token_hash: str) -> ApiTokenRow | None:
        with self._read("read API token") as conn:
            stmt = select(_api_tokens).where(_api_tokens.c.token_hash == token_hash)
            row = conn.execute(stmt).mappings().first()
            return None if row is None else _to_api_token(row)

    def api_tokens(self, user_id: int) -> list[ApiTokenRow]:
        stmt = select(_api_tokens).where(_api_tokens.c.user_id == user_id).order_by(_api_tokens.c.id)
        with self._read("read API tokens") as conn:
            return [_to_api_token(row) for row in conn.execute(stmt).mappings()]

    def delete_api_token(self, user_id: int, token_id: int) -> bool:
        stmt = delete(_api_tokens).where(_api_tokens.c.id == token_id, _api_tokens.c.user_id == user_id)
        with self._write("delete API token") as conn:
            return bool(conn.execute(stmt).rowcount)

    def touch_api_token(self, token_id: int, at: datetime) -> None:
        with self._write("touch API token") as conn:
            conn.execute(update(_api_tokens).where(_api_tokens.c.id == token_id).values(last_used=at))

    # workspaces -----------------------------------------------------------------------------
    def workspace(self, user_id: int) -> str | None:
        with self._read("read workspace") as conn:
            row = conn.execute(select(_workspaces.c.toml).where(_workspaces.c.user_id == user_id)).first()
            return None if row is None else str(row[0])

    def save_workspace(self, user_id: int, text: str, at: datetime) -> None:
        values = {"user_id": user_id, "toml": text, "updated": as_utc(at)}
        with self._write("save workspace") as conn:
            _upsert(conn, _workspaces, values, ("user_id",))

    def workspace_users(self) -> list[int]:
        with self._read("list workspaces") as conn:
            stmt = select(_workspaces.c.user_id).where(_workspaces.c.toml != "").order_by(_workspaces.c.user_id)
            return [int(uid) for uid in conn.execute(stmt).scalars()]

    # busy-only feeds -----------------------------------------------------------------------
    def set_feed(self, user_id: int, token_hash: str, at: datetime) -> FeedRow:
        row = FeedRow(user_id, token_hash, as_utc(at))
        with self._write("save feed") as conn:
            _upsert(conn, _feeds, {"user_id": user_id, "token_hash": token_hash, "created": row.created}, ("user_id",))
        return row

    def feed(self, user_id: int) -> FeedRow | None:
        return self._one_feed("read feed", _feeds.c.user_id == user_id)

    def feed_by_token(self, token_hash: str) -> FeedRow | None:
        return self._one_feed("find feed", _feeds.c.token_hash == token_hash)

    def delete_feed(self, user_id: int) -> bool:
        with self._write("delete feed") as conn:
            return bool(conn.execute(delete(_feeds).where(_feeds.c.user_id == user_id)).rowcount)

    def _one_feed(self, what: str, where: Any) -> FeedRow | None:
        with self._read(what) as conn:
            row = conn.execute(select(_feeds).where(where)).mappings().first()
            return None if row is None else FeedRow(row["user_id"], row["token_hash"], row["created"])

    # outbound webhooks ---------------------------------------------------------------------
    def create_webhook(
        self, user_id: int, url: str, events: tuple[str, ...], description: str, secret: str, at: datetime
    ) -> WebhookRow:
        kinds = check_webhook_events(events)
        created = as_utc(at)
        values: dict[str, Any] = {"user_id": user_id, "url": url, "events": " ".join(kinds), "description": description}
        values |= {"secret": secret, "active": True, "disabled_reason": "", "created": created}
        with self._write("create webhook") as conn:
            key = conn.execute(insert(_webhooks).values(values)).inserted_primary_key
            if key is None:
                raise StoreError("the database returned no id for the new webhook")
            return WebhookRow(int(key[0]), user_id, url, kinds, description, secret, True, "", created)

    def webhook(self, user_id: int, webhook_id: int) -> WebhookRow | None:
        stmt = select(_webhooks).where(_webhooks.c.id == webhook_id, _webhooks.c.user_id == user_id)
        with self._read("read webhook") as conn:
            row = conn.execute(stmt).mappings().first()
            return None if row is None else _to_webhook(row)

    def webhooks(self, user_id: int | None = None) -> list[WebhookRow]:
        stmt = select(_webhooks).order_by(_webhooks.c.id)
        if user_id is not None:
            stmt = stmt.where(_webhooks.c.user_id == user_id)
        with self._read("read webhooks") as conn:
            return [_to_webhook(row) for row in conn.execute(stmt).mappings()]

    def update_webhook(self, row: WebhookRow) -> bool:
        kinds = check_webhook_events(row.events)
        values: dict[str, Any] = {"url": row.url, "events": " ".join(kinds), "description": row.description}
        values["secret"] = row.secret
        values |= {"active": row.active, "disabled_reason": row.disabled_reason}
        stmt = update(_webhooks).where(_webhooks.c.id == row.id, _webhooks.c.user_id == row.user_id).values(values)
        with self._write("update webhook") as conn:
            return bool(conn.execute(stmt).rowcount)

    def delete_webhook(self, user_id: int, webhook_id: int) -> bool:
        with self._write("delete webhook") as conn:
            mine = select(_webhooks.c.id).where(_webhooks.c.id == webhook_id, _webhooks.c.user_id == user_id)
            if conn.execute(mine).first() is None:
                return False
            conn.execute(delete(_deliveries).where(_deliveries.c.webhook_id == webhook_id))
            return bool(conn.execute(delete(_webhooks).where(_webhooks.c.id == webhook_id)).rowcount)

    def enqueue_delivery(self, webhook_id: int, event_id: str, kind: str, body: str, at: datetime) -> DeliveryRow | None:
        due = as_utc(at)
        with self._write("enqueue delivery") as conn:
            owner = conn.scalar(select(_webhooks.c.user_id).where(_webhooks.c.id == webhook_id))
            if owner is None:
                raise StoreError(f"no webhook {webhook_id}")
            seen = select(_deliveries.c.id).where(_deliveries.c.webhook_id == webhook_id, _deliveries.c.event_id == event_id)
            if conn.execute(seen).first() is not None:
                return None
            values: dict[str, Any] = {"webhook_id": webhook_id, "user_id": int(owner), "event_id": event_id}
            values |= {"kind": kind, "body": body}
            values |= {"state": "pending", "attempts": 0, "created": due, "next_at": due, "last_error": ""}
            try:
                with conn.begin_nested():
                    key = conn.execute(insert(_deliveries).values(values)).inserted_primary_key
            except IntegrityError:  # another process enqueued the same event for this endpoint just now
                return None
            if key is None:
                raise StoreError("the database returned no id for the new delivery")
            return DeliveryRow(int(key[0]), webhook_id, int(owner), event_id, kind, body, "pending", 0, due, due)

    def due_deliveries(self, now: datetime, limit: int = 50) -> list[DeliveryRow]:
        if limit <= 0:
            return []
        stmt = (
            select(_deliveries)
            .where(_deliveries.c.state == "pending", _deliveries.c.next_at <= as_utc(now))
            .order_by(_deliveries.c.next_at, _deliveries.c.id)
            .limit(limit)
        )
        with self._read("read due deliveries") as conn:
            return [_to_delivery(row) for row in conn.execute(stmt).mappings()]

    def next_delivery_at(self) -> datetime | None:
        stmt = select(_deliveries.c.next_at).where(_deliveries.c.state == "pending").order_by(_deliveries.c.next_at)
        with self._read("read next delivery") as conn:
            return conn.scalar(stmt.limit(1))

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
        values: dict[str, Any] = {"state": state, "attempts": attempts}
        values["next_at"] = None if next_at is None else as_utc(next_at)
        values |= {"last_at": as_utc(at), "last_status": status, "last_error": error}
        with self._write("record delivery attempt") as conn:
            if conn.execute(update(_deliveries).where(_deliveries.c.id == delivery_id).values(values)).rowcount == 0:
                raise StoreError(f"no delivery {delivery_id}")

    def deliveries(self, user_id: int, webhook_id: int | None = None, limit: int = 20) -> list[DeliveryRow]:
        if limit <= 0:
            return []
        stmt = select(_deliveries).where(_deliveries.c.user_id == user_id).order_by(_deliveries.c.id.desc()).limit(limit)
        if webhook_id is not None:
            stmt = stmt.where(_deliveries.c.webhook_id == webhook_id)
        with self._read("read deliveries") as conn:
            return [_to_delivery(row) for row in conn.execute(stmt).mappings()]

    # recruiting: candidates -------------------------------------------------------------------
    def create_candidate(self, user_id: int, name: str, email: str, client: str, role: str, at: datetime) -> CandidateRow:
        created = as_utc(at)
        values: dict[str, Any] = {"user_id": user_id, "name": name, "email": email, "client": client, "role": role}
        with self._write("create candidate") as conn:
            _known_user(conn, user_id)
            key = conn.execute(insert(_candidates).values(created=created, **values)).inserted_primary_key
            if key is None:
                raise StoreError("the database returned no id for the new candidate")
            return CandidateRow(int(key[0]), user_id, name, email, client, role, created)

    def candidate(self, user_id: int, candidate_id: int) -> CandidateRow | None:
        stmt = select(_candidates).where(_candidates.c.id == candidate_id, _candidates.c.user_id == user_id)
        with self._read("read candidate") as conn:
            row = conn.execute(stmt).mappings().first()
            return None if row is None else _to_candidate(row)

    def candidates(self, user_id: int) -> list[CandidateRow]:
        stmt = select(_candidates).where(_candidates.c.user_id == user_id).order_by(_candidates.c.id)
        with self._read("read candidates") as conn:
            return [_to_candidate(row) for row in conn.execute(stmt).mappings()]

    def update_candidate(self, row: CandidateRow) -> bool:
        stmt = (
            update(_candidates)
            .where(_candidates.c.id == row.id, _candidates.c.user_id == row.user_id)
            .values(name=row.name, email=row.email, client=row.client, role=row.role)
        )
        with self._write("update candidate") as conn:
            return bool(conn.execute(stmt).rowcount)

    def delete_candidate(self, user_id: int, candidate_id: int) -> bool:
        """Deletes the dependants itself too (not only by the foreign keys' cascades), so a
        connection without SQLite's ``foreign_keys`` pragma leaves nothing behind."""
        with self._write("delete candidate") as conn:
            mine = select(_candidates.c.id).where(_candidates.c.id == candidate_id, _candidates.c.user_id == user_id)
            if conn.execute(mine).first() is None:
                return False
            requests = select(_interviews.c.id).where(_interviews.c.candidate_id == candidate_id).scalar_subquery()
            conn.execute(update(_mails).where(_mails.c.interview_id.in_(requests)).values(interview_id=None))
            conn.execute(delete(_transitions).where(_transitions.c.interview_id.in_(requests)))
            conn.execute(delete(_messages).where(_messages.c.candidate_id == candidate_id))
            conn.execute(delete(_interviews).where(_interviews.c.candidate_id == candidate_id))
            return bool(conn.execute(delete(_candidates).where(_candidates.c.id == candidate_id)).rowcount)

    # recruiting: interview requests -----------------------------------------------------------
    def create_interview(self, row: InterviewRow) -> InterviewRow:
        check_link_kind(row.link_kind)
        values = _interview_values(row)
        values |= {"user_id": row.user_id, "candidate_id": row.candidate_id, "token_hash": row.token_hash, "version": 1}
        with self._write("create interview request") as conn:
            mine = select(_candidates.c.id).where(_candidates.c.id == row.candidate_id, _candidates.c.user_id == row.user_id)
            if conn.execute(mine).first() is None:
                raise StoreError(f"no candidate {row.candidate_id} of user {row.user_id}")
            if conn.execute(select(_interviews.c.id).where(_interviews.c.token_hash == row.token_hash)).first():
                raise StoreError("an interview request with this token hash is stored already")
            try:
                with conn.begin_nested():
                    key = conn.execute(insert(_interviews).values(values)).inserted_primary_key
            except IntegrityError as exc:  # another writer stored the same token hash just now
                raise StoreError("an interview request with this token hash is stored already") from exc
            if key is None:
                raise StoreError("the database returned no id for the new interview request")
            return _to_interview(conn.execute(select(_interviews).where(_interviews.c.id == int(key[0]))).mappings().one())

    def interview(self, user_id: int, interview_id: int) -> InterviewRow | None:
        return self._one_interview("read interview request", _interviews.c.id == interview_id, _interviews.c.user_id == user_id)

    def interview_by_token(self, token_hash: str) -> InterviewRow | None:
        return self._one_interview("find interview request", _interviews.c.token_hash == token_hash)

    def interviews(self, user_id: int, candidate_id: int | None = None) -> list[InterviewRow]:
        stmt = select(_interviews).where(_interviews.c.user_id == user_id).order_by(_interviews.c.id)
        if candidate_id is not None:
            stmt = stmt.where(_interviews.c.candidate_id == candidate_id)
        with self._read("read interview requests") as conn:
            return [_to_interview(row) for row in conn.execute(stmt).mappings()]

    def interviews_in(self, states: tuple[str, ...]) -> list[InterviewRow]:
        if not states:
            return []
        stmt = select(_interviews).where(_interviews.c.state.in_(list(states))).order_by(_interviews.c.id)
        with self._read("read interview requests by state") as conn:
            return [_to_interview(row) for row in conn.execute(stmt).mappings()]

    def save_interview(self, row: InterviewRow) -> InterviewRow | None:
        check_link_kind(row.link_kind)
        values = _interview_values(row)
        values["version"] = row.version + 1
        stmt = (
            update(_interviews)
            .where(_interviews.c.id == row.id, _interviews.c.user_id == row.user_id, _interviews.c.version == row.version)
            .values(values)
        )
        with self._write("save interview request") as conn:
            if conn.execute(stmt).rowcount != 1:
                return None  # the version moved on, or not this user's request
            return _to_interview(conn.execute(select(_interviews).where(_interviews.c.id == row.id)).mappings().one())

    def _one_interview(self, what: str, *where: Any) -> InterviewRow | None:
        with self._read(what) as conn:
            row = conn.execute(select(_interviews).where(*where)).mappings().first()
            return None if row is None else _to_interview(row)

    def add_transition(
        self, interview_id: int, action: str, actor: str, at: datetime, before: str, after: str, note: str
    ) -> TransitionRow:
        check_author(actor)
        when = as_utc(at)
        values: dict[str, Any] = {"interview_id": interview_id, "action": action, "actor": actor, "at": when}
        values |= {"before": before, "after": after, "note": note}
        with self._write("record interview move") as conn:
            if conn.execute(select(_interviews.c.id).where(_interviews.c.id == interview_id)).first() is None:
                raise StoreError(f"no interview request {interview_id}")
            key = conn.execute(insert(_transitions).values(values)).inserted_primary_key
            if key is None:
                raise StoreError("the database returned no id for the new interview move")
            return TransitionRow(int(key[0]), interview_id, action, actor, when, before, after, note)

    def transitions(self, interview_id: int) -> list[TransitionRow]:
        stmt = select(_transitions).where(_transitions.c.interview_id == interview_id).order_by(_transitions.c.id)
        with self._read("read interview moves") as conn:
            return [TransitionRow(**{n: r[n] for n in _TRANSITION_FIELDS}) for r in conn.execute(stmt).mappings()]

    # recruiting: chat -------------------------------------------------------------------------
    def add_message(
        self, user_id: int, candidate_id: int, author: str, body: str, at: datetime, interview_id: int | None = None
    ) -> MessageRow:
        check_author(author)
        when = as_utc(at)
        values: dict[str, Any] = {"user_id": user_id, "candidate_id": candidate_id, "interview_id": interview_id}
        values |= {"author": author, "body": body, "at": when}
        with self._write("add message") as conn:
            mine = select(_candidates.c.id).where(_candidates.c.id == candidate_id, _candidates.c.user_id == user_id)
            if conn.execute(mine).first() is None:
                raise StoreError(f"no candidate {candidate_id} of user {user_id}")
            if interview_id is not None:
                about = select(_interviews.c.id).where(
                    _interviews.c.id == interview_id,
                    _interviews.c.user_id == user_id,
                    _interviews.c.candidate_id == candidate_id,
                )
                if conn.execute(about).first() is None:
                    raise StoreError(f"no interview request {interview_id} of candidate {candidate_id}")
            key = conn.execute(insert(_messages).values(values)).inserted_primary_key
            if key is None:
                raise StoreError("the database returned no id for the new message")
            return MessageRow(int(key[0]), user_id, candidate_id, interview_id, author, body, when)

    def messages(self, user_id: int, candidate_id: int) -> list[MessageRow]:
        stmt = (
            select(_messages)
            .where(_messages.c.user_id == user_id, _messages.c.candidate_id == candidate_id)
            .order_by(_messages.c.id)
        )
        with self._read("read messages") as conn:
            return [MessageRow(**{n: r[n] for n in _MESSAGE_FIELDS}) for r in conn.execute(stmt).mappings()]

    # recruiting: the mail outbox --------------------------------------------------------------
    def add_mail(
        self, user_id: int, interview_id: int | None, kind: str, to: str, subject: str, body: str, state: str, at: datetime
    ) -> MailRow:
        check_mail_state(state)
        created = as_utc(at)
        due = created if state == "pending" else None
        values: dict[str, Any] = {"user_id": user_id, "interview_id": interview_id, "kind": kind, "to": to}
        values |= {"subject": subject, "body": body, "state": state, "created": created, "attempts": 0}
        values |= {"next_at": due, "sent_at": None, "last_error": ""}
        with self._write("add mail") as conn:
            _known_user(conn, user_id)
            if interview_id is not None:
                about = select(_interviews.c.id).where(_interviews.c.id == interview_id, _interviews.c.user_id == user_id)
                if conn.execute(about).first() is None:
                    raise StoreError(f"no interview request {interview_id} of user {user_id}")
            key = conn.execute(insert(_mails).values(values)).inserted_primary_key
            if key is None:
                raise StoreError("the database returned no id for the new mail")
            return MailRow(int(key[0]), user_id, interview_id, kind, to, subject, body, state, created, 0, due)

    def mails(self, user_id: int, limit: int = 100) -> list[MailRow]:
        if limit <= 0:
            return []
        stmt = select(_mails).where(_mails.c.user_id == user_id).order_by(_mails.c.id.desc()).limit(limit)
        with self._read("read mails") as conn:
            return [_to_mail(row) for row in conn.execute(stmt).mappings()]

    def due_mails(self, now: datetime, limit: int = 50) -> list[MailRow]:
        if limit <= 0:
            return []
        stmt = (
            select(_mails)
            .where(_mails.c.state == "pending", _mails.c.next_at <= as_utc(now))
            .order_by(_mails.c.next_at, _mails.c.id)
            .limit(limit)
        )
        with self._read("read due mails") as conn:
            return [_to_mail(row) for row in conn.execute(stmt).mappings()]

    def record_mail_attempt(
        self, mail_id: int, *, state: str, attempts: int, next_at: datetime | None, sent_at: datetime | None, error: str
    ) -> None:
        check_mail_state(state)
        values: dict[str, Any] = {"state": state, "attempts": attempts, "last_error": error}
        values["next_at"] = None if next_at is None else as_utc(next_at)
        values["sent_at"] = None if sent_at is None else as_utc(sent_at)
        with self._write("record mail attempt") as conn:
            if conn.execute(update(_mails).where(_mails.c.id == mail_id).values(values)).rowcount == 0:
                raise StoreError(f"no mail {mail_id}")

    # recruiting: the booking page's settings -----------------------------------------------------
    def booking_settings(self, user_id: int) -> str | None:
        with self._read("read booking settings") as conn:
            row = conn.execute(select(_booking_settings.c.settings).where(_booking_settings.c.user_id == user_id)).first()
            return None if row is None else str(row[0])

    def save_booking_settings(self, user_id: int, text: str, at: datetime) -> None:
        values = {"user_id": user_id, "settings": text, "updated": as_utc(at)}
        with self._write("save booking settings") as conn:
            _known_user(conn, user_id)
            _upsert(conn, _booking_settings, values, ("user_id",))


# helpers --------------------------------------------------------------------------------------
_CANDIDATE_FIELDS = CandidateRow.__slots__  # type: ignore[attr-defined]
_INTERVIEW_FIELDS = InterviewRow.__slots__  # type: ignore[attr-defined]
_INTERVIEW_KEPT = ("id", "user_id", "candidate_id", "token_hash", "version")  # not changed by save_interview
_TRANSITION_FIELDS = TransitionRow.__slots__  # type: ignore[attr-defined]
_MESSAGE_FIELDS = MessageRow.__slots__  # type: ignore[attr-defined]
_MAIL_FIELDS = MailRow.__slots__  # type: ignore[attr-defined]


def _known_user(conn: Connection, user_id: int) -> None:
    """Raise ``StoreError`` unless user ``user_id`` exists (a plain message, not the foreign key's)."""
    if conn.execute(select(_users.c.id).where(_users.c.id == user_id)).first() is None:
        raise StoreError(f"no user {user_id}")


def _to_candidate(row: Any) -> CandidateRow:
    return CandidateRow(**{name: row[name] for name in _CANDIDATE_FIELDS})


def _interview_values(row: InterviewRow) -> dict[str, Any]:
    """The columns ``save_interview`` writes, every datetime checked aware and put in UTC."""
    values: dict[str, Any] = {name: getattr(row, name) for name in _INTERVIEW_FIELDS if name not in _INTERVIEW_KEPT}
    for name in ("starts_at", "ends_at", "sent_at", "updated", "reminded_at"):
        if values[name] is not None:
            values[name] = as_utc(values[name])
    return values


def _to_interview(row: Any) -> InterviewRow:
    return InterviewRow(**{name: row[name] for name in _INTERVIEW_FIELDS})


def _to_mail(row: Any) -> MailRow:
    return MailRow(**{name: row[name] for name in _MAIL_FIELDS})


_DELIVERY_FIELDS = DeliveryRow.__slots__  # type: ignore[attr-defined]


def _to_webhook(row: Any) -> WebhookRow:
    events = tuple(str(row["events"]).split())
    return WebhookRow(
        row["id"], row["user_id"], row["url"], events, row["description"], row["secret"], bool(row["active"]),
        row["disabled_reason"], row["created"],
    )  # fmt: skip


def _to_delivery(row: Any) -> DeliveryRow:
    return DeliveryRow(**{name: row[name] for name in _DELIVERY_FIELDS})
_WEB_SESSION_FIELDS = WebSessionRow.__slots__  # type: ignore[attr-defined]
_API_TOKEN_FIELDS = ApiTokenRow.__slots__  # type: ignore[attr-defined]


def _to_user(row: Any) -> UserRow:
    return UserRow(row["id"], row["email"], row["password_hash"], row["plan"], row["created"])


def _to_api_token(row: Any) -> ApiTokenRow:
    return ApiTokenRow(**{name: row[name] for name in _API_TOKEN_FIELDS})


def _item_values(calendar: str, item: CachedItem) -> dict[str, Any]:
    return {
        "calendar": calendar,
        "href": item.href,
        "etag": item.etag,
        "uid": item.uid,
        "ics": item.ics,
        "content_hash": item.content_hash,
        "marker": item.marker,
        "error": item.error,
    }


def _to_item(row: Any) -> CachedItem:
    return CachedItem(
        href=row["href"],
        etag=row["etag"],
        uid=row["uid"],
        ics=row["ics"],
        content_hash=row["content_hash"],
        marker=row["marker"],
        error=row["error"],
    )


def _to_mirror(row: Any) -> MirrorRow:
    return MirrorRow(**{name: row[name] for name in MirrorRow.__slots__})  # type: ignore[attr-defined]


_CONNECTION_FIELDS = ConnectionRow.__slots__  # type: ignore[attr-defined]


def _to_connection(row: Any) -> ConnectionRow:
    values = {name: row[name] for name in _CONNECTION_FIELDS}
    values["extra"] = dict(values["extra"] or {})
    return ConnectionRow(**values)


def _delete_hrefs(conn: Connection, calendar: str, hrefs: Iterable[str]) -> None:
    pending: Sequence[str] = sorted(hrefs)
    for start in range(0, len(pending), _CHUNK):
        chunk = pending[start : start + _CHUNK]
        conn.execute(delete(_items).where(_items.c.calendar == calendar, _items.c.href.in_(chunk)))


def _native_insert(conn: Connection, table: Table) -> Any:
    """The dialect's INSERT with upsert support (imported here: only the dialect in use loads)."""
    name = conn.dialect.name
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    return None


def _upsert(conn: Connection, table: Table, values: dict[str, Any], keys: tuple[str, ...]) -> None:
    """Insert ``values`` or overwrite the row with the same ``keys``."""
    stmt = _native_insert(conn, table)
    if stmt is None:
        conn.execute(delete(table).where(*(table.c[k] == values[k] for k in keys)))
        conn.execute(insert(table).values(values))
        return
    stmt = stmt.values(values)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[table.c[k] for k in keys],
            set_={k: stmt.excluded[k] for k in values if k not in keys},
        )
    )


def _insert_if_missing(conn: Connection, table: Table, values: dict[str, Any], keys: tuple[str, ...]) -> None:
    """Insert ``values`` unless a row with the same ``keys`` exists."""
    stmt = _native_insert(conn, table)
    if stmt is not None:
        conn.execute(stmt.values(values).on_conflict_do_nothing(index_elements=[table.c[k] for k in keys]))
    elif conn.execute(select(table).where(*(table.c[k] == values[k] for k in keys))).first() is None:
        conn.execute(insert(table).values(values))
