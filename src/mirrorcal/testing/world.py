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

from .google import GoogleEmulator
from .graph import GraphEmulator


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

    def book(self, name: str, summary: str, start: datetime, minutes: int = 60, **fields: Any) -> str:
        """Create an event on calendar ``name`` as its owner would; returns its provider id."""
        provider, cid = self.where[name]
        end = start + timedelta(minutes=minutes)
        if provider == "google":
            body = {"summary": summary, "start": _google_time(start), "end": _google_time(end), **fields}
            return str(self.google.user_insert(cid, body)["id"])
        body = {"subject": summary, "start": _graph_time(start), "end": _graph_time(end), **fields}
        return self.graph.user_create(cid, body)

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


def _google_time(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.astimezone(UTC).isoformat().replace("+00:00", "Z"), "timeZone": "UTC"}


def _graph_time(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"}


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
