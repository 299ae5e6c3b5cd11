"""``mirrorcal demo``: the recruiter's Tuesday, live on loopback servers, each step checked."""

from __future__ import annotations

import asyncio
import tempfile
import time as clock
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from . import ical
from .bootstrap import engine_for
from .commands import summary_table
from .config import load_config
from .conflicts import Conflict
from .model import Attendee, Component, Event
from .providers.base import Item
from .providers.caldav import CalDAVCalendar
from .service import Service, format_conflict
from .testing.feedserver import FeedServer
from .testing.radicale import RadicaleServer

TZ = ZoneInfo("Europe/London")
SECRETS = ("John", "Maria", "David", "Priya", "Client B", "Client C", "Sr. Engineer", "Product Manager")

CONFIG = """\
# The recruiter document's setup: three clients, one personal calendar.
database = "sqlite:///{db}"
timezone = "Europe/London"

[conflicts]
working_hours = "08:00-19:00"

[calendars.personal]
kind = "caldav"
url = "{personal}"
username = "recruiter"
password = "demo"
unified = true
client = "me"
email = "recruiter@agency.example"

[calendars.client-a]
kind = "caldav"
url = "{client_a}"
username = "recruiter"
password = "demo"
unified = false
client = "A"

[calendars.client-b]
kind = "caldav"
url = "{client_b}"
username = "recruiter"
password = "demo"
unified = false
client = "B"

[calendars.client-c-ats]
kind = "ics"
url = "{feed}"
unified = false
client = "C"

[[syncs]]
name = "client-a-to-personal"
from = "client-a"
to = "personal"
privacy = "full"

[[syncs]]
name = "client-b-to-personal"
from = "client-b"
to = "personal"
privacy = "full"

[[syncs]]
name = "client-c-to-personal"
from = "client-c-ats"
to = "personal"
privacy = "full"

[[syncs]]
name = "personal-to-client-a"
from = "personal"
to = "client-a"
privacy = "private"

[[syncs]]
name = "personal-to-client-b"
from = "personal"
to = "client-b"
privacy = "private"
"""


def next_tuesday(today: date) -> date:
    return today + timedelta(days=(1 - today.weekday()) % 7 or 7)


def interview(uid: str, summary: str, day: date, start: time, minutes: int, candidate: str, description: str) -> Event:
    begin = datetime.combine(day, start, tzinfo=TZ)
    return Event(
        uid=uid,
        components=(
            Component(
                start=begin,
                end=begin + timedelta(minutes=minutes),
                summary=summary,
                description=description,
                location="Video call",
                attendees=(Attendee(candidate, partstat="ACCEPTED"), Attendee("recruiter@agency.example", partstat="ACCEPTED")),
                created=datetime.now(TZ).replace(microsecond=0),
            ),
        ),
    )


def feed(*events: Event) -> str:
    """An ATS-style export: one VCALENDAR holding every event."""
    body = []
    for e in events:
        text = ical.serialize(e)
        body.append(text[text.index("BEGIN:VEVENT") : text.rindex("END:VEVENT") + len("END:VEVENT")])
    head = ical.serialize(events[0])
    prefix = head[: head.index("BEGIN:VEVENT")]
    return prefix + "\r\n".join(body) + "\r\nEND:VCALENDAR\r\n"


class Demo:
    """Runs the steps, checks each one and prints as it goes."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.results: list[tuple[str, bool, str]] = []

    def check(self, step: str, ok: bool, detail: str = "") -> bool:
        self.results.append((step, ok, detail))
        mark = "[green]✔[/green]" if ok else "[red]✘[/red]"
        self.console.print(f"{mark} {step}" + (f" [dim]({detail})[/dim]" if detail else ""))
        return ok

    async def until(self, predicate: Callable[[], Awaitable[bool]], limit: float = 20.0) -> float | None:
        """Seconds until ``predicate`` held, or None after ``limit`` seconds."""
        started = clock.monotonic()
        while clock.monotonic() - started < limit:
            if await predicate():
                return clock.monotonic() - started
            await asyncio.sleep(0.2)
        return None


async def _items(url: str) -> list[Item]:
    async with httpx.AsyncClient(auth=("recruiter", "demo")) as client:
        listing = await CalDAVCalendar("probe", url, client).list_changes(None)
    return listing.items


def _describe(items: list[Item]) -> list[tuple[str, str]]:
    rows = []
    for item in sorted(items, key=lambda i: i.event.master.start):  # type: ignore[arg-type, return-value]
        c = item.event.master
        rows.append((f"{c.start:%a %H:%M}-{c.end:%H:%M}", c.summary))  # type: ignore[str-format]
    return rows


async def run_demo(console: Console, *, keep: bool = False) -> int:
    demo = Demo(console)
    day = next_tuesday(datetime.now(TZ).date())
    console.print(Panel.fit(f"mirrorcal demo: the recruiter's Tuesday, {day:%A %d %B %Y} (Europe/London)", style="bold"))
    with tempfile.TemporaryDirectory(prefix="mirrorcal-demo-") as tmp, RadicaleServer() as radicale, FeedServer() as feeds:
        urls = {n: radicale.make_calendar("recruiter", n) for n in ("personal", "client-a", "client-b")}
        john = interview("john-a@client-a.example", "John Smith / Sr. Engineer (Client A)", day, time(9), 60, "john@example.org", "Senior engineer, 2nd round")
        maria = interview("maria-b@client-b.example", "Maria Garcia / Product Manager (Client B)", day, time(10), 30, "maria@example.org", "PM opening, first call")
        priya = interview("priya-c@lever.example", "Priya Patel / Backend (Client C)", day, time(14), 45, "priya@example.org", "Lever interview")
        david = interview("david-c@lever.example", "David Lee / Designer (Client C)", day, time(9, 50), 30, "david@example.org", "Lever video interview")
        async with httpx.AsyncClient(auth=("recruiter", "demo")) as http:
            for url, event in ((urls["client-a"], john), (urls["client-b"], maria)):
                (await http.put(f"{url}{event.uid}.ics", content=ical.serialize(event), headers={"Content-Type": "text/calendar"})).raise_for_status()
        feeds.set("/lever.ics", feed(priya))
        console.print(f"Radicale at {radicale.url}, Client C's ATS feed at {feeds.url('/lever.ics')}")
        config_path = Path(tmp) / "mirrorcal.toml"
        config_path.write_text(
            CONFIG.format(db=Path(tmp) / "state.db", personal=urls["personal"], client_a=urls["client-a"], client_b=urls["client-b"], feed=feeds.url("/lever.ics"))
        )
        config = load_config(config_path)
        async with engine_for(config) as engine:
            reports = await engine.sync()
            console.print(summary_table(reports, title="First sync: every client into Personal, Personal out as Busy"))
            demo.check("every sync succeeded", all(r.ok for r in reports.values()), "; ".join(e for r in reports.values() for e in r.errors))
            personal = _describe(await _items(urls["personal"]))
            table = Table(title="Personal calendar (full details)")
            table.add_column("when")
            table.add_column("what")
            for row in personal:
                table.add_row(*row)
            console.print(table)
            demo.check("Personal shows John, Maria and Priya with full details", sorted(s for _, s in personal) == sorted([john.master.summary, maria.master.summary, priya.master.summary]))

            found: list[tuple[float, Conflict]] = []
            booked_at = [0.0]
            service = Service(config, engine, interval=0.5, on_conflict=lambda c: found.append((clock.monotonic() - booked_at[0], c)))
            service.check_conflicts()  # what is already known is not news
            runner = asyncio.create_task(service.serve())
            try:
                console.print(f"\n[bold]09:50[/bold] Client C's Lever books David {david.master.start:%H:%M}-{david.master.end:%H:%M} ...")
                booked_at[0] = clock.monotonic()
                feeds.set("/lever.ics", feed(priya, david))

                async def conflict_seen() -> bool:
                    return any("David" in c.a.summary + c.b.summary for _, c in found)

                waited = await demo.until(conflict_seen)
                for _, c in found:
                    console.print(f"[bold red]conflict:[/bold red] {format_conflict(c)}")
                demo.check("the conflict is caught within seconds", waited is not None, f"{waited:.1f} s after the booking" if waited else "not seen")
                proposals = {c.proposed_start for _, c in found if "David" in c.b.summary}
                expected = datetime.combine(day, time(10, 30), tzinfo=TZ)
                demo.check("the proposed slot is 10:30, the first free half hour", proposals == {expected}, ", ".join(f"{p:%H:%M}" for p in proposals if p))

                async def busy_count(url: str, n: int) -> bool:
                    return sum(1 for i in await _items(url) if i.event.master.summary == "Busy") == n

                await demo.until(lambda: busy_count(urls["client-a"], 3))
                items_a = await _items(urls["client-a"])
                table = Table(title="What Client A's calendar really holds")
                table.add_column("when")
                table.add_column("what")
                for row in _describe(items_a):
                    table.add_row(*row)
                console.print(table)
                busy = [i for i in items_a if i.event.master.summary == "Busy"]
                raw = "\n".join(ical.serialize(i.event) for i in busy)
                console.print(Panel(ical.serialize(busy[0].event).strip() if busy else "(none)", title="one Busy block, as stored on Client A's server"))
                demo.check("Client A sees Maria, David and Priya only as Busy blocks", len(busy) == 3)
                leaked = [s for s in SECRETS if s in raw]
                demo.check("no name, role or client in Client A's Busy blocks", not leaked, f"leaked: {leaked}" if leaked else "")

                console.print("\n[bold]Maria's interview is cancelled at Client B[/bold] ...")
                async with httpx.AsyncClient(auth=("recruiter", "demo")) as http:
                    (await http.delete(f"{urls['client-b']}{maria.uid}.ics")).raise_for_status()

                async def maria_gone() -> bool:
                    return all("Maria" not in s for _, s in _describe(await _items(urls["personal"]))) and await busy_count(urls["client-a"], 2)

                waited = await demo.until(maria_gone)
                demo.check("its mirrors go: from Personal and, as Busy, from Client A", waited is not None, f"{waited:.1f} s" if waited else "still there")

                console.print("\n[bold]The recruiter deletes John's copy on the personal calendar[/bold] ...")
                mirror = next(i for i in await _items(urls["personal"]) if "John" in i.event.master.summary)
                async with httpx.AsyncClient(auth=("recruiter", "demo")) as http:
                    (await http.delete(httpx.URL(urls["personal"]).join(mirror.href))).raise_for_status()
                await asyncio.sleep(1.5)  # a few polling cycles

                async def restored() -> bool:
                    return any("John" in s for _, s in _describe(await _items(urls["personal"])))

                source_a = [s for _, s in _describe(await _items(urls["client-a"])) if s != "Busy"]
                demo.check("the interview at Client A is untouched (one-way: a copy's deletion never reaches the source)", source_a == [john.master.summary])
                waited = await demo.until(restored)
                demo.check('the copy comes back on the next run (on_target_delete = "restore"; "forget" would keep it deleted)', waited is not None)
                if keep:
                    console.print(f"\nServing; config at {config_path}. Ctrl-C stops.")
                    await asyncio.Event().wait()
            finally:
                service.stop()
                await runner
    failed = [r for r in demo.results if not r[1]]
    console.print(
        f"\n[bold green]demo passed: {len(demo.results)} checks[/bold green]"
        if not failed
        else f"\n[bold red]demo FAILED: {len(failed)} of {len(demo.results)} checks[/bold red]"
    )
    return 1 if failed else 0
