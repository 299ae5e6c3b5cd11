"""Time survives exactly: real exports (Google, Exchange with Windows zones, an ATS) mirrored into
Radicale by the engine on the SQL store keep every occurrence's instants, all-day dates and
floating times, and series stay series (master + overrides in one resource)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from mirrorcal import ical
from mirrorcal.conflicts import occurrences
from mirrorcal.model import Privacy
from mirrorcal.providers.caldav import CalDAVCalendar
from mirrorcal.providers.icsfile import IcsFileCalendar
from mirrorcal.store.sql import SqlStore
from mirrorcal.sync.engine import Engine
from mirrorcal.sync.spec import Filters, SyncSpec

FIXTURES = Path(__file__).parent.parent / "fixtures"
UTC = ZoneInfo("UTC")
TZ = ZoneInfo("Europe/London")


def _expanded(event, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    return [(b.start, b.end) for b in occurrences(event, calendar="x", root="r", start=start, end=end, tz=TZ)]


@pytest.mark.parametrize("fixture", ["google_export.ics", "exchange_export.ics", "ats_feed.ics"])
@pytest.mark.parametrize("privacy", [Privacy.FULL, Privacy.PRIVATE])
async def test_exports_mirror_exactly(fixture: str, privacy: Privacy, radicale_calendar: str, tmp_path: Path) -> None:
    source_file = tmp_path / fixture
    source_file.write_text((FIXTURES / fixture).read_text())
    events, errors = ical.parse_feed(source_file.read_text())
    good = events  # a UID-less event is keyed by its content and mirrored too
    first = min(ical_start(e) for e in good)
    clock = first - timedelta(days=2)
    store = SqlStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    async with httpx.AsyncClient() as client:
        calendars = {
            "feed": IcsFileCalendar("feed", source_file, read_only=True),
            "personal": CalDAVCalendar("personal", radicale_calendar, client),
        }
        spec = SyncSpec(
            name="s", source="feed", target="personal", privacy=privacy, filters=Filters(skip_free=False, window_days=3650),
            show_as="original",  # free stays free (private mirrors show as busy by default), so busy times compare
        )  # fmt: skip
        engine = Engine(calendars, [spec], store, tz=TZ, clock=lambda: clock)
        report = (await engine.sync())["s"]
        assert report.counts["created"] >= len({e.uid for e in good}) - len(errors) - 1
        mirrored = (await calendars["personal"].list_changes(None)).items
        await engine.aclose()
    store.close()
    assert not [i for i in mirrored if not i.event.marker]
    window = (clock, clock + timedelta(days=400))
    source_occurrences = sorted(o for e in good for o in _expanded(e, *window) if _copied(e))
    mirror_occurrences = sorted(o for i in mirrored for o in _expanded(i.event, *window))
    assert mirror_occurrences == source_occurrences
    for item in mirrored:
        kinds = {type(c.start) for c in item.event.components}
        assert len(kinds) == 1  # all-day stays all-day, timed stays timed
        if privacy is Privacy.PRIVATE:
            assert {c.summary for c in item.event.components} == {"Busy"}
    # series stay series: as many resources as source UIDs, overrides inside them
    assert len(mirrored) == len([e for e in good if _copied(e)])
    assert sum(len(i.event.overrides) for i in mirrored) == sum(len(e.overrides) for e in good if _copied(e))


def _copied(event) -> bool:
    return event.master.status.upper() != "CANCELLED"


def ical_start(event) -> datetime:
    s = event.master.start
    if not isinstance(s, datetime):
        return datetime(s.year, s.month, s.day, tzinfo=UTC)
    return s if s.tzinfo else s.replace(tzinfo=UTC)


async def test_floating_and_all_day_survive_unchanged(radicale_calendar: str, tmp_path: Path) -> None:
    text = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n"
        "BEGIN:VEVENT\r\nUID:float@t\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20270105T090000\r\nDTEND:20270105T100000\r\nSUMMARY:Floating\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:day@t\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;VALUE=DATE:20270106\r\nDTEND;VALUE=DATE:20270108\r\nSUMMARY:Offsite\r\nEND:VEVENT\r\n"
        "END:VCALENDAR\r\n"
    )
    path = tmp_path / "f.ics"
    path.write_text(text)
    store = SqlStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    async with httpx.AsyncClient() as client:
        cals = {"f": IcsFileCalendar("f", path, read_only=True), "p": CalDAVCalendar("p", radicale_calendar, client)}
        engine = Engine(cals, [SyncSpec(name="s", source="f", target="p")], store, tz=TZ, clock=lambda: datetime(2027, 1, 1, tzinfo=UTC))
        await engine.sync()
        items = {i.event.master.summary: i.event.master for i in (await cals["p"].list_changes(None)).items}
    store.close()
    assert items["Floating"].start == datetime(2027, 1, 5, 9) and items["Floating"].start.tzinfo is None
    assert items["Offsite"].start == date(2027, 1, 6) and items["Offsite"].end == date(2027, 1, 8)
