"""6. Send: records to the broker through the runtime's own producer, in whole batches.

Records are grouped by topic-partition and appended to aiokafka record batches
(``create_batch`` / ``send_batch``): one future per batch, not a coroutine and
a future per record. Partitions come from aiokafka's ``DefaultPartitioner``
(murmur2 of the key, as the Java client and ``producer.send``), so a record lands
where any Kafka client would put it; order is kept within a partition. Every
record carries the timestamp of the input record that caused it (as Kafka
Streams does), so outputs are a function of the input log down to their
timestamps.

Member-table changelog records are *held* (:meth:`Sender.hold`): appended to an
open batch per changelog partition that is handed to the producer when it is
full (``max_batch_size``, 512 kB) or at the next :meth:`Sender.flush`, i.e. at
the commit. A changelog record only has to be on the broker before the offsets
of the inputs that caused it are committed, so holding it until then changes
nothing in the delivery rule; it makes the changelog's record batches hundreds
of records large instead of one step's few records per partition. A broker
stores and serves a log batch by batch, so a restore reads the same records in
far fewer batches (measured on Tansu, which lists every batch of a partition on
each fetch: docs/capacity.md, "Restore").

:meth:`Sender.flush` is step 2 of the delivery rule
(:meth:`streams.runtime.commit.Checkpoint.commit`): it returns when every
record handed over before it is acknowledged, and raises
:class:`DeliveryFailed` if any could not be delivered (the commit then does not
happen and the worker stops; its records are answered again after a restart).
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from streams.kafka import clients

Record = tuple[str, bytes | None, bytes, int | None]  # (topic, key, value, timestamp ms)
#: Keys whose partition :class:`Sender` remembers (per topic and key).
KEY_CACHE = 65_536


class DeliveryFailed(RuntimeError):
    """A record batch the producer could not deliver (after its own retries)."""


class Sender:
    """The member runtime's producer: outputs, dead letters and member-table changelog records."""

    def __init__(self, bootstrap: str, **options: Any) -> None:
        self.bootstrap = bootstrap
        self.options = {"acks": "all", "linger_ms": 5, "max_batch_size": 512 * 1024, **options}
        self.producer: AIOKafkaProducer = None  # type: ignore[assignment]  # made in start(): needs the loop
        self._partitioner = DefaultPartitioner()
        self._partitions: dict[str, list[int]] = {}
        #: (topic, key) -> partition: aiokafka's murmur2 is pure Python (~3 us a key), and outputs repeat their
        #: keys (a reply's is its contract); bounded (cleared when full)
        self._key_partition: dict[tuple[str, bytes], int] = {}
        self._pending: list[asyncio.Future[Any]] = []
        #: (topic, partition) -> [open batch, records in it, on_batch]: records :meth:`hold` keeps until a flush
        self._held: dict[tuple[str, int], list[Any]] = {}
        #: the same for the outputs :meth:`append` keeps until :meth:`submit` (the end of a step) or a flush
        self._open: dict[tuple[str, int], list[Any]] = {}
        self.records_sent = 0
        self.batches_sent = 0

    async def start(self) -> None:
        self.producer = clients.producer(self.bootstrap, **self.options)
        try:
            await self.producer.start()
        except BaseException:
            await self.producer.stop()  # no "Unclosed AIOKafkaProducer" when the cluster cannot be reached
            self.producer = None  # type: ignore[assignment]
            raise

    async def stop(self) -> None:
        if self.producer is not None:
            await self.producer.stop()

    async def partitions(self, topic: str) -> list[int]:
        known = self._partitions.get(topic)
        if known is None:
            known = self._partitions[topic] = sorted(await self.producer.partitions_for(topic))
        return known

    async def send(self, records: Iterable[Record]) -> None:
        """Hand records to the producer, each to the partition of its key."""
        for (topic, partition), kvs in (await self._by_partition(records)).items():
            await self.send_partition(topic, partition, kvs)

    async def _by_partition(self, records: Iterable[Record]) -> dict[tuple[str, int], list[tuple[bytes | None, bytes, int | None]]]:
        """Records grouped by the partition of their key (in order within each)."""
        per: dict[tuple[str, int], list[tuple[bytes | None, bytes, int | None]]] = {}
        cache = self._key_partition
        for topic, key, value, ts in records:
            partition = cache.get((topic, key)) if key is not None else None
            if partition is None:
                parts = self._partitions.get(topic) or await self.partitions(topic)
                partition = self._partitioner(key, parts, parts)
                if key is not None:
                    if len(cache) >= KEY_CACHE:
                        cache.clear()
                    cache[(topic, key)] = partition
            kvs = per.get((topic, partition))
            if kvs is None:
                kvs = per[(topic, partition)] = []
            kvs.append((key, value, ts))
        return per

    async def append(self, records: Iterable[Record]) -> None:
        """Like :meth:`send`, but each partition's last batch stays open for the next records of the same
        step: the member runtime's tasks append their outputs one after another, and :meth:`submit` (at the
        end of the step) or :meth:`flush` hands the open batches to the producer, so a step's outputs for
        one partition travel as one batch whichever tasks made them."""
        for (topic, partition), kvs in (await self._by_partition(records)).items():
            open_ = self._open.get((topic, partition))
            if open_ is None:
                open_ = self._open[(topic, partition)] = [self.producer.create_batch(), 0, None]
            await self._append(open_, topic, partition, kvs)

    async def submit(self) -> None:
        """Hand the batches :meth:`append` left open to the producer (not waiting for the broker)."""
        opened, self._open = self._open, {}
        for (topic, partition), (batch, count, on_batch) in opened.items():
            if count:
                await self._submit(batch, topic, partition, count, on_batch)

    async def send_partition(self, topic: str, partition: int, kvs: Iterable[tuple[bytes | None, bytes, int | None]],
                             on_batch: Callable[[asyncio.Future[Any], int], None] | None = None) -> None:
        """Hand ``(key, value, timestamp)`` records to one partition; ``on_batch(future, records)`` per batch."""
        open_ = [self.producer.create_batch(), 0, on_batch]
        await self._append(open_, topic, partition, kvs)
        if open_[1]:
            await self._submit(open_[0], topic, partition, open_[1], on_batch)

    async def hold(self, topic: str, partition: int, kvs: Iterable[tuple[bytes | None, bytes | None, int | None]],
                   on_batch: Callable[[asyncio.Future[Any], int], None] | None = None) -> None:
        """Like :meth:`send_partition`, but the last batch stays open for the next records of the partition:
        it is handed to the producer when full or at :meth:`flush` (the member table's changelog).

        Not to be interleaved with a :meth:`flush`: the member runtime calls both under its one lock."""
        held = self._held.get((topic, partition))
        if held is None:
            held = self._held[(topic, partition)] = [self.producer.create_batch(), 0, on_batch]
        held[2] = on_batch
        await self._append(held, topic, partition, kvs)

    async def _append(self, open_: list[Any], topic: str, partition: int,
                      kvs: Iterable[tuple[bytes | None, bytes | None, int | None]]) -> None:
        """Append records to ``open_`` = [batch, records in it, on_batch]; a full batch goes to the producer."""
        for key, value, ts in kvs:
            if open_[0].append(key=key, value=value, timestamp=ts) is None:
                if open_[1]:
                    await self._submit(open_[0], topic, partition, open_[1], open_[2])
                open_[0], open_[1] = self.producer.create_batch(), 0
                if open_[0].append(key=key, value=value, timestamp=ts) is None:  # larger than a whole batch
                    raise DeliveryFailed(f"a record of {len(value or b'')} bytes for {topic} does not fit in a batch")
            open_[1] += 1

    async def _submit_held(self) -> None:
        held, self._held = self._held, {}
        for (topic, partition), (batch, count, on_batch) in held.items():
            if count:
                await self._submit(batch, topic, partition, count, on_batch)

    async def _submit(self, batch: Any, topic: str, partition: int, count: int,
                      on_batch: Callable[[asyncio.Future[Any], int], None] | None) -> None:
        future = await self.producer.send_batch(batch, topic, partition=partition)
        self._pending.append(future)
        self.records_sent += count
        self.batches_sent += 1
        if on_batch is not None:
            future.add_done_callback(lambda f: on_batch(f, count))

    async def flush(self) -> None:
        """Wait until every record handed over so far (held ones too) is acknowledged; :class:`DeliveryFailed`
        if one was not."""
        await self.submit()
        await self._submit_held()
        pending, self._pending = self._pending, []
        if not pending:
            return
        await self.producer.flush()
        await asyncio.wait(pending)
        for future in pending:
            if future.cancelled() or future.exception() is not None:
                reason = "cancelled" if future.cancelled() else repr(future.exception())
                raise DeliveryFailed(f"a record batch could not be delivered: {reason}")
