"""CMS auto-enrollment of full-benefit duals and facilitated enrollment of other LIS-eligibles.

Seeds 004 (section 1860D-1(b)(1)(C): full-benefit dual eligibles who do not
choose a plan are enrolled in a PDP where they pay no premium, chosen at
random), 002 (Table 23 election type ``Z`` "Auto-enrollment", Table 24
sources ``A`` auto / ``C`` facilitated, Table 15 subsidy source ``D`` deemed)
and 000 (new duals auto-enrolled this year regain passive eligibility), and
docs/codes.md (TRC 117 / 118 / 166). ``docs/medicaid.md`` explains every choice.

One pure step, :func:`auto_or_facilitate`, which the shell calls for a member
after any change that can make them a candidate (a beneficiary update, an LIS
change, a Medicaid determination). It is idempotent: once the member has a
plan, or once the opt-out reply was sent, calling again does nothing.

Who (checked in this order; the first "no" ends the step with
``StepResult(None, [])`` unless the deeming below changed the state):

1. a profile exists, no date of death on or before the as-of date;
2. the member's region is the PDP region of the profile's ``state_code``
   (territories and unknown codes: nothing);
3. kind: ``AUTO`` when the profile's ``medicaid_status`` is
   ``FULL_BENEFIT_DUAL`` and its Medicaid period (``medicaid_start`` ..
   ``medicaid_end``, a missing bound is open) covers the as-of date;
   otherwise ``FACILITATED`` when an LIS period with a premium subsidy level
   above ``000`` covers the as-of date; otherwise nothing;
4. Part D eligible (``part_d_eligible_start``, else Part A/B start);
5. no current or future plan: no ACTIVE enrollment whose end is open or on or
   after the as-of date (any plan type counts, MA-only too);
6. the effective date (below) is not after a date of death;
7. a benchmark for (effective year, region) and at least one eligible plan
   (:func:`processors.reassignment.eligible_targets` with no losing plan:
   BASIC, RENEWING, non-employer PDPs of the region at or below the benchmark;
   plans that only waive the de minimis do not receive new members);
8. opted out (OPTOD, ``opt_out_auto_enrollment``): one TRC 166 to the plan
   that would have been drawn, once per kind per member (recorded in
   ``state["auto_enrollment"]["opt_out_replies"]``), no enrollment;
9. rule 106: an election already recorded for the effective date with a later
   application date wins (nothing).

Effective date: the first day of the month after the as-of date, or the first
day of the month of Part D eligibility if that is later. Application date: the
as-of date (the day CMS identified the member). The draw:
``draw_target(candidates, DRAW_SEED, mbi, effective_year)``.

Deeming (Table 15 source ``D``): a full-benefit dual whose Medicaid period
covers the as-of date and who has no LIS period covering it is given a deemed
100% premium subsidy period (see :func:`deemed_period`), whether or not they are
enrolled now; if they are already in a plan, that plan gets TRC 121.
"""
from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from processors.codes import TC_ENROLL, TC_INFORMATIONAL
from processors.dates import (
    LAST_EFFECTIVE_DATE,
    UTC,
    day_before,
    first_of_next_month,
    from_iso,
    instant_iso,
    is_valid_effective_date,
    iso,
)
from processors.enrollment import part_d_eligibility
from processors.ids import stable_id
from processors.member import enrollment_on, open_enrollment
from processors.model import MemberState, Output, PlanState, StepResult, clone
from processors.plans import plan_premium
from processors.premium import amounts, lis_reply_money
from processors.reassignment import draw_target, eligible_targets, member_region
from processors.trr import beneficiary_fields, lis_fields, trr_record

AUTO = "AUTO"
FACILITATED = "FACILITATED"

#: seed 002 Table 24
SOURCES = {AUTO: "A", FACILITATED: "C"}
#: TRCs (docs/codes.md)
ACCEPT_TRC = {AUTO: "117", FACILITATED: "118"}
OPT_OUT_TRC = "166"
LIS_CHANGED_TRC = "121"
#: seed 002 Table 23 "Z Auto-enrollment", used for both CMS-initiated kinds
ELECTION_TYPE = "Z"
#: the draw's seed, so that these draws differ from the reassignment's
DRAW_SEED = "AUTO_ENROLLMENT"
ID_STEP = "AUTO_ENROLLMENT"
STATE_KEY = "auto_enrollment"

FULL_BENEFIT_DUAL = "FULL_BENEFIT_DUAL"
DEEMED_SOURCE = "D"
DEEMED_LEVEL = "100"
#: copay levels of seed 002 Table 13 for a deemed full-benefit dual
COPAY_INSTITUTIONAL = "3"  # 0%
COPAY_LOW = "2"  # income at or below 100% FPL
COPAY_HIGH = "1"  # the default when nothing better is known


# --------------------------------------------------------------------------- questions


def as_of_date(as_of: dt.datetime) -> dt.date:
    """The calendar day of an instant (UTC, as ``transaction_date`` is)."""
    return as_of.astimezone(UTC).date() if as_of.tzinfo else as_of.date()


def _covers(start: str | None, end: str | None, day: str) -> bool:
    return (start is None or start <= day) and (end is None or day <= end)


def is_full_benefit_dual_on(state: MemberState, day: dt.date) -> bool:
    """Profile says FULL_BENEFIT_DUAL and its Medicaid period covers ``day``."""
    profile = state.get("profile") or {}
    return profile.get("medicaid_status") == FULL_BENEFIT_DUAL and _covers(
        profile.get("medicaid_start"), profile.get("medicaid_end"), iso(day)
    )


def lis_eligible_on(state: MemberState, day: dt.date) -> dict[str, Any] | None:
    """The LIS period with a premium subsidy level above 000 covering ``day``, if any."""
    d = iso(day)
    for p in state.get("lis") or []:
        if (p.get("premium_subsidy_level") or "000") != "000" and _covers(p["start"], p.get("end"), d):
            return p
    return None


def has_current_or_future_plan(state: MemberState, day: dt.date) -> bool:
    """An ACTIVE enrollment that is open or ends on/after ``day`` (in force now or starting later)."""
    d = iso(day)
    return any(e["status"] == "ACTIVE" and (e["end"] is None or e["end"] >= d) for e in state["enrollments"])


def candidate_kind(state: MemberState, day: dt.date) -> str | None:
    """``AUTO`` (full-benefit dual), ``FACILITATED`` (other LIS-eligible) or None, on ``day``."""
    if is_full_benefit_dual_on(state, day):
        return AUTO
    if lis_eligible_on(state, day) is not None:
        return FACILITATED
    return None


def effective_date(today: dt.date, part_d_start: dt.date) -> dt.date:
    """First of the month after ``today``, or of the Part D eligibility month if later."""
    return max(first_of_next_month(today), part_d_start.replace(day=1))


def auto_enrolled_years(state: MemberState) -> list[int]:
    """Calendar years in which a CMS auto-enrollment (source A) took effect (seed 000's "new duals")."""
    return sorted({
        int(e["start"][:4]) for e in state.get("enrollments") or []
        if e.get("enrollment_source") == SOURCES[AUTO] and e.get("status") == "ACTIVE"
    })


# --------------------------------------------------------------------------- deeming


def deemed_copay_level(state: MemberState) -> str:
    """Copay level of a deemed full-benefit dual (seed 002 Table 13).

    From the last Medicaid determination on record (``state["medicaid"]``, see
    processors/magi.py): long-term care -> 3 (0%); household income at or below
    100% FPL -> 2 (low); otherwise, or when nothing is known, 1 (high).
    """
    medicaid = state.get("medicaid") or {}
    if "LONG_TERM_CARE" in (medicaid.get("exempt_bases") or []):
        return COPAY_INSTITUTIONAL
    pct = medicaid.get("fpl_percent")
    if pct is not None and Decimal(pct) <= 100:
        return COPAY_LOW
    return COPAY_HIGH


def deemed_period(state: MemberState, today: dt.date) -> dict[str, Any] | None:
    """The deemed LIS period to add for a full-benefit dual on ``today``, or None.

    None unless the member is a full-benefit dual on ``today``, Part D eligible
    by then, and has no LIS period at all (any level) covering ``today``.
    Otherwise: level 100, source D, copay per :func:`deemed_copay_level`,
    from the first of the month of the latest of the Medicaid start, the Part
    D eligibility start and January 1 of ``today``'s year, to December 31 of
    that year (of the next year when the member is identified in July through
    December), trimmed so that it never overlaps another period (seed 002).
    """
    if not is_full_benefit_dual_on(state, today):
        return None
    profile = state["profile"]
    part_d = part_d_eligibility(profile)
    if part_d is None or part_d > today:
        return None
    d = iso(today)
    periods = state.get("lis") or []
    if any(_covers(p["start"], p.get("end"), d) for p in periods):
        return None
    starts = [dt.date(today.year, 1, 1), part_d.replace(day=1)]
    medicaid_start = from_iso(profile.get("medicaid_start"))
    if medicaid_start is not None:
        starts.append(medicaid_start.replace(day=1))
    start = iso(max(starts))
    end = iso(dt.date(min(today.year + (1 if today.month >= 7 else 0), dt.MAXYEAR), 12, 31))
    for p in periods:
        p_end = p.get("end") or "9999-12-31"
        if p_end < d and p_end >= start:  # a past period reaching into the candidate
            start = iso(from_iso(p_end) + dt.timedelta(days=1))
        elif p["start"] > d and p["start"] <= end:  # a future period
            end = iso(day_before(from_iso(p["start"])))
    return {
        "change_id": stable_id("DEEMED-", ID_STEP, state["mbi"], start),
        "premium_subsidy_level": DEEMED_LEVEL,
        "copay_level": deemed_copay_level(state),
        "subsidy_source": DEEMED_SOURCE,
        "start": start,
        "end": end,
    }


# --------------------------------------------------------------------------- replies


def _lis_changed_reply(state: MemberState, period: Mapping[str, Any], as_of: dt.datetime,
                       plans: Mapping[str, PlanState], benchmarks: Mapping[int, Mapping[str, Decimal]]) -> list[Output]:
    """TRC 121 to the plan in force on the period start, else the open one (as processors/lis.py), with the
    plan's premium and what the member owes it (issue 23, :func:`processors.premium.lis_reply_money`)."""
    enrollment = enrollment_on(state, from_iso(period["start"])) or open_enrollment(state)
    if enrollment is None:
        return []
    return [trr_record(
        trc=LIS_CHANGED_TRC, mbi=state["mbi"], contract_id=enrollment["contract_id"],
        transaction_code=TC_INFORMATIONAL, processed_at=as_of,
        cause_id=f"LIS|{period['change_id']}|{instant_iso(as_of)}",
        pbp_id=enrollment["pbp_id"], effective_date=from_iso(period["start"]), **lis_fields(period),
        **lis_reply_money(state, plans, benchmarks, enrollment, period["start"]),
        **beneficiary_fields(state),
    )]


def _lis_on(state: MemberState, day: dt.date) -> dict[str, Any] | None:
    d = iso(day)
    return next((p for p in state.get("lis") or [] if _covers(p["start"], p.get("end"), d)), None)


# --------------------------------------------------------------------------- the step


def auto_or_facilitate(
    state: MemberState | None,
    plans: Mapping[str, PlanState],
    benchmarks: Mapping[int, Mapping[str, Decimal]],
    as_of: dt.datetime,
    on: dt.date | None = None,
) -> StepResult:
    """Auto-enroll (TRC 117), facilitate (TRC 118), reply 166 once, or do nothing (module docstring).

    ``plans``: the plan catalog (``{contract}-{pbp}-{year}`` -> PlanState);
    ``benchmarks``: plan year -> region -> benchmark premium; ``as_of``: the
    processing instant (the triggering event's time): ``cms_processing_timestamp``
    of every reply and, as a date, the application date. Never mutates ``state``.

    Returns the new state (None when unchanged) and the TRR replies (topic
    ``trr-replies``, key = contract): [121 for a deemed period to an existing
    plan] or [117/118] or [166].
    """
    if state is None or not state.get("profile"):
        return StepResult(None, [])
    today = as_of_date(as_of)
    profile = state["profile"]
    death = from_iso(profile.get("date_of_death"))
    if death is not None and death <= today:
        return StepResult(None, [])

    new: MemberState | None = None
    outputs: list[Output] = []
    deemed = deemed_period(state, today)
    if deemed is not None:
        new = dict(state)  # the periods are replaced, never changed in place (model.with_own_enrollments)
        new["lis"] = sorted([*state.get("lis", []), deemed], key=lambda p: p["start"])
        if has_current_or_future_plan(new, today):
            outputs.extend(_lis_changed_reply(new, deemed, as_of, plans, benchmarks))
    base = new if new is not None else state

    def done() -> StepResult:
        return StepResult(new, outputs)

    region, _why = member_region(base)
    if region is None:
        return done()
    day = max(on, today) if on is not None else today
    kind = candidate_kind(base, day)
    if kind is None:
        return done()
    part_d = part_d_eligibility(profile)
    if part_d is None:
        return done()
    if has_current_or_future_plan(base, day):
        return done()
    if day > LAST_EFFECTIVE_DATE:  # the effective date would be in the last calendar year or beyond
        return done()
    eff = effective_date(today, part_d) if on is None else max(effective_date(today, part_d), on)
    if not is_valid_effective_date(eff) or (death is not None and death < eff):
        return done()
    year = eff.year
    benchmark = (benchmarks.get(year) or {}).get(region)
    if benchmark is None:
        return done()
    mbi = base["mbi"]
    target = draw_target(eligible_targets(plans, region, benchmark, year, None, None), DRAW_SEED, mbi, year)
    if target is None:
        return done()
    contract_id, pbp_id = target.split("-", 1)
    plan = plans.get(f"{contract_id}-{pbp_id}-{year}")
    premium = plan_premium(plan)
    source = SOURCES[kind]
    record = dict(base.get(STATE_KEY) or {})

    if profile.get("opt_out_auto_enrollment"):
        replies = dict(record.get("opt_out_replies") or {})
        if kind in replies:
            return done()
        new = clone(base)
        replies[kind] = {
            "contract_id": contract_id, "pbp_id": pbp_id, "effective_date": iso(eff),
            "replied_at": instant_iso(as_of),
        }
        new[STATE_KEY] = {**copy.deepcopy(record), "opt_out_replies": replies}
        outputs.append(trr_record(
            trc=OPT_OUT_TRC, mbi=mbi, contract_id=contract_id, transaction_code=TC_ENROLL,
            processed_at=as_of, cause_id=f"{ID_STEP}|OPT_OUT|{kind}|{mbi}",
            pbp_id=pbp_id, effective_date=eff, application_date=today,
            election_type=ELECTION_TYPE, enrollment_source=source, **beneficiary_fields(base),
        ))
        return done()

    previous = (base.get("elections") or {}).get(iso(eff))
    if previous is not None and (previous.get("application_date") or "") > iso(today):
        return done()

    tracking_id = stable_id(source, ID_STEP, mbi, iso(eff))
    new = clone(base)
    prior = enrollment_on(new, day_before(eff))
    enrollment = {
        "contract_id": contract_id,
        "pbp_id": pbp_id,
        "start": iso(eff),
        "end": None,
        "election_type": ELECTION_TYPE,
        "enrollment_source": source,
        "sep_reason": None,
        "application_date": iso(today),
        "tracking_id": tracking_id,
        "prior_contract_id": prior["contract_id"] if prior else None,
        "prior_pbp_id": prior["pbp_id"] if prior else None,
        "disenrollment_reason": None,
        "status": "ACTIVE",
        "rx": None,
        "reassignment": None,
    }
    new["enrollments"].append(enrollment)
    new.setdefault("elections", {})[iso(eff)] = {"application_date": iso(today), "tracking_id": tracking_id}
    history = list(record.get("enrollments") or [])
    history.append({
        "kind": kind, "enrollment_source": source, "year": year, "effective_date": iso(eff),
        "contract_id": contract_id, "pbp_id": pbp_id, "identified_on": iso(today), "tracking_id": tracking_id,
    })
    new[STATE_KEY] = {**copy.deepcopy(record), "enrollments": history}

    lis = _lis_on(new, eff)
    outputs.append(trr_record(
        trc=ACCEPT_TRC[kind], mbi=mbi, contract_id=contract_id, transaction_code=TC_ENROLL,
        processed_at=as_of, cause_id=f"{ID_STEP}|{mbi}|{iso(eff)}",
        pbp_id=pbp_id, effective_date=eff, application_date=today,
        election_type=ELECTION_TYPE, enrollment_source=source,
        prior_contract_id=enrollment["prior_contract_id"], prior_pbp_id=enrollment["prior_pbp_id"],
        part_d_premium=premium,
        # issue 23: the subsidy and the member's premium liability (processors/premium.py; the target is in the
        # member's region, so the plan's region benchmark is ``benchmark``)
        **amounts(plan, lis["premium_subsidy_level"] if lis else None, benchmarks, year),
        **lis_fields(lis),
        **beneficiary_fields(new),
    ))
    return done()
