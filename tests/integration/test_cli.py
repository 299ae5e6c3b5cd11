"""The ``mirrorcal`` command end to end: real processes, real Radicale, a real ICS feed server, SQLite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from mirrorcal import ical
from mirrorcal.model import Component, Event
from mirrorcal.testing import RadicaleServer
from mirrorcal.testing.feedserver import FeedServer

TZ = ZoneInfo("Europe/London")
DAY = date.today() + timedelta(days=(1 - date.today().weekday()) % 7 or 7)  # next Tuesday


def interview(uid: str, summary: str, hour: int, minute: int, minutes: int) -> Event:
    start = datetime(DAY.year, DAY.month, DAY.day, hour, minute, tzinfo=TZ)
    return Event(uid, (Component(start=start, end=start + timedelta(minutes=minutes), summary=summary),))


def put(url: str, event: Event) -> None:
    httpx.put(f"{url}{event.uid}.ics", content=ical.serialize(event), headers={"Content-Type": "text/calendar"}).raise_for_status()


def summaries(url: str) -> list[str]:
    body = """<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
    <D:prop><C:calendar-data/></D:prop><C:filter><C:comp-filter name="VCALENDAR"/></C:filter></C:calendar-query>"""
    r = httpx.request("REPORT", url, content=body, headers={"Depth": "1", "Content-Type": "application/xml"})
    r.raise_for_status()
    return sorted(line.split(":", 1)[1].strip() for line in r.text.splitlines() if line.startswith("SUMMARY:"))


@dataclass
class Setup:
    path: Path
    urls: dict[str, str]
    feeds: FeedServer

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "COLUMNS": "200", "DEMO_PASSWORD": "secret"}
        proc = subprocess.run(
            [sys.executable, "-m", "mirrorcal", "--config", str(self.path), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc


@pytest.fixture
def setup(radicale: RadicaleServer, tmp_path: Path) -> Iterator[Setup]:
    user = uuid.uuid4().hex[:8]
    urls = {n: radicale.make_calendar(user, n) for n in ("personal", "client-a", "client-b")}
    put(urls["client-a"], interview("john@a", "John / Sr. Engineer", 9, 0, 60))
    put(urls["client-b"], interview("maria@b", "Maria / PM", 10, 0, 30))
    with FeedServer() as feeds:
        feeds.set("/lever.ics", ical.serialize(interview("priya@c", "Priya / Backend", 14, 0, 45)))
        path = tmp_path / "mirrorcal.toml"
        path.write_text(
            f"""
database = "sqlite:///state.db"
timezone = "Europe/London"
[calendars.personal]
kind = "caldav"
url = "{urls['personal']}"
username = "recruiter"
password = "${{DEMO_PASSWORD}}"
client = "me"
[calendars.client-a]
kind = "caldav"
url = "{urls['client-a']}"
client = "A"
unified = false
[calendars.client-b]
kind = "caldav"
url = "{urls['client-b']}"
client = "B"
unified = false
[calendars.client-c]
kind = "ics"
url = "{feeds.url('/lever.ics')}"
client = "C"
unified = false
[[syncs]]
name = "a-to-personal"
from = "client-a"
to = "personal"
privacy = "full"
[[syncs]]
name = "b-to-personal"
from = "client-b"
to = "personal"
privacy = "full"
[[syncs]]
name = "c-to-personal"
from = "client-c"
to = "personal"
privacy = "full"
[[syncs]]
name = "personal-to-a"
from = "personal"
to = "client-a"
privacy = "private"
[[syncs]]
name = "personal-to-b"
from = "personal"
to = "client-b"
privacy = "custom"
title = "Recruiter busy"
"""
        )
        yield Setup(path, urls, feeds)


def test_check_is_a_dry_run(setup: Setup) -> None:
    out = setup.run("check").stdout
    assert "configuration OK" in out and "a-to-personal" in out
    assert summaries(setup.urls["personal"]) == []


def test_sync_status_conflicts_unsync(setup: Setup) -> None:
    out = setup.run("sync").stdout
    for column in ("created", "updated", "deleted", "skipped", "errors"):
        assert column in out
    assert summaries(setup.urls["personal"]) == ["John / Sr. Engineer", "Maria / PM", "Priya / Backend"]
    assert summaries(setup.urls["client-a"]) == ["Busy", "Busy", "John / Sr. Engineer"]
    assert summaries(setup.urls["client-b"]) == ["Maria / PM", "Recruiter busy", "Recruiter busy"]

    # nothing changed: a second run writes nothing
    status = json.loads(setup.run("status", "--json").stdout)
    setup.run("sync")
    again = json.loads(setup.run("status", "--json").stdout)
    assert {s["sync"]: s["mirrors"] for s in again["syncs"]} == {
        "a-to-personal": 1, "b-to-personal": 1, "c-to-personal": 1, "personal-to-a": 2, "personal-to-b": 2,
    }  # fmt: skip
    assert all(sum(s["counts"].get(k, 0) for k in ("created", "updated", "deleted")) == 0 for s in again["syncs"])
    assert status["syncs"][0]["last_run"] is not None

    # David is booked in Client C's ATS at 9:50: the conflict and a free slot come out as JSON
    doc = ical.serialize(interview("priya@c", "Priya / Backend", 14, 0, 45))
    david = ical.serialize(interview("david@c", "David / Designer", 9, 50, 30))
    vevent = david[david.index("BEGIN:VEVENT") : david.index("END:VEVENT") + len("END:VEVENT")]
    setup.feeds.set("/lever.ics", doc.replace("END:VCALENDAR", vevent + "\r\nEND:VCALENDAR"))
    setup.run("sync", "c-to-personal")
    conflicts = json.loads(setup.run("conflicts", "--json", "--from", DAY.isoformat(), "--days", "1").stdout)
    pairs = sorted((c["a"]["summary"], c["b"]["summary"], c["overlap_minutes"]) for c in conflicts)
    assert pairs == [("John / Sr. Engineer", "David / Designer", 10), ("Maria / PM", "David / Designer", 20)]
    assert {c["proposed_start"] for c in conflicts} == {f"{DAY.isoformat()}T10:30:00+{'01' if _dst() else '00'}:00"}
    assert set(conflicts[0]["a"]) == {"calendar", "summary", "start", "end"}
    with_buffer = json.loads(setup.run("conflicts", "--json", "--from", DAY.isoformat(), "--days", "1", "--buffer", "10").stdout)
    assert len(with_buffer) == 3

    # history tells what was done and why
    history = json.loads(setup.run("status", "--json", "--history", "50").stdout)["history"]
    assert any(h["action"] == "created" and h["reason"] == "new" for h in history)

    # unsync removes exactly that sync's mirrors
    setup.run("unsync", "personal-to-b")
    assert summaries(setup.urls["client-b"]) == ["Maria / PM"]
    assert summaries(setup.urls["client-a"]) == ["Busy", "Busy", "Busy", "John / Sr. Engineer"]


def _dst() -> bool:
    return bool(datetime(DAY.year, DAY.month, DAY.day, 12, tzinfo=TZ).dst())


def test_unreachable_calendar_fails_only_its_syncs(setup: Setup) -> None:
    text = setup.path.read_text().replace(setup.urls["client-b"], "http://127.0.0.1:9/nothing/")
    setup.path.write_text(text)
    proc = setup.run("sync", check=False)
    assert proc.returncode == 1
    assert "b-to-personal" in proc.stdout
    assert summaries(setup.urls["personal"]) == ["John / Sr. Engineer", "Priya / Backend"]


def test_run_keeps_syncing_until_stopped(setup: Setup) -> None:
    env = {**os.environ, "DEMO_PASSWORD": "secret", "COLUMNS": "200"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mirrorcal", "--config", str(setup.path), "run", "--interval", "0.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(summaries(setup.urls["personal"])) < 3:
            time.sleep(0.2)
        put(setup.urls["client-a"], interview("jane@a", "Jane / QA", 16, 0, 30))
        while time.monotonic() < deadline and "Jane / QA" not in summaries(setup.urls["personal"]):
            time.sleep(0.2)
        assert "Jane / QA" in summaries(setup.urls["personal"])
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "stopped" in out


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[calendars.x]\nkind = "caldv"\nurl = "http://127.0.0.1/"', "calendars.x.kind"),
        ("[[syncs]]\nname = 1", "syncs[0]"),
        ("database = ", "invalid TOML at the end of the file"),
        ("[calendars\nx = 1", "invalid TOML at line 1"),
    ],
)
def test_bad_config_gets_a_message_not_a_traceback(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    proc = subprocess.run([sys.executable, "-m", "mirrorcal", "--config", str(path), "sync"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert fragment in proc.stderr and "Traceback" not in proc.stderr + proc.stdout


def test_demo_runs_and_checks_every_step() -> None:
    proc = subprocess.run([sys.executable, "-m", "mirrorcal", "demo"], capture_output=True, text=True, timeout=180, env={**os.environ, "COLUMNS": "120"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "demo passed: 10 checks" in proc.stdout and "✘" not in proc.stdout
    # Client A lives on the Microsoft emulator, Client B on the Google one; their changes come by push.
    assert "Microsoft Graph emulator" in proc.stdout and "Google Calendar emulator" in proc.stdout
    assert "Radicale" in proc.stdout and "ICS feed server" in proc.stdout
    assert "mirrorcal's push receiver listens at" in proc.stdout and "Push notifications received: Google" in proc.stdout
