"""Extreme dates get answers, never exceptions (issue 16 item 5).

A transaction dated 0001-01-01 or 9999-12-31 used to raise inside the rules
(OverflowError / ValueError in the date arithmetic: the day after a month end,
the day before a first of month, the October window of year 0) and the shell
dead-lettered it as PROCESSING_ERROR. Now an effective date outside the
product's range (2006-01-01, when Part D began, .. 9998-12-31) is a bad
effective date, TRC 037, for every transaction code; a submission instant at
either end of the calendar is judged like any other; an LIS or beneficiary
event whose event time is in year 9999 (or year 1) is applied, and the
auto/facilitated enrollment that follows it answers without raising.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processors.auto_enrollment import auto_or_facilitate
from processors.beneficiary import apply_beneficiary_update
from processors.dates import (
    EASTERN,
    FIRST_EFFECTIVE_DATE,
    LAST_EFFECTIVE_DATE,
    eastern_date,
)
from processors.enrollment import apply_enrollment
from processors.lis import apply_lis_change
from processors.model import Rejected
from tests.processors.builders import (
    at,
    beneficiary_event,
    catalog,
    enrollment_event,
    lis_event,
    make_enrollment,
    make_lis,
    make_member,
    make_plan,
    make_profile,
    trcs,
)

UTC = dt.timezone.utc
D = dt.date
TCS = (51, 61, 72, 80, 81, 82, 83)
EXTREME_DAYS = (dt.date.min, dt.date.max)  # 0001-01-01, 9999-12-31
EXTREME_INSTANTS = (
    dt.datetime(1, 1, 1, tzinfo=UTC),  # before 05:00Z it is still year 0 in New York
    dt.datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),  # the last timestamp-millis of the calendar
)


def _plans():
    plans = catalog(("S1234", "001", 2025), ("S1234", "001", 2026), ("S1234", "001", 9998), ("S1234", "001", 9999))
    for year in (2026, 9999):
        k, p = make_plan("H9001", "001", year, "0.00", plan_type="MMP", region="05")
        plans[k] = p
    return plans


PLANS = _plans()


def enrolled():
    """A Maryland full-benefit dual in S1234-001 since 2025-01-01, LIS 100."""
    return make_member(profile=make_profile(state_code="MD", medicaid_status="FULL_BENEFIT_DUAL"),
                       enrollments=[make_enrollment("S1234", "001", "2025-01-01")], lis=[make_lis("2025-01-01")])


def passive(**kw):
    submitted = kw.pop("submitted_at", dt.datetime(2025, 10, 6, 9, tzinfo=EASTERN).astimezone(UTC))
    ev = enrollment_event(61, tracking_id="PAS-1", contract_id="H9001", pbp_id="001", enrollment_source="J",
                          submitter_id="MD", election_type="S", effective_date=D(2026, 1, 1),
                          submitted_at=submitted, application_date=eastern_date(submitted))
    ev.update(kw)
    return ev


def transaction(tc, **kw):
    kw.setdefault("election_type", "A" if tc == 61 else None)
    return enrollment_event(tc, **kw)


# --------------------------------------------------------------------------- transactions


@pytest.mark.parametrize("day", EXTREME_DAYS, ids=["0001-01-01", "9999-12-31"])
@pytest.mark.parametrize("tc", TCS)
def test_an_extreme_effective_date_is_a_bad_effective_date(tc, day):
    res = apply_enrollment(enrolled(), transaction(tc, effective_date=day), PLANS)
    assert res.state is None
    assert trcs(res.outputs) == ["037"]
    v = res.outputs[0].value
    assert (v["trc_type"], v["transaction_code"], v["effective_date"]) == ("REJECTED", tc, day)
    assert v["trc_short_name"] == "BAD EFFECTIVE DATE"


@pytest.mark.parametrize("day", EXTREME_DAYS, ids=["0001-01-01", "9999-12-31"])
def test_an_extreme_passive_effective_date_is_a_bad_effective_date(day):
    res = apply_enrollment(enrolled(), passive(effective_date=day), PLANS)
    assert res.state is None and trcs(res.outputs) == ["037"]


def test_the_range_edges():
    # Part D began on 2006-01-01; the last year is kept free for the day, month and year after a date.
    assert (FIRST_EFFECTIVE_DATE, LAST_EFFECTIVE_DATE) == (D(2006, 1, 1), D(9998, 12, 31))
    m = make_member(profile=make_profile(part_a_start="2005-01-01", part_b_start="2005-01-01",
                                         part_d_eligible_start="2005-01-01"))
    plans = catalog(("S1234", "001", 2005), ("S1234", "001", 2006))
    assert trcs(apply_enrollment(m, transaction(61, effective_date=D(2005, 12, 1)), plans).outputs) == ["037"]
    assert trcs(apply_enrollment(m, transaction(61, effective_date=D(2006, 1, 1)), plans).outputs) == ["011"]
    # a disenrollment at the end of 9998 is still a date the rules can process
    late = make_member(enrollments=[make_enrollment("S1234", "001", "9998-01-01")])
    res = apply_enrollment(late, transaction(51, effective_date=D(9998, 12, 31), disenrollment_reason="11"), PLANS)
    assert trcs(res.outputs) == ["013"] and res.outputs[0].value["effective_date"] == D(9999, 1, 1)
    res = apply_enrollment(late, transaction(51, effective_date=D(9999, 1, 31), disenrollment_reason="11"), PLANS)
    assert trcs(res.outputs) == ["037"]


@pytest.mark.parametrize("when", EXTREME_INSTANTS, ids=["year-1", "year-9999"])
@pytest.mark.parametrize("tc", TCS)
def test_an_extreme_submission_instant_is_judged_not_raised(tc, when):
    res = apply_enrollment(enrolled(), transaction(tc, submitted_at=when), PLANS)
    assert res.outputs and all(o.value["cms_processing_timestamp"] == when for o in res.outputs)


@pytest.mark.parametrize("when", EXTREME_INSTANTS, ids=["year-1", "year-9999"])
def test_an_extreme_passive_submission_instant_is_outside_the_window(when):
    res = apply_enrollment(enrolled(), passive(submitted_at=when, application_date=when.date()), PLANS)
    assert trcs(res.outputs) == ["108"]
    assert res.outputs[0].value["reason"] == "OUTSIDE_WINDOW"


days = st.dates(min_value=dt.date.min, max_value=dt.date.max)
instants = st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31, 23, 59, 59),
                        timezones=st.just(UTC))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tc=st.sampled_from(TCS), effective=days, application=days, submitted=instants,
       passive_route=st.booleans(), state_with_history=st.booleans())
def test_any_dates_give_replies_never_exceptions(tc, effective, application, submitted, passive_route,
                                                 state_with_history):
    state = enrolled() if state_with_history else make_member()
    if passive_route and tc == 61:
        ev = passive(effective_date=effective, application_date=application, submitted_at=submitted)
    else:
        ev = transaction(tc, effective_date=effective, application_date=application, submitted_at=submitted)
    res = apply_enrollment(state, ev, PLANS)
    assert res.outputs and all(o.topic in ("trr-replies", "state-responses") for o in res.outputs)
    if not FIRST_EFFECTIVE_DATE <= effective <= LAST_EFFECTIVE_DATE:
        assert res.state is None and trcs(res.outputs) == ["037"]


# --------------------------------------------------------------------------- LIS and beneficiary events


BENCHMARKS = {2026: {"05": Decimal("35.00")}, 9999: {"05": Decimal("35.00")}}


def _then_auto(state, step, as_of):
    """What the shell does after an LIS or beneficiary event (streams/runtime/rules.py)."""
    current = step.state if step.state is not None else state
    return auto_or_facilitate(current, PLANS, BENCHMARKS, as_of)


@pytest.mark.parametrize("when", EXTREME_INSTANTS, ids=["year-1", "year-9999"])
def test_lis_event_at_an_extreme_event_time(when):
    # A full-benefit dual without a plan (the auto-enrollment candidate) and a member with a plan (TRC 121).
    fbd = make_member(profile=make_profile(state_code="MD", medicaid_status="FULL_BENEFIT_DUAL"))
    step = apply_lis_change(fbd, lis_event(event_time=when, start_date=D(2025, 1, 1)))
    assert step.state["lis"][0]["start"] == "2025-01-01"
    auto = _then_auto(fbd, step, when)
    assert auto.outputs == [] or {o.value["transaction_reply_code"] for o in auto.outputs} <= {"117", "121"}
    step = apply_lis_change(enrolled(), lis_event(change_id="L1", event_time=when, start_date=D(2025, 1, 1),
                                                  premium_subsidy_level="075"))
    assert trcs(step.outputs) == ["121"] and step.outputs[0].value["cms_processing_timestamp"] == when
    _then_auto(enrolled(), step, when)


@pytest.mark.parametrize("when", EXTREME_INSTANTS, ids=["year-1", "year-9999"])
def test_beneficiary_event_at_an_extreme_event_time(when):
    # A full-benefit dual with no LIS period and no plan: deeming and auto-enrollment both run.
    ev = beneficiary_event(state_code="MD", event_time=when, opt_out_passive_enrollment=False,
                           medicaid_start=D(2020, 1, 1))
    step = apply_beneficiary_update(None, ev)
    assert step.state["profile"]["event_time"] == when.isoformat()
    res = _then_auto(None, step, when)
    if when.year == 9999:
        # deemed through the last day of the calendar; nobody can be enrolled after December 9999
        deemed = res.state["lis"][0]
        assert (deemed["start"], deemed["end"], deemed["subsidy_source"]) == ("9999-01-01", "9999-12-31", "D")
        assert res.outputs == []


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(when=instants, start=days, end=st.one_of(st.none(), days), medicaid_start=st.one_of(st.none(), days),
       part_d=st.one_of(st.none(), days), death=st.one_of(st.none(), days), with_plan=st.booleans())
def test_lis_and_beneficiary_events_never_raise(when, start, end, medicaid_start, part_d, death, with_plan):
    base = enrolled() if with_plan else None
    ev = beneficiary_event(state_code="MD", event_time=when, medicaid_start=medicaid_start,
                           part_d_eligible_start=part_d, date_of_death=death, opt_out_passive_enrollment=False)
    step = apply_beneficiary_update(base, ev)
    state = _then_auto(base, step, when).state or step.state
    try:
        step = apply_lis_change(state, lis_event(event_time=when, start_date=start, end_date=end, change_id="LX"))
    except Rejected as rej:  # an answer by design (a dead letter with its code), not a crash
        assert rej.error_code in {"INVALID_PERIOD", "LIS_PERIOD_OVERLAP"}
        return
    _then_auto(state, step, when)


def test_an_ordinary_date_still_works_next_to_the_extremes():
    res = apply_enrollment(enrolled(), transaction(51, effective_date=D(2026, 6, 30), disenrollment_reason="11",
                                                   submitted_at=at(2026, 6, 1)), PLANS)
    assert trcs(res.outputs) == ["013"]
