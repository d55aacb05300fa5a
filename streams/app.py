"""The Faust app: topics, the member table, and the thin agents.

Agents consume raw bytes in batches (``take_events``), hand the batch to a
pipeline in plain Python that calls the processors, write each changed member
state once, and queue the outputs with ``send_soon`` (Faust flushes the
producer before it commits offsets, so outputs are never behind the commit).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Mapping
from typing import Any

import faust

from processors import plans as plan_rules
from processors.model import Output, Rejected
from streams import tansu_workarounds
from streams.catalog import LogBackedTable
from streams.config import MEMBER_TOPICS, Settings
from streams.deadletters import Source, dead_letter
from streams.faust_compat import event_context
from streams.member_pipeline import decode_state, encode_state, process_batch
from streams.metrics import Metrics
from streams.registry import SchemaRegistry
from streams.serde import Serde

log = logging.getLogger(__name__)


def _source(event: Any) -> Source:
    m = event.message
    return Source(m.topic, m.partition, m.offset, m.key, m.value, int(m.timestamp * 1000) if m.timestamp else None)


class PartdApp:
    """Builds the Faust app for a bootstrap address and settings."""

    def __init__(self, settings: Settings, bootstrap: str, *, store: str = "rocksdb://") -> None:
        tansu_workarounds.apply()
        self.settings = settings
        self.bootstrap = bootstrap
        self.registry = SchemaRegistry.from_env()
        self.serde = Serde(self.registry)
        self.metrics = Metrics()
        self.app = faust.App(
            settings.app_id,
            broker=f"kafka://{bootstrap}",
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
            **tansu_workarounds.FAUST_SETTINGS,
        )
        self.plans = LogBackedTable("plan-year-updates", bootstrap, self.serde, self._plan_entry)
        self._ready = asyncio.Event()
        self._topics: dict[str, Any] = {}
        self.members = self.app.Table(
            "members", default=None, key_type=bytes, value_type=bytes, partitions=settings.partitions,
        )
        self._define()

    @staticmethod
    def _plan_entry(record: dict[str, Any]) -> tuple[str, Any]:
        return plan_rules.apply_plan_update(record)

    # ---------------------------------------------------------------- agents
    def _define(self) -> None:
        app = self.app
        s = self.settings
        member_topic = app.topic(*MEMBER_TOPICS, key_type=bytes, value_type=bytes)
        plan_topic = app.topic("plan-year-updates", key_type=bytes, value_type=bytes)

        @app.task
        async def start_catalog() -> None:
            await self.plans.start()
            self._ready.set()
            log.info("plan catalog loaded: %d plan-years", len(self.plans.data))

        @app.agent(member_topic, name="partd-members")
        async def members_agent(stream: Any) -> None:
            async for events in stream.take_events(s.batch_size, within=s.batch_within_s):
                await self._ready.wait()
                await self._member_batch(events)

        @app.agent(plan_topic, name="partd-plans")
        async def plans_agent(stream: Any) -> None:
            async for events in stream.take_events(s.batch_size, within=s.batch_within_s):
                self._plan_batch(events)

        self._agents = (members_agent, plans_agent)

    async def _member_batch(self, events: list[Any]) -> None:
        sources = [_source(e) for e in events]
        first_of_key: dict[bytes, int] = {}
        for i, src in enumerate(sources):
            if src.key is not None:
                first_of_key.setdefault(src.key, i)

        def load_state(key: bytes) -> Any:
            with event_context(events[first_of_key[key]]):
                return decode_state(self.members.get(key))

        plans = _MissRecorder(self.plans.data)
        result = process_batch(sources, self.serde, load_state, plans)
        if plans.missed:
            # A transaction named a plan-year we have not seen: it may have been
            # published a moment ago. Catch the catalog up and run the batch
            # again (the pipeline is pure and nothing was written yet).
            await self.plans.sync()
            result = process_batch(sources, self.serde, load_state, self.plans.data)
        for key, state in result.states.items():
            with event_context(events[result.state_event[key]]):
                self.members[key] = encode_state(state)
        self._send(result.outputs)
        self._send(result.dead)
        self.metrics.batch(result)

    def _plan_batch(self, events: list[Any]) -> None:
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
        self._send(dead)
        self.metrics.plans(len(events), len(dead))

    def _send(self, outputs: list[Output]) -> None:
        for out in outputs:
            topic = self._topics.get(out.topic)
            if topic is None:
                topic = self._topics[out.topic] = self.app.topic(out.topic, key_type=bytes, value_type=bytes)
            topic.send_soon(
                key=out.key.encode("utf-8"), value=self.serde.encode(out.topic, out.value),
            )
            self.metrics.output(out)


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
