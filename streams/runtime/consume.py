"""1. Consume: the member inputs' records, taken from the member agent's Faust channel in bulk.

Faust's consumer fetches the member topics (with acks off for them: the
runtime commits them itself, :mod:`streams.runtime.commit`) and delivers each
record to the ``partd-members`` agent's channel. :class:`Intake` takes
whatever the channel holds at once, as :class:`~streams.runtime.deadletters.Source`
records, instead of iterating Faust's stream event by event (which costs an
ack, a sensor round and a current-event switch per record and would not let
the runtime reorder records anyway).

:class:`FaustConsumer` is the one place the member runtime talks to Faust's
consumer: the assignment, high-water marks and fetch positions it reads, the
commit of explicit offsets, and the :class:`~streams.runtime.order.Actions` the
ordering layer returns (pause a partition whose records pile up, resume it,
seek one back) applied through Faust's flow-control hooks and its consumer thread.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from faust.types import TP

from streams.kafka.internals import faust_private as fp
from streams.runtime.deadletters import Source
from streams.runtime.order import Actions

log = logging.getLogger(__name__)


def source_of(event: Any) -> Source:
    """The record of a Faust event (its timestamp back to the producer's milliseconds)."""
    m = event.message
    ts = m.timestamp
    return Source(m.topic, m.partition, m.offset, m.key, m.value, round(ts * 1000) if ts else None)


class Intake:
    """Takes records from a Faust channel in bulk (those of the group's current generation)."""

    def __init__(self, generation: Callable[[], int]) -> None:
        self._generation = generation
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


class FaustConsumer:
    """The member runtime's one door to Faust's consumer (module doc)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def assignment(self) -> set[tuple[str, int]]:
        return {(tp.topic, tp.partition) for tp in self.app.consumer.assignment()}

    def generation(self) -> int:
        return self.app.consumer_generation_id

    def partitions(self, topic: str) -> int | None:
        """How many partitions ``topic`` has, as the consumer knows it (None: not known)."""
        return self.app.consumer.topic_partitions(topic)

    def highwater(self, topic: str, partition: int) -> int | None:
        return fp.highwater(self.app, topic, partition)

    def position(self, topic: str, partition: int) -> int | None:
        return fp.fetch_position(self.app, topic, partition)

    async def commit(self, offsets: Mapping[tuple[str, int], int]) -> bool:
        return await fp.commit_offsets(self.app, offsets)

    async def apply(self, actions: Actions) -> None:
        """Pause (``Consumer.on_buffer_full``, the hook Faust's own stream buffers use), resume, seek."""
        consumer = self.app.consumer
        for tp in actions.pause:
            consumer.on_buffer_full(TP(*tp))
        for tp in actions.resume:
            consumer.on_buffer_drop(TP(*tp))
        for (topic, partition), offset in actions.seek:
            await fp.seek(self.app, topic, partition, offset)


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
