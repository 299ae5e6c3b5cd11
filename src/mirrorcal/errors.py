"""The one exception family every mirrorcal layer raises.

    MirrorcalError
    ├── ConfigError            a bad configuration file (names the key and the problem)
    ├── StoreError             the state store cannot be read or written
    │   └── EmailTakenError    a new user's e-mail address already has an account
    ├── SecretsError           credentials cannot be encrypted or read: key missing, malformed or not the one used
    ├── InvalidEventError      iCalendar text that cannot be read as an event (names the problem)
    └── ProviderError          anything a calendar provider did wrong, mapped at the adapter's edge
        ├── ReadOnlyError      a write to a read-only calendar (feed, file marked read-only)
        ├── AuthError          credentials refused (401/403 that is not a rate limit)
        │   └── NeedsReauthError     the refresh token was revoked: sign in again
        ├── NotFoundError      the calendar or item does not exist (404/410 on an item)
        ├── ConflictError      a precondition failed: stale etag (412) or the item already exists
        │   └── AlreadyExistsError   a create found the id/href taken (409 / 412 on If-None-Match)
        ├── CursorExpiredError the sync-token / delta link is no longer valid; list everything again
        ├── RateLimitError     429 / 403 rateLimitExceeded; carries retry_after seconds
        └── TransientError     5xx, timeouts, dropped connections: worth retrying
"""

from __future__ import annotations


class MirrorcalError(Exception):
    """Base of every error mirrorcal raises on purpose."""


class ConfigError(MirrorcalError):
    """The configuration is invalid; the message names the key and the problem."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}" if key else problem)


class StoreError(MirrorcalError):
    """The state store failed."""


class EmailTakenError(StoreError):
    """``create_user`` found the e-mail address (compared case-insensitively) already taken."""

    def __init__(self, email: str) -> None:
        self.email = email
        super().__init__(f"an account with the e-mail address {email!r} already exists")


class SecretsError(MirrorcalError):
    """Credentials at rest cannot be read or protected; the message never holds a secret or a key."""


class InvalidEventError(MirrorcalError):
    """iCalendar text that cannot become an Event; the message says what is wrong and where."""


class ProviderError(MirrorcalError):
    """A calendar provider failed; raised only by adapters.

    ``status`` is the HTTP status that caused it when there was one (set by ``http.error_for``).
    """

    status: int | None = None


class ReadOnlyError(ProviderError):
    """A write was attempted on a read-only calendar."""


class AuthError(ProviderError):
    """The provider refused the credentials."""


class NeedsReauthError(AuthError):
    """The connection's grant was revoked or expired: the user must sign in again.

    Raised when a refresh token gets ``invalid_grant``; the connection is marked
    "needs re-authorisation" and its syncs stop, deleting nothing, until ``mirrorcal connect``.
    """


class NotFoundError(ProviderError):
    """The calendar or the item is gone."""


class ConflictError(ProviderError):
    """A write precondition failed (stale etag)."""


class AlreadyExistsError(ConflictError):
    """A create found its id already taken: the item exists (e.g. a retried create)."""


class CursorExpiredError(ProviderError):
    """The stored cursor is no longer valid; the caller must list everything again."""


class RateLimitError(ProviderError):
    """The provider throttled us; retry after ``retry_after`` seconds (None: back off)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TransientError(ProviderError):
    """A failure worth retrying: 5xx, timeout, dropped connection."""
