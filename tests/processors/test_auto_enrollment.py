"""CMS auto-enrollment (TRC 117), facilitated enrollment (TRC 118) and the opt-out reply (166)."""
from __future__ import annotations

import copy
import datetime as dt
import json
from collections import Counter
from decimal import Decimal

import pytest

from processors import auto_enrollment as ae
from processors.auto_enrollment import auto_or_facilitate
from processors.model import TRR_REPLIES
from tests.processors.builders import (
    MBI,
    at,
    make_enrollment,
    make_lis,
    make_member,
    make_profile,
    trcs,
)
from tests.processors.cycle_builders import catalog, mbi_for, plan

AS_OF = at(2026, 3, 10, 14, 30)
EFF = dt.date(2026, 4, 1)
BENCH = Decimal("35.00")
BENCHMARKS = {2026: {"14": BENCH}, 2027: {"14": BENCH}}


def plans(*extra, year: int = 2026):
    """Region 14 (OH): two eligible PDPs, and plans that must never be drawn."""
    return catalog(
        plan("S1001", "001", "30.00", region="14", year=year),
        plan("S2002", "001", "35.00", region="14", parent="ORG2", year=year),
        plan("S3003", "001", "35.01", region="14", parent="ORG3", year=year),  # above the benchmark
        plan("S3003", "002", "36.00", region="14", parent="ORG3", year=year, waives=True),  # de minimis waiver
        plan("S4004", "001", "10.00", region="14", benefit="ENHANCED", year=year),
        plan("H5005", "001", "0.00", region="14", plan_type="MAPD", year=year),
        plan("S6006", "001", "10.00", region="14", employer=True, year=year),
        plan("S7007", "001", "10.00", region="05", year=year),  # another region
        *extra,
    )


PLANS = {**plans(), **plans(year=2027)}
ELIGIBLE = {"S1001-001", "S2002-001"}


def fbde(**kw):
    profile = make_profile(medicaid_status="FULL_BENEFIT_DUAL", medicaid_start="2026-02-01", **kw)
    return make_member(profile=profile)


def lis_only(level="050", **kw):
    return make_member(profile=make_profile(**kw), lis=[make_lis(start="2026-01-01", level=level, source="A",
                                                                 copay="4")])


def run(state, as_of=AS_OF, plans_=None, benchmarks=None):
    return auto_or_facilitate(state, PLANS if plans_ is None else plans_,
                              BENCHMARKS if benchmarks is None else benchmarks, as_of)


# --------------------------------------------------------------------------- auto-enrollment


def test_full_benefit_dual_without_plan_is_auto_enrolled():
    state = fbde()
    before = copy.deepcopy(state)
    res = run(state)
    assert state == before
    assert trcs(res.outputs) == ["117"]
    out = res.outputs[0]
    assert out.topic == TRR_REPLIES and out.key == out.value["contract_id"]
    v = out.value
    assert f"{v['contract_id']}-{v['pbp_id']}" in ELIGIBLE
    assert v["transaction_code"] == 61 and v["trc_type"] == "ACCEPTED"
    assert v["enrollment_source"] == "A" and v["election_type"] == "Z"
    assert v["effective_date"] == EFF and v["application_date"] == dt.date(2026, 3, 10)
    assert v["cms_processing_timestamp"] == AS_OF and v["transaction_date"] == dt.date(2026, 3, 10)
    # deemed LIS carried on the reply
    assert (v["lis_premium_subsidy_level"], v["lis_copay_level"], v["lis_subsidy_source"]) == ("100", "1", "D")
    assert v["part_d_premium"] in (Decimal("30.00"), Decimal("35.00"))
    assert v["lis_premium_subsidy_amount"] == v["part_d_premium"]

    new = res.state
    e = new["enrollments"][-1]
    assert set(e) == set(make_enrollment())  # every key of model.py
    assert (e["start"], e["end"], e["enrollment_source"], e["election_type"], e["status"]) == (
        "2026-04-01", None, "A", "Z", "ACTIVE")
    assert (e["contract_id"], e["pbp_id"]) == (v["contract_id"], v["pbp_id"])
    assert new["elections"]["2026-04-01"] == {"application_date": "2026-03-10", "tracking_id": e["tracking_id"]}
    hist = new["auto_enrollment"]["enrollments"]
    assert hist == [{"kind": "AUTO", "enrollment_source": "A", "year": 2026, "effective_date": "2026-04-01",
                     "contract_id": e["contract_id"], "pbp_id": e["pbp_id"], "identified_on": "2026-03-10",
                     "tracking_id": e["tracking_id"]}]
    assert ae.auto_enrolled_years(new) == [2026]
    json.dumps(new)


def test_deemed_period_added_for_the_dual():
    new = run(fbde()).state
    assert new["lis"] == [{
        "change_id": new["lis"][0]["change_id"], "premium_subsidy_level": "100", "copay_level": "1",
        "subsidy_source": "D", "start": "2026-02-01", "end": "2026-12-31",
    }]
    assert new["lis"][0]["change_id"].startswith("DEEMED-")


def test_deemed_in_second_half_runs_through_next_year():
    new = run(fbde(), as_of=at(2026, 7, 1)).state
    assert (new["lis"][0]["start"], new["lis"][0]["end"]) == ("2026-02-01", "2027-12-31")


@pytest.mark.parametrize(("as_of", "end"), [
    (at(2026, 2, 2), "2026-12-31"),
    (at(2026, 4, 1), "2026-12-31"),
    (at(2026, 6, 30, 23, 59, 59), "2026-12-31"),  # the last instant of June (UTC): still this year
    (at(2026, 7, 1, 0, 0, 0), "2027-12-31"),  # the first of July: through next year
    (at(2026, 12, 31), "2027-12-31"),
])
def test_the_deeming_boundary_is_july_first(as_of, end):
    """docs/medicaid.md: the deemed period ends "December 31 of this year, or of next year when identified in
    July-December (the CMS deeming rule)": the boundary is July 1, not June, not April."""
    new = run(fbde(), as_of=as_of).state
    assert new["lis"][0]["end"] == end


def test_deemed_period_never_overlaps():
    state = fbde()
    state["lis"] = [make_lis(start="2025-06-01", end="2026-02-28", change_id="OLD", level="100"),
                    make_lis(start="2026-09-01", change_id="NEXT", level="100")]
    new = run(state).state
    deemed = [p for p in new["lis"] if p["subsidy_source"] == "D" and p["change_id"].startswith("DEEMED-")]
    assert [(p["start"], p["end"]) for p in deemed] == [("2026-03-01", "2026-08-31")]
    assert [p["start"] for p in new["lis"]] == sorted(p["start"] for p in new["lis"])


def test_existing_lis_period_means_no_deeming():
    state = fbde()
    state["lis"] = [make_lis(start="2026-01-01", level="100", copay="3", source="D")]
    new = run(state).state
    assert new["lis"] == state["lis"]
    assert trcs(run(state).outputs) == ["117"]
    assert run(state).outputs[0].value["lis_copay_level"] == "3"


def test_deemed_copay_follows_the_medicaid_determination():
    state = fbde()
    state["medicaid"] = {"exempt_bases": ["LONG_TERM_CARE"], "fpl_percent": "250.00"}
    assert ae.deemed_copay_level(state) == "3"
    state["medicaid"] = {"exempt_bases": [], "fpl_percent": "100.00"}
    assert ae.deemed_copay_level(state) == "2"
    state["medicaid"] = {"exempt_bases": [], "fpl_percent": "100.01"}
    assert ae.deemed_copay_level(state) == "1"


def test_dual_with_a_plan_is_not_enrolled_but_deemed_with_121_to_the_plan():
    state = fbde()
    state["enrollments"] = [make_enrollment("S9999", "001", start="2025-01-01")]
    res = run(state)
    assert trcs(res.outputs) == ["121"]
    assert res.outputs[0].value["contract_id"] == "S9999"
    assert len(res.state["enrollments"]) == 1
    # once deemed, nothing more
    assert run(res.state) == (None, [])


@pytest.mark.parametrize("end", [None, "2026-03-10", "2026-06-30"])
def test_current_or_future_plan_blocks(end):
    state = fbde()
    state["lis"] = [make_lis(start="2026-01-01")]
    state["enrollments"] = [make_enrollment(start="2026-01-01", end=end)]
    assert run(state) == (None, [])


def test_future_plan_blocks():
    state = fbde()
    state["lis"] = [make_lis(start="2026-01-01")]
    state["enrollments"] = [make_enrollment(start="2026-05-01")]
    assert run(state) == (None, [])


def test_ended_and_cancelled_plans_do_not_block_and_prior_is_reported():
    state = fbde()
    state["enrollments"] = [
        make_enrollment("S9999", "001", start="2025-01-01", end="2026-03-31", disenrollment_reason="11"),
        make_enrollment("S8888", "001", start="2026-04-01", status="CANCELLED"),
    ]
    # March 10: the S9999 plan is still in force -> deemed (121 to it), not enrolled
    early = run(state)
    assert trcs(early.outputs) == ["121"] and early.outputs[0].value["contract_id"] == "S9999"
    assert len(early.state["enrollments"]) == 2
    res = run(state, as_of=at(2026, 4, 2))
    assert trcs(res.outputs) == ["117"]
    assert res.outputs[0].value["effective_date"] == dt.date(2026, 5, 1)
    assert res.outputs[0].value["prior_contract_id"] is None  # nothing in force on April 30


def test_idempotent_second_call_does_nothing():
    first = run(fbde())
    assert run(first.state) == (None, [])
    assert run(first.state, as_of=at(2026, 8, 1)) == (None, [])


def test_medicaid_period_must_cover_the_date():
    assert trcs(run(fbde(medicaid_end="2026-03-09")).outputs) == []
    assert run(make_member(profile=make_profile(medicaid_status="FULL_BENEFIT_DUAL",
                                                medicaid_start="2026-03-11"))) == (None, [])
    assert trcs(run(fbde(medicaid_end="2026-03-10")).outputs) == ["117"]


def test_partial_dual_without_lis_gets_nothing_with_lis_is_facilitated():
    partial = make_member(profile=make_profile(medicaid_status="PARTIAL_DUAL", medicaid_start="2026-01-01"))
    assert run(partial) == (None, [])
    partial["lis"] = [make_lis(start="2026-01-01", level="100", source="D")]
    assert trcs(run(partial).outputs) == ["118"]


def test_effective_date_waits_for_part_d_eligibility():
    state = fbde(part_a_start="2026-07-15", part_b_start="2026-07-15", part_d_eligible_start="2026-07-15",
                 birth_date="1961-07-16")
    res = run(state)
    assert res.outputs[-1].value["effective_date"] == dt.date(2026, 7, 1)
    assert res.state["lis"] == []  # not deemed before Part D eligibility


def test_not_part_d_eligible_gets_nothing():
    state = fbde(part_a_start=None, part_b_start=None, part_d_eligible_start=None)
    assert run(state) == (None, [])


def test_december_identification_enrolls_next_year_with_that_years_plans():
    res = run(fbde(), as_of=at(2026, 12, 15))
    v = res.outputs[-1].value
    assert v["effective_date"] == dt.date(2027, 1, 1)
    assert res.state["auto_enrollment"]["enrollments"][0]["year"] == 2027
    # no 2027 benchmark yet: nothing emitted (the shell retries on the next update)
    assert run(fbde(), as_of=at(2026, 12, 15), benchmarks={2026: {"14": BENCH}}).outputs == []


def test_deceased_gets_nothing():
    assert run(fbde(date_of_death="2026-03-01")) == (None, [])
    # dies before the effective date: deemed but not enrolled
    res = run(fbde(date_of_death="2026-03-20"))
    assert res.outputs == [] and res.state["enrollments"] == [] and len(res.state["lis"]) == 1


@pytest.mark.parametrize("code", ["PR", "GU", None])
def test_territory_or_no_region_not_enrolled(code):
    res = run(fbde(state_code=code))
    assert res.outputs == []
    assert res.state is None or res.state["enrollments"] == []


def test_auto_enrollment_region_comes_from_the_state_file():
    # Issue 13 item 6: as the reassignment, the state file's state first. Living in Ohio (region 14) but on
    # Maryland's Medicaid file (region 05, benchmark 35.00): drawn among region 05's plans (S7007-001 only).
    res = run(fbde(medicaid_state_code="MD"), benchmarks={2026: {"14": BENCH, "05": BENCH}})
    assert trcs(res.outputs) == ["117"]
    assert (res.outputs[0].value["contract_id"], res.outputs[0].value["pbp_id"]) == ("S7007", "001")


# --------------------------------------------------------------------------- facilitated


@pytest.mark.parametrize("level", ["025", "050", "075", "100"])
def test_other_lis_eligible_is_facilitated(level):
    res = run(lis_only(level))
    assert trcs(res.outputs) == ["118"]
    v = res.outputs[0].value
    assert v["enrollment_source"] == "C" and v["election_type"] == "Z" and v["transaction_code"] == 61
    assert v["lis_premium_subsidy_level"] == level and v["lis_subsidy_source"] == "A"
    # 42 CFR 423.780(d): level% of the lesser of the premium and the benchmark
    expected = (min(v["part_d_premium"], BENCH) * Decimal(int(level)) / 100).quantize(Decimal("0.01"))
    assert v["lis_premium_subsidy_amount"] == expected
    e = res.state["enrollments"][-1]
    assert e["enrollment_source"] == "C"
    assert res.state["lis"] == lis_only(level)["lis"]  # no deeming for non-duals
    assert ae.auto_enrolled_years(res.state) == []
    assert res.state["auto_enrollment"]["enrollments"][0]["kind"] == "FACILITATED"


def test_lis_level_000_is_not_lis_eligible():
    assert run(lis_only("000")) == (None, [])


def test_lis_period_must_cover_the_date():
    state = make_member(profile=make_profile(), lis=[make_lis(start="2026-04-01", level="100")])
    assert run(state) == (None, [])
    state["lis"] = [make_lis(start="2025-01-01", end="2026-03-09")]
    assert run(state) == (None, [])


def test_nobody_else_is_touched():
    assert run(make_member()) == (None, [])
    assert run(make_member(profile=None, lis=[make_lis()])) == (None, [])
    assert run(None) == (None, [])


# --------------------------------------------------------------------------- opt-out


def test_opt_out_gives_166_once_to_the_plan_that_would_have_been_drawn():
    state = fbde(opt_out_auto_enrollment=True)
    res = run(state)
    assert trcs(res.outputs) == ["166"]
    v = res.outputs[0].value
    drawn = run(fbde()).outputs[-1].value
    assert (v["contract_id"], v["pbp_id"]) == (drawn["contract_id"], drawn["pbp_id"])
    assert v["trc_type"] == "REJECTED" and v["transaction_code"] == 61 and v["enrollment_source"] == "A"
    assert v["effective_date"] == EFF
    assert [e for e in res.state["enrollments"]] == []
    assert res.state["auto_enrollment"]["opt_out_replies"]["AUTO"]["contract_id"] == v["contract_id"]
    # later updates: no second 166
    assert run(res.state) == (None, [])
    assert run(res.state, as_of=at(2026, 9, 1)).outputs == []


def test_opt_out_facilitated_once_and_separately_from_auto():
    state = lis_only("100", opt_out_auto_enrollment=True)
    first = run(state)
    assert trcs(first.outputs) == ["166"] and first.outputs[0].value["enrollment_source"] == "C"
    assert run(first.state) == (None, [])
    # becomes a full-benefit dual later: one 166 for the auto-enrollment too
    later = copy.deepcopy(first.state)
    later["profile"].update(medicaid_status="FULL_BENEFIT_DUAL", medicaid_start="2026-05-01")
    res = run(later, as_of=at(2026, 5, 3))
    assert trcs(res.outputs) == ["166"] and res.outputs[0].value["enrollment_source"] == "A"
    assert run(res.state, as_of=at(2026, 5, 4)) == (None, [])


def test_opt_out_withdrawn_then_enrolled():
    first = run(fbde(opt_out_auto_enrollment=True)).state
    first["profile"]["opt_out_auto_enrollment"] = False
    assert trcs(run(first).outputs) == ["117"]


def test_opt_out_without_a_benchmark_waits():
    state = fbde(opt_out_auto_enrollment=True)
    res = run(state, benchmarks={})
    assert res.outputs == []
    assert "auto_enrollment" not in (res.state or state)


# --------------------------------------------------------------------------- no target


def test_no_benchmark_no_enrollment_nothing_emitted():
    res = run(lis_only("100"), benchmarks={2027: {"14": BENCH}})
    assert res == (None, [])
    res = run(lis_only("100"), benchmarks={2026: {"05": BENCH}})
    assert res == (None, [])


def test_no_eligible_plan_nothing_emitted():
    only_bad = catalog(
        plan("S3003", "001", "35.01", region="14", year=2026),
        plan("S3003", "002", "36.00", region="14", year=2026, waives=True),
        plan("S4004", "001", "10.00", region="14", benefit="ENHANCED", year=2026),
        plan("S8008", "001", "10.00", region="14", status="NON_RENEWING", year=2026),
    )
    assert run(lis_only("100"), plans_=only_bad) == (None, [])
    assert run(lis_only("100"), plans_={}) == (None, [])


def test_no_benchmark_for_dual_still_deems_but_emits_nothing():
    res = run(fbde(), benchmarks={})
    assert res.outputs == [] and res.state["enrollments"] == [] and len(res.state["lis"]) == 1


def test_later_election_for_the_same_date_wins():
    state = lis_only("100")
    state["elections"] = {"2026-04-01": {"application_date": "2026-03-12", "tracking_id": "X"}}
    assert run(state) == (None, [])
    state["elections"] = {"2026-04-01": {"application_date": "2026-03-01", "tracking_id": "X"}}
    assert trcs(run(state).outputs) == ["118"]


# --------------------------------------------------------------------------- the draw


def test_draw_is_deterministic_and_spreads_evenly_over_eligible_plans():
    four = catalog(*(plan(f"S{n}000", "001", "20.00", region="14", parent=f"ORG{n}") for n in range(1, 5)),
                   plan("S9000", "001", "99.00", region="14"))
    counts: Counter[str] = Counter()
    n = 20_000
    for i in range(n):
        state = lis_only("100")
        state["mbi"] = mbi_for(i)
        res = run(state, plans_=four)
        v = res.outputs[0].value
        counts[v["contract_id"]] += 1
    assert set(counts) == {"S1000", "S2000", "S3000", "S4000"}
    for c in counts.values():
        assert abs(c / n - 0.25) < 0.02


def test_same_member_same_year_same_plan_and_ids():
    a, b = run(fbde()), run(fbde())
    assert a == b
    assert a.outputs[0].value["cms_tracking_id"] == b.outputs[0].value["cms_tracking_id"]
    other = fbde()
    other["mbi"] = "2AC3DE4FG56"
    assert run(other).outputs[0].value["cms_tracking_id"] != a.outputs[0].value["cms_tracking_id"]


def test_draw_matches_draw_target_with_the_module_seed():
    from processors.reassignment import draw_target
    v = run(fbde()).outputs[0].value
    assert f"{v['contract_id']}-{v['pbp_id']}" == draw_target(sorted(ELIGIBLE), ae.DRAW_SEED, MBI, 2026)


def test_inputs_not_mutated():
    state = fbde(opt_out_auto_enrollment=True)
    plans_copy, bench_copy, before = copy.deepcopy(PLANS), copy.deepcopy(BENCHMARKS), copy.deepcopy(state)
    run(state)
    run(lis_only("100"))
    assert state == before and PLANS == plans_copy and BENCHMARKS == bench_copy
