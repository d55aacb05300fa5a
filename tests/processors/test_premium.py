"""Issue 23 item 1: plans can bill the premium. The LIS premium subsidy amount and the member's premium
liability on every reply that carries a Part D premium, and a 121 when a later LIS change or benchmark changes
what the member owes (processors/premium.py, docs/conventions.md).

Seed 002 Table 12 (LIS): "Premium subsidy amount ... Low-income premium subsidy amount". Seed 004: "the Federal
premium subsidy covers the full cost of the plan's basic Part D premium for a full-subsidy beneficiary, up to the
low-income benchmark amount". Before issue 23 the amount was filled only on 212/117/118.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from processors import premium
from processors.enrollment import apply_enrollment
from processors.lis import apply_lis_change
from tests.processors.builders import (
    D,
    at,
    disenroll_event,
    enroll_event,
    lis_event,
    make_enrollment,
    make_lis,
    make_member,
    make_plan,
)

BENCH = {2026: {"14": Decimal("35.00")}}  # plan year -> region -> benchmark


def plans(**plans_kw):
    """S1234-001 (30.00), S5678-002 (40.00, no waiver), S9000-001 (36.50, waives de minimis), all region 14, 2026."""
    out = {}
    for spec in (("S1234", "001", 2026, "30.00", {}), ("S5678", "002", 2026, "40.00", {}),
                 ("S9000", "001", 2026, "36.50", {"waives_de_minimis": True}),
                 ("H1111", "001", 2026, "0.00", {"plan_type": "MA"}),
                 ("S1234", "001", 2025, "28.00", {})):
        key, st = make_plan(*spec[:4], **spec[4])
        out[key] = st
    out.update(plans_kw)
    return out


def money(v):
    return (v["part_d_premium"], v["lis_premium_subsidy_amount"], v["member_premium_liability"])


def test_amounts_follow_the_level_the_premium_and_the_benchmark():
    p = plans()
    # level x min(premium, benchmark), once, half up; liability = premium - subsidy
    assert premium.amounts(p["S5678-002-2026"], "100", BENCH, 2026) == {
        "lis_premium_subsidy_amount": Decimal("35.00"), "member_premium_liability": Decimal("5.00")}
    assert premium.amounts(p["S1234-001-2026"], "025", BENCH, 2026) == {
        "lis_premium_subsidy_amount": Decimal("7.50"), "member_premium_liability": Decimal("22.50")}
    # seed 001: a plan may "waive the portion of the monthly adjusted basic beneficiary premium that is within a de
    # minimis amount above the LIS benchmark" (36.50 - 35.00 = 1.50 <= 2.00): a 100% member owes nothing
    assert premium.amounts(p["S9000-001-2026"], "100", BENCH, 2026)["member_premium_liability"] == Decimal("0.00")
    # no LIS: the whole premium, no benchmark needed; level 000 ("no subsidy"): 0.00 subsidy
    assert premium.amounts(p["S1234-001-2026"], None, {}, 2026) == {
        "lis_premium_subsidy_amount": None, "member_premium_liability": Decimal("30.00")}
    assert premium.amounts(p["S1234-001-2026"], "000", {}, 2026) == {
        "lis_premium_subsidy_amount": Decimal("0.00"), "member_premium_liability": Decimal("30.00")}
    # the plan year's benchmark not known yet: both empty; a plan without Part D: both empty
    assert premium.amounts(p["S1234-001-2026"], "100", {2025: {"14": Decimal("30")}}, 2026) == {
        "lis_premium_subsidy_amount": None, "member_premium_liability": None}
    assert premium.amounts(p["H1111-001-2026"], "100", BENCH, 2026) == {
        "lis_premium_subsidy_amount": None, "member_premium_liability": None}


def test_an_accepted_enrollment_carries_the_subsidy_and_the_liability():
    m = make_member(lis=[make_lis("2025-01-01")])
    res = apply_enrollment(m, enroll_event(contract_id="S5678", pbp_id="002"), plans(), BENCH)
    [accepted] = [o.value for o in res.outputs]
    assert accepted["transaction_reply_code"] == "011"
    assert money(accepted) == (Decimal("40.00"), Decimal("35.00"), Decimal("5.00"))


def test_without_the_plan_years_benchmark_both_are_empty():
    # issue 23: "When the benchmark is not known yet, leave both empty"
    m = make_member(lis=[make_lis("2025-01-01", level="050")])
    [v] = [o.value for o in apply_enrollment(m, enroll_event(), plans(), {}).outputs]
    assert money(v) == (Decimal("30.00"), None, None)
    [v] = [o.value for o in apply_enrollment(m, enroll_event(), plans()).outputs]  # no benchmarks passed at all
    assert money(v) == (Decimal("30.00"), None, None)


def test_a_switch_tells_the_gaining_plan_its_amounts_and_the_losing_plan_none():
    m = make_member(enrollments=[make_enrollment(start="2025-01-01")], lis=[make_lis("2025-01-01", level="075")])
    res = apply_enrollment(m, enroll_event(contract_id="S5678", pbp_id="002", effective_date=D(2026, 2, 1)),
                           plans(), BENCH)
    gain, lose = (o.value for o in res.outputs)
    assert (gain["transaction_reply_code"], lose["transaction_reply_code"]) == ("011", "014")
    assert money(gain) == (Decimal("40.00"), Decimal("26.25"), Decimal("13.75"))  # 75% of 35.00 = 26.25
    assert money(lose) == (None, None, None)


def test_an_accepted_disenrollment_carries_the_amounts_of_its_last_month():
    m = make_member(enrollments=[make_enrollment(start="2025-01-01")], lis=[make_lis("2025-01-01")])
    res = apply_enrollment(m, disenroll_event(effective_date=D(2026, 6, 30)), plans(), BENCH)
    [v] = [o.value for o in res.outputs]
    assert v["transaction_reply_code"] == "013" and v["effective_date"] == D(2026, 7, 1)
    assert money(v) == (Decimal("30.00"), Decimal("30.00"), Decimal("0.00"))


def test_a_member_without_lis_owes_the_whole_premium():
    [v] = [o.value for o in apply_enrollment(make_member(), enroll_event(), plans(), BENCH).outputs]
    assert money(v) == (Decimal("30.00"), None, Decimal("30.00"))


def test_replies_about_unknown_people_carry_no_amounts():
    [v] = [o.value for o in apply_enrollment(None, enroll_event(), plans(), BENCH).outputs]
    assert v["transaction_reply_code"] == "008" and money(v)[1:] == (None, None)


def test_a_later_lis_change_gives_the_plan_the_new_amounts():
    # issue 23: "When a later LIS change ... changes what a member owes, the plan gets a reply with the new amounts"
    m = make_member(enrollments=[make_enrollment(contract_id="S5678", pbp_id="002", start="2026-01-01")],
                    lis=[make_lis("2026-01-01", end="2026-03-31", change_id="L0")])
    res = apply_lis_change(m, lis_event(change_id="L1", start_date=D(2026, 4, 1), premium_subsidy_level="050"),
                           plans(), BENCH)
    [v] = [o.value for o in res.outputs]
    assert (v["transaction_reply_code"], v["effective_date"]) == ("121", D(2026, 4, 1))
    assert money(v) == (Decimal("40.00"), Decimal("17.50"), Decimal("22.50"))
    # the period removed: no subsidy left, the whole premium
    res = apply_lis_change(res.state, lis_event("REMOVE", change_id="L1", start_date=D(2026, 4, 1)), plans(), BENCH)
    [v] = [o.value for o in res.outputs]
    assert v["transaction_reply_code"] == "223" and money(v) == (Decimal("40.00"), None, Decimal("40.00"))


def test_an_lis_reply_before_the_benchmark_has_the_premium_and_no_amounts():
    m = make_member(enrollments=[make_enrollment(start="2026-01-01")])
    [v] = [o.value for o in apply_lis_change(m, lis_event(), plans(), {}).outputs]
    assert money(v) == (Decimal("30.00"), None, None)


def test_a_benchmark_calculation_that_changes_what_a_member_owes_sends_a_121():
    m = make_member(enrollments=[make_enrollment(contract_id="S5678", pbp_id="002", start="2025-01-01")],
                    lis=[make_lis("2025-01-01")])
    as_of = at(2025, 7, 31, 16)
    [out] = premium.benchmark_change(m, plans(), {}, BENCH, 2026, as_of)
    v = out.value
    assert (out.key, v["transaction_reply_code"], v["trc_type"], v["transaction_code"]) == (
        "S5678", "121", "INFORMATIONAL", 1)
    assert (v["effective_date"], v["reason"], v["cms_processing_timestamp"]) == (
        D(2026, 1, 1), "BENCHMARK_CALCULATED", as_of)
    assert v["file_name"] == "P.RS5678.DAILYTRR.D250731.T1600000.01"
    assert money(v) == (Decimal("40.00"), Decimal("35.00"), Decimal("5.00"))
    assert (v["lis_premium_subsidy_level"], v["lis_period_start"]) == ("100", D(2025, 1, 1))
    # a recalculation to the same benchmark: nothing; to another: the new amounts
    assert premium.benchmark_change(m, plans(), BENCH, BENCH, 2026, as_of) == []
    [again] = premium.benchmark_change(m, plans(), BENCH, {2026: {"14": Decimal("36.00")}}, 2026,
                                       as_of + dt.timedelta(days=1))
    assert money(again.value) == (Decimal("40.00"), Decimal("36.00"), Decimal("4.00"))
    assert again.value["cms_tracking_id"] != v["cms_tracking_id"]


def test_a_benchmark_calculation_leaves_members_it_does_not_concern_alone():
    no_lis = make_member(enrollments=[make_enrollment(start="2025-01-01")])
    zero = make_member(enrollments=[make_enrollment(start="2025-01-01")], lis=[make_lis("2025-01-01", level="000")])
    no_plan = make_member(lis=[make_lis("2025-01-01")])
    ends = make_member(enrollments=[make_enrollment(start="2025-01-01", end="2025-12-31")],
                       lis=[make_lis("2025-01-01")])
    for m in (no_lis, zero, no_plan, ends):
        assert premium.benchmark_change(m, plans(), {}, BENCH, 2026, at(2025, 7, 31)) == []
