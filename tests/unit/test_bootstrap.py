"""The composition root: which credentials each calendar gets."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from mirrorcal.bootstrap import Credentials, build_calendar
from mirrorcal.config import parse_config
from mirrorcal.errors import ConfigError
from mirrorcal.store.memory import MemoryStore

CONFIG = """
timezone = "UTC"
[oauth.google]
client_id = "cid"
[calendars.a]
kind = "google"
connection = "work"
[calendars.b]
kind = "google"
connection = "work"
calendar_id = "team@group.calendar.google.com"
[calendars.work]
kind = "google"
access_token = "at-fixed"
[calendars.other]
kind = "google"
"""


def credentials() -> Credentials:
    config = parse_config(CONFIG, base_dir=Path("/tmp"), env={})
    return Credentials(config, MemoryStore(), env={"MIRRORCAL_SECRET_KEY": Fernet.generate_key().decode()})


def test_calendars_of_one_connection_share_one_token_source() -> None:
    creds = credentials()
    creds.book.save("work", "google", "me@example.com", "rt-1")
    calendars = creds.config.calendars
    fixed, a, b = (creds.token_source(calendars[n]) for n in ("work", "a", "b"))
    assert a is b and a.can_refresh and a.refresh_token == "rt-1"
    assert fixed is not a and not fixed.can_refresh  # a calendar named like the connection keeps its own token


def test_a_missing_connection_says_how_to_make_it() -> None:
    creds = credentials()
    with pytest.raises(ConfigError) as caught:
        creds.token_source(creds.config.calendars["other"])
    assert caught.value.key == "calendars.other.connection"
    assert "mirrorcal connect google --name other" in caught.value.problem


def test_a_connection_that_needs_reauthorisation_starts_paused() -> None:
    creds = credentials()
    creds.book.save("work", "google", "me@example.com", "rt-1")
    creds.book.mark_needs_reauth("work", "revoked")
    source = creds.token_source(creds.config.calendars["a"])
    assert source.revoked and creds.needs_reauth() == {"a"}


def test_a_caldav_calendar_reads_its_password_from_its_connection() -> None:
    text = '[calendars.c]\nkind = "caldav"\nurl = "http://127.0.0.1:1/c/"\nusername = "ann"\nconnection = "u1.c"\n'
    config = parse_config(text, base_dir=Path("/tmp"), env={})
    creds = Credentials(config, MemoryStore(), env={"MIRRORCAL_SECRET_KEY": Fernet.generate_key().decode()})
    with pytest.raises(ConfigError) as caught:
        build_calendar(config.calendars["c"], creds)
    assert caught.value.key == "calendars.c.connection" and "add the calendar again" in caught.value.problem
    creds.book.save("u1.c", "caldav", "ann", "s3cret")
    calendar = build_calendar(config.calendars["c"], creds)
    (client,) = creds.clients
    assert isinstance(client.auth, httpx.BasicAuth)
    assert client.auth._auth_header == httpx.BasicAuth("ann", "s3cret")._auth_header
    assert calendar.name == "c"
