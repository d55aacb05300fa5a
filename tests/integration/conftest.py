"""Integration fixtures: a real Kafka-protocol broker and real worker processes.

Each test gets its own broker (``tests/brokers.py``: the embedded Tansu broker, which starts in
milliseconds, or Apache Kafka in Docker with ``PARTD_TEST_BROKER=testcontainers``), so the fixed
topic names of the contract never collide between tests. What partd produced is read back with an
independent client (kafka-python, ``tests/kafka_read.py``), not with the product's own reading code.
Nothing here mocks Kafka.
"""
from __future__ import annotations

import asyncio
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

from streams import topics
from streams.kafka.admin import ensure_topics
from streams.kafka.registry import SchemaRegistry
from streams.kafka.serde import Serde
from streams.tools.io import produce, wait_consumed
from streams.tools.jsonconv import record_from_json
from streams.tools.runner import WorkerProcess
from tests import kafka_read
from tests.brokers import make_broker

PARTITIONS = 4


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[str]:
    b = make_broker(tmp_path)
    bootstrap = b.start()
    try:
        ensure_topics(bootstrap, list(topics.ALL), PARTITIONS)
        yield bootstrap
    finally:
        b.stop()


@pytest.fixture
def serde() -> Serde:
    return Serde(SchemaRegistry.from_env())


class Cluster:
    """The broker plus the workers a test started; helpers to publish and read."""

    def __init__(self, bootstrap: str, tmp: Path, serde: Serde) -> None:
        self.bootstrap = bootstrap
        self.tmp = tmp
        self.serde = serde
        self.workers: list[WorkerProcess] = []
        self.group = "partd"

    def worker(self, name: str = "w1", **kw: Any) -> WorkerProcess:
        from tests.brokers import broker_kind

        if broker_kind() == "testcontainers":  # Apache Kafka: the Tansu work-arounds stay off
            kw["extra_env"] = {"PARTD_TANSU_WORKAROUNDS": "off", **(kw.get("extra_env") or {})}
        w = WorkerProcess(self.bootstrap, self.tmp / name, partitions=PARTITIONS, app_id=self.group, **kw).start()
        self.workers.append(w)
        return w

    def publish(self, records: list[tuple[str, Any]], *, raw: bool = False, timestamp_ms: int | None = None,
                timestamps: list[int] | None = None) -> int:
        """``(topic, json_value)`` pairs (or ``(topic, key, bytes)`` triples with raw=True); one timestamp for all,
        or one per record."""
        if raw:
            items = records
        else:
            items = [(t, None, record_from_json(t, v)) for t, v in records]
        return asyncio.run(produce(self.bootstrap, self.serde, items, timestamp_ms=timestamps or timestamp_ms))

    def wait(self, topics: set[str], timeout: float = 90.0) -> None:
        async def run() -> None:
            task = asyncio.ensure_future(wait_consumed(self.bootstrap, self.group, topics, timeout=timeout))
            while not task.done():
                if self.workers and not any(w.alive() for w in self.workers):
                    task.cancel()
                    raise TimeoutError("every worker exited")
                await asyncio.sleep(0.2)
            await task

        try:
            asyncio.run(run())
        except TimeoutError:
            tails = "\n".join(f"--- {w.log_path}\n{w.log_tail()}" for w in self.workers)
            raise AssertionError(f"workers did not consume {topics} in {timeout}s\n{tails}") from None

    def settle(self, topic: str, json_value: dict[str, Any], timeout: float = 180.0) -> None:
        """Wait until the worker has applied what was just published to ``topic`` (a cycle command: on
        every member partition)."""
        if topic == "cycle-commands":
            from streams.tools import scenario

            record = record_from_json(topic, json_value)
            asyncio.run(scenario.wait_cycle(self.bootstrap, self.serde, self.group, record, timeout=timeout))
        else:
            self.wait({topic}, timeout=timeout)

    def read(self, topic: str, expect: int | None = None, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Every record of ``topic``, decoded (kafka-python and fastavro: tests/kafka_read.py); with ``expect``,
        wait up to ``timeout`` s until that many are there."""
        return [r for _, r in self.read_keyed(topic, expect=expect, timeout=timeout)]

    def read_raw(self, topic: str) -> list[tuple[bytes | None, bytes]]:
        """Every record of ``topic`` as raw (key, value) bytes."""
        return [(r.key, r.value) for r in kafka_read.read(self.bootstrap, [topic])]

    def read_keyed(self, topic: str, expect: int | None = None,
                   timeout: float = 30.0) -> list[tuple[str | None, dict[str, Any]]]:
        deadline = time.monotonic() + timeout
        while True:
            out = [(r.key.decode() if r.key is not None else None, kafka_read.decode(r.value))
                   for r in kafka_read.read(self.bootstrap, [topic]) if r.value]
            if expect is None or len(out) >= expect or time.monotonic() > deadline:
                return out
            time.sleep(0.3)

    def committed_all(self, inputs: set[str]) -> None:
        """Every record of ``inputs`` is committed by the group: checked with kafka-python (OffsetFetch)."""
        behind = kafka_read.all_committed(self.bootstrap, self.group, inputs)
        assert not behind, f"not committed: {behind}"

    def stop_all(self) -> None:
        for w in self.workers:
            w.stop()


@contextmanager
def fresh_cluster(tmp: Path, serde: Serde) -> Iterator[Cluster]:
    """A new broker with the contract topics, and the workers started on it; all stopped at the end.

    For tests that compare two runs of the same log (each on its own broker).
    """
    tmp.mkdir(parents=True, exist_ok=True)
    b = make_broker(tmp)
    bootstrap = b.start()
    c = Cluster(bootstrap, tmp, serde)
    try:
        ensure_topics(bootstrap, list(topics.ALL), PARTITIONS)
        yield c
    finally:
        c.stop_all()
        b.stop()


@pytest.fixture
def cluster(broker: str, tmp_path: Path, serde: Serde) -> Iterator[Cluster]:
    c = Cluster(broker, tmp_path, serde)
    try:
        yield c
    finally:
        c.stop_all()
