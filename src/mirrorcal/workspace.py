"""An account's setup as a typed model over the configuration's TOML document: read, write, edit, namespace.

The web app keeps each account's calendars and syncs as the very document ``mirrorcal``'s CLI
reads (``docs/configuration.md``), so a user can download it and run it. Every edit is checked
by ``config.parse_config`` and raises its ``ConfigError`` naming the dotted key. The document
never holds a secret: ``password`` and ``access_token`` are refused here, and calendars name a
stored connection (``connection = "..."``) instead. ``namespaced`` prefixes every calendar,
sync and connection name with ``u{user_id}.`` so all accounts share one state database.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .accounts import plan_limit
from .config import BACK_SUFFIX, CalendarConfig, Config, OAuthConfig, parse_config
from .errors import ConfigError, MirrorcalError

WEB_KINDS = ("caldav", "icloud", "ics", "google", "microsoft")
"""Kinds an account may hold (``file`` would read the server's disk, so it is refused)."""
_FORBIDDEN_TOP = ("database", "oauth", "push")
_SECRET_KEYS = ("password", "access_token")
_BARE = re.compile(r"[A-Za-z0-9_-]+")
_ENV_REF = re.compile(r"\$(\$?)\{([^}]*)\}")
_ROOT = Path("/")


class PlanLimitReached(MirrorcalError):
    """A new sync would exceed the plan's number of syncs; the message says so in plain words."""


@dataclass(slots=True)
class CalendarEntry:
    """One ``[calendars.NAME]`` table as the user set it (``None``: key left out)."""

    name: str
    kind: str
    url: str | None = None
    username: str | None = None
    connection: str | None = None
    calendar_id: str | None = None
    base_url: str | None = None
    client: str | None = None
    email: list[str] = field(default_factory=list)
    unified: bool | None = None
    read_only: bool | None = None
    poll_seconds: int | None = None


@dataclass(slots=True)
class SyncEntry:
    """One ``[[syncs]]`` table; defaults are the documented ones."""

    name: str
    source: str
    target: str
    privacy: str
    title: str | None = None
    two_way: bool = False
    on_target_delete: str = "restore"
    skip_free: bool = True
    skip_declined: bool = True
    skip_all_day: bool = False
    working_hours: str = ""
    window_days: int = 180
    exclude_titles: list[str] = field(default_factory=list)
    paused: bool = False
    show_as: str = ""
    """busy, free, tentative, oof or original; "" for the privacy's default."""


@dataclass(slots=True)
class Workspace:
    """An account's whole setup: its time zone, conflict settings, calendars and syncs."""

    timezone: str | None = None
    buffer_minutes: int | None = None
    working_hours: str | None = None
    calendars: list[CalendarEntry] = field(default_factory=list)
    syncs: list[SyncEntry] = field(default_factory=list)

    def calendar(self, name: str) -> CalendarEntry | None:
        return next((c for c in self.calendars if c.name == name), None)

    def sync(self, name: str) -> SyncEntry | None:
        return next((s for s in self.syncs if s.name == name), None)


# reading --------------------------------------------------------------------------------------
def load(text: str) -> Workspace:
    """The model of a stored document; raises ``ConfigError`` when ``check`` refuses it."""
    check(text)
    data = tomllib.loads(text)
    conflicts = data.get("conflicts", {})
    calendars = [
        CalendarEntry(
            name=name,
            kind=raw["kind"],
            url=_literal(raw.get("url")),
            username=_literal(raw.get("username")),
            connection=_literal(raw.get("connection")),
            calendar_id=_literal(raw.get("calendar_id")),
            base_url=_literal(raw.get("base_url")),
            client=_literal(raw.get("client")),
            email=[_literal(e) or "" for e in ([raw["email"]] if isinstance(raw.get("email"), str) else raw.get("email", []))],
            unified=raw.get("unified"),
            read_only=raw.get("read_only"),
            poll_seconds=raw.get("poll_seconds"),
        )
        for name, raw in data.get("calendars", {}).items()
    ]
    syncs = [
        SyncEntry(
            name=_literal(raw["name"]) or "",
            source=_literal(raw["from"]) or "",
            target=_literal(raw["to"]) or "",
            privacy=raw["privacy"],
            title=_literal(raw.get("title")),
            two_way=raw.get("two_way", False),
            on_target_delete=raw.get("on_target_delete", "restore"),
            skip_free=raw.get("skip_free", True),
            skip_declined=raw.get("skip_declined", True),
            skip_all_day=raw.get("skip_all_day", False),
            working_hours=_literal(raw.get("working_hours")) or "",
            window_days=raw.get("window_days", 180),
            exclude_titles=[_literal(p) or "" for p in raw.get("exclude_titles", [])],
            paused=raw.get("paused", False),
            show_as=raw.get("show_as", ""),
        )
        for raw in data.get("syncs", [])
    ]
    return Workspace(
        timezone=_literal(data.get("timezone")),
        buffer_minutes=conflicts.get("buffer_minutes"),
        working_hours=_literal(conflicts.get("working_hours")),
        calendars=calendars,
        syncs=syncs,
    )


def check(text: str) -> Config:
    """``text`` checked as an account's document: everything ``parse_config`` checks (with no
    environment: ``${VAR}`` is an error), plus no secrets, no ``database``/``oauth``/``push``
    and no ``file`` calendars. Raises ``ConfigError`` naming the key."""
    config = parse_config(text, base_dir=_ROOT, env={})
    data = tomllib.loads(text)
    for key in _FORBIDDEN_TOP:
        if key in data:
            raise ConfigError(key, "is set by the server, not by an account")
    for name, raw in data.get("calendars", {}).items():
        cfg = config.calendars[name]
        for key in _SECRET_KEYS:
            if key in raw:
                raise ConfigError(f"calendars.{_key(name)}.{key}", "secrets go to stored connections, never into the document")
        if cfg.kind not in WEB_KINDS:
            raise ConfigError(f"calendars.{_key(name)}.kind", f"must be one of {', '.join(WEB_KINDS)}")
    return config


# writing --------------------------------------------------------------------------------------
def dump(model: Workspace) -> str:
    """The TOML document of ``model`` (strings escaped so that ``load`` gives them back as they are)."""
    lines = ["# mirrorcal setup, made by the mirrorcal web app. It holds no secrets: those are", "# stored encrypted as connections.", ""]
    top = {"timezone": model.timezone}
    lines += _pairs(top)
    conflicts = {"buffer_minutes": model.buffer_minutes, "working_hours": model.working_hours}
    if any(v is not None for v in conflicts.values()):
        lines += ["", "[conflicts]", *_pairs(conflicts)]
    for c in model.calendars:
        values: dict[str, Any] = {
            "kind": c.kind,
            "url": c.url,
            "username": c.username,
            "connection": c.connection,
            "calendar_id": c.calendar_id,
            "base_url": c.base_url,
            "client": c.client,
            "email": c.email or None,
            "unified": c.unified,
            "read_only": c.read_only,
            "poll_seconds": c.poll_seconds,
        }
        lines += ["", f"[calendars.{_key(c.name)}]", *_pairs(values)]
    for s in model.syncs:
        values = {
            "name": s.name,
            "from": s.source,
            "to": s.target,
            "privacy": s.privacy,
            "title": s.title,
            "two_way": s.two_way or None,
            "on_target_delete": None if s.on_target_delete == "restore" else s.on_target_delete,
            "skip_free": None if s.skip_free else False,
            "skip_declined": None if s.skip_declined else False,
            "skip_all_day": s.skip_all_day or None,
            "working_hours": s.working_hours or None,
            "window_days": None if s.window_days == 180 else s.window_days,
            "exclude_titles": s.exclude_titles or None,
            "paused": s.paused or None,
            "show_as": s.show_as or None,
        }
        lines += ["", "[[syncs]]", *_pairs(values)]
    return "\n".join(lines).lstrip("\n") + "\n"


def _pairs(values: Mapping[str, Any]) -> list[str]:
    return [f"{_key(k)} = {_value(v)}" for k, v in values.items() if v is not None]


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _string(_ENV_REF.sub(lambda m: "$" + m.group(0), value))
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _string(text: str) -> str:
    """A TOML basic string: backslash, quote and every control character escaped."""
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _key(name: str) -> str:
    return name if _BARE.fullmatch(name) else _string(name)


def _literal(value: Any) -> Any:
    """A string of the document as the user meant it (``$${`` is a literal ``${``)."""
    if not isinstance(value, str):
        return value
    return _ENV_REF.sub(lambda m: "${" + m.group(2) + "}", value)


# editing --------------------------------------------------------------------------------------
def validated(model: Workspace) -> Workspace:
    """``model`` once its document passes ``check``; raises ``ConfigError`` naming the key."""
    check(dump(model))
    return model


def add_calendar(model: Workspace, entry: CalendarEntry) -> Workspace:
    """A copy with ``entry`` added; raises ``ConfigError`` (``calendars.NAME`` when the name is taken)."""
    if model.calendar(entry.name) is not None:
        raise ConfigError(f"calendars.{_key(entry.name)}", f"you already have a calendar named '{entry.name}'")
    return validated(replace(model, calendars=[*model.calendars, entry]))


def remove_calendar(model: Workspace, name: str) -> Workspace:
    """A copy without calendar ``name``; raises ``KeyError`` for an unknown one and ``ConfigError``
    while a sync still uses it (delete those syncs first, so their copies can be removed)."""
    if model.calendar(name) is None:
        raise KeyError(name)
    users = [s.name for s in model.syncs if name in (s.source, s.target)]
    if users:
        raise ConfigError(f"calendars.{_key(name)}", f"is used by the sync(s) {', '.join(users)}; delete them first")
    return validated(replace(model, calendars=[c for c in model.calendars if c.name != name]))


def add_sync(model: Workspace, entry: SyncEntry, plan: str) -> Workspace:
    """A copy with ``entry`` added. Raises ``PlanLimitReached`` when the plan has no sync left and
    ``ConfigError`` for anything the document would refuse (a taken name: ``syncs[N].name``)."""
    limit, used = plan_limit(plan), syncs_used(model)
    if used >= limit:
        raise PlanLimitReached(
            f"Your plan allows {limit} syncs and all {limit} are in use. "
            "Delete a sync or change to a larger plan to add another."
        )
    return validated(replace(model, syncs=[*model.syncs, entry]))


def replace_sync(model: Workspace, name: str, entry: SyncEntry) -> Workspace:
    """A copy with sync ``name`` replaced by ``entry`` (same place); raises ``KeyError`` for an
    unknown name and ``ConfigError`` for what the document would refuse."""
    if model.sync(name) is None:
        raise KeyError(name)
    return validated(replace(model, syncs=[entry if s.name == name else s for s in model.syncs]))


def remove_sync(model: Workspace, name: str) -> Workspace:
    """A copy without sync ``name``; raises ``KeyError`` for an unknown one."""
    if model.sync(name) is None:
        raise KeyError(name)
    return validated(replace(model, syncs=[s for s in model.syncs if s.name != name]))


def syncs_used(model: Workspace) -> int:
    """How many of the plan's syncs the setup uses: each ``[[syncs]]`` once (two-way too, paused too)."""
    return len(model.syncs)


def field_of(error: ConfigError) -> str:
    """The form field a ``ConfigError`` is about: the last name of its dotted key
    (``syncs[2].exclude_titles[1]`` → ``exclude_titles``; a calendar's own key → ``name``)."""
    key = re.sub(r"\[\d+\]$", "", error.key)
    if re.fullmatch(r'calendars\.("(?:[^"\\]|\\.)*"|[A-Za-z0-9_-]+)', key):
        return "name"
    last = re.split(r"\.(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)", key)[-1]
    return {"from": "source", "to": "target"}.get(last, last) or "form"


# namespacing ----------------------------------------------------------------------------------
def prefix(user_id: int) -> str:
    return f"u{user_id}."


def unprefixed(text: str, user_id: int) -> str:
    """``text`` (a message, a key) with the account's ``u{user_id}.`` removed wherever it starts a
    name (also after a dot, as in a dotted configuration key), so users read their own names;
    ``bu12.x`` is left alone."""
    return re.sub(rf"(?<![\w-]){re.escape(prefix(user_id))}", "", text)


def namespaced(config: Config, user_id: int) -> Config:
    """``config`` with every calendar, sync and connection name prefixed by ``u{user_id}.``."""
    p = prefix(user_id)

    def calendar(cfg: CalendarConfig) -> CalendarConfig:
        return replace(cfg, name=p + cfg.name, connection=None if cfg.connection is None else p + cfg.connection)

    return replace(
        config,
        calendars={p + name: calendar(cfg) for name, cfg in config.calendars.items()},
        syncs=[
            replace(
                s,
                name=p + s.name,
                source=p + s.source,
                target=p + s.target,
                pair=None if s.pair is None else p + s.pair,
            )
            for s in config.syncs
        ],
    )


def runtime_config(
    text: str, user_id: int, database_url: str, oauth: Mapping[str, OAuthConfig] | None = None
) -> Config:
    """The account's document as the engine runs it: checked, namespaced, on ``database_url``,
    with the server's OAuth registrations (``WebSettings.oauth()``: a document never holds them)."""
    return namespaced(replace(check(text), database_url=database_url, oauth=dict(oauth or {})), user_id)


def halves(entry: SyncEntry) -> list[str]:
    """The engine's names of a sync: ``NAME``, and ``NAME~back`` for a two-way one."""
    return [entry.name, entry.name + BACK_SUFFIX] if entry.two_way else [entry.name]
