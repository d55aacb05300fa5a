"""streams.runtime.worker with fakes of Faust's consumer, the table and the producer: no broker, milliseconds."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from faust.types import TP

from streams import topics
from streams.config import Settings
from streams.kafka.registry import SchemaRegistry
from streams.kafka.serde import Serde
from streams.observability.metrics import Metrics
from streams.runtime.deadletters import Source
from streams.runtime.worker import MemberRuntime

ENROLL = topics.ENROLLMENT_REQUESTS


class FakeThread:
    def __init__(self, consumer: "FakeConsumer") -> None:
        self.consumer = consumer

    async def call_thread(self, fn: Any, *args: Any) -> Any:
        return fn(*args)

    def seek(self, tp: Any, offset: int) -> None:
        self.consumer.seeks.append((tp.topic, tp.partition, offset))


class FakeConsumer:
    def __init__(self) -> None:
        self.assigned: set[TP] = set()
        self.hw: dict[tuple[str, int], int] = {}
        self.seeks: list[tuple[str, int, int]] = []
        self.flow: list[tuple[str, str, int]] = []
        self._thread = FakeThread(self)
        self._read_offset: dict[Any, Any] = {}

    def assignment(self) -> set[TP]:
        return set(self.assigned)

    def highwater(self, tp: TP) -> int | None:
        return self.hw.get((tp.topic, tp.partition))

    def on_buffer_full(self, tp: TP) -> None:
        self.flow.append(("pause", tp.topic, tp.partition))

    def on_buffer_drop(self, tp: TP) -> None:
        self.flow.append(("resume", tp.topic, tp.partition))

    def topic_partitions(self, topic: str) -> int:
        return 4


class FakeSender:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    async def send(self, records: Any) -> None:
        self.sent.extend(records)

    async def hold(self, topic: str, partition: int, kvs: Any, on_batch: Any = None) -> None:
        self.sent.extend((topic, k, v, ts) for k, v, ts in kvs)

    async def flush(self) -> None:
        pass


class FakeOffsets:
    def __init__(self) -> None:
        self.committed: dict[tuple[str, int], int] = {}

    async def starting(self, tps: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        return {tp: self.committed.get(tp, 0) for tp in tps}


class FakeLog:
    items: list[Any] = []
    version = object()
    errors: dict[Any, Any] = {}

    def commands(self) -> list[Any]:
        return []

    def caught_up(self) -> bool:
        return True


def make_runtime() -> tuple[MemberRuntime, FakeConsumer]:
    consumer = FakeConsumer()
    app = SimpleNamespace(consumer=consumer, consumer_generation_id=1)
    partd = SimpleNamespace(
        app=app, settings=Settings(partitions=4), serde=Serde(SchemaRegistry.embedded()), metrics=Metrics(),
        members=SimpleNamespace(data=SimpleNamespace(data={})), sender=FakeSender(), command_log=FakeLog(),
        results=SimpleNamespace(done={}), offsets=FakeOffsets(),
    )

    async def commit_other_agents() -> None:
        pass

    partd.commit_other_agents = commit_other_agents
    return MemberRuntime(partd), consumer


def _tps(partition: int) -> set[TP]:
    return {TP(t, partition) for t in topics.MEMBER_INPUTS}


def _src(offset: int) -> Source:
    return Source(ENROLL, 0, offset, b"1EG4TE5MK73", b"v", 1_700_000_000_000 + offset)


def test_a_partition_revoked_after_a_seek_and_given_back_takes_its_records() -> None:
    """A seek's re-fetch state must not outlive the partition (issue 24): a revoke closes everything about it.

    The worker seeks enrollment-requests[0] back after a jump; the partition is revoked and comes
    back within RESYNC_S; the new fetch starts at the committed offset, not at the sought one, and
    its records must be taken, not dropped as "fetched before the seek".
    """
    runtime, consumer = make_runtime()

    async def run() -> int:
        consumer.assigned = _tps(0)
        await runtime.on_rebalance_complete()
        await runtime._route([_src(0), _src(5)])  # offsets 1..4 never came: sought back to 1
        assert consumer.seeks == [(ENROLL, 0, 1)]
        await runtime.before_revoke(_tps(0))
        await runtime.on_rebalance_complete()  # given back: starts again at the committed offset, 0
        await runtime._route([_src(0), _src(1), _src(2)])
        return runtime._buffered((ENROLL, 0))

    assert asyncio.run(run()) == 3
