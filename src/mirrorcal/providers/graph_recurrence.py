"""RRULE <-> Microsoft Graph ``patternedRecurrence``, both ways, and occurrence expansion; pure functions.

Graph expresses a subset of RFC 5545 (see the tables in tests/unit/test_graph_mapping.py):

=====================================  =============================================
RRULE                                  patternedRecurrence.pattern
=====================================  =============================================
``FREQ=DAILY``                         ``daily``
``FREQ=DAILY;BYDAY=MO,...`` (I=1)      ``weekly`` with those days (same occurrences)
``FREQ=WEEKLY[;BYDAY=MO,TU][;WKST]``   ``weekly`` daysOfWeek (DTSTART's day when no BYDAY)
``FREQ=MONTHLY[;BYMONTHDAY=d]``        ``absoluteMonthly`` dayOfMonth
``FREQ=MONTHLY;BYDAY=2TU``             ``relativeMonthly`` index second, [tuesday]
``FREQ=MONTHLY;BYDAY=MO,TU;BYSETPOS=-1`` ``relativeMonthly`` index last, [monday, tuesday]
``FREQ=YEARLY[;BYMONTH=m;BYMONTHDAY]`` ``absoluteYearly`` month, dayOfMonth
``FREQ=YEARLY;BYMONTH=m;BYDAY=-1FR``   ``relativeYearly``
=====================================  =============================================

``COUNT`` <-> range ``numbered``; ``UNTIL`` <-> ``endDate`` (the date in the series' zone;
read back as UNTIL at DTSTART's wall time on that date); neither <-> ``noEnd``. Anything else
(HOURLY and finer, BYHOUR, BYWEEKNO, BYYEARDAY, several RRULEs, RDATE, ordinal 5, ...) raises
``InvalidEventError`` naming the rule. Reading emits a canonical RRULE: parts equal to what
DTSTART implies are left out, so ``FREQ=WEEKLY;COUNT=10`` round-trips as itself.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from dateutil.rrule import rrulestr

from ..errors import InvalidEventError
from ..model import Moment

DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
INDEXES = {1: "first", 2: "second", 3: "third", 4: "fourth", -1: "last"}
_INDEX_NUMBERS = {v: k for k, v in INDEXES.items()}
_KNOWN = {"FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "BYMONTH", "BYSETPOS", "WKST"}


def _parts(rule: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for chunk in rule.strip().removeprefix("RRULE:").split(";"):
        if not chunk:
            continue
        key, sep, value = chunk.partition("=")
        if not sep or not value:
            raise InvalidEventError(f"RRULE {rule!r} is not valid: {chunk!r}")
        parts[key.upper()] = value.upper()
    return parts


def _unsupported(rule: str, why: str) -> InvalidEventError:
    return InvalidEventError(f"RRULE {rule!r} cannot be expressed in Microsoft Graph: {why}")


def _int(rule: str, value: str, what: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InvalidEventError(f"RRULE {rule!r} is not valid: {what}={value!r}") from None


def _byday(rule: str, value: str) -> list[tuple[int | None, str]]:
    days: list[tuple[int | None, str]] = []
    for token in value.split(","):
        token = token.strip()
        code, prefix = token[-2:], token[:-2]
        if code not in DAYS:
            raise InvalidEventError(f"RRULE {rule!r} is not valid: BYDAY={value!r}")
        days.append(
            (_int(rule, prefix, "BYDAY") if prefix not in ("", "+") else None, DAY_NAMES[DAYS.index(code)])
        )
    return days


def _wall_date(moment: Moment) -> date:
    return moment.date() if isinstance(moment, datetime) else moment


def rrule_to_recurrence(rules: tuple[str, ...], start: Moment, zone_name: str) -> dict[str, Any]:
    """The ``patternedRecurrence`` for ``rules`` (one RRULE) of a series starting at ``start``
    (wall time in ``zone_name``). Raises ``InvalidEventError`` for what Graph cannot express."""
    if len(rules) != 1:
        raise InvalidEventError(f"{len(rules)} RRULEs cannot be expressed in Microsoft Graph (one at most)")
    rule = rules[0]
    parts = _parts(rule)
    extra = sorted(set(parts) - _KNOWN)
    if extra:
        raise _unsupported(rule, f"{', '.join(extra)} not supported")
    freq = parts.get("FREQ", "")
    interval = _int(rule, parts.get("INTERVAL", "1"), "INTERVAL")
    if interval < 1:
        raise InvalidEventError(f"RRULE {rule!r} is not valid: INTERVAL must be positive")
    day = _wall_date(start)
    byday = _byday(rule, parts["BYDAY"]) if "BYDAY" in parts else []
    monthdays = (
        [_int(rule, v, "BYMONTHDAY") for v in parts["BYMONTHDAY"].split(",")] if "BYMONTHDAY" in parts else []
    )
    months = [_int(rule, v, "BYMONTH") for v in parts["BYMONTH"].split(",")] if "BYMONTH" in parts else []
    setpos = [_int(rule, v, "BYSETPOS") for v in parts["BYSETPOS"].split(",")] if "BYSETPOS" in parts else []
    if len(monthdays) > 1 or any(d < 1 for d in monthdays):
        raise _unsupported(rule, "one positive BYMONTHDAY at most")
    if len(months) > 1:
        raise _unsupported(rule, "one BYMONTH at most")
    if len(setpos) > 1:
        raise _unsupported(rule, "one BYSETPOS at most")
    pattern: dict[str, Any] = {"interval": interval}
    ordinals = {o for o, _ in byday}
    if freq == "DAILY":
        if monthdays or months or setpos:
            raise _unsupported(rule, "DAILY takes no BYMONTHDAY, BYMONTH or BYSETPOS")
        if byday:
            if interval != 1 or ordinals != {None}:
                raise _unsupported(rule, "DAILY with BYDAY needs INTERVAL=1 and plain days")
            pattern.update(type="weekly", daysOfWeek=[d for _, d in byday])
        else:
            pattern["type"] = "daily"
    elif freq == "WEEKLY":
        if monthdays or months or setpos or ordinals - {None}:
            raise _unsupported(rule, "WEEKLY takes plain BYDAY days only")
        pattern.update(type="weekly", daysOfWeek=[d for _, d in byday] or [DAY_NAMES[day.weekday()]])
    elif freq in ("MONTHLY", "YEARLY"):
        relative = bool(byday)
        if relative and monthdays:
            raise _unsupported(rule, "BYDAY and BYMONTHDAY together")
        if freq == "MONTHLY" and months:
            raise _unsupported(rule, "MONTHLY with BYMONTH")
        if freq == "YEARLY" and relative and not months:
            raise _unsupported(rule, "YEARLY with BYDAY needs a BYMONTH")
        if relative:
            if len(ordinals) != 1:
                raise _unsupported(rule, "BYDAY days must share one position")
            (ordinal,) = ordinals
            if ordinal is not None and setpos:
                raise _unsupported(rule, "BYDAY position and BYSETPOS together")
            position = ordinal if ordinal is not None else (setpos[0] if setpos else None)
            if position not in INDEXES:
                raise _unsupported(rule, "the position must be 1, 2, 3, 4 or -1 (last)")
            pattern.update(daysOfWeek=[d for _, d in byday], index=INDEXES[position])
        elif setpos:
            raise _unsupported(rule, "BYSETPOS without BYDAY")
        else:
            pattern["dayOfMonth"] = monthdays[0] if monthdays else day.day
        if freq == "MONTHLY":
            pattern["type"] = "relativeMonthly" if relative else "absoluteMonthly"
        else:
            pattern["type"] = "relativeYearly" if relative else "absoluteYearly"
            pattern["month"] = months[0] if months else day.month
    else:
        raise _unsupported(rule, f"FREQ={freq or '(none)'}")
    pattern["firstDayOfWeek"] = (
        DAY_NAMES[DAYS.index(parts["WKST"])] if parts.get("WKST") in DAYS else "monday"
    )
    return {"pattern": pattern, "range": _range(rule, parts, start, zone_name)}


def _range(rule: str, parts: dict[str, str], start: Moment, zone_name: str) -> dict[str, Any]:
    result: dict[str, Any] = {"startDate": _wall_date(start).isoformat(), "recurrenceTimeZone": zone_name}
    if "COUNT" in parts and "UNTIL" in parts:
        raise InvalidEventError(f"RRULE {rule!r} is not valid: COUNT and UNTIL together")
    if "COUNT" in parts:
        result.update(type="numbered", numberOfOccurrences=_int(rule, parts["COUNT"], "COUNT"))
    elif "UNTIL" in parts:
        result.update(type="endDate", endDate=_until_date(rule, parts["UNTIL"], start).isoformat())
    else:
        result["type"] = "noEnd"
    return result


def _until_date(rule: str, value: str, start: Moment) -> date:
    try:
        if "T" not in value:
            return datetime.strptime(value, "%Y%m%d").date()
        until = datetime.strptime(value.rstrip("Z"), "%Y%m%dT%H%M%S")
    except ValueError:
        raise InvalidEventError(f"RRULE {rule!r} is not valid: UNTIL={value!r}") from None
    if value.endswith("Z") and isinstance(start, datetime) and start.tzinfo is not None:
        return until.replace(tzinfo=UTC).astimezone(start.tzinfo).date()
    return until.date()


def recurrence_to_rrule(recurrence: dict[str, Any], start: Moment) -> str:
    """The canonical RRULE text of a Graph ``patternedRecurrence`` for a series starting at
    ``start`` (aware datetime or date). Raises ``InvalidEventError`` when it is malformed."""
    try:
        pattern, rng = recurrence["pattern"], recurrence.get("range") or {}
        kind = pattern["type"]
        interval = int(pattern.get("interval") or 1)
        day = _wall_date(start)
        days = [DAYS[DAY_NAMES.index(d.lower())] for d in pattern.get("daysOfWeek") or []]
        parts: list[str] = []
        if kind == "daily":
            parts.append("FREQ=DAILY")
        elif kind == "weekly":
            parts.append("FREQ=WEEKLY")
        elif kind in ("absoluteMonthly", "relativeMonthly"):
            parts.append("FREQ=MONTHLY")
        elif kind in ("absoluteYearly", "relativeYearly"):
            parts.append("FREQ=YEARLY")
        else:
            raise InvalidEventError(f"recurrence pattern type {kind!r} is unknown")
        if interval != 1:
            parts.append(f"INTERVAL={interval}")
        if kind.endswith("Yearly") and int(pattern.get("month") or day.month) != day.month:
            parts.append(f"BYMONTH={int(pattern['month'])}")
        elif kind == "relativeYearly":
            parts.append(f"BYMONTH={day.month}")
        if kind.startswith("absolute") and int(pattern.get("dayOfMonth") or day.day) != day.day:
            parts.append(f"BYMONTHDAY={int(pattern['dayOfMonth'])}")
        if kind == "weekly" and days != [DAYS[day.weekday()]]:
            parts.append(f"BYDAY={','.join(days)}")
        if kind.startswith("relative"):
            position = _INDEX_NUMBERS[pattern.get("index") or "first"]
            if not days:
                raise InvalidEventError(f"recurrence pattern {kind} has no daysOfWeek")
            parts.append(
                f"BYDAY={position}{days[0]}"
                if len(days) == 1
                else f"BYDAY={','.join(days)};BYSETPOS={position}"
            )
        first = (pattern.get("firstDayOfWeek") or "sunday").lower()
        if interval != 1 and kind == "weekly" and first != "monday":
            parts.append(f"WKST={DAYS[DAY_NAMES.index(first)]}")
        range_type = rng.get("type") or "noEnd"
        if range_type == "numbered":
            parts.append(f"COUNT={int(rng['numberOfOccurrences'])}")
        elif range_type == "endDate":
            parts.append(f"UNTIL={_until_text(date.fromisoformat(rng['endDate']), start)}")
        elif range_type != "noEnd":
            raise InvalidEventError(f"recurrence range type {range_type!r} is unknown")
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise InvalidEventError(f"recurrence is malformed: {type(exc).__name__}: {exc}") from exc
    return ";".join(parts)


def _until_text(end: date, start: Moment) -> str:
    if not isinstance(start, datetime):
        return end.strftime("%Y%m%d")
    last = datetime.combine(end, start.time().replace(tzinfo=None))
    if start.tzinfo is None:
        return last.strftime("%Y%m%dT%H%M%S")
    return last.replace(tzinfo=start.tzinfo).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def occurrence_starts(rule: str, start: Moment, after: datetime, before: datetime) -> list[Moment]:
    """Starts of the occurrences of ``rule`` from ``start`` in [``after``, ``before``) (aware UTC
    bounds; dates compare at UTC midnight). Wall-clock times follow the start's zone (DST)."""
    if isinstance(start, datetime):
        dtstart = start
        lo, hi = (
            (after, before)
            if start.tzinfo is not None
            else (after.replace(tzinfo=None), before.replace(tzinfo=None))
        )
    else:
        dtstart = datetime.combine(start, time())
        lo, hi = after.replace(tzinfo=None), before.replace(tzinfo=None)
    text = rule
    if dtstart.tzinfo is None and "UNTIL=" in rule:
        text = ";".join(p.rstrip("Z") if p.startswith("UNTIL=") else p for p in rule.split(";"))
    found = rrulestr(text, dtstart=dtstart).between(lo, hi - timedelta(microseconds=1), inc=True)
    return [m if isinstance(start, datetime) else m.date() for m in found]
