"""What the member runtime may use of the worker: a narrow context, not the app.

As Quix Streams' ``ProcessingContext`` gives its processing layer the producer,
consumer, state and checkpoint and nothing else, :class:`RuntimeContext` gives
:mod:`streams.runtime.worker` and :mod:`streams.runtime.task` what they need:
the settings, the serde, the metrics, the sender, the member table
(:class:`MemberTable`: one partition's database at a time, its changelog), the
consumer (:class:`streams.runtime.consume.FaustConsumer`: the one door to
Faust's consumer), the group's committed offsets, the reference data every
worker reads whole, and two callbacks of the app. :class:`streams.runtime.app.PartdApp`
builds it; tests build it from fakes.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from streams import topics
from streams.config import Settings
from streams.kafka.internals import faust_private as fp
from streams.kafka.serde import Serde
from streams.observability.metrics import Metrics


class Consumer(Protocol):
    """The member runtime's view of the group's consumer (:class:`streams.runtime.consume.FaustConsumer`)."""

    def assignment(self) -> set[tuple[str, int]]: ...

    def generation(self) -> int: ...

    def bulk(self) -> bool: ...

    def new_step(self) -> None: ...

    def partitions(self, topic: str) -> int | None: ...

    def highwater(self, topic: str, partition: int) -> int | None: ...

    def position(self, topic: str, partition: int) -> int | None: ...

    async def commit(self, offsets: Mapping[tuple[str, int], int]) -> bool: ...

    async def apply(self, actions: Any) -> None: ...


class MemberTable:
    """The ``members`` table as the runtime uses it: one partition's RocksDB database at a time
    (``streams/kafka/internals/faust_private.py``), and its changelog."""

    def __init__(self, app: Any, table: Any, make_consumer: Callable[..., Any],
                 partitions: Callable[[], int]) -> None:
        self.app = app
        self.table = table
        self._make_consumer = make_consumer
        self._partitions = partitions

    @property
    def changelog(self) -> str:
        return fp.changelog_topic(self.table)

    def get(self, partition: int, key: bytes) -> bytes | None:
        return fp.table_get(self.table, partition, key)

    def get_many(self, partition: int, keys: list[bytes]) -> list[bytes | None]:
        return fp.table_get_many(self.table, partition, keys)

    def write(self, partition: int, items: list[tuple[bytes, bytes | None]]) -> None:
        fp.table_write(self.table, partition, items)

    def items(self, partition: int) -> Iterator[tuple[bytes, bytes]]:
        return fp.iter_partition(self.table, partition, self._partitions())

    def persisted(self, partition: int, changelog_offset: int) -> None:
        fp.persisted(self.table, partition, changelog_offset)

    def pending(self) -> list[int]:
        """Partitions whose changelog Faust's recovery left to :meth:`restore`."""
        return fp.restore_pending(self.app, self.table)

    async def restore(self, transform: Callable[[int, bytes, bytes | None], bytes | None]) -> Any:
        return await fp.restore(self.app, self.table, self._make_consumer, transform)

    def memory(self) -> dict[str, int]:
        return fp.table_memory(self.table)


@dataclass
class RuntimeContext:
    """Everything the member runtime uses (module doc)."""

    settings: Settings
    serde: Serde
    metrics: Metrics
    sender: Any  # streams.runtime.send.Sender
    consumer: Consumer
    table: MemberTable
    offsets: Any  # streams.runtime.consume.GroupOffsets: .starting(tps)
    plans: Any  # reference.LatestTable: .data, .sync()
    command_log: Any  # reference.CommandLog: .items, .version, .commands(), .caught_up(), .errors
    #: lis-benchmarks read whole (reference.LatestTable): only the previous plan year's benchmarks a run compares
    #: the choosers' liability with when the log holds no calculation of that year (issue 22, cycle.Commands)
    benchmarks: Any
    cycle_done: Mapping[str, Any]  # command id -> the results agent's "done" record
    ready: asyncio.Event  # set once the reference data is loaded
    #: Wait for the small agents' record in hand, then let Faust commit their progress.
    commit_other_agents: Callable[[], Awaitable[None]]
    _partitions: int | None = field(default=None, init=False)

    def partition_count(self) -> int:
        """Partitions of the member topics (the consumer's view, else ``PARTD_PARTITIONS``)."""
        if self._partitions is None:
            self._partitions = self.consumer.partitions(topics.ENROLLMENT_REQUESTS) or self.settings.partitions
        return self._partitions
