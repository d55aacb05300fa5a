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

The group also decides what the consumer should do for its partitions, and
returns it as :class:`Actions` instead of doing it (as Quix Streams' consumer
buffer returns the partitions to pause and resume): the one place that talks
to Faust (:class:`streams.runtime.consume.FaustConsumer`) applies them.

* **Back-pressure** (Kafka Streams' ``buffered.records.per.partition``): an
  input with more than ``PARTD_BUFFERED_RECORDS`` records waiting is paused,
  and resumed once it is down to half (:meth:`Group.route`, :meth:`Group.drained`).
* **Fetch repair** (docs/architecture.md, "Records Faust drops"): a record that
  arrives past the next expected offset means records were skipped: the input is
  sought back to that offset and the records fetched before the seek are dropped
  until the sought offset comes again (at most :data:`MAX_SEEKS` times, then the
  group goes on without them); an input whose records were handed to Faust
  (its fetch position is past the next expected offset) but never arrived while
  the group waits for it is sought back after :data:`REFETCH_S` (:meth:`Group.refetch`).
  All of it belongs to the group: a revoked partition takes it with it.
"""
from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from streams.runtime.deadletters import Source

log = logging.getLogger(__name__)

#: Waiting for an input with known, non-zero lag longer than this is logged (and counted)
#: and the group goes on: a partition whose high-water mark stays ahead of its records
#: (e.g. transaction markers of another producer) must not stop the member forever.
LAG_WAIT_LIMIT_S = 60.0

UNKNOWN, LAGGING, CAUGHT_UP = "unknown", "lagging", "caught_up"

#: Fetching skipped offsets again is tried this many times before the group goes on without them.
MAX_SEEKS = 3
#: After a seek, records of that input other than the sought offset are dropped for at most this long.
RESYNC_S = 30.0
#: Records handed to Faust that have not reached the runtime after this long are fetched again.
REFETCH_S = 3.0

TP = tuple[str, int]


@dataclass
class Actions:
    """What the consumer should do for a group's partitions (applied by ``consume.FaustConsumer.apply``)."""

    pause: list[TP] = field(default_factory=list)
    resume: list[TP] = field(default_factory=list)
    seek: list[tuple[TP, int]] = field(default_factory=list)  # (partition, offset to fetch from)
    skipped: Counter[str] = field(default_factory=Counter)  # offsets found skipped, per topic (a metric)
    refetched: Counter[str] = field(default_factory=Counter)  # re-fetches of records lost on the way, per topic

    def __iadd__(self, other: "Actions") -> "Actions":
        self.pause += other.pause
        self.resume += other.resume
        self.seek += other.seek
        self.skipped += other.skipped
        self.refetched += other.refetched
        return self

    def __bool__(self) -> bool:
        return bool(self.pause or self.resume or self.seek or self.skipped or self.refetched)


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


class Repair:
    """The fetch repair of one partition number's inputs (module doc, "Fetch repair"): the seeks made per
    offset, the offset being fetched again per input, and since when an input's fetch position is ahead."""

    def __init__(self, partition: int) -> None:
        self.partition = partition
        self._seeks: dict[tuple[str, int], int] = {}  # (topic, offset sought) -> seeks made for it
        self._resync: dict[str, tuple[int, float]] = {}  # topic -> (offset sought, when)
        self._ahead_since: dict[str, float] = {}  # topic -> since when its fetch position is past next_offset

    def admit(self, src: Source, now: float) -> bool:
        """False for a record fetched before a seek of its input (other than the sought offset, within
        :data:`RESYNC_S`): the same records come again from the seek's offset."""
        resync = self._resync.get(src.topic)
        if resync is None:
            return True
        if src.offset != resync[0] and now - resync[1] < RESYNC_S:
            return False
        del self._resync[src.topic]
        return True

    def skipped(self, src: Source, expected: int, now: float, actions: Actions) -> bool:
        """Records before ``src`` never reached the runtime: True if they are to be fetched again (a seek
        added to ``actions``); False after :data:`MAX_SEEKS` seeks (the group goes on from ``src``)."""
        seen = self._seeks.get((src.topic, expected), 0)
        actions.skipped[src.topic] += src.offset - expected
        if seen >= MAX_SEEKS:
            log.error("%s[%d]: offsets %d..%d still not delivered after %d fetches; going on without them",
                      src.topic, self.partition, expected, src.offset - 1, seen)
            return False
        self._seeks[(src.topic, expected)] = seen + 1
        log.warning("%s[%d]: offsets %d..%d were not delivered (the fetch jumped to %d): fetching them again",
                    src.topic, self.partition, expected, src.offset - 1, src.offset)
        self._resync[src.topic] = (expected, now)
        actions.seek.append(((src.topic, self.partition), expected))
        return True

    def refetch(self, topic: str, next_offset: int, at: int | None, now: float, actions: Actions) -> None:
        """An input the group has waited on for :data:`REFETCH_S` (its lag known, not zero), at fetch
        position ``at``: fetch it again from ``next_offset`` if its records were handed to Faust (``at``
        past ``next_offset``) for :data:`REFETCH_S` and never arrived. Records handed to the agent can be
        dropped before it takes them (Faust clears its stream buffers when flow resumes after a
        rebalance: docs/architecture.md, "Records Faust drops"); an input whose records were simply not
        fetched or handed over yet is left alone (fetching it again would send it to the back of the line)."""
        if at is None or at <= next_offset:
            # not handed over yet: aiokafka serves one partition's fetched records after another's
            # (a whole fetch each, ~16,000 records at 1M members), or Faust holds the partition back
            self._ahead_since.pop(topic, None)
            return
        if now - self._ahead_since.setdefault(topic, now) < REFETCH_S:
            return  # handed over a moment ago: on its way through Faust's channel
        del self._ahead_since[topic]  # the seek puts the position back: the next wait starts afresh
        log.warning("%s[%d]: records %d..%d were handed to Faust but never reached the runtime: "
                    "fetching them again", topic, self.partition, next_offset, at - 1)
        self._resync[topic] = (next_offset, now)
        actions.refetched[topic] += 1
        actions.seek.append(((topic, self.partition), next_offset))


class Group:
    """The member inputs of one partition number, released in timestamp order."""

    def __init__(self, partition: int, topics: Sequence[str], *, max_idle_s: float,
                 highwater: Callable[[str, int], int | None], clock: Callable[[], float] = time.monotonic,
                 max_buffered: int = 2000) -> None:
        self.partition = partition
        self.inputs: dict[str, Any] = {t: PartitionInput(t, rank) for rank, t in enumerate(topics)}
        self.max_idle_s = max_idle_s
        self.max_buffered = max_buffered
        self._highwater = highwater
        self._clock = clock
        self.enforced = 0  # records released while an input's lag was not known (after the idle wait)
        self.lag_waits_given_up = 0
        self.paused: set[str] = set()  # inputs whose fetching is paused (back-pressure)
        self.repair = Repair(partition)  # seeks and re-fetches of this partition number's inputs

    def attach(self, commands: CommandInput) -> None:
        """Add the cycle commands as an input (once the partition's state is ready to be read)."""
        self.inputs[commands.topic] = commands

    # -- filling --------------------------------------------------------------
    def route(self, sources: Iterable[Source]) -> Actions:
        """Buffer fetched records of this partition number; what the consumer must do about them.

        A record fetched before a seek of its input (other than the sought
        offset, within :data:`RESYNC_S`) is dropped: the same records come again
        from the seek's offset. A record past the next expected offset starts a
        seek back (:data:`MAX_SEEKS` at most per offset). An input over
        ``max_buffered`` records is paused.
        """
        actions = Actions()
        now = self._clock()
        for src in sources:
            if not self.repair.admit(src, now):
                continue  # fetched before a seek: the same records come again from the seek's offset
            skipped_from = self.add(src)
            if skipped_from is not None and self.repair.skipped(src, skipped_from, now, actions):
                self.drop_from(src.topic, skipped_from)
            self._pressure(src.topic, actions)
        return actions

    def _pressure(self, topic: str, actions: Actions) -> None:
        """Pause ``topic`` over the limit; resume it when it is down to half."""
        inp = self.inputs.get(topic)
        if not isinstance(inp, PartitionInput):
            return
        n = len(inp.buffer)
        if n > self.max_buffered and topic not in self.paused:
            self.paused.add(topic)
            actions.pause.append((topic, self.partition))
        elif topic in self.paused and n <= self.max_buffered // 2:
            self.paused.discard(topic)
            actions.resume.append((topic, self.partition))

    def drained(self) -> Actions:
        """After records were applied: resume the paused inputs whose buffers are down to half.

        A paused partition sends nothing more, so its own records can never
        trigger the resume: it must be checked as its buffer is applied.
        """
        actions = Actions()
        for topic in sorted(self.paused):
            self._pressure(topic, actions)
        return actions

    def rebalanced(self) -> None:
        """A rebalance happened (this partition kept): Faust fetches every assigned partition afresh."""
        self.paused.clear()

    def refetch(self, position: Callable[[str, int], int | None]) -> Actions:
        """Seek back the inputs whose records were handed to Faust but never arrived (:meth:`Repair.refetch`)."""
        now = self._clock()
        actions = Actions()
        for inp in self.inputs.values():
            if not isinstance(inp, PartitionInput) or inp.buffer or inp.next_offset is None:
                continue
            if inp.wait_started is None or now - inp.wait_started < REFETCH_S:
                continue
            if self.status(inp) == LAGGING:
                self.repair.refetch(inp.topic, inp.next_offset, position(inp.topic, self.partition), now, actions)
        return actions

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
