"""Who regains eligibility for MMP passive enrollment in a new calendar year (seed 000).

Seed 000: "States may conduct an annual passive enrollment process for
individuals who are newly eligible or who have regained eligibility ... This
includes the following groups of individuals who regain eligibility for
passive enrollment in the new calendar year:

* Those who were involuntarily disenrolled from an MMP during the current
  calendar year (e.g., due to short term loss of Medicaid);
* Those who were reassigned by CMS to a PDP effective January of the current
  calendar year and have not otherwise opted out of passive enrollment; or
* New dually eligible individuals who are auto-enrolled by CMS to a PDP
  effective any month in the current calendar year."

:func:`regains_passive_eligibility` answers from the member's history alone
(plus, optionally, the plan catalog to tell MMPs and PDPs apart). See
``docs/mmp-passive.md``.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from processors.model import MemberState, PlanState
from processors.passive import opted_out

# Reasons (the second element of the answer).
INVOLUNTARY_MMP_DISENROLLMENT = "INVOLUNTARY_MMP_DISENROLLMENT"
REASSIGNED_TO_PDP = "REASSIGNED_TO_PDP"
NEW_DUAL_AUTO_ENROLLED = "NEW_DUAL_AUTO_ENROLLED"
OPTED_OUT = "OPTED_OUT"
DECEASED = "DECEASED"
NOT_REGAINED = "NOT_REGAINED"

# Seed 002 Table 30 reasons that end an enrollment without the member asking
# (loss of eligibility, plan/contract termination, CMS action). Voluntary ones
# (11, 12, 13 another election, 21-50 survey reasons, 63 MMP opt-out), death
# (08, Y8), corrections (14, 15, 90) and fraud (04) are not "involuntary" here.
INVOLUNTARY_REASONS = frozenset({
    "01", "02", "05", "06", "07", "09", "10", "17", "19", "20", "41", "54", "56",
    "59", "60", "61", "62", "64", "65", "70", "71", "91", "92", "93",
})
# Without a catalog, these sources mark an MMP enrollment (Table 24: J state
# passive, K CMS passive, L MMP beneficiary election).
MMP_SOURCES = frozenset({"J", "K", "L"})
AUTO_ENROLLED_BY_CMS = "A"  # Table 24: auto-enrolled by CMS (full-benefit duals)
# Table 30 reasons of a disenrollment the member asked for: 11/12 voluntary (through the plan / the district
# office), 63 MMP opt-out after enrolled, and the plan's survey codes of why a member left (21-50).
VOLUNTARY_REASONS = frozenset({"11", "12", "63"} | {f"{n:02d}" for n in range(21, 51)})
# Table 24 sources of an enrollment the member chose themselves (B beneficiary election, L MMP beneficiary
# election): leaving an MMP for such a plan (reason 13, "enrollment in another plan") is voluntary too.
MEMBER_ELECTED_SOURCES = frozenset({"B", "L"})


def _plan_type(plans: Mapping[str, PlanState] | None, e: Mapping[str, Any], year: int) -> str | None:
    if not plans:
        return None
    plan = plans.get(f"{e['contract_id']}-{e['pbp_id']}-{year}")
    return plan.get("plan_type") if plan else None


def _is_mmp(plans: Mapping[str, PlanState] | None, e: Mapping[str, Any], year: int) -> bool:
    kind = _plan_type(plans, e, year)
    return kind == "MMP" if kind is not None else e.get("enrollment_source") in MMP_SOURCES


def _is_pdp(plans: Mapping[str, PlanState] | None, e: Mapping[str, Any], year: int) -> bool:
    kind = _plan_type(plans, e, year)
    return kind == "PDP" if kind is not None else True  # CMS auto-enrolls and reassigns into PDPs only


def _successor(enrollments: list[Mapping[str, Any]], end: str) -> Mapping[str, Any] | None:
    nxt = (dt.date.fromisoformat(end) + dt.timedelta(days=1)).isoformat()
    return next((e for e in reversed(enrollments) if e["start"] == nxt), None)


def voluntary_mmp_exit(
    state: MemberState, since: dt.date, before: dt.date, plans: Mapping[str, PlanState] | None = None
) -> Mapping[str, Any] | None:
    """The MMP enrollment the member left of their own accord with its last day in ``since`` .. ``before`` - 1.

    Voluntary: a Table 30 reason in :data:`VOLUNTARY_REASONS` (11, 12, 63, the survey codes), or 13
    (enrollment in another plan) when the enrollment that followed was the member's own election
    (source B or L). A CMS reassignment or another passive enrollment is not the member's choice.
    """
    lo, hi = since.isoformat(), before.isoformat()
    enrollments = [e for e in state.get("enrollments") or [] if e.get("status") == "ACTIVE"]
    for e in enrollments:
        end = e.get("end")
        if not end or not (lo <= end < hi) or not _is_mmp(plans, e, int(end[:4])):
            continue
        reason = e.get("disenrollment_reason")
        if reason in VOLUNTARY_REASONS:
            return e
        if reason == "13":
            nxt = _successor(enrollments, end)
            if nxt is not None and nxt.get("enrollment_source") in MEMBER_ELECTED_SOURCES:
                return e
    return None


def regains_passive_eligibility(
    state: MemberState, year: int, plans: Mapping[str, PlanState] | None = None
) -> tuple[bool, str]:
    """Does the member regain passive-enrollment eligibility for calendar ``year``?

    ``year`` is the new calendar year (the year a passive enrollment would take
    effect); the history looked at is ``year - 1`` (the "current calendar
    year" of seed 000). Answers ``(True, reason)`` for the first group that
    applies, else ``(False, reason)``:

    1. ``(False, "OPTED_OUT")``: OPTOM in the profile or a TC 83 opt-out on
       record (seed 000 names it for the reassigned group; an opted-out
       person cannot be passively enrolled at all, TRC 166).
    2. ``(False, "DECEASED")``: a date of death before January 1 of ``year``.
    3. ``INVOLUNTARY_MMP_DISENROLLMENT``: an active enrollment in an MMP
       whose coverage ended during ``year - 1`` with an involuntary
       disenrollment reason (``INVOLUNTARY_REASONS``).
    4. ``REASSIGNED_TO_PDP``: ``year - 1`` in ``reassigned_years`` (or a
       reassignment enrollment for ``year - 1``) -- CMS reassigns into PDPs,
       effective January 1.
    5. ``NEW_DUAL_AUTO_ENROLLED``: an active enrollment with source ``A``
       (CMS auto-enrollment of a full-benefit dual) into a PDP, starting in
       ``year - 1``.
    6. ``(False, "NOT_REGAINED")``.

    MMP / PDP is read from ``plans`` (``{contract}-{pbp}-{year}``) when given
    and known; otherwise an MMP enrollment is one with source J, K or L.
    """
    prev = int(year) - 1
    lo, hi = f"{prev:04d}-01-01", f"{prev:04d}-12-31"
    if opted_out(state):
        return False, OPTED_OUT
    death = (state.get("profile") or {}).get("date_of_death")
    if death and death < f"{int(year):04d}-01-01":
        return False, DECEASED
    enrollments = [e for e in state.get("enrollments") or [] if e.get("status") == "ACTIVE"]
    for e in enrollments:
        end = e.get("end")
        if (end and lo <= end <= hi and e.get("disenrollment_reason") in INVOLUNTARY_REASONS
                and _is_mmp(plans, e, prev)):
            return True, INVOLUNTARY_MMP_DISENROLLMENT
    reassigned = prev in [int(y) for y in state.get("reassigned_years") or []] or any(
        (e.get("reassignment") or {}).get("plan_year") == prev for e in enrollments)
    if reassigned:
        return True, REASSIGNED_TO_PDP
    for e in enrollments:
        if (e.get("enrollment_source") == AUTO_ENROLLED_BY_CMS and lo <= e["start"] <= hi
                and _is_pdp(plans, e, prev)):
            return True, NEW_DUAL_AUTO_ENROLLED
    return False, NOT_REGAINED
