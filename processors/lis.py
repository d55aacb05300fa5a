"""LisStatusChange -> the member's LIS periods, and TRC 121/223 to their plan.

Seed 002 constraint: the LIS periods of one member never overlap.
"""
from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from processors.codes import (
    COPAY_LEVELS,
    PREMIUM_SUBSIDY_LEVELS,
    SUBSIDY_SOURCES,
    TC_INFORMATIONAL,
    is_copay_level,
    is_premium_subsidy_level,
    is_subsidy_source,
    is_valid_mbi,
)
from processors.dates import from_iso, instant_iso, iso
from processors.member import enrollment_on, open_enrollment
from processors.model import MemberState, Output, PlanState, Record, Rejected, StepResult, new_member
from processors.premium import lis_reply_money
from processors.trr import beneficiary_fields, trr_from

TRC_LIS_CHANGED = "121"
TRC_LIS_REMOVED = "223"


def _enum(v: Any) -> Any:
    return getattr(v, "value", v)


DEEMED_PREFIX = "DEEMED-"


def _overlaps(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Closed intervals of ISO dates; ``end`` None is open."""
    a_end = a["end"] or "9999-12-31"
    b_end = b["end"] or "9999-12-31"
    return a["start"] <= b_end and b["start"] <= a_end


def _start(period: dict[str, Any]) -> str:
    return period["start"]


def plan_for_period(state: MemberState, period: dict[str, Any]) -> dict[str, Any] | None:
    """The enrollment a LIS reply goes to: in force on the period start, else the open one."""
    return enrollment_on(state, from_iso(period["start"])) or open_enrollment(state)


def _reply(state: MemberState, period: dict[str, Any], trc: str, event: Record,
           plans: Mapping[str, PlanState] | None, benchmarks: Mapping[int, Mapping[str, Decimal]] | None,
           ) -> list[Output]:
    enrollment = plan_for_period(state, period)
    if enrollment is None:
        return []
    at = event["event_time"]
    # issue 23: the plan's premium and what the member owes it after the change
    money = lis_reply_money(state, plans, benchmarks, enrollment, period["start"])
    start = from_iso(period["start"])
    fields = {
        "pbp_id": enrollment["pbp_id"],
        "effective_date": start,
        "lis_premium_subsidy_level": period["premium_subsidy_level"],
        "lis_copay_level": period["copay_level"],
        "lis_subsidy_source": period["subsidy_source"],
        "lis_period_start": start,
        "lis_period_end": from_iso(period["end"]),
    }
    fields.update(money)
    fields.update(beneficiary_fields(state))
    return [trr_from(trc, state["mbi"], enrollment["contract_id"], TC_INFORMATIONAL, at,
                     f"LIS|{period['change_id']}|{instant_iso(at)}", None, fields)]


def apply_lis_change(state: MemberState | None, event: Record, plans: Mapping[str, PlanState] | None = None,
                     benchmarks: Mapping[int, Mapping[str, Decimal]] | None = None) -> StepResult:
    """Apply one ``LisStatusChange`` (action ``UPSERT`` or ``REMOVE``).

    UPSERT: the new period replaces any period with the same ``change_id`` and
    any period with the same start; it must not overlap any other period.
    REMOVE: removes the period with that ``change_id``, else the one starting
    on ``start_date``; a REMOVE that finds nothing is a no-op (a redelivery).

    Replies: TRC 121 (UPSERT) / 223 (REMOVE), transaction code 01, to the plan
    the member is in on the period start (else the open enrollment); with no
    plan there is no reply but the state is still updated. With the plan catalog (``plans``) the reply also
    carries the plan's ``part_d_premium`` and what the member owes it after the change
    (:mod:`processors.premium`, issue 23: "When a later LIS change ... changes what a member owes, the plan
    gets a reply with the new amounts"), for the period's first day in the plan: a 223 leaves no subsidy, so
    the liability is the whole premium.

    Raises ``Rejected`` with ``INVALID_MBI``, ``INVALID_CODE`` (premium
    subsidy level, copay level, subsidy source or action), ``INVALID_PERIOD``
    (end before start) or ``LIS_PERIOD_OVERLAP``.
    """
    mbi = event.get("mbi")
    if not is_valid_mbi(mbi):
        raise Rejected("INVALID_MBI", f"MBI {mbi!r} does not have the CMS MBI format")
    action = _enum(event.get("action"))
    current = state if state is not None else new_member(mbi)
    change_id = event.get("change_id")
    start = iso(event.get("start_date"))

    if action == "REMOVE":
        target = next((p for p in current["lis"] if p["change_id"] == change_id), None)
        if target is None and start is not None:
            target = next((p for p in current["lis"] if p["start"] == start), None)
        if target is None:
            return StepResult(None, [])
        new = dict(current)  # the periods are replaced, never changed in place (model.with_own_enrollments)
        new["lis"] = [p for p in current["lis"] if p != target]
        return StepResult(new, _reply(new, target, TRC_LIS_REMOVED, event, plans, benchmarks))

    if action != "UPSERT":
        raise Rejected("INVALID_CODE", f"LIS action {action!r} is not UPSERT or REMOVE")
    level = event.get("premium_subsidy_level")
    copay = event.get("copay_level")
    source = _enum(event.get("subsidy_source"))
    bad = [f"{name} {code!r} is not one of {', '.join(table)} (seed 002 Table {n})"
           for name, code, valid, table, n in (
               ("premium_subsidy_level", level, is_premium_subsidy_level(level), PREMIUM_SUBSIDY_LEVELS, 14),
               ("copay_level", copay, is_copay_level(copay), COPAY_LEVELS, 13),
               ("subsidy_source", source, is_subsidy_source(source), SUBSIDY_SOURCES, 15)) if not valid]
    if bad:  # every bad code of the record, so that one correction fixes it
        raise Rejected("INVALID_CODE", "; ".join(bad) + ": the code tables are in docs/codes.md")
    if start is None:
        raise Rejected("INVALID_PERIOD", "LIS period has no start_date")
    end = iso(event.get("end_date"))
    if end is not None and end < start:
        raise Rejected("INVALID_PERIOD", f"LIS period ends {end} before it starts {start}")
    period = {
        "change_id": change_id,
        "premium_subsidy_level": level,
        "copay_level": copay,
        "subsidy_source": source,
        "start": start,
        "end": end,
    }
    # A period partd deemed itself from Medicaid status (change_id DEEMED-..., see
    # processors/auto_enrollment) gives way to the authoritative period SSA or
    # the state sends for the same time: it is dropped, not an overlap.
    others = [p for p in current["lis"] if p["change_id"] != change_id and p["start"] != start
              and not (str(p["change_id"]).startswith(DEEMED_PREFIX) and _overlaps(p, period))]
    clash = next((p for p in others if _overlaps(p, period)), None)
    if clash is not None:
        raise Rejected(
            "LIS_PERIOD_OVERLAP",
            f"LIS period {start}..{end or 'open'} overlaps period {clash['change_id']} "
            f"{clash['start']}..{clash['end'] or 'open'} (seed 002: periods never overlap)",
        )
    new = dict(current)  # the periods are replaced, never changed in place (model.with_own_enrollments)
    new["lis"] = sorted([*others, period], key=_start)
    return StepResult(new, _reply(new, period, TRC_LIS_CHANGED, event, plans, benchmarks))
