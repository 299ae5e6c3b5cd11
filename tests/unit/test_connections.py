"""The connection book: secrets go in encrypted, come out clear only through ``secret``, states change."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet

from mirrorcal.connections import ConnectionBook
from mirrorcal.errors import SecretsError, StoreError
from mirrorcal.secrets import Vault
from mirrorcal.store.memory import MemoryStore

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
TOKEN = "1//0g-refresh-token"


@pytest.fixture
def book() -> ConnectionBook:
    return ConnectionBook(MemoryStore(), Vault(Fernet.generate_key()))


def test_save_encrypts_and_secret_decrypts(book: ConnectionBook) -> None:
    row = book.save("client-b", "google", "me@example.test", TOKEN, {"scopes": ["calendar.events"]}, at=T0)
    stored = book.store.connection("client-b")
    assert stored == row
    assert stored is not None and TOKEN not in stored.secret and book.vault.decrypt(stored.secret) == TOKEN
    assert (stored.kind, stored.account, stored.state, stored.message, stored.updated) == (
        "google", "me@example.test", "ok", "", T0,
    )  # fmt: skip
    assert stored.extra == {"scopes": ["calendar.events"]}
    assert book.secret("client-b") == TOKEN
    assert book.get("client-b") == row and book.list() == [row]


def test_states_round_trip(book: ConnectionBook) -> None:
    book.save("client-b", "google", "me@example.test", TOKEN)
    book.mark_needs_reauth("client-b", "Google refused the saved sign-in; run mirrorcal connect google again")
    row = book.get("client-b")
    assert row is not None and row.state == "needs_reauth" and "connect google" in row.message
    book.mark_error("client-b", "calendar not found")
    row = book.get("client-b")
    assert row is not None and (row.state, row.message) == ("error", "calendar not found")
    book.mark_ok("client-b")
    row = book.get("client-b")
    assert row is not None and (row.state, row.message) == ("ok", "")
    assert book.secret("client-b") == TOKEN


def test_saving_again_replaces_and_resets_the_state(book: ConnectionBook) -> None:
    book.save("c", "microsoft", "old@example.test", "old")
    book.mark_needs_reauth("c", "revoked")
    book.save("c", "microsoft", "new@example.test", "new")
    row = book.get("c")
    assert row is not None and (row.account, row.state, row.message) == ("new@example.test", "ok", "")
    assert book.secret("c") == "new"


def test_replace_secret_keeps_the_rest(book: ConnectionBook) -> None:
    book.save("c", "microsoft", "me@example.test", "rt-1", {"tenant": "common"})
    book.mark_error("c", "flaky")
    book.replace_secret("c", "rt-2")
    row = book.get("c")
    assert row is not None and (row.state, row.message, row.extra) == ("error", "flaky", {"tenant": "common"})
    assert book.secret("c") == "rt-2"


def test_unknown_connection_and_bad_input(book: ConnectionBook) -> None:
    with pytest.raises(StoreError, match="no stored connection named 'x'"):
        book.secret("x")
    with pytest.raises(StoreError):
        book.mark_needs_reauth("x", "gone")
    with pytest.raises(StoreError):
        book.replace_secret("x", "s")
    with pytest.raises(StoreError, match="kind must be one of"):
        book.save("x", "yahoo", "a", "s")
    with pytest.raises(StoreError, match="empty"):
        book.save("x", "icloud", "a", "")
    book.remove("x")
    assert book.list() == []


def test_wrong_key_names_the_connection_but_not_the_secret(book: ConnectionBook) -> None:
    book.save("client-b", "google", "me@example.test", TOKEN)
    other = ConnectionBook(book.store, Vault(Fernet.generate_key()))
    with pytest.raises(SecretsError, match="'client-b'.*key does not match") as info:
        other.secret("client-b")
    assert TOKEN not in str(info.value)


def test_reencrypt_moves_every_secret_to_the_new_key() -> None:
    old_key, new_key = Fernet.generate_key(), Fernet.generate_key()
    book = ConnectionBook(MemoryStore(), Vault(old_key))
    book.save("a", "google", "a@example.test", "secret-a")
    book.save("b", "icloud", "b@example.test", "secret-b")
    rotating = ConnectionBook(book.store, Vault([new_key, old_key]))
    assert rotating.reencrypt() == 2
    only_new = ConnectionBook(book.store, Vault(new_key))
    assert (only_new.secret("a"), only_new.secret("b")) == ("secret-a", "secret-b")
    with pytest.raises(SecretsError):
        book.secret("a")


def test_reencrypt_rewrites_nothing_when_one_secret_is_unreadable(book: ConnectionBook) -> None:
    book.save("a", "google", "a@example.test", "secret-a")
    stranger = ConnectionBook(book.store, Vault(Fernet.generate_key()))
    stranger.save("b", "google", "b@example.test", "secret-b")
    before = book.list()
    with pytest.raises(SecretsError, match="'b'"):
        book.reencrypt()
    assert book.list() == before

