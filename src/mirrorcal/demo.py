"""``mirrorcal demo``: the recruiter's Tuesday, live on loopback servers, each step checked.

Personal lives on Radicale (CalDAV), Client A on the Microsoft Graph emulator, Client B on
the Google Calendar emulator and Client C's ATS is an ICS feed. The service runs with
``[push]``: changes at A and B arrive by notification; Personal and the feed are polled.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time as clock
from datetime import datetime, time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from .bootstrap import engine_for
from .commands import summary_table
from .config import load_config
from .conflicts import Conflict
from .demo_cast import (
    CONFIG,
    GRAPH_ZONE,
    PUSHED_POLL,
    RECRUITER,
    SECRETS,
    TZ,
    Demo,
    Interview,
    feed,
    next_tuesday,
    schedule,
    stored_json,
    tuesday,
)
from .providers.base import Calendar, Item
from .service import Service, format_conflict
from .testing.feedserver import FeedServer
from .testing.radicale import RadicaleServer
from .testing.world import ProviderWorld


async def _items(calendar: Calendar) -> list[Item]:
    """Everything ``calendar`` holds, read through the engine's own adapter."""
    return (await calendar.list_changes(None)).items


def _rows(items: list[Item]) -> list[tuple[datetime, datetime, str]]:
    return [(i.event.master.start, i.event.master.end, i.event.master.summary) for i in items]  # type: ignore[misc]


def _where(radicale: str, world: ProviderWorld, feed_url: str) -> Table:
    table = Table(title="Where each calendar lives (all on 127.0.0.1)")
    for column in ("calendar", "provider", "served by", "at"):
        table.add_column(column, no_wrap=True)
    table.add_row("Personal", "CalDAV", "Radicale", radicale)
    table.add_row("Client A", "Microsoft 365", "Microsoft Graph emulator", f"{world.graph.base_url}/v1.0/")
    table.add_row("Client B", "Google Workspace", "Google Calendar emulator", f"{world.google.base_url}/calendar/v3/")
    table.add_row("Client C", "Lever (ATS)", "ICS feed server", feed_url)
    return table


def book_interview(world: ProviderWorld, name: str, interview: Interview) -> str:
    """Book ``interview`` on an emulator's calendar as its owner would (in Outlook or Google)."""
    if world.where[name][0] == "microsoft":
        fields, zone = interview.graph(), GRAPH_ZONE
    else:
        fields, zone = interview.google(), TZ.key
    return world.book(name, interview.summary, interview.start, interview.minutes, time_zone=zone, **fields)


def _busy(world: ProviderWorld, name: str) -> list[dict[str, Any]]:
    """The provider's JSON of the Busy blocks on calendar ``name``."""
    key = "subject" if world.where[name][0] == "microsoft" else "summary"
    return [e for e in world.raw(name) if e.get(key) == "Busy"]


def _pushed(pushes: list[tuple[float, str]], calendar: str, since: float, waited: float | None) -> tuple[bool, str]:
    """Whether a notification for ``calendar`` came after ``since`` and before the result was in
    place ``waited`` seconds later, and a line saying how fast."""
    heard = next((t - since for t, c in pushes if c == calendar and t >= since), None)
    if waited is None:
        return False, "not seen"
    if heard is None:
        return False, f"{waited:.2f} s, but no push notification came"
    return heard <= waited, f"notified {heard:.2f} s after the change, all done {waited:.2f} s after it"


async def run_demo(console: Console, *, keep: bool = False) -> int:
    demo = Demo(console)
    day = next_tuesday(datetime.now(TZ).date())
    cast = tuesday(day)
    john, maria, priya, david, test = (cast[n] for n in ("john", "maria", "priya", "david", "test"))
    console.print(Panel.fit(f"mirrorcal demo: the recruiter's Tuesday, {day:%A %d %B %Y} (Europe/London)", style="bold"))
    with (
        tempfile.TemporaryDirectory(prefix="mirrorcal-demo-") as tmp,
        RadicaleServer() as radicale,
        FeedServer() as feeds,
        ProviderWorld() as world,
    ):
        personal_url = radicale.make_calendar("recruiter", "personal")
        world.calendar("client-a", "microsoft")
        world.calendar("client-b", "google")
        john_id = book_interview(world, "client-a", john)
        maria_id = book_interview(world, "client-b", maria)
        feeds.set("/lever.ics", feed(priya))
        console.print(_where(personal_url, world, feeds.url("/lever.ics")))
        config_path = Path(tmp) / "mirrorcal.toml"
        config_path.write_text(
            CONFIG.format(
                db=Path(tmp) / "state.db",
                personal=personal_url,
                recruiter=RECRUITER,
                client_a=world.toml("client-a", client="A", unified=False, extra=PUSHED_POLL),
                client_b=world.toml("client-b", client="B", unified=False, extra=PUSHED_POLL),
                feed=feeds.url("/lever.ics"),
            )
        )
        config = load_config(config_path)
        async with engine_for(config) as engine:
            personal = engine.calendars["personal"]
            reports = await engine.sync()
            console.print(summary_table(reports, title="First sync: every client into Personal, Personal out as Busy"))
            demo.check("every sync succeeded", all(r.ok for r in reports.values()), "; ".join(e for r in reports.values() for e in r.errors))
            items = await _items(personal)
            console.print(schedule("Personal calendar (full details)", _rows(items)))
            held = {i.event.master.summary: i.event.master.description for i in items}
            demo.check(
                "Personal shows John, Maria and Priya with full details",
                held == {i.summary: i.description for i in (john, maria, priya)},
            )

            found: list[tuple[float, Conflict]] = []
            booked_at = [0.0]
            service = Service(config, engine, on_conflict=lambda c: found.append((clock.monotonic() - booked_at[0], c)))
            service.check_conflicts()  # what is already known is not news
            runner = asyncio.create_task(service.serve())
            pushes: list[tuple[float, str]] = []  # (when, calendar) of every genuine notification
            try:
                await demo.until(lambda: service.cycles >= 1 and service.receiver is not None and len(service.receiver.channels) == 2)
                receiver = service.receiver
                if receiver is None or len(receiver.channels) != 2:
                    raise RuntimeError("the push receiver did not start, or its channels did not open")

                def heard(calendar: str) -> None:
                    pushes.append((clock.monotonic(), calendar))
                    service.poke(calendar)

                receiver.on_change = heard
                kinds = [c.kind for c in receiver.channels.values()]
                console.print(
                    f"mirrorcal's push receiver listens at http://127.0.0.1:{service.push_port}/push/ "
                    f"({kinds.count('google')} Google watch channel, {kinds.count('microsoft')} Graph subscription)"
                )

                console.print(f"\n[bold]09:50[/bold] Client C's Lever books David {david.start:%H:%M}-{david.end:%H:%M} ...")
                booked_at[0] = clock.monotonic()
                feeds.set("/lever.ics", feed(priya, david))
                waited = await demo.until(lambda: any("David" in c.a.summary + c.b.summary for _, c in found))
                for _, c in found:
                    console.print(f"[bold red]conflict:[/bold red] {format_conflict(c)}")
                demo.check("the conflict is caught within seconds", waited is not None, f"{waited:.1f} s after the booking; the feed is polled every second" if waited else "not seen")
                proposals = {c.proposed_start for _, c in found if "David" in c.b.summary}
                expected = datetime.combine(day, time(10, 30), tzinfo=TZ)
                demo.check("the proposed slot is 10:30, the first free half hour", proposals == {expected}, ", ".join(f"{p.astimezone(TZ):%H:%M}" for p in proposals if p))

                await demo.until(lambda: len(_busy(world, "client-a")) == 3 and len(_busy(world, "client-b")) == 3)
                console.print(schedule("What Client A's calendar (Microsoft Graph) really holds", [(e.start, e.end, e.summary) for e in world.seen("client-a")]))
                blocks = _busy(world, "client-a")
                console.print(Panel(stored_json(blocks[0]) if blocks else "(none)", title="one Busy block, as Graph returns it for Client A (empty and bookkeeping fields left out)"))
                demo.check("Client A sees Maria, David and Priya only as Busy blocks", len(blocks) == 3)
                leaked = [s for s in SECRETS if s in json.dumps(blocks, ensure_ascii=False)]
                demo.check("no name, role or client in Client A's Busy blocks", not leaked, f"leaked: {leaked}" if leaked else "the raw Graph JSON")

                console.print(f"\n[bold]Client A's hiring manager books a test interview in Outlook, {test.start:%H:%M}-{test.end:%H:%M}[/bold] ...")
                since = clock.monotonic()
                book_interview(world, "client-a", test)

                async def test_arrived() -> bool:
                    on_b = any(e.start == test.start for e in world.seen("client-b") if e.summary == "Busy")
                    return on_b and any(i.event.master.summary == test.summary for i in await _items(personal))

                ok, detail = _pushed(pushes, "client-a", since, await demo.until(test_arrived))
                demo.check(
                    "it reaches Personal, and Client B as Busy, within seconds, by Microsoft's push notification",
                    ok and len(_busy(world, "client-a")) == 3,  # and no Busy echo back on Client A
                    detail,
                )

                console.print("\n[bold]Maria's interview is cancelled at Client B (Google Calendar)[/bold] ...")
                since = clock.monotonic()
                world.cancel("client-b", maria_id)

                async def maria_gone() -> bool:
                    gone = all("Maria" not in i.event.master.summary for i in await _items(personal))
                    return gone and len(_busy(world, "client-a")) == 2

                ok, detail = _pushed(pushes, "client-b", since, await demo.until(maria_gone))
                demo.check("its mirrors go: from Personal and, as Busy, from Client A (by Google's push notification)", ok, detail)

                console.print("\n[bold]The recruiter deletes John's copy on the personal calendar[/bold] ...")
                john_before = [e for e in world.raw("client-a") if e["id"] == john_id]
                copy = next(i for i in await _items(personal) if i.event.master.summary == john.summary)
                await personal.delete(copy.href, copy.etag)
                waited = await demo.until(lambda: _holds(personal, john.summary))  # the engine has seen the deletion
                john_after = [e for e in world.raw("client-a") if e["id"] == john_id]
                demo.check(
                    "the interview at Client A is untouched (one-way: a copy's deletion never reaches the source)",
                    len(john_before) == 1 and john_after == john_before,
                )
                demo.check(
                    'the copy comes back on the next run (on_target_delete = "restore"; "forget" would keep it deleted)',
                    waited is not None,
                    f"{waited:.1f} s" if waited is not None else "not restored",
                )
                counts = receiver.counts
                console.print(
                    f"\nPush notifications received: Google {counts['google:exists']} (+{counts['google:sync']} channel check), "
                    f"Microsoft {counts['graph:change']} (+{counts['validation']} validation handshake). They include the "
                    "echoes of mirrorcal's own writes to A and B, which change nothing."
                )
                if keep:
                    console.print(f"\nServing; config at {config_path}. Ctrl-C stops.")
                    await asyncio.Event().wait()
            finally:
                service.stop()
                await runner
    return demo.verdict()


async def _holds(calendar: Calendar, summary: str) -> bool:
    return any(i.event.master.summary == summary for i in await _items(calendar))
