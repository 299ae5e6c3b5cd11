"""One contract suite for every ``Store``: MemoryStore, SqlStore on SQLite and on PostgreSQL.

PostgreSQL runs in a fresh schema per test (dropped afterwards) at ``MIRRORCAL_TEST_POSTGRES_URL``
(default: the local trust-auth server); an unreachable server fails the suite.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from mirrorcal.accounts import new_token, token_hash
from mirrorcal.errors import EmailTakenError, StoreError
from mirrorcal.store.base import CachedItem, ConnectionRow, MirrorRow, Store, UserRow, WebSessionRow
from mirrorcal.store.memory import MemoryStore
from mirrorcal.store.sql import SqlStore

PG_URL = os.environ.get("MIRRORCAL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


@dataclass
class Backend:
    """A store under test plus, for durable backends, a way to open another one on the same data."""

    name: str
    store: Store
    reopen: Callable[[], Store] | None = None
    opened: list[Store] = field(default_factory=list)

    def another(self) -> Store:
        assert self.reopen is not None, f"{self.name} keeps nothing beyond the object"
        store = self.reopen()
        self.opened.append(store)
        return store

    def close(self) -> None:
        for store in [self.store, *self.opened]:
            store.close()


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[Engine]:
    """The local PostgreSQL (this project's machines run one; see the README)."""
    engine = create_engine(PG_URL)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        raise RuntimeError(f"PostgreSQL is needed for the store contract suite at {PG_URL}: {exc}") from exc
    yield engine
    engine.dispose()


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from _backend(request.param, request, tmp_path)


@pytest.fixture(params=["sqlite", "postgresql"])
def durable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Only the stores that keep data beyond the object: a second store can open the same data."""
    yield from _backend(request.param, request, tmp_path)


def _backend(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if kind == "memory":
        b = Backend(kind, MemoryStore())
        yield b
        b.close()
    elif kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'state' / 'mirrorcal.db'}"
        b = Backend(kind, SqlStore.open(url), lambda: SqlStore.open(url))
        yield b
        b.close()
    else:
        admin: Engine = request.getfixturevalue("pg_admin")
        schema = f"mc_test_{uuid.uuid4().hex[:12]}"
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        url_text = url.render_as_string(hide_password=False)
        try:
            b = Backend(kind, SqlStore.open(url_text), lambda: SqlStore.open(url_text))
            yield b
            b.close()
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def store(backend: Backend) -> Store:
    return backend.store


def item(href: str, n: int = 0, **changes: object) -> CachedItem:
    base = CachedItem(
        href=href,
        etag=f'"e{n}"',
        uid=f"uid-{href}",
        ics=f"BEGIN:VCALENDAR\r\nSUMMARY:Réunion {n} ✓\r\nEND:VCALENDAR\r\n",
        content_hash=f"h{n}",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def mirror(sync: str, key: str, uid: str, **changes: object) -> MirrorRow:
    base = MirrorRow(
        sync=sync,
        origin_key=key,
        mirror_uid=uid,
        href=f"/target/{uid}.ics",
        etag='"m1"',
        source_hash="s1",
        mirror_hash="m1",
        origin_calendar="client-a",
        origin_client="Acme",
        root_key=f"root-{key}",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


# cursors and cached items ---------------------------------------------------------------------
def test_cursor_unknown_calendar_is_none_and_has_no_items(store: Store) -> None:
    assert store.get_cursor("nowhere") is None
    assert store.items("nowhere") == {}


def test_apply_listing_stores_items_and_cursor(store: Store) -> None:
    a, b = item("/a.ics", 1), item("/b.ics", 2, etag=None, marker="mc-123", error="bad DTSTART")
    store.apply_listing("cal", [a, b], [], "token-1", full=True)
    assert store.get_cursor("cal") == "token-1"
    assert store.items("cal") == {"/a.ics": a, "/b.ics": b}


def test_stamps_are_the_items_without_their_text_and_items_at_reads_some(store: Store) -> None:
    a, b = item("/a.ics", 1), item("/b.ics", 2, etag=None, marker="mc-123", error="bad DTSTART")
    store.apply_listing("cal", [a, b], [], "token-1", full=True)
    assert store.stamps("cal") == {"/a.ics": replace(a, ics=""), "/b.ics": replace(b, ics="", error=None)}
    assert store.stamps("nowhere") == {}
    assert store.items_at("cal", ["/b.ics", "/gone.ics"]) == {"/b.ics": b}
    many = [item(f"/m/{i:04d}.ics", i) for i in range(1200)]  # more than one chunk of bound parameters
    store.apply_listing("big", many, [], "t", full=True)
    wanted = [f"/m/{i:04d}.ics" for i in range(0, 1200, 2)] + ["/m/none.ics"]
    assert store.items_at("big", wanted) == {i.href: i for i in many[::2]}
    assert store.items_at("big", []) == {}


def test_full_listing_replaces_the_cache(store: Store) -> None:
    store.apply_listing("cal", [item("/a.ics"), item("/b.ics")], [], "t1", full=True)
    c = item("/c.ics")
    store.apply_listing("cal", [c], ["/ignored.ics"], "t2", full=True)
    assert store.items("cal") == {"/c.ics": c}
    assert store.get_cursor("cal") == "t2"


def test_incremental_listing_upserts_and_removes(store: Store) -> None:
    a, b, c = item("/a.ics", 1), item("/b.ics", 1), item("/c.ics", 1)
    store.apply_listing("cal", [a, b, c], [], "t1", full=True)
    a2, d = item("/a.ics", 2), item("/d.ics", 1)
    store.apply_listing("cal", [a2, d], ["/b.ics", "/never-seen.ics"], "t2", full=False)
    assert store.items("cal") == {"/a.ics": a2, "/c.ics": c, "/d.ics": d}
    assert store.get_cursor("cal") == "t2"


def test_listing_can_clear_the_cursor(store: Store) -> None:
    store.apply_listing("cal", [item("/a.ics")], [], "t1", full=True)
    store.apply_listing("cal", [], [], None, full=False)
    assert store.get_cursor("cal") is None
    assert set(store.items("cal")) == {"/a.ics"}


def test_repeated_href_in_one_listing_keeps_the_last(store: Store) -> None:
    store.apply_listing("cal", [item("/a.ics", 1), item("/a.ics", 2)], [], "t", full=True)
    assert store.items("cal") == {"/a.ics": item("/a.ics", 2)}


def test_calendars_are_independent(store: Store) -> None:
    store.apply_listing("one", [item("/a.ics", 1)], [], "t1", full=True)
    store.apply_listing("two", [item("/a.ics", 2)], [], "t2", full=True)
    store.apply_listing("one", [], [], "t3", full=True)
    assert store.items("one") == {}
    assert store.items("two") == {"/a.ics": item("/a.ics", 2)}
    assert store.get_cursor("two") == "t2"


def test_large_listings(store: Store) -> None:
    many = [item(f"/cal/{i:05d}.ics", i) for i in range(2500)]
    store.apply_listing("big", many, [], "t1", full=True)
    assert len(store.items("big")) == 2500
    changed = [item(f"/cal/{i:05d}.ics", i + 1) for i in range(0, 2500, 2)]
    gone = [f"/cal/{i:05d}.ics" for i in range(1, 2500, 2)][:1000]
    store.apply_listing("big", changed, gone, "t2", full=False)
    cached = store.items("big")
    assert len(cached) == 1500
    assert cached["/cal/00000.ics"] == item("/cal/00000.ics", 1)
    assert cached["/cal/02499.ics"] == item("/cal/02499.ics", 2499)


def test_put_and_remove_item(store: Store) -> None:
    store.put_item("cal", item("/a.ics", 1))
    store.put_item("cal", item("/a.ics", 2, marker="mc-x"))
    store.put_item("cal", item("/b.ics", 1))
    assert store.items("cal") == {"/a.ics": item("/a.ics", 2, marker="mc-x"), "/b.ics": item("/b.ics", 1)}
    store.remove_item("cal", "/b.ics")
    store.remove_item("cal", "/b.ics")
    store.remove_item("elsewhere", "/a.ics")
    assert set(store.items("cal")) == {"/a.ics"}
    assert store.get_cursor("cal") is None


def test_forget_calendar(store: Store) -> None:
    store.apply_listing("cal", [item("/a.ics")], [], "t1", full=True)
    store.apply_listing("keep", [item("/k.ics")], [], "tk", full=True)
    store.save_mirror(mirror("s", "k", "mc-1"))
    store.forget_calendar("cal")
    store.forget_calendar("never-known")
    assert store.get_cursor("cal") is None
    assert store.items("cal") == {}
    assert store.get_cursor("keep") == "tk"
    assert set(store.items("keep")) == {"/k.ics"}
    assert set(store.mirrors("s")) == {"k"}


# mirrors --------------------------------------------------------------------------------------
def test_mirrors_save_upsert_find_delete(store: Store) -> None:
    m1, m2 = mirror("s1", "k1", "mc-1"), mirror("s1", "k2", "mc-2", etag=None, origin_client=None)
    other = mirror("s2", "k1", "mc-3", state="forgotten")
    for row in (m1, m2, other):
        store.save_mirror(row)
    assert store.mirrors("s1") == {"k1": m1, "k2": m2}
    assert store.mirrors("s2") == {"k1": other}
    assert store.mirrors("s3") == {}

    m1b = replace(m1, etag='"m2"', mirror_hash="m2", href="/target/moved.ics")
    store.save_mirror(m1b)
    assert store.mirrors("s1")["k1"] == m1b
    assert store.mirror_by_uid("mc-1") == m1b
    assert store.mirror_by_uid("mc-3") == other
    assert store.mirror_by_uid("missing") is None

    store.delete_mirror("s1", "k1")
    store.delete_mirror("s1", "k1")
    assert store.mirrors("s1") == {"k2": m2}
    assert store.mirror_by_uid("mc-1") is None


def test_mirror_uid_is_unique(store: Store) -> None:
    store.save_mirror(mirror("s1", "k1", "mc-1"))
    with pytest.raises(StoreError):
        store.save_mirror(mirror("s2", "k9", "mc-1"))
    assert store.mirrors("s2") == {}
    assert store.mirror_by_uid("mc-1") == mirror("s1", "k1", "mc-1")


def test_a_mirror_can_change_its_uid(store: Store) -> None:
    store.save_mirror(mirror("s1", "k1", "mc-1"))
    store.save_mirror(mirror("s1", "k1", "mc-2"))
    assert store.mirror_by_uid("mc-1") is None
    assert store.mirror_by_uid("mc-2") == mirror("s1", "k1", "mc-2")


# runs and history -----------------------------------------------------------------------------
def test_runs_start_finish_last(store: Store) -> None:
    assert store.last_run("s") is None
    r1 = store.start_run("s", T0)
    r2 = store.start_run("other", T0)
    run = store.last_run("s")
    assert run is not None
    assert (run.id, run.sync, run.started_at, run.finished_at, run.counts, run.error) == (r1, "s", T0, None, {}, None)

    store.finish_run(r1, T0 + timedelta(seconds=3), {"create": 2, "skip": 5}, None)
    r3 = store.start_run("s", T0 + timedelta(minutes=5))
    assert len({r1, r2, r3}) == 3 and r3 > r1
    store.finish_run(r3, T0 + timedelta(minutes=6), {}, "provider said no")
    last = store.last_run("s")
    assert last is not None
    assert (last.id, last.finished_at, last.counts, last.error) == (r3, T0 + timedelta(minutes=6), {}, "provider said no")


def test_finished_counts_round_trip(store: Store) -> None:
    r = store.start_run("s", T0)
    counts = {"create": 3, "update": 0, "delete": 1}
    store.finish_run(r, T0, counts, None)
    counts["create"] = 99
    last = store.last_run("s")
    assert last is not None and last.counts == {"create": 3, "update": 0, "delete": 1}


def test_datetimes_come_back_aware_in_utc(store: Store) -> None:
    paris = timezone(timedelta(hours=1))
    r = store.start_run("s", datetime(2026, 3, 1, 10, 30, tzinfo=paris))
    store.record(r, "s", "k", "create", "new", "Busy", datetime(2026, 3, 1, 10, 31, tzinfo=paris))
    run = store.last_run("s")
    assert run is not None and run.started_at == T0
    assert run.started_at.utcoffset() == timedelta(0)
    at = store.history("s")[0].at
    assert at == T0 + timedelta(minutes=1) and at.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(StoreError):
        store.start_run("s", datetime(2026, 3, 1, 9, 30))
    r = store.start_run("s", T0)
    with pytest.raises(StoreError):
        store.finish_run(r, datetime(2026, 3, 1, 9, 31), {}, None)


def test_unknown_run_is_an_error(store: Store) -> None:
    with pytest.raises(StoreError):
        store.finish_run(424242, T0, {}, None)
    with pytest.raises(StoreError):
        store.record(424242, "s", "k", "create", "new", "x", T0)
    assert store.history() == []


def test_history_newest_first_filtered_and_limited(store: Store) -> None:
    r1 = store.start_run("s1", T0)
    r2 = store.start_run("s2", T0)
    for i in range(5):
        store.record(r1, "s1", f"k{i}", "create", "new event", f"event {i}", T0 + timedelta(seconds=i))
        store.record(r2, "s2", f"k{i}", "skip", "declined", f"other {i}", T0 + timedelta(seconds=i))
    s1 = store.history("s1")
    assert [h.origin_key for h in s1] == ["k4", "k3", "k2", "k1", "k0"]
    h = s1[0]
    assert (h.run_id, h.sync, h.action, h.reason, h.summary, h.at) == (
        r1,
        "s1",
        "create",
        "new event",
        "event 4",
        T0 + timedelta(seconds=4),
    )
    everything = store.history()
    assert [(h.sync, h.origin_key) for h in everything[:3]] == [("s2", "k4"), ("s1", "k4"), ("s2", "k3")]
    assert len(everything) == 10
    assert [h.origin_key for h in store.history("s2", limit=2)] == ["k4", "k3"]
    assert len(store.history(limit=3)) == 3
    assert store.history("nobody") == []
    assert store.history(limit=0) == []


# secrets --------------------------------------------------------------------------------------
def test_secret_is_random_and_stable(store: Store) -> None:
    key = store.secret("mirror-id")
    assert isinstance(key, bytes) and len(key) == 32
    assert store.secret("mirror-id") == key
    assert store.secret("another") != key


# connections ------------------------------------------------------------------------------------
def connection(name: str, **changes: object) -> ConnectionRow:
    base = ConnectionRow(
        name=name,
        kind="google",
        account="recruiter@example.test",
        secret=f"gAAAAA-encrypted-{name}",
        state="ok",
        message="",
        updated=T0,
        extra={"scopes": ["calendar.events", "calendar.readonly"], "token_endpoint": "http://127.0.0.1/t", "n": 3},
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_connections_save_get_list_replace_delete(store: Store) -> None:
    assert store.connection("work") is None and store.connections() == []
    work = connection("work")
    icloud = connection("Home-icloud", kind="icloud", account="ada@icloud.example", extra={}, message="ünïcode ✓")
    store.save_connection(work)
    store.save_connection(icloud)
    assert store.connection("work") == work
    assert store.connections() == [icloud, work]  # by name (code-point order)

    moved = replace(work, kind="microsoft", secret="gAAAAA-other", state="error", message="no", extra={"a": {"b": [1, None]}})
    store.save_connection(moved)
    assert store.connection("work") == moved
    assert len(store.connections()) == 2

    store.delete_connection("work")
    store.delete_connection("work")
    store.delete_connection("never")
    assert store.connection("work") is None
    assert store.connections() == [icloud]


def test_connection_state_changes(store: Store) -> None:
    store.save_connection(connection("work"))
    later = T0 + timedelta(hours=2)
    store.set_connection_state("work", "needs_reauth", "Google refused the refresh token: sign in again", at=later)
    row = store.connection("work")
    assert row is not None
    assert (row.state, row.message, row.updated) == ("needs_reauth", "Google refused the refresh token: sign in again", later)
    assert row.secret == connection("work").secret and row.extra == connection("work").extra
    before = datetime.now(UTC)
    store.set_connection_state("work", "ok", "")
    row = store.connection("work")
    assert row is not None and row.state == "ok" and row.message == ""
    assert row.updated is not None and before - timedelta(seconds=5) <= row.updated <= datetime.now(UTC) + timedelta(seconds=5)


def test_connection_state_of_an_unknown_connection_or_state_is_an_error(store: Store) -> None:
    with pytest.raises(StoreError):
        store.set_connection_state("nobody", "ok", "")
    store.save_connection(connection("work"))
    with pytest.raises(StoreError):
        store.set_connection_state("work", "broken", "")
    with pytest.raises(StoreError):
        store.save_connection(connection("other", state="fine"))
    assert [c.name for c in store.connections()] == ["work"]
    assert store.connection("work") == connection("work")


def test_connection_datetimes_are_utc_and_naive_ones_refused(store: Store) -> None:
    paris = timezone(timedelta(hours=1))
    store.save_connection(connection("work", updated=datetime(2026, 3, 1, 10, 30, tzinfo=paris)))
    row = store.connection("work")
    assert row is not None and row.updated == T0 and row.updated.utcoffset() == timedelta(0)
    with pytest.raises(StoreError):
        store.save_connection(connection("naive", updated=datetime(2026, 3, 1, 9, 30)))
    with pytest.raises(StoreError):
        store.set_connection_state("work", "ok", "", at=datetime(2026, 3, 1, 9, 30))
    assert store.connection("naive") is None
    saved = store.connection("work")
    assert saved is not None and saved.updated == T0


def test_connection_without_updated_gets_now(store: Store) -> None:
    before = datetime.now(UTC)
    store.save_connection(connection("work", updated=None))
    row = store.connection("work")
    assert row is not None and row.updated is not None
    assert before - timedelta(seconds=5) <= row.updated <= datetime.now(UTC) + timedelta(seconds=5)


def test_connection_extra_is_json_and_a_copy(store: Store) -> None:
    extra = {"scopes": ["a"], "nested": {"k": "v"}}
    store.save_connection(connection("work", extra=extra))
    extra["scopes"].append("changed after saving")
    row = store.connection("work")
    assert row is not None and row.extra == {"scopes": ["a"], "nested": {"k": "v"}}
    row.extra["scopes"].append("changed after reading")
    again = store.connection("work")
    assert again is not None and again.extra == {"scopes": ["a"], "nested": {"k": "v"}}
    with pytest.raises(StoreError):
        store.save_connection(connection("bad", extra={"when": T0}))
    assert store.connection("bad") is None


def test_connections_are_durable(durable: Backend) -> None:
    durable.store.save_connection(connection("work"))
    durable.store.set_connection_state("work", "needs_reauth", "sign in again", at=T0)
    second = durable.another()
    assert second.connection("work") == connection("work", state="needs_reauth", message="sign in again")
    second.delete_connection("work")
    assert durable.store.connections() == []


def test_stored_credentials_are_never_in_clear_in_the_database(durable: Backend) -> None:
    from cryptography.fernet import Fernet

    from mirrorcal.connections import ConnectionBook
    from mirrorcal.secrets import Vault

    clear = "1//refresh-TOKEN-in-clear-9f3a7c"
    rotated = "app-pass-word-in-clear-abcd"
    account = "visible-account@example.test"
    book = ConnectionBook(durable.store, Vault(Fernet.generate_key()))
    book.save("client-b", "google", account, clear, {"scopes": ["calendar.events"]})
    book.save("icloud", "icloud", "ada@icloud.example", rotated)
    book.mark_needs_reauth("client-b", "Google says the sign-in was revoked")
    book.replace_secret("icloud", rotated + "-2")
    assert book.secret("client-b") == clear and book.secret("icloud") == rotated + "-2"

    raw = _raw_database(durable)
    assert account.encode() in raw  # the scan sees what was stored...
    for secret in (clear, rotated, rotated + "-2"):  # ...and no secret is there in clear
        for form in (secret.encode(), secret.encode("utf-16-le"), secret.encode().hex().encode()):
            assert form not in raw


def _raw_database(durable: Backend) -> bytes:
    """Everything the database holds: the SQLite files' bytes, or every column of every table."""
    engine = durable.store.engine  # type: ignore[attr-defined]
    if engine.dialect.name == "sqlite":
        durable.store.close()  # checkpoints the WAL into the file; any -wal/-shm left is read too
        folder = Path(engine.url.database).parent
        return b"".join(p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file())
    chunks: list[bytes] = []
    with engine.connect() as conn:
        columns = conn.execute(
            text("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()")
        ).all()
        assert {table for table, _ in columns} >= {"connections", "secrets", "items"}
        for table, column in columns:
            for (value,) in conn.execute(text(f'SELECT "{column}"::text FROM "{table}"')):
                chunks.append(str(value).encode())
    return b"\n".join(chunks)


# durability (durable backends only) ---------------------------------------------------------------
def test_second_store_sees_committed_writes_without_close(durable: Backend) -> None:
    first = durable.store
    first.apply_listing("cal", [item("/a.ics")], [], "t1", full=True)
    first.save_mirror(mirror("s", "k", "mc-1"))
    run = first.start_run("s", T0)
    key = first.secret("mirror-id")

    second = durable.another()
    assert second.get_cursor("cal") == "t1"
    assert second.items("cal") == {"/a.ics": item("/a.ics")}
    assert second.mirror_by_uid("mc-1") == mirror("s", "k", "mc-1")
    assert second.secret("mirror-id") == key

    second.finish_run(run, T0 + timedelta(seconds=1), {"create": 1}, None)
    second.record(run, "s", "k", "create", "new", "x", T0)
    last = first.last_run("s")
    assert last is not None and last.counts == {"create": 1}
    assert [h.origin_key for h in first.history("s")] == ["k"]


def test_secret_survives_reopen(durable: Backend) -> None:
    key = durable.store.secret("mirror-id")
    durable.store.close()
    again = durable.another()
    assert again.secret("mirror-id") == key
    assert again.secret("mirror-id") == key


def test_concurrent_writers_on_one_database(durable: Backend) -> None:
    stores = [durable.store, durable.another()]
    run = durable.store.start_run("s", T0)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        store = stores[n % 2]
        try:
            for i in range(25):
                store.record(run, "s", f"w{n}-{i}", "create", "new", "x", T0)
                store.put_item("cal", item(f"/w{n}-{i}.ics"))
                store.secret("shared")
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(durable.store.history("s", limit=1000)) == 100
    assert len(stores[1].items("cal")) == 100
    assert stores[0].secret("shared") == stores[1].secret("shared")


# accounts: users, web sessions, API tokens --------------------------------------------------------
HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"  # the store treats it as opaque text
PARIS = timezone(timedelta(hours=1))


def user(store: Store, email: str = "ada@example.test", plan: str = "personal") -> UserRow:
    return store.create_user(email, HASH, plan, T0)


def session(user_id: int, expires_in: timedelta = timedelta(days=14), **changes: object) -> WebSessionRow:
    now = datetime.now(UTC)
    base = WebSessionRow(token_hash(new_token()), user_id, new_token(), now, now + expires_in)
    return replace(base, **changes)  # type: ignore[arg-type]


def test_users_create_and_find(store: Store) -> None:
    assert store.user(1) is None and store.user_by_email("ada@example.test") is None
    ada = store.create_user("ada@example.test", HASH, "personal", datetime(2026, 3, 1, 10, 30, tzinfo=PARIS))
    bob = store.create_user("bob@example.test", HASH + "2", "professional", T0)
    assert ada == UserRow(ada.id, "ada@example.test", HASH, "personal", T0)
    assert ada.created.utcoffset() == timedelta(0)
    assert ada.id != bob.id
    assert store.user(ada.id) == ada and store.user(bob.id) == bob
    assert store.user_by_email("ada@example.test") == ada
    assert store.user_by_email("ADA@Example.TEST") == ada
    assert store.user_by_email("ada@example.tes") is None
    assert store.user(max(ada.id, bob.id) + 1000) is None


def test_an_email_is_taken_whatever_its_case(store: Store) -> None:
    ada = user(store, "Ada@Example.test")
    with pytest.raises(EmailTakenError) as raised:
        store.create_user("ada@example.TEST", "other", "professional", T0)
    assert isinstance(raised.value, StoreError) and raised.value.email == "ada@example.TEST"
    assert store.user_by_email("ada@example.test") == ada
    assert user(store, "ada2@example.test").id != ada.id  # the store still works after the refusal


def test_bad_user_values_are_store_errors(store: Store) -> None:
    with pytest.raises(StoreError) as raised:
        store.create_user("ada@example.test", HASH, "enterprise", T0)
    assert not isinstance(raised.value, EmailTakenError)
    with pytest.raises(StoreError):
        store.create_user("ada@example.test", HASH, "personal", datetime(2026, 3, 1, 9, 30))
    assert store.user_by_email("ada@example.test") is None


def test_password_hash_and_plan_change(store: Store) -> None:
    ada, bob = user(store), user(store, "bob@example.test")
    store.set_password_hash(ada.id, "$argon2id$new")
    store.set_plan(ada.id, "professional")
    assert store.user(ada.id) == replace(ada, password_hash="$argon2id$new", plan="professional")
    assert store.user(bob.id) == bob
    with pytest.raises(StoreError):
        store.set_plan(ada.id, "gold")
    missing = max(ada.id, bob.id) + 1000
    with pytest.raises(StoreError):
        store.set_plan(missing, "personal")
    with pytest.raises(StoreError):
        store.set_password_hash(missing, HASH)
    assert store.user(ada.id) == replace(ada, password_hash="$argon2id$new", plan="professional")


def test_web_sessions_save_find_replace_delete(store: Store) -> None:
    ada, bob = user(store), user(store, "bob@example.test")
    s1, s2, other = session(ada.id), session(ada.id), session(bob.id)
    for row in (s1, s2, other):
        store.save_web_session(row)
    assert store.web_session(s1.token_hash) == s1
    assert store.web_session(token_hash("never issued")) is None

    longer = replace(s1, expires=s1.expires + timedelta(days=1), csrf="rotated")
    store.save_web_session(longer)
    assert store.web_session(s1.token_hash) == longer

    store.delete_web_session(s1.token_hash)
    store.delete_web_session(s1.token_hash)
    assert store.web_session(s1.token_hash) is None and store.web_session(s2.token_hash) == s2
    store.save_web_session(s1)
    store.delete_web_sessions(ada.id)
    store.delete_web_sessions(ada.id)
    assert store.web_session(s1.token_hash) is None and store.web_session(s2.token_hash) is None
    assert store.web_session(other.token_hash) == other


def test_expired_web_sessions_count_as_absent(store: Store) -> None:
    ada = user(store)
    gone = session(ada.id, expires_in=-timedelta(seconds=1))
    soon = session(ada.id, expires_in=timedelta(seconds=30))
    store.save_web_session(soon)
    store.save_web_session(gone)  # saved last: no later save of ada's clears it out
    assert store.web_session(gone.token_hash) is None
    assert store.web_session(soon.token_hash) == soon


def test_web_session_datetimes_are_utc_and_bad_rows_refused(store: Store) -> None:
    ada = user(store)
    start = datetime.now(PARIS).replace(microsecond=0)
    row = session(ada.id, created=start, expires=start + timedelta(days=14))
    store.save_web_session(row)
    saved = store.web_session(row.token_hash)
    assert saved == row and saved.expires.utcoffset() == timedelta(0) and saved.created.utcoffset() == timedelta(0)
    naive = session(ada.id, expires=datetime.now() + timedelta(days=1))
    with pytest.raises(StoreError):
        store.save_web_session(naive)
    stranger = session(ada.id + 1000)
    with pytest.raises(StoreError):
        store.save_web_session(stranger)
    assert store.web_session(naive.token_hash) is None and store.web_session(stranger.token_hash) is None


def test_api_tokens_create_find_list_touch_delete(store: Store) -> None:
    ada, bob = user(store), user(store, "bob@example.test")
    h1, h2, h3 = (token_hash(new_token()) for _ in range(3))
    laptop = store.create_api_token(ada.id, "laptop", h1, datetime(2026, 3, 1, 10, 30, tzinfo=PARIS))
    ci = store.create_api_token(ada.id, "CI ✓", h2, T0 + timedelta(hours=1))
    bobs = store.create_api_token(bob.id, "laptop", h3, T0)
    assert (laptop.user_id, laptop.name, laptop.token_hash, laptop.created, laptop.last_used) == (ada.id, "laptop", h1, T0, None)
    assert len({laptop.id, ci.id, bobs.id}) == 3
    assert store.api_token(h1) == laptop and store.api_token(h3) == bobs
    assert store.api_token(token_hash("never issued")) is None
    assert store.api_tokens(ada.id) == [laptop, ci]
    assert store.api_tokens(bob.id) == [bobs]

    used = datetime(2026, 3, 2, 8, 0, tzinfo=PARIS)
    store.touch_api_token(laptop.id, used)
    touched = store.api_token(h1)
    assert touched == replace(laptop, last_used=used) and touched.last_used.utcoffset() == timedelta(0)

    assert store.delete_api_token(bob.id, laptop.id) is False  # not bob's: nothing happens
    assert store.api_token(h1) == touched
    assert store.delete_api_token(ada.id, laptop.id) is True
    assert store.delete_api_token(ada.id, laptop.id) is False
    assert store.api_token(h1) is None
    assert store.api_tokens(ada.id) == [ci] and store.api_tokens(bob.id) == [bobs]
    store.touch_api_token(laptop.id, used)  # deleted meanwhile: ignored
    assert store.api_tokens(ada.id) == [ci]


def test_bad_api_tokens_are_store_errors(store: Store) -> None:
    ada = user(store)
    h = token_hash(new_token())
    token = store.create_api_token(ada.id, "laptop", h, T0)
    with pytest.raises(StoreError):
        store.create_api_token(ada.id, "again", h, T0)
    with pytest.raises(StoreError):
        store.create_api_token(ada.id + 1000, "stranger", token_hash(new_token()), T0)
    with pytest.raises(StoreError):
        store.create_api_token(ada.id, "naive", token_hash(new_token()), datetime(2026, 3, 1, 9, 30))
    with pytest.raises(StoreError):
        store.touch_api_token(token.id, datetime(2026, 3, 1, 9, 30))
    assert store.api_tokens(ada.id) == [token]


def test_accounts_are_durable(durable: Backend) -> None:
    first = durable.store
    ada = user(first)
    web = session(ada.id)
    first.save_web_session(web)
    token = first.create_api_token(ada.id, "laptop", token_hash(new_token()), T0)
    second = durable.another()
    assert second.user_by_email("ADA@example.test") == ada
    assert second.web_session(web.token_hash) == web
    assert second.api_tokens(ada.id) == [token]
    with pytest.raises(EmailTakenError):
        user(second)
    second.delete_web_sessions(ada.id)
    assert first.web_session(web.token_hash) is None


def test_saving_a_session_drops_the_users_expired_ones(durable: Backend) -> None:
    ada, bob = user(durable.store), user(durable.store, "bob@example.test")
    for row in (session(ada.id, expires_in=-timedelta(minutes=1)), session(bob.id, expires_in=-timedelta(minutes=1))):
        durable.store.save_web_session(row)
    durable.store.save_web_session(session(ada.id))
    engine = durable.store.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT user_id, expires FROM web_sessions ORDER BY user_id")).all()
    assert [user_id for user_id, _ in rows] == sorted([ada.id, bob.id])  # ada's live one, bob's expired one


def test_concurrent_signups_with_one_email_make_one_account(durable: Backend) -> None:
    stores = [durable.store, durable.another()]
    created: list[UserRow] = []
    taken: list[EmailTakenError] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def signup(n: int) -> None:
        barrier.wait()
        try:
            email = "Same@Example.test" if n % 2 else "same@example.TEST"
            created.append(stores[n % 2].create_user(email, HASH, "personal", T0))
        except EmailTakenError as exc:
            taken.append(exc)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=signup, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(created) == 1 and len(taken) == 5
    assert stores[1].user_by_email("same@example.test") == created[0]


# workspaces: each account's setup document ----------------------------------------------------------
DOC = 'timezone = "Europe/London"\n\n[calendars."client.a"]\nkind = "ics"\nurl = "https://x.example/ü.ics"\n'


def test_workspace_save_read_replace_per_user(store: Store) -> None:
    ada, bob = user(store), user(store, "bob@example.test")
    assert store.workspace(ada.id) is None and store.workspace(bob.id) is None
    store.save_workspace(ada.id, DOC, T0)
    assert store.workspace(ada.id) == DOC and store.workspace(bob.id) is None
    store.save_workspace(ada.id, "", T0 + timedelta(minutes=1))
    assert store.workspace(ada.id) == ""
    store.save_workspace(bob.id, DOC * 50, T0)
    assert store.workspace(bob.id) == DOC * 50 and store.workspace(ada.id) == ""
    assert store.workspace_users() == [bob.id]  # an emptied document is no workspace
    store.save_workspace(ada.id, DOC, T0)
    assert store.workspace_users() == sorted([ada.id, bob.id])


def test_bad_workspaces_are_store_errors(store: Store) -> None:
    ada = user(store)
    with pytest.raises(StoreError):
        store.save_workspace(ada.id + 1000, DOC, T0)
    with pytest.raises(StoreError):
        store.save_workspace(ada.id, DOC, datetime(2026, 3, 1, 9, 30))
    assert store.workspace(ada.id) is None and store.workspace(ada.id + 1000) is None


def test_workspaces_are_durable(durable: Backend) -> None:
    ada = user(durable.store)
    durable.store.save_workspace(ada.id, DOC, T0)
    assert durable.another().workspace(ada.id) == DOC


# busy-only feeds: one secret URL per account, known by its hash ------------------------------------
def test_feed_create_find_replace_delete(store: Store) -> None:
    ada, bob = user(store), user(store, "bob@example.test")
    first, second, bobs = (token_hash(new_token()) for _ in range(3))
    assert store.feed(ada.id) is None and store.feed_by_token(first) is None
    row = store.set_feed(ada.id, first, datetime(2026, 3, 1, 10, 30, tzinfo=PARIS))
    assert row.user_id == ada.id and row.token_hash == first and row.created == T0
    assert row.created.utcoffset() == timedelta(0)
    assert store.feed(ada.id) == row == store.feed_by_token(first)
    store.set_feed(bob.id, bobs, T0)
    replaced = store.set_feed(ada.id, second, T0 + timedelta(hours=1))
    assert store.feed_by_token(first) is None  # the old URL no longer finds it
    assert store.feed(ada.id) == replaced == store.feed_by_token(second)
    assert store.feed_by_token(bobs) is not None and store.feed_by_token(bobs).user_id == bob.id  # type: ignore[union-attr]
    assert store.delete_feed(ada.id) is True and store.delete_feed(ada.id) is False
    assert store.feed(ada.id) is None and store.feed_by_token(second) is None
    assert store.feed(bob.id) is not None


def test_bad_feeds_are_store_errors(store: Store) -> None:
    ada, bob = user(store), user(store, "bob@example.test")
    taken = token_hash(new_token())
    store.set_feed(ada.id, taken, T0)
    with pytest.raises(StoreError):
        store.set_feed(ada.id + bob.id + 1000, token_hash(new_token()), T0)
    with pytest.raises(StoreError):
        store.set_feed(bob.id, taken, T0)  # another account's token hash
    with pytest.raises(StoreError):
        store.set_feed(bob.id, token_hash(new_token()), datetime(2026, 3, 1, 9, 30))
    assert store.feed(bob.id) is None and store.feed(ada.id) is not None
    assert store.feed_by_token(taken).user_id == ada.id  # type: ignore[union-attr]


def test_feeds_are_durable(durable: Backend) -> None:
    ada = user(durable.store)
    hashed = token_hash(new_token())
    row = durable.store.set_feed(ada.id, hashed, T0)
    assert durable.another().feed_by_token(hashed) == row
