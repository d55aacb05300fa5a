"""Fakes of what the member runtime talks to (Faust's consumer, the member table, the producer, the reference
readers), so streams/runtime is unit-tested without a broker, in milliseconds.

Each fake keeps a journal of what was asked of it, in order (``events``), so a test can check the delivery
rule's order (hold/append, flush, commit) and what the consumer was told (pause, resume, seek).
"""
from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from processors import plans as plan_rules
from streams import topics
from streams.config import Settings
from streams.kafka.registry import SchemaRegistry
from streams.kafka.serde import Serde
from streams.observability.metrics import Metrics
from streams.runtime import state as st
from streams.runtime.context import RuntimeContext
from streams.runtime.deadletters import Source
from streams.runtime.order import Actions
from streams.runtime.send import DeliveryFailed
from streams.runtime.worker import MemberRuntime
from streams.tools import sample
from streams.tools.jsonconv import record_from_json

SERDE = Serde(SchemaRegistry.embedded())
PARTITIONS = 4
CHANGELOG = "partd-members-changelog"


class Journal(list):
    """What happened, in order: ("flush",), ("commit", offsets), ("seek", tp, offset), ..."""


class FakeConsumer:
    """The runtime's door to Faust's consumer (streams.runtime.consume.FaustConsumer), as a test sets it."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.assigned: set[tuple[str, int]] = set()
        self.hw: dict[tuple[str, int], int] = {}  # high-water marks; absent: not fetched yet
        self.positions: dict[tuple[str, int], int] = {}  # how far records were handed over
        self.committed: dict[tuple[str, int], int] = {}
        self.refuse = False  # the group rebalanced: commits are refused
        self.paused: set[tuple[str, int]] = set()
        self.bulk_mode = False  # True: records are handed to the runtime's intake (Intake.put), not to the channel

    def assign(self, *partitions: int) -> None:
        self.assigned = {(t, p) for t in topics.MEMBER_INPUTS for p in partitions}

    def assignment(self) -> set[tuple[str, int]]:
        return set(self.assigned)

    def generation(self) -> int:
        return 1

    def bulk(self) -> bool:
        return self.bulk_mode

    def new_step(self) -> None:
        pass

    def partitions(self, topic: str) -> int | None:
        return PARTITIONS

    def highwater(self, topic: str, partition: int) -> int | None:
        return self.hw.get((topic, partition))

    def position(self, topic: str, partition: int) -> int | None:
        return self.positions.get((topic, partition))

    async def commit(self, offsets: Mapping[tuple[str, int], int]) -> bool:
        self.journal.append(("commit", dict(offsets)))
        if self.refuse:
            return False
        self.committed.update(offsets)
        return True

    async def apply(self, actions: Actions) -> None:
        for tp in actions.pause:
            self.paused.add(tp)
            self.journal.append(("pause", tp))
        for tp in actions.resume:
            self.paused.discard(tp)
            self.journal.append(("resume", tp))
        for tp, offset in actions.seek:
            self.journal.append(("seek", tp, offset))


class FakeTable:
    """The member table (streams.runtime.context.MemberTable): a dict per partition, and its changelog."""

    changelog = CHANGELOG

    def __init__(self) -> None:
        self.data: dict[int, dict[bytes, bytes]] = {}
        self.persisted_at: dict[int, int] = {}
        self.restored: list[Any] = []

    def get(self, partition: int, key: bytes) -> bytes | None:
        return self.data.get(partition, {}).get(key)

    def get_many(self, partition: int, keys: list[bytes]) -> list[bytes | None]:
        return [self.get(partition, k) for k in keys]

    def write(self, partition: int, items: Iterable[tuple[bytes, bytes | None]]) -> None:
        db = self.data.setdefault(partition, {})
        for key, value in items:
            if value is None:
                db.pop(key, None)
            else:
                db[key] = value

    def items(self, partition: int) -> list[tuple[bytes, bytes]]:
        return sorted(self.data.get(partition, {}).items())

    def persisted(self, partition: int, offset: int) -> None:
        self.persisted_at[partition] = offset

    def pending(self) -> list[int]:
        return []

    async def restore(self, transform: Any) -> Any:
        return None

    def memory(self) -> dict[str, int]:
        return {}

    def members(self) -> dict[bytes, Any]:
        """Every key that holds a member, whatever its partition: the rules' view (no bookkeeping)."""
        return {k: m for db in self.data.values() for k, v in db.items()
                if k[:1] != b"\x00" and (m := st.member_of(v)) is not None}


class FakeSender:
    """The runtime's producer (streams.runtime.send.Sender): records handed over, and what a flush made durable."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.pending: list[tuple[str, bytes | None, bytes | None, int | None]] = []  # handed over, not flushed
        self.delivered: list[tuple[str, bytes | None, bytes | None, int | None]] = []  # acknowledged by a flush
        self.fail = False

    async def send(self, records: Iterable[Any]) -> None:
        await self.append(records)

    async def append(self, records: Iterable[Any]) -> None:
        for r in records:
            self.pending.append(tuple(r))
        self.journal.append(("append",))

    async def submit(self) -> None:
        pass

    async def hold(self, topic: str, partition: int, kvs: Iterable[Any], on_batch: Any = None) -> None:
        self.pending.extend((topic, k, v, ts) for k, v, ts in kvs)
        self.journal.append(("hold", partition))

    async def flush(self) -> None:
        self.journal.append(("flush",))
        if self.fail:
            raise DeliveryFailed("refused")
        self.delivered.extend(self.pending)
        self.pending.clear()

    def outputs(self, topic: str, *, delivered_only: bool = False) -> list[tuple[bytes | None, bytes | None]]:
        records = self.delivered if delivered_only else self.delivered + self.pending
        return [(k, v) for t, k, v, _ in records if t == topic]


class FakeOffsets:
    """The group's committed offsets of partitions a worker is given (streams.runtime.consume.GroupOffsets)."""

    def __init__(self, consumer: FakeConsumer) -> None:
        self.consumer = consumer

    async def starting(self, tps: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        return {tp: self.consumer.committed.get(tp, 0) for tp in tps}


class FakeLog:
    """The cycle commands every worker reads whole (streams.runtime.reference.CommandLog)."""

    def __init__(self) -> None:
        self.items: list[tuple[Source, dict[str, Any] | None]] = []
        self.errors: dict[Any, Any] = {}
        self.version = object()

    def add(self, src: Source, record: dict[str, Any] | None) -> None:
        self.items.append((src, record))
        self.version = object()

    def commands(self) -> list[Source]:
        return [s for s, _ in self.items]

    def caught_up(self) -> bool:
        return True


class FakeTableReader:
    """A reference table read whole (streams.runtime.reference.LatestTable)."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.data = data or {}
        self.version = object()
        self.syncs = 0

    async def sync(self) -> None:
        self.syncs += 1


def sample_catalog() -> dict[str, Any]:
    out = {}
    for p in sample.PLANS:
        k, v = plan_rules.apply_plan_update(record_from_json("plan-year-updates", p))
        out[k] = v
    return out


class Fakes:
    """A runtime context made of fakes, and the member runtime on it."""

    def __init__(self, *, settings: Settings | None = None, plans: dict[str, Any] | None = None) -> None:
        self.journal = Journal()
        self.consumer = FakeConsumer(self.journal)
        self.table = FakeTable()
        self.sender = FakeSender(self.journal)
        self.log = FakeLog()
        self.plans = FakeTableReader(sample_catalog() if plans is None else plans)
        self.done: dict[str, Any] = {}
        ready = asyncio.Event()
        ready.set()

        async def commit_other_agents() -> None:
            self.journal.append(("agents",))

        self.ctx = RuntimeContext(
            settings=settings or Settings(partitions=PARTITIONS), serde=SERDE, metrics=Metrics(), sender=self.sender,
            consumer=self.consumer, table=self.table, offsets=FakeOffsets(self.consumer), plans=self.plans,
            command_log=self.log, benchmarks=None, cycle_done=self.done, ready=ready,
            commit_other_agents=commit_other_agents,
        )
        self.runtime = MemberRuntime(self.ctx)

    def caught_up(self, sources: Iterable[Source]) -> None:
        """Tell the consumer the high-water marks of every member input partition: the records given."""
        for t in topics.MEMBER_INPUTS:
            for p in range(PARTITIONS):
                self.consumer.hw.setdefault((t, p), 0)
        for s in sources:
            tp = (s.topic, s.partition)
            self.consumer.hw[tp] = max(self.consumer.hw.get(tp, 0), s.offset + 1)

    async def drive(self, sources: list[Source], *, chunk: int = 50) -> None:
        """The loop's body (route, step) over ``sources`` in fetch chunks, until nothing more is released."""
        for i in range(0, len(sources), chunk):
            await self.runtime.route(sources[i:i + chunk])
            await self.runtime.step()
        for _ in range(10_000):
            more, _ = await self.runtime.step()
            if not more:
                break


def encode(topic: str, value: dict[str, Any]) -> bytes:
    return SERDE.encode(topic, record_from_json(topic, value))


def log_of(records: list[tuple[str, dict[str, Any]]], *, ts: int = 1_760_000_000_000,
           partitions: int = PARTITIONS) -> list[Source]:
    """Input records as a partitioned log: each record to its key's partition (murmur2, as producers do), the
    offsets of each partition in order, one millisecond apart (publish order)."""
    from aiokafka.partitioner import murmur2

    nxt: dict[tuple[str, int], int] = {}
    out = []
    for i, (topic, value) in enumerate(records):
        key = value["mbi"].encode()
        p = (murmur2(key) & 0x7FFFFFFF) % partitions
        off = nxt.get((topic, p), 0)
        nxt[(topic, p)] = off + 1
        out.append(Source(topic, p, off, key, encode(topic, value), ts + i))
    return out
