"""The one place that leans on Faust internals (faust-streaming 0.15.3).

* :func:`event_context`: Faust tables pick the changelog partition (and the
  RocksDB partition store) from the *current event*. A batch
  mixes events of several partitions, so before writing
  a key we make that key's own event the current one. Keys always come from
  their own partition, so this is exact.
* :func:`iter_partition`: one partition of a raw-bytes table.
* :func:`event_batches`: batches of events, acked only after the agent's
  body has handled them (instead of Faust's ``take_events``, which lost
  events, see there).
* :func:`make_flush_complete`: a Faust bug that loses outputs when a worker
  crashes (see there). Installed by :class:`streams.runtime.app.PartdApp`.
* :func:`table_get`: a raw-bytes table read the way Faust's
  ``Table.__getitem__`` does, without Faust's per-key ``ManagedUserDict``,
  sensor and current-event rounds. Writes stay Faust's own (see
  docs/benchmarks.md: with a leaner write path the SIGKILL takeover test
  failed 3 runs of 4, with Faust's path 1 of 6).
"""
from __future__ import annotations

import asyncio
import weakref
from contextlib import contextmanager
from typing import Any, AsyncIterator, Iterable, Iterator

from faust.streams import _current_event  # noqa: PLC2701 (documented internal)
from faust.types import EventT


@contextmanager
def event_context(event: EventT) -> Iterator[None]:
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


async def event_batches(stream: Any, max_events: int, linger_s: float = 0.01) -> AsyncIterator[list[EventT]]:
    """Lists of up to ``max_events`` events; each list is acked once the body handled it.

    A batch is whatever the stream's channel holds (up to ``max_events``),
    after waiting at most ``linger_s`` once for more: at full speed batches
    are full, when the worker has caught up they are small and latency stays
    low.
    Events are acked (and so become committable) only after the ``async
    for`` body returns; if it raises, they stay unacked and the offsets are
    not committed past them (a visible stall, not a silent loss).

    Why not Faust's ``stream.take_events(n, within)``: on faust-streaming
    0.15.3 it lost events that arrived while the body was busy for a long
    time (seen after a restart, when the first batch waits for the plan
    catalog): whole runs of offsets (e.g. 717..1448 of every partition) never
    reached the body and were never acked, so the worker's commits stopped
    there for good. ``tests/faults/test_crash.py`` shows it on a real broker.
    """
    manual = stream.noack()
    queue = getattr(stream.channel, "queue", None)
    batch: list[EventT] = []
    lingered = False
    async for event in manual.events():
        batch.append(event)
        if len(batch) < max_events and queue is not None and queue.empty() and not lingered:
            # Once per batch, give the fetcher a moment to fill the channel:
            # without it a busy worker handles batches of one or two records.
            lingered = True
            await asyncio.sleep(linger_s)
            if not queue.empty():
                continue
        if len(batch) >= max_events or queue is None or queue.empty():
            yield batch
            for done in batch:
                await manual.ack(done)
            batch = []
            lingered = False


def ack_offsets(consumer: Any, tp: Any, offsets: Iterable[int]) -> None:
    """Mark ``offsets`` of ``tp`` acked in Faust's consumer, as ``Consumer.ack`` does for a message.

    For records the agent handled without Faust delivering them
    (:mod:`streams.runtime.gap_repair`): without this, Faust's commit would stop
    below them for good. Offsets Faust already counts as a gap (it saw the
    offsets jump and treats the skipped ones as done, ``Consumer._add_gap``)
    are left to that: listing them twice would split Faust's run of
    consecutive acked offsets and its commits would crawl one offset at a time.
    """
    from faust.types.tuples import ack_lock

    with ack_lock:
        committed = consumer._committed_offset[tp]
        index = consumer._acked_index[tp]
        acked = consumer._acked[tp]
        gap = consumer._gap.get(tp)
        for offset in offsets:
            if gap is not None and gap.overlaps(offset):
                continue
            if (committed is None or offset >= committed) and offset not in index:
                index.add(offset)
                acked.append(offset)
                consumer._n_acked += 1


def table_get(table: Any, partition: int, key: bytes) -> bytes | None:
    """``table[key]`` for a key of ``partition`` (a raw-bytes table), as Faust's RocksDB store reads it.

    Faust's ``Store._get`` reads the current event's partition database; here
    the partition is given, so there is no event context, sensor or
    ``ManagedUserDict`` round per key. The memory store (tests) is a dict.
    """
    store = table.data
    if getattr(store, "_dbs", None) is not None:
        return store._db_for_partition(partition).get(key)
    return store.data.get(key)


def iter_partition(table: object, partition: int, partitions: int) -> Iterator[tuple[bytes, bytes]]:
    """``(key, value)`` of one partition of a raw-bytes table held by this worker.

    RocksDB keeps one database per partition, so this reads just that one
    (skipping Faust's own offset record). The memory store (unit tests) has no
    per-partition index, so keys are filtered with the default partitioner of
    the Java and aiokafka clients (murmur2), which is how our producers key.
    """
    store = table.data  # type: ignore[attr-defined]
    dbs = getattr(store, "_dbs", None)
    if dbs is not None:
        db = dbs.get(partition)
        if db is None:
            return
        skip = getattr(store, "offset_key", b"__faust\0offset__")
        for key, value in db.items():
            if key != skip and value is not None:
                yield key, value
        return
    from aiokafka.partitioner import murmur2

    for key, value in list(store.data.items()):
        if value is not None and (murmur2(key) & 0x7FFFFFFF) % partitions == partition:
            yield key, value


# --------------------------------------------------------------------------
# Faust bug: ProducerBuffer.flush() returns with messages still unsent.
# --------------------------------------------------------------------------
_MARK = "__partd_flush_complete__"


def make_flush_complete() -> None:
    """Make ``ProducerBuffer.flush()`` wait until every message queued before it is handed to the client.

    Faust commits offsets only after ``Producer.flush()`` (``Consumer.
    _commit_offsets``), so that outputs (``send_soon``) and table changelog
    writes of the acked events are on the broker first. But
    ``ProducerBuffer.flush()`` is ``flush_atmost(None)``, which *returns* as
    soon as no message leaves the buffer for 0.1 s, e.g. while the aiokafka
    accumulator is full and ``send`` waits for room. The commit then goes
    ahead with hundreds of messages still queued; a SIGKILL at that moment
    loses them for good (seen: ~240 replies per partition missing after a
    kill, their offsets committed). The buffer's size also misses the message
    its sender task has dequeued but not yet handed over.

    Patch: ``put`` and the sender count messages (the queue is FIFO), and
    ``flush`` waits until every message put *before the flush began* has
    been handed to aiokafka; the transport then flushes aiokafka itself, as
    before. Messages queued while the flush waits belong to later offsets and
    are not waited for, so a commit never chases a moving target. If the
    producer stops, flush raises as Faust's own does. Idempotent. The
    threaded producer (``producer_threaded``, not used here) keeps Faust's flush.
    """
    from faust.transport.producer import ProducerBuffer

    if getattr(ProducerBuffer.flush, _MARK, False):
        return
    original_put = ProducerBuffer.put
    original_send = ProducerBuffer._send_pending
    original_flush = ProducerBuffer.flush

    def put(self: Any, fut: Any) -> None:
        original_put(self, fut)
        self.__dict__["_partd_put"] = self.__dict__.get("_partd_put", 0) + 1

    async def _send_pending(self: Any, fut: Any) -> None:
        try:
            await original_send(self, fut)
        finally:
            self.__dict__["_partd_sent"] = self.__dict__.get("_partd_sent", 0) + 1

    async def flush(self: Any) -> None:
        app = self.app
        if app is not None and app.conf.producer_threaded:
            await original_flush(self)
            return
        target = self.__dict__.get("_partd_put", 0)
        while self.__dict__.get("_partd_sent", 0) < target:
            if self.state != "running":
                if self.size:  # as Faust's own flush: stopping with messages queued
                    raise RuntimeError("Cannot flush: Producer not Running")
                return
            self.message_sent.clear()
            try:
                await asyncio.wait_for(self.message_sent.wait(), timeout=0.1)
            except asyncio.TimeoutError:
                pass

    setattr(flush, _MARK, True)
    flush.__wrapped__ = original_flush  # type: ignore[attr-defined]
    put.__wrapped__ = original_put  # type: ignore[attr-defined]
    _send_pending.__wrapped__ = original_send  # type: ignore[attr-defined]
    ProducerBuffer.put = put  # type: ignore[method-assign]
    ProducerBuffer._send_pending = _send_pending  # type: ignore[method-assign]
    ProducerBuffer.flush = flush  # type: ignore[method-assign]


def flush_is_complete() -> bool:
    """True once :func:`make_flush_complete` is installed in this process."""
    from faust.transport.producer import ProducerBuffer

    return bool(getattr(ProducerBuffer.flush, _MARK, False))
