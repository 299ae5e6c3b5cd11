"""The web app over a fresh SQLite file, served by uvicorn on 127.0.0.1 for the browser tests."""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Page

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
