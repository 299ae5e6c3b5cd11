"""Bookings noticed in the calendars: the candidate's interview appearing on a synced calendar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mirrorcal import ical
from mirrorcal.noticed import Noticed, Pending, noticed_bookings
from mirrorcal.store.base import CachedItem
from mirrorcal.store.memory import MemoryStore

SENT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
NOW = SENT + timedelta(hours=1)
FMT = "%Y%m%dT%H%M%SZ"


def item(uid: str, start: datetime, *, attendees: str = "", created: datetime | None = None, extra: str = "", marker: str | None = None) -> CachedItem:
    lines = [
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN", "BEGIN:VEVENT", f"UID:{uid}",
        f"DTSTAMP:{(created or SENT + timedelta(minutes=5)):{FMT}}",
        f"DTSTART:{start:{FMT}}", f"DTEND:{start + timedelta(minutes=45):{FMT}}", f"SUMMARY:{uid}",
    ]
    if created is not None:
        lines.append(f"CREATED:{created:{FMT}}")
    if marker:
        lines.append(f"X-MIRRORCAL-MIRROR:{marker}")
    lines += [a for a in attendees.split("|") if a] + [e for e in extra.split("|") if e] + ["END:VEVENT", "END:VCALENDAR"]
    text = "\r\n".join(lines) + "\r\n"
    return CachedItem(f"{uid}.ics", '"1"', uid, text, ical.content_hash(ical.parse_resource(text)), marker)


ANA = "ATTENDEE;CN=Ana;PARTSTAT=ACCEPTED:mailto:Ana@Example.test"
TUESDAY = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def test_a_booking_with_the_candidate_is_noticed_once_the_origin_winning_over_its_mirror() -> None:
    store = MemoryStore()
    store.apply_listing("client-a", [item("calendly-1", TUESDAY, attendees=ANA), item("other", TUESDAY)], [], None, True)
    store.apply_listing("personal", [item("copy", TUESDAY, attendees=ANA, marker="m1")], [], None, True)
    got = noticed_bookings(store, ["personal", "client-a"], [Pending(7, "ana@example.test", SENT)], now=NOW)
    assert got == [Noticed(7, "client-a", "calendly-1", "calendly-1", TUESDAY, TUESDAY + timedelta(minutes=45))]


def test_what_is_not_a_booking_by_the_candidate_after_the_request() -> None:
    store = MemoryStore()
    declined = "ATTENDEE;PARTSTAT=DECLINED:mailto:ana@example.test"
    items = [
        item("before", TUESDAY, attendees=ANA, created=SENT - timedelta(days=1)),  # booked before the request
        item("declined", TUESDAY, attendees=declined),
        item("over", NOW - timedelta(hours=2), attendees=ANA),  # already over
        item("cancelled", TUESDAY, attendees=ANA, extra="STATUS:CANCELLED"),
        item("free", TUESDAY, attendees=ANA, extra="TRANSP:TRANSPARENT"),
        item("mentions", TUESDAY, extra="DESCRIPTION:ask ana@example.test for feedback"),  # named, not invited
        item("bob", TUESDAY, attendees="ATTENDEE:mailto:bob@example.test"),
    ]
    store.apply_listing("client-a", items, [], None, True)
    pending = [Pending(1, "ana@example.test", SENT), Pending(2, "carol@example.test", SENT)]
    assert noticed_bookings(store, ["client-a"], pending, now=NOW) == []
    later = item("later", TUESDAY + timedelta(days=1), attendees=ANA)
    sooner = item("sooner", TUESDAY - timedelta(hours=1), attendees="ATTENDEE:mailto:bob@example.test")
    store.apply_listing("client-a", [later, sooner], [], None, False)
    got = noticed_bookings(store, ["client-a"], [*pending, Pending(3, "bob@example.test", SENT)], now=NOW)
    assert [(n.request_id, n.uid) for n in got] == [(1, "later"), (3, "sooner")]


def test_an_unreadable_item_is_skipped() -> None:
    store = MemoryStore()
    bad = CachedItem("bad.ics", None, "bad", "BEGIN:VCALENDAR\r\nmailto:ana@example.test\r\n", "", error="unreadable")
    store.apply_listing("client-a", [bad, item("ok", TUESDAY, attendees=ANA)], [], None, True)
    assert [n.uid for n in noticed_bookings(store, ["client-a"], [Pending(1, "ana@example.test", SENT)], now=NOW)] == ["ok"]
