"""Records to an aiokafka producer as whole batches: no coroutine and no future per record.

``AIOKafkaProducer.send`` costs a coroutine, a metadata check, a partitioner
call and a future per record; through it the worker's outputs took about a
tenth of its CPU (py-spy, docs/benchmarks.md). Here records are grouped by
topic-partition, appended to aiokafka ``BatchBuilder`` s, and each full batch
is submitted with ``send_batch``: one future per batch.

Partitions come from the producer's own partitioner, the one ``send`` uses
(aiokafka's default: murmur2 of the key, as the Java client), so a record
lands where ``send`` would have put it. Order is kept within a partition.
A record larger than a batch gets a batch of its own (aiokafka always takes
the first record); the broker's size limit then fails its batch's future.
"""
from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any


async def send_partition(producer: Any, topic: str, partition: int,
                         kvs: Iterable[tuple[bytes | None, bytes]]) -> list["asyncio.Future[Any]"]:
    """Submit ``(key, value)`` pairs to one partition in as few batches as fit; the batches' futures."""
    futures = []
    batch = producer.create_batch()
    for k, v in kvs:
        if batch.append(key=k, value=v, timestamp=None) is None:
            futures.append(await producer.send_batch(batch, topic, partition=partition))
            batch = producer.create_batch()
            batch.append(key=k, value=v, timestamp=None)
    if batch.record_count():
        futures.append(await producer.send_batch(batch, topic, partition=partition))
    return futures


async def send_keyed(producer: Any, records: Iterable[tuple[str, bytes, bytes]]) -> list["asyncio.Future[Any]"]:
    """Submit ``(topic, key, value)`` records, partitioned by key as ``producer.send`` would; the batches' futures.

    When this returns every record is in the producer's accumulator, so a
    later ``producer.flush()`` waits for all of them.
    """
    per: dict[tuple[str, int], list[tuple[bytes, bytes]]] = {}
    choosers: dict[str, Any] = {}
    partitioner = producer._partitioner  # the configured partitioner, as send() uses it
    for topic, key, value in records:
        choose = choosers.get(topic)
        if choose is None:
            await producer.client._wait_on_metadata(topic)
            metadata = producer.client.cluster
            every = list(metadata.partitions_for_topic(topic))
            available = list(metadata.available_partitions_for_topic(topic))
            choose = choosers[topic] = (every, available)
        partition = partitioner(key, choose[0], choose[1])
        per.setdefault((topic, partition), []).append((key, value))
    futures: list[asyncio.Future[Any]] = []
    for (topic, partition), kvs in per.items():
        futures.extend(await send_partition(producer, topic, partition, kvs))
    return futures
