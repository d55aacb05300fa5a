"""The member path, top-down: consume, order, decode, rules, state, send, commit.

:meth:`MemberRuntime.run` is the body of the ``partd-members`` agent:

1. **consume** (:mod:`.consume`): take the records waiting in the agent's channel;
2. **order** (:mod:`.order`): buffer them per partition number and release
   them in record-timestamp order, cycle commands included;
3. **decode** (:mod:`.decode`) and 4. **rules** (:mod:`.rules`): decode the
   released batch and run it through the processors (redeliveries answered
   from the outbox);
5. **state** (:mod:`.state`): write each touched key once, to its partition's
   RocksDB database and the table's changelog;
6. **send** (:mod:`.send`): hand the outputs and dead letters to the producer;
7. **commit** (:mod:`.commit`): every ``PARTD_COMMIT_INTERVAL_MS``, on
   revocation and on a clean stop: flush, then commit the processed offsets.

A cycle command is applied by each partition at its place in that order
(:mod:`.cycle`): the partition's members are scanned, the outputs sent, and
the partition's report goes to ``partd-cycle-results``.

One lock (:attr:`MemberRuntime.busy`) is held while a batch or a scan is
applied; a rebalance and a shutdown take it first, so they never cut a batch
in half.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from streams import topics
from streams.kafka.internals import faust_private as fp
from streams.runtime import cycle
from streams.runtime import state as st
from streams.runtime.commit import Checkpoint
from streams.runtime.consume import Intake
from streams.runtime.deadletters import Source
from streams.runtime.decode import decode_batch
from streams.runtime.order import LAGGING, CommandInput, Group, PartitionInput
from streams.runtime.rules import MissRecorder, Reference, apply_batch
from streams.text import plural

if TYPE_CHECKING:
    from streams.runtime.app import PartdApp

log = logging.getLogger(__name__)

#: How long the loop waits for records when a partition waits for a sibling (or a command for a calculation).
TICK_S = 0.05
#: After a step that applied less than a full batch while records keep coming: the wait that lets Faust's
#: fetcher hand the rest of its fetch over. Without it the loop and the fetcher take turns record by record:
#: measured, 1.07 records per step and 40% fewer records/s while loading 200,000 members (docs/benchmarks.md).
LINGER_S = 0.005
#: Fetching skipped offsets again is tried this many times before the worker goes on without them.
MAX_SEEKS = 3
#: After a seek, records of that partition other than the sought offset are dropped for at most this long.
RESYNC_S = 30.0
#: Records handed to Faust that have not reached the runtime after this long are fetched again.
REFETCH_S = 3.0


class MemberRuntime:
    """The member path of one worker: its partition groups, and the loop that applies them."""

    def __init__(self, partd: "PartdApp") -> None:
        self.partd = partd
        self.app = partd.app
        self.settings = partd.settings
        self.serde = partd.serde
        self.metrics = partd.metrics
        self.table = partd.members
        self.sender = partd.sender
        self.commands = cycle.Commands(partd.command_log, partd.results.done, self._partition_count, partd.benchmarks)
        self.intake = Intake(lambda: self.app.consumer, lambda: self.app.consumer_generation_id,
                             self.settings.buffered_records)
        self.checkpoint = Checkpoint(self.sender, lambda offsets: fp.commit_offsets(self.app, offsets),
                                     self.settings.commit_interval_s)
        self.checkpoint.on_committed.append(self._on_commit)
        self.groups: dict[int, Group] = {}
        self.busy = asyncio.Lock()
        self.stopped = False
        self._cursor_durable: dict[int, dict[int, int]] = {}  # partition -> cycle cursor as of the last commit
        self._cursor_written: dict[int, dict[int, int]] = {}
        self._unknown: dict[int, set[bytes]] = {}  # keys written with no member since the last commit
        self._outboxed: dict[int, set[bytes]] = {}  # keys written with outbox entries since the last commit
        self._seeks: dict[tuple[str, int, int], int] = {}
        self._resync: dict[tuple[str, int], tuple[int, float]] = {}  # tp -> (offset sought, when)
        self._ahead_since: dict[tuple[str, int], float] = {}  # fetch position past next_offset since
        #: partition -> the benchmarks it has applied (cycle.BENCHMARKS_KEY): what its member rules see
        self._bms: dict[int, dict[int, dict[str, Decimal]]] = {}
        self._counted: set[tuple[int, str]] = set()  # (partition, calculation id) whose counts were reported
        self._last_batch = 0  # records applied by the latest step
        self._partitions: int | None = None
        self._enforced = 0

    # ------------------------------------------------------------------ the loop
    async def run(self, stream: Any) -> None:
        """The ``partd-members`` agent: until the worker stops.

        The lock is taken for one step (one batch, or one cycle command) at a
        time, so a rebalance or a shutdown waits for at most one step.
        """
        channel = stream.channel
        await self.partd.ready.wait()
        more = waiting = False
        while True:
            timeout = 0.0 if more else (TICK_S if waiting else 1.0)
            sources = await self.intake.take(channel, timeout, self.settings.batch_size * 4)
            async with self.busy:
                if self.stopped:
                    continue
                await self._route(sources)
                more, waiting = await self._step()
                if self.intake.paused:
                    self.intake.drained(self._buffered)
                if self.checkpoint.due():
                    await self.commit()
            if more:
                # heartbeats, the web server, a waiting rebalance; after a small step, Faust's fetcher too
                await asyncio.sleep(LINGER_S if self._last_batch < self.settings.batch_size else 0)

    def _buffered(self, tp: tuple[str, int]) -> int:
        """Records of ``tp`` waiting in its group (0 once the partition is no longer held)."""
        group = self.groups.get(tp[1])
        inp = group.inputs.get(tp[0]) if group is not None else None
        return len(inp.buffer) if isinstance(inp, PartitionInput) else 0

    async def _route(self, sources: Iterable[Source]) -> None:
        for src in sources:
            group = self.groups.get(src.partition)
            if group is None:
                continue  # taken before its partition was revoked: its new owner reads it
            tp = (src.topic, src.partition)
            resync = self._resync.get(tp)
            if resync is not None:
                if src.offset != resync[0] and time.monotonic() - resync[1] < RESYNC_S:
                    continue  # fetched before the seek: the same records come again from the seek's offset
                del self._resync[tp]
            skipped_from = group.add(src)
            if skipped_from is not None:
                await self._skipped(group, src, skipped_from)
            if src.topic in topics.MEMBER_INPUTS:
                self.intake.pressure((src.topic, src.partition), len(group.inputs[src.topic].buffer))
        self.metrics.buffered.set(sum(g.buffered() for g in self.groups.values()))

    async def _step(self) -> tuple[bool, bool]:
        """Apply one batch of what the groups can release, then the cycle commands now due.

        Returns (more can be applied now, some group waits for an input or a calculation).
        """
        limit = self.settings.batch_size
        batch: list[Source] = []
        for group in self._ready_groups():
            batch.extend(group.take(limit - len(batch), stop=_is_command))
            if len(batch) >= limit:
                break
        self._last_batch = len(batch)
        if batch:
            await self._apply(batch)
        applied = False
        for group in self._ready_groups():
            item = group.peek()
            if item is not None and _is_command(item):
                applied = await self._command(group, item) or applied
        enforced = sum(g.enforced for g in self.groups.values())
        if enforced > self._enforced:
            self.metrics.enforced.inc(enforced - self._enforced)
        self._enforced = enforced
        more = bool(batch) or applied
        waiting = not more and any(g.buffered() or g.blocked() for g in self.groups.values())
        if waiting:
            await self._refetch_stalled()
        return more, waiting

    async def _refetch_stalled(self) -> None:
        """Fetch again a partition whose records were handed to Faust but never reached the runtime.

        Records handed to the agent can be dropped before it takes them (Faust
        clears its stream buffers when flow resumes after a rebalance, after it
        has already sought to the committed offsets: docs/architecture.md,
        "Records Faust drops"); when no later record arrives to show the jump,
        this is how the partition gets them again. The sign is aiokafka's fetch
        position staying past the next offset the runtime expects while the
        group waits for that partition; a partition whose records were simply
        not fetched or handed over yet is left alone.
        """
        now = time.monotonic()
        for group in self.groups.values():
            for inp in group.inputs.values():
                if not isinstance(inp, PartitionInput) or inp.buffer or inp.next_offset is None:
                    continue
                if inp.wait_started is None or now - inp.wait_started < REFETCH_S:
                    continue
                if group.status(inp) != LAGGING:
                    continue
                tp = (inp.topic, group.partition)
                position = fp.fetch_position(self.app, *tp)
                if position is None or position <= inp.next_offset:
                    # not handed over yet: aiokafka serves one partition's fetched records after another's
                    # (a whole fetch each, ~16,000 records at 1M members), or Faust holds the partition
                    # back; nothing was lost, and fetching it again would only send it to the back
                    self._ahead_since.pop(tp, None)
                    continue
                if now - self._ahead_since.setdefault(tp, now) < REFETCH_S:
                    continue  # handed over a moment ago: on its way through Faust's channel
                del self._ahead_since[tp]  # the seek puts the position back: the next wait starts afresh
                self.metrics.refetches.labels(inp.topic).inc()
                log.warning("%s[%d]: records %d..%d were handed to Faust but never reached the runtime: "
                            "fetching them again", *tp, inp.next_offset, position - 1)
                self._resync[tp] = (inp.next_offset, now)
                await fp.seek(self.app, *tp, inp.next_offset)

    def _ready_groups(self) -> list[Group]:
        return [self.groups[p] for p in sorted(self.groups)]

    # ------------------------------------------------------------------ partitions
    async def _open(self, partition: int) -> Group:
        """A group for a partition this worker now holds, starting after the group's committed offsets."""
        group = Group(partition, topics.MEMBER_INPUTS, max_idle_s=self.settings.max_idle_ms / 1000,
                      highwater=lambda t, p: fp.highwater(self.app, t, p))
        starts = await self.partd.offsets.starting(
            [(t, partition) for t in topics.MEMBER_INPUTS])
        for (topic, _), offset in starts.items():
            group.set_next_offset(topic, offset)
        cursor = st.decode_group(fp.table_get(self.table, partition, st.GROUP_KEY))
        group.attach(CommandInput(cycle.RANK, self.partd.command_log, cursor))
        self._cursor_durable[partition] = dict(cursor)
        self._cursor_written[partition] = dict(cursor)
        self.groups[partition] = group
        log.debug("partition %d: applying from offsets %s, %d cycle commands applied before",
                  partition, {t: o for (t, _), o in starts.items()}, sum(cursor.values()))
        return group

    async def on_rebalance_complete(self) -> None:
        """The tables are restored, streams resume: open a group for every member partition this worker holds."""
        assigned = self.app.consumer.assignment()
        partitions = sorted({tp.partition for tp in assigned if tp.topic in topics.MEMBER_INPUTS})
        async with self.busy:
            for p in partitions:
                if p not in self.groups:
                    await self._open(p)

    async def before_revoke(self, revoked: Iterable[Any]) -> None:
        """Partitions are being revoked: finish the batch, flush, commit, and forget them."""
        async with self.busy:
            await self.commit()
            await self.partd.commit_other_agents()
            gone = {tp.partition for tp in revoked if tp.topic in topics.MEMBER_INPUTS}
            for p in gone:
                self.groups.pop(p, None)
                self._bms.pop(p, None)
                self._counted = {m for m in self._counted if m[0] != p}
                self._unknown.pop(p, None)
                self._outboxed.pop(p, None)
            self.checkpoint.forget([(tp.topic, tp.partition) for tp in revoked])
            self.intake.forget()

    async def before_stop(self) -> None:
        """The worker is stopping: finish the batch, flush, commit; apply nothing more."""
        async with self.busy:
            self.stopped = True
            await self.commit()
            await self.partd.commit_other_agents()
        log.info("member runtime stopped after %s", plural(self.checkpoint.commits, "commit"))

    async def _skipped(self, group: Group, src: Source, expected: int) -> None:
        """Records before ``src`` never reached the agent: fetch them again (Faust's seek)."""
        tp = (src.topic, src.partition)
        seen = self._seeks.get((*tp, expected), 0)
        self.metrics.skipped.labels(src.topic).inc(src.offset - expected)
        if seen >= MAX_SEEKS:
            log.error("%s[%d]: offsets %d..%d still not delivered after %d fetches; going on without them",
                      *tp, expected, src.offset - 1, seen)
            return  # ``src`` stays buffered: the group goes on from it
        self._seeks[(*tp, expected)] = seen + 1
        log.warning("%s[%d]: offsets %d..%d were not delivered (the fetch jumped to %d): fetching them again",
                    *tp, expected, src.offset - 1, src.offset)
        group.drop_from(src.topic, expected)
        self._resync[tp] = (expected, time.monotonic())
        await fp.seek(self.app, *tp, expected)

    # ------------------------------------------------------------------ member records
    async def _apply(self, batch: list[Source]) -> None:
        started = time.perf_counter()
        partition_of = {s.key: s.partition for s in batch if s.key is not None}
        decoded = decode_batch(self.serde, batch)

        def load(key: bytes) -> st.Stored | None:
            return st.decode(fp.table_get(self.table, partition_of[key], key))

        plans = MissRecorder(self.partd.plans.data)
        bms = {p: self._benchmarks(p) for p in {s.partition for s in batch}}
        result = apply_batch(batch, decoded, self.serde, load, Reference(plans, partition_benchmarks=bms))
        if plans.missed:
            # A transaction named a plan-year the catalog has not seen: it may have been published a
            # moment ago. Catch the catalog up and run the batch again (nothing was written yet).
            await self.partd.plans.sync()
            result = apply_batch(batch, decoded, self.serde, load,
                                 Reference(self.partd.plans.data, partition_benchmarks=bms))
        await self._write(((partition_of[k], k, v) for k, v in result.writes.items()), batch[-1].timestamp_ms)
        await self.sender.send((t, k.encode("utf-8"), v, ts) for t, k, v, ts in result.sends)
        for s in batch:
            self.checkpoint.done(s.topic, s.partition, s.offset)
        self.metrics.member_batch(result, time.perf_counter() - started, [(s.topic, s.timestamp_ms) for s in batch])

    async def _write(self, writes: Iterable[tuple[int, bytes, st.Stored | None]], ts: int | None) -> None:
        """Step 5: each key once, into its partition's database and the table's changelog."""
        per: dict[int, list[tuple[bytes, bytes | None]]] = {}
        for partition, key, stored in writes:
            if stored is None:
                value = None
            else:
                st.trim(stored, lambda source, p=partition: self._committed(source, p))
                if stored.member is None:
                    self._unknown.setdefault(partition, set()).add(key)
                if stored.outbox:
                    self._outboxed.setdefault(partition, set()).add(key)
                value = st.encode(stored)
            per.setdefault(partition, []).append((key, value))
        for partition, items in per.items():
            await self._put(partition, items, ts)

    async def _put(self, partition: int, items: list[tuple[bytes, bytes | None]], ts: int | None) -> None:
        """Encoded values into the partition's database and, as changelog records, to the sender (held until
        the commit or a full batch: send.py); when the broker has them, the changelog offset is recorded in
        the database (a restart reads only what follows)."""
        fp.table_write(self.table, partition, items)

        def persisted(future: Any, count: int) -> None:
            if not future.cancelled() and future.exception() is None:
                fp.persisted(self.table, partition, future.result().offset + count - 1)

        await self.sender.hold(fp.changelog_topic(self.table), partition, ((k, v, ts) for k, v in items), persisted)

    def _committed(self, source: str, partition: int) -> int | None:
        """The committed offset of an outbox entry's input (for a cycle command: the durable cursor)."""
        if source.startswith(topics.CYCLE_COMMANDS):
            q = int(source.rsplit(":", 1)[1])
            return self._cursor_durable.get(partition, {}).get(q)
        return self.checkpoint.committed_offset(source, partition)

    def _benchmarks(self, partition: int) -> dict[int, dict[str, Decimal]]:
        """Plan year -> region -> benchmark as ``partition`` has applied them (the calculations before its place in
        the command order, cycle.py): kept in its database, else (applied before issue 23) from their done records."""
        bms = self._bms.get(partition)
        if bms is None:
            bms = cycle.decode_benchmarks(fp.table_get(self.table, partition, cycle.BENCHMARKS_KEY))
            if bms is None:
                group = self.groups.get(partition)
                cursor = group.inputs[topics.CYCLE_COMMANDS].cursor if group is not None else {}
                bms = self.commands.applied_benchmarks(cursor)
            self._bms[partition] = bms
        return bms

    # ------------------------------------------------------------------ cycle commands
    async def _command(self, group: Group, item: Source) -> bool:
        """Apply a cycle command to ``group``'s partition; False if it has to wait."""
        plan = self.commands.plan(item)
        if isinstance(plan, cycle.Wait):
            return False
        partition = group.partition
        if isinstance(plan, dict) and plan["command"] == cycle.CALCULATE_BENCHMARKS:
            if not await self._calculate(plan, partition, item):
                return False  # waits for the calculation to be done on every partition
        elif isinstance(plan, dict):
            started = time.perf_counter()
            await self.partd.plans.sync()
            body = await self._scan(plan, partition, item)
            key, value = cycle.result_message(plan, partition, body)
            await self.sender.send([(topics.CYCLE_RESULTS, key, value, item.timestamp_ms)])
            self.metrics.cycle_step(plan["command"], time.perf_counter() - started)
            log.info("partition %d: %s %s applied", partition, plan["command"], plan["plan_year"])
        group.inputs[topics.CYCLE_COMMANDS].pop()
        cursor = group.inputs[topics.CYCLE_COMMANDS].cursor
        self._cursor_written[partition] = dict(cursor)
        await self._put(partition, [(st.GROUP_KEY, st.encode_group(cursor))], item.timestamp_ms)
        return True

    async def _calculate(self, plan: Mapping[str, Any], partition: int, item: Source) -> bool:
        """``CALCULATE_BENCHMARKS`` on one partition (cycle.py, "issue 23"): count and report once, then, when the
        calculation is done on every partition, scan with its benchmarks and keep them. False: still waiting."""
        mark = (partition, plan["command_id"])
        if mark not in self._counted:
            started = time.perf_counter()
            await self.partd.plans.sync()
            body = await self._scan(plan, partition, item)
            key, value = cycle.result_message(plan, partition, body)
            await self.sender.send([(topics.CYCLE_RESULTS, key, value, item.timestamp_ms)])
            self._counted.add(mark)
            self.metrics.cycle_step(plan["command"], time.perf_counter() - started)
        done = self.commands.done.get(plan["command_id"])
        if done is None:
            return False
        started = time.perf_counter()
        before = self._benchmarks(partition)
        after = cycle.with_calculation(before, plan["plan_year"], done["benchmarks"])
        await self.partd.plans.sync()
        tallies: Counter[str] = Counter()
        scan = cycle.scan_calculation(plan, self._members(partition), self.partd.plans.data, self.serde,
                                      cycle.source_name(item), item.offset, before, after, tallies)
        body = await self._send_scan(scan, partition, item)
        key, value = cycle.result_message(cycle.preview_payload(plan), partition, {**body, "counts": dict(tallies)})
        await self.sender.send([(topics.CYCLE_RESULTS, key, value, item.timestamp_ms)])
        self._bms[partition] = after
        await self._put(partition, [(cycle.BENCHMARKS_KEY, cycle.encode_benchmarks(after))], item.timestamp_ms)
        self._counted.discard(mark)
        self.metrics.cycle_step(plan["command"], time.perf_counter() - started)
        log.info("partition %d: %s %s applied (benchmarks of %d regions)", partition, plan["command"],
                 plan["plan_year"], len(done["benchmarks"]))
        return True

    def _members(self, partition: int) -> Any:
        return st.members(fp.iter_partition(self.table, partition, self._partition_count()))

    async def _scan(self, plan: Mapping[str, Any], partition: int, item: Source) -> dict[str, Any]:
        members = self._members(partition)
        if plan["command"] == cycle.CALCULATE_BENCHMARKS:
            return {"counts": cycle.partition_counts(plan, members)}
        return await self._send_scan(cycle.scan_partition(plan, members, self.partd.plans.data, self.serde,
                                                          cycle.source_name(item), item.offset), partition, item)

    async def _send_scan(self, scan: Iterable[Any], partition: int, item: Source) -> dict[str, Any]:
        """Write and send what a member scan yields, in chunks (heartbeats between them); the summary."""
        totals: dict[str, int] = {}
        writes: list[tuple[int, bytes, st.Stored | None]] = []
        sends: list[tuple[str, bytes, bytes, int | None]] = []
        n = 0
        for key, new, outputs, records in scan:
            if new is not None:
                writes.append((partition, key, new))
            sends.extend((t, k.encode("utf-8"), v, item.timestamp_ms) for t, k, v in records)
            for name, count in cycle.summarize(outputs or self._decoded(records)).items():
                totals[name] = totals.get(name, 0) + count
            self.metrics.outputs(outputs)
            n += 1
            if n % cycle.SCAN_CHUNK == 0:
                await self._write(writes, item.timestamp_ms)
                await self.sender.send(sends)
                writes, sends = [], []
                await asyncio.sleep(0)  # heartbeats between chunks
        await self._write(writes, item.timestamp_ms)
        await self.sender.send(sends)
        return {"summary": totals}

    def _decoded(self, records: Iterable[tuple[str, str, bytes]]) -> list[Any]:
        """Outputs sent again from an outbox, decoded (so a re-run reports the same summary)."""
        from processors.model import Output

        out = []
        for topic, key, value in records:
            try:
                out.append(Output(topic, key, self.serde.decode(topic, value)))
            except Exception:  # noqa: BLE001 - our own bytes; never stop a scan for a summary
                continue
        return out

    def _partition_count(self) -> int:
        if self._partitions is None:
            self._partitions = self.app.consumer.topic_partitions(topics.ENROLLMENT_REQUESTS) \
                or self.settings.partitions
        return self._partitions

    # ------------------------------------------------------------------ commit
    async def commit(self) -> None:
        """Step 7 (:meth:`streams.runtime.commit.Checkpoint.commit`), then drop keys that no longer need to exist."""
        started = time.perf_counter()
        cursors = {p: dict(c) for p, c in self._cursor_written.items()}
        await self.checkpoint.commit()
        self._cursor_durable.update(cursors)  # flushed with the commit: durable
        self._strip_outboxes()
        await self._sweep_unknown()
        self.metrics.commit_duration.observe(time.perf_counter() - started)

    def _on_commit(self, offsets: Mapping[tuple[str, int], int]) -> None:
        self.metrics.commits.inc()

    def _strip_outboxes(self) -> None:
        """Rewrite, in this worker's database only, the keys written since the last commit without the
        outbox entries it covered (state.py: a member at rest carries no outbox; the changelog keeps the
        value as sent, which a successor may need after a crash)."""
        left: dict[int, set[bytes]] = {}
        for partition, keys in self._outboxed.items():
            ordered = list(keys)
            items = []
            for key, raw in zip(ordered, fp.table_get_many(self.table, partition, ordered)):
                trimmed = st.trim_raw(raw, lambda source, p=partition: self._committed(source, p))
                if trimmed is not None:
                    items.append((key, trimmed))
                if st.has_outbox(raw if trimmed is None else trimmed):
                    left.setdefault(partition, set()).add(key)  # not covered (a refused commit): the next one
            fp.table_write(self.table, partition, items)
        self._outboxed = left

    async def restore(self) -> Any:
        """Read back the changelog Faust left to partd (a new or a stale disk), before any member record is applied.

        Outbox entries below the group's committed offsets are dropped on the way (state.py): no
        redelivery can need them.
        """
        partitions = fp.restore_pending(self.app, self.table)
        starts: Mapping[tuple[str, int], int] = {}
        if partitions:
            starts = await self.partd.offsets.starting([(t, p) for p in partitions for t in topics.MEMBER_INPUTS])
        committed = {p: (lambda source, p=p: starts.get((source, p))) for p in partitions}

        def transform(partition: int, key: bytes, value: bytes | None) -> bytes | None:
            if value is None or key[:1] == b"\x00":
                return value
            return st.trim_raw(value, committed[partition]) or value

        done = await fp.restore(self.app, self.table, self.partd.bootstrap, transform)
        self.metrics.restored(done)
        return done

    async def _sweep_unknown(self) -> None:
        """Delete keys that hold no member once their outbox entries are all committed (008 rejections...)."""
        for partition, keys in list(self._unknown.items()):
            deletes: list[tuple[int, bytes, st.Stored | None]] = []
            later = set()
            for key in keys:
                stored = st.decode(fp.table_get(self.table, partition, key))
                if stored is None or stored.member is not None:
                    continue
                st.trim(stored, lambda source, p=partition: self._committed(source, p))
                if stored.outbox:
                    later.add(key)  # written after this commit's flush: the next sweep
                else:
                    deletes.append((partition, key, None))
            self._unknown[partition] = later
            if deletes:
                await self._write(deletes, None)


def _is_command(item: Source) -> bool:
    return item.topic == topics.CYCLE_COMMANDS
