"""A small provider world for tests, the demo and benchmarks: Google and Graph emulators with named calendars.

``ProviderWorld`` starts one Google Calendar emulator and one Microsoft Graph emulator,
creates calendars on them by name, books events as their owners would (not through
mirrorcal), reads back what each calendar holds in one neutral shape, and writes the
``[calendars.NAME]`` tables that point mirrorcal at them (fixed access tokens, so no sign-in).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self
from zoneinfo import ZoneInfo

from ..zones import zone_named
from .google import GoogleEmulator
from .google_store import moment as google_moment
from .google_store import occurrences
from .graph import GraphEmulator
from .graph_mailbox import occurrence_id


@dataclass(frozen=True, slots=True, order=True)
class Seen:
    """One event as a calendar holds it: UTC start and end, title."""

    start: datetime
    end: datetime
    summary: str


class ProviderWorld:
    """Both emulators and the calendars made on them; use as a context manager."""

    def __init__(self) -> None:
        self.google = GoogleEmulator()
        self.graph = GraphEmulator()
        self.where: dict[str, tuple[str, str]] = {}  # name -> (provider, calendar id)
        self._holds_memo: dict[tuple[object, object], Seen] = {}  # (id, version) -> parsed, for holds()

    def start(self) -> Self:
        self.google.start()
        self.graph.start()
        return self

    def stop(self) -> None:
        self.google.stop()
        self.graph.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- calendars ----------------------------------------------------------------------

    def calendar(self, name: str, provider: str) -> str:
        """Make calendar ``name`` on ``provider`` ("google" | "microsoft"); returns its id."""
        if provider == "google":
            cid = self.google.add_calendar(name, name)
        elif provider == "microsoft":
            cid = self.graph.add_calendar(name)
        else:
            raise ValueError(f"unknown provider {provider!r}")
        self.where[name] = (provider, cid)
        return cid

    def toml(self, name: str, *, client: str | None = None, unified: bool = True, extra: str = "") -> str:
        """The ``[calendars.NAME]`` table for calendar ``name``."""
        provider, cid = self.where[name]
        emulator: GoogleEmulator | GraphEmulator = self.google if provider == "google" else self.graph
        lines = [
            f"[calendars.{name}]",
            f'kind = "{provider}"',
            f'base_url = "{emulator.base_url}"',
            f'access_token = "{emulator.access_token}"',
            f'calendar_id = "{cid}"',
            f"unified = {'true' if unified else 'false'}",
        ]
        if client:
            lines.append(f'client = "{client}"')
        return "\n".join(lines) + "\n" + extra + "\n"

    # -- the owners' hands ------------------------------------------------------------------

    def book(
        self, name: str, summary: str, start: datetime, minutes: int = 60, *, time_zone: str = "UTC", **fields: Any
    ) -> str:
        """Create an event on calendar ``name`` as its owner would; returns its provider id.

        ``time_zone`` is the zone the owner books in (IANA, or for Microsoft also a Windows
        name such as "GMT Standard Time"): the times are written as wall times in it.
        ``fields`` are further provider JSON fields (description, attendees, ...)."""
        provider, cid = self.where[name]
        end = start + timedelta(minutes=minutes)
        if provider == "google":
            body = {"summary": summary, "start": _google_time(start, time_zone), "end": _google_time(end, time_zone), **fields}
            return str(self.google.user_insert(cid, body)["id"])
        body = {"subject": summary, "start": _graph_time(start, time_zone), "end": _graph_time(end, time_zone), **fields}
        return self.graph.user_create(cid, body)

    def book_weekly(self, name: str, summary: str, start: datetime, minutes: int = 60, *, count: int = 6) -> str:
        """Create a weekly series of ``count`` occurrences (UTC times) on calendar ``name``; returns its id."""
        provider, _ = self.where[name]
        if provider == "google":
            return self.book(name, summary, start, minutes, recurrence=[f"RRULE:FREQ=WEEKLY;COUNT={count}"])
        day = start.astimezone(UTC).strftime("%A").lower()
        recurrence = {
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": [day], "firstDayOfWeek": "sunday"},
            "range": {"type": "numbered", "startDate": start.astimezone(UTC).date().isoformat(), "numberOfOccurrences": count},
        }
        return self.book(name, summary, start, minutes, recurrence=recurrence)

    def instance_id(self, name: str, series_id: str, original_start: datetime) -> str:
        """The id of the occurrence of series ``series_id`` that originally starts at
        ``original_start``: ``rename``/``reschedule``/``cancel`` on it make an override."""
        provider, _ = self.where[name]
        key = original_start.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        return f"{series_id}_{key}" if provider == "google" else occurrence_id(series_id, key)

    def reschedule(self, name: str, event_id: str, start: datetime, minutes: int = 60) -> None:
        """Move an event (or one occurrence) to ``start``, lasting ``minutes``."""
        provider, cid = self.where[name]
        end = start + timedelta(minutes=minutes)
        if provider == "google":
            self.google.user_update(cid, event_id, {"start": _google_time(start), "end": _google_time(end)})
        else:
            self.graph.user_update(event_id, {"start": _graph_time(start), "end": _graph_time(end)})

    def rename(self, name: str, event_id: str, summary: str) -> None:
        provider, cid = self.where[name]
        if provider == "google":
            self.google.user_update(cid, event_id, {"summary": summary})
        else:
            self.graph.user_update(event_id, {"subject": summary})

    def cancel(self, name: str, event_id: str) -> None:
        provider, cid = self.where[name]
        if provider == "google":
            self.google.user_delete(cid, event_id)
        else:
            self.graph.user_delete(event_id)

    def raw(self, name: str) -> list[dict[str, Any]]:
        """The provider's own JSON of every event of calendar ``name``."""
        provider, cid = self.where[name]
        return self.google.events(cid) if provider == "google" else self.graph.events(cid)

    def seen(self, name: str) -> list[Seen]:
        """What calendar ``name`` holds, sorted; series are listed by their first instance."""
        provider, _ = self.where[name]
        rows = []
        for body in self.raw(name):
            if provider == "google":
                rows.append(Seen(_from_google(body["start"]), _from_google(body["end"]), str(body.get("summary", ""))))
            else:
                rows.append(Seen(_from_graph(body["start"]), _from_graph(body["end"]), str(body.get("subject", ""))))
        return sorted(rows)

    def holds(self, name: str) -> set[Seen]:
        """What calendar ``name`` holds, like ``seen`` but as a set and cheap enough for pollers
        that look every few milliseconds: no copies, no rendering, and each event is parsed once
        per version (Google etag, Graph changeKey). Series count once, by their first instance;
        malformed (raw) events are left out."""
        provider, cid = self.where[name]
        memo = self._holds_memo
        found: set[Seen] = set()
        if provider == "google":
            with self.google.lock:
                for b in self.google.store.calendar(cid).events.values():
                    if b.get("status") == "cancelled" or "start" not in b or "end" not in b:
                        continue
                    key = (b.get("id"), b.get("etag"))
                    if key not in memo:
                        memo[key] = Seen(_from_google(b["start"]), _from_google(b["end"]), str(b.get("summary", "")))
                    found.add(memo[key])
            return found
        with self.graph.lock:
            for e in self.graph.mailbox.events.values():
                if e.calendar_id != cid or e.raw is not None:
                    continue
                key = (e.id, e.change_key)
                if key not in memo:
                    start, end = e.times()
                    memo[key] = Seen(start.astimezone(UTC), end.astimezone(UTC), str(e.fields.get("subject", "")))
                found.add(memo[key])
        return found

    def instances(self, name: str, start: datetime, end: datetime) -> list[Seen]:
        """Every occurrence calendar ``name`` shows in [start, end), sorted: series expanded,
        their overrides applied and cancelled occurrences left out (the same on both providers)."""
        provider, cid = self.where[name]
        rows: list[Seen] = []
        if provider == "google":
            with self.google.lock:
                cal = self.google.store.calendar(cid)
                resources = list(cal.events.values())
                for body in resources:
                    if body.get("status") == "cancelled":
                        continue
                    summary = str(body.get("summary", ""))
                    if not body.get("recurrence"):
                        rows.append(Seen(google_moment(body["start"], cal), google_moment(body["end"], cal), summary))
                        continue
                    changed = {
                        google_moment(r["originalStartTime"], cal)
                        for r in resources
                        if r.get("recurringEventId") == body["id"] and r.get("originalStartTime")
                    }
                    spans = occurrences(body, cal, start, end)
                    rows.extend(Seen(a, b, summary) for a, b in spans if a not in changed)
        else:
            with self.graph.lock:
                for _, ev, instance in self.graph.mailbox.view(cid, start, end).values():
                    body = self.graph.mailbox.render(ev, "UTC", instance=instance)
                    rows.append(Seen(_from_graph(body["start"]), _from_graph(body["end"]), str(body.get("subject", ""))))
        return sorted(r for r in rows if r.start < end and r.end > start)


def _zone(name: str) -> ZoneInfo:
    zone = zone_named(name)
    if zone is None:
        raise ValueError(f"unknown time zone {name!r}")
    return zone


def _google_time(moment: datetime, zone: str = "UTC") -> dict[str, str]:
    local = moment.astimezone(_zone(zone))
    text = local.isoformat() if zone != "UTC" else local.isoformat().replace("+00:00", "Z")
    return {"dateTime": text, "timeZone": zone}


def _graph_time(moment: datetime, zone: str = "UTC") -> dict[str, str]:
    return {"dateTime": moment.astimezone(_zone(zone)).strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": zone}


def _from_google(value: dict[str, str]) -> datetime:
    if "dateTime" in value:
        return datetime.fromisoformat(value["dateTime"].replace("Z", "+00:00")).astimezone(UTC)
    return datetime.fromisoformat(value["date"]).replace(tzinfo=UTC)


def _from_graph(value: dict[str, str]) -> datetime:
    text = value["dateTime"].split(".")[0]
    zone = value.get("timeZone", "UTC")
    if zone not in ("UTC", "Etc/UTC", "tzone://Microsoft/Utc"):
        raise ValueError(f"the Graph emulator answered in {zone!r}; expected UTC")
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


CHAIN = (
    ("c-to-personal", "client-c", "personal", "full"),
    ("personal-to-a", "personal", "client-a", "private"),
    ("personal-to-b", "personal", "client-b", "private"),
)
"""The recruiter document's chain: Client C into Personal in full, Personal out to A and B as Busy."""


def syncs_toml(rows: tuple[tuple[str, str, str, str], ...] = CHAIN) -> str:
    """``[[syncs]]`` tables for (name, from, to, privacy) rows."""
    return "".join(
        f'\n[[syncs]]\nname = "{name}"\nfrom = "{source}"\nto = "{target}"\nprivacy = "{privacy}"\n'
        for name, source, target, privacy in rows
    )
