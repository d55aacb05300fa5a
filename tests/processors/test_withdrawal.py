"""Issue 22 item 3: outputs a later event makes wrong are withdrawn, and the December notice goes out in December.

Seed 001: "If a reassigned beneficiary contacts the current plan and indicates that s/he wishes to remain
enrolled ..., the beneficiary must make a new enrollment election into the plan"; "CMS will mail the second
blue notice to these beneficiaries in December". Seed 000: in early November and again in December states
receive the lists "of individuals who are confirmed reassigned"; "States use the final list of CMS reassigned
beneficiaries to prevent passive enrollment during calendar year 2024". A member who re-enrolls in the losing
plan, or elects any other plan, before January 1 is not reassigned: the marks come off, later lists and the
December notice leave them out, and what was already issued is withdrawn by a record that says so.
"""
from __future__ import annotations

import datetime as dt

import pytest

from processors import reassignment as ra
from processors import state_lists as sl
from processors.dates import EASTERN
from processors.enrollment import apply_enrollment
from processors.model import BENEFICIARY_NOTICES, PLAN_NOTICES, STATE_LISTS, TRR_REPLIES
from tests.processors.cycle_builders import BENCHMARKS, MBI, SEED, Y, member, plan, standard_plans

UTC = dt.timezone.utc
D = dt.date
PLANS = standard_plans(mmp=plan("H9001", "001", "0.00", plan_type="MMP"))
RUN_AT = dt.datetime(2025, 10, 17, 14, 30, tzinfo=UTC)
FINAL_AT = dt.datetime(2025, 11, 3, 14, tzinfo=UTC)
DECEMBER_AT = dt.datetime(2025, 12, 10, 15, tzinfo=UTC)


def eastern(y, m, d, h=12):
    return dt.datetime(y, m, d, h, tzinfo=EASTERN).astimezone(UTC)


def reassigned():
    """M in S1001-001 (38.00 > 35.00, source A, LIS 100, MD) moved to S1001-002 by the October run."""
    res = ra.run_member(member(first_name="ANA", ssn="900000001"), PLANS, BENCHMARKS, Y, SEED, RUN_AT)
    assert res.state is not None and Y in res.state["reassigned_years"]
    return res


def listed(state):
    res = sl.final_list(state, Y, FINAL_AT, "FINAL", frozenset())
    return res.state, res.outputs


def reenroll(**kw):
    """The member asks to stay in S1001-001 (seed 001: election type U, effective January 1)."""
    submitted = kw.pop("submitted_at", eastern(2025, 11, 12, 10))
    ev = {"tracking_id": "STAY-1", "correlation_id": None, "transaction_code": 61, "mbi": MBI,
          "contract_id": "S1001", "pbp_id": "001", "election_type": "U", "enrollment_source": "B",
          "sep_reason": None, "disenrollment_reason": None, "application_date": submitted.astimezone(EASTERN).date(),
          "effective_date": D(Y, 1, 1), "submitted_at": submitted, "submitter_id": "S1001"}
    ev.update(kw)
    return ev


def by(outputs, topic):
    return [o for o in outputs if o.topic == topic]


def test_the_run_no_longer_sends_the_december_notice_in_october():
    res = reassigned()
    assert [o.value["notice_type"] for o in by(res.outputs, BENEFICIARY_NOTICES)] == ["REASSIGNMENT_PREMIUM"]


def test_re_enrolling_in_the_losing_plan_in_november_undoes_the_reassignment():
    first = reassigned()
    blue = next(o.value for o in first.outputs if o.value.get("notice_type") == "REASSIGNMENT_PREMIUM")
    state, entries = listed(first.state)
    assert [(o.key, o.value["list_type"]) for o in entries] == [("MD", "FINAL"), ("US", "FINAL")]

    res = apply_enrollment(state, reenroll(), PLANS)
    assert [o.value["transaction_reply_code"] for o in by(res.outputs, TRR_REPLIES)] == ["011", "014"]
    # the blue letter and the two list entries are withdrawn, naming what they withdraw
    [letter] = by(res.outputs, BENEFICIARY_NOTICES)
    v = letter.value
    assert (letter.key, v["notice_type"], v["withdrawn_notice_id"]) == (MBI, "REASSIGNMENT_PREMIUM_WITHDRAWN",
                                                                       blue["notice_id"])
    assert (v["reason"], v["issued_at"], v["mail_by"], v["plan_year"]) == (
        "MEMBER_ELECTED_LOSING_PLAN", eastern(2025, 11, 12, 10), None, Y)
    assert (v["losing_contract_id"], v["gaining_contract_id"], v["gaining_pbp_id"]) == ("S1001", "S1001", "002")
    assert v["notice_id"] != blue["notice_id"]
    withdrawn_lists = [(o.key, o.value["state_code"], o.value["list_type"], o.value["reason"], o.value["mbi"])
                       for o in by(res.outputs, STATE_LISTS)]
    assert withdrawn_lists == [("MD", "MD", "FINAL_WITHDRAWN", "MEMBER_ELECTED_LOSING_PLAN", MBI),
                               ("US", "US", "FINAL_WITHDRAWN", "MEMBER_ELECTED_LOSING_PLAN", MBI)]
    # obligations already due on November 12 stay (4Rx Oct 20, confirmations Oct 27, alternative ANOC Nov 7)
    plan_notices = [(o.value["notice_type"], o.value["obligation"]) for o in by(res.outputs, PLAN_NOTICES)]
    assert plan_notices == [("OBLIGATION", "SEND_ANOC_EOC")]
    # the marks come off: not "confirmed reassigned" any more
    st = res.state
    assert Y not in st["reassigned_years"]
    assert sl.final_list(st, Y, DECEMBER_AT, "UPDATED_FINAL", frozenset()).outputs == []
    assert ra.formulary_notice(st, PLANS, Y, DECEMBER_AT).outputs == []
    # ... nor refused passive enrollment all year for a reassignment that did not happen (108 ALREADY_REASSIGNED)
    passive = {"tracking_id": "PAS-1", "correlation_id": None, "transaction_code": 61, "mbi": MBI,
               "contract_id": "H9001", "pbp_id": "001", "election_type": "S", "enrollment_source": "J",
               "sep_reason": None, "disenrollment_reason": None, "application_date": D(2026, 2, 10),
               "effective_date": D(Y, 3, 1), "submitted_at": eastern(2026, 2, 10), "submitter_id": "MD"}
    reply = apply_enrollment(st, passive, PLANS).outputs[0].value
    assert reply["transaction_reply_code"] == "011", reply["trc_short_name"]
    # and the second run does not move them again (their own election for January 1 stands)
    assert sl.second_run(st, PLANS, BENCHMARKS, Y, SEED, DECEMBER_AT).outputs == []


def test_an_early_change_of_mind_also_withdraws_the_obligations_not_yet_due():
    first = reassigned()
    res = apply_enrollment(first.state, reenroll(submitted_at=eastern(2025, 10, 19, 9)), PLANS)
    withdrawn = sorted((o.key, o.value["obligation"]) for o in by(res.outputs, PLAN_NOTICES)
                       if o.value["notice_type"] == "OBLIGATION_WITHDRAWN")
    assert withdrawn == [("S1001", "SEND_ALTERNATIVE_ANOC"), ("S1001", "SEND_DISENROLLMENT_CONFIRMATION"),
                         ("S1001", "SEND_ENROLLMENT_CONFIRMATION"), ("S1001", "SUBMIT_4RX")]
    originals = {o.value["notice_id"]: o.value for o in by(first.outputs, PLAN_NOTICES)}
    for o in by(res.outputs, PLAN_NOTICES):
        if o.value["notice_type"] == "OBLIGATION_WITHDRAWN":
            original = originals[o.value["withdrawn_notice_id"]]
            assert (o.value["obligation"], o.value["pbp_id"], o.value["mbi"]) == (
                original["obligation"], original["pbp_id"], MBI)
            assert o.value["due_at"] is None and o.value["all_enrollees"] is False


def test_electing_another_plan_or_a_cancellation_withdraws_too():
    first = reassigned()
    other = apply_enrollment(first.state, reenroll(contract_id="S2002", pbp_id="001", election_type="U"), PLANS)
    [letter] = by(other.outputs, BENEFICIARY_NOTICES)
    assert (letter.value["notice_type"], letter.value["reason"]) == ("REASSIGNMENT_PREMIUM_WITHDRAWN",
                                                                     "MEMBER_ELECTED_OTHER_PLAN")
    assert Y not in other.state["reassigned_years"]
    # TC 80 of the reassignment enrollment by the gaining plan: the member stays in the losing plan (291)
    cancel = reenroll(transaction_code=80, contract_id="S1001", pbp_id="002", election_type=None,
                      submitter_id="S1001", tracking_id="CXL-1")
    res = apply_enrollment(first.state, cancel, PLANS)
    assert [o.value["transaction_reply_code"] for o in by(res.outputs, TRR_REPLIES)] == ["013", "291"]
    [letter] = by(res.outputs, BENEFICIARY_NOTICES)
    assert letter.value["reason"] == "REASSIGNMENT_CANCELLED"
    assert Y not in res.state["reassigned_years"]


def test_the_december_notice_goes_out_in_december_to_those_still_reassigned():
    first = reassigned()
    res = ra.formulary_notice(first.state, PLANS, Y, DECEMBER_AT)
    [notice] = res.outputs
    v = notice.value
    assert (v["notice_type"], v["paper_color"], v["publication"], v["reason"]) == (
        "REASSIGNMENT_FORMULARY_NOTICE", "BLUE", None, "NO_FORMULARY_DATA")
    assert (v["losing_contract_id"], v["losing_pbp_id"], v["gaining_contract_id"], v["gaining_pbp_id"]) == (
        "S1001", "001", "S1001", "002")
    assert v["gaining_plan_premium"] == PLANS["S1001-002-2026"]["basic_premium"] or str(v["gaining_plan_premium"]) == "30.00"
    assert (v["mail_by"], v["issued_at"]) == (D(2025, 12, 20), DECEMBER_AT)
    assert v["notice_id"] == ra.formulary_notice(first.state, PLANS, Y, DECEMBER_AT).outputs[0].value["notice_id"]
    # once issued, a repeat of the command issues nothing new
    assert ra.formulary_notice(res.state, PLANS, Y, DECEMBER_AT) == (None, [])
    # a command after December 20 mails the day it runs
    late = ra.formulary_notice(first.state, PLANS, Y, dt.datetime(2025, 12, 22, 15, tzinfo=UTC))
    assert late.outputs[0].value["mail_by"] == D(2025, 12, 22)
    # ... and a change of mind after it withdraws it too
    res2 = apply_enrollment(res.state, reenroll(submitted_at=eastern(2025, 12, 15)), PLANS)
    assert sorted(o.value["notice_type"] for o in by(res2.outputs, BENEFICIARY_NOTICES)) == [
        "REASSIGNMENT_FORMULARY_NOTICE_WITHDRAWN", "REASSIGNMENT_PREMIUM_WITHDRAWN"]
    # it goes through the cycle dispatch as a member command
    assert sl.run_cycle_member("REASSIGNMENT_FORMULARY_NOTICES", first.state, plans=PLANS, benchmarks={},
                               plan_year=Y, seed=SEED, as_of=DECEMBER_AT) == res


def test_a_repeated_election_withdraws_nothing_more():
    first = reassigned()
    once = apply_enrollment(first.state, reenroll(), PLANS)
    again = apply_enrollment(once.state, reenroll(tracking_id="STAY-2"), PLANS)
    assert by(again.outputs, BENEFICIARY_NOTICES) == [] and by(again.outputs, STATE_LISTS) == []


@pytest.mark.parametrize("list_type", ["FINAL", "UPDATED_FINAL"])
def test_every_list_entry_issued_is_withdrawn_where_it_went(list_type):
    # the member moved from MD to VA after the list: the withdrawal goes to the list that carried the entry
    first = reassigned()
    st = sl.final_list(first.state, Y, FINAL_AT, list_type, frozenset()).state
    st["profile"]["state_code"] = "VA"
    res = apply_enrollment(st, reenroll(), PLANS)
    assert [(o.key, o.value["list_type"]) for o in by(res.outputs, STATE_LISTS)] == [
        ("MD", f"{list_type}_WITHDRAWN"), ("US", f"{list_type}_WITHDRAWN")]
