"""The benchmark's calendar data: deterministic events, the phase-3 edits, and fingerprints to compare calendars.

The mix follows the issue: 85 % single timed events, 10 % weekly series with an EXDATE and a
moved occurrence (a RECURRENCE-ID override in the same resource), 5 % all-day events. Every
event is opaque, confirmed and starts between tomorrow and ~120 days ahead, so no filter of a
``privacy = "full"`` sync with a wide ``window_days`` drops any of them.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar

TZID = "Europe/London"
ZONE = ZoneInfo(TZID)
HORIZON_DAYS = 120
WEEKLY_COUNT = 10

VTIMEZONE = """BEGIN:VTIMEZONE
TZID:Europe/London
BEGIN:DAYLIGHT
TZOFFSETFROM:+0000
TZOFFSETTO:+0100
TZNAME:BST
DTSTART:19700329T010000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0100
TZOFFSETTO:+0000
TZNAME:GMT
DTSTART:19701025T020000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE"""

_FIRST = ("Maria", "John", "David", "Aisha", "Wei", "Olga", "Pedro", "Fatima", "Liam", "Sofia", "Kenji", "Amara")
_LAST = ("Okafor", "Smith", "Kowalski", "Nguyen", "Haddad", "Garcia", "Muller", "Tanaka", "Ivanova", "Brown")
_ROLES = ("Backend engineer", "Data analyst", "Product manager", "SRE", "Designer", "Sales lead", "QA engineer")
_STAGES = ("phone screen", "technical interview", "panel", "hiring manager chat", "final round", "debrief")
_PLACES = ("Room 4.12", "Video call", "Reception, 2nd floor", "Room Atlas", "Client office, Canary Wharf")
_ALLDAY = ("Career fair", "Offsite", "Hiring committee day", "Campus visit", "Assessment centre")


@dataclass(frozen=True, slots=True)
class EventSpec:
    """One source resource before rendering: ``kind`` is "single", "weekly" or "allday".

    Timed events start/end as naive local times in ``TZID``; all-day ones as dates.
    """

    uid: str
    kind: str
    start: datetime | date
    end: datetime | date
    summary: str
    description: str
    location: str
    sequence: int = 0

    @property
    def href_name(self) -> str:
        return f"{self.uid}.ics"


def generate(n: int, today: date, seed: int = 2000) -> list[EventSpec]:
    """``n`` events in the issue's mix (85/10/5 %), the same for the same ``n``, ``today`` and ``seed``."""
    rng = random.Random(seed)
    n_weekly = round(n * 0.10)
    n_allday = round(n * 0.05)
    kinds = ["weekly"] * n_weekly + ["allday"] * n_allday + ["single"] * (n - n_weekly - n_allday)
    rng.shuffle(kinds)
    events: list[EventSpec] = []
    for i, kind in enumerate(kinds):
        uid = f"{uuid.UUID(int=rng.getrandbits(128), version=4)}"
        person = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        role = rng.choice(_ROLES)
        if kind == "allday":
            first = today + timedelta(days=rng.randint(1, HORIZON_DAYS))
            length = rng.choice((1, 1, 1, 2, 3))
            events.append(
                EventSpec(uid, kind, first, first + timedelta(days=length), f"{rng.choice(_ALLDAY)} #{i}", f"All hands for {role} hiring.", "")
            )
            continue
        horizon = HORIZON_DAYS - 7 * WEEKLY_COUNT if kind == "weekly" else HORIZON_DAYS
        day = today + timedelta(days=rng.randint(1, horizon))
        start = datetime.combine(day, time(rng.randint(8, 17), rng.choice((0, 15, 30, 45))))
        end = start + timedelta(minutes=rng.choice((30, 45, 60, 60, 90)))
        if kind == "weekly":
            summary = f"Weekly pipeline review: {role} #{i}"
        else:
            summary = f"{person}: {rng.choice(_STAGES)} ({role}) #{i}"
        description = (
            f"Candidate: {person}\nRole: {role}\nScorecard: https://ats.example/scorecards/{rng.randint(10000, 99999)}\n"
            "Please submit feedback within 24 hours."
        )
        events.append(EventSpec(uid, kind, start, end, summary, description, rng.choice(_PLACES)))
    return events


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _local(value: datetime) -> str:
    return value.strftime("%Y%m%dT%H%M%S")


def _when(name: str, value: datetime | date) -> str:
    if isinstance(value, datetime):
        return f"{name};TZID={TZID}:{_local(value)}"
    return f"{name};VALUE=DATE:{value:%Y%m%d}"


def render(spec: EventSpec, stamp: datetime) -> str:
    """The resource's iCalendar text (CRLF line ends): one VCALENDAR, one master VEVENT and,
    for a weekly series, its moved occurrence."""
    dtstamp = stamp.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//mirrorcal bench//EN", "CALSCALE:GREGORIAN"]
    if spec.kind != "allday":
        lines += VTIMEZONE.splitlines()
    common = [f"UID:{spec.uid}", f"DTSTAMP:{dtstamp}", f"SEQUENCE:{spec.sequence}", "TRANSP:OPAQUE", "STATUS:CONFIRMED"]
    lines += ["BEGIN:VEVENT", *common, _when("DTSTART", spec.start), _when("DTEND", spec.end)]
    lines.append(f"SUMMARY:{_escape(spec.summary)}")
    if spec.description:
        lines.append(f"DESCRIPTION:{_escape(spec.description)}")
    if spec.location:
        lines.append(f"LOCATION:{_escape(spec.location)}")
    if spec.kind == "weekly":
        assert isinstance(spec.start, datetime) and isinstance(spec.end, datetime)
        lines.append(f"RRULE:FREQ=WEEKLY;COUNT={WEEKLY_COUNT}")
        lines.append(_when("EXDATE", spec.start + timedelta(weeks=2)))
        lines.append("END:VEVENT")
        moved_from = spec.start + timedelta(weeks=4)
        moved_to = moved_from + timedelta(days=1, hours=2)
        lines += ["BEGIN:VEVENT", *common, _when("RECURRENCE-ID", moved_from)]
        lines += [_when("DTSTART", moved_to), _when("DTEND", moved_to + (spec.end - spec.start))]
        lines.append(f"SUMMARY:{_escape(spec.summary)} (moved)")
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(lines) + "\r\n"


def write_collection(folder: Path, events: Iterable[EventSpec], stamp: datetime) -> int:
    """Write each event as ``<uid>.ics`` into a Radicale filesystem collection folder; returns the count."""
    count = 0
    for spec in events:
        (folder / spec.href_name).write_text(render(spec, stamp), encoding="utf-8", newline="")
        count += 1
    return count


def changes(events: list[EventSpec], *, edits: int = 10, deletions: int = 5, seed: int = 15) -> tuple[list[EventSpec], list[EventSpec]]:
    """The phase-3 changes: ``edits`` edited events (new title, moved by an hour or a day; one
    weekly series and one all-day event among them when there are any) and ``deletions``
    events to delete, all distinct."""
    rng = random.Random(seed)
    by_kind: dict[str, list[EventSpec]] = {}
    for spec in events:
        by_kind.setdefault(spec.kind, []).append(spec)
    picked: list[EventSpec] = []
    for kind in ("weekly", "allday"):
        if by_kind.get(kind):
            picked.append(rng.choice(by_kind[kind]))
    singles = [s for s in by_kind.get("single", []) if s not in picked]
    picked += rng.sample(singles, edits + deletions - len(picked))
    edited: list[EventSpec] = []
    for spec in picked[:edits]:
        shift = timedelta(days=1) if spec.kind == "allday" else timedelta(hours=1)
        edited.append(
            replace(
                spec,
                start=spec.start + shift,
                end=spec.end + shift,
                summary=spec.summary + " (rescheduled)",
                sequence=spec.sequence + 1,
            )
        )
    return edited, picked[edits:]


# --------------------------------------------------------------------------- fingerprints


def _norm(value: object) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.isoformat()
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _prop_dt(component: icalendar.cal.Component, name: str) -> datetime | date | None:
    prop = component.get(name)
    return None if prop is None else prop.dt


def _exdates(component: icalendar.cal.Component) -> tuple[str, ...]:
    raw = component.get("EXDATE")
    if raw is None:
        return ()
    lists = raw if isinstance(raw, list) else [raw]
    return tuple(sorted(_norm(d.dt) for lst in lists for d in lst.dts))


def _rrule(component: icalendar.cal.Component) -> str:
    rule = component.get("RRULE")
    if rule is None:
        return ""
    return ";".join(f"{k}={','.join(_norm(v) for v in vals)}" for k, vals in sorted(rule.items()))


def fingerprint(text: str) -> tuple[tuple[str, ...], ...]:
    """What must survive the copy, per VEVENT: title, start, end (UTC or date), rule, EXDATEs and
    RECURRENCE-ID; independent of UID, property order, TZID spelling and DTEND vs DURATION."""
    cal = icalendar.Calendar.from_ical(text)
    rows: list[tuple[str, ...]] = []
    for component in cal.walk("VEVENT"):
        start = _prop_dt(component, "DTSTART")
        end = _prop_dt(component, "DTEND")
        if end is None and component.get("DURATION") is not None and start is not None:
            end = start + component["DURATION"].dt
        if end is None and isinstance(start, date) and not isinstance(start, datetime):
            end = start + timedelta(days=1)
        rows.append(
            (
                str(component.get("SUMMARY", "")),
                _norm(start),
                _norm(end),
                _rrule(component),
                ",".join(_exdates(component)),
                _norm(_prop_dt(component, "RECURRENCE-ID")) if component.get("RECURRENCE-ID") else "",
            )
        )
    return tuple(sorted(rows))


def collection_fingerprints(folder: Path) -> Counter[tuple[tuple[str, ...], ...]]:
    """The fingerprints of every ``.ics`` resource in a Radicale filesystem collection folder."""
    return Counter(fingerprint(p.read_text(encoding="utf-8")) for p in folder.iterdir() if p.suffix == ".ics")


def compare(source: Counter[tuple[tuple[str, ...], ...]], target: Counter[tuple[tuple[str, ...], ...]]) -> list[str]:
    """Differences between two collections' fingerprints, in words (empty when they match)."""
    problems: list[str] = []
    missing = source - target
    extra = target - source
    for fp, n in list(missing.items())[:3]:
        problems.append(f"missing at target ({n}x): {fp[0][:2]}")
    for fp, n in list(extra.items())[:3]:
        problems.append(f"unexpected at target ({n}x): {fp[0][:2]}")
    if missing or extra:
        problems.insert(0, f"{sum(missing.values())} source resource(s) without an equal copy, {sum(extra.values())} extra")
    return problems
