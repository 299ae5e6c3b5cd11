"""The ``mirrorcal`` command line: check, sync, run, conflicts, status, unsync, connect, emulate, web and the demo."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from .config import Config, load_config
from .errors import ConfigError, MirrorcalError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Keep a recruiter's calendars in step without leaking one client's business into another's.",
    pretty_exceptions_enable=False,
)
console = Console(highlight=False)
errors = Console(stderr=True, highlight=False, soft_wrap=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="The TOML configuration file (default: ./mirrorcal.toml)."),
]


class State:
    config_path: Path = Path("mirrorcal.toml")


@app.callback()
def main_options(config: ConfigOption = None) -> None:
    if config is not None:
        State.config_path = config


def _config() -> Config:
    try:
        return load_config(State.config_path)
    except ConfigError as exc:
        errors.print(f"[red]configuration error[/red] in {State.config_path}: {exc}")
        raise typer.Exit(2) from None


def _run_sync(function: Any) -> Any:
    try:
        return function()
    except MirrorcalError as exc:
        errors.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


def _run(coro: Any) -> Any:
    try:
        return asyncio.run(coro)
    except MirrorcalError as exc:
        errors.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


# check ------------------------------------------------------------------------------------------
@app.command()
def check() -> None:
    """Validate the configuration, reach every calendar and show what each sync would do (dry run)."""
    from .commands import check as run_check

    raise typer.Exit(_run(run_check(_config(), console)))


# sync -------------------------------------------------------------------------------------------
@app.command()
def sync(
    names: Annotated[list[str] | None, typer.Argument(help="Syncs to run (default: all).")] = None,
    allow_empty: Annotated[
        bool, typer.Option(help="Accept a source that suddenly lists nothing (deletes its mirrors).")
    ] = False,
) -> None:
    """Run syncs once, following chains until nothing moves; exit 1 if any failed."""
    from .commands import sync_once

    raise typer.Exit(_run(sync_once(_config(), console, names or None, allow_empty=allow_empty)))


# run --------------------------------------------------------------------------------------------
@app.command()
def run(
    interval: Annotated[
        float | None, typer.Option(help="Poll every N seconds instead of each calendar's own interval.")
    ] = None,
) -> None:
    """Keep syncing: poll each calendar and sync on change, until stopped (Ctrl-C)."""
    from .commands import run_forever

    raise typer.Exit(_run(run_forever(_config(), console, interval=interval)))


# conflicts --------------------------------------------------------------------------------------
@app.command()
def conflicts(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    from_: Annotated[str | None, typer.Option("--from", help="First day (YYYY-MM-DD, default today).")] = None,
    days: Annotated[int, typer.Option(min=1, max=366, help="How many days to look at.")] = 14,
    buffer: Annotated[int | None, typer.Option(min=0, help="Minutes wanted between interviews.")] = None,
    offline: Annotated[bool, typer.Option(help="Use what was last synced; do not read the calendars.")] = False,
) -> None:
    """Overlapping busy events on unified calendars, each with the earliest free slot proposed."""
    from .commands import show_conflicts

    config = _config()
    try:
        first = date.fromisoformat(from_) if from_ else datetime.now(config.timezone).date()
    except ValueError:
        errors.print(f"[red]--from[/red]: {from_!r} is not a date like 2026-11-24")
        raise typer.Exit(2) from None
    start = datetime.combine(first, time(0), tzinfo=config.timezone)
    buf = timedelta(minutes=buffer) if buffer is not None else config.conflict_buffer
    raise typer.Exit(
        _run(show_conflicts(config, console, start=start, days=days, buffer=buf, as_json=as_json, offline=offline))
    )


# status -----------------------------------------------------------------------------------------
@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    history: Annotated[int, typer.Option(min=0, help="Also show the last N history entries.")] = 0,
) -> None:
    """Each sync's last run, its counts and errors, and per-event history."""
    from .commands import show_status

    raise typer.Exit(show_status(_config(), console, as_json=as_json, history=history))


# unsync -----------------------------------------------------------------------------------------
@app.command()
def unsync(name: Annotated[str, typer.Argument(help="The sync whose mirrors to delete.")]) -> None:
    """Delete every mirror that sync wrote, and only those."""
    from .commands import unsync as run_unsync

    raise typer.Exit(_run(run_unsync(_config(), console, name)))


# connect / connections / emulate ----------------------------------------------------------------
@app.command()
def connect(
    kind: Annotated[str, typer.Argument(help="google, microsoft or icloud.")],
    name: Annotated[str | None, typer.Option(help="The connection's name (default: the kind).")] = None,
    username: Annotated[str | None, typer.Option(help="iCloud: your Apple ID.")] = None,
    base_url: Annotated[str | None, typer.Option(help="Another API root, e.g. an emulator's base_url.")] = None,
    url: Annotated[str | None, typer.Option(help="iCloud: where discovery starts (default caldav.icloud.com).")] = None,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Print the sign-in URL instead of opening it.")] = False,
) -> None:
    """Sign in to an account and store the connection, its credentials encrypted."""
    from .connect import connect_icloud, connect_oauth

    config, name = _config(), name or kind
    if kind in ("google", "microsoft"):

        def show(link: str) -> None:
            console.print(f"Open this address in your browser to sign in:\n{link}", soft_wrap=True, markup=False)

        opener = show if no_browser else None
        raise typer.Exit(_run(connect_oauth(config, console, kind, name, base_url=base_url, open_browser=opener)))
    if kind == "icloud":
        if not username:
            errors.print("[red]error:[/red] --username (your Apple ID) is required for iCloud")
            raise typer.Exit(2)
        password = os.environ.get("MIRRORCAL_ICLOUD_PASSWORD") or typer.prompt(
            "App-specific password (appleid.apple.com → Sign-In and Security)", hide_input=True
        )
        raise typer.Exit(_run(connect_icloud(config, console, name, username, password, url=url)))
    errors.print(f"[red]error:[/red] cannot connect {kind!r}: choose google, microsoft or icloud")
    raise typer.Exit(2)


@app.command()
def connections() -> None:
    """List the stored connections and their state (ok, needs re-authorisation, error)."""
    from .connect import list_connections

    raise typer.Exit(_run_sync(lambda: list_connections(_config(), console)))


@app.command()
def emulate(
    kind: Annotated[str, typer.Argument(help="google or microsoft.")],
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1 (0: any free one).")] = 0,
) -> None:
    """Serve a Google Calendar or Microsoft Graph emulator on 127.0.0.1 until stopped.

    Prints one JSON line: {"base_url", "access_token", "calendar_id"}."""
    from .connect import emulate as run_emulator

    if kind not in ("google", "microsoft"):
        errors.print(f"[red]error:[/red] no emulator for {kind!r}: choose google or microsoft")
        raise typer.Exit(2)
    raise typer.Exit(_run(run_emulator(kind, port)))


# web --------------------------------------------------------------------------------------------
@app.command()
def web(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default: MIRRORCAL_HOST or 127.0.0.1).")] = None,
    port: Annotated[
        int | None, typer.Option(min=0, max=65535, help="Port (default: MIRRORCAL_PORT or 8000; 0: any free one).")
    ] = None,
    demo: Annotated[
        bool | None,
        typer.Option(
            "--demo/--no-demo",
            help="Also start the demo providers and a demo account (default: MIRRORCAL_DEMO, on unless set to false).",
        ),
    ] = None,
) -> None:
    """Serve the web app, REST API and sync worker until stopped; settings come from MIRRORCAL_* variables.

    With the demo on (the default; what `make run` runs) the demo providers start first, pre-filled with the Tuesday.
    """
    from pydantic import ValidationError

    from .web.settings import WebSettings

    try:
        settings = WebSettings()
    except ValidationError as exc:
        problems = "; ".join(f"MIRRORCAL_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        errors.print(f"[red]settings error:[/red] {problems}")
        raise typer.Exit(2) from None
    update = {k: v for k, v in (("host", host), ("port", port), ("demo", demo)) if v is not None}
    settings = settings.model_copy(update=update)
    previous = signal.signal(signal.SIGTERM, _interrupt)  # stop as on Ctrl-C: clean up, then exit 0
    try:
        _serve_web(settings)
    except KeyboardInterrupt:
        console.print("Stopped.")
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _serve_web(settings: Any) -> None:
    """Bind the port, start the demo when ``settings.demo``, print the banner and serve."""
    import socket
    import sys

    import uvicorn

    from .web.app import create_app
    from .webdemo import shown_url

    sock = socket.socket(socket.AF_INET6 if ":" in settings.host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as exc:
        sock.close()
        errors.print(f"[red]error:[/red] cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}")
        raise typer.Exit(1) from None
    settings = settings.model_copy(update={"port": sock.getsockname()[1]})
    url = f"http://{settings.host if ':' not in settings.host else f'[{settings.host}]'}:{settings.port}/"

    def serve(settings: Any, *, quiet_threads: bool = False) -> None:
        # open live streams (the week page) must not hold Ctrl-C up: they get 2 s to close
        config = uvicorn.Config(create_app(settings), log_level="info", timeout_graceful_shutdown=2)
        if quiet_threads:  # after Config, which (re)configures uvicorn's loggers
            from .webdemo import quiet_provider_logs

            quiet_provider_logs()
        _run_sync(lambda: uvicorn.Server(config).run(sockets=[sock]))

    def say(text: str) -> None:
        console.print(text, soft_wrap=True, markup=False)
        sys.stdout.flush()

    try:
        if not settings.demo:
            say(
                f"mirrorcal web app on {url} (demo off: no demo providers started)\n"
                f"State: {shown_url(settings.database_url)}\nCtrl-C stops it."
            )
            serve(settings)
            say("Stopped.")
            return
        from .webdemo import WebDemo

        say("Starting the demo providers (MIRRORCAL_DEMO=false or --no-demo turns the demo off) ...")
        try:
            running = WebDemo(settings).start()
        except (MirrorcalError, RuntimeError, OSError) as exc:
            errors.print(f"[red]error:[/red] the demo could not start: {exc}")
            raise typer.Exit(1) from None
        with running:
            say(running.banner(url))
            serve(running.settings, quiet_threads=True)
        say("Stopped: the web app and every demo provider; the demo's temporary files are removed.")
    finally:
        sock.close()


# demo -------------------------------------------------------------------------------------------
@app.command()
def demo(
    keep: Annotated[bool, typer.Option(help="Keep serving after the demo until Ctrl-C.")] = False,
) -> None:
    """The Tuesday from the recruiter document, live on local servers; exits non-zero if a step fails."""
    from .demo import run_demo

    raise typer.Exit(_run(run_demo(console, keep=keep)))


def main() -> None:
    app()
