"""Credentials encrypted at rest: a Fernet ``Vault`` and where its key comes from.

Refresh tokens and app passwords are stored only as Fernet tokens (AES-128-CBC + HMAC-SHA256,
from the ``cryptography`` package). The key comes from ``MIRRORCAL_SECRET_KEY`` (one or more
Fernet keys separated by commas, the newest first) or from a key file created on first use
with mode 0600 next to the state database. Several keys make rotation possible: tokens are
written with the first and read with any (``Vault.rotate`` re-encrypts with the first).

Nothing here ever puts a key or a clear secret into an exception message.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from .errors import SecretsError

KEY_ENV = "MIRRORCAL_SECRET_KEY"
KEY_FILE_NAME = "secret.key"
_READ_ATTEMPTS = 50  # ~1 s for a key file another process is still writing (no-hard-link fallback)


class Vault:
    """Encrypts and decrypts text with one Fernet key, or several for rotation.

    ``Vault(key)`` or ``Vault([newest, older, ...])``: ``encrypt`` uses the first key, ``decrypt``
    accepts a token made with any of them. Keys are url-safe base64 of 32 bytes
    (``Vault.generate_key()``); a malformed one raises ``SecretsError`` (without echoing it).
    """

    def __init__(self, key: bytes | str | Sequence[bytes | str]) -> None:
        keys = [key] if isinstance(key, bytes | str) else list(key)
        if not keys:
            raise SecretsError("no encryption key given")
        fernets = []
        for n, k in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(k))
            except (ValueError, TypeError) as exc:
                which = "the encryption key" if len(keys) == 1 else f"encryption key #{n}"
                raise SecretsError(
                    f"{which} is not a Fernet key (url-safe base64 of 32 bytes; make one with "
                    "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`)"
                ) from exc
        self._fernet = MultiFernet(fernets)

    @staticmethod
    def generate_key() -> bytes:
        """A new random Fernet key."""
        return Fernet.generate_key()

    def encrypt(self, text: str) -> str:
        """``text`` encrypted with the newest key, as ASCII token text."""
        return self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The clear text of ``token``; raises ``SecretsError`` when no key of this vault made it
        (or the token is damaged)."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise SecretsError(
                "a stored credential cannot be decrypted: the encryption key does not match the one it was "
                f"saved with (check {KEY_ENV} or the key file), or the stored value is damaged"
            ) from exc

    def rotate(self, token: str) -> str:
        """``token`` re-encrypted with the newest key; raises ``SecretsError`` like ``decrypt``."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError) as exc:
            raise SecretsError("a stored credential cannot be re-encrypted: no key of this vault matches it") from exc


def default_key_file(database_url: str | None = None) -> Path:
    """Where the key file lives: next to the SQLite database file of ``database_url``, else
    (PostgreSQL, in-memory SQLite, no URL) in the user's data directory."""
    if database_url is not None:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(database_url)
        except ArgumentError:
            url = None
        if url is not None and url.get_backend_name() == "sqlite":
            database = url.database or ""
            if database and database != ":memory:" and not database.startswith("file:"):
                return Path(database).expanduser().resolve().parent / KEY_FILE_NAME
    import platformdirs

    return Path(platformdirs.user_data_dir("mirrorcal")) / KEY_FILE_NAME


def load_vault(env: Mapping[str, str], key_file: Path) -> Vault:
    """The vault for this run: keys from ``env[MIRRORCAL_SECRET_KEY]`` (comma-separated, newest
    first) when set, else from ``key_file`` (one key per line), which is created with a new key
    on first use.

    The key file is created atomically with mode 0600 (never visible half-written, never more
    open than 0600, its directory created 0700); concurrent first uses end with one key. Raises
    ``SecretsError`` for a malformed key, a key file that group or others may access, or one
    that cannot be read or created.
    """
    value = env.get(KEY_ENV, "").strip()
    if value:
        keys = [k.strip() for k in value.split(",") if k.strip()]
        try:
            return Vault(keys)
        except SecretsError as exc:
            raise SecretsError(f"{KEY_ENV}: {exc}") from None
    key_file = Path(key_file).expanduser()
    text = _read_key_file(key_file)
    if text is None:
        _create_key_file(key_file)
        text = _read_key_file(key_file)
        if text is None:
            raise SecretsError(f"key file {key_file} vanished right after it was created")
    keys = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    try:
        return Vault(keys)
    except SecretsError as exc:
        raise SecretsError(f"key file {key_file}: {exc}") from None


def _read_key_file(path: Path) -> str | None:
    """The key file's text, None when it does not exist; raises ``SecretsError`` when it is
    accessible to group or others, or unreadable."""
    for _ in range(_READ_ATTEMPTS):
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SecretsError(f"cannot read key file {path}: {exc.strerror or exc}") from exc
        try:
            mode = os.fstat(fd).st_mode
            if os.name == "posix" and mode & 0o077:
                raise SecretsError(
                    f"key file {path} is accessible to group or others (mode {stat.S_IMODE(mode):04o}); "
                    f"it must be private to you: run `chmod 600 {path}`"
                )
            with os.fdopen(os.dup(fd), "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise SecretsError(f"cannot read key file {path}: {exc.strerror or exc}") from exc
        finally:
            os.close(fd)
        if data.strip():
            try:
                return data.decode("ascii")
            except UnicodeDecodeError as exc:
                raise SecretsError(f"key file {path} does not hold Fernet keys") from exc
        time.sleep(0.02)  # created, not yet written (only without hard links): give the writer a moment
    raise SecretsError(f"key file {path} is empty; delete it to have a new key made (stored credentials are lost)")


def _create_key_file(path: Path) -> None:
    """Write a new key to ``path`` unless it appears meanwhile: into a private temporary file
    (O_CREAT|O_EXCL, 0600) then hard-linked into place, which fails if another process won."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise SecretsError(f"cannot create the directory of key file {path}: {exc.strerror or exc}") from exc
    data = Fernet.generate_key() + b"\n"
    temp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    try:
        _write_exclusive(temp, data)
        try:
            os.link(temp, path)
        except FileExistsError:
            return  # another process made it first: use theirs
        except OSError:
            # No hard links here (some network or FAT file systems): create it in place; a reader
            # that meets it still empty waits a moment (see _read_key_file).
            with contextlib.suppress(FileExistsError):
                _write_exclusive(path, data)
    except OSError as exc:
        raise SecretsError(f"cannot create key file {path}: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(OSError):
            temp.unlink()


def _write_exclusive(path: Path, data: bytes) -> None:
    """Create ``path`` (failing if it exists) readable by its owner only, write ``data``, fsync."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags, 0o600)
    try:
        if os.name == "posix":
            os.fchmod(fd, 0o600)  # whatever the umask, never more than owner read/write
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
