"""Date helpers for the rules: ISO strings in state, ``date`` objects in records."""
from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

UTC = dt.timezone.utc
EASTERN = ZoneInfo("America/New_York")


# The rules turn the same few dates into strings and back many times per event (the state keeps ISO
# strings): both directions are memoised, in bounded dicts (cleared when full).
_ISO: dict[dt.date, str] = {}
_FROM_ISO: dict[str, dt.date] = {}
_MEMO_LIMIT = 8192


def iso(d: dt.date | None) -> str | None:
    """A date as the ISO string the state keeps (None stays None)."""
    s = _ISO.get(d)  # type: ignore[arg-type]
    if s is None:
        if d is None:
            return None
        if len(_ISO) >= _MEMO_LIMIT:
            _ISO.clear()
        s = _ISO[d] = d.isoformat()
    return s


def from_iso(s: str | None) -> dt.date | None:
    d = _FROM_ISO.get(s)  # type: ignore[arg-type]
    if d is None:
        if not s:
            return None
        if len(_FROM_ISO) >= _MEMO_LIMIT:
            _FROM_ISO.clear()
        d = _FROM_ISO[s] = dt.date.fromisoformat(s)
    return d


def instant_iso(t: dt.datetime | None) -> str | None:
    return t.astimezone(UTC).isoformat() if t is not None else None


def instant_from_iso(s: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(s) if s else None


def eastern_date(t: dt.datetime) -> dt.date:
    """The America/New_York calendar date of an instant; at the very ends of the calendar, where New
    York's date does not exist (before 0001-01-01 05:00Z), the UTC date."""
    try:
        return t.astimezone(EASTERN).date()
    except (OverflowError, ValueError):
        return t.astimezone(UTC).date()


def is_first_of_month(d: dt.date) -> bool:
    return d.day == 1


def month_end(d: dt.date) -> dt.date:
    """The last day of ``d``'s month."""
    nxt = (d.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return nxt - dt.timedelta(days=1)


def is_month_end(d: dt.date) -> bool:
    return d == month_end(d)


def first_of_next_month(d: dt.date) -> dt.date:
    return month_end(d) + dt.timedelta(days=1)


def day_before(d: dt.date) -> dt.date:
    return d - dt.timedelta(days=1)


@lru_cache(maxsize=1024)  # a batch's replies share a few processing instants; strftime is slow
def file_stamp(t: dt.datetime) -> str:
    """``Dyymmdd.Thhmmsst`` of a CMS file name, from an instant (UTC, tenths of a second)."""
    t = t.astimezone(UTC)
    return f"D{t:%y%m%d}.T{t:%H%M%S}{t.microsecond // 100000}"


def end_of_day_eastern(d: dt.date) -> dt.datetime:
    """23:59:59 America/New_York on ``d``, as a UTC instant: the due instant of a "by <date>" deadline."""
    return dt.datetime(d.year, d.month, d.day, 23, 59, 59, tzinfo=EASTERN).astimezone(UTC)


def is_valid_effective_date(d: dt.date) -> bool:
    """Inside :data:`FIRST_EFFECTIVE_DATE` .. :data:`LAST_EFFECTIVE_DATE`."""
    return FIRST_EFFECTIVE_DATE <= d <= LAST_EFFECTIVE_DATE


#: The range of effective dates the rules accept: Part D began on January 1, 2006 (MMA 2003), and the
#: last calendar year is kept free for the day, month and year the rules compute after a date.
FIRST_EFFECTIVE_DATE = dt.date(2006, 1, 1)
LAST_EFFECTIVE_DATE = dt.date(dt.MAXYEAR - 1, 12, 31)
