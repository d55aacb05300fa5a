"""The annual cycle in the shell: fan a command out to every member partition, gather the results.

``cycle-commands`` -> the cycle agent -> one message per partition on
``partd-member-commands`` (co-partitioned with the member topics, so partition
p reaches the worker that holds members of partition p) -> the member agent
scans its own partition of the member table and calls the processors ->
each partition reports on ``partd-cycle-results`` -> the results agent merges
the reports (LIS counts for the benchmark) and publishes what needs all
partitions (``lis-benchmarks``).

Internal messages are JSON (orjson); the contract topics stay Avro.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from decimal import Decimal
from typing import Any, Iterable, Mapping

import orjson

from processors import benchmark, lis_counts, state_lists
from processors.ids import stable_id
from processors.model import MemberState, Output

log = logging.getLogger(__name__)

# Commands every member partition works on (STATE_PASSIVE_OPT_IN is recorded, not fanned out).
FANNED_OUT = frozenset({"CALCULATE_BENCHMARKS"} | set(state_lists.MEMBER_COMMANDS))
# Commands that need the plan year's regional benchmarks.
NEEDS_BENCHMARKS = frozenset({
    state_lists.PRELIMINARY_REASSIGNMENT_LIST, state_lists.REASSIGNMENT_RUN, state_lists.SECOND_REASSIGNMENT_RUN,
})
SCAN_CHUNK = 2000


class CommandError(ValueError):
    """A schema-valid command that cannot be run (goes to dead-letters)."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


def _enum(v: Any) -> str:
    return getattr(v, "value", v)


def fanout_payload(
    cmd: Mapping[str, Any],
    partitions: int,
    benchmarks: Mapping[str, Decimal] | None,
    opted_in_states: Iterable[str] = (),
) -> dict[str, Any]:
    """The per-partition message for a cycle command (same for every partition)."""
    command = _enum(cmd["command"])
    if command == "UNKNOWN" or command not in FANNED_OUT:
        raise CommandError("UNSUPPORTED_COMMAND", f"command {command!r} is not supported by this worker")
    if command == "CALCULATE_BENCHMARKS" and cmd.get("reference_month") is None:
        raise CommandError("MISSING_REFERENCE_MONTH", "CALCULATE_BENCHMARKS needs reference_month")
    as_of: dt.datetime = cmd["as_of"]
    ref = cmd.get("reference_month")
    return {
        "command_id": command_id(cmd),
        "command": command,
        "plan_year": cmd["plan_year"],
        "as_of": as_of.isoformat(),
        "reference_month": ref.isoformat() if ref else None,
        "seed": cmd.get("seed") if cmd.get("seed") is not None else 0,
        "partitions": partitions,
        "benchmarks": {r: str(v) for r, v in (benchmarks or {}).items()},
        "opted_in_states": sorted(opted_in_states),
    }


def command_id(cmd: Mapping[str, Any]) -> str:
    """Deterministic id of a command from its content (a re-sent identical command has the same id)."""
    return stable_id(
        "C", _enum(cmd["command"]), cmd["plan_year"], cmd["as_of"].isoformat(),
        cmd.get("reference_month"), cmd.get("seed"), cmd.get("state_code"),
    )


def decode_payload(raw: bytes) -> dict[str, Any]:
    p = orjson.loads(raw)
    p["as_of_dt"] = dt.datetime.fromisoformat(p["as_of"])
    p["reference_month_d"] = dt.date.fromisoformat(p["reference_month"]) if p["reference_month"] else None
    p["benchmarks_d"] = {r: Decimal(v) for r, v in p["benchmarks"].items()}
    return p


def benchmarks_for_year(records: Iterable[Mapping[str, Any]], plan_year: int) -> tuple[dict[str, Decimal], dt.datetime | None]:
    """Region -> benchmark of ``plan_year`` from RegionBenchmark records, and when they were calculated."""
    out: dict[str, Decimal] = {}
    latest: dt.datetime | None = None
    for r in records:
        if r["plan_year"] == plan_year:
            out[r["region"]] = Decimal(r["benchmark_premium"])
            at = r.get("calculated_at")
            if at is not None and (latest is None or at > latest):
                latest = at
    return out, latest


def partition_counts(payload: Mapping[str, Any], states: Iterable[MemberState]) -> dict[str, int]:
    return lis_counts.count_lis_enrollment(states, payload["reference_month_d"])


def result_message(payload: Mapping[str, Any], partition: int, body: Mapping[str, Any]) -> tuple[bytes, bytes]:
    return payload["command_id"].encode(), orjson.dumps({
        "command_id": payload["command_id"], "command": payload["command"], "plan_year": payload["plan_year"],
        "as_of": payload["as_of"], "reference_month": payload["reference_month"],
        "partitions": payload["partitions"], "partition": partition, **body,
    })


def merge_progress(progress: dict[str, Any] | None, report: Mapping[str, Any]) -> dict[str, Any]:
    """Add one partition's report (idempotent: a redelivered report replaces itself)."""
    progress = dict(progress or {"parts": {}, "done": False})
    parts = dict(progress["parts"])
    parts[str(report["partition"])] = {k: v for k, v in report.items() if k in ("counts", "summary")}
    progress.update({k: report[k] for k in ("command_id", "command", "plan_year", "as_of", "reference_month", "partitions")})
    progress["parts"] = parts
    return progress


def complete(progress: Mapping[str, Any]) -> bool:
    return len(progress["parts"]) >= progress["partitions"]


def benchmark_outputs(progress: Mapping[str, Any], plans: Mapping[str, Any]) -> list[Output]:
    counts = lis_counts.merge_counts(*(p.get("counts", {}) for p in progress["parts"].values()))
    return benchmark.calculate_benchmarks(
        plans, counts, progress["plan_year"], dt.date.fromisoformat(progress["reference_month"]),
        dt.datetime.fromisoformat(progress["as_of"]),
    )


def summarize(outputs: Iterable[Output]) -> Counter[str]:
    c: Counter[str] = Counter()
    for o in outputs:
        v = o.value
        if o.topic == "trr-replies":
            c[f"trc_{v['transaction_reply_code']}"] += 1
        elif o.topic == "beneficiary-notices":
            c[f"letter_{v.get('publication') or v['notice_type']}"] += 1
        elif o.topic == "plan-notices":
            c[f"plan_{v['notice_type']}"] += 1
        elif o.topic == "state-reassignment-lists":
            c[f"list_{v['list_type']}"] += 1
    return c
