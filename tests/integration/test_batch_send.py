"""streams.kafka.internals.batch_send on a real broker: batches land exactly where ``producer.send`` puts each record, in order."""
from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams.kafka.internals.batch_send import send_keyed


async def _read(bootstrap: str, topic: str, expect: int) -> dict[int, list[tuple[bytes, bytes]]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not tps:
            await consumer._client.force_metadata_update()
            tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        got: dict[int, list[tuple[bytes, bytes]]] = {}
        n = 0
        for _ in range(100):
            batch = await consumer.getmany(timeout_ms=300)
            for tp, msgs in batch.items():
                got.setdefault(tp.partition, []).extend((m.key, m.value) for m in msgs)
                n += len(msgs)
            if n >= expect:
                break
        return got
    finally:
        await consumer.stop()


def test_batches_match_per_record_send(broker: str) -> None:
    # 600 records of ~2 kB, so a 16 kB batch holds a few and many batches are needed;
    # one 40 kB record is bigger than a batch and must get a batch of its own.
    records = [(f"MBI{i:05d}".encode(), bytes([i % 251]) * (2000 + i % 7)) for i in range(600)]
    records.insert(300, (b"BIGKEY", b"x" * 40_000))

    async def run() -> tuple[dict, dict, int]:
        producer = AIOKafkaProducer(bootstrap_servers=broker, max_batch_size=16384)
        await producer.start()
        try:
            futures = await send_keyed(producer, [("trr-replies", k, v) for k, v in records])
            for k, v in records:
                await producer.send("beneficiary-notices", v, key=k)
            await producer.flush()
            done = await asyncio.gather(*futures)
        finally:
            await producer.stop()
        return (await _read(broker, "trr-replies", len(records)),
                await _read(broker, "beneficiary-notices", len(records)), len(done))

    batched, single, n_batches = asyncio.run(run())
    assert sum(len(v) for v in batched.values()) == len(records)
    assert batched == single  # same partition for every key, same order within each partition
    assert len(batched) > 1
    assert len(records) / 20 < n_batches < len(records)  # batched, not one future per record
