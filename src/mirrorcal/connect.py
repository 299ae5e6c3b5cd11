"""``mirrorcal connect`` and ``mirrorcal emulate``: store a connection's credentials, run an emulator.

``connect google|microsoft`` runs the browser sign-in (authorization code + PKCE, redirected
to a one-shot listener on 127.0.0.1), stores the refresh token encrypted, and lists the
account's calendars with the lines to put in the configuration. ``connect icloud`` checks an
app-specific password by discovering the account's calendars, then stores it encrypted.
A connection marked "needs re-authorisation" is back to "ok" once connected again.
"""

from __future__ import annotations

import asyncio
import json
import signal
import webbrowser
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import httpx
from rich.console import Console
from rich.table import Table

from .bootstrap import Credentials, http_client
from .config import DEFAULT_API_URLS, CalendarConfig, Config
from .errors import ConfigError, ProviderError
from .oauth import BearerAuth, OAuthClient, TokenSource, endpoints_for, sign_in_via_loopback
from .providers.http import send
from .store.sql import SqlStore

if TYPE_CHECKING:  # the emulators are imported only when one runs
    from .testing.google import GoogleEmulator
    from .testing.graph import GraphEmulator


def _base_url(config: Config, kind: str, name: str, base_url: str | None) -> str:
    """The API root: ``--base-url``, else that of a configured calendar using this connection."""
    if base_url:
        return base_url.rstrip("/")
    for cfg in config.calendars.values():
        if cfg.kind == kind and (cfg.connection or cfg.name) == name and cfg.url:
            return cfg.url
    return DEFAULT_API_URLS[kind]


async def connect_oauth(
    config: Config,
    console: Console,
    kind: str,
    name: str,
    *,
    base_url: str | None = None,
    open_browser: Callable[[str], Awaitable[None] | None] | None = None,
    port: int = 0,
) -> int:
    """Sign in to ``kind`` in the browser and store the connection ``name``; 0 on success."""
    oauth = config.oauth.get(kind)
    if oauth is None:
        raise ConfigError(f"oauth.{kind}", f"is required: add [oauth.{kind}] with the client_id of your app registration")
    root = _base_url(config, kind, name, base_url)
    endpoints = endpoints_for(kind, None if root == DEFAULT_API_URLS[kind] else root, tenant=oauth.tenant)

    def show(url: str) -> None:
        console.print(f"Sign in to {kind.title()} in your browser. If it does not open, visit:\n{url}", soft_wrap=True)
        webbrowser.open(url)

    async with httpx.AsyncClient(timeout=30.0) as http:
        tokens = await sign_in_via_loopback(
            http, endpoints, OAuthClient(oauth.client_id, oauth.client_secret), open_browser or show, port=port
        )
    if not tokens.refresh_token:
        raise ProviderError(f"{kind} returned no refresh token: the app registration must allow offline access")
    source = TokenSource(access_token=tokens.access_token)
    probe = CalendarConfig(name=name, kind=kind, url=root)
    async with http_client(probe, BearerAuth(source)) as api:
        account, calendars = await account_calendars(kind, root, api)
    store = SqlStore.open(config.database_url)
    try:
        book = Credentials(config, store).book
        book.save(name, kind, account, tokens.refresh_token, {"scope": tokens.scope})
    finally:
        store.close()
    console.print(f"[green]Connected[/green] {kind} account {account or '(unnamed)'} as connection {name!r}.")
    _print_calendars(console, kind, name, calendars)
    return 0


async def account_calendars(kind: str, root: str, api: httpx.AsyncClient) -> tuple[str, list[tuple[str, str, bool]]]:
    """The signed-in account's address and its calendars (id, name, primary); ``api`` carries the
    account's bearer token, ``root`` is the API's root. Used by ``connect`` and the web app."""
    if kind == "google":
        from .providers.google import GoogleCalendar

        calendars = await GoogleCalendar("connect", "primary", api, api_url=f"{root}/calendar/v3").list_calendars()
        account = next((cid for cid, _, primary in calendars if primary), "")
        return account, calendars
    from .providers.graph import GraphCalendar

    me = (await send(api, "GET", f"{root}/v1.0/me")).json()
    account = str(me.get("mail") or me.get("userPrincipalName") or "")
    return account, await GraphCalendar("connect", "", api, api_url=f"{root}/v1.0").list_calendars()


def _print_calendars(console: Console, kind: str, connection: str, calendars: list[tuple[str, str, bool]]) -> None:
    table = Table(title="Calendars in this account")
    for column in ("name", "calendar_id", ""):
        table.add_column(column)
    for cid, title, primary in calendars:
        table.add_row(title, cid, "primary" if primary else "")
    console.print(table)
    if calendars:
        cid = next((c for c, _, p in calendars if p), calendars[0][0])
        console.print(
            f'Use one in mirrorcal.toml:\n\n[calendars.NAME]\nkind = "{kind}"\nconnection = "{connection}"\n'
            f'calendar_id = "{cid}"\n',
            soft_wrap=True,
            markup=False,
        )


async def connect_icloud(
    config: Config, console: Console, name: str, username: str, password: str, *, url: str | None = None
) -> int:
    """Check the app-specific password by discovering the calendars, then store it encrypted."""
    from .providers.icloud import ICLOUD_URL, discover_icloud

    probe = CalendarConfig(name=name, kind="icloud", url=url or ICLOUD_URL, username=username, password=password)
    async with http_client(probe) as client:
        calendars = await discover_icloud(client, url or ICLOUD_URL)
    store = SqlStore.open(config.database_url)
    try:
        Credentials(config, store).book.save(name, "icloud", username, password, {"url": url or ICLOUD_URL})
    finally:
        store.close()
    console.print(f"[green]Connected[/green] iCloud account {username} as connection {name!r}.")
    table = Table(title="Calendars in this account")
    for column in ("name", "url"):
        table.add_column(column)
    for info in calendars:
        table.add_row(info.name, info.url)
    console.print(table)
    if calendars:
        console.print(
            f'Use one in mirrorcal.toml:\n\n[calendars.NAME]\nkind = "icloud"\nurl = "{calendars[0].url}"\n'
            f'username = "{username}"\nconnection = "{name}"\n',
            soft_wrap=True,
            markup=False,
        )
    return 0


def list_connections(config: Config, console: Console) -> int:
    """The stored connections and their states (never their secrets)."""
    store = SqlStore.open(config.database_url)
    try:
        rows = store.connections()
    finally:
        store.close()
    table = Table(title="Connections")
    for column in ("name", "kind", "account", "state", "message", "updated"):
        table.add_column(column)
    for row in rows:
        colour = {"ok": "green", "needs_reauth": "red"}.get(row.state, "yellow")
        table.add_row(row.name, row.kind, row.account, f"[{colour}]{row.state}[/{colour}]", row.message, f"{row.updated:%Y-%m-%d %H:%M}")
    console.print(table if rows else "No stored connections. Add one with: mirrorcal connect google|microsoft|icloud")
    return 0


async def emulate(kind: str, port: int) -> int:
    """Run one emulator on 127.0.0.1 until SIGINT/SIGTERM; print its JSON description first."""
    if kind == "google":
        from .testing.google import GoogleEmulator

        emulator: GoogleEmulator | GraphEmulator = GoogleEmulator(port=port)
    else:
        from .testing.graph import GraphEmulator

        emulator = GraphEmulator(port=port)
    emulator.start()
    try:
        print(json.dumps(emulator.describe()), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        emulator.stop()
    return 0
