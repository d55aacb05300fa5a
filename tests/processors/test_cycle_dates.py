"""Issue 22 item 10: seed 000's dates are per plan year data, the 2023 memo's the documented default.

Seed 000 (for January 1, 2024): "By August 18, 2023, states interested in having passive enrollment
supersede the Medicare LIS reassignment ... should notify"; states "must submit all January 1, 2024,
passive enrollment transactions ... no earlier than Wednesday, October 4, 2023, at 6 a.m. Eastern
Daylight Time (EDT) and no later than Friday, October 27, 2023, at 5 p.m. EDT". Another year's
memorandum may move them: ``processors/data/cycle_dates.json``.
"""
from __future__ import annotations

import datetime as dt

import pytest

from processors import cycle_dates, passive, state_lists
from processors.model import Rejected
from tests.processors.builders import D, MBI, at, enroll_event, make_member, make_plan, make_profile

UTC = dt.timezone.utc


def test_the_2023_memo_is_the_default_and_the_2024_entry():
    for year in (2024, 2026, 2031):
        opens, closes = passive.window(year)
        assert opens == dt.datetime(year - 1, 10, 4, 10, tzinfo=UTC)     # 06:00 EDT
        assert closes == dt.datetime(year - 1, 10, 27, 21, tzinfo=UTC)   # 17:00 EDT
        assert cycle_dates.opt_in_deadline(year) == dt.date(year - 1, 8, 18)
    assert cycle_dates.BY_PLAN_YEAR[2024] == cycle_dates.DEFAULT


@pytest.fixture
def memo_2027(monkeypatch):
    """A (made-up) memorandum for January 1, 2027: window October 1 06:00 - October 23 17:00, opt-in by August 14."""
    entry = {"opt_in_deadline": "08-14", "window_opens": "10-01T06:00", "window_closes": "10-23T17:00"}
    monkeypatch.setitem(cycle_dates.BY_PLAN_YEAR, 2027, {**cycle_dates.DEFAULT, **entry})


def test_a_years_own_window_moves_the_passive_window(memo_2027):
    assert passive.window(2027) == (dt.datetime(2026, 10, 1, 10, tzinfo=UTC), dt.datetime(2026, 10, 23, 21, tzinfo=UTC))
    assert passive.window(2026)[0] == dt.datetime(2025, 10, 4, 10, tzinfo=UTC)  # other years keep the default
    plans = dict([make_plan("H9001", "001", 2027, plan_type="MMP", region="14")])
    member = make_member(profile=make_profile(medicaid_status="FULL_BENEFIT_DUAL", medicaid_start="2020-01-01",
                                              state_code="OH"))

    def passive_on(day: dt.date, hour: int):
        ev = enroll_event(contract_id="H9001", enrollment_source="J", submitter_id="OH", election_type="Y",
                          effective_date=D(2027, 1, 1), application_date=day,
                          submitted_at=dt.datetime(day.year, day.month, day.day, hour, tzinfo=UTC))
        reply = passive.apply_passive_enrollment(member, ev, plans).outputs[0].value
        return reply["transaction_reply_code"], reply["reason"]

    assert passive_on(D(2026, 10, 2), 14) == ("011", None)                  # before Oct 4: inside 2027's window
    assert passive_on(D(2026, 10, 26), 14) == ("108", "OUTSIDE_WINDOW")     # after Oct 23 17:00 EDT


def test_a_years_own_opt_in_deadline(memo_2027):
    command = {"command": "STATE_PASSIVE_OPT_IN", "plan_year": 2027, "state_code": "MD"}
    assert state_lists.apply_opt_in([], {**command, "as_of": at(2026, 8, 14, 20)}) == ("2027", ["MD"])
    with pytest.raises(Rejected) as exc:
        state_lists.apply_opt_in([], {**command, "as_of": at(2026, 8, 15, 14)})
    assert exc.value.error_code == "OPT_IN_AFTER_DEADLINE"
    # 2026 keeps the memo's August 18
    assert state_lists.apply_opt_in([], {**command, "plan_year": 2026, "as_of": at(2025, 8, 18, 20)})[1] == ["MD"]


def test_a_year_may_give_only_some_dates(monkeypatch):
    monkeypatch.setattr(cycle_dates, "BY_PLAN_YEAR",
                        {**cycle_dates.BY_PLAN_YEAR, 2030: cycle_dates.entry({"opt_in_deadline": "08-01"})})
    assert cycle_dates.opt_in_deadline(2030) == dt.date(2029, 8, 1)
    assert passive.window(2030)[1] == dt.datetime(2029, 10, 27, 21, tzinfo=UTC)


def test_the_first_run_waits_for_the_years_own_window_to_close(memo_2027):
    # the first run leaves a listed member alone until the window closes (docs/mmp-passive.md): 2027's
    # window closes October 23, so a run on October 24 moves them
    assert state_lists._first_run_considers({"preliminary_years": [2027]}, 2027, at(2026, 10, 24, 12))
    assert not state_lists._first_run_considers({"preliminary_years": [2026]}, 2026, at(2025, 10, 24, 12))
    assert MBI  # the builders' member is the one used above
