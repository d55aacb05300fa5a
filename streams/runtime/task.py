"""A member partition task: everything about one partition number, in one object.

As Kafka Streams' ``StreamTask`` owns its ``PartitionGroup`` of ``RecordQueue``s,
its state and its record collector, a :class:`PartitionTask` owns, for member
partition *p*:

* its ordering group (:class:`streams.runtime.order.Group`): the buffers of
  ``beneficiary-updates[p]``, ``lis-status-changes[p]``, ``magi-applications[p]``,
  ``enrollment-requests[p]`` and the cycle commands, their back-pressure and
  their fetch repair (seeks, re-fetches);
* its offsets: processed since the last commit, and committed;
* its cycle cursor (written, and durable as of the last commit), and the benchmarks
  it has applied (the ``CALCULATE_BENCHMARKS`` before its place in the command
  order: what its member rules see, :data:`streams.runtime.cycle.BENCHMARKS_KEY`);
* the keys it wrote since the last commit that hold outbox entries, or no member;
* its state writes: *p*'s RocksDB database and its changelog partition.

Its life: :meth:`open` (when the partition is assigned and the table restored),
:meth:`apply` (a released batch of member records) and :meth:`command` (a cycle
command), :meth:`prepare_commit` and :meth:`post_commit` (called by the delivery
rule, :meth:`streams.runtime.commit.Checkpoint.commit`), :meth:`close` (the
partition is revoked: nothing about it stays anywhere).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from streams import topics
from streams.runtime import cycle
from streams.runtime import state as st
from streams.runtime.context import RuntimeContext
from streams.runtime.deadletters import Source
from streams.runtime.decode import decode_batch
from streams.runtime.order import CommandInput, Group, PartitionInput
from streams.runtime.rules import MissRecorder, Reference, Result, apply_batch

log = logging.getLogger(__name__)

#: The values written since the last commit that a task keeps for the commit's strip (the rest are read back):
#: a stream's 2 s between commits at 1,000,000 members is ~3 MB a partition; a cycle scan writing a whole
#: partition is not held (holding every value cost ~54 MB at 200,000 members, docs/benchmarks.md)
HELD_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Prepared:
    """What a task hands the delivery rule before the flush: offsets to commit, the cursor it has written."""

    offsets: Mapping[tuple[str, int], int]
    cursor: Mapping[int, int]


class PartitionTask:
    """One member partition number (module doc)."""

    def __init__(self, partition: int, ctx: RuntimeContext, group: Group, cursor: Mapping[int, int],
                 commands: cycle.Commands) -> None:
        self.partition = partition
        self.ctx = ctx
        self.group = group
        self.commands = commands
        self._bms: dict[int, dict[str, Decimal]] | None = None  # the benchmarks this partition has applied
        self._counted: set[str] = set()  # calculations whose counts this partition has reported
        self.processed: dict[str, int] = {}  # input topic -> the offset after the last record processed
        self.committed: dict[str, int] = {}  # input topic -> what this task's last successful commit stored
        self.cursor_written: dict[int, int] = dict(cursor)  # cycle-commands partition -> next offset not applied
        self.cursor_durable: dict[int, int] = dict(cursor)  # ... as of the last flush (the last commit)
        self.unknown: set[bytes] = set()  # keys written with no member since the last commit
        #: keys written with outbox entries since the last commit
        self.outboxed: set[bytes] = set()
        #: ... and, up to :data:`HELD_BYTES`, the value each was written with (what the database holds): the commit
        #: strips those without reading them back; the others it reads in one multi-get
        self.held: dict[bytes, bytes] = {}
        self._held_bytes = 0
        self.closed = False

    # ------------------------------------------------------------------ open / close
    @classmethod
    async def open(cls, partition: int, ctx: RuntimeContext, commands: cycle.Commands) -> "PartitionTask":
        """A task for a partition this worker now holds, starting after the group's committed offsets."""
        group = Group(partition, topics.MEMBER_INPUTS, max_idle_s=ctx.settings.max_idle_ms / 1000,
                      highwater=ctx.consumer.highwater, max_buffered=ctx.settings.buffered_records)
        starts = await ctx.offsets.starting([(t, partition) for t in topics.MEMBER_INPUTS])
        for (topic, _), offset in starts.items():
            group.set_next_offset(topic, offset)
        cursor = st.decode_group(ctx.table.get(partition, st.GROUP_KEY))
        group.attach(CommandInput(cycle.RANK, ctx.command_log, cursor))
        log.debug("partition %d: applying from offsets %s, %d cycle commands applied before",
                  partition, {t: o for (t, _), o in starts.items()}, sum(cursor.values()))
        return cls(partition, ctx, group, cursor, commands)

    def close(self) -> None:
        """The partition is revoked (after the commit): its buffers, seeks and bookkeeping go with this object."""
        self.closed = True

    # ------------------------------------------------------------------ member records
    async def apply(self, batch: list[Source]) -> Result:
        """Steps 3-6 for records the group released: decode, rules, state, send; then they count as processed."""
        ctx = self.ctx
        decoded = decode_batch(ctx.serde, batch)
        # the batch's members in one multi-get (RocksDB's MultiGet: about a quarter cheaper a key than a get
        # each at 1,000,000 members, docs/benchmarks.md 2026-12-08), each key once: every key the rules load
        # (apply_batch loads the key of each record that decoded)
        keys = list(dict.fromkeys(s.key for s, (_, problem) in zip(batch, decoded)
                                  if problem is None and s.key is not None))
        raws = dict(zip(keys, ctx.table.get_many(self.partition, keys))) if keys else {}

        def load(key: bytes) -> st.Stored | None:
            return st.decode(raws[key])

        plans = MissRecorder(ctx.plans.data)
        result = apply_batch(batch, decoded, ctx.serde, load, Reference(plans, self.benchmarks()))
        if plans.missed:
            # A transaction named a plan-year the catalog has not seen: it may have been published a
            # moment ago. Catch the catalog up and run the batch again (nothing was written yet).
            await ctx.plans.sync()
            result = apply_batch(batch, decoded, ctx.serde, load, Reference(ctx.plans.data, self.benchmarks()))
        await self._write(result.writes.items(), batch[-1].timestamp_ms)
        await ctx.sender.append((t, k.encode("utf-8"), v, ts) for t, k, v, ts in result.sends)
        for s in batch:
            self._done(s.topic, s.offset)
        return result

    def benchmarks(self) -> dict[int, dict[str, Decimal]]:
        """Plan year -> region -> benchmark as this partition has applied them (the calculations before its place
        in the command order, cycle.py): kept in its database, else (applied before issue 23) from their done
        records."""
        if self._bms is None:
            bms = cycle.decode_benchmarks(self.ctx.table.get(self.partition, cycle.BENCHMARKS_KEY))
            if bms is None:
                bms = self.commands.applied_benchmarks(self.group.inputs[topics.CYCLE_COMMANDS].cursor)
            self._bms = bms
        return self._bms

    def _done(self, topic: str, offset: int) -> None:
        """The record at ``offset`` is processed: its state and outputs are with the sender."""
        if offset + 1 > self.processed.get(topic, -1):
            self.processed[topic] = offset + 1

    # ------------------------------------------------------------------ cycle commands
    async def command(self, item: Source, plan: cycle.Plan) -> bool:
        """Apply a cycle command (``plan``: :meth:`streams.runtime.cycle.Commands.plan`, not a Wait) here;
        False if it has to wait (a calculation not done on every partition yet)."""
        ctx = self.ctx
        if isinstance(plan, dict) and plan["command"] == cycle.CALCULATE_BENCHMARKS:
            if not await self._calculate(plan, item):
                return False  # waits for the calculation to be done on every partition
        elif isinstance(plan, dict):
            started = time.perf_counter()
            await ctx.plans.sync()
            body = await self._scan(plan, item)
            key, value = cycle.result_message(plan, self.partition, body)
            await ctx.sender.append([(topics.CYCLE_RESULTS, key, value, item.timestamp_ms)])
            ctx.metrics.cycle_step(plan["command"], time.perf_counter() - started)
            log.info("partition %d: %s %s applied", self.partition, plan["command"], plan["plan_year"])
        commands = self.group.inputs[topics.CYCLE_COMMANDS]
        commands.pop()
        self.cursor_written = dict(commands.cursor)
        await self._put([(st.GROUP_KEY, st.encode_group(commands.cursor))], item.timestamp_ms)
        return True

    async def _calculate(self, plan: Mapping[str, Any], item: Source) -> bool:
        """``CALCULATE_BENCHMARKS`` on this partition (cycle.py, "issue 23"): count and report once, then, when the
        calculation is done on every partition, scan with its benchmarks and keep them. False: still waiting."""
        ctx = self.ctx
        mark = plan["command_id"]
        if mark not in self._counted:
            started = time.perf_counter()
            await ctx.plans.sync()
            body = await self._scan(plan, item)
            key, value = cycle.result_message(plan, self.partition, body)
            await ctx.sender.append([(topics.CYCLE_RESULTS, key, value, item.timestamp_ms)])
            self._counted.add(mark)
            ctx.metrics.cycle_step(plan["command"], time.perf_counter() - started)
        done = self.commands.done.get(plan["command_id"])
        if done is None:
            return False
        started = time.perf_counter()
        before = self.benchmarks()
        after = cycle.with_calculation(before, plan["plan_year"], done["benchmarks"])
        await ctx.plans.sync()
        tallies: Counter[str] = Counter()
        scan = cycle.scan_calculation(plan, self._members(plan["command"]), ctx.plans.data, ctx.serde,
                                      cycle.source_name(item), item.offset, before, after, tallies)
        body = await self._send_scan(scan, item)
        key, value = cycle.result_message(cycle.preview_payload(plan), self.partition,
                                          {**body, "counts": dict(tallies)})
        await ctx.sender.append([(topics.CYCLE_RESULTS, key, value, item.timestamp_ms)])
        self._bms = after
        await self._put([(cycle.BENCHMARKS_KEY, cycle.encode_benchmarks(after))], item.timestamp_ms)
        self._counted.discard(mark)
        ctx.metrics.cycle_step(plan["command"], time.perf_counter() - started)
        log.info("partition %d: %s %s applied (benchmarks of %d regions)", self.partition, plan["command"],
                 plan["plan_year"], len(done["benchmarks"]))
        return True

    def _members(self, command: str) -> Any:
        """The partition's members a scan for ``command`` reads (cycle.scanned_key: a calculation's, LIS members)."""
        return st.members(self.ctx.table.items(self.partition), having=cycle.scanned_key(command))

    async def _scan(self, plan: Mapping[str, Any], item: Source) -> dict[str, Any]:
        ctx = self.ctx
        members = self._members(plan["command"])
        if plan["command"] == cycle.CALCULATE_BENCHMARKS:
            return {"counts": cycle.partition_counts(plan, members)}
        return await self._send_scan(cycle.scan_partition(plan, members, ctx.plans.data, ctx.serde,
                                                          cycle.source_name(item), item.offset), item)

    async def _send_scan(self, scan: Iterable[Any], item: Source) -> dict[str, Any]:
        """Write and send what a member scan yields, in chunks (heartbeats between them); the summary."""
        ctx = self.ctx
        totals: dict[str, int] = {}
        writes: list[tuple[bytes, st.Stored | None]] = []
        sends: list[tuple[str, bytes, bytes, int | None]] = []
        # the chunk's outputs: counted in the metrics and the summary once a chunk, not once a member
        counted: list[Any] = []  # computed now
        summed: list[Any] = []  # computed now, or sent again from an outbox (decoded for the summary)

        def count() -> None:
            for name, c in cycle.summarize(summed).items():
                totals[name] = totals.get(name, 0) + c
            ctx.metrics.outputs(counted)

        n = 0
        for key, new, outputs, records in scan:
            if new is not None:
                writes.append((key, new))
            if records:
                sends.extend((t, k.encode("utf-8"), v, item.timestamp_ms) for t, k, v in records)
                summed.extend(outputs or cycle.decoded(ctx.serde, records))
                counted.extend(outputs)
            n += 1
            if n % cycle.SCAN_CHUNK == 0:
                await self._write(writes, item.timestamp_ms)
                await ctx.sender.append(sends)
                await ctx.sender.submit()
                count()
                writes, sends, counted, summed = [], [], [], []
                await asyncio.sleep(0)  # heartbeats between chunks
        await self._write(writes, item.timestamp_ms)
        await ctx.sender.append(sends)
        count()
        return {"summary": totals}

    # ------------------------------------------------------------------ state writes
    async def _write(self, writes: Iterable[tuple[bytes, st.Stored | None]], ts: int | None) -> None:
        """Step 5: each key once, into the partition's database and the table's changelog."""
        items: list[tuple[bytes, bytes | None]] = []
        for key, stored in writes:
            if stored is None:
                items.append((key, None))
                self._hold(key, None)
                continue
            st.trim(stored, self._committed)
            if stored.member is None:
                self.unknown.add(key)
            value = st.encode(stored)
            if stored.outbox:
                self.outboxed.add(key)
                self._hold(key, value)
            else:
                self._hold(key, None)
            items.append((key, value))
        if items:
            await self._put(items, ts)

    async def _put(self, items: list[tuple[bytes, bytes | None]], ts: int | None) -> None:
        """Encoded values into the partition's database and, as changelog records, to the sender (held until
        the commit or a full batch: send.py); when the broker has them, the changelog offset is recorded in
        the database (a restart reads only what follows)."""
        table = self.ctx.table
        table.write(self.partition, items)

        def persisted(future: Any, count: int) -> None:
            if not future.cancelled() and future.exception() is None:
                table.persisted(self.partition, future.result().offset + count - 1)

        await self.ctx.sender.hold(table.changelog, self.partition, ((k, v, ts) for k, v in items), persisted)

    def _committed(self, source: str) -> int | None:
        """The committed offset of an outbox entry's input (for a cycle command: the durable cursor)."""
        if source.startswith(topics.CYCLE_COMMANDS):
            return self.cursor_durable.get(int(source.rsplit(":", 1)[1]))
        return self.committed.get(source)

    # ------------------------------------------------------------------ the delivery rule's two steps
    def prepare_commit(self) -> Prepared:
        """Step 1 of the delivery rule: what to commit for this partition, and the cursor being flushed."""
        offsets = {(t, self.partition): off for t, off in self.processed.items() if off > self.committed.get(t, -1)}
        return Prepared(offsets, dict(self.cursor_written))

    @staticmethod
    def offsets(prepared: Prepared) -> Mapping[tuple[str, int], int]:
        return prepared.offsets

    async def post_commit(self, prepared: Prepared, committed: bool) -> None:
        """Step 4 of the delivery rule: the flushed cursor is durable, the committed offsets recorded
        (``committed``: the consumer accepted them); outbox entries they cover go, and keys that hold
        nothing any more are deleted."""
        if committed:
            self.committed.update({t: off for (t, _), off in prepared.offsets.items()})
        self.cursor_durable = dict(prepared.cursor)
        self._strip_outboxes()
        await self._sweep_unknown()

    def _hold(self, key: bytes, value: bytes | None) -> None:
        """Note the value ``key`` was just written with (None: nothing to strip at the commit), within
        :data:`HELD_BYTES`; a key over the budget is read back at the commit."""
        old = self.held.pop(key, None)
        if old is not None:
            self._held_bytes -= len(old)
        if value is not None and self._held_bytes + len(value) <= HELD_BYTES:
            self.held[key] = value
            self._held_bytes += len(value)

    def _strip_outboxes(self) -> None:
        """Rewrite, in this worker's database only, the keys written since the last commit without the
        outbox entries it covered (state.py: a member at rest carries no outbox; the changelog keeps the
        value as sent, which a successor may need after a crash)."""
        keys = list(self.outboxed)
        held, self.held, self._held_bytes = self.held, {}, 0
        if not keys:
            return
        unheld = [k for k in keys if k not in held]
        if unheld:
            held.update(zip(unheld, self.ctx.table.get_many(self.partition, unheld)))
        left: set[bytes] = set()
        items = []
        for key in keys:
            raw = held[key]
            trimmed = st.trim_raw(raw, self._committed)
            if trimmed is not None:
                items.append((key, trimmed))
            if st.has_outbox(raw if trimmed is None else trimmed):
                left.add(key)  # not covered (a refused commit): the next one
        self.ctx.table.write(self.partition, items)
        self.outboxed = left

    async def _sweep_unknown(self) -> None:
        """Delete keys that hold no member once their outbox entries are all committed (008 rejections...)."""
        deletes: list[tuple[bytes, st.Stored | None]] = []
        later = set()
        for key in self.unknown:
            stored = st.decode(self.ctx.table.get(self.partition, key))
            if stored is None or stored.member is not None:
                continue
            st.trim(stored, self._committed)
            if stored.outbox:
                later.add(key)  # written after this commit's flush: the next sweep
            else:
                deletes.append((key, None))
        self.unknown = later
        if deletes:
            await self._write(deletes, None)

    # ------------------------------------------------------------------ for the loop
    def buffered(self, topic: str) -> int:
        """Records of ``topic`` waiting in this task's group."""
        inp = self.group.inputs.get(topic)
        return len(inp.buffer) if isinstance(inp, PartitionInput) else 0
