"""The demo's cast and props: the Tuesday's interviews in each provider's shape, the configuration, the step checker."""

from __future__ import annotations

import asyncio
import inspect
import json
import time as clock
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table

from . import ical
from .model import Attendee, Component, Event

TZ = ZoneInfo("Europe/London")
GRAPH_ZONE = "GMT Standard Time"
"""How Outlook names Europe/London (a Windows zone name; mirrorcal maps it with CLDR)."""
RECRUITER = "recruiter@agency.example"
SECRETS = ("John", "Maria", "David", "Priya", "Client B", "Client C", "Sr. Engineer", "Product Manager")
"""What must never reach Client A: candidates, roles and the other clients."""

CONFIG = """\
# The recruiter document's setup: three clients, one personal calendar.
database = "sqlite:///{db}"
timezone = "Europe/London"

[conflicts]
working_hours = "08:00-19:00"

[push]
# Google and Microsoft notify mirrorcal here the moment something changes (0: any free port).
listen = "127.0.0.1:0"

[calendars.personal]
kind = "caldav"
url = "{personal}"
username = "recruiter"
password = "demo"
unified = true
client = "me"
email = "{recruiter}"
poll_seconds = 1  # CalDAV cannot push: polled (cheaply, with its sync token)

{client_a}
{client_b}
[calendars.client-c-ats]
kind = "ics"
url = "{feed}"
unified = false
client = "C"
poll_seconds = 1  # a feed cannot push either

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
PUSHED_POLL = "poll_seconds = 600  # changes arrive by push; polling is only the backstop"


def next_tuesday(today: date) -> date:
    return today + timedelta(days=(1 - today.weekday()) % 7 or 7)


@dataclass(frozen=True, slots=True)
class Interview:
    """One interview of the Tuesday, in the neutral shape and in each provider's."""

    uid: str
    summary: str
    start: datetime
    minutes: int
    candidate: str
    description: str
    location: str = "Video call"

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.minutes)

    def event(self) -> Event:
        """As an ATS exports it (the ICS feed)."""
        attendees = (Attendee(self.candidate, partstat="ACCEPTED"), Attendee(RECRUITER, partstat="ACCEPTED"))
        component = Component(
            start=self.start,
            end=self.end,
            summary=self.summary,
            description=self.description,
            location=self.location,
            attendees=attendees,
            created=datetime.now(TZ).replace(microsecond=0),
        )
        return Event(uid=self.uid, components=(component,))

    def google(self) -> dict[str, Any]:
        """The Google Calendar fields besides title and times."""
        people = [{"email": self.candidate, "responseStatus": "accepted"}, {"email": RECRUITER, "responseStatus": "accepted"}]
        return {"description": self.description, "location": self.location, "attendees": people}

    def graph(self) -> dict[str, Any]:
        """The Microsoft Graph fields besides subject and times."""
        people = [
            {"emailAddress": {"address": a}, "type": "required", "status": {"response": "accepted"}}
            for a in (self.candidate, RECRUITER)
        ]
        return {
            "body": {"contentType": "text", "content": self.description},
            "location": {"displayName": self.location},
            "attendees": people,
        }


def tuesday(day: date) -> dict[str, Interview]:
    """The cast: John at A, Maria at B, Priya and (later) David at C, and a test interview at A."""

    def at(hour: int, minute: int = 0) -> datetime:
        return datetime.combine(day, time(hour, minute), tzinfo=TZ)

    return {
        "john": Interview("john-a@client-a.example", "John Smith / Sr. Engineer (Client A)", at(9), 60, "john@example.org", "Senior engineer, 2nd round"),
        "maria": Interview("maria-b@client-b.example", "Maria Garcia / Product Manager (Client B)", at(10), 30, "maria@example.org", "PM opening, first call"),
        "priya": Interview("priya-c@lever.example", "Priya Patel / Backend (Client C)", at(14), 45, "priya@example.org", "Lever interview"),
        "david": Interview("david-c@lever.example", "David Lee / Designer (Client C)", at(9, 50), 30, "david@example.org", "Lever video interview"),
        "test": Interview("test-a@client-a.example", "Test interview / Sr. Engineer (Client A)", at(16), 30, "test@example.org", "A test booking"),
    }


def feed(*interviews: Interview) -> str:
    """An ATS-style export: one VCALENDAR holding every event."""
    body = []
    for i in interviews:
        text = ical.serialize(i.event())
        body.append(text[text.index("BEGIN:VEVENT") : text.rindex("END:VEVENT") + len("END:VEVENT")])
    head = ical.serialize(interviews[0].event())
    return head[: head.index("BEGIN:VEVENT")] + "\r\n".join(body) + "\r\nEND:VCALENDAR\r\n"


def when(start: datetime, end: datetime) -> str:
    return f"{start.astimezone(TZ):%a %H:%M}-{end.astimezone(TZ):%H:%M}"


def schedule(title: str, rows: Iterable[tuple[datetime, datetime, str]]) -> Table:
    """A table of (start, end, title) rows in the recruiter's zone, by start."""
    table = Table(title=title)
    table.add_column("when")
    table.add_column("what")
    for start, end, summary in sorted(rows):
        table.add_row(when(start, end), summary)
    return table


BOOKKEEPING = frozenset({"@odata.etag", "id", "changeKey", "createdDateTime", "lastModifiedDateTime", "transactionId", "iCalUId", "etag", "created", "updated", "htmlLink", "sequence", "kind"})


def stored_json(resource: dict[str, Any]) -> str:
    """A provider's JSON of one event for reading: empty values and bookkeeping left out, one line per field."""

    def pruned(value: Any) -> Any:
        if isinstance(value, dict):
            kept = {k: pruned(v) for k, v in value.items()}
            return {k: v for k, v in kept.items() if v not in (None, "", [], {})}
        if isinstance(value, list):
            return [v for v in (pruned(v) for v in value) if v not in (None, "", [], {})]
        return value

    top = pruned({k: v for k, v in resource.items() if k not in BOOKKEEPING})
    return "\n".join(f"{k}: {json.dumps(v, ensure_ascii=False)}" for k, v in top.items())


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

    async def until(self, predicate: Callable[[], bool | Awaitable[bool]], limit: float = 20.0, step: float = 0.05) -> float | None:
        """Seconds until ``predicate`` (plain or async) held, or None after ``limit`` seconds."""
        started = clock.monotonic()
        while clock.monotonic() - started < limit:
            held = predicate()
            if await held if inspect.isawaitable(held) else held:
                return clock.monotonic() - started
            await asyncio.sleep(step)
        return None

    def verdict(self) -> int:
        """Print the summary line; 0 when every check passed, else 1."""
        failed = [r for r in self.results if not r[1]]
        if failed:
            self.console.print(f"\n[bold red]demo FAILED: {len(failed)} of {len(self.results)} checks[/bold red]")
            return 1
        self.console.print(f"\n[bold green]demo passed: {len(self.results)} checks[/bold green]")
        return 0
