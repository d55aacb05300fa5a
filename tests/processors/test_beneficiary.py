"""apply_beneficiary_update: profile storage, out-of-order, state codes."""
from __future__ import annotations

import copy

import pytest

from processors.beneficiary import apply_beneficiary_update
from processors.model import Rejected
from tests.processors.builders import MBI, D, at, beneficiary_event, make_enrollment, make_member


def test_creates_member_and_stores_profile_with_iso_dates():
    r = apply_beneficiary_update(None, beneficiary_event(date_of_death=D(2026, 2, 3)))
    assert r.outputs == []
    p = r.state["profile"]
    assert r.state["mbi"] == MBI and r.state["enrollments"] == []
    assert p["birth_date"] == "1950-03-02" and p["part_d_eligible_start"] == "2015-03-01"
    assert p["date_of_death"] == "2026-02-03" and p["medicaid_end"] is None
    assert p["medicaid_status"] == "FULL_BENEFIT_DUAL" and p["opt_out_passive_enrollment"] is True
    assert p["event_time"] == "2025-06-01T12:00:00+00:00" and p["state_code"] == "OH"


def test_keeps_the_rest_of_the_state_and_does_not_mutate():
    m = make_member(enrollments=[make_enrollment()])
    frozen = copy.deepcopy(m)
    r = apply_beneficiary_update(m, beneficiary_event(state_code="PR", event_time=at(2026, 1, 1)))
    assert m == frozen
    assert r.state["enrollments"] == m["enrollments"] and r.state["profile"]["state_code"] == "PR"


def test_older_update_is_ignored():
    newer = apply_beneficiary_update(None, beneficiary_event(last_name="NEW", event_time=at(2025, 7, 1))).state
    r = apply_beneficiary_update(newer, beneficiary_event(last_name="OLD", event_time=at(2025, 6, 1)))
    assert r == (None, [])
    same_time = apply_beneficiary_update(newer, beneficiary_event(last_name="AGAIN", event_time=at(2025, 7, 1)))
    assert same_time.state["profile"]["last_name"] == "AGAIN"


@pytest.mark.parametrize("code", ["XX", "", None, "oh", "ZZ"])
def test_invalid_state_code_rejected(code):
    with pytest.raises(Rejected) as exc:
        apply_beneficiary_update(None, beneficiary_event(state_code=code))
    assert exc.value.error_code == "INVALID_CODE"


@pytest.mark.parametrize("code", ["DC", "PR", "VI", "GU", "AS", "MP", "WY", "AK"])
def test_valid_state_codes(code):
    assert apply_beneficiary_update(None, beneficiary_event(state_code=code)).state["profile"]["state_code"] == code


def test_invalid_mbi_rejected():
    with pytest.raises(Rejected) as exc:
        apply_beneficiary_update(None, beneficiary_event(mbi="123"))
    assert exc.value.error_code == "INVALID_MBI"
