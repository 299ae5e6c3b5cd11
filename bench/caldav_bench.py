"""CalDAV -> CalDAV on Radicale: mirrorcal against vdirsyncer 0.21, same data, each on its own fresh server.

Phases per tool: (1) the initial copy, (2) a resync with nothing changed, (2') further no-op
resyncs (the steady state; median of ``--repeat``), (3) a resync after 10 edits and 5 deletions
at the source. Per phase: whole-process wall time, client CPU and peak RSS (``os.wait4`` of the
child), the server's CPU (``/proc/<pid>/stat``) and HTTP requests (Radicale's own request log).
Then one no-op ``mirrorcal run`` polling cycle over 50 calendars (``polling.py``). All of it
measures a snapshot of ``src/`` taken at the start (others edit the tree meanwhile). Prints tables and
the goals of the issue with PASS/MISS; writes ``.bench/results.json`` and, per phase, the
request lines and client output under ``.bench/last-run/``. A benchmark, not a test.

    .venv/bin/python bench/caldav_bench.py            # 2,000 events (~6 minutes)
    .venv/bin/python bench/caldav_bench.py --quick    # 200 events, 10 calendars (~40 s)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchdata import changes, generate
from measure import ProcessRun, Window, median, run_process
from report import print_report
from snapshot import digest, take
from tools import VDIRSYNCER_VERSION, Mirrorcal, Side, Vdirsyncer, ensure_vdirsyncer, server_floor

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / ".bench"


def _row(run: ProcessRun, window: Window, verified: dict[str, Any]) -> dict[str, Any]:
    return {
        "wall": run.wall,
        "client_cpu": run.cpu,
        "client_user": run.user,
        "client_system": run.system,
        "peak_rss_mib": run.max_rss_mib,
        "returncode": run.returncode,
        "server_cpu": window.cpu,
        "requests": window.requests.total,
        "by_method": dict(window.requests.by_method),
        "by_status": dict(window.requests.by_status),
        "server_answer_seconds": window.requests.server_seconds,
        "verify": verified,
    }


def _phase(tool: Vdirsyncer | Mirrorcal, label: str, logs: Path, env: dict[str, str]) -> dict[str, Any]:
    side = tool.side
    output = logs / f"{label}-{tool.name}.out"
    with side.window() as window:
        run = run_process(tool.sync_argv(), env=env if tool.name == "mirrorcal" else _env(None), cwd=side.workdir, log_to=output)
    (logs / f"{label}-{tool.name}.requests").write_text("\n".join(window.requests.lines) + "\n")
    row = _row(run, window, side.verify())
    if run.returncode != 0:
        row["output_tail"] = output.read_text(errors="replace")[-2000:]
    status = "ok" if row["verify"]["ok"] and run.returncode == 0 else "PROBLEM"
    print(
        f"  {label:<8} {tool.name:<10} wall {run.wall:7.2f}s  cpu {run.cpu:6.2f}s  server {window.cpu:6.2f}s  "
        f"{window.requests.total:5d} req  -> {row['verify']['target_items']} items  {status}",
        flush=True,
    )
    return row


def _env(code: Path | None) -> dict[str, str]:
    """The clients' environment; ``PYTHONPATH`` puts the snapshot of mirrorcal first."""
    env = dict(os.environ)
    env.pop("VIRTUAL_ENV", None)
    env["COLUMNS"] = "160"
    if code is not None:
        env["PYTHONPATH"] = str(code)
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000, help="events in the source calendar (default 2000)")
    parser.add_argument("--quick", action="store_true", help="a fast try: 200 events, 10 calendars x 20 for polling")
    parser.add_argument("--repeat", type=int, default=3, help="steady no-op resyncs per tool (median reported)")
    parser.add_argument("--calendars", type=int, default=50, help="calendars in the polling cycle (default 50)")
    parser.add_argument("--per-calendar", type=int, default=20, help="events per polling calendar (default 20)")
    parser.add_argument("--cycles", type=int, default=5, help="no-op polling cycles measured (median reported)")
    parser.add_argument("--skip-polling", action="store_true", help="do not run the polling-cycle part")
    args = parser.parse_args(argv)
    if args.quick:
        args.events = 200 if args.events == 2000 else args.events
        args.calendars = 10 if args.calendars == 50 else args.calendars

    BENCH.mkdir(exist_ok=True)
    run_dir = BENCH / "last-run"
    shutil.rmtree(run_dir, ignore_errors=True)
    logs = run_dir / "logs"
    logs.mkdir(parents=True)
    vdirsyncer_exe = ensure_vdirsyncer(BENCH / "vdirsyncer-venv")
    mirrorcal_exe = Path(sys.executable).parent / "mirrorcal"

    stamp = datetime.now(UTC)
    today = stamp.date()
    events = generate(args.events, today)
    edited, deleted = changes(events)
    kinds = {k: sum(e.kind == k for e in events) for k in ("single", "weekly", "allday")}
    load = os.getloadavg()
    code = take(ROOT, run_dir / "code" / "src")
    env = _env(Path(str(code["path"])))
    probe = run_process([sys.executable, "-c", "import mirrorcal; print(mirrorcal.__file__)"], env=env, cwd=ROOT, log_to=logs / "import-check.out")
    code["imported_from"] = (logs / "import-check.out").read_text().strip()
    if probe.returncode != 0 or not code["imported_from"].startswith(str(code["path"])):
        raise SystemExit(f"the snapshot of mirrorcal is not what the clients import: {code['imported_from']}")
    print(
        f"mirrorcal bench: {args.events} events {kinds}, vdirsyncer {VDIRSYNCER_VERSION}, Python {platform.python_version()}, "
        f"mirrorcal {code['commit']}{'+changes' if code['uncommitted_changes'] else ''} (snapshot {code['source_digest']}), {_cpus()} CPUs, load average {load[0]:.2f} {load[1]:.2f} (other work on the machine skews the figures)"
    )

    sides = {name: Side(name, run_dir / name) for name in ("vdirsyncer", "mirrorcal")}
    results: dict[str, Any] = {
        "started": stamp.isoformat(),
        "events": args.events,
        "mix": kinds,
        "changes": {"edited": len(edited), "deleted": len(deleted)},
        "vdirsyncer_version": VDIRSYNCER_VERSION,
        "machine": {"python": platform.python_version(), "cpus": _cpus(), "loadavg_at_start": load},
        "mirrorcal_code": code,
        "phases": {},
    }
    try:
        for side in sides.values():
            side.start(events, stamp)
        tools: list[Vdirsyncer | Mirrorcal] = [Vdirsyncer(vdirsyncer_exe, sides["vdirsyncer"]), Mirrorcal(mirrorcal_exe, sides["mirrorcal"])]
        run, window = tools[0].setup(logs / "setup-vdirsyncer-discover.out")  # type: ignore[misc]
        results["vdirsyncer_discover"] = {"wall": run.wall, "requests": window.requests.total, "returncode": run.returncode}
        phases = results["phases"]
        print("phases:", flush=True)
        for label in ("initial", "noop"):
            phases[label] = {tool.name: _phase(tool, label, logs, env) for tool in tools}
        steady: dict[str, list[dict[str, Any]]] = {tool.name: [] for tool in tools}
        for i in range(args.repeat):
            for tool in tools:
                steady[tool.name].append(_phase(tool, f"noop2.{i + 1}", logs, env))
        phases["noop2"] = {name: _median_row(rows) for name, rows in steady.items()}
        results["server_floor"] = server_floor(sides["mirrorcal"], sides["mirrorcal"].source_url)
        for side in sides.values():
            side.change_source(edited, deleted, datetime.now(UTC))
        phases["changes"] = {tool.name: _phase(tool, "changes", logs, env) for tool in tools}
    finally:
        for side in sides.values():
            side.stop()

    if not args.skip_polling:
        print(f"polling: {args.calendars} calendars x {args.per_calendar} events ...", flush=True)
        results["polling"] = _polling(args, run_dir, env, stamp)
        (logs / "polling-noop-cycle.requests").write_text("\n".join(results["polling"]["cycles"][-1]["request_lines"]) + "\n")
        for row in results["polling"]["cycles"]:
            row.pop("request_lines", None)

    if digest(ROOT / "src") != code["source_digest"]:
        results["note"] = f"the work tree's mirrorcal changed during the run; all figures are for the snapshot {code['source_digest']}"
    results["goals"] = print_report(results)
    (BENCH / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nresults: {BENCH / 'results.json'}; request logs and client output: {logs}")
    return 0


def _median_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The steady no-op figures: the median of each measure, every run kept under ``runs``."""
    out = dict(rows[len(rows) // 2])
    for key in ("wall", "client_cpu", "peak_rss_mib", "server_cpu", "requests"):
        out[key] = median([r[key] for r in rows])
    out["verify"] = {**rows[-1]["verify"], "ok": all(r["verify"]["ok"] for r in rows)}
    out["runs"] = [{k: r[k] for k in ("wall", "client_cpu", "server_cpu", "requests")} for r in rows]
    return out


def _polling(args: argparse.Namespace, run_dir: Path, env: dict[str, str], stamp: datetime) -> dict[str, Any]:
    """``polling.py`` in its own process, so it imports the snapshot of mirrorcal too."""
    out = run_dir / "polling.json"
    argv = [
        sys.executable, str(Path(__file__).with_name("polling.py")), "--workdir", str(run_dir / "polling"), "--out", str(out),
        "--calendars", str(args.calendars), "--per-calendar", str(args.per_calendar), "--cycles", str(args.cycles),
        "--stamp", stamp.isoformat(),
    ]  # fmt: skip
    log = run_dir / "logs" / "polling.out"
    run = run_process(argv, env=env, cwd=ROOT, log_to=log)
    if run.returncode != 0:
        raise SystemExit(f"polling part failed (exit {run.returncode}): {log.read_text(errors='replace')[-2000:]}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def _cpus() -> int:
    return os.cpu_count() or 0


if __name__ == "__main__":
    sys.exit(main())
