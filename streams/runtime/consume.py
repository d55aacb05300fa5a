"""1. Consume: the member inputs' records, taken from the member agent's Faust channel in bulk.

Faust's consumer fetches the member topics (with acks off for them: the
runtime commits them itself, :mod:`streams.runtime.commit`) and delivers each
record to the ``partd-members`` agent's channel. :class:`Intake` takes
whatever the channel holds at once, as :class:`~streams.runtime.deadletters.Source`
records, instead of iterating Faust's stream event by event (which costs an
ack, a sensor round and a current-event switch per record and would not let
the runtime reorder records anyway).

Back-pressure, as Kafka Streams' ``buffered.records.per.partition``: when more
than ``PARTD_BUFFERED_RECORDS`` records of one partition wait in the runtime
(for a sibling partition that is behind, :mod:`streams.runtime.order`), Faust
stops fetching that partition (``Consumer.on_buffer_full``, the hook its own
stream buffers use) until it drains to half.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from faust.types import TP

from streams.runtime.deadletters import Source

log = logging.getLogger(__name__)


def source_of(event: Any) -> Source:
    """The record of a Faust event (its timestamp back to the producer's milliseconds)."""
    m = event.message
    ts = m.timestamp
    return Source(m.topic, m.partition, m.offset, m.key, m.value, round(ts * 1000) if ts else None)


class Intake:
    """Takes records from a Faust channel in bulk, and pauses partitions whose records pile up."""

    def __init__(self, consumer: Callable[[], Any], generation: Callable[[], int], max_buffered: int) -> None:
        self._consumer = consumer
        self._generation = generation
        self.max_buffered = max_buffered
        self.paused: set[tuple[str, int]] = set()
        self.stale = 0  # events dropped: fetched before the group's current generation

    async def take(self, channel: Any, timeout: float, limit: int) -> list[Source]:
        """Records now in ``channel`` (waiting at most ``timeout`` s for the first), at most ``limit``.

        Events fetched before the group's current generation are dropped, as
        Faust's own stream does: their partitions may belong to another worker now.
        """
        queue = channel.queue
        events = []
        if queue.empty():
            try:
                events.append(await asyncio.wait_for(queue.get(), timeout))
            except asyncio.TimeoutError:
                return []
        get = queue.get_nowait
        while len(events) < limit and not queue.empty():
            events.append(get())
        generation = self._generation()
        kept = [source_of(e) for e in events if e.message.generation_id == generation]
        if len(kept) != len(events):
            stale = [e.message for e in events if e.message.generation_id != generation]
            self.stale += len(stale)
            log.warning("dropped %d records fetched in generation %s (now %s), e.g. %s[%d]@%d",
                        len(stale), stale[0].generation_id, generation, stale[0].topic, stale[0].partition,
                        stale[0].offset)
        return kept

    def pressure(self, tp: tuple[str, int], buffered: int) -> None:
        """Pause ``tp`` when ``buffered`` exceeds the limit; resume it when it is down to half."""
        if buffered > self.max_buffered and tp not in self.paused:
            self.paused.add(tp)
            self._consumer().on_buffer_full(TP(*tp))
        elif tp in self.paused and buffered <= self.max_buffered // 2:
            self.paused.discard(tp)
            self._consumer().on_buffer_drop(TP(*tp))

    def drained(self, buffered: Callable[[tuple[str, int]], int]) -> None:
        """After records were applied: resume the paused partitions whose buffers are down to half.

        A paused partition sends nothing more, so its own records can never
        trigger the resume: it must be checked as its buffer is applied.
        """
        for tp in list(self.paused):
            self.pressure(tp, buffered(tp))

    def forget(self) -> None:
        """After a rebalance Faust's fetching starts afresh."""
        self.paused.clear()


class GroupOffsets:
    """Where the group stands on partitions this worker was just given: the committed offsets (OffsetFetch).

    A partition the group never committed starts at the log start (as Faust's
    consumer does, ``auto_offset_reset=earliest``).
    """

    def __init__(self, bootstrap: str, group: str) -> None:
        self.bootstrap = bootstrap
        self.group = group
        self._consumer: Any = None

    async def starting(self, tps: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        from aiokafka import TopicPartition

        from streams.kafka import clients

        if self._consumer is None:
            self._consumer = clients.consumer(self.bootstrap, group_id=self.group, enable_auto_commit=False)
            await self._consumer.start()
        parts = [TopicPartition(t, p) for t, p in tps]
        starts = await self._consumer.beginning_offsets(parts)
        out = {}
        for tp in parts:
            committed = await self._consumer.committed(tp)
            out[(tp.topic, tp.partition)] = max(committed, starts[tp]) if committed is not None else starts[tp]
        return out

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
