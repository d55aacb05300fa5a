"""streams.runtime.consume: taking records from Faust's channel, and the one door to Faust's consumer."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from faust.types import TP

from streams.runtime.consume import FaustConsumer, Intake
from streams.runtime.deadletters import Source
from streams.runtime.order import Actions


def _event(offset: int, generation: int) -> Any:
    return SimpleNamespace(message=SimpleNamespace(topic="enrollment-requests", partition=1, offset=offset,
                                                   key=b"K", value=b"V", timestamp=1.5, generation_id=generation))


def test_intake_takes_what_the_channel_holds_and_drops_an_older_generation() -> None:
    async def run() -> tuple[list[Source], list[Source], int]:
        queue: asyncio.Queue = asyncio.Queue()
        for off, gen in ((0, 1), (1, 2), (2, 2), (3, 2)):
            queue.put_nowait(_event(off, gen))
        intake = Intake(lambda: 2)
        channel = SimpleNamespace(queue=queue)
        first = await intake.take(channel, 0.0, limit=3)
        rest = await intake.take(channel, 0.0, limit=10)
        return first, rest, intake.stale

    first, rest, stale = asyncio.run(run())
    assert [s.offset for s in first] == [1, 2] and [s.offset for s in rest] == [3] and stale == 1
    assert first[0] == Source("enrollment-requests", 1, 1, b"K", b"V", 1500)


def test_intake_waits_at_most_the_timeout_for_a_first_record() -> None:
    async def run() -> list[Source]:
        return await Intake(lambda: 1).take(SimpleNamespace(queue=asyncio.Queue()), 0.01, limit=10)

    assert asyncio.run(run()) == []


class _Thread:
    def __init__(self, log: list) -> None:
        self.log = log

    async def call_thread(self, fn: Any, *args: Any) -> Any:
        return fn(*args)

    def seek(self, tp: TP, offset: int) -> None:
        self.log.append(("seek", tp.topic, tp.partition, offset))


def test_actions_reach_faust_through_its_flow_control_hooks_and_its_consumer_thread() -> None:
    log: list = []
    faust_consumer = SimpleNamespace(
        on_buffer_full=lambda tp: log.append(("full", tp.topic, tp.partition)),
        on_buffer_drop=lambda tp: log.append(("drop", tp.topic, tp.partition)),
        _thread=_Thread(log), _read_offset={})
    consumer = FaustConsumer(SimpleNamespace(consumer=faust_consumer))
    actions = Actions(pause=[("a", 1)], resume=[("b", 2)], seek=[(("a", 3), 17)])
    asyncio.run(consumer.apply(actions))
    assert log == [("full", "a", 1), ("drop", "b", 2), ("seek", "a", 3, 17)]
    assert faust_consumer._read_offset == {TP("a", 3): 17}
