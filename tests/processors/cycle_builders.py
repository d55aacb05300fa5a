"""Builders for the annual-cycle tests (benchmarks, LIS counts, reassignment).

Plan year Y = 2026 throughout unless a test says otherwise: "this year" is
2025, the cycle runs in October 2025, the reassignment takes effect
2026-01-01.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from processors.model import MemberState, PlanState, new_member

UTC = dt.timezone.utc
Y = 2026
AS_OF = dt.datetime(2025, 10, 17, 14, 30, 0, 500000, tzinfo=UTC)
SEED = 20251017
MBI = "1EG4TE5MK73"


def at(y: int, m: int, d: int, h: int = 12, mi: int = 0, s: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, h, mi, s, tzinfo=UTC)


def plan(contract_id: str, pbp_id: str, premium: str, *, year: int = Y, region: str = "05",
         parent: str = "ORG1", plan_type: str = "PDP", benefit: str = "BASIC",
         status: str = "RENEWING", waives: bool = False, employer: bool = False,
         counties: list[str] | None = None) -> PlanState:
    """A catalog entry; ``counties`` = the reduced counties of a SERVICE_AREA_REDUCTION (None: not sent)."""
    p = {
        "contract_id": contract_id, "pbp_id": pbp_id, "plan_year": year, "parent_org_id": parent,
        "region": region, "plan_type": plan_type, "benefit_type": benefit,
        "basic_premium": premium, "waives_de_minimis": waives, "renewal_status": status,
        "employer_group": employer, "event_time": "2025-07-28T12:00:00+00:00",
    }
    if counties is not None:
        p["reduced_counties"] = list(counties)
    return p


def catalog(*plans: PlanState) -> dict[str, PlanState]:
    return {f"{p['contract_id']}-{p['pbp_id']}-{p['plan_year']}": p for p in plans}


def profile(state_code: str = "MD", **kw: Any) -> dict[str, Any]:
    p = {
        "first_name": "ANA", "last_name": "DOE", "middle_initial": None, "birth_date": "1950-03-02",
        "sex": "F", "ssn": None, "state_code": state_code, "county_code": "24510",
        "part_a_start": "2015-03-01", "part_b_start": "2015-03-01", "part_d_eligible_start": "2015-03-01",
        "date_of_death": None, "medicaid_status": "FULL_BENEFIT_DUAL", "medicaid_start": "2015-03-01",
        "medicaid_end": None, "opt_out_auto_enrollment": False, "opt_out_passive_enrollment": False,
        "event_time": "2024-12-01T00:00:00+00:00",
    }
    p.update(kw)
    return p


def enrollment(contract_id: str, pbp_id: str, *, start: str = "2025-01-01", end: str | None = None,
               source: str = "A", election: str = "Z", status: str = "ACTIVE", **kw: Any) -> dict[str, Any]:
    e = {
        "contract_id": contract_id, "pbp_id": pbp_id, "start": start, "end": end,
        "election_type": election, "enrollment_source": source, "sep_reason": None,
        "application_date": "2024-12-01", "tracking_id": f"TRK-{contract_id}-{pbp_id}-{start}",
        "prior_contract_id": None, "prior_pbp_id": None, "disenrollment_reason": None,
        "status": status, "rx": None, "reassignment": None,
    }
    e.update(kw)
    return e


def lis(level: str = "100", *, start: str = "2025-01-01", end: str | None = None, copay: str = "1",
        source: str = "D", change_id: str | None = None) -> dict[str, Any]:
    return {"change_id": change_id or f"L-{start}-{level}", "premium_subsidy_level": level,
            "copay_level": copay, "subsidy_source": source, "start": start, "end": end}


def member(mbi: str = MBI, *, contract_id: str = "S1001", pbp_id: str = "001", source: str = "A",
           level: str | None = "100", state_code: str | None = "MD",
           enrollments: list[dict[str, Any]] | None = None, lis_periods: list[dict[str, Any]] | None = None,
           reassigned_years: list[int] | None = None, passive_years: list[int] | None = None,
           no_profile: bool = False, **profile_kw: Any) -> MemberState:
    """A member in ``contract_id-pbp_id`` since 2025-01-01 (open), LIS ``level`` open since 2025-01-01."""
    m = new_member(mbi)
    m["profile"] = None if no_profile else profile(state_code, **profile_kw)
    m["enrollments"] = enrollments if enrollments is not None else [enrollment(contract_id, pbp_id, source=source)]
    if lis_periods is not None:
        m["lis"] = lis_periods
    else:
        m["lis"] = [lis(level)] if level is not None else []
    m["reassigned_years"] = list(reassigned_years or [])
    m["passive_years"] = list(passive_years or [])
    return m


# --- a standard region-05 catalog: benchmark 35.00 passed in directly --------------------
BENCH = Decimal("35.00")


def standard_plans(**overrides: PlanState) -> dict[str, PlanState]:
    """Region 05 for Y: losing plan S1001-001 (ORG1, 38.00), same-parent target S1001-002 (30.00),
    other-sponsor target S2002-001 (ORG2, 34.00). Pass ``name=plan(...)`` to add or replace."""
    base = {
        "losing": plan("S1001", "001", "38.00"),
        "same_parent_target": plan("S1001", "002", "30.00"),
        "other_target": plan("S2002", "001", "34.00", parent="ORG2"),
    }
    base.update(overrides)
    return catalog(*base.values())


BENCHMARKS = {"05": BENCH}


def mbi_for(i: int) -> str:
    """A syntactically valid MBI for index ``i`` (0 <= i < 10**6): pattern C A AN N A AN N A A N N."""
    letters = "ACDEFGHJKMNPQRTUVWXY"  # no S L O I B Z
    digits = f"{i:06d}"
    a = letters[i % 20]
    b = letters[(i // 20) % 20]
    c = letters[(i // 400) % 20]
    return f"{1 + (i % 9)}{a}{digits[0]}{digits[1]}{b}{digits[2]}{digits[3]}{c}{a}{digits[4]}{digits[5]}"
