"""The push-latency benchmark runs end to end (a real ``mirrorcal run`` against both emulators) and
keeps the format of its last line."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAST_LINE = re.compile(r"^propagation over 5 changes: p50 \d+\.\d{3} s, p95 \d+\.\d{3} s, max \d+\.\d{3} s$")


def test_latency_bench_with_five_changes(tmp_path: Path) -> None:
    argv = [sys.executable, str(ROOT / "bench" / "latency.py"), "-n", "5", "--existing", "5", "--warmup", "1"]
    argv += ["--timeout", "5", "--workdir", str(tmp_path)]
    started = time.monotonic()
    run = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    took = time.monotonic() - started
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    lines = run.stdout.strip().splitlines()
    assert LAST_LINE.match(lines[-1]), lines[-1]
    assert "NOT ARRIVED" not in run.stdout  # every change came through push alone (poll_seconds is an hour)
    assert "poll_seconds = 3600" in run.stdout
    assert (tmp_path / "results.json").exists()
    assert took < 15, f"the smoke run took {took:.1f} s"
