"""What partd needs from faust-streaming 0.15.3 beyond its public API (every private name is here).

* :class:`HookedApp`: a ``faust.App`` whose consumer hands the member topics'
  records over in bulk (:mod:`.bulk`), and that lets the member runtime act first
  when partitions are revoked and when the worker stops (Faust's own
  ``on_partitions_revoked`` signal comes after it has revoked the tables and
  dropped the consumer's bookkeeping of those partitions, too late to commit
  them; faust-streaming 0.15.3 never calls ``Consumer.track_message``, so its
  own "wait for streams" does not wait for an agent's batch).
* :func:`commit_offsets`: commit explicit offsets through Faust's consumer
  (its thread's aiokafka consumer; the group generation is checked there).
* :func:`seek`: fetch a partition again, on the consumer's own thread (Faust's
  public ``seek`` races with its fetcher); :func:`fetch_position`: how far
  aiokafka has handed a partition's records to Faust (tells records lost on
  the way from records not yet fetched).
* Table partitions: :func:`table_get`, :func:`table_write`,
  :func:`iter_partition` read and write one partition's RocksDB database of a
  raw-bytes table directly (Faust's ``Table`` picks the partition from the
  *current event*; the member runtime knows the partition, handles batches
  that mix partitions and writes keys that no event names). The changelog
  record goes through the runtime's own producer
  (:mod:`streams.runtime.state`); :func:`persisted` records the changelog
  offset in the partition database as Faust's own ``_on_changelog_sent`` does,
  so a restart restores only what changed since.
* :func:`member_table`: the member table, its RocksDB partitions opened with
  partd's options and one memory budget (:mod:`.store`), restored from the
  changelog in large batches (:mod:`.restore`, with :data:`APP_SETTINGS`).
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Any

import faust
import rocksdict
from faust.types import TP

from streams.kafka.internals import bulk as _bulk
from streams.kafka.internals import restore as _restore
from streams.kafka.internals import store as _store

Hook = Callable[[set[Any]], Awaitable[None]]

#: Faust app settings the member table needs (its recovery leaves the active partitions to :func:`restore`).
APP_SETTINGS: dict[str, Any] = {"TableManager": _restore.TableManager}


class HookedApp(faust.App):
    """``faust.App`` with two hooks that run before Faust's own handling.

    ``before_revoke(revoked)``: before Faust revokes the tables and forgets
    the revoked partitions (the runtime finishes its batch, flushes and
    commits). ``before_stop()``: before Faust stops its consumer at shutdown.
    """

    before_revoke: Hook | None = None
    before_stop: Callable[[], Awaitable[None]] | None = None
    #: (topics, sink): the records of these topics go to the sink in bulk (:mod:`.bulk`), set before the
    #: consumer is first used
    bulk: tuple[frozenset[str], _bulk.Sink] | None = None
    logger = logging.getLogger("faust.partd.app")  # Faust's own lines stay with Faust's (PARTD_LOG_LEVEL)

    def _new_consumer(self) -> Any:  # Faust's private factory of ``app.consumer``
        if self.bulk is not None:
            consumer = _bulk.new_consumer(self, *self.bulk)
            if consumer is not None:
                return consumer
        return super()._new_consumer()

    async def _on_partitions_revoked(self, revoked: set[Any]) -> None:  # Faust's private handler
        if self.before_revoke is not None and not self.should_stop:
            try:
                await self.before_revoke(revoked)
            except Exception as exc:  # noqa: BLE001 - as Faust's own handler: crash, do not hang the rebalance
                await self.crash(exc)
                return
        await super()._on_partitions_revoked(revoked)

    async def _stop_consumer(self) -> None:  # Faust's private first step of App.on_stop
        if self.before_stop is not None:
            try:
                await self.before_stop()
            except Exception:  # noqa: BLE001 - stopping anyway; the records are answered again after a restart
                self.log.exception("member runtime did not stop cleanly")
        await super()._stop_consumer()


def is_bulk(app: faust.App) -> bool:
    """True if the app's consumer hands the bulk topics' records to a sink (:mod:`.bulk`)."""
    return isinstance(app.consumer, _bulk.BulkConsumer) and app.consumer.sink is not None


async def commit_offsets(app: faust.App, offsets: Mapping[tuple[str, int], int]) -> bool:
    """Commit ``{(topic, partition): next offset}`` through the app's consumer; False if refused (rebalanced)."""
    return bool(await app.consumer._commit({TP(t, p): o for (t, p), o in offsets.items()}))


async def seek(app: faust.App, topic: str, partition: int, offset: int) -> None:
    """Fetch ``topic[partition]`` again from ``offset``, on the consumer's own thread.

    ``Consumer.seek`` (public) calls aiokafka's ``seek`` from the caller's
    thread while Faust's consumer thread may be inside aiokafka's
    ``Fetcher.fetched_records``, which reads ``_records[tp]`` after listing the
    keys: a seek in between deletes the key and the fetcher crashes with a
    ``KeyError`` that stops the worker (seen at 1,000,000 members). Enqueued on
    that thread (Faust's ``call_thread``), the seek runs between two of its
    calls; Faust's read offset is reset as its own ``seek`` does.
    """
    consumer = app.consumer
    tp = TP(topic, partition)
    thread = consumer._thread
    await thread.call_thread(thread.seek, tp, offset)
    consumer._read_offset[tp] = offset if offset else None


def fetch_position(app: faust.App, topic: str, partition: int) -> int | None:
    """The next offset aiokafka will hand to Faust for ``topic[partition]`` (None: not known now).

    aiokafka advances it as it hands records over, not as it fetches them, so
    a position past the records the runtime received means records were handed
    to Faust and lost on the way (docs/architecture.md, "Records Faust drops");
    a position at them means they are still to be fetched or handed over.
    Read from the consumer thread's state without a call: one attribute read.
    """
    state = _partition_state(app, topic, partition)
    if state is None or not state.has_valid_position:
        return None
    return int(state.position)


def highwater(app: faust.App, topic: str, partition: int) -> int | None:
    """The partition's high-water mark from the consumer's last fetch (None: not fetched yet, not assigned).

    Read from the consumer thread's aiokafka state, as :func:`fetch_position` (what
    ``Consumer.highwater`` returns through three layers of Faust and aiokafka calls: the ordering
    asks for it several times per step and input).
    """
    state = _partition_state(app, topic, partition)
    return None if state is None else state.highwater


def _partition_state(app: faust.App, topic: str, partition: int) -> Any | None:
    """aiokafka's state of an assigned partition (its position and high-water mark), read from the consumer
    thread's subscription without a call; None with no consumer, subscription or assignment (a rebalance)."""
    try:
        return app.consumer._thread._ensure_consumer()._subscription.subscription.assignment.state_value(
            TP(topic, partition))
    except Exception:  # noqa: BLE001 - no consumer, subscription or assignment (a rebalance)
        return None


# ---------------------------------------------------------------- table partitions
def _partition_db(table: Any, partition: int) -> Any | None:
    """The RocksDB database of one partition (None for the memory store of the unit tests)."""
    store = table.data
    if getattr(store, "_dbs", None) is None:
        return None
    return store._db_for_partition(partition)


def table_get(table: Any, partition: int, key: bytes) -> bytes | None:
    """``key`` of a raw-bytes table, read from its partition."""
    db = _partition_db(table, partition)
    if db is None:
        return table.data.data.get(key)
    return db.get(key)


def table_get_many(table: Any, partition: int, keys: list[bytes]) -> list[bytes | None]:
    """The values of ``keys`` in one partition (one RocksDB multi-get), in order."""
    db = _partition_db(table, partition)
    if db is None:
        return [table.data.data.get(key) for key in keys]
    return list(db.get(keys))


def table_write(table: Any, partition: int, items: Iterable[tuple[bytes, bytes | None]]) -> None:
    """Write ``(key, value)`` pairs into one partition (``None`` deletes the key)."""
    db = _partition_db(table, partition)
    if db is None:
        data = table.data.data
        for key, value in items:
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
        return
    batch = rocksdict.WriteBatch(raw_mode=True)  # one write for all (half the cost of a put each)
    n = 0
    for key, value in items:
        if value is None:
            batch.delete(key)
        else:
            batch.put(key, value)
        n += 1
    if n:
        db.write(batch)


def persisted(table: Any, partition: int, changelog_offset: int) -> None:
    """Record that the table's changelog holds this partition's writes up to ``changelog_offset``."""
    tp = TP(table.changelog_topic.get_topic_name(), partition)
    table.data.set_persisted_offset(tp, changelog_offset)


def changelog_topic(table: Any) -> str:
    return table.changelog_topic.get_topic_name()


def iter_partition(table: Any, partition: int, partitions: int) -> Iterator[tuple[bytes, bytes]]:
    """``(key, value)`` of one partition of a raw-bytes table held by this worker, in key order.

    RocksDB keeps one database per partition, so this reads just that one
    (skipping Faust's own offset record), past the block cache
    (:func:`store.scan_options`). The memory store (unit tests) has no
    per-partition index, so keys are filtered with the default partitioner of
    the Java and aiokafka clients (murmur2), which is how producers key.
    """
    store = table.data
    dbs = getattr(store, "_dbs", None)
    if dbs is not None:
        db = dbs.get(partition)
        if db is None:
            return
        skip = store.offset_key
        for key, value in db.items(read_opt=_store.scan_options()):
            if key != skip and value is not None:
                yield key, value
        return
    from aiokafka.partitioner import murmur2

    for key, value in sorted(store.data.items()):
        if value is not None and (murmur2(key) & 0x7FFFFFFF) % partitions == partition:
            yield key, value


def recovery_done(app: faust.App) -> bool:
    """True once Faust has restored the tables of the current assignment."""
    recovery = app.tables.recovery
    return bool(recovery.completed.is_set() and not recovery.in_recovery)


def member_table(app: faust.App, name: str, *, partitions: int, budget: _store.Budget) -> Any:
    """A raw-bytes table whose RocksDB partitions share ``budget`` (:class:`.store.MemberTable`)."""
    table = _store.MemberTable(app, name=name, default=None, key_type=bytes, value_type=bytes,
                               partitions=partitions, beacon=app.tables.beacon)
    table.budget = budget
    return app.tables.add(table)


def restore_pending(app: faust.App, table: Any) -> list[int]:
    """The partitions of ``table`` whose changelog the recovery left to :func:`restore`."""
    name = table.changelog_topic.get_topic_name()
    return sorted(tp.partition for tp in getattr(app.tables.recovery, "pending", {}) if tp.topic == name)


async def restore(app: faust.App, table: Any, make_consumer: Callable[..., Any],
                  transform: _restore.Transform | None = None) -> _restore.Restored:
    """Restore what the table's recovery left to partd (:func:`.restore.restore`); ``make_consumer(**options)``
    makes the group-less consumer that reads the changelog."""
    return await _restore.restore(app, table, make_consumer, transform)


def table_memory(table: Any) -> dict[str, int]:
    """What the table's RocksDB databases hold in memory and on disk (:func:`.store.memory`)."""
    return _store.memory(table)
