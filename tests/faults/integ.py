"""Integration helpers for the fault tests: reading topics with offsets, killing at the right time, checking outputs."""
from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.kafka.internals import tansu as tansu_workarounds
from streams.kafka.serde import Serde
from streams.runtime import state as st
from streams.runtime.deadletters import Source
from streams.tools.io import end_offsets

CHANGELOG = "partd-members-changelog"
RESULTS = Path(os.environ.get("PARTD_FAULT_RESULTS", "/tmp/partd-fault-results.jsonl"))


def read_sources(bootstrap: str, topics: Iterable[str]) -> list[Source]:
    """Every record of ``topics`` with partition, offset and timestamp, in partition order."""
    tansu_workarounds.apply()

    async def run() -> list[Source]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest",
                                    max_partition_fetch_bytes=8 * 1024 * 1024)
        await consumer.start()
        try:
            tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
            ends = await consumer.end_offsets(tps)
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            out: dict[TopicPartition, list[Source]] = {tp: [] for tp in tps}
            while any([await consumer.position(tp) < ends[tp] for tp in tps]):
                for tp, msgs in (await consumer.getmany(timeout_ms=500, max_records=5000)).items():
                    out[tp].extend(Source(m.topic, m.partition, m.offset, m.key, m.value, m.timestamp) for m in msgs)
            return [s for tp in tps for s in out[tp]]
        finally:
            await consumer.stop()

    return asyncio.run(run())


def count(bootstrap: str, topic: str) -> int:
    return sum(asyncio.run(end_offsets(bootstrap, [topic])).values())


def kill_when(worker: Any, condition: Callable[[], bool], timeout: float = 120.0, poll: float = 0.05) -> bool:
    """SIGKILL ``worker`` as soon as ``condition()`` holds; False if it never did (worker left running)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            worker.kill()
            return True
        time.sleep(poll)
    return False


def changelog_table(bootstrap: str) -> dict[bytes, Any]:
    """Last value per key of the member table's changelog: the members (no bookkeeping, no runtime keys)."""
    table: dict[bytes, Any] = {}
    for s in read_sources(bootstrap, [CHANGELOG]):
        table[s.key] = st.member_of(s.value) if s.value and not s.key.startswith(b"\x00") else None
    return {k: v for k, v in table.items() if v is not None}


def changelog_applied(bootstrap: str) -> dict[bytes, dict[str, int]]:
    """Last value per key of the member table's changelog: the offsets applied per input."""
    out: dict[bytes, dict[str, int]] = {}
    for s in read_sources(bootstrap, [CHANGELOG]):
        stored = st.decode(s.value) if s.value and not s.key.startswith(b"\x00") else None
        if stored is not None:
            out[s.key] = stored.applied
    return out


def decoded(serde: Serde, sources: list[Source]) -> list[tuple[Source, dict[str, Any]]]:
    out = []
    for s in sources:
        rec, err = serde.decode_many(s.topic, [s.value])[0]
        assert err is None, err
        out.append((s, rec))
    return out


def stable_id(topic: str, value: dict[str, Any]) -> Any:
    """The id a consumer drops duplicates by (docs/delivery.md)."""
    if topic in ("trr-replies", "state-responses"):
        return value["cms_tracking_id"]
    if topic == "dead-letters":
        return (value["source_topic"], value["partition"], value["offset"])
    if topic == "lis-benchmarks":
        return (value["region"], value["plan_year"], value["reference_month"])
    if topic == "state-reassignment-lists":
        return json.dumps(value, default=str, sort_keys=True)
    return value["notice_id"]


def dedupe_topic(serde: Serde, sources: list[Source]) -> tuple[Counter, int]:
    """(multiset of (key, value bytes) kept, duplicates dropped) as a consumer dropping by id sees it."""
    seen: set[Any] = set()
    kept: Counter = Counter()
    dups = 0
    for s, rec in decoded(serde, sources):
        ident = stable_id(s.topic, rec)
        if ident in seen:
            dups += 1
            continue
        seen.add(ident)
        kept[(s.key, s.value)] += 1
    return kept, dups


def report(name: str, **numbers: Any) -> None:
    line = json.dumps({"test": name, **numbers}, default=str)
    print(line)
    try:
        with RESULTS.open("a") as f:
            f.write(line + "\n")
    except OSError:
        pass
