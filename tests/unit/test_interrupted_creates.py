"""A create whose answer is lost (a crash or a timeout after the provider applied it) leaves a
"pending" mirror row: the next run finishes it, or deletes the mirror if its origin has gone."""

from __future__ import annotations

from datetime import datetime

import pytest
from test_engine import World, _summaries, interview
from test_planner import LONDON, row, run, source, spec

from mirrorcal.errors import TransientError
from mirrorcal.model import Event
from mirrorcal.providers.base import ItemRef
from mirrorcal.sync.planner import Create, Delete


def test_planner_finishes_a_pending_create_whatever_the_target_shows() -> None:
    s, src = spec(), source()
    pending = row(s, src, state="pending")
    for target in ({}, {pending.href: "e9"}):
        [action] = run(s, [src], [pending], target)
        assert isinstance(action, Create) and action.uid == pending.mirror_uid


@pytest.mark.parametrize("on_target", [{}, {"/p/elsewhere.ics": "e1"}])
def test_planner_deletes_whatever_a_pending_create_left_when_the_origin_has_gone(
    on_target: dict[str, str | None],
) -> None:
    s, src = spec(), source()
    pending = row(s, src, state="pending")
    [action] = run(s, [], [pending], on_target)  # the target may not list it under that href (Graph)
    assert isinstance(action, Delete) and action.href == pending.href and action.etag is None


def test_planner_leaves_a_pending_mirror_of_the_past_alone() -> None:
    s = spec()
    past = source(
        start=datetime(2026, 11, 2, 9, 0, tzinfo=LONDON), end=datetime(2026, 11, 2, 10, 0, tzinfo=LONDON)
    )
    assert run(s, [past], [row(s, past, state="pending")], {}) == []  # history is kept, as for active ones


def lose_the_answer(world: World, calendar: str) -> None:
    """The next create on ``calendar`` is applied, then the process "dies" before hearing back."""
    target = world.cal[calendar]
    original = target._create

    async def applied_then_lost(event: Event) -> ItemRef:
        await original(event)
        target._create = original  # type: ignore[method-assign]
        raise TransientError("connection reset after the write")

    target._create = applied_then_lost  # type: ignore[method-assign]


async def test_origin_cancelled_after_a_lost_create_leaves_no_orphan() -> None:
    world = World()
    href = world.cal["client-a"].user_put(interview("new@a", "New hire / Client A", 15, 30))
    lose_the_answer(world, "personal")
    first = await world.sync("client-a-to-personal")
    assert not first["client-a-to-personal"].ok and _summaries(world.cal["personal"]) == [
        "New hire / Client A"
    ]
    world.cal["client-a"].user_delete(href)  # cancelled before the next run
    reports = await world.sync()
    assert all(r.ok for r in reports.values()), reports
    assert _summaries(world.cal["personal"]) == [] and world.store.mirrors("client-a-to-personal") == {}


async def test_a_lost_create_is_finished_once_by_the_next_run() -> None:
    world = World()
    world.cal["client-a"].user_put(interview("new@a", "New hire / Client A", 15, 30))
    lose_the_answer(world, "personal")
    await world.sync("client-a-to-personal")
    assert [r.state for r in world.store.mirrors("client-a-to-personal").values()] == ["pending"]
    reports = await world.sync()
    assert all(r.ok for r in reports.values()), reports
    assert _summaries(world.cal["personal"]) == ["New hire / Client A"]
    assert [r.state for r in world.store.mirrors("client-a-to-personal").values()] == ["active"]
    assert sorted(_summaries(world.cal["client-b"])) == ["Busy"]  # and the chain goes on from it
    again = await world.sync()
    assert sum(r.writes for r in again.values()) == 0
