"""streams.runtime.cycle, issue 23: the benchmark calculation's second step and the benchmarks a partition keeps.

Issue 23: "make sure WHICH benchmark a reply sees is determined by the input log, not by how far a background
reader happened to get". A partition keeps the benchmarks of the calculations it has applied; a record of
partition p is judged with p's (rules.Reference.at); the second step's scan is safe to run again (a member's
records come back from its outbox, and its tally with them).
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal
from types import SimpleNamespace

import orjson

from streams.kafka.registry import SchemaRegistry
from streams.kafka.serde import Serde
from streams.runtime import cycle
from streams.runtime import state as st
from streams.runtime.deadletters import Source
from streams.runtime.rules import Reference
from tests.processors.cycle_builders import Y, member, mbi_for, standard_plans

SERDE = Serde(SchemaRegistry.embedded())
JULY = dt.datetime(2025, 7, 31, 16, tzinfo=dt.timezone.utc)
PAYLOAD = {"command_id": "C1", "command": cycle.CALCULATE_BENCHMARKS, "plan_year": Y, "as_of": JULY.isoformat(),
           "as_of_dt": JULY, "reference_month": "2025-07-01", "seed": 0, "partitions": 2}


def test_the_benchmarks_a_partition_keeps_round_trip():
    bms = {2026: {"05": Decimal("35.00"), "33": Decimal("30.01")}, 2025: {"05": Decimal("31.10")}}
    assert cycle.decode_benchmarks(cycle.encode_benchmarks(bms)) == bms
    assert cycle.decode_benchmarks(None) is None  # never stored: applied before issue 23, or no calculation
    assert cycle.BENCHMARKS_KEY.startswith(b"\x00")  # a runtime key: never a member (state.members skips it)
    after = cycle.with_calculation(bms, 2026, {"05": "36.00"})
    assert after == {2026: {"05": Decimal("36.00")}, 2025: {"05": Decimal("31.10")}}
    assert bms[2026]["05"] == Decimal("35.00")  # the partition's previous ones are not touched


def test_a_record_is_judged_with_its_own_partitions_benchmarks():
    ref = Reference({}, partition_benchmarks={0: {Y: {"05": Decimal("35.00")}}, 1: {}})
    assert ref.at(0).benchmarks == {Y: {"05": Decimal("35.00")}}
    assert ref.at(1).benchmarks == {} and ref.at(7).benchmarks == {}
    plain = Reference({}, {Y: {"05": Decimal("1")}})
    assert plain.at(3) is plain  # a caller that passes one set of benchmarks (tests, tools) keeps it


def test_the_second_step_runs_again_with_the_same_bytes_and_tallies():
    members = [(mbi_for(i).encode(), st.Stored(member(mbi_for(i), source=src), {}, []))
               for i, src in enumerate(["A", "B", "A"])]
    after = {Y: {"05": Decimal("35.00")}}
    first_tallies: Counter[str] = Counter()
    first = list(cycle.scan_calculation(PAYLOAD, members, standard_plans(), SERDE, "cycle-commands:0", 9, {},
                                        after, first_tallies))
    # two CMS-placed members move (PROJECTED_LOSS), the chooser does not; all three get the 121 with the amounts
    assert first_tallies == Counter({"plan|S1001-001|PREMIUM": 2, "state|MD": 2})
    assert [sorted(o.value["notice_type"] if o.topic == "plan-notices" else o.value["transaction_reply_code"]
                   for o in outs) for _, _, outs, _ in first] == [["121", "PROJECTED_LOSS"], ["121"],
                                                                   ["121", "PROJECTED_LOSS"]]
    assert all(new.member == stored.member for (_, new, _, _), (_, stored) in zip(first, members))  # no change
    # a restart: the members now carry the step's outbox entries; the same bytes, the same tallies
    again_tallies: Counter[str] = Counter()
    stored = [(key, new) for key, new, _, _ in first]
    again = list(cycle.scan_calculation(PAYLOAD, stored, standard_plans(), SERDE, "cycle-commands:0", 9, {}, after,
                                        again_tallies))
    assert again_tallies == first_tallies
    assert [sends for _, _, _, sends in again] == [sends for _, _, _, sends in first]
    assert all(outs == [] for _, _, outs, _ in again)


def test_the_preview_reports_merge_into_the_count_records():
    progress = None
    for partition, counts in ((0, {"plan|S1001-001|PREMIUM": 2, "state|MD": 2}),
                              (1, {"plan|S1001-001|PREMIUM": 1, "state|DE": 1})):
        _, value = cycle.result_message(cycle.preview_payload(PAYLOAD), partition, {"counts": counts})
        progress = cycle.merge_progress(progress, orjson.loads(value))
    assert progress["command"] == cycle.PREVIEW and progress["command_id"] == cycle.preview_id("C1")
    assert cycle.complete(progress)
    out = cycle.preview_outputs(progress)
    assert [(o.key, o.value.get("projected_count")) for o in out] == [("S1001", 3), ("DE", 1), ("MD", 2), ("US", 3)]


def test_a_partition_from_before_issue_23_takes_the_benchmarks_of_the_calculations_it_applied():
    calc = {"command": cycle.CALCULATE_BENCHMARKS, "plan_year": Y, "as_of": JULY,
            "reference_month": dt.date(2025, 7, 1), "seed": None, "state_code": None}
    later = dict(calc, plan_year=Y + 1, as_of=JULY + dt.timedelta(days=365))
    log = SimpleNamespace(items=[(Source("cycle-commands", 0, 4, None, None, 1000), calc),
                                 (Source("cycle-commands", 0, 9, None, None, 2000), later)], version=object())
    done = {cycle.command_id(calc): {"benchmarks": {"05": "35.00"}}, cycle.command_id(later): {"benchmarks": {}}}
    commands = cycle.Commands(log, done, lambda: 2)
    assert commands.applied_benchmarks({0: 5}) == {Y: {"05": Decimal("35.00")}}  # the later one not applied yet
    assert commands.applied_benchmarks({}) == {}
