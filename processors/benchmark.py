"""The regional low-income benchmark premium (seed 004, 42 CFR 423.780(b)(2)(i)).

For each PDP region and plan year Y::

    benchmark = sum(premium_p * lis_p) / sum(lis_p)

over the *benchmark plans* of the region, where ``premium_p`` is the plan's
Y ``basic_premium`` (for an enhanced PDP and an MA-PD that is already the
portion attributable to basic coverage, as the statute requires) and
``lis_p`` is the number of LIS enrollees, full and partial subsidy, in the
plan in the reference month (:mod:`processors.lis_counts`, keyed
``{contract}-{pbp}``; the reference month precedes Y, so the enrollment is
the plan's current-year enrollment and the premium its Y premium).

Benchmark plans of a region: the PlanYearUpdate states of plan year Y with
that ``region`` and

* ``plan_type`` PDP or MAPD (seed 004: "PDP and MA-PD plans (but not
  including PACE, private fee-for-service plans or 1876 cost plans)"; MA
  without Part D, MMP, PACE, PFFS and COST are left out);
* not ``employer_group`` (employer group waiver plans do not bid in the
  individual market; the seeds are silent, this is a choice);
* not ``NON_RENEWING`` (a plan that does not exist in Y has no Y premium;
  a plan reducing its service area does exist and is kept).

A plan with no LIS enrollee in the reference month (a new plan, for one)
has weight 0: it is a benchmark plan but does not move the average.

Statute 1860D-14(b)(2)(A)(i) and (B)(i) (quoted in seed 004): when all the
region's PDPs are offered by the same PDP sponsor (one ``contract_id``: the
sponsor is the contract holder, not the parent organisation), only that
sponsor's *basic* PDPs are averaged (MA-PDs and enhanced PDPs drop out), see
:func:`one_sponsor_plans`.

Region with benchmark plans but no LIS enrollee at all (the seeds are
silent): the simple, unweighted average of their premiums, so that a region
always has a benchmark when it has plans (``lis_enrollment_total`` 0,
``plans_weighted`` = the number of plans averaged). A region with no
benchmark plan gets no benchmark (no record).

Rounding: the average is computed exactly (fractions, no floating point and
no intermediate rounding) and rounded once to the cent, ROUND_HALF_UP
(an exact half cent goes up: 30.005 -> 30.01; 30.0049... -> 30.00).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from processors.lis_counts import plan_key
from processors.model import LIS_BENCHMARKS, Output, PlanState
from processors.regions import is_region

CENT = Decimal("0.01")
BENCHMARK_PLAN_TYPES = frozenset({"PDP", "MAPD"})


@dataclass(frozen=True)
class RegionCalculation:
    """The inputs and result of one region's benchmark."""

    region: str
    plan_year: int
    benchmark_premium: Decimal
    lis_enrollment_total: int
    plans_weighted: int
    #: (plan key "{contract}-{pbp}", premium, weight) of every benchmark plan, sorted by key.
    plans: tuple[tuple[str, Decimal, int], ...]
    weighted: bool  # False: the equal-weight fallback (no LIS enrollee in the region)


def money(value: object) -> Decimal:
    """A money value (string, int, Decimal) as Decimal."""
    return value if isinstance(value, Decimal) else Decimal(str(value))


def round_cents(value: Fraction | Decimal) -> Decimal:
    """Round an exact non-negative amount to the cent, half up."""
    if isinstance(value, Decimal):
        return value.quantize(CENT, rounding=ROUND_HALF_UP)
    cents = Fraction(value) * 100
    sign = -1 if cents < 0 else 1
    cents = abs(cents)
    whole = cents.numerator // cents.denominator
    if cents - whole >= Fraction(1, 2):
        whole += 1
    return (Decimal(sign * whole) / 100).quantize(CENT)


def is_benchmark_plan(plan: PlanState, plan_year: int) -> bool:
    """Whether a plan's premium enters its region's benchmark for ``plan_year``."""
    return (
        int(plan["plan_year"]) == plan_year
        and plan.get("plan_type") in BENCHMARK_PLAN_TYPES
        and not plan.get("employer_group")
        and plan.get("renewal_status") != "NON_RENEWING"
        and is_region(plan.get("region"))
    )


def one_sponsor_plans(members: list[PlanState]) -> list[PlanState]:
    """The plans whose premiums enter a region's average (statute 1860D-14(b)(2)(A), seed 004).

    (ii) PDPs of more than one PDP sponsor (or none at all): every benchmark plan, PDPs and MA-PDs.
    (i) every PDP offered by the same PDP sponsor: "the weighted average of the amounts described in
    (B)(i) for such plans", (B)(i) being the premium of "a basic prescription drug plan": only that
    sponsor's BASIC PDPs (MA-PDs and enhanced PDPs drop out). The sponsor is the organisation that
    holds the contract (``contract_id``); a parent organisation may own several sponsors. A sponsor
    with only enhanced PDPs in the region (not expected: a sponsor offering enhanced coverage offers
    basic coverage there too) falls back to its PDPs with their basic portion.
    """
    pdps = [p for p in members if p["plan_type"] == "PDP"]
    if len({p["contract_id"] for p in pdps}) != 1:
        return members
    basic = [p for p in pdps if p.get("benefit_type") == "BASIC"]
    return basic or pdps


def benchmark_details(
    plans: Mapping[str, PlanState], counts: Mapping[str, int], plan_year: int
) -> dict[str, RegionCalculation]:
    """Every region's calculation, by region code (regions without benchmark plans are absent)."""
    by_region: dict[str, list[PlanState]] = {}
    for plan in plans.values():
        if is_benchmark_plan(plan, plan_year):
            by_region.setdefault(plan["region"], []).append(plan)

    result: dict[str, RegionCalculation] = {}
    for region in sorted(by_region):
        members = one_sponsor_plans(by_region[region])
        rows = sorted(
            (plan_key(p["contract_id"], p["pbp_id"]), money(p["basic_premium"]),
             max(0, int(counts.get(plan_key(p["contract_id"], p["pbp_id"]), 0))))
            for p in members
        )
        total = sum(w for _, _, w in rows)
        if total > 0:
            exact = sum((Fraction(prem) * w for _, prem, w in rows), Fraction(0)) / total
            used = sum(1 for _, _, w in rows if w > 0)
        else:
            exact = sum((Fraction(prem) for _, prem, _ in rows), Fraction(0)) / len(rows)
            used = len(rows)
        result[region] = RegionCalculation(
            region=region,
            plan_year=plan_year,
            benchmark_premium=round_cents(exact),
            lis_enrollment_total=total,
            plans_weighted=used,
            plans=tuple(rows),
            weighted=total > 0,
        )
    return result


def benchmark_values(
    plans: Mapping[str, PlanState], counts: Mapping[str, int], plan_year: int
) -> dict[str, Decimal]:
    """region -> benchmark premium (Decimal, two places) for ``plan_year``."""
    return {r: c.benchmark_premium for r, c in benchmark_details(plans, counts, plan_year).items()}


def calculate_benchmarks(
    plans: Mapping[str, PlanState],
    counts: Mapping[str, int],
    plan_year: int,
    reference_month: dt.date,
    as_of: dt.datetime,
) -> list[Output]:
    """One ``RegionBenchmark`` per region with benchmark plans, on ``lis-benchmarks``.

    Key ``{region}-{plan_year}``; ``reference_month`` is published as the
    first day of its month; ``calculated_at`` (extra) is ``as_of``.
    """
    month = reference_month.replace(day=1)
    out: list[Output] = []
    for region, calc in benchmark_details(plans, counts, plan_year).items():
        out.append(
            Output(
                LIS_BENCHMARKS,
                f"{region}-{plan_year}",
                {
                    "region": region,
                    "plan_year": plan_year,
                    "reference_month": month,
                    "benchmark_premium": calc.benchmark_premium,
                    "lis_enrollment_total": calc.lis_enrollment_total,
                    "plans_weighted": calc.plans_weighted,
                    "calculated_at": as_of,
                },
            )
        )
    return out


def benchmark_state(outputs: list[Output]) -> dict[str, Decimal]:
    """region -> benchmark from ``calculate_benchmarks`` outputs (for the reassignment step)."""
    return {o.value["region"]: o.value["benchmark_premium"] for o in outputs if o.topic == LIS_BENCHMARKS}


__all__ = [
    "RegionCalculation", "benchmark_details", "one_sponsor_plans", "benchmark_values", "calculate_benchmarks",
    "benchmark_state", "is_benchmark_plan", "round_cents", "money",
]
