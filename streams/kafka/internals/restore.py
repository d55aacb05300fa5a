"""Restoring the member table from its changelog in large batches, instead of Faust's record-by-record path.

faust-streaming 0.15.3 restores a table partition through its stream
machinery: every changelog record is fetched by the consumer thread, turned
into a Message and an Event, handed to the conductor, put on the changelog
queue, and taken off it by ``Recovery._slurp_changelogs`` one at a time (with
debug f-strings, a remaining-count over every partition and a
``on_changelog_event`` call each). Measured here: about 6,000 records/s, so a
worker taking over 1.75 million members (14 million over 8 workers) would
need several minutes before it answers anything.

:class:`Recovery` (Faust's, with one method overridden) leaves the **active**
partitions of a :class:`~streams.kafka.internals.store.MemberStore` to
:func:`restore`: when it builds the offsets to read from, it notes each such
partition's range (from Faust's persisted offset in the partition database
+ 1 to the high-water mark) in :attr:`Recovery.pending` and tells Faust the
partition is up to date, so Faust reads none of it and goes on to "recovery
complete". The worker then calls :func:`restore` from its
``on_rebalance_complete`` handler, before it applies any member record:
one group-less aiokafka consumer (``streams.kafka.clients``) reads every
pending range, ``getmany`` batches of up to 10,000 records, each written
into its partition database as one RocksDB ``WriteBatch`` together with the
offset it reaches (Faust's persisted offset), so a restore cut short by a new
rebalance or a crash goes on from there next time, and a restart on the
same disk reads only what was written since.

That handler runs inside Faust's ``on_recovery_completed``, which a new
rebalance cancels (its ``_wait`` has no timeout, unlike the steps before it):
the member input partitions stay paused until it returns, and ``/ready``
answers 503 meanwhile. Standby partitions are left to Faust.

A partition database ahead of its changelog (a broker that lost data) is set
aside and restored from the changelog's start, active or standby
(:meth:`Recovery._set_aside_ahead`), where Faust would raise ``ConsistencyError``.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from faust.tables.manager import TableManager as FaustTableManager
from faust.tables.recovery import Recovery as FaustRecovery
from faust.types import TP

from streams.kafka.internals.store import MemberStore, set_aside_dir
from streams.text import plural

log = logging.getLogger(__name__)

#: Records per ``getmany`` (and per RocksDB write batch of one partition at most).
FETCH_RECORDS = 10_000
#: Bytes per partition per fetch, and per fetch in all.
FETCH_PARTITION_BYTES = 8 * 1024 * 1024
FETCH_BYTES = 32 * 1024 * 1024

#: ``transform(partition, key, value) -> value`` applied to each record restored (``None``: delete the key).
Transform = Callable[[int, bytes, bytes | None], bytes | None]


@dataclass
class Restored:
    """What one :func:`restore` read."""

    partitions: int = 0
    records: int = 0
    bytes: int = 0
    seconds: float = 0.0

    @property
    def records_per_s(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0


class Recovery(FaustRecovery):
    """Faust's recovery; the active partitions of a :class:`MemberStore` are left to :func:`restore`, and a
    partition whose database is ahead of its changelog is set aside and restored (:meth:`_set_aside_ahead`)."""

    logger = logging.getLogger("faust.partd.recovery")  # Faust's own lines stay with Faust's (PARTD_LOG_LEVEL)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: changelog partition -> (first offset to read, last offset to read), for :func:`restore`
        self.pending: dict[TP, tuple[int, int]] = {}

    async def _build_offsets(self, consumer: Any, tps: Any, destination: Any, title: str) -> None:  # Faust private
        await self._set_aside_ahead(consumer, tps, destination, title)
        await super()._build_offsets(consumer, tps, destination, title)
        if title != "active":
            return
        self.pending.clear()
        for tp in tps:
            table = self.tp_to_table.get(tp)
            if table is None or not isinstance(table.data, MemberStore):
                continue
            last = self.active_highwaters.get(tp)  # the last offset (Faust's "highwater" is end - 1)
            if last is None or last < 0:
                continue
            persisted = table.data.persisted_offset(tp)  # from the database itself, never Faust's cached view
            first = (persisted if persisted is not None else -1) + 1
            if first <= last:
                self.pending[tp] = (first, last)
            destination[tp] = last  # Faust reads nothing of it: restore() does

    async def _set_aside_ahead(self, consumer: Any, tps: Any, destination: Any, title: str) -> None:
        """Set aside every partition database of a :class:`MemberStore` that is ahead of its changelog.

        A database whose persisted changelog offset is past the changelog's last offset is not a copy of
        that changelog: the broker lost data (a memory-only broker restarted, a topic deleted and made
        again). Faust raises ``ConsistencyError`` there and the worker dies; Kafka Streams takes such a
        store as corrupt, wipes it and restores the partition from the changelog. So does this, except
        that the database is moved to ``{data dir}/set-aside/{time}`` instead of deleted (after a broker
        lost data it may be the only copy), with one warning line naming both directories. Runs before
        Faust builds the offsets to read from, so Faust reads (standby) or :func:`restore` reads (active)
        the partition's changelog from its start.
        """
        stores = {tp: self.tp_to_table[tp].data for tp in tps
                  if tp in self.tp_to_table and isinstance(self.tp_to_table[tp].data, MemberStore)}
        if not stores:
            return
        if title == "active":
            last = {tp: self.active_highwaters.get(tp) for tp in stores}
        else:  # Faust builds the standby high-water marks only later
            found = await consumer.highwaters(*stores)
            last = {tp: (found[tp] - 1 if found.get(tp) is not None else -1) for tp in stores}
        ahead = []
        for tp, store in sorted(stores.items()):
            persisted = store.persisted_offset(tp)
            end = last.get(tp)
            if persisted is not None and end is not None and persisted > end:
                ahead.append((tp, persisted, end))
        if not ahead:
            return
        store = stores[ahead[0][0]]
        into = set_aside_dir(store.app.conf.datadir)
        for tp, _, _ in ahead:
            store.set_aside(tp.partition, into)
            destination[tp] = None  # nothing persisted any more: read from the changelog's start
        log.warning(ahead_line(ahead, store.partition_path(ahead[0][0].partition).parent, into, title))


def ahead_line(ahead: list[tuple[TP, int, int]], tables: Any, into: Any, title: str = "active") -> str:
    """The one warning line for partitions ``(tp, offset on disk, last offset of the changelog)`` set aside."""
    many = len(ahead) > 1
    where = "; ".join(f"{tp.partition}: offset {persisted} on disk, the changelog "
                      f"{'is empty' if end < 0 else f'ends at {end}'}" for tp, persisted, end in ahead)
    return (f"member table partition{'s' if many else ''} {', '.join(str(tp.partition) for tp, _, _ in ahead)} "
            f"({title}) in {tables} {'are' if many else 'is'} ahead of the changelog {ahead[0][0].topic} ({where}): "
            f"the broker lost data, or this data directory was written against another cluster; moved "
            f"{'them' if many else 'it'} to {into} (kept, not deleted: {'they' if many else 'it'} may be the only "
            f"copy) and restoring from the changelog")


class TableManager(FaustTableManager):
    """Faust's table manager with :class:`Recovery`."""

    logger = logging.getLogger("faust.partd.tables")

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = Recovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery  # type: ignore[return-value]


async def restore(app: Any, table: Any, bootstrap: str, transform: Transform | None = None) -> Restored:
    """Read the changelog ranges :class:`Recovery` left pending into ``table``'s partition databases."""
    from aiokafka import TopicPartition

    from streams.kafka import clients

    recovery = app.tables.recovery
    store = table.data
    pending = {tp: r for tp, r in getattr(recovery, "pending", {}).items()
               if isinstance(store, MemberStore) and tp.topic == table.changelog_topic.get_topic_name()}
    done = Restored(partitions=len(pending))
    if not pending:
        return done
    started = time.monotonic()
    consumer = clients.consumer(bootstrap, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
                                max_partition_fetch_bytes=FETCH_PARTITION_BYTES, fetch_max_bytes=FETCH_BYTES)
    await consumer.start()
    try:
        tps = {TopicPartition(tp.topic, tp.partition): tp for tp in pending}
        consumer.assign(list(tps))
        beginning = await consumer.beginning_offsets(list(tps))
        last: dict[Any, int] = {}
        for ktp, tp in tps.items():
            first, last[ktp] = pending[tp]
            consumer.seek(ktp, max(first, beginning.get(ktp, 0)))
        remaining = set(tps)
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=500, max_records=FETCH_RECORDS)
            for ktp, msgs in batches.items():
                end = last[ktp]
                items = []
                reached = None
                for m in msgs:
                    if m.offset > end:
                        break
                    value = m.value if transform is None else transform(ktp.partition, m.key, m.value)
                    items.append((m.key, value))
                    done.bytes += len(m.value or b"")
                    reached = m.offset
                if reached is not None:
                    store.write(ktp.partition, items, reached)
                    done.records += len(items)
            for ktp in list(remaining):
                position = await consumer.position(ktp)
                end = consumer.highwater(ktp)
                if position > last[ktp] or (ktp not in batches and end is not None and position >= end):
                    # read to the last offset (gaps left by compaction count as read), or the log ends
                    # before it (a high-water mark that was wrong): either way nothing more to restore
                    reached = min(last[ktp], position - 1)
                    if reached >= 0:
                        store.write(ktp.partition, [], reached)
                    remaining.discard(ktp)
                    recovery.pending.pop(tps[ktp], None)
    finally:
        await consumer.stop()
    done.seconds = time.monotonic() - started
    log.info("restored %s (%.1f MB) of %s in %.1f s: %.0f records/s", plural(done.records, "changelog record"),
             done.bytes / 1e6, plural(done.partitions, "partition"), done.seconds, done.records_per_s)
    return done
