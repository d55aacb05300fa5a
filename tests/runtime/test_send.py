"""streams.runtime.send with a fake of aiokafka's producer (batches, futures): no broker, milliseconds.

tests/integration/test_send.py checks the same Sender against a real broker (partitions, order, timestamps).
"""
from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.partitioner import DefaultPartitioner

from streams.runtime.send import DeliveryFailed, Sender


class FakeBatch:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.records: list[tuple[Any, Any, Any]] = []
        self.size = 0

    def append(self, key: bytes | None, value: bytes | None, timestamp: int | None) -> Any:
        n = len(value or b"") + len(key or b"")
        if self.records and self.size + n > self.capacity or n > self.capacity:
            return None
        self.records.append((key, value, timestamp))
        self.size += n
        return object()


class FakeProducer:
    def __init__(self, capacity: int = 100, fail: bool = False) -> None:
        self.capacity = capacity
        self.fail = fail
        self.sent: list[tuple[str, int, list[Any]]] = []  # (topic, partition, records) per batch, in order
        self.offsets: dict[tuple[str, int], int] = {}

    def create_batch(self) -> FakeBatch:
        return FakeBatch(self.capacity)

    async def partitions_for(self, topic: str) -> set[int]:
        return {0, 1, 2, 3}

    async def send_batch(self, batch: FakeBatch, topic: str, partition: int) -> asyncio.Future:
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self.sent.append((topic, partition, list(batch.records)))
        if self.fail:
            future.set_exception(RuntimeError("broker gone"))
        else:
            base = self.offsets.get((topic, partition), 0)
            self.offsets[(topic, partition)] = base + len(batch.records)
            future.set_result(SimpleNamespace(offset=base))
        return future

    async def flush(self) -> None:
        pass


def _sender(producer: FakeProducer) -> Sender:
    sender = Sender("unused:9092")
    sender.producer = producer  # type: ignore[assignment]
    return sender


def _part(key: bytes) -> int:
    return DefaultPartitioner()(key, [0, 1, 2, 3], [0, 1, 2, 3])


def test_send_puts_each_record_on_its_keys_partition_in_order() -> None:
    producer = FakeProducer(capacity=10_000)
    records = [("t", f"K{i % 5}".encode(), f"v{i}".encode(), i) for i in range(20)]
    asyncio.run(_sender(producer).send(records))
    got: dict[int, list[Any]] = {}
    for topic, partition, batch in producer.sent:
        got.setdefault(partition, []).extend(batch)
    want: dict[int, list[Any]] = {}
    for _, k, v, ts in records:
        want.setdefault(_part(k), []).append((k, v, ts))
    assert got == want


def test_appended_outputs_of_one_step_travel_as_one_batch_per_partition() -> None:
    producer = FakeProducer(capacity=10_000)
    sender = _sender(producer)

    async def run() -> None:
        for task in range(4):  # four tasks append their outputs to the same contract's partition
            await sender.append([("trr-replies", b"S7101", f"reply {task}".encode(), task)])
        assert producer.sent == []  # open until the step ends
        await sender.submit()

    asyncio.run(run())
    assert producer.sent == [("trr-replies", _part(b"S7101"), [(b"S7101", f"reply {t}".encode(), t) for t in range(4)])]


def test_held_records_wait_for_the_flush_unless_a_batch_fills_and_report_their_offsets() -> None:
    producer = FakeProducer(capacity=25)
    sender = _sender(producer)
    reached: list[tuple[int, int]] = []

    async def run() -> None:
        await sender.hold("changelog", 2, [(b"k", b"123456789", 1), (b"k", b"123456789", 2)],
                          lambda f, n: reached.append((f.result().offset, n)))
        assert producer.sent == []
        await sender.hold("changelog", 2, [(b"k", b"123456789", 3)], lambda f, n: reached.append((f.result().offset, n)))
        assert len(producer.sent) == 1  # full: handed over at once
        await sender.flush()

    asyncio.run(run())
    assert [len(b) for _, _, b in producer.sent] == [2, 1] and reached == [(0, 2), (2, 1)]


def test_a_record_larger_than_a_batch_fails_loudly() -> None:
    sender = _sender(FakeProducer(capacity=10))
    with pytest.raises(DeliveryFailed):
        asyncio.run(sender.send([("t", b"k", b"x" * 50, None)]))


def test_a_flush_raises_when_a_batch_was_not_delivered_and_succeeds_otherwise() -> None:
    ok = _sender(FakeProducer())
    asyncio.run(ok.append([("t", b"k", b"v", None)]))
    asyncio.run(ok.flush())
    assert ok.records_sent == 1 and ok.batches_sent == 1
    bad = _sender(FakeProducer(fail=True))

    async def run() -> None:
        await bad.append([("t", b"k", b"v", None)])
        await bad.flush()

    with pytest.raises(DeliveryFailed):
        asyncio.run(run())
