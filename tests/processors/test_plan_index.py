"""The indexed plan catalog (issue 6): same answers as scanning the catalog, in the same order."""
from __future__ import annotations

import copy
import random
from collections import Counter
from collections.abc import Mapping
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors import state_lists
from processors.benchmark import money
from processors.plan_index import PlanIndex, is_basic_renewing_pdp, region_pdps
from processors.reassignment import (
    de_minimis_amount,
    eligible_targets,
    evaluate,
    run_member,
    zero_premium_options,
)
from tests.processors.cycle_builders import (
    AS_OF,
    SEED,
    Y,
    catalog,
    enrollment,
    lis,
    mbi_for,
    member,
    plan,
)


# --------------------------------------------------------------------------- the scans before the index (oracle)
def old_zero_premium_options(plans: Mapping, region: str, benchmark: Decimal, plan_year: int) -> list[str]:
    return sorted(
        f"{p['contract_id']}-{p['pbp_id']}"
        for p in plans.values()
        if is_basic_renewing_pdp(p, plan_year, region) and money(p["basic_premium"]) <= benchmark
    )


def old_eligible_targets(plans: Mapping, region: str, benchmark: Decimal, plan_year: int,
                         losing_key: str | None, losing_parent_org_id: str | None) -> list[str]:
    same_parent: list[str] = []
    others: list[str] = []
    for p in plans.values():
        if not is_basic_renewing_pdp(p, plan_year, region):
            continue
        key = f"{p['contract_id']}-{p['pbp_id']}"
        if key == losing_key:
            continue
        premium = money(p["basic_premium"])
        same = losing_parent_org_id is not None and p.get("parent_org_id") == losing_parent_org_id
        if premium <= benchmark:
            (same_parent if same else others).append(key)
        elif same and p.get("waives_de_minimis") and premium - benchmark <= de_minimis_amount(plan_year):
            same_parent.append(key)
    return sorted(same_parent) if same_parent else sorted(others)


# --------------------------------------------------------------------------- random catalogs
REGIONS = ("05", "05", "06", "11")  # MD, DE: 05; PA: 06; FL: 11
plans_st = st.lists(
    st.builds(
        lambda c, pbp, prem, year, region, parent, ptype, benefit, status, waives, employer: plan(
            f"S{c:04d}", f"{pbp:03d}", f"{prem / 100:.2f}", year=year, region=region, parent=parent,
            plan_type=ptype, benefit=benefit, status=status, waives=waives, employer=employer),
        st.integers(1000, 1012), st.integers(1, 3), st.integers(0, 6000), st.sampled_from((Y - 1, Y, Y)),
        st.sampled_from(REGIONS), st.sampled_from(("ORG1", "ORG2", "ORG3", None)),
        st.sampled_from(("PDP", "PDP", "PDP", "MAPD", "PACE")), st.sampled_from(("BASIC", "BASIC", "ENHANCED")),
        st.sampled_from(("RENEWING", "RENEWING", "NON_RENEWING", "SERVICE_AREA_REDUCTION")),
        st.booleans(), st.sampled_from((False, False, False, True)),
    ),
    min_size=1, max_size=40,
).map(lambda ps: catalog(*ps))
bench_st = st.integers(0, 6000).map(lambda c: Decimal(c) / 100)


@settings(max_examples=300, deadline=None)
@given(plans=plans_st, region=st.sampled_from(("05", "06", "11", "99")), benchmark=bench_st, year=st.sampled_from((Y - 1, Y, Y + 1)),
       losing=st.integers(1000, 1040), parent=st.sampled_from(("ORG1", "ORG2", None)))
def test_index_and_scan_give_the_old_answers(plans, region, benchmark, year, losing, parent):
    index = PlanIndex(plans)
    losing_key = f"S{losing:04d}-001"
    expected_targets = old_eligible_targets(plans, region, benchmark, year, losing_key, parent)
    expected_options = old_zero_premium_options(plans, region, benchmark, year)
    for p in (plans, index):
        assert eligible_targets(p, region, benchmark, year, losing_key, parent) == expected_targets
        assert eligible_targets(p, region, benchmark, year, None, None) == old_eligible_targets(
            plans, region, benchmark, year, None, None)
        assert zero_premium_options(p, region, benchmark, year) == expected_options
    assert region_pdps(index, year, region) == region_pdps(plans, year, region)


def random_catalog(rng: random.Random) -> dict:
    """~30 plan-years in regions 05/06 for Y-1 and Y, premiums around the benchmarks, some of every kind."""
    plans = []
    for n in range(rng.randint(3, 30)):
        for year in (Y - 1, Y):
            if rng.random() < 0.15:
                continue
            plans.append(plan(
                f"S{1000 + n // 3}", f"{1 + n % 3:03d}", f"{rng.randint(1500, 4500) / 100:.2f}", year=year,
                region=rng.choice(("05", "05", "06")), parent=rng.choice(("ORG1", "ORG2", "ORG3", None)),
                plan_type=rng.choice(("PDP",) * 8 + ("MAPD", "PACE")), benefit=rng.choice(("BASIC",) * 6 + ("ENHANCED",)),
                status=rng.choice(("RENEWING",) * 7 + ("NON_RENEWING", "SERVICE_AREA_REDUCTION")),
                waives=rng.random() < 0.3, employer=rng.random() < 0.1,
            ))
    return catalog(*plans)


def test_evaluate_and_every_cycle_command_are_identical_with_an_index():
    bms = {"05": Decimal("30.00"), "06": Decimal("25.50")}
    seen: Counter[tuple[str, str | None, bool]] = Counter()
    for seed in range(150):
        rng = random.Random(seed)
        plans = random_catalog(rng)
        index = PlanIndex(plans)
        ours = sorted({(p["contract_id"], p["pbp_id"]) for p in plans.values()})
        for i in range(12):
            contract_id, pbp_id = rng.choice(ours)
            m = member(mbi_for(seed * 100 + i), contract_id=contract_id, pbp_id=pbp_id,
                       source=rng.choice("AAHCB"), level=rng.choice(("100", "100", "050")),
                       state_code=rng.choice(("MD", "DE", "PA")))
            if i % 5 == 0:
                m["preliminary_years"] = [Y]  # the first run skips them before the window closes; the second takes them
            d = evaluate(m, index, bms, Y, SEED)
            assert d == evaluate(m, plans, bms, Y, SEED)
            seen[(d.case, d.reason, d.moves)] += 1
            assert run_member(m, index, bms, Y, SEED, AS_OF) == run_member(m, plans, bms, Y, SEED, AS_OF)
            for command in sorted(state_lists.MEMBER_COMMANDS):
                kw = dict(benchmarks=bms, plan_year=Y, seed=SEED, as_of=AS_OF, opted_in_states=("MD", "PA"))
                assert state_lists.run_cycle_member(command, m, plans=index, **kw) == state_lists.run_cycle_member(
                    command, m, plans=plans, **kw)
    # the comparison reached the interesting cases
    for case in ("PREMIUM", "NON_RENEWAL_PDP", "NON_RENEWAL_MA"):
        assert seen[(case, None, True)] > 5, seen
    assert sum(n for (case, _, _), n in seen.items() if case == "CHOOSER_TAN") > 5, seen
    assert sum(n for (_, reason, _), n in seen.items() if reason == "NO_ELIGIBLE_TARGET") > 0, seen


# --------------------------------------------------------------------------- the index itself
def test_index_is_a_read_only_snapshot_of_the_catalog():
    plans = catalog(plan("S1001", "001", "30.00"), plan("S2002", "001", "20.00", parent="ORG2"),
                    plan("H3003", "001", "0.00", plan_type="MAPD"))
    index = PlanIndex(plans)
    assert dict(index) == plans and len(index) == 3 and "S1001-001-2026" in index
    assert index.get("S1001-001-2026") is plans["S1001-001-2026"] and index.get("nope") is None
    assert [e.key for e in index.basic_renewing_pdps(Y, "05")] == ["S1001-001", "S2002-001"]
    assert index.basic_renewing_pdps(Y, "06") == () and index.basic_renewing_pdps(Y - 1, "05") == ()
    before = copy.deepcopy(plans)
    plans["S0001-001-2026"] = plan("S0001", "001", "1.00")  # the catalog changes after the build
    del plans["S2002-001-2026"]
    assert dict(index) == before
    assert [e.key for e in index.basic_renewing_pdps(Y, "05")] == ["S1001-001", "S2002-001"]
    with pytest.raises(TypeError):
        index["X"] = {}  # type: ignore[index]
    assert PlanIndex.of(index) is index
    assert PlanIndex.of(plans) is not plans and dict(PlanIndex.of(plans)) == plans


def test_a_malformed_catalog_entry_fails_the_build():
    bad = catalog(plan("S1001", "001", "30.00"))
    bad["S1001-001-2026"]["basic_premium"] = "n/a"
    with pytest.raises(Exception):
        PlanIndex(bad)


def test_run_cycle_member_accepts_the_catalog_or_an_index():
    plans = catalog(plan("S1001", "001", "38.00"), plan("S1001", "002", "30.00"), plan("S2002", "001", "31.00", parent="ORG2"))
    bms = {"05": Decimal("35.00")}
    index = PlanIndex(plans)
    members = [member(mbi_for(i), source="AB"[i % 2]) for i in range(20)]
    members.append(member(mbi_for(99), enrollments=[enrollment("S1001", "001", end="2025-12-31")], lis_periods=[lis()]))
    for command in sorted(state_lists.MEMBER_COMMANDS):
        for m in members:
            kw = dict(benchmarks=bms, plan_year=Y, seed=SEED, as_of=AS_OF, opted_in_states=("MD",))
            assert state_lists.run_cycle_member(command, m, plans=index, **kw) == state_lists.run_cycle_member(
                command, m, plans=plans, **kw)
