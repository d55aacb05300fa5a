"""The cycle commands' stream path (streams/runtime/cycle.py) without a broker: what a partition's scan is
given (``Commands.plan``) and what it makes of it (``scan_partition``).

The readers are the worker's own classes (``reference.CommandLog``, ``reference.benchmark_table``), fed
record by record as their background task would; only ``caught_up`` (a fetch position check) is set by hand.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from streams import topics
from streams.kafka.registry import SchemaRegistry
from streams.kafka.serde import Serde
from streams.runtime import cycle
from streams.runtime import state as st
from streams.runtime.deadletters import Source
from streams.runtime.reference import CommandLog, benchmark_table
from tests.processors.cycle_builders import catalog, member, plan

UTC = dt.timezone.utc
SERDE = Serde(SchemaRegistry.from_env({}))
Y = 2027
T0 = 1_780_000_000_000  # record timestamps (ms); the business times are in the records


def _command(command: str, as_of: dt.datetime, **kw: Any) -> dict[str, Any]:
    return {"command": command, "plan_year": kw.pop("plan_year", Y), "as_of": as_of, "reference_month": None,
            "state_code": None, "seed": 7, **kw}


class World:
    """The reference data a worker holds: the command log, the done records, lis-benchmarks."""

    def __init__(self) -> None:
        self.log = CommandLog(topics.CYCLE_COMMANDS, "unused:0", SERDE)
        self.benchmarks = benchmark_table("unused:0", SERDE)
        self.benchmarks.caught_up = lambda: True  # type: ignore[method-assign]
        self.done: dict[str, Any] = {}
        self.offset = 0
        self.commands = cycle.Commands(self.log, self.done, lambda: 1, self.benchmarks)

    def publish_command(self, record: dict[str, Any], ts: int) -> Source:
        src = Source(topics.CYCLE_COMMANDS, 0, self.offset, b"k", SERDE.encode(topics.CYCLE_COMMANDS, record), ts)
        self.offset += 1
        self.log._apply(src, SERDE.decode(topics.CYCLE_COMMANDS, src.value))
        self.log.version = object()
        return src

    def publish_benchmark(self, region: str, year: int, premium: str, ts: int, offset: int = 0) -> None:
        record = {"region": region, "plan_year": year, "reference_month": dt.date(year - 1, 7, 1),
                  "benchmark_premium": Decimal(premium), "lis_enrollment_total": 10, "plans_weighted": 2,
                  "calculated_at": dt.datetime(year - 1, 7, 31, 16, tzinfo=UTC)}
        src = Source(topics.LIS_BENCHMARKS, 0, offset, f"{region}-{year}".encode(),
                     SERDE.encode(topics.LIS_BENCHMARKS, record), ts)
        self.benchmarks._apply(src, SERDE.decode(topics.LIS_BENCHMARKS, src.value))
        self.benchmarks.version = object()

    def calculate(self, year: int, ts: int, results: dict[str, str]) -> Source:
        record = _command("CALCULATE_BENCHMARKS", dt.datetime(year - 1, 7, 31, 16, tzinfo=UTC), plan_year=year,
                          reference_month=dt.date(year - 1, 7, 1))
        src = self.publish_command(record, ts)
        self.done[cycle.command_id(SERDE.decode(topics.CYCLE_COMMANDS, src.value))] = {"benchmarks": results}
        return src


# The commonest case: a chooser in S1101-001, 30.00 in 2026 and in 2027; the benchmark of region 05
# is 32.00 for 2026 (the member pays nothing) and 27.00 for 2027 (3.00 to pay).
PLANS = catalog(plan("S1101", "001", "30.00", year=Y), plan("S1101", "001", "30.00", year=Y - 1),
                plan("S2202", "001", "25.00", year=Y, parent="ORG2"))
CHOOSER = member("1EG4TE5MK01", contract_id="S1101", pbp_id="001", source="B",
                 lis_periods=[{"change_id": "L1", "premium_subsidy_level": "100", "copay_level": "1",
                               "subsidy_source": "D", "start": "2026-01-01", "end": None}],
                 enrollments=[{"contract_id": "S1101", "pbp_id": "001", "start": "2026-01-01", "end": None,
                               "election_type": "A", "enrollment_source": "B", "sep_reason": None,
                               "application_date": "2025-11-01", "tracking_id": "T1", "prior_contract_id": None,
                               "prior_pbp_id": None, "disenrollment_reason": None, "status": "ACTIVE", "rx": None,
                               "reassignment": None}])
RUN_AT = dt.datetime(2026, 10, 28, 14, tzinfo=UTC)


def _letters(payload: dict[str, Any], src: Source) -> list[dict[str, Any]]:
    members = [(b"1EG4TE5MK01", st.Stored(CHOOSER))]
    out = []
    for _, _, outputs, _ in cycle.scan_partition(payload, members, PLANS, SERDE, cycle.source_name(src), src.offset):
        out.extend(o.value for o in outputs if o.topic == topics.BENEFICIARY_NOTICES)
    return out


def test_the_run_compares_with_last_years_benchmarks_read_from_lis_benchmarks():
    # Issue 22 item 1. Seed 001: the tan notice goes to "full-subsidy eligible individuals who chose PDPs that
    # will have an increased premium liability in 2020 compared to their 2019 Part D premium liability".
    w = World()
    w.publish_benchmark("05", Y - 1, "32.00", ts=T0)             # last year's, as the product published it
    w.calculate(Y, T0 + 1000, {"05": "27.00"})                    # this July's
    run = w.publish_command(_command("REASSIGNMENT_RUN", RUN_AT), T0 + 2000)
    payload = w.commands.plan(run)
    assert payload["previous_benchmarks_d"] == {"05": Decimal("32.00")}
    assert payload["previous_benchmarks_from"] == "lis-benchmarks"
    [letter] = _letters(payload, run)
    assert (letter["notice_type"], letter["publication"], letter["reason"]) == ("CHOOSER", "11267", "CHOOSER")
    assert letter["current_plan_premium"] == Decimal("30.00")


def test_benchmarks_published_after_the_run_are_not_seen_by_it():
    # which benchmarks a run sees is fixed by the log: records published after it (a correction of last
    # year's, here 20.00, which would say the member paid 10.00) do not change its answer
    w = World()
    w.publish_benchmark("05", Y - 1, "32.00", ts=T0, offset=0)
    w.calculate(Y, T0 + 1000, {"05": "27.00"})
    run = w.publish_command(_command("REASSIGNMENT_RUN", RUN_AT), T0 + 2000)
    w.publish_benchmark("05", Y - 1, "20.00", ts=T0 + 3000, offset=1)
    assert w.commands.plan(run)["previous_benchmarks_d"] == {"05": Decimal("32.00")}


def test_last_years_calculation_in_the_log_wins_and_is_waited_for():
    w = World()
    w.publish_benchmark("05", Y - 1, "99.00", ts=T0)  # would make the liability fall: not used
    calc_prev = w.calculate(Y - 1, T0 + 500, {"05": "32.00"})
    w.calculate(Y, T0 + 1000, {"05": "27.00"})
    run = w.publish_command(_command("REASSIGNMENT_RUN", RUN_AT), T0 + 2000)
    payload = w.commands.plan(run)
    assert (payload["previous_benchmarks_d"], payload["previous_benchmarks_from"]) == (
        {"05": Decimal("32.00")}, "CALCULATE_BENCHMARKS")
    # not done on every partition yet: the partition waits (it never guesses)
    del w.done[cycle.command_id(SERDE.decode(topics.CYCLE_COMMANDS, calc_prev.value))]
    assert isinstance(w.commands.plan(run), cycle.Wait)


def test_a_reader_behind_its_topic_makes_the_run_wait():
    w = World()
    w.calculate(Y, T0 + 1000, {"05": "27.00"})
    run = w.publish_command(_command("REASSIGNMENT_RUN", RUN_AT), T0 + 2000)
    w.benchmarks.caught_up = lambda: False  # type: ignore[method-assign]
    assert isinstance(w.commands.plan(run), cycle.Wait)


def test_unknown_last_year_sends_the_letter_saying_no_comparison_was_made():
    # no benchmark of 2026 anywhere: the letter goes out (next year's liability 3.00 > 0) and says why
    w = World()
    w.publish_benchmark("06", Y - 1, "32.00", ts=T0)   # another region's only
    w.calculate(Y, T0 + 1000, {"05": "27.00"})
    run = w.publish_command(_command("REASSIGNMENT_RUN", RUN_AT), T0 + 2000)
    payload = w.commands.plan(run)
    [letter] = _letters(payload, run)
    assert (letter["notice_type"], letter["reason"]) == ("CHOOSER", "LIABILITY_NOT_COMPARED_NO_PRIOR_BENCHMARK")


@pytest.mark.parametrize("prev,letters", [("32.00", 1), ("26.00", 0)])
def test_the_same_scan_answers_the_same_on_a_second_worker(prev, letters):
    # two workers holding the same log give the same payload and the same records
    payloads = []
    for _ in range(2):
        w = World()
        w.publish_benchmark("05", Y - 1, prev, ts=T0)
        w.calculate(Y, T0 + 1000, {"05": "27.00"})
        run = w.publish_command(_command("REASSIGNMENT_RUN", RUN_AT), T0 + 2000)
        payloads.append(w.commands.plan(run))
        assert len(_letters(payloads[-1], run)) == letters
    assert payloads[0] == payloads[1]


def test_year_end_uses_the_plan_years_benchmarks_and_runs_without_them():
    # Issue 22 item 2: YEAR_END ends enrollments whatever; the auto-enrollment that follows uses the
    # benchmarks of the plan year's last calculation before it, waiting for it like a run
    at = dt.datetime(2026, 12, 29, 15, tzinfo=UTC)
    w = World()
    alone = w.publish_command(_command("YEAR_END", at), T0 + 500)
    payload = w.commands.plan(alone)
    assert payload["command"] == "YEAR_END" and payload["benchmarks_d"] == {}
    calc = w.calculate(Y, T0 + 1000, {"05": "27.00"})
    end = w.publish_command(_command("YEAR_END", at), T0 + 2000)
    assert w.commands.plan(end)["benchmarks_d"] == {"05": Decimal("27.00")}
    del w.done[cycle.command_id(SERDE.decode(topics.CYCLE_COMMANDS, calc.value))]
    assert isinstance(w.commands.plan(end), cycle.Wait)
