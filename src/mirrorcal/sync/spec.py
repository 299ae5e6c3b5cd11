"""What one sync is asked to do: the planner's settings, built from the configuration."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import time

from ..model import Privacy


@dataclass(frozen=True, slots=True)
class Filters:
    """Which source events a sync copies. Defaults match the documented configuration."""

    skip_free: bool = True
    skip_declined: bool = True
    skip_all_day: bool = False
    working_hours: tuple[time, time] | None = None
    window_days: int = 180
    exclude_titles: tuple[re.Pattern[str], ...] = ()


SHOW_AS = ("busy", "free", "tentative", "oof", "original")
"""What a sync's mirrors show as (``show_as``); "oof" is out of office."""


def default_show_as(privacy: Privacy) -> str:
    """"original" for full copies, "busy" for private ones."""
    return "original" if privacy is Privacy.FULL else "busy"


@dataclass(frozen=True, slots=True)
class SyncSpec:
    """One direction of one sync.

    A two-way sync is two SyncSpecs whose ``pair`` names each other. ``source_client`` /
    ``target_client`` are the calendars' ``client`` labels; ``owner_emails`` are the addresses
    whose DECLINED answer means "the recruiter declined" (from the source calendar's config).
    """

    name: str
    source: str
    target: str
    privacy: Privacy = Privacy.FULL
    title: str = "Busy"
    filters: Filters = field(default_factory=Filters)
    on_target_delete: str = "restore"
    source_client: str | None = None
    target_client: str | None = None
    owner_emails: frozenset[str] = frozenset()
    pair: str | None = None
    paused: bool = False
    """A paused sync is kept (its mirrors stay) but never runs until resumed."""
    show_as: str = ""
    """One of ``SHOW_AS``; "" for the privacy's default (``default_show_as``)."""

    @property
    def shows_as(self) -> str:
        """What the mirrors show as: ``show_as``, else the privacy's default."""
        return self.show_as or default_show_as(self.privacy)

    @property
    def settings_hash(self) -> str:
        """Changes when anything that shapes the mirrors changes, so they get rewritten."""
        f = self.filters
        parts = [
            self.privacy.value,
            self.title if self.privacy is not Privacy.FULL else "",
            str(f.skip_free),
            str(f.skip_declined),
            str(f.skip_all_day),
            repr(f.working_hours),
            str(f.window_days),
            "|".join(p.pattern for p in f.exclude_titles),
            ",".join(sorted(self.owner_emails)),
            self.shows_as,
        ]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]
