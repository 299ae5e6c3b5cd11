"""The connection book: stored connections with their credentials, encrypted by the vault before the store sees them.

This is the one place that combines the state store and the vault. Adapters and commands ask
it for a connection's clear secret (a refresh token, an app password) when they need it, and
tell it when a provider refused that secret (``mark_needs_reauth``): the syncs of that
connection then stop, deleting nothing, until the user connects it again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from .errors import SecretsError, StoreError
from .secrets import Vault
from .store.base import ConnectionRow, Store

CONNECTION_KINDS = ("google", "microsoft", "icloud", "caldav")
"""Providers a connection may be stored for."""


class ConnectionBook:
    """Stored connections of one state store, their secrets encrypted with ``vault``.

    Rows handed out (``get``, ``list``) carry the encrypted secret only; ``secret(name)`` is the
    way to the clear text. Raises ``StoreError`` (store failures, unknown names where a
    connection must exist) and ``SecretsError`` (a secret the vault's key cannot decrypt).
    """

    def __init__(self, store: Store, vault: Vault) -> None:
        self.store = store
        self.vault = vault

    def save(
        self,
        name: str,
        kind: str,
        account: str,
        secret: str,
        extra: Mapping[str, Any] | None = None,
        *,
        at: datetime | None = None,
    ) -> ConnectionRow:
        """Store (or replace) connection ``name`` in state "ok" with ``secret`` encrypted; returns
        the stored row. Raises ``StoreError`` for an unknown ``kind`` or an empty name or secret."""
        if not name:
            raise StoreError("a connection needs a name")
        if kind not in CONNECTION_KINDS:
            raise StoreError(f"connection {name!r}: kind must be one of {', '.join(CONNECTION_KINDS)}, not {kind!r}")
        if not secret:
            raise StoreError(f"connection {name!r}: the credential is empty")
        row = ConnectionRow(
            name=name,
            kind=kind,
            account=account,
            secret=self.vault.encrypt(secret),
            state="ok",
            message="",
            updated=at or datetime.now(UTC),
            extra=dict(extra or {}),
        )
        self.store.save_connection(row)
        return row

    def get(self, name: str) -> ConnectionRow | None:
        """The stored connection (secret still encrypted), None when there is none."""
        return self.store.connection(name)

    def list(self) -> list[ConnectionRow]:
        """Every stored connection by name (secrets still encrypted)."""
        return self.store.connections()

    def secret(self, name: str) -> str:
        """The clear credential of ``name``. Raises ``StoreError`` when there is no such connection
        and ``SecretsError`` when the vault's key is not the one it was saved with."""
        row = self._require(name)
        try:
            return self.vault.decrypt(row.secret)
        except SecretsError as exc:
            raise SecretsError(f"connection {name!r}: {exc}") from None

    def replace_secret(self, name: str, secret: str, *, at: datetime | None = None) -> None:
        """Store a new credential for ``name`` (a rotated refresh token), keeping the rest."""
        if not secret:
            raise StoreError(f"connection {name!r}: the credential is empty")
        row = self._require(name)
        self.store.save_connection(replace(row, secret=self.vault.encrypt(secret), updated=at or datetime.now(UTC)))

    def mark_needs_reauth(self, name: str, message: str) -> None:
        """The provider refused the credential (revoked, expired, wrong password): record it with
        ``message`` for the user. Raises ``StoreError`` when there is no such connection."""
        self.store.set_connection_state(name, "needs_reauth", message)

    def mark_error(self, name: str, message: str) -> None:
        """Something other than the credential went wrong; ``message`` says what."""
        self.store.set_connection_state(name, "error", message)

    def mark_ok(self, name: str) -> None:
        """The connection works again; clears the message."""
        self.store.set_connection_state(name, "ok", "")

    def remove(self, name: str) -> None:
        """Forget the connection and its credential; missing is fine."""
        self.store.delete_connection(name)

    def reencrypt(self) -> int:
        """Re-encrypt every stored secret with the vault's newest key (after adding a key for
        rotation); returns how many were rewritten. Raises ``SecretsError`` for a secret no key
        of the vault can read, before anything is rewritten."""
        rows = self.store.connections()
        rotated = []
        for row in rows:
            try:
                rotated.append(replace(row, secret=self.vault.rotate(row.secret)))
            except SecretsError as exc:
                raise SecretsError(f"connection {row.name!r}: {exc}") from None
        for row in rotated:
            self.store.save_connection(row)
        return len(rotated)

    def _require(self, name: str) -> ConnectionRow:
        row = self.store.connection(name)
        if row is None:
            raise StoreError(f"no stored connection named {name!r}; connect it first (mirrorcal connect)")
        return row
