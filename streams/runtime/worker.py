"""The member path, top-down: consume, order, decode, rules, state, send, commit.

:meth:`MemberRuntime.run` is the body of the ``partd-members`` agent. It keeps
the loop and the partition tasks (:class:`streams.runtime.task.PartitionTask`,
one per member partition number this worker holds); each step:

1. **consume** (:mod:`.consume`): take the records waiting in the agent's channel;
2. **order** (:mod:`.order`): route them to their partition's task, whose group
   buffers them and releases them in record-timestamp order, cycle commands
   included; what the groups ask of the consumer (pause, resume, seek) is
   applied by :class:`.consume.FaustConsumer`;
3. **decode** (:mod:`.decode`) and 4. **rules** (:mod:`.rules`), 5. **state**
   (:mod:`.state`), 6. **send** (:mod:`.send`): each task applies its released
   records (:meth:`~streams.runtime.task.PartitionTask.apply`) or a cycle command
   (:meth:`~streams.runtime.task.PartitionTask.command`, :mod:`.cycle`);
7. **commit** (:mod:`.commit`): every ``PARTD_COMMIT_INTERVAL_MS``, on
   revocation and on a clean stop, the delivery rule over all tasks.

One lock (:attr:`MemberRuntime.busy`) is held while a step is applied; a
rebalance and a shutdown take it first, so they never cut a batch in half.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

from streams import topics
from streams.runtime import cycle
from streams.runtime import state as st
from streams.runtime.commit import Checkpoint
from streams.runtime.consume import Intake
from streams.runtime.context import RuntimeContext
from streams.runtime.deadletters import Source
from streams.runtime.order import Actions
from streams.runtime.task import PartitionTask
from streams.text import plural

log = logging.getLogger(__name__)

#: How long the loop waits for records when a partition waits for a sibling (or a command for a calculation).
TICK_S = 0.05
#: After a step that applied less than a full batch while records keep coming: the wait that lets Faust's
#: fetcher hand the rest of its fetch over. Without it the loop and the fetcher take turns record by record:
#: measured, 1.07 records per step and 40% fewer records/s while loading 200,000 members (docs/benchmarks.md).
LINGER_S = 0.005


class MemberRuntime:
    """The member path of one worker: its partition tasks, and the loop that applies them."""

    def __init__(self, ctx: RuntimeContext) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.metrics = ctx.metrics
        self.commands = cycle.Commands(ctx.command_log, ctx.cycle_done, ctx.partition_count, ctx.benchmarks)
        self.intake = Intake(ctx.consumer.generation, limit=max(4096, self.settings.batch_size * 8))
        self.checkpoint = Checkpoint(ctx.sender, ctx.consumer.commit, self.settings.commit_interval_s)
        self.tasks: dict[int, PartitionTask] = {}
        self.busy = asyncio.Lock()
        self.stopped = False
        self._last_batch = 0  # records applied by the latest step
        self._enforced = 0

    # ------------------------------------------------------------------ the loop
    async def run(self, stream: Any) -> None:
        """The ``partd-members`` agent: until the worker stops.

        The lock is taken for one step (one batch, or one cycle command) at a
        time, so a rebalance or a shutdown waits for at most one step.
        """
        channel = stream.channel
        await self.ctx.ready.wait()
        bulk = self.ctx.consumer.bulk()
        more = waiting = False
        while True:
            timeout = 0.0 if more else (TICK_S if waiting else 1.0)
            if bulk:
                sources = await self.intake.take_fetched(channel, timeout)
            else:
                sources = await self.intake.take(channel, timeout, self.settings.batch_size * 4)
            async with self.busy:
                if self.stopped:
                    more = waiting = False  # wait for records (or Faust's stop of the agent), do not spin
                    continue
                self.ctx.consumer.new_step()
                await self.route(sources)
                more, waiting = await self.step()
                if self.checkpoint.due():
                    await self.commit()
            if more:
                # heartbeats, the web server, a waiting rebalance; after a small step, Faust's fetcher too
                await asyncio.sleep(LINGER_S if self._last_batch < self.settings.batch_size else 0)

    async def route(self, sources: Iterable[Source]) -> None:
        """Step 2: each record to its partition's task; what the groups ask of the consumer is done."""
        per: dict[int, list[Source]] = {}
        for src in sources:
            per.setdefault(src.partition, []).append(src)
        actions = Actions()
        for partition, items in per.items():
            task = self.tasks.get(partition)
            if task is None:
                continue  # taken before its partition was revoked: its new owner reads it
            actions += task.group.route(items)
        await self._act(actions)
        self.metrics.buffered.set(sum(t.group.buffered() for t in self.tasks.values()))

    async def step(self) -> tuple[bool, bool]:
        """Apply one batch of what the groups can release, then the cycle commands now due.

        Returns (more can be applied now, some group waits for an input or a calculation).
        """
        limit = self.settings.batch_size
        released: list[tuple[PartitionTask, list[Source]]] = []
        n = 0
        for task in self._ordered():
            taken = task.group.take(limit - n, stop=_is_command)
            if taken:
                released.append((task, taken))
                n += len(taken)
            if n >= limit:
                break
        self._last_batch = n
        for task, batch in released:
            started = time.perf_counter()
            result = await task.apply(batch)
            self.metrics.member_batch(result, time.perf_counter() - started,
                                      [(s.topic, s.timestamp_ms) for s in batch])
        applied = False
        for task in self._ordered():
            item = task.group.peek()
            if item is not None and _is_command(item):
                plan = self.commands.plan(item)
                if not isinstance(plan, cycle.Wait) and await task.command(item, plan):
                    applied = True
        await self.ctx.sender.submit()
        enforced = sum(t.group.enforced for t in self.tasks.values())
        if enforced > self._enforced:
            self.metrics.enforced.inc(enforced - self._enforced)
        self._enforced = enforced
        actions = Actions()
        for task in self._ordered():
            actions += task.group.drained()
        more = bool(n) or applied
        waiting = not more and any(t.group.buffered() or t.group.blocked() for t in self.tasks.values())
        if waiting:
            for task in self._ordered():
                actions += task.group.refetch(self.ctx.consumer.position)
        await self._act(actions)
        return more, waiting

    def _ordered(self) -> list[PartitionTask]:
        return [self.tasks[p] for p in sorted(self.tasks)]

    async def _act(self, actions: Actions) -> None:
        """What the groups asked of the consumer, through the one door to Faust (and counted)."""
        if not actions:
            return
        for topic, n in actions.skipped.items():
            self.metrics.skipped.labels(topic).inc(n)
        for topic, n in actions.refetched.items():
            self.metrics.refetches.labels(topic).inc(n)
        await self.ctx.consumer.apply(actions)

    # ------------------------------------------------------------------ partitions
    async def on_rebalance_complete(self) -> None:
        """The tables are restored, streams resume: open a task for every member partition this worker holds."""
        partitions = sorted({p for t, p in self.ctx.consumer.assignment() if t in topics.MEMBER_INPUTS})
        async with self.busy:
            for p in partitions:
                if p not in self.tasks:
                    self.tasks[p] = await PartitionTask.open(p, self.ctx, self.commands)

    async def before_revoke(self, revoked: Iterable[Any]) -> None:
        """Partitions are being revoked: finish the batch, commit (the delivery rule), close their tasks."""
        async with self.busy:
            await self.commit()
            await self.ctx.commit_other_agents()
            gone = {tp.partition for tp in revoked if tp.topic in topics.MEMBER_INPUTS}
            for p in sorted(gone):
                task = self.tasks.pop(p, None)
                if task is not None:
                    task.close()
            for task in self.tasks.values():
                task.group.rebalanced()

    async def before_stop(self) -> None:
        """The worker is stopping: finish the batch, commit; apply nothing more."""
        async with self.busy:
            self.stopped = True
            await self.commit()
            await self.ctx.commit_other_agents()
        log.info("member runtime stopped after %s", plural(self.checkpoint.commits, "commit"))

    # ------------------------------------------------------------------ commit
    async def commit(self) -> None:
        """Step 7: the delivery rule (:meth:`streams.runtime.commit.Checkpoint.commit`) over all tasks."""
        started = time.perf_counter()
        if await self.checkpoint.commit(self._ordered()):
            self.metrics.commits.inc()
        self.metrics.commit_duration.observe(time.perf_counter() - started)

    # ------------------------------------------------------------------ restore
    async def restore(self) -> Any:
        """Read back the changelog Faust left to partd (a new or a stale disk), before any member record is applied.

        Outbox entries below the group's committed offsets are dropped on the way (state.py): no
        redelivery can need them.
        """
        table = self.ctx.table
        partitions = table.pending()
        starts: dict[tuple[str, int], int] = {}
        if partitions:
            starts = await self.ctx.offsets.starting([(t, p) for p in partitions for t in topics.MEMBER_INPUTS])

        def transform(partition: int, key: bytes, value: bytes | None) -> bytes | None:
            if value is None or key[:1] == b"\x00":
                return value
            return st.trim_raw(value, lambda source: starts.get((source, partition))) or value

        done = await table.restore(transform)
        self.metrics.restored(done)
        return done


def _is_command(item: Source) -> bool:
    return item.topic == topics.CYCLE_COMMANDS
