"""Booking-page slots for a month over 8 calendars holding 5,000 events (recurring ones included).

The events are the caldav bench's mix (``benchdata.generate``: 85 % single, 10 % weekly series with
an EXDATE and a moved occurrence, 5 % all-day), spread over 8 calendars in a real SQLite state
store, as the sync engine leaves its cache, under a web account whose setup holds the 8 calendars
(unified) and whose booking rules are saved. Two things are measured, 200 requests each:

- the core: read the 8 calendars' cached items, expand them to busy blocks (through the
  long-lived ``BusyCache``, as the app keeps one) and list every free 45-minute slot of the next
  30 days under working hours, buffers, notice and a daily limit (``unified.booking_slots``);
- what the booking page asks for one candidate (``booking.Booker.availability``): the same, plus
  loading the account's rules and setup and the other interviews (four already booked: busy, and
  counted in the daily limit). The last line reports this one.

The first (cold) request of each is reported apart.

    .venv/bin/python bench/slots.py [--events 5000] [--calendars 8] [--requests 200]

The last line reads ``slots for a month over 8 calendars, 5000 events: p50 X ms, p95 Y ms``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time as clock
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import benchdata

from mirrorcal import ical
from mirrorcal import workspace as ws
from mirrorcal.booking import Booker, BookingSettings, load_settings, save_settings
from mirrorcal.interviews import Action, Actor
from mirrorcal.recruiting import Recruiting
from mirrorcal.secrets import Vault
from mirrorcal.slots import WEEKDAYS, Slot
from mirrorcal.store.base import CachedItem
from mirrorcal.store.sql import SqlStore
from mirrorcal.unified import BusyCache, booking_slots

EMAIL = "recruiter@example.test"
PAST_DAYS, AHEAD_DAYS = 600, 150
"""benchdata puts every event within 120 days; here they are spread from 600 days back to 150
days ahead (a long-kept calendar), so the coming month holds about 200 of them: a busy
recruiter who still has slots to offer."""


def fill(store: SqlStore, events: int, names: list[str], now: datetime) -> None:
    rng = random.Random(8)
    specs = [
        replace(s, start=s.start + shift, end=s.end + shift)
        for s in benchdata.generate(events, now.date())
        for shift in [timedelta(days=rng.randint(-PAST_DAYS, AHEAD_DAYS - benchdata.HORIZON_DAYS))]
    ]
    per: dict[str, list[CachedItem]] = {n: [] for n in names}
    for i, spec in enumerate(specs):
        text = benchdata.render(spec, now)
        if spec.kind == "allday":  # all-day markers are free, as Google and Outlook make them by default
            text = text.replace("TRANSP:OPAQUE", "TRANSP:TRANSPARENT")
        event = ical.parse_resource(text)
        per[names[i % len(names)]].append(
            CachedItem(spec.href_name, f'"{i}"', spec.uid, text, ical.content_hash(event))
        )
    for name, items in per.items():
        store.apply_listing(name, items, [], f"cursor-{name}", True)


def account(store: SqlStore, database_url: str, calendars: int, now: datetime) -> tuple[int, list[str]]:
    """A web account whose setup has ``calendars`` unified CalDAV calendars, each but the first
    copied into the first by a sync that has run, with its booking rules saved; its user id and
    the calendars' names in the state store."""
    user = store.create_user(EMAIL, "not a real hash", "professional", now)
    model = ws.Workspace(timezone=benchdata.TZID)
    for i in range(calendars):
        entry = ws.CalendarEntry(
            f"cal-{i}",
            "caldav",
            url=f"http://127.0.0.1:9/cal-{i}/",
            username="bench",
            email=[EMAIL],
            unified=True,
        )
        model = ws.add_calendar(model, entry)
    for i in range(1, calendars):  # each calendar copied into the first (a recruiter's clients into Personal), run once
        model = ws.add_sync(model, ws.SyncEntry(f"cal-{i}-to-cal-0", f"cal-{i}", "cal-0", "full"), "professional")
        run = store.start_run(ws.prefix(user.id) + f"cal-{i}-to-cal-0", now)
        store.finish_run(run, now, {}, None)
    store.save_workspace(user.id, ws.dump(model), now)
    settings = BookingSettings(
        zone=benchdata.TZID,
        hours={d: (time(8), time(18)) for d in WEEKDAYS},
        step_minutes=15,
        buffer_before_minutes=10,
        buffer_after_minutes=10,
        notice_hours=12,
        window_days=30,
        daily_limit=4,
    )
    save_settings(store, user.id, settings, now)
    return user.id, [ws.prefix(user.id) + f"cal-{i}" for i in range(calendars)]


def measure(name: str, request: Callable[[], list[Slot]], requests: int) -> tuple[list[Slot], float, float]:
    t0 = clock.perf_counter()
    slots = request()
    cold = clock.perf_counter() - t0
    print(f"{name}: cold request (expands every event once) {cold * 1000:.0f} ms, {len(slots)} slots")
    times = []
    for _ in range(requests):
        t0 = clock.perf_counter()
        again = request()
        times.append(clock.perf_counter() - t0)
        assert again == slots
    times_ms = sorted(t * 1000 for t in times)
    p50 = statistics.median(times_ms)
    p95 = times_ms[max(0, round(0.95 * len(times_ms)) - 1)]
    print(
        f"{name}: {requests} warm requests: min {times_ms[0]:.1f} ms, p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {times_ms[-1]:.1f} ms"
    )
    return slots, p50, p95


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--calendars", type=int, default=8)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    now = datetime.now(UTC).replace(second=30, microsecond=0)  # half a minute off any slot boundary: the moving clock crosses none
    with tempfile.TemporaryDirectory() as tmp:
        database_url = f"sqlite:///{Path(tmp, 'state.db').as_posix()}"
        store = SqlStore.open(database_url)
        try:
            t0 = clock.perf_counter()
            user_id, names = account(store, database_url, args.calendars, now)
            fill(store, args.events, names, now)
            print(
                f"setup: {args.events} events in {args.calendars} calendars stored in {clock.perf_counter() - t0:.1f} s"
            )
            recruiting = Recruiting(
                store,
                Vault(Vault.generate_key()),
                base_url="http://127.0.0.1:8000",
                mail_enabled=False,
                clock=lambda: now,
            )
            booker = Booker(store, recruiting, database_url=database_url, clock=lambda: now)
            rows = []
            for i in range(
                5
            ):  # the one asking, and four others already booked (busy, and in the daily limit)
                candidate = recruiting.add_candidate(
                    user_id, name=f"Candidate {i}", email=f"c{i}@example.test", client="Acme", role="Engineer"
                )
                row, _ = recruiting.send_request(
                    user_id, candidate.id, link_kind="booking_page", duration_minutes=45
                )
                rows.append(row)
            for i, row in enumerate(rows[1:]):
                start = now + timedelta(days=2, hours=i)
                recruiting.act(
                    user_id,
                    row.id,
                    Action.BOOK,
                    Actor.CANDIDATE,
                    starts_at=start,
                    ends_at=start + timedelta(minutes=45),
                )
            rules = load_settings(store, user_id).rules(timedelta(minutes=45))
            calendars = [(n, frozenset({EMAIL})) for n in names]
            booked = [now + timedelta(days=2, hours=h) for h in range(4)]
            cache = BusyCache()

            ticks = iter(range(10**9))

            def moving() -> datetime:
                """Each request a little later, as real ones come (the busy window stays the day's)."""
                return now + timedelta(milliseconds=next(ticks))

            def core() -> list[Slot]:
                return booking_slots(store, calendars, rules, now=moving(), booked=booked, cache=cache)[0]

            def page() -> list[Slot]:
                found = booker.availability(rows[0], moving())
                assert not found.problems and found.reason in ("", None), found.reason
                return found.slots

            measure("slots over the cache (unified.booking_slots)", core, args.requests)
            _, p50, p95 = measure(
                "the booking page's slots (Booker: setup, rules, other interviews)", page, args.requests
            )
        finally:
            store.close()
    print(
        f"slots for a month over {args.calendars} calendars, {args.events} events: p50 {p50:.1f} ms, p95 {p95:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
