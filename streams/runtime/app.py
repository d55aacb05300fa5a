"""The worker: a Faust app with the member runtime and three small agents.

Faust is the application framework: the worker process, the consumer group
and its assignment, the member table (RocksDB per partition, its changelog and
the changelog recovery of a worker that takes partitions over), the web
server. :class:`PartdApp` builds it:

* ``partd-members`` (:mod:`streams.runtime.worker`): the member inputs
  (``beneficiary-updates``, ``lis-status-changes``, ``magi-applications``,
  ``enrollment-requests``), co-partitioned with the ``members`` table; the
  member path reads top-down from there;
* ``partd-plans``: dead-letters plan-year records that cannot be applied
  (every worker reads the plan catalog whole, :mod:`streams.runtime.reference`);
* ``partd-cycle-commands``: dead-letters cycle commands that cannot be run
  (every member partition applies the others, :mod:`streams.runtime.cycle`);
* ``partd-cycle-results``: merges the partitions' reports of a cycle command
  and publishes what needs them all (``lis-benchmarks``), then a ``done`` record.

The three small agents send with Faust's producer and are committed by
Faust; the member runtime has its own producer and commits its inputs itself.
On a rebalance and at shutdown the member runtime finishes its batch, flushes
and commits first, then asks Faust to commit the small agents' progress
(:meth:`commit_other_agents`), before Faust gives the partitions up.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import Any

from processors import plan_obligations
from processors import plans as plan_rules
from processors.model import Output, Rejected
from streams import topics
from streams.config import Settings
from streams.kafka import clients
from streams.kafka.internals import faust_private as fp
from streams.kafka.internals.store import MIB, Budget
from streams.kafka.registry import SchemaRegistry
from streams.kafka.serde import Serde
from streams.observability import access, web
from streams.observability.metrics import Metrics
from streams.runtime import cycle, startup
from streams.runtime.consume import FaustConsumer, GroupOffsets, source_of
from streams.runtime.context import MemberTable, RuntimeContext
from streams.runtime.deadletters import Source, dead_letter
from streams.runtime.query import MemberQuery
from streams.runtime.reference import CommandLog, LatestTable, TopicReader, benchmark_table
from streams.runtime.send import Sender
from streams.runtime.worker import MemberRuntime
from streams.text import plural

log = logging.getLogger(__name__)

#: Faust settings of every partd worker. ``broker_session_timeout`` bounds how long a
#: worker that died without a LeaveGroup (kill -9) keeps its partitions (and, on Tansu,
#: how long the first JoinGroup waits: docs/tansu.md, quirk 3); the heartbeat stays well
#: below it; ``broker_request_timeout`` must be >= the session timeout (Faust checks).
#: At-least-once with deterministic outputs (exactly-once fails on Tansu, docs/tansu.md, quirk 4).
FAUST_SETTINGS: dict[str, Any] = {
    "broker_session_timeout": 10.0,
    "broker_heartbeat_interval": 1.0,
    "broker_rebalance_timeout": 20.0,
    "broker_request_timeout": 30.0,
    "processing_guarantee": "at_least_once",
}


class CycleResults(TopicReader):
    """``partd-cycle-results`` read whole: each command's partition reports, and its ``done`` record."""

    def __init__(self, bootstrap: str, serde: Serde) -> None:
        import orjson

        self.reports: dict[str, dict[str, Any]] = {}  # command id -> merged progress
        self.done: dict[str, dict[str, Any]] = {}  # command id -> done record

        def apply(src: Source, record: Any) -> None:
            report = orjson.loads(src.value or b"{}")
            if report.get("done"):
                self.done[report["command_id"]] = report
            elif "partition" in report:
                self.reports[report["command_id"]] = cycle.merge_progress(self.reports.get(report["command_id"]),
                                                                          report)

        super().__init__(topics.CYCLE_RESULTS, bootstrap, serde, apply)
        self._raw = True

    async def _run(self) -> None:  # internal JSON records: no Avro decoding
        assert self._consumer is not None
        while True:
            batches = await self._consumer.getmany(timeout_ms=200, max_records=2000)
            for tp, msgs in batches.items():
                for m in msgs:
                    try:
                        self._apply(Source(m.topic, m.partition, m.offset, m.key, m.value, m.timestamp), None)
                    except Exception:  # noqa: BLE001 - not ours; never stop the reader
                        self.skipped += 1
                    self._next[tp] = m.offset + 1
                self.version = object()


class PartdApp:
    """Builds the Faust app for a bootstrap address and settings."""

    def __init__(self, settings: Settings, bootstrap: str, *, store: str = "rocksdb://") -> None:
        self.settings = settings
        self.bootstrap = bootstrap
        self.registry = SchemaRegistry.from_settings(settings)
        self.serde = Serde(self.registry)
        self.metrics = Metrics()
        self.app = fp.HookedApp(
            settings.app_id,
            **clients.faust_settings(bootstrap),
            store=store,
            datadir=str(settings.data_dir),
            topic_partitions=settings.partitions,
            topic_replication_factor=1,
            key_serializer="raw",
            value_serializer="raw",
            web_host=settings.web_host,
            web_bind=settings.web_host,
            web_port=settings.web_port,
            canonical_url=settings.web_url_advertised,  # how other workers and the console reach this one
            web_ssl_context=access.server_ssl_context(settings),
            consumer_auto_offset_reset="earliest",
            producer_linger_ms=5,
            stream_buffer_maxsize=max(4096, settings.batch_size * 4),
            **FAUST_SETTINGS,
            **fp.APP_SETTINGS,
        )
        self.plans = LatestTable(topics.PLAN_YEAR_UPDATES, bootstrap, self.serde, plan_rules.apply_plan_update)
        # lis-benchmarks read whole: the previous plan year's benchmarks a run compares the choosers' liability
        # with when the log holds no calculation of that year (issue 22, cycle.Commands._previous_benchmarks).
        self.benchmarks = benchmark_table(bootstrap, self.serde)
        self.command_log = CommandLog(topics.CYCLE_COMMANDS, bootstrap, self.serde)
        self.results = CycleResults(bootstrap, self.serde)
        # The benchmarks the member rules see are each partition's own (cycle.BENCHMARKS_KEY), not a reader's.
        self.readers: tuple[TopicReader, ...] = (self.plans, self.benchmarks, self.command_log, self.results)
        self.sender = Sender(bootstrap)
        self.offsets = GroupOffsets(bootstrap, settings.app_id)
        self.ready = asyncio.Event()
        self.members = fp.member_table(self.app, topics.MEMBER_TABLE, partitions=settings.partitions,
                                       budget=Budget(settings.rocksdb_cache_mb * MIB,
                                                     settings.rocksdb_write_buffer_mb * MIB))
        self.agents_busy = asyncio.Lock()  # held by the small agents while they handle a record
        self._rebalanced = False  # the first rebalance completed (the "ready" line)
        consumer = FaustConsumer(self.app)
        self.context = RuntimeContext(
            settings=settings, serde=self.serde, metrics=self.metrics, sender=self.sender, consumer=consumer,
            table=MemberTable(self.app, self.members, functools.partial(clients.consumer, bootstrap),
                              lambda: self.context.partition_count()),
            offsets=self.offsets, plans=self.plans, command_log=self.command_log, benchmarks=self.benchmarks,
            cycle_done=self.results.done, ready=self.ready, commit_other_agents=self.commit_other_agents,
        )
        self.runtime = MemberRuntime(self.context)
        # The member topics' records go from Faust's consumer to the runtime in bulk (streams/kafka/internals/bulk.py).
        self.app.bulk = (frozenset(topics.MEMBER_INPUTS), self.runtime.intake)
        self.app.before_revoke = self.runtime.before_revoke
        self.app.before_stop = self.runtime.before_stop
        self._define()
        self.web = web.install(web.WebContext(app=self.app, settings=settings, bootstrap=bootstrap,
                                              metrics=self.metrics, ready=self.ready,
                                              table_memory=self.context.table.memory))
        self.query = MemberQuery(self.members, self.app.router, settings.web_url_advertised,
                                 lambda p: self.ready.is_set() and p in self.runtime.tasks,
                                 self.context.partition_count)
        web.install_member_query(self.app, self.query, settings.console_token, access.lookup_refusal(settings))

    # ---------------------------------------------------------------- agents
    def _define(self) -> None:
        app = self.app
        member_topic = app.topic(*topics.MEMBER_INPUTS, key_type=bytes, value_type=bytes, acks=False)
        command_topic = app.topic(topics.CYCLE_COMMANDS, key_type=bytes, value_type=bytes)
        results_topic = app.topic(topics.CYCLE_RESULTS, key_type=bytes, value_type=bytes)
        plan_topic = app.topic(topics.PLAN_YEAR_UPDATES, key_type=bytes, value_type=bytes)

        @app.task
        async def start_readers() -> None:
            await self.sender.start()
            for reader in self.readers:
                await reader.start()
            startup.freeze_heap()  # the app, its tables and the reference data: out of the collector's way
            self.ready.set()
            log.info("reference data loaded: %s, %s", plural(len(self.plans.data), "plan-year"),
                     plural(len(self.command_log.items), "cycle command"))

        async def stop_readers(sender: Any, **kwargs: Any) -> None:
            # Our own aiokafka clients, closed before Faust closes the loop.
            for reader in self.readers:
                await reader.stop()
            await self.offsets.stop()
            await self.sender.stop()

        async def rebalance_complete(sender: Any, **kwargs: Any) -> None:
            # Not waiting for the readers: Faust starts app tasks only after this first recovery.
            # The member table's changelog first (Faust left it to partd: streams/kafka/internals/restore.py).
            await self.runtime.restore()
            await self.runtime.on_rebalance_complete()
            partitions = app.consumer.topic_partitions(topics.ENROLLMENT_REQUESTS) or self.settings.partitions
            log.info(startup.holding_line(sorted(self.runtime.tasks), partitions, first=not self._rebalanced))
            self._rebalanced = True

        app.on_before_shutdown.connect(stop_readers)
        app.on_rebalance_complete.connect(rebalance_complete)

        @app.agent(member_topic, name="partd-members")
        async def members_agent(stream: Any) -> None:
            try:
                await self.runtime.run(stream)
            except StopAsyncIteration:
                # Faust stops an agent by throwing StopAsyncIteration into its channel (Actor.cancel), which
                # its own streams take as the end of iteration; the runtime reads the channel directly, so
                # it arrives here: while the worker stops, a clean stop (before_stop has committed), not a crash.
                if not app.should_stop:
                    raise

        @app.agent(plan_topic, name="partd-plans")
        async def plans_agent(stream: Any) -> None:
            async for event in stream.events():
                await self.ready.wait()
                async with self.agents_busy:
                    await self._plan(event)

        @app.agent(command_topic, name="partd-cycle-commands")
        async def commands_agent(stream: Any) -> None:
            async for event in stream.events():
                await self.ready.wait()
                async with self.agents_busy:
                    await self._cycle_command(event)

        @app.agent(results_topic, name="partd-cycle-results")
        async def results_agent(stream: Any) -> None:
            async for event in stream.events():
                await self.ready.wait()
                async with self.agents_busy:
                    await self._cycle_result(event)

    async def commit_other_agents(self) -> None:
        """Wait for the small agents' record in hand, then let Faust commit what they have handled."""
        async with self.agents_busy:
            await self.app.consumer.commit()

    async def _send(self, outputs: list[Output], timestamp_ms: int | None) -> None:
        """Outputs of the small agents, through Faust's producer (flushed by Faust's commits)."""
        for out in outputs:
            value = self.serde.encode(out.topic, out.value)
            await self.app.topic(out.topic, key_type=bytes, value_type=bytes).send(
                key=out.key.encode("utf-8"), value=value,
                timestamp=timestamp_ms / 1000 if timestamp_ms is not None else None)
            self.metrics.output(out)

    async def _plan(self, event: Any) -> None:
        started = time.perf_counter()
        src = source_of(event)
        record, error = self.serde.decode_many(topics.PLAN_YEAR_UPDATES, [src.value])[0]
        outputs = []
        if error is not None:
            outputs.append(dead_letter(src, error.error_code, error.message))
        else:
            try:
                key, current = plan_rules.apply_plan_update(record)
            except Rejected as rej:
                outputs.append(dead_letter(src, rej.error_code, rej.message))
            else:
                outputs.extend(await self._plan_year_obligations(src, key, current))
        await self._send(outputs, src.timestamp_ms)
        self.metrics.events_in.labels(topics.PLAN_YEAR_UPDATES).inc()
        self.metrics.processed("plans", time.perf_counter() - started, [(src.topic, event.message.timestamp)])

    async def _plan_year_obligations(self, src: Source, key: str, current: Any) -> list[Output]:
        """Issue 22 item 8: the plan-level duties a plan-year record issues or withdraws
        (:func:`processors.plan_obligations.on_plan_year_record`), against the catalog value the record
        replaces (the catalog reader's history, read up to the record: the same answer on a redelivery), and
        an MA service area reduction without its counties reported as a dead letter (the record is applied;
        nobody is moved or ended for the reduction until the counties come)."""
        await self._until_read(self.plans, src)
        outputs = plan_obligations.on_plan_year_record(self.plans.before(key, src), current)
        if plan_obligations.reduced_counties_missing(current):
            outputs.append(dead_letter(src, "REDUCED_COUNTIES_MISSING",
                                       f"{key}: SERVICE_AREA_REDUCTION without reduced_counties. The record is applied,"
                                       " but no member is reassigned or disenrolled for the reduction until the"
                                       " counties leaving the service area are sent: publish the record again with"
                                       " reduced_counties."))
        return outputs

    async def _cycle_command(self, event: Any) -> None:
        """Dead-letter a cycle command that cannot be run (the member partitions skip it the same way)."""
        src = source_of(event)
        while not (self.command_log.caught_up() and any(
                s.partition == src.partition and s.offset == src.offset for s in self.command_log.commands())):
            await asyncio.sleep(0.05)
        plan = self.runtime.commands.plan(src)
        if isinstance(plan, cycle.Skip) and plan.error is not None:
            log.warning("cycle command at %s[%d]@%d refused: %s", src.topic, src.partition, src.offset,
                        plan.error.error_code)
            await self._send([dead_letter(src, plan.error.error_code, plan.error.message)], src.timestamp_ms)
        elif isinstance(plan, dict):
            log.info("cycle %s %s: every member partition applies it in order", plan["command"], plan["plan_year"])

    async def _cycle_result(self, event: Any) -> None:
        """A partition's report: when every partition has reported, publish what needs them all, once."""
        import orjson

        report = orjson.loads(event.message.value or b"{}")
        if report.get("done") or "partition" not in report:
            return
        command_id = report["command_id"]
        src = source_of(event)
        await self._until_read(self.results, src)
        progress = self.results.reports.get(command_id)
        if progress is None or not cycle.complete(progress) or command_id in self.results.done:
            return
        outputs: list[Output] = []
        if progress["command"] == cycle.CALCULATE_BENCHMARKS:
            await self.plans.sync()
            outputs = cycle.benchmark_outputs(progress, self.plans.data)
            outputs += cycle.premium_case_obligations(progress, self.plans.data, outputs,
                                                      self.runtime.commands.calculation_before(command_id))
            await self._send(outputs, src.timestamp_ms)
        elif progress["command"] == cycle.PREVIEW:  # issue 23: the July preview's counts
            outputs = cycle.preview_outputs(progress)
            await self._send(outputs, src.timestamp_ms)
        key, value = cycle.done_message(progress, outputs)
        await self.app.topic(topics.CYCLE_RESULTS, key_type=bytes, value_type=bytes).send(
            key=command_id.encode(), value=value,
            timestamp=src.timestamp_ms / 1000 if src.timestamp_ms is not None else None)
        self.results.done[command_id] = orjson.loads(value)  # ours: do not publish twice while it travels
        log.info("cycle %s %s done on %d partitions", progress["command"], progress["plan_year"],
                 progress["partitions"])

    @staticmethod
    async def _until_read(reader: TopicReader, src: Source) -> None:
        from aiokafka import TopicPartition

        tp = TopicPartition(src.topic, src.partition)
        while reader.next_offset(tp) <= src.offset:
            await asyncio.sleep(0.02)
