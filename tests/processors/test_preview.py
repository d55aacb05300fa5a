"""Issue 23 item 5: everyone hears in July what October will bring (processors/preview.py).

Seed 001: "September 30, 2019 - Beneficiaries in continuing plans must receive appropriate standard ANOC from
their plan (including appropriate language for those beneficiaries being reassigned due to a premium increase)",
and "Losing PDPs that want to identify potential reassignees may do so by identifying all members whose enrollment
source codes are A, C, or H ... and who will have a 2020 low-income premium subsidy of 100%". The benchmark is
calculated in late July; before issue 23 nothing told plans or states what it implied until the October run.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from processors import preview
from processors.model import PLAN_NOTICES, STATE_LISTS, TRR_REPLIES
from processors.reassignment import run_member
from tests.processors.cycle_builders import SEED, Y, catalog, member, mbi_for, plan, standard_plans

JULY = dt.datetime(2025, 7, 31, 16, tzinfo=dt.timezone.utc)
AFTER = {Y: {"05": Decimal("35.00")}}


def step(m, plans=None, before=None):
    return preview.at_calculation(m, plans or standard_plans(), before or {}, AFTER, Y, SEED, JULY)


def test_a_member_the_run_would_move_is_a_projected_loss_of_the_plan():
    res, keys = step(member(source="A"))  # S1001-001 at 38.00 > 35.00, 100%, CMS-placed: PREMIUM
    assert res.state is None  # "The preview changes no member's state"
    [loss] = [o for o in res.outputs if o.topic == PLAN_NOTICES]
    v = loss.value
    assert (loss.key, v["contract_id"], v["pbp_id"], v["notice_type"], v["reason"]) == (
        "S1001", "S1001", "001", "PROJECTED_LOSS", "PREMIUM")
    assert (v["mbi"], v["plan_year"], v["effective_date"], v["issued_at"]) == (
        member()["mbi"], Y, dt.date(Y, 1, 1), JULY)
    assert (v["lis_premium_subsidy_level"], v["lis_copay_level"]) == ("100", "1")
    assert v["file_name"] is None and v["obligation"] is None and v["projected_count"] is None
    assert "supersede" in v["note"]
    assert keys == ["plan|S1001-001|PREMIUM", "state|MD"]
    # and the 121 with the year's amounts goes with it (item 1): 35.00 subsidy, 3.00 owed
    [reply] = [o.value for o in res.outputs if o.topic == TRR_REPLIES]
    assert (reply["transaction_reply_code"], reply["lis_premium_subsidy_amount"], reply["member_premium_liability"]) \
        == ("121", Decimal("35.00"), Decimal("3.00"))


def test_what_the_run_decides_the_preview_projects():
    # The same rule as October: a PROJECTED_LOSS exactly for the members the run would move, with the same case.
    plans = standard_plans(nonrenew=plan("S3003", "001", "20.00", parent="ORG3", status="NON_RENEWING"),
                           ma=plan("H4004", "001", "5.00", parent="ORG4", plan_type="MAPD", status="NON_RENEWING"))
    cases = [member(mbi_for(1), source="A"), member(mbi_for(2), source="B"),            # moves / chooser (tan)
             member(mbi_for(3), source="C", level="050"),                                 # partial: stays
             member(mbi_for(4), contract_id="S3003", source="B", level="025"),            # PDP non-renewal
             member(mbi_for(5), contract_id="H4004", source="B"),                         # MA non-renewal
             member(mbi_for(6), contract_id="S1001", pbp_id="002")]                       # below: stays
    for m in cases:
        res, keys = step(m, plans)
        projected = [o.value["reason"] for o in res.outputs if o.topic == PLAN_NOTICES]
        run = run_member(m, plans, AFTER[Y], Y, SEED, JULY)
        moved = [o.value["notice_type"] for o in run.outputs if o.topic == PLAN_NOTICES]
        case = {"GAIN_FILE_RECORD"} & set(moved)
        assert bool(projected) == bool(case), m["mbi"]
        assert len(keys) == (2 if projected else 0)
    assert [step(m, plans)[0].outputs[-1].value["reason"] for m in cases[3:5]] == ["NON_RENEWAL_PDP", "NON_RENEWAL_MA"]


def test_no_target_means_no_projected_loss():
    # the run could not move the member (REASSIGNMENT_NOT_POSSIBLE): the plan does not lose them
    plans = catalog(plan("S1001", "001", "38.00"))
    res, keys = step(member(), plans)
    assert not [o for o in res.outputs if o.topic == PLAN_NOTICES] and keys == []


def test_counts_per_plan_per_state_and_the_nation():
    counts = preview.merge([{"plan|S1001-001|PREMIUM": 2, "state|MD": 2},
                            {"plan|S1001-001|PREMIUM": 1, "plan|H4004-001|NON_RENEWAL_MA": 1, "state|MD": 1,
                             "state|DE": 1}])
    out = preview.count_outputs(counts, Y, JULY)
    plans = [(o.key, o.value["pbp_id"], o.value["notice_type"], o.value["reason"], o.value["projected_count"],
              o.value["mbi"]) for o in out if o.topic == PLAN_NOTICES]
    assert plans == [("H4004", "001", "PROJECTED_LOSS_COUNT", "NON_RENEWAL_MA", 1, ""),
                     ("S1001", "001", "PROJECTED_LOSS_COUNT", "PREMIUM", 3, "")]
    states = [(o.key, o.value["list_type"], o.value["state_code"], o.value["projected_count"], o.value["mbi"])
              for o in out if o.topic == STATE_LISTS]
    assert states == [("DE", "PROJECTED_COUNT", "DE", 1, ""), ("MD", "PROJECTED_COUNT", "MD", 3, ""),
                      ("US", "PROJECTED_COUNT", "US", 4, "")]
    assert preview.count_outputs({}, Y, JULY) == []
    # a later calculation's preview has other ids (it replaces this one)
    again = preview.count_outputs(counts, Y, JULY + dt.timedelta(days=7))
    assert {o.value["notice_id"] for o in again if o.topic == PLAN_NOTICES}.isdisjoint(
        {o.value["notice_id"] for o in out if o.topic == PLAN_NOTICES})


# --------------------------------------------------------------------------- CALCULATION_NEEDS
# Seed 001: "CMS will reassign individuals who are LIS-eligible in 2019, will remain LIS-eligible in 2020";
# seed 004 (42 CFR 423.780(b)(2)(i)) weights plans by "the number of Part D low-income subsidy eligible
# individuals enrolled in the plan". A member with no LIS period is in neither, and what it owes is the plan's
# premium whatever the benchmark: the calculation has nothing for it, so the shell may skip it unread
# (preview.CALCULATION_NEEDS, streams/runtime/cycle.py).

def _has_key(state) -> bool:
    import orjson

    return f'"{preview.CALCULATION_NEEDS}"'.encode() in orjson.dumps(state)


def test_a_member_without_lis_gets_nothing_at_a_calculation_and_counts_for_no_plan():
    from processors.lis_counts import counted_plan

    with_lis, without = member(source="A"), member(source="A", level=None)  # S1001-001 at 38.00 > 35.00
    assert _has_key(with_lis) and not _has_key(without)
    res, keys = step(with_lis)
    assert sorted(o.topic for o in res.outputs) == [PLAN_NOTICES, TRR_REPLIES] and keys  # the 121 and the loss
    assert counted_plan(with_lis, dt.date(Y - 1, 7, 1)) == "S1001-001"
    for before in ({}, {Y: {"05": Decimal("30.00")}}):
        res, keys = step(without, before=before)
        assert res.outputs == [] and keys == []
    assert counted_plan(without, dt.date(Y - 1, 7, 1)) is None


def test_on_random_member_histories_no_state_without_the_key_gets_anything_at_a_calculation():
    from hypothesis import HealthCheck, given, settings

    from processors.lis_counts import counted_plan
    from streams.runtime.rules import Reference
    from tests.processors.test_state_sharing import BENCHMARKS, CATALOG, _chain, member_events

    seen_without: list[int] = []

    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(events=member_events())
    def check(events) -> None:
        last = {}
        for state, _ in _chain(events, Reference(CATALOG, BENCHMARKS)):
            last[state["mbi"]] = state
        for state in last.values():
            if _has_key(state):
                continue
            seen_without.append(len(state["enrollments"]))
            for year in (2026, 2027):
                for before in ({}, {year: {"05": Decimal("30.00")}}):
                    res, keys = preview.at_calculation(state, CATALOG, before, {year: BENCHMARKS[year]}, year, SEED,
                                                       JULY)
                    assert res.outputs == [] and keys == []
                for month in (1, 7, 12):
                    assert counted_plan(state, dt.date(year - 1, month, 1)) is None
                    assert counted_plan(state, dt.date(year, month, 1)) is None

    check()
    assert any(n > 0 for n in seen_without)  # members enrolled in a plan without LIS were among them
