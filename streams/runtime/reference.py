"""What every worker reads whole, each from its own topic: plans, benchmarks, cycle commands and results.

The plan catalog (``plan-year-updates``, keyed contract-PBP-year), the regional
benchmarks (``lis-benchmarks``), the cycle commands (``cycle-commands``: every
member partition applies every command, :mod:`streams.runtime.cycle`) and the
cycle results (``partd-cycle-results``) are small, change rarely, and every
member partition needs all of them. Each worker reads each topic whole with
its own group-less consumer (:class:`TopicReader`, a background task): the
topic is the table's log, so no changelog is needed and a restart reads it
again in milliseconds.

* :meth:`TopicReader.caught_up`: every partition read up to its high-water
  mark as of the last fetch (the order of :mod:`streams.runtime.order` waits
  for this before it applies a member record after a cycle command could
  have come);
* :meth:`TopicReader.sync`: a read-your-writes barrier: returns once
  everything published before the call is applied (a transaction naming a
  plan-year the catalog has not seen runs again after it, so a plan published
  a moment before an enrollment is not answered 107 by a race). It relies on
  correct end offsets (``streams/kafka/internals/tansu.py`` fixes them on Tansu).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.kafka import clients, internals
from streams.kafka.serde import Serde
from streams.runtime.deadletters import Source

log = logging.getLogger(__name__)


class TopicReader:
    """Reads one topic whole, from the start, and hands each record to ``apply(source, record | None)``."""

    def __init__(self, topic: str, bootstrap: str, serde: Serde,
                 apply: Callable[[Source, dict[str, Any] | None], None]) -> None:
        self.topic = topic
        self.bootstrap = bootstrap
        self.serde = serde
        self._apply = apply
        self.version: object = object()  # a new object whenever something was applied
        self.skipped = 0  # records that could not be decoded (the topic's own agent dead-letters them)
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._tps: list[TopicPartition] = []
        self._next: dict[TopicPartition, int] = {}

    async def start(self) -> None:
        self._consumer = clients.consumer(self.bootstrap, group_id=None, enable_auto_commit=False,
                                          auto_offset_reset="earliest")
        await self._consumer.start()
        parts = self._consumer.partitions_for_topic(self.topic)
        for _ in range(50):
            if parts:
                break
            await asyncio.sleep(0.1)
            await internals.refresh_metadata(self._consumer)
            parts = self._consumer.partitions_for_topic(self.topic)
        if not parts:
            raise RuntimeError(f"topic {self.topic!r} does not exist: create the topics first (partd up does)")
        self._tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
        self._consumer.assign(self._tps)
        starts = await self._consumer.beginning_offsets(self._tps)
        self._next = dict(starts)
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
                records = self.serde.decode_many(self.topic, [m.value for m in msgs])
                for m, (record, error) in zip(msgs, records):
                    if error is not None:
                        self.skipped += 1
                    src = Source(m.topic, m.partition, m.offset, m.key, m.value, m.timestamp)
                    try:
                        self._apply(src, record)
                    except Exception:  # noqa: BLE001 - invalid values are dead-lettered by the topic's agent
                        self.skipped += 1
                    self._next[tp] = m.offset + 1
                self.version = object()

    def next_offset(self, tp: TopicPartition) -> int:
        """The next offset of ``tp`` this reader has not read."""
        return self._next.get(tp, 0)

    def caught_up(self) -> bool:
        """True if every partition has been read up to its high-water mark as of the last fetch."""
        consumer = self._consumer
        if consumer is None or self._task is None:
            return False
        for tp in self._tps:
            hw = consumer.highwater(tp)
            if hw is None or self._next.get(tp, 0) < hw:
                return False
        return True

    async def sync(self, timeout: float = 30.0) -> None:
        """Wait until every record published before this call is applied."""
        assert self._consumer is not None
        ends = await self._consumer.end_offsets(self._tps)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while any(self._next.get(tp, 0) < ends[tp] for tp in self._tps):
            if loop.time() > deadline:
                raise TimeoutError(f"{self.topic}: not caught up within {timeout}s")
            await asyncio.sleep(0.02)


class LatestTable(TopicReader):
    """The latest value per key of a topic: ``to_entry(record) -> (key, value)``.

    ``history`` also keeps every value a key has had, with its record timestamp and place, in log order,
    so a rule can ask what the table said at a point of the log (:meth:`as_of`, :meth:`before`) whatever
    this reader has read since: the answer is a function of the log, not of when it was asked.
    """

    def __init__(self, topic: str, bootstrap: str, serde: Serde,
                 to_entry: Callable[[dict[str, Any]], tuple[str, Any]]) -> None:
        self.data: dict[str, Any] = {}
        self.history: dict[str, list[tuple[Source, Any]]] = {}

        def apply(src: Source, record: dict[str, Any] | None) -> None:
            if record is not None:
                key, value = to_entry(record)
                self.data[key] = value
                self.history.setdefault(key, []).append((src, value))

        super().__init__(topic, bootstrap, serde, apply)

    def as_of(self, key: str, timestamp_ms: int | None) -> Any | None:
        """The key's value of the latest record with a timestamp at or before ``timestamp_ms`` (None: none)."""
        found = None
        for src, value in self.history.get(key, ()):
            if (src.timestamp_ms or 0) <= (timestamp_ms or 0):
                found = value
        return found

    def before(self, key: str, src: Source) -> Any | None:
        """The key's value just before the record at ``src`` (same partition, an earlier offset)."""
        found = None
        for at, value in self.history.get(key, ()):
            if at.partition == src.partition and at.offset < src.offset:
                found = value
        return found


def benchmark_table(bootstrap: str, serde: Serde) -> LatestTable:
    """``lis-benchmarks`` as every worker holds it: key ``{region}-{plan_year}`` -> the RegionBenchmark."""
    from streams import topics

    return LatestTable(topics.LIS_BENCHMARKS, bootstrap, serde, lambda r: (f"{r['region']}-{r['plan_year']}", r))


class CommandLog(TopicReader):
    """Every record of a topic, in the order they were read (the cycle commands).

    ``items``: ``(source, record or None)``; ``errors``: why a record could not
    be decoded, by (partition, offset) (the ``cycle-commands`` agent
    dead-letters it with that code).
    """

    def __init__(self, topic: str, bootstrap: str, serde: Serde) -> None:
        self.items: list[tuple[Source, dict[str, Any] | None]] = []
        self.errors: dict[tuple[int, int], tuple[str, str]] = {}
        self._sources: list[Source] = []

        def apply(src: Source, record: dict[str, Any] | None) -> None:
            if record is None:
                found = self.serde.decode_many(self.topic, [src.value])[0][1]
                if found is not None:
                    self.errors[(src.partition, src.offset)] = (found.error_code, found.message)
            self.items.append((src, record))
            self._sources.append(src)

        super().__init__(topic, bootstrap, serde, apply)

    def commands(self) -> list[Source]:
        return self._sources
