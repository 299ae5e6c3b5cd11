"""The two contenders and their servers: one fresh Radicale per tool holding a source calendar
(loaded with the same data) and an empty target; vdirsyncer and mirrorcal driven as subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from benchdata import EventSpec, collection_fingerprints, compare, render, write_collection
from lxml import etree
from measure import ProcessRun, RequestLog, Window, median, run_process

from mirrorcal.testing.radicale import RadicaleServer

USER = "bench"
PASSWORD = "x"
VDIRSYNCER_VERSION = "0.21.0"
WINDOW_DAYS = 400
"""mirrorcal's ``window_days``: the generated events end within ~130 days, so nothing is filtered."""


def ensure_vdirsyncer(venv: Path) -> Path:
    """The ``vdirsyncer`` executable of ``venv``, creating the venv and installing
    vdirsyncer from PyPI when it is missing or another version."""
    exe = venv / "bin" / "vdirsyncer"
    if exe.exists():
        out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=False).stdout
        if VDIRSYNCER_VERSION in out:
            return exe
    print(f"installing vdirsyncer=={VDIRSYNCER_VERSION} into {venv} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", f"vdirsyncer=={VDIRSYNCER_VERSION}"], check=True)
    return exe


def propfind_items(client: httpx.Client, url: str) -> int:
    """How many non-collection members a Depth 1 PROPFIND lists (also warms Radicale's item cache)."""
    body = '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:getetag/></D:prop></D:propfind>'
    response = client.request("PROPFIND", url, content=body, headers={"Depth": "1", "Content-Type": "application/xml"})
    response.raise_for_status()
    root = etree.fromstring(response.content)
    return sum(1 for r in root.iter("{DAV:}response") if r.find(".//{DAV:}collection") is None)


@dataclass
class Side:
    """One tool's world: its own Radicale with ``bench/source`` (the data) and ``bench/target``."""

    tool: str
    workdir: Path
    server: RadicaleServer = field(default_factory=lambda: RadicaleServer(log_level="info"))
    source_url: str = ""
    target_url: str = ""

    def start(self, events: list[EventSpec], stamp: datetime) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.server.start()
        self.source_url = self.server.make_calendar(USER, "source", "Client calendar")
        self.target_url = self.server.make_calendar(USER, "target", "Personal calendar")
        write_collection(self.folder("source"), events, stamp)
        with httpx.Client(auth=(USER, PASSWORD), timeout=120.0) as client:
            listed = propfind_items(client, self.source_url)
        if listed != len(events):
            raise RuntimeError(f"{self.tool}: the source lists {listed} items, expected {len(events)}")

    def stop(self) -> None:
        self.server.stop()

    @property
    def log(self) -> RequestLog:
        return RequestLog(self.server.log_path)

    def window(self) -> Window:
        return Window(self.server.pid, self.log)

    def folder(self, calendar: str) -> Path:
        return self.server.storage_dir / "collection-root" / USER / calendar

    def count(self, calendar: str) -> int:
        return sum(1 for p in self.folder(calendar).iterdir() if p.is_file() and not p.name.startswith("."))

    def verify(self) -> dict[str, Any]:
        """Compare the target with the source: item counts and every item's fingerprint."""
        source, target = self.count("source"), self.count("target")
        problems = compare(collection_fingerprints(self.folder("source")), collection_fingerprints(self.folder("target")))
        if source != target:
            problems.insert(0, f"target holds {target} items, source {source}")
        return {"source_items": source, "target_items": target, "ok": not problems, "problems": problems}

    def change_source(self, edited: list[EventSpec], deleted: list[EventSpec], stamp: datetime) -> None:
        """Apply the phase-3 edits (PUT) and deletions (DELETE) to the source over HTTP."""
        with httpx.Client(auth=(USER, PASSWORD), timeout=60.0) as client:
            for spec in edited:
                response = client.put(
                    self.source_url + spec.href_name,
                    content=render(spec, stamp).encode(),
                    headers={"Content-Type": "text/calendar; charset=utf-8"},
                )
                response.raise_for_status()
            for spec in deleted:
                client.delete(self.source_url + spec.href_name).raise_for_status()


class Vdirsyncer:
    """vdirsyncer 0.21 one-way: source storage read-only, ``conflict_resolution = "a wins"``."""

    name = "vdirsyncer"

    def __init__(self, exe: Path, side: Side) -> None:
        self.exe = exe
        self.side = side
        self.config = side.workdir / "vdirsyncer.conf"
        status = side.workdir / "vdirsyncer-status"
        self.config.write_text(
            f"""[general]
status_path = "{status}/"

[pair bench]
a = "bench_source"
b = "bench_target"
collections = null
conflict_resolution = "a wins"

[storage bench_source]
type = "caldav"
url = "{side.source_url}"
username = "{USER}"
password = "{PASSWORD}"
read_only = true

[storage bench_target]
type = "caldav"
url = "{side.target_url}"
username = "{USER}"
password = "{PASSWORD}"
"""
        )

    def argv(self, command: str) -> list[str]:
        return [str(self.exe), "--verbosity", "WARNING", "--config", str(self.config), command]

    def setup(self, log_to: Path) -> tuple[ProcessRun, Window]:
        """``vdirsyncer discover`` (setup, reported apart from the phases)."""
        with self.side.window() as window:
            run = run_process(self.argv("discover"), env=os.environ, cwd=self.side.workdir, log_to=log_to)
        return run, window

    def sync_argv(self) -> list[str]:
        return self.argv("sync")


class Mirrorcal:
    """``mirrorcal --config X sync`` with a fresh SQLite database and one ``privacy = "full"`` sync."""

    name = "mirrorcal"

    def __init__(self, exe: Path, side: Side) -> None:
        self.exe = exe
        self.side = side
        self.config = side.workdir / "mirrorcal.toml"
        self.config.write_text(
            f"""database = "sqlite:///state.db"
timezone = "Europe/London"

[calendars.source]
kind = "caldav"
url = "{side.source_url}"
username = "{USER}"
password = "{PASSWORD}"
read_only = true

[calendars.target]
kind = "caldav"
url = "{side.target_url}"
username = "{USER}"
password = "{PASSWORD}"

[[syncs]]
name = "source-to-target"
from = "source"
to = "target"
privacy = "full"
window_days = {WINDOW_DAYS}
"""
        )

    def setup(self, log_to: Path) -> None:
        return None

    def sync_argv(self) -> list[str]:
        return [str(self.exe), "--config", str(self.config), "sync"]


def server_floor(side: Side, url: str, repeats: int = 3) -> dict[str, float]:
    """What the server alone spends (median CPU seconds) answering the two no-op listings on the
    collection at ``url``: a sync-collection REPORT with the current token (nothing changed),
    and a Depth-1 PROPFIND of every etag. It bounds what any client's no-op resync can cost it."""
    sync_body = (
        '<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:"><D:sync-token>{}</D:sync-token>'
        "<D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>"
    )
    propfind = '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:getetag/></D:prop></D:propfind>'
    xml = {"Content-Type": "application/xml"}
    found: dict[str, list[float]] = {"sync_collection": [], "propfind_depth1": []}
    with httpx.Client(auth=(USER, PASSWORD), timeout=120.0) as client:
        first = client.request("REPORT", url, content=sync_body.format(""), headers=xml)
        token = etree.fromstring(first.content).findtext("{DAV:}sync-token") or ""
        for _ in range(repeats):
            with side.window() as window:
                client.request("REPORT", url, content=sync_body.format(token), headers=xml).raise_for_status()
            found["sync_collection"].append(window.cpu)
            with side.window() as window:
                client.request("PROPFIND", url, content=propfind, headers={"Depth": "1", **xml}).raise_for_status()
            found["propfind_depth1"].append(window.cpu)
    return {k: median(v) for k, v in found.items()}
