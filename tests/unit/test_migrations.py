"""The packaged Alembic migrations: up, down and up again; they match the models; opening SQLite."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from mirrorcal.errors import EmailTakenError, StoreError
from mirrorcal.store.base import ConnectionRow, WebSessionRow
from mirrorcal.store.sql import Base, SqlStore, alembic_config

ACCOUNT_TABLES = {"users", "web_sessions", "api_tokens"}
TABLES_0005 = {"calendar_state", "items", "mirrors", "runs", "history", "secrets", "connections", "workspaces", "feeds"} | ACCOUNT_TABLES
TABLES_0006 = TABLES_0005 | {"webhooks", "webhook_deliveries"}
TABLES = TABLES_0006 | {"candidates", "interviews", "interview_transitions", "messages", "mails", "booking_settings"}
TABLES_0004 = TABLES_0005 - {"feeds"}
TABLES_0003 = TABLES_0004 - {"workspaces"}
TABLES_0002 = TABLES_0003 - ACCOUNT_TABLES
TABLES_0001 = TABLES_0002 - {"connections"}
PG_URL = os.environ.get("MIRRORCAL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def _diff(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    cfg = alembic_config(url=url)
    command.upgrade(cfg, "head")
    assert _tables(url) == TABLES
    command.downgrade(cfg, "base")
    assert _tables(url) == set()
    command.upgrade(cfg, "head")
    assert _tables(url) == TABLES
    assert _diff(url) == []


def test_models_match_the_migration_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    SqlStore.open(url).close()
    assert _diff(url) == []


def test_models_match_the_migration_on_postgresql() -> None:
    admin = create_engine(PG_URL)
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        admin.dispose()
        raise RuntimeError(f"PostgreSQL is needed at {PG_URL}: {exc}") from exc
    schema = f"mc_test_{uuid.uuid4().hex[:12]}"
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(False)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        SqlStore.open(url).close()
        SqlStore.open(url).close()  # a second open finds head and does nothing
        assert _tables(url) == TABLES
        assert _diff(url) == []
        command.downgrade(alembic_config(url=url), "base")
        assert _tables(url) == set()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def test_offline_sql_renders(capsys: pytest.CaptureFixture[str]) -> None:
    command.upgrade(alembic_config(url="sqlite://"), "head", sql=True)
    assert "CREATE TABLE mirrors" in capsys.readouterr().out


def test_open_creates_the_directory_and_sets_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "state.db"
    store = SqlStore.open(f"sqlite:///{path}")
    try:
        assert path.exists()
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    finally:
        store.close()


def test_open_in_memory_sqlite() -> None:
    store = SqlStore.open("sqlite://")
    try:
        assert store.secret("k") == store.secret("k")
    finally:
        store.close()


def test_open_migrates_an_old_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    SqlStore.open(url).close()
    command.downgrade(alembic_config(url=url), "base")
    store = SqlStore.open(url)
    store.close()
    assert _tables(url) == TABLES


def test_database_from_a_newer_mirrorcal_is_a_store_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    SqlStore.open(url).close()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(StoreError):
        SqlStore.open(url)


@pytest.mark.parametrize(
    "url",
    ["not a url", "nosuchdialect://x", "postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2"],
)
def test_bad_urls_are_store_errors(url: str) -> None:
    with pytest.raises(StoreError):
        SqlStore.open(url)


def test_unwritable_location_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError):
        SqlStore.open(f"sqlite:///{blocker / 'state.db'}")


def test_0002_adds_connections_to_a_0001_database_and_keeps_its_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    cfg = alembic_config(url=url)
    command.upgrade(cfg, "0001")
    assert _tables(url) == TABLES_0001
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO secrets (name, value) VALUES ('mirror-id', x'00ff')"))
    engine.dispose()

    store = SqlStore.open(url)  # an older revision is not taken for head: it migrates
    try:
        assert _tables(url) == TABLES
        assert store.secret("mirror-id") == b"\x00\xff"
        store.save_connection(ConnectionRow("work", "google", "me@example.test", "gAAAA-token"))
        assert store.connection("work") is not None
    finally:
        store.close()
    assert _diff(url) == []

    command.downgrade(cfg, "0001")
    assert _tables(url) == TABLES_0001
    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM secrets")).scalar_one() == 1
    engine.dispose()


def test_0003_adds_accounts_to_a_0002_database_and_keeps_its_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    cfg = alembic_config(url=url)
    command.upgrade(cfg, "0002")
    assert _tables(url) == TABLES_0002
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO secrets (name, value) VALUES ('mirror-id', x'00ff')"))
    engine.dispose()
    old = SqlStore(create_engine(url))  # a 0002 store, as the previous release would run it
    old.save_connection(ConnectionRow("work", "google", "me@example.test", "gAAAA-token"))
    old.close()

    store = SqlStore.open(url)
    try:
        assert _tables(url) == TABLES
        assert store.secret("mirror-id") == b"\x00\xff"
        assert store.connection("work") is not None
        now = datetime.now(UTC)
        user = store.create_user("ada@example.test", "$argon2id$...", "personal", now)
        with pytest.raises(EmailTakenError):
            store.create_user("ADA@example.test", "$argon2id$...", "professional", now)
        store.save_web_session(WebSessionRow("h" * 64, user.id, "csrf", now, now + timedelta(days=1)))
        store.create_api_token(user.id, "laptop", "t" * 64, now)
        assert store.web_session("h" * 64) is not None and store.api_token("t" * 64) is not None
    finally:
        store.close()
    assert _diff(url) == []

    command.downgrade(cfg, "0002")
    assert _tables(url) == TABLES_0002
    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM connections")).scalar_one() == 1
    engine.dispose()


def test_0004_adds_workspaces_to_a_0003_database_and_keeps_its_users(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    cfg = alembic_config(url=url)
    command.upgrade(cfg, "0003")
    assert _tables(url) == TABLES_0003
    old = SqlStore(create_engine(url))  # a 0003 store, as the previous release would run it
    ada = old.create_user("ada@example.test", "$argon2id$...", "personal", datetime.now(UTC))
    old.close()

    store = SqlStore.open(url)
    try:
        assert _tables(url) == TABLES and store.user(ada.id) == ada
        store.save_workspace(ada.id, 'timezone = "UTC"\n', datetime.now(UTC))
        assert store.workspace(ada.id) == 'timezone = "UTC"\n'
    finally:
        store.close()
    assert _diff(url) == []
    command.downgrade(cfg, "0003")
    assert _tables(url) == TABLES_0003


def test_0005_adds_feeds_to_a_0004_database_and_keeps_its_workspaces(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    cfg = alembic_config(url=url)
    command.upgrade(cfg, "0004")
    assert _tables(url) == TABLES_0004
    old = SqlStore(create_engine(url))  # a 0004 store, as the previous release would run it
    ada = old.create_user("ada@example.test", "$argon2id$...", "personal", datetime.now(UTC))
    old.save_workspace(ada.id, 'timezone = "UTC"\n', datetime.now(UTC))
    old.close()

    store = SqlStore.open(url)
    try:
        assert _tables(url) == TABLES and store.workspace(ada.id) == 'timezone = "UTC"\n'
        store.set_feed(ada.id, "f" * 64, datetime.now(UTC))
        assert store.feed_by_token("f" * 64) == store.feed(ada.id) is not None
    finally:
        store.close()
    assert _diff(url) == []
    command.downgrade(cfg, "0004")
    assert _tables(url) == TABLES_0004


def test_email_uniqueness_is_enforced_by_the_database(tmp_path: Path) -> None:
    """Not only by the store's code: two writers racing past any check still get one account."""
    url = f"sqlite:///{tmp_path / 'm.db'}"
    SqlStore.open(url).close()
    engine = create_engine(url)
    insert_user = text(
        "INSERT INTO users (email, email_key, password_hash, plan, created) "
        "VALUES (:email, :key, 'h', 'personal', '2026-03-01 09:30:00')"
    )
    try:
        with engine.begin() as conn:
            conn.execute(insert_user, {"email": "Ada@example.test", "key": "ada@example.test"})
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(insert_user, {"email": "ada@example.test", "key": "ada@example.test"})
    finally:
        engine.dispose()


def test_head_revision_constant_matches_the_migrations() -> None:
    from alembic.script import ScriptDirectory

    from mirrorcal.store.sql import HEAD_REVISION

    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD_REVISION


def test_0006_adds_webhooks_to_a_0005_database_and_keeps_its_feeds(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    cfg = alembic_config(url=url)
    command.upgrade(cfg, "0005")
    assert _tables(url) == TABLES_0005
    old = SqlStore(create_engine(url))  # a 0005 store, as the previous release would run it
    ada = old.create_user("ada@example.test", "$argon2id$...", "personal", datetime.now(UTC))
    old.set_feed(ada.id, "f" * 64, datetime.now(UTC))
    old.close()

    store = SqlStore.open(url)
    try:
        assert _tables(url) == TABLES and store.feed(ada.id) is not None
        hook = store.create_webhook(ada.id, "https://example.test/h", ("sync.failed",), "", "enc", datetime.now(UTC))
        assert store.enqueue_delivery(hook.id, "evt_1", "sync.failed", "{}", datetime.now(UTC)) is not None
        assert store.webhooks(ada.id) == [hook]
    finally:
        store.close()
    assert _diff(url) == []
    command.downgrade(cfg, "0005")
    assert _tables(url) == TABLES_0005
