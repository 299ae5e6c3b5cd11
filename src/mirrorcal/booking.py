"""Our own booking page: each account's booking settings, the slots it offers, and booking one.

A recruiter who sends an interview request with ``link_kind = "booking_page"`` lets the candidate
pick a time at ``/b/{token}``. This module is that page's engine; ``web/booking_page.py`` only maps
it to HTTP.

- ``BookingSettings`` are the account's rules (working hours in the recruiter's zone, the slot
  grid, buffers, minimum notice, a rolling window, a daily limit) and the calendar bookings are
  written to. Stored as JSON (``Store.booking_settings``); ``load_settings`` gives the defaults
  (in the account's own zone) when none were saved. ``parse_form`` reads the settings form and
  raises ``BookingError`` naming every bad field (``errors``: field -> message).
- ``Booker.availability``/``slots`` list what a request may book: ``slots.free_slots`` over the
  busy time of every unified calendar of the account as the state store caches it (nothing is
  fetched) plus the times of the account's other interviews that are scheduled or booked but
  not confirmed (busy at once, before any sync carries them into a calendar; with the buffers
  around them too, so two interviews keep the buffers between them either way round), with
  those bookings counted toward the daily limit. The request's own earlier booking (being
  rescheduled) is not busy. No slot is offered before the account's syncs have run once (its
  calendars would look free), nor without a calendar to write to.
- ``Booker.book`` books one start for a request. Per account one booking at a time (a lock that
  holds across threads and event loops, so it works for every way the app is served): the
  request is read again, must still be waiting for a booking, the slots are computed again and
  the start must be one of them (else ``SlotTaken``): so of two candidates racing for one slot
  (or overlapping ones) exactly one wins. The event goes to the booking calendar through the
  calendar's adapter (the candidate as attendee, the account's e-mail as organizer), then the
  request moves (``Action.BOOK`` by the candidate: scheduled, how ``booking_page``, with the
  calendar's name without the account's ``u{id}.`` (as ``Recruiting.notice`` stores it) and
  the event's UID ``mirrorcal-booking-{request id}-{request version}@mirrorcal``). If that
  move is refused (someone else moved the request first), the event is deleted again and the
  refusal raised. ``poke`` then asks the sync worker to run the account's syncs, which carry
  the event out as Busy to the clients. The lock is the process's: one app process serves
  the booking pages of a database (as ``mirrorcal web`` runs it).
- ``Booker.cancel`` cancels (or asks to reschedule) a request as the candidate or the recruiter:
  the move first (refused moves change nothing and touch no calendar), then a booking-page
  event is deleted (one already gone is fine; one that cannot be deleted is logged and noted
  in the chat thread, in words naming no calendar).

Times are aware; slots and bookings are UTC.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import re
import threading
import time as monotonic
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from . import workspace as ws
from .bootstrap import Credentials, build_calendar
from .config import CalendarConfig, Config, OAuthConfig
from .errors import AlreadyExistsError, ConfigError, MirrorcalError, NotFoundError, ProviderError
from .interviews import Action, Actor, How, State, TransitionRefused, apply, describe
from .model import Attendee, Component, Event, Privacy
from .providers.base import Calendar
from .recruiting import DEFAULT_ZONE, Recruiting, as_request, setup_zone
from .slots import WEEKDAYS, BookingRules, RulesError, Slot, free_slots
from .store.base import CandidateRow, InterviewRow, Store
from .unified import BusyCache, booking_window, busy_blocks

log = logging.getLogger(__name__)

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
STEP_MINUTES = (5, 240)
BUFFER_MINUTES = (0, 240)
NOTICE_HOURS = (0, 720)
WINDOW_DAYS = (1, 366)
DAILY_LIMIT = (1, 48)
"""The ranges the settings form accepts (inclusive)."""
OPEN_STATES = (State.REQUESTED, State.BOOKED_UNCONFIRMED, State.RESCHEDULING)
"""A request in one of these may book a slot."""
BUSY_STATES = (State.SCHEDULED.value, State.BOOKED_UNCONFIRMED.value)
"""Another interview in one of these (with a time) makes its time busy."""
UID_PREFIX = "mirrorcal-booking-"
TAKEN = "That time was just taken — pick another."
LOCK_TIMEOUT = 30.0
"""Seconds a booking waits for the account's previous one before giving up."""
_TIME = re.compile(r"(\d{1,2}):(\d{2})")


class BookingError(MirrorcalError):
    """Bad booking settings or a booking that cannot be made; ``field`` names the form field
    (``errors`` holds every bad field with its message when a whole form was read)."""

    def __init__(self, field: str, message: str, errors: Mapping[str, str] | None = None) -> None:
        self.field = field
        self.message = message
        self.errors = dict(errors) if errors else {field: message}
        super().__init__(message)


class SlotTaken(MirrorcalError):
    """The start asked for is not (or no longer) one of the request's free slots."""

    def __init__(self, message: str = TAKEN) -> None:
        super().__init__(message)


# settings ---------------------------------------------------------------------------------------
@functools.cache
def zone_names() -> tuple[str, ...]:
    """Every IANA zone a settings form or a candidate may choose, sorted."""
    return tuple(sorted(z for z in available_timezones() if not z.startswith(("posix/", "right/")) and z != "localtime"))


def zone_of(name: str) -> ZoneInfo | None:
    """The zone ``name`` names exactly (one of ``zone_names()``), else None."""
    return ZoneInfo(name) if name in zone_names() else None


def _default_hours() -> dict[int, tuple[time, time]]:
    return {d: (time(9), time(17)) for d in WEEKDAYS}


@dataclass(frozen=True)
class BookingSettings:
    """An account's booking page. ``calendar`` is the (un-namespaced) calendar bookings are
    written to; "" picks the default: the first calendar a full-details sync writes to, else
    the first writable unified one. ``hours`` maps a weekday (0 = Monday) to its opening and
    closing times in ``zone``; days not in it are closed. ``daily_limit`` None: no limit."""

    calendar: str = ""
    zone: str = DEFAULT_ZONE
    hours: dict[int, tuple[time, time]] = field(default_factory=_default_hours)
    step_minutes: int = 15
    buffer_before_minutes: int = 0
    buffer_after_minutes: int = 15
    notice_hours: int = 12
    window_days: int = 21
    daily_limit: int | None = 4

    def problems(self) -> dict[str, str]:
        """What is wrong, by form field (empty: nothing)."""
        found: dict[str, str] = {}
        if len(self.calendar) > 200:
            found["calendar"] = "The calendar's name is too long."
        if zone_of(self.zone) is None:
            found["zone"] = f"{self.zone[:60]!r} is not a time zone: pick one from the list, like Europe/Berlin."
        for name, value, (lo, hi), unit in (
            ("step_minutes", self.step_minutes, STEP_MINUTES, "minutes"),
            ("buffer_before_minutes", self.buffer_before_minutes, BUFFER_MINUTES, "minutes"),
            ("buffer_after_minutes", self.buffer_after_minutes, BUFFER_MINUTES, "minutes"),
            ("notice_hours", self.notice_hours, NOTICE_HOURS, "hours"),
            ("window_days", self.window_days, WINDOW_DAYS, "days"),
        ):
            if not lo <= value <= hi:
                found[name] = f"Enter a whole number of {unit} from {lo} to {hi}."
        if self.daily_limit is not None and not DAILY_LIMIT[0] <= self.daily_limit <= DAILY_LIMIT[1]:
            found["daily_limit"] = f"Enter a number of interviews from {DAILY_LIMIT[0]} to {DAILY_LIMIT[1]}, or leave it empty for no limit."
        for day, (opens, closes) in sorted(self.hours.items()):
            if not 0 <= day <= 6:
                found["hours"] = f"{day} is not a weekday number (0 = Monday … 6 = Sunday)."
            elif closes <= opens:
                found[f"closes{day}"] = f"On {DAY_NAMES[day]}s the day must close after it opens ({opens:%H:%M})."
        if not self.hours:
            found["hours"] = "Open at least one day of the week."
        return found

    def checked(self) -> BookingSettings:
        """These settings; raises ``BookingError`` (every problem in ``errors``) when any is wrong."""
        found = self.problems()
        if found:
            first = next(iter(found))
            raise BookingError(first, found[first], found)
        return self

    def rules(self, duration: timedelta) -> BookingRules:
        """The slot rules for an interview of ``duration``; raises ``BookingError`` for bad settings."""
        self.checked()
        try:
            return BookingRules(
                zone=ZoneInfo(self.zone),
                duration=duration,
                step=timedelta(minutes=self.step_minutes),
                hours=dict(self.hours),
                buffer_before=timedelta(minutes=self.buffer_before_minutes),
                buffer_after=timedelta(minutes=self.buffer_after_minutes),
                notice=timedelta(hours=self.notice_hours),
                window_days=self.window_days,
                daily_limit=self.daily_limit,
            )
        except RulesError as exc:
            raise BookingError("settings", str(exc)) from exc

    def to_json(self) -> str:
        data: dict[str, Any] = asdict(self)
        data["hours"] = {str(d): [o.strftime("%H:%M"), c.strftime("%H:%M")] for d, (o, c) in sorted(self.hours.items())}
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> BookingSettings:
        """Settings stored by ``to_json`` (missing keys take their defaults); raises
        ``BookingError`` ("settings") for text that is not such settings."""
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise ValueError("not an object")
            known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
            for key in ("calendar", "zone"):
                if key in known and not isinstance(known[key], str):
                    raise ValueError(f"{key} is not text")
            for key in ("step_minutes", "buffer_before_minutes", "buffer_after_minutes", "notice_hours", "window_days"):
                if key in known and (type(known[key]) is not int):
                    raise ValueError(f"{key} is not a whole number")
            if known.get("daily_limit") is not None and type(known["daily_limit"]) is not int:
                raise ValueError("daily_limit is not a whole number")
            if "hours" in known:
                known["hours"] = {int(d): (_clock(o), _clock(c)) for d, (o, c) in dict(known["hours"]).items()}
            settings = cls(**known)
        except (ValueError, TypeError, AttributeError) as exc:
            raise BookingError("settings", f"the stored booking settings cannot be read ({exc}); save them again") from exc
        return settings.checked()


def _clock(text: object) -> time:
    """``HH:MM`` as a time; raises ValueError."""
    match = _TIME.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{str(text)[:20]!r} is not a time like 09:30")
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        raise ValueError(f"{text!r} is not a time of day")
    return time(hour, minute)


def load_settings(store: Store, user_id: int) -> BookingSettings:
    """The account's saved settings; the defaults (in the account's own zone when its setup names
    one) when it never saved any. Raises ``BookingError`` when the stored text cannot be read."""
    text = store.booking_settings(user_id)
    if text is not None:
        return BookingSettings.from_json(text)
    own = setup_zone(store, user_id)
    return BookingSettings(zone=own if own and zone_of(own) is not None else DEFAULT_ZONE)


def save_settings(store: Store, user_id: int, settings: BookingSettings, at: datetime) -> None:
    """Store ``settings`` (checked first: raises ``BookingError``)."""
    store.save_booking_settings(user_id, settings.checked().to_json(), at)


def parse_form(form: Mapping[str, str], calendars: Sequence[str]) -> BookingSettings:
    """The settings form as settings. ``calendars`` are the account's writable calendars (the
    choices besides "" for the default). Fields: ``calendar``, ``zone``, per weekday ``d``
    (0 = Monday) ``day{d}`` ("on" when open), ``opens{d}`` and ``closes{d}`` (HH:MM),
    ``step_minutes``, ``buffer_before_minutes``, ``buffer_after_minutes``, ``notice_hours``,
    ``window_days`` and ``daily_limit`` (empty: no limit). Raises ``BookingError`` with every
    bad field in ``errors``."""
    errors: dict[str, str] = {}
    calendar = form.get("calendar", "").strip()
    if calendar and calendar not in calendars:
        errors["calendar"] = "Choose one of your calendars that mirrorcal can write to (or the default)."
    hours: dict[int, tuple[time, time]] = {}
    for day in range(7):
        if form.get(f"day{day}", "") != "on":
            continue
        moments: list[time] = []
        for key in (f"opens{day}", f"closes{day}"):
            try:
                moments.append(_clock(form.get(key, "")))
            except ValueError:
                which = "opening" if key.startswith("opens") else "closing"
                errors[key] = f"Enter {DAY_NAMES[day]}'s {which} time as hours and minutes, like 09:00."
        if len(moments) == 2:
            hours[day] = (moments[0], moments[1])
    numbers: dict[str, int] = {}
    for name, what in (
        ("step_minutes", "minutes between slot starts"),
        ("buffer_before_minutes", "minutes of buffer before an interview"),
        ("buffer_after_minutes", "minutes of buffer after an interview"),
        ("notice_hours", "hours of notice"),
        ("window_days", "days ahead"),
    ):
        raw = form.get(name, "").strip()
        if not re.fullmatch(r"\d{1,6}", raw):
            errors[name] = f"Enter the {what} as a whole number."
        else:
            numbers[name] = int(raw)
    limit: int | None = None
    raw_limit = form.get("daily_limit", "").strip()
    if raw_limit:
        if re.fullmatch(r"\d{1,6}", raw_limit):
            limit = int(raw_limit)
        else:
            errors["daily_limit"] = "Enter the most interviews a day as a whole number, or leave it empty for no limit."
    settings = BookingSettings(calendar=calendar, zone=form.get("zone", "").strip(), hours=hours, daily_limit=limit, **numbers)
    if not any(form.get(f"day{d}", "") == "on" for d in range(7)):
        errors["hours"] = "Open at least one day of the week."
    for key, message in settings.problems().items():
        errors.setdefault(key, message)
    if errors:
        first = next(iter(errors))
        raise BookingError(first, errors[first], errors)
    return settings


# slots and bookings -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Availability:
    """What a request (or the settings' preview) may book, and why nothing when nothing.

    ``reason`` is for the recruiter (it may name a calendar); candidates get a plain sentence.
    ``problems`` are cached items that could not be read (their busy time is unknown)."""

    slots: list[Slot]
    settings: BookingSettings | None = None
    reason: str = ""
    problems: list[str] = field(default_factory=list)
    calendar: CalendarConfig | None = None
    config: Config | None = field(default=None, repr=False)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Booker:
    """Slots and bookings of every account's booking page over ``store`` (see the module docstring).

    ``database_url`` and ``oauth`` make each account's runtime configuration (as the sync worker
    does); ``poke(user_id)`` is called after a booking or cancellation so the account's syncs
    run soon (the app passes its worker's ``poke``). ``clock`` is now, aware.
    """

    def __init__(
        self,
        store: Store,
        recruiting: Recruiting,
        *,
        database_url: str,
        oauth: Mapping[str, OAuthConfig] | None = None,
        poke: Callable[[int], None] | None = None,
        clock: Callable[[], datetime] = _utc_now,
        lock_timeout: float = LOCK_TIMEOUT,
    ) -> None:
        self.store = store
        self.recruiting = recruiting
        self.database_url = database_url
        self.oauth = dict(oauth or {})
        self.poke = poke
        self.clock = clock
        self.lock_timeout = lock_timeout
        self._guard = threading.Lock()
        self._locks: dict[int, threading.Lock] = {}
        self._caches: dict[int, BusyCache] = {}

    # reading ----------------------------------------------------------------------------------
    def config(self, user_id: int) -> Config | None:
        """The account's runtime configuration; None without a setup. Raises ``BookingError``
        when the setup cannot be read."""
        text = self.store.workspace(user_id)
        if not text:
            return None
        try:
            return ws.runtime_config(text, user_id, self.database_url, self.oauth)
        except ConfigError as exc:
            raise BookingError("calendar", "your setup cannot be read right now (see Calendars and Syncs)") from exc

    def writable_calendars(self, user_id: int) -> list[str]:
        """The account's calendars a booking can be written to (un-namespaced names, in setup order)."""
        config = self.config(user_id)
        if config is None:
            return []
        return [ws.unprefixed(name, user_id) for name, cfg in config.calendars.items() if cfg.writable]

    def target(self, user_id: int, config: Config, settings: BookingSettings) -> CalendarConfig:
        """The calendar bookings go to (see ``BookingSettings.calendar``); raises ``BookingError``."""
        if settings.calendar:
            cfg = config.calendars.get(ws.prefix(user_id) + settings.calendar)
            if cfg is None:
                raise BookingError("calendar", f"the booking calendar {settings.calendar!r} is no longer in your setup: choose another")
            if not cfg.writable:
                raise BookingError("calendar", f"the booking calendar {settings.calendar!r} is read-only: choose another")
            return cfg
        for sync in config.syncs:
            cfg = config.calendars.get(sync.target)
            if sync.privacy is Privacy.FULL and cfg is not None and cfg.writable:
                return cfg
        for cfg in config.calendars.values():
            if cfg.unified and cfg.writable:
                return cfg
        raise BookingError("calendar", "none of your calendars can take a booking: add one mirrorcal can write to")

    def availability(self, row: InterviewRow, now: datetime | None = None) -> Availability:
        """The slots ``row`` may book now (its own length; the account's other interviews busy)."""
        return self._availability(row.user_id, timedelta(minutes=row.duration_minutes), row.id, now or self.clock())

    def slots(self, row: InterviewRow, now: datetime | None = None) -> list[Slot]:
        return self.availability(row, now).slots

    def expanded(self, user_id: int) -> int:
        """How many of the account's items the booking page keeps expanded (0 before its first request)."""
        with self._guard:
            cache = self._caches.get(user_id)
        return len(cache) if cache is not None else 0

    def preview(self, user_id: int, duration: timedelta = timedelta(minutes=45), now: datetime | None = None) -> Availability:
        """What the account's booking page offers an interview of ``duration`` (the settings page)."""
        return self._availability(user_id, duration, None, now or self.clock())

    def _availability(self, user_id: int, duration: timedelta, own_id: int | None, now: datetime) -> Availability:
        try:
            settings = load_settings(self.store, user_id)
            rules = settings.rules(duration)
            config = self.config(user_id)
        except BookingError as exc:
            return Availability([], reason=exc.message)
        if config is None:
            return Availability([], settings, "there are no calendars in your setup yet")
        try:
            target = self.target(user_id, config, settings)
        except BookingError as exc:
            return Availability([], settings, exc.message, config=config)
        unified = [(name, cfg.emails) for name, cfg in config.calendars.items() if cfg.unified]
        # Calendars are read by the syncs: busy time is known only for calendars a running sync
        # reads or writes, once it has run. Until then offering slots would offer busy time.
        reads: dict[str, list[str]] = {}
        for spec in config.syncs:
            if not spec.paused:
                for name in (spec.source, spec.target):
                    reads.setdefault(name, []).append(spec.name)
        unread = [ws.unprefixed(name, user_id) for name, _ in unified if name not in reads]
        if unread:
            reason = (
                f"the calendar {unread[0]!r} is in no running sync, so mirrorcal does not read it and its busy time "
                "is unknown: add it to a sync (or resume its paused sync) and slots are offered once it has run"
            )
            return Availability([], settings, reason, calendar=target, config=config)
        if any(all(self.store.last_run(s) is None for s in reads[name]) for name, _ in unified):
            reason = "your calendars have not been read yet: slots are offered after your syncs first run"
            return Availability([], settings, reason, calendar=target, config=config)
        with self._guard:
            cache = self._caches.setdefault(user_id, BusyCache())
        start, end = booking_window(now, rules.window_days)
        blocks, problems = busy_blocks(self.store, unified, start=start, end=end, tz=rules.zone, cache=cache)
        own = None if own_id is None else f"{UID_PREFIX}{own_id}-"
        busy = [(b.start, b.end) for b in blocks if own is None or not b.root.split("/", 1)[-1].startswith(own)]
        booked: list[datetime] = []
        for other in self.store.interviews(user_id):
            if other.id != own_id and other.state in BUSY_STATES and other.starts_at and other.ends_at:
                busy.append((other.starts_at - rules.buffer_before, other.ends_at + rules.buffer_after))
                booked.append(other.starts_at)
        found = free_slots(busy, rules, now=now, booked=booked)
        shown = [ws.unprefixed(p, user_id) for p in problems]
        for problem in shown:
            log.warning("booking slots of account %s: %s", user_id, problem)
        return Availability(found, settings, problems=shown, calendar=target, config=config)

    # writing ----------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _account_lock(self, user_id: int) -> AsyncIterator[None]:
        """One booking at a time per account. A thread lock polled without blocking: page
        handlers may run on different event loops (a test client makes one per request) and
        threads, and waiting never blocks the loop; a cancelled waiter holds nothing."""
        with self._guard:
            lock = self._locks.setdefault(user_id, threading.Lock())
        deadline = monotonic.monotonic() + self.lock_timeout
        while not lock.acquire(blocking=False):
            if monotonic.monotonic() > deadline:
                raise BookingError("start", "Many bookings are being made right now: please try again in a moment.")
            await asyncio.sleep(0.005)
        try:
            yield
        finally:
            lock.release()

    async def book(self, row: InterviewRow, candidate: CandidateRow, start: datetime) -> InterviewRow:
        """Book the slot starting at ``start`` for request ``row`` (see the module docstring).

        Raises ``SlotTaken`` when ``start`` is not one of the request's free slots now,
        ``TransitionRefused`` when the request is not waiting for a booking (or uses another
        scheduling link), ``BookingError`` when nothing can be booked (no calendar, the calendar
        cannot be written: the message is fit for the candidate) and ``LookupError`` for a
        request that is gone."""
        if start.tzinfo is None:
            raise BookingError("start", "The time must name its time zone.")
        start = start.astimezone(UTC)
        async with self._account_lock(row.user_id):
            fresh = await asyncio.to_thread(self.store.interview, row.user_id, row.id)
            if fresh is None:
                raise LookupError(f"no interview request {row.id}")
            bookable(fresh)
            found = await asyncio.to_thread(self.availability, fresh)
            slot = next((s for s in found.slots if s.start == start), None)
            if slot is None or found.calendar is None or found.config is None:
                raise SlotTaken()
            user = self.store.user(fresh.user_id)
            event = self._event(fresh, candidate, slot, user.email if user else "")
            credentials = Credentials(found.config, self.store)
            try:
                calendar = build_calendar(found.calendar, credentials)
                await self._write(calendar, event, fresh.user_id)
                try:
                    moved = await asyncio.to_thread(
                        self.recruiting.act, fresh.user_id, fresh.id, Action.BOOK, Actor.CANDIDATE,
                        starts_at=slot.start, ends_at=slot.end, booking_calendar=ws.unprefixed(found.calendar.name, fresh.user_id), booking_uid=event.uid,
                        version=fresh.version,
                    )  # fmt: skip
                except Exception:
                    # Undo the write unless the move landed after all (it is saved before its
                    # transition, note and mails are written, which may be what failed).
                    landed = await asyncio.to_thread(self.store.interview, fresh.user_id, fresh.id)
                    if landed is None or landed.booking_uid != event.uid:
                        await self._delete(calendar, event.uid, fresh)
                    raise
            finally:
                await credentials.aclose()
        if self.poke is not None:
            self.poke(fresh.user_id)
        return moved

    def _event(self, row: InterviewRow, candidate: CandidateRow, slot: Slot, organizer: str) -> Event:
        lines = [row.message.strip()] if row.message.strip() else []
        lines.append(f"Candidate: {candidate.name} <{candidate.email}>, for {candidate.role} at {candidate.client}.")
        try:
            lines.append(f"The candidate's page (to reschedule or cancel): {self.recruiting.link(row)}")
        except MirrorcalError as exc:  # the vault cannot open the link: the booking stands without it
            log.warning("booking of request %s: no link in the event: %s", row.id, exc)
        lines.append("Booked on the mirrorcal booking page.")
        now = self.clock().astimezone(UTC).replace(microsecond=0)
        component = Component(
            start=slot.start,
            end=slot.end,
            summary=f"Interview: {candidate.name} ({candidate.role}, {candidate.client})",
            description="\n\n".join(lines),
            organizer=organizer,
            attendees=(Attendee(candidate.email, candidate.name, "NEEDS-ACTION"),),
            created=now,
            last_modified=now,
        )
        return Event(uid=f"{UID_PREFIX}{row.id}-{row.version}@mirrorcal", components=(component,))

    async def _write(self, calendar: Calendar, event: Event, user_id: int) -> None:
        try:
            try:
                await calendar.create(event)
            except AlreadyExistsError:  # an earlier attempt of this very booking left it: ours to replace
                await calendar.update(calendar.href_for(event.uid), event, None)
        except ProviderError as exc:
            log.warning("booking for account %s: %s: %s", user_id, ws.unprefixed(calendar.name, user_id), exc)
            raise BookingError(
                "start", "The time could not be booked right now (the calendar did not answer). Please try again in a moment."
            ) from exc

    async def _delete(self, calendar: Calendar, uid: str, row: InterviewRow) -> bool:
        """Delete our booking event ``uid``; True when it is gone. A failure is logged and noted
        in the chat thread (no calendar named: the candidate reads the thread too)."""
        try:
            await calendar.delete(calendar.href_for(uid), None)
        except NotFoundError:
            return True
        except ProviderError as exc:
            log.warning("request %s: the booking %s could not be deleted from %s: %s", row.id, uid, calendar.name, exc)
            note = "The booked time could not be removed from the recruiter's calendar; the recruiter removes it by hand."
            with contextlib.suppress(MirrorcalError):
                self.store.add_message(row.user_id, row.candidate_id, Actor.SYSTEM.value, note, self.clock(), row.id)
            return False
        return True

    async def cancel(self, row: InterviewRow, *, actor: Actor, reschedule: bool) -> InterviewRow:
        """Cancel the request (or ask to reschedule it) as ``actor``: ``close`` with CANCEL or RESCHEDULE."""
        return await self.close(row, Action.RESCHEDULE if reschedule else Action.CANCEL, actor)

    async def close(self, row: InterviewRow, action: Action, actor: Actor, *, reason: str = "") -> InterviewRow:
        """Take ``action`` as ``actor`` and, when it gives up the booked time (cancel, reschedule,
        decline, reject), delete the booking-page event behind it. The move is made on the
        request as read here (``version``): if it moved on meanwhile (a new booking), the move
        is refused (``RaceLost``) and no event is touched. Raises ``TransitionRefused``
        (nothing changed, no calendar touched) when the move is not allowed, ``LookupError`` for
        a request that is gone."""
        fresh = await asyncio.to_thread(self.store.interview, row.user_id, row.id)
        if fresh is None:
            raise LookupError(f"no interview request {row.id}")
        apply(as_request(fresh), action, actor, self.clock(), reason=reason or "-")  # refuses before anything changes
        moved = await asyncio.to_thread(
            lambda: self.recruiting.act(fresh.user_id, fresh.id, action, actor, reason=reason, version=fresh.version)
        )
        if action in RELEASING:
            await self.release(fresh)
        return moved

    async def release(self, row: InterviewRow) -> None:
        """Delete the booking-page event behind ``row``, if it has one (for a request closed or
        deleted: its time is free again)."""
        if row.how == How.BOOKING_PAGE.value and row.booking_uid.startswith(UID_PREFIX) and row.booking_calendar:
            await self._remove(row)

    async def _remove(self, row: InterviewRow) -> None:
        try:
            config = self.config(row.user_id)
        except BookingError:
            config = None
        cfg = config.calendars.get(ws.prefix(row.user_id) + row.booking_calendar) if config is not None else None
        if config is None or cfg is None:
            log.warning("request %s: calendar %s of its booking is no longer set up", row.id, row.booking_calendar)
            return
        credentials = Credentials(config, self.store)
        try:
            await self._delete(build_calendar(cfg, credentials), row.booking_uid, row)
        except MirrorcalError as exc:  # a calendar that cannot even be built (a missing connection)
            log.warning("request %s: its booking could not be deleted: %s", row.id, exc)
        finally:
            await credentials.aclose()
        if self.poke is not None:
            self.poke(row.user_id)


RELEASING = frozenset({Action.CANCEL, Action.RESCHEDULE, Action.DECLINE, Action.REJECT})
"""The moves that give up a booked time (hire and advance keep it: the interview took place)."""


def bookable(row: InterviewRow) -> None:
    """Raise ``TransitionRefused`` unless ``row`` is a booking-page request waiting for a booking."""
    if row.link_kind != "booking_page":
        raise TransitionRefused("this interview is booked through its own scheduling link, not this page")
    state = State(row.state)
    if state not in OPEN_STATES:
        raise TransitionRefused(f"cannot book a slot: the interview is {describe(state)}")
