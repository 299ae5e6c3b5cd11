"""How the benchmark measures: a child process's own rusage, a server's CPU from /proc and
its HTTP requests from its own request log."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_TICKS = os.sysconf("SC_CLK_TCK")
_STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)")
_REQUEST = re.compile(r"\] \[INFO\] (\w+) request for '([^']*)'(?: with depth '([^']*)')? received from (\S+)(?: using '([^']*)')?")
_RESPONSE = re.compile(r"\] (\w+) response status for '([^']*)'.* in ([0-9.]+) seconds.*: (\d{3})")


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) the process ``pid`` has used so far."""
    with open(f"/proc/{pid}/stat", "rb") as fobj:
        fields = fobj.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


@dataclass(slots=True)
class ProcessRun:
    """One measured child process: wall seconds from spawn to exit, its own CPU and peak RSS."""

    argv: list[str]
    returncode: int
    wall: float
    user: float
    system: float
    max_rss_mib: float

    @property
    def cpu(self) -> float:
        return self.user + self.system


GNU_TIME = Path("/usr/bin/time")


def run_process(argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, log_to: Path) -> ProcessRun:
    """Run ``argv`` to completion with stdout+stderr to ``log_to``.

    Wall time is spawn to exit; CPU comes from ``os.wait4`` on that one child, so the figures
    are its own (and its reaped children's), not the bench's. Peak RSS needs care: a child
    forked from this process starts with this process's high-water RSS (Linux carries it
    across exec), so ``ru_maxrss`` from ``wait4`` would be at least the bench's own size. It is
    read from GNU ``/usr/bin/time`` (a small process in between) when there is one.
    """
    rss_file = log_to.with_suffix(log_to.suffix + ".rss")
    wrapped = [str(GNU_TIME), "-o", str(rss_file), "-f", "%M", *argv] if GNU_TIME.exists() else list(argv)
    with open(log_to, "wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(wrapped, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=dict(env), cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    max_rss_kib = float(usage.ru_maxrss)
    if GNU_TIME.exists():
        lines = rss_file.read_text().split()
        max_rss_kib = float(lines[-1]) if lines and lines[-1].isdigit() else float("nan")
        rss_file.unlink()
    return ProcessRun(list(argv), proc.returncode, wall, usage.ru_utime, usage.ru_stime, max_rss_kib / 1024)


@dataclass(slots=True)
class Requests:
    """The requests a server logged in one window: totals by method and status, and the lines."""

    lines: list[str] = field(default_factory=list)
    by_method: Counter[str] = field(default_factory=Counter)
    by_status: Counter[str] = field(default_factory=Counter)
    server_seconds: float = 0.0
    """Sum of the per-request times the server logged (time spent answering, not CPU)."""

    @property
    def total(self) -> int:
        return sum(self.by_method.values())

    def describe(self) -> str:
        return " ".join(f"{m}={n}" for m, n in sorted(self.by_method.items(), key=lambda kv: -kv[1]))

    def as_json(self) -> dict[str, Any]:
        return {"total": self.total, "by_method": dict(self.by_method), "by_status": dict(self.by_status)}


class RequestLog:
    """Reads Radicale's log (``log_level = info``: one "request for" and one "response status"
    line per request) from a byte offset taken with ``mark()``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def mark(self) -> int:
        return self.path.stat().st_size

    def since(self, offset: int) -> Requests:
        with open(self.path, "rb") as fobj:
            fobj.seek(offset)
            text = fobj.read().decode("utf-8", errors="replace")
        found = Requests()
        for line in text.splitlines():
            request = _REQUEST.search(line)
            if request:
                method, path, depth = request.group(1), request.group(2), request.group(3)
                found.by_method[method] += 1
                stamp = _STAMP.match(line)
                when = stamp.group(1)[11:] + " " if stamp else ""
                found.lines.append(f"{when}{method} {path}" + (f" depth={depth}" if depth else ""))
                continue
            response = _RESPONSE.search(line)
            if response:
                found.by_status[response.group(4)] += 1
                found.server_seconds += float(response.group(3))
        return found


@dataclass(slots=True)
class Window:
    """Server CPU and requests over one measured window (see ``open_window``)."""

    pid: int
    log: RequestLog
    cpu0: float = 0.0
    offset: int = 0
    cpu: float = 0.0
    requests: Requests = field(default_factory=Requests)

    def __enter__(self) -> Window:
        self.offset = self.log.mark()
        self.cpu0 = server_cpu(self.pid)
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu = server_cpu(self.pid) - self.cpu0
        self.requests = self.log.since(self.offset)


def listen_drops() -> int:
    """The kernel's count of connection attempts dropped because a listen queue was full
    (``TcpExt ListenDrops`` in /proc/net/netstat; 0 when unreadable). Each such drop costs the
    client a SYN retransmit: 1 s for the first."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return 0
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return int(table.get("ListenDrops", 0))
    return 0


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
