"""Show-as end to end: mirrors written through Radicale and the Graph emulator show as the sync
says (tentative, out of office, free), a changed ``show_as`` rewrites the existing mirrors, and
the sync form, the API and the account's document carry the setting."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import icalendar
import pytest
from test_web_preview import calendar_text, put
from webkit import TestClient, app, bearer, client, clients, create_token, csrf_of, db_url, signup, store

from mirrorcal import workspace as ws
from mirrorcal.bootstrap import Credentials, build_engine
from mirrorcal.config import parse_config
from mirrorcal.model import MARKER_PROPERTY
from mirrorcal.store.sql import SqlStore
from mirrorcal.testing import RadicaleServer
from mirrorcal.testing.graph import GraphEmulator

__all__ = ["app", "client", "clients", "db_url", "store"]  # fixtures, used by name


@pytest.fixture
def emu() -> Iterator[GraphEmulator]:
    with GraphEmulator() as emulator:
        yield emulator


def document(personal: str, client_b: str, dav_user: str, emu: GraphEmulator, a_shows: str, b_shows: str) -> str:
    return f"""
[calendars.personal]
kind = "caldav"
url = "{personal}"
username = "{dav_user}"
password = "x"

[calendars.client-a]
kind = "microsoft"
base_url = "{emu.base_url}"
access_token = "{emu.access_token}"
calendar_id = "{emu.calendar_id}"
client = "A"

[calendars.client-b]
kind = "caldav"
url = "{client_b}"
username = "{dav_user}"
password = "x"
client = "B"

[[syncs]]
name = "client-a-to-personal"
from = "client-a"
to = "personal"
privacy = "full"

[[syncs]]
name = "personal-to-client-a"
from = "personal"
to = "client-a"
privacy = "private"
show_as = "{a_shows}"

[[syncs]]
name = "personal-to-client-b"
from = "personal"
to = "client-b"
privacy = "private"
show_as = "{b_shows}"
"""


async def sync(text: str, store: SqlStore, tmp_path: Path) -> None:
    config = parse_config(text, base_dir=tmp_path, env={})
    credentials = Credentials(config, store, env={})
    engine = build_engine(config, store, credentials)
    try:
        report = await engine.sync()
        assert not [r for r in report if getattr(r, "errors", None)], report
    finally:
        await engine.aclose()
        await credentials.aclose()


def mirrors_on(url: str, user: str) -> list[icalendar.Event]:
    listing = httpx.request("PROPFIND", url, headers={"Depth": "1"}, auth=(user, "x")).text
    found = []
    for href in re.findall(r"<[^>]*href>([^<]+\.ics)</", listing):
        text = httpx.get(httpx.URL(url).join(href), auth=(user, "x")).text
        found += [v for v in icalendar.Calendar.from_ical(text).walk("VEVENT") if MARKER_PROPERTY in v]
    return found


def graph_mirrors(emu: GraphEmulator) -> list[dict[str, object]]:
    return [e for e in emu.events() if str(e.get("subject")) == "Busy"]


def test_mirrors_show_as_the_sync_says_on_graph_and_caldav_and_follow_a_change(
    store: SqlStore, radicale: RadicaleServer, emu: GraphEmulator, tmp_path: Path
) -> None:
    dav_user = "u" + uuid.uuid4().hex[:8]
    personal, client_b = radicale.make_calendar(dav_user, "p"), radicale.make_calendar(dav_user, "b")
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    put(personal, dav_user, "dentist.ics", calendar_text("dentist@p", "Dentist", base))
    end = base + timedelta(hours=1)
    emu.user_create(emu.calendar_id, {
        "subject": "Offsite: Acme", "showAs": "oof",
        "start": {"dateTime": (base + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
        "end": {"dateTime": (end + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
    })  # fmt: skip

    asyncio.run(sync(document(personal, client_b, dav_user, emu, "tentative", "oof"), store, tmp_path))
    (on_a,) = graph_mirrors(emu)
    assert on_a["showAs"] == "tentative"
    on_b = mirrors_on(client_b, dav_user)
    assert len(on_b) == 2  # the dentist, and client A's offsite come back to B as Busy
    assert {(str(v["TRANSP"]), str(v["X-MICROSOFT-CDO-BUSYSTATUS"]), str(v["SUMMARY"])) for v in on_b} == {("OPAQUE", "OOF", "Busy")}
    # the full copy of A's out-of-office event shows as the original: out of office
    (offsite,) = [v for v in mirrors_on(personal, dav_user) if "Offsite" in str(v["SUMMARY"])]
    assert str(offsite["X-MICROSOFT-CDO-BUSYSTATUS"]) == "OOF" and str(offsite["TRANSP"]) == "OPAQUE"

    # a changed show_as rewrites the existing mirrors on the next run
    asyncio.run(sync(document(personal, client_b, dav_user, emu, "oof", "free"), store, tmp_path))
    (on_a,) = graph_mirrors(emu)
    assert on_a["showAs"] == "oof"
    on_b = mirrors_on(client_b, dav_user)
    assert {(str(v["TRANSP"]), str(v["X-MICROSOFT-CDO-BUSYSTATUS"])) for v in on_b} == {("TRANSPARENT", "FREE")} and len(on_b) == 2
    asyncio.run(sync(document(personal, client_b, dav_user, emu, "busy", "busy"), store, tmp_path))
    assert graph_mirrors(emu)[0]["showAs"] == "busy"
    assert {(str(v["TRANSP"]), v.get("X-MICROSOFT-CDO-BUSYSTATUS")) for v in mirrors_on(client_b, dav_user)} == {("OPAQUE", None)}


DOCUMENT = """\
[calendars.personal]
kind = "caldav"
url = "http://127.0.0.1:9/dav/personal/"
username = "me"
connection = "personal"

[calendars.client-a]
kind = "caldav"
url = "http://127.0.0.1:9/dav/a/"
username = "me"
connection = "personal"
"""


def test_the_form_the_api_and_the_document_carry_show_as(client: TestClient, store: SqlStore) -> None:
    assert signup(client, "sky@example.com").status_code == 200
    user = store.user_by_email("sky@example.com")
    assert user is not None
    store.save_workspace(user.id, DOCUMENT, user.created)
    page = client.get("/syncs/new")
    assert '<option value="oof">Out of office</option>' in page.text
    form = {"csrf": csrf_of(page.text), "name": "p-to-a", "source": "personal", "target": "client-a", "privacy": "private",
            "skip_free": "on", "skip_declined": "on", "show_as": "tentative"}  # fmt: skip
    bad = client.post("/syncs/new", data=form | {"show_as": "away"})
    assert bad.status_code == 400 and "Choose how the copies&#39; time shows." in bad.text
    made = client.post("/syncs/new", data=form)
    assert made.status_code == 200 and made.url.path == "/syncs"
    assert 'show_as = "tentative"' in (store.workspace(user.id) or "")
    edit = client.get("/syncs/p-to-a")
    assert '<option value="tentative" selected>' in edit.text
    saved = client.post("/syncs/p-to-a", data={**form, "csrf": csrf_of(edit.text), "show_as": ""})
    assert saved.url.path == "/syncs", re.findall(r"field-error[^>]*>([^<]*)", saved.text)
    assert "show_as" not in (store.workspace(user.id) or "")

    _, token = create_token(client, "script")
    api = bearer(token)
    assert client.get("/api/v1/syncs/p-to-a", headers=api).json()["show_as"] is None
    assert client.patch("/api/v1/syncs/p-to-a", headers=api, json={"show_as": "oof"}).json()["show_as"] == "oof"
    assert ws.load(store.workspace(user.id) or "").sync("p-to-a").show_as == "oof"  # type: ignore[union-attr]
    assert client.patch("/api/v1/syncs/p-to-a", headers=api, json={"show_as": "away"}).status_code == 422
    assert client.patch("/api/v1/syncs/p-to-a", headers=api, json={"show_as": ""}).json()["show_as"] is None
    created = client.post("/api/v1/syncs", headers=api, json={"name": "a-to-p", "source": "client-a", "target": "personal", "privacy": "full", "show_as": "free"})
    assert created.status_code == 201 and created.json()["show_as"] == "free"
    assert 'show_as = "free"' in client.get("/account/mirrorcal.toml").text
