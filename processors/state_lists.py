"""Coordinating state MMP passive enrollment with the reassignment (seed 000): the cycle side.

Pure, one member at a time (the shell scans its member table and calls one
function per member for a cycle command), plus one global table (the states
that opted in, per plan year). See ``docs/mmp-passive.md``.

Cycle command -> function:

=================================== =====================================================
``STATE_PASSIVE_OPT_IN``            :func:`apply_opt_in` (global table, not per member)
``PRELIMINARY_REASSIGNMENT_LIST``   :func:`preliminary`
``REASSIGNMENT_RUN``                :func:`first_run` (instead of ``reassignment.run_member``)
``FINAL_REASSIGNMENT_LIST``         :func:`final_list` with ``FINAL``
``SECOND_REASSIGNMENT_RUN``         :func:`second_run`
``UPDATED_FINAL_REASSIGNMENT_LIST`` :func:`final_list` with ``UPDATED_FINAL``
``REASSIGNMENT_FORMULARY_NOTICES``  ``reassignment.formulary_notice`` (issue 22: the December notice)
``YEAR_END``                        ``year_end.year_end_member`` (issue 22: the plan year's end)
=================================== =====================================================

:func:`run_cycle_member` dispatches the five member commands with one signature
(the table ``MEMBER_STEPS``); the two runs are one function, :func:`run`, with a
guard per command (``RUN_GUARDS``).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from functools import partial
from typing import Any

from processors import cycle_dates, issued, passive, reassignment, year_end
from processors.codes import STATE_CODES
from processors.dates import EASTERN, from_iso
from processors.member import lis_on, region_state_code
from processors.model import STATE_LISTS, MemberState, Output, PlanState, Record, Rejected, StepResult, clone

PRELIMINARY = "PRELIMINARY"
FINAL = "FINAL"
UPDATED_FINAL = "UPDATED_FINAL"
LIST_TYPES = (PRELIMINARY, FINAL, UPDATED_FINAL)
#: A person's entry on a final list that no longer holds (issue 22, processors/withdrawal.py).
WITHDRAWN_LIST_TYPES = (f"{FINAL}_WITHDRAWN", f"{UPDATED_FINAL}_WITHDRAWN")
#: The state code of the national final lists (1-800-MEDICARE): not a USPS code, so never a state's list.
NATIONAL_LIST = "US"

# Seed 000: "By August 18 ... states interested in having passive enrollment
# supersede the Medicare LIS reassignment ... should notify". The date is per plan year data
# (processors/cycle_dates.py, August 18 of Y-1 by default), judged on the Eastern date of the
# command's as_of, inclusive.

STATE_PASSIVE_OPT_IN = "STATE_PASSIVE_OPT_IN"
PRELIMINARY_REASSIGNMENT_LIST = "PRELIMINARY_REASSIGNMENT_LIST"
REASSIGNMENT_RUN = "REASSIGNMENT_RUN"
FINAL_REASSIGNMENT_LIST = "FINAL_REASSIGNMENT_LIST"
SECOND_REASSIGNMENT_RUN = "SECOND_REASSIGNMENT_RUN"
UPDATED_FINAL_REASSIGNMENT_LIST = "UPDATED_FINAL_REASSIGNMENT_LIST"
#: Issue 22: the December second blue notice, at its place in time (processors/reassignment.formulary_notice).
REASSIGNMENT_FORMULARY_NOTICES = "REASSIGNMENT_FORMULARY_NOTICES"
#: Issue 22: the end of the plan year (processors/year_end.py).
YEAR_END = "YEAR_END"
MEMBER_COMMANDS = frozenset({
    PRELIMINARY_REASSIGNMENT_LIST, REASSIGNMENT_RUN, FINAL_REASSIGNMENT_LIST,
    SECOND_REASSIGNMENT_RUN, UPDATED_FINAL_REASSIGNMENT_LIST, REASSIGNMENT_FORMULARY_NOTICES, YEAR_END,
})


def _enum(v: Any) -> Any:
    return getattr(v, "value", v)


def _years(state: MemberState, key: str) -> list[int]:
    return [int(y) for y in (state.get(key) or [])]


# --------------------------------------------------------------------------- opt-in (global)

def opt_in_key(plan_year: int) -> str:
    """Key of the opt-in table: the plan year as a string."""
    return str(int(plan_year))


def apply_opt_in(current: Iterable[str] | None, command: Record) -> tuple[str, list[str]]:
    """``STATE_PASSIVE_OPT_IN``: add ``command['state_code']`` to the plan year's opted-in states.

    ``current`` is the table value stored under ``opt_in_key(plan_year)``
    (None: no state yet). Returns ``(key, sorted states)``; idempotent.
    Raises ``Rejected('INVALID_STATE_CODE')`` unless the code is one of the 50
    states or DC (no MMP demonstration and no reassignment in the territories)
    and ``Rejected('OPT_IN_AFTER_DEADLINE')`` when the Eastern date of
    ``as_of`` is after the plan year's opt-in deadline (August 18 of Y-1 by default).
    """
    code = command.get("state_code")
    year = int(command["plan_year"])
    if code not in STATE_CODES:
        raise Rejected("INVALID_STATE_CODE", f"STATE_PASSIVE_OPT_IN needs a state code (50 states, DC), got {code!r}")
    deadline = cycle_dates.opt_in_deadline(year)
    on = command["as_of"].astimezone(EASTERN).date()
    if on > deadline:
        raise Rejected("OPT_IN_AFTER_DEADLINE",
                       f"{code} opted in for {year} on {on}, after the deadline {deadline} (seed 000)")
    return opt_in_key(year), sorted(set(current or ()) | {code})


def opted_in_states(table: Mapping[str, Iterable[str]] | None, plan_year: int) -> frozenset[str]:
    """The states opted in for ``plan_year`` from the whole table (``{"2026": ["MD"]}``)."""
    return frozenset((table or {}).get(opt_in_key(plan_year)) or ())


# --------------------------------------------------------------------------- lists

def list_entry(state: MemberState, plan_year: int, list_type: str, state_code: str | None = None,
               reason: str | None = None) -> Output:
    """One ``StateListEntry`` (topic ``state-reassignment-lists``, key = its ``state_code``).

    ``state_code``: the list it belongs to; by default the member's state (the
    state file's, else the address's: :func:`processors.member.region_state_code`).
    ``list_type`` may be one of :data:`WITHDRAWN_LIST_TYPES` (with a ``reason``): the entry no longer holds.
    """
    if list_type not in LIST_TYPES + WITHDRAWN_LIST_TYPES:
        raise ValueError(f"list_type {list_type!r} is not one of {LIST_TYPES + WITHDRAWN_LIST_TYPES}")
    p = state.get("profile") or {}
    code = state_code or region_state_code(state)
    return Output(STATE_LISTS, code, {
        "list_type": list_type,
        "plan_year": int(plan_year),
        "state_code": code,
        "mbi": state["mbi"],
        "ssn": p.get("ssn"),
        "first_name": p.get("first_name") or "",
        "last_name": p.get("last_name") or "",
        "middle_initial": p.get("middle_initial"),
        "birth_date": from_iso(p.get("birth_date")),
        "sex": p.get("sex"),
        # a withdrawn entry names the reassignment it withdraws too (issue 22)
        **(reassignment_details(state, plan_year) if list_type in (FINAL, UPDATED_FINAL) + WITHDRAWN_LIST_TYPES
           else {}),
        "reason": reason,
    })


def reassignment_details(state: MemberState, plan_year: int) -> dict[str, Any]:
    """What a final list says about a reassigned member beyond identity (issue 23 item 4).

    Seed 000: states see the reassigned through the PDP Notification File (the GAIN/LOSS layout); seed 001: CMS
    provides the lists "to States, 1-800-MEDICARE" to answer inquiries. So: the plan the member was reassigned out
    of and into (the reassignment enrollment for January 1 of ``plan_year``, kept even if the member later
    re-enrolled in the losing plan and it was cancelled), its effective date, the LIS levels on that day (as the
    GAIN record has them) and the mailing address as ``BeneficiaryUpdate`` names it (null when not sent).
    """
    moved = [e for e in state.get("enrollments") or []
             if int((e.get("reassignment") or {}).get("plan_year") or 0) == int(plan_year)]
    e = next((x for x in reversed(moved) if x["status"] == "ACTIVE"), moved[-1] if moved else None)
    start = from_iso(e["start"]) if e else None
    lis = lis_on(state, start) if start else None
    return {
        "losing_contract_id": e.get("prior_contract_id") if e else None,
        "losing_pbp_id": e.get("prior_pbp_id") if e else None,
        "gaining_contract_id": e["contract_id"] if e else None,
        "gaining_pbp_id": e["pbp_id"] if e else None,
        "effective_date": start,
        "lis_premium_subsidy_level": lis["premium_subsidy_level"] if lis else None,
        "lis_copay_level": lis["copay_level"] if lis else None,
        **reassignment.mailing_address(state),
    }


def _in_states(state: MemberState, states: Iterable[str]) -> bool:
    code = region_state_code(state)
    return code is not None and code in frozenset(states)


def preliminary(
    state: MemberState,
    plans: Mapping[str, PlanState],
    benchmarks: Mapping[str, Decimal],
    plan_year: int,
    seed: object,
    opted_in_states: Iterable[str],
    as_of: dt.datetime,
) -> StepResult:
    """``PRELIMINARY_REASSIGNMENT_LIST``: list the member if the reassignment would move them.

    Listed when the profile's ``state_code`` is an opted-in state and
    ``reassignment.evaluate(...)`` gives a decision that ``moves`` (a moving
    case with a target; choosers, tan letters and "not possible" are not
    "identified for reassignment"). Output: one PRELIMINARY entry; state: Y
    added to ``preliminary_years``. A member listed before gets the entry
    again (a re-run re-sends the list) with the state unchanged (None).
    ``as_of`` is the processing time; nothing here depends on it.
    """
    del as_of  # the list carries no timestamp; kept for a uniform signature
    if not _in_states(state, opted_in_states):
        return StepResult(None, [])
    decision = reassignment.evaluate(state, plans, benchmarks, plan_year, seed)
    if not decision.moves:
        return StepResult(None, [])
    entry = list_entry(state, plan_year, PRELIMINARY)
    if plan_year in _years(state, "preliminary_years"):
        return StepResult(None, [entry])
    new = clone(state)
    new["preliminary_years"] = sorted(set(_years(state, "preliminary_years")) | {int(plan_year)})
    return StepResult(new, [entry])


def final_list(
    state: MemberState,
    plan_year: int,
    as_of: dt.datetime,
    list_type: str,
    opted_in_states: Iterable[str],
) -> StepResult:
    """``FINAL_REASSIGNMENT_LIST`` (``FINAL``) / ``UPDATED_FINAL_REASSIGNMENT_LIST`` (``UPDATED_FINAL``).

    When Y is in ``reassigned_years`` (confirmed reassigned for January 1 of
    Y, by either run): two entries, one on the member's state's list (the
    state file's state, else the address's), **whether or not that state
    opted in** (seed 000: CMS "routinely shares with states a file of all
    individuals who received the blue reassignment letter"), and one on the
    national list, state code ``NATIONAL_LIST`` ("US", for 1-800-MEDICARE,
    seed 001). The updated final list is the whole list again (first and
    second run). ``opted_in_states`` is not used (kept for a uniform signature:
    only the preliminary list depends on the opt-in). Issue 22: the entries are
    recorded in the member's ``issued`` record (the state changes the first time),
    so that a change of mind before January 1 withdraws them where they went
    (processors/withdrawal.py); a re-run re-sends the same entries.
    """
    del as_of, opted_in_states
    if list_type not in (FINAL, UPDATED_FINAL):
        raise ValueError(f"list_type {list_type!r} is not FINAL or UPDATED_FINAL")
    if plan_year not in _years(state, "reassigned_years") or not region_state_code(state):
        return StepResult(None, [])
    entries = [list_entry(state, plan_year, list_type), list_entry(state, plan_year, list_type, NATIONAL_LIST)]
    new = clone(state)
    fresh = [issued.note_list(new, plan_year, list_type, e.key) for e in entries]
    return StepResult(new if any(fresh) else None, entries)


# --------------------------------------------------------------------------- runs
#
# The two runs are ``reassignment.run_member`` behind a different guard: who the
# run considers. One table (``RUN_GUARDS``), one function (:func:`run`).

def _first_run_considers(state: MemberState, plan_year: int, as_of: dt.datetime) -> bool:
    """``REASSIGNMENT_RUN``: everyone, except a member on Y's preliminary list while the passive window is open.

    Seed 000: the run starts October 28, after the window; a member with an
    accepted passive enrollment for Y is not moved (``evaluate`` already says
    ENROLLMENT_ENDS / ALREADY_PASSIVE); a listed member without one is moved
    as usual. Only addition: a member on Y's preliminary list is left alone
    (no output) when ``as_of`` is before the window closes (October 27 17:00
    Eastern of Y-1) -- the state may still passively enroll them; the second
    run picks them up.
    """
    return not (plan_year in _years(state, "preliminary_years") and as_of < passive.window(plan_year)[1])


def _cancelled_passive_for(state: MemberState, plan_year: int) -> bool:
    start = f"{int(plan_year):04d}-01-01"
    return any(e["status"] == "CANCELLED" and e.get("enrollment_source") == passive.PASSIVE_SOURCE
               and e["start"] == start for e in state.get("enrollments") or [])


def _second_run_considers(state: MemberState, plan_year: int, as_of: dt.datetime) -> bool:
    """``SECOND_REASSIGNMENT_RUN``: "any remaining LIS beneficiaries" (seed 000's process summary; issue 22).

    Everyone: ``reassignment.evaluate`` leaves whoever was already reassigned (ALREADY_REASSIGNED), still has a
    passive enrollment (ENROLLMENT_ENDS / ALREADY_PASSIVE) or chose a plan for January 1 (ENROLLMENT_ENDS),
    and moves the members on Y's preliminary list, those whose January 1 Y passive enrollment was cancelled
    (TC 82/83), and those the first run could not move then: no benchmark, no eligible target, next year's
    LIS confirmed since. A notice the first run sent is not sent again (``processors.issued``); one the new
    decision contradicts (REASSIGNMENT_NOT_POSSIBLE, LIS_ENDS_NEXT_YEAR) is withdrawn.
    """
    del state, plan_year, as_of
    return True


#: Run command -> who it considers (state, plan_year, as_of) -> bool; everyone else gets nothing.
RUN_GUARDS: dict[str, Callable[[MemberState, int, dt.datetime], bool]] = {
    REASSIGNMENT_RUN: _first_run_considers,
    SECOND_REASSIGNMENT_RUN: _second_run_considers,
}


def run(
    command: str,
    state: MemberState,
    plans: Mapping[str, PlanState],
    benchmarks: Mapping[str, Decimal],
    plan_year: int,
    seed: object,
    as_of: dt.datetime,
    previous_benchmarks: Mapping[str, Decimal] | None = None,
) -> StepResult:
    """``REASSIGNMENT_RUN`` / ``SECOND_REASSIGNMENT_RUN`` for one member: the run's guard (``RUN_GUARDS``,
    whose docstrings say who each run considers), then ``reassignment.run_member`` (same target rules,
    replies, files, obligations and letters; ``previous_benchmarks``: the Y-1 benchmarks, optional,
    for the chooser's premium liability)."""
    if not RUN_GUARDS[command](state, plan_year, as_of):
        return StepResult(None, [])
    return reassignment.run_member(state, plans, benchmarks, plan_year, seed, as_of, previous_benchmarks)


#: ``first_run(state, plans, benchmarks, plan_year, seed, as_of)``: :func:`run` for ``REASSIGNMENT_RUN``.
first_run = partial(run, REASSIGNMENT_RUN)
#: ``second_run(...)``, same arguments: :func:`run` for ``SECOND_REASSIGNMENT_RUN``.
second_run = partial(run, SECOND_REASSIGNMENT_RUN)


# --------------------------------------------------------------------------- dispatch

#: (state, plans, benchmarks, plan_year, seed, as_of, opted_in_states, previous_benchmarks) -> StepResult
MemberStep = Callable[
    [MemberState, Mapping[str, PlanState], Mapping[str, Decimal], int, object, dt.datetime, Iterable[str],
     Mapping[str, Decimal] | None],
    StepResult,
]

#: The five member-scanning cycle commands, one signature (``MEMBER_COMMANDS``).
MEMBER_STEPS: dict[str, MemberStep] = {
    PRELIMINARY_REASSIGNMENT_LIST:
        lambda st, plans, bms, year, seed, at, opted, prev: preliminary(st, plans, bms, year, seed, opted, at),
    REASSIGNMENT_RUN:
        lambda st, plans, bms, year, seed, at, opted, prev: first_run(st, plans, bms, year, seed, at, prev),
    FINAL_REASSIGNMENT_LIST:
        lambda st, plans, bms, year, seed, at, opted, prev: final_list(st, year, at, FINAL, opted),
    SECOND_REASSIGNMENT_RUN:
        lambda st, plans, bms, year, seed, at, opted, prev: second_run(st, plans, bms, year, seed, at, prev),
    UPDATED_FINAL_REASSIGNMENT_LIST:
        lambda st, plans, bms, year, seed, at, opted, prev: final_list(st, year, at, UPDATED_FINAL, opted),
    REASSIGNMENT_FORMULARY_NOTICES:
        lambda st, plans, bms, year, seed, at, opted, prev: reassignment.formulary_notice(st, plans, year, at),
    YEAR_END:
        lambda st, plans, bms, year, seed, at, opted, prev: year_end.year_end_member(st, plans, bms, year, at, prev),
}
assert frozenset(MEMBER_STEPS) == MEMBER_COMMANDS


def run_cycle_member(
    command: str,
    state: MemberState,
    *,
    plans: Mapping[str, PlanState],
    benchmarks: Mapping[str, Decimal],
    plan_year: int,
    seed: object,
    as_of: dt.datetime,
    opted_in_states: Iterable[str] = (),
    previous_benchmarks: Mapping[str, Decimal] | None = None,
) -> StepResult:
    """One member for one of the five member-scanning cycle commands (``MEMBER_COMMANDS``).

    ``plans``: the catalog or, for a caller running many members, a
    :class:`~processors.plan_index.PlanIndex` built once for the command.
    ``previous_benchmarks``: region -> benchmark of ``plan_year - 1`` when the
    caller has them (the runs' chooser test; optional, see docs/annual-cycle.md).
    """
    command = _enum(command)
    step = MEMBER_STEPS.get(command) if isinstance(command, str) else None
    if step is None:
        raise ValueError(f"{command!r} is not a member cycle command {sorted(MEMBER_COMMANDS)}")
    return step(state, plans, benchmarks, plan_year, seed, as_of, opted_in_states, previous_benchmarks)
