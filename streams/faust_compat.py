"""The one place that leans on a Faust internal.

Faust tables pick the changelog partition (and the RocksDB partition store)
from the *current event*. A batch from ``stream.take_events`` mixes events of
several partitions, so before writing a key we make that key's own event the
current one. Keys always come from their own partition, so this is exact.
"""
from __future__ import annotations

import weakref
from contextlib import contextmanager
from typing import Iterator

from faust.streams import _current_event  # noqa: PLC2701 (documented internal)
from faust.types import EventT


@contextmanager
def event_context(event: EventT) -> Iterator[None]:
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


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
