"""A real HTTP server on 127.0.0.1 that serves ICS feeds, with the quirks real feeds have."""

from __future__ import annotations

import hashlib
import re
import threading
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

EMPTY_CALENDAR = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//mirrorcal//feedserver//EN\r\nEND:VCALENDAR\r\n"
"""What ``serve_empty`` answers: a valid calendar with no events."""

_UID_LINE = re.compile(r"^UID[;:].*(?:\r?\n[ \t].*)*$", re.MULTILINE)


@dataclass(slots=True)
class _Document:
    text: str
    version: int
    modified: datetime


class FeedServer:
    """Serves ICS documents at paths on a free port of 127.0.0.1 from a background thread.

    ``set(path, text)`` replaces a document and bumps its ETag and Last-Modified; ``url(path)``
    is where it is served. Conditional GETs (If-None-Match, If-Modified-Since) get 304.
    Knobs, settable at any time: ``validators`` (False: send neither ETag nor Last-Modified),
    ``regenerate_uids`` (rewrite every UID randomly on each GET, as some ATS exports do; the
    ETag then follows the body), ``serve_empty`` (answer 200 with an empty VCALENDAR),
    ``fail_next(n, status)`` (the next ``n`` requests fail). ``requests`` counts GETs per path
    (``request_count`` in total), ``statuses`` records every status sent, in order.
    Use as a context manager, or call ``start()`` / ``stop()``.
    """

    def __init__(
        self,
        *,
        validators: bool = True,
        regenerate_uids: bool = False,
        serve_empty: bool = False,
        content_type: str = "text/calendar; charset=utf-8",
    ) -> None:
        self.validators = validators
        self.regenerate_uids = regenerate_uids
        self.serve_empty = serve_empty
        self.content_type = content_type
        self.requests: Counter[str] = Counter()
        self.statuses: list[int] = []
        self._docs: dict[str, _Document] = {}
        self._fail: list[int] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._clock = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)

    # -- control ---------------------------------------------------------------------

    def set(self, path: str, text: str) -> None:
        """Serve ``text`` at ``path`` from now on, with a new ETag and a later Last-Modified."""
        path = _norm(path)
        with self._lock:
            old = self._docs.get(path)
            # Last-Modified has one-second resolution: move it forward a full second per change.
            self._clock += timedelta(seconds=1)
            self._docs[path] = _Document(text, (old.version + 1) if old else 1, self._clock)

    def remove(self, path: str) -> None:
        """Stop serving ``path`` (it answers 404)."""
        with self._lock:
            self._docs.pop(_norm(path), None)

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        """Make the next ``n`` requests (any path) answer ``status`` with no body."""
        with self._lock:
            self._fail.extend([status] * n)

    def url(self, path: str, scheme: str = "http") -> str:
        """The URL of ``path``; ``scheme="webcal"`` gives the form calendar apps subscribe to."""
        if self._httpd is None:
            raise RuntimeError("FeedServer is not started")
        host, port = self._httpd.server_address[:2]
        return f"{scheme}://{host!s}:{port}{_norm(path)}"

    @property
    def request_count(self) -> int:
        return sum(self.requests.values())

    def start(self) -> FeedServer:
        if self._httpd is not None:
            return self
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="feedserver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- serving (called from the server's threads) ------------------------------------

    def _respond(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.requests[path] += 1
            if self._fail:
                return self._fail.pop(0), {}, b""
            doc = self._docs.get(path)
            if doc is None:
                return 404, {"Content-Type": "text/plain"}, b"not found"
            text = doc.text
            if self.serve_empty:
                text = EMPTY_CALENDAR
            elif self.regenerate_uids:
                text = _UID_LINE.sub(lambda _m: f"UID:{uuid.uuid4()}", text)
            body = text.encode("utf-8")
            out = {"Content-Type": self.content_type}
            if not self.validators:
                return 200, out, body
            if self.regenerate_uids or self.serve_empty:
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            else:
                etag = f'"v{doc.version}"'
            out["ETag"] = etag
            out["Last-Modified"] = format_datetime(doc.modified, usegmt=True)
            inm = headers.get("if-none-match")
            ims = headers.get("if-modified-since")
            if inm is not None:
                if etag in [t.strip() for t in inm.split(",")] or inm.strip() == "*":
                    return 304, out, b""
            elif ims is not None and not (self.regenerate_uids or self.serve_empty):
                try:
                    since = parsedate_to_datetime(ims)
                except (TypeError, ValueError):
                    since = None
                if since is not None and since.tzinfo is not None and doc.modified <= since:
                    return 304, out, b""
            return 200, out, body


def _norm(path: str) -> str:
    return path if path.startswith("/") else "/" + path


def _handler_for(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self._serve(send_body=True)

        def do_HEAD(self) -> None:  # noqa: N802
            self._serve(send_body=False)

        def _serve(self, send_body: bool) -> None:
            path = self.path.split("?", 1)[0]
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, out, body = server._respond(path, headers)
            with server._lock:
                server.statuses.append(status)
            self.send_response(status)
            for key, value in out.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if send_body and body:
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
            pass

    return Handler
