"""Records Faust never delivered: found by offset, read from the broker, handled in order.

Why this exists (a Faust work-around, not a broker one): on faust-streaming
0.15.3 a worker that takes over partitions after another was SIGKILLed
sometimes never hands a run of records to the agent. Seen on every run of
``tests/faults/test_crash.py``: the new worker's first batch held offsets
864..864 of a partition, the next one started at 1514; offsets 865..1513 of
every member partition never reached the agent, with or without
``take_events``, with no error logged. Those records were not acked, so
Faust's commits stopped at 865 for good (the worker looked stuck), and after
the next restart they would be skipped for good if a commit ever passed them.

What it does: for every member input partition the agent keeps the next
offset it expects. The first expectation after a (re)assignment is the
group's committed offset on the broker (or the log start if there is none);
after that, each handled record moves it on. When a batch starts above the
expectation, the missing offsets are read straight from the broker with a
plain consumer and handled first, in offset order, then marked acked in
Faust's bookkeeping so commits go on. Records that Faust does deliver again
later (or that were handled before a crash) are harmless: the member pipeline
drops re-deliveries by offset (``_applied``) and re-sends the same bytes.

On a healthy run the cost is one dict lookup per record (and one OffsetFetch
per partition per assignment). ``partd_gap_records_total`` counts the
records fetched this way; it should stay 0 on Apache Kafka.
"""
from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.kafka import clients
from streams.runtime.deadletters import Source

log = logging.getLogger(__name__)


def faust_timestamp_ms(ts_ms: int | None) -> int | None:
    """The millisecond timestamp exactly as a Faust event gives it (seconds float, back to ms)."""
    if ts_ms is None or ts_ms < 0:
        return None
    return int((ts_ms / 1000.0) * 1000)


def merge_in_order(sources: Sequence[Source], contexts: Sequence[Any],
                   missing: dict[tuple[str, int], list[Source]]) -> tuple[list[Source], list[Any]]:
    """Put each fetched record right before the first delivered record of its partition with a higher offset.

    Offset order within a partition (which is what a member's state depends
    on: a member's records all live in one partition of each topic); the
    delivered order otherwise. A fetched record takes the context (the Faust
    event) of that delivered record, so its state write goes to the same
    changelog partition.
    """
    pending = {tp: deque(sorted(recs, key=lambda r: r.offset)) for tp, recs in missing.items()}
    out_sources: list[Source] = []
    out_contexts: list[Any] = []
    for src, ctx in zip(sources, contexts):
        queue = pending.get((src.topic, src.partition))
        while queue and queue[0].offset < src.offset:
            out_sources.append(queue.popleft())
            out_contexts.append(ctx)
        out_sources.append(src)
        out_contexts.append(ctx)
    left = [r for q in pending.values() for r in q]
    if left:
        raise ValueError(f"{len(left)} fetched records lie after every delivered record of their partition")
    return out_sources, out_contexts


class GapRepair:
    """Per input partition: the next offset expected, and a reader for missing ones."""

    def __init__(self, bootstrap: str, group: str) -> None:
        self.bootstrap = bootstrap
        self.group = group
        self.expected: dict[tuple[str, int], int] = {}
        self._generation: Any = None
        self._reader: AIOKafkaConsumer | None = None
        self._offsets: AIOKafkaConsumer | None = None
        self.records_fetched = 0

    def on_generation(self, generation: Any) -> None:
        """Forget expectations when the group's assignment changed (a new generation)."""
        if generation != self._generation:
            self._generation = generation
            self.expected.clear()

    async def missing(self, sources: Sequence[Source]) -> dict[tuple[str, int], list[Source]]:
        """Records of the batch's partitions that were skipped: before its first offset, or between two of its offsets."""
        seen: dict[tuple[str, int], list[int]] = {}
        for s in sources:
            seen.setdefault((s.topic, s.partition), []).append(s.offset)
        unknown = [tp for tp in seen if tp not in self.expected]
        if unknown:
            self.expected.update(await self._starting_offsets(unknown))
        out: dict[tuple[str, int], list[Source]] = {}
        for tp, offsets in seen.items():
            nxt = self.expected[tp]
            for offset in sorted(offsets):
                if offset > nxt:
                    log.warning("offsets %d..%d of %s[%d] were not delivered by Faust: reading them from the broker",
                                nxt, offset - 1, tp[0], tp[1])
                    got = await self._read(tp, nxt, offset)
                    out.setdefault(tp, []).extend(got)
                    self.records_fetched += len(got)
                nxt = max(nxt, offset + 1)
        return out

    def handled(self, sources: Sequence[Source]) -> None:
        for s in sources:
            tp = (s.topic, s.partition)
            if s.offset + 1 > self.expected.get(tp, -1):
                self.expected[tp] = s.offset + 1

    async def _starting_offsets(self, tps: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        if self._offsets is None:
            self._offsets = clients.consumer(self.bootstrap, group_id=self.group,
                                             enable_auto_commit=False)
            await self._offsets.start()
        consumer = self._offsets
        parts = [TopicPartition(t, p) for t, p in tps]
        starts = await consumer.beginning_offsets(parts)
        out = {}
        for tp in parts:
            committed = await consumer.committed(tp)
            out[(tp.topic, tp.partition)] = committed if committed is not None else starts[tp]
        return out

    async def _read(self, tp: tuple[str, int], start: int, stop: int) -> list[Source]:
        if self._reader is None:
            self._reader = clients.consumer(self.bootstrap, group_id=None,
                                            enable_auto_commit=False, auto_offset_reset="earliest")
            await self._reader.start()
        reader = self._reader
        part = TopicPartition(*tp)
        reader.assign([part])
        reader.seek(part, start)
        out: list[Source] = []
        empty = 0
        while True:
            batch = await reader.getmany(part, timeout_ms=1000, max_records=5000)
            msgs = batch.get(part, [])
            empty = 0 if msgs else empty + 1
            if empty >= 30:
                log.error("could not read offsets %d..%d of %s[%d] (got up to %s): handling the rest",
                          start, stop - 1, tp[0], tp[1], out[-1].offset if out else None)
                return out
            for m in msgs:
                if m.offset >= stop:
                    return out
                out.append(Source(m.topic, m.partition, m.offset, m.key, m.value, faust_timestamp_ms(m.timestamp)))
            if out and out[-1].offset >= stop - 1:
                return out
            if not msgs and await reader.position(part) >= stop:
                return out

    async def stop(self) -> None:
        for c in (self._reader, self._offsets):
            if c is not None:
                await c.stop()
        self._reader = self._offsets = None
