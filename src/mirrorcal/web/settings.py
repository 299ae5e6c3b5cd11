"""The web app's settings, read from ``MIRRORCAL_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from mirrorcal.config import OAuthConfig, default_database_url


class WebSettings(BaseSettings):
    """What ``create_app`` needs; every field can be set as ``MIRRORCAL_<NAME>`` (e.g.
    ``MIRRORCAL_SECURE_COOKIES=true``). Build one where the app is built (the CLI, a test),
    never at import time. Raises pydantic's ``ValidationError`` for a value of the wrong type.
    """

    model_config = SettingsConfigDict(env_prefix="MIRRORCAL_", extra="ignore")

    database_url: str = Field(default_factory=default_database_url)
    """The state store (SQLite file in the user's data directory unless told otherwise)."""
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    session_days: int = Field(default=14, ge=1, le=366)
    """How long a sign-in lasts (the session row and the cookie expire together)."""
    secure_cookies: bool = False
    """Mark cookies ``Secure``: turn on whenever the app is served over HTTPS."""
    demo: bool = True
    """``mirrorcal web`` (``make run``) also starts the local demo providers and the demo account
    (see ``webdemo``); ``MIRRORCAL_DEMO=false`` for real use."""
    icloud_url: str = "https://caldav.icloud.com/"
    """Where iCloud discovery starts (another address only for an emulator in tests or the demo)."""
    password_hash_fast: bool = False
    """TESTS ONLY: hash new passwords with minimal (still valid) argon2id parameters. Never
    set this in production: it makes stolen hashes cheap to crack."""
    worker: bool = True
    """Run the accounts' syncs in the web app's process (see ``web.worker``); off when another
    process runs them, or in tests that drive the engine themselves."""
    worker_interval: float = Field(default=30.0, gt=0)
    """Seconds between two runs of an account's syncs (a change made in the app runs them sooner)."""
    google_client_id: str = ""
    """The Google OAuth client (an app registration) used to connect Google calendars; empty: Google cannot be connected."""
    google_client_secret: str = Field(default="", repr=False)
    google_base_url: str = ""
    """Where Google's API and sign-in live when not at Google (an emulator in tests and the demo)."""
    microsoft_client_id: str = ""
    """The Microsoft Entra app used to connect Microsoft 365 calendars; empty: Microsoft cannot be connected."""
    microsoft_client_secret: str = Field(default="", repr=False)
    microsoft_tenant: str = "common"
    microsoft_base_url: str = ""
    """Where Graph and sign-in live when not at Microsoft (an emulator in tests and the demo)."""
    public_url: str = ""
    """The address users reach the app at (OAuth redirects and links in e-mails); empty:
    ``http://{host}:{port}``."""

    smtp_url: str = Field(default="", repr=False)
    """Where e-mail goes out (``smtp://user:password@host:port``, ``smtps://`` for TLS, see
    ``mail.SmtpServer.from_url``); empty: no mail is sent and every message is held in the
    account's outbox (the demo shows them there)."""
    mail_from: str = "mirrorcal <no-reply@mirrorcal.localhost>"
    """The sender of the app's e-mails (``Name <address>`` or an address; checked when the app starts)."""
    reminder_days: int = Field(default=3, ge=1, le=60)
    """A request left unanswered this many days gets one reminder e-mail."""
    expiry_days: int = Field(default=14, ge=1, le=366)
    """A request left unanswered this many days expires (the recruiter can send it again)."""

    def oauth(self) -> dict[str, OAuthConfig]:
        """The OAuth registrations the accounts' Google and Microsoft calendars use, by kind."""
        found: dict[str, OAuthConfig] = {}
        if self.google_client_id:
            found["google"] = OAuthConfig(self.google_client_id, self.google_client_secret)
        if self.microsoft_client_id:
            found["microsoft"] = OAuthConfig(self.microsoft_client_id, self.microsoft_client_secret, self.microsoft_tenant)
        return found

    def base_url(self) -> str:
        """``public_url``, else the address the app listens on (no trailing slash)."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")
