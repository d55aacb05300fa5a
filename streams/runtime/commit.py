"""7. Commit: when an input offset may be committed, and who else is told.

The member inputs are read by Faust's consumer with acks off for those topics
(Faust never commits them); this checkpoint commits them, by the rule in
:meth:`Checkpoint.commit`.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from streams.runtime.send import Sender

log = logging.getLogger(__name__)

TP = tuple[str, int]


class Checkpoint:
    """The processed offsets of the member inputs since the last commit, and the commit itself."""

    def __init__(self, sender: Sender, commit_offsets: Callable[[Mapping[TP, int]], Awaitable[bool]],
                 interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.sender = sender
        self._commit_offsets = commit_offsets
        self.interval_s = interval_s
        self._clock = clock
        self.processed: dict[TP, int] = {}  # the offset after the last record processed, per input partition
        self.committed: dict[TP, int] = {}  # what the last successful commit stored
        self._last = clock()
        self.commits = 0
        self.on_committed: list[Callable[[Mapping[TP, int]], Any]] = []

    def done(self, topic: str, partition: int, offset: int) -> None:
        """The record at ``offset`` is processed: its state and outputs are with the sender."""
        tp = (topic, partition)
        if offset + 1 > self.processed.get(tp, -1):
            self.processed[tp] = offset + 1

    def due(self) -> bool:
        return self._clock() - self._last >= self.interval_s

    def committed_offset(self, topic: str, partition: int) -> int | None:
        return self.committed.get((topic, partition))

    def forget(self, tps: Any) -> None:
        """Partitions this worker no longer holds."""
        for tp in tps:
            self.processed.pop(tp, None)
            self.committed.pop(tp, None)

    async def commit(self, only: Any = None) -> Mapping[TP, int]:
        """Commit the processed offsets: the delivery rule, step by step.

        1. Everything the processed records caused is already with the sender
           (the member runtime hands over a batch's table changelog records,
           outputs and dead letters before it reports the batch's offsets with
           :meth:`done`; the sender may hold changelog records in an open batch
           until step 2).
        2. Flush: hand the held changelog batches to the producer and wait
           until the broker has acknowledged every record (``acks=all``). If
           one could not be delivered,
           :class:`~streams.runtime.send.DeliveryFailed` is raised and nothing
           is committed: the worker stops and the records are answered again
           after a restart (from the outbox, byte for byte).
        3. Commit, for each member input partition, the offset after the last
           processed record, through the group's consumer (so the group's
           generation is checked: a worker that lost its partitions cannot
           commit them).
        4. Tell the listeners (:attr:`on_committed`): outbox entries below a
           committed offset are no longer needed.

        The member runtime calls this every ``PARTD_COMMIT_INTERVAL_MS`` (2 s),
        when its partitions are revoked in a rebalance (before they are given
        up, so the next owner starts exactly after the last processed record:
        no duplicate) and when the worker stops cleanly. ``only``: commit just
        these input partitions.

        So a record's offset is never committed before everything it caused is
        on the broker (at-least-once); without a failure nothing is delivered
        twice; after a failure (a crash, a lost session) the records after the
        last commit are processed again, and what they caused before is sent
        again with the same bytes.
        """
        self._last = self._clock()
        await self.sender.flush()
        offsets = {tp: off for tp, off in self.processed.items()
                   if (only is None or tp in only) and off > self.committed.get(tp, -1)}
        if not offsets:
            return {}
        if await self._commit_offsets(offsets):
            self.committed.update(offsets)
            self.commits += 1
            for listener in self.on_committed:
                listener(offsets)
            return offsets
        log.warning("commit of %d partitions was refused (the group rebalanced): they will be processed again",
                    len(offsets))
        return {}
