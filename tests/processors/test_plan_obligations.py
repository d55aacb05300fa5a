"""Issue 22 item 8: plan deadlines that can be met.

Seed 001, "End-of-year Timeline for Reassignment": "September 30, 2019 - Beneficiaries in continuing plans
must receive appropriate standard ANOC from their plan (including appropriate language for those
beneficiaries being reassigned due to a premium increase)"; "October 03, 2019 - Beneficiaries in
non-renewing plans or contracts must receive non-renewal notices from their plan"; and "PDP sponsors that
are non-renewing contracts must issue a written notice of the impending plan non-renewal to all enrollees
residing in the affected region(s)". The duties bind the plan for every enrollee, so they are plan-level
obligations issued when the facts are known: the plan-year record (non-renewal), the benchmark calculation
(premium case), before their due dates. The losing plan's alternative ANOC "by November 7 ... is later to
avoid preempting CMS' blue reassignment notice": the first blue notice is mailed by then.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from processors import plan_obligations as po
from processors import reassignment as ra
from processors.model import PLAN_NOTICES
from tests.processors.cycle_builders import AS_OF, BENCHMARKS, SEED, Y, catalog, member, plan, standard_plans

UTC = dt.timezone.utc
RECORD_AT = dt.datetime(2025, 7, 28, 12, tzinfo=UTC)


def _record(**kw):
    p = plan("S3003", "001", "20.00", parent="ORG3", **kw)
    p["event_time"] = RECORD_AT.isoformat()
    return p


def test_a_non_renewal_record_gives_the_plan_its_non_renewal_notice_duty():
    [ob] = po.on_plan_year_record(None, _record(status="NON_RENEWING"))
    v = ob.value
    assert (ob.topic, ob.key) == (PLAN_NOTICES, "S3003")
    assert (v["notice_type"], v["obligation"], v["contract_id"], v["pbp_id"]) == (
        "OBLIGATION", "SEND_NON_RENEWAL_NOTICE", "S3003", "001")
    assert (v["mbi"], v["all_enrollees"], v["plan_year"]) == ("", True, Y)
    assert v["due_at"] == dt.datetime(2025, 10, 4, 3, 59, 59, tzinfo=UTC)  # October 3 23:59:59 EDT
    assert v["issued_at"] == RECORD_AT and v["issued_at"] < v["due_at"]
    assert "2025-10-03" in v["note"] and "every enrollee" in v["note"]
    # the same record again (a redelivery): the same bytes; a record that changes nothing: nothing
    assert po.on_plan_year_record(None, _record(status="NON_RENEWING")) == [ob]
    assert po.on_plan_year_record(_record(status="NON_RENEWING"), _record(status="NON_RENEWING")) == []


@pytest.mark.parametrize("plan_type", ["MAPD", "MA", "PFFS", "MMP"])
def test_ma_non_renewal_and_service_area_reduction_too(plan_type):
    [nr] = po.on_plan_year_record(None, _record(status="NON_RENEWING", plan_type=plan_type))
    assert nr.value["obligation"] == "SEND_NON_RENEWAL_NOTICE"
    [sar] = po.on_plan_year_record(None, _record(status="SERVICE_AREA_REDUCTION", plan_type=plan_type,
                                                 counties=["24510", "24005"]))
    assert "24005, 24510" in sar.value["note"]
    assert not po.reduced_counties_missing(_record(status="SERVICE_AREA_REDUCTION", plan_type=plan_type,
                                                   counties=["24510"]))
    # counties not sent: the duty stands; the missing counties are reported (the shell dead-letters it)
    nocounties = _record(status="SERVICE_AREA_REDUCTION", plan_type=plan_type)
    assert [o.value["obligation"] for o in po.on_plan_year_record(None, nocounties)] == ["SEND_NON_RENEWAL_NOTICE"]
    assert po.reduced_counties_missing(nocounties)


def test_renewing_plans_and_pdp_service_area_reductions_owe_nothing_here():
    assert po.on_plan_year_record(None, _record()) == []
    assert po.on_plan_year_record(None, _record(status="SERVICE_AREA_REDUCTION")) == []  # a PDP: renewing
    assert po.on_plan_year_record(None, _record(status="NON_RENEWING", plan_type="PACE")) == []


def test_a_corrected_record_withdraws_the_duty():
    [ob] = po.on_plan_year_record(None, _record(status="NON_RENEWING"))
    fixed = _record()
    fixed["event_time"] = "2025-08-02T12:00:00+00:00"
    [w] = po.on_plan_year_record(_record(status="NON_RENEWING"), fixed)
    v = w.value
    assert (v["notice_type"], v["withdrawn_notice_id"], v["obligation"], v["all_enrollees"]) == (
        "OBLIGATION_WITHDRAWN", ob.value["notice_id"], "SEND_NON_RENEWAL_NOTICE", True)
    assert v["due_at"] is None and v["issued_at"] == dt.datetime(2025, 8, 2, 12, tzinfo=UTC)


def test_a_late_record_is_due_ten_days_after_it_not_before():
    late = _record(status="NON_RENEWING")
    late["event_time"] = "2025-10-10T15:00:00+00:00"
    [ob] = po.on_plan_year_record(None, late)
    assert ob.value["due_at"] == dt.datetime(2025, 10, 20, 15, tzinfo=UTC)


# --------------------------------------------------------------------------- the premium case, at the benchmark
CALC_AT = dt.datetime(2025, 7, 31, 16, tzinfo=UTC)


def _with_last_year(plans):
    """Every plan also offered in Y-1 (continuing), unless its key says NEW."""
    out = dict(plans)
    for p in plans.values():
        if "NEW" not in p["parent_org_id"]:
            last = dict(p, plan_year=Y - 1)
            out[f"{p['contract_id']}-{p['pbp_id']}-{Y - 1}"] = last
    return out


def test_the_benchmark_calculation_gives_premium_case_pdps_their_anoc_duty():
    plans = _with_last_year(standard_plans(
        new=plan("S9999", "001", "50.00", parent="ORGNEW"),                             # new in Y: no ANOC to send
        waiver=plan("S4004", "001", "36.50", parent="ORG4", waives=True),              # within de minimis, waives
        ending=plan("S5005", "001", "50.00", parent="ORG5", status="NON_RENEWING"),     # has its own duty
        employer=plan("S6006", "801", "50.00", parent="ORG6", employer=True),
        ma=plan("H7007", "001", "50.00", parent="ORG7", plan_type="MAPD"),              # continuing MA: never
        elsewhere=plan("S8008", "001", "50.00", parent="ORG8", region="33"),            # no benchmark there
        enhanced=plan("S9009", "001", "36.00", parent="ORG9", benefit="ENHANCED"),      # basic portion above
    ))
    outs = po.premium_case_obligations(plans, BENCHMARKS, None, Y, CALC_AT)
    assert [(o.key, o.value["pbp_id"], o.value["obligation"]) for o in outs] == [
        ("S1001", "001", "SEND_ANOC"), ("S9009", "001", "SEND_ANOC")]
    v = outs[0].value
    assert (v["mbi"], v["all_enrollees"], v["notice_type"], v["issued_at"]) == ("", True, "OBLIGATION", CALC_AT)
    assert v["due_at"] == dt.datetime(2025, 10, 1, 3, 59, 59, tzinfo=UTC)  # September 30 23:59:59 EDT
    assert "38.00" in v["note"] and "35.00" in v["note"] and "SEND_ALTERNATIVE_ANOC" in v["note"]


def test_a_recalculation_issues_what_is_new_and_withdraws_what_no_longer_holds():
    plans = _with_last_year(standard_plans(other=plan("S2002", "002", "36.00", parent="ORG2")))
    first = po.premium_case_obligations(plans, BENCHMARKS, None, Y, CALC_AT)
    assert [o.value["contract_id"] + "-" + o.value["pbp_id"] for o in first] == ["S1001-001", "S2002-002"]
    again = po.premium_case_obligations(plans, {"05": Decimal("37.00")}, BENCHMARKS, Y,
                                        CALC_AT + dt.timedelta(days=5))
    assert [(o.value["notice_type"], o.value["pbp_id"], o.value["withdrawn_notice_id"]) for o in again] == [
        ("OBLIGATION_WITHDRAWN", "002", first[1].value["notice_id"])]
    # the same benchmarks again: nothing new
    assert po.premium_case_obligations(plans, BENCHMARKS, BENCHMARKS, Y, CALC_AT) == []


# --------------------------------------------------------------------------- the run's own obligations
def _obligations(res):
    return {o.value["obligation"]: o.value for o in res.outputs if o.value.get("notice_type") == "OBLIGATION"}


def test_the_run_no_longer_issues_deadlines_already_past():
    res = ra.run_member(member(), standard_plans(), BENCHMARKS, Y, SEED, AS_OF)
    ob = _obligations(res)
    assert "SEND_ANOC" not in ob  # September 30: issued with the benchmark calculation
    alt = ob["SEND_ALTERNATIVE_ANOC"]
    assert alt["due_at"] == dt.datetime(2025, 11, 8, 4, 59, 59, tzinfo=UTC) > AS_OF
    nr = standard_plans(losing=plan("S3003", "001", "20.00", parent="ORG3", status="NON_RENEWING"))
    ob = _obligations(ra.run_member(member(contract_id="S3003"), nr, BENCHMARKS, Y, SEED, AS_OF))
    assert "SEND_NON_RENEWAL_NOTICE" not in ob  # October 3: issued with the plan-year record
    for v in ob.values():
        assert v["due_at"] > AS_OF


@pytest.mark.parametrize("run_day,blue,alt", [
    (dt.date(2025, 10, 17), dt.date(2025, 10, 31), dt.date(2025, 11, 7)),   # the seed's schedule
    (dt.date(2025, 10, 28), dt.date(2025, 11, 7), dt.date(2025, 11, 7)),    # seed 000's run: not after Nov 7
    (dt.date(2025, 11, 6), dt.date(2025, 11, 7), dt.date(2025, 11, 7)),
    (dt.date(2025, 11, 15), dt.date(2025, 11, 29), dt.date(2025, 11, 29)),  # second run: ANOC not before the letter
])
def test_the_blue_notice_is_mailed_by_november_7_and_never_after_the_alternative_anoc(run_day, blue, alt):
    at = dt.datetime(run_day.year, run_day.month, run_day.day, 15, tzinfo=UTC)
    assert ra.mail_by(ra.PREMIUM, Y, at) == blue
    res = ra.run_member(member(), standard_plans(), BENCHMARKS, Y, SEED, at)
    letter = next(o.value for o in res.outputs if o.value.get("notice_type") == "REASSIGNMENT_PREMIUM")
    assert letter["mail_by"] == blue
    due = _obligations(res)["SEND_ALTERNATIVE_ANOC"]["due_at"]
    assert due.astimezone(ra.EASTERN).date() == alt and due > at
