"""apply_lis_change: UPSERT/REMOVE, no overlap (seed 002), TRC 121/223."""
from __future__ import annotations

import copy
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.lis import apply_lis_change
from processors.model import Rejected
from tests.processors.builders import (
    MBI,
    D,
    at,
    lis_event,
    make_enrollment,
    make_lis,
    make_member,
    trcs,
)


def test_upsert_unknown_member_creates_state_without_reply():
    r = apply_lis_change(None, lis_event())
    assert r.outputs == []
    assert r.state["mbi"] == MBI and r.state["profile"] is None
    assert r.state["lis"] == [make_lis("2026-01-01", None, "L1", "100", "1", "D")]


def test_121_sent_to_plan_in_force_on_period_start():
    m = make_member(enrollments=[make_enrollment("S1234", "001", "2025-01-01", end="2026-02-28"),
                                 make_enrollment("S5678", "002", "2026-03-01")])
    r = apply_lis_change(m, lis_event(start_date=D(2026, 1, 1), end_date=D(2026, 12, 31), copay_level="2"))
    assert trcs(r.outputs) == ["121"]
    v = r.outputs[0].value
    assert r.outputs[0].key == "S1234" and v["pbp_id"] == "001"
    assert v["transaction_code"] == 1 and v["trc_type"] == "INFORMATIONAL"
    assert (v["lis_premium_subsidy_level"], v["lis_copay_level"], v["lis_subsidy_source"]) == ("100", "2", "D")
    assert v["lis_period_start"] == D(2026, 1, 1) and v["lis_period_end"] == D(2026, 12, 31)
    assert v["cms_processing_timestamp"] == at(2025, 12, 1)


def test_121_falls_back_to_open_enrollment():
    m = make_member(enrollments=[make_enrollment("S5678", "002", "2026-06-01")])
    r = apply_lis_change(m, lis_event(start_date=D(2026, 1, 1)))
    assert r.outputs[0].key == "S5678"


def test_same_change_id_replaces():
    m = make_member(lis=[make_lis("2026-01-01", None, "L1")])
    r = apply_lis_change(m, lis_event(change_id="L1", start_date=D(2026, 2, 1), premium_subsidy_level="050"))
    assert [(p["change_id"], p["start"], p["premium_subsidy_level"]) for p in r.state["lis"]] == [("L1", "2026-02-01", "050")]


def test_same_start_replaces():
    m = make_member(lis=[make_lis("2026-01-01", None, "L1")])
    r = apply_lis_change(m, lis_event(change_id="L2", start_date=D(2026, 1, 1), copay_level="3"))
    assert [(p["change_id"], p["copay_level"]) for p in r.state["lis"]] == [("L2", "3")]


def test_overlap_rejected():
    m = make_member(lis=[make_lis("2026-01-01", "2026-06-30", "L1")])
    with pytest.raises(Rejected) as exc:
        apply_lis_change(m, lis_event(change_id="L2", start_date=D(2026, 6, 1), end_date=None))
    assert exc.value.error_code == "LIS_PERIOD_OVERLAP"
    ok = apply_lis_change(m, lis_event(change_id="L2", start_date=D(2026, 7, 1)))
    assert [p["change_id"] for p in ok.state["lis"]] == ["L1", "L2"]


@pytest.mark.parametrize("field,value", [("premium_subsidy_level", "060"), ("copay_level", "7"),
                                         ("subsidy_source", "X"), ("premium_subsidy_level", None)])
def test_invalid_codes_rejected(field, value):
    with pytest.raises(Rejected) as exc:
        apply_lis_change(None, lis_event(**{field: value}))
    assert exc.value.error_code == "INVALID_CODE"


def test_end_before_start_rejected():
    with pytest.raises(Rejected) as exc:
        apply_lis_change(None, lis_event(start_date=D(2026, 5, 1), end_date=D(2026, 4, 30)))
    assert exc.value.error_code == "INVALID_PERIOD"


def test_invalid_mbi_rejected():
    with pytest.raises(Rejected) as exc:
        apply_lis_change(None, lis_event(mbi="BAD"))
    assert exc.value.error_code == "INVALID_MBI"


def test_223_remove_by_change_id_and_by_start():
    m = make_member(enrollments=[make_enrollment()], lis=[make_lis("2026-01-01", "2026-06-30", "L1", "075", "2"),
                                                          make_lis("2026-07-01", None, "L2")])
    r = apply_lis_change(m, lis_event("REMOVE", change_id="L1", start_date=None))
    assert trcs(r.outputs) == ["223"] and [p["change_id"] for p in r.state["lis"]] == ["L2"]
    v = r.outputs[0].value
    assert v["lis_premium_subsidy_level"] == "075" and v["lis_period_end"] == D(2026, 6, 30)
    r2 = apply_lis_change(m, lis_event("REMOVE", change_id="other", start_date=D(2026, 7, 1)))
    assert [p["change_id"] for p in r2.state["lis"]] == ["L1"]


def test_remove_of_missing_period_is_noop():
    assert apply_lis_change(make_member(), lis_event("REMOVE")) == (None, [])


def test_determinism_and_no_mutation():
    m = make_member(enrollments=[make_enrollment()], lis=[make_lis("2025-01-01", "2025-12-31", "L0")])
    frozen = copy.deepcopy(m)
    a = apply_lis_change(m, lis_event())
    b = apply_lis_change(m, lis_event())
    assert a == b and m == frozen
    # a later change with the same change_id gets a different cms_tracking_id
    c = apply_lis_change(m, lis_event(event_time=at(2025, 12, 2)))
    assert c.outputs[0].value["cms_tracking_id"] != a.outputs[0].value["cms_tracking_id"]


_day = st.integers(min_value=0, max_value=120).map(lambda n: dt.date(2026, 1, 1) + dt.timedelta(days=n))
_upsert = st.tuples(st.sampled_from(["A", "B", "C", "D"]), _day, st.one_of(st.none(), st.integers(0, 60)))


@settings(max_examples=200, deadline=None)
@given(st.lists(_upsert, max_size=12))
def test_periods_never_overlap_after_any_upserts(ops):
    state = None
    for change_id, start, length in ops:
        end = None if length is None else start + dt.timedelta(days=length)
        try:
            state = apply_lis_change(state, lis_event(change_id=change_id, start_date=start, end_date=end)).state
        except Rejected as exc:
            assert exc.error_code == "LIS_PERIOD_OVERLAP"
        if state is None:
            continue
        periods = state["lis"]
        assert [p["start"] for p in periods] == sorted(p["start"] for p in periods)
        for a, b in zip(periods, periods[1:]):
            assert a["end"] is not None and a["end"] < b["start"]
        assert len({p["change_id"] for p in periods}) == len(periods)


def test_an_upstream_period_replaces_a_deemed_one_it_overlaps():
    deemed = make_lis(start="2024-01-01", end="2025-12-31", level="100", source="D")
    deemed["change_id"] = "DEEMED-ABC"
    r = apply_lis_change(make_member(lis=[deemed]), lis_event(start_date=D(2025, 1, 1), end_date=None))
    assert [p["change_id"] for p in r.state["lis"]] == [lis_event()["change_id"]]


def test_an_upstream_period_still_may_not_overlap_another_upstream_one():
    other = make_lis(start="2024-01-01", end="2025-12-31", change_id="OTHER", level="100", source="A")
    with pytest.raises(Rejected) as exc:
        apply_lis_change(make_member(lis=[other]), lis_event(start_date=D(2025, 1, 1), end_date=None))
    assert exc.value.error_code == "LIS_PERIOD_OVERLAP"
