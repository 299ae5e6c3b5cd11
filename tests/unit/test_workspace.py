"""The account's setup document: every option through dump/load/parse_config, edits, plan counting, namespacing, no secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from mirrorcal import workspace as ws
from mirrorcal.config import parse_config
from mirrorcal.errors import ConfigError
from mirrorcal.model import Privacy
from mirrorcal.workspace import CalendarEntry, PlanLimitReached, SyncEntry, Workspace

TRICKY = 'Quote " back\\slash tab\t line\nbreak ${NOT_A_VAR} $${kept} ünï ☃ \x01'


def full_model() -> Workspace:
    return Workspace(
        timezone="Europe/London",
        buffer_minutes=10,
        working_hours="08:00-19:00",
        calendars=[
            CalendarEntry("personal", "caldav", url="https://dav.example/me/", username="me", connection="personal",
                          client="me", email=["me@example.com", "alias@example.com"], unified=True, poll_seconds=45),
            CalendarEntry("client.a", "icloud", url="https://p1-caldav.icloud.com/1/calendars/a/", username="me@icloud.com",
                          connection="client.a", client="A", email=["r@a.example"], read_only=False),
            CalendarEntry("c-feed", "ics", url="https://ats.example/f.ics", client="C", unified=False),
            CalendarEntry("b", "google", connection="b-account", calendar_id="primary", base_url="http://127.0.0.1:9/", client="B"),
        ],
        syncs=[
            SyncEntry("a-to-me", "client.a", "personal", "full", skip_free=False, skip_declined=False, skip_all_day=True,
                      working_hours="09:00-17:00", window_days=30, exclude_titles=["^hold:", TRICKY], paused=True),
            SyncEntry("me-to-a", "personal", "client.a", "custom", title=TRICKY, on_target_delete="forget"),
            SyncEntry("c-to-me", "c-feed", "personal", "full"),
            SyncEntry("me-and-b", "personal", "b", "private", two_way=True),
        ],
    )  # fmt: skip


def test_every_option_round_trips_through_the_document() -> None:
    model = full_model()
    text = ws.dump(model)
    assert ws.load(text) == model
    assert ws.load(ws.dump(ws.load(text))) == model
    config = parse_config(text, base_dir=Path("/"), env={})
    a_to_me, me_to_a, _, there, back = config.syncs
    assert me_to_a.title == TRICKY and me_to_a.privacy is Privacy.CUSTOM  # "${...}" is kept literally
    assert [p.pattern for p in a_to_me.filters.exclude_titles] == ["^hold:", TRICKY]
    assert a_to_me.paused and not a_to_me.filters.skip_free and a_to_me.filters.window_days == 30
    assert (there.name, back.name) == ("me-and-b", "me-and-b~back")
    assert config.calendars["client.a"].connection == "client.a" and config.calendars["c-feed"].read_only
    assert config.calendars["personal"].poll_seconds == 45 and config.conflict_buffer.seconds == 600


def test_an_empty_workspace_is_a_valid_document() -> None:
    assert ws.load(ws.dump(Workspace())) == Workspace()


def test_no_secret_ever_reaches_the_document() -> None:
    text = ws.dump(full_model())
    assert "password" not in text and "access_token" not in text
    for key, body in [
        ("calendars.x.password", '[calendars.x]\nkind = "caldav"\nurl = "https://x.example/"\nusername = "u"\npassword = "p"\n'),
        ("calendars.x.access_token", '[calendars.x]\nkind = "google"\naccess_token = "t"\n'),
        ("database", 'database = "sqlite:///x.db"\n'),
        ("calendars.x.kind", '[calendars.x]\nkind = "file"\npath = "/etc/passwd"\n'),
    ]:
        with pytest.raises(ConfigError) as caught:
            ws.load(body)
        assert caught.value.key == key


def test_edits_are_checked_and_name_the_field() -> None:
    model = full_model()
    with pytest.raises(ConfigError) as caught:
        ws.add_calendar(model, CalendarEntry("personal", "ics", url="https://x.example/"))
    assert ws.field_of(caught.value) == "name"
    with pytest.raises(ConfigError) as caught:
        ws.add_calendar(model, CalendarEntry("d", "ics", url="ftp://x.example/"))
    assert ws.field_of(caught.value) == "url"
    with pytest.raises(ConfigError) as caught:
        ws.replace_sync(model, "me-to-a", SyncEntry("me-to-a", "personal", "c-feed", "private"))
    assert ws.field_of(caught.value) == "target" and "read-only" in caught.value.problem
    with pytest.raises(ConfigError) as caught:
        ws.replace_sync(model, "a-to-me", SyncEntry("a-to-me", "client.a", "personal", "full", exclude_titles=["("]))
    assert ws.field_of(caught.value) == "exclude_titles"
    with pytest.raises(ConfigError) as caught:
        ws.remove_calendar(model, "personal")
    assert "a-to-me" in caught.value.problem
    with pytest.raises(KeyError):
        ws.remove_sync(model, "nope")
    smaller = ws.remove_sync(ws.remove_sync(model, "c-to-me"), "me-and-b")
    assert [s.name for s in smaller.syncs] == ["a-to-me", "me-to-a"]
    assert [c.name for c in ws.remove_calendar(smaller, "c-feed").calendars] == ["personal", "client.a", "b"]
    assert [s.name for s in model.syncs] == ["a-to-me", "me-to-a", "c-to-me", "me-and-b"]  # edits copy


def test_plan_counting_two_way_counts_once() -> None:
    model = full_model()
    assert ws.syncs_used(model) == 4  # a two-way sync and a paused one count once each
    with pytest.raises(PlanLimitReached) as caught:
        ws.add_sync(model, SyncEntry("b-to-me", "b", "c-feed", "full"), "personal")
    assert "allows 3 syncs" in str(caught.value)
    grown = ws.add_sync(ws.remove_sync(model, "me-and-b"), SyncEntry("b-to-me", "b", "personal", "full"), "professional")
    assert ws.syncs_used(grown) == 4


def test_namespacing_prefixes_every_name() -> None:
    text = ws.dump(full_model())
    config = ws.runtime_config(text, 7, "sqlite:////tmp/x.db")
    assert config.database_url == "sqlite:////tmp/x.db"
    assert sorted(config.calendars) == ["u7.b", "u7.c-feed", "u7.client.a", "u7.personal"]
    assert all(name == cfg.name for name, cfg in config.calendars.items())
    assert config.calendars["u7.client.a"].connection == "u7.client.a"
    assert config.calendars["u7.b"].connection == "u7.b-account" and config.calendars["u7.c-feed"].connection is None
    names = [(s.name, s.source, s.target, s.pair) for s in config.syncs]
    assert names[0] == ("u7.a-to-me", "u7.client.a", "u7.personal", None)
    assert names[3:] == [("u7.me-and-b", "u7.personal", "u7.b", "u7.me-and-b~back"),
                         ("u7.me-and-b~back", "u7.b", "u7.personal", "u7.me-and-b")]  # fmt: skip
    other = ws.runtime_config(text, 8, "sqlite:////tmp/x.db")
    assert not set(other.calendars) & set(config.calendars)
