"""apply_plan_update / plan_key."""
from __future__ import annotations

from decimal import Decimal

import pytest

from processors.model import Rejected
from processors.plans import apply_plan_update, is_stale, plan_key, plan_premium
from tests.processors.builders import at, plan_event


def test_plan_key():
    assert plan_key("S1234", "001", 2026) == "S1234-001-2026"


def test_apply_plan_update_state():
    key, state = apply_plan_update(plan_event())
    assert key == "S1234-001-2026"
    assert state["basic_premium"] == "31.50" and state["region"] == "14"
    assert state["plan_type"] == "PDP" and state["renewal_status"] == "RENEWING"
    assert state["event_time"] == "2025-08-01T12:00:00+00:00" and state["plan_year"] == 2026
    assert plan_premium(state) == Decimal("31.50")


def test_reduced_counties_are_kept_and_absent_means_unknown():
    # Issue 13 item 3: PlanYearUpdate.reduced_counties (optional): stored trimmed; absent or null -> None.
    _, state = apply_plan_update(plan_event(plan_type="MAPD", renewal_status="SERVICE_AREA_REDUCTION",
                                            reduced_counties=[" 24510", "24005 "]))
    assert state["reduced_counties"] == ["24510", "24005"]
    assert apply_plan_update(plan_event())[1]["reduced_counties"] is None
    assert apply_plan_update(plan_event(reduced_counties=None))[1]["reduced_counties"] is None
    assert apply_plan_update(plan_event(reduced_counties=[]))[1]["reduced_counties"] == []


@pytest.mark.parametrize("region", ["00", "35", "1", "5", None, "AB"])
def test_bad_region_rejected(region):
    with pytest.raises(Rejected) as exc:
        apply_plan_update(plan_event(region=region))
    assert exc.value.error_code == "INVALID_REGION"


def test_negative_premium_rejected():
    with pytest.raises(Rejected) as exc:
        apply_plan_update(plan_event(basic_premium=Decimal("-0.01")))
    assert exc.value.error_code == "INVALID_PREMIUM"
    assert apply_plan_update(plan_event(basic_premium=Decimal("0")))[1]["basic_premium"] == "0.00"


def test_is_stale():
    _, state = apply_plan_update(plan_event(event_time=at(2025, 8, 2)))
    assert is_stale(state, plan_event(event_time=at(2025, 8, 1)))
    assert not is_stale(state, plan_event(event_time=at(2025, 8, 2)))
    assert not is_stale(None, plan_event())


def test_the_hpms_name_and_numbers_are_kept_for_the_notices():
    # Issue 23 item 2, seed 001: CMS populates the notices with the HPMS "Organization Marketing Name" and the
    # "Auto-Enrollment Customer Service Number" (else the one for prospective members).
    _, state = apply_plan_update(plan_event(organization_marketing_name="Harbor Rx Value",
                                            customer_service_number="1-800-555-0103",
                                            auto_enrollment_customer_service_number="1-800-555-0102"))
    assert (state["organization_marketing_name"], state["customer_service_number"],
            state["auto_enrollment_customer_service_number"]) == ("Harbor Rx Value", "1-800-555-0103", "1-800-555-0102")
    _, older = apply_plan_update(plan_event())  # an older producer: the catalog entry keeps its old shape
    assert "organization_marketing_name" not in older
