"""apply_beneficiary_update: profile storage, out-of-order, state codes."""
from __future__ import annotations

import copy

import pytest

from processors.beneficiary import apply_beneficiary_update
from processors.model import Rejected
from tests.processors.builders import (
    MBI,
    D,
    at,
    beneficiary_event,
    make_enrollment,
    make_member,
)


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


def test_state_file_and_mailing_address_are_stored():
    # Issue 13 items 6 and 7: the state whose Medicaid file submitted the person and the mailing address.
    r = apply_beneficiary_update(None, beneficiary_event(
        state_code="MD", medicaid_state_code="VA", mailing_address_line1="12 ELM ST", mailing_address_line2=None,
        mailing_city="BALTIMORE", mailing_state_code="MD", mailing_zip_code="21201"))
    p = r.state["profile"]
    assert (p["medicaid_state_code"], p["state_code"]) == ("VA", "MD")
    assert (p["mailing_address_line1"], p["mailing_address_line2"], p["mailing_city"], p["mailing_state_code"],
            p["mailing_zip_code"]) == ("12 ELM ST", None, "BALTIMORE", "MD", "21201")
    # an older producer sends none of them
    old = {k: v for k, v in beneficiary_event().items() if not k.startswith(("mailing_", "medicaid_state"))}
    p = apply_beneficiary_update(None, old).state["profile"]
    assert p["medicaid_state_code"] is None and p["mailing_city"] is None


@pytest.mark.parametrize("code", ["XX", "oh", "ZZ"])
def test_invalid_medicaid_state_code_rejected(code):
    with pytest.raises(Rejected) as exc:
        apply_beneficiary_update(None, beneficiary_event(medicaid_state_code=code))
    assert exc.value.error_code == "INVALID_CODE"


def test_blank_medicaid_state_code_is_none():
    assert apply_beneficiary_update(None, beneficiary_event(medicaid_state_code=" ")).state["profile"][
        "medicaid_state_code"] is None
