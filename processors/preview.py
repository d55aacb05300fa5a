"""What the benchmark calculation tells each party (issue 23 items 1 and 5), one member at a time.

When ``CALCULATE_BENCHMARKS`` for plan year Y has produced the benchmarks (late July), the product already knows
which members the October reassignment will move if nothing changes, and what every LIS member will owe in Y.
Seed 001's losing plans must write their ANOC by September 30 ("including appropriate language for those
beneficiaries being reassigned due to a premium increase"), and CMS notes that "Losing PDPs that want to identify
potential reassignees may do so" themselves. So, per member (:func:`at_calculation`):

* a **121** to the member's plan when the calculation changes what the member owes in Y
  (:func:`processors.premium.benchmark_change`);
* a **PROJECTED_LOSS** ``PlanNotice`` to the plan a member is projected to leave
  (:func:`projected_loss`): ``reassignment.evaluate`` with the new benchmarks says the member ``moves``
  (PREMIUM, NON_RENEWAL_PDP or NON_RENEWAL_MA, a target exists). The projected gaining plan is not named: the
  October draw decides it.

And once for all partitions, from the tallies (:func:`tally_keys`, summed by the shell): per losing plan a
**PROJECTED_LOSS_COUNT** ``PlanNotice``, per state a **PROJECTED_COUNT** ``StateListEntry`` (the member's state:
the state file's, else the address's), and the national count under ``US`` (:func:`count_outputs`).

The preview changes no member's state (``StepResult.state`` is always None) and is superseded by the run: the
special TRR (212/014) and the LOSS file of ``REASSIGNMENT_RUN`` are what happened. A later calculation for the same
Y publishes a new preview (its ``issued_at`` is the new command's ``as_of``; its ids differ) that replaces the
earlier one whole. Record shapes: docs/record-shapes.md.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from processors.dates import instant_iso
from processors.ids import stable_id
from processors.member import region_state_code
from processors.model import PLAN_NOTICES, STATE_LISTS, MemberState, Output, PlanState, StepResult
from processors.premium import benchmark_change
from processors.reassignment import ADDRESS_FIELDS, Decision, evaluate
from processors.state_lists import NATIONAL_LIST

PROJECTED_LOSS = "PROJECTED_LOSS"
PROJECTED_LOSS_COUNT = "PROJECTED_LOSS_COUNT"
PROJECTED_COUNT = "PROJECTED_COUNT"
ID_STEP = "PROJECTION"
PLAN_TALLY = "plan"
STATE_TALLY = "state"


def _notice(contract_id: str, pbp_id: str, plan_year: int, as_of: dt.datetime, *, notice_type: str, mbi: str,
            reason: str | None, note: str, lis: Mapping[str, Any] | None = None, count: int | None = None) -> Output:
    lis = lis or {}
    return Output(PLAN_NOTICES, contract_id, {
        "notice_id": stable_id("P", ID_STEP, plan_year, instant_iso(as_of), mbi, contract_id, pbp_id, notice_type),
        "contract_id": contract_id,
        "pbp_id": pbp_id,
        "notice_type": notice_type,
        "file_name": None,
        "mbi": mbi,
        "obligation": None,
        "due_at": None,
        "lis_premium_subsidy_level": lis.get("premium_subsidy_level"),
        "lis_copay_level": lis.get("copay_level"),
        "header_code": None,
        "trailer_code": None,
        "plan_year": plan_year,
        "effective_date": dt.date(plan_year, 1, 1),
        **{k: None for k in ADDRESS_FIELDS},
        "address_outside_plan_region": False,
        "note": note,
        "issued_at": as_of,
        "reason": reason,
        "projected_count": count,
    })


def projected_loss(d: Decision, as_of: dt.datetime) -> Output:
    """The PROJECTED_LOSS record of a decision that moves the member (to the losing plan, key its contract)."""
    assert d.moves and d.losing_contract_id and d.losing_pbp_id
    note = (f"Preview at the {d.plan_year} benchmark calculation ({as_of.date()}): if nothing changes, the member"
            f" is reassigned out of this plan on {d.plan_year}-01-01 ({d.case}). Not a LOSS file record: the"
            " reassignment run's special TRR and LOSS file supersede it (seed 001).")
    return _notice(d.losing_contract_id, d.losing_pbp_id, d.plan_year, as_of, notice_type=PROJECTED_LOSS,
                   mbi=d.mbi, reason=d.case, note=note, lis=d.lis_next_year)


def tally_keys(d: Decision, state: MemberState) -> list[str]:
    """What one projected member adds to the counts: ``plan|{contract}-{pbp}|{case}`` and ``state|{code}``."""
    if not d.moves:
        return []
    return [f"{PLAN_TALLY}|{d.losing_contract_id}-{d.losing_pbp_id}|{d.case}",
            f"{STATE_TALLY}|{region_state_code(state)}"]


#: The key every LIS period of a member state carries (``processors/model.py``: the level of the premium
#: subsidy). A calculation has nothing for a member with no key of this name anywhere in its state, that is with no
#: LIS period at all:
#:
#: * it counts for no plan (:func:`processors.lis_counts.counted_plan` needs a period with a level above 000
#:   overlapping the reference month);
#: * no 121: with no level, what it owes is the plan's premium whatever the benchmark
#:   (:func:`processors.premium.amounts`), so :func:`processors.premium.benchmark_change` finds nothing changed;
#: * no PROJECTED_LOSS and no tally: :func:`processors.reassignment.evaluate` moves only a member with an LIS
#:   period with a level this year and next (seed 001: the reassignment is of LIS enrollees).
#:
#: So the shell's scans of a calculation read only the members whose stored value holds this key
#: (``streams/runtime/cycle.py``, ``scanned_key``); ``tests/processors/test_preview.py`` checks the three
#: points above on random member histories.
CALCULATION_NEEDS = "premium_subsidy_level"


def at_calculation(state: MemberState, plans: Mapping[str, PlanState], before: Mapping[int, Mapping[str, Decimal]],
                   after: Mapping[int, Mapping[str, Decimal]], plan_year: int, seed: object,
                   as_of: dt.datetime) -> tuple[StepResult, list[str]]:
    """One member once ``CALCULATE_BENCHMARKS`` for ``plan_year`` is done: (the 121 and the PROJECTED_LOSS
    record, never a new state; the member's tally keys). ``before``/``after``: plan year -> region -> benchmark
    known to the member's partition before and after this calculation."""
    outputs = benchmark_change(state, plans, before, after, plan_year, as_of)
    decision = evaluate(state, plans, after.get(plan_year) or {}, plan_year, seed)
    if decision.moves:
        outputs.append(projected_loss(decision, as_of))
    return StepResult(None, outputs), tally_keys(decision, state)


def tally(state: MemberState, plans: Mapping[str, PlanState], benchmarks: Mapping[str, Decimal], plan_year: int,
          seed: object) -> list[str]:
    """:func:`tally_keys` alone (a member whose records are re-sent from its outbox)."""
    return tally_keys(evaluate(state, plans, benchmarks, plan_year, seed), state)


def count_outputs(counts: Mapping[str, int], plan_year: int, as_of: dt.datetime) -> list[Output]:
    """The count records of a preview from the summed tallies: one PROJECTED_LOSS_COUNT per losing plan (key its
    contract), one PROJECTED_COUNT per state and one for the nation (``US``), sorted."""
    out: list[Output] = []
    states: dict[str, int] = {}
    for key in sorted(counts):
        n = int(counts[key])
        kind, _, rest = key.partition("|")
        if n <= 0:
            continue
        if kind == PLAN_TALLY:
            plan, _, case = rest.partition("|")
            contract_id, _, pbp_id = plan.partition("-")
            note = (f"Preview at the {plan_year} benchmark calculation ({as_of.date()}): {n} member(s) of this plan"
                    f" projected to be reassigned out of it on {plan_year}-01-01 ({case}); one PROJECTED_LOSS record"
                    " each. The reassignment run supersedes it (seed 001).")
            out.append(_notice(contract_id, pbp_id, plan_year, as_of, notice_type=PROJECTED_LOSS_COUNT, mbi="",
                               reason=case, note=note, count=n))
        elif kind == STATE_TALLY:
            states[rest] = states.get(rest, 0) + n
    national = sum(states.values())
    for code, n in [*sorted(states.items()), *([(NATIONAL_LIST, national)] if national else [])]:
        out.append(state_count(code, n, plan_year))
    return out


def state_count(state_code: str, count: int, plan_year: int) -> Output:
    """A PROJECTED_COUNT ``StateListEntry``: no member (``mbi`` and names empty), the count in ``projected_count``."""
    return Output(STATE_LISTS, state_code, {
        "list_type": PROJECTED_COUNT, "plan_year": int(plan_year), "state_code": state_code, "mbi": "",
        "ssn": None, "first_name": "", "last_name": "", "middle_initial": None, "birth_date": None, "sex": None,
        "losing_contract_id": None, "losing_pbp_id": None, "gaining_contract_id": None, "gaining_pbp_id": None,
        "effective_date": None, "lis_premium_subsidy_level": None, "lis_copay_level": None,
        **{k: None for k in ADDRESS_FIELDS}, "projected_count": int(count),
    })


def merge(tallies: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Sum the partitions' tallies."""
    total: dict[str, int] = {}
    for part in tallies:
        for k, v in part.items():
            total[k] = total.get(k, 0) + int(v)
    return total
