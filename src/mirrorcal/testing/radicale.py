"""A real Radicale 3 CalDAV server in a subprocess on 127.0.0.1, for tests, the demo and benchmarks."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from urllib.parse import quote
from xml.sax.saxutils import escape

import httpx

_CONFIG = """\
[server]
hosts = 127.0.0.1:{port}
delay_on_error = 0
[auth]
type = none
delay = 0
[rights]
type = {rights}
[storage]
filesystem_folder = {folder}
[web]
type = none
[logging]
level = {log_level}
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RadicaleServer:
    """Radicale 3 started with ``sys.executable -m radicale`` and a temporary configuration.

    Any user name and password is accepted (``auth type = none``); with the default
    ``rights = authenticated`` every user, anonymous included, may read and write everything.
    Use it as a context manager (``with`` or ``async with``) or call ``start()``/``stop()``.
    ``url`` is the server root (no trailing slash), ``pid`` the server's process id (for
    ``/proc/<pid>/stat`` CPU readings) and ``log_path`` the file the server logs to.
    Collections live in ``storage_dir`` (a temporary directory removed on stop unless given).
    """

    def __init__(
        self,
        storage_dir: str | Path | None = None,
        *,
        rights: str = "authenticated",
        log_level: str = "warning",
        start_timeout: float = 20.0,
    ) -> None:
        self._given_dir = Path(storage_dir) if storage_dir is not None else None
        self.rights = rights
        self.log_level = log_level
        self.start_timeout = start_timeout
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None
        self._log: object = None

    # ----------------------------------------------------------------- lifecycle

    @property
    def url(self) -> str:
        if not self.port:
            raise RuntimeError("RadicaleServer is not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError("RadicaleServer is not started")
        return self._proc.pid

    @property
    def storage_dir(self) -> Path:
        if self._given_dir is not None:
            return self._given_dir
        if self._workdir is None:
            raise RuntimeError("RadicaleServer is not started")
        return self._workdir / "collections"

    @property
    def log_path(self) -> Path:
        if self._workdir is None:
            raise RuntimeError("RadicaleServer is not started")
        return self._workdir / "radicale.log"

    def start(self) -> RadicaleServer:
        """Start the server and wait until it answers HTTP; raises RuntimeError if it does not."""
        if self._proc is not None:
            return self
        self._workdir = Path(tempfile.mkdtemp(prefix="mirrorcal-radicale-"))
        self.storage_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        config = self._workdir / "config"
        config.write_text(
            _CONFIG.format(port=self.port, rights=self.rights, folder=self.storage_dir, log_level=self.log_level)
        )
        log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self._log = log
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "radicale", "--config", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"radicale exited with {self._proc.returncode}: {self._log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    pass
            except OSError:
                time.sleep(0.05)
                continue
            try:
                httpx.request("OPTIONS", self.url + "/", timeout=2.0)
            except httpx.HTTPError:
                time.sleep(0.05)
                continue
            return
        raise RuntimeError(f"radicale did not answer within {self.start_timeout}s: {self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Terminate the server, wait for it and remove the temporary directory."""
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log, self._log = self._log, None
        if log is not None:
            log.close()  # type: ignore[attr-defined]
        workdir, self._workdir = self._workdir, None
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
        self.port = 0

    def __enter__(self) -> RadicaleServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    async def __aenter__(self) -> RadicaleServer:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.stop)

    # ----------------------------------------------------------------- collections

    def calendar_url(self, user: str, name: str) -> str:
        """The URL of calendar ``name`` of ``user`` (with a trailing slash)."""
        return f"{self.url}/{quote(user, safe='')}/{quote(name, safe='')}/"

    def make_calendar(self, user: str, name: str, displayname: str | None = None) -> str:
        """Create a calendar with MKCALENDAR (as ``user``) and return its URL; raises RuntimeError."""
        url = self.calendar_url(user, name)
        body = (
            '<?xml version="1.0" encoding="utf-8"?>'
            '<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>'
            f"<D:displayname>{escape(displayname or name)}</D:displayname>"
            "<C:supported-calendar-component-set><C:comp name=\"VEVENT\"/></C:supported-calendar-component-set>"
            "</D:prop></D:set></C:mkcalendar>"
        )
        with httpx.Client(auth=(user, "x"), timeout=10.0) as client:
            # Log in once so Radicale creates the user's principal collection first.
            client.request("PROPFIND", f"{self.url}/{quote(user, safe='')}/", headers={"Depth": "0"})
            response = client.request(
                "MKCALENDAR", url, content=body.encode(), headers={"Content-Type": "application/xml; charset=utf-8"}
            )
        if response.status_code != 201:
            raise RuntimeError(f"MKCALENDAR {url}: HTTP {response.status_code}: {response.text[:300]}")
        return url

    def delete_collection(self, url: str) -> None:
        """Delete a collection (or item) by URL; a missing one is fine."""
        with httpx.Client(timeout=10.0) as client, contextlib.suppress(httpx.HTTPError):
            client.delete(url)
