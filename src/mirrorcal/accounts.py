"""The account domain: plans, password hashing and rules, e-mail addresses, opaque tokens. No I/O."""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
import unicodedata

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

PLANS: dict[str, int] = {"personal": 3, "professional": 8}
"""Every plan a user may have, with the number of syncs it allows."""

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024  # a bound on the work one sign-in attempt can ask of the hasher
MAX_EMAIL_LENGTH = 254  # RFC 5321's path limit less the angle brackets
_COMMON_PASSWORDS = frozenset(
    {
        "1234567890",
        "12345678910",
        "0123456789",
        "0987654321",
        "qwertyuiop",
        "1q2w3e4r5t",
        "password12",
        "password123",
        "password1234",
        "passw0rd123",
        "iloveyou123",
        "abcdefghij",
        "letmein123",
        "welcome123",
        "changeme123",
        "mirrorcal123",
    }
)
_LOCAL_FORBIDDEN = set(' "(),:;<>@[\\]')
_LABEL = re.compile(r"^[^\W_](?:(?:[^\W_]|-){0,61}[^\W_])?$")  # letters/digits (any script), inner hyphens


def plan_limit(plan: str) -> int:
    """The number of syncs ``plan`` allows. Raises ``ValueError`` for a plan not in ``PLANS``."""
    try:
        return PLANS[plan]
    except KeyError:
        raise ValueError(f"{plan!r} is not a plan (choose {' or '.join(PLANS)})") from None


# passwords --------------------------------------------------------------------------------------
@functools.cache
def _hasher() -> PasswordHasher:
    """argon2id with argon2-cffi's defaults (RFC 9106's low-memory profile), made on first use."""
    return PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (salted: two calls give two different hashes)."""
    return _hasher().hash(password)


def verify_password(hash: str, password: str) -> bool:
    """Whether ``password`` matches ``hash``; False too when ``hash`` is not an argon2 hash."""
    try:
        return _hasher().verify(hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(hash: str) -> bool:
    """Whether ``hash`` was made with other parameters than today's (or cannot be read): after a
    successful sign-in, store ``hash_password(password)`` in its place."""
    try:
        return _hasher().check_needs_rehash(hash)
    except InvalidHashError:
        return True


def check_password_rules(password: str) -> str | None:
    """What is wrong with ``password`` as a new password, in plain words to follow "Password:"
    (e.g. "at least 10 characters"), or None when it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"at most {MAX_PASSWORD_LENGTH} characters"
    if not password.strip():
        return "not only spaces"
    if len(set(password)) == 1 or password.casefold() in _COMMON_PASSWORDS:
        return "not a commonly used password"
    return None


# e-mail addresses -------------------------------------------------------------------------------
def normalise_email(text: str) -> str:
    """``text`` as the e-mail address we store: trimmed, NFC-normalised and lower-cased.

    Accepts ``local@domain`` with a plain (unquoted) local part of at most 64 characters and a
    domain of at least two dot-separated labels (letters, digits, inner hyphens; any script).
    Raises ``ValueError("'text' is not an e-mail address")`` otherwise.
    """
    address = unicodedata.normalize("NFC", text.strip()).lower()
    if not _is_address(address):
        shown = text.strip()
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        raise ValueError(f"{shown!r} is not an e-mail address")
    return address


def _is_address(address: str) -> bool:
    if len(address) > MAX_EMAIL_LENGTH or address.count("@") != 1:
        return False
    local, domain = address.split("@")
    if not 1 <= len(local) <= 64 or local.startswith(".") or local.endswith(".") or ".." in local:
        return False
    if any(ch in _LOCAL_FORBIDDEN or not ch.isprintable() for ch in local):
        return False
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        return False
    return not labels[-1].isdigit()


# tokens -----------------------------------------------------------------------------------------
def new_token() -> str:
    """A fresh random token (256 bits, URL-safe text) for a session or a personal API token."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """The SHA-256 hex digest of ``token``: what the store keeps instead of the token itself."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
