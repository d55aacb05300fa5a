"""LIS enrollment per plan in the reference month (seed 004: full and partial subsidy)."""
from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.lis_counts import count_lis_enrollment, counted_plan, merge_counts
from tests.processors.cycle_builders import enrollment, lis, mbi_for, member

JULY = dt.date(2025, 7, 1)


def test_full_and_partial_subsidy_both_count():
    ms = [member(mbi_for(1), level="100"), member(mbi_for(2), level="025"),
          member(mbi_for(3), level="050"), member(mbi_for(4), level="075")]
    assert count_lis_enrollment(ms, JULY) == {"S1001-001": 4}


def test_level_000_and_no_lis_do_not_count():
    ms = [member(mbi_for(1), level="000"), member(mbi_for(2), level=None)]
    assert count_lis_enrollment(ms, JULY) == {}


def test_keyed_by_contract_and_pbp():
    ms = [member(mbi_for(1), contract_id="S1001", pbp_id="001"),
          member(mbi_for(2), contract_id="S1001", pbp_id="002"),
          member(mbi_for(3), contract_id="H4004", pbp_id="001")]
    assert count_lis_enrollment(ms, JULY) == {"H4004-001": 1, "S1001-001": 1, "S1001-002": 1}


def test_enrollment_in_force_in_reference_month_only():
    moved = member(mbi_for(1), enrollments=[
        enrollment("S1001", "001", start="2025-01-01", end="2025-06-30"),
        enrollment("S2002", "001", start="2025-07-01"),
    ])
    later = member(mbi_for(2), enrollments=[enrollment("S1001", "001", start="2025-08-01")])
    ended = member(mbi_for(3), enrollments=[enrollment("S1001", "001", start="2025-01-01", end="2025-06-30")])
    cancelled = member(mbi_for(4), enrollments=[enrollment("S1001", "001", status="CANCELLED")])
    assert count_lis_enrollment([moved, later, ended, cancelled], JULY) == {"S2002-001": 1}


def test_lis_period_must_overlap_the_month():
    ended_june = member(mbi_for(1), lis_periods=[lis("100", end="2025-06-30")])
    starts_mid_july = member(mbi_for(2), lis_periods=[lis("100", start="2025-07-15")])
    starts_august = member(mbi_for(3), lis_periods=[lis("100", start="2025-08-01")])
    ends_july_1 = member(mbi_for(4), lis_periods=[lis("100", end="2025-07-01")])
    assert counted_plan(ended_june, JULY) is None
    assert counted_plan(starts_mid_july, JULY) == "S1001-001"
    assert counted_plan(starts_august, JULY) is None
    assert counted_plan(ends_july_1, JULY) == "S1001-001"


def test_any_day_of_reference_month_means_that_month():
    m = member(mbi_for(1))
    assert count_lis_enrollment([m], dt.date(2025, 7, 19)) == count_lis_enrollment([m], JULY)


def test_dead_before_the_month_not_counted():
    assert counted_plan(member(mbi_for(1), date_of_death="2025-06-10"), JULY) is None
    assert counted_plan(member(mbi_for(2), date_of_death="2025-07-10"), JULY) == "S1001-001"


def test_merge_counts_sums_partitions():
    assert merge_counts({"A-1": 2, "B-1": 1}, {"A-1": 3}, {}) == {"A-1": 5, "B-1": 1}
    assert merge_counts() == {}


_members = st.lists(
    st.tuples(st.sampled_from(["S1001-001", "S1001-002", "H4004-001"]),
              st.sampled_from(["000", "025", "050", "075", "100", None])),
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(_members, st.integers(min_value=1, max_value=5))
def test_partitioned_counts_merge_to_whole(specs, parts):
    ms = [member(mbi_for(i), contract_id=k.split("-")[0], pbp_id=k.split("-")[1], level=lv)
          for i, (k, lv) in enumerate(specs)]
    whole = count_lis_enrollment(ms, JULY)
    partials = [count_lis_enrollment(ms[i::parts], JULY) for i in range(parts)]
    assert merge_counts(*partials) == whole
    assert sum(whole.values()) == sum(1 for _, lv in specs if lv not in (None, "000"))
