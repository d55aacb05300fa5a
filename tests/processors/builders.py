"""Small builders for processor tests: events shaped like fastavro output, state like model.py.

Import as ``from tests.processors.builders import ...``.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from processors.model import MemberState, PlanState, new_member
from processors.plans import plan_key

UTC = dt.timezone.utc
MBI = "1EG4TE5MK73"
MBI2 = "2AC3DE4FG56"
D = dt.date


def at(y: int, m: int, d: int, h: int = 12, mi: int = 0, s: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, h, mi, s, tzinfo=UTC)


def make_profile(**kw: Any) -> dict[str, Any]:
    profile = {
        "first_name": "ANA", "last_name": "DOE", "middle_initial": None,
        "birth_date": "1950-03-02", "sex": "F", "ssn": None,
        "state_code": "OH", "county_code": "36061",
        "part_a_start": "2015-03-01", "part_b_start": "2015-03-01",
        "part_d_eligible_start": "2015-03-01", "date_of_death": None,
        "medicaid_status": None, "medicaid_start": None, "medicaid_end": None,
        "opt_out_auto_enrollment": False, "opt_out_passive_enrollment": False,
        "event_time": "2025-01-01T00:00:00+00:00",
    }
    profile.update(kw)
    return profile


def make_enrollment(contract_id: str = "S1234", pbp_id: str = "001", start: str = "2026-01-01",
                    end: str | None = None, **kw: Any) -> dict[str, Any]:
    e = {
        "contract_id": contract_id, "pbp_id": pbp_id, "start": start, "end": end,
        "election_type": "A", "enrollment_source": "B", "sep_reason": None,
        "application_date": "2025-11-01", "tracking_id": f"TRK-{contract_id}-{pbp_id}-{start}",
        "prior_contract_id": None, "prior_pbp_id": None, "disenrollment_reason": None,
        "status": "ACTIVE", "rx": None, "reassignment": None,
    }
    e.update(kw)
    return e


def make_lis(start: str = "2026-01-01", end: str | None = None, change_id: str = "L1",
             level: str = "100", copay: str = "1", source: str = "D") -> dict[str, Any]:
    return {"change_id": change_id, "premium_subsidy_level": level, "copay_level": copay,
            "subsidy_source": source, "start": start, "end": end}


def make_member(mbi: str = MBI, *, profile: dict[str, Any] | None | bool = True,
                enrollments: list[dict[str, Any]] | None = None,
                lis: list[dict[str, Any]] | None = None,
                elections: dict[str, Any] | None = None) -> MemberState:
    m = new_member(mbi)
    m["profile"] = make_profile() if profile is True else (profile or None)
    m["enrollments"] = list(enrollments or [])
    m["lis"] = list(lis or [])
    m["elections"] = dict(elections or {})
    return m


def make_plan(contract_id: str = "S1234", pbp_id: str = "001", plan_year: int = 2026,
              basic_premium: str = "30.00", **kw: Any) -> tuple[str, PlanState]:
    state = {
        "contract_id": contract_id, "pbp_id": pbp_id, "plan_year": plan_year,
        "parent_org_id": "ORG1", "region": "14", "plan_type": "PDP", "benefit_type": "BASIC",
        "basic_premium": basic_premium, "waives_de_minimis": False, "renewal_status": "RENEWING",
        "employer_group": False, "event_time": "2025-08-01T00:00:00+00:00",
    }
    state.update(kw)
    return plan_key(contract_id, pbp_id, plan_year), state


def catalog(*specs: tuple[str, str, int] | tuple[str, str, int, str]) -> dict[str, PlanState]:
    """``catalog(("S1234","001",2026), ("S5678","002",2026,"12.50"))``."""
    out: dict[str, PlanState] = {}
    for spec in specs:
        key, st = make_plan(*spec)
        out[key] = st
    return out


def enrollment_event(transaction_code: int = 61, **kw: Any) -> dict[str, Any]:
    ev = {
        "tracking_id": "TRK-1", "correlation_id": "CORR-1", "transaction_code": transaction_code,
        "mbi": MBI, "contract_id": "S1234", "pbp_id": "001",
        "election_type": "A", "enrollment_source": "B", "sep_reason": None,
        "disenrollment_reason": None,
        "application_date": D(2025, 11, 15), "effective_date": D(2026, 1, 1),
        "submitted_at": at(2025, 11, 20), "submitter_id": "S1234",
        "first_name": None, "last_name": None, "middle_initial": None, "birth_date": None,
        "sex": None, "rx_bin": None, "rx_pcn": None, "rx_group": None, "rx_member_id": None,
    }
    ev.update(kw)
    return ev


def enroll_event(**kw: Any) -> dict[str, Any]:
    return enrollment_event(61, **kw)


def disenroll_event(**kw: Any) -> dict[str, Any]:
    kw.setdefault("election_type", None)
    kw.setdefault("disenrollment_reason", "11")
    kw.setdefault("effective_date", D(2026, 6, 30))
    return enrollment_event(51, **kw)


def rx_event(**kw: Any) -> dict[str, Any]:
    kw.setdefault("election_type", None)
    kw.setdefault("rx_bin", "610014")
    kw.setdefault("rx_pcn", "MEDDPRIME")
    kw.setdefault("rx_group", "GRP1")
    kw.setdefault("rx_member_id", "M0001")
    return enrollment_event(72, **kw)


def cancel_enrollment_event(**kw: Any) -> dict[str, Any]:
    kw.setdefault("election_type", None)
    return enrollment_event(80, **kw)


def cancel_disenrollment_event(**kw: Any) -> dict[str, Any]:
    kw.setdefault("election_type", None)
    return enrollment_event(81, **kw)


def lis_event(action: str = "UPSERT", **kw: Any) -> dict[str, Any]:
    ev = {
        "change_id": "L1", "mbi": MBI, "action": action, "premium_subsidy_level": "100",
        "copay_level": "1", "subsidy_source": "D", "start_date": D(2026, 1, 1),
        "end_date": None, "event_time": at(2025, 12, 1),
    }
    ev.update(kw)
    return ev


def beneficiary_event(**kw: Any) -> dict[str, Any]:
    ev = {
        "mbi": MBI, "first_name": "ANA", "last_name": "DOE", "middle_initial": "Q",
        "birth_date": D(1950, 3, 2), "sex": "F", "ssn": "123456789", "state_code": "OH",
        "county_code": "36061", "part_a_start": D(2015, 3, 1), "part_b_start": D(2015, 3, 1),
        "part_d_eligible_start": D(2015, 3, 1), "date_of_death": None,
        "medicaid_status": "FULL_BENEFIT_DUAL", "medicaid_start": D(2020, 1, 1), "medicaid_end": None,
        "opt_out_auto_enrollment": False, "opt_out_passive_enrollment": True,
        "event_time": at(2025, 6, 1),
    }
    ev.update(kw)
    return ev


def plan_event(**kw: Any) -> dict[str, Any]:
    ev = {
        "contract_id": "S1234", "pbp_id": "001", "plan_year": 2026, "parent_org_id": "ORG1",
        "region": "14", "plan_type": "PDP", "benefit_type": "BASIC",
        "basic_premium": Decimal("31.5"), "waives_de_minimis": False,
        "renewal_status": "RENEWING", "employer_group": False, "event_time": at(2025, 8, 1),
    }
    ev.update(kw)
    return ev


def trcs(outputs: list[Any]) -> list[str]:
    """The TRCs of the replies on ``trr-replies`` (a state's copies on ``state-responses`` are not counted)."""
    return [o.value["transaction_reply_code"] for o in outputs if o.topic == "trr-replies"]
