"""The worker's web-server helpers that need no broker: the lag sampler's stop (streams/observability/web.py)."""
from __future__ import annotations

import asyncio
import logging

import pytest

from streams.observability.web import StoppableTask


async def _sampling(stop: asyncio.Event, log: list[str]) -> None:
    while not stop.is_set():
        log.append("sample")
        try:
            await asyncio.wait_for(stop.wait(), 0.01)
        except asyncio.TimeoutError:
            pass
    log.append("closed")


def test_a_task_faust_never_started_stops_at_once_without_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    # Faust starts app tasks after table recovery; a worker stopped during recovery never ran it
    # (a clean-clone CI run logged "lag sampler did not stop in 5 s" there, after waiting 5 s).
    async def main() -> tuple[float, list[str]]:
        seen: list[str] = []
        task = StoppableTask("lag sampler", lambda stop: _sampling(stop, seen), timeout=5.0)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await task.stop()
        waited = loop.time() - t0
        await task.run()  # started after the stop: ends at once, samples nothing
        return waited, seen

    with caplog.at_level(logging.WARNING, logger="streams.observability.web"):
        waited, seen = asyncio.run(main())
    assert waited < 0.5
    assert seen == ["closed"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_running_task_is_waited_for_and_closes(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> list[str]:
        seen: list[str] = []
        task = StoppableTask("lag sampler", lambda stop: _sampling(stop, seen), timeout=5.0)
        running = asyncio.ensure_future(task.run())
        while not seen:
            await asyncio.sleep(0.005)
        await task.stop()
        assert running.done()
        return seen

    with caplog.at_level(logging.WARNING, logger="streams.observability.web"):
        seen = asyncio.run(main())
    assert seen[0] == "sample" and seen[-1] == "closed"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_task_that_does_not_stop_is_reported_once(caplog: pytest.LogCaptureFixture) -> None:
    async def stubborn(stop: asyncio.Event) -> None:
        await asyncio.sleep(10)

    async def main() -> None:
        task = StoppableTask("lag sampler", stubborn, timeout=0.05)
        running = asyncio.ensure_future(task.run())
        await asyncio.sleep(0)
        await task.stop()
        running.cancel()

    with caplog.at_level(logging.WARNING, logger="streams.observability.web"):
        asyncio.run(main())
    assert [r.getMessage() for r in caplog.records] == ["lag sampler did not stop in 0.05 s"]
