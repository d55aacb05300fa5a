"""Scenario files: JSON lines of ``{"topic", "key", "value"}`` played in log order.

Records of different topics are not ordered by Kafka, so a scenario is played
in stages (a run of lines of one topic; every cycle command alone), waiting
after each until the worker has processed it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from streams.kafka.serde import Serde
from streams.tools.io import produce, wait_consumed
from streams.tools.jsonconv import record_from_json

REPO = Path(__file__).resolve().parents[2]
ANNUAL_CYCLE_DEMO = REPO / "tests" / "golden" / "annual_cycle" / "inputs.jsonl"
# A cycle command is done when its fan-out and the partitions' reports are consumed.
CYCLE_INTERNAL = ("cycle-commands", "partd-member-commands", "partd-cycle-results")


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


def waits_for(topic: str) -> tuple[set[str], int]:
    """Which topics to wait on after a stage of ``topic``, and how many passes."""
    if topic == "cycle-commands":
        return set(CYCLE_INTERNAL), 2  # the reports arrive after the fan-out is consumed
    return {topic}, 1


async def play(bootstrap: str, serde: Serde, group: str, lines: list[dict[str, Any]],
               *, timestamp_ms: int | None = None, timeout: float = 180.0,
               on_stage: Callable[[int, int, list[dict[str, Any]]], None] | None = None) -> int:
    """Publish ``lines`` stage by stage, each processed before the next; ``on_stage(i, n, stage)`` after each."""
    n = 0
    todo = stages(lines)
    for i, stage in enumerate(todo, 1):
        records = [(line["topic"], line.get("key"), record_from_json(line["topic"], line["value"])) for line in stage]
        n += await produce(bootstrap, serde, records, timestamp_ms=timestamp_ms)
        topics, passes = waits_for(stage[0]["topic"])
        for _ in range(passes):
            await wait_consumed(bootstrap, group, topics, timeout=timeout)
        if on_stage is not None:
            on_stage(i, len(todo), stage)
    return n
