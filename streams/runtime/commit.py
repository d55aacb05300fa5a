"""7. Commit: the delivery rule, in one function over all partition tasks.

The member inputs are read by Faust's consumer with acks off for those topics
(Faust never commits them); :meth:`Checkpoint.commit` commits them, by the rule
it spells out, as Kafka Streams' ``TaskExecutor`` does over its tasks
(``prepareCommit`` -> commit -> ``postCommit``) and Quix Streams'
``Checkpoint.commit`` walks its numbered steps.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol

from streams.runtime.send import Sender

log = logging.getLogger(__name__)

TP = tuple[str, int]


class Task(Protocol):
    """What the rule needs of a partition task (:class:`streams.runtime.task.PartitionTask`)."""

    def prepare_commit(self) -> Any: ...

    def offsets(self, prepared: Any) -> Mapping[TP, int]: ...

    async def post_commit(self, prepared: Any, committed: bool) -> None: ...


class Checkpoint:
    """When the member inputs are committed (:meth:`due`) and how (:meth:`commit`, the delivery rule)."""

    def __init__(self, sender: Sender, commit_offsets: Callable[[Mapping[TP, int]], Awaitable[bool]],
                 interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.sender = sender
        self._commit_offsets = commit_offsets
        self.interval_s = interval_s
        self._clock = clock
        self._last = clock()
        self.commits = 0

    def due(self) -> bool:
        return self._clock() - self._last >= self.interval_s

    async def commit(self, tasks: Iterable[Task]) -> Mapping[TP, int]:
        """Commit what the tasks have processed: the delivery rule, step by step.

        0. Before: a task hands everything a batch of records caused to the
           sender (each touched key's new value, as a changelog record; the
           outputs; the dead letters) before it counts those records as
           processed. Changelog records may wait in an open batch per partition,
           outputs in an open batch per partition until the end of the step.
        1. Prepare (each task, :meth:`~streams.runtime.task.PartitionTask.prepare_commit`):
           the offset after the last processed record of each of its input
           partitions, and the cycle cursor it has written.
        2. Flush: every open batch goes to the producer, and the broker
           acknowledges every record handed over (``acks=all``). If one could
           not be delivered, :class:`~streams.runtime.send.DeliveryFailed` is
           raised and nothing is committed: the worker stops and the records
           are answered again after a restart (from the outbox, byte for byte).
        3. Commit those offsets, all tasks at once, through the group's consumer
           (so the group's generation is checked: a worker that lost its
           partitions cannot commit them). A refused commit (a rebalance) is
           logged; the records are processed again by the partition's next owner.
        4. After (each task, :meth:`~streams.runtime.task.PartitionTask.post_commit`):
           the cycle cursor flushed in step 2 is durable; outbox entries below
           a committed offset (or a durable cursor) are no longer needed: the
           keys written since the last commit are rewritten in the worker's own
           database without them, and keys that hold no member (008 rejections)
           and no entry any more are deleted. An outbox keeps at most
           :data:`~streams.runtime.state.MAX_ENTRIES` (32) entries per key, each
           only until its input offset is committed.

        The member runtime calls this every ``PARTD_COMMIT_INTERVAL_MS`` (2 s),
        when partitions are revoked in a rebalance (before they are given up,
        so the next owner starts exactly after the last processed record: no
        duplicate) and when the worker stops cleanly.

        So a record's offset is never committed before everything it caused is
        on the broker (at-least-once); without a failure nothing is delivered
        twice; after a failure (a crash, a lost session) the records after the
        last commit are processed again, and what they caused before is sent
        again with the same bytes. Returns the offsets committed.
        """
        self._last = self._clock()
        prepared = [(task, task.prepare_commit()) for task in tasks]  # 1
        await self.sender.flush()  # 2
        offsets = {tp: off for task, p in prepared for tp, off in task.offsets(p).items()}
        committed = bool(offsets) and await self._commit_offsets(offsets)  # 3
        if offsets and not committed:
            log.warning("commit of %d partitions was refused (the group rebalanced): they will be processed again",
                        len(offsets))
        for task, p in prepared:  # 4
            await task.post_commit(p, committed)
        if committed:
            self.commits += 1
            return offsets
        return {}
