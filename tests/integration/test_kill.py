"""`mirrorcal sync` killed (SIGKILL) at random points of 50 runs while the owners keep changing
their calendars, then run to completion: every target ends as a clean run leaves it, no duplicate.

The emulators live in this process; each run is a real `mirrorcal` process. Most kills are aimed
at the writes: the test watches the emulators' request counters and kills a random number of
requests after the run's first write; the others fall at a random moment of the run (start-up,
reads). Set MIRRORCAL_KILL_SEED to replay a failing seed.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mirrorcal.bootstrap import engine_for
from mirrorcal.config import parse_config
from mirrorcal.sync.planner import Skip
from mirrorcal.testing.world import ProviderWorld, Seen

MIRRORCAL = Path(sys.executable).parent / "mirrorcal"
RUNS = 50
MONDAY = (datetime.now(UTC) + timedelta(days=7 - datetime.now(UTC).weekday())).replace(
    hour=0, minute=0, second=0, microsecond=0
)
HORIZON = (MONDAY - timedelta(days=1), MONDAY + timedelta(days=70))
TARGETS = {"personal": "google", "out-b": "google", "out-d": "microsoft"}


def config_text(world: ProviderWorld, db: Path, suffix: str) -> str:
    """src-c (Google) and src-a (Microsoft) -> personal{suffix} (full) -> out-b{suffix}, out-d{suffix} (Busy)."""
    text = f'database = "sqlite:///{db}"\ntimezone = "UTC"\n'
    text += world.toml("src-c", client="C", unified=False) + world.toml("src-a", client="A", unified=False)
    text += world.toml(f"personal{suffix}", client="me")
    text += world.toml(f"out-b{suffix}", client="B", unified=False) + world.toml(
        f"out-d{suffix}", client="D", unified=False
    )
    for source in ("src-c", "src-a"):
        text += f'[[syncs]]\nname = "{source}-in"\nfrom = "{source}"\nto = "personal{suffix}"\nprivacy = "full"\n\n'
    for target in ("out-b", "out-d"):
        text += f'[[syncs]]\nname = "{target}"\nfrom = "personal{suffix}"\nto = "{target}{suffix}"\nprivacy = "private"\n\n'
    return text


class Owners:
    """The sources' owners: they book, rename, move and cancel, at start times never used twice."""

    def __init__(self, world: ProviderWorld, rng: random.Random) -> None:
        self.world, self.rng = world, rng
        self.slot = 0
        self.singles: dict[str, list[str]] = {"src-c": [], "src-a": []}
        self.series: dict[str, tuple[str, datetime]] = {}
        self.changes = 0

    def take(self) -> datetime:
        day, hour = divmod(self.slot, 9)
        self.slot += 1
        return MONDAY + timedelta(days=day % 5 + 7 * (day // 5), hours=8 + hour, minutes=5 * (day % 4))

    def setup(self) -> None:
        for name in self.singles:
            for n in range(12):
                self.singles[name].append(self.world.book(name, f"{name} interview {n}", self.take(), 45))
        for name, hour in (("src-c", 19), ("src-a", 20)):
            first = MONDAY + timedelta(days=2, hours=hour)
            self.series[name] = (self.world.book_weekly(name, f"{name} weekly", first, 30, count=5), first)
            self.rename_occurrence(name, 1, f"{name} weekly (moved agenda)")

    def rename_occurrence(self, name: str, week: int, summary: str) -> None:
        sid, first = self.series[name]
        self.world.rename(name, self.world.instance_id(name, sid, first + timedelta(weeks=week)), summary)

    def change(self, run: int) -> None:
        for _ in range(self.rng.randint(2, 4)):
            name = self.rng.choice(sorted(self.singles))
            ids = self.singles[name]
            what = self.rng.choice(["book", "book", "rename", "move", "cancel"] if len(ids) > 3 else ["book"])
            if what == "book":
                ids.append(self.world.book(name, f"{name} booked in run {run}", self.take(), 30))
            elif what == "rename":
                self.world.rename(name, self.rng.choice(ids), f"{name} renamed in run {run}")
            elif what == "move":
                self.world.reschedule(name, self.rng.choice(ids), self.take(), 60)
            else:
                self.world.cancel(name, ids.pop(self.rng.randrange(len(ids))))
            self.changes += 1
        if run % 7 == 3:
            name = self.rng.choice(sorted(self.series))
            self.rename_occurrence(name, self.rng.randrange(2, 5), f"{name} weekly, run {run}")
            self.changes += 1


def google_writes(world: ProviderWorld) -> int:
    counts = list(world.google.requests.items())  # one step: the server thread may add a key meanwhile
    return sum(n for key, n in counts if not key.startswith("GET"))


def api_requests(world: ProviderWorld) -> int:
    return sum(world.google.requests.values()) + world.graph.requests


def run_sync(config: Path) -> subprocess.Popen[bytes]:
    """Start `mirrorcal -c CONFIG sync`, its output going to CONFIG's ``.log`` file."""
    with config.with_suffix(".log").open("wb") as log:
        return subprocess.Popen(
            [str(MIRRORCAL), "-c", str(config), "sync"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "COLUMNS": "200"},
        )


def run_to_completion(config: Path) -> None:
    proc = run_sync(config)
    code = proc.wait(timeout=120)
    assert code == 0, f"exit {code}:\n{config.with_suffix('.log').read_text()}"


def kill_somewhere(world: ProviderWorld, config: Path, rng: random.Random, whole_run: float) -> str:
    """Start a run and SIGKILL it: after a random number of requests past its first write (three
    times in four), or at a random moment; returns where the kill landed."""
    writes_before, aim_at_writes = google_writes(world), rng.random() < 0.75
    after_requests, after_seconds = rng.randint(0, 12), rng.uniform(0.2, whole_run)
    proc = run_sync(config)
    started, first_write_at = time.monotonic(), None
    while proc.poll() is None:
        if first_write_at is None and google_writes(world) > writes_before:
            first_write_at = api_requests(world)
        if aim_at_writes:
            fire = first_write_at is not None and api_requests(world) >= first_write_at + after_requests
        else:
            fire = time.monotonic() - started >= after_seconds
        if fire or time.monotonic() - started > 60:
            proc.kill()
            proc.wait()
            return "during the writes" if first_write_at is not None else "before any write"
        time.sleep(0.001)
    assert proc.returncode == 0, (
        f"an uninterrupted run failed with exit {proc.returncode}:\n{config.with_suffix('.log').read_text()}"
    )
    return "not at all (the run finished)"


def test_fifty_runs_killed_at_random_end_as_one_clean_run(tmp_path: Path) -> None:
    seed = int(os.environ.get("MIRRORCAL_KILL_SEED") or random.randrange(1 << 30))
    rng = random.Random(seed)
    try:
        with ProviderWorld() as world:
            world.calendar("src-c", "google")
            world.calendar("src-a", "microsoft")
            for suffix in ("", "-clean"):
                for name, provider in TARGETS.items():
                    world.calendar(f"{name}{suffix}", provider)
            killed = tmp_path / "killed.toml"
            killed.write_text(config_text(world, tmp_path / "killed.db", ""))
            owners = Owners(world, rng)

            # How long a run takes: one over an empty world (start-up, reads, no writes).
            started = time.monotonic()
            run_to_completion(killed)
            whole_run = time.monotonic() - started + 0.2

            owners.setup()
            landed: Counter[str] = Counter()
            for run in range(RUNS):
                landed[kill_somewhere(world, killed, rng, whole_run)] += 1
                owners.change(run)
            run_to_completion(killed)
            assert nothing_left_to_do(killed), "a run after completion still plans writes"

            clean = tmp_path / "clean.toml"
            clean.write_text(config_text(world, tmp_path / "clean.db", "-clean"))
            run_to_completion(clean)

            for name in TARGETS:
                after_kills, after_one_run = world.seen(name), world.seen(f"{name}-clean")
                assert Counter(after_kills) == Counter(after_one_run), (
                    f"{name}: extra {sorted(set(after_kills) - set(after_one_run))}, "
                    f"missing {sorted(set(after_one_run) - set(after_kills))}"
                )
                assert len(set(after_kills)) == len(after_kills), f"{name}: duplicates"
                assert world.instances(name, *HORIZON) == world.instances(f"{name}-clean", *HORIZON), name
                assert len(world.raw(name)) == len(world.raw(f"{name}-clean")), name
            # The clean run copied everything the sources hold (so the comparison means something).
            sources = world.instances("src-c", *HORIZON) + world.instances("src-a", *HORIZON)
            assert world.instances("personal-clean", *HORIZON) == sorted(sources)
            busy = sorted(Seen(s.start, s.end, "Busy") for s in sources)
            assert (
                world.instances("out-b-clean", *HORIZON) == busy == world.instances("out-d-clean", *HORIZON)
            )
            assert landed["during the writes"] >= RUNS // 2, landed
    except AssertionError as exc:
        raise AssertionError(f"MIRRORCAL_KILL_SEED={seed}: {exc}") from exc
    print(f"MIRRORCAL_KILL_SEED={seed}: {RUNS} runs, killed {dict(landed)}; {owners.changes} owner changes")


def nothing_left_to_do(config: Path) -> bool:
    """A dry run plans no write."""
    parsed = parse_config(config.read_text(), base_dir=config.parent, env={})

    async def plan() -> bool:
        async with engine_for(parsed) as engine:
            reports = await engine.sync(dry_run=True)
        return all(isinstance(a, Skip) for r in reports.values() for a in r.planned)

    return asyncio.run(plan())
