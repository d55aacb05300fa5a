"""A new member state may share values with the one it came from; no later rule changes them in place.

The rules copy only what they change (``model.with_own_enrollments``, a shallow ``dict(state)`` to replace a
top-level value, or a whole ``clone``), so the state a step returns can share its profile, LIS periods or an
enrollment's ``rx`` with the state before it. That is safe only if no rule, in a later step, changes a value of
its input in place. These tests run whole chains of events through the member processors (what the runtime does
within a batch: each step's input is the previous step's output, never re-read from bytes) and check that every
state returned along the way still serializes to what it was when it was returned; a failed step must leave its
input as it was too.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processors import plans as plan_rules
from processors import state_lists
from processors.model import Rejected
from streams import topics
from streams.runtime.rules import PROCESSORS, Reference
from streams.tools import sample
from streams.tools.jsonconv import record_from_json

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
UTC = dt.timezone.utc


def _chain(events: list[tuple[str, dict[str, Any]]], ref: Reference) -> list[tuple[Any, bytes]]:
    """Apply ``events`` (topic, record) member by member; every state returned, with its JSON at that moment."""
    states: dict[str, Any] = {}
    seen: list[tuple[Any, bytes]] = []
    for topic, record in events:
        key = record.get("mbi")
        before = states.get(key)
        snapshot = orjson.dumps(before) if before is not None else None
        try:
            step = PROCESSORS[topic](before, record, ref)
        except Rejected:
            assert before is None or orjson.dumps(before) == snapshot, f"a rejected {topic} changed its input"
            continue
        if step.state is not None:
            states[key] = step.state
            seen.append((step.state, orjson.dumps(step.state)))
    return seen


def _unchanged(seen: list[tuple[Any, bytes]]) -> None:
    changed = [i for i, (state, snap) in enumerate(seen) if orjson.dumps(state) != snap]
    assert not changed, f"{len(changed)} of {len(seen)} earlier states were changed in place by a later step"


def test_golden_inputs_never_change_an_earlier_state() -> None:
    for case in ("annual_cycle", "mmp_passive", "plan_year"):
        lines = [orjson.loads(line) for line in (GOLDEN / case / "inputs.jsonl").read_text().splitlines() if line]
        catalog = dict(plan_rules.apply_plan_update(record_from_json(topics.PLAN_YEAR_UPDATES, x["value"]))
                       for x in lines if x["topic"] == topics.PLAN_YEAR_UPDATES)
        events = [(x["topic"], record_from_json(x["topic"], x["value"])) for x in lines if x["topic"] in PROCESSORS]
        assert events, case
        seen = _chain(events, Reference(catalog))
        assert seen, case
        _unchanged(seen)


PLANS = [sample._plan("S7101", pbp, year, "05", "ORG1", premium)
         for year in (2026, 2027) for pbp, premium in (("001", "30.00"), ("002", "41.50"), ("003", "12.00"))]
CATALOG = dict(plan_rules.apply_plan_update(record_from_json(topics.PLAN_YEAR_UPDATES, p)) for p in PLANS)
BENCHMARKS = {2026: {"05": plan_rules.Decimal("35.00")}, 2027: {"05": plan_rules.Decimal("36.00")}}


@st.composite
def member_events(draw: st.DrawFn) -> list[tuple[str, dict[str, Any]]]:
    """A few members' beneficiary updates, enrollment transactions (61, 51, 72, 80, 81) and LIS changes, mixed."""
    out: list[tuple[str, dict[str, Any]]] = []
    n = draw(st.integers(4, 40))
    for i in range(n):
        m = sample.mbi(draw(st.integers(0, 2)))
        kind = draw(st.sampled_from(("bene", "txn", "txn", "txn", "lis", "lis-remove")))
        month = draw(st.integers(1, 12))
        year = draw(st.sampled_from((2026, 2027)))
        day = f"{year}-{month:02d}-01"
        if kind == "bene":
            out.append((topics.BENEFICIARY_UPDATES, record_from_json(topics.BENEFICIARY_UPDATES, sample._bene(
                m, "Ann", f"Lee{i}", "FL", medicaid_status=draw(st.sampled_from(("NONE", "FULL_BENEFIT_DUAL")))))))
        elif kind == "txn":
            tc = draw(st.sampled_from((61, 61, 51, 72, 80, 81)))
            pbp = draw(st.sampled_from(("001", "002", "003")))
            eff = day if tc != 51 or draw(st.booleans()) else f"{year}-{month:02d}-28"
            out.append((topics.ENROLLMENT_REQUESTS, record_from_json(
                topics.ENROLLMENT_REQUESTS, sample._txn(f"T-{i}", m, tc, "S7101", pbp, eff))))
        else:
            action = "REMOVE" if kind == "lis-remove" else "UPSERT"
            out.append((topics.LIS_STATUS_CHANGES, record_from_json(topics.LIS_STATUS_CHANGES, sample._lis(
                f"L-{draw(st.integers(0, 3))}", m, draw(st.sampled_from(("100", "050", "000"))), "1", day,
                action=action))))
    return out


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=member_events())
def test_random_member_histories_never_change_an_earlier_state(events: list[tuple[str, dict[str, Any]]]) -> None:
    seen = _chain(events, Reference(CATALOG, BENCHMARKS))
    # then the annual cycle's own steps over the last states (they clone, but share nothing back)
    last: dict[str, Any] = {}
    for state, _ in seen:
        last[state["mbi"]] = state
    for state in last.values():
        step = state_lists.run_cycle_member("REASSIGNMENT_RUN", state, plans=CATALOG, benchmarks=BENCHMARKS[2027],
                                            plan_year=2027, seed=1, as_of=dt.datetime(2026, 10, 17, tzinfo=UTC),
                                            opted_in_states=())
        if step.state is not None:
            seen.append((step.state, orjson.dumps(step.state)))
    _unchanged(seen)
