"""The annual LIS reassignment (seed 001 attachment table and its exceptions, docs/annual-cycle.md)."""
from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal

import pytest

from processors import reassignment as ra
from processors.model import BENEFICIARY_NOTICES, PLAN_NOTICES, TRR_REPLIES
from processors.reassignment import apply_reassignment, evaluate, run_member
from tests.processors.cycle_builders import (
    AS_OF,
    BENCH,
    BENCHMARKS,
    MBI,
    SEED,
    Y,
    catalog,
    enrollment,
    lis,
    member,
    plan,
    standard_plans,
)


def decide(m, plans=None, benchmarks=None, year=Y, seed=SEED):
    return evaluate(m, plans if plans is not None else standard_plans(), benchmarks or BENCHMARKS, year, seed)


def by_topic(outputs, topic):
    return [o for o in outputs if o.topic == topic]


# =====================================================================================
# Seed 001 attachment, row 1: 100% premium subsidy next year; auto, facilitated or
# reassigned (A, C, H); plan above the benchmark, or within de minimis but no waiver -> YES, 11209
# =====================================================================================
@pytest.mark.parametrize("source", ["A", "C", "H"])
def test_row1_cms_placed_above_benchmark_is_reassigned(source):
    d = decide(member(source=source))
    assert (d.case, d.reason) == (ra.PREMIUM, None)
    assert d.moves
    assert (d.gaining_contract_id, d.gaining_pbp_id) == ("S1001", "002")  # same parent first
    res = apply_reassignment(member(source=source), d, standard_plans(), Y, AS_OF)
    letter = by_topic(res.outputs, BENEFICIARY_NOTICES)[0].value
    assert (letter["publication"], letter["paper_color"], letter["notice_type"]) == ("11209", "BLUE", "REASSIGNMENT_PREMIUM")


def test_row1_within_de_minimis_without_waiver_is_reassigned():
    plans = standard_plans(losing=plan("S1001", "001", "37.00", waives=False))  # exactly 2.00 above, no waiver
    d = decide(member(), plans)
    assert d.case == ra.PREMIUM and d.moves


def test_row1_remained_in_plan_that_waived_last_year_but_not_next_year():
    plans = standard_plans(
        losing=plan("S1001", "001", "36.50", waives=False),
        last_year=plan("S1001", "001", "33.00", year=Y - 1, waives=True),
    )
    d = decide(member(source="A"), plans)
    assert d.case == ra.PREMIUM and d.moves


def test_row1_just_one_cent_above_benchmark_is_reassigned():
    d = decide(member(), standard_plans(losing=plan("S1001", "001", "35.01")))
    assert d.case == ra.PREMIUM and d.moves


# =====================================================================================
# Row 2: any LIS subsidy; any PDP or MA-PD; plan non-renewing or MA service area reduction
# -> YES; PDP 11208, MA 11443; choosers too
# =====================================================================================
@pytest.mark.parametrize("level", ["025", "050", "075", "100"])
@pytest.mark.parametrize("source", ["A", "B", "C", "H", "E"])
def test_row2_non_renewing_pdp_any_level_any_source(level, source):
    plans = standard_plans(losing=plan("S1001", "001", "20.00", status="NON_RENEWING"))
    d = decide(member(source=source, level=level), plans)
    assert (d.case, d.reason) == (ra.NON_RENEWAL_PDP, None) and d.moves


@pytest.mark.parametrize("plan_type", ["MAPD", "MA", "PFFS", "MMP"])
@pytest.mark.parametrize("status", ["NON_RENEWING", "SERVICE_AREA_REDUCTION"])
def test_row2_ma_non_renewal_or_service_area_reduction(plan_type, status):
    # the member lives in county 24510 (cycle_builders.profile), one of the counties the reduction drops
    plans = standard_plans(losing=plan("H4004", "001", "5.00", parent="ORG4", plan_type=plan_type, status=status,
                                       counties=["24510"] if status == "SERVICE_AREA_REDUCTION" else None))
    m = member(contract_id="H4004", source="B", level="050")
    d = decide(m, plans)
    assert (d.case, d.reason) == (ra.NON_RENEWAL_MA, None) and d.moves
    # reassigned into PDPs only
    gaining = plans[f"{d.gaining_contract_id}-{d.gaining_pbp_id}-{Y}"]
    assert gaining["plan_type"] == "PDP"


def test_service_area_reduction_moves_only_members_of_the_reduced_counties():
    # Issue 13 item 3: an MA plan reducing its service area for Y drops counties 24510 and 24005; a
    # member there is reassigned (11443), a member in 24031 (still served) stays in the plan.
    plans = standard_plans(losing=plan("H4004", "001", "5.00", parent="ORG4", plan_type="MAPD",
                                       status="SERVICE_AREA_REDUCTION", counties=["24510", "24005"]))
    inside = member(contract_id="H4004", source="B", county_code="24005")
    d = decide(inside, plans)
    assert (d.case, d.reason) == (ra.NON_RENEWAL_MA, None) and d.moves
    res = run_member(inside, plans, BENCHMARKS, Y, SEED, AS_OF)
    assert [o.value["publication"] for o in by_topic(res.outputs, BENEFICIARY_NOTICES)][0] == "11443"
    stays = member(contract_id="H4004", source="B", county_code="24031")
    d = decide(stays, plans)
    assert (d.case, d.reason) == (ra.NONE, ra.COUNTY_STILL_SERVED)
    assert (d.losing_contract_id, d.losing_plan_type) == ("H4004", "MAPD")
    assert run_member(stays, plans, BENCHMARKS, Y, SEED, AS_OF) == (None, [])


def test_service_area_reduction_without_counties_moves_nobody():
    # An older producer (PlanYearUpdate without reduced_counties) or a member without a county: the
    # affected area is unknown, nobody is taken out of a continuing MA plan on a guess.
    plans = standard_plans(losing=plan("H4004", "001", "5.00", parent="ORG4", plan_type="MAPD",
                                       status="SERVICE_AREA_REDUCTION"))
    d = decide(member(contract_id="H4004", source="B"), plans)
    assert (d.case, d.reason) == (ra.NONE, ra.REDUCED_AREA_UNKNOWN)
    plans = standard_plans(losing=plan("H4004", "001", "5.00", parent="ORG4", plan_type="MAPD",
                                       status="SERVICE_AREA_REDUCTION", counties=["24510"]))
    d = decide(member(contract_id="H4004", source="B", county_code=None), plans)
    assert (d.case, d.reason) == (ra.NONE, ra.COUNTY_STILL_SERVED)
    # an empty list: no county leaves
    plans = standard_plans(losing=plan("H4004", "001", "5.00", parent="ORG4", plan_type="MAPD",
                                       status="SERVICE_AREA_REDUCTION", counties=[]))
    assert decide(member(contract_id="H4004", source="B"), plans).reason == ra.COUNTY_STILL_SERVED


def test_row2_letters_and_no_loss_file():
    pdp_plans = standard_plans(losing=plan("S1001", "001", "20.00", status="NON_RENEWING"))
    res = run_member(member(source="B"), pdp_plans, BENCHMARKS, Y, SEED, AS_OF)
    letter = by_topic(res.outputs, BENEFICIARY_NOTICES)[0].value
    assert (letter["publication"], letter["paper_color"], letter["notice_type"]) == ("11208", "BLUE", "REASSIGNMENT_NON_RENEWAL_PDP")
    assert letter["current_plan_premium"] is None  # a non-renewing plan has no Y premium to quote
    types = [o.value["notice_type"] for o in by_topic(res.outputs, PLAN_NOTICES)]
    assert "LOSS_FILE_RECORD" not in types and "GAIN_FILE_RECORD" in types

    ma_plans = standard_plans(losing=plan("H4004", "001", "5.00", parent="ORG4", plan_type="MAPD", status="NON_RENEWING"))
    res = run_member(member(contract_id="H4004", source="B"), ma_plans, BENCHMARKS, Y, SEED, AS_OF)
    letter = by_topic(res.outputs, BENEFICIARY_NOTICES)[0].value
    assert (letter["publication"], letter["paper_color"]) == ("11443", "BLUE")
    assert "LOSS_FILE_RECORD" not in [o.value["notice_type"] for o in by_topic(res.outputs, PLAN_NOTICES)]


def test_row2_application_date_is_september_30():
    plans = standard_plans(losing=plan("S1001", "001", "20.00", status="NON_RENEWING"))
    res = run_member(member(source="B"), plans, BENCHMARKS, Y, SEED, AS_OF)
    assert {o.value["application_date"] for o in by_topic(res.outputs, TRR_REPLIES)} == {dt.date(2025, 9, 30)}
    assert res.state["enrollments"][-1]["application_date"] == "2025-09-30"
    assert res.state["enrollments"][-1]["reassignment"] == {"plan_year": Y, "case": "NON_RENEWAL"}


# =====================================================================================
# Row 3: 100% subsidy, chose a PDP (source B), plan above the benchmark or within de
# minimis without waiver -> NOT moved, tan letter 11267
# =====================================================================================
@pytest.mark.parametrize("premium", ["38.00", "37.00"], ids=["above", "within-de-minimis-no-waiver"])
@pytest.mark.parametrize("source", ["B", "E", "F", "G", "D"])
def test_row3_chooser_gets_tan_letter_and_stays(premium, source):
    plans = standard_plans(losing=plan("S1001", "001", premium))
    m = member(source=source)
    d = decide(m, plans)  # no Y-1 record of the plan: this year's liability is unknown -> the letter
    assert (d.case, d.reason) == (ra.CHOOSER_TAN, ra.LIABILITY_NOT_COMPARED_NO_PRIOR_PLAN_YEAR)
    assert not d.moves
    res = apply_reassignment(m, d, plans, Y, AS_OF)
    # not moved; the letter is recorded (issue 22: once per plan year, a repeat issues nothing)
    assert res.state["enrollments"] == m["enrollments"] and res.state["reassigned_years"] == []
    assert res.state["issued"][str(Y)]["notices"][0]["notice_type"] == "CHOOSER"
    assert apply_reassignment(res.state, d, plans, Y, AS_OF) == (None, [])
    assert len(res.outputs) == 1
    letter = res.outputs[0]
    assert letter.topic == BENEFICIARY_NOTICES and letter.key == MBI
    v = letter.value
    assert (v["publication"], v["paper_color"], v["notice_type"]) == ("11267", "TAN", "CHOOSER")
    assert v["zero_premium_options"] == ["S1001-002", "S2002-001"]
    assert v["current_plan_premium"] == Decimal(premium)
    assert v["gaining_contract_id"] is None
    assert v["mail_by"] == dt.date(2025, 11, 10)


# Issue 22 item 1. Seed 001: the tan notices go to "full-subsidy eligible individuals who chose PDPs that will
# have an increased premium liability in 2020 compared to their 2019 Part D premium liability". This year's
# liability needs this year's (Y-1) benchmark; when it is not known the comparison cannot be made, and the
# letter goes out whenever next year's liability is above zero, with a reason that says so.
PREV = {"05": Decimal("35.00")}  # the Y-1 benchmark of region 05 in these tests unless a test says otherwise


def decide_prev(m, plans, previous=PREV):
    return evaluate(m, plans, BENCHMARKS, Y, SEED, previous_benchmarks=previous)


def test_chooser_whose_premium_goes_down_gets_no_tan_letter():
    # S1001-001 costs 40.00 in Y-1 (benchmark 35.00) and 38.00 in Y (benchmark 35.00): the member paid
    # 5.00 and will pay 3.00 -> no letter.
    plans = standard_plans(last_year=plan("S1001", "001", "40.00", year=Y - 1))
    m = member(source="B")
    d = decide_prev(m, plans)
    assert (d.case, d.reason) == (ra.NONE, ra.NO_LIABILITY_INCREASE)
    assert run_member(m, plans, BENCHMARKS, Y, SEED, AS_OF, previous_benchmarks=PREV) == (None, [])


def test_chooser_whose_liability_rises_gets_the_tan_letter():
    # 31.00 in Y-1 (covered: liability 0) -> 38.00 in Y (liability 3.00): increased -> tan 11267.
    plans = standard_plans(last_year=plan("S1001", "001", "31.00", year=Y - 1))
    assert (decide_prev(member(source="B"), plans).case, decide_prev(member(source="B"), plans).reason) == (
        ra.CHOOSER_TAN, ra.CHOOSER)
    # 36.00 in Y-1 (1.00 to pay) -> 38.00 (3.00): increased
    plans = standard_plans(last_year=plan("S1001", "001", "36.00", year=Y - 1))
    assert decide_prev(member(source="B"), plans).reason == ra.CHOOSER


def test_the_commonest_case_premium_unchanged_benchmark_falls():
    # The case: the plan costs 30.00 both years; the benchmark is 32.00 this year (the member pays
    # nothing) and 27.00 next year (3.00 to pay): the liability rises 0 -> 3.00 -> tan letter. Taking
    # next year's benchmark for this year's (what the product did) said 3.00 -> 3.00: no letter.
    plans = catalog(plan("S1001", "001", "30.00"), plan("S1001", "001", "30.00", year=Y - 1),
                    plan("S2002", "001", "25.00", parent="ORG2"))
    m = member(source="B")
    d = evaluate(m, plans, {"05": Decimal("27.00")}, Y, SEED, previous_benchmarks={"05": Decimal("32.00")})
    assert (d.case, d.reason) == (ra.CHOOSER_TAN, ra.CHOOSER)
    letter = run_member(m, plans, {"05": Decimal("27.00")}, Y, SEED, AS_OF,
                        previous_benchmarks={"05": Decimal("32.00")}).outputs[0].value
    assert (letter["publication"], letter["current_plan_premium"], letter["reason"]) == ("11267", Decimal("30.00"), "CHOOSER")


def test_unknown_prior_benchmark_sends_the_letter_saying_no_comparison_was_made():
    # Without this year's benchmark (none published for the plan's Y-1 region): the letter goes out, since
    # next year's liability (38.00 - 35.00 = 3.00) is above zero, and its reason says why it was not compared.
    plans = standard_plans(last_year=plan("S1001", "001", "40.00", year=Y - 1))
    m = member(source="B")
    for previous in (None, {}, {"06": Decimal("20.00")}):
        d = decide_prev(m, plans, previous)
        assert (d.case, d.reason) == (ra.CHOOSER_TAN, ra.LIABILITY_NOT_COMPARED_NO_PRIOR_BENCHMARK)
    letter = run_member(m, plans, BENCHMARKS, Y, SEED, AS_OF).outputs[0].value
    assert (letter["notice_type"], letter["reason"]) == ("CHOOSER", "LIABILITY_NOT_COMPARED_NO_PRIOR_BENCHMARK")
    # no Y-1 record of the plan: this year's liability is unknown too -> the letter, with that reason
    d = decide_prev(member(source="B"), standard_plans())
    assert (d.case, d.reason) == (ra.CHOOSER_TAN, ra.LIABILITY_NOT_COMPARED_NO_PRIOR_PLAN_YEAR)


def test_chooser_liability_uses_last_years_benchmark_when_given():
    # Y-1 benchmark 39.00 known: 40.00 cost the member 1.00 in Y-1, 38.00 costs 3.00 in Y -> tan,
    # although the premium went down (the benchmark went down more).
    plans = standard_plans(last_year=plan("S1001", "001", "40.00", year=Y - 1))
    m = member(source="B")
    d = evaluate(m, plans, BENCHMARKS, Y, SEED, previous_benchmarks={"05": Decimal("39.00")})
    assert d.case == ra.CHOOSER_TAN
    res = run_member(m, plans, BENCHMARKS, Y, SEED, AS_OF, previous_benchmarks={"05": Decimal("39.00")})
    assert [o.value["publication"] for o in res.outputs] == ["11267"]
    # Y-1 benchmark 34.00: paid 6.00, will pay 3.00 -> no letter
    d = evaluate(m, plans, BENCHMARKS, Y, SEED, previous_benchmarks={"05": Decimal("34.00")})
    assert d.reason == ra.NO_LIABILITY_INCREASE


def test_chooser_liability_this_year_counts_a_waived_de_minimis_and_a_partial_subsidy():
    # Y-1: 36.50 in a plan that waived (1.50 within de minimis): liability 0 -> Y 38.00 (3.00): tan.
    plans = standard_plans(last_year=plan("S1001", "001", "36.50", year=Y - 1, waives=True))
    assert decide_prev(member(source="B"), plans).reason == ra.CHOOSER
    # Y-1 at 50% subsidy: 40.00 - 50% x 35.00 = 22.50 paid; Y 100%: 3.00 -> no letter.
    m = member(source="B", lis_periods=[lis("050", end="2025-12-31"), lis("100", start="2026-01-01")])
    plans = standard_plans(last_year=plan("S1001", "001", "40.00", year=Y - 1))
    assert decide_prev(m, plans).reason == ra.NO_LIABILITY_INCREASE


def test_chooser_in_waiving_plan_within_de_minimis_gets_nothing():
    plans = standard_plans(losing=plan("S1001", "001", "37.00", waives=True))
    d = decide(member(source="B"), plans)
    assert (d.case, d.reason) == (ra.NONE, ra.DE_MINIMIS_WAIVED)


def test_partial_subsidy_chooser_gets_no_tan_letter():
    d = decide(member(source="B", level="075"))
    assert (d.case, d.reason) == (ra.NONE, ra.NOT_FULL_SUBSIDY)


# =====================================================================================
# De minimis and benchmark boundaries (premium case)
# =====================================================================================
def test_de_minimis_exactly_two_dollars_with_waiver_not_moved():
    d = decide(member(), standard_plans(losing=plan("S1001", "001", "37.00", waives=True)))
    assert (d.case, d.reason) == (ra.NONE, ra.DE_MINIMIS_WAIVED)


def test_de_minimis_two_dollars_one_cent_with_waiver_moved():
    d = decide(member(), standard_plans(losing=plan("S1001", "001", "37.01", waives=True)))
    assert d.case == ra.PREMIUM and d.moves


def test_de_minimis_default_is_two_dollars_from_the_data_file():
    # Issue 13 item 10: per plan year data (processors/data/de_minimis.json), 2.00 when a year is not listed.
    assert ra.de_minimis_amount(Y) == Decimal("2.00")
    assert ra.de_minimis_amount(1999) == Decimal("2.00")


def test_de_minimis_of_the_plan_year_drives_the_waiver_test(monkeypatch):
    # A waiving plan 1.50 above the benchmark: within a 2.00 de minimis (not moved), outside a 1.00
    # one announced for Y (moved). The amount is read for the plan year, not a constant.
    plans = standard_plans(losing=plan("S1001", "001", "36.50", waives=True))
    assert (decide(member(), plans).case, decide(member(), plans).reason) == (ra.NONE, ra.DE_MINIMIS_WAIVED)
    monkeypatch.setitem(ra.DE_MINIMIS_BY_YEAR, Y, Decimal("1.00"))
    d = decide(member(), plans)
    assert (d.case, d.reason) == (ra.PREMIUM, None) and d.moves
    # another year keeps the default
    monkeypatch.setitem(ra.DE_MINIMIS_BY_YEAR, Y, Decimal("2.00"))
    monkeypatch.setitem(ra.DE_MINIMIS_BY_YEAR, Y + 1, Decimal("1.00"))
    assert decide(member(), plans).reason == ra.DE_MINIMIS_WAIVED


def test_de_minimis_of_the_plan_year_drives_the_letters(monkeypatch):
    # The chooser in that waiving plan: nothing under a 2.00 de minimis (the plan waives the 1.50),
    # the tan letter 11267 under a 1.00 one (1.50 above the benchmark is now a premium).
    plans = standard_plans(losing=plan("S1001", "001", "36.50", waives=True))
    m = member(source="B")
    assert run_member(m, plans, BENCHMARKS, Y, SEED, AS_OF) == (None, [])
    monkeypatch.setitem(ra.DE_MINIMIS_BY_YEAR, Y, Decimal("1.00"))
    res = run_member(m, plans, BENCHMARKS, Y, SEED, AS_OF)
    assert [(o.value["publication"], o.value["paper_color"]) for o in res.outputs] == [("11267", "TAN")]


def test_de_minimis_of_the_plan_year_drives_the_waiver_targets(monkeypatch):
    # A same-parent waiving plan 1.50 above the benchmark gains the member under 2.00, not under 1.00.
    waiver = plan("S1001", "002", "36.50", waives=True)
    plans = catalog(plan("S1001", "001", "38.00"), waiver, plan("S2002", "001", "34.00", parent="ORG2"))
    assert decide(member(), plans).gaining_contract_id == "S1001"
    monkeypatch.setitem(ra.DE_MINIMIS_BY_YEAR, Y, Decimal("1.00"))
    assert (decide(member(), plans).gaining_contract_id, decide(member(), plans).gaining_pbp_id) == ("S2002", "001")


def test_premium_exactly_at_benchmark_not_moved():
    d = decide(member(), standard_plans(losing=plan("S1001", "001", "35.00")))
    assert (d.case, d.reason) == (ra.NONE, ra.AT_OR_BELOW_BENCHMARK)


def test_premium_below_benchmark_not_moved():
    d = decide(member(), standard_plans(losing=plan("S1001", "001", "12.00")))
    assert (d.case, d.reason) == (ra.NONE, ra.AT_OR_BELOW_BENCHMARK)


@pytest.mark.parametrize("level", ["025", "050", "075"])
def test_premium_case_needs_100_percent_next_year(level):
    d = decide(member(level=level))
    assert (d.case, d.reason) == (ra.NONE, ra.NOT_FULL_SUBSIDY)


def test_premium_case_level_next_year_not_this_year():
    m = member(lis_periods=[lis("050", end="2025-12-31"), lis("100", start="2026-01-01")])
    assert decide(m).case == ra.PREMIUM
    m = member(lis_periods=[lis("100", end="2025-12-31"), lis("050", start="2026-01-01")])
    assert decide(m).reason == ra.NOT_FULL_SUBSIDY


def test_enhanced_pdp_compared_on_basic_portion():
    plans = standard_plans(losing=plan("S1001", "001", "34.00", benefit="ENHANCED"))
    assert decide(member(), plans).reason == ra.AT_OR_BELOW_BENCHMARK


def test_pdp_service_area_reduction_treated_as_renewing():
    below = standard_plans(losing=plan("S1001", "001", "30.00", status="SERVICE_AREA_REDUCTION"))
    assert decide(member(source="B"), below).reason == ra.AT_OR_BELOW_BENCHMARK
    above = standard_plans(losing=plan("S1001", "001", "40.00", status="SERVICE_AREA_REDUCTION"))
    assert decide(member(), above).case == ra.PREMIUM


def test_premium_test_uses_plans_region_benchmark_target_uses_members_region():
    # member lives in VA (region 07) but is in a region-05 PDP
    plans = catalog(
        plan("S1001", "001", "38.00"),  # region 05, above 35.00
        plan("S1001", "071", "45.00", region="07"),  # region 07, below 50.00
        plan("S2002", "071", "49.00", region="07", parent="ORG2"),
    )
    benchmarks = {"05": Decimal("35.00"), "07": Decimal("50.00")}
    d = decide(member(state_code="VA"), plans, benchmarks)
    assert d.case == ra.PREMIUM and d.region == "07"
    assert d.gaining_contract_id == "S1001" and d.gaining_pbp_id == "071"
    # the same plan at 38.00 is below the region-07 benchmark, but its own region decides
    plans2 = catalog(plan("S1001", "001", "38.00"), plan("S1001", "071", "45.00", region="07"))
    assert decide(member(state_code="VA"), plans2, {"05": Decimal("40.00"), "07": Decimal("30.00")}).reason == ra.AT_OR_BELOW_BENCHMARK


# =====================================================================================
# Never reassigned
# =====================================================================================
@pytest.mark.parametrize("territory", ["PR", "VI", "GU", "AS", "MP"])
def test_territories_never(territory):
    assert decide(member(state_code=territory)).reason == ra.TERRITORY
    nr = standard_plans(losing=plan("S1001", "001", "20.00", status="NON_RENEWING"))
    assert decide(member(state_code=territory), nr).reason == ra.TERRITORY


def test_unknown_or_missing_state_no_region():
    assert decide(member(state_code=None)).reason == ra.NO_REGION
    assert decide(member(state_code="XX")).reason == ra.NO_REGION
    assert decide(member(no_profile=True)).reason == ra.NO_REGION


@pytest.mark.parametrize("status", ["RENEWING", "NON_RENEWING"])
def test_employer_group_pdp_never(status):
    plans = standard_plans(losing=plan("S1001", "801", "60.00", employer=True, status=status))
    assert decide(member(pbp_id="801"), plans).reason == ra.EMPLOYER_GROUP


@pytest.mark.parametrize("plan_type", ["MAPD", "MA", "PFFS", "MMP"])
def test_continuing_ma_never_even_above_benchmark(plan_type):
    plans = standard_plans(losing=plan("H5005", "001", "80.00", parent="ORG5", plan_type=plan_type))
    assert decide(member(contract_id="H5005"), plans).reason == ra.CONTINUING_MA


@pytest.mark.parametrize("plan_type", ["PACE", "COST"])
@pytest.mark.parametrize("status", ["RENEWING", "NON_RENEWING"])
def test_pace_and_cost_plans_not_covered(plan_type, status):
    plans = standard_plans(losing=plan("H7007", "001", "80.00", plan_type=plan_type, status=status))
    assert decide(member(contract_id="H7007"), plans).reason == ra.PLAN_TYPE_NOT_COVERED


def test_not_lis_eligible_next_year_never():
    m = member(lis_periods=[lis("100", end="2025-12-31")])
    assert decide(m).reason == ra.NOT_LIS_NEXT_YEAR
    nr = standard_plans(losing=plan("S1001", "001", "20.00", status="NON_RENEWING"))
    assert decide(m, nr).reason == ra.NOT_LIS_NEXT_YEAR
    m000 = member(lis_periods=[lis("100", end="2025-12-31"), lis("000", start="2026-01-01", copay="0")])
    assert decide(m000).reason == ra.NOT_LIS_NEXT_YEAR


# Issue 22 item 7. Seed 001: "CMS will not reassign individuals who either no longer qualify for LIS, or who
# have chosen a plan on their own. These individuals will receive information about their options from CMS
# and remain in their current plans unless they make a different enrollment choice."
@pytest.mark.parametrize("source", ["A", "C", "H"])
def test_cms_placed_member_losing_lis_next_year_is_told_and_not_moved(source):
    m = member(source=source, lis_periods=[lis("100", end="2025-12-31")])
    res = run_member(m, standard_plans(), BENCHMARKS, Y, SEED, AS_OF)
    assert res.state["reassigned_years"] == [] and res.state["enrollments"] == m["enrollments"]  # not reassigned
    [notice] = [o for o in res.outputs]
    v = notice.value
    assert (notice.topic, notice.key) == (BENEFICIARY_NOTICES, MBI)
    assert (v["notice_type"], v["reason"], v["publication"], v["paper_color"]) == (
        "LIS_ENDS_NEXT_YEAR", "NOT_LIS_NEXT_YEAR", None, None)
    assert (v["losing_contract_id"], v["losing_pbp_id"], v["gaining_contract_id"]) == ("S1001", "001", None)
    assert v["current_plan_premium"] == Decimal("38.00")  # what the plan costs them in Y without the subsidy
    assert v["mail_by"] == dt.date(2025, 11, 10) and v["issued_at"] == AS_OF
    assert v["notice_id"] == run_member(m, standard_plans(), BENCHMARKS, Y, SEED, AS_OF).outputs[0].value["notice_id"]


def test_lis_ending_notice_only_for_cms_placed_members_and_no_premium_for_a_plan_that_ends():
    chooser = member(source="B", lis_periods=[lis("100", end="2025-12-31")])
    assert run_member(chooser, standard_plans(), BENCHMARKS, Y, SEED, AS_OF) == (None, [])
    nr = standard_plans(losing=plan("S1001", "001", "20.00", status="NON_RENEWING"))
    m = member(source="A", lis_periods=[lis("100", end="2025-12-31")])
    [notice] = run_member(m, nr, BENCHMARKS, Y, SEED, AS_OF).outputs
    assert notice.value["notice_type"] == "LIS_ENDS_NEXT_YEAR" and notice.value["current_plan_premium"] is None


def test_not_lis_eligible_this_year_never():
    m = member(lis_periods=[lis("100", start="2026-01-01")])
    assert decide(m).reason == ra.NOT_LIS_THIS_YEAR
    assert decide(member(level=None)).reason == ra.NOT_LIS_THIS_YEAR


def test_already_reassigned_this_calendar_year_never():
    assert decide(member(reassigned_years=[Y])).reason == ra.ALREADY_REASSIGNED
    assert decide(member(reassigned_years=[Y - 1])).case == ra.PREMIUM


def test_already_passively_enrolled_this_calendar_year_never():
    assert decide(member(passive_years=[Y])).reason == ra.ALREADY_PASSIVE
    nr = standard_plans(losing=plan("S1001", "001", "20.00", status="NON_RENEWING"))
    assert decide(member(passive_years=[Y]), nr).reason == ra.ALREADY_PASSIVE


def test_no_enrollment_on_december_31():
    assert decide(member(enrollments=[])).reason == ra.NO_ENROLLMENT
    ended = member(enrollments=[enrollment("S1001", "001", end="2025-10-31")])
    assert decide(ended).reason == ra.NO_ENROLLMENT
    cancelled = member(enrollments=[enrollment("S1001", "001", status="CANCELLED")])
    assert decide(cancelled).reason == ra.NO_ENROLLMENT


def test_member_who_already_elected_another_plan_for_january_is_left_alone():
    m = member(enrollments=[enrollment("S1001", "001", end="2025-12-31"),
                            enrollment("S2002", "001", start="2026-01-01", source="B", election="A")])
    assert decide(m).reason == ra.ENROLLMENT_ENDS


def test_deceased_never():
    assert decide(member(date_of_death="2025-11-02")).reason == ra.DECEASED


def test_no_plan_year_data():
    plans = catalog(plan("S1001", "002", "30.00"))
    assert decide(member(), plans).reason == ra.NO_PLAN_YEAR_DATA


def test_no_benchmark_for_the_region():
    assert decide(member(), standard_plans(), {"07": Decimal("10.00")}).reason == ra.NO_BENCHMARK


# =====================================================================================
# Targets
# =====================================================================================
def test_same_parent_first():
    d = decide(member())
    assert (d.gaining_contract_id, d.gaining_pbp_id) == ("S1001", "002")


def test_other_sponsor_when_parent_has_no_eligible_plan():
    plans = standard_plans(same_parent_target=plan("S1001", "002", "36.00"))  # above: not eligible
    d = decide(member(), plans)
    assert (d.gaining_contract_id, d.gaining_pbp_id) == ("S2002", "001")


def test_waiver_plan_gains_only_from_same_parent():
    waiver = plan("S3003", "001", "36.50", parent="ORG3", waives=True)  # within de minimis, waives
    plans = catalog(plan("S1001", "001", "38.00"), waiver, plan("S2002", "001", "34.00", parent="ORG2"))
    d = decide(member(), plans)  # losing parent ORG1
    assert (d.gaining_contract_id, d.gaining_pbp_id) == ("S2002", "001")
    plans = catalog(plan("S3003", "002", "38.00", parent="ORG3"), waiver, plan("S2002", "001", "34.00", parent="ORG2"))
    d = decide(member(contract_id="S3003", pbp_id="002"), plans)  # losing parent ORG3
    assert (d.gaining_contract_id, d.gaining_pbp_id) == ("S3003", "001")


def test_waiver_plan_above_de_minimis_gains_from_nobody():
    plans = catalog(plan("S3003", "002", "38.00", parent="ORG3"), plan("S3003", "001", "37.01", parent="ORG3", waives=True))
    d = decide(member(contract_id="S3003", pbp_id="002"), plans)
    assert (d.case, d.reason, d.moves) == (ra.PREMIUM, ra.NO_ELIGIBLE_TARGET, False)


@pytest.mark.parametrize("bad", [
    plan("S2002", "001", "20.00", parent="ORG2", benefit="ENHANCED"),
    plan("S2002", "001", "20.00", parent="ORG2", status="NON_RENEWING"),
    plan("S2002", "001", "20.00", parent="ORG2", status="SERVICE_AREA_REDUCTION"),
    plan("S2002", "001", "20.00", parent="ORG2", employer=True),
    plan("S2002", "001", "20.00", parent="ORG2", region="07"),
    plan("S2002", "001", "20.00", parent="ORG2", plan_type="MAPD"),
    plan("S2002", "001", "20.00", parent="ORG2", year=Y - 1),
    plan("S2002", "001", "35.01", parent="ORG2"),
], ids=["enhanced", "non-renewing", "sar", "employer", "other-region", "mapd", "last-year", "above"])
def test_ineligible_targets(bad):
    plans = catalog(plan("S1001", "001", "38.00"), bad)
    d = decide(member(), plans)
    assert (d.case, d.reason, d.gaining_contract_id) == (ra.PREMIUM, ra.NO_ELIGIBLE_TARGET, None)


def test_target_at_exactly_the_benchmark_is_eligible():
    plans = catalog(plan("S1001", "001", "38.00"), plan("S2002", "001", "35.00", parent="ORG2"))
    assert decide(member(), plans).gaining_contract_id == "S2002"


def test_losing_plan_never_target_non_renewal():
    # a non-renewing plan whose Y premium looks low must not be its own target
    plans = catalog(plan("S1001", "001", "10.00", status="NON_RENEWING"), plan("S1001", "002", "34.00"))
    d = decide(member(), plans)
    assert (d.gaining_contract_id, d.gaining_pbp_id) == ("S1001", "002")


def test_no_eligible_target_gives_not_possible_notice():
    plans = catalog(plan("S1001", "001", "38.00"), plan("S1001", "002", "36.00"))
    m = member()
    d = decide(m, plans)
    assert (d.case, d.reason) == (ra.PREMIUM, ra.NO_ELIGIBLE_TARGET)
    res = apply_reassignment(m, d, plans, Y, AS_OF)
    assert res.state["enrollments"] == m["enrollments"] and res.state["reassigned_years"] == []
    assert [o.topic for o in res.outputs] == [BENEFICIARY_NOTICES]
    v = res.outputs[0].value
    assert v["notice_type"] == "REASSIGNMENT_NOT_POSSIBLE" and v["reason"] == ra.NO_ELIGIBLE_TARGET
    assert apply_reassignment(res.state, d, plans, Y, AS_OF) == (None, [])  # once per plan year (issue 22)
    assert v["publication"] is None and v["paper_color"] is None
    assert (v["losing_contract_id"], v["losing_pbp_id"]) == ("S1001", "001")


def test_non_renewal_without_benchmark_in_members_region_not_possible():
    plans = catalog(plan("S1001", "001", "20.00", status="NON_RENEWING"))
    d = decide(member(state_code="VA"), plans, {"05": BENCH})
    assert (d.case, d.reason, d.moves) == (ra.NON_RENEWAL_PDP, ra.NO_BENCHMARK, False)


# =====================================================================================
# apply_reassignment: the state and every record
# =====================================================================================
def _premium_run(m=None, plans=None):
    m = m or member(lis_periods=[lis("100", copay="2", source="A", start="2025-01-01")])
    plans = plans or standard_plans()
    return m, plans, run_member(m, plans, BENCHMARKS, Y, SEED, AS_OF)


def test_apply_state():
    m, _, res = _premium_run()
    new = res.state
    assert m["enrollments"][0]["end"] is None  # input untouched
    old, gained = new["enrollments"]
    assert old["end"] == "2025-12-31" and old["disenrollment_reason"] == "13"
    assert gained == {
        "contract_id": "S1001", "pbp_id": "002", "start": "2026-01-01", "end": None,
        "election_type": "Y", "enrollment_source": "H", "sep_reason": None,
        "application_date": "2025-06-01", "tracking_id": gained["tracking_id"],
        "prior_contract_id": "S1001", "prior_pbp_id": "001", "disenrollment_reason": None,
        "status": "ACTIVE", "rx": None, "reassignment": {"plan_year": Y, "case": "PREMIUM"},
    }
    assert new["reassigned_years"] == [Y]
    assert new["elections"]["2026-01-01"]["application_date"] == "2025-06-01"
    # a second evaluation on the new state says no (once per calendar year)
    assert decide(new).reason in (ra.ALREADY_REASSIGNED, ra.ENROLLMENT_ENDS)


def test_apply_outputs_premium_case():
    _, _, res = _premium_run()
    shape = [(o.topic, o.key, o.value.get("transaction_reply_code") or o.value.get("notice_type"),
              o.value.get("obligation")) for o in res.outputs]
    assert shape == [
        (TRR_REPLIES, "S1001", "212", None),
        (TRR_REPLIES, "S1001", "014", None),
        (PLAN_NOTICES, "S1001", "GAIN_FILE_RECORD", None),
        (PLAN_NOTICES, "S1001", "LOSS_FILE_RECORD", None),
        (PLAN_NOTICES, "S1001", "OBLIGATION", "SUBMIT_4RX"),
        (PLAN_NOTICES, "S1001", "OBLIGATION", "SEND_ENROLLMENT_CONFIRMATION"),
        (PLAN_NOTICES, "S1001", "OBLIGATION", "SEND_DISENROLLMENT_CONFIRMATION"),
        (PLAN_NOTICES, "S1001", "OBLIGATION", "SEND_ALTERNATIVE_ANOC"),
        (BENEFICIARY_NOTICES, MBI, "REASSIGNMENT_PREMIUM", None),
    ]  # the December notice: REASSIGNMENT_FORMULARY_NOTICES in December (issue 22)


def test_trr_212_and_014():
    _, _, res = _premium_run()
    gain, lose = res.outputs[0].value, res.outputs[1].value
    assert gain["transaction_code"] == 61 and lose["transaction_code"] == 51
    assert gain["trc_type"] == "ACCEPTED" and lose["trc_type"] == "ACCEPTED"
    assert (gain["contract_id"], gain["pbp_id"]) == ("S1001", "002")
    assert (lose["contract_id"], lose["pbp_id"]) == ("S1001", "001")
    assert gain["enrollment_source"] == "H" and gain["election_type"] == "Y"
    assert gain["effective_date"] == lose["effective_date"] == dt.date(2026, 1, 1)
    assert gain["application_date"] == lose["application_date"] == dt.date(2025, 6, 1)
    assert (gain["prior_contract_id"], gain["prior_pbp_id"]) == ("S1001", "001")
    assert lose["disenrollment_reason"] == "13"
    # seed 001: "P.Rxxxxx.SPCLTRD.Dyymmdd.Thhmsst.pn" (Gentran mailbox or TIBCO); pn, the process number: 01
    assert gain["file_name"] == "P.RS1001.SPCLTRD.D251017.T1430005.01"
    assert lose["file_name"] == "P.RS1001.SPCLTRD.D251017.T1430005.01"
    assert gain["cms_processing_timestamp"] == AS_OF == lose["cms_processing_timestamp"]
    assert (gain["lis_premium_subsidy_level"], gain["lis_copay_level"], gain["lis_subsidy_source"]) == ("100", "2", "A")
    assert gain["lis_period_start"] == dt.date(2025, 1, 1) and gain["lis_period_end"] is None
    assert gain["part_d_premium"] == Decimal("30.00")
    assert gain["lis_premium_subsidy_amount"] == Decimal("30.00")
    assert gain["cms_tracking_id"] != lose["cms_tracking_id"]


def test_gain_and_loss_file_records():
    _, _, res = _premium_run()
    gain, loss = res.outputs[2].value, res.outputs[3].value
    # seed 001: "P.Rxxxxx.APDP5.GAIN.Dyymmdd.Thhmsst.pn" and "P.Rxxxxx.APDP5.LOSS.Dyymmdd.Thhmsst.pn" (issue 23:
    # the product dropped ".pn"; the process number is 01, docs/conventions.md)
    assert gain["file_name"] == "P.RS1001.APDP5.GAIN.D251017.T1430005.01"
    assert (gain["header_code"], gain["trailer_code"]) == ("MMAPDPGH", "MMAPDPGT")
    assert (gain["contract_id"], gain["pbp_id"]) == ("S1001", "002")
    assert loss["file_name"] == "P.RS1001.APDP5.LOSS.D251017.T1430005.01"
    assert (loss["header_code"], loss["trailer_code"]) == ("MMAPDPLH", "MMAPDPLT")
    assert (loss["contract_id"], loss["pbp_id"]) == ("S1001", "001")
    for v in (gain, loss):
        assert v["mbi"] == MBI and v["plan_year"] == Y and v["effective_date"] == dt.date(2026, 1, 1)
        assert (v["lis_premium_subsidy_level"], v["lis_copay_level"]) == ("100", "2")
        assert v["obligation"] is None and v["due_at"] is None and v["issued_at"] == AS_OF


ADDRESS = dict(mailing_address_line1="12 ELM ST", mailing_address_line2="APT 3", mailing_city="BALTIMORE",
               mailing_state_code="MD", mailing_zip_code="21201")


def test_gain_and_loss_records_carry_the_mailing_address():
    # Issue 13 item 7, seed 001: "The interim notifications will include the beneficiaries' LIS premium and
    # copayment levels as well as their address." Obligations are not file records: no address on them.
    m = member(**ADDRESS)
    res = run_member(m, standard_plans(), BENCHMARKS, Y, SEED, AS_OF)
    records = {o.value["notice_type"] + (o.value["obligation"] or ""): o.value
               for o in by_topic(res.outputs, PLAN_NOTICES)}
    for kind in ("GAIN_FILE_RECORD", "LOSS_FILE_RECORD"):
        v = records[kind]
        assert (v["mailing_address_line1"], v["mailing_address_line2"], v["mailing_city"], v["mailing_state_code"],
                v["mailing_zip_code"]) == ("12 ELM ST", "APT 3", "BALTIMORE", "MD", "21201")
    assert records["OBLIGATIONSUBMIT_4RX"].get("mailing_city") is None
    # no address on the profile (an older producer): the fields are empty, not invented
    res = run_member(member(), standard_plans(), BENCHMARKS, Y, SEED, AS_OF)
    gain = next(o.value for o in by_topic(res.outputs, PLAN_NOTICES) if o.value["notice_type"] == "GAIN_FILE_RECORD")
    assert gain["mailing_address_line1"] is None and gain["mailing_zip_code"] is None


def _two_region_plans():
    """Region 05 (MD, DE, DC) as standard_plans, plus region 07 (VA): S7007-001 20.00 basic."""
    return standard_plans(va=plan("S7007", "001", "20.00", region="07", parent="ORG7"))


TWO_REGIONS = {"05": BENCH, "07": Decimal("30.00")}


def test_region_comes_from_the_state_file_first():
    # Issue 13 item 6, seed 001: "CMS will identify the region in which the beneficiary resides by first
    # checking the state file on which the beneficiary was submitted". Address in MD (region 05), submitted
    # on Virginia's Medicaid file (region 07): the target is drawn in region 07.
    m = member(state_code="MD", medicaid_state_code="VA", **ADDRESS)
    d = evaluate(m, _two_region_plans(), TWO_REGIONS, Y, SEED)
    assert (d.case, d.region, d.benchmark) == (ra.PREMIUM, "07", Decimal("30.00"))
    assert (d.gaining_contract_id, d.gaining_pbp_id) == ("S7007", "001")
    # the premium test still uses the losing plan's own region (05: 38.00 > 35.00)
    assert d.plan_benchmark == BENCH


def test_gain_record_flags_an_address_outside_the_plans_region():
    # ... and the gaining PDP (region 07) receives a member whose address (MD) is outside its region: the GAIN
    # record says so and that the plan must not disenroll automatically (seed 001, Chapter 3 50.2.1.4).
    m = member(state_code="MD", medicaid_state_code="VA", **ADDRESS)
    res = run_member(m, _two_region_plans(), TWO_REGIONS, Y, SEED, AS_OF)
    gain = next(o.value for o in by_topic(res.outputs, PLAN_NOTICES) if o.value["notice_type"] == "GAIN_FILE_RECORD")
    assert gain["contract_id"] == "S7007" and gain["address_outside_plan_region"] is True
    assert "do not disenroll automatically" in gain["note"] and "50.2.1.4" in gain["note"]
    loss = next(o.value for o in by_topic(res.outputs, PLAN_NOTICES) if o.value["notice_type"] == "LOSS_FILE_RECORD")
    assert not loss.get("address_outside_plan_region")
    # state file and address in the same region: no flag, no note
    same = member(state_code="MD", medicaid_state_code="DE", **ADDRESS)
    res = run_member(same, _two_region_plans(), TWO_REGIONS, Y, SEED, AS_OF)
    gain = next(o.value for o in by_topic(res.outputs, PLAN_NOTICES) if o.value["notice_type"] == "GAIN_FILE_RECORD")
    assert not gain.get("address_outside_plan_region") and gain.get("note") is None


def test_region_falls_back_to_the_address_then_a_state_medicaid_determination_counts_as_the_state_file():
    # Not submitted on any state file: the address (MD, region 05), as before.
    d = evaluate(member(state_code="MD"), _two_region_plans(), TWO_REGIONS, Y, SEED)
    assert (d.region, d.gaining_contract_id) == ("05", "S1001")
    # A state Medicaid agency's determination that made the member a full-benefit dual (processors/magi.py
    # state["medicaid"]) is that state's submission too.
    m = member(state_code="MD")
    m["medicaid"] = {"state_code": "VA", "outcome": "ELIGIBLE_MAGI", "medicaid_status": "FULL_BENEFIT_DUAL"}
    assert evaluate(m, _two_region_plans(), TWO_REGIONS, Y, SEED).region == "07"
    m["medicaid"] = {"state_code": "VA", "outcome": "INELIGIBLE_MAGI", "medicaid_status": "NONE"}
    assert evaluate(m, _two_region_plans(), TWO_REGIONS, Y, SEED).region == "05"


def test_obligations_due_dates():
    _, _, res = _premium_run()
    obligations = {o.value["obligation"]: o.value for o in res.outputs if o.value.get("notice_type") == "OBLIGATION"}
    assert obligations["SUBMIT_4RX"]["due_at"] == AS_OF + dt.timedelta(hours=72)
    assert obligations["SUBMIT_4RX"]["due_at"] == dt.datetime(2025, 10, 20, 14, 30, 0, 500000, tzinfo=dt.timezone.utc)
    assert obligations["SEND_ENROLLMENT_CONFIRMATION"]["due_at"] == dt.datetime(2025, 10, 27, 14, 30, 0, 500000, tzinfo=dt.timezone.utc)
    assert obligations["SEND_DISENROLLMENT_CONFIRMATION"]["due_at"] == AS_OF + dt.timedelta(days=10)
    assert (obligations["SUBMIT_4RX"]["contract_id"], obligations["SUBMIT_4RX"]["pbp_id"]) == ("S1001", "002")
    assert obligations["SEND_ENROLLMENT_CONFIRMATION"]["pbp_id"] == "002"
    assert obligations["SEND_DISENROLLMENT_CONFIRMATION"]["pbp_id"] == "001"


def test_obligations_also_for_non_renewal():
    plans = standard_plans(losing=plan("S3003", "001", "20.00", parent="ORG3", status="NON_RENEWING"))
    res = run_member(member(contract_id="S3003", source="B"), plans, BENCHMARKS, Y, SEED, AS_OF)
    obligations = sorted(o.value["obligation"] for o in res.outputs if o.value.get("notice_type") == "OBLIGATION")
    # the non-renewal notice (due October 3) is the plan's duty to every enrollee, issued with the plan-year
    # record (processors/plan_obligations.py, issue 22), not per member by the October run
    assert obligations == ["SEND_DISENROLLMENT_CONFIRMATION", "SEND_ENROLLMENT_CONFIRMATION", "SUBMIT_4RX"]
    assert [o.value["transaction_reply_code"] for o in by_topic(res.outputs, TRR_REPLIES)] == ["212", "014"]


UTC = dt.timezone.utc


def _obligations(res):
    return {o.value["obligation"]: o for o in res.outputs if o.value.get("notice_type") == "OBLIGATION"}


def test_losing_plan_anoc_deadlines_premium_case():
    # Issue 13 item 5, seed 001: "losing PDPs have two options ...: The standard ANOC by September 30, 2019;
    # or The alternative ANOC (Exhibit 30 ...) by November 7, 2019." Issue 22: the standard ANOC is owed to
    # every enrollee and is due before the run, so it is a plan-level obligation of the benchmark calculation
    # (processors/plan_obligations.py); the run gives the losing plan the alternative ANOC for this member,
    # due at the end of November 7 in the Eastern time zone, its note naming the standard one too.
    _, _, res = _premium_run()
    ob = _obligations(res)
    assert "SEND_ANOC" not in ob
    alt = ob["SEND_ALTERNATIVE_ANOC"]
    assert (alt.topic, alt.key, alt.value["contract_id"], alt.value["pbp_id"]) == (PLAN_NOTICES, "S1001", "S1001", "001")
    assert alt.value["mbi"] == MBI and alt.value["plan_year"] == Y and alt.value["issued_at"] == AS_OF
    assert alt.value["due_at"] == dt.datetime(2025, 11, 8, 4, 59, 59, tzinfo=UTC)    # Nov 7 23:59:59 EST
    assert "SEND_ANOC" in alt.value["note"] and "2025-09-30" in alt.value["note"] and "2025-11-07" in alt.value["note"]
    assert alt.value["all_enrollees"] is False
    assert "SEND_NON_RENEWAL_NOTICE" not in ob


@pytest.mark.parametrize("losing", [
    plan("S3003", "001", "20.00", parent="ORG3", status="NON_RENEWING"),
    plan("H4004", "001", "5.00", parent="ORG4", plan_type="MAPD", status="NON_RENEWING"),
    plan("H4004", "001", "5.00", parent="ORG4", plan_type="MAPD", status="SERVICE_AREA_REDUCTION", counties=["24510"]),
], ids=["pdp", "ma", "ma-sar"])
def test_non_renewing_plan_notice_deadline(losing):
    # Seed 001: "beneficiaries must receive this non-renewal notice from plans no later than October 03". Issue 22:
    # owed to every enrollee and due before the October run: issued with the plan-year record
    # (tests/processors/test_plan_obligations.py), not per reassigned member.
    plans = standard_plans(losing=losing)
    m = member(contract_id=losing["contract_id"], source="B")
    ob = _obligations(run_member(m, plans, BENCHMARKS, Y, SEED, AS_OF))
    assert set(ob) == {"SUBMIT_4RX", "SEND_ENROLLMENT_CONFIRMATION", "SEND_DISENROLLMENT_CONFIRMATION"}


def test_blue_letter_fields():
    _, _, res = _premium_run()
    v = next(o.value for o in res.outputs if o.value.get("notice_type") == "REASSIGNMENT_PREMIUM")
    assert v["mbi"] == MBI and v["plan_year"] == Y
    assert (v["losing_contract_id"], v["losing_pbp_id"], v["gaining_contract_id"], v["gaining_pbp_id"]) == (
        "S1001", "001", "S1001", "002")
    assert v["current_plan_premium"] == Decimal("38.00")
    assert v["gaining_plan_premium"] == Decimal("30.00")
    assert v["mail_by"] == dt.date(2025, 10, 31)
    assert v["reason"] is None and v["issued_at"] == AS_OF


@pytest.mark.parametrize("losing,case", [
    (plan("S1001", "001", "38.00"), "REASSIGNMENT_PREMIUM"),
    (plan("S1001", "001", "20.00", status="NON_RENEWING"), "REASSIGNMENT_NON_RENEWAL_PDP"),
    (plan("H4004", "001", "5.00", parent="ORG4", plan_type="MAPD", status="NON_RENEWING"), "REASSIGNMENT_NON_RENEWAL_MA"),
])
def test_second_blue_notice_in_december_for_every_reassigned_member(losing, case):
    # Issue 13 item 4, seed 001: "CMS will mail the second blue notice to these beneficiaries in December.
    # This second notice will identify which drugs in their current drug regimen are on the formulary of
    # the [Y] plan to which they are being reassigned, and how to request an exception or appeal, or file
    # a grievance" (timeline: "Mid-December ... begins mailing"). No drug or formulary data here: the record
    # says so (reason NO_FORMULARY_DATA). Issue 22: issued in December by its own command, to those still
    # reassigned then (tests/processors/test_withdrawal.py), not by the October run.
    m = member(contract_id=losing["contract_id"], pbp_id=losing["pbp_id"])
    plans = standard_plans(losing=losing)
    res = run_member(m, plans, BENCHMARKS, Y, SEED, AS_OF)
    assert [v["notice_type"] for v in (o.value for o in by_topic(res.outputs, BENEFICIARY_NOTICES))] == [case]
    december = dt.datetime(2025, 12, 12, 15, tzinfo=dt.timezone.utc)
    [second] = [o.value for o in ra.formulary_notice(res.state, plans, Y, december).outputs]
    assert (second["paper_color"], second["publication"], second["mail_by"]) == ("BLUE", None, dt.date(2025, 12, 20))
    assert second["reason"] == "NO_FORMULARY_DATA" and second["notice_type"] == "REASSIGNMENT_FORMULARY_NOTICE"
    gain = res.outputs[0].value  # the 212
    assert (second["gaining_contract_id"], second["gaining_pbp_id"]) == (gain["contract_id"], gain["pbp_id"])
    assert (second["losing_contract_id"], second["losing_pbp_id"]) == (losing["contract_id"], losing["pbp_id"])
    assert second["gaining_plan_premium"] == gain["part_d_premium"] and second["plan_year"] == Y
    assert second["issued_at"] == december


def test_second_blue_notice_none_for_those_not_moved():
    # a chooser (tan letter) and a member with no target get no second notice
    chooser = run_member(member(source="B"), standard_plans(), BENCHMARKS, Y, SEED, AS_OF)
    assert [o.value["notice_type"] for o in chooser.outputs] == ["CHOOSER"]
    assert ra.formulary_notice(chooser.state, standard_plans(), Y, AS_OF) == (None, [])
    stuck = run_member(member(), catalog(plan("S1001", "001", "38.00")), BENCHMARKS, Y, SEED, AS_OF)
    assert [o.value["notice_type"] for o in stuck.outputs] == ["REASSIGNMENT_NOT_POSSIBLE"]
    assert ra.formulary_notice(stuck.state, standard_plans(), Y, AS_OF) == (None, [])


def test_mail_by_late_run():
    late = dt.datetime(2025, 12, 5, 15, 0, tzinfo=dt.timezone.utc)
    assert ra.mail_by(ra.PREMIUM, Y, late) == dt.date(2025, 12, 19)
    assert ra.mail_by(ra.PREMIUM, Y, AS_OF) == dt.date(2025, 10, 31)
    assert ra.mail_by(ra.CHOOSER_TAN, Y, AS_OF) == dt.date(2025, 11, 10)


def test_partial_subsidy_amount_on_212():
    # 42 CFR 423.780(d): level x the lesser of the premium and the benchmark:
    # 25% of min(30.00 premium of S1001-002, 35.00 benchmark) = 7.50 (not min(30.00, 25% of 35.00) = 8.75).
    plans = standard_plans(losing=plan("S1001", "001", "20.00", status="NON_RENEWING"))
    m = member(source="B", lis_periods=[lis("025")])
    res = run_member(m, plans, BENCHMARKS, Y, SEED, AS_OF)
    gain = res.outputs[0].value
    assert gain["lis_premium_subsidy_level"] == "025"
    assert gain["lis_premium_subsidy_amount"] == Decimal("7.50")


def test_partial_subsidy_is_the_level_times_the_lesser_of_premium_and_benchmark():
    # Issue 13 item 9, the worked case: level 050, premium 30.00, benchmark 35.00 -> 15.00 (was 17.50).
    assert ra.subsidy_amount("050", Decimal("30.00"), Decimal("35.00")) == Decimal("15.00")
    # premium above the benchmark: the benchmark is the lesser -> 50% of 35.00
    assert ra.subsidy_amount("050", Decimal("40.00"), Decimal("35.00")) == Decimal("17.50")
    # 75% of 21.99 = 16.4925 -> 16.49; 25% of 21.99 = 5.4975 -> 5.50 (half up, once)
    assert ra.subsidy_amount("075", Decimal("21.99"), Decimal("35.00")) == Decimal("16.49")
    assert ra.subsidy_amount("025", Decimal("21.99"), Decimal("35.00")) == Decimal("5.50")
    # 100%: the lesser itself; 000: nothing
    assert ra.subsidy_amount("100", Decimal("30.00"), Decimal("35.00")) == Decimal("30.00")
    assert ra.subsidy_amount("000", Decimal("30.00"), Decimal("35.00")) == Decimal("0.00")
    assert ra.subsidy_amount(None, Decimal("30.00"), Decimal("35.00")) is None


def test_none_decision_changes_nothing():
    m = member(reassigned_years=[Y])
    res = run_member(m, standard_plans(), BENCHMARKS, Y, SEED, AS_OF)
    assert res == (None, [])


def test_apply_is_idempotent_on_the_new_state():
    m, plans, res = _premium_run()
    d = decide(m, plans)
    again = apply_reassignment(res.state, d, plans, Y, AS_OF)
    assert again == (None, [])


def test_apply_refuses_a_decision_for_another_plan():
    m, plans, _ = _premium_run()
    d = decide(m, plans)
    other = member(contract_id="S2002")
    with pytest.raises(ValueError):
        apply_reassignment(other, d, plans, Y, AS_OF)


def test_same_input_twice_identical_outputs():
    m = member()
    plans = standard_plans()
    first = run_member(copy.deepcopy(m), plans, BENCHMARKS, Y, SEED, AS_OF)
    second = run_member(copy.deepcopy(m), copy.deepcopy(plans), dict(BENCHMARKS), Y, SEED, AS_OF)
    assert first == second
    ids = [o.value.get("notice_id") or o.value.get("cms_tracking_id") for o in first.outputs]
    assert len(set(ids)) == len(ids)


def test_ids_depend_on_member_and_year():
    plans = standard_plans()
    a = run_member(member("1EG4TE5MK73"), plans, BENCHMARKS, Y, SEED, AS_OF)
    b = run_member(member("2EG4TE5MK73"), plans, BENCHMARKS, Y, SEED, AS_OF)
    ids_a = {o.value.get("notice_id") or o.value.get("cms_tracking_id") for o in a.outputs}
    ids_b = {o.value.get("notice_id") or o.value.get("cms_tracking_id") for o in b.outputs}
    assert not ids_a & ids_b
    assert a.state["enrollments"][-1]["tracking_id"] != b.state["enrollments"][-1]["tracking_id"]


# =====================================================================================
# Issue 23 item 2: letters name the plan and its phone number (seed 001's HPMS fields)
# =====================================================================================
def _named(p, name, auto=None, prospective=None):
    return dict(p, organization_marketing_name=name, auto_enrollment_customer_service_number=auto,
                customer_service_number=prospective)


def test_letters_name_the_plan_and_the_number_seed_001_chooses():
    # Seed 001: "We will use the following data elements from HPMS to populate these beneficiary notices: 1)
    # Organization Marketing Name, and 2) Customer Service Number. We will use the 'Auto-Enrollment Customer Service
    # Number' if that field is populated in HPMS. If not, we will use the 'Customer Service for Prospective Members -
    # Part D' information."
    plans = standard_plans(
        losing=_named(plan("S1001", "001", "38.00"), "Harbor Rx Classic", "1-800-555-0100", "1-800-555-0101"),
        same_parent_target=_named(plan("S1001", "002", "30.00"), "Harbor Rx Value", "1-800-555-0102",
                                  "1-800-555-0103"),
        other_target=_named(plan("S2002", "001", "34.00", parent="ORG2"), "Bay Drug Basic", None, "1-877-555-0200"))
    res = run_member(member(), plans, BENCHMARKS, Y, SEED, AS_OF)
    [blue] = (o.value for o in by_topic(res.outputs, BENEFICIARY_NOTICES))
    # the second blue notice comes from REASSIGNMENT_FORMULARY_NOTICES in December (issue 22)
    [second] = (o.value for o in ra.formulary_notice(res.state, plans, Y, AS_OF).outputs)
    for letter in (blue, second):  # the gaining plan of the reassignment
        assert (letter["gaining_contract_id"], letter["gaining_pbp_id"]) == ("S1001", "002")
        assert (letter["plan_marketing_name"], letter["plan_customer_service_number"]) == (
            "Harbor Rx Value", "1-800-555-0102")
    assert blue["zero_premium_option_plans"] == [
        {"plan": "S1001-002", "marketing_name": "Harbor Rx Value", "customer_service_number": "1-800-555-0102"},
        {"plan": "S2002-001", "marketing_name": "Bay Drug Basic", "customer_service_number": "1-877-555-0200"}]
    assert [o["plan"] for o in blue["zero_premium_option_plans"]] == blue["zero_premium_options"]
    # the tan letter: the chooser's own plan, and each zero-premium option it lists
    tan = run_member(member(source="B"), plans, BENCHMARKS, Y, SEED, AS_OF).outputs[0].value
    assert (tan["paper_color"], tan["plan_marketing_name"], tan["plan_customer_service_number"]) == (
        "TAN", "Harbor Rx Classic", "1-800-555-0100")
    assert [(o["plan"], o["customer_service_number"]) for o in tan["zero_premium_option_plans"]] == [
        ("S1001-002", "1-800-555-0102"), ("S2002-001", "1-877-555-0200")]
    # a plan whose PlanYearUpdate has no HPMS data (an older producer): nothing to print, nothing invented
    bare = run_member(member(), standard_plans(), BENCHMARKS, Y, SEED, AS_OF)
    letter = by_topic(bare.outputs, BENEFICIARY_NOTICES)[0].value
    assert (letter["plan_marketing_name"], letter["plan_customer_service_number"]) == (None, None)
    assert letter["zero_premium_option_plans"][0] == {
        "plan": "S1001-002", "marketing_name": None, "customer_service_number": None}


def test_the_212_tells_the_gaining_plan_what_the_member_owes():
    # Issue 23 item 1 on the reassignment: a 100% member into a 30.00 plan under a 35.00 benchmark owes 0.00;
    # a 050 member owes 30.00 - 15.00 = 15.00.
    _, _, res = _premium_run()
    assert res.outputs[0].value["member_premium_liability"] == Decimal("0.00")
    plans = standard_plans(losing=plan("S1001", "001", "20.00", status="NON_RENEWING"))
    res = run_member(member(source="B", level="050"), plans, BENCHMARKS, Y, SEED, AS_OF)
    gain = res.outputs[0].value
    assert (gain["transaction_reply_code"], gain["lis_premium_subsidy_amount"], gain["member_premium_liability"]) == (
        "212", Decimal("15.00"), Decimal("15.00"))
