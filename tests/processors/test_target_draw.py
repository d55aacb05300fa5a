"""The reproducible target draw: (seed, MBI, plan year) -> an even spread over eligible plans."""
from __future__ import annotations

from collections import Counter
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.ids import draw_fraction
from processors.reassignment import draw_target, eligible_targets, evaluate
from tests.processors.cycle_builders import SEED, Y, catalog, mbi_for, member, plan

FIVE = [f"S{n}00{n}-001" for n in range(1, 6)]


def test_even_spread_over_five_plans_100k_mbis():
    n = 100_000
    counts = Counter(draw_target(FIVE, SEED, mbi_for(i), Y) for i in range(n))
    assert set(counts) == set(FIVE)
    for key in FIVE:
        share = counts[key] / n
        assert abs(share - 0.20) < 0.01, (key, share)


def test_even_spread_through_evaluate_and_losing_plan_never_target():
    # 5 eligible other-sponsor plans + the losing plan; evaluate must spread evenly and never pick the loser
    plans = catalog(plan("S9009", "001", "38.00", parent="ORG9"),
                    *[plan(k.split("-")[0], "001", "30.00", parent=f"ORG{i}") for i, k in enumerate(FIVE)])
    n = 20_000
    got = Counter()
    for i in range(n):
        d = evaluate(member(mbi_for(i), contract_id="S9009"), plans, {"05": Decimal("35.00")}, Y, SEED)
        got[f"{d.gaining_contract_id}-{d.gaining_pbp_id}"] += 1
    assert "S9009-001" not in got
    assert set(got) == set(FIVE)
    for key in FIVE:
        assert abs(got[key] / n - 0.20) < 0.015


def test_losing_plan_never_target_even_when_below_benchmark():
    # non-renewal: losing plan's Y record is "below" the benchmark but must be skipped
    plans = catalog(plan("S1001", "001", "10.00", status="NON_RENEWING"),
                    plan("S2002", "001", "30.00", parent="ORG2"), plan("S3003", "001", "30.00", parent="ORG3"))
    for i in range(2_000):
        d = evaluate(member(mbi_for(i)), plans, {"05": Decimal("35.00")}, Y, SEED)
        assert d.gaining_contract_id in ("S2002", "S3003")
    assert eligible_targets(plans, "05", Decimal("35.00"), Y, "S1001-001", "ORG1") == ["S2002-001", "S3003-001"]


def test_same_parent_draw_among_same_parent_plans_only():
    plans = catalog(plan("S1001", "001", "38.00"), plan("S1001", "002", "30.00"), plan("S1001", "003", "31.00"),
                    plan("S2002", "001", "20.00", parent="ORG2"))
    seen = Counter()
    for i in range(4_000):
        d = evaluate(member(mbi_for(i)), plans, {"05": Decimal("35.00")}, Y, SEED)
        seen[d.gaining_pbp_id if d.gaining_contract_id == "S1001" else "other"] += 1
    assert set(seen) == {"002", "003"}
    assert abs(seen["002"] / 4_000 - 0.5) < 0.03


def test_draw_is_reproducible_and_defined_by_sorted_keys():
    for i in range(200):
        mbi = mbi_for(i)
        f = draw_fraction(SEED, mbi, Y)
        expected = sorted(FIVE)[int(f * 5)]
        assert draw_target(FIVE, SEED, mbi, Y) == expected
        assert draw_target(list(reversed(FIVE)), SEED, mbi, Y) == expected  # order of candidates irrelevant


def test_draw_depends_on_seed_mbi_and_year():
    base = [draw_target(FIVE, SEED, mbi_for(i), Y) for i in range(300)]
    assert base != [draw_target(FIVE, SEED + 1, mbi_for(i), Y) for i in range(300)]
    assert base != [draw_target(FIVE, SEED, mbi_for(i), Y + 1) for i in range(300)]
    assert base == [draw_target(FIVE, SEED, mbi_for(i), Y) for i in range(300)]


def test_no_candidates_no_target():
    assert draw_target([], SEED, mbi_for(1), Y) is None


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=12), st.integers(min_value=0, max_value=999_999),
       st.integers(min_value=-2**63, max_value=2**63 - 1))
def test_draw_always_returns_a_candidate(n, i, seed):
    cands = [f"S{k:04d}-001" for k in range(n)]
    assert draw_target(cands, seed, mbi_for(i), Y) in cands


def test_eligible_targets_excludes_the_losing_key_itself():
    # defensive rule: even a plan that would qualify is never its own member's target
    plans = catalog(plan("S1001", "002", "30.00"), plan("S1001", "003", "31.00"), plan("S2002", "001", "20.00", parent="ORG2"))
    assert eligible_targets(plans, "05", Decimal("35.00"), Y, "S1001-002", "ORG1") == ["S1001-003"]
    assert eligible_targets(plans, "05", Decimal("35.00"), Y, "S1001-003", "ORG1") == ["S1001-002"]
    only = catalog(plan("S1001", "002", "30.00"))
    assert eligible_targets(only, "05", Decimal("35.00"), Y, "S1001-002", "ORG1") == []
