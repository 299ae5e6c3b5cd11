"""Time-zone names: IANA ids, Windows names (CLDR ``windowsZones``) and vendor-prefixed ids -> ZoneInfo.

The CLDR table ships with icalendar (``icalendar.timezone.windows_to_olson``); Microsoft
Graph and Exchange exports name zones the Windows way ("W. Europe Standard Time").
"""

from __future__ import annotations

import functools
from zoneinfo import ZoneInfo

from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

__all__ = ["UTC_KEYS", "WINDOWS_TO_OLSON", "is_utc_name", "windows_name", "zone_named"]

UTC_KEYS = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu"})
"""IANA keys (and Windows' "UTC") that mean UTC itself."""


@functools.lru_cache(maxsize=1024)
def zone_named(name: str) -> ZoneInfo | None:
    """The IANA zone ``name`` names: an IANA id, a Windows name (CLDR) or a globally unique
    ``/vendor/.../Area/City`` id; None for anything else (``tzone://Microsoft/Custom`` included)."""
    cleaned = name.strip().strip("/")
    candidates = [cleaned]
    if cleaned in WINDOWS_TO_OLSON:
        candidates.append(WINDOWS_TO_OLSON[cleaned])
    if name.strip().startswith("/"):
        parts = cleaned.split("/")
        candidates += ["/".join(parts[i:]) for i in range(1, len(parts))]
    for candidate in candidates:
        if not candidate or candidate.startswith(("posix/", "right/")):
            continue
        try:
            return ZoneInfo(candidate)
        except Exception:
            continue
    return None


def is_utc_name(name: str) -> bool:
    """True when ``name`` names UTC itself (IANA or Windows spelling)."""
    zone = zone_named(name)
    return zone is not None and zone.key in UTC_KEYS


@functools.lru_cache(maxsize=1)
def _olson_to_windows() -> dict[str, str]:
    table: dict[str, str] = {}
    for windows, olson in sorted(WINDOWS_TO_OLSON.items()):
        table.setdefault(olson, windows)
    return table


def windows_name(zone: ZoneInfo) -> str | None:
    """The Windows name CLDR gives as the representative of ``zone`` (None when it is not one)."""
    return _olson_to_windows().get(zone.key)
