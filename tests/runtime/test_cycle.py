"""streams.runtime.cycle: what each cycle command needs (the same answer on every partition), one partition's
scan (safe to run again), and the results agent's merge."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from processors import state_lists
from processors.model import Output, StepResult
from streams import topics
from streams.kafka.registry import SchemaRegistry
from streams.kafka.serde import Serde
from streams.runtime import cycle
from streams.runtime import state as st
from streams.runtime.deadletters import Source
from tests.processors.cycle_builders import BENCHMARKS, Y, member, standard_plans
from tests.runtime.fakes import FakeLog

SERDE = Serde(SchemaRegistry.embedded())
AS_OF = dt.datetime(2026, 8, 1, 12, tzinfo=dt.timezone.utc)  # before the opt-in deadline for 2027


def _cmd(log: FakeLog, ts: int, command: str, year: int = 2027, **kw: Any) -> Source:
    src = Source(topics.CYCLE_COMMANDS, 0, len(log.items), f"{command}-{year}".encode(), b"x", ts)
    log.add(src, {"command": command, "plan_year": year, "as_of": AS_OF + dt.timedelta(seconds=ts),
                  "reference_month": kw.get("reference_month"), "seed": kw.get("seed"),
                  "state_code": kw.get("state_code")})
    return src


def _commands(log: FakeLog, done: dict | None = None) -> cycle.Commands:
    return cycle.Commands(log, done if done is not None else {}, lambda: 4)


def test_a_run_needs_a_calculation_before_it_and_waits_until_it_is_done_everywhere() -> None:
    log = FakeLog()
    early = _cmd(log, 1, state_lists.REASSIGNMENT_RUN)
    calc = _cmd(log, 2, cycle.CALCULATE_BENCHMARKS, reference_month=dt.date(2026, 7, 1))
    run = _cmd(log, 3, state_lists.REASSIGNMENT_RUN, seed=5)
    done: dict[str, Any] = {}
    commands = _commands(log, done)
    refused = commands.plan(early)
    assert isinstance(refused, cycle.Skip) and refused.error.error_code == "NO_BENCHMARK"
    assert isinstance(commands.plan(run), cycle.Wait)
    done[cycle.command_id(log.items[1][1])] = {"benchmarks": {"05": "30.00"}}
    plan = commands.plan(run)
    assert isinstance(plan, dict) and plan["benchmarks_d"] == {"05": Decimal("30.00")}
    assert plan["seed"] == 5 and plan["partitions"] == 4 and plan["command"] == state_lists.REASSIGNMENT_RUN
    assert isinstance(commands.plan(calc), dict)


def test_opted_in_states_are_those_before_the_list() -> None:
    log = FakeLog()
    _cmd(log, 1, state_lists.STATE_PASSIVE_OPT_IN, state_code="MD")
    calc = _cmd(log, 2, cycle.CALCULATE_BENCHMARKS, reference_month=dt.date(2026, 7, 1))
    prelim = _cmd(log, 3, state_lists.PRELIMINARY_REASSIGNMENT_LIST)
    _cmd(log, 4, state_lists.STATE_PASSIVE_OPT_IN, state_code="DE")  # after the list: not on it
    plan = _commands(log, {cycle.command_id(log.items[1][1]): {"benchmarks": {}}}).plan(prelim)
    assert isinstance(plan, dict) and plan["opted_in_states"] == ["MD"]
    assert isinstance(_commands(log).plan(log.items[0][0]), cycle.Skip)  # an opt-in: nothing to scan
    assert _commands(log).plan(calc)["reference_month_d"] == dt.date(2026, 7, 1)


def test_commands_that_cannot_run_are_refused_with_a_reason() -> None:
    log = FakeLog()
    no_month = _cmd(log, 1, cycle.CALCULATE_BENCHMARKS)
    unknown = _cmd(log, 2, "UNKNOWN")
    garbage = Source(topics.CYCLE_COMMANDS, 0, 9, b"k", b"\x07", 3)
    log.add(garbage, None)
    log.errors[(0, 9)] = ("WRONG_MAGIC_BYTE", "magic byte 7")
    commands = _commands(log)
    assert commands.plan(no_month).error.error_code == "MISSING_REFERENCE_MONTH"
    assert commands.plan(unknown).error.error_code == "UNSUPPORTED_COMMAND"
    assert commands.plan(garbage).error.error_code == "WRONG_MAGIC_BYTE"


class _Serde:
    def encode(self, topic: str, value: Any) -> bytes:
        return f"{topic}:{value['n']}".encode()

    def decode(self, topic: str, raw: bytes) -> Any:
        return {"n": int(raw.split(b":")[1])}


def test_a_scan_resends_what_an_earlier_scan_of_the_same_command_sent_and_skips_a_failing_member(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def run_cycle_member(command: str, state: Any, **kw: Any) -> StepResult:
        calls.append(state["mbi"])
        if state["mbi"] == "BAD":
            raise ValueError("a bad state")
        return StepResult({**state, "seen": True}, [Output("beneficiary-notices", state["mbi"], {"n": len(calls)})])

    monkeypatch.setattr(state_lists, "run_cycle_member", run_cycle_member)
    payload = {"plan_year": 2027, "command": state_lists.REASSIGNMENT_RUN, "opted_in_states": [], "seed": 0,
               "benchmarks_d": {}, "as_of_dt": AS_OF}
    done = st.Stored({"mbi": "DONE"}, {}, [])
    st.remember(done, "cycle-commands:0", 7, [(Output("beneficiary-notices", "DONE", {}), b"first bytes")])
    members = [(b"DONE", done), (b"BAD", st.Stored({"mbi": "BAD"})), (b"NEW", st.Stored({"mbi": "NEW"}))]
    out = list(cycle.scan_partition(payload, members, standard_plans(), _Serde(), "cycle-commands:0", 7))
    assert calls == ["BAD", "NEW"]  # DONE was handled by this command before: not evaluated again
    assert [(k, records) for k, _, _, records in out] == [
        (b"DONE", [("beneficiary-notices", "DONE", b"first bytes")]),
        (b"NEW", [("beneficiary-notices", "NEW", b"beneficiary-notices:2")])]
    new = out[1][1]
    assert new.member["seen"] and st.again(new, "cycle-commands:0", 7) == (
        [("beneficiary-notices", "NEW", b"beneficiary-notices:2")], [])


def test_a_scan_with_the_real_rules_is_safe_to_run_again() -> None:
    """A reassignment run over one member, then again over the state it left: the same records, byte for byte."""
    payload = {"plan_year": Y, "command": state_lists.REASSIGNMENT_RUN, "opted_in_states": [], "seed": 3,
               "benchmarks_d": BENCHMARKS, "as_of_dt": dt.datetime(Y - 1, 10, 28, 14, tzinfo=dt.timezone.utc)}
    m = member(contract_id="S1001", pbp_id="001")
    first = list(cycle.scan_partition(payload, [(b"M", st.Stored(m))], standard_plans(), SERDE, "cycle-commands:0", 1))
    again = list(cycle.scan_partition(payload, [(b"M", first[0][1])], standard_plans(), SERDE, "cycle-commands:0", 1))
    assert first[0][3] and [r for *_, r in again] == [r for *_, r in first]
    assert {t for t, _, _ in first[0][3]} >= {"trr-replies", "beneficiary-notices", "plan-notices"}
    assert cycle.summarize(cycle.decoded(SERDE, first[0][3])) == cycle.summarize(first[0][2])


def test_the_results_agent_merges_each_partition_once_and_completes_with_all_of_them() -> None:
    base = {"command_id": "C1", "command": cycle.CALCULATE_BENCHMARKS, "plan_year": 2027, "as_of": AS_OF.isoformat(),
            "reference_month": "2026-07-01", "partitions": 2}
    progress = cycle.merge_progress(None, {**base, "partition": 0, "counts": {"S1001-001": 3}})
    progress = cycle.merge_progress(progress, {**base, "partition": 0, "counts": {"S1001-001": 3}})  # redelivered
    assert not cycle.complete(progress)
    progress = cycle.merge_progress(progress, {**base, "partition": 1, "summary": {"trc_212": 2}})
    assert cycle.complete(progress) and cycle.summary_of(progress) == {"trc_212": 2}
    key, value = cycle.done_message(progress, [Output(topics.LIS_BENCHMARKS, "05-2027",
                                                      {"region": "05", "benchmark_premium": Decimal("31.50")})])
    assert key == b"C1-done" and b'"05":"31.50"' in value
