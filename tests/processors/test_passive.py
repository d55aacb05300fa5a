"""MMP passive enrollment (seed 000): TC 61 source J, TC 82, TC 83 (processors/passive.py).

Every rule of docs/mmp-passive.md has a test here that fails if the rule breaks.
"""
from __future__ import annotations

import copy
import datetime as dt

import pytest

from processors import passive
from processors.dates import EASTERN
from processors.enrollment import apply_enrollment
from processors.trr import TRC_TABLE
from tests.processors.builders import (
    MBI,
    catalog,
    enroll_event,
    enrollment_event,
    make_enrollment,
    make_lis,
    make_member,
    make_plan,
    make_profile,
    trcs,
)

UTC = dt.timezone.utc
D = dt.date
Y = 2026


def eastern(y, m, d, h=12, mi=0, s=0):
    """A wall-clock time in New York as a UTC instant (what fastavro gives)."""
    return dt.datetime(y, m, d, h, mi, s, tzinfo=EASTERN).astimezone(UTC)


def _plans():
    plans = catalog(("S1234", "001", 2025), ("S1234", "001", 2026), ("S1234", "001", 2027),
                    ("S5678", "002", 2026))
    for year in (2026, 2027):
        k, p = make_plan("H9001", "001", year, "0.00", plan_type="MMP")
        plans[k] = p
    return plans


PLANS = _plans()


def member(**kw):
    """A Maryland dual in S1234-001 since 2025-01-01 (source A), LIS 100 open."""
    profile = make_profile(state_code="MD", medicaid_status="FULL_BENEFIT_DUAL")
    profile.update(kw.pop("profile", {}))
    m = make_member(profile=profile,
                    enrollments=[make_enrollment("S1234", "001", "2025-01-01", enrollment_source="A",
                                                 election_type="Z", application_date="2024-12-01")],
                    lis=[make_lis("2025-01-01")])
    m.update(kw)
    return m


def passive_event(**kw):
    """A valid January 1 passive enrollment into MMP H9001-001 by Maryland, submitted Oct 6 09:00 EDT."""
    submitted = kw.pop("submitted_at", eastern(2025, 10, 6, 9))
    ev = enroll_event(
        tracking_id="PAS-1", contract_id="H9001", pbp_id="001", enrollment_source="J",
        submitter_id="MD", election_type="S", effective_date=D(Y, 1, 1),
        submitted_at=submitted, application_date=submitted.astimezone(EASTERN).date(),
    )
    ev.update(kw)
    return ev


def only(res, trc):
    assert trcs(res.outputs) == [trc], [o.value for o in res.outputs]
    return res.outputs[0].value


def reason(res):
    """The reason of the first reply: ``TrrRecord.reason`` (issue 23), with the code table's short name."""
    v = res.outputs[0].value
    assert v["trc_short_name"] == TRC_TABLE[v["transaction_reply_code"]]["short_name"]
    return v["reason"]


# ------------------------------------------------------------------ routing and acceptance

def test_routing():
    assert passive.is_passive_submission(passive_event())
    assert passive.is_passive_submission(passive_event(enrollment_source="B"))         # a state submitted it
    assert passive.is_passive_submission(passive_event(submitter_id="S1234"))          # source J
    assert not passive.is_passive_submission(enroll_event(submitter_id="S1234"))
    assert not passive.is_passive_submission(enroll_event(submitter_id="CMS", enrollment_source="A"))
    assert not passive.is_passive_submission(passive_event(transaction_code=51))


def test_accepted_passive_enrollment_011_source_j_and_014_to_the_pdp():
    res = apply_enrollment(member(), passive_event(), PLANS)
    assert trcs(res.outputs) == ["011", "014"]
    acc, loss = (o.value for o in res.outputs if o.topic == "trr-replies")
    assert (acc["contract_id"], acc["pbp_id"], acc["enrollment_source"], acc["effective_date"]) == (
        "H9001", "001", "J", D(Y, 1, 1))
    assert acc["application_date"] == D(2025, 10, 6) and acc["trc_short_name"] == "ENROLLMENT ACCEPTED"
    assert (acc["prior_contract_id"], acc["prior_pbp_id"]) == ("S1234", "001")
    assert acc["update_source_contract_id"] == "MD"
    assert (loss["contract_id"], loss["transaction_code"], loss["effective_date"]) == ("S1234", 51, D(Y, 1, 1))
    st = res.state
    assert st["passive_years"] == [Y]
    assert st["enrollments"][0]["end"] == "2025-12-31"
    assert st["enrollments"][-1]["enrollment_source"] == "J"
    assert st["passive_submissions"]["H9001-001-2026-01-01"]["application_date"] == "2025-10-06"


def test_non_january_passive_records_its_year_too():
    ev = passive_event(effective_date=D(Y, 3, 1), submitted_at=eastern(2026, 1, 20, 10))
    res = apply_enrollment(member(), ev, PLANS)
    assert trcs(res.outputs)[0] == "011" and res.state["passive_years"] == [Y]


def test_unknown_member_or_bad_mbi_still_008_007():
    only(apply_enrollment(make_member(profile=None), passive_event(), PLANS), "008")
    only(apply_enrollment(member(), passive_event(mbi="bad"), PLANS), "007")


# ------------------------------------------------------------------ the October window (Eastern)

@pytest.mark.parametrize("submitted,ok", [
    (dt.datetime(2025, 10, 4, 9, 59, 59, tzinfo=UTC), False),   # 05:59:59 EDT
    (dt.datetime(2025, 10, 4, 10, 0, 0, tzinfo=UTC), True),     # 06:00:00 EDT
    (dt.datetime(2025, 10, 27, 21, 0, 0, tzinfo=UTC), True),    # 17:00:00 EDT
    (dt.datetime(2025, 10, 27, 21, 0, 1, tzinfo=UTC), False),   # 17:00:01 EDT
    (dt.datetime(2025, 10, 27, 21, 0, 0, 500000, tzinfo=UTC), False),  # "no later than 5 p.m."
    (dt.datetime(2025, 9, 30, 12, 0, tzinfo=UTC), False),
    (dt.datetime(2025, 11, 3, 12, 0, tzinfo=UTC), False),
    (dt.datetime(2024, 10, 10, 12, 0, tzinfo=UTC), False),      # last year's window
])
def test_window_edges(submitted, ok):
    res = apply_enrollment(member(), passive_event(submitted_at=submitted), PLANS)
    if ok:
        assert trcs(res.outputs) == ["011", "014"]
    else:
        only(res, "108")
        assert reason(res) == passive.OUTSIDE_WINDOW and res.state is None


def test_window_is_daylight_time_not_a_fixed_utc_minus_5():
    # 06:30 EDT = 10:30Z is inside; with EST (UTC-5) it would be 05:30 (outside).
    ok = apply_enrollment(member(), passive_event(submitted_at=dt.datetime(2025, 10, 4, 10, 30, tzinfo=UTC)), PLANS)
    assert trcs(ok.outputs) == ["011", "014"]
    # 17:30 EDT = 21:30Z is outside; with EST it would be 16:30 (inside).
    late = apply_enrollment(member(), passive_event(submitted_at=dt.datetime(2025, 10, 27, 21, 30, tzinfo=UTC)), PLANS)
    only(late, "108")
    assert passive.window(2026) == (dt.datetime(2025, 10, 4, 10, tzinfo=UTC), dt.datetime(2025, 10, 27, 21, tzinfo=UTC))


@pytest.mark.parametrize("plan_year", range(2008, 2040))
def test_window_in_every_year_is_eastern_daylight_time(plan_year):
    opens, closes = passive.window(plan_year)
    assert opens.astimezone(EASTERN).utcoffset() == dt.timedelta(hours=-4)
    assert closes.astimezone(EASTERN).utcoffset() == dt.timedelta(hours=-4)
    assert (opens.astimezone(EASTERN).replace(tzinfo=None), closes.astimezone(EASTERN).replace(tzinfo=None)) == (
        dt.datetime(plan_year - 1, 10, 4, 6), dt.datetime(plan_year - 1, 10, 27, 17))


def test_window_applies_only_to_january_first():
    ev = passive_event(effective_date=D(Y, 2, 1), submitted_at=eastern(2025, 12, 10, 9))
    assert trcs(apply_enrollment(member(), ev, PLANS).outputs)[0] == "011"


# ------------------------------------------------------------------ application date

def test_application_date_must_be_the_eastern_submission_date():
    submitted = dt.datetime(2025, 10, 10, 2, 30, tzinfo=UTC)   # Oct 9 22:30 EDT
    bad = apply_enrollment(member(), passive_event(submitted_at=submitted, application_date=D(2025, 10, 10)), PLANS)
    only(bad, "108")
    assert reason(bad) == passive.APPLICATION_DATE_NOT_SUBMISSION_DATE and bad.state is None
    good = apply_enrollment(member(), passive_event(submitted_at=submitted, application_date=D(2025, 10, 9)), PLANS)
    assert trcs(good.outputs) == ["011", "014"]


def test_application_date_before_submission_is_rejected():
    res = apply_enrollment(member(), passive_event(application_date=D(2025, 10, 1)), PLANS)
    only(res, "108")


# ------------------------------------------------------------------ the reason apart from the short name (issue 23)

def test_the_reason_has_its_own_field_and_the_short_name_is_the_code_tables():
    # DOMAIN.md: "use 011 with source J, and 108 or 037 with the reason in the record". Issue 23 item 7: the
    # reason used to be appended to trc_short_name ("ELECTION LIMITS EXCEEDED: NOT_FULL_BENEFIT_DUAL", 57
    # characters, where the DTRR field is 15); it is TrrRecord.reason now, and the short name the code table's.
    for event, state, want in (
            (passive_event(submitted_at=eastern(2025, 10, 4, 5, 59, 59)), member(), passive.OUTSIDE_WINDOW),
            (passive_event(), member(profile={"medicaid_status": "NONE"}), passive.NOT_FULL_BENEFIT_DUAL),
            (passive_event(enrollment_source="B"), member(), passive.SOURCE_NOT_J)):
        v = only(apply_enrollment(state, event, PLANS), "108")
        assert (v["trc_short_name"], v["reason"]) == ("ELECTION LIMITS EXCEEDED", want)
    accepted = [o for o in apply_enrollment(member(), passive_event(), PLANS).outputs if o.topic == "trr-replies"]
    assert [(o.value["trc_short_name"], o.value["reason"]) for o in accepted] == [
        ("ENROLLMENT ACCEPTED", None), (TRC_TABLE["014"]["short_name"], None)]


# ------------------------------------------------------------------ the state's own feed (issue 23)

def test_every_reply_to_a_state_submitted_transaction_goes_to_that_states_responses_too():
    # Seed 000: "CMS processes state files as received and provides responses ... States review CMS' responses to
    # submitted transactions and resubmit corrections as needed." Issue 23 item 3: the answers were only on
    # trr-replies, keyed by the MMP's contract; each one now also goes to state-responses, keyed by the state.
    for state, event, want in (
            (member(), passive_event(), ["011", "014"]),                                    # accepted, and the PDP left
            (member(), passive_event(enrollment_source="B"), ["108"]),                     # refused, with its reason
            (None, passive_event(), ["008"]),                                               # unknown person
            (member(), passive_event(submitter_id="PR"), ["108"])):                        # a territory's submission
        res = apply_enrollment(state, event, PLANS)
        replies = [o for o in res.outputs if o.topic == "trr-replies"]
        answers = [o for o in res.outputs if o.topic == "state-responses"]
        assert [o.value["transaction_reply_code"] for o in replies] == want
        assert [(o.key, o.value) for o in answers] == [(event["submitter_id"], o.value) for o in replies]
    enrolled = apply_enrollment(member(), passive_event(), PLANS).state
    res = apply_enrollment(enrolled, cancel_event(), PLANS)                                 # TC 82: 013 + 291
    assert [(o.key, o.value["transaction_reply_code"]) for o in res.outputs if o.topic == "state-responses"] == [
        ("MD", "013"), ("MD", "291")]


def test_a_plans_own_transactions_give_the_states_nothing():
    for submitter in ("S1234", "CMS"):
        res = apply_enrollment(member(), enroll_event(contract_id="S5678", pbp_id="002", submitter_id=submitter,
                                                       effective_date=D(Y, 2, 1)), PLANS)
        assert res.outputs and all(o.topic == "trr-replies" for o in res.outputs)


# ------------------------------------------------------------------ source, submitter, plan

def test_state_submitted_with_another_source_is_rejected():
    res = apply_enrollment(member(), passive_event(enrollment_source="B"), PLANS)
    only(res, "108")
    assert reason(res) == passive.SOURCE_NOT_J
    assert res.outputs[0].value["trc_short_name"] == "ELECTION LIMITS EXCEEDED"


@pytest.mark.parametrize("submitter", ["S1234", "CMS", "PR"])
def test_source_j_needs_a_state_submitter(submitter):
    res = apply_enrollment(member(), passive_event(submitter_id=submitter), PLANS)
    only(res, "108")
    assert reason(res) == passive.SUBMITTER_NOT_STATE


def test_passive_into_a_pdp_is_rejected():
    res = apply_enrollment(member(), passive_event(contract_id="S5678", pbp_id="002"), PLANS)
    only(res, "108")
    assert reason(res) == passive.NOT_MMP_PLAN


def test_ordinary_tc61_checks_still_apply():
    only(apply_enrollment(member(), passive_event(contract_id="H0000"), PLANS), "107")
    only(apply_enrollment(member(), passive_event(election_type="Q"), PLANS), "104")
    dead = member(profile={"date_of_death": "2025-11-02"})
    only(apply_enrollment(dead, passive_event(), PLANS), "036")


def test_not_first_of_month_is_037():
    ev = passive_event(effective_date=D(Y, 2, 2), submitted_at=eastern(2025, 12, 1))
    only(apply_enrollment(member(), ev, PLANS), "037")


# ------------------------------------------------------------------ the demonstration's enrollment criteria

@pytest.mark.parametrize("profile", [
    {"medicaid_status": "NONE"},
    {"medicaid_status": None},
    {"medicaid_status": "PARTIAL_DUAL"},
    {"medicaid_status": "FULL_BENEFIT_DUAL", "medicaid_start": "2025-10-07"},                       # starts after
    {"medicaid_status": "FULL_BENEFIT_DUAL", "medicaid_start": "2020-01-01", "medicaid_end": "2025-09-30"},  # ended
], ids=["none", "unknown", "partial", "starts-after-submission", "ended-before-submission"])
def test_passive_enrollment_needs_a_full_benefit_dual_on_the_submission_date(profile):
    # Issue 13 item 1, seed 000: passive transactions "can only contain Medicare beneficiaries who, at the
    # time the transaction is submitted, meet the enrollment criteria of the given state's demonstration"
    # (capitated Medicare-Medicaid demonstrations: full-benefit dual eligibles). Submitted Oct 6, 2025.
    # A member with no Medicaid used to be enrolled (011).
    res = apply_enrollment(member(profile=profile), passive_event(), PLANS)
    v = only(res, "108")
    assert reason(res) == passive.NOT_FULL_BENEFIT_DUAL
    assert v["trc_short_name"] == "ELECTION LIMITS EXCEEDED" and v["reason"] == "NOT_FULL_BENEFIT_DUAL"
    assert res.state is None or not res.state.get("passive_years")


def test_passive_enrollment_needs_medicaid_on_the_effective_date_too():
    # "... meet the enrollment criteria of the given state's demonstration for January 1": Medicaid known to
    # end December 31 -> not a full-benefit dual on January 1.
    m = member(profile={"medicaid_start": "2020-01-01", "medicaid_end": "2025-12-31"})
    res = apply_enrollment(m, passive_event(), PLANS)
    only(res, "108")
    assert reason(res) == passive.MEDICAID_ENDS_BEFORE_EFFECTIVE_DATE
    # ending on or after the effective date is fine
    ok = member(profile={"medicaid_start": "2020-01-01", "medicaid_end": "2026-06-30"})
    assert trcs(apply_enrollment(ok, passive_event(), PLANS).outputs) == ["011", "014"]


@pytest.mark.parametrize("profile", [{"part_a_start": None}, {"part_b_start": None}, {"part_b_start": "2026-02-01"}],
                         ids=["no-part-a", "no-part-b", "part-b-after-effective"])
def test_passive_enrollment_needs_part_a_and_part_b(profile):
    # An MMP covers Parts A, B and D (a Medicare Advantage-type plan): entitlement to Part A and enrollment
    # in Part B on the effective date are demonstration criteria like Medicaid.
    res = apply_enrollment(member(profile=profile), passive_event(), PLANS)
    only(res, "108")
    assert reason(res) == passive.NO_PART_A_AND_B


def test_passive_enrollment_only_by_the_members_own_state():
    # "the given state's demonstration": Maryland cannot passively enroll a Virginia resident ...
    res = apply_enrollment(member(profile={"state_code": "VA"}), passive_event(), PLANS)
    only(res, "108")
    assert reason(res) == passive.NOT_IN_SUBMITTING_STATE
    # ... the member's state is the state file's first (issue 13 item 6): on Maryland's Medicaid file,
    # living in Virginia -> Maryland's member; on Virginia's file, living in Maryland -> not Maryland's.
    md_file = member(profile={"state_code": "VA", "medicaid_state_code": "MD"})
    assert trcs(apply_enrollment(md_file, passive_event(), PLANS).outputs) == ["011", "014"]
    va_file = member(profile={"state_code": "MD", "medicaid_state_code": "VA"})
    assert reason(apply_enrollment(va_file, passive_event(), PLANS)) == passive.NOT_IN_SUBMITTING_STATE


def test_criteria_rejection_still_records_the_original_submission():
    # As every check after the window and the application date: the submission stays the original, so a
    # correction after the state fixes its data must keep the application date.
    res = apply_enrollment(member(profile={"medicaid_status": "NONE"}), passive_event(), PLANS)
    assert list(res.state["passive_submissions"]) == ["H9001-001-2026-01-01"]


# ------------------------------------------------------------------ OPTOM

def test_optom_is_166():
    res = apply_enrollment(member(profile={"opt_out_passive_enrollment": True}), passive_event(), PLANS)
    only(res, "166")
    assert reason(res) == passive.OPTED_OUT


def test_tc83_opt_out_on_record_is_166():
    m = member(mmp_opt_out={"date": "2025-09-01", "tracking_id": "X"})
    only(apply_enrollment(m, passive_event(), PLANS), "166")


# ------------------------------------------------------------------ regained passive eligibility (issue 22 item 4)
# Seed 000: "States may conduct an annual passive enrollment process for individuals who are newly eligible
# or who have regained eligibility for MMP enrollment. This includes the following groups of individuals
# who regain eligibility for passive enrollment in the new calendar year: Those who were involuntarily
# disenrolled from an MMP during the current calendar year ...; Those who were reassigned by CMS to a PDP
# effective January of the current calendar year ...; or New dually eligible individuals who are
# auto-enrolled by CMS to a PDP effective any month in the current calendar year."

def _left_mmp(reason, *, start="2025-02-01", end="2025-06-30", then=None, **kw):
    """A member who was in MMP H9001-001 (a source-J passive enrollment) and left it with ``reason``."""
    mmp = make_enrollment("H9001", "001", start, end=end, enrollment_source="J", election_type="S",
                          disenrollment_reason=reason, application_date="2025-01-10")
    pdp = make_enrollment("S1234", "001", "2024-01-01", end="2025-01-31", enrollment_source="A",
                          election_type="Z", disenrollment_reason="13")
    after = then or make_enrollment("S1234", "001", "2025-07-01", enrollment_source="B", election_type="S")
    return member(enrollments=[pdp, mmp, after], **kw)


@pytest.mark.parametrize("why", ["11", "12", "63"])
def test_who_left_an_mmp_voluntarily_this_year_is_not_passively_enrolled_again(why):
    res = apply_enrollment(_left_mmp(why), passive_event(), PLANS)
    only(res, "108")
    assert reason(res) == passive.LEFT_MMP_VOLUNTARILY
    assert res.state["passive_submissions"]  # still the original submission for its correction


def test_leaving_an_mmp_for_a_plan_the_member_chose_is_voluntary_too():
    chose = make_enrollment("S5678", "002", "2025-07-01", enrollment_source="B", election_type="S")
    only(apply_enrollment(_left_mmp("13", then=chose), passive_event(), PLANS), "108")
    # ... not when CMS moved them (a reassignment or another passive enrollment)
    moved = make_enrollment("S5678", "002", "2025-07-01", enrollment_source="H", election_type="Y")
    assert trcs(apply_enrollment(_left_mmp("13", then=moved), passive_event(), PLANS).outputs)[0] == "011"


@pytest.mark.parametrize("why", ["64", "56", "10", "01"])
def test_involuntarily_disenrolled_this_year_regains_eligibility(why):
    assert trcs(apply_enrollment(_left_mmp(why), passive_event(), PLANS).outputs)[0] == "011"


def test_a_voluntary_exit_in_the_effective_year_refuses_a_later_month_that_year():
    m = _left_mmp("11", start="2026-01-01", end="2026-03-31",
                  then=make_enrollment("S1234", "001", "2026-04-01", enrollment_source="B", election_type="S"))
    ev = passive_event(effective_date=D(Y, 7, 1), submitted_at=eastern(2026, 5, 4, 9), application_date=D(2026, 5, 4))
    only(apply_enrollment(m, ev, PLANS), "108")


def test_a_voluntary_exit_is_forgiven_for_a_regained_group_and_after_a_year():
    # reassigned by CMS to a PDP effective January of the current year: regained (seed 000's second group)
    m = _left_mmp("11", reassigned_years=[Y - 1])
    assert trcs(apply_enrollment(m, passive_event(), PLANS).outputs)[0] == "011"
    # left two calendar years before the effective year: newly eligible again (choice: the seed's groups
    # speak of the current calendar year only)
    old = _left_mmp("11", start="2024-02-01", end="2024-06-30")
    assert trcs(apply_enrollment(old, passive_event(), PLANS).outputs)[0] == "011"


# ------------------------------------------------------------------ preliminary list, reassignment, once per year

def test_listed_member_after_january_first_is_037():
    m = member(preliminary_years=[Y])
    res = apply_enrollment(m, passive_event(effective_date=D(Y, 2, 1)), PLANS)
    only(res, "037")
    assert reason(res) == passive.LISTED_FOR_REASSIGNMENT
    # moving it up to January 1 is allowed (seed 000)
    assert trcs(apply_enrollment(m, passive_event(tracking_id="PAS-2"), PLANS).outputs) == ["011", "014"]
    # the list of another year does not matter
    other = member(preliminary_years=[Y - 1])
    assert trcs(apply_enrollment(other, passive_event(effective_date=D(Y, 2, 1)), PLANS).outputs)[0] == "011"


def test_not_listed_member_may_start_after_january_first():
    assert trcs(apply_enrollment(member(), passive_event(effective_date=D(Y, 2, 1)), PLANS).outputs)[0] == "011"


@pytest.mark.parametrize("eff", [D(Y, 1, 1), D(Y, 3, 1), D(Y, 12, 1)])
def test_reassigned_member_cannot_be_passive_in_that_year(eff):
    m = member(reassigned_years=[Y])
    submitted = eastern(2025, 10, 6, 9) if eff.month == 1 else eastern(2025, 11, 20, 9)
    res = apply_enrollment(m, passive_event(effective_date=eff, submitted_at=submitted,
                                            application_date=submitted.astimezone(EASTERN).date()), PLANS)
    only(res, "108")
    assert reason(res) == passive.ALREADY_REASSIGNED


def test_reassigned_member_can_be_passive_next_year():
    m = member(reassigned_years=[Y])
    res = apply_enrollment(m, passive_event(effective_date=D(Y + 1, 1, 1), submitted_at=eastern(2026, 10, 5, 9),
                                            application_date=D(2026, 10, 5)), PLANS)
    assert trcs(res.outputs)[0] == "011" and res.state["passive_years"] == [Y + 1]


def test_once_per_calendar_year():
    first = apply_enrollment(member(), passive_event(), PLANS)
    assert first.state["passive_years"] == [Y]
    again = passive_event(tracking_id="PAS-2", effective_date=D(Y, 6, 1), submitted_at=eastern(2026, 3, 2, 9))
    res = apply_enrollment(first.state, again, PLANS)
    only(res, "108")
    assert reason(res) == passive.ALREADY_PASSIVE


# ------------------------------------------------------------------ corrections

def test_correction_may_not_change_the_application_date():
    m = member()
    first = apply_enrollment(m, passive_event(enrollment_source="B", submitted_at=eastern(2025, 10, 5, 9)), PLANS)
    only(first, "108")
    assert first.state is not None   # the original submission is on record
    assert first.state["passive_submissions"]["H9001-001-2026-01-01"]["application_date"] == "2025-10-05"
    changed = apply_enrollment(first.state, passive_event(tracking_id="PAS-2", submitted_at=eastern(2025, 10, 12, 9)), PLANS)
    only(changed, "108")
    assert reason(changed) == passive.CORRECTION_CHANGES_APPLICATION_DATE and changed.state is None
    kept = apply_enrollment(first.state, passive_event(tracking_id="PAS-3", submitted_at=eastern(2025, 10, 12, 9),
                                                       application_date=D(2025, 10, 5)), PLANS)
    assert trcs(kept.outputs) == ["011", "014"]
    assert kept.outputs[0].value["application_date"] == D(2025, 10, 5)


def test_a_rejected_date_is_not_an_original():
    m = member()
    bad = apply_enrollment(m, passive_event(application_date=D(2025, 10, 1)), PLANS)
    assert bad.state is None
    late = apply_enrollment(m, passive_event(submitted_at=eastern(2025, 10, 28, 9)), PLANS)
    assert late.state is None


def test_correction_for_another_effective_date_is_a_new_original():
    m = member(preliminary_years=[Y])
    first = apply_enrollment(m, passive_event(effective_date=D(Y, 2, 1), submitted_at=eastern(2025, 10, 5, 9)), PLANS)
    only(first, "037")
    moved_up = apply_enrollment(first.state, passive_event(tracking_id="PAS-2", submitted_at=eastern(2025, 10, 9, 9)), PLANS)
    assert trcs(moved_up.outputs) == ["011", "014"]


# ------------------------------------------------------------------ TC 82

def cancel_event(**kw):
    ev = enrollment_event(82, tracking_id="CAN-1", contract_id="H9001", pbp_id="001", enrollment_source="J",
                          submitter_id="MD", election_type=None, effective_date=D(Y, 1, 1),
                          application_date=D(2025, 11, 5), submitted_at=eastern(2025, 11, 5, 10))
    ev.update(kw)
    return ev


def test_tc82_cancels_the_passive_enrollment_and_reinstates_the_pdp():
    enrolled = apply_enrollment(member(), passive_event(), PLANS).state
    res = apply_enrollment(enrolled, cancel_event(), PLANS)
    assert trcs(res.outputs) == ["013", "291"]
    c, r = (o.value for o in res.outputs if o.topic == "trr-replies")
    assert (c["contract_id"], c["transaction_code"], c["effective_date"]) == ("H9001", 82, D(Y, 1, 1))
    assert (r["contract_id"], r["pbp_id"], r["transaction_code"]) == ("S1234", "001", 82)
    st = res.state
    assert st["passive_years"] == []
    assert st["enrollments"][-1]["status"] == "CANCELLED"
    assert st["enrollments"][0]["end"] is None and st["enrollments"][0]["disenrollment_reason"] is None


def test_tc82_without_a_passive_enrollment_is_209():
    res = apply_enrollment(member(), cancel_event(), PLANS)
    only(res, "209")
    assert reason(res) == passive.NO_PASSIVE_ENROLLMENT
    # an ordinary (not source J) enrollment is not cancelled by TC 82
    chose = apply_enrollment(member(), enroll_event(contract_id="H9001", submitter_id="H9001",
                                                    enrollment_source="L"), PLANS).state
    only(apply_enrollment(chose, cancel_event(), PLANS), "209")


def test_tc82_after_the_start_is_037():
    enrolled = apply_enrollment(member(), passive_event(), PLANS).state
    res = apply_enrollment(enrolled, cancel_event(submitted_at=eastern(2026, 1, 1, 9)), PLANS)
    only(res, "037")
    assert reason(res) == passive.ALREADY_EFFECTIVE
    # the day before the start is still a cancellation
    assert trcs(apply_enrollment(enrolled, cancel_event(submitted_at=eastern(2025, 12, 31, 23, 59)), PLANS).outputs)[0] == "013"


def test_tc82_ignores_an_already_cancelled_passive_enrollment():
    st = member(passive_years=[Y])
    st["enrollments"].append(make_enrollment("H9001", "001", "2026-01-01", enrollment_source="J", status="CANCELLED"))
    st["enrollments"].append(make_enrollment("H9001", "001", "2026-01-01", enrollment_source="J"))
    st["enrollments"][0]["end"] = "2025-12-31"
    st["enrollments"][0]["disenrollment_reason"] = "13"
    res = apply_enrollment(st, cancel_event(), PLANS)
    assert res.state["passive_years"] == []


# ------------------------------------------------------------------ TC 83

def opt_out_event(**kw):
    kw.setdefault("tracking_id", "OPT-1")
    return cancel_event(transaction_code=83, **kw)


def test_tc83_before_the_start_cancels_and_records_the_opt_out():
    enrolled = apply_enrollment(member(), passive_event(), PLANS).state
    res = apply_enrollment(enrolled, opt_out_event(), PLANS)
    assert trcs(res.outputs) == ["013", "291"]
    assert all(o.value["transaction_code"] == 83 for o in res.outputs)
    st = res.state
    assert st["mmp_opt_out"] == {"date": "2025-11-05", "tracking_id": "OPT-1"}
    assert st["passive_years"] == [] and st["enrollments"][-1]["status"] == "CANCELLED"
    assert passive.opted_out(st)
    only(apply_enrollment(st, passive_event(effective_date=D(Y, 3, 1), tracking_id="PAS-9",
                                            submitted_at=eastern(2026, 1, 10)), PLANS), "166")


def test_tc83_without_pending_enrollment_only_records():
    res = apply_enrollment(member(), opt_out_event(), PLANS)
    only(res, "013")
    assert res.outputs[0].value["transaction_code"] == 83
    assert res.state["mmp_opt_out"]["date"] == "2025-11-05"
    assert res.state["enrollments"] == member()["enrollments"]


def test_tc83_after_the_start_disenrolls_at_the_end_of_the_month_with_reason_63():
    # Issue 22 item 5. Seed 002 Table 30: "63 ENRL OPT OUT MMP - MMP (Medicare and Medicaid plan) opt-out
    # after enrolled". An opt-out once the MMP enrollment has begun is carried out: the enrollment ends on
    # the last day of the month of the (Eastern) submission, reason 63, and the 013 says exactly that.
    enrolled = apply_enrollment(member(), passive_event(), PLANS).state
    res = apply_enrollment(enrolled, opt_out_event(submitted_at=eastern(2026, 2, 3)), PLANS)
    reply = only(res, "013")
    assert (reply["transaction_code"], reply["disenrollment_reason"]) == (83, "63")
    assert (reply["contract_id"], reply["pbp_id"], reply["effective_date"]) == ("H9001", "001", D(2026, 3, 1))
    mmp = res.state["enrollments"][-1]
    assert (mmp["status"], mmp["end"], mmp["disenrollment_reason"]) == ("ACTIVE", "2026-02-28", "63")
    assert res.state["mmp_opt_out"] == {"date": "2026-02-03", "tracking_id": "OPT-1"}
    assert res.state["passive_years"] == [Y]  # it was a passive enrollment of 2026 all the same
    # the member leaves the MMP: not in it on March 1
    from processors.member import enrollment_on
    assert enrollment_on(res.state, D(2026, 3, 1)) is None
    # an opt-out on the last evening of a month (Eastern) ends that month
    late = apply_enrollment(enrolled, opt_out_event(submitted_at=eastern(2026, 2, 28, 23, 30)), PLANS)
    assert late.state["enrollments"][-1]["end"] == "2026-02-28"


def test_tc83_after_the_start_never_says_one_thing_and_does_another():
    # a second TC 83 after the enrollment has ended (or one naming an MMP the member is not in) only records
    enrolled = apply_enrollment(member(), passive_event(), PLANS).state
    out = apply_enrollment(enrolled, opt_out_event(submitted_at=eastern(2026, 2, 3)), PLANS).state
    again = apply_enrollment(out, opt_out_event(tracking_id="OPT-2", submitted_at=eastern(2026, 3, 10)), PLANS)
    reply = only(again, "013")
    assert reply["disenrollment_reason"] is None and reply["effective_date"] == D(Y, 1, 1)
    assert again.state["enrollments"] == out["enrollments"]


# ------------------------------------------------------------------ properties

@pytest.mark.parametrize("ev", [
    passive_event(), passive_event(enrollment_source="B"), passive_event(submitted_at=eastern(2025, 10, 28)),
    cancel_event(), opt_out_event(),
])
def test_no_mutation_and_determinism(ev):
    enrolled = apply_enrollment(member(), passive_event(), PLANS).state
    for st in (member(), enrolled):
        frozen = copy.deepcopy(st)
        a = apply_enrollment(st, ev, PLANS)
        b = apply_enrollment(copy.deepcopy(st), dict(ev), PLANS)
        assert st == frozen and a == b
        assert MBI in {o.value["mbi"] for o in a.outputs}
