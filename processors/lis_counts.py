"""LIS enrollment per plan in the benchmark's reference month (seed 004).

42 CFR 423.780(b)(2)(i) weights each plan by "the number of Part D low-income
subsidy eligible individuals enrolled in the plan in the reference month";
the preamble adds "we will include both partial and full-subsidy individuals".

A member counts once, for plan ``{contract_id}-{pbp_id}``, when all hold:

* the active (not cancelled) enrollment in force on the first day of the
  reference month is in that plan (enrollments run whole calendar months, so
  the first day stands for the month);
* an LIS period with a premium subsidy level above ``000`` (025, 050, 075 or
  100; seed 002 Table 14: ``000`` is "no subsidy") overlaps the reference
  month (any day of it);
* the member is not recorded as dead before the reference month begins.

The shell counts each partition of the member table separately and adds the
partial counts with :func:`merge_counts`; counting is a sum, so the order of
members and partitions does not matter.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping

from processors.dates import iso, month_end
from processors.member import enrollment_on
from processors.model import MemberState


def plan_key(contract_id: str, pbp_id: str) -> str:
    """The key of a plan in the counts: ``{contract_id}-{pbp_id}``."""
    return f"{contract_id}-{pbp_id}"


def _lis_in_month(state: MemberState, first: str, last: str) -> bool:
    for p in state.get("lis") or []:
        if (p.get("premium_subsidy_level") or "000") == "000":
            continue
        if p["start"] <= last and (p.get("end") is None or p["end"] >= first):
            return True
    return False


def counted_plan(state: MemberState, reference_month: dt.date) -> str | None:
    """The plan key this member counts for in the reference month, or None."""
    first_day = reference_month.replace(day=1)
    first, last = iso(first_day), iso(month_end(first_day))
    profile = state.get("profile") or {}
    death = profile.get("date_of_death")
    if death and death < first:
        return None
    enrollment = enrollment_on(state, first_day)
    if enrollment is None:
        return None
    if not _lis_in_month(state, first, last):
        return None
    return plan_key(enrollment["contract_id"], enrollment["pbp_id"])


def count_lis_enrollment(members: Iterable[MemberState], reference_month: dt.date) -> dict[str, int]:
    """LIS enrollees (full and partial premium subsidy) per ``{contract}-{pbp}`` in the month.

    ``reference_month`` may be any day of the month; the month is what counts.
    Plans with no LIS enrollee are absent (a missing key means 0).
    """
    counts: Counter[str] = Counter()
    for state in members:
        key = counted_plan(state, reference_month)
        if key is not None:
            counts[key] += 1
    return dict(sorted(counts.items()))


def merge_counts(*parts: Mapping[str, int]) -> dict[str, int]:
    """The sum of partial counts (one per partition); keys sorted, zeros dropped."""
    total: Counter[str] = Counter()
    for part in parts:
        for key, n in part.items():
            total[key] += int(n)
    return {k: n for k, n in sorted(total.items()) if n}
