"""The composition root: wires a Config to real adapters, the SQL store and the engine."""

from __future__ import annotations

import functools
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from . import __version__
from .config import CalendarConfig, Config
from .errors import ConfigError
from .providers.base import Calendar
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


def http_client(cfg: CalendarConfig) -> httpx.AsyncClient:
    """One connection pool per calendar, with its credentials and a polite User-Agent."""
    auth = httpx.BasicAuth(cfg.username, cfg.password or "") if cfg.username else None
    return httpx.AsyncClient(
        verify=tls_context(not (cfg.url or "").startswith("http://")),
        auth=auth,
        timeout=TIMEOUT,
        limits=LIMITS,
        headers={"User-Agent": f"mirrorcal/{__version__}"},
        follow_redirects=True,
    )


def build_calendar(cfg: CalendarConfig) -> Calendar:
    """The adapter for one configured calendar."""
    if cfg.kind == "caldav":
        from .providers.caldav import CalDAVCalendar

        assert cfg.url is not None
        return CalDAVCalendar(cfg.name, cfg.url, http_client(cfg), read_only=cfg.read_only)
    if cfg.kind == "ics":
        from .providers.icsfeed import IcsFeedCalendar

        assert cfg.url is not None
        return IcsFeedCalendar(cfg.name, cfg.url, http_client(cfg))
    if cfg.kind == "file":
        from .providers.icsfile import IcsFileCalendar

        assert cfg.path is not None
        return IcsFileCalendar(cfg.name, Path(cfg.path), read_only=cfg.read_only)
    raise ConfigError(f"calendars.{cfg.name}.kind", f"unsupported kind {cfg.kind!r}")


def open_store(config: Config) -> Store:
    return SqlStore.open(config.database_url)


def build_engine(config: Config, store: Store) -> Engine:
    calendars = {name: build_calendar(cfg) for name, cfg in config.calendars.items()}
    clients = {name: cfg.client for name, cfg in config.calendars.items()}
    return Engine(calendars, config.syncs, store, clients=clients, tz=config.timezone)


@asynccontextmanager
async def engine_for(config: Config) -> AsyncIterator[Engine]:
    """An engine over the configured calendars and the configured store; closes both."""
    store = open_store(config)
    engine = build_engine(config, store)
    try:
        yield engine
    finally:
        await engine.aclose()
        store.close()
