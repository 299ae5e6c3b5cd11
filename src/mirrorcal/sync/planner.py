"""The pure planner: from a sync's source events, its mirror table and its target, the actions to take.

No I/O, no clock, no randomness: ``now`` and the mirror-id key are passed in. The decision
table, per origin key (see ``plan``):

=========================  ===============  ===========================  =========================
source                     mirror row       on target                    action
=========================  ===============  ===========================  =========================
eligible                   none             -                            Create
eligible                   pending          -                            Create (finish it)
eligible                   active           gone                         Create (restore) / Forget
eligible                   active           etag differs from ours       Update (restore) / nothing
eligible, changed          active           as we wrote it               Update
eligible, unchanged        active           as we wrote it               nothing
eligible                   forgotten        -                            nothing (stays deleted)
ineligible (filter, echo)  active           present                      Delete
ineligible: in the past    active           -                            nothing (history is kept)
absent                     active           present                      Delete
absent                     active           gone                         Drop (row only)
absent / ineligible        forgotten        -                            Drop (row only)
absent / ineligible        pending          -                            Delete (whatever landed)
=========================  ===============  ===========================  =========================

A "pending" row is written just before a create is sent and replaced when it returns: one left
over means the create may have landed without its answer being recorded (a crash, a timeout),
so it is finished, or deleted if its origin has gone meanwhile; never left as an orphan.

"restore" / "forget" is the sync's ``on_target_delete``: the seed FAQ says deleting a mirror on
a one-way target never touches the source; by default the next run puts the mirror back (the
interview still exists), with "forget" the recruiter's deletion stands.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .. import ical
from ..model import Component, Event, Privacy, as_utc
from ..store.base import MirrorRow
from .privacy import private_copy
from .spec import SyncSpec


@dataclass(frozen=True, slots=True)
class SourceEvent:
    """One event of the source calendar, with where it really came from.

    ``key`` names it within the calendar (uid, plus ``#recurrence`` for an orphan override).
    ``origin_calendar`` / ``origin_client`` / ``root_key`` follow mirror chains back to the
    calendar where the event was created; ``path`` holds every calendar the event passed
    through on its way here (origin included, this calendar excluded); ``unknown_mirror`` is
    True for an event carrying a marker no sync of ours wrote (never copied: it could echo).
    """

    key: str
    href: str
    event: Event
    content_hash: str
    origin_calendar: str
    origin_client: str | None
    root_key: str
    unknown_mirror: bool = False
    path: frozenset[str] = frozenset()


class _Writes:
    """What Create and Update share: the mirror to write, built on first use.

    Building a full copy is the costliest step of a plan, so it is deferred until the engine
    applies the action: the engine then builds one mirror while the previous write is in
    flight instead of building all of them before the first write. Deterministic all the same.
    """

    spec: SyncSpec
    uid: str
    source: SourceEvent

    @property
    def mirror(self) -> Event:
        built = self.__dict__.get("_mirror")
        if built is None:
            built = build_mirror(self.spec, self.source.event, self.uid)
            object.__setattr__(self, "_mirror", built)
        return built


@dataclass(frozen=True)
class Create(_Writes):
    key: str
    spec: SyncSpec = field(repr=False)
    uid: str
    source_hash: str
    source: SourceEvent
    reason: str


@dataclass(frozen=True)
class Update(_Writes):
    key: str
    href: str
    etag: str | None
    spec: SyncSpec = field(repr=False)
    uid: str
    source_hash: str
    source: SourceEvent
    reason: str


@dataclass(frozen=True, slots=True)
class Delete:
    key: str
    href: str
    etag: str | None
    reason: str
    summary: str = ""


@dataclass(frozen=True, slots=True)
class Drop:
    """Forget a mirror row without touching the target (it is already gone there)."""

    key: str
    reason: str
    forget: bool = False
    """True: keep the row as "forgotten" (on_target_delete = forget) instead of deleting it."""


@dataclass(frozen=True, slots=True)
class Skip:
    key: str
    reason: str
    summary: str = ""


Action = Create | Update | Delete | Drop | Skip


def mirror_uid(key: bytes, sync: str, origin_key: str) -> str:
    """The mirror's id: a keyed hash of sync + origin key, in lower-case base32hex.

    Deterministic (a re-run after a crash finds the mirror it already wrote), opaque (reveals
    neither the sync nor the origin) and a valid Google event id (a-v, 0-9).
    """
    digest = hashlib.blake2b(f"{sync}\x1f{origin_key}".encode(), key=key, digest_size=20).digest()
    return base64.b32hexencode(digest).decode().rstrip("=").lower()


def source_hash(spec: SyncSpec, content_hash: str) -> str:
    """What the mirror depends on: the source's content hash and the sync's settings."""
    return hashlib.sha256(f"{content_hash}|{spec.settings_hash}".encode()).hexdigest()[:32]


def build_mirror(spec: SyncSpec, event: Event, uid: str) -> Event:
    """The mirror of ``event`` under ``spec``'s privacy mode, showing as ``spec.shows_as``; the
    marker is the mirror's id."""
    if spec.privacy is Privacy.FULL:
        return ical.with_show_as(ical.full_copy(event, uid=uid, marker=uid), spec.shows_as)
    return ical.with_show_as(private_copy(event, uid=uid, marker=uid, title=spec.title), spec.shows_as)


def ineligible(spec: SyncSpec, source: SourceEvent, now: datetime, tz: ZoneInfo) -> str | None:
    """Why ``source`` must not be mirrored by ``spec`` (None: it must)."""
    if source.unknown_mirror:
        return "a mirror written elsewhere (unknown marker)"
    if source.origin_calendar == spec.target:
        return "echo: it came from the target calendar"
    if spec.target in source.path:
        return "echo: it passed through the target calendar"
    if spec.target_client is not None and source.origin_client == spec.target_client:
        return f"echo: its origin belongs to the target's client ({spec.target_client})"
    master = source.event.master
    f = spec.filters
    if master.status.upper() == "CANCELLED":
        return "cancelled"
    if f.skip_free and master.transparent:
        return "free (shown as available)"
    if f.skip_declined and spec.owner_emails and master.declined_by(spec.owner_emails):
        return "declined"
    if f.skip_all_day and master.all_day:
        return "all-day"
    for pattern in f.exclude_titles:
        if pattern.search(master.summary):
            return f"title matches /{pattern.pattern}/"
    if f.working_hours is not None and not master.all_day and not source.event.recurring:
        if not _meets_hours(master, f.working_hours, tz):
            return "outside working hours"
    window = _window_reason(source.event, now, f.window_days)
    if window:
        return window
    return None


def plan(
    spec: SyncSpec,
    sources: Sequence[SourceEvent],
    mirrors: Mapping[str, MirrorRow],
    target: Mapping[str, str | None],
    *,
    key: bytes,
    now: datetime,
    tz: ZoneInfo,
    present: Collection[str] | None = None,
) -> list[Action]:
    """The actions that bring ``spec``'s target in line with its source.

    ``sources`` are the source events to decide on (read successfully); ``present`` the keys
    of everything the source calendar holds now (default: the keys of ``sources``) — a
    mirror whose key is present but not among ``sources`` is left as it is, which lets the
    engine plan only what changed. ``mirrors`` are the sync's mirror rows by origin key;
    ``target`` the target's items as href -> etag. Idempotent: planning again after
    applying every action yields no writes.
    """
    actions: list[Action] = []
    seen: set[str] = set()
    for source in sources:
        if source.key in seen:
            continue
        seen.add(source.key)
        row = mirrors.get(source.key)
        reason = ineligible(spec, source, now, tz)
        summary = source.event.master.summary
        if reason is not None:
            actions.extend(_retire(spec, source.key, row, target, reason, summary, keep_past=reason.startswith("in the past")))
            continue
        wanted = source_hash(spec, source.content_hash)
        if row is None:
            uid = mirror_uid(key, spec.name, source.key)
            actions.append(Create(source.key, spec, uid, wanted, source, "new"))
            continue
        if row.state == "pending":
            actions.append(Create(source.key, spec, row.mirror_uid, wanted, source, "an interrupted create, finished"))
            continue
        if row.state == "forgotten":
            continue
        if row.href not in target:
            if spec.on_target_delete == "forget":
                actions.append(Drop(source.key, "deleted on the target: forgotten", forget=True))
            else:
                actions.append(Create(source.key, spec, row.mirror_uid, wanted, source, "deleted on the target: restored"))
            continue
        on_target = target[row.href]
        edited = row.etag is not None and on_target is not None and on_target != row.etag
        if edited and spec.on_target_delete == "forget":
            continue
        if edited or row.source_hash != wanted:
            why = "edited on the target: restored" if edited else "changed at the source"
            actions.append(Update(source.key, row.href, on_target, spec, row.mirror_uid, wanted, source, why))
    still_there = seen if present is None else set(present) | seen
    for origin_key, row in mirrors.items():
        if origin_key not in still_there:
            actions.extend(_retire(spec, origin_key, row, target, "deleted at the source", "", keep_past=False))
    return actions


def _retire(
    spec: SyncSpec,
    key: str,
    row: MirrorRow | None,
    target: Mapping[str, str | None],
    reason: str,
    summary: str,
    *,
    keep_past: bool,
) -> list[Action]:
    if row is None:
        return [Skip(key, reason, summary)]
    if row.state == "forgotten":
        return [Drop(key, f"{reason}; it was deleted on the target")]
    if keep_past:
        return []
    if row.state == "pending":  # its create may have landed unrecorded: delete it, if it is there
        return [Delete(key, row.href, None, f"{reason}; its create had been interrupted", summary)]
    if row.href not in target:
        return [Drop(key, f"{reason}; the mirror was already gone")]
    return [Delete(key, row.href, target[row.href], reason, summary)]


def _meets_hours(c: Component, hours: tuple[time, time], tz: ZoneInfo) -> bool:
    """True when the timed component overlaps the working hours on its local day(s)."""
    start, end = c.start, c.end
    assert isinstance(start, datetime) and isinstance(end, datetime)
    if start.tzinfo is not None:
        start, end = start.astimezone(tz), end.astimezone(tz)
    day = start.date()
    while day <= end.date():
        open_at = datetime.combine(day, hours[0], tzinfo=start.tzinfo)
        close_at = datetime.combine(day, hours[1], tzinfo=start.tzinfo)
        if start < close_at and end > open_at:
            return True
        day += timedelta(days=1)
    return False


def _window_reason(event: Event, now: datetime, window_days: int) -> str | None:
    """'in the past' / 'beyond the window' for events wholly outside [now - 1 day, now + window)."""
    earliest = now - timedelta(days=1)
    latest = now + timedelta(days=window_days)
    master = event.master
    starts = [as_utc(c.start) for c in event.components]
    if as_utc(min(event.components, key=lambda c: as_utc(c.start)).start) >= latest:
        return f"beyond the {window_days}-day window"
    if event.recurring:
        until = _rrule_until(master.rrule)
        if until is not None and until < earliest and all(s < earliest for s in starts):
            return "in the past"
        return None
    if all(as_utc(c.end) < earliest for c in event.components):
        return "in the past"
    return None


def _rrule_until(rrules: tuple[str, ...]) -> datetime | None:
    """The latest UNTIL of the rules, None when one of them runs forever or counts."""
    latest: datetime | None = None
    for rule in rrules:
        parts = dict(p.split("=", 1) for p in rule.upper().split(";") if "=" in p)
        if "UNTIL" not in parts:
            return None
        text = parts["UNTIL"].rstrip("Z")
        try:
            moment: date | datetime = (
                datetime.strptime(text, "%Y%m%dT%H%M%S") if "T" in text else datetime.strptime(text, "%Y%m%d").date()
            )
        except ValueError:
            return None
        value = as_utc(moment)
        latest = value if latest is None or value > latest else latest
    return latest
