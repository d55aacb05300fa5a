"""2. Order: the records of one partition number, applied in record-timestamp order.

Kafka Streams' rule for a task with several co-partitioned inputs
(KIP-353, KIP-695; docs/architecture.md, "order"), kept here for partd's
member inputs. A :class:`Group` holds, for one partition number *p*, a FIFO
buffer per input (``beneficiary-updates[p]``, ``lis-status-changes[p]``,
``magi-applications[p]``, ``enrollment-requests[p]`` and the cycle commands,
which every partition reads whole). It releases the record with the least
``(timestamp, input rank, offset)`` among the buffers' heads, where the
timestamp is the one the producer gave the record (not a business date: Kafka's
retention works on record timestamps) and the rank is the order of
:data:`streams.topics.MEMBER_INPUTS` (who the person is, their LIS, their
Medicaid screen, then the transactions judged against all that), cycle
commands last.

A record is released only when no input with an empty buffer could still hold
an earlier one. For an input whose buffer is empty:

* **lag known and zero** (the next offset this worker expects has reached the
  partition's high-water mark): nothing earlier can be there; go on (Kafka
  Streams' default ``max.task.idle.ms = 0``). A record published to it later,
  with an earlier timestamp, is applied when it comes (out of order: the
  price of not waiting for producers);
* **lag known and not zero** (records exist that have not reached this
  worker yet): wait for them;
* **lag not known** (nothing fetched for the partition yet): wait at most
  ``PARTD_MAX_IDLE_MS`` (default 2,000 ms) from when the wait began, then go
  on without it; counted as *enforced processing*.

So a publisher that sends beneficiaries and then their enrollments gets the
enrollments judged against the beneficiaries, whether the worker reads them
live, from a backlog, or after a restart; and a log replayed with any batch
size, fetch size or worker count is applied in the same order.

The group never reorders records of one partition: offsets are applied in
order, so "the member's last applied offset per topic" stays a valid
redelivery test (:mod:`streams.runtime.rules`).
"""
from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from streams.runtime.deadletters import Source

log = logging.getLogger(__name__)

#: Waiting for an input with known, non-zero lag longer than this is logged (and counted)
#: and the group goes on: a partition whose high-water mark stays ahead of its records
#: (e.g. transaction markers of another producer) must not stop the member forever.
LAG_WAIT_LIMIT_S = 60.0

UNKNOWN, LAGGING, CAUGHT_UP = "unknown", "lagging", "caught_up"


def order_key(item: Any, rank: int) -> tuple[int, int, int, int]:
    """The order of release: record timestamp, input rank, then partition and offset."""
    return (item.timestamp_ms or 0, rank, item.partition, item.offset)


class PartitionInput:
    """One partition of a member topic: a FIFO buffer of fetched records, applied in offset order."""

    def __init__(self, topic: str, rank: int) -> None:
        self.topic = topic
        self.rank = rank
        self.buffer: deque[Any] = deque()
        self.next_offset: int | None = None  # the next offset this worker expects (None: not known yet)
        self.wait_started: float | None = None  # when the group began to wait for this input

    def head(self) -> Any | None:
        return self.buffer[0] if self.buffer else None

    def pop(self) -> Any:
        item = self.buffer.popleft()
        self.next_offset = item.offset + 1
        return item

    def status(self, highwater: int | None) -> str:
        if highwater is None or self.next_offset is None:
            return UNKNOWN
        return CAUGHT_UP if self.next_offset >= highwater else LAGGING


class CommandInput:
    """The cycle commands, which every partition applies: read whole by every worker.

    ``source`` gives the commands known so far (items with ``partition``,
    ``offset``, ``timestamp_ms``), its ``version`` (changes when it grows) and
    whether it has caught up with the end of its topic; ``cursor`` is, per
    partition of the commands topic, the next offset this group has not
    applied (kept with the group's state, so it survives restarts).
    """

    topic = "cycle-commands"

    def __init__(self, rank: int, source: Any, cursor: dict[int, int]) -> None:
        self.rank = rank
        self.source = source
        self.cursor = dict(cursor)
        self.wait_started: float | None = None
        self._pending: list[Any] = []
        self._seen: object = None

    def _refresh(self) -> None:
        if self._seen is not self.source.version:
            self._seen = self.source.version
            self._pending = sorted(
                (c for c in self.source.commands() if c.offset >= self.cursor.get(c.partition, 0)),
                key=lambda c: order_key(c, self.rank), reverse=True)

    @property
    def buffer(self) -> list[Any]:
        self._refresh()
        return self._pending

    def head(self) -> Any | None:
        self._refresh()
        return self._pending[-1] if self._pending else None

    def pop(self) -> Any:
        self._refresh()
        item = self._pending.pop()
        self.cursor[item.partition] = item.offset + 1
        return item

    def status(self, highwater: int | None) -> str:
        return CAUGHT_UP if self.source.caught_up() else LAGGING


class Group:
    """The member inputs of one partition number, released in timestamp order."""

    def __init__(self, partition: int, topics: Sequence[str], *, max_idle_s: float,
                 highwater: Callable[[str, int], int | None], clock: Callable[[], float] = time.monotonic) -> None:
        self.partition = partition
        self.inputs: dict[str, Any] = {t: PartitionInput(t, rank) for rank, t in enumerate(topics)}
        self.max_idle_s = max_idle_s
        self._highwater = highwater
        self._clock = clock
        self.enforced = 0  # records released while an input's lag was not known (after the idle wait)
        self.lag_waits_given_up = 0

    def attach(self, commands: CommandInput) -> None:
        """Add the cycle commands as an input (once the partition's state is ready to be read)."""
        self.inputs[commands.topic] = commands

    # -- filling --------------------------------------------------------------
    def add(self, src: Source) -> int | None:
        """Buffer a fetched record; returns the expected offset when records before it were skipped, else None."""
        inp = self.inputs[src.topic]
        expected = inp.next_offset
        last = inp.buffer[-1].offset if inp.buffer else None
        if last is not None and src.offset <= last:
            return None  # fetched twice (e.g. after a seek): already buffered
        if last is None and expected is not None and src.offset < expected:
            return None  # already applied
        inp.buffer.append(src)
        inp.wait_started = None
        following = last + 1 if last is not None else expected
        if following is not None and src.offset > following:
            return following
        return None

    def set_next_offset(self, topic: str, offset: int) -> None:
        inp = self.inputs[topic]
        inp.next_offset = offset
        while inp.buffer and inp.buffer[0].offset < offset:
            inp.buffer.popleft()

    def drop_from(self, topic: str, offset: int) -> int:
        """Forget buffered records of ``topic`` at or after ``offset`` (they will be fetched again)."""
        buf = self.inputs[topic].buffer
        n = 0
        while buf and buf[-1].offset >= offset:
            buf.pop()
            n += 1
        return n

    def buffered(self) -> int:
        return sum(len(i.buffer) for i in self.inputs.values() if isinstance(i, PartitionInput))

    # -- releasing ------------------------------------------------------------
    def status(self, inp: Any) -> str:
        """Whether an input with an empty buffer may still hold an earlier record."""
        return inp.status(self._highwater(inp.topic, self.partition))

    def _must_wait(self, inp: Any, now: float) -> bool:
        status = self.status(inp)
        if status == CAUGHT_UP:
            inp.wait_started = None
            return False
        if inp.wait_started is None:
            inp.wait_started = now
        waited = now - inp.wait_started
        if status == UNKNOWN:
            return waited < self.max_idle_s  # after that: enforced processing, go on without it
        if waited < LAG_WAIT_LIMIT_S:
            return True
        if not self.lag_waits_given_up:
            log.warning("partition %d: %s has had records beyond offset %s for %.0f s that never arrived; "
                        "going on without them", self.partition, inp.topic, getattr(inp, "next_offset", None), waited)
        self.lag_waits_given_up += 1
        return False

    def blocked(self, now: float | None = None) -> bool:
        """True if some empty input must be waited for before anything can be released."""
        now = self._clock() if now is None else now
        return any(inp.head() is None and self._must_wait(inp, now) for inp in self.inputs.values())

    def _first(self) -> Any | None:
        best = None
        best_key = None
        for inp in self.inputs.values():
            item = inp.head()
            if item is not None:
                key = order_key(item, inp.rank)
                if best_key is None or key < best_key:
                    best, best_key = inp, key
        return best

    def take(self, limit: int, stop: Callable[[Any], bool] = lambda item: False) -> list[Any]:
        """Up to ``limit`` records in order; stops before an item for which ``stop(item)`` is true.

        Records leave the buffers and their inputs' next offsets move past
        them. Stops early when an input runs empty and may still hold an
        earlier record (its lag is not zero, or not known within the idle wait).
        """
        now = self._clock()
        out: list[Any] = []
        if self.blocked(now):
            return out
        unknown_empty = any(inp.head() is None and self.status(inp) == UNKNOWN for inp in self.inputs.values())
        while len(out) < limit:
            inp = self._first()
            if inp is None or stop(inp.head()):
                break
            out.append(inp.pop())
            if unknown_empty:
                self.enforced += 1
            if inp.head() is None and self._must_wait(inp, now):
                break
        return out

    def peek(self) -> Any | None:
        """The item :meth:`take` would release next (None if there is none or the group must wait)."""
        if self.blocked():
            return None
        inp = self._first()
        return inp.head() if inp is not None else None
