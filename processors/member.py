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


FULL_BENEFIT_DUAL = "FULL_BENEFIT_DUAL"


def submission_state_code(state: MemberState) -> str | None:
    """The state whose Medicaid file submitted the member (seed 001's "state file"), or None.

    The profile's ``medicaid_state_code`` (BeneficiaryUpdate: the state whose
    dual eligible file carried the person); else the state of a Medicaid
    determination (``state["medicaid"]``, processors/magi.py) that found the
    member eligible as a full-benefit dual, while the profile still says so.
    """
    profile = state.get("profile") or {}
    code = (profile.get("medicaid_state_code") or "").strip()
    if code:
        return code
    medicaid = state.get("medicaid") or {}
    if (medicaid.get("state_code") and medicaid.get("outcome") == "ELIGIBLE_MAGI"
            and medicaid.get("medicaid_status") == FULL_BENEFIT_DUAL
            and profile.get("medicaid_status") == FULL_BENEFIT_DUAL):
        return medicaid["state_code"]
    return None


def address_state_code(state: MemberState) -> str | None:
    """The state of the member's address of record (the profile's ``state_code``, residence)."""
    return (state.get("profile") or {}).get("state_code")


def region_state_code(state: MemberState) -> str | None:
    """The state whose PDP region the member belongs to: the state file first, else the address (seed 001)."""
    return submission_state_code(state) or address_state_code(state)
