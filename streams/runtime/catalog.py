"""Small tables that every worker holds whole, rebuilt from their own topic.

The plan catalog (``plan-year-updates``, keyed contract-PBP-year) and the
regional benchmarks (``lis-benchmarks``) are small, change rarely, and every
member partition needs all of them. Each worker therefore reads the whole
topic with its own group-less consumer and keeps the latest value per key in
memory: the topic is the table's log, so no changelog is needed and a restart
simply reads it again (thousands of records, milliseconds).

``sync()`` is a read-your-writes barrier: it returns once everything published
to the topic before the call has been applied. It relies on correct end
offsets (``streams.kafka.internals.tansu`` fixes them on Tansu).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.kafka import clients
from streams.kafka.serde import Serde

log = logging.getLogger(__name__)

Entry = tuple[str, Any]


class LogBackedTable:
    """Latest value per key of one topic, kept in memory by a background task."""

    def __init__(
        self,
        topic: str,
        bootstrap: str,
        serde: Serde,
        to_entry: Callable[[dict[str, Any]], Entry],
    ) -> None:
        self.topic = topic
        self.bootstrap = bootstrap
        self.serde = serde
        self.to_entry = to_entry
        self.data: dict[str, Any] = {}
        self.skipped = 0
        self.version: object = object()  # a new object whenever a value changes
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._tps: list[TopicPartition] = []
        self._caught_up = asyncio.Event()

    async def start(self) -> None:
        self._consumer = clients.consumer(self.bootstrap, enable_auto_commit=False,
            group_id=None,
            auto_offset_reset="earliest",
        )
        await self._consumer.start()
        parts = self._consumer.partitions_for_topic(self.topic)
        for _ in range(50):
            if parts:
                break
            await asyncio.sleep(0.1)
            await self._consumer._client.force_metadata_update()  # noqa: SLF001
            parts = self._consumer.partitions_for_topic(self.topic)
        if not parts:
            raise RuntimeError(f"topic {self.topic!r} does not exist: create the topics first (partd up does)")
        self._tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
        self._consumer.assign(self._tps)
        await self._consumer.seek_to_beginning(*self._tps)
        self._task = asyncio.ensure_future(self._run())
        await self.sync()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        if self._consumer is not None:
            await self._consumer.stop()

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batches = await self._consumer.getmany(timeout_ms=200, max_records=2000)
            for tp, msgs in batches.items():
                decoded = self.serde.decode_many(self.topic, [m.value for m in msgs])
                for record, error in decoded:
                    if error is not None:
                        self.skipped += 1  # the group agent dead-letters it
                        continue
                    try:
                        key, value = self.to_entry(record)
                    except Exception:  # noqa: BLE001 - invalid values are dead-lettered elsewhere
                        self.skipped += 1
                        continue
                    self.data[key] = value
                    self.version = object()

    async def sync(self, timeout: float = 30.0) -> None:
        """Wait until every record published before this call is applied."""
        assert self._consumer is not None
        ends = await self._consumer.end_offsets(self._tps)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            behind = [tp for tp in self._tps if await self._consumer.position(tp) < ends[tp]]
            if not behind:
                return
            if loop.time() > deadline:
                raise TimeoutError(f"{self.topic}: catalog did not catch up within {timeout}s")
            await asyncio.sleep(0.02)
