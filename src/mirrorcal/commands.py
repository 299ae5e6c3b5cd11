"""What each command does, given a checked Config and a console; the CLI module only parses options."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from datetime import datetime, timedelta
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .bootstrap import Credentials, engine_for, open_store
from .config import Config
from .errors import MirrorcalError
from .service import Service, format_conflict
from .sync.engine import SyncReport
from .sync.planner import Create, Delete, Skip, Update
from .unified import conflicts_between


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def summary_table(reports: dict[str, Any], title: str = "Sync summary") -> Table:
    table = Table(title=title)
    for column in ("sync", "created", "updated", "deleted", "skipped", "errors"):
        table.add_column(column, justify="left" if column == "sync" else "right")
    for name, report in reports.items():
        c = report.counts
        table.add_row(
            name,
            *(str(c[k]) for k in ("created", "updated", "deleted", "skipped")),
            f"[red]{c['errors']}[/red]" if c["errors"] else "0",
        )
    return table


PROGRESS_FROM = 50
"""Show a progress bar when a run plans at least this many writes."""


async def check(config: Config, console: Console) -> int:
    """Reach every calendar, then plan every sync without writing. 0 when all is well."""
    failed = 0
    table = Table(title="Calendars")
    for column in ("calendar", "kind", "client", "unified", "state"):
        table.add_column(column)

    async with engine_for(config) as engine:

        async def probe(name: str) -> tuple[str, str | None]:
            try:
                return name, await engine.calendars[name].check()
            except MirrorcalError as exc:
                return name, f"[red]unreachable:[/red] {exc}" if str(exc) else "[red]unreachable[/red]"

        results = dict(await asyncio.gather(*(probe(n) for n in config.calendars)))
        for name, cfg in config.calendars.items():
            state = results[name] or ""
            failed += state.startswith("[red]")
            table.add_row(name, cfg.kind + (" (read-only)" if cfg.read_only else ""), cfg.client or "", "yes" if cfg.unified else "no", state)
        console.print(table)
        reports = await engine.sync(dry_run=True)
    plans = Table(title="What each sync would do (dry run)")
    for column in ("sync", "from -> to", "privacy", "create", "update", "delete", "skip", "problems"):
        plans.add_column(column)
    for spec in config.syncs:
        report = reports.get(spec.name, SyncReport(spec.name))
        kinds = {k: sum(isinstance(a, t) for a in report.planned) for k, t in (("c", Create), ("u", Update), ("d", Delete), ("s", Skip))}
        failed += bool(report.errors)
        plans.add_row(
            spec.name,
            f"{spec.source} -> {spec.target}",
            spec.privacy.value,
            str(kinds["c"]),
            str(kinds["u"]),
            str(kinds["d"]),
            str(kinds["s"]),
            "[red]" + "; ".join(report.errors) + "[/red]" if report.errors else "",
        )
    console.print(plans)
    console.print("[green]configuration OK[/green]" if not failed else f"[red]{failed} problem(s)[/red]")
    return 1 if failed else 0


async def sync_once(config: Config, console: Console, names: list[str] | None, *, allow_empty: bool = False) -> int:
    unknown = [n for n in names or [] if n not in {s.name for s in config.syncs}]
    if unknown:
        console.print(f"[red]unknown sync(s):[/red] {', '.join(unknown)} (defined: {', '.join(s.name for s in config.syncs)})")
        return 2
    async with engine_for(config) as engine:
        progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=True
        )
        tasks: dict[str, Any] = {}

        def planned(sync: str, n: int) -> None:
            if n >= PROGRESS_FROM:
                progress.start()
                tasks[sync] = progress.add_task(sync, total=n)

        def applied(sync: str) -> None:
            if sync in tasks:
                progress.advance(tasks[sync])

        engine.on_planned, engine.on_applied = planned, applied
        try:
            reports = await engine.sync(names, allow_empty=allow_empty)
        finally:
            progress.stop()
    console.print(summary_table(reports))
    for report in reports.values():
        for error in report.errors[:20]:
            console.print(f"[red]{report.sync}:[/red] {error}")
        if len(report.errors) > 20:
            console.print(f"[red]{report.sync}:[/red] ... and {len(report.errors) - 20} more (see `mirrorcal status --history 50`)")
    return 0 if all(r.ok for r in reports.values()) else 1


async def run_forever(config: Config, console: Console, *, interval: float | None) -> int:
    credentials = Credentials(config)
    async with engine_for(config, credentials) as engine:

        def reported(reports: dict[str, SyncReport]) -> None:
            console.print(summary_table(reports, title=f"{datetime.now():%H:%M:%S} changes"))
            for r in reports.values():
                for e in r.errors[:5]:
                    console.print(f"[red]{r.sync}:[/red] {e}")

        service = Service(
            config,
            engine,
            interval=interval,
            on_report=reported,
            on_conflict=lambda c: console.print(f"[bold red]conflict:[/bold red] {format_conflict(c)}"),
            needs_reauth=credentials.needs_reauth,
            on_reauth=lambda name: console.print(
                f"[bold red]{name}:[/bold red] the provider refused the stored sign-in; its syncs are stopped and "
                f"nothing was deleted. Sign in again: mirrorcal connect {config.calendars[name].kind} "
                f"--name {config.calendars[name].connection or name}"
            ),
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, service.stop)
        console.print(f"mirrorcal: syncing {len(config.syncs)} sync(s) over {len(service.due)} calendar(s); Ctrl-C stops")
        if config.push is not None:
            console.print(f"push notifications: listening on {config.push.host}:{config.push.port} ({config.push.public_url})")
        await service.serve()
    console.print("stopped")
    return 0


async def show_conflicts(
    config: Config, console: Console, *, start: datetime, days: int, buffer: timedelta, as_json: bool, offline: bool
) -> int:
    unified = [(n, c.emails) for n, c in config.calendars.items() if c.unified]
    problems: list[str] = []
    async with engine_for(config) as engine:
        if not offline:
            results = await asyncio.gather(*(engine.refresh(n) for n, _ in unified), return_exceptions=True)
            problems += [f"{n}: could not be read, using what was last synced ({r})" for (n, _), r in zip(unified, results, strict=True) if isinstance(r, BaseException)]
        found, bad = conflicts_between(
            engine.store, unified, start=start, days=days, tz=config.timezone, buffer=buffer, working_hours=config.conflict_working_hours
        )
    problems += bad
    if as_json:
        print_json([c.as_json(config.timezone) for c in found])
    else:
        if not found:
            console.print(f"[green]No conflicts[/green] from {start:%a %d %b} for {days} day(s).")
        for c in found:
            console.print(f"[bold red]conflict:[/bold red] {format_conflict(c)}")
    for p in problems:
        Console(stderr=True).print(f"[yellow]warning:[/yellow] {p}")
    return 0


def show_status(config: Config, console: Console, *, as_json: bool, history: int) -> int:
    store = open_store(config)
    try:
        rows: list[dict[str, Any]] = []
        for spec in config.syncs:
            last = store.last_run(spec.name)
            mirrors = store.mirrors(spec.name)
            item_errors = [f"{i.href}: {i.error}" for i in store.items(spec.source).values() if i.error]
            rows.append(
                {
                    "sync": spec.name,
                    "from": spec.source,
                    "to": spec.target,
                    "privacy": spec.privacy.value,
                    "last_run": last.finished_at.isoformat() if last and last.finished_at else None,
                    "counts": last.counts if last else {},
                    "error": last.error if last else None,
                    "mirrors": sum(1 for m in mirrors.values() if m.state == "active"),
                    "forgotten": sum(1 for m in mirrors.values() if m.state == "forgotten"),
                    "event_errors": item_errors,
                }
            )
        entries = store.history(None, history) if history else []
        if as_json:
            print_json(
                {
                    "syncs": rows,
                    "history": [
                        {"at": h.at.isoformat(), "sync": h.sync, "event": h.origin_key, "action": h.action, "reason": h.reason, "summary": h.summary}
                        for h in entries
                    ],
                }
            )
            return 0
        table = Table(title="Syncs")
        for column in ("sync", "from -> to", "privacy", "last run", "created", "updated", "deleted", "skipped", "errors", "mirrors"):
            table.add_column(column)
        for r in rows:
            c = r["counts"]
            table.add_row(
                r["sync"], f"{r['from']} -> {r['to']}", r["privacy"], (r["last_run"] or "never")[:19],
                *(str(c.get(k, 0)) for k in ("created", "updated", "deleted", "skipped")),
                f"[red]{c.get('errors', 0)}[/red]" if c.get("errors") else "0",
                str(r["mirrors"]) + (f" (+{r['forgotten']} forgotten)" if r["forgotten"] else ""),
            )  # fmt: skip
        console.print(table)
        for r in rows:
            if r["error"]:
                console.print(f"[red]{r['sync']}:[/red] {r['error']}")
            for e in r["event_errors"]:
                console.print(f"[yellow]{r['sync']}: event not readable:[/yellow] {e}")
        if entries:
            hist = Table(title=f"Last {len(entries)} history entries")
            for column in ("when", "sync", "action", "event", "why"):
                hist.add_column(column)
            for h in entries:
                hist.add_row(f"{h.at:%Y-%m-%d %H:%M:%S}", h.sync, h.action, h.summary or h.origin_key, h.reason)
            console.print(hist)
        return 0
    finally:
        store.close()


async def unsync(config: Config, console: Console, name: str) -> int:
    if name not in {s.name for s in config.syncs}:
        console.print(f"[red]unknown sync:[/red] {name} (defined: {', '.join(s.name for s in config.syncs)})")
        return 2
    async with engine_for(config) as engine:
        report = await engine.unsync(name)
    console.print(f"{name}: deleted {report.counts['deleted']} mirror(s)" + (f", {report.counts['errors']} error(s)" if report.errors else ""))
    for e in report.errors:
        console.print(f"[red]{e}[/red]")
    return 0 if report.ok else 1



