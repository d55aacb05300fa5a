"""The member table's RocksDB databases: options chosen here, one memory budget per worker.

faust-streaming 0.15.3 opens every partition's database with its own
defaults (``faust/stores/rocksdb.py``, ``RocksDBOptions``):

* a **2 GiB LRU block cache per partition database** (``as_options`` makes a
  new ``rocksdict.Cache`` for every database it opens, twice per open);
* **64 MiB write buffers, up to 3 per database** (``write_buffer_size``,
  ``max_write_buffer_number``): a partition's writes stay in memory until
  64 MiB of them have piled up. Each write of a member adds a new entry to
  the memtable (the old version stays there until the flush), so below
  64 MiB per partition a worker keeps every version of every member it
  wrote in RAM; that is why its RSS grew with the members it held;
* index and filter blocks outside the cache (they grow with the data on
  disk), ``max_open_files`` at 90% of the process limit, per database.

:class:`MemberStore` opens the partitions with :func:`db_options` instead. All
partition databases of a worker share:

* **one LRU block cache** of ``PARTD_ROCKSDB_CACHE_MB`` (default 64 MiB), which
  also holds the index and filter blocks (``cache_index_and_filter_blocks``,
  level-0 ones pinned), so the readers of the SST files do not grow beside it;
* **one write buffer manager** of ``PARTD_ROCKSDB_WRITE_BUFFER_MB`` (default
  64 MiB) capping the memtables of all of them together; a memtable is at most
  :data:`WRITE_BUFFER_BYTES` (8 MiB), two per database, so a busy partition
  flushes early and an idle one costs next to nothing;
* at most :data:`MAX_OPEN_FILES` open SST files per database (their table
  readers are what the cache bounds), LZ4 compression of SST files (the
  stored values are JSON: about 3x smaller on disk), bloom filters of 10 bits
  per key (point reads of a member by MBI, as Faust's default filter).

So what RocksDB holds in memory is bounded by about cache + write buffers,
whatever the number of members or partitions; the rest is on disk, read
through the cache (a member read misses at most one data block).
:func:`memory` reports what each part uses (RocksDB's own properties),
served as ``partd_rocksdb_*`` on ``/metrics``.
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faust
import rocksdict
from faust.stores import rocksdb as faust_rocksdb

MIB = 1024 * 1024
#: One memtable of one partition database (RocksDB's default is 64 MiB).
WRITE_BUFFER_BYTES = 8 * MIB
#: Memtables per database (one filling, one being flushed).
MAX_WRITE_BUFFERS = 2
#: Open SST files per partition database (Faust's default: 90% of the process limit, per database).
MAX_OPEN_FILES = 256
#: Target size of an SST file (RocksDB's default 64 MiB; smaller files compact in shorter steps).
TARGET_FILE_BYTES = 32 * MIB
#: Bits per key of the bloom filter (member reads are point lookups).
BLOOM_BITS = 10
#: Read-ahead of a whole-partition scan (a cycle command reads every member once, in key order).
SCAN_READAHEAD_BYTES = 2 * MIB


@dataclass
class Budget:
    """The memory RocksDB may use in one worker, shared by all its partition databases."""

    cache_bytes: int = 64 * MIB
    write_buffer_bytes: int = 64 * MIB
    cache: Any = field(init=False, repr=False)
    write_buffers: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.cache = rocksdict.Cache(self.cache_bytes)
        # allow_stall=False: writers are never blocked; over the budget, memtables are flushed early
        self.write_buffers = rocksdict.WriteBufferManager(self.write_buffer_bytes, False)


def db_options(budget: Budget) -> rocksdict.Options:
    """Options of one partition database (module doc)."""
    opts = rocksdict.Options(raw_mode=True)
    opts.create_if_missing(True)
    opts.set_write_buffer_size(WRITE_BUFFER_BYTES)
    opts.set_max_write_buffer_number(MAX_WRITE_BUFFERS)
    opts.set_write_buffer_manager(budget.write_buffers)
    opts.set_max_open_files(MAX_OPEN_FILES)
    opts.set_target_file_size_base(TARGET_FILE_BYTES)
    opts.set_compression_type(rocksdict.DBCompressionType.lz4())
    opts.set_max_background_jobs(2)
    table = rocksdict.BlockBasedOptions()
    table.set_block_cache(budget.cache)
    table.set_cache_index_and_filter_blocks(True)
    table.set_pin_l0_filter_and_index_blocks_in_cache(True)
    table.set_bloom_filter(BLOOM_BITS, False)
    table.set_index_type(rocksdict.BlockBasedIndexType.binary_search())
    opts.set_block_based_table_factory(table)
    return opts


def scan_options() -> rocksdict.ReadOptions:
    """Read options of a whole-partition scan (a cycle command): its blocks bypass the shared cache, so a scan of
    every member neither evicts the members the stream is reading nor pays for cache inserts it never reuses, and
    it reads ahead :data:`SCAN_READAHEAD_BYTES`. Measured on 1,000,000 members in 8 databases: 1.5 us a member with
    the default options, 0.85 with these (docs/benchmarks.md, "2026-12-08, morning")."""
    opts = rocksdict.ReadOptions()
    opts.fill_cache(False)
    opts.set_readahead_size(SCAN_READAHEAD_BYTES)
    return opts


#: Where a data directory keeps what a worker set aside (never deleted by partd): ``{data dir}/set-aside/{when}``.
SET_ASIDE = "set-aside"


def set_aside_dir(data_dir: str | os.PathLike[str]) -> Path:
    """A new, empty directory ``{data_dir}/set-aside/{UTC time}`` for what is moved out of the way."""
    root = Path(data_dir) / SET_ASIDE
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for n in range(1000):
        path = root / (stamp if n == 0 else f"{stamp}-{n}")
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"{root}: no free name for {stamp}")


class MemberStore(faust_rocksdb.Store):
    """Faust's RocksDB store, each partition opened with :func:`db_options` and one shared :class:`Budget`."""

    budget: Budget  # set by MemberTable when it builds the store
    logger = logging.getLogger("faust.partd.store")  # Faust's own lines stay with Faust's (PARTD_LOG_LEVEL)

    def _open_for_partition(self, partition: int) -> Any:  # Faust's private hook: open one partition
        path = self.partition_path(partition)
        return rocksdict.Rdict(str(path), options=db_options(self.budget),
                               access_type=rocksdict.AccessType.read_write())

    def set_aside(self, partition: int, into: Path) -> Path:
        """Close one partition's database and move its directory into ``into`` (kept, never deleted; ``into``
        is laid out as a data directory, so ``read_stopped(into)`` reads it); the partition opens empty at the
        next use. Returns where it went."""
        db = self._dbs.pop(partition, None)
        if db is not None:
            db.close()
        source = self.partition_path(partition)
        try:  # the same layout as the data directory's (``v1/tables/members-0.db``): a data directory itself
            target = into / source.relative_to(Path(self.app.conf.datadir))
        except ValueError:
            target = into / source.name
        if source.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            source.rename(target)
        return target

    def databases(self) -> dict[int, Any]:
        """The open partition databases (partition -> Rdict)."""
        return dict(self._dbs)

    def write(self, partition: int, items: list[tuple[bytes, bytes | None]], offset: int | None = None) -> None:
        """Write ``(key, value)`` pairs (``None`` deletes) into one partition in one batch, with the
        changelog offset they bring the partition to (Faust's persisted offset) when given."""
        batch = rocksdict.WriteBatch(raw_mode=True)
        for key, value in items:
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        if offset is not None:
            batch.put(self.offset_key, str(offset).encode())
        self._db_for_partition(partition).write(batch)


class MemberTable(faust.Table):
    """A ``faust.Table`` whose ``rocksdb://`` store is a :class:`MemberStore` sharing ``budget``."""

    budget: Budget | None = None
    logger = logging.getLogger("faust.partd.table")

    def _new_store_by_url(self, url: Any) -> Any:  # Faust's private hook: build the table's store
        if not str(url).startswith("rocksdb:"):
            return super()._new_store_by_url(url)
        store = MemberStore(url, self.app, self, table_name=self.name, key_type=self.key_type,
                            key_serializer=self.key_serializer, value_serializer=self.value_serializer,
                            value_type=self.value_type, loop=self.loop, options=self.options)
        store.budget = self.budget or Budget()
        return store


#: RocksDB properties reported per database by :func:`memory` (summed over the partitions).
PROPERTIES = {
    "memtables": "rocksdb.cur-size-all-mem-tables",
    "table_readers": "rocksdb.estimate-table-readers-mem",
    "sst_files": "rocksdb.total-sst-files-size",
    "keys": "rocksdb.estimate-num-keys",
}


def memory(table: Any) -> dict[str, int]:
    """What the table's RocksDB databases hold, in bytes (keys: estimated keys), summed over partitions.

    ``block_cache`` and ``block_cache_pinned`` are the shared cache's usage,
    ``write_buffers`` the write buffer manager's; ``memtables``,
    ``table_readers`` (outside the cache), ``sst_files`` (on disk) and
    ``keys`` come from each database. Empty for the memory store.
    """
    store = table.data
    if not isinstance(store, MemberStore):
        return {}
    out = {name: 0 for name in PROPERTIES}
    for db in store.databases().values():
        for name, prop in PROPERTIES.items():
            try:
                out[name] += int(db.property_int_value(prop) or 0)
            except Exception:  # noqa: BLE001 - a database closed by a rebalance meanwhile
                continue
    out["block_cache"] = store.budget.cache.get_usage()
    out["block_cache_pinned"] = store.budget.cache.get_pinned_usage()
    out["write_buffers"] = store.budget.write_buffers.get_usage()
    out["databases"] = len(store.databases())
    return out


def read_stopped(data_dir: Any, table: str = "members") -> Iterator[tuple[int, bytes, bytes]]:
    """``(partition, key, value)`` of every key in a stopped worker's data dir (read-only; Faust's offset key
    left out). Faust keeps a table's partitions in ``{data dir}/v{version}/tables/{table}-{partition}.db``."""
    for path in sorted(Path(data_dir).glob(f"v*/tables/{table}-*.db")):
        partition = int(path.name[len(table) + 1:-len(".db")])
        db = rocksdict.Rdict(str(path), options=rocksdict.Options(raw_mode=True),
                             access_type=rocksdict.AccessType.read_only())
        try:
            for key, value in db.items():
                if key != faust_rocksdb.Store.offset_key:
                    yield partition, key, value
        finally:
            db.close()
