"""Who regains MMP passive-enrollment eligibility in a new calendar year (seed 000)."""
from __future__ import annotations

import datetime as dt

import pytest

from processors.passive_eligibility import (
    DECEASED,
    INVOLUNTARY_MMP_DISENROLLMENT,
    NEW_DUAL_AUTO_ENROLLED,
    NOT_REGAINED,
    OPTED_OUT,
    REASSIGNED_TO_PDP,
    regains_passive_eligibility,
)
from processors.reassignment import run_member
from tests.processors.cycle_builders import (
    BENCHMARKS,
    SEED,
    catalog,
    enrollment,
    member,
    plan,
    standard_plans,
)

UTC = dt.timezone.utc


def mmp_member(reason="64", end="2025-06-30", source="J", **kw):
    """In MMP H9001-001 from 2024-01-01 until ``end`` (disenrollment ``reason``), then nothing."""
    return member(enrollments=[enrollment("H9001", "001", start="2024-01-01", end=end, source=source,
                                          disenrollment_reason=reason)], **kw)


@pytest.mark.parametrize("reason", ["64", "56", "05", "61", "92", "10"])
def test_involuntary_mmp_disenrollment_this_year(reason):
    assert regains_passive_eligibility(mmp_member(reason), 2026) == (True, INVOLUNTARY_MMP_DISENROLLMENT)


@pytest.mark.parametrize("reason", ["11", "12", "13", "63", "08", "99", None])
def test_voluntary_or_other_disenrollment_does_not_count(reason):
    assert regains_passive_eligibility(mmp_member(reason), 2026) == (False, NOT_REGAINED)


def test_involuntary_disenrollment_in_another_year_does_not_count():
    assert regains_passive_eligibility(mmp_member(end="2024-06-30"), 2026) == (False, NOT_REGAINED)
    assert regains_passive_eligibility(mmp_member(end="2025-12-31"), 2026)[0] is True
    assert regains_passive_eligibility(mmp_member(end="2025-06-30"), 2025) == (False, NOT_REGAINED)


def test_mmp_or_not_from_the_catalog_when_given():
    mmp = catalog(plan("H9001", "001", "0.00", year=2025, plan_type="MMP"))
    mapd = catalog(plan("H9001", "001", "0.00", year=2025, plan_type="MAPD"))
    chose = mmp_member(source="B")  # an MMP enrollment by another source
    assert regains_passive_eligibility(chose, 2026) == (False, NOT_REGAINED)          # no catalog: J/K/L only
    assert regains_passive_eligibility(chose, 2026, mmp) == (True, INVOLUNTARY_MMP_DISENROLLMENT)
    assert regains_passive_eligibility(mmp_member(), 2026, mapd) == (False, NOT_REGAINED)
    assert regains_passive_eligibility(mmp_member(), 2026, {}) == (True, INVOLUNTARY_MMP_DISENROLLMENT)


def test_cancelled_enrollments_are_ignored():
    m = mmp_member()
    m["enrollments"][0]["status"] = "CANCELLED"
    assert regains_passive_eligibility(m, 2026) == (False, NOT_REGAINED)


def test_reassigned_to_a_pdp_effective_january_this_year():
    m = member(reassigned_years=[2025])
    assert regains_passive_eligibility(m, 2026) == (True, REASSIGNED_TO_PDP)
    assert regains_passive_eligibility(m, 2027) == (False, NOT_REGAINED)
    assert regains_passive_eligibility(m, 2025) == (False, NOT_REGAINED)


def test_reassigned_by_the_real_run_regains_the_year_after():
    moved = run_member(member(), standard_plans(), BENCHMARKS, 2026, SEED,
                       dt.datetime(2025, 10, 28, 14, tzinfo=UTC)).state
    assert moved["reassigned_years"] == [2026]
    assert regains_passive_eligibility(moved, 2027) == (True, REASSIGNED_TO_PDP)
    only_enrollment = dict(moved, reassigned_years=[])
    assert regains_passive_eligibility(only_enrollment, 2027) == (True, REASSIGNED_TO_PDP)


def test_reassigned_but_opted_out():
    m = member(reassigned_years=[2025], opt_out_passive_enrollment=True)
    assert regains_passive_eligibility(m, 2026) == (False, OPTED_OUT)
    m2 = member(reassigned_years=[2025])
    m2["mmp_opt_out"] = {"date": "2025-03-01", "tracking_id": "OPT"}
    assert regains_passive_eligibility(m2, 2026) == (False, OPTED_OUT)


def test_new_dual_auto_enrolled_any_month_this_year():
    for start in ("2025-01-01", "2025-07-01", "2025-12-01"):
        m = member(enrollments=[enrollment("S1001", "002", start=start, source="A")])
        assert regains_passive_eligibility(m, 2026) == (True, NEW_DUAL_AUTO_ENROLLED)
    old = member(enrollments=[enrollment("S1001", "002", start="2024-07-01", source="A")])
    assert regains_passive_eligibility(old, 2026) == (False, NOT_REGAINED)
    facilitated = member(enrollments=[enrollment("S1001", "002", start="2025-07-01", source="C")])
    assert regains_passive_eligibility(facilitated, 2026) == (False, NOT_REGAINED)
    chose = member(enrollments=[enrollment("S1001", "002", start="2025-07-01", source="B")])
    assert regains_passive_eligibility(chose, 2026) == (False, NOT_REGAINED)
    # with a catalog, only a PDP counts
    auto_mapd = member(enrollments=[enrollment("H1001", "002", start="2025-07-01", source="A")])
    mapd = catalog(plan("H1001", "002", "0.00", year=2025, plan_type="MAPD"))
    assert regains_passive_eligibility(auto_mapd, 2026, mapd) == (False, NOT_REGAINED)


def test_deceased():
    m = member(reassigned_years=[2025], date_of_death="2025-11-02")
    assert regains_passive_eligibility(m, 2026) == (False, DECEASED)


def test_no_history():
    assert regains_passive_eligibility(member(enrollments=[]), 2026) == (False, NOT_REGAINED)
    assert regains_passive_eligibility(member(no_profile=True, enrollments=[]), 2026) == (False, NOT_REGAINED)
