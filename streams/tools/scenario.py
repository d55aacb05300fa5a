"""Scenario files: JSON lines of ``{"topic", "key", "value"}`` played in log order.

A scenario is played in stages (a run of lines of one topic; every cycle
command alone), waiting after each until the worker has applied it: member
records until the group has committed them, a cycle command until every member
partition has applied it (:func:`wait_cycle`). Records keep the order they are
published in: the worker applies the member inputs in record-timestamp order.
"""
from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any, Callable

import orjson

from streams import topics
from streams.kafka.serde import Serde
from streams.tools.io import produce, read_raw, wait_consumed
from streams.tools.jsonconv import record_from_json

REPO = Path(__file__).resolve().parents[2]
ANNUAL_CYCLE_DEMO = REPO / "tests" / "golden" / "annual_cycle" / "inputs.jsonl"


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def stages(lines: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Consecutive lines of one topic form a stage; each cycle command is its own stage."""
    out: list[list[dict[str, Any]]] = []
    for line in lines:
        if out and out[-1][0]["topic"] == line["topic"] and line["topic"] != "cycle-commands":
            out[-1].append(line)
        else:
            out.append([line])
    return out


async def wait_cycle(bootstrap: str, serde: Serde, group: str, record: dict[str, Any], *,
                     timeout: float = 180.0) -> str:
    """Wait until a published cycle command is applied by every member partition.

    Returns ``"done"`` (the results agent's done record is on ``partd-cycle-results``; for a benchmark
    calculation, the done record of its second step, the amounts and the preview: streams/runtime/cycle.py),
    ``"recorded"`` for a state opt-in (nothing to scan), or the error code of the
    dead letter the cycle agent wrote for a command that cannot be run.
    """
    from streams.runtime import cycle

    await wait_consumed(bootstrap, group, [topics.CYCLE_COMMANDS], timeout=timeout)
    command = getattr(record["command"], "value", record["command"])
    value = serde.encode(topics.CYCLE_COMMANDS, record)
    command_id = cycle.command_id(record)
    if command == cycle.CALCULATE_BENCHMARKS:  # applied once its second step is done everywhere (cycle.py)
        command_id = cycle.preview_id(command_id)
    deadline = time.monotonic() + timeout
    while True:
        for _, raw in await read_raw(bootstrap, topics.CYCLE_RESULTS):
            report = orjson.loads(raw or b"{}")
            if report.get("done") and report.get("command_id") == command_id:
                return "done"
        refused = [d["error_code"] for d in await _dead_letters(bootstrap, serde) if d["raw_value"] == value]
        if refused:
            return refused[-1]
        if command == "STATE_PASSIVE_OPT_IN":
            return "recorded"
        if time.monotonic() > deadline:
            raise TimeoutError(f"{command} {record['plan_year']} not applied by every member partition after "
                               f"{timeout:.0f}s: is `partd worker` running against this broker? (see its log)")
        await asyncio.sleep(0.25)


async def _dead_letters(bootstrap: str, serde: Serde) -> list[dict[str, Any]]:
    out = []
    for _, raw in await read_raw(bootstrap, topics.DEAD_LETTERS):
        record, error = serde.decode_many(topics.DEAD_LETTERS, [raw])[0]
        if error is None and record["source_topic"] == topics.CYCLE_COMMANDS:
            out.append(record)
    return out


async def play(bootstrap: str, serde: Serde, group: str, lines: list[dict[str, Any]],
               *, timestamp_ms: int | None = None, timeout: float = 180.0,
               on_stage: Callable[[int, int, list[dict[str, Any]]], None] | None = None) -> int:
    """Publish ``lines`` stage by stage, each processed before the next; ``on_stage(i, n, stage)`` after each."""
    n = 0
    todo = stages(lines)
    for i, stage in enumerate(todo, 1):
        records = [(line["topic"], line.get("key"), record_from_json(line["topic"], line["value"])) for line in stage]
        n += await produce(bootstrap, serde, records, timestamp_ms=timestamp_ms)
        if stage[0]["topic"] == topics.CYCLE_COMMANDS:
            await wait_cycle(bootstrap, serde, group, records[0][2], timeout=timeout)
        else:
            await wait_consumed(bootstrap, group, {stage[0]["topic"]}, timeout=timeout)
        if on_stage is not None:
            on_stage(i, len(todo), stage)
    return n
