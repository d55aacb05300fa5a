"""Read-only questions about a member's state (see ``processors.model``)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from processors.dates import iso
from processors.model import MemberState


def _covers(start: str, end: str | None, day: str) -> bool:
    return start <= day and (end is None or day <= end)


def enrollment_on(state: MemberState, day: dt.date) -> dict[str, Any] | None:
    """The active (not cancelled) enrollment in force on ``day``, if any."""
    d = iso(day)
    for e in reversed(state["enrollments"]):
        if e["status"] == "ACTIVE" and _covers(e["start"], e["end"], d):
            return e
    return None


def open_enrollment(state: MemberState) -> dict[str, Any] | None:
    """The latest active enrollment with no end date (the plan the member is in now or next)."""
    for e in reversed(state["enrollments"]):
        if e["status"] == "ACTIVE" and e["end"] is None:
            return e
    return None


def lis_on(state: MemberState, day: dt.date) -> dict[str, Any] | None:
    """The LIS period covering ``day``, if any."""
    d = iso(day)
    for p in state["lis"]:
        if _covers(p["start"], p["end"], d):
            return p
    return None


def region_state_code(state: MemberState) -> str | None:
    """The state whose PDP region the member belongs to (the state file, else the address)."""
    profile = state.get("profile") or {}
    return profile.get("state_code")
