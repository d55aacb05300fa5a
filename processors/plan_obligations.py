"""Plan-level obligations: duties a plan owes every enrollee, issued when the facts are known (seed 001, issue 22).

Seed 001's "End-of-year Timeline": "September 30 - Beneficiaries in continuing plans must receive appropriate
standard ANOC from their plan (including appropriate language for those beneficiaries being reassigned due to
a premium increase)"; "October 03 - Beneficiaries in non-renewing plans or contracts must receive non-renewal
notices from their plan" ("to all enrollees residing in the affected region(s)"). These bind the plan for
every enrollee, not only the members the October run moves, and their dates come before the run, so they are
``PlanNotice`` OBLIGATIONs with ``all_enrollees`` true and an empty ``mbi``:

* :func:`on_plan_year_record`: a PlanYearUpdate that makes the plan non-renewing for Y (a PDP or MA plan
  NON_RENEWING, an MA plan reducing its service area) -> ``SEND_NON_RENEWAL_NOTICE`` due October 3 of Y-1;
  a later record that takes it back -> ``OBLIGATION_WITHDRAWN``;
* :func:`premium_case_obligations`: the benchmark calculation of Y -> ``SEND_ANOC`` due September 30 of Y-1 for
  each continuing PDP whose basic premium is above its region's benchmark (and not within a de minimis it
  waives): the plan whose CMS-placed full-subsidy members the run will reassign; a recalculation issues the
  new ones and withdraws those that no longer hold.

A "by <date>" deadline is due at 23:59:59 New York time that day; a record that arrives after it is due 10
calendar days after the record (as ``SEND_ANOC_EOC``): a deadline is never issued already past.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from processors import reassignment as ra
from processors.benchmark import money
from processors.dates import instant_from_iso
from processors.ids import stable_id
from processors.model import PLAN_NOTICES, Output, PlanState

ID_STEP = "PLAN_YEAR"  # notice ids: stable_id("P", ID_STEP, plan_year, contract, pbp, "OBLIGATION", obligation)
OBLIGATION = "OBLIGATION"
OBLIGATION_WITHDRAWN = "OBLIGATION_WITHDRAWN"
LATE_DUE = dt.timedelta(days=10)
NON_RENEWAL_TYPES = frozenset({"PDP"}) | ra.MA_PLAN_TYPES


def due(deadline: dt.datetime, issued_at: dt.datetime) -> dt.datetime:
    """The seed's deadline, or 10 calendar days after ``issued_at`` when that is already past."""
    return deadline if issued_at <= deadline else issued_at + LATE_DUE


def plan_notice(*, notice_id: str, contract_id: str, pbp_id: str, plan_year: int, notice_type: str, mbi: str,
                obligation: str, due_at: dt.datetime | None, issued_at: dt.datetime, note: str | None,
                all_enrollees: bool, withdrawn_notice_id: str | None = None,
                lis: Mapping[str, Any] | None = None, file_name: str | None = None) -> Output:
    """One ``PlanNotice`` OBLIGATION / OBLIGATION_WITHDRAWN (every field of the schema, in its order)."""
    return Output(PLAN_NOTICES, contract_id, {
        "notice_id": notice_id,
        "contract_id": contract_id,
        "pbp_id": pbp_id,
        "notice_type": notice_type,
        "file_name": file_name,
        "mbi": mbi,
        "obligation": obligation,
        "due_at": due_at,
        "lis_premium_subsidy_level": (lis or {}).get("premium_subsidy_level"),
        "lis_copay_level": (lis or {}).get("copay_level"),
        "header_code": None,
        "trailer_code": None,
        "plan_year": int(plan_year),
        "effective_date": dt.date(int(plan_year), 1, 1),
        **{k: None for k in ra.ADDRESS_FIELDS},
        "address_outside_plan_region": False,
        "note": note,
        "issued_at": issued_at,
        "all_enrollees": all_enrollees,
        "withdrawn_notice_id": withdrawn_notice_id,
    })


def withdrawn(original: Mapping[str, Any], *, issued_at: dt.datetime, note: str) -> Output:
    """OBLIGATION_WITHDRAWN for the obligation ``original`` (a PlanNotice value, or the fields this needs:
    notice_id, contract_id, pbp_id, plan_year, mbi, obligation, all_enrollees)."""
    return plan_notice(
        notice_id=stable_id("P", "WITHDRAWN", original["notice_id"]), contract_id=original["contract_id"],
        pbp_id=original["pbp_id"], plan_year=original["plan_year"], notice_type=OBLIGATION_WITHDRAWN,
        mbi=original.get("mbi") or "", obligation=original["obligation"], due_at=None, issued_at=issued_at,
        note=note, all_enrollees=bool(original.get("all_enrollees")), withdrawn_notice_id=original["notice_id"],
    )


def _plan_level(plan: Mapping[str, Any], obligation: str, due_at: dt.datetime, issued_at: dt.datetime,
                note: str) -> Output:
    year = int(plan["plan_year"])
    return plan_notice(
        notice_id=plan_level_id(plan, obligation), contract_id=plan["contract_id"], pbp_id=plan["pbp_id"],
        plan_year=year, notice_type=OBLIGATION, mbi="", obligation=obligation, due_at=due_at,
        issued_at=issued_at, note=note, all_enrollees=True,
    )


def plan_level_id(plan: Mapping[str, Any], obligation: str) -> str:
    return stable_id("P", ID_STEP, int(plan["plan_year"]), plan["contract_id"], plan["pbp_id"], OBLIGATION,
                     obligation)


# --------------------------------------------------------------------------- the plan-year record

def is_non_renewal(plan: Mapping[str, Any] | None) -> bool:
    """The plan does not continue into its plan year for (some of) its enrollees: a PDP or MA plan
    NON_RENEWING, or an MA plan reducing its service area (a PDP's SERVICE_AREA_REDUCTION: renewing)."""
    if not plan:
        return False
    kind, status = plan.get("plan_type"), plan.get("renewal_status")
    return kind in NON_RENEWAL_TYPES and (
        status == "NON_RENEWING" or (status == "SERVICE_AREA_REDUCTION" and kind in ra.MA_PLAN_TYPES))


def reduced_counties_missing(plan: Mapping[str, Any] | None) -> bool:
    """An MA service area reduction without its ``reduced_counties``: nobody can be moved or ended for it."""
    return bool(plan) and plan.get("renewal_status") == "SERVICE_AREA_REDUCTION" \
        and plan.get("plan_type") in ra.MA_PLAN_TYPES and plan.get("reduced_counties") is None


def _non_renewal_note(plan: Mapping[str, Any], by: dt.date) -> str:
    if plan.get("renewal_status") == "SERVICE_AREA_REDUCTION":
        counties = plan.get("reduced_counties")
        where = (f"every enrollee residing in the counties leaving the service area ({', '.join(sorted(counties))})"
                 if counties is not None else "every enrollee residing in the counties leaving the service area "
                 "(counties not sent with the plan-year record)")
    else:
        where = "every enrollee residing in the affected region(s)"
    return (f"Non-renewal for {plan['plan_year']}: send the non-renewal (or service area reduction) notice to {where};"
            f" it must reach them by {by} (seed 001; 42 CFR 423.507(a)).")


def on_plan_year_record(previous: PlanState | None, current: PlanState) -> list[Output]:
    """The plan-level obligations a PlanYearUpdate issues or withdraws (catalog values, ``plans.apply_plan_update``).

    ``previous``: the catalog value of the same key before this record (None: the first). Non-renewing now
    and not before -> ``SEND_NON_RENEWAL_NOTICE`` (October 3 of Y-1, or 10 days after a later record);
    before and not now -> ``OBLIGATION_WITHDRAWN``; otherwise nothing. ``issued_at`` = the record's
    ``event_time``, so a redelivered record gives the same bytes.
    """
    issued_at = instant_from_iso(current["event_time"])
    year = int(current["plan_year"])
    was, now = is_non_renewal(previous), is_non_renewal(current)
    if now and not was:
        by = dt.date(year - 1, *ra.NON_RENEWAL_NOTICE_BY)
        return [_plan_level(current, ra.SEND_NON_RENEWAL_NOTICE, due(ra.deadline(year, ra.NON_RENEWAL_NOTICE_BY),
                                                                     issued_at),
                            issued_at, _non_renewal_note(current, by))]
    if was and not now:
        original = {"notice_id": plan_level_id(current, ra.SEND_NON_RENEWAL_NOTICE), "contract_id": current["contract_id"],
                    "pbp_id": current["pbp_id"], "plan_year": year, "obligation": ra.SEND_NON_RENEWAL_NOTICE,
                    "all_enrollees": True}
        return [withdrawn(original, issued_at=issued_at,
                          note=f"The plan-year record of {current['event_time']} says the plan continues in {year}: "
                               "no non-renewal notice is owed.")]
    return []


# --------------------------------------------------------------------------- the benchmark calculation

def premium_case_plans(plans: Mapping[str, PlanState], benchmarks: Mapping[str, Decimal],
                       plan_year: int) -> list[PlanState]:
    """Continuing PDPs of ``plan_year`` above their region's benchmark (not within a waived de minimis), by key.

    The losing PDPs of the premium case (seed 001): offered in ``plan_year - 1`` too (a plan new in Y has no
    enrollees to send an Annual Notice of Change to), RENEWING (or a PDP's SERVICE_AREA_REDUCTION), not
    employer group, with a benchmark for their region; their basic premium (the basic portion of an enhanced
    PDP) is compared, as :func:`processors.reassignment.evaluate` does.
    """
    de_minimis = ra.de_minimis_amount(plan_year)
    out = []
    for key in sorted(plans):
        p = plans[key]
        if int(p.get("plan_year") or 0) != int(plan_year) or p.get("plan_type") != "PDP" \
                or p.get("renewal_status") == "NON_RENEWING" or p.get("employer_group") \
                or f"{p['contract_id']}-{p['pbp_id']}-{int(plan_year) - 1}" not in plans:
            continue
        bench = benchmarks.get(p.get("region") or "")
        if bench is None or p.get("basic_premium") is None:
            continue
        premium = money(p["basic_premium"])
        if premium <= bench or (p.get("waives_de_minimis") and premium - bench <= de_minimis):
            continue
        out.append(p)
    return out


def _anoc_note(plan: Mapping[str, Any], bench: Decimal, std: dt.date, alt: dt.date) -> str:
    return (f"Standard ANOC for {plan['plan_year']} to every enrollee by {std} (seed 001), with the language for the"
            f" members who may be reassigned for a premium increase: the basic premium {money(plan['basic_premium'])}"
            f" is above the region's low-income benchmark {bench} (CMS-placed members, sources A, C, H, with a 100%"
            f" premium subsidy next year). For the members the reassignment moves, the alternative ANOC (Chapter 3,"
            f" Exhibit 30) by {alt} meets the requirement instead (SEND_ALTERNATIVE_ANOC, one per member, from the run).")


def premium_case_obligations(plans: Mapping[str, PlanState], benchmarks: Mapping[str, Decimal],
                             previous_benchmarks: Mapping[str, Decimal] | None, plan_year: int,
                             as_of: dt.datetime) -> list[Output]:
    """``SEND_ANOC`` (plan-level) for each premium-case PDP of a benchmark calculation, issued at its ``as_of``.

    ``previous_benchmarks``: those of the previous calculation of the same plan year (None: this is the
    first): plans already in the premium case then get nothing new, plans no longer in it get
    ``OBLIGATION_WITHDRAWN``.
    """
    now = {ra.plan_key(p["contract_id"], p["pbp_id"]): p for p in premium_case_plans(plans, benchmarks, plan_year)}
    before = {} if previous_benchmarks is None else {
        ra.plan_key(p["contract_id"], p["pbp_id"]): p for p in premium_case_plans(plans, previous_benchmarks, plan_year)}
    std = dt.date(plan_year - 1, *ra.STANDARD_ANOC_BY)
    alt = dt.date(plan_year - 1, *ra.ALTERNATIVE_ANOC_BY)
    out: list[Output] = []
    for key in sorted(set(now) | set(before)):
        if key in now and key not in before:
            p = now[key]
            out.append(_plan_level(p, ra.SEND_ANOC, due(ra.deadline(plan_year, ra.STANDARD_ANOC_BY), as_of), as_of,
                                   _anoc_note(p, benchmarks[p["region"]], std, alt)))
        elif key in before and key not in now:
            p = before[key]
            original = {"notice_id": plan_level_id(p, ra.SEND_ANOC), "contract_id": p["contract_id"],
                        "pbp_id": p["pbp_id"], "plan_year": plan_year, "obligation": ra.SEND_ANOC,
                        "all_enrollees": True}
            out.append(withdrawn(original, issued_at=as_of,
                                 note=f"The benchmark recalculated at {as_of.isoformat()} puts the plan at or below its"
                                      " region's benchmark (or within a waived de minimis): no reassignment language"
                                      " is owed for a premium increase."))
    return out
