"""streams.runtime.send on a real broker: batches land exactly where ``producer.send`` puts each record, in order,
with the input record's timestamp; a batch the broker refuses fails the flush (and so the commit)."""
from __future__ import annotations

import asyncio

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


def test_a_refused_batch_fails_the_flush(broker: str) -> None:
    async def run() -> None:
        sender = Sender(broker)
        await sender.start()
        try:
            await sender.send_partition("no-such-topic-partd", 0, [(b"k", b"v", None)])
        except Exception:  # noqa: BLE001 - unknown topic refused at once: also a failure to deliver
            return
        finally:
            pass
        try:
            with pytest.raises(DeliveryFailed):
                await asyncio.wait_for(sender.flush(), 90)
        finally:
            await sender.stop()

    asyncio.run(run())
