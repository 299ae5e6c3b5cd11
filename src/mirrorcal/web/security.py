"""Sign-in security: password hashing policy, server-side sessions, CSRF and Origin checks, sign-in backoff.

Cookies: ``mirrorcal_session`` holds the raw session token (the store keeps only its hash);
``mirrorcal_csrf`` is the double-submit token of anonymous forms (sign-up, sign-in). Both are
HttpOnly, SameSite=Lax, and Secure when ``WebSettings.secure_cookies``.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from starlette.requests import Request
from starlette.responses import Response

from mirrorcal import accounts
from mirrorcal.store.base import Store, WebSessionRow

from .settings import WebSettings

SESSION_COOKIE = "mirrorcal_session"
CSRF_COOKIE = "mirrorcal_csrf"
CSRF_FIELD = "csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# passwords --------------------------------------------------------------------------------------
class Passwords:
    """The app's password hashing: ``mirrorcal.accounts`` in production; with ``fast`` (tests
    only, ``WebSettings.password_hash_fast``) argon2id with minimal parameters. Verifying reads
    the parameters from the hash, so either kind of hash verifies in either mode."""

    def __init__(self, fast: bool = False) -> None:
        self._fast = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1) if fast else None
        self._dummy: str | None = None

    def hash(self, password: str) -> str:
        return self._fast.hash(password) if self._fast else accounts.hash_password(password)

    def verify(self, hash: str, password: str) -> bool:
        return accounts.verify_password(hash, password)

    def needs_rehash(self, hash: str) -> bool:
        if self._fast is None:
            return accounts.needs_rehash(hash)
        try:
            return self._fast.check_needs_rehash(hash)
        except ValueError:
            return True

    def burn(self, password: str) -> None:
        """Spend the time one verification takes, for an e-mail that has no account (so the
        answer's timing does not tell which addresses are registered)."""
        if self._dummy is None:
            self._dummy = self.hash("not a password anybody has")
        self.verify(self._dummy, password)


# sessions ---------------------------------------------------------------------------------------
def start_session(store: Store, settings: WebSettings, user_id: int, now: datetime) -> tuple[str, WebSessionRow]:
    """A new session for ``user_id``: its raw token (for the cookie) and the stored row. Raises
    ``StoreError``."""
    token = accounts.new_token()
    row = WebSessionRow(
        token_hash=accounts.token_hash(token),
        user_id=user_id,
        csrf=accounts.new_token(),
        created=now,
        expires=now + timedelta(days=settings.session_days),
    )
    store.save_web_session(row)
    return token, row


def set_cookie(response: Response, settings: WebSettings, name: str, value: str, max_age: int | None) -> None:
    """Set cookie ``name`` with the app's flags: HttpOnly, SameSite=Lax, path /, Secure when configured."""
    response.set_cookie(
        name, value, max_age=max_age, path="/", httponly=True, samesite="lax", secure=settings.secure_cookies
    )


def clear_cookie(response: Response, settings: WebSettings, name: str) -> None:
    response.delete_cookie(name, path="/", httponly=True, samesite="lax", secure=settings.secure_cookies)


# CSRF -------------------------------------------------------------------------------------------
def tokens_match(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison; False when either side is missing or empty."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def same_origin(request: Request) -> bool:
    """True unless the request names an ``Origin`` other than the app's own (scheme://host[:port]
    as the request reached it; an opaque "null" origin is foreign)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    own = f"{request.url.scheme}://{request.url.netloc}"
    return origin.strip().rstrip("/").lower() == own.lower()


# sign-in backoff --------------------------------------------------------------------------------
@dataclass(slots=True)
class _Failures:
    count: int
    last: float


class SignInThrottle:
    """Counts failed sign-ins per e-mail (registered or not, so it reveals nothing) and makes
    the address wait after ``free`` failures: ``base`` seconds, doubling with each further
    failure, at most ``cap``. A success forgets the address; so does an hour without failures.
    At most ``size`` addresses are remembered (the oldest are dropped). Thread-safe."""

    def __init__(
        self,
        *,
        free: int = 5,
        base: float = 30.0,
        cap: float = 900.0,
        size: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free, self.base, self.cap, self.size, self.clock = free, base, cap, size, clock
        self._failures: OrderedDict[str, _Failures] = OrderedDict()
        self._lock = threading.Lock()

    def wait(self, email: str) -> float:
        """Seconds ``email`` must still wait before its next attempt (0: it may try now)."""
        with self._lock:
            entry = self._failures.get(email)
            if entry is None or entry.count < self.free:
                return 0.0
            delay = min(self.base * 2 ** (entry.count - self.free), self.cap)
            return max(0.0, entry.last + delay - self.clock())

    def failed(self, email: str) -> None:
        with self._lock:
            now = self.clock()
            entry = self._failures.pop(email, None)
            if entry is None or now - entry.last > 3600:
                entry = _Failures(0, now)
            entry.count, entry.last = entry.count + 1, now
            self._failures[email] = entry
            while len(self._failures) > self.size:
                self._failures.popitem(last=False)

    def succeeded(self, email: str) -> None:
        with self._lock:
            self._failures.pop(email, None)
