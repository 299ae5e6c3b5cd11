"""``mirrorcal web`` (what ``make run`` runs) as a real process: with the demo, the providers start
pre-filled with the Tuesday, the printed sign-in works, the worker mirrors the interviews and the
conflict shows; without it nothing but the app listens. Ctrl-C (and SIGTERM) stop everything cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from datetime import time as wall
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from webkit import bearer, create_token, signin

from mirrorcal.accounts import verify_password
from mirrorcal.connections import ConnectionBook
from mirrorcal.demo_cast import RECRUITER, TZ
from mirrorcal.secrets import default_key_file, load_vault
from mirrorcal.store.sql import SqlStore
from mirrorcal.unified import conflicts_between
from mirrorcal.web.settings import WebSettings
from mirrorcal.web.worker import SyncWorker
from mirrorcal.webdemo import DEMO_EMAIL, WebDemo

NAMES = ("John Smith", "Maria Garcia", "David Lee", "Priya Patel")
SYNCS = {"client-a-to-personal", "client-b-to-personal", "client-c-to-personal", "personal-to-client-a", "personal-to-client-b"}
LEAKS = ("John", "Maria", "David", "Priya", "Client B", "Client C", "Sr. Engineer", "Designer")


class WebProcess:
    """``python -m mirrorcal web ...`` with its stdout read line by line in a thread and stderr
    in a file (uvicorn's log), so neither pipe can fill up."""

    def __init__(self, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> None:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("MIRRORCAL_")}
        clean |= {"PYTHONUNBUFFERED": "1", "XDG_DATA_HOME": str(tmp_path / "data"), "TMPDIR": str(tmp_path)}
        self.log = tmp_path / "web.log"
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mirrorcal", "web", "--port", "0", *args],
                stdout=subprocess.PIPE,
                stderr=log,
                stdin=subprocess.DEVNULL,
                env=clean | (env or {}),
                text=True,
            )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with self.proc.stdout as out:
            for line in out:
                self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def until(self, marker: str, limit: float = 30.0) -> str:
        """Everything printed up to and including the first line holding ``marker``."""
        deadline = time.monotonic() + limit
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {marker!r} within {limit} s; printed:\n" + self.printed()) from None
            if line is None:
                raise AssertionError(f"exited with {self.proc.wait()} before {marker!r}; printed:\n" + self.printed())
            self.seen.append(line)
            if marker in line:
                return "\n".join(self.seen)

    def printed(self) -> str:
        return "\n".join(self.seen) + "\n--- log ---\n" + self.log.read_text(errors="replace")[-3000:]

    def stop(self, sig: int = signal.SIGINT, limit: float = 10.0) -> tuple[int, float]:
        """Send ``sig``; the exit code and how long the process took to exit."""
        started = time.monotonic()
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"still running {limit} s after signal {sig}; printed:\n" + self.printed()) from None
        return code, time.monotonic() - started

    def kill(self) -> None:
        """After a failed test: stop it as SIGTERM does (its providers too), else kill it and its children."""
        if self.proc.poll() is not None:
            return
        left = children(self.proc.pid)
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for pid in left:  # Radicale, orphaned only if the app could not stop it
            with contextlib.suppress(OSError):
                if b"radicale" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[..., WebProcess]]:
    started: list[WebProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> WebProcess:
        process = WebProcess(tmp_path, *args, env=env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


def wait_for(predicate: Callable[[], Any], limit: float = 20.0, what: str = "") -> Any:
    deadline = time.monotonic() + limit
    while True:
        found = predicate()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {limit} s: {what}")
        time.sleep(0.1)


def answers(url: str) -> bool:
    try:
        return httpx.get(url + "signin", timeout=2.0).status_code == 200
    except httpx.TransportError:
        return False


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def listening_ports(pid: int) -> set[int]:
    """The TCP ports process ``pid`` listens on (its socket inodes among /proc/net/tcp's LISTEN rows)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd) if fd.is_symlink() else ""
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def coming_tuesday() -> date:
    today = datetime.now(TZ).date()
    return today + timedelta(days=(1 - today.weekday()) % 7 or 7)


def banner_fields(banner: str) -> dict[str, str]:
    sign_in = re.search(r"Sign in as (\S+) / (\S+)", banner)
    url = re.search(r"Open (http://\S+/)", banner)
    state = re.search(r"State: sqlite:///(\S+) ", banner)
    assert sign_in and url and state, banner
    where = {m.group(1): m.group(2) for m in re.finditer(r"^  (Personal|Client [ABC]) .*? (http://\S+)$", banner, re.M)}
    assert set(where) == {"Personal", "Client A", "Client B", "Client C"}, banner
    return {"email": sign_in.group(1), "password": sign_in.group(2), "url": url.group(1), "db": state.group(1)} | where


# the demo -----------------------------------------------------------------------------------------
def test_demo_serves_the_tuesday_and_stops_cleanly(launch: Callable[..., WebProcess], tmp_path: Path) -> None:
    web = launch()
    banner = web.until("Ctrl-C stops")
    fields = banner_fields(banner)
    assert fields["email"] == "demo@mirrorcal.test"
    assert "MIRRORCAL_DEMO=false" in banner and "for real use" in banner
    assert f"{coming_tuesday():%d %B %Y}" in banner
    db = Path(fields["db"])
    temp_dir = db.parent
    assert temp_dir.parent == tmp_path and temp_dir.name.startswith("mirrorcal-web-demo-") and db.exists()
    url = fields["url"]
    wait_for(lambda: answers(url), 20, "the app answers")

    with httpx.Client(base_url=url, follow_redirects=True, timeout=10.0) as client:
        wrong = signin(client, fields["email"], "not the printed password")  # type: ignore[arg-type]
        assert wrong.status_code == 400
        home = signin(client, fields["email"], fields["password"])  # type: ignore[arg-type]
        assert home.status_code == 200 and home.url.path == "/", home.text[:500]
        _, token = create_token(client, "demo test")  # type: ignore[arg-type]
        api = httpx.Client(base_url=url + "api/v1/", headers=bearer(token), timeout=10.0)

        def all_ran() -> dict[str, Any] | None:
            listed = api.get("syncs").json()
            runs = {s["name"]: s["last_run"] for s in listed["syncs"]}
            done = all(r is not None and not r["running"] for r in runs.values())
            return listed if done else None

        listed = wait_for(all_ran, 20, "every sync has run")
        assert {s["name"] for s in listed["syncs"]} == SYNCS
        assert (listed["syncs_used"], listed["syncs_allowed"]) == (5, 8)  # plan Professional
        assert all(s["last_run"]["ok"] for s in listed["syncs"]), json.dumps(listed, indent=1)
        calendars = {c["name"]: c for c in api.get("calendars").json()}
        assert {n: c["kind"] for n, c in calendars.items()} == {
            "personal": "caldav", "client-a": "microsoft", "client-b": "google", "client-c": "ics",
        }  # fmt: skip

        # The copies, in full, on Personal (read straight from Radicale).
        personal = httpx.get(fields["Personal"], timeout=5.0).text
        for name in NAMES:
            assert f"SUMMARY:{name}" in personal, personal

        # Clients A and B see the others only as Busy blocks (from what the syncs wrote).
        for calendar, own in (("client-a", "John"), ("client-b", "Maria")):
            preview = api.get(f"calendars/{calendar}/preview")
            assert preview.status_code == 200, preview.text
            shown = preview.json()["shown"]
            assert [s["title"] for s in shown] == ["Busy"] * 3, shown
            text = json.dumps(shown)
            assert not [w for w in LEAKS if w in text], text
            assert own not in text

        # David (Client C, 09:50-10:20) clashes with John and Maria on the unified calendar.
        me = api.get("me").json()
        store = SqlStore.open(f"sqlite:///{db}")
        try:
            found, _ = conflicts_between(
                store,
                [(f"u{me['id']}.personal", frozenset({RECRUITER}))],
                start=datetime.combine(coming_tuesday(), wall(0), tzinfo=TZ),
                days=1,
                tz=TZ,
                buffer=timedelta(0),
            )
        finally:
            store.close()
        pairs = {frozenset((c.a.summary.split(" /")[0], c.b.summary.split(" /")[0])) for c in found}
        assert frozenset({"John Smith", "David Lee"}) in pairs and frozenset({"Maria Garcia", "David Lee"}) in pairs, pairs
        week_link = re.search(r"The Tuesday's week: (http://\S+)", banner)
        assert week_link, banner
        page = client.get(week_link.group(1))
        assert page.status_code == 200 and "David Lee" in page.text and "John Smith" in page.text
        week = api.get("week", params={"start": coming_tuesday().isoformat()})  # the unified week shows them too
        assert week.status_code == 200, week.text
        shown = [(c["a"]["summary"], c["b"]["summary"]) for c in week.json()["conflicts"]]
        assert len([p for p in shown if any("David" in s for s in p)]) == 2, shown

        # The candidates: John confirmed, Maria offline, David's Lever booking noticed after the
        # syncs ran, Sam's booking-page link printed; their invitations held in the outbox.
        def statuses() -> dict[str, str] | None:
            found = {c["name"]: c["status"] for c in api.get("candidates").json()}
            return found if found.get("David Lee") == "Booked, not confirmed" else None

        assert wait_for(statuses, 20, "David's booking is noticed") == {
            "John Smith": "Requires Action", "Maria Garcia": "Scheduled offline", "David Lee": "Booked, not confirmed",
            "Sam Taylor": "Awaiting Response",
        }  # fmt: skip
        booking_link = re.search(r"(http://\S+/i/\S+)", banner)
        assert booking_link, banner
        sam = httpx.get(booking_link.group(1), timeout=10.0)
        assert sam.status_code == 200 and "Data Analyst at Client B" in sam.text
        outbox = api.get("outbox").json()
        assert len([m for m in outbox if m["kind"] == "invitation" and m["state"] == "held"]) == 4, outbox
        api.close()

    ports = [urlsplit(fields[k]).port for k in ("Personal", "Client A", "Client B", "Client C")]
    assert all(p is not None and port_open(p) for p in ports)
    code, took = web.stop(signal.SIGINT)
    assert code == 0, web.printed()
    assert took < 8, f"took {took:.1f} s to stop"
    rest = web.until("Stopped")
    assert "Traceback" not in rest + web.log.read_text()
    assert not temp_dir.exists()
    assert not [p for p in ports if p is not None and port_open(p)]
    assert not list(tmp_path.glob("mirrorcal-radicale-*"))  # Radicale's own temporary directory too


def test_demo_stops_cleanly_on_sigterm(launch: Callable[..., WebProcess], tmp_path: Path) -> None:
    web = launch("--demo", env={"MIRRORCAL_DEMO": "false"})  # the flag wins over the variable
    fields = banner_fields(web.until("Ctrl-C stops"))
    wait_for(lambda: answers(fields["url"]), 20, "the app answers")
    radicale = children(web.proc.pid)
    assert radicale, "Radicale runs as a child process"
    code, took = web.stop(signal.SIGTERM)
    assert code == 0 and took < 8, web.printed()
    assert not Path(fields["db"]).parent.exists()
    assert not [p for p in radicale if Path(f"/proc/{p}").exists()]


# without the demo ----------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["variable", "flag"])
def test_without_the_demo_only_the_app_listens(launch: Callable[..., WebProcess], tmp_path: Path, how: str) -> None:
    web = launch("--no-demo") if how == "flag" else launch(env={"MIRRORCAL_DEMO": "false"})
    banner = web.until("Ctrl-C stops")
    assert "demo off" in banner and "demo@mirrorcal.test" not in banner and "Radicale" not in banner
    url = re.search(r"on (http://\S+/)", banner)
    assert url, banner
    wait_for(lambda: answers(url.group(1)), 20, "the app answers")
    database = tmp_path / "data" / "mirrorcal" / "mirrorcal.db"  # the default: the user's data directory
    assert f"State: sqlite:///{database}" in banner
    assert database.exists()
    assert listening_ports(web.proc.pid) == {urlsplit(url.group(1)).port}
    assert children(web.proc.pid) == []
    assert not list(tmp_path.glob("mirrorcal-web-demo-*"))
    code, took = web.stop(signal.SIGINT)
    assert code == 0 and took < 8, web.printed()


def test_a_taken_port_is_refused_before_anything_starts(launch: Callable[..., WebProcess], tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        web = launch("--port", str(port))  # the demo is on: it must not start
        assert web.proc.wait(timeout=20) == 1
    message = web.log.read_text()
    assert f"cannot listen on 127.0.0.1:{port}" in message, message
    assert "Traceback" not in message
    assert not list(tmp_path.glob("mirrorcal-web-demo-*")) and not list(tmp_path.glob("mirrorcal-radicale-*"))


def test_the_banner_never_shows_a_database_password(launch: Callable[..., WebProcess]) -> None:
    # Nothing listens on port 9 of 127.0.0.1: the app cannot open the database, but the banner came first.
    web = launch("--no-demo", env={"MIRRORCAL_DATABASE_URL": "postgresql+psycopg://mc:s3cret-pw@127.0.0.1:9/mc"})
    banner = web.until("Ctrl-C stops")
    assert "State: postgresql+psycopg://mc:***@127.0.0.1:9/mc" in banner, banner
    assert "s3cret-pw" not in banner
    web.proc.wait(timeout=20)
    assert "s3cret-pw" not in web.log.read_text()


# a database that outlives the demo -----------------------------------------------------------------
def store_candidates(url: str, user_id: int) -> list[str]:
    store = SqlStore.open(url)
    try:
        return [c.name for c in store.candidates(user_id)]
    finally:
        store.close()


def test_a_given_database_gets_the_demo_account_refreshed(tmp_path: Path) -> None:
    """With MIRRORCAL_DATABASE_URL the demo account survives the run; the next run refreshes its
    password, connections and setup (the old providers are gone) and its syncs run clean."""
    url = f"sqlite:///{tmp_path / 'kept.db'}"
    settings = WebSettings(database_url=url, worker=False)
    seen = []
    for _ in range(2):
        with WebDemo(settings, env={}) as demo:
            assert demo.database_url == url and not demo.own_database
            temp_dir = demo.temp_dir
            store = SqlStore.open(url)
            try:
                user = store.user_by_email(DEMO_EMAIL)
                assert user is not None and user.plan == "professional"
                assert verify_password(user.password_hash, demo.password)
                document = store.workspace(user.id) or ""
                assert demo.personal_url in document and demo.world.graph.base_url in document
                book = ConnectionBook(store, load_vault({}, default_key_file(url)))
                assert book.secret(f"u{user.id}.personal")
                worker = SyncWorker(store, demo.settings, env={})
                run = asyncio.run(worker.run_account(user.id))
                assert run.ok, (run.error, {n: r.errors for n, r in run.reports.items()})
                personal = httpx.get(demo.personal_url, timeout=5.0).text
                assert all(f"SUMMARY:{name}" in personal for name in NAMES), personal
                busy = [e for e in demo.world.raw("client-a") if e.get("subject") == "Busy"]
                assert len(busy) == 3
            finally:
                store.close()
            assert "/i/" in demo.booking_link and len(store_candidates(url, user.id)) == 4  # kept, not made twice
            seen.append((user.id, demo.password, user.password_hash, demo.booking_link))
        assert temp_dir is not None and not temp_dir.exists()
    (first_id, first_password, first_hash, first_link), (second_id, second_password, second_hash, second_link) = seen
    assert first_id == second_id and first_password != second_password and first_hash != second_hash
    assert first_link == second_link  # the banner names Sam's link on every run
    assert Path(tmp_path / "kept.db").exists()
