"""The configuration file: every documented error names its key, and valid files resolve as documented."""

from __future__ import annotations

import re
import string
from datetime import time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mirrorcal.config import (
    CalendarConfig,
    Config,
    default_database_url,
    load_config,
    local_timezone,
    parse_config,
)
from mirrorcal.errors import ConfigError
from mirrorcal.model import Privacy
from mirrorcal.sync.spec import Filters, SyncSpec

BASE = Path("/srv/mirrorcal")
ENV = {"PERSONAL_PASSWORD": "s3cret", "TZ": "UTC"}

EXAMPLE = """\
database = "sqlite:///mirrorcal.db"      # optional; default: sqlite file in the user data dir
timezone = "Europe/London"
[conflicts]
buffer_minutes = 0
working_hours = "08:00-19:00"
[calendars.personal]
kind = "caldav"
url = "http://127.0.0.1:5232/recruiter/personal/"
username = "recruiter"
password = "${PERSONAL_PASSWORD}"
unified = true
client = "me"
[calendars.client-c-ats]
kind = "ics"
url = "http://127.0.0.1:8081/lever.ics"
client = "C"
[[syncs]]
name = "client-c-to-personal"
from = "client-c-ats"
to = "personal"
privacy = "full"
"""

CALENDARS = """\
[calendars.personal]
kind = "caldav"
url = "http://127.0.0.1:5232/recruiter/personal/"
client = "me"
[calendars.client-c-ats]
kind = "ics"
url = "http://127.0.0.1:8081/lever.ics"
client = "C"
"""

CLIENT_A = """\
[calendars.client-a]
kind = "caldav"
url = "https://dav.client-a.example/recruiter/"
client = "A"
"""

ARCHIVE = """\
[calendars.archive]
kind = "file"
path = "archive.ics"
read_only = true
"""


def parse(text: str, env: dict[str, str] | None = None, base_dir: Path = BASE) -> Config:
    return parse_config(text, base_dir=base_dir, env=ENV if env is None else env)


def sync(
    body: str = "",
    *,
    name: str = "s",
    frm: str = "client-c-ats",
    to: str = "personal",
    privacy: str | None = "full",
) -> str:
    """One [[syncs]] entry."""
    lines = ["[[syncs]]", f'name = "{name}"', f'from = "{frm}"', f'to = "{to}"']
    if privacy is not None:
        lines.append(f'privacy = "{privacy}"')
    return "\n".join(lines) + "\n" + body + "\n"


# --------------------------------------------------------------------------- errors

# fmt: off
ERRORS = [
    # (id, text, key, fragment of the problem)
    ("bad kind", CALENDARS.replace('kind = "caldav"', 'kind = "cladav"'), "calendars.personal.kind",
     "must be one of caldav, ics, file"),
    ("missing kind", CALENDARS.replace('kind = "caldav"\n', ""), "calendars.personal.kind", "is required"),
    ("typo in calendar", CALENDARS.replace('client = "me"', 'usernme = "recruiter"'),
     "calendars.personal.usernme", "unknown key 'usernme' (did you mean 'username'?)"),
    ("typo at top", 'databse = "sqlite://"\n', "databse", "unknown key 'databse' (did you mean 'database'?)"),
    ("typo in conflicts", "[conflicts]\nbuffer = 5\n", "conflicts.buffer",
     "unknown key 'buffer' (did you mean 'buffer_minutes'?)"),
    ("typo in sync", CALENDARS + sync('privcy = "full"', privacy=None), "syncs[0].privcy",
     "did you mean 'privacy'?"),
    ("unset variable", CALENDARS.replace('client = "me"', 'username = "r"\npassword = "${NOPE_PASSWORD}"'),
     "calendars.personal.password", "environment variable NOPE_PASSWORD is not set"),
    ("bad variable name", CALENDARS.replace('client = "me"', 'client = "${1X}"'), "calendars.personal.client",
     "'${1X}' is not a valid environment variable reference"),
    ("undefined calendar", CALENDARS + sync(frm="foo"), "syncs[0].from",
     "calendar 'foo' is not defined (defined: personal, client-c-ats)"),
    ("no calendars", sync(frm="foo"), "syncs[0].from", "calendar 'foo' is not defined (no calendars are defined)"),
    ("missing from", CALENDARS + '[[syncs]]\nname = "s"\nto = "personal"\nprivacy = "full"\n', "syncs[0].from",
     "is required"),
    ("feed as target", CALENDARS + sync(frm="personal", to="client-c-ats"), "syncs[0].to",
     "'client-c-ats' is an ICS feed and is read-only; it cannot be a sync target"),
    ("read-only target", CALENDARS + ARCHIVE + sync(frm="personal", to="archive"), "syncs[0].to",
     "'archive' is marked read_only; it cannot be a sync target"),
    ("same calendar", CALENDARS + sync(frm="personal", to="personal"), "syncs[0].to",
     "from and to are the same calendar"),
    ("two-way from a feed", CALENDARS + sync("two_way = true"), "syncs[0].two_way",
     "two_way needs both calendars writable; 'client-c-ats' is an ICS feed"),
    ("two-way from read-only", CALENDARS + ARCHIVE + sync("two_way = true", frm="archive"), "syncs[0].two_way",
     "two_way needs both calendars writable; 'archive' is marked read_only"),
    ("bad regex", CALENDARS + sync('exclude_titles = ["lunch", "(unclosed"]'), "syncs[0].exclude_titles[1]",
     "not a valid regular expression: missing ), unterminated subpattern"),
    ("empty regex", CALENDARS + sync('exclude_titles = [""]'), "syncs[0].exclude_titles[0]",
     "an empty pattern would exclude every event"),
    ("regex list type", CALENDARS + sync('exclude_titles = "lunch"'), "syncs[0].exclude_titles",
     "must be a list of strings"),
    ("conflict hours", '[conflicts]\nworking_hours = "8am-7pm"\n', "conflicts.working_hours",
     "must look like 08:00-19:00"),
    ("sync hours out of range", CALENDARS + sync('working_hours = "25:00-26:00"'), "syncs[0].working_hours",
     "must look like 08:00-19:00"),
    ("hours reversed", CALENDARS + sync('working_hours = "19:00-08:00"'), "syncs[0].working_hours",
     "must end after it starts"),
    ("invalid TOML", 'database = "x"\ntimezone = "UTC"\nfoo bar = 1\n', "",
     "invalid TOML at line 3, column 5: expected '=' after a key"),
    ("TOML cut short", 'timezone = "UTC', "", "invalid TOML at the end of the file: unterminated string"),
    ("TOML duplicate table", CALENDARS + '[calendars.personal]\nkind = "ics"\n', "", "invalid TOML at line 9"),
    ("bad privacy, third sync", CALENDARS + CLIENT_A + sync(name="a") + sync(name="b", frm="personal", to="client-a")
     + sync(name="c", frm="client-a", privacy="secret"), "syncs[2].privacy", "must be one of full, private, custom"),
    ("missing privacy", CALENDARS + sync(privacy=None), "syncs[0].privacy", "is required (one of full, private, custom)"),
    ("custom without title", CALENDARS + sync(privacy="custom"), "syncs[0].title",
     'is required with privacy = "custom"'),
    ("title on full copies", CALENDARS + sync('title = "Busy"'), "syncs[0].title",
     'is only used with privacy = "private" or "custom"'),
    ("empty title", CALENDARS + sync('title = " "', privacy="private"), "syncs[0].title", "must not be empty"),
    ("bad on_target_delete", CALENDARS + sync('on_target_delete = "keep"'), "syncs[0].on_target_delete",
     "must be one of restore, forget"),
    ("unified not a bool", CALENDARS.replace('client = "me"', 'unified = "yes"'), "calendars.personal.unified",
     "must be true or false"),
    ("client not a string", CALENDARS.replace('client = "me"', "client = 3"), "calendars.personal.client",
     "must be a string"),
    ("empty client", CALENDARS.replace('client = "me"', 'client = ""'), "calendars.personal.client",
     "must not be empty"),
    ("negative buffer", "[conflicts]\nbuffer_minutes = -5\n", "conflicts.buffer_minutes", "must be at least 0"),
    ("buffer as text", '[conflicts]\nbuffer_minutes = "10"\n', "conflicts.buffer_minutes", "must be a whole number"),
    ("zero poll", CALENDARS.replace('client = "me"', "poll_seconds = 0"), "calendars.personal.poll_seconds",
     "must be at least 1"),
    ("bool poll", CALENDARS.replace('client = "me"', "poll_seconds = true"), "calendars.personal.poll_seconds",
     "must be a whole number"),
    ("zero window", CALENDARS + sync("window_days = 0"), "syncs[0].window_days", "must be at least 1"),
    ("unknown zone", 'timezone = "Europe/Londn"\n', "timezone",
     "unknown time zone 'Europe/Londn' (did you mean 'Europe/London'?)"),
    ("database not a URL", 'database = "mirrorcal.db"\n', "database", "must be a database URL"),
    ("calendar name", '[calendars."my cal"]\nkind = "ics"\nurl = "https://x/"\n', 'calendars."my cal"',
     "calendar name 'my cal' may only use letters, digits"),
    ("calendar not a table", "[calendars]\npersonal = 3\n", "calendars.personal", "must be a table"),
    ("calendars not a table", "calendars = 3\n", "calendars", "must be a table"),
    ("syncs not an array", CALENDARS + '[syncs]\nname = "s"\n', "syncs", "must be a list of [[syncs]] tables"),
    ("sync name", CALENDARS + sync(name="a b"), "syncs[0].name", "'a b' may only use letters"),
    ("sync name missing", CALENDARS + sync().replace('name = "s"\n', ""), "syncs[0].name", "is required"),
    ("duplicate sync name", CALENDARS + CLIENT_A + sync() + sync(frm="personal", to="client-a"), "syncs[1].name",
     "'s' is already the name of syncs[0]"),
    ("same direction twice", CALENDARS + sync() + sync(name="t"), "syncs[1]",
     "copies 'client-c-ats' to 'personal', which syncs[0] ('s') already does"),
    ("two-way half repeats a sync", CALENDARS + CLIENT_A + sync(frm="personal", to="client-a")
     + sync("two_way = true", name="t", frm="client-a"),
     "syncs[1]", "copies 'personal' to 'client-a', which syncs[0] ('s') already does"),
    ("path on caldav", CALENDARS.replace('client = "me"', 'path = "x.ics"'), "calendars.personal.path",
     'is not used by kind = "caldav"'),
    ("caldav without url", '[calendars.a]\nkind = "caldav"\n', "calendars.a.url", "is required"),
    ("caldav url scheme", '[calendars.a]\nkind = "caldav"\nurl = "ftp://x/"\n', "calendars.a.url",
     "must be an http:// or https:// URL"),
    ("feed url scheme", '[calendars.a]\nkind = "ics"\nurl = "lever.ics"\n', "calendars.a.url",
     "must be an http://, https:// or webcal:// URL"),
    ("feed made writable", '[calendars.a]\nkind = "ics"\nurl = "https://x/"\nread_only = false\n',
     "calendars.a.read_only", "an ICS feed is always read-only"),
    ("file without path", '[calendars.a]\nkind = "file"\n', "calendars.a.path", 'is required for kind = "file"'),
    ("file path and url", '[calendars.a]\nkind = "file"\npath = "a.ics"\nurl = "file:///a.ics"\n',
     "calendars.a.url", "give either path or url, not both"),
    ("file url scheme", '[calendars.a]\nkind = "file"\nurl = "https://x/a.ics"\n', "calendars.a.url",
     "must be a file:/// URL"),
    ("credentials on a file", '[calendars.a]\nkind = "file"\npath = "a.ics"\nusername = "r"\n',
     "calendars.a.username", 'is not used by kind = "file"'),
    ("password without username", CALENDARS.replace('client = "me"', 'password = "x"'),
     "calendars.personal.username", "is required when password is set"),
    ("bad e-mail", CALENDARS.replace('client = "me"', 'email = ["me@example.com", "recruiter"]'),
     "calendars.personal.email[1]", "'recruiter' is not an e-mail address"),
    ("e-mail type", CALENDARS.replace('client = "me"', "email = 3"), "calendars.personal.email",
     "must be a list of strings (or one string)"),
]
# fmt: on


@pytest.mark.parametrize(
    ("text", "key", "fragment"), [row[1:] for row in ERRORS], ids=[row[0] for row in ERRORS]
)
def test_each_mistake_names_its_key_and_the_problem(text: str, key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    assert caught.value.key == key
    assert fragment in caught.value.problem
    assert str(caught.value) == (f"{key}: {caught.value.problem}" if key else caught.value.problem)


FULL = """\
database = "sqlite:///mirrorcal.db"
timezone = "Europe/London"
[conflicts]
buffer_minutes = 5
working_hours = "08:00-19:00"
[calendars.personal]
kind = "caldav"
url = "http://127.0.0.1:5232/recruiter/personal/"
username = "recruiter"
password = "${PERSONAL_PASSWORD}"
unified = true
client = "me"
email = ["me@example.com"]
read_only = false
poll_seconds = 60
[calendars.client-c-ats]
kind = "ics"
url = "http://127.0.0.1:8081/lever.ics"
[[syncs]]
name = "personal-to-c"
from = "client-c-ats"
to = "personal"
privacy = "private"
title = "Busy"
two_way = false
on_target_delete = "forget"
skip_free = true
skip_declined = true
skip_all_day = false
working_hours = "07:00-20:00"
window_days = 90
exclude_titles = ["lunch"]
"""

WRONG_TYPES = [
    # (dotted key, the line of FULL that sets it, a value of the wrong type)
    ("database", 'database = "sqlite:///mirrorcal.db"', "1"),
    ("timezone", 'timezone = "Europe/London"', "1"),
    ("conflicts.buffer_minutes", "buffer_minutes = 5", '"5"'),
    ("conflicts.working_hours", 'working_hours = "08:00-19:00"', "8"),
    ("calendars.personal.kind", 'kind = "caldav"', "1"),
    ("calendars.personal.url", 'url = "http://127.0.0.1:5232/recruiter/personal/"', "1"),
    ("calendars.personal.username", 'username = "recruiter"', "1"),
    ("calendars.personal.password", 'password = "${PERSONAL_PASSWORD}"', "1"),
    ("calendars.personal.unified", "unified = true", '"yes"'),
    ("calendars.personal.client", 'client = "me"', "1"),
    ("calendars.personal.email", 'email = ["me@example.com"]', "1"),
    ("calendars.personal.email[0]", 'email = ["me@example.com"]', "[1]"),
    ("calendars.personal.read_only", "read_only = false", "0"),
    ("calendars.personal.poll_seconds", "poll_seconds = 60", "60.5"),
    ("syncs[0].name", 'name = "personal-to-c"', "1"),
    ("syncs[0].from", 'from = "client-c-ats"', "1"),
    ("syncs[0].to", 'to = "personal"', "1"),
    ("syncs[0].privacy", 'privacy = "private"', "1"),
    ("syncs[0].title", 'title = "Busy"', "1"),
    ("syncs[0].two_way", "two_way = false", '"no"'),
    ("syncs[0].on_target_delete", 'on_target_delete = "forget"', "false"),
    ("syncs[0].skip_free", "skip_free = true", "1"),
    ("syncs[0].skip_declined", "skip_declined = true", "1"),
    ("syncs[0].skip_all_day", "skip_all_day = false", "0"),
    ("syncs[0].working_hours", 'working_hours = "07:00-20:00"', "7"),
    ("syncs[0].window_days", "window_days = 90", '"90"'),
    ("syncs[0].exclude_titles", 'exclude_titles = ["lunch"]', '"lunch"'),
    ("syncs[0].exclude_titles[0]", 'exclude_titles = ["lunch"]', "[1]"),
]


def test_the_full_example_with_every_key_parses() -> None:
    config = parse(FULL)
    assert config.conflict_buffer == timedelta(minutes=5)
    assert config.calendars["personal"].poll_seconds == 60
    assert config.syncs[0].filters.window_days == 90


@pytest.mark.parametrize(("key", "line", "wrong"), WRONG_TYPES, ids=[row[0] for row in WRONG_TYPES])
def test_a_value_of_the_wrong_type_is_named_by_its_dotted_path(key: str, line: str, wrong: str) -> None:
    assert FULL.count(line) == 1
    name = line.split(" = ")[0]
    with pytest.raises(ConfigError) as caught:
        parse(FULL.replace(line, f"{name} = {wrong}"))
    assert caught.value.key == key


@given(st.text(alphabet=string.printable, max_size=200))
def test_any_text_gives_a_config_or_a_config_error(text: str) -> None:
    try:
        parse(text)
    except ConfigError:
        pass


# --------------------------------------------------------------------------- valid files


def test_the_documented_example_parses_to_the_expected_config() -> None:
    config = parse(EXAMPLE)
    personal = CalendarConfig(
        name="personal",
        kind="caldav",
        url="http://127.0.0.1:5232/recruiter/personal/",
        username="recruiter",
        password="s3cret",
        unified=True,
        client="me",
        poll_seconds=30,
    )
    feed = CalendarConfig(
        name="client-c-ats",
        kind="ics",
        url="http://127.0.0.1:8081/lever.ics",
        client="C",
        read_only=True,
        poll_seconds=300,
    )
    assert config == Config(
        database_url="sqlite:////srv/mirrorcal/mirrorcal.db",
        timezone=ZoneInfo("Europe/London"),
        conflict_buffer=timedelta(0),
        conflict_working_hours=(time(8), time(19)),
        calendars={"personal": personal, "client-c-ats": feed},
        syncs=[
            SyncSpec(
                name="client-c-to-personal",
                source="client-c-ats",
                target="personal",
                privacy=Privacy.FULL,
                source_client="C",
                target_client="me",
            )
        ],
    )
    assert "s3cret" not in repr(config)


def test_defaults() -> None:
    text = """
[calendars.personal]
kind = "caldav"
url = "https://dav.example.com/personal/"
[calendars.feed]
kind = "ics"
url = "https://ats.example.com/feed.ics"
[calendars.notes]
kind = "file"
path = "notes.ics"
[[syncs]]
name = "feed-to-personal"
from = "feed"
to = "personal"
privacy = "private"
"""
    config = parse(text, env={"TZ": "Asia/Tokyo"})
    assert config.database_url == default_database_url()
    assert config.timezone == ZoneInfo("Asia/Tokyo")
    assert config.conflict_buffer == timedelta(0)
    assert config.conflict_working_hours is None
    cals = config.calendars
    assert [c.poll_seconds for c in cals.values()] == [30, 300, 30]
    assert [c.read_only for c in cals.values()] == [False, True, False]
    assert all(c.unified and c.client is None and c.emails == frozenset() for c in cals.values())
    assert cals["personal"].username is None and cals["personal"].password is None
    (spec,) = config.syncs
    assert spec.title == "Busy"
    assert spec.filters == Filters()
    assert spec.on_target_delete == "restore"
    assert spec.pair is None
    assert parse("", env={}).calendars == {} and parse("", env={}).syncs == []


def test_default_database_is_an_absolute_sqlite_file() -> None:
    url = default_database_url()
    assert url.startswith("sqlite:////") and url.endswith("/mirrorcal.db")


def test_environment_variables_are_expanded_in_any_string() -> None:
    text = """
database = "postgresql://mc:${DB_PASSWORD}@${DB_HOST}/mirrorcal"
[calendars.personal]
kind = "caldav"
url = "https://${DAV_HOST}/dav/$${NOT_A_VAR}/"
username = "${USER_NAME}"
password = "${PERSONAL_PASSWORD}"
email = ["${USER_NAME}@EXAMPLE.com"]
[calendars.feed]
kind = "ics"
url = "https://ats.example.com/${FEED_TOKEN}.ics"
[[syncs]]
name = "feed-to-personal"
from = "feed"
to = "personal"
privacy = "${MODE}"
exclude_titles = ["^${SECRET_PREFIX}"]
"""
    env = {
        "DB_PASSWORD": "p@ss", "DB_HOST": "db", "DAV_HOST": "dav.example.com", "USER_NAME": "Rec",
        "PERSONAL_PASSWORD": "", "FEED_TOKEN": "tok123", "MODE": "private", "SECRET_PREFIX": "HOLD",
    }  # fmt: skip
    config = parse(text, env=env)
    assert config.database_url == "postgresql://mc:p@ss@db/mirrorcal"
    personal = config.calendars["personal"]
    assert personal.url == "https://dav.example.com/dav/${NOT_A_VAR}/"
    assert (personal.username, personal.password) == ("Rec", "")
    assert personal.emails == frozenset({"rec@example.com"})
    assert config.calendars["feed"].url == "https://ats.example.com/tok123.ics"
    (spec,) = config.syncs
    assert spec.privacy is Privacy.PRIVATE
    assert [p.pattern for p in spec.filters.exclude_titles] == ["^HOLD"]


def test_two_way_becomes_a_linked_pair() -> None:
    text = """
[calendars.personal]
kind = "caldav"
url = "https://dav.example.com/personal/"
client = "me"
email = "Me@Example.com"
[calendars.client-a]
kind = "caldav"
url = "https://dav.example.com/a/"
client = "A"
email = ["recruiter@client-a.example", "mailto:Alias@client-a.example"]
[[syncs]]
name = "a-both-ways"
from = "client-a"
to = "personal"
privacy = "custom"
title = "Recruiting"
two_way = true
on_target_delete = "forget"
window_days = 30
"""
    there, back = parse(text).syncs
    assert (there.name, there.source, there.target, there.pair) == (
        "a-both-ways",
        "client-a",
        "personal",
        "a-both-ways~back",
    )
    assert (back.name, back.source, back.target, back.pair) == (
        "a-both-ways~back",
        "personal",
        "client-a",
        "a-both-ways",
    )
    assert (there.source_client, there.target_client) == ("A", "me")
    assert (back.source_client, back.target_client) == ("me", "A")
    assert there.owner_emails == frozenset({"recruiter@client-a.example", "alias@client-a.example"})
    assert back.owner_emails == frozenset({"me@example.com"})
    for half in (there, back):
        assert (half.privacy, half.title, half.on_target_delete) == (Privacy.CUSTOM, "Recruiting", "forget")
        assert half.filters.window_days == 30
    assert there.settings_hash != back.settings_hash  # owner e-mails differ
    assert not there.paused and not back.paused
    paused = parse(text.replace("window_days = 30", "window_days = 30\npaused = true")).syncs
    assert [half.paused for half in paused] == [True, True]
    assert [half.settings_hash for half in paused] == [there.settings_hash, back.settings_hash]


def test_filters_are_parsed() -> None:
    text = CALENDARS + sync(
        'skip_free = false\nskip_declined = false\nskip_all_day = true\nworking_hours = "8:30-18:00"\n'
        'window_days = 14\nexclude_titles = ["^lunch$", "dentist"]'
    )
    filters = parse(text).syncs[0].filters
    assert (filters.skip_free, filters.skip_declined, filters.skip_all_day) == (False, False, True)
    assert filters.working_hours == (time(8, 30), time(18))
    assert filters.window_days == 14
    lunch, dentist = filters.exclude_titles
    assert lunch.search("Lunch") and not lunch.search("Lunch with Maria")
    assert dentist.search("DENTIST 3pm")


@pytest.mark.parametrize(
    ("database", "expected"),
    [
        ("sqlite:///mirrorcal.db", "sqlite:////srv/mirrorcal/mirrorcal.db"),
        ("sqlite:///state/m.db?timeout=5", "sqlite:////srv/mirrorcal/state/m.db?timeout=5"),
        ("sqlite+pysqlite:///m.db", "sqlite+pysqlite:////srv/mirrorcal/m.db"),
        ("sqlite:////var/lib/m.db", "sqlite:////var/lib/m.db"),
        ("sqlite:///~/m.db", "sqlite:////home/rec/m.db"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("sqlite://", "sqlite://"),
        ("postgresql://mc@db/mirrorcal", "postgresql://mc@db/mirrorcal"),
    ],
)
def test_sqlite_paths_are_relative_to_the_config_file(
    database: str, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", "/home/rec")
    assert parse(f'database = "{database}"\n').database_url == expected


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ('path = "notes.ics"', "/srv/mirrorcal/notes.ics"),
        ('path = "../shared/notes.ics"', "/srv/mirrorcal/../shared/notes.ics"),
        ('path = "/data/notes.ics"', "/data/notes.ics"),
        ('path = "~/cal/notes.ics"', "/home/rec/cal/notes.ics"),
        ('url = "file:///data/my%20notes.ics"', "/data/my notes.ics"),
        ('url = "file://localhost/data/notes.ics"', "/data/notes.ics"),
    ],
)
def test_file_calendars_resolve_their_path(
    location: str, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", "/home/rec")
    cal = parse(f'[calendars.notes]\nkind = "file"\n{location}\n').calendars["notes"]
    assert cal.path == Path(expected)
    assert cal.url is None and cal.read_only is False


def test_webcal_feeds_are_fetched_over_https() -> None:
    text = '[calendars.f]\nkind = "ics"\nurl = "webcal://ats.example.com/feed.ics"\npoll_seconds = 900\n'
    cal = parse(text).calendars["f"]
    assert (cal.url, cal.read_only, cal.poll_seconds) == ("https://ats.example.com/feed.ics", True, 900)


def test_conflict_settings() -> None:
    config = parse('[conflicts]\nbuffer_minutes = 10\nworking_hours = ""\n')
    assert config.conflict_buffer == timedelta(minutes=10)
    assert config.conflict_working_hours is None


def test_calendar_names_may_hold_dots_when_quoted() -> None:
    cal = parse('[calendars."client.a"]\nkind = "ics"\nurl = "https://x/"\n').calendars["client.a"]
    assert cal.name == "client.a"
    with pytest.raises(ConfigError) as caught:
        parse('[calendars."client.a"]\nkind = "ics"\nurl = "https://x/"\nbad = 1\n')
    assert caught.value.key == 'calendars."client.a".bad'


# --------------------------------------------------------------------------- files and zones


def test_load_config_reads_relative_to_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERSONAL_PASSWORD", "from-env")
    path = tmp_path / "mirrorcal.toml"
    path.write_text(EXAMPLE, encoding="utf-8")
    config = load_config(path)
    assert config.database_url == f"sqlite:///{tmp_path.as_posix()}/mirrorcal.db"
    assert config.calendars["personal"].password == "from-env"


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.toml")
    assert caught.value.key == ""
    assert caught.value.problem == f"configuration file {tmp_path / 'nope.toml'} not found"
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        load_config(binary)
    with pytest.raises(ConfigError, match="cannot read configuration file"):
        load_config(tmp_path)


def test_local_timezone(tmp_path: Path) -> None:
    zoneinfo = tmp_path / "usr/share/zoneinfo/Europe"
    zoneinfo.mkdir(parents=True)
    (zoneinfo / "Paris").write_bytes(b"")
    link = tmp_path / "localtime"
    link.symlink_to(zoneinfo / "Paris")
    assert local_timezone({"TZ": ":America/New_York"}, link) == ZoneInfo("America/New_York")
    assert local_timezone({"TZ": "not a zone"}, link) == ZoneInfo("Europe/Paris")
    assert local_timezone({}, link) == ZoneInfo("Europe/Paris")
    assert local_timezone({}, tmp_path / "missing") == ZoneInfo("UTC")


def test_the_example_in_the_user_reference_parses() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text(encoding="utf-8")
    example = re.search(r"```toml\n(.*?)```", doc, re.DOTALL)
    assert example is not None
    env = {name: "x" for name in re.findall(r"\$\{(\w+)\}", example.group(1))}
    config = parse(example.group(1), env=env)
    assert list(config.calendars) == ["personal", "client-a", "client-b", "client-c-ats"]
    assert config.calendars["client-c-ats"].url == "https://jobs.lever.example/calendar/x.ics"
    assert [(s.source, s.target, s.privacy.value) for s in config.syncs] == [
        ("client-a", "personal", "full"),
        ("client-b", "personal", "full"),
        ("client-c-ats", "personal", "full"),
        ("personal", "client-a", "private"),
        ("personal", "client-b", "private"),
    ]
    assert config.conflict_buffer == timedelta(minutes=10)
    # uncommenting the Client C calendar and its sync gives a valid file too
    text = example.group(1)
    tail = text[text.index("# [calendars.client-c]") :]
    uncommented = text.replace(tail, re.sub(r"^# ?", "", tail, flags=re.MULTILINE))
    config = parse(uncommented, env=env | {"CLIENT_C_PASSWORD": "x"})
    assert config.calendars["client-c"].client == config.calendars["client-c-ats"].client == "C"
    assert (config.syncs[-1].source, config.syncs[-1].target, config.syncs[-1].privacy) == (
        "personal",
        "client-c",
        Privacy.PRIVATE,
    )


def _provider_config(body: str) -> Config:
    return parse_config('timezone = "UTC"\n' + body, base_dir=BASE, env={"SECRET": "shh"})


def test_google_microsoft_and_icloud_calendars_resolve_their_defaults() -> None:
    config = _provider_config(
        """
[oauth.google]
client_id = "cid"
client_secret = "${SECRET}"
[oauth.microsoft]
client_id = "mid"
tenant = "contoso"
[calendars.client-b]
kind = "google"
[calendars.client-a]
kind = "microsoft"
calendar_id = "AAMk"
connection = "work"
base_url = "http://127.0.0.1:9000/"
[calendars.family]
kind = "icloud"
url = "https://p42-caldav.icloud.com/1/calendars/home/"
username = "me@icloud.com"
[calendars.tried]
kind = "google"
access_token = "at-123"
"""
    )
    b, a, family, tried = (config.calendars[n] for n in ("client-b", "client-a", "family", "tried"))
    assert (b.url, b.calendar_id, b.connection, b.poll_seconds) == ("https://www.googleapis.com", "primary", "client-b", 60)
    assert (a.url, a.calendar_id, a.connection) == ("http://127.0.0.1:9000", "AAMk", "work")
    assert (family.connection, family.password, family.poll_seconds) == ("family", None, 30)
    assert (tried.connection, tried.access_token) == (None, "at-123")
    assert config.oauth["google"].client_secret == "shh" and config.oauth["microsoft"].tenant == "contoso"
    assert config.push is None


@pytest.mark.parametrize(
    ("body", "key", "fragment"),
    [
        ('[calendars.a]\nkind = "microsoft"\n', "calendars.a.calendar_id", "mirrorcal connect microsoft"),
        ('[calendars.a]\nkind = "icloud"\nurl = "https://x.example/c/"\n', "calendars.a.username", "Apple ID"),
        ('[calendars.a]\nkind = "icloud"\nusername = "me@icloud.com"\n', "calendars.a.url", "connect icloud"),
        ('[calendars.a]\nkind = "google"\nurl = "https://x.example/"\n', "calendars.a.url", 'not used by kind = "google"'),
        ('[calendars.a]\nkind = "caldav"\nurl = "https://x.example/"\ncalendar_id = "x"\n', "calendars.a.calendar_id", "not used"),
        ('[calendars.a]\nkind = "google"\nconnection = "a b"\n', "calendars.a.connection", "may only use"),
        ('[calendars.a]\nkind = "caldav"\nurl = "https://x.example/"\nconnection = "a"\n', "calendars.a.username", "when connection is set"),
        ('[calendars.a]\nkind = "caldav"\nurl = "https://x.example/"\nusername = "u"\npassword = "p"\nconnection = "a"\n',
         "calendars.a.connection", "either password or connection"),
        ('[calendars.a]\nkind = "ics"\nurl = "https://x.example/"\nconnection = "a"\n', "calendars.a.connection", "not used"),
        ('[oauth.google]\nclient_secret = "x"\n', "oauth.google.client_id", "is required"),
        ('[oauth.yahoo]\nclient_id = "x"\n', "oauth.yahoo", "unknown key"),
        ('[push]\npublic_url = "https://x.example"\n', "push.listen", "is required"),
        ('[push]\nlisten = "8765"\n', "push.listen", "host:port"),
        ('[push]\nlisten = "127.0.0.1:99999"\n', "push.listen", "host:port"),
    ],
)
def test_provider_mistakes_name_their_key(body: str, key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _provider_config(body)
    assert caught.value.key == key and fragment in caught.value.problem


def test_push_listener_and_its_public_url() -> None:
    config = _provider_config('[push]\nlisten = "127.0.0.1:8765"\n')
    assert config.push is not None and (config.push.host, config.push.port) == ("127.0.0.1", 8765)
    assert config.push.public_url == "http://127.0.0.1:8765"
    proxied = _provider_config('[push]\nlisten = "127.0.0.1:8765"\npublic_url = "https://hooks.example.com/mc/"\n')
    assert proxied.push is not None and proxied.push.public_url == "https://hooks.example.com/mc"


def test_a_caldav_calendar_may_name_a_stored_connection() -> None:
    body = '[calendars.a]\nkind = "caldav"\nurl = "https://x.example/c/"\nusername = "ann"\nconnection = "u7.a"\n'
    config = _provider_config(body)
    a = config.calendars["a"]
    assert (a.connection, a.username, a.password) == ("u7.a", "ann", None)
    plain = _provider_config('[calendars.b]\nkind = "caldav"\nurl = "https://x.example/c/"\n')
    assert plain.calendars["b"].connection is None  # no connection unless one is named
