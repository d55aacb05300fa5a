"""The Faust flush fix (streams.kafka.internals.faust_private.make_flush_complete), on Faust's own ProducerBuffer.

No Kafka here: the buffer hands messages to a publisher that is slow, as the
aiokafka producer is when its accumulator is full. Faust's own flush returns
with messages still queued (so Faust would commit offsets past unsent
outputs); the fixed flush returns only when every message has been handed
over. The crash tests (tests/faults/test_crash.py) show the same on a real broker.
"""
from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import AsyncIterator

from faust.transport.producer import ProducerBuffer

from streams.kafka.internals import faust_private as faust_compat


class _SlowChannel:
    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.published: list[int] = []

    async def publish_message(self, fut: object, wait: bool = False) -> None:
        await asyncio.sleep(self.delay)
        self.published.append(fut.n)  # type: ignore[attr-defined]


def _message(channel: _SlowChannel, n: int) -> SimpleNamespace:
    return SimpleNamespace(n=n, message=SimpleNamespace(channel=channel))


@asynccontextmanager
async def _running_buffer(delay: float) -> AsyncIterator[tuple[ProducerBuffer, _SlowChannel]]:
    """A started ProducerBuffer whose messages take ``delay`` s each to publish; stopped on exit."""
    buf = ProducerBuffer()
    buf.app = SimpleNamespace(conf=SimpleNamespace(producer_threaded=False))  # type: ignore[assignment]
    channel = _SlowChannel(delay)
    await buf.start()
    try:
        yield buf, channel
    finally:
        buf.pending = asyncio.Queue()  # nothing left to flush on stop
        await buf.stop()


async def _flush_with(flush: object, messages: int, delay: float) -> tuple[int, int]:
    """(queued when flush returned, published when flush returned)."""
    async with _running_buffer(delay) as (buf, channel):
        for n in range(messages):
            buf.put(_message(channel, n))  # type: ignore[arg-type]
        await flush(buf)  # type: ignore[operator]
        return buf.size, len(channel.published)


def test_faust_flush_alone_returns_with_messages_unsent() -> None:
    """The bug: each message takes 0.15 s (> Faust's 0.1 s wait), so flush gives up early."""
    original = getattr(ProducerBuffer.flush, "__wrapped__", ProducerBuffer.flush)
    queued, published = asyncio.run(_flush_with(original, 5, 0.15))
    assert queued > 0 and published < 5


def test_fixed_flush_waits_for_every_message() -> None:
    faust_compat.make_flush_complete()
    assert faust_compat.flush_is_complete()
    queued, published = asyncio.run(_flush_with(ProducerBuffer.flush, 5, 0.15))
    assert (queued, published) == (0, 5)


def test_fixed_flush_counts_the_message_in_the_senders_hands() -> None:
    """One message, already dequeued by the sender task: size is 0 but it is not sent yet."""
    faust_compat.make_flush_complete()

    async def run() -> tuple[int, int]:
        async with _running_buffer(0.3) as (buf, channel):
            buf.put(_message(channel, 0))  # type: ignore[arg-type]
            await asyncio.sleep(0.05)  # the sender has taken it off the queue
            assert buf.size == 0
            await buf.flush()
            return buf.size, len(channel.published)

    assert asyncio.run(run()) == (0, 1)


def test_install_is_idempotent() -> None:
    faust_compat.make_flush_complete()
    patched = ProducerBuffer.flush
    faust_compat.make_flush_complete()
    assert ProducerBuffer.flush is patched


def test_fixed_flush_does_not_wait_for_messages_queued_after_it_began() -> None:
    """A commit must not chase a moving target: messages put during the flush are for later offsets."""
    faust_compat.make_flush_complete()

    async def run() -> tuple[int, int]:
        async with _running_buffer(0.05) as (buf, channel):
            for n in range(3):
                buf.put(_message(channel, n))  # type: ignore[arg-type]

            async def keep_putting() -> None:
                for n in range(3, 40):
                    buf.put(_message(channel, n))  # type: ignore[arg-type]
                    await asyncio.sleep(0.01)

            putter = asyncio.ensure_future(keep_putting())
            await asyncio.sleep(0)
            await buf.flush()
            published = len(channel.published)
            putter.cancel()
            return published, buf.size

    published, still_queued = asyncio.run(run())
    assert published >= 3  # the three queued before the flush are out
    assert still_queued > 0  # and it returned while later ones were still queued


def test_ack_offsets_leaves_faust_gaps_alone_and_keeps_runs_consecutive() -> None:
    from collections import defaultdict

    from intervaltree import IntervalTree

    consumer = SimpleNamespace(
        _committed_offset=defaultdict(lambda: None, {"tp": 10}), _acked_index=defaultdict(set),
        _acked=defaultdict(list), _gap=defaultdict(IntervalTree), _n_acked=0,
    )
    consumer._gap["tp"].addi(15, 20)  # Faust saw 15..19 skipped and counts them itself
    consumer._acked["tp"].append(12)
    consumer._acked_index["tp"].add(12)
    faust_compat.ack_offsets(consumer, "tp", range(8, 22))
    assert sorted(consumer._acked["tp"]) == [10, 11, 12, 13, 14, 20, 21]  # below the commit, the gap, and 12 once
    assert consumer._n_acked == 6
