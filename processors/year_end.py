"""The end of the plan year (``YEAR_END``, issue 22 item 2): nobody stays in a plan that does not continue,
and nobody falls through on January 1.

The October run moves only LIS members it can move (seed 001); everyone else stays in a plan that ends with
the year: members without LIS, members whose LIS ends, members the run found no target or no benchmark for,
members of an MA plan's reduced counties. ``YEAR_END`` for plan year Y, sent in December of Y-1 (its
``as_of`` before January 1), applied by every member partition at its place in the log like every other cycle
command, ends them all and makes sure each is told and, when they can be, covered:

1. The member's enrollment in force on December 31 of Y-1 that goes on into Y, in a plan-year that does not
   continue: the plan's Y record says ``NON_RENEWING`` (any plan type), or it is an MA plan's
   ``SERVICE_AREA_REDUCTION`` whose ``reduced_counties`` hold the member's county. It ends December 31 with
   disenrollment reason **10** (seed 002 Table 30 "CONTR TERMD PLAN - Termination of contract/Plan Benefit
   Package (PBP)/Segment (Plan withdrawal)"). A plan with no Y record, or a service area reduction whose
   counties were not sent, ends nobody: nothing is ended on a guess (the plan-year record of the latter is
   dead-lettered when it comes, REDUCED_COUNTIES_MISSING).
2. The plan gets **TRC 013** (transaction code 51, reason 10, effective January 1 of Y: the first day
   without coverage), on its daily TRR of the command's ``as_of``, ``update_source_contract_id`` ``CMS``,
   ``reason`` ``PLAN_YEAR_ENDS``, the Y-1 premium with the subsidy amount and premium liability of December 31
   (issue 23): the public list gives no closer code for a disenrollment CMS makes because the plan ends.
3. A full-benefit dual or LIS member who has no plan from January 1 is auto- or facilitated-enrolled for
   January 1 (:func:`processors.auto_enrollment.auto_or_facilitate` judged on January 1: 117 / 118; an
   opt-out: 166), with the benchmarks of Y.
4. The person gets a ``PLAN_TERMINATED`` notice: the plan that ends, the plan they are enrolled in from
   January 1 (if any) and a ``reason``: ``AUTO_ENROLLED`` / ``FACILITATED_ENROLLED``, ``OPTED_OUT``,
   ``NO_ELIGIBLE_TARGET`` / ``NO_BENCHMARK`` (no plan could be drawn: they must choose one, and a later event,
   or the year end repeated, enrolls them when one exists), ``NOT_LIS`` (no LIS on January 1: they choose
   their own plan). Mail by the command's Eastern date + 7 days (choice).

Idempotent: an enrollment already ended is not ended again, the notice goes out once per member and plan
year (:mod:`processors.issued`); a repeat only retries the enrollment of a member the year end left without
a plan.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from processors import auto_enrollment, issued
from processors import premium as premium_amounts
from processors import reassignment as ra
from processors.benchmark import money
from processors.codes import TC_DISENROLL
from processors.dates import EASTERN, iso
from processors.ids import stable_id
from processors.member import enrollment_on, lis_on
from processors.model import BENEFICIARY_NOTICES, TRR_REPLIES, MemberState, Output, PlanState, StepResult, clone
from processors.trr import beneficiary_fields, lis_fields, trr_record

PLAN_TERMINATED = "PLAN_TERMINATED"
#: ``TrrRecord.reason`` of the year end's 013 (issue 23's reason field): the plan-year does not continue.
PLAN_YEAR_ENDS = "PLAN_YEAR_ENDS"
#: seed 002 Table 30: "10 CONTR TERMD PLAN - Termination of contract/Plan Benefit Package (PBP)/Segment"
PLAN_TERMINATION_REASON = "10"
TRC_DISENROLLED = "013"
ID_STEP = "YEAR_END"
MAIL_WITHIN = dt.timedelta(days=7)
AUTO_ENROLLED, FACILITATED_ENROLLED, OPTED_OUT = "AUTO_ENROLLED", "FACILITATED_ENROLLED", "OPTED_OUT"
NO_ELIGIBLE_TARGET, NO_BENCHMARK, NOT_LIS = "NO_ELIGIBLE_TARGET", "NO_BENCHMARK", "NOT_LIS"
OUTCOMES = {"117": AUTO_ENROLLED, "118": FACILITATED_ENROLLED, "166": OPTED_OUT}


def plan_year_ends(state: MemberState, plan: Mapping[str, Any] | None) -> bool:
    """Does the member's plan not continue into its plan year (``plan``: the Y record; module doc, 1)?"""
    if not plan:
        return False
    status = plan.get("renewal_status")
    if status == "NON_RENEWING":
        return True
    if status == "SERVICE_AREA_REDUCTION" and plan.get("plan_type") in ra.MA_PLAN_TYPES:
        counties = plan.get("reduced_counties")
        county = ((state.get("profile") or {}).get("county_code") or "").strip()
        return counties is not None and bool(county) and county in {str(c).strip() for c in counties}
    return False


def _why_not(state: MemberState, plans: Mapping[str, PlanState], benchmarks: Mapping[str, Decimal],
             plan_year: int) -> str:
    """Why the member has no plan from January 1 after the attempt (module doc, 4)."""
    new_year = dt.date(plan_year, 1, 1)
    if auto_enrollment.candidate_kind(state, new_year) is None:
        return NOT_LIS
    region, _ = ra.member_region(state)
    if region is None or benchmarks.get(region) is None:
        return NO_BENCHMARK
    return NO_ELIGIBLE_TARGET


def _notice(state: MemberState, ended: Mapping[str, Any], gained: Mapping[str, Any] | None, reason: str,
            plans: Mapping[str, PlanState], benchmarks: Mapping[str, Decimal], plan_year: int,
            as_of: dt.datetime) -> Output:
    gaining = plans.get(f"{gained['contract_id']}-{gained['pbp_id']}-{plan_year}") if gained else None
    region, _ = ra.member_region(state)
    bench = benchmarks.get(region or "")
    options = ra.zero_premium_options(plans, region, bench, plan_year) if reason != NOT_LIS and bench is not None \
        and region else []
    return Output(BENEFICIARY_NOTICES, state["mbi"], {
        "notice_id": stable_id("N", ID_STEP, plan_year, state["mbi"], PLAN_TERMINATED),
        "mbi": state["mbi"],
        "notice_type": PLAN_TERMINATED,
        "publication": None,
        "paper_color": None,
        "plan_year": plan_year,
        "losing_contract_id": ended["contract_id"],
        "losing_pbp_id": ended["pbp_id"],
        "gaining_contract_id": gained["contract_id"] if gained else None,
        "gaining_pbp_id": gained["pbp_id"] if gained else None,
        "current_plan_premium": None,
        "mail_by": as_of.astimezone(EASTERN).date() + MAIL_WITHIN,
        "gaining_plan_premium": money(gaining["basic_premium"]) if gaining else None,
        "zero_premium_options": list(options),
        "reason": reason,
        "issued_at": as_of,
        "withdrawn_notice_id": None,
    })


def _enroll(state: MemberState, plans: Mapping[str, PlanState], benchmarks: Mapping[str, Decimal],
            plan_year: int, as_of: dt.datetime) -> tuple[MemberState | None, list[Output]]:
    res = auto_enrollment.auto_or_facilitate(state, plans, {plan_year: benchmarks}, as_of,
                                             on=dt.date(plan_year, 1, 1))
    return res.state, list(res.outputs)


def year_end_member(state: MemberState, plans: Mapping[str, PlanState], benchmarks: Mapping[str, Decimal],
                    plan_year: int, as_of: dt.datetime,
                    previous_benchmarks: Mapping[str, Decimal] | None = None) -> StepResult:
    """``YEAR_END`` of ``plan_year`` for one member (module doc). ``benchmarks``: region -> benchmark of Y;
    ``previous_benchmarks``: of Y-1, for the 013's subsidy amount and premium liability of December 31 (issue 23's
    amounts on every reply with a premium; unknown: the amounts of a member with LIS are empty)."""
    year_end = dt.date(plan_year - 1, 12, 31)
    new_year = dt.date(plan_year, 1, 1)
    current = enrollment_on(state, year_end)
    if current is None or enrollment_on(state, new_year) is not current:
        # not (or no longer) enrolled past December 31: retry the enrollment of one the year end left planless
        if issued.has_notice(state, plan_year, PLAN_TERMINATED) and enrollment_on(state, new_year) is None:
            new, outputs = _enroll(state, plans, benchmarks, plan_year, as_of)
            return StepResult(new, outputs)
        return StepResult(None, [])
    plan = plans.get(f"{current['contract_id']}-{current['pbp_id']}-{plan_year}")
    if not plan_year_ends(state, plan):
        return StepResult(None, [])

    new = clone(state)
    ended = enrollment_on(new, year_end)
    assert ended is not None
    ended["end"] = iso(year_end)
    ended["disenrollment_reason"] = PLAN_TERMINATION_REASON
    last = plans.get(f"{ended['contract_id']}-{ended['pbp_id']}-{plan_year - 1}")
    premium = money(last["basic_premium"]) if last and last.get("basic_premium") is not None else None
    outputs: list[Output] = [trr_record(
        trc=TRC_DISENROLLED, mbi=new["mbi"], contract_id=ended["contract_id"], transaction_code=TC_DISENROLL,
        processed_at=as_of, cause_id=f"{ID_STEP}|{plan_year}|{new['mbi']}",
        pbp_id=ended["pbp_id"], effective_date=new_year, disenrollment_reason=PLAN_TERMINATION_REASON,
        enrollment_source=ended.get("enrollment_source"), update_source_contract_id="CMS",
        part_d_premium=premium, reason=PLAN_YEAR_ENDS,
        **(premium_amounts.member_amounts(new, plans, {plan_year - 1: previous_benchmarks or {}},
                                          ended["contract_id"], ended["pbp_id"], year_end) if premium is not None else {}),
        **lis_fields(lis_on(new, year_end)), **beneficiary_fields(new),
    )]
    enrolled, more = _enroll(new, plans, benchmarks, plan_year, as_of)
    new = enrolled if enrolled is not None else new
    outputs.extend(more)
    replied = {o.value.get("transaction_reply_code"): o.value for o in more if o.topic == TRR_REPLIES}
    outcome = next((OUTCOMES[t] for t in ("117", "118", "166") if t in replied), None)
    gained = next((replied[t] for t in ("117", "118") if t in replied), None)
    notice = _notice(new, ended, gained, outcome or _why_not(new, plans, benchmarks, plan_year), plans,
                     benchmarks, plan_year, as_of)
    issued.note_notice(new, plan_year, notice.value)
    outputs.append(notice)
    return StepResult(new, outputs)
