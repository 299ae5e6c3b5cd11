"""Read the TOML configuration file into a checked ``Config``: calendars, expanded syncs, conflict settings.

The file format is a stable contract, documented key by key in ``docs/configuration.md``.
Every mistake raises ``ConfigError(key, problem)`` where ``key`` is the dotted path of the
offending value (``calendars.personal.kind``, ``syncs[2].privacy``,
``syncs[0].exclude_titles[1]``; "" for the file as a whole) and ``problem`` says what is wrong
in plain words. Nothing else escapes: no traceback reaches the user. Nothing is read or
created at import time; ``parse_config`` itself touches the file system only to guess the
machine's time zone when the file names none.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import platformdirs

from .errors import ConfigError
from .model import Privacy
from .sync.spec import SHOW_AS, Filters, SyncSpec

KINDS = ("caldav", "ics", "file", "google", "microsoft", "icloud")
DEFAULT_POLL_SECONDS = {"caldav": 30, "ics": 300, "file": 30, "google": 60, "microsoft": 60, "icloud": 30}
"""Google and Microsoft push their changes (``[push]``); their polling is only the backstop."""
OAUTH_KINDS = ("google", "microsoft")
DEFAULT_API_URLS = {"google": "https://www.googleapis.com", "microsoft": "https://graph.microsoft.com"}
BACK_SUFFIX = "~back"
"""Appended to a two-way sync's name for its second half (to -> from); '~' is not allowed in names."""

_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_NAME_RULE = "may only use letters, digits, '_', '.' and '-'"
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ENV_REF = re.compile(r"\$(\$?)\{([^}]*)\}")
_HOURS = re.compile(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*")
_TOML_WHERE = re.compile(r"^(.*) \((?:at line (\d+), column (\d+)|at end of document)\)$", re.DOTALL)

_TOP_KEYS = ("database", "timezone", "conflicts", "calendars", "syncs", "oauth", "push")
_OAUTH_KEYS = ("client_id", "client_secret", "tenant")
_PUSH_KEYS = ("listen", "public_url")
_CONFLICT_KEYS = ("buffer_minutes", "working_hours")
_CALENDAR_KEYS = {
    "caldav": ("url", "username", "password", "connection"),
    "ics": ("url", "username", "password"),
    "file": ("path", "url"),
    "google": ("calendar_id", "connection", "access_token", "base_url"),
    "microsoft": ("calendar_id", "connection", "access_token", "base_url"),
    "icloud": ("url", "username", "password", "connection"),
}
_CALENDAR_COMMON = ("kind", "unified", "client", "email", "read_only", "poll_seconds")
_ALL_CALENDAR_KEYS = tuple(dict.fromkeys(_CALENDAR_COMMON + sum(_CALENDAR_KEYS.values(), ())))
_SYNC_KEYS = (
    "name", "from", "to", "privacy", "title", "two_way", "on_target_delete",
    "skip_free", "skip_declined", "skip_all_day", "working_hours", "window_days", "exclude_titles",
    "paused", "show_as",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class CalendarConfig:
    """One configured calendar, resolved.

    ``url`` is the http(s) address for ``caldav``, ``icloud`` and ``ics`` (``webcal://`` already
    turned into ``https://``), the API's root for ``google`` and ``microsoft`` (the real
    service unless ``base_url`` names another, e.g. an emulator), and None for ``file``, whose
    absolute location is ``path``. ``calendar_id`` names the calendar inside a Google or
    Microsoft account; ``connection`` names the stored connection (``mirrorcal connect``)
    whose encrypted credentials the calendar uses (``access_token`` or ``password`` in the
    file replace it). ``read_only`` is always True for ``ics``. ``emails`` are lower-case addresses whose DECLINED answer means the
    recruiter declined. ``poll_seconds`` is the resolved poll interval.
    """

    name: str
    kind: str
    url: str | None = None
    path: Path | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    unified: bool = True
    client: str | None = None
    emails: frozenset[str] = frozenset()
    read_only: bool = False
    poll_seconds: int = 30
    calendar_id: str | None = None
    connection: str | None = None
    access_token: str | None = field(default=None, repr=False)

    @property
    def writable(self) -> bool:
        return not self.read_only


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration, checked and resolved; see ``docs/configuration.md``.

    ``syncs`` is expanded: a two-way sync is two ``SyncSpec`` (``name`` and ``name~back``)
    whose ``pair`` fields name each other. ``database_url`` is absolute for SQLite files.
    """

    database_url: str
    timezone: ZoneInfo
    conflict_buffer: timedelta = timedelta(0)
    conflict_working_hours: tuple[time, time] | None = None
    calendars: dict[str, CalendarConfig] = field(default_factory=dict)
    syncs: list[SyncSpec] = field(default_factory=list)
    oauth: dict[str, OAuthConfig] = field(default_factory=dict)
    push: PushConfig | None = None


@dataclass(frozen=True, slots=True)
class OAuthConfig:
    """The application registration used to sign in to ``google`` or ``microsoft``."""

    client_id: str
    client_secret: str = field(default="", repr=False)
    tenant: str = "common"


@dataclass(frozen=True, slots=True)
class PushConfig:
    """Where ``mirrorcal run`` listens for push notifications and the URL providers reach it at."""

    host: str
    port: int
    public_url: str


def default_database_url() -> str:
    """The SQLite file in the user's data directory (the directory is not created here)."""
    path = Path(platformdirs.user_data_dir("mirrorcal")) / "mirrorcal.db"
    return f"sqlite:///{path.as_posix()}"


def load_config(path: Path) -> Config:
    """Read and check the configuration file at ``path`` against ``os.environ``.

    Relative paths in it are taken from the file's directory. Raises ``ConfigError`` only:
    for a file that is missing or unreadable, as well as for anything ``parse_config`` rejects.
    """
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("", f"configuration file {path} not found") from None
    except UnicodeDecodeError:
        raise ConfigError("", f"configuration file {path} is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError("", f"cannot read configuration file {path}: {exc.strerror or exc}") from None
    return parse_config(text, base_dir=path.parent, env=os.environ)


def parse_config(text: str, *, base_dir: Path, env: Mapping[str, str]) -> Config:
    """Check the TOML ``text`` and build the ``Config``; raises ``ConfigError`` for any mistake.

    ``base_dir`` anchors relative SQLite and ``file`` paths; ``env`` answers ``${VAR}``
    references (and ``TZ`` when no ``timezone`` is given).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", _toml_problem(str(exc))) from None
    base_dir = Path(base_dir).expanduser().absolute()
    top = _Table(data, "", _TOP_KEYS, env)

    database = top.string("database")
    if database is None:
        database_url = default_database_url()
    elif "://" not in database:
        raise ConfigError("database", "must be a database URL such as sqlite:///mirrorcal.db")
    else:
        database_url = _resolve_sqlite(database, base_dir)

    zone = top.string("timezone")
    tz = local_timezone(env) if zone is None else _zone(zone)

    conflicts = top.table("conflicts", _CONFLICT_KEYS)
    buffer = conflicts.integer("buffer_minutes", 0, minimum=0)
    hours = _hours(conflicts.string("working_hours", ""), conflicts.key("working_hours"))

    raw_calendars = top.table("calendars")
    calendars = {
        name: _calendar(name, raw_calendars.table(name), base_dir, env) for name in raw_calendars.names()
    }
    syncs = _syncs(top.tables("syncs"), calendars)
    oauth_table = top.table("oauth", OAUTH_KINDS)
    oauth = {kind: _oauth(oauth_table.table(kind, _OAUTH_KEYS)) for kind in oauth_table.names()}
    return Config(
        database_url=database_url,
        timezone=tz,
        conflict_buffer=timedelta(minutes=buffer),
        conflict_working_hours=hours,
        calendars=calendars,
        syncs=syncs,
        oauth=oauth,
        push=_push(top.table("push", _PUSH_KEYS)),
    )


def _oauth(t: _Table) -> OAuthConfig:
    return OAuthConfig(
        client_id=t.required("client_id"),
        client_secret=t.string("client_secret", "") or "",
        tenant=t.string("tenant", "common") or "common",
    )


def _push(t: _Table) -> PushConfig | None:
    listen = t.string("listen")
    if listen is None:
        if t.names():
            raise ConfigError(
                t.key("listen"), 'is required to receive push notifications (e.g. "127.0.0.1:8765")'
            )
        return None
    host, colon, port = listen.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(t.key("listen"), f'{listen!r} must be host:port, e.g. "127.0.0.1:8765"')
    public = t.string("public_url") or f"http://{listen}"
    public = _http_url(public, t.key("public_url"), feed=False).rstrip("/")
    return PushConfig(host, int(port), public)


def local_timezone(env: Mapping[str, str], localtime: Path = Path("/etc/localtime")) -> ZoneInfo:
    """The machine's zone: ``TZ`` when it names an IANA zone, else ``localtime`` (by its link
    target, else its contents), else UTC. Never raises."""
    candidates = [env.get("TZ", "").lstrip(":")]
    try:
        candidates.append(os.path.realpath(localtime))
    except OSError:
        pass
    for name in candidates:
        if "zoneinfo/" in name:
            name = name.rsplit("zoneinfo/", 1)[1].removeprefix("posix/")
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            continue
    try:
        with open(localtime, "rb") as fobj:
            return ZoneInfo.from_file(fobj)
    except (OSError, ValueError):
        return ZoneInfo("UTC")


# --------------------------------------------------------------------------- reading tables


class _Table:
    """One TOML table being read at ``path``: typed getters that raise ``ConfigError`` naming the key.

    Keys outside ``allowed`` are rejected on construction, with a did-you-mean suggestion.
    """

    def __init__(
        self, data: Mapping[str, Any], path: str, allowed: Collection[str] | None, env: Mapping[str, str]
    ) -> None:
        self.data, self.path, self.env = data, path, env
        if allowed is not None:
            for name in data:
                if name not in allowed:
                    close = difflib.get_close_matches(name, list(allowed), n=1)
                    hint = f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(allowed)})"
                    raise ConfigError(self.key(name), f"unknown key '{name}'{hint}")

    def key(self, name: str | int) -> str:
        return _join(self.path, name)

    def names(self) -> list[str]:
        return list(self.data)

    def string(self, name: str, default: str | None = None) -> str | None:
        if name not in self.data:
            return default
        return _string(self.data[name], self.key(name), self.env)

    def required(self, name: str, what: str = "") -> str:
        value = self.string(name)
        if value is None:
            raise ConfigError(self.key(name), f"is required{what}")
        return value

    def choice(self, name: str, options: Collection[str], default: str | None = None) -> str:
        """One of ``options``; required when there is no ``default``."""
        if name not in self.data:
            if default is None:
                raise ConfigError(self.key(name), f"is required (one of {', '.join(options)})")
            return default
        value = self.data[name]
        text = _string(value, self.key(name), self.env) if isinstance(value, str) else None
        if text is None or text not in options:
            raise ConfigError(self.key(name), f"must be one of {', '.join(options)}")
        return text

    def boolean(self, name: str, default: bool) -> bool:
        value = self.data.get(name, default)
        if not isinstance(value, bool):
            raise ConfigError(self.key(name), "must be true or false")
        return value

    def integer(self, name: str, default: int, *, minimum: int) -> int:
        value = self.data.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(self.key(name), "must be a whole number")
        if value < minimum:
            raise ConfigError(self.key(name), f"must be at least {minimum}")
        return value

    def strings(self, name: str, *, single: bool = False) -> list[tuple[str, str]]:
        """(key, value) for each string of the list ``name``; with ``single`` a lone string is allowed."""
        value = self.data.get(name, [])
        if single and isinstance(value, str):
            return [(self.key(name), _string(value, self.key(name), self.env))]
        if not isinstance(value, list):
            raise ConfigError(
                self.key(name), "must be a list of strings" + (" (or one string)" if single else "")
            )
        key = self.key(name)
        return [(f"{key}[{i}]", _string(item, f"{key}[{i}]", self.env)) for i, item in enumerate(value)]

    def table(self, name: str, allowed: Collection[str] | None = None) -> _Table:
        """The sub-table ``name`` (empty when absent), rejecting keys outside ``allowed`` if given."""
        value = self.data.get(name, {})
        if not isinstance(value, dict):
            raise ConfigError(self.key(name), f"must be a table ([{self.key(name)}])")
        return _Table(value, self.key(name), allowed, self.env)

    def tables(self, name: str) -> list[_Table]:
        value = self.data.get(name, [])
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise ConfigError(self.key(name), f"must be a list of [[{self.key(name)}]] tables")
        return [_Table(item, f"{self.key(name)}[{i}]", None, self.env) for i, item in enumerate(value)]

    def check(self, allowed: Collection[str]) -> _Table:
        """The same table, rejecting keys outside ``allowed``."""
        return _Table(self.data, self.path, allowed, self.env)


def _join(path: str, name: str | int) -> str:
    if isinstance(name, int):
        return f"{path}[{name}]"
    if not _BARE_KEY.fullmatch(name):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{path}.{name}" if path else name


def _string(value: Any, key: str, env: Mapping[str, str]) -> str:
    """``value`` as a string with ``${VAR}`` replaced from ``env`` (``$${`` keeps a literal ``${``)."""
    if not isinstance(value, str):
        raise ConfigError(key, "must be a string")

    def substitute(match: re.Match[str]) -> str:
        escaped, name = match.groups()
        if escaped:
            return "${" + name + "}"
        if not _ENV_NAME.fullmatch(name):
            raise ConfigError(key, f"'${{{name}}}' is not a valid environment variable reference")
        if name not in env:
            raise ConfigError(key, f"environment variable {name} is not set")
        return env[name]

    return _ENV_REF.sub(substitute, value)


def _toml_problem(message: str) -> str:
    match = _TOML_WHERE.match(message)
    if match is None:
        return f"invalid TOML: {message}"
    what, line, column = match.groups()
    what = what[:1].lower() + what[1:]
    if line is None:
        return f"invalid TOML at the end of the file: {what}"
    return f"invalid TOML at line {line}, column {column}: {what}"


# --------------------------------------------------------------------------- values


def _resolve_sqlite(url: str, base_dir: Path) -> str:
    """A SQLite file URL made absolute against ``base_dir`` (``~`` expanded); other URLs unchanged."""
    scheme, sep, rest = url.partition(":///")
    if not sep or not re.fullmatch(r"sqlite(\+\w+)?", scheme):
        return url
    location, qmark, query = rest.partition("?")
    if location in ("", ":memory:") or location.startswith("/"):
        return url
    path = Path(location).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    return f"{scheme}:///{path.as_posix()}{qmark}{query}"


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        close = difflib.get_close_matches(name, sorted(available_timezones()), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else " (an IANA name such as Europe/London)"
        raise ConfigError("timezone", f"unknown time zone '{name}'{hint}") from None


def _hours(text: str | None, key: str) -> tuple[time, time] | None:
    """``"08:00-19:00"`` as (start, end); "" means any time (None)."""
    if not text:
        return None
    match = _HOURS.fullmatch(text)
    try:
        h1, m1, h2, m2 = (int(g) for g in match.groups()) if match else (-1,) * 4
        start, end = time(h1, m1), time(h2, m2)
    except ValueError:
        raise ConfigError(key, 'must look like 08:00-19:00 (24-hour clock), or "" for any time') from None
    if end <= start:
        raise ConfigError(key, f"must end after it starts ({text!r} ends at or before its start)")
    return start, end


def _email(text: str, key: str) -> str:
    address = text.strip()
    if address.lower().startswith("mailto:"):
        address = address[len("mailto:") :]
    local, at, domain = address.partition("@")
    if not (local and at and domain) or " " in address:
        raise ConfigError(key, f"{text!r} is not an e-mail address")
    return address.lower()


# --------------------------------------------------------------------------- calendars


def _calendar(name: str, raw: _Table, base_dir: Path, env: Mapping[str, str]) -> CalendarConfig:
    if not _NAME.fullmatch(name):
        raise ConfigError(raw.path, f"calendar name '{name}' {_NAME_RULE}")
    t = raw.check(_ALL_CALENDAR_KEYS)
    kind = t.choice("kind", KINDS)
    for key in t.names():
        if key not in _CALENDAR_COMMON and key not in _CALENDAR_KEYS[kind]:
            raise ConfigError(t.key(key), f'is not used by kind = "{kind}"')

    url = t.string("url")
    path: Path | None = None
    if kind == "file":
        url, path = None, _file_location(t, base_dir)
    elif kind in OAUTH_KINDS:
        url = _http_url(
            t.string("base_url", DEFAULT_API_URLS[kind]) or "", t.key("base_url"), feed=False
        ).rstrip("/")
    elif url is None:
        raise ConfigError(
            t.key("url"),
            "is required"
            + (" (the calendar's URL, as `mirrorcal connect icloud` prints it)" if kind == "icloud" else ""),
        )
    else:
        url = _http_url(url, t.key("url"), feed=kind == "ics")
    calendar_id = t.string("calendar_id", "primary" if kind == "google" else None)
    if kind == "microsoft" and not calendar_id:
        raise ConfigError(
            t.key("calendar_id"), "is required (`mirrorcal connect microsoft` lists your calendars' ids)"
        )
    connection = t.string("connection")
    if connection is not None and not _NAME.fullmatch(connection):
        raise ConfigError(t.key("connection"), f"connection name '{connection}' {_NAME_RULE}")
    access_token = t.string("access_token")
    if kind in OAUTH_KINDS and access_token is None and connection is None:
        connection = name

    username, password = t.string("username"), t.string("password")
    if password is not None and username is None:
        raise ConfigError(t.key("username"), "is required when password is set")
    if kind == "caldav" and connection is not None:
        if username is None:
            raise ConfigError(t.key("username"), "is required when connection is set")
        if password is not None:
            raise ConfigError(t.key("connection"), "give either password or connection, not both")
    if kind == "icloud":
        if username is None:
            raise ConfigError(t.key("username"), "is required (your Apple ID)")
        if password is None and connection is None:
            connection = name
    client = t.string("client")
    if client is not None and not client.strip():
        raise ConfigError(t.key("client"), "must not be empty (leave it out for no label)")
    emails = frozenset(_email(value, key) for key, value in t.strings("email", single=True))

    read_only = t.boolean("read_only", kind == "ics")
    if kind == "ics" and not read_only:
        raise ConfigError(t.key("read_only"), "an ICS feed is always read-only")
    return CalendarConfig(
        name=name,
        kind=kind,
        url=url,
        path=path,
        username=username,
        password=password,
        unified=t.boolean("unified", True),
        client=client,
        emails=emails,
        read_only=read_only,
        poll_seconds=t.integer("poll_seconds", DEFAULT_POLL_SECONDS[kind], minimum=1),
        calendar_id=calendar_id,
        connection=connection,
        access_token=access_token,
    )


def _http_url(url: str, key: str, *, feed: bool) -> str:
    """An http(s) URL; for feeds ``webcal://`` / ``webcals://`` become ``https://``."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if feed and scheme in ("webcal", "webcals"):
        url, scheme = "https" + url[len(parts.scheme) :], "https"
    if scheme not in ("http", "https") or not parts.netloc:
        accepted = "http://, https:// or webcal://" if feed else "http:// or https://"
        raise ConfigError(key, f"must be an {accepted} URL (got {url!r})")
    return url


def _file_location(t: _Table, base_dir: Path) -> Path:
    """The absolute path of a ``file`` calendar, from ``path`` or a ``file://`` ``url``."""
    text, url = t.string("path"), t.string("url")
    if text is not None and url is not None:
        raise ConfigError(t.key("url"), "give either path or url, not both")
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost") or not parts.path:
            raise ConfigError(t.key("url"), f'must be a file:/// URL for kind = "file" (got {url!r})')
        return Path(unquote(parts.path))
    if text is None:
        raise ConfigError(t.key("path"), 'is required for kind = "file" (or url = "file:///...")')
    if not text.strip():
        raise ConfigError(t.key("path"), "must not be empty")
    path = Path(text).expanduser()
    return path if path.is_absolute() else base_dir / path


# --------------------------------------------------------------------------- syncs


def _syncs(raws: list[_Table], calendars: Mapping[str, CalendarConfig]) -> list[SyncSpec]:
    """Every ``[[syncs]]`` entry checked against ``calendars``, two-way ones expanded into pairs."""
    specs: list[SyncSpec] = []
    names: dict[str, str] = {}
    directions: dict[tuple[str, str], str] = {}
    for raw in raws:
        t = raw.check(_SYNC_KEYS)
        spec, two_way = _sync(t, calendars)
        if spec.name in names:
            raise ConfigError(t.key("name"), f"'{spec.name}' is already the name of {names[spec.name]}")
        names[spec.name] = t.path
        halves = [spec]
        if two_way:
            back = replace(
                spec,
                name=spec.name + BACK_SUFFIX,
                source=spec.target,
                target=spec.source,
                source_client=spec.target_client,
                target_client=spec.source_client,
                owner_emails=calendars[spec.target].emails,
                pair=spec.name,
            )
            halves = [replace(spec, pair=back.name), back]
        for half in halves:
            direction = (half.source, half.target)
            if direction in directions:
                raise ConfigError(
                    t.path,
                    f"copies '{half.source}' to '{half.target}', which {directions[direction]} already does",
                )
            directions[direction] = f"{t.path} ('{spec.name}')"
        specs.extend(halves)
    return specs


def _sync(t: _Table, calendars: Mapping[str, CalendarConfig]) -> tuple[SyncSpec, bool]:
    """One ``[[syncs]]`` entry as its from -> to SyncSpec, and whether it is two-way."""
    name = t.required("name")
    if not _NAME.fullmatch(name):
        raise ConfigError(t.key("name"), f"'{name}' {_NAME_RULE}")
    source, target = (_calendar_ref(t, side, calendars) for side in ("from", "to"))
    if source.name == target.name:
        raise ConfigError(t.key("to"), f"from and to are the same calendar ('{target.name}')")
    if target.read_only:
        raise ConfigError(
            t.key("to"), f"'{target.name}' {_read_only_reason(target)}; it cannot be a sync target"
        )
    two_way = t.boolean("two_way", False)
    if two_way and source.read_only:
        raise ConfigError(
            t.key("two_way"),
            f"two_way needs both calendars writable; '{source.name}' {_read_only_reason(source)}",
        )

    privacy = Privacy(t.choice("privacy", [p.value for p in Privacy]))
    title = t.string("title")
    if title is not None and privacy is Privacy.FULL:
        raise ConfigError(t.key("title"), 'is only used with privacy = "private" or "custom"')
    if privacy is Privacy.CUSTOM and title is None:
        raise ConfigError(t.key("title"), 'is required with privacy = "custom"')
    if title is not None and not title.strip():
        raise ConfigError(t.key("title"), "must not be empty")

    spec = SyncSpec(
        name=name,
        source=source.name,
        target=target.name,
        privacy=privacy,
        title=title or "Busy",
        filters=_filters(t),
        on_target_delete=t.choice("on_target_delete", ("restore", "forget"), "restore"),
        source_client=source.client,
        target_client=target.client,
        owner_emails=source.emails,
        paused=t.boolean("paused", False),
        show_as=t.choice("show_as", SHOW_AS, ""),
    )
    return spec, two_way


def _read_only_reason(calendar: CalendarConfig) -> str:
    return "is an ICS feed and is read-only" if calendar.kind == "ics" else "is marked read_only"


def _calendar_ref(t: _Table, side: str, calendars: Mapping[str, CalendarConfig]) -> CalendarConfig:
    name = t.required(side, " (a calendar name)")
    if name not in calendars:
        defined = f"defined: {', '.join(calendars)}" if calendars else "no calendars are defined"
        raise ConfigError(t.key(side), f"calendar '{name}' is not defined ({defined})")
    return calendars[name]


def _filters(t: _Table) -> Filters:
    patterns = []
    for key, text in t.strings("exclude_titles"):
        if not text:
            raise ConfigError(key, "an empty pattern would exclude every event")
        try:
            patterns.append(re.compile(text, re.IGNORECASE))
        except re.error as exc:
            raise ConfigError(key, f"not a valid regular expression: {exc}") from None
    return Filters(
        skip_free=t.boolean("skip_free", True),
        skip_declined=t.boolean("skip_declined", True),
        skip_all_day=t.boolean("skip_all_day", False),
        working_hours=_hours(t.string("working_hours", ""), t.key("working_hours")),
        window_days=t.integer("window_days", 180, minimum=1),
        exclude_titles=tuple(patterns),
    )
