"""The cost of one no-op polling cycle of ``mirrorcal run`` over many calendars, measured in-process.

One Radicale holds ``calendars`` source calendars (``per_calendar`` events each, same mix as the
main benchmark) and one target; each source has a ``privacy = "full"`` sync into the target.
A ``Service`` (what ``mirrorcal run`` drives) runs cycle 1 (the initial copy), cycle 2 (the
first after its own writes: the target lists its new etags once) and then ``cycles`` no-op
cycles, each measured for wall time, this process's CPU, the server's CPU and requests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
from benchdata import generate, write_collection
from measure import listen_drops, median
from tools import PASSWORD, USER, WINDOW_DAYS, Side, propfind_items

from mirrorcal.bootstrap import engine_for
from mirrorcal.config import parse_config
from mirrorcal.service import Service


def _config(side: Side, sources: dict[str, str], target: str) -> str:
    parts = ['database = "sqlite:///polling.db"', 'timezone = "Europe/London"', ""]
    for name, url in {**sources, "personal": target}.items():
        parts += [f"[calendars.{name}]", 'kind = "caldav"', f'url = "{url}"', f'username = "{USER}"', f'password = "{PASSWORD}"']
        parts += [f'client = "{name}"', ""]
    for name in sources:
        parts += ["[[syncs]]", f'name = "{name}-to-personal"', f'from = "{name}"', 'to = "personal"', 'privacy = "full"']
        parts += [f"window_days = {WINDOW_DAYS}", ""]
    return "\n".join(parts)


async def _measured(side: Side, label: str, step: Any) -> dict[str, Any]:
    with side.window() as window:
        drops0 = listen_drops()
        wall0, cpu0 = time.perf_counter(), time.process_time()
        result = await step()
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        drops = listen_drops() - drops0
    row = {
        "label": label,
        "wall": wall,
        "client_cpu": cpu,
        "server_cpu": window.cpu,
        "requests": window.requests.total,
        "listen_drops": drops,
        "by_method": dict(window.requests.by_method),
        "request_lines": window.requests.lines,
    }
    if isinstance(result, dict):
        row["writes"] = sum(r.writes for r in result.values())
        row["errors"] = [e for r in result.values() for e in r.errors][:10]
    return row


async def run_polling(workdir: Path, *, calendars: int, per_calendar: int, cycles: int, today: date, stamp: datetime) -> dict[str, Any]:
    """Set up, run the cycles and return the figures (see the module docstring)."""
    side = Side("polling", workdir)
    side.workdir.mkdir(parents=True, exist_ok=True)
    side.server.start()
    try:
        sources: dict[str, str] = {}
        with httpx.Client(auth=(USER, PASSWORD), timeout=60.0) as client:
            for i in range(calendars):
                name = f"client-{i:02d}"
                sources[name] = side.server.make_calendar(USER, name)
                write_collection(side.folder(name), generate(per_calendar, today, seed=1000 + i), stamp)
                propfind_items(client, sources[name])
        target = side.server.make_calendar(USER, "personal")
        config = parse_config(_config(side, sources, target), base_dir=side.workdir, env=dict(os.environ))
        rows: list[dict[str, Any]] = []
        async with engine_for(config) as engine:
            service = Service(config, engine)
            ready = list(service.due)
            rows.append(await _measured(side, "cycle 1 (initial copy)", lambda: service.cycle(ready)))
            rows.append(await _measured(side, "cycle 2 (first after own writes)", lambda: service.cycle(ready)))
            noop = [await _measured(side, f"no-op cycle {i + 1}", lambda: service.cycle(ready)) for i in range(cycles)]
            conflicts = [await _measured(side, "conflict check alone", _as_async(service.check_conflicts)) for _ in range(cycles)]
            forced = [await _measured(side, "conflict check, forced", _as_async(_forced(service))) for _ in range(cycles)]
            names = [s.name for s in config.syncs]
            syncs = [await _measured(side, "engine.sync alone", lambda: engine.sync(names)) for _ in range(cycles)]
        target_items = side.count("personal")
    finally:
        side.stop()
    summary = {
        key: median([r[key] for r in noop]) for key in ("wall", "client_cpu", "server_cpu", "requests", "listen_drops")
    }
    return {
        "calendars": calendars,
        "events_per_calendar": per_calendar,
        "target_items": target_items,
        "expected_target_items": calendars * per_calendar,
        "cycles": rows + noop,
        "noop_median": summary,
        "conflict_check_median": {k: median([r[k] for r in conflicts]) for k in ("wall", "client_cpu", "requests")},
        "conflict_check_forced_median": {k: median([r[k] for r in forced]) for k in ("wall", "client_cpu", "requests")},
        "engine_sync_median": {k: median([r[k] for r in syncs]) for k in ("wall", "client_cpu", "server_cpu", "requests", "listen_drops")},
    }


def _forced(service: Service) -> Any:
    """``check_conflicts`` made to recompute, as when a unified calendar changed: the Service
    skips the check when nothing changed since the last one (its ``_checked`` state)."""

    def check() -> Any:
        if hasattr(service, "_checked"):
            service._checked = None
        return service.check_conflicts()

    return check


def _as_async(fn: Any) -> Any:
    async def call() -> Any:
        return fn()

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description="One no-op polling cycle of mirrorcal run (called by caldav_bench.py)")
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="where to write the figures (JSON)")
    parser.add_argument("--calendars", type=int, default=50)
    parser.add_argument("--per-calendar", type=int, default=20)
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--stamp", type=datetime.fromisoformat, required=True, help="the data's reference time (ISO)")
    args = parser.parse_args()
    result = asyncio.run(
        run_polling(
            args.workdir, calendars=args.calendars, per_calendar=args.per_calendar, cycles=args.cycles,
            today=args.stamp.date(), stamp=args.stamp,
        )
    )  # fmt: skip
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
