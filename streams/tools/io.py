"""Producing and consuming contract records with aiokafka (for the CLI, the sample and tests)."""
from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, AsyncIterator, Callable, Iterable, NamedTuple

from aiokafka import TopicPartition

from streams.kafka import clients
from streams.kafka.serde import Serde
from streams.topics import key_for


async def produce(
    bootstrap: str,
    serde: Serde,
    records: Iterable[tuple[str, str | None, dict[str, Any] | bytes]],
    *,
    timestamp_ms: int | list[int] | None = None,
) -> int:
    """Publish ``(topic, key, value)``; a dict value is Avro-encoded, bytes go as they are.

    ``timestamp_ms`` fixes the records' timestamps (replaying a log exactly): one for all, or one per record.
    """
    n = 0
    async with clients.started(clients.producer(bootstrap, linger_ms=5, max_batch_size=256 * 1024,
                                                max_request_size=4 * 1024 * 1024)) as producer:
        futures = []
        for topic, key, value in records:
            if isinstance(value, dict):
                key = key if key is not None else key_for(topic, value)
                payload = serde.encode(topic, value)
            else:
                payload = value
            ts = timestamp_ms[n] if isinstance(timestamp_ms, list) else timestamp_ms
            futures.append(await producer.send(
                topic, key=key.encode() if key is not None else None, value=payload, timestamp_ms=ts,
            ))
            n += 1
        await producer.flush()
        for f in futures:
            await f
    return n


async def end_offsets(bootstrap: str, topics: Iterable[str]) -> dict[TopicPartition, int]:
    """True end offsets of every partition of ``topics`` (Tansu-corrected, see tansu_workarounds)."""
    async with clients.started(clients.consumer(bootstrap, group_id=None)) as consumer:
        tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        return await consumer.end_offsets(tps) if tps else {}


async def committed_offsets(bootstrap: str, group: str, tps: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
    """The group's committed offsets (0 where nothing is committed yet)."""
    async with clients.started(clients.consumer(bootstrap, group_id=group, enable_auto_commit=False)) as consumer:
        return {tp: (await consumer.committed(tp)) or 0 for tp in tps}


async def wait_consumed(bootstrap: str, group: str, topics: Iterable[str], timeout: float = 60.0,
                        report: Callable[[int], None] | None = None, every: float = 30.0) -> None:
    """Wait until ``group`` has committed everything currently in ``topics``; ``report(lag)`` every ``every`` s."""
    ends = await end_offsets(bootstrap, topics)
    deadline = time.monotonic() + timeout
    reported = time.monotonic()
    while True:
        done = await committed_offsets(bootstrap, group, ends)
        behind = {tp: ends[tp] - done[tp] for tp in ends if done[tp] < ends[tp]}
        if not behind:
            return
        if report is not None and time.monotonic() - reported >= every:
            reported = time.monotonic()
            report(sum(behind.values()))
        if time.monotonic() > deadline:
            lag = sum(behind.values())
            raise TimeoutError(
                f"the worker (group {group!r}) still has {lag} records to process after {timeout:.0f}s: "
                "is `partd worker` running against this broker? (see its log)"
            )
        await asyncio.sleep(0.25)


class Consumed(NamedTuple):
    """A record read by :func:`consume_records`: where, its key, the decoded value or the decoding error."""

    partition: int
    offset: int
    key: str | None
    record: dict[str, Any] | None
    error: Any
    timestamp_ms: int


async def consume(
    bootstrap: str,
    serde: Serde,
    topic: str,
    *,
    timeout: float = 5.0,
    max_records: int | None = None,
) -> AsyncIterator[tuple[int, int, str | None, dict[str, Any] | None, Any]]:
    """Yield ``(partition, offset, key, record, error)`` from the beginning until idle for ``timeout`` s."""
    async with contextlib.aclosing(consume_records(bootstrap, serde, topic, timeout=timeout,
                                                   max_records=max_records)) as records:
        async for c in records:
            yield c.partition, c.offset, c.key, c.record, c.error


async def consume_records(
    bootstrap: str,
    serde: Serde,
    topic: str,
    *,
    timeout: float = 5.0,
    max_records: int | None = None,
) -> AsyncIterator[Consumed]:
    """:class:`Consumed` records of ``topic`` from the beginning until idle for ``timeout`` s: each partition in
    offset order, the partitions in the order their fetches come (not in time order across partitions)."""
    async with clients.started(clients.consumer(bootstrap, group_id=None, auto_offset_reset="earliest")) as consumer:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            return
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen = 0
        idle_since = time.monotonic()
        while time.monotonic() - idle_since < timeout:
            batches = await consumer.getmany(timeout_ms=200, max_records=1000)
            if not any(batches.values()):
                continue
            idle_since = time.monotonic()
            for tp, msgs in sorted(batches.items(), key=lambda kv: kv[0].partition):
                decoded = serde.decode_many(topic, [m.value for m in msgs])
                for m, (record, error) in zip(msgs, decoded):
                    yield Consumed(tp.partition, m.offset, m.key.decode() if m.key else None, record, error,
                                   m.timestamp)
                    seen += 1
                    if max_records is not None and seen >= max_records:
                        return


async def read_raw(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes | None]]:
    """Every record of ``topic`` as it is, ``(key, value)``, in partition order (:func:`read_to_end`)."""
    return [(m.key, m.value) async for batch in read_to_end(bootstrap, topic) for m in batch]


async def read_all(bootstrap: str, serde: Serde, topic: str, *, expect: int | None = None, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Every decodable record of ``topic``; with ``expect``, wait up to ``timeout`` s until that many are there."""
    deadline = time.monotonic() + timeout
    while True:
        records = [r async for _, _, _, r, e in consume(bootstrap, serde, topic, timeout=0.5) if r is not None]
        if expect is None or len(records) >= expect or time.monotonic() > deadline:
            return records
        await asyncio.sleep(0.3)


async def read_to_end(
    bootstrap: str, topic: str, *, key: bytes | None = None, idle_timeout: float = 30.0,
    key_partition_only: bool = False,
) -> AsyncIterator[list[Any]]:
    """Batches of ``topic``'s raw records (aiokafka ``ConsumerRecord``), from the beginning up to the
    end offsets taken at the start; with ``key``, only the records with that key (and with
    ``key_partition_only``, read only the partition the default partitioner gives the key).

    Stops by offsets, not by idling, so it reads exactly what was there when it started. Raises
    ``TimeoutError`` when nothing arrives for ``idle_timeout`` s while records are still due.
    """
    consumer = clients.consumer(bootstrap, group_id=None, auto_offset_reset="earliest", enable_auto_commit=False)
    try:
        await consumer.start()
        parts = consumer.partitions_for_topic(topic)
        if not parts:
            raise LookupError(f"topic {topic!r} does not exist on {bootstrap}")
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if key is not None and key_partition_only:
            tps = [TopicPartition(topic, clients.key_partition(key, len(tps)))]
        ends = await consumer.end_offsets(tps)
        todo = [tp for tp in tps if ends[tp] > 0]
        if not todo:
            return
        consumer.assign(todo)
        await consumer.seek_to_beginning(*todo)
        last = time.monotonic()
        while todo:
            batches = await consumer.getmany(*todo, timeout_ms=200, max_records=10000)
            for tp, msgs in batches.items():
                msgs = [m for m in msgs if m.offset < ends[tp] and (key is None or m.key == key)]
                if msgs:
                    yield msgs
            if batches:
                last = time.monotonic()
            elif time.monotonic() - last > idle_timeout:
                raise TimeoutError(f"{topic}: no records for {idle_timeout:.0f}s before its end offsets")
            todo = [tp for tp in todo if await consumer.position(tp) < ends[tp]]
    finally:
        await consumer.stop()
