"""Table tests of the pure planner: one row per line of its decision table, plus echo and filter rules."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from mirrorcal.model import Attendee, Component, Event, Privacy
from mirrorcal.store.base import MirrorRow
from mirrorcal.sync.planner import (
    Create,
    Delete,
    Drop,
    Skip,
    SourceEvent,
    Update,
    mirror_uid,
    plan,
    source_hash,
)
from mirrorcal.sync.spec import Filters, SyncSpec

UTC = ZoneInfo("UTC")
LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
KEY = b"k" * 32


def spec(**kw: object) -> SyncSpec:
    base = dict(name="a-to-p", source="client-a", target="personal", source_client="A", target_client="me")
    base.update(kw)
    return SyncSpec(**base)  # type: ignore[arg-type]


def component(**kw: object) -> Component:
    base: dict[str, object] = dict(
        start=datetime(2026, 11, 24, 9, 0, tzinfo=LONDON),
        end=datetime(2026, 11, 24, 10, 0, tzinfo=LONDON),
        summary="John / Sr. Engineer",
    )
    base.update(kw)
    return Component(**base)  # type: ignore[arg-type]


def source(key: str = "john@a", *, calendar: str = "client-a", client: str | None = "A", h: str = "h1", **kw: object) -> SourceEvent:
    event = Event(uid=key, components=(component(**kw),))
    return SourceEvent(key, f"/{key}.ics", event, h, calendar, client, f"{calendar}/{key}")


def row(s: SyncSpec, src: SourceEvent, *, etag: str = "e1", state: str = "active", h: str | None = None) -> MirrorRow:
    uid = mirror_uid(KEY, s.name, src.key)
    return MirrorRow(
        sync=s.name,
        origin_key=src.key,
        mirror_uid=uid,
        href=f"/p/{uid}.ics",
        etag=etag,
        source_hash=source_hash(s, h or src.content_hash),
        mirror_hash="m",
        origin_calendar=src.origin_calendar,
        origin_client=src.origin_client,
        root_key=src.root_key,
        state=state,
    )


def run(s: SyncSpec, sources: list[SourceEvent], rows: list[MirrorRow], target: dict[str, str | None], **kw: object):
    return plan(s, sources, {r.origin_key: r for r in rows}, target, key=KEY, now=NOW, tz=LONDON, **kw)  # type: ignore[arg-type]


def test_new_event_is_created_with_derived_id() -> None:
    s, src = spec(), source()
    [action] = run(s, [src], [], {})
    assert isinstance(action, Create)
    assert action.mirror.uid == mirror_uid(KEY, s.name, src.key)
    assert action.mirror.marker == action.mirror.uid
    assert action.mirror.master.summary == "John / Sr. Engineer"


def test_mirror_id_is_deterministic_and_opaque() -> None:
    a = mirror_uid(KEY, "s", "john@a")
    assert a == mirror_uid(KEY, "s", "john@a")
    assert a != mirror_uid(KEY, "s2", "john@a") != mirror_uid(b"x" * 32, "s", "john@a")
    assert re.fullmatch(r"[0-9a-v]{32}", a)
    assert "john" not in a


@pytest.mark.parametrize(
    ("on_delete", "expected"),
    [("restore", Create), ("forget", Drop)],
)
def test_mirror_deleted_on_target(on_delete: str, expected: type) -> None:
    s, src = spec(on_target_delete=on_delete), source()
    [action] = run(s, [src], [row(s, src)], {})
    assert isinstance(action, expected)
    if isinstance(action, Drop):
        assert action.forget


def test_forgotten_mirror_stays_deleted_even_when_the_source_changes() -> None:
    s, src = spec(on_target_delete="forget"), source(h="h2")
    assert run(s, [src], [row(s, src, state="forgotten", h="h1")], {}) == []


def test_unchanged_source_plans_nothing() -> None:
    s, src = spec(), source()
    r = row(s, src)
    assert run(s, [src], [r], {r.href: "e1"}) == []


def test_changed_source_updates_with_if_match() -> None:
    s, src = spec(), source(h="h2")
    r = row(s, src, h="h1")
    [action] = run(s, [src], [r], {r.href: "e1"})
    assert isinstance(action, Update) and action.etag == "e1" and action.href == r.href


def test_settings_change_rewrites_mirrors() -> None:
    s, src = spec(), source()
    r = row(s, src)
    [action] = run(replace(s, privacy=Privacy.PRIVATE), [src], [r], {r.href: "e1"})
    assert isinstance(action, Update)
    assert action.mirror.master.summary == "Busy"


@pytest.mark.parametrize(("on_delete", "writes"), [("restore", 1), ("forget", 0)])
def test_mirror_edited_on_target(on_delete: str, writes: int) -> None:
    s, src = spec(on_target_delete=on_delete), source()
    r = row(s, src)
    actions = run(s, [src], [r], {r.href: "e-edited"})
    assert len(actions) == writes
    if writes:
        assert isinstance(actions[0], Update) and actions[0].etag == "e-edited"


def test_source_deleted_deletes_mirror() -> None:
    s, src = spec(), source()
    r = row(s, src)
    [action] = run(s, [], [r], {r.href: "e1"})
    assert isinstance(action, Delete) and action.etag == "e1"


def test_source_deleted_and_mirror_already_gone_drops_row() -> None:
    s, src = spec(), source()
    [action] = run(s, [], [row(s, src)], {})
    assert isinstance(action, Drop) and not action.forget


def test_present_but_not_candidate_is_left_alone() -> None:
    s, src = spec(), source(h="h2")
    r = row(s, src, h="h1")
    assert run(s, [], [r], {r.href: "e1"}, present=[src.key]) == []


@pytest.mark.parametrize(
    ("kw", "filters", "reason"),
    [
        (dict(status="CANCELLED"), Filters(), "cancelled"),
        (dict(transparent=True), Filters(), "free"),
        (dict(attendees=(Attendee("me@x.org", partstat="DECLINED"),)), Filters(), "declined"),
        (dict(start=date(2026, 11, 24), end=date(2026, 11, 25)), Filters(skip_all_day=True), "all-day"),
        (dict(summary="Lunch"), Filters(exclude_titles=(re.compile("^Lunch"),)), "title matches"),
        (
            dict(start=datetime(2026, 11, 24, 20, 0, tzinfo=LONDON), end=datetime(2026, 11, 24, 21, 0, tzinfo=LONDON)),
            Filters(working_hours=(time(8), time(19))),
            "outside working hours",
        ),
        (
            dict(start=datetime(2027, 11, 24, 9, tzinfo=LONDON), end=datetime(2027, 11, 24, 10, tzinfo=LONDON)),
            Filters(window_days=30),
            "beyond",
        ),
        (
            dict(start=datetime(2026, 10, 1, 9, tzinfo=LONDON), end=datetime(2026, 10, 1, 10, tzinfo=LONDON)),
            Filters(),
            "in the past",
        ),
    ],
)
def test_filters_skip_with_reason(kw: dict[str, object], filters: Filters, reason: str) -> None:
    s = spec(filters=filters, owner_emails=frozenset({"me@x.org"}))
    [action] = run(s, [source(**kw)], [], {})
    assert isinstance(action, Skip) and reason in action.reason


def test_filters_that_do_not_apply_copy() -> None:
    s = spec(filters=Filters(skip_free=False, skip_declined=False), owner_emails=frozenset({"me@x.org"}))
    src = source(transparent=True, attendees=(Attendee("me@x.org", partstat="DECLINED"),))
    [action] = run(s, [src], [], {})
    assert isinstance(action, Create) and action.mirror.master.transparent


def test_newly_filtered_event_loses_its_mirror() -> None:
    s = spec(filters=Filters(exclude_titles=(re.compile("Lunch"),)))
    src = source(summary="Lunch")
    r = row(s, src)
    [action] = run(s, [src], [r], {r.href: "e1"})
    assert isinstance(action, Delete) and "title" in action.reason


def test_past_event_keeps_its_mirror() -> None:
    s = spec()
    src = source(start=datetime(2026, 10, 1, 9, tzinfo=LONDON), end=datetime(2026, 10, 1, 10, tzinfo=LONDON))
    r = row(s, src)
    assert run(s, [src], [r], {r.href: "e1"}) == []


@pytest.mark.parametrize(
    ("calendar", "client", "target_client", "target", "copied"),
    [
        ("personal", "me", "A", "client-a", True),  # a personal event goes out as Busy
        ("client-c", "C", "A", "client-a", True),  # a chain: C -> personal -> A
        ("client-a", "A", "A", "client-a", False),  # never back into its origin calendar
        ("client-a2", "A", "A", "client-a", False),  # nor into a calendar of the same client
        ("client-b", None, None, "client-a", True),  # no labels: only the origin calendar counts
    ],
)
def test_echo_rules(calendar: str, client: str | None, target_client: str | None, target: str, copied: bool) -> None:
    s = spec(name="p-to-a", source="personal", target=target, privacy=Privacy.PRIVATE, target_client=target_client)
    src = source(calendar=calendar, client=client)
    [action] = run(s, [src], [], {})
    assert isinstance(action, Create) is copied
    if not copied:
        assert "echo" in action.reason  # type: ignore[union-attr]


def test_unknown_marker_is_never_copied() -> None:
    s = spec()
    src = replace(source(), unknown_mirror=True)
    [action] = run(s, [src], [], {})
    assert isinstance(action, Skip) and "unknown" in action.reason


def test_private_mirror_of_a_series_keeps_timing_only() -> None:
    s = spec(privacy=Privacy.PRIVATE, title="Busy")
    master = component(rrule=("FREQ=WEEKLY;COUNT=5",), exdates=(datetime(2026, 12, 1, 9, tzinfo=LONDON),), location="Room 4")
    moved = component(
        recurrence_id=datetime(2026, 12, 8, 9, tzinfo=LONDON),
        start=datetime(2026, 12, 8, 11, tzinfo=LONDON),
        end=datetime(2026, 12, 8, 12, tzinfo=LONDON),
        description="secret",
    )
    src = SourceEvent("s@a", "/s.ics", Event("s@a", (master, moved)), "h", "client-a", "A", "client-a/s@a")
    [action] = run(s, [src], [], {})
    assert isinstance(action, Create)
    m = action.mirror
    assert [c.summary for c in m.components] == ["Busy", "Busy"]
    assert m.master.rrule == master.rrule and m.master.exdates == master.exdates
    assert m.components[1].start == moved.start and m.components[1].recurrence_id == moved.recurrence_id
    assert all(c.location == "" and c.description == "" and c.klass == "PRIVATE" for c in m.components)


def test_planning_twice_after_applying_is_idempotent() -> None:
    s = spec()
    sources = [source(f"e{i}@a", h=f"h{i}", start=NOW + timedelta(hours=i), end=NOW + timedelta(hours=i + 1)) for i in range(5)]
    rows = [row(s, src) for src in sources]
    assert run(s, sources, rows, {r.href: "e1" for r in rows}) == []
