"""The composition root: wires a Config to real adapters, the SQL store and the engine."""

from __future__ import annotations

import functools
import os
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from . import __version__
from .config import DEFAULT_API_URLS, CalendarConfig, Config
from .connections import ConnectionBook
from .errors import ConfigError
from .oauth import BearerAuth, OAuthClient, TokenSource, endpoints_for
from .providers.base import Calendar
from .secrets import default_key_file, load_vault
from .store.base import Store
from .store.sql import SqlStore
from .sync.engine import Engine

TIMEOUT = httpx.Timeout(30.0, connect=10.0)
LIMITS = httpx.Limits(max_connections=8, max_keepalive_connections=8)


@functools.cache
def tls_context(load_trust_store: bool) -> ssl.SSLContext:
    """One TLS context for every client. Loading the system's CA bundle takes tens of
    milliseconds, so a configuration that only uses http:// (loopback servers) gets a context
    without it: verifying, with no trusted CA, so any https:// fails closed."""
    if load_trust_store:
        return ssl.create_default_context()
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def http_client(cfg: CalendarConfig, auth: httpx.Auth | None = None) -> httpx.AsyncClient:
    """One connection pool per calendar, with its credentials and a polite User-Agent."""
    if auth is None and cfg.username:
        auth = httpx.BasicAuth(cfg.username, cfg.password or "")
    return httpx.AsyncClient(
        verify=tls_context(not (cfg.url or "").startswith("http://")),
        auth=auth,
        timeout=TIMEOUT,
        limits=LIMITS,
        headers={"User-Agent": f"mirrorcal/{__version__}"},
        follow_redirects=True,
    )


@dataclass(slots=True)
class Credentials:
    """Where calendars get their secrets: the file's own values, else the stored connections.

    ``book`` is opened on first need (so configurations without connections never create a
    key file). ``sources`` keeps the token source of each OAuth calendar, by calendar name.
    """

    config: Config
    store: Store | None = None
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    sources: dict[str, TokenSource] = field(default_factory=dict)
    clients: list[httpx.AsyncClient] = field(default_factory=list)
    """The HTTP clients made for the calendars: closed with the engine (``aclose``)."""
    _book: ConnectionBook | None = None

    def client(self, cfg: CalendarConfig, auth: httpx.Auth | None = None) -> httpx.AsyncClient:
        made = http_client(cfg, auth)
        self.clients.append(made)
        return made

    async def aclose(self) -> None:
        for made in self.clients:
            await made.aclose()
        self.clients.clear()
        for source in {id(s): s for s in self.sources.values()}.values():
            await source.aclose()

    @property
    def book(self) -> ConnectionBook:
        if self._book is None:
            if self.store is None:
                raise ConfigError("", "stored connections need the state store")
            self._book = ConnectionBook(self.store, load_vault(self.env, default_key_file(self.config.database_url)))
        return self._book

    def stored_secret(self, cfg: CalendarConfig) -> str:
        assert cfg.connection is not None
        row = self.book.get(cfg.connection)
        if row is None:
            if cfg.kind == "caldav":
                raise ConfigError(
                    f"calendars.{cfg.name}.connection",
                    f"no stored connection {cfg.connection!r}: add the calendar again with its password",
                )
            command = "icloud --username APPLE-ID" if cfg.kind == "icloud" else cfg.kind
            raise ConfigError(
                f"calendars.{cfg.name}.connection",
                f"no stored connection {cfg.connection!r}: run `mirrorcal connect {command} --name {cfg.connection}`",
            )
        return self.book.secret(cfg.connection)

    def token_source(self, cfg: CalendarConfig) -> TokenSource:
        """The access tokens of an OAuth calendar (shared by calendars of one connection)."""
        if cfg.access_token is not None:
            source = TokenSource(access_token=cfg.access_token, name=cfg.name)
            self.sources[cfg.name] = source
            return source
        assert cfg.connection is not None
        shared = next((s for n, s in self.sources.items() if s.can_refresh and s.name == cfg.connection), None)
        if shared is not None:  # calendars of one account share its tokens
            self.sources[cfg.name] = shared
            return shared
        oauth = self.config.oauth.get(cfg.kind)
        if oauth is None:
            raise ConfigError(f"oauth.{cfg.kind}.client_id", f"is required to use the stored {cfg.kind} connection")
        refresh = self.stored_secret(cfg)
        row = self.book.get(cfg.connection)
        base = None if cfg.url == DEFAULT_API_URLS[cfg.kind] else cfg.url
        name, book = cfg.connection, self.book
        source = TokenSource(
            endpoints=endpoints_for(cfg.kind, base, tenant=oauth.tenant),
            client=OAuthClient(oauth.client_id, oauth.client_secret),
            refresh_token=refresh,
            on_rotated=lambda token: book.replace_secret(name, token),
            on_revoked=lambda message: book.mark_needs_reauth(name, message),
            name=name,
        )
        source.revoked = row is not None and row.state == "needs_reauth"
        self.sources[cfg.name] = source
        return source

    def needs_reauth(self) -> set[str]:
        """Calendars whose connection must be signed in again."""
        return {name for name, source in self.sources.items() if source.revoked}


def build_calendar(cfg: CalendarConfig, credentials: Credentials) -> Calendar:
    """The adapter for one configured calendar; its HTTP client is ``credentials``' to close."""
    if cfg.kind == "google":
        from .providers.google import GoogleCalendar

        assert cfg.url and cfg.calendar_id
        client = credentials.client(cfg, BearerAuth(credentials.token_source(cfg)))
        return GoogleCalendar(cfg.name, cfg.calendar_id, client, api_url=f"{cfg.url}/calendar/v3", read_only=cfg.read_only)
    if cfg.kind == "microsoft":
        from .providers.graph import GraphCalendar

        assert cfg.url and cfg.calendar_id
        client = credentials.client(cfg, BearerAuth(credentials.token_source(cfg)))
        return GraphCalendar(cfg.name, cfg.calendar_id, client, api_url=f"{cfg.url}/v1.0", read_only=cfg.read_only)
    if cfg.kind == "icloud":
        from .providers.icloud import IcloudCalendar

        assert cfg.url is not None and cfg.username is not None
        password = cfg.password if cfg.password is not None else credentials.stored_secret(cfg)
        client = credentials.client(cfg, httpx.BasicAuth(cfg.username, password))
        return IcloudCalendar(cfg.name, cfg.url, client, read_only=cfg.read_only)
    if cfg.kind == "caldav":
        from .providers.caldav import CalDAVCalendar

        assert cfg.url is not None
        auth = None
        if cfg.connection is not None and cfg.password is None and cfg.username is not None:
            auth = httpx.BasicAuth(cfg.username, credentials.stored_secret(cfg))
        return CalDAVCalendar(cfg.name, cfg.url, credentials.client(cfg, auth), read_only=cfg.read_only)
    if cfg.kind == "ics":
        from .providers.icsfeed import IcsFeedCalendar

        assert cfg.url is not None
        return IcsFeedCalendar(cfg.name, cfg.url, credentials.client(cfg))
    if cfg.kind == "file":
        from .providers.icsfile import IcsFileCalendar

        assert cfg.path is not None
        return IcsFileCalendar(cfg.name, Path(cfg.path), read_only=cfg.read_only)
    raise ConfigError(f"calendars.{cfg.name}.kind", f"unsupported kind {cfg.kind!r}")


def open_store(config: Config) -> Store:
    return SqlStore.open(config.database_url)


def build_engine(config: Config, store: Store, credentials: Credentials | None = None) -> Engine:
    credentials = credentials or Credentials(config, store)
    calendars = {name: build_calendar(cfg, credentials) for name, cfg in config.calendars.items()}
    clients = {name: cfg.client for name, cfg in config.calendars.items()}
    return Engine(calendars, config.syncs, store, clients=clients, tz=config.timezone)


@asynccontextmanager
async def engine_for(config: Config, credentials: Credentials | None = None) -> AsyncIterator[Engine]:
    """An engine over the configured calendars and the configured store; closes both.

    Pass ``credentials`` (built on no store: it is given the opened one) to keep a handle on
    the connections' token sources, e.g. to learn which ones need re-authorisation."""
    store = open_store(config)
    credentials = credentials or Credentials(config)
    credentials.store = store
    try:
        engine = build_engine(config, store, credentials)
    except BaseException:
        store.close()
        raise
    try:
        yield engine
    finally:
        await engine.aclose()
        await credentials.aclose()
        store.close()
