"""Opt-in, preliminary/final lists, first and second run (processors/state_lists.py, seed 000)."""
from __future__ import annotations

import copy
import datetime as dt

import pytest

from processors import state_lists as sl
from processors.dates import EASTERN
from processors.enrollment import apply_enrollment
from processors.model import Rejected
from processors.reassignment import run_member
from tests.processors.cycle_builders import (
    BENCHMARKS,
    MBI,
    SEED,
    Y,
    member,
    plan,
    standard_plans,
)

UTC = dt.timezone.utc
D = dt.date
PLANS = standard_plans(mmp=plan("H9001", "001", "0.00", plan_type="MMP"))
PRELIM_AT = dt.datetime(2025, 9, 5, 14, tzinfo=UTC)
RUN_AT = dt.datetime(2025, 10, 28, 14, tzinfo=UTC)
SECOND_AT = dt.datetime(2025, 11, 20, 14, tzinfo=UTC)
MD = frozenset({"MD"})


def eastern(y, m, d, h=12, mi=0, s=0):
    return dt.datetime(y, m, d, h, mi, s, tzinfo=EASTERN).astimezone(UTC)


def mover(**kw):
    """Premium case: S1001-001 (38.00 > 35.00), source A, LIS 100, lives in MD (region 05)."""
    kw.setdefault("first_name", "ANA")
    kw.setdefault("ssn", "900000001")
    kw.setdefault("middle_initial", "Q")
    return member(**kw)


def cmd(command="STATE_PASSIVE_OPT_IN", state_code="MD", as_of=None, plan_year=Y):
    return {"command": command, "plan_year": plan_year, "as_of": as_of or dt.datetime(2025, 8, 1, 14, tzinfo=UTC),
            "reference_month": None, "state_code": state_code, "seed": None}


def prelim(state, states=MD):
    return sl.preliminary(state, PLANS, BENCHMARKS, Y, SEED, states, PRELIM_AT)


def passive_event(**kw):
    submitted = kw.pop("submitted_at", eastern(2025, 10, 6, 9))
    ev = {
        "tracking_id": "PAS-1", "correlation_id": None, "transaction_code": 61, "mbi": MBI,
        "contract_id": "H9001", "pbp_id": "001", "election_type": "S", "enrollment_source": "J",
        "sep_reason": None, "disenrollment_reason": None, "application_date": submitted.astimezone(EASTERN).date(),
        "effective_date": D(Y, 1, 1), "submitted_at": submitted, "submitter_id": "MD",
    }
    ev.update(kw)
    return ev


def listed(**kw):
    return prelim(mover(**kw)).state


def trcs(outputs):
    return [o.value["transaction_reply_code"] for o in outputs if o.topic == "trr-replies"]


# ------------------------------------------------------------------ opt-in

def test_opt_in_adds_the_state_sorted_and_idempotent():
    key, states = sl.apply_opt_in(None, cmd())
    assert (key, states) == ("2026", ["MD"])
    key, states = sl.apply_opt_in(states, cmd(state_code="CA"))
    assert states == ["CA", "MD"]
    assert sl.apply_opt_in(states, cmd())[1] == ["CA", "MD"]
    assert sl.opted_in_states({"2026": states}, 2026) == frozenset({"CA", "MD"})
    assert sl.opted_in_states({"2026": states}, 2027) == frozenset()
    assert sl.opted_in_states(None, 2026) == frozenset()


@pytest.mark.parametrize("as_of,ok", [
    (dt.datetime(2025, 8, 19, 3, 59, 59, tzinfo=UTC), True),   # Aug 18 23:59:59 EDT
    (dt.datetime(2025, 8, 19, 4, 0, 0, tzinfo=UTC), False),    # Aug 19 00:00 EDT
    (dt.datetime(2025, 3, 1, tzinfo=UTC), True),
    (dt.datetime(2024, 8, 19, 12, tzinfo=UTC), True),           # a year early is fine
])
def test_opt_in_deadline_august_18_eastern(as_of, ok):
    if ok:
        assert sl.apply_opt_in([], cmd(as_of=as_of))[1] == ["MD"]
    else:
        with pytest.raises(Rejected) as exc:
            sl.apply_opt_in([], cmd(as_of=as_of))
        assert exc.value.error_code == "OPT_IN_AFTER_DEADLINE"


@pytest.mark.parametrize("code", [None, "", "PR", "XX", "md"])
def test_opt_in_needs_a_state(code):
    with pytest.raises(Rejected) as exc:
        sl.apply_opt_in([], cmd(state_code=code))
    assert exc.value.error_code == "INVALID_STATE_CODE"


# ------------------------------------------------------------------ preliminary list

def test_preliminary_lists_a_mover_in_an_opted_in_state():
    m = mover()
    frozen = copy.deepcopy(m)
    res = prelim(m)
    assert m == frozen
    assert res.state["preliminary_years"] == [Y]
    [out] = res.outputs
    assert (out.topic, out.key) == ("state-reassignment-lists", "MD")
    assert out.value == {
        "list_type": "PRELIMINARY", "plan_year": Y, "state_code": "MD", "mbi": MBI, "ssn": "900000001",
        "first_name": "ANA", "last_name": "DOE", "middle_initial": "Q", "birth_date": D(1950, 3, 2), "sex": "F",
        "reason": None,
    }


def test_preliminary_rerun_resends_without_state_change():
    st = listed()
    again = prelim(st)
    assert again.state is None and [o.value["list_type"] for o in again.outputs] == ["PRELIMINARY"]


def test_preliminary_skips_other_states_and_non_movers():
    assert prelim(mover(state_code="DE")) == (None, [])              # region 05, not opted in
    assert prelim(mover(), states=frozenset()) == (None, [])
    assert prelim(mover(contract_id="S1001", pbp_id="002")) == (None, [])   # below the benchmark
    assert prelim(mover(source="B")) == (None, [])                   # chooser: tan letter, not moved
    assert prelim(mover(passive_years=[Y])) == (None, [])
    no_target = sl.preliminary(mover(), standard_plans(same_parent_target=plan("S1001", "002", "99.00"),
                                                       other_target=plan("S2002", "001", "99.00", parent="ORG2")),
                               BENCHMARKS, Y, SEED, MD, PRELIM_AT)
    assert no_target == (None, [])
    assert prelim(mover(no_profile=True)) == (None, [])


def test_non_renewal_mover_is_listed():
    plans = standard_plans(losing=plan("S1001", "001", "38.00", status="NON_RENEWING"))
    res = sl.preliminary(mover(source="B", level="025"), plans, BENCHMARKS, Y, SEED, MD, PRELIM_AT)
    assert len(res.outputs) == 1 and res.state["preliminary_years"] == [Y]


# ------------------------------------------------------------------ first run

def test_first_run_moves_a_listed_member_without_passive_enrollment():
    st = listed()
    res = sl.first_run(st, PLANS, BENCHMARKS, Y, SEED, RUN_AT)
    assert res == run_member(st, PLANS, BENCHMARKS, Y, SEED, RUN_AT)
    assert trcs(res.outputs) == ["212", "014"] and res.state["reassigned_years"] == [Y]


def test_first_run_skips_the_passively_enrolled():
    st = apply_enrollment(listed(), passive_event(), PLANS).state
    assert sl.first_run(st, PLANS, BENCHMARKS, Y, SEED, RUN_AT) == (None, [])


def test_first_run_before_the_window_closes_leaves_listed_members_for_the_second_run():
    st = listed()
    early = dt.datetime(2025, 10, 27, 21, 0, 0, tzinfo=UTC) - dt.timedelta(microseconds=1)
    assert sl.first_run(st, PLANS, BENCHMARKS, Y, SEED, early) == (None, [])
    at_close = dt.datetime(2025, 10, 27, 21, 0, 0, tzinfo=UTC)
    assert trcs(sl.first_run(st, PLANS, BENCHMARKS, Y, SEED, at_close).outputs) == ["212", "014"]
    # members not on the list run as usual at any time
    assert trcs(sl.first_run(mover(), PLANS, BENCHMARKS, Y, SEED, early).outputs) == ["212", "014"]
    assert trcs(sl.second_run(st, PLANS, BENCHMARKS, Y, SEED, SECOND_AT).outputs) == ["212", "014"]


# ------------------------------------------------------------------ final lists

def _lists(res):
    return [(o.key, o.value["state_code"], o.value["list_type"], o.value["mbi"]) for o in res.outputs]


def test_final_list_every_reassigned_member_to_their_state_and_the_national_list():
    # Issue 13 item 2: seed 000, CMS "routinely shares with states a file of all individuals who received
    # the blue reassignment letter"; seed 001 sends the lists to States and 1-800-MEDICARE. Every state with
    # a reassigned resident gets its final and updated final list, opted in or not, plus one national list
    # (state code "US") for the call centre.
    moved = sl.first_run(listed(), PLANS, BENCHMARKS, Y, SEED, RUN_AT).state
    res = sl.final_list(moved, Y, RUN_AT, "FINAL", MD)
    # issue 22: the entries are recorded (a change of mind withdraws them); a re-run re-sends them, state unchanged
    assert res.state["issued"][str(Y)]["lists"] == [["FINAL", "MD"], ["FINAL", "US"]]
    assert sl.final_list(res.state, Y, RUN_AT, "FINAL", MD) == (None, res.outputs)
    assert _lists(res) == [("MD", "MD", "FINAL", MBI), ("US", "US", "FINAL", MBI)]
    assert _lists(sl.final_list(moved, Y, RUN_AT, "UPDATED_FINAL", MD)) == [
        ("MD", "MD", "UPDATED_FINAL", MBI), ("US", "US", "UPDATED_FINAL", MBI)]
    # whether or not any state opted in
    assert _lists(sl.final_list(moved, Y, RUN_AT, "FINAL", frozenset())) == _lists(res)
    de = sl.first_run(mover(state_code="DE"), PLANS, BENCHMARKS, Y, SEED, RUN_AT).state
    assert _lists(sl.final_list(de, Y, RUN_AT, "FINAL", MD)) == [("DE", "DE", "FINAL", MBI), ("US", "US", "FINAL", MBI)]
    # not reassigned for that year: nothing
    assert sl.final_list(moved, Y + 1, RUN_AT, "FINAL", MD) == (None, [])
    assert sl.final_list(listed(), Y, RUN_AT, "FINAL", MD) == (None, [])
    with pytest.raises(ValueError):
        sl.final_list(moved, Y, RUN_AT, "PRELIMINARY", MD)


def test_final_lists_say_where_the_member_went_with_the_lis_levels_and_the_address():
    # Issue 23 item 4. Seed 000: states see the reassigned "via the Auto Assignment Address Notification File (aka,
    # PDP Notification File)" (the GAIN/LOSS layout: plans, effective date, LIS levels, address), and seed 001 sends
    # the lists "to States, 1-800-MEDICARE" to answer inquiries. The lists used to carry identity only.
    address = dict(mailing_address_line1="12 HARBOR ST", mailing_address_line2=None, mailing_city="BALTIMORE",
                   mailing_state_code="MD", mailing_zip_code="21201")
    moved = sl.first_run(mover(**address), PLANS, BENCHMARKS, Y, SEED, RUN_AT).state
    want = {"losing_contract_id": "S1001", "losing_pbp_id": "001", "gaining_contract_id": "S1001",
            "gaining_pbp_id": "002", "effective_date": D(Y, 1, 1), "lis_premium_subsidy_level": "100",
            "lis_copay_level": "1", **address}
    for list_type in ("FINAL", "UPDATED_FINAL"):
        for entry in sl.final_list(moved, Y, RUN_AT, list_type, MD).outputs:  # the state's and the national one
            assert {k: entry.value[k] for k in want} == want
            assert (entry.value["mbi"], entry.value["ssn"], entry.value["first_name"]) == (MBI, "900000001", "ANA")
    # a member who re-enrolls in the losing plan after the final list is not reassigned (issue 22): the entries
    # already issued are withdrawn, naming the same plans, and later lists leave the member out
    listed_state = sl.final_list(moved, Y, RUN_AT, "FINAL", MD).state
    res = apply_enrollment(listed_state, passive_event(tracking_id="RE-1", contract_id="S1001", pbp_id="001",
                                                       enrollment_source="B", submitter_id="S1001", election_type="U",
                                                       application_date=D(2025, 11, 2),
                                                       submitted_at=eastern(2025, 11, 2)), PLANS)
    assert res.state["enrollments"][-1]["contract_id"] == "S1001"
    [entry, _] = [o for o in res.outputs if o.topic == "state-reassignment-lists"]
    assert (entry.value["list_type"], entry.value["losing_pbp_id"], entry.value["gaining_pbp_id"]) == (
        "FINAL_WITHDRAWN", "001", "002")
    assert sl.final_list(res.state, Y, RUN_AT, "UPDATED_FINAL", MD).outputs == []
    # the preliminary list stays what seed 000 lists: identity only
    [pre] = prelim(mover(**address)).outputs
    assert all(pre.value.get(k) is None for k in want)


def test_lists_go_to_the_state_whose_file_submitted_the_member():
    # Issue 13 item 6: the member's state is the state file's (VA here, address MD), as for the region.
    va_plans = standard_plans(va=plan("S7007", "001", "20.00", region="07", parent="ORG7"))
    m = mover(state_code="MD", medicaid_state_code="VA")
    moved = sl.first_run(m, va_plans, {"05": BENCHMARKS["05"], "07": BENCHMARKS["05"]}, Y, SEED, RUN_AT).state
    assert [(k, c) for k, c, _, _ in _lists(sl.final_list(moved, Y, RUN_AT, "FINAL", MD))] == [("VA", "VA"), ("US", "US")]
    # the preliminary list: only for opted-in states, judged on that same state
    assert sl.preliminary(m, va_plans, {"05": BENCHMARKS["05"], "07": BENCHMARKS["05"]}, Y, SEED, MD,
                          PRELIM_AT) == (None, [])


# ------------------------------------------------------------------ second run

def cancel_event(**kw):
    ev = passive_event(transaction_code=82, tracking_id="CAN-1", submitted_at=eastern(2025, 11, 5, 10))
    ev.update(kw)
    return ev


def test_second_run_reassigns_a_listed_member_who_cancelled():
    st = apply_enrollment(listed(), passive_event(), PLANS).state
    assert sl.first_run(st, PLANS, BENCHMARKS, Y, SEED, RUN_AT) == (None, [])
    cancelled = apply_enrollment(st, cancel_event(), PLANS).state
    res = sl.second_run(cancelled, PLANS, BENCHMARKS, Y, SEED, SECOND_AT)
    assert trcs(res.outputs) == ["212", "014"]
    gain, loss = (o.value for o in res.outputs if o.topic == "trr-replies")
    assert (gain["contract_id"], gain["pbp_id"], gain["effective_date"]) == ("S1001", "002", D(Y, 1, 1))
    assert (loss["contract_id"], loss["pbp_id"]) == ("S1001", "001")
    assert gain["file_name"] == "P.RS1001.SPCLTRD.D251120.T1400000.01"
    letter = next(o.value for o in res.outputs if o.topic == "beneficiary-notices")
    assert letter["publication"] == "11209" and letter["mail_by"] == D(2025, 12, 4)
    assert res.state["reassigned_years"] == [Y]
    assert sl.final_list(res.state, Y, SECOND_AT, "UPDATED_FINAL", MD).outputs[0].value["mbi"] == MBI


def test_second_run_leaves_the_still_passive_and_the_already_moved():
    passive_st = apply_enrollment(listed(), passive_event(), PLANS).state
    assert sl.second_run(passive_st, PLANS, BENCHMARKS, Y, SEED, SECOND_AT) == (None, [])
    moved = sl.first_run(listed(), PLANS, BENCHMARKS, Y, SEED, RUN_AT).state
    assert sl.second_run(moved, PLANS, BENCHMARKS, Y, SEED, SECOND_AT) == (None, [])


# Issue 22 item 9. Seed 000's process summary: "November - CMS processes a second reassignment of any
# remaining LIS beneficiaries into a new PDP with a January 1 enrollment effective date". Not only listed
# members and cancelled passive enrollments: anyone the first run could not move then.

def test_second_run_moves_a_member_whose_first_run_found_no_target():
    no_target = {k: v for k, v in PLANS.items() if not k.startswith(("S1001-002", "S2002-001"))}
    first = sl.first_run(mover(state_code="DE"), no_target, BENCHMARKS, Y, SEED, RUN_AT)
    [stuck] = first.outputs
    assert (stuck.value["notice_type"], stuck.value["reason"]) == ("REASSIGNMENT_NOT_POSSIBLE", "NO_ELIGIBLE_TARGET")
    # a plan at or below the benchmark is filed in November: the second run moves the member
    res = sl.second_run(first.state, PLANS, BENCHMARKS, Y, SEED, SECOND_AT)
    assert trcs(res.outputs) == ["212", "014"]
    notices = [(o.value["notice_type"], o.value["withdrawn_notice_id"]) for o in res.outputs
               if o.topic == "beneficiary-notices"]
    assert notices == [("REASSIGNMENT_NOT_POSSIBLE_WITHDRAWN", stuck.value["notice_id"]), ("REASSIGNMENT_PREMIUM", None)]
    assert res.state["reassigned_years"] == [Y]
    # still no target: the second run says nothing again
    assert sl.second_run(first.state, no_target, BENCHMARKS, Y, SEED, SECOND_AT) == (None, [])


def test_second_run_moves_a_member_whose_first_run_found_no_benchmark():
    # a non-renewal with no benchmark for the member's region at the first run (none calculated yet):
    # the second run uses the benchmarks calculated since
    ending = dict(PLANS, **{"S1001-001-2026": plan("S1001", "001", "38.00", status="NON_RENEWING")})
    first = sl.first_run(mover(), ending, {}, Y, SEED, RUN_AT)
    assert [(o.value["notice_type"], o.value["reason"]) for o in first.outputs] == [
        ("REASSIGNMENT_NOT_POSSIBLE", "NO_BENCHMARK")]
    res = sl.second_run(first.state, ending, BENCHMARKS, Y, SEED, SECOND_AT)
    assert trcs(res.outputs) == ["212", "014"]


def test_second_run_moves_a_member_whose_next_year_lis_was_confirmed_after_the_first_run():
    from tests.processors.cycle_builders import lis

    ending = mover(lis_periods=[lis("100", end="2025-12-31")])
    first = sl.first_run(ending, PLANS, BENCHMARKS, Y, SEED, RUN_AT)
    [told] = first.outputs
    assert told.value["notice_type"] == "LIS_ENDS_NEXT_YEAR"
    confirmed = dict(first.state, lis=first.state["lis"] + [lis("100", start="2026-01-01")])
    res = sl.second_run(confirmed, PLANS, BENCHMARKS, Y, SEED, SECOND_AT)
    assert trcs(res.outputs) == ["212", "014"]
    withdrawn = [o.value for o in res.outputs if o.value.get("notice_type") == "LIS_ENDS_NEXT_YEAR_WITHDRAWN"]
    assert [(w["withdrawn_notice_id"], w["reason"]) for w in withdrawn] == [
        (told.value["notice_id"], "LIS_CONTINUES_NEXT_YEAR")]


def test_second_run_repeats_nothing_for_those_already_told():
    chooser = sl.first_run(mover(source="B"), PLANS, BENCHMARKS, Y, SEED, RUN_AT)
    assert [o.value["notice_type"] for o in chooser.outputs] == ["CHOOSER"]
    assert sl.second_run(chooser.state, PLANS, BENCHMARKS, Y, SEED, SECOND_AT) == (None, [])
    # a member the first run never saw (e.g. enrolled since) who would move: moved now
    assert trcs(sl.second_run(mover(state_code="DE"), PLANS, BENCHMARKS, Y, SEED, SECOND_AT).outputs) == ["212", "014"]


def test_second_run_catches_a_cancelled_passive_member_who_was_not_listed():
    de = mover(state_code="DE")
    st = apply_enrollment(de, passive_event(submitter_id="DE"), PLANS).state
    cancelled = apply_enrollment(st, cancel_event(submitter_id="DE"), PLANS).state
    assert trcs(sl.second_run(cancelled, PLANS, BENCHMARKS, Y, SEED, SECOND_AT).outputs) == ["212", "014"]


def test_tc83_opt_out_also_feeds_the_second_run():
    st = apply_enrollment(listed(), passive_event(), PLANS).state
    opted = apply_enrollment(st, cancel_event(transaction_code=83, tracking_id="OPT-1"), PLANS).state
    assert trcs(sl.second_run(opted, PLANS, BENCHMARKS, Y, SEED, SECOND_AT).outputs) == ["212", "014"]


# ------------------------------------------------------------------ dispatch

def test_run_cycle_member_dispatch():
    kw = dict(plans=PLANS, benchmarks=BENCHMARKS, plan_year=Y, seed=SEED, opted_in_states=MD)
    m = mover()
    assert sl.run_cycle_member("PRELIMINARY_REASSIGNMENT_LIST", m, as_of=PRELIM_AT, **kw) == prelim(m)
    st = listed()
    assert sl.run_cycle_member("REASSIGNMENT_RUN", st, as_of=RUN_AT, **kw) == sl.first_run(
        st, PLANS, BENCHMARKS, Y, SEED, RUN_AT)
    moved = sl.first_run(st, PLANS, BENCHMARKS, Y, SEED, RUN_AT).state
    assert sl.run_cycle_member("FINAL_REASSIGNMENT_LIST", moved, as_of=RUN_AT, **kw).outputs[0].value["list_type"] == "FINAL"
    assert sl.run_cycle_member("UPDATED_FINAL_REASSIGNMENT_LIST", moved, as_of=RUN_AT,
                               **kw).outputs[0].value["list_type"] == "UPDATED_FINAL"
    assert sl.run_cycle_member("SECOND_REASSIGNMENT_RUN", moved, as_of=SECOND_AT, **kw) == (None, [])

    class Cmd:  # an Enum-like symbol as fastavro may give it
        value = "FINAL_REASSIGNMENT_LIST"
    assert sl.run_cycle_member(Cmd(), moved, as_of=RUN_AT, **kw).outputs
    with pytest.raises(ValueError):
        sl.run_cycle_member("CALCULATE_BENCHMARKS", m, as_of=RUN_AT, **kw)
    assert sl.MEMBER_COMMANDS == {"PRELIMINARY_REASSIGNMENT_LIST", "REASSIGNMENT_RUN", "FINAL_REASSIGNMENT_LIST",
                                  "SECOND_REASSIGNMENT_RUN", "UPDATED_FINAL_REASSIGNMENT_LIST",
                                  "REASSIGNMENT_FORMULARY_NOTICES", "YEAR_END"}  # issue 22


def test_everything_is_deterministic():
    a = [prelim(mover()), sl.first_run(listed(), PLANS, BENCHMARKS, Y, SEED, RUN_AT)]
    b = [prelim(mover()), sl.first_run(listed(), PLANS, BENCHMARKS, Y, SEED, RUN_AT)]
    assert a == b


def test_run_cycle_member_passes_last_years_benchmarks_to_the_runs():
    # Issue 13 item 11 / issue 22 item 1: a chooser whose plan went 40.00 -> 38.00 while the benchmark went
    # 39.00 -> 35.00 pays 1.00 in Y-1 and 3.00 in Y: tan letter (reason CHOOSER). With a Y-1 benchmark of
    # 34.00 the liability falls 6.00 -> 3.00: no letter. Without the Y-1 benchmarks the comparison cannot be
    # made: the letter goes out and says so.
    from decimal import Decimal

    plans = standard_plans(last_year=plan("S1001", "001", "40.00", year=Y - 1))
    chooser = member(source="B")
    kw = dict(plans=plans, benchmarks=BENCHMARKS, plan_year=Y, seed=SEED, as_of=RUN_AT)
    res = sl.run_cycle_member(sl.REASSIGNMENT_RUN, chooser, previous_benchmarks={"05": Decimal("39.00")}, **kw)
    assert [(o.value["publication"], o.value["reason"]) for o in res.outputs] == [("11267", "CHOOSER")]
    res = sl.run_cycle_member(sl.REASSIGNMENT_RUN, chooser, previous_benchmarks={"05": Decimal("34.00")}, **kw)
    assert res.outputs == []
    res = sl.run_cycle_member(sl.REASSIGNMENT_RUN, chooser, **kw)
    assert [o.value["reason"] for o in res.outputs] == ["LIABILITY_NOT_COMPARED_NO_PRIOR_BENCHMARK"]
