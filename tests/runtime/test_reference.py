"""streams.runtime.reference: topics every worker reads whole (plans, benchmarks, cycle commands), with a fake
of aiokafka's consumer: what is applied, when it has caught up, and the read-your-writes barrier."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import TopicPartition

from streams.kafka.registry import SchemaRegistry
from streams.kafka.serde import Serde
from streams.runtime.reference import CommandLog, LatestTable
from streams.tools import sample
from streams.tools.jsonconv import record_from_json

SERDE = Serde(SchemaRegistry.embedded())
TP0 = TopicPartition("plan-year-updates", 0)


class FakeConsumer:
    """getmany hands over the queued batches, then waits; highwater/end_offsets as a test sets them."""

    def __init__(self, topic: str) -> None:
        self.tp = TopicPartition(topic, 0)
        self.queue: asyncio.Queue = asyncio.Queue()
        self.hw: int | None = None
        self.ends = 0

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[Any, list[Any]]:
        try:
            return {self.tp: await asyncio.wait_for(self.queue.get(), timeout_ms / 1000)}
        except asyncio.TimeoutError:
            return {}

    def highwater(self, tp: Any) -> int | None:
        return self.hw

    async def end_offsets(self, tps: list[Any]) -> dict[Any, int]:
        return {tp: self.ends for tp in tps}

    async def stop(self) -> None:
        pass


def _msg(topic: str, offset: int, value: bytes) -> Any:
    return SimpleNamespace(topic=topic, partition=0, offset=offset, key=b"k", value=value, timestamp=offset)


def _plan(premium: str) -> bytes:
    return SERDE.encode("plan-year-updates", record_from_json("plan-year-updates", {**sample.PLANS[0],
                                                                                    "basic_premium": premium}))


def _running(reader: Any, consumer: FakeConsumer) -> None:
    reader._consumer = consumer
    reader._tps = [consumer.tp]
    reader._task = asyncio.ensure_future(reader._run())


def test_a_latest_table_keeps_the_last_value_per_key_and_skips_what_it_cannot_read() -> None:
    async def run() -> tuple[Any, int, bool, bool]:
        table = LatestTable("plan-year-updates", "unused", SERDE, lambda r: (r["contract_id"], r["basic_premium"]))
        consumer = FakeConsumer("plan-year-updates")
        _running(table, consumer)
        consumer.hw = 3
        await consumer.queue.put([_msg("plan-year-updates", 0, _plan("10.00")), _msg("plan-year-updates", 1, b"\x07"),
                                  _msg("plan-year-updates", 2, _plan("12.50"))])
        while table.next_offset(TP0) < 3:
            await asyncio.sleep(0.001)
        caught = table.caught_up()
        consumer.hw = 4  # one more published
        behind = table.caught_up()
        await table.stop()
        return table.data, table.skipped, caught, behind

    data, skipped, caught, behind = asyncio.run(run())
    assert {k: str(v) for k, v in data.items()} == {"S7101": "12.50"} and skipped == 1
    assert caught and not behind


def test_sync_returns_once_everything_published_before_it_is_applied() -> None:
    async def run() -> list[str]:
        table = LatestTable("plan-year-updates", "unused", SERDE, lambda r: (r["contract_id"], r["basic_premium"]))
        consumer = FakeConsumer("plan-year-updates")
        _running(table, consumer)
        consumer.ends = 1
        events = []
        sync = asyncio.ensure_future(table.sync(timeout=5))
        await asyncio.sleep(0.05)
        events.append("waiting" if not sync.done() else "returned early")
        await consumer.queue.put([_msg("plan-year-updates", 0, _plan("10.00"))])
        await sync
        events.append(str(table.data["S7101"]))
        with pytest.raises(TimeoutError):
            consumer.ends = 5
            await table.sync(timeout=0.05)
        await table.stop()
        return events

    assert asyncio.run(run()) == ["waiting", "10.00"]


def test_the_command_log_keeps_every_record_in_order_and_why_one_cannot_be_read() -> None:
    async def run() -> CommandLog:
        log = CommandLog("cycle-commands", "unused", SERDE)
        consumer = FakeConsumer("cycle-commands")
        _running(log, consumer)
        good = SERDE.encode("cycle-commands", record_from_json("cycle-commands", {
            "command": "CALCULATE_BENCHMARKS", "plan_year": 2027, "as_of": "2026-08-01T12:00:00Z",
            "reference_month": "2026-07-01", "state_code": None, "seed": None}))
        await consumer.queue.put([_msg("cycle-commands", 0, good), _msg("cycle-commands", 1, b"\x07bad")])
        while log.next_offset(TopicPartition("cycle-commands", 0)) < 2:
            await asyncio.sleep(0.001)
        await log.stop()
        return log

    log = asyncio.run(run())
    assert [s.offset for s in log.commands()] == [0, 1]
    assert log.items[0][1]["command"] == "CALCULATE_BENCHMARKS" and log.items[1][1] is None
    assert log.errors == {(0, 1): ("WRONG_MAGIC_BYTE", log.errors[(0, 1)][1])}
