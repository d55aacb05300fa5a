"""What partd produced, read back with an independent client: kafka-python, not the product's aiokafka code.

Broker-backed tests check the product's outputs through this module, so a bug in partd's own reading path
(``streams/tools/io.py``) or in its Tansu work-arounds (``streams/kafka/internals/tansu.py``) cannot hide a
bug in what it wrote. The end of each partition is the high-water mark a Fetch reports (kafka-python's
``highwater``), never ListOffsets, which Tansu answers wrongly (INFRA.md quirk 1); committed offsets come
from OffsetFetch. Values are decoded with fastavro against ``schemas/`` by the schema id in each record
(Confluent wire format), not with ``streams.kafka.serde``.
"""
from __future__ import annotations

import io
import json
import struct
import time
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import fastavro
from kafka import KafkaConsumer, TopicPartition

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"


class Record(NamedTuple):
    """A record as kafka-python read it (the fields the tests need; ``Source``-shaped)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None


def _consumer(bootstrap: str, **options: Any) -> KafkaConsumer:
    return KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest",
                         max_partition_fetch_bytes=8 * 1024 * 1024, fetch_max_wait_ms=100,
                         client_id="partd-tests-kafka-python", **options)


def _partitions(consumer: KafkaConsumer, topics: Iterable[str]) -> list[TopicPartition]:
    consumer.topics()  # a metadata request: the partitions of every topic
    return [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]


def read(bootstrap: str, topics: Iterable[str], timeout: float = 60.0) -> list[Record]:
    """Every record of ``topics``, in partition and offset order, up to the high-water mark of a fetch made
    after the call began."""
    consumer = _consumer(bootstrap, group_id=None)
    try:
        tps = _partitions(consumer, list(topics))
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        out: dict[TopicPartition, list[Record]] = {tp: [] for tp in tps}
        deadline = time.monotonic() + timeout
        while True:
            for tp, msgs in consumer.poll(timeout_ms=200, max_records=10_000).items():
                out[tp].extend(Record(m.topic, m.partition, m.offset, m.key, m.value, m.timestamp) for m in msgs)
            ends = {tp: consumer.highwater(tp) for tp in tps}
            if all(hw is not None and consumer.position(tp) >= hw for tp, hw in ends.items()):
                return [r for tp in tps for r in out[tp]]
            if time.monotonic() > deadline:
                raise TimeoutError(f"kafka-python did not read {sorted(set(t.topic for t in tps))} to the end "
                                   f"in {timeout:.0f} s: {ends}")
    finally:
        consumer.close()


def ends(bootstrap: str, topics: Iterable[str]) -> dict[tuple[str, int], int]:
    """The high-water mark of each partition of ``topics`` (from a fetch)."""
    out: dict[tuple[str, int], int] = {}
    for r in read(bootstrap, topics):
        out[(r.topic, r.partition)] = max(out.get((r.topic, r.partition), 0), r.offset + 1)
    return out


def committed(bootstrap: str, group: str, topics: Iterable[str]) -> dict[tuple[str, int], int]:
    """The offsets ``group`` has committed on ``topics`` (OffsetFetch; a partition never committed: absent)."""
    consumer = _consumer(bootstrap, group_id=group)
    try:
        out = {}
        for tp in _partitions(consumer, list(topics)):
            offset = consumer.committed(tp)
            if offset is not None:
                out[(tp.topic, tp.partition)] = offset
        return out
    finally:
        consumer.close()


def all_committed(bootstrap: str, group: str, topics: Iterable[str]) -> dict[tuple[str, int], int]:
    """Partitions of ``topics`` whose records ``group`` has not all committed: ``{(topic, partition): lag}``."""
    topics = list(topics)
    done = committed(bootstrap, group, topics)
    return {tp: end - done.get(tp, 0) for tp, end in ends(bootstrap, topics).items() if done.get(tp, 0) < end}


@lru_cache(maxsize=None)
def _schemas() -> dict[int, Any]:
    """Schema id -> parsed writer schema, from schemas/registry.json (current and previous versions)."""
    out: dict[int, Any] = {}
    for entry in json.loads((SCHEMAS / "registry.json").read_text()).values():
        for version in [entry, *entry.get("previous", [])]:
            schema = json.loads((SCHEMAS / version["schema"]).read_text())
            out[version["id"]] = fastavro.parse_schema(schema, named_schemas={})
    return out


def decode(value: bytes) -> dict[str, Any]:
    """A Confluent wire-format Avro value (magic byte 0, 4-byte schema id, Avro binary), by its own schema id."""
    magic, schema_id = struct.unpack(">bI", value[:5])
    assert magic == 0, f"magic byte {magic}"
    return fastavro.schemaless_reader(io.BytesIO(value[5:]), _schemas()[schema_id], None)
