"""streams.runtime.send on a real broker: batches land exactly where ``producer.send`` puts each record, in order,
with the input record's timestamp; a batch the broker refuses fails the flush (and so the commit)."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka import TopicPartition

from streams.kafka import clients
from streams.runtime.send import DeliveryFailed, Sender

pytestmark = pytest.mark.integration


async def _read(bootstrap: str, topic: str, expect: int) -> dict[int, list[tuple[bytes, bytes, int]]]:
    consumer = clients.consumer(bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not tps:
            await consumer._client.force_metadata_update()
            tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        got: dict[int, list[tuple[bytes, bytes, int]]] = {}
        n = 0
        for _ in range(100):
            batch = await consumer.getmany(timeout_ms=300)
            for tp, msgs in batch.items():
                got.setdefault(tp.partition, []).extend((m.key, m.value, m.timestamp) for m in msgs)
                n += len(msgs)
            if n >= expect:
                break
        return got
    finally:
        await consumer.stop()


def test_batches_match_per_record_send(broker: str) -> None:
    # 600 records of ~2 kB, so a 16 kB batch holds a few and many batches are needed;
    # one 40 kB record is bigger than a batch and must get a batch of its own.
    records = [(f"MBI{i:05d}".encode(), bytes([i % 251]) * (2000 + i % 7), 1_700_000_000_000 + i) for i in range(600)]
    records.insert(300, (b"BIGKEY", b"x" * 40_000, 1_700_000_000_300))

    async def run() -> tuple[dict, dict, int]:
        sender = Sender(broker, max_batch_size=16384)
        await sender.start()
        producer = clients.producer(broker)
        await producer.start()
        try:
            await sender.send([("trr-replies", k, v, ts) for k, v, ts in records])
            batches = len(sender._pending)
            await sender.flush()
            for k, v, ts in records:
                await producer.send("beneficiary-notices", v, key=k, timestamp_ms=ts)
            await producer.flush()
        finally:
            await sender.stop()
            await producer.stop()
        return (await _read(broker, "trr-replies", len(records)),
                await _read(broker, "beneficiary-notices", len(records)), batches)

    batched, single, n_batches = asyncio.run(run())
    assert sum(len(v) for v in batched.values()) == len(records)
    assert batched == single  # same partition for every key, same order and timestamps within each partition
    assert len(batched) > 1
    assert len(records) / 20 < n_batches < len(records)  # batched, not one future per record


def test_a_batch_that_cannot_be_delivered_fails_the_flush(tmp_path: Path) -> None:
    """The broker goes away with records in hand: the flush (and so the commit) fails instead of passing them."""
    from streams.kafka.admin import ensure_topics
    from streams.tools.broker import EmbeddedBroker

    broker = EmbeddedBroker(log_dir=tmp_path)
    bootstrap = broker.start()
    ensure_topics(bootstrap, ["trr-replies"], 2)

    async def run() -> None:
        sender = Sender(bootstrap, request_timeout_ms=3000, retry_backoff_ms=100)
        await sender.start()
        try:
            await sender.partitions("trr-replies")  # metadata known: the batch is queued, then the broker is gone
            broker.stop()
            await sender.send([("trr-replies", b"k", b"v", None)])
            with pytest.raises(DeliveryFailed):
                await asyncio.wait_for(sender.flush(), 60)
        finally:
            await asyncio.wait_for(sender.stop(), 30)

    try:
        asyncio.run(run())
    finally:
        broker.stop()


def test_held_records_go_out_as_full_batches_at_the_flush(broker: str) -> None:
    """The member changelog's path: records held over many small calls reach the broker only when a batch is full
    or at the flush, as few batches, in order, and each batch's callback learns the offsets it reached."""
    topic = "lis-status-changes"  # any existing 8-partition topic of the registry
    small = [(f"MBI{i:05d}".encode(), b"s" * 100, 1_700_000_000_000 + i) for i in range(300)]
    reached: list[tuple[int, int]] = []

    def on_batch(future: asyncio.Future, count: int) -> None:
        reached.append((future.result().offset, count))

    async def run() -> tuple[int, int, int]:
        sender = Sender(broker, max_batch_size=65536)
        await sender.start()
        try:
            for i in range(0, len(small), 10):  # 30 steps of 10 records, all for partition 3
                await sender.hold(topic, 3, small[i:i + 10], on_batch)
            await asyncio.sleep(0.3)
            before = (await _end(broker, topic, 3), sender.batches_sent)
            await sender.flush()
            return before[0], before[1], sender.batches_sent
        finally:
            await sender.stop()

    on_broker_before, batches_before, batches = asyncio.run(run())
    assert (on_broker_before, batches_before) == (0, 0)  # held: nothing sent before the flush
    assert batches == 1  # 30 calls, one batch (300 records of ~130 B < 64 kB)
    assert reached == [(0, 300)]
    got = asyncio.run(_read(broker, topic, len(small)))
    assert got == {3: small}

    big = [(f"MBI{i:05d}".encode(), b"b" * 2000, 1_700_000_000_000 + i) for i in range(100)]

    async def run_big() -> int:
        sender = Sender(broker, max_batch_size=16384)
        await sender.start()
        try:
            for i in range(0, len(big), 5):
                await sender.hold("beneficiary-notices", 1, big[i:i + 5], on_batch)
            full = sender.batches_sent  # a full batch is handed over at once, not kept to the flush
            await sender.flush()
            assert full > 0 and sender.batches_sent == full + 1
            return sender.batches_sent
        finally:
            await sender.stop()

    reached.clear()
    batches = asyncio.run(run_big())
    assert len(big) / 8 <= batches <= len(big) / 5  # ~7 records of 2 kB per 16 kB batch
    assert sum(n for _, n in reached) == len(big) and reached[-1][0] + reached[-1][1] == len(big)
    assert asyncio.run(_read(broker, "beneficiary-notices", len(big))) == {1: big}


async def _end(bootstrap: str, topic: str, partition: int) -> int:
    consumer = clients.consumer(bootstrap)
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        return (await consumer.end_offsets([tp]))[tp]
    finally:
        await consumer.stop()
