"""What a member owes the plan: the LIS premium subsidy amount and the premium liability on a reply (issue 23).

Seed 002 (Table 12: an LIS period has a "Premium subsidy amount") and seed 004 ("the Federal premium subsidy
covers the full cost of the plan's basic Part D premium for a full-subsidy beneficiary, up to the low-income
benchmark amount"). For a member with premium subsidy level L in plan P on a day of plan year Y::

    lis_premium_subsidy_amount = L% x min(P's Y basic premium, Y benchmark of P's region)   (half up, once)
    member_premium_liability   = P's Y basic premium - that amount
                                 (0.00 for a 100% member of a plan that waives a premium within the de minimis
                                 amount above the benchmark, seed 001)

as :func:`processors.reassignment.subsidy_amount` and :func:`~processors.reassignment.premium_liability` already
compute them for the reassignment's 212. Which benchmark a reply sees is the shell's business: the benchmarks the
member's partition has applied (the ``CALCULATE_BENCHMARKS`` commands before the record in the partition's order,
``streams/runtime/cycle.py``), so it is a function of the input log.

* No LIS on that day: no subsidy amount, the liability is the whole premium (it needs no benchmark).
* Level 000 ("no subsidy", seed 002 Table 14): subsidy 0.00, the liability the whole premium.
* Level 025..100 and the plan year's benchmark for the plan's region **not known yet** (no calculation for Y
  applied): both empty.
* A plan without Part D (``MA``), or a plan-year record that does not renew (no Y premium exists): both empty.

Every reply that carries a ``part_d_premium`` gets the two amounts (an accepted, a rejected or an informational
reply: the plan reads what the member would owe in that plan); a 014 (the member left) carries neither.
:func:`benchmark_change` is the 121 a plan gets when a calculation changes what one of its members owes.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from processors.codes import TC_DISENROLL, TC_INFORMATIONAL
from processors.dates import day_before, from_iso, instant_iso
from processors.member import enrollment_on, lis_on
from processors.model import TRR_REPLIES, MemberState, Output, PlanState
from processors.plans import plan_key, plan_premium
from processors.reassignment import de_minimis_amount, premium_liability, subsidy_amount
from processors.trr import beneficiary_fields, lis_fields, trr_record

SUBSIDY = "lis_premium_subsidy_amount"
LIABILITY = "member_premium_liability"
NO_SUBSIDY = "000"
NO_PART_D = frozenset({"MA"})  # Medicare Advantage without Part D: no Part D premium to subsidize
#: The 121 a benchmark calculation sends when it changes what a member owes (``TrrRecord.reason``).
BENCHMARK_CALCULATED = "BENCHMARK_CALCULATED"
TRC_LIS_CHANGED = "121"

Benchmarks = Mapping[int, Mapping[str, Decimal]]  # plan year -> region -> benchmark


def amounts(plan: PlanState | None, level: str | None, benchmarks: Benchmarks, plan_year: int) -> dict[str, Any]:
    """``{lis_premium_subsidy_amount, member_premium_liability}`` for a member with subsidy ``level`` (None: no
    LIS) in ``plan`` (its ``plan_year`` record), with the benchmarks known (module docstring)."""
    none = {SUBSIDY: None, LIABILITY: None}
    premium = plan_premium(plan)
    if premium is None or plan.get("plan_type") in NO_PART_D or plan.get("renewal_status") == "NON_RENEWING":
        return none
    if level is None:
        return {SUBSIDY: None, LIABILITY: premium}
    if level == NO_SUBSIDY:
        return {SUBSIDY: Decimal("0.00"), LIABILITY: premium}
    benchmark = (benchmarks.get(int(plan_year)) or {}).get(plan.get("region") or "")
    if benchmark is None:
        return none
    return {
        SUBSIDY: subsidy_amount(level, premium, benchmark),
        LIABILITY: premium_liability(premium, benchmark, level, bool(plan.get("waives_de_minimis")),
                                     de_minimis_amount(int(plan_year))),
    }


def member_amounts(state: MemberState, plans: Mapping[str, PlanState], benchmarks: Benchmarks,
                   contract_id: str, pbp_id: str, day: dt.date) -> dict[str, Any]:
    """:func:`amounts` for the member's LIS on ``day`` in plan ``contract_id``-``pbp_id`` of ``day``'s year."""
    period = lis_on(state, day)
    plan = plans.get(plan_key(contract_id, pbp_id, day.year))
    return amounts(plan, period["premium_subsidy_level"] if period else None, benchmarks, day.year)


def premium_day(value: Mapping[str, Any]) -> dt.date | None:
    """The day a reply's ``part_d_premium`` is for: the effective date, except an accepted disenrollment (013 to a
    TC 51), whose premium is the last covered day's (its effective date is the first day without coverage)."""
    eff = value.get("effective_date")
    if eff is None:
        return None
    if value.get("transaction_reply_code") == "013" and value.get("transaction_code") == TC_DISENROLL:
        return day_before(eff)
    return eff


def with_amounts(outputs: list[Output], state: MemberState | None, plans: Mapping[str, PlanState],
                 benchmarks: Benchmarks | None) -> list[Output]:
    """Fill the two amounts on every TRR reply that carries a ``part_d_premium`` (in place; returns ``outputs``).

    ``state``: the member after the transaction (a reply about someone partd does not know, 007/008, gets none).
    """
    if state is None or not state.get("profile"):
        return outputs
    for out in outputs:
        v = out.value
        if out.topic != TRR_REPLIES or v.get("part_d_premium") is None:
            continue
        day = premium_day(v)
        if day is not None:
            v.update(member_amounts(state, plans, benchmarks or {}, v["contract_id"], v["pbp_id"], day))
    return outputs


def benchmark_change(state: MemberState, plans: Mapping[str, PlanState], before: Benchmarks, after: Benchmarks,
                     plan_year: int, as_of: dt.datetime) -> list[Output]:
    """The 121 to the member's plan when a benchmark calculation for ``plan_year`` changes what the member owes.

    Issue 23: "When a later LIS change or benchmark changes what a member owes, the plan gets a reply with the new
    amounts". The plan is the enrollment in force on January 1 of ``plan_year`` (the year the benchmark is for);
    the amounts are compared with ``before`` (the benchmarks known until this calculation: none the first time,
    so every LIS member of a plan with a Part D premium gets the year's first amounts) and ``after``. Nothing
    when they are equal (no LIS, level 000, no plan data for the year). TRC 121 (informational, transaction code
    01, as for an LIS change), reason ``BENCHMARK_CALCULATED``, effective January 1 of ``plan_year``, the LIS
    period in force that day, processed at the command's ``as_of`` (its daily TRR file).
    """
    day = dt.date(plan_year, 1, 1)
    enrollment = enrollment_on(state, day)
    if enrollment is None:
        return []
    contract_id, pbp_id = enrollment["contract_id"], enrollment["pbp_id"]
    old = member_amounts(state, plans, before, contract_id, pbp_id, day)
    new = member_amounts(state, plans, after, contract_id, pbp_id, day)
    if old == new:
        return []
    return [trr_record(
        trc=TRC_LIS_CHANGED, mbi=state["mbi"], contract_id=contract_id, transaction_code=TC_INFORMATIONAL,
        processed_at=as_of, cause_id=f"BENCHMARK|{plan_year}|{instant_iso(as_of)}|{state['mbi']}",
        pbp_id=pbp_id, effective_date=day, **lis_fields(lis_on(state, day)),
        part_d_premium=plan_premium(plans.get(plan_key(contract_id, pbp_id, plan_year))),
        reason=BENCHMARK_CALCULATED, **new, **beneficiary_fields(state),
    )]


def lis_reply_money(state: MemberState, plans: Mapping[str, PlanState] | None, benchmarks: Benchmarks | None,
                    enrollment: Mapping[str, Any], period_start: str) -> dict[str, Any]:
    """``part_d_premium`` and the two amounts of a 121/223 to ``enrollment``'s plan, for the period's first day in
    the plan (the period's start, or the enrollment's when it starts later), from the member's state after the
    change ({} without a catalog)."""
    if plans is None:
        return {}
    day = max(from_iso(period_start), from_iso(enrollment["start"]))
    contract_id, pbp_id = enrollment["contract_id"], enrollment["pbp_id"]
    premium = plan_premium(plans.get(plan_key(contract_id, pbp_id, day.year)))
    if premium is None:
        return {}
    return {"part_d_premium": premium, **member_amounts(state, plans, benchmarks or {}, contract_id, pbp_id, day)}
