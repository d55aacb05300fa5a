"""The runtime's "fetch again" seek runs on Faust's consumer thread (streams/kafka/internals/faust_private.seek).

Faust's public ``Consumer.seek`` calls aiokafka's ``seek`` from the caller's
thread while the consumer thread may be inside ``Fetcher.fetched_records``;
the seek then deletes the dict entry the fetcher is about to read and the
worker crashes with ``KeyError`` (seen at 1,000,000 members in ``partd bench``).
"""
from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace
from typing import Any

from mode.threads import QueueServiceThread

from streams.kafka.internals import faust_private as fp


class RecordingThread(QueueServiceThread):
    """Faust's consumer thread is a ``QueueServiceThread``; its ``seek`` is aiokafka's, here a recorder."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seeks: list[tuple[int, Any, int]] = []

    def seek(self, tp: Any, offset: int) -> None:
        self.seeks.append((threading.get_ident(), tp, offset))


def test_seek_runs_on_the_consumer_thread_and_resets_fausts_read_offset() -> None:
    async def run() -> tuple[RecordingThread, dict[Any, Any], int]:
        thread = RecordingThread()
        await thread.start()
        try:
            consumer = SimpleNamespace(_thread=thread, _read_offset={})
            await fp.seek(SimpleNamespace(consumer=consumer), "beneficiary-updates", 3, 17)
            await fp.seek(SimpleNamespace(consumer=consumer), "beneficiary-updates", 5, 0)
            return thread, consumer._read_offset, threading.get_ident()
        finally:
            await thread.stop()

    thread, read_offset, caller = asyncio.run(run())
    assert [(tp.topic, tp.partition, off) for _, tp, off in thread.seeks] == [
        ("beneficiary-updates", 3, 17), ("beneficiary-updates", 5, 0)]
    assert all(ident != caller for ident, _, _ in thread.seeks), "the seek ran on the caller's thread"
    assert {(tp.partition, off) for tp, off in read_offset.items()} == {(3, 17), (5, None)}
