"""Seed 000's dates for each plan year, as data (``processors/data/cycle_dates.json``).

Seed 000 is the memorandum for January 1, 2024: states opt in "By August 18, 2023" and submit the
January 1 passive enrollments "no earlier than Wednesday, October 4, 2023, at 6 a.m. Eastern Daylight
Time (EDT) and no later than Friday, October 27, 2023, at 5 p.m. EDT". CMS sets these dates again
each year; the file lists a year's own dates when its memorandum is known, and ``default`` (the
2023 memo's) otherwise. Every date is of Y-1 (the year before the plan year Y), on the America/New_York
wall clock.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

from processors.dates import EASTERN, UTC

_DATA = json.loads(resources.files("processors.data").joinpath("cycle_dates.json").read_text())
KEYS = ("opt_in_deadline", "window_opens", "window_closes")


def entry(values: Mapping[str, str]) -> dict[str, str]:
    """A plan year's dates: the keys it gives, the default for the others."""
    unknown = set(values) - set(KEYS)
    if unknown:
        raise ValueError(f"unknown cycle date keys {sorted(unknown)}; known: {KEYS}")
    return {**_DATA["default"], **values}


#: the 2023 memo's dates (seed 000), for a plan year not listed
DEFAULT: dict[str, str] = entry({})
#: plan year -> its dates (every key present)
BY_PLAN_YEAR: dict[int, dict[str, str]] = {int(y): entry(v) for y, v in _DATA["by_plan_year"].items()}


def dates(plan_year: int) -> dict[str, str]:
    """The dates of ``plan_year`` (its own entry, else the default)."""
    return BY_PLAN_YEAR.get(int(plan_year), DEFAULT)


def _eastern(plan_year: int, key: str) -> dt.datetime:
    month_day, hour_minute = dates(plan_year)[key].split("T")
    month, day = (int(x) for x in month_day.split("-"))
    hour, minute = (int(x) for x in hour_minute.split(":"))
    return dt.datetime(int(plan_year) - 1, month, day, hour, minute, tzinfo=EASTERN).astimezone(UTC)


def opt_in_deadline(plan_year: int) -> dt.date:
    """The last day (Eastern, inclusive) a state may opt in for ``plan_year`` (seed 000: "By August 18")."""
    month, day = (int(x) for x in dates(plan_year)["opt_in_deadline"].split("-"))
    return dt.date(int(plan_year) - 1, month, day)


def passive_window(plan_year: int) -> tuple[dt.datetime, dt.datetime]:
    """(opens, closes) of the January 1 ``plan_year`` passive submission window, as UTC instants."""
    return _eastern(plan_year, "window_opens"), _eastern(plan_year, "window_closes")


def describe(plan_year: int) -> dict[str, Any]:
    """The dates of a plan year and where they come from (for docs and operators)."""
    return {"plan_year": int(plan_year), "source": "by_plan_year" if int(plan_year) in BY_PLAN_YEAR else "default",
            **dates(plan_year)}
