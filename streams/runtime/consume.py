"""1. Consume: the member inputs' records, handed over by Faust's consumer in bulk.

Faust's consumer fetches the member topics (with acks off for them: the
runtime commits them itself, :mod:`streams.runtime.commit`) and hands each
fetch's records of those topics straight to :class:`Intake`
(:mod:`streams.kafka.internals.bulk`), as lists, instead of turning every
record into a Faust event put into the ``partd-members`` agent's channel one
``await`` at a time (~22% of the worker's busy time, docs/benchmarks.md). The
runtime takes them all at once, as :class:`~streams.runtime.deadletters.Source`
records. (With a Faust consumer that is not the bulk one, the records come
through the agent's channel as events, and :meth:`Intake.take` takes whatever
the channel holds at once instead.)

:class:`FaustConsumer` is the one place the member runtime talks to Faust's
consumer: the assignment, high-water marks and fetch positions it reads, the
commit of explicit offsets, and the :class:`~streams.runtime.order.Actions` the
ordering layer returns (pause a partition whose records pile up, resume it,
seek one back) applied through Faust's flow-control hooks and its consumer thread.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from faust.types import TP

from streams.kafka.internals import faust_private as fp
from streams.runtime.deadletters import Source
from streams.runtime.order import Actions

log = logging.getLogger(__name__)

#: How long the bulk intake waits for records before it looks at the agent's channel again (Faust's stop).
STOP_CHECK_S = 0.25


def source_of(event: Any) -> Source:
    """The record of a Faust event (its timestamp back to the producer's milliseconds)."""
    m = event.message
    ts = m.timestamp
    return Source(m.topic, m.partition, m.offset, m.key, m.value, round(ts * 1000) if ts else None)


class Intake:
    """The member records, taken in bulk (those of the group's current generation).

    Two ways in. **Bulk** (the worker): Faust's consumer hands each fetch's
    member records straight here (:meth:`put`, :mod:`streams.kafka.internals.bulk`),
    and :meth:`take_fetched` takes them all. **Channel** (a consumer that is not
    the bulk one): Faust puts each record in the ``partd-members`` agent's
    channel as an event, and :meth:`take` takes what the channel holds.
    """

    def __init__(self, generation: Callable[[], int], limit: int = 4096) -> None:
        self._generation = generation
        #: records held before the fetcher waits for the runtime to take them (:meth:`room`)
        self.limit = limit
        self._fetched: deque[tuple[int, list[Source]]] = deque()
        self.queued = 0  # records in _fetched
        self._arrived = asyncio.Event()
        self._taken = asyncio.Event()
        self.stale = 0  # records dropped: fetched before the group's current generation

    # ------------------------------------------------------------------ bulk
    def put(self, generation: int, fetched: Sequence[tuple[Any, Sequence[Any]]]) -> None:
        """A fetch's member records (aiokafka ``ConsumerRecord`` lists per partition), fetched in ``generation``."""
        sources = [Source(r.topic, r.partition, r.offset, r.key, r.value, r.timestamp or None)
                   for _tp, records in fetched for r in records]
        self._fetched.append((generation, sources))
        self.queued += len(sources)
        self._arrived.set()

    def room(self) -> Awaitable[Any] | None:
        """For the fetcher: something to wait for while more than :attr:`limit` records wait here (None: go on)."""
        if self.queued <= self.limit:
            return None
        self._taken.clear()
        return self._taken.wait()

    async def take_fetched(self, channel: Any, timeout: float) -> list[Source]:
        """Every record handed over (waiting at most ``timeout`` s for one), in the order fetched.

        Records fetched before the group's current generation are dropped, as
        Faust's own stream does: their partitions may belong to another worker now.
        The agent's ``channel`` is watched too: Faust stops an agent by throwing
        ``StopAsyncIteration`` into it (``Actor.cancel``), which is raised here.
        """
        queue = channel.queue
        if not queue.empty():
            return await self.take(channel, 0.0, self.limit)
        if not self._fetched:
            if timeout <= 0:
                await asyncio.sleep(0)  # a take is always a point where the loop runs other tasks
                return []
            # Nobody waits on the channel, so a stop thrown into it stays there (the queue is not empty): it is
            # seen after at most STOP_CHECK_S of waiting.
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), min(timeout, STOP_CHECK_S))
            except asyncio.TimeoutError:
                return await self.take(channel, 0.0, self.limit) if not queue.empty() else []
        return self._take_fetched()

    def _take_fetched(self) -> list[Source]:
        generation = self._generation()
        out: list[Source] = []
        while self._fetched:
            fetched_in, sources = self._fetched.popleft()
            if fetched_in != generation:
                self._drop_stale(len(sources), fetched_in, generation, sources[0] if sources else None)
                continue
            if out:
                out.extend(sources)
            else:
                out = sources
        self.queued = 0
        self._taken.set()
        return out

    # ------------------------------------------------------------------ channel
    async def take(self, channel: Any, timeout: float, limit: int) -> list[Source]:
        """Records now in ``channel`` (waiting at most ``timeout`` s for the first), at most ``limit``."""
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
        return self._keep(events)

    def _keep(self, events: list[Any]) -> list[Source]:
        """The records of Faust events of the group's current generation."""
        generation = self._generation()
        kept = [source_of(e) for e in events if e.message.generation_id == generation]
        if len(kept) != len(events):
            stale = [e.message for e in events if e.message.generation_id != generation]
            m = stale[0]
            self._drop_stale(len(stale), m.generation_id, generation,
                             Source(m.topic, m.partition, m.offset, None, None))
        return kept

    def _drop_stale(self, n: int, fetched_in: int, generation: int, example: Source | None) -> None:
        self.stale += n
        where = f", e.g. {example.topic}[{example.partition}]@{example.offset}" if example is not None else ""
        log.warning("dropped %d records fetched in generation %s (now %s)%s", n, fetched_in, generation, where)


class FaustConsumer:
    """The member runtime's one door to Faust's consumer (module doc)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._highwater: dict[tuple[str, int], int | None] = {}  # read once per step (:meth:`new_step`)

    def new_step(self) -> None:
        """A step of the runtime begins: high-water marks are read afresh (once each, then remembered for the
        step: the ordering asks for them for every empty input, several times a step)."""
        self._highwater.clear()

    def assignment(self) -> set[tuple[str, int]]:
        return {(tp.topic, tp.partition) for tp in self.app.consumer.assignment()}

    def generation(self) -> int:
        return self.app.consumer_generation_id

    def bulk(self) -> bool:
        """True if Faust's consumer hands the member records over in bulk (:meth:`Intake.put`), not to the channel."""
        return fp.is_bulk(self.app)

    def partitions(self, topic: str) -> int | None:
        """How many partitions ``topic`` has, as the consumer knows it (None: not known)."""
        return self.app.consumer.topic_partitions(topic)

    def highwater(self, topic: str, partition: int) -> int | None:
        try:
            return self._highwater[(topic, partition)]
        except KeyError:
            hw = self._highwater[(topic, partition)] = fp.highwater(self.app, topic, partition)
            return hw

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
