"""apply_enrollment: one test per rule / TRC (docs/conventions.md)."""
from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal

import pytest

from processors.enrollment import apply_enrollment
from processors.model import TRR_REPLIES, Rejected
from tests.processors.builders import (
    MBI,
    D,
    at,
    cancel_disenrollment_event,
    cancel_enrollment_event,
    catalog,
    disenroll_event,
    enroll_event,
    enrollment_event,
    make_enrollment,
    make_lis,
    make_member,
    make_profile,
    rx_event,
    trcs,
)

PLANS = catalog(("S1234", "001", 2026, "30.00"), ("S5678", "002", 2026, "12.50"),
                ("S1234", "001", 2027, "35.00"), ("S5678", "002", 2027, "0.00"),
                ("S9999", "003", 2027, "20.00"))


def only(result, trc):
    assert trcs(result.outputs) == [trc], trcs(result.outputs)
    return result.outputs[0].value


# ------------------------------------------------------------------ rejections

@pytest.mark.parametrize("bad", ["1EG4TE5MK7", "1EG4TE5MK733", "0EG4TE5MK73", "1SG4TE5MK73",
                                 "1EG4TE5MKA3", "1eg4te5mk73", "1EGATE5MK73", "1EG4TB5MK73", ""])
def test_007_invalid_mbi_format(bad):
    r = apply_enrollment(make_member(), enroll_event(mbi=bad), PLANS)
    v = only(r, "007")
    assert v["trc_type"] == "REJECTED" and v["mbi"] == bad and r.state is None


def test_008_unknown_member():
    v = only(apply_enrollment(None, enroll_event(), PLANS), "008")
    assert v["contract_id"] == "S1234" and v["transaction_code"] == 61


def test_008_member_without_profile():
    only(apply_enrollment(make_member(profile=None), enroll_event(), PLANS), "008")


def test_036_deceased_before_effective_date():
    m = make_member(profile=make_profile(date_of_death="2025-12-15"))
    only(apply_enrollment(m, enroll_event(), PLANS), "036")


def test_death_on_or_after_effective_date_is_not_036():
    m = make_member(profile=make_profile(date_of_death="2026-01-01"))
    only(apply_enrollment(m, enroll_event(), PLANS), "011")


def test_037_enrollment_not_first_of_month():
    only(apply_enrollment(make_member(), enroll_event(effective_date=D(2026, 1, 2)), PLANS), "037")


def test_037_enrollment_before_part_d_eligibility():
    m = make_member(profile=make_profile(part_d_eligible_start="2026-02-15"))
    only(apply_enrollment(m, enroll_event(), PLANS), "037")
    m2 = make_member(profile=make_profile(part_d_eligible_start="2025-12-15"))
    only(apply_enrollment(m2, enroll_event(), PLANS), "011")


def test_037_no_part_d_eligibility_at_all():
    m = make_member(profile=make_profile(part_d_eligible_start=None, part_a_start=None, part_b_start=None))
    only(apply_enrollment(m, enroll_event(), PLANS), "037")


@pytest.mark.parametrize("eff", [D(2026, 6, 15), D(2026, 6, 29)])
def test_037_disenrollment_date_neither_first_nor_month_end(eff):
    m = make_member(enrollments=[make_enrollment()])
    only(apply_enrollment(m, disenroll_event(effective_date=eff), PLANS), "037")


@pytest.mark.parametrize("et", [None, "", "Q", "u"])
def test_104_missing_or_invalid_election_type(et):
    v = only(apply_enrollment(make_member(), enroll_event(election_type=et), PLANS), "104")
    assert v["election_type"] is None  # never echo an invalid enum symbol


def test_104_sep_reason_not_in_table():
    only(apply_enrollment(make_member(), enroll_event(election_type="S", sep_reason="77"), PLANS), "104")


def test_valid_enrollment_sep_reason_is_stored():
    r = apply_enrollment(make_member(), enroll_event(election_type="S", sep_reason="22"), PLANS)
    assert trcs(r.outputs) == ["011"] and r.state["enrollments"][-1]["sep_reason"] == "22"


def test_104_disenrollment_with_enrollment_only_sep_reason():
    m = make_member(enrollments=[make_enrollment()])
    only(apply_enrollment(m, disenroll_event(sep_reason="22"), PLANS), "104")  # 22: enrollment Y, disenr N


def test_106_later_application_date_already_accepted():
    m = make_member(elections={"2026-01-01": {"application_date": "2025-12-01", "tracking_id": "X"}})
    only(apply_enrollment(m, enroll_event(application_date=D(2025, 11, 15)), PLANS), "106")


def test_106_earlier_recorded_election_is_overridden_and_recorded():
    m = make_member(enrollments=[make_enrollment("S5678", "002", "2026-01-01", application_date="2025-10-01")],
                    elections={"2026-01-01": {"application_date": "2025-10-01", "tracking_id": "X"}})
    r = apply_enrollment(m, enroll_event(application_date=D(2025, 11, 15)), PLANS)
    assert trcs(r.outputs) == ["011", "014"]
    assert r.state["elections"]["2026-01-01"] == {"application_date": "2025-11-15", "tracking_id": "TRK-1"}


def test_107_no_plan_for_that_year():
    only(apply_enrollment(make_member(), enroll_event(effective_date=D(2028, 1, 1)), PLANS), "107")
    only(apply_enrollment(make_member(), enroll_event(pbp_id="999"), PLANS), "107")


def test_109_the_same_enrollment_again_is_a_duplicate_pbp():
    # An enrollment in that PBP starting on that very effective date already exists: a duplicate.
    m = make_member(enrollments=[make_enrollment(start="2026-01-01")])
    for election_type in ("A", "U"):
        r = apply_enrollment(m, enroll_event(election_type=election_type), PLANS)
        only(r, "109")
        assert r.state is None


@pytest.mark.parametrize("election_type", ["A", "U", "S"])
def test_039_already_enrolled_in_that_pbp_whatever_the_election_type(election_type):
    # Issue 13 item 11: seed 001, a re-enrollment into the plan the member is still in (before the
    # reassignment disenrollment is processed) "will be rejected as 'beneficiary already enrolled'":
    # TRC 039 for any election type (an AEP "A" re-enrollment got 109 before).
    m = make_member(enrollments=[make_enrollment(start="2025-06-01")])
    r = apply_enrollment(m, enroll_event(election_type=election_type), PLANS)
    v = only(r, "039")
    assert v["trc_type"] == "REJECTED" and v["effective_date"] == D(2026, 1, 1)
    assert r.state is None


def test_039_u_reenrollment_before_reassignment_disenrollment_processed():
    # Seed 001: the member is still in the losing plan on January 1.
    m = make_member(enrollments=[make_enrollment("S1234", "001", "2025-03-01")])
    ev = enroll_event(election_type="U", effective_date=D(2027, 1, 1), application_date=D(2026, 10, 20))
    only(apply_enrollment(m, ev, PLANS), "039")


def _u_reenrollment_of_a_reassigned_member() -> tuple:
    """After the special TRR (losing plan ends Dec 31, gaining plan starts Jan 1, not yet started), the member
    asks with a U election to stay in the losing plan."""
    losing = make_enrollment("S1234", "001", "2025-03-01", end="2026-12-31", disenrollment_reason="13")
    gaining = make_enrollment("S5678", "002", "2027-01-01", enrollment_source="H",
                              application_date="2026-06-01", prior_contract_id="S1234", prior_pbp_id="001",
                              reassignment={"plan_year": 2027, "case": "PREMIUM"})
    m = make_member(enrollments=[losing, gaining],
                    elections={"2027-01-01": {"application_date": "2026-06-01", "tracking_id": "R"}})
    ev = enroll_event(election_type="U", effective_date=D(2027, 1, 1), application_date=D(2026, 10, 20),
                      submitted_at=at(2026, 10, 21))
    return m, ev, apply_enrollment(m, ev, PLANS)


def test_u_reenrollment_after_reassignment_stays_in_chosen_plan():
    _, _, r = _u_reenrollment_of_a_reassigned_member()
    replies = [o for o in r.outputs if o.topic == TRR_REPLIES]
    assert trcs(replies) == ["011", "014"]
    acc, lost = (o.value for o in replies)
    assert (acc["contract_id"], acc["effective_date"], acc["part_d_premium"]) == ("S1234", D(2027, 1, 1), Decimal("35.00"))
    assert (lost["contract_id"], lost["pbp_id"], lost["transaction_code"]) == ("S5678", "002", 51)
    assert r.state["enrollments"][1]["status"] == "CANCELLED"
    new = r.state["enrollments"][-1]
    assert (new["contract_id"], new["start"], new["end"], new["status"]) == ("S1234", "2027-01-01", None, "ACTIVE")


def test_plan_keeping_a_reassigned_member_owes_the_anoc_eoc_by_december_31():
    # Issue 13 item 5, seed 001: "If a beneficiary chooses to remain in their current plan, the current plan
    # must send its ANOC/Evidence of Coverage (EOC) and other required annual materials by December 31".
    m, ev, r = _u_reenrollment_of_a_reassigned_member()
    assert [o.topic for o in r.outputs] == [TRR_REPLIES, TRR_REPLIES, "plan-notices"]
    ob = r.outputs[2]
    v = ob.value
    assert ob.key == "S1234" and (v["contract_id"], v["pbp_id"], v["mbi"]) == ("S1234", "001", MBI)
    assert (v["notice_type"], v["obligation"], v["plan_year"]) == ("OBLIGATION", "SEND_ANOC_EOC", 2027)
    assert v["due_at"] == dt.datetime(2027, 1, 1, 4, 59, 59, tzinfo=dt.timezone.utc)  # Dec 31 2026 23:59:59 EST
    assert v["effective_date"] == D(2027, 1, 1) and v["issued_at"] == at(2026, 10, 21)
    # processed after December 31: 10 calendar days from the transaction (choice)
    late = dict(ev, submitted_at=at(2027, 1, 5), application_date=D(2027, 1, 5))
    assert apply_enrollment(m, late, PLANS).outputs[2].value["due_at"] == at(2027, 1, 15)
    # processed on December 28: still December 31
    dec = dict(ev, submitted_at=at(2026, 12, 28), application_date=D(2026, 12, 28))
    assert apply_enrollment(m, dec, PLANS).outputs[2].value["due_at"] == v["due_at"]
    # an ordinary switch owes nothing of the kind
    plain = apply_enrollment(make_member(enrollments=[make_enrollment("S5678", "002", "2025-01-01")]),
                             enroll_event(effective_date=D(2026, 3, 1)), PLANS)
    assert [o.topic for o in plain.outputs] == [TRR_REPLIES, TRR_REPLIES]


def test_204_4rx_accepted_stores_rx():
    m = make_member(enrollments=[make_enrollment()])
    r = apply_enrollment(m, rx_event(effective_date=D(2026, 2, 1)), PLANS)
    v = only(r, "204")
    assert v["trc_type"] == "ACCEPTED" and v["transaction_code"] == 72
    assert r.state["enrollments"][0]["rx"] == {"rx_bin": "610014", "rx_pcn": "MEDDPRIME",
                                              "rx_group": "GRP1", "rx_member_id": "M0001"}


def test_204_4rx_for_not_yet_started_enrollment():
    m = make_member(enrollments=[make_enrollment(start="2027-01-01")])
    only(apply_enrollment(m, rx_event(effective_date=D(2027, 1, 1)), PLANS), "204")


def test_209_4rx_without_matching_enrollment():
    m = make_member(enrollments=[make_enrollment("S5678", "002")])
    only(apply_enrollment(m, rx_event(), PLANS), "209")
    ended = make_member(enrollments=[make_enrollment(end="2026-03-31")])
    only(apply_enrollment(ended, rx_event(effective_date=D(2026, 4, 1)), PLANS), "209")


# ------------------------------------------------------------------ acceptance

def test_011_new_enrollment_reply_fields():
    m = make_member(lis=[make_lis("2025-01-01", None, level="075", copay="2", source="A")])
    ev = enroll_event(election_type="S", sep_reason="31", enrollment_source="B", correlation_id="C-9",
                      submitter_id="S1234", rx_bin="1", rx_member_id="2")
    r = apply_enrollment(m, ev, PLANS)
    v = only(r, "011")
    assert v["trc_type"] == "ACCEPTED" and v["transaction_code"] == 61
    assert v["effective_date"] == D(2026, 1, 1) and v["application_date"] == D(2025, 11, 15)
    assert v["election_type"] == "S" and v["enrollment_source"] == "B"
    assert v["prior_contract_id"] is None and v["part_d_premium"] == Decimal("30.00")
    assert (v["lis_premium_subsidy_level"], v["lis_copay_level"], v["lis_subsidy_source"]) == ("075", "2", "A")
    assert v["lis_period_start"] == D(2025, 1, 1) and v["lis_period_end"] is None
    assert v["plan_tracking_id"] == "TRK-1" and v["external_correlation_id"] == "C-9"
    assert v["update_source_contract_id"] == "S1234"
    assert v["cms_processing_timestamp"] == ev["submitted_at"] and v["transaction_date"] == D(2025, 11, 20)
    assert v["file_name"].startswith("P.RS1234.DAILYTRR.D251120.")
    e = r.state["enrollments"][-1]
    assert e["start"] == "2026-01-01" and e["end"] is None and e["status"] == "ACTIVE"
    assert e["rx"] == {"rx_bin": "1", "rx_pcn": None, "rx_group": None, "rx_member_id": "2"}
    assert r.state["elections"]["2026-01-01"]["tracking_id"] == "TRK-1"


def test_invalid_enrollment_source_becomes_I_and_is_not_rejected():
    r = apply_enrollment(make_member(), enroll_event(enrollment_source="Q"), PLANS)
    assert only(r, "011")["enrollment_source"] == "I"
    assert r.state["enrollments"][-1]["enrollment_source"] == "I"


def test_plan_switch_011_to_gaining_and_014_to_losing():
    m = make_member(enrollments=[make_enrollment("S5678", "002", "2025-01-01")])
    ev = enroll_event(effective_date=D(2026, 3, 1), election_type="S", sep_reason="31")
    r = apply_enrollment(m, ev, PLANS)
    assert trcs(r.outputs) == ["011", "014"]
    gain, lose = r.outputs
    assert gain.topic == lose.topic == TRR_REPLIES
    assert gain.key == "S1234" and lose.key == "S5678"
    assert gain.value["prior_contract_id"] == "S5678" and gain.value["prior_pbp_id"] == "002"
    assert lose.value["effective_date"] == D(2026, 3, 1) and lose.value["disenrollment_reason"] == "13"
    assert lose.value["plan_tracking_id"] is None and lose.value["trc_type"] == "ACCEPTED"
    assert gain.value["cms_tracking_id"] != lose.value["cms_tracking_id"]
    old, new = r.state["enrollments"]
    assert old["end"] == "2026-02-28" and old["disenrollment_reason"] == "13"
    assert new["prior_contract_id"] == "S5678" and new["start"] == "2026-03-01"


def test_replace_same_date_not_yet_started_enrollment():
    m = make_member(enrollments=[make_enrollment("S5678", "002", "2026-01-01", application_date="2025-10-20")])
    r = apply_enrollment(m, enroll_event(application_date=D(2025, 11, 15)), PLANS)
    assert trcs(r.outputs) == ["011", "014"]
    assert r.outputs[1].value["contract_id"] == "S5678"
    assert r.state["enrollments"][0]["status"] == "CANCELLED"
    assert r.outputs[0].value["prior_contract_id"] is None


def test_future_enrollment_with_later_application_date_is_kept():
    future = make_enrollment("S5678", "002", "2026-04-01", application_date="2025-12-01")
    r = apply_enrollment(make_member(enrollments=[future]), enroll_event(application_date=D(2025, 11, 15)), PLANS)
    assert trcs(r.outputs) == ["011"]
    assert r.state["enrollments"][-1]["end"] == "2026-03-31"
    assert r.state["enrollments"][0]["status"] == "ACTIVE"


def test_013_disenrollment_month_end_and_first_of_month():
    m = make_member(enrollments=[make_enrollment()])
    r = apply_enrollment(m, disenroll_event(effective_date=D(2026, 6, 30), disenrollment_reason="11"), PLANS)
    v = only(r, "013")
    assert v["effective_date"] == D(2026, 7, 1) and v["disenrollment_reason"] == "11"
    assert r.state["enrollments"][0]["end"] == "2026-06-30"
    r2 = apply_enrollment(m, disenroll_event(effective_date=D(2026, 7, 1)), PLANS)
    only(r2, "013")
    assert r2.state["enrollments"][0]["end"] == "2026-06-30"


def test_disenrollment_invalid_reason_becomes_99():
    m = make_member(enrollments=[make_enrollment()])
    r = apply_enrollment(m, disenroll_event(disenrollment_reason="ZZ"), PLANS)
    assert only(r, "013")["disenrollment_reason"] == "99"
    assert r.state["enrollments"][0]["disenrollment_reason"] == "99"


def test_209_disenrollment_from_plan_member_is_not_in():
    m = make_member(enrollments=[make_enrollment("S5678", "002")])
    only(apply_enrollment(m, disenroll_event(), PLANS), "209")


def test_292_disenrollment_effective_on_enrollment_start():
    m = make_member(enrollments=[make_enrollment(start="2026-07-01")])
    only(apply_enrollment(m, disenroll_event(effective_date=D(2026, 7, 1)), PLANS), "292")


def test_291_cancel_disenrollment_reinstates():
    m = make_member(enrollments=[make_enrollment(end="2026-06-30", disenrollment_reason="11")])
    r = apply_enrollment(m, cancel_disenrollment_event(effective_date=D(2026, 7, 1)), PLANS)
    v = only(r, "291")
    assert v["trc_type"] == "INFORMATIONAL" and v["effective_date"] == D(2026, 1, 1)
    assert r.state["enrollments"][0]["end"] is None and r.state["enrollments"][0]["disenrollment_reason"] is None


def test_292_cancel_disenrollment_when_none_to_cancel():
    only(apply_enrollment(make_member(enrollments=[make_enrollment()]),
                          cancel_disenrollment_event(effective_date=D(2026, 7, 1)), PLANS), "292")
    # a switch (reason 13) is not a disenrollment TC 81 can cancel
    switched = make_member(enrollments=[make_enrollment(end="2026-06-30", disenrollment_reason="13"),
                                        make_enrollment("S5678", "002", "2026-07-01")])
    only(apply_enrollment(switched, cancel_disenrollment_event(effective_date=D(2026, 7, 1)), PLANS), "292")


def test_tc80_cancel_enrollment_accepted_and_prior_plan_reinstated():
    m = make_member(enrollments=[make_enrollment("S5678", "002", "2025-01-01")])
    switched = apply_enrollment(m, enroll_event(effective_date=D(2026, 3, 1)), PLANS).state
    r = apply_enrollment(switched, cancel_enrollment_event(effective_date=D(2026, 3, 1), tracking_id="TRK-2"), PLANS)
    assert trcs(r.outputs) == ["013", "291"]
    assert r.outputs[0].value["transaction_code"] == 80 and r.outputs[0].key == "S1234"
    assert r.outputs[1].key == "S5678"
    old, new = r.state["enrollments"]
    assert new["status"] == "CANCELLED" and old["end"] is None and old["disenrollment_reason"] is None
    assert "2026-03-01" not in r.state["elections"]


def test_tc80_without_matching_enrollment_is_209():
    only(apply_enrollment(make_member(), cancel_enrollment_event(), PLANS), "209")


def test_unknown_transaction_code_raises():
    with pytest.raises(Rejected) as exc:
        apply_enrollment(make_member(), enrollment_event(99), PLANS)
    assert exc.value.error_code == "INVALID_TRANSACTION_CODE"


@pytest.mark.parametrize("tc,trc", [(82, "209"), (83, "013")])
def test_mmp_transaction_codes_are_routed_to_passive(tc, trc):
    # TC 82/83 are handled by processors.passive (tests/processors/test_passive.py):
    # no passive enrollment to cancel -> 209; an opt-out is always recorded -> 013.
    res = apply_enrollment(make_member(), enrollment_event(tc), PLANS)
    assert [o.value["transaction_reply_code"] for o in res.outputs] == [trc]


# ------------------------------------------------------------------ properties

def test_determinism_and_no_mutation():
    m = make_member(enrollments=[make_enrollment("S5678", "002", "2025-01-01")], lis=[make_lis("2025-01-01")])
    frozen = copy.deepcopy(m)
    ev = enroll_event(effective_date=D(2026, 3, 1))
    a = apply_enrollment(m, ev, PLANS)
    b = apply_enrollment(m, dict(ev), PLANS)
    assert m == frozen
    assert a == b
    assert [o.value["cms_tracking_id"] for o in a.outputs] == [o.value["cms_tracking_id"] for o in b.outputs]
    # rejections leave the state alone as well
    apply_enrollment(m, enroll_event(effective_date=D(2026, 3, 2)), PLANS)
    assert m == frozen


def test_the_same_transaction_sent_again_is_a_duplicate_pbp():
    """A re-sent identical TC 61 is a new submission: 109. (True redeliveries of the
    same Kafka record are recognised by the shell from the record's offset.)"""
    first = apply_enrollment(make_member(enrollments=[make_enrollment("S5678", "002", "2025-01-01")]),
                             enroll_event(effective_date=D(2026, 3, 1)), PLANS)
    again = apply_enrollment(first.state, enroll_event(effective_date=D(2026, 3, 1)), PLANS)
    assert again.state is None and trcs(again.outputs) == ["109"]


def test_every_reply_carries_the_member_and_mbi():
    r = apply_enrollment(make_member(enrollments=[make_enrollment("S5678", "002", "2025-01-01")]),
                         enroll_event(effective_date=D(2026, 3, 1)), PLANS)
    assert all(o.value["mbi"] == MBI for o in r.outputs)


# --------------------------------------------------------------------------- issue 23: the Cleanup ID

def test_every_reply_echoes_the_transactions_cleanup_id():
    # Seed 002 Table 1 (the TRR): "Cleanup ID -- Unique cleanup identifier assigned by CMS". Issue 23 item 6: the
    # TRR carries it, empty unless a transaction sets it (EnrollmentTransaction.cleanup_id).
    m = make_member(enrollments=[make_enrollment(start="2025-01-01")])
    ev = enroll_event(contract_id="S5678", pbp_id="002", effective_date=D(2026, 2, 1), cleanup_id="CLN-2026-0007")
    res = apply_enrollment(m, ev, PLANS)
    assert [(o.value["transaction_reply_code"], o.value["cleanup_id"]) for o in res.outputs] == [
        ("011", "CLN-2026-0007"), ("014", "CLN-2026-0007")]
    rejected = apply_enrollment(m, enroll_event(contract_id="S0000", cleanup_id="CLN-9"), PLANS)
    assert [(o.value["transaction_reply_code"], o.value["cleanup_id"]) for o in rejected.outputs] == [("107", "CLN-9")]
    plain = apply_enrollment(m, enroll_event(contract_id="S5678", pbp_id="002", effective_date=D(2026, 2, 1)), PLANS)
    assert {o.value["cleanup_id"] for o in plain.outputs} == {None}
