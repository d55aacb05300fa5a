"""The annual LIS reassignment, one member at a time (seeds 001 and 000, docs/annual-cycle.md).

Two pure steps:

* :func:`evaluate` decides, for plan year Y (the year the change takes
  effect, January 1), what happens to one member: a :class:`Decision` with a
  ``case`` and, whenever the answer is "no", a ``reason``.
* :func:`apply_reassignment` turns a decision into the new member state and
  the records to publish (TRR 212/014 on the special TRR, GAIN/LOSS file
  records, plan obligations, the blue/tan letters).

"This year" is Y-1 and is read on December 31 of Y-1; "next year" is read on
January 1 of Y. Rules, in the order they are checked (the first that fails
gives the reason):

1. ``NO_ENROLLMENT``: no active enrollment in force on Dec 31 Y-1.
2. ``ENROLLMENT_ENDS``: that enrollment is not the one in force on Jan 1 Y
   (the member already elected another plan or left; voluntary elections win).
3. ``DECEASED``: a date of death on or before Jan 1 Y.
4. ``ALREADY_REASSIGNED`` / ``ALREADY_PASSIVE``: Y is in ``reassigned_years``
   / ``passive_years`` (once per calendar year, seed 000).
5. ``TERRITORY`` (PR VI GU AS MP) / ``NO_REGION`` (no or unknown state code):
   the member's region is the region of the state file's state (the state
   whose Medicaid file submitted the member), else of the address state
   (seed 001; :func:`processors.member.region_state_code`).
6. ``NO_PLAN_YEAR_DATA``: the current plan has no PlanYearUpdate for Y.
7. ``EMPLOYER_GROUP``: the current plan is an employer group plan.
8. ``PLAN_TYPE_NOT_COVERED``: PACE or COST (1876) plans.
9. ``NOT_LIS_THIS_YEAR`` / ``NOT_LIS_NEXT_YEAR``: no LIS period with a premium
   subsidy level above 000 covering Dec 31 Y-1 / Jan 1 Y.
10. Plan status for Y:

    * ``NON_RENEWING`` PDP -> case ``NON_RENEWAL_PDP`` (any level, any source);
    * ``NON_RENEWING`` MA plan (MAPD, MA, PFFS, MMP) -> case ``NON_RENEWAL_MA``;
    * ``SERVICE_AREA_REDUCTION`` MA plan: ``REDUCED_AREA_UNKNOWN`` when the
      plan's ``reduced_counties`` were not sent; ``COUNTY_STILL_SERVED`` when
      the profile's ``county_code`` is not one of them; else ``NON_RENEWAL_MA``;
    * renewing MA plan -> ``CONTINUING_MA`` (never reassigned);
    * renewing PDP (a PDP marked SERVICE_AREA_REDUCTION is treated as
      renewing): premium case, with the benchmark of the PDP's own region:
      ``NO_BENCHMARK``; ``AT_OR_BELOW_BENCHMARK`` (premium <= benchmark);
      ``DE_MINIMIS_WAIVED`` (premium - benchmark <= the plan year's de minimis amount,
      :func:`de_minimis_amount`, 2.00 by default, and the plan waives);
      ``NOT_FULL_SUBSIDY`` (next-year level not 100); source not A, C or H:
      ``NO_LIABILITY_INCREASE`` when the member's premium liability does not
      rise from Y-1 to Y (:func:`premium_liability`, with the Y-1 benchmarks),
      else case ``CHOOSER_TAN`` (reason ``CHOOSER``, not moved, tan letter
      11267; reason ``LIABILITY_NOT_COMPARED_*`` when the Y-1 benchmark or plan
      record is unknown);
      otherwise case ``PREMIUM``.

11. Target (cases PREMIUM, NON_RENEWAL_*), in the member's region, with that
    region's benchmark: :func:`eligible_targets` then :func:`draw_target`.
    No benchmark for the region -> ``NO_BENCHMARK``; no eligible plan ->
    ``NO_ELIGIBLE_TARGET`` (a REASSIGNMENT_NOT_POSSIBLE notice).
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import resources
from typing import Any

from processors import issued
from processors.benchmark import money, round_cents
from processors.dates import EASTERN, end_of_day_eastern, iso
from processors.ids import draw_fraction, stable_id
from processors.lis_counts import plan_key
from processors.member import address_state_code, enrollment_on, region_state_code, submission_state_code
from processors.model import (
    clone,
    BENEFICIARY_NOTICES,
    PLAN_NOTICES,
    MemberState,
    Output,
    PlanState,
    StepResult,
)
from processors.plan_index import RegionPdp, region_pdps
from processors.regions import is_territory, region_of_state
from processors.trr import beneficiary_fields, cms_file_name, special_trr_file_name, trr_record

# --- cases -----------------------------------------------------------------
PREMIUM = "PREMIUM"
NON_RENEWAL_PDP = "NON_RENEWAL_PDP"
NON_RENEWAL_MA = "NON_RENEWAL_MA"
CHOOSER_TAN = "CHOOSER_TAN"
NONE = "NONE"
MOVING_CASES = frozenset({PREMIUM, NON_RENEWAL_PDP, NON_RENEWAL_MA})

# --- reasons ("no" answers) --------------------------------------------------
NO_ENROLLMENT = "NO_ENROLLMENT"
ENROLLMENT_ENDS = "ENROLLMENT_ENDS"
DECEASED = "DECEASED"
ALREADY_REASSIGNED = "ALREADY_REASSIGNED"
ALREADY_PASSIVE = "ALREADY_PASSIVE"
TERRITORY = "TERRITORY"
NO_REGION = "NO_REGION"
NO_PLAN_YEAR_DATA = "NO_PLAN_YEAR_DATA"
EMPLOYER_GROUP = "EMPLOYER_GROUP"
PLAN_TYPE_NOT_COVERED = "PLAN_TYPE_NOT_COVERED"
NOT_LIS_THIS_YEAR = "NOT_LIS_THIS_YEAR"
NOT_LIS_NEXT_YEAR = "NOT_LIS_NEXT_YEAR"
CONTINUING_MA = "CONTINUING_MA"
REDUCED_AREA_UNKNOWN = "REDUCED_AREA_UNKNOWN"
COUNTY_STILL_SERVED = "COUNTY_STILL_SERVED"
NO_BENCHMARK = "NO_BENCHMARK"
AT_OR_BELOW_BENCHMARK = "AT_OR_BELOW_BENCHMARK"
DE_MINIMIS_WAIVED = "DE_MINIMIS_WAIVED"
NOT_FULL_SUBSIDY = "NOT_FULL_SUBSIDY"
NO_LIABILITY_INCREASE = "NO_LIABILITY_INCREASE"
CHOOSER = "CHOOSER"
#: The tan letter's reasons when this year's liability cannot be compared (issue 22): no Y-1 benchmark for the
#: plan's Y-1 region, or no Y-1 record of the plan. The letter goes out (next year's liability is above zero).
LIABILITY_NOT_COMPARED_NO_PRIOR_BENCHMARK = "LIABILITY_NOT_COMPARED_NO_PRIOR_BENCHMARK"
LIABILITY_NOT_COMPARED_NO_PRIOR_PLAN_YEAR = "LIABILITY_NOT_COMPARED_NO_PRIOR_PLAN_YEAR"
NO_ELIGIBLE_TARGET = "NO_ELIGIBLE_TARGET"

# --- constants from the seeds --------------------------------------------------
# The de minimis amount is per plan year data (seed 001 defers to each year's announcement):
# processors/data/de_minimis.json, ``default`` for a year not listed.
_DE_MINIMIS_DATA = json.loads(resources.files("processors.data").joinpath("de_minimis.json").read_text())
#: the documented default ($2.00) for a plan year whose amount is not in the data file
DE_MINIMIS = Decimal(_DE_MINIMIS_DATA["default"])
#: plan year -> announced de minimis amount
DE_MINIMIS_BY_YEAR: dict[int, Decimal] = {
    int(year): Decimal(amount) for year, amount in _DE_MINIMIS_DATA["by_plan_year"].items()
}


def de_minimis_amount(plan_year: int) -> Decimal:
    """The de minimis amount for ``plan_year`` (the data file's entry, else the 2.00 default)."""
    return DE_MINIMIS_BY_YEAR.get(int(plan_year), DE_MINIMIS)

CMS_PLACED_SOURCES = frozenset({"A", "C", "H"})  # auto, facilitated, reassigned (seed 001)
MA_PLAN_TYPES = frozenset({"MAPD", "MA", "PFFS", "MMP"})
NOT_COVERED_PLAN_TYPES = frozenset({"PACE", "COST"})
ELECTION_TYPE = "Y"  # seed 002 Table 23: "CMS or casework SEP"
ENROLLMENT_SOURCE = "H"  # seed 002 Table 24: "CMS or plan reassignment"
DISENROLLMENT_REASON = "13"  # seed 002 Table 30: "Disenrollment because of enrollment in another plan"
TC_ENROLL = 61
TC_DISENROLL = 51
ID_STEP = "REASSIGNMENT"  # every id: stable_id(prefix, ID_STEP, plan_year, mbi, ...)

PUBLICATIONS = {PREMIUM: "11209", NON_RENEWAL_PDP: "11208", NON_RENEWAL_MA: "11443", CHOOSER_TAN: "11267"}
NOTICE_TYPES = {
    PREMIUM: "REASSIGNMENT_PREMIUM",
    NON_RENEWAL_PDP: "REASSIGNMENT_NON_RENEWAL_PDP",
    NON_RENEWAL_MA: "REASSIGNMENT_NON_RENEWAL_MA",
    CHOOSER_TAN: "CHOOSER",
}
NOT_POSSIBLE_NOTICE = "REASSIGNMENT_NOT_POSSIBLE"
#: Seed 001: those who "no longer qualify for LIS ... will receive information about their options from CMS"
#: (issue 22): CMS-placed members (source A, C, H) whose LIS ends before January 1 Y; they are not moved.
LIS_ENDING_NOTICE = "LIS_ENDS_NEXT_YEAR"
#: Seed 001's second blue notice (December): current drugs on the new plan's formulary, exceptions/appeals/grievances.
SECOND_NOTICE = "REASSIGNMENT_FORMULARY_NOTICE"
#: There is no drug-regimen or formulary data in this product: the second notice says so in ``reason``.
NO_FORMULARY_DATA = "NO_FORMULARY_DATA"

GAIN_HEADER, GAIN_TRAILER = "MMAPDPGH", "MMAPDPGT"
LOSS_HEADER, LOSS_TRAILER = "MMAPDPLH", "MMAPDPLT"
FOUR_RX_DUE = dt.timedelta(hours=72)
CONFIRMATION_DUE = dt.timedelta(days=10)
# Plan deadlines of seed 001 ("End-of-year Timeline"), (month, day) of Y-1, due at the end of that day (Eastern).
STANDARD_ANOC_BY = (9, 30)        # losing PDP, premium case: the standard ANOC ...
ALTERNATIVE_ANOC_BY = (11, 7)     # ... or the alternative ANOC (Chapter 3 Exhibit 30)
NON_RENEWAL_NOTICE_BY = (10, 3)   # non-renewing plan (or MA service area reduction): notice received by
ANOC_EOC_BY = (12, 31)            # a plan keeping a member who re-enrolls after the reassignment: ANOC/EOC
SEND_ANOC = "SEND_ANOC"
SEND_ALTERNATIVE_ANOC = "SEND_ALTERNATIVE_ANOC"
SEND_NON_RENEWAL_NOTICE = "SEND_NON_RENEWAL_NOTICE"
SEND_ANOC_EOC = "SEND_ANOC_EOC"


def deadline(plan_year: int, month_day: tuple[int, int]) -> dt.datetime:
    """A seed 001 deadline of Y-1 as the due instant (end of that day, Eastern)."""
    return end_of_day_eastern(dt.date(plan_year - 1, *month_day))


def losing_plan_obligations(case: str, plan_year: int, as_of: dt.datetime) -> list[tuple[str, dt.datetime, str]]:
    """(obligation, due_at, note) the run puts on the losing plan for one member it moves (seed 001, issue 22).

    Premium case: the alternative ANOC (Chapter 3, Exhibit 30) for this member, "by November 7 ... later to
    avoid preempting CMS' blue reassignment notice": due at the end of November 7, or of the blue notice's
    mail-by date when a later run mails it after that (never before the member's blue notice). The standard
    ANOC (by September 30) and the non-renewal notice (by October 3) are plan-level duties owed to every
    enrollee, issued before they fall due by :mod:`processors.plan_obligations` (the benchmark calculation,
    the plan-year record); the run, in October, would issue them overdue.
    """
    if case != PREMIUM:
        return []
    std, alt = dt.date(plan_year - 1, *STANDARD_ANOC_BY), dt.date(plan_year - 1, *ALTERNATIVE_ANOC_BY)
    by = max(alt, mail_by(PREMIUM, plan_year, as_of))
    note = (f"The alternative ANOC (Chapter 3, Exhibit 30) for this reassigned member by {by}; the standard ANOC"
            f" by {std} ({SEND_ANOC}, owed to every enrollee) meets the requirement too (seed 001).")
    return [(SEND_ALTERNATIVE_ANOC, end_of_day_eastern(by), note)]


@dataclass(frozen=True)
class Decision:
    """What the reassignment does to one member for ``plan_year``."""

    mbi: str
    plan_year: int
    case: str  # PREMIUM, NON_RENEWAL_PDP, NON_RENEWAL_MA, CHOOSER_TAN, NONE
    reason: str | None = None  # set for every "no" (NONE, CHOOSER_TAN, or a moving case without target)
    region: str | None = None  # the member's region
    losing_contract_id: str | None = None
    losing_pbp_id: str | None = None
    losing_plan_type: str | None = None
    losing_parent_org_id: str | None = None
    losing_premium: Decimal | None = None  # losing plan's Y basic premium
    plan_benchmark: Decimal | None = None  # benchmark of the losing plan's region (premium test)
    benchmark: Decimal | None = None  # benchmark of the member's region (target test)
    gaining_contract_id: str | None = None
    gaining_pbp_id: str | None = None
    gaining_premium: Decimal | None = None
    zero_premium_options: tuple[str, ...] = ()
    #: the LIS period covering Jan 1 Y (copied from state), or None
    lis_next_year: Mapping[str, Any] | None = field(default=None, compare=True)
    #: the enrollment source of the member's current enrollment (who placed them: CMS for A, C, H)
    losing_enrollment_source: str | None = None

    @property
    def moves(self) -> bool:
        """True when the member is reassigned (a moving case with a target)."""
        return self.case in MOVING_CASES and self.gaining_contract_id is not None

    @property
    def losing_key(self) -> str | None:
        if self.losing_contract_id is None:
            return None
        return plan_key(self.losing_contract_id, self.losing_pbp_id or "")


# --- helpers ---------------------------------------------------------------------


def _year_key(contract_id: str, pbp_id: str, plan_year: int) -> str:
    return f"{contract_id}-{pbp_id}-{plan_year}"


def _lis_covering(state: MemberState, day: dt.date) -> dict[str, Any] | None:
    d = iso(day)
    for p in state.get("lis") or []:
        if (p.get("premium_subsidy_level") or "000") == "000":
            continue
        if p["start"] <= d and (p.get("end") is None or d <= p["end"]):
            return p
    return None


def member_region(state: MemberState) -> tuple[str | None, str | None]:
    """(region, reason): the region of the state file's state, else of the address state (seed 001),
    else TERRITORY / NO_REGION (:func:`processors.member.region_state_code`)."""
    code = region_state_code(state)
    if is_territory(code):
        return None, TERRITORY
    region = region_of_state(code)
    return (region, None) if region else (None, NO_REGION)


def _zero_premium(pdps: Sequence[RegionPdp], benchmark: Decimal) -> list[str]:
    return [e.key for e in pdps if e.premium <= benchmark]


def _targets(
    pdps: Sequence[RegionPdp], benchmark: Decimal, losing_key: str | None, losing_parent_org_id: str | None,
    de_minimis: Decimal = DE_MINIMIS,
) -> list[str]:
    same_parent: list[str] = []
    others: list[str] = []
    for e in pdps:  # sorted by key, so both lists come out sorted
        if e.key == losing_key:
            continue
        same = losing_parent_org_id is not None and e.parent_org_id == losing_parent_org_id
        if e.premium <= benchmark:
            (same_parent if same else others).append(e.key)
        elif same and e.waives_de_minimis and e.premium - benchmark <= de_minimis:
            same_parent.append(e.key)
    return same_parent if same_parent else others


def zero_premium_options(
    plans: Mapping[str, PlanState], region: str, benchmark: Decimal, plan_year: int
) -> list[str]:
    """``{contract}-{pbp}`` of the basic, renewing, non-employer PDPs of the region at or below
    the benchmark for ``plan_year``, sorted (the tan letter's list; also the targets open to anyone).

    ``plans``: the catalog, or a :class:`~processors.plan_index.PlanIndex` of it (a lookup instead of a scan).
    """
    return _zero_premium(region_pdps(plans, plan_year, region), benchmark)


def eligible_targets(
    plans: Mapping[str, PlanState],
    region: str,
    benchmark: Decimal,
    plan_year: int,
    losing_key: str | None,
    losing_parent_org_id: str | None,
) -> list[str]:
    """The plans the draw is made among (sorted ``{contract}-{pbp}``).

    Candidates: PDPs in ``region`` for ``plan_year``, BASIC benefit, RENEWING,
    not employer group, never the losing plan, and either premium <= benchmark,
    or (same parent organization as the losing plan only) premium within the
    plan year's de minimis amount above the benchmark in a plan that waives it. If any candidate
    has the losing plan's parent organization, only those are returned (same
    parent first); otherwise all candidates are. ``plans``: the catalog or a
    :class:`~processors.plan_index.PlanIndex` of it.
    """
    return _targets(region_pdps(plans, plan_year, region), benchmark, losing_key, losing_parent_org_id,
                    de_minimis_amount(plan_year))


def draw_target(candidates: Sequence[str], seed: object, mbi: str, plan_year: int) -> str | None:
    """The reproducible draw: candidates sorted by key, index floor(draw_fraction(seed, mbi, Y) * n)."""
    if not candidates:
        return None
    ordered = sorted(candidates)
    n = len(ordered)
    index = min(n - 1, int(draw_fraction(seed, mbi, plan_year) * n))
    return ordered[index]


def _plan(plans: Mapping[str, PlanState], key: str, plan_year: int) -> PlanState | None:
    contract_id, pbp_id = key.split("-", 1)
    return plans.get(_year_key(contract_id, pbp_id, plan_year))


# --- evaluate ----------------------------------------------------------------------


def premium_liability(
    premium: Decimal, benchmark: Decimal, level: str | None, waives: bool, de_minimis: Decimal
) -> Decimal:
    """What a member with premium subsidy ``level`` pays of a plan's basic ``premium`` (never below 0).

    The subsidy is :func:`subsidy_amount`; a full-subsidy member pays nothing of a premium within
    ``de_minimis`` above the benchmark when the plan waives it (seed 001).
    """
    if level == "100" and waives and premium - benchmark <= de_minimis:
        return Decimal("0.00")
    return max(Decimal("0.00"), premium - (subsidy_amount(level or "000", premium, benchmark) or Decimal(0)))


def _liability_increases(
    state: MemberState, plans: Mapping[str, PlanState], current: Mapping[str, Any], plan_year: int,
    next_liability: Decimal, previous_benchmarks: Mapping[str, Decimal] | None,
) -> str | None:
    """Seed 001's chooser test: does the member's premium liability in the plan rise from Y-1 to Y?

    This year's liability: the plan's Y-1 basic premium, the member's LIS level on Dec 31 Y-1, the
    Y-1 benchmark of the plan's Y-1 region (``previous_benchmarks``), the Y-1 waiver and de minimis.
    Returns the tan letter's reason: ``CHOOSER`` (compared: it rises), None (compared: it does not), or,
    when the comparison cannot be made, ``LIABILITY_NOT_COMPARED_NO_PRIOR_PLAN_YEAR`` (no Y-1 record of the
    plan) / ``LIABILITY_NOT_COMPARED_NO_PRIOR_BENCHMARK`` (no Y-1 benchmark for its region): the letter is
    sent whenever next year's liability is above zero (issue 22).
    """
    last = plans.get(_year_key(current["contract_id"], current["pbp_id"], plan_year - 1))
    if last is None or last.get("basic_premium") is None:
        return LIABILITY_NOT_COMPARED_NO_PRIOR_PLAN_YEAR if next_liability > 0 else None
    last_bench = (previous_benchmarks or {}).get(last.get("region") or "")
    if last_bench is None:
        return LIABILITY_NOT_COMPARED_NO_PRIOR_BENCHMARK if next_liability > 0 else None
    lis_now = _lis_covering(state, dt.date(plan_year - 1, 12, 31)) or {}
    before = premium_liability(
        money(last["basic_premium"]), last_bench, lis_now.get("premium_subsidy_level"),
        bool(last.get("waives_de_minimis")), de_minimis_amount(plan_year - 1),
    )
    return CHOOSER if next_liability > before else None


def evaluate(
    state: MemberState,
    plans: Mapping[str, PlanState],
    benchmarks: Mapping[str, Decimal],
    plan_year: int,
    seed: object,
    previous_benchmarks: Mapping[str, Decimal] | None = None,
) -> Decision:
    """Decide the reassignment of one member for ``plan_year`` (see the module docstring).

    ``plans`` is the plan catalog (``{contract}-{pbp}-{year}`` -> PlanState),
    or a :class:`~processors.plan_index.PlanIndex` of it (what a caller running
    many members passes: the region's target plans become a lookup),
    ``benchmarks`` region -> benchmark for ``plan_year``, ``seed`` the run's
    seed for the draw (None is a valid seed: it is drawn as the string "None"),
    ``previous_benchmarks`` (optional) region -> benchmark of ``plan_year - 1``,
    for the chooser's this-year premium liability (when absent, or without the
    plan's region, the comparison cannot be made: the tan letter goes out with a
    ``LIABILITY_NOT_COMPARED_*`` reason).
    """
    mbi = state["mbi"]
    year_end = dt.date(plan_year - 1, 12, 31)
    new_year = dt.date(plan_year, 1, 1)

    def no(reason: str, **kw: Any) -> Decision:
        return Decision(mbi=mbi, plan_year=plan_year, case=NONE, reason=reason, **kw)

    current = enrollment_on(state, year_end)
    if current is None:
        return no(NO_ENROLLMENT)
    losing = dict(losing_contract_id=current["contract_id"], losing_pbp_id=current["pbp_id"],
                  losing_enrollment_source=current.get("enrollment_source"))
    if enrollment_on(state, new_year) is not current:
        return no(ENROLLMENT_ENDS, **losing)
    death = (state.get("profile") or {}).get("date_of_death")
    if death and death <= iso(new_year):
        return no(DECEASED, **losing)
    if plan_year in (state.get("reassigned_years") or []):
        return no(ALREADY_REASSIGNED, **losing)
    if plan_year in (state.get("passive_years") or []):
        return no(ALREADY_PASSIVE, **losing)
    region, why = member_region(state)
    if region is None:
        return no(why or NO_REGION, **losing)

    plan = plans.get(_year_key(current["contract_id"], current["pbp_id"], plan_year))
    if plan is None:
        return no(NO_PLAN_YEAR_DATA, region=region, **losing)
    plan_type = plan.get("plan_type")
    parent = plan.get("parent_org_id")
    premium = money(plan["basic_premium"]) if plan.get("basic_premium") is not None else None
    losing.update(losing_plan_type=plan_type, losing_parent_org_id=parent, losing_premium=premium)
    if plan.get("employer_group"):
        return no(EMPLOYER_GROUP, region=region, **losing)
    if plan_type in NOT_COVERED_PLAN_TYPES or plan_type not in MA_PLAN_TYPES | {"PDP"}:
        return no(PLAN_TYPE_NOT_COVERED, region=region, **losing)
    if _lis_covering(state, year_end) is None:
        return no(NOT_LIS_THIS_YEAR, region=region, **losing)
    lis_next = _lis_covering(state, new_year)
    if lis_next is None:
        if plan.get("renewal_status") == "NON_RENEWING":
            losing["losing_premium"] = None  # the plan has no Y premium
        return no(NOT_LIS_NEXT_YEAR, region=region, **losing)
    lis_next = dict(lis_next)
    losing["lis_next_year"] = lis_next

    status = plan.get("renewal_status")
    plan_benchmark: Decimal | None = None
    if plan_type == "PDP" and status == "NON_RENEWING":
        case = NON_RENEWAL_PDP
    elif plan_type in MA_PLAN_TYPES and status == "NON_RENEWING":
        case = NON_RENEWAL_MA
    elif plan_type in MA_PLAN_TYPES and status == "SERVICE_AREA_REDUCTION":
        # Only members residing in a county that leaves the service area are affected.
        reduced = plan.get("reduced_counties")
        if reduced is None:
            return no(REDUCED_AREA_UNKNOWN, region=region, **losing)
        county = ((state.get("profile") or {}).get("county_code") or "").strip()
        if not county or county not in {str(c).strip() for c in reduced}:
            return no(COUNTY_STILL_SERVED, region=region, **losing)
        case = NON_RENEWAL_MA
    elif plan_type in MA_PLAN_TYPES:
        return no(CONTINUING_MA, region=region, **losing)
    else:  # a PDP that renews: the premium case
        plan_benchmark = benchmarks.get(plan.get("region") or region)
        if plan_benchmark is None:
            return no(NO_BENCHMARK, region=region, **losing)
        losing["plan_benchmark"] = plan_benchmark
        assert premium is not None
        if premium <= plan_benchmark:
            return no(AT_OR_BELOW_BENCHMARK, region=region, **losing)
        if plan.get("waives_de_minimis") and premium - plan_benchmark <= de_minimis_amount(plan_year):
            return no(DE_MINIMIS_WAIVED, region=region, **losing)
        if lis_next.get("premium_subsidy_level") != "100":
            return no(NOT_FULL_SUBSIDY, region=region, **losing)
        if current.get("enrollment_source") not in CMS_PLACED_SOURCES:
            tan = _liability_increases(state, plans, current, plan_year, premium - plan_benchmark,
                                       previous_benchmarks)
            if tan is None:
                return no(NO_LIABILITY_INCREASE, region=region, **losing)
            bench = benchmarks.get(region)
            options = tuple(zero_premium_options(plans, region, bench, plan_year)) if bench is not None else ()
            return Decision(
                mbi=mbi, plan_year=plan_year, case=CHOOSER_TAN, reason=tan, region=region,
                benchmark=bench, zero_premium_options=options, **losing,
            )
        case = PREMIUM

    bench = benchmarks.get(region)
    if bench is None:
        return Decision(mbi=mbi, plan_year=plan_year, case=case, reason=NO_BENCHMARK, region=region, **losing)
    losing_key = plan_key(current["contract_id"], current["pbp_id"])
    pdps = region_pdps(plans, plan_year, region)  # one lookup (PlanIndex) or one scan for both lists
    candidates = _targets(pdps, bench, losing_key, parent, de_minimis_amount(plan_year))
    target = draw_target(candidates, seed, mbi, plan_year)
    options = tuple(_zero_premium(pdps, bench))
    if target is None:
        return Decision(
            mbi=mbi, plan_year=plan_year, case=case, reason=NO_ELIGIBLE_TARGET, region=region,
            benchmark=bench, zero_premium_options=options, **losing,
        )
    gaining = _plan(plans, target, plan_year)
    assert gaining is not None
    return Decision(
        mbi=mbi, plan_year=plan_year, case=case, reason=None, region=region, benchmark=bench,
        gaining_contract_id=gaining["contract_id"], gaining_pbp_id=gaining["pbp_id"],
        gaining_premium=money(gaining["basic_premium"]), zero_premium_options=options, **losing,
    )


# --- apply -------------------------------------------------------------------------


def application_date(case: str, plan_year: int) -> dt.date:
    """June 1 of Y-1 for the premium case, September 30 of Y-1 for non-renewals (seed 001)."""
    return dt.date(plan_year - 1, 6, 1) if case == PREMIUM else dt.date(plan_year - 1, 9, 30)


def mail_by(case: str, plan_year: int, as_of: dt.datetime) -> dt.date:
    """When the letter must be mailed (seed 001 timeline; the exact day is our choice).

    Blue letters: "late October" -> October 31 of Y-1; tan letters: "early
    November" -> November 10 of Y-1. A run later than that (e.g. the second
    reassignment) mails within 14 days of its own date (Eastern). A blue letter of
    a run before November 7 is mailed by November 7 at the latest (issue 22): the
    losing plan's alternative ANOC is due then, "later to avoid preempting CMS'
    blue reassignment notice" (seed 001).
    """
    day = as_of.astimezone(EASTERN).date()
    fixed = dt.date(plan_year - 1, 11, 10) if case == CHOOSER_TAN else dt.date(plan_year - 1, 10, 31)
    when = max(fixed, day + dt.timedelta(days=14))
    alt = dt.date(plan_year - 1, *ALTERNATIVE_ANOC_BY)
    if case in MOVING_CASES and day < alt:
        when = min(when, alt)
    return when


def second_notice_mail_by(plan_year: int, as_of: dt.datetime) -> dt.date:
    """The second blue notice: "Mid-December ... begins mailing" (seed 001) -> December 20 of Y-1 (the end
    of mid-December; as late October -> Oct 31); issued after that day, mailed the day it is issued (Eastern):
    it is about the plan the member joins on January 1 (issue 22)."""
    return max(dt.date(plan_year - 1, 12, 20), as_of.astimezone(EASTERN).date())


def gain_file_name(contract_id: str, at: dt.datetime) -> str:
    """``P.R{contract}.APDP5.GAIN.D{yymmdd}.T{hhmmsst}.01`` (seed 001, with its process number)."""
    return cms_file_name(contract_id, "APDP5.GAIN", at)


def loss_file_name(contract_id: str, at: dt.datetime) -> str:
    """``P.R{contract}.APDP5.LOSS.D{yymmdd}.T{hhmmsst}.01`` (seed 001, with its process number)."""
    return cms_file_name(contract_id, "APDP5.LOSS", at)


def subsidy_amount(level: str | None, premium: Decimal | None, benchmark: Decimal | None) -> Decimal | None:
    """Premium subsidy (42 CFR 423.780(a), (d)): level% of the lesser of the plan's basic premium and
    the benchmark, rounded once to the cent (half up). 100% -> the lesser itself; 050, premium 30.00,
    benchmark 35.00 -> 15.00."""
    if level is None or premium is None or benchmark is None:
        return None
    return round_cents(min(premium, benchmark) * Decimal(int(level)) / 100)


def _round_parts(round_: int) -> tuple[int, ...]:
    """Id parts after the year's reassignment was undone ``round_`` times (none the first time: ids unchanged)."""
    return (round_,) if round_ else ()


def gaining_liability(d: Decision, plans: Mapping[str, PlanState]) -> Decimal | None:
    """The member's monthly premium liability in the gaining plan (issue 23; what the 212 tells the plan to bill):
    its Y premium minus the subsidy, 0.00 for a 100% member when the plan waives a premium within de minimis."""
    level = (d.lis_next_year or {}).get("premium_subsidy_level")
    if d.gaining_premium is None or d.benchmark is None or level is None:
        return None
    gaining = plans.get(_year_key(d.gaining_contract_id or "", d.gaining_pbp_id or "", d.plan_year)) or {}
    return premium_liability(d.gaining_premium, d.benchmark, level, bool(gaining.get("waives_de_minimis")),
                             de_minimis_amount(d.plan_year))


def customer_service_number(plan: Mapping[str, Any] | None) -> str | None:
    """Seed 001: "We will use the 'Auto-Enrollment Customer Service Number' if that field is populated in HPMS. If
    not, we will use the 'Customer Service for Prospective Members - Part D' information." (issue 23)"""
    plan = plan or {}
    auto = (plan.get("auto_enrollment_customer_service_number") or "").strip()
    return auto or (plan.get("customer_service_number") or "").strip() or None


def plan_contact(plans: Mapping[str, PlanState], key: str | None, plan_year: int) -> dict[str, Any]:
    """``{plan, marketing_name, customer_service_number}`` of plan ``{contract}-{pbp}`` from its ``plan_year``
    PlanYearUpdate (seed 001's HPMS "Organization Marketing Name" and customer service number; issue 23)."""
    plan = _plan(plans, key, plan_year) if key else None
    name = ((plan or {}).get("organization_marketing_name") or "").strip() or None
    return {"plan": key, "marketing_name": name, "customer_service_number": customer_service_number(plan)}


def notice_plan_key(d: Decision) -> str | None:
    """The plan a notice names (issue 23): the plan the member is in on January 1 of Y if they do nothing -- the
    gaining plan of a reassignment, else the member's current plan (tan letter, reassignment not possible)."""
    if d.gaining_contract_id is not None:
        return plan_key(d.gaining_contract_id, d.gaining_pbp_id or "")
    return d.losing_key


def _beneficiary_notice(
    d: Decision, *, notice_type: str, publication: str | None, paper_color: str | None,
    mail: dt.date | None, as_of: dt.datetime, current_premium: Decimal | None,
    reason: str | None = None, options: Sequence[str] | None = None,
    plans: Mapping[str, PlanState] | None = None, round_: int = 0,
) -> Output:
    listed = list(d.zero_premium_options if options is None else options)
    named = plan_contact(plans or {}, notice_plan_key(d), d.plan_year)
    return Output(
        BENEFICIARY_NOTICES,
        d.mbi,
        {
            "notice_id": stable_id("N", ID_STEP, d.plan_year, d.mbi, notice_type, *_round_parts(round_)),
            "mbi": d.mbi,
            "notice_type": notice_type,
            "publication": publication,
            "paper_color": paper_color,
            "plan_year": d.plan_year,
            "losing_contract_id": d.losing_contract_id,
            "losing_pbp_id": d.losing_pbp_id,
            "gaining_contract_id": d.gaining_contract_id,
            "gaining_pbp_id": d.gaining_pbp_id,
            "current_plan_premium": current_premium,
            "mail_by": mail,
            "gaining_plan_premium": d.gaining_premium,
            "zero_premium_options": listed,
            "reason": d.reason if reason is None else reason,
            "issued_at": as_of,
            # issue 23: the name and phone number seed 001 prints, for the plan named and every option listed
            "plan_marketing_name": named["marketing_name"],
            "plan_customer_service_number": named["customer_service_number"],
            "zero_premium_option_plans": [plan_contact(plans or {}, key, d.plan_year) for key in listed],
            "withdrawn_notice_id": None,  # issue 22
        },
    )


ADDRESS_FIELDS = ("mailing_address_line1", "mailing_address_line2", "mailing_city", "mailing_state_code",
                  "mailing_zip_code")


def mailing_address(state: MemberState) -> dict[str, Any]:
    """The profile's mailing address fields (all None when the producer sent none)."""
    profile = state.get("profile") or {}
    return {k: profile.get(k) for k in ADDRESS_FIELDS}


def address_outside_note(state: MemberState, gaining_region: str | None) -> str | None:
    """The GAIN record's note when the member's address is outside the gaining PDP's region, else None.

    The region comes from the state file (seed 001), so a gaining PDP may receive a member whose address
    of record is elsewhere; the seed tells the plan not to disenroll automatically.
    """
    address_state = address_state_code(state)
    if gaining_region is None or region_of_state(address_state) == gaining_region:
        return None
    return (f"ADDRESS OUTSIDE PLAN REGION: region {gaining_region} from the {submission_state_code(state)} state file,"
            f" address state {address_state}. Verify the address (Chapter 3, 50.2.1.4) before any disenrollment;"
            " do not disenroll automatically (seed 001).")


def _plan_notice(
    d: Decision, *, contract_id: str, pbp_id: str, notice_type: str, file_name: str | None,
    obligation: str | None, due_at: dt.datetime | None, header: str | None, trailer: str | None,
    as_of: dt.datetime, address: Mapping[str, Any] | None = None, note: str | None = None,
    outside_region: bool = False, round_: int = 0,
) -> Output:
    lis = d.lis_next_year or {}
    return Output(
        PLAN_NOTICES,
        contract_id,
        {
            "notice_id": stable_id("P", ID_STEP, d.plan_year, d.mbi, contract_id, pbp_id, notice_type, obligation,
                                   *_round_parts(round_)),
            "contract_id": contract_id,
            "pbp_id": pbp_id,
            "notice_type": notice_type,
            "file_name": file_name,
            "mbi": d.mbi,
            "obligation": obligation,
            "due_at": due_at,
            "lis_premium_subsidy_level": lis.get("premium_subsidy_level"),
            "lis_copay_level": lis.get("copay_level"),
            "header_code": header,
            "trailer_code": trailer,
            "plan_year": d.plan_year,
            "effective_date": dt.date(d.plan_year, 1, 1),
            **{k: (address or {}).get(k) for k in ADDRESS_FIELDS},
            "address_outside_plan_region": outside_region,
            "note": note,
            "issued_at": as_of,
            "all_enrollees": False,
            "withdrawn_notice_id": None,
        },
    )


def reenrollment_obligation(
    *, mbi: str, contract_id: str, pbp_id: str, plan_year: int, cause_id: str, processed_at: dt.datetime,
) -> Output:
    """SEND_ANOC_EOC to a plan a reassigned member re-enrolled in (seed 001: "If a beneficiary chooses to
    remain in their current plan, the current plan must send its ANOC/Evidence of Coverage (EOC) and other
    required annual materials by December 31"): due at the end of December 31 of Y-1 (Eastern), or 10
    calendar days after the transaction when it is processed later than that."""
    by = deadline(plan_year, ANOC_EOC_BY)
    due = by if processed_at <= by else processed_at + CONFIRMATION_DUE
    return Output(PLAN_NOTICES, contract_id, {
        "notice_id": stable_id("P", "REENROLLMENT", plan_year, mbi, contract_id, pbp_id, "OBLIGATION",
                               SEND_ANOC_EOC, cause_id),
        "contract_id": contract_id,
        "pbp_id": pbp_id,
        "notice_type": "OBLIGATION",
        "file_name": None,
        "mbi": mbi,
        "obligation": SEND_ANOC_EOC,
        "due_at": due,
        "lis_premium_subsidy_level": None,
        "lis_copay_level": None,
        "header_code": None,
        "trailer_code": None,
        "plan_year": plan_year,
        "effective_date": dt.date(plan_year, 1, 1),
        **{k: None for k in ADDRESS_FIELDS},
        "address_outside_plan_region": False,
        "note": (f"The member stays in this plan for {plan_year} (re-enrolled after the reassignment): send the"
                 f" ANOC/EOC and the other annual materials by {dt.date(plan_year - 1, *ANOC_EOC_BY)} (seed 001)."),
        "issued_at": processed_at,
        "all_enrollees": False,
        "withdrawn_notice_id": None,
    })


#: The notices of a reassignment (withdrawn when the member changes their mind before January 1).
REASSIGNMENT_NOTICES = frozenset({NOTICE_TYPES[PREMIUM], NOTICE_TYPES[NON_RENEWAL_PDP], NOTICE_TYPES[NON_RENEWAL_MA],
                                  SECOND_NOTICE})


def _reconcile(state: MemberState, d: Decision, as_of: dt.datetime) -> tuple[MemberState | None, list[Output]]:
    """Withdraw the "no" notices of ``d.plan_year`` this decision contradicts (issue 22, a later run):
    ``REASSIGNMENT_NOT_POSSIBLE`` once the member is moved after all; ``LIS_ENDS_NEXT_YEAR`` once an LIS period
    covers January 1 of Y after all. Returns (new state or None, withdrawal records)."""
    from processors import withdrawal  # late: it builds on this module

    stale = []
    if d.moves and issued.has_notice(state, d.plan_year, NOT_POSSIBLE_NOTICE):
        stale.append((issued.notice(state, d.plan_year, NOT_POSSIBLE_NOTICE), "REASSIGNED"))
    if d.lis_next_year is not None and issued.has_notice(state, d.plan_year, LIS_ENDING_NOTICE):
        stale.append((issued.notice(state, d.plan_year, LIS_ENDING_NOTICE), "LIS_CONTINUES_NEXT_YEAR"))
    if not stale:
        return None, []
    new = clone(state)
    out = [withdrawal.withdrawn_notice(new, d.plan_year, record, reason=why, issued_at=as_of,
                                       losing=(d.losing_contract_id, d.losing_pbp_id),
                                       gaining=(d.gaining_contract_id, d.gaining_pbp_id))
           for record, why in stale]
    issued.forget(new, d.plan_year, notices=[r for r, _ in stale])
    return new, out


def _answer(state: MemberState, d: Decision, notice: Output) -> StepResult:
    """Issue a "no" notice once per member and plan year (recorded in ``issued``), after any withdrawal."""
    new, out = _reconcile(state, d, notice.value["issued_at"])
    if issued.has_notice(state, d.plan_year, notice.value["notice_type"]):
        return StepResult(new, out)
    new = new if new is not None else clone(state)
    issued.note_notice(new, d.plan_year, notice.value)
    return StepResult(new, [*out, notice])


def apply_reassignment(
    state: MemberState,
    decision: Decision,
    plans: Mapping[str, PlanState],
    plan_year: int,
    as_of: dt.datetime,
) -> StepResult:
    """The new state and the records of one decision, processed at ``as_of``.

    * NONE: nothing (state None, no output), except ``NOT_LIS_NEXT_YEAR`` for a
      CMS-placed member (source A, C, H): the ``LIS_ENDS_NEXT_YEAR`` notice (seed
      001: they "will receive information about their options from CMS"), mailed
      with the tan letters.
    * CHOOSER_TAN: the tan letter (Pub. 11267) listing the region's zero-premium
      options.
    * moving case without a target: a ``REASSIGNMENT_NOT_POSSIBLE`` beneficiary
      notice with the reason.
    * moving case with a target (see docs/annual-cycle.md): the losing
      enrollment ends Dec 31 Y-1 (reason 13), a new enrollment starts Jan 1 Y
      (source H, election type Y, application date June 1 / Sept 30 of Y-1),
      Y joins ``reassigned_years``; outputs in this order: TRC 212 (gaining,
      TC 61) and TRC 014 (losing, TC 51) on the special TRR, GAIN record,
      LOSS record (premium case only), SUBMIT_4RX (+72 h),
      SEND_ENROLLMENT_CONFIRMATION and SEND_DISENROLLMENT_CONFIRMATION
      (+10 days), the losing plan's dated obligation
      (:func:`losing_plan_obligations`: SEND_ALTERNATIVE_ANOC, premium case),
      the blue letter. The December second blue notice is issued in December by
      :func:`formulary_notice` (issue 22).

    Issue 22: every letter and obligation about the member is recorded in the
    state (:mod:`processors.issued`), so a "no" notice is issued once per plan
    year whatever the runs (a repeat gives nothing), a later decision withdraws
    the "no" notices it contradicts (:func:`_reconcile`), and a change of mind
    before January 1 withdraws what the reassignment issued
    (:mod:`processors.withdrawal`). Applying the same decision to a state that
    already has Y in ``reassigned_years`` does nothing (idempotent).
    """
    d = decision
    round_ = issued.rounds(state, plan_year)
    if d.case == NONE and d.reason == NOT_LIS_NEXT_YEAR and d.losing_enrollment_source in CMS_PLACED_SOURCES:
        return _answer(state, d, _beneficiary_notice(
            d, notice_type=LIS_ENDING_NOTICE, publication=None, paper_color=None,
            mail=mail_by(CHOOSER_TAN, plan_year, as_of), as_of=as_of, current_premium=d.losing_premium,
            plans=plans, round_=round_,
        ))
    if d.case == NONE:
        new, out = _reconcile(state, d, as_of)
        return StepResult(new, out)
    if d.case == CHOOSER_TAN:
        return _answer(state, d, _beneficiary_notice(
            d, notice_type=NOTICE_TYPES[CHOOSER_TAN], publication=PUBLICATIONS[CHOOSER_TAN],
            paper_color="TAN", mail=mail_by(CHOOSER_TAN, plan_year, as_of), as_of=as_of,
            current_premium=d.losing_premium, plans=plans, round_=round_,
        ))
    current_premium = d.losing_premium if d.case == PREMIUM else None
    if not d.moves:
        return _answer(state, d, _beneficiary_notice(
            d, notice_type=NOT_POSSIBLE_NOTICE, publication=None, paper_color=None, mail=None,
            as_of=as_of, current_premium=current_premium, plans=plans, round_=round_,
        ))
    if plan_year in (state.get("reassigned_years") or []):
        return StepResult(None, [])

    year_end = dt.date(plan_year - 1, 12, 31)
    new_year = dt.date(plan_year, 1, 1)
    app_date = application_date(d.case, plan_year)
    tracking_id = stable_id("R", ID_STEP, plan_year, d.mbi, *_round_parts(round_))
    lis = dict(d.lis_next_year or {})
    gain_c, gain_p = d.gaining_contract_id, d.gaining_pbp_id
    lose_c, lose_p = d.losing_contract_id, d.losing_pbp_id
    assert gain_c and gain_p and lose_c and lose_p

    # --- state
    reconciled, withdrawals = _reconcile(state, d, as_of)
    new = reconciled if reconciled is not None else clone(state)
    current = enrollment_on(new, year_end)
    if current is None or (current["contract_id"], current["pbp_id"]) != (lose_c, lose_p):
        raise ValueError(f"{d.mbi}: the decision's losing plan {lose_c}-{lose_p} is not in force on {year_end}")
    current["end"] = iso(year_end)
    current["disenrollment_reason"] = DISENROLLMENT_REASON
    new["enrollments"].append(
        {
            "contract_id": gain_c,
            "pbp_id": gain_p,
            "start": iso(new_year),
            "end": None,
            "election_type": ELECTION_TYPE,
            "enrollment_source": ENROLLMENT_SOURCE,
            "sep_reason": None,
            "application_date": iso(app_date),
            "tracking_id": tracking_id,
            "prior_contract_id": lose_c,
            "prior_pbp_id": lose_p,
            "disenrollment_reason": None,
            "status": "ACTIVE",
            "rx": None,
            "reassignment": {"plan_year": plan_year, "case": "PREMIUM" if d.case == PREMIUM else "NON_RENEWAL"},
        }
    )
    new.setdefault("elections", {})[iso(new_year)] = {"application_date": iso(app_date), "tracking_id": tracking_id}
    new["reassigned_years"] = sorted(set(new.get("reassigned_years") or []) | {plan_year})

    # --- outputs
    cause = f"{ID_STEP}|{plan_year}|{d.mbi}" + (f"|R{round_}" if round_ else "")
    address = mailing_address(state)
    outside_note = address_outside_note(state, d.region)
    out: list[Output] = list(withdrawals) + [
        trr_record(
            trc="212", mbi=d.mbi, contract_id=gain_c, transaction_code=TC_ENROLL, processed_at=as_of,
            cause_id=cause, file_name=special_trr_file_name(gain_c, as_of),
            pbp_id=gain_p, effective_date=new_year, application_date=app_date,
            election_type=ELECTION_TYPE, enrollment_source=ENROLLMENT_SOURCE,
            prior_contract_id=lose_c, prior_pbp_id=lose_p,
            lis_premium_subsidy_level=lis.get("premium_subsidy_level"),
            lis_copay_level=lis.get("copay_level"), lis_subsidy_source=lis.get("subsidy_source"),
            lis_period_start=dt.date.fromisoformat(lis["start"]) if lis.get("start") else None,
            lis_period_end=dt.date.fromisoformat(lis["end"]) if lis.get("end") else None,
            lis_premium_subsidy_amount=subsidy_amount(lis.get("premium_subsidy_level"), d.gaining_premium, d.benchmark),
            part_d_premium=d.gaining_premium,
            member_premium_liability=gaining_liability(d, plans),
            **beneficiary_fields(new),
        ),
        trr_record(
            trc="014", mbi=d.mbi, contract_id=lose_c, transaction_code=TC_DISENROLL, processed_at=as_of,
            cause_id=cause, file_name=special_trr_file_name(lose_c, as_of),
            pbp_id=lose_p, effective_date=new_year, application_date=app_date,
            disenrollment_reason=DISENROLLMENT_REASON,
            **beneficiary_fields(new),
        ),
        _plan_notice(
            d, contract_id=gain_c, pbp_id=gain_p, notice_type="GAIN_FILE_RECORD",
            file_name=gain_file_name(gain_c, as_of), obligation=None, due_at=None,
            header=GAIN_HEADER, trailer=GAIN_TRAILER, as_of=as_of, address=address,
            note=outside_note, outside_region=outside_note is not None, round_=round_,
        ),
    ]
    if d.case == PREMIUM:
        out.append(
            _plan_notice(
                d, contract_id=lose_c, pbp_id=lose_p, notice_type="LOSS_FILE_RECORD",
                file_name=loss_file_name(lose_c, as_of), obligation=None, due_at=None,
                header=LOSS_HEADER, trailer=LOSS_TRAILER, as_of=as_of, address=address, round_=round_,
            )
        )
    obligations: list[Output] = []
    for contract_id, pbp_id, obligation, due in (
        (gain_c, gain_p, "SUBMIT_4RX", FOUR_RX_DUE),
        (gain_c, gain_p, "SEND_ENROLLMENT_CONFIRMATION", CONFIRMATION_DUE),
        (lose_c, lose_p, "SEND_DISENROLLMENT_CONFIRMATION", CONFIRMATION_DUE),
    ):
        obligations.append(
            _plan_notice(
                d, contract_id=contract_id, pbp_id=pbp_id, notice_type="OBLIGATION",
                file_name=special_trr_file_name(contract_id, as_of), obligation=obligation,
                due_at=as_of + due, header=None, trailer=None, as_of=as_of, round_=round_,
            )
        )
    for obligation, due_at, note in losing_plan_obligations(d.case, plan_year, as_of):
        obligations.append(
            _plan_notice(
                d, contract_id=lose_c, pbp_id=lose_p, notice_type="OBLIGATION", file_name=None,
                obligation=obligation, due_at=due_at, header=None, trailer=None, as_of=as_of, note=note,
                round_=round_,
            )
        )
    letter = _beneficiary_notice(
        d, notice_type=NOTICE_TYPES[d.case], publication=PUBLICATIONS[d.case], paper_color="BLUE",
        mail=mail_by(d.case, plan_year, as_of), as_of=as_of, current_premium=current_premium, plans=plans,
        round_=round_,
    )
    for o in obligations:
        issued.note_obligation(new, plan_year, o.value)
    issued.note_notice(new, plan_year, letter.value)
    out.extend(obligations)
    out.append(letter)
    return StepResult(new, out)


def reassignment_enrollment(state: MemberState, plan_year: int) -> dict[str, Any] | None:
    """The active enrollment the reassignment of ``plan_year`` created (starting January 1 of Y), if any."""
    for e in reversed(state.get("enrollments") or []):
        if e["status"] == "ACTIVE" and (e.get("reassignment") or {}).get("plan_year") == plan_year:
            return e
    return None


def formulary_notice(state: MemberState, plans: Mapping[str, PlanState], plan_year: int,
                     as_of: dt.datetime) -> StepResult:
    """``REASSIGNMENT_FORMULARY_NOTICES``: the second blue notice, in December, to a member still reassigned.

    Seed 001: "CMS will mail the second blue notice to these beneficiaries in December. This second notice
    will identify which drugs in their current drug regimen are on the formulary of the [Y] plan to which
    they are being reassigned, and how to request an exception or appeal, or file a grievance" (timeline:
    "Mid-December"). Issued by a command at its place in time (issue 22), to members with Y in
    ``reassigned_years`` and the reassignment enrollment still to start: ``REASSIGNMENT_FORMULARY_NOTICE``,
    BLUE, no publication number (the seed names none), the losing and gaining plans, the gaining plan's Y
    premium, ``mail_by`` :func:`second_notice_mail_by`, reason ``NO_FORMULARY_DATA`` (no drug or formulary
    data here: the mail house fills them in). Once per member and plan year (recorded); a member who changes
    their mind afterwards gets it withdrawn (:mod:`processors.withdrawal`).
    """
    mbi = state["mbi"]
    moved = reassignment_enrollment(state, plan_year)
    if plan_year not in (state.get("reassigned_years") or []) or moved is None \
            or issued.has_notice(state, plan_year, SECOND_NOTICE):
        return StepResult(None, [])
    gaining = plans.get(_year_key(moved["contract_id"], moved["pbp_id"], plan_year)) or {}
    d = Decision(
        mbi=mbi, plan_year=plan_year, case=NONE, reason=NO_FORMULARY_DATA,
        losing_contract_id=moved.get("prior_contract_id"), losing_pbp_id=moved.get("prior_pbp_id"),
        gaining_contract_id=moved["contract_id"], gaining_pbp_id=moved["pbp_id"],
        gaining_premium=money(gaining["basic_premium"]) if gaining.get("basic_premium") is not None else None,
    )
    notice = _beneficiary_notice(
        d, notice_type=SECOND_NOTICE, publication=None, paper_color="BLUE",
        mail=second_notice_mail_by(plan_year, as_of), as_of=as_of, current_premium=None, options=(),
        plans=plans, round_=issued.rounds(state, plan_year),
    )
    new = clone(state)
    issued.note_notice(new, plan_year, notice.value)
    return StepResult(new, [notice])


def run_member(
    state: MemberState,
    plans: Mapping[str, PlanState],
    benchmarks: Mapping[str, Decimal],
    plan_year: int,
    seed: object,
    as_of: dt.datetime,
    previous_benchmarks: Mapping[str, Decimal] | None = None,
) -> StepResult:
    """``evaluate`` then ``apply_reassignment``: the whole step for one member."""
    decision = evaluate(state, plans, benchmarks, plan_year, seed, previous_benchmarks)
    return apply_reassignment(state, decision, plans, plan_year, as_of)
