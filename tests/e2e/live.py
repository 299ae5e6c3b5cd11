"""The web app over a fresh SQLite file, served by uvicorn on 127.0.0.1 for the browser tests."""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.sync_api import Page, expect

from mirrorcal.store.sql import SqlStore
from mirrorcal.web.app import create_app
from mirrorcal.web.settings import WebSettings


def chromium_path() -> str:
    """The system Chromium; a clear failure (not a skip) when it is missing."""
    found = os.environ.get("MIRRORCAL_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("Chromium is not installed: run `apt-get install chromium` (.ci/run does it)")
    return found


class LiveServer:
    """The app over a fresh SQLite file, served by uvicorn from a thread on a free port."""

    def __init__(self, db_path: Path, **settings: object) -> None:
        """``settings``: more ``WebSettings`` fields (e.g. ``worker_interval``)."""
        self.store = SqlStore.open(f"sqlite:///{db_path.as_posix()}")
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        settings = {"public_url": self.url, **settings}  # the links in e-mails point here
        self.settings = WebSettings(database_url=f"sqlite:///{db_path.as_posix()}", password_hash_fast=True, **settings)  # type: ignore[arg-type]
        self.app = create_app(self.settings, self.store)
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the web app did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()
        self.store.close()


PASSWORD = "correct horse battery staple"


def sign_up(page: Page, live: LiveServer, email: str) -> None:
    page.goto(f"{live.url}/signup")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label(re.compile("Confirm|Repeat|again", re.I)).fill(PASSWORD)
    page.get_by_role("button", name=re.compile("Sign up|Create", re.I)).click()


DAV_PASSWORD = "radicale-takes-any-password"


def add_caldav(page: Page, live: LiveServer, name: str, url: str, user: str, *, client: str = "", email: str = "") -> None:
    """Add a CalDAV calendar (on the tests' Radicale) through the app's form."""
    page.goto(f"{live.url}/calendars/new?kind=caldav")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Address (URL)").fill(url)
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password", exact=True).fill(DAV_PASSWORD)
    if client:
        page.get_by_label("Client label").fill(client)
    if email:
        page.get_by_label("Your e-mail addresses on this calendar").fill(email)
    page.get_by_role("button", name="Add calendar").click()
    expect(page.get_by_role("status")).to_contain_text("The calendar was added.")


def add_candidate(page: Page, live: LiveServer, name: str, email: str, client: str, role: str) -> None:
    """Add a candidate on /candidates; the page lands on the candidate's own page."""
    page.goto(f"{live.url}/candidates")
    form = page.locator("form[action='/candidates']")
    form.get_by_label("Name").fill(name)
    form.get_by_label("E-mail").fill(email)
    form.get_by_label("Client").fill(client)
    form.get_by_label("Role").fill(role)
    form.get_by_role("button", name="Add candidate").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)


def events_on(calendar_url: str, user: str) -> list[str]:
    """The iCalendar text of every event on a Radicale calendar, read over CalDAV."""
    listing = httpx.request("PROPFIND", calendar_url, headers={"Depth": "1"}, auth=(user, DAV_PASSWORD)).text
    hrefs = re.findall(r"<[^>]*href>([^<]*\.ics)</", listing)
    base = calendar_url.split("/", 3)[:3]
    return [httpx.get("/".join(base) + href, auth=(user, DAV_PASSWORD)).text for href in hrefs]
