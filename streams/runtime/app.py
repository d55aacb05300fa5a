"""The Faust app: topics, the member table, and the thin agents.

Agents consume raw bytes in batches (``faust_compat.event_batches``), hand the batch to a
pipeline in plain Python that calls the processors, write each changed member
state once, and hand the outputs to the producer client in whole batches
(:mod:`streams.kafka.internals.batch_send`) before the batch is acked (Faust flushes the
producer before it commits offsets, so outputs are never behind the commit).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

import faust
import orjson

from processors import plans as plan_rules
from processors import state_lists
from processors.model import Output, Rejected
from streams import topics
from streams.config import Settings
from streams.kafka import clients
from streams.kafka.internals.batch_send import send_keyed
from streams.kafka.internals.faust_private import (
    ack_offsets,
    event_batches,
    event_context,
    iter_partition,
    make_flush_complete,
    table_get,
)
from streams.kafka.registry import SchemaRegistry
from streams.kafka.serde import Serde
from streams.observability import web as observability
from streams.observability.metrics import Metrics
from streams.runtime import cycle, outbox
from streams.runtime.catalog import LogBackedTable
from streams.runtime.deadletters import Source, dead_letter
from streams.runtime.gap_repair import GapRepair, merge_in_order
from streams.runtime.member_pipeline import (
    Reference,
    decode_state,
    encode_state,
    process_batch,
)

log = logging.getLogger(__name__)

#: Faust settings of every partd worker. ``broker_session_timeout`` bounds how long a
#: worker that died without a LeaveGroup (kill -9) keeps its partitions (and, on Tansu,
#: how long the first JoinGroup waits: INFRA.md quirk 3); the heartbeat stays well
#: below it; ``broker_request_timeout`` must be >= the session timeout (Faust checks).
#: At-least-once with deterministic outputs (exactly-once fails on Tansu, INFRA.md quirk 4).
FAUST_SETTINGS: dict[str, Any] = {
    "broker_session_timeout": 10.0,
    "broker_heartbeat_interval": 1.0,
    "broker_rebalance_timeout": 20.0,
    "broker_request_timeout": 30.0,
    "processing_guarantee": "at_least_once",
}


def _source(event: Any) -> Source:
    m = event.message
    return Source(m.topic, m.partition, m.offset, m.key, m.value, int(m.timestamp * 1000) if m.timestamp else None)


class PartdApp:
    """Builds the Faust app for a bootstrap address and settings."""

    def __init__(self, settings: Settings, bootstrap: str, *, store: str = "rocksdb://") -> None:
        make_flush_complete()  # a Faust bug that loses outputs on a crash
        self.settings = settings
        self.bootstrap = bootstrap
        self.registry = SchemaRegistry.from_env()
        self.serde = Serde(self.registry)
        self.metrics = Metrics()
        self.app = faust.App(
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
            consumer_auto_offset_reset="earliest",
            producer_linger_ms=5,
            stream_buffer_maxsize=max(4096, settings.batch_size * 4),
            **FAUST_SETTINGS,
        )
        self.plans = LogBackedTable("plan-year-updates", bootstrap, self.serde, self._plan_entry)
        # States that opted in to passive enrollment, per plan year (seed 000), from cycle-commands.
        self.optins = LogBackedTable("cycle-commands", bootstrap, self.serde, self._optin_entry)
        self.benchmarks = LogBackedTable(
            "lis-benchmarks", bootstrap, self.serde, lambda r: (f"{r['region']}-{r['plan_year']}", r),
        )
        self.gaps = GapRepair(bootstrap, settings.app_id)
        self._ready = asyncio.Event()
        self._topics: dict[str, Any] = {}
        self._bms_cache: tuple[Any, dict[int, dict[str, Decimal]]] | None = None
        self.members = self.app.Table(
            "members", default=None, key_type=bytes, value_type=bytes, partitions=settings.partitions,
        )
        self.cycle_progress = self.app.Table(
            "cycle-progress", default=None, key_type=bytes, value_type=bytes, partitions=settings.partitions,
        )
        self._define()
        observability.install(self)

    def _optin_entry(self, record: dict[str, Any]) -> tuple[str, Any]:
        if getattr(record["command"], "value", record["command"]) != state_lists.STATE_PASSIVE_OPT_IN:
            raise ValueError("not an opt-in")
        key = state_lists.opt_in_key(record["plan_year"])
        return state_lists.apply_opt_in(self.optins.data.get(key), record)

    @staticmethod
    def _plan_entry(record: dict[str, Any]) -> tuple[str, Any]:
        return plan_rules.apply_plan_update(record)

    # ---------------------------------------------------------------- agents
    def _define(self) -> None:
        app = self.app
        s = self.settings
        member_topic = app.topic(*topics.MEMBER_INPUTS, topics.MEMBER_COMMANDS, key_type=bytes, value_type=bytes)
        command_topic = app.topic("cycle-commands", key_type=bytes, value_type=bytes)
        results_topic = app.topic(topics.CYCLE_RESULTS, key_type=bytes, value_type=bytes)
        plan_topic = app.topic("plan-year-updates", key_type=bytes, value_type=bytes)

        async def close_readers(sender: Any, **kwargs: Any) -> None:
            # Our own aiokafka clients, closed before Faust closes the loop.
            for reader in (self.plans, self.benchmarks, self.optins, self.gaps):
                await reader.stop()

        app.on_before_shutdown.connect(close_readers)

        @app.task
        async def start_catalog() -> None:
            await self.plans.start()
            await self.benchmarks.start()
            await self.optins.start()
            self._ready.set()
            log.info("plan catalog loaded: %d plan-years", len(self.plans.data))

        @app.agent(member_topic, name="partd-members")
        async def members_agent(stream: Any) -> None:
            async for events in event_batches(stream, s.batch_size):
                await self._ready.wait()
                await self._member_batch(events)

        @app.agent(plan_topic, name="partd-plans")
        async def plans_agent(stream: Any) -> None:
            async for events in event_batches(stream, s.batch_size):
                await self._plan_batch(events)

        @app.agent(command_topic, name="partd-cycle-commands")
        async def commands_agent(stream: Any) -> None:
            async for event in stream.events():
                await self._ready.wait()
                await self._cycle_command(event)

        @app.agent(results_topic, name="partd-cycle-results")
        async def results_agent(stream: Any) -> None:
            async for event in stream.events():
                await self._ready.wait()
                await self._cycle_result(event)

        self._agents = (members_agent, plans_agent, commands_agent, results_agent)

    async def _member_batch(self, all_events: list[Any]) -> None:
        commands = [e for e in all_events if e.message.topic == topics.MEMBER_COMMANDS]
        events = [e for e in all_events if e.message.topic != topics.MEMBER_COMMANDS]
        if events:
            await self._member_events(events)
        for cmd in commands:
            await self._member_command(cmd)

    async def _member_events(self, faust_events: list[Any]) -> None:
        sources, events, late_acks = await self._with_missing(faust_events)
        first_of_key: dict[bytes, int] = {}
        for i, src in enumerate(sources):
            if src.key is not None:
                first_of_key.setdefault(src.key, i)

        def load_state(key: bytes) -> Any:
            return decode_state(table_get(self.members, events[first_of_key[key]].message.partition, key))

        plans = _MissRecorder(self.plans.data)
        bms = self._benchmarks_by_year()
        result = process_batch(sources, self.serde, load_state, Reference(plans, bms))
        if plans.missed:
            # A transaction named a plan-year we have not seen: it may have been
            # published a moment ago. Catch the catalog up and run the batch
            # again (the pipeline is pure and nothing was written yet).
            await self.plans.sync()
            result = process_batch(sources, self.serde, load_state, Reference(self.plans.data, bms))
        for key, state in result.states.items():
            with event_context(events[result.state_event[key]]):
                self.members[key] = encode_state(state)
        await self._send(result.outputs, result.values)
        await self._send(result.dead)
        self.gaps.handled(sources)
        for tp, offsets in late_acks:
            ack_offsets(self.app.consumer, tp, offsets)
        self.metrics.batch(result)

    async def _with_missing(self, faust_events: list[Any]) -> tuple[list[Source], list[Any], list[tuple[Any, list[int]]]]:
        """The batch's records plus any records of their partitions Faust never delivered (streams.runtime.gap_repair).

        Returns the sources in handling order; for each, the Faust event whose
        context a state write uses (for a fetched record: the next delivered
        event of its partition, so the same changelog partition); and the
        offsets to mark acked once the batch is handled.
        """
        sources = [_source(e) for e in faust_events]
        self.gaps.on_generation(self.app.consumer_generation_id)
        missing = await self.gaps.missing(sources)
        if not missing:
            return sources, faust_events, []
        acks = []
        for tp, recs in missing.items():
            tp_of = next(e.message.tp for e in faust_events if (e.message.topic, e.message.partition) == tp)
            acks.append((tp_of, [r.offset for r in recs]))
            self.metrics.gap(tp[0], len(recs))
        out_sources, out_events = merge_in_order(sources, faust_events, missing)
        return out_sources, out_events, acks

    # ---------------------------------------------------------------- cycle
    async def _cycle_command(self, event: Any) -> None:
        """A ``cycle-commands`` record: validate, then fan out to every member partition."""
        src = _source(event)
        record, error = self.serde.decode_many("cycle-commands", [src.value or b""])[0]
        if error is not None:
            await self._send([dead_letter(src, error.error_code, error.message)])
            return
        command = getattr(record["command"], "value", record["command"])
        try:
            if command == state_lists.STATE_PASSIVE_OPT_IN:
                await self.optins.sync()
                key = state_lists.opt_in_key(record["plan_year"])
                state_lists.apply_opt_in(self.optins.data.get(key), record)  # validation; the table applies it
                log.info("state opt-in recorded for plan year %s", record["plan_year"])
                return
            benchmarks = None
            if command in cycle.NEEDS_BENCHMARKS:
                benchmarks = await self._wait_benchmarks(record["plan_year"])
            await self.optins.sync()
            opted = state_lists.opted_in_states(self.optins.data, record["plan_year"])
            payload = cycle.fanout_payload(record, self.settings.partitions, benchmarks, opted)
        except cycle.CommandError as exc:
            await self._send([dead_letter(src, exc.error_code, exc.message)])
            return
        except Rejected as rej:
            await self._send([dead_letter(src, rej.error_code, rej.message)])
            return
        body = orjson.dumps(payload)
        topic = self._topic(topics.MEMBER_COMMANDS)
        with event_context(event):
            for p in range(self.settings.partitions):
                topic.send_soon(key=f"{payload['command_id']}-{p}".encode(), value=body, partition=p)
        log.info("cycle %s %s fanned out to %d partitions", payload["command"], payload["plan_year"], self.settings.partitions)

    async def _wait_benchmarks(self, plan_year: int, timeout: float = 120.0) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            await self.benchmarks.sync()
            found, _ = cycle.benchmarks_for_year(self.benchmarks.data.values(), plan_year)
            if found:
                return found
            if loop.time() > deadline:
                raise cycle.CommandError(
                    "NO_BENCHMARK",
                    f"no lis-benchmarks for plan year {plan_year} after {timeout:.0f}s: send CALCULATE_BENCHMARKS first",
                )
            await asyncio.sleep(0.5)

    async def _member_command(self, event: Any) -> None:
        """One partition's share of a cycle step: scan this partition of the member table."""
        payload = cycle.decode_payload(event.message.value)
        partition = event.message.partition
        await self.plans.sync()
        members = iter_partition(self.members, partition, self.settings.partitions)
        if payload["command"] == "CALCULATE_BENCHMARKS":
            counts = cycle.partition_counts(payload, (decode_state(raw) for _, raw in members))
            body: dict[str, Any] = {"counts": counts}
        else:
            n = 0
            totals: dict[str, int] = {}
            pending: list[Output] = []
            pending_values: list[bytes] = []
            for key, state, outputs, values in outbox.scan_partition(
                payload, members, self.plans.data, decode_state, self.serde,
                topic=event.message.topic, offset=event.message.offset,
            ):
                if state is not None:
                    with event_context(event):
                        self.members[key] = encode_state(state)
                pending.extend(outputs)
                pending_values.extend(values)
                for k, v in cycle.summarize(outputs).items():
                    totals[k] = totals.get(k, 0) + v
                n += 1
                if n % cycle.SCAN_CHUNK == 0:
                    # Outputs go in batches of a chunk of members; then heartbeats and the producer run.
                    await self._send(pending, pending_values)
                    pending, pending_values = [], []
                    await asyncio.sleep(0)
            await self._send(pending, pending_values)
            body = {"summary": totals}
        key, value = cycle.result_message(payload, partition, body)
        with event_context(event):
            self._topic(topics.CYCLE_RESULTS).send_soon(key=key, value=value)

    async def _cycle_result(self, event: Any) -> None:
        report = orjson.loads(event.message.value)
        key = report["command_id"].encode()
        with event_context(event):
            raw = self.cycle_progress.get(key)
        progress = cycle.merge_progress(orjson.loads(raw) if raw else None, report)
        if cycle.complete(progress) and not progress["done"]:
            if progress["command"] == "CALCULATE_BENCHMARKS":
                await self.plans.sync()
                await self._send(cycle.benchmark_outputs(progress, self.plans.data))
            progress["done"] = True
            log.info("cycle %s %s complete on %d partitions", progress["command"], progress["plan_year"], progress["partitions"])
        with event_context(event):
            self.cycle_progress[key] = orjson.dumps(progress)

    def _benchmarks_by_year(self) -> dict[int, dict[str, Decimal]]:
        """Plan year -> region -> benchmark, from the lis-benchmarks table (rebuilt when it changes)."""
        data = self.benchmarks.data
        if self._bms_cache is None or self._bms_cache[0] is not self.benchmarks.version:
            by_year: dict[int, dict[str, Decimal]] = {}
            for r in data.values():
                by_year.setdefault(r["plan_year"], {})[r["region"]] = Decimal(r["benchmark_premium"])
            self._bms_cache = (self.benchmarks.version, by_year)
        return self._bms_cache[1]

    def _topic(self, name: str) -> Any:
        topic = self._topics.get(name)
        if topic is None:
            topic = self._topics[name] = self.app.topic(name, key_type=bytes, value_type=bytes)
        return topic

    async def _plan_batch(self, events: list[Any]) -> None:
        sources = [_source(e) for e in events]
        dead: list[Output] = []
        values = [src.value or b"" for src in sources]
        for src, (record, error) in zip(sources, self.serde.decode_many("plan-year-updates", values)):
            if error is not None:
                dead.append(dead_letter(src, error.error_code, error.message))
                continue
            try:
                plan_rules.apply_plan_update(record)
            except Rejected as rej:
                dead.append(dead_letter(src, rej.error_code, rej.message))
        await self._send(dead)
        self.metrics.plans(len(events), len(dead))

    async def _send(self, outputs: list[Output], values: list[bytes] | None = None) -> None:
        """Hand ``outputs`` to the producer client; ``values``: their encoded bytes when already encoded (same order).

        Straight to aiokafka's accumulator, in whole batches
        (:mod:`streams.kafka.internals.batch_send`; not Faust's ``send_soon`` buffer, which
        cost a task hop, a sensor round and a callback per record): when
        this returns, every record is in the client, so the commit's
        ``producer.flush()`` (Faust flushes its buffer, then aiokafka) puts
        them on the broker before the offsets of the events that caused them
        are committed. Partitions come from aiokafka's default partitioner,
        as with ``send_soon``. A batch that cannot be delivered stops the worker.
        """
        if not outputs:
            return
        if values is None:
            values = [self.serde.encode(out.topic, out.value) for out in outputs]
        client = self.app.producer._ensure_producer()  # the aiokafka producer inside Faust's, flushed by every commit
        records = [(out.topic, out.key.encode("utf-8"), value) for out, value in zip(outputs, values, strict=True)]
        for delivery in await send_keyed(client, records):
            delivery.add_done_callback(self._delivered)
        self.metrics.outputs(outputs)

    def _delivered(self, delivery: "asyncio.Future[Any]") -> None:
        if not delivery.cancelled() and delivery.exception() is not None:
            # aiokafka retried and gave up: the commit would go past the record.
            # Stop the worker rather than lose it; a restart resends from the outbox.
            log.critical("a record could not be delivered: %r; stopping the worker", delivery.exception())
            asyncio.ensure_future(self.app.crash(delivery.exception()))


class _MissRecorder(Mapping[str, Any]):
    """The plan catalog as the processors see it (no copy), noting lookups of unknown keys."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data
        self.missed = False

    def __getitem__(self, key: str) -> Any:
        try:
            return self._data[key]
        except KeyError:
            self.missed = True
            raise

    def __contains__(self, key: object) -> bool:
        found = key in self._data
        if not found:
            self.missed = True
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)
