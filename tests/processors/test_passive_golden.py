"""The golden MMP passive-enrollment scenario (tests/golden/mmp_passive), through the pure functions.

``inputs.jsonl`` and ``expected.jsonl`` were written by hand from seed 000's
process-summary table (see the README and each expected line's ``_why``).
Events go through the real event processors (plans, beneficiary, enrollment
with its passive routing, LIS); cycle commands through
``processors.benchmark`` and ``processors.state_lists``, one member at a time
as the shell will. Every output on a topic the expected file covers must
match exactly one expected line on the fields that line gives, nothing left
over. ``trr-replies`` are compared when they are on a special TRR or answer
a state-submitted transaction (``update_source_contract_id`` a state code):
the set-up enrollments' daily replies are not part of the scenario.
"""
from __future__ import annotations

from collections import Counter

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from processors import beneficiary, enrollment, lis, state_lists
from processors import plans as plans_mod
from processors.benchmark import benchmark_state, calculate_benchmarks
from processors.codes import STATE_CODES
from processors.lis_counts import count_lis_enrollment, merge_counts
from processors.model import DEAD_LETTERS, Output, Rejected, new_member
from processors.plan_index import PlanIndex
from processors.preview import at_calculation, count_outputs
from tests.processors.test_golden_cycle import _matches, record, to_json

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "mmp_passive"


def _load(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (GOLDEN / name).read_text().splitlines() if line.strip()]


def _cmd(v: Any) -> str:
    return getattr(v, "value", v)


def run_scenario(*, indexed: bool = False) -> tuple[list[Output], dict[str, dict[str, Any]], dict[str, list[str]]]:
    """Feed inputs.jsonl in order; returns (outputs, final member states, opt-in table).

    ``indexed``: member cycle commands read a ``PlanIndex`` built once per command (as the shell does).
    """
    catalog: dict[str, dict[str, Any]] = {}
    members: dict[str, dict[str, Any]] = {}
    benchmarks: dict[int, dict[str, Decimal]] = {}
    opt_ins: dict[str, list[str]] = {}
    outputs: list[Output] = []
    for line in _load("inputs.jsonl"):
        topic, key, ev = line["topic"], line["key"], record(line["value"])
        if topic == "plan-year-updates":
            pk, st = plans_mod.apply_plan_update(ev)
            catalog[pk] = st
        elif topic == "beneficiary-updates":
            res = beneficiary.apply_beneficiary_update(members.get(key) or new_member(key), ev)
            members[key] = res.state or members[key]
        elif topic == "lis-status-changes":
            res = lis.apply_lis_change(members[key], ev, catalog, benchmarks)
            members[key] = res.state or members[key]
        elif topic == "enrollment-requests":
            res = enrollment.apply_enrollment(members.get(key), ev, catalog, benchmarks)
            members[key] = res.state or members[key]
            outputs.extend(res.outputs)
        elif topic == "cycle-commands":
            command, year = _cmd(ev["command"]), ev["plan_year"]
            if command == "CALCULATE_BENCHMARKS":
                counts = merge_counts(count_lis_enrollment([members[m] for m in sorted(members)], ev["reference_month"]))
                out = calculate_benchmarks(catalog, counts, year, ev["reference_month"], ev["as_of"])
                before = {y: {r: b for r, b in by.items()} for y, by in benchmarks.items()}
                benchmarks[year] = benchmark_state(out)
                outputs.extend(out)
                # issue 23: the calculation's second step (121s with the year's amounts, the July preview)
                tallies: Counter[str] = Counter()
                for mbi in sorted(members):
                    step, keys = at_calculation(members[mbi], catalog, before, benchmarks, year, 0, ev["as_of"])
                    outputs.extend(step.outputs)
                    tallies.update(keys)
                outputs.extend(count_outputs(tallies, year, ev["as_of"]))
            elif command == "STATE_PASSIVE_OPT_IN":
                try:
                    k, states = state_lists.apply_opt_in(opt_ins.get(state_lists.opt_in_key(year)), ev)
                    opt_ins[k] = states
                except Rejected as exc:
                    outputs.append(Output(DEAD_LETTERS, key, {"source_topic": topic, "error_code": exc.error_code,
                                                             "error_message": exc.message}))
            else:
                assert command in state_lists.MEMBER_COMMANDS
                opted = state_lists.opted_in_states(opt_ins, year)
                plans = PlanIndex(catalog) if indexed else catalog
                for mbi in sorted(members):
                    res = state_lists.run_cycle_member(
                        command, members[mbi], plans=plans, benchmarks=benchmarks.get(year, {}),
                        plan_year=year, seed=ev.get("seed"), as_of=ev["as_of"], opted_in_states=opted)
                    members[mbi] = res.state or members[mbi]
                    outputs.extend(res.outputs)
        else:  # pragma: no cover
            raise AssertionError(f"unexpected input {topic} {key}")
    return outputs, members, opt_ins


def _kept(outputs: list[Output], topics: set[str]) -> list[Output]:
    def keep(o: Output) -> bool:
        if o.topic not in topics:
            return False
        if o.topic == "trr-replies":
            v = o.value
            return ".SPCLTRD." in v["file_name"] or v.get("update_source_contract_id") in STATE_CODES
        return True
    return [o for o in outputs if keep(o)]


def test_golden_mmp_passive_outputs_match_expected():
    expected = _load("expected.jsonl")
    outputs, _, _ = run_scenario()
    remaining = _kept(outputs, {e["topic"] for e in expected})
    missing = []
    for exp in expected:
        hit = next((o for o in remaining if _matches(o, exp)), None)
        if hit is None:
            missing.append(exp)
        else:
            remaining.remove(hit)
    assert not missing, "expected records not produced:\n" + "\n".join(
        f"{m['topic']} {m['key']} {json.dumps(m['value'])}" for m in missing)
    assert not remaining, "unexpected records:\n" + "\n".join(
        f"{o.topic} {o.key} {json.dumps({k: to_json(v) for k, v in o.value.items()})}" for o in remaining)


def test_golden_mmp_passive_final_states():
    _, members, opt_ins = run_scenario()
    assert opt_ins == {"2026": ["MD"]}
    by = {m[-2:]: s for m, s in members.items()}
    assert {n for n, s in by.items() if 2026 in s.get("preliminary_years", [])} == {"01", "02", "03", "04", "05", "07"}
    assert {n for n, s in by.items() if 2026 in s["reassigned_years"]} == {"02", "03", "04", "05", "06", "07"}
    assert {n for n, s in by.items() if 2026 in s["passive_years"]} == {"01", "08", "09"}
    for n in ("01", "08", "09"):
        e = by[n]["enrollments"][-1]
        assert (e["contract_id"], e["enrollment_source"], e["start"], e["status"]) == ("H9001", "J", "2026-01-01", "ACTIVE")
    assert by["09"]["enrollments"][-1]["application_date"] == "2025-10-05"
    p04 = by["04"]["enrollments"]
    assert [(e["contract_id"], e["pbp_id"], e["start"], e["end"], e["status"], e["enrollment_source"]) for e in p04] == [
        ("S1001", "001", "2025-01-01", "2025-12-31", "ACTIVE", "A"),
        ("H9001", "001", "2026-01-01", None, "CANCELLED", "J"),
        ("S1001", "002", "2026-01-01", None, "ACTIVE", "H"),
    ]


def test_golden_mmp_passive_with_a_plan_index_is_identical():
    assert run_scenario(indexed=True) == run_scenario()


def test_golden_mmp_passive_replay_is_identical():
    assert run_scenario()[0] == run_scenario()[0]


def test_golden_mmp_passive_files_are_well_formed():
    for line in _load("expected.jsonl"):
        assert set(line) == {"topic", "key", "value", "_why"} and line["_why"]
    for line in _load("inputs.jsonl"):
        assert set(line) == {"topic", "key", "value"}
