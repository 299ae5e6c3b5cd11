"""A sync's ``show_as``: configuration, the mirror built (model and iCalendar), Graph's showAs,
Google's transparency, the settings stamp that rewrites mirrors, and conflicts ignoring free ones."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
from factories import interview

from mirrorcal import ical
from mirrorcal.config import parse_config
from mirrorcal.conflicts import occurrences
from mirrorcal.errors import ConfigError
from mirrorcal.model import Component, Event, Privacy
from mirrorcal.providers import google_mapping, graph_mapping
from mirrorcal.sync.planner import build_mirror
from mirrorcal.sync.spec import SyncSpec

LONDON = ZoneInfo("Europe/London")
BASE = """\
[calendars.personal]
kind = "file"
path = "p.ics"

[calendars.client-a]
kind = "file"
path = "a.ics"

[[syncs]]
name = "s"
from = "personal"
to = "client-a"
privacy = "{privacy}"
"""


def config(privacy: str = "private", extra: str = "") -> SyncSpec:
    return parse_config(BASE.format(privacy=privacy) + extra, base_dir=Path("/tmp"), env={}).syncs[0]


def vevents(event: Event) -> list[icalendar.Event]:
    return list(icalendar.Calendar.from_ical(ical.serialize(event)).walk("VEVENT"))


def test_the_key_has_a_default_per_privacy_and_refuses_other_values() -> None:
    assert config("private").shows_as == "busy" and config("private").show_as == ""
    assert config("full").shows_as == "original"
    assert config("private", 'show_as = "oof"\n').shows_as == "oof"
    assert config("full", 'show_as = "tentative"\n').shows_as == "tentative"
    with pytest.raises(ConfigError) as caught:
        config("private", 'show_as = "away"\n')
    assert caught.value.key == "syncs[0].show_as"
    assert "busy, free, tentative, oof, original" in str(caught.value)


def test_the_settings_stamp_changes_with_show_as_so_mirrors_are_rewritten() -> None:
    stamps = {config("private", f'show_as = "{v}"\n').settings_hash for v in ("busy", "free", "tentative", "oof", "original")}
    assert len(stamps) == 5
    assert config("private").settings_hash == config("private", 'show_as = "busy"\n').settings_hash  # the default is busy


@pytest.mark.parametrize(
    ("show_as", "transp", "status"),
    [("busy", "OPAQUE", None), ("free", "TRANSPARENT", "FREE"), ("tentative", "OPAQUE", "TENTATIVE"), ("oof", "OPAQUE", "OOF")],
)
def test_private_and_full_mirrors_carry_the_show_as(show_as: str, transp: str, status: str | None) -> None:
    origin = interview("o@x")
    for privacy in (Privacy.PRIVATE, Privacy.FULL):
        spec = SyncSpec(name="s", source="a", target="b", privacy=privacy, show_as=show_as)
        for source in (origin, ical.parse_resource(ical.serialize(origin))):  # without and with raw
            mirror = build_mirror(spec, source, "m1")
            assert [c.busy_status for c in mirror.components] == [status or ""]
            assert [c.transparent for c in mirror.components] == [show_as == "free"]
            (vevent,) = vevents(mirror)
            assert str(vevent["TRANSP"]) == transp
            assert vevent.get("X-MICROSOFT-CDO-BUSYSTATUS") == status
            again = ical.parse_resource(ical.serialize(mirror)).components[0]
            assert (again.transparent, again.busy_status) == (show_as == "free", status or "")


def test_original_keeps_what_the_origin_shows_and_private_copies_keep_only_that() -> None:
    text = ical.serialize(interview("o@x")).replace("TRANSP:OPAQUE", "TRANSP:OPAQUE\r\nX-MICROSOFT-CDO-BUSYSTATUS:OOF")
    origin = ical.parse_resource(text)
    assert origin.components[0].busy_status == "OOF"
    for privacy in (Privacy.PRIVATE, Privacy.FULL):
        mirror = build_mirror(SyncSpec(name="s", source="a", target="b", privacy=privacy, show_as="original"), origin, "m")
        (vevent,) = vevents(mirror)
        assert vevent.get("X-MICROSOFT-CDO-BUSYSTATUS") == "OOF"
    # the default of a private sync: plain busy, nothing but TRANSP:OPAQUE (no X- property)
    (vevent,) = vevents(build_mirror(SyncSpec(name="s", source="a", target="b", privacy=Privacy.PRIVATE), origin, "m"))
    assert str(vevent["TRANSP"]) == "OPAQUE" and "X-MICROSOFT-CDO-BUSYSTATUS" not in vevent


def test_graph_shows_the_busy_status_and_google_only_free_or_busy() -> None:
    names = {"FREE": "free", "TENTATIVE": "tentative", "BUSY": "busy", "OOF": "oof"}
    body_of = _graph_body
    for status, shown in names.items():  # the busy status decides
        assert body_of(status)["showAs"] == shown
    assert body_of("OOF", status="CANCELLED")["showAs"] == "free"  # a cancelled one never blocks time
    assert body_of("", transparent=True)["showAs"] == "free" and body_of("")["showAs"] == "busy"
    kept = graph_mapping.kept(Event(uid="u", components=(_component("OOF"),)))
    assert kept.components[0].busy_status == "OOF" and not kept.components[0].transparent
    kept = graph_mapping.kept(Event(uid="u", components=(_component("TENTATIVE"),)))
    assert (kept.components[0].status, kept.components[0].busy_status) == ("TENTATIVE", "")
    for status, transparency in (("FREE", "transparent"), ("TENTATIVE", "opaque"), ("OOF", "opaque"), ("BUSY", "opaque")):
        c = _component(status, transparent=status == "FREE")
        assert google_mapping.kept(Event(uid="u", components=(c,)), LONDON).components[0].busy_status == ""
        assert _google_body(c)["transparency"] == transparency


def _component(busy: str, **kw: object) -> Component:
    return Component(start=datetime(2026, 3, 10, 9, tzinfo=UTC), end=datetime(2026, 3, 10, 10, tzinfo=UTC), busy_status=busy, **kw)  # type: ignore[arg-type]


def _graph_body(busy: str, **kw: object) -> dict[str, object]:
    return graph_mapping.to_graph(_component(busy, **kw), uid="u")


def _google_body(c: Component) -> dict[str, object]:
    return dict(google_mapping.resource_body(c, uid="u", marker=None, zone=LONDON))


def test_conflicts_ignore_free_mirrors_and_count_tentative_and_out_of_office() -> None:
    origin = interview("o@x")
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    for show_as, blocks in (("free", 0), ("busy", 1), ("tentative", 1), ("oof", 1)):
        mirror = build_mirror(SyncSpec(name="s", source="a", target="b", privacy=Privacy.PRIVATE, show_as=show_as), origin, "m")
        assert len(occurrences(mirror, calendar="b", root="r", start=start, end=end, tz=LONDON)) == blocks, show_as
    # Outlook's own free (X-MICROSOFT-CDO-BUSYSTATUS:FREE on an opaque event) is free time too
    text = ical.serialize(origin).replace("TRANSP:OPAQUE", "TRANSP:OPAQUE\r\nX-MICROSOFT-CDO-BUSYSTATUS:FREE")
    assert occurrences(ical.parse_resource(text), calendar="b", root="r", start=start, end=end, tz=LONDON) == []
