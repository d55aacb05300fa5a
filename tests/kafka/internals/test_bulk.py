"""Faust's consumer hands the member topics' records over in bulk (streams/kafka/internals/bulk.py).

The bulk topics' records of a fetch go to the sink as lists, filtered as Faust's
fetcher filters them record by record (active partitions only, the read offset,
the flow); every other record goes on through Faust's own per-record path.
"""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord
from mode.utils.queues import FlowControlEvent, ThrowableQueue
from faust.types import TP

from streams.kafka.internals import bulk
from streams.kafka.internals import faust_private as fp
from streams.runtime.consume import Intake
from streams.runtime.deadletters import Source


def _rec(topic: str, partition: int, offset: int, ts: int | None = 1_700_000_000_123) -> ConsumerRecord:
    return ConsumerRecord(topic, partition, offset, ts, 0, b"K%d" % offset, b"V%d" % offset, None, 2, 2, ())


class Sink:
    def __init__(self, hold: int = 10_000) -> None:
        self.puts: list[tuple[int, list[tuple[TP, list[int]]]]] = []
        self.hold = hold
        self.waited = 0

    def put(self, generation: int, fetched: Sequence[tuple[Any, Sequence[Any]]]) -> None:
        self.puts.append((generation, [(tp, [r.offset for r in recs]) for tp, recs in fetched]))

    def room(self) -> Any:
        if sum(len(offs) for _, f in self.puts for _, offs in f) <= self.hold:
            return None
        self.waited += 1
        return asyncio.sleep(0)


def _app() -> Any:
    return fp.HookedApp("partd-test-bulk", broker="kafka://127.0.0.1:1", store="memory://", web_enabled=False)


def _drive(app: Any, records: dict[TP, list[ConsumerRecord]], active: set[TP] | None) -> list[tuple[TP, int]]:
    consumer = app.consumer

    async def wait_next(timeout: float) -> Any:
        return records, active

    consumer._wait_next_records = wait_next
    consumer.highwater = lambda tp: 100  # the consumer thread is not started here

    async def run() -> list[tuple[TP, int]]:
        return [(tp, m.offset) async for tp, m in consumer.getmany(timeout=0.1)]

    return asyncio.run(run())


def test_the_app_builds_the_bulk_consumer_only_when_asked() -> None:
    plain = _app()
    assert not isinstance(plain.consumer, bulk.BulkConsumer)
    app = _app()
    sink = Sink()
    app.bulk = (frozenset({"enrollment-requests"}), sink)
    assert isinstance(app.consumer, bulk.BulkConsumer) and fp.is_bulk(app)
    assert app.consumer.sink is sink and app.consumer.bulk_topics == {"enrollment-requests"}
    assert not fp.is_bulk(plain)


def test_bulk_topics_go_to_the_sink_as_lists_the_rest_record_by_record() -> None:
    app = _app()
    sink = Sink()
    app.bulk = (frozenset({"enrollment-requests", "beneficiary-updates"}), sink)
    e0, e1, b0, p0, paused = (TP("enrollment-requests", 0), TP("enrollment-requests", 1),
                              TP("beneficiary-updates", 0), TP("plan-year-updates", 0), TP("beneficiary-updates", 3))
    app.consumer._read_offset[e1] = 11  # sought to 11: what was fetched before the seek is dropped
    records = {
        e0: [_rec("enrollment-requests", 0, o) for o in (5, 6, 7)],
        e1: [_rec("enrollment-requests", 1, o) for o in (9, 10, 11, 12)],
        b0: [_rec("beneficiary-updates", 0, 0)],
        p0: [_rec("plan-year-updates", 0, o) for o in (3, 4)],
        paused: [_rec("beneficiary-updates", 3, 0)],  # not active (paused by back-pressure): not handed over
    }
    per_record = _drive(app, records, active={e0, e1, b0, p0})
    assert per_record == [(p0, 3), (p0, 4)]
    assert len(sink.puts) == 1
    generation, fetched = sink.puts[0]
    assert generation == app.consumer_generation_id
    assert fetched == [(e0, [5, 6, 7]), (e1, [11, 12]), (b0, [0])]
    assert app.consumer._read_offset[e0] == 7 and app.consumer._read_offset[e1] == 12
    assert app.consumer.bulk_records == 6


def test_nothing_is_handed_over_while_faust_flow_is_stopped() -> None:
    app = _app()
    sink = Sink()
    app.bulk = (frozenset({"enrollment-requests"}), sink)
    app.consumer.flow_active = False
    seeks = []

    async def perform_seek() -> None:
        seeks.append(True)

    app.consumer.perform_seek = perform_seek
    e0 = TP("enrollment-requests", 0)
    assert _drive(app, {e0: [_rec("enrollment-requests", 0, 1)]}, active={e0}) == []
    assert sink.puts == [] and seeks == [True]  # as Faust's getmany: seek back to the committed offsets


def test_the_fetcher_waits_while_the_sink_is_full() -> None:
    app = _app()
    sink = Sink(hold=2)
    app.bulk = (frozenset({"enrollment-requests"}), sink)
    e0 = TP("enrollment-requests", 0)
    _drive(app, {e0: [_rec("enrollment-requests", 0, o) for o in range(3)]}, active={e0})
    assert sink.waited == 1


def test_intake_takes_every_fetch_in_order_and_drops_an_older_generation() -> None:
    async def run() -> tuple[list[Source], list[Source], int, Any, Any]:
        generation = {"now": 2}
        intake = Intake(lambda: generation["now"], limit=3)
        e0, e1 = TP("enrollment-requests", 0), TP("enrollment-requests", 1)
        intake.put(1, [(e0, [_rec("enrollment-requests", 0, 0)])])
        intake.put(2, [(e0, [_rec("enrollment-requests", 0, 1, ts=0)]), (e1, [_rec("enrollment-requests", 1, 4)])])
        intake.put(2, [(e1, [_rec("enrollment-requests", 1, 5)])])
        full = intake.room()  # 4 records held, the limit is 3: the fetcher waits
        channel = SimpleNamespace(queue=ThrowableQueue(flow_control=FlowControlEvent()))
        first = await intake.take_fetched(channel, 0.0)
        after = intake.room()
        waited = asyncio.wait_for(full, 0.1)  # the take let the fetcher go on
        await waited
        empty = await intake.take_fetched(channel, 0.01)
        return first, empty, intake.stale, full, after

    first, empty, stale, full, after = asyncio.run(run())
    assert [(s.partition, s.offset) for s in first] == [(0, 1), (1, 4), (1, 5)] and stale == 1
    assert first[0] == Source("enrollment-requests", 0, 1, b"K1", b"V1", None)  # timestamp 0: none, as Faust gives it
    assert first[1].timestamp_ms == 1_700_000_000_123
    assert full is not None and after is None and empty == []


def test_faust_stopping_the_agent_reaches_the_bulk_intake() -> None:
    """Faust stops an agent by throwing StopAsyncIteration into its channel (Actor.cancel); the bulk intake, which
    never reads the channel for records, must still raise it (else the worker cannot stop: seen in test_replay)."""
    async def run() -> None:
        intake = Intake(lambda: 1)
        queue = ThrowableQueue(flow_control=FlowControlEvent())
        channel = SimpleNamespace(queue=queue)
        waiting = asyncio.ensure_future(intake.take_fetched(channel, 5.0))
        await asyncio.sleep(0.01)
        queue._throw(StopAsyncIteration())  # what Actor.cancel does (Channel._throw)
        await asyncio.wait_for(waiting, 1.0)

    with pytest.raises(StopAsyncIteration):
        asyncio.run(run())
