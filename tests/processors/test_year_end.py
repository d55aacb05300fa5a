"""Issue 22 item 2: the plan year carried to its end (``YEAR_END``, processors/year_end.py).

Seed 001: "CMS will also reassign any LIS-eligible beneficiaries who will remain LIS-eligible as of January
01 ... and are affected by a PDP or MA plan non-renewal"; the run leaves in the plan everyone it does not
move (no LIS, LIS ending, no target). Seed 002 Table 30: "10 CONTR TERMD PLAN - Termination of
contract/Plan Benefit Package (PBP)/Segment (Plan withdrawal)". At the end of the plan year every
enrollment in a plan-year that does not continue ends on December 31 with reason 10; the plan gets a TRR,
the person a notice, and a full-benefit dual or LIS member left without a plan is auto- or
facilitated-enrolled for January 1 (seed 004; TRC 117 / 118).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from processors import state_lists as sl
from processors import year_end as ye
from processors.member import enrollment_on
from processors.model import BENEFICIARY_NOTICES, TRR_REPLIES
from tests.processors.cycle_builders import BENCHMARKS, MBI, SEED, Y, catalog, enrollment, lis, member, plan

UTC = dt.timezone.utc
D = dt.date
AT = dt.datetime(2025, 12, 29, 15, tzinfo=UTC)  # YEAR_END of 2026, run on December 29, 2025
PLANS = catalog(
    plan("S3003", "001", "0.00", parent="ORG3", status="NON_RENEWING"),                 # ends
    plan("S3003", "001", "29.00", parent="ORG3", year=Y - 1),
    plan("H4004", "002", "15.00", parent="ORG4", plan_type="MAPD", status="SERVICE_AREA_REDUCTION",
         counties=["24510"]),
    plan("H4005", "002", "15.00", parent="ORG4", plan_type="MAPD", status="SERVICE_AREA_REDUCTION"),  # counties?
    plan("S1001", "001", "38.00"),                                                      # continues
    plan("S1001", "002", "30.00"),                                                      # the only target
)


def in_plan(contract="S3003", pbp="001", *, source="B", level="100", **kw):
    return member(contract_id=contract, pbp_id=pbp, source=source, level=level, **kw)


def run(m, plans=PLANS, benchmarks=BENCHMARKS, at=AT):
    return ye.year_end_member(m, plans, benchmarks, Y, at)


def replies(res):
    return [(o.key, o.value["transaction_reply_code"]) for o in res.outputs if o.topic == TRR_REPLIES]


def test_a_member_without_lis_in_a_plan_that_ends_is_disenrolled_and_told():
    m = in_plan(level=None, medicaid_status=None)
    res = run(m)
    assert replies(res) == [("S3003", "013")]
    v = res.outputs[0].value
    assert (v["transaction_code"], v["disenrollment_reason"], v["effective_date"]) == (51, "10", D(2026, 1, 1))
    assert (v["pbp_id"], v["cms_processing_timestamp"], v["update_source_contract_id"]) == ("001", AT, "CMS")
    ended = res.state["enrollments"][0]
    assert (ended["end"], ended["disenrollment_reason"], ended["status"]) == ("2025-12-31", "10", "ACTIVE")
    assert enrollment_on(res.state, D(2026, 1, 1)) is None
    [notice] = [o for o in res.outputs if o.topic == BENEFICIARY_NOTICES]
    n = notice.value
    assert (notice.key, n["notice_type"], n["reason"], n["plan_year"]) == (MBI, "PLAN_TERMINATED", "NOT_LIS", Y)
    assert (n["losing_contract_id"], n["losing_pbp_id"], n["gaining_contract_id"]) == ("S3003", "001", None)
    assert n["mail_by"] == D(2026, 1, 5) and n["issued_at"] == AT  # the year end's Eastern date + 7 days


def test_a_full_benefit_dual_left_in_the_plan_is_auto_enrolled_for_january_first():
    res = run(in_plan(source="B"))  # left by the run (e.g. no target then); a target now
    assert replies(res) == [("S3003", "013"), ("S1001", "117")]
    auto = res.outputs[1].value
    assert (auto["effective_date"], auto["enrollment_source"], auto["pbp_id"]) == (D(2026, 1, 1), "A", "002")
    assert enrollment_on(res.state, D(2026, 1, 1))["contract_id"] == "S1001"
    n = next(o.value for o in res.outputs if o.topic == BENEFICIARY_NOTICES)
    assert (n["reason"], n["gaining_contract_id"], n["gaining_pbp_id"], n["gaining_plan_premium"]) == (
        "AUTO_ENROLLED", "S1001", "002", Decimal("30.00"))


def test_an_lis_member_is_facilitated():
    m = in_plan(level="050", medicaid_status=None)
    assert replies(run(m)) == [("S3003", "013"), ("S1001", "118")]


def test_a_dual_left_without_a_target_is_told_and_picked_up_when_one_exists():
    no_target = {k: v for k, v in PLANS.items() if not k.startswith("S1001-002")}
    res = run(in_plan(), plans=no_target)
    assert replies(res) == [("S3003", "013")]
    n = next(o.value for o in res.outputs if o.topic == BENEFICIARY_NOTICES)
    assert (n["reason"], n["gaining_contract_id"]) == ("NO_ELIGIBLE_TARGET", None)
    assert run(res.state, plans=no_target) == (None, [])  # a repeat: nothing new
    # a plan at or below the benchmark appears: the year end, repeated, enrolls them (no second notice)
    later = run(res.state)
    assert replies(later) == [("S1001", "117")]
    assert [o for o in later.outputs if o.topic == BENEFICIARY_NOTICES] == []
    # no benchmark for the year at all
    assert next(o.value["reason"] for o in run(in_plan(), benchmarks={}).outputs
                if o.topic == BENEFICIARY_NOTICES) == "NO_BENCHMARK"


def test_an_opted_out_dual_gets_the_166_and_the_notice_says_so():
    res = run(in_plan(opt_out_auto_enrollment=True))
    assert replies(res) == [("S3003", "013"), ("S1001", "166")]
    assert next(o.value["reason"] for o in res.outputs if o.topic == BENEFICIARY_NOTICES) == "OPTED_OUT"


def test_an_ma_service_area_reduction_ends_only_the_members_of_the_counties_it_leaves():
    assert replies(run(in_plan("H4004", "002", county_code="24510", level=None, medicaid_status=None))) == [
        ("H4004", "013")]
    assert run(in_plan("H4004", "002", county_code="24005", level=None, medicaid_status=None)) == (None, [])
    # counties not sent: nobody is ended on a guess (the plan-year record was dead-lettered, item 2)
    assert run(in_plan("H4005", "002", county_code="24510")) == (None, [])


def test_nothing_for_continuing_plans_the_reassigned_and_those_who_chose_a_plan():
    assert run(in_plan("S1001", "001")) == (None, [])
    moved = in_plan(enrollments=[enrollment("S3003", "001", end="2025-12-31", disenrollment_reason="13"),
                                 enrollment("S1001", "002", start="2026-01-01", source="H")])
    assert run(moved) == (None, [])
    # a plan with no record for the year: not ended on a guess
    assert run(in_plan("S9999", "001")) == (None, [])


def test_the_year_end_is_idempotent():
    first = run(in_plan())
    assert run(first.state) == (None, [])
    assert run(in_plan()) == first  # same input, same records (ids, times)


def test_the_year_end_is_a_member_cycle_command():
    m = in_plan()
    assert "YEAR_END" in sl.MEMBER_COMMANDS
    assert sl.run_cycle_member("YEAR_END", m, plans=PLANS, benchmarks=BENCHMARKS["05"] and BENCHMARKS,
                               plan_year=Y, seed=SEED, as_of=AT) == run(m)


@pytest.mark.parametrize("lis_periods", [[lis("100", end="2025-12-31")]])
def test_a_dual_whose_lis_and_medicaid_end_with_the_year_is_not_auto_enrolled(lis_periods):
    # judged on January 1, the day the new coverage would start: Medicaid ended December 31
    m = in_plan(lis_periods=lis_periods, medicaid_end="2025-12-31")
    res = run(m)
    assert replies(res) == [("S3003", "013")]
    assert next(o.value["reason"] for o in res.outputs if o.topic == BENEFICIARY_NOTICES) == "NOT_LIS"
