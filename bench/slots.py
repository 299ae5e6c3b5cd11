"""Booking-page slots for a month over 8 calendars holding 5,000 events (recurring ones included).

The events are the caldav bench's mix (``benchdata.generate``: 85 % single, 10 % weekly series with
an EXDATE and a moved occurrence, 5 % all-day), spread over 8 calendars in a real SQLite state
store, as the sync engine leaves its cache. Each measured request is what the booking page does:
read the 8 calendars' cached items, expand them to busy blocks (through the long-lived
``BusyCache``, as the web app keeps one), and list every free slot of the next 30 days under
working hours, buffers, notice and a daily limit. The first (cold) request is reported apart.

    .venv/bin/python bench/slots.py [--events 5000] [--calendars 8] [--requests 200]

The last line reads ``slots for a month over 8 calendars, 5000 events: p50 X ms, p95 Y ms``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time as clock
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import benchdata

from mirrorcal import ical
from mirrorcal.slots import WEEKDAYS, BookingRules
from mirrorcal.store.base import CachedItem
from mirrorcal.store.sql import SqlStore
from mirrorcal.unified import BusyCache, booking_slots

PAST_DAYS, AHEAD_DAYS = 600, 150
"""benchdata puts every event within 120 days; here they are spread from 600 days back to 150
days ahead (a long-kept calendar), so the coming month holds about 200 of them: a busy
recruiter who still has slots to offer."""


def fill(store: SqlStore, events: int, calendars: int, now: datetime) -> list[str]:
    rng = random.Random(8)
    specs = [
        replace(s, start=s.start + shift, end=s.end + shift)
        for s in benchdata.generate(events, now.date())
        for shift in [timedelta(days=rng.randint(-PAST_DAYS, AHEAD_DAYS - benchdata.HORIZON_DAYS))]
    ]
    names = [f"cal-{i}" for i in range(calendars)]
    per: dict[str, list[CachedItem]] = {n: [] for n in names}
    for i, spec in enumerate(specs):
        text = benchdata.render(spec, now)
        if spec.kind == "allday":  # all-day markers are free, as Google and Outlook make them by default
            text = text.replace("TRANSP:OPAQUE", "TRANSP:TRANSPARENT")
        event = ical.parse_resource(text)
        per[names[i % calendars]].append(CachedItem(spec.href_name, f'"{i}"', spec.uid, text, ical.content_hash(event)))
    for name, items in per.items():
        store.apply_listing(name, items, [], f"cursor-{name}", True)
    return names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--calendars", type=int, default=8)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    zone = ZoneInfo(benchdata.TZID)
    now = datetime.now(UTC).replace(microsecond=0)
    rules = BookingRules(
        zone=zone,
        duration=timedelta(minutes=45),
        step=timedelta(minutes=15),
        hours={d: (time(8), time(18)) for d in WEEKDAYS},
        buffer_before=timedelta(minutes=10),
        buffer_after=timedelta(minutes=10),
        notice=timedelta(hours=12),
        window_days=30,
        daily_limit=4,
    )
    with tempfile.TemporaryDirectory() as tmp:
        store = SqlStore.open(f"sqlite:///{Path(tmp, 'state.db').as_posix()}")
        try:
            t0 = clock.perf_counter()
            names = fill(store, args.events, args.calendars, now)
            print(f"setup: {args.events} events in {args.calendars} calendars stored in {clock.perf_counter() - t0:.1f} s")
            calendars = [(n, frozenset({"recruiter@example.test"})) for n in names]
            cache = BusyCache()
            booked = [now + timedelta(days=2, hours=h) for h in range(4)]
            t0 = clock.perf_counter()
            slots, problems = booking_slots(store, calendars, rules, now=now, booked=booked, cache=cache)
            cold = clock.perf_counter() - t0
            print(f"cold request (expands every event once): {cold * 1000:.0f} ms; {len(slots)} slots, {len(problems)} problems")
            times = []
            for _ in range(args.requests):
                t0 = clock.perf_counter()
                again, _ = booking_slots(store, calendars, rules, now=now, booked=booked, cache=cache)
                times.append(clock.perf_counter() - t0)
                assert again == slots
        finally:
            store.close()
    times_ms = sorted(t * 1000 for t in times)
    p50 = statistics.median(times_ms)
    p95 = times_ms[max(0, round(0.95 * len(times_ms)) - 1)]
    print(f"{args.requests} warm requests: min {times_ms[0]:.1f} ms, max {times_ms[-1]:.1f} ms")
    print(f"slots for a month over {args.calendars} calendars, {args.events} events: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
