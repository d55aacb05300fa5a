"""The golden annual-cycle scenario (tests/golden/annual_cycle), through the pure functions.

``inputs.jsonl`` and ``expected.jsonl`` were written by hand from seeds 001
and 004 (see the ``_why`` of each expected line). Here the inputs build the
plan catalog and member states with simple helpers, then the two cycle
commands run through :mod:`processors.lis_counts`, :mod:`processors.benchmark`
and :mod:`processors.reassignment`; every output must match exactly one
expected line on the fields that line gives, and no output may be left over.

A second test builds the states with the real event processors
(``processors.plans/beneficiary/enrollment/lis``) when they are importable,
and checks they accept every golden input and lead to the same cycle output.
"""
from __future__ import annotations

import copy
import datetime as dt
from collections import Counter
import json
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

import pytest

from processors.benchmark import benchmark_state, calculate_benchmarks
from processors.lis_counts import count_lis_enrollment, merge_counts
from processors.model import Output, new_member
from processors.plan_index import PlanIndex
from processors.plan_obligations import on_plan_year_record, premium_case_obligations
from processors.preview import at_calculation, count_outputs
from processors.reassignment import evaluate, run_member

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "annual_cycle"
UTC = dt.timezone.utc

DATE_FIELDS = {
    "application_date", "effective_date", "birth_date", "part_a_start", "part_b_start",
    "part_d_eligible_start", "date_of_death", "medicaid_start", "medicaid_end", "start_date",
    "end_date", "reference_month",
}
INSTANT_FIELDS = {"event_time", "submitted_at", "as_of"}
MONEY_FIELDS = {"basic_premium"}

# Hand-written: what evaluate() must say for every golden member (case, reason).
EXPECTED_DECISIONS = {
    "1EG4TE5MK01": ("PREMIUM", None),
    "1EG4TE5MK02": ("CHOOSER_TAN", "LIABILITY_NOT_COMPARED_NO_PRIOR_BENCHMARK"),
    "1EG4TE5MK03": ("NONE", "NOT_FULL_SUBSIDY"),
    "1EG4TE5MK04": ("NONE", "NOT_LIS_NEXT_YEAR"),
    "1EG4TE5MK05": ("NONE", "DE_MINIMIS_WAIVED"),
    "1EG4TE5MK06": ("PREMIUM", None),
    "1EG4TE5MK07": ("PREMIUM", None),
    "1EG4TE5MK08": ("NON_RENEWAL_PDP", None),
    "1EG4TE5MK09": ("NON_RENEWAL_MA", None),
    "1EG4TE5MK10": ("NON_RENEWAL_MA", None),
    "1EG4TE5MK11": ("NONE", "CONTINUING_MA"),
    "1EG4TE5MK12": ("NONE", "EMPLOYER_GROUP"),
    "1EG4TE5MK13": ("NONE", "PLAN_TYPE_NOT_COVERED"),
    "1EG4TE5MK14": ("NONE", "ENROLLMENT_ENDS"),
    "1EG4TE5MK15": ("NONE", "TERRITORY"),
    "1EG4TE5MK16": ("NONE", "AT_OR_BELOW_BENCHMARK"),
    "1EG4TE5MK17": ("NONE", "AT_OR_BELOW_BENCHMARK"),
    "1EG4TE5MK18": ("NONE", "CONTINUING_MA"),
    "1EG4TE5MK19": ("NONE", "NOT_LIS_THIS_YEAR"),
    "1EG4TE5MK20": ("PREMIUM", None),
    "1EG4TE5MK21": ("NONE", "DE_MINIMIS_WAIVED"),
    "1EG4TE5MK22": ("NONE", "AT_OR_BELOW_BENCHMARK"),
    "1EG4TE5MK23": ("NONE", "CONTINUING_MA"),
    "1EG4TE5MK24": ("NONE", "NOT_LIS_THIS_YEAR"),
    "1EG4TE5MK27": ("NONE", "AT_OR_BELOW_BENCHMARK"),
    "1EG4TE5MK28": ("PREMIUM", "NO_ELIGIBLE_TARGET"),
}


# --------------------------------------------------------------------------- JSON <-> records
def _load(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (GOLDEN / name).read_text().splitlines() if line.strip()]


def _instant(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(UTC)


def record(value: dict[str, Any]) -> dict[str, Any]:
    """A golden JSON value as the record fastavro would decode."""
    out = {}
    for k, v in value.items():
        if v is not None and k in DATE_FIELDS:
            v = dt.date.fromisoformat(v)
        elif v is not None and k in INSTANT_FIELDS:
            v = _instant(v)
        elif v is not None and k in MONEY_FIELDS:
            v = Decimal(v)
        out[k] = v
    return out


def to_json(v: Any) -> Any:
    """An output value in the JSON form the expected file uses (jsonconv's to-JSON form)."""
    if isinstance(v, dt.datetime):
        v = v.astimezone(UTC)
        return v.strftime("%Y-%m-%dT%H:%M:%S.") + f"{v.microsecond // 1000:03d}Z"
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, (list, tuple)):
        return [to_json(x) for x in v]
    return v


# --------------------------------------------------------------------------- simple state builders
def simple_plan(ev: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    state = dict(ev)
    state["basic_premium"] = str(Decimal(ev["basic_premium"]).quantize(Decimal("0.01")))
    state["event_time"] = ev["event_time"].isoformat()
    return f"{ev['contract_id']}-{ev['pbp_id']}-{ev['plan_year']}", state


def simple_profile(state: dict[str, Any], ev: dict[str, Any]) -> dict[str, Any]:
    new = copy.deepcopy(state)
    new["profile"] = {k: (v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else v)
                      for k, v in ev.items() if k != "mbi"}
    return new


def simple_enroll(state: dict[str, Any], ev: dict[str, Any]) -> dict[str, Any]:
    assert ev["transaction_code"] == 61
    new = copy.deepcopy(state)
    eff = ev["effective_date"]
    prior = None
    for e in new["enrollments"]:
        if e["status"] == "ACTIVE" and (e["end"] is None or e["end"] >= eff.isoformat()):
            e["end"] = (eff - dt.timedelta(days=1)).isoformat()
            e["disenrollment_reason"] = "13"
            prior = e
    new["enrollments"].append({
        "contract_id": ev["contract_id"], "pbp_id": ev["pbp_id"], "start": eff.isoformat(), "end": None,
        "election_type": ev["election_type"], "enrollment_source": ev["enrollment_source"], "sep_reason": None,
        "application_date": ev["application_date"].isoformat(), "tracking_id": ev["tracking_id"],
        "prior_contract_id": prior["contract_id"] if prior else None,
        "prior_pbp_id": prior["pbp_id"] if prior else None,
        "disenrollment_reason": None, "status": "ACTIVE", "rx": None, "reassignment": None,
    })
    new["elections"][eff.isoformat()] = {"application_date": ev["application_date"].isoformat(),
                                         "tracking_id": ev["tracking_id"]}
    return new


def simple_lis(state: dict[str, Any], ev: dict[str, Any]) -> dict[str, Any]:
    assert ev["action"] == "UPSERT"
    new = copy.deepcopy(state)
    new["lis"].append({"change_id": ev["change_id"], "premium_subsidy_level": ev["premium_subsidy_level"],
                       "copay_level": ev["copay_level"], "subsidy_source": ev["subsidy_source"],
                       "start": ev["start_date"].isoformat(),
                       "end": ev["end_date"].isoformat() if ev["end_date"] else None})
    new["lis"].sort(key=lambda p: p["start"])
    return new


# --------------------------------------------------------------------------- the scenario
Builders = dict[str, Callable[..., Any]]


def run_scenario(handlers: Builders, *, indexed: bool = False) -> tuple[list[Output], dict[str, Any], dict[str, dict[str, Any]]]:
    """Feed inputs.jsonl in order; returns (cycle outputs, decisions by MBI, final member states).

    ``indexed``: the reassignment reads a ``PlanIndex`` built once for the command (as the shell does).
    """
    plans: dict[str, dict[str, Any]] = {}
    members: dict[str, dict[str, Any]] = {}
    benchmarks: dict[int, dict[str, Decimal]] = {}
    outputs: list[Output] = []
    decisions: dict[str, Any] = {}
    for line in _load("inputs.jsonl"):
        topic, key, ev = line["topic"], line["key"], record(line["value"])
        if topic == "plan-year-updates":
            pk, state = handlers["plan"](ev)
            assert pk == key
            outputs.extend(on_plan_year_record(plans.get(pk), state))  # issue 22: the plan-level duties
            plans[pk] = state
        elif topic == "beneficiary-updates":
            members[key] = handlers["profile"](members.get(key) or new_member(key), ev)
        elif topic == "enrollment-requests":
            members[key] = handlers["enroll"](members[key], ev, plans)
        elif topic == "lis-status-changes":
            members[key] = handlers["lis"](members[key], ev)
        elif topic == "cycle-commands" and ev["command"] == "CALCULATE_BENCHMARKS":
            states = [members[m] for m in sorted(members)]
            partials = [count_lis_enrollment(states[i::3], ev["reference_month"]) for i in range(3)]
            out = calculate_benchmarks(plans, merge_counts(*partials), ev["plan_year"], ev["reference_month"], ev["as_of"])
            before = {y: dict(b) for y, b in benchmarks.items()}
            benchmarks[ev["plan_year"]] = benchmark_state(out)
            outputs.extend(out)
            outputs.extend(premium_case_obligations(plans, benchmarks[ev["plan_year"]], None, ev["plan_year"], ev["as_of"]))
            # issue 23: the calculation's second step (streams/runtime/cycle.py): the 121s with the year's amounts
            # and the July preview (a seed-less command draws with seed 0, as the shell does; no state changes)
            tallies: Counter[str] = Counter()
            for mbi in sorted(members):
                step, keys = at_calculation(members[mbi], plans, before, benchmarks, ev["plan_year"], 0, ev["as_of"])
                assert step.state is None
                outputs.extend(step.outputs)
                tallies.update(keys)
            outputs.extend(count_outputs(tallies, ev["plan_year"], ev["as_of"]))
        elif topic == "cycle-commands" and ev["command"] == "REASSIGNMENT_RUN":
            year = ev["plan_year"]
            catalog = PlanIndex(plans) if indexed else plans
            for mbi in sorted(members):
                decisions[mbi] = evaluate(members[mbi], catalog, benchmarks[year], year, ev["seed"])
                res = run_member(members[mbi], catalog, benchmarks[year], year, ev["seed"], ev["as_of"])
                if res.state is not None:
                    members[mbi] = res.state
                outputs.extend(res.outputs)
        else:  # pragma: no cover - the golden file has nothing else
            raise AssertionError(f"unexpected input {topic} {key}")
    return outputs, decisions, members


SIMPLE: Builders = {
    "plan": simple_plan,
    "profile": simple_profile,
    "enroll": lambda state, ev, plans: simple_enroll(state, ev),
    "lis": simple_lis,
}


def _matches(output: Output, exp: dict[str, Any]) -> bool:
    if output.topic != exp["topic"] or output.key != exp["key"]:
        return False
    return all(to_json(output.value.get(k, "<missing>")) == v for k, v in exp["value"].items())


def check_against_expected(outputs: list[Output]) -> None:
    expected = _load("expected.jsonl")
    remaining = list(outputs)
    missing = []
    for exp in expected:
        hit = next((o for o in remaining if _matches(o, exp)), None)
        if hit is None:
            missing.append(exp)
        else:
            remaining.remove(hit)
    assert not missing, "expected records not produced:\n" + "\n".join(json.dumps(m["value"]) for m in missing)
    assert not remaining, "unexpected records:\n" + "\n".join(
        f"{o.topic} {o.key} {json.dumps({k: to_json(v) for k, v in o.value.items()})}" for o in remaining)


# --------------------------------------------------------------------------- tests
def test_golden_cycle_outputs_match_expected():
    outputs, _, _ = run_scenario(SIMPLE)
    check_against_expected(outputs)


def test_golden_cycle_decisions():
    _, decisions, _ = run_scenario(SIMPLE)
    assert {m: (d.case, d.reason) for m, d in decisions.items()} == EXPECTED_DECISIONS


def test_golden_cycle_states_after_run():
    _, _, members = run_scenario(SIMPLE)
    moved = {m: s["enrollments"][-1] for m, s in members.items() if 2026 in s["reassigned_years"]}
    assert {m: (e["contract_id"], e["pbp_id"], e["enrollment_source"], e["start"]) for m, e in moved.items()} == {
        "1EG4TE5MK01": ("S1001", "002", "H", "2026-01-01"),
        "1EG4TE5MK06": ("S2002", "001", "H", "2026-01-01"),
        "1EG4TE5MK07": ("S1001", "002", "H", "2026-01-01"),
        "1EG4TE5MK08": ("S1001", "002", "H", "2026-01-01"),
        "1EG4TE5MK09": ("S1001", "002", "H", "2026-01-01"),
        "1EG4TE5MK10": ("S1001", "002", "H", "2026-01-01"),
        "1EG4TE5MK20": ("S5005", "331", "H", "2026-01-01"),
    }
    for s in members.values():
        if 2026 in s["reassigned_years"]:
            assert s["enrollments"][-2]["end"] == "2025-12-31"


def test_golden_cycle_with_a_plan_index_is_identical():
    plain = run_scenario(SIMPLE)
    indexed = run_scenario(SIMPLE, indexed=True)
    assert indexed == plain  # same outputs, decisions (targets, options) and states
    check_against_expected(indexed[0])


def test_golden_cycle_replay_is_identical():
    first, _, _ = run_scenario(SIMPLE)
    second, _, _ = run_scenario(SIMPLE)
    assert first == second  # same ids, same timestamps, same draws


def test_golden_expected_file_is_well_formed():
    for line in _load("expected.jsonl"):
        assert set(line) == {"topic", "key", "value", "_why"} and line["_why"]
    for line in _load("inputs.jsonl"):
        assert set(line) == {"topic", "key", "value"}


# --------------------------------------------------------------------------- with the real processors
def _real_handlers() -> Builders:
    plans_mod = pytest.importorskip("processors.plans")
    beneficiary = pytest.importorskip("processors.beneficiary")
    enrollment = pytest.importorskip("processors.enrollment")
    lis = pytest.importorskip("processors.lis")

    def plan(ev):
        return plans_mod.apply_plan_update(ev)

    def profile(state, ev):
        res = beneficiary.apply_beneficiary_update(state, ev)
        return res.state if res.state is not None else state

    def enroll(state, ev, plans):
        res = enrollment.apply_enrollment(state, ev, plans)
        rejected = [o.value["transaction_reply_code"] for o in res.outputs if o.value.get("trc_type") == "REJECTED"]
        assert not rejected, f"{ev['tracking_id']} rejected with {rejected}"
        return res.state if res.state is not None else state

    def lis_change(state, ev):
        res = lis.apply_lis_change(state, ev)
        return res.state if res.state is not None else state

    return {"plan": plan, "profile": profile, "enroll": enroll, "lis": lis_change}


def test_golden_cycle_with_real_event_processors():
    handlers = _real_handlers()
    try:
        outputs, decisions, _ = run_scenario(handlers)
    except (TypeError, AttributeError) as exc:  # pragma: no cover - a sibling module mid-change
        pytest.skip(f"event processors not usable yet: {exc}")
    assert {m: (d.case, d.reason) for m, d in decisions.items()} == EXPECTED_DECISIONS
    check_against_expected(outputs)
