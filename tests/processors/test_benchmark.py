"""The regional low-income benchmark (seed 004, 42 CFR 423.780(b)(2)(i))."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.benchmark import (
    benchmark_details,
    benchmark_state,
    benchmark_values,
    calculate_benchmarks,
    round_cents,
)
from processors.model import LIS_BENCHMARKS
from tests.processors.cycle_builders import Y, at, catalog, plan

JULY = dt.date(2025, 7, 1)
AS_OF = at(2025, 7, 31, 16)


def test_weighted_by_lis_enrollment():
    plans = catalog(plan("S1001", "001", "30.00"), plan("S2002", "001", "40.00", parent="ORG2"))
    # (30*3 + 40*1) / 4 = 32.50 (a simple average would be 35.00)
    assert benchmark_values(plans, {"S1001-001": 3, "S2002-001": 1}, Y) == {"05": Decimal("32.50")}


def test_mapd_included_with_its_basic_premium():
    plans = catalog(plan("S1001", "001", "30.00"), plan("S2002", "001", "40.00", parent="ORG2"),
                    plan("H3003", "001", "10.00", parent="ORG3", plan_type="MAPD"))
    # (30 + 40 + 10*2) / 4 = 22.50
    assert benchmark_values(plans, {"S1001-001": 1, "S2002-001": 1, "H3003-001": 2}, Y)["05"] == Decimal("22.50")


def test_enhanced_pdp_counts_with_its_basic_portion():
    plans = catalog(plan("S1001", "001", "30.00"), plan("S2002", "001", "20.00", parent="ORG2", benefit="ENHANCED"))
    assert benchmark_values(plans, {"S1001-001": 1, "S2002-001": 1}, Y)["05"] == Decimal("25.00")


@pytest.mark.parametrize("excluded", [
    plan("H7007", "001", "0.00", parent="ORG7", plan_type="PACE"),
    plan("H7007", "001", "0.00", parent="ORG7", plan_type="PFFS"),
    plan("H7007", "001", "0.00", parent="ORG7", plan_type="COST"),
    plan("H7007", "001", "0.00", parent="ORG7", plan_type="MA"),
    plan("H7007", "001", "0.00", parent="ORG7", plan_type="MMP"),
    plan("S7007", "801", "0.00", parent="ORG7", employer=True),
    plan("S7007", "001", "0.00", parent="ORG7", status="NON_RENEWING"),
    plan("H7007", "001", "0.00", parent="ORG7", plan_type="MAPD", status="NON_RENEWING"),
    plan("S7007", "001", "0.00", parent="ORG7", year=Y - 1),
], ids=["PACE", "PFFS", "COST", "MA-no-PartD", "MMP", "employer", "nonrenewing-PDP", "nonrenewing-MAPD", "other-year"])
def test_excluded_plans_do_not_move_the_benchmark(excluded):
    base = [plan("S1001", "001", "30.00"), plan("S2002", "001", "40.00", parent="ORG2")]
    counts = {"S1001-001": 1, "S2002-001": 1, "H7007-001": 50, "S7007-801": 50, "S7007-001": 50}
    calc = benchmark_details(catalog(*base, excluded), counts, Y)["05"]
    assert calc.benchmark_premium == Decimal("35.00")
    assert calc.lis_enrollment_total == 2
    assert calc.plans_weighted == 2


def test_service_area_reduction_mapd_still_counts():
    plans = catalog(plan("S1001", "001", "30.00"), plan("S2002", "001", "40.00", parent="ORG2"),
                    plan("H3003", "001", "20.00", parent="ORG3", plan_type="MAPD", status="SERVICE_AREA_REDUCTION"))
    assert benchmark_values(plans, {"S1001-001": 1, "S2002-001": 1, "H3003-001": 1}, Y)["05"] == Decimal("30.00")


def test_new_plan_without_enrollment_has_zero_weight():
    plans = catalog(plan("S1001", "001", "30.00"), plan("S2002", "001", "40.00", parent="ORG2"),
                    plan("S9009", "001", "99.00", parent="ORG9"))  # new for Y: no LIS enrollee yet
    calc = benchmark_details(plans, {"S1001-001": 1, "S2002-001": 1}, Y)["05"]
    assert calc.benchmark_premium == Decimal("35.00")
    assert calc.plans_weighted == 2
    assert ("S9009-001", Decimal("99.00"), 0) in calc.plans


def test_single_pdp_sponsor_region_uses_pdps_only():
    # statute 1860D-14(b)(2)(A)(i): all PDPs offered by the same sponsor -> PDP premiums only
    plans = catalog(plan("S1001", "001", "30.00"), plan("S1001", "002", "40.00"),
                    plan("H3003", "001", "10.00", parent="ORG3", plan_type="MAPD"))
    calc = benchmark_details(plans, {"S1001-001": 1, "S1001-002": 1, "H3003-001": 10}, Y)["05"]
    assert calc.benchmark_premium == Decimal("35.00")
    assert calc.lis_enrollment_total == 2


def test_one_pdp_sponsor_averages_its_basic_pdps_only():
    # Issue 13 item 8, statute 1860D-14(b)(2)(A)(i) and (B)(i) (quoted in seed 004): when all the
    # region's PDPs are offered by one PDP sponsor, the benchmark is the weighted average of the
    # monthly premiums of its *basic* PDPs. Catalog S1-001 basic 30.00, S1-002 enhanced 40.00,
    # H2 MA-PD 10.00: only S1-001 enters -> 30.00 (averaging the enhanced PDP gave 35.00).
    plans = catalog(plan("S1", "001", "30.00"), plan("S1", "002", "40.00", benefit="ENHANCED"),
                    plan("H2", "001", "10.00", parent="ORG2", plan_type="MAPD"))
    calc = benchmark_details(plans, {"S1-001": 1, "S1-002": 1, "H2-001": 1}, Y)["05"]
    assert calc.benchmark_premium == Decimal("30.00")
    assert calc.plans == (("S1-001", Decimal("30.00"), 1),)
    assert (calc.lis_enrollment_total, calc.plans_weighted) == (1, 1)
    # without any LIS enrollee: the same single basic PDP (equal-weight fallback)
    assert benchmark_values(plans, {}, Y) == {"05": Decimal("30.00")}


def test_two_pdp_contracts_of_one_parent_are_two_sponsors():
    # The PDP sponsor is the organisation holding the contract, not the parent organisation:
    # S1001 and S1003 (both parent ORG1) are two sponsors, so 1860D-14(b)(2)(A)(ii) applies and the
    # MA-PD enters too: (30 + 40 + 10) / 3 = 26.67 (26.666... half up). Treating ORG1 as the one
    # sponsor dropped the MA-PD and gave 35.00.
    plans = catalog(plan("S1001", "001", "30.00"), plan("S1003", "001", "40.00"),
                    plan("H3003", "001", "10.00", parent="ORG3", plan_type="MAPD"))
    calc = benchmark_details(plans, {"S1001-001": 1, "S1003-001": 1, "H3003-001": 1}, Y)["05"]
    assert calc.benchmark_premium == Decimal("26.67")
    assert calc.lis_enrollment_total == 3


def test_one_sponsor_with_only_enhanced_pdps_uses_their_basic_portion():
    # Not expected to happen (a sponsor offering enhanced coverage in a region offers basic coverage
    # there too, 42 CFR 423.104(f)); documented fallback: the sponsor's PDPs with their basic portion.
    plans = catalog(plan("S1", "002", "40.00", benefit="ENHANCED"), plan("S1", "003", "20.00", benefit="ENHANCED"),
                    plan("H2", "001", "10.00", parent="ORG2", plan_type="MAPD"))
    assert benchmark_values(plans, {"S1-002": 1, "S1-003": 1, "H2-001": 5}, Y) == {"05": Decimal("30.00")}


def test_region_without_lis_enrollees_falls_back_to_simple_average():
    plans = catalog(plan("S1001", "341", "20.00", region="34"), plan("S2002", "341", "30.01", region="34", parent="ORG2"))
    calc = benchmark_details(plans, {}, Y)["34"]
    assert calc.benchmark_premium == Decimal("25.01")  # 25.005 half up
    assert calc.lis_enrollment_total == 0
    assert calc.plans_weighted == 2
    assert not calc.weighted


def test_region_without_benchmark_plans_has_no_benchmark():
    plans = catalog(plan("H7007", "001", "0.00", plan_type="PACE"), plan("S1001", "001", "30.00", region="14"))
    assert set(benchmark_values(plans, {"H7007-001": 5}, Y)) == {"14"}


def test_regions_are_separate():
    plans = catalog(plan("S1001", "001", "30.00"), plan("S1001", "141", "50.00", region="14"),
                    plan("S2002", "141", "10.00", region="14", parent="ORG2"))
    assert benchmark_values(plans, {"S1001-001": 1, "S1001-141": 1, "S2002-141": 3}, Y) == {
        "05": Decimal("30.00"), "14": Decimal("20.00")}


# --- rounding: exact, once, ROUND_HALF_UP ------------------------------------------------
def test_exact_half_cent_rounds_up():
    # (30.01 + 30.00) / 2 = 30.005 -> 30.01 (half-even would give 30.00)
    plans = catalog(plan("S1001", "001", "30.01"), plan("S2002", "001", "30.00", parent="ORG2"))
    assert benchmark_values(plans, {"S1001-001": 1, "S2002-001": 1}, Y)["05"] == Decimal("30.01")


def test_half_up_not_half_even():
    # (30.02 + 30.03) / 2 = 30.025 -> 30.03 (half-even would give 30.02)
    plans = catalog(plan("S1001", "001", "30.02"), plan("S2002", "001", "30.03", parent="ORG2"))
    assert benchmark_values(plans, {"S1001-001": 1, "S2002-001": 1}, Y)["05"] == Decimal("30.03")


def test_just_below_half_rounds_down_no_float_error():
    # (10.00*1 + 10.01*2) / 3 = 10.00666.. -> 10.01 ; (10.00*2 + 10.01) / 3 = 10.00333.. -> 10.00
    plans = catalog(plan("S1001", "001", "10.00"), plan("S2002", "001", "10.01", parent="ORG2"))
    assert benchmark_values(plans, {"S1001-001": 1, "S2002-001": 2}, Y)["05"] == Decimal("10.01")
    assert benchmark_values(plans, {"S1001-001": 2, "S2002-001": 1}, Y)["05"] == Decimal("10.00")


def test_round_cents():
    assert round_cents(Fraction(30005, 1000)) == Decimal("30.01")
    assert round_cents(Fraction(300049999, 10000000)) == Decimal("30.00")
    assert round_cents(Decimal("1.005")) == Decimal("1.01")
    assert str(round_cents(Fraction(35))) == "35.00"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10000), st.integers(0, 1000)), min_size=1, max_size=8))
def test_matches_exact_weighted_average(rows):
    plans = catalog(*[plan("S1001", f"{i:03d}", f"{c / 100:.2f}", parent=f"ORG{i}") for i, (c, _) in enumerate(rows)])
    counts = {f"S1001-{i:03d}": w for i, (_, w) in enumerate(rows)}
    total = sum(w for _, w in rows)
    if total:
        exact = Fraction(sum(c * w for c, w in rows), 100 * total)
    else:
        exact = Fraction(sum(c for c, _ in rows), 100 * len(rows))
    got = benchmark_values(plans, counts, Y)["05"]
    assert got == round_cents(exact)
    assert abs(Fraction(got) - exact) <= Fraction(1, 200)
    assert got.as_tuple().exponent == -2


# --- the output records -------------------------------------------------------------------
def test_calculate_benchmarks_outputs():
    plans = catalog(plan("S1001", "001", "30.00"), plan("S2002", "001", "40.00", parent="ORG2"),
                    plan("S1001", "331", "25.00", region="33"))
    out = calculate_benchmarks(plans, {"S1001-001": 3, "S2002-001": 1, "S1001-331": 2}, Y, dt.date(2025, 7, 15), AS_OF)
    assert [(o.topic, o.key) for o in out] == [(LIS_BENCHMARKS, "05-2026"), (LIS_BENCHMARKS, "33-2026")]
    assert out[0].value == {
        "region": "05", "plan_year": 2026, "reference_month": JULY,
        "benchmark_premium": Decimal("32.50"), "lis_enrollment_total": 4, "plans_weighted": 2,
        "calculated_at": AS_OF,
    }
    assert benchmark_state(out) == {"05": Decimal("32.50"), "33": Decimal("25.00")}


def test_same_input_same_output():
    plans = catalog(plan("S1001", "001", "30.00"), plan("S2002", "001", "40.00", parent="ORG2"))
    counts = {"S1001-001": 3, "S2002-001": 1}
    reordered = dict(reversed(list(plans.items())))
    assert calculate_benchmarks(plans, counts, Y, JULY, AS_OF) == calculate_benchmarks(reordered, counts, Y, JULY, AS_OF)
