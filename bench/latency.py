"""Push latency of ``mirrorcal run``: from a change written at Client C to its mirror on every target of the chain.

The Google and Graph emulators run in this process (``mirrorcal.testing.world.ProviderWorld``);
``.venv/bin/mirrorcal -c CONFIG run`` runs as a real subprocess with ``[push] listen`` set and
every calendar's ``poll_seconds`` long (default 3,600 s), so only push notifications can make
it sync within the measurement. The chain (issue 3, "Real time"):

    Client C (Google) --full--> Personal (Google; --personal microsoft for Graph)
        --private--> Client A (Graph, "Busy") and --private--> Client B (Google, "Busy")

Changes are written to Client C as its owner would (straight into the emulator, which then
sends its push notifications): new bookings, and renames, moves and cancellations of earlier
bookings that have arrived. This process reads the emulators' state directly every ~5 ms and
takes, per change, the time from just before the write until every target shows it at once:

| change | arrived when |
|---|---|
| book   | Personal holds (start, end, title); A and B hold (start, end, "Busy") |
| rename | Personal holds the new title and not the old one (A and B keep their Busy block; a rename does not change them, so it is left out of their "first seen" figures) |
| move   | Personal holds the title at the new times and not at the old; A and B likewise for Busy |
| cancel | Personal, A and B no longer hold it |

Spaced mode (the default) writes one change every ``--gap`` seconds (uniform in MIN,MAX);
``--burst K`` writes K changes back to back every ``--burst-gap`` seconds instead. The last
line reads ``propagation over N changes: p50 X s, p95 Y s, max Z s`` (nearest-rank
percentiles). Figures and per-change rows go to ``.bench/latency/results.json``; the
service's output to ``.bench/latency/mirrorcal.out``. A benchmark, not a test.

    .venv/bin/python bench/latency.py                  # 200 changes, one every 0.1-0.3 s
    .venv/bin/python bench/latency.py --burst 20       # 200 changes in bursts of 20 every 3 s
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mirrorcal.testing.world import ProviderWorld, Seen, syncs_toml

ROOT = Path(__file__).resolve().parent.parent
MIRRORCAL = ROOT / ".venv" / "bin" / "mirrorcal"
TICK = 0.005
BUSY = "Busy"
TARGETS = ("personal", "client-a", "client-b")
SLOT = timedelta(minutes=75)
LENGTH = timedelta(minutes=45)

SYNCS = syncs_toml()


@dataclass
class Booking:
    """One interview on Client C as the bench knows it."""

    event_id: str
    title: str
    start: datetime
    end: datetime
    live: bool = True
    busy: bool = False  # a change to it is still in flight

    def full(self) -> Seen:
        return Seen(self.start, self.end, self.title)

    def blocked(self) -> Seen:
        return Seen(self.start, self.end, BUSY)


@dataclass
class Change:
    """One change written to Client C and what each target must then hold (and no longer hold)."""

    kind: str
    booking: Booking
    expect: dict[str, tuple[set[Seen], set[Seen]]]
    written: float = 0.0
    arrived: float | None = None
    first: dict[str, float] = field(default_factory=dict)  # target -> when it first matched

    def check(self, holds: dict[str, set[Seen]], now: float) -> bool:
        ok = True
        for target, (present, absent) in self.expect.items():
            matched = present <= holds[target] and not absent & holds[target]
            if matched:
                self.first.setdefault(target, now)
            ok = ok and matched
        if ok:
            self.arrived = now
        return ok


class Chain:
    """The world, the slots of time handed out, and the changes an owner of Client C makes."""

    def __init__(self, world: ProviderWorld, base: datetime, rng: random.Random) -> None:
        self.world, self.base, self.rng = world, base, rng
        self.slots = 0
        self.bookings: list[Booking] = []

    def _slot(self) -> tuple[datetime, datetime]:
        start = self.base + self.slots * SLOT
        self.slots += 1
        return start, start + LENGTH

    def book(self) -> Change:
        start, end = self._slot()
        title = f"Candidate {self.slots:03d} / Onsite"
        booking = Booking(self.world.book("client-c", title, start, int(LENGTH.total_seconds() // 60)), title, start, end)
        self.bookings.append(booking)
        return Change("book", booking, _both(booking, present=True))

    def change(self, kind: str) -> Change:
        """A ``kind`` change to an arrived, live booking with nothing in flight (a booking when none)."""
        idle = [b for b in self.bookings if b.live and not b.busy]
        if kind == "book" or not idle:
            return self.book()
        b = self.rng.choice(idle)
        if kind == "rename":
            old = b.full()
            b.title += " (2nd round)" if "round" not in b.title else "+"
            self.world.rename("client-c", b.event_id, b.title)
            expect = {"personal": ({b.full()}, {old}), "client-a": ({b.blocked()}, set()), "client-b": ({b.blocked()}, set())}
            return Change(kind, b, expect)
        if kind == "move":
            old_full, old_busy = b.full(), b.blocked()
            b.start, b.end = self._slot()
            _google_move(self.world, b)
            expect = {"personal": ({b.full()}, {old_full})}
            expect |= {t: ({b.blocked()}, {old_busy}) for t in ("client-a", "client-b")}
            return Change(kind, b, expect)
        self.world.cancel("client-c", b.event_id)
        b.live = False
        return Change("cancel", b, _both(b, present=False))


def _both(b: Booking, *, present: bool) -> dict[str, tuple[set[Seen], set[Seen]]]:
    rows = {"personal": {b.full()}, "client-a": {b.blocked()}, "client-b": {b.blocked()}}
    return {t: (s, set()) if present else (set(), s) for t, s in rows.items()}


def _google_move(world: ProviderWorld, b: Booking) -> None:
    _, cid = world.where["client-c"]
    when = {k: {"dateTime": v.isoformat().replace("+00:00", "Z"), "timeZone": "UTC"} for k, v in (("start", b.start), ("end", b.end))}
    world.google.user_update(cid, b.event_id, when)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(world: ProviderWorld, workdir: Path, port: int, poll_seconds: int) -> str:
    poll = f"poll_seconds = {poll_seconds}"
    text = f'database = "sqlite:///{workdir / "state.db"}"\ntimezone = "UTC"\n\n[push]\nlisten = "127.0.0.1:{port}"\n\n'
    text += world.toml("client-c", client="C", unified=False, extra=poll)
    text += world.toml("personal", client="me", extra=poll)
    text += world.toml("client-a", client="A", unified=False, extra=poll)
    text += world.toml("client-b", client="B", unified=False, extra=poll)
    return text + SYNCS


def _holds(world: ProviderWorld) -> dict[str, set[Seen]]:
    return {t: world.holds(t) for t in TARGETS}


def _wait(condition: Callable[[], bool], limit: float, what: str, service: subprocess.Popen[bytes], log: Path) -> float:
    started = time.perf_counter()
    while not condition():
        if service.poll() is not None:
            raise SystemExit(f"mirrorcal run exited ({service.returncode}) while waiting for {what}:\n{log.read_text()[-3000:]}")
        if time.perf_counter() - started > limit:
            raise SystemExit(f"{what}: not within {limit:g} s; service output:\n{log.read_text()[-3000:]}")
        time.sleep(TICK)
    return time.perf_counter() - started


def _channels_open(world: ProviderWorld) -> bool:
    google = {cid for name, (kind, cid) in world.where.items() if kind == "google"}
    graph = {cid for name, (kind, cid) in world.where.items() if kind == "microsoft"}
    with world.google.lock:
        watched = {c.calendar_id for c in world.google.channels.values()}
    with world.graph.lock:
        subscribed = {s.calendar_id for s in world.graph.subscriptions.values()}
    return google <= watched and graph <= subscribed


def measure(args: argparse.Namespace, world: ProviderWorld, chain: Chain, service: subprocess.Popen[bytes], log: Path) -> list[Change]:
    """Write ``args.changes`` changes on the schedule and wait for each to arrive everywhere."""
    kinds, weights = zip(*args.mix.items(), strict=True)
    pending: list[Change] = []
    done: list[Change] = []
    issued = 0
    next_at = time.perf_counter()
    while issued < args.changes or pending:
        now = time.perf_counter()
        if issued < args.changes and now >= next_at:
            for _ in range(min(args.burst or 1, args.changes - issued)):
                written = time.perf_counter()
                change = chain.change(chain.rng.choices(kinds, weights)[0])
                change.written = written
                change.booking.busy = True
                pending.append(change)
                issued += 1
            next_at += args.burst_gap if args.burst else chain.rng.uniform(*args.gap)
        if pending:
            holds, seen_at = _holds(world), time.perf_counter()
            for change in [c for c in pending if c.check(holds, seen_at)]:
                change.booking.busy = False
                pending.remove(change)
                done.append(change)
            late = [c for c in pending if seen_at - c.written > args.timeout]
            for change in late:
                pending.remove(change)
                done.append(change)
        if service.poll() is not None:
            raise SystemExit(f"mirrorcal run exited ({service.returncode}) during the run:\n{log.read_text()[-3000:]}")
        time.sleep(max(0.0, min(TICK, next_at - time.perf_counter()) if issued < args.changes else TICK))
    return done


def percentile(values: list[float], p: float) -> float:
    """Nearest rank: the smallest value with at least ``p`` % of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def report(args: argparse.Namespace, done: list[Change], extra: dict[str, Any], workdir: Path) -> str:
    arrived = [c for c in done if c.arrived is not None]
    lost = len(done) - len(arrived)
    print(f"\n{'change':<8} {'n':>4} {'p50 s':>7} {'p95 s':>7} {'max s':>7}   (write -> on every target)")
    for kind in [*args.mix, "all"]:
        rows = [c.arrived - c.written for c in arrived if kind in ("all", c.kind)]  # type: ignore[operator]
        if rows:
            print(f"{kind:<8} {len(rows):>4} {percentile(rows, 50):>7.3f} {percentile(rows, 95):>7.3f} {max(rows):>7.3f}")
    for target in TARGETS:
        rows = [c.first[target] - c.written for c in arrived if target in c.first and (c.kind != "rename" or target == "personal")]
        if rows:
            print(f"  first seen on {target:<9} p50 {percentile(rows, 50):.3f} s, p95 {percentile(rows, 95):.3f} s, max {max(rows):.3f} s")
    for key, value in extra.items():
        print(f"{key}: {value}")
    if lost:
        print(f"NOT ARRIVED within {args.timeout:g} s: {lost} change(s) (counted at {args.timeout:g} s below)")
    latencies = [(c.arrived if c.arrived is not None else c.written + args.timeout) - c.written for c in done]
    p95 = percentile(latencies, 95)
    print(f"goal p95 <= 2 s: {'PASS' if p95 <= 2.0 and not lost else 'MISS'}")
    rows = [
        {"kind": c.kind, "latency": None if c.arrived is None else c.arrived - c.written, "first": {t: v - c.written for t, v in c.first.items()}}
        for c in done
    ]
    (workdir / "results.json").write_text(json.dumps({"options": _options(args), **extra, "changes": rows}, indent=2, default=str) + "\n")
    return (
        f"propagation over {len(done)} changes: p50 {percentile(latencies, 50):.3f} s, "
        f"p95 {p95:.3f} s, max {max(latencies):.3f} s"
    )


def _options(args: argparse.Namespace) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}


def run(args: argparse.Namespace) -> str:
    workdir: Path = args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    for stale in ("state.db", "state.db-wal", "state.db-shm"):
        (workdir / stale).unlink(missing_ok=True)
    rng = random.Random(args.seed)
    monday = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    base = monday + timedelta(days=7 - monday.weekday())
    with ProviderWorld() as world:
        world.calendar("client-c", "google")
        world.calendar("personal", args.personal)
        world.calendar("client-a", "microsoft")
        world.calendar("client-b", "google")
        chain = Chain(world, base, rng)
        existing = [chain.book() for _ in range(args.existing)]
        config = workdir / "mirrorcal.toml"
        config.write_text(_config(world, workdir, _free_port(), args.poll_seconds))
        log = workdir / "mirrorcal.out"
        with open(log, "wb") as out:
            started = time.perf_counter()
            service = subprocess.Popen(
                [str(MIRRORCAL), "-c", str(config), "run"], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=workdir
            )
        try:
            _wait(lambda: _channels_open(world), 60, "push channels", service, log)
            holds = lambda: _holds(world)  # noqa: E731
            _wait(lambda: all(c.check(holds(), 0.0) for c in existing), 120, "the existing bookings", service, log)
            ready = time.perf_counter() - started
            for _ in range(args.warmup):  # not counted: the first requests on each connection
                change = chain.book()
                _wait(lambda c=change: c.check(holds(), 0.0), args.timeout, "a warm-up change", service, log)  # type: ignore[misc]
            mode = f"bursts of {args.burst} every {args.burst_gap:g} s" if args.burst else f"one every {args.gap[0]:g}-{args.gap[1]:g} s"
            print(f"personal on {args.personal}; poll_seconds = {args.poll_seconds} on every calendar; {args.changes} changes, {mode}; "
                  f"mix {args.mix}; {args.existing} bookings already mirrored; service ready after {ready:.1f} s", flush=True)  # fmt: skip
            google0, graph0 = len(world.google.push.delivered), len(world.graph.push.delivered)
            t0 = time.perf_counter()
            done = measure(args, world, chain, service, log)
            wall = time.perf_counter() - t0
        finally:
            service.send_signal(signal.SIGTERM)
            try:
                service.wait(timeout=15)
            except subprocess.TimeoutExpired:
                service.kill()
                service.wait()
        extra = {
            "run seconds": round(wall, 1),
            "push notifications sent": {"google": len(world.google.push.delivered) - google0, "microsoft": len(world.graph.push.delivered) - graph0},
            "service exit code": service.returncode,
            "load average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        }
    return report(args, done, extra, workdir)


def _gap(text: str) -> tuple[float, float]:
    low, _, high = text.partition(",")
    return float(low), float(high or low)


def _mix(text: str) -> dict[str, int]:
    found = {k.strip(): int(v) for k, _, v in (p.partition(":") for p in text.split(","))}
    unknown = set(found) - {"book", "rename", "move", "cancel"}
    if unknown or not found.get("book"):
        raise argparse.ArgumentTypeError("kinds are book, rename, move, cancel (book must have a weight)")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description="Push latency of mirrorcal run along Client C -> Personal -> Clients A, B")
    parser.add_argument("-n", "--changes", type=int, default=200, help="changes measured (default 200)")
    parser.add_argument("--gap", type=_gap, default=(0.1, 0.3), metavar="MIN,MAX", help="seconds between changes, uniform (default 0.1,0.3)")
    parser.add_argument("--burst", type=int, default=0, metavar="K", help="write K changes back to back instead, every --burst-gap seconds")
    parser.add_argument("--burst-gap", type=float, default=3.0, help="seconds between bursts (default 3)")
    parser.add_argument("--mix", type=_mix, default=_mix("book:70,rename:10,move:10,cancel:10"), help="weights per kind of change")
    parser.add_argument("--personal", choices=("google", "microsoft"), default="google", help="where the personal calendar lives")
    parser.add_argument("--poll-seconds", type=int, default=3600, help="poll_seconds of every calendar (default 3600)")
    parser.add_argument("--existing", type=int, default=50, help="bookings on Client C mirrored before measuring (default 50)")
    parser.add_argument("--warmup", type=int, default=3, help="changes made and waited for before measuring (default 3)")
    parser.add_argument("--timeout", type=float, default=30.0, help="a change not arrived after this many seconds is lost")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=ROOT / ".bench" / "latency")
    args = parser.parse_args()
    print(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
