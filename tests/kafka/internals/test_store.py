"""streams/kafka/internals/store.py: the member table's RocksDB options, its memory budget, its batch writes."""
from __future__ import annotations

import random
from pathlib import Path

import faust
import rocksdict
from faust.stores.rocksdb import RocksDBOptions
from faust.types import TP

from streams.kafka.internals import faust_private as fp
from streams.kafka.internals.store import MIB, Budget, MemberStore, db_options, read_stopped, scan_options

PARTITIONS = 4
PER_PARTITION = 24 * MIB


def _fill(dbs: list[rocksdict.Rdict]) -> list[bytes]:
    """Write PER_PARTITION bytes of 1 kB values (random: no compression helps) into each database."""
    rng = random.Random(1)
    keys = []
    for p, db in enumerate(dbs):
        for i in range(PER_PARTITION // 1024):
            key = b"%d-%07d" % (p, i)
            db.put(key, rng.randbytes(1024))
            keys.append(key)
    return keys


def _memtables(dbs: list[rocksdict.Rdict]) -> int:
    return sum(db.property_int_value("rocksdb.cur-size-all-mem-tables") for db in dbs)


def test_memtables_and_cache_stay_within_the_budget_whatever_is_written(tmp_path: Path) -> None:
    budget = Budget(cache_bytes=8 * MIB, write_buffer_bytes=16 * MIB)
    dbs = [rocksdict.Rdict(str(tmp_path / f"p{p}"), options=db_options(budget)) for p in range(PARTITIONS)]
    keys = _fill(dbs)
    # 96 MB written: the memtables hold at most the budget (and one memtable that is being flushed)
    held = _memtables(dbs)
    assert 0 < held <= budget.write_buffer_bytes + 8 * MIB, held
    for k in keys[::7]:  # reads go through the one shared cache
        assert dbs[int(k.split(b"-")[0])].get(k) is not None
    assert 0 < budget.cache.get_usage() <= budget.cache_bytes * 1.05


def test_a_whole_partition_scan_bypasses_the_shared_cache(tmp_path: Path) -> None:
    """A cycle command's scan reads every member once: its blocks must not push the stream's members out of the
    cache. A scan with the default options fills the cache, which shows the test can fail."""
    budget = Budget(cache_bytes=8 * MIB, write_buffer_bytes=16 * MIB)
    dbs = [rocksdict.Rdict(str(tmp_path / f"p{p}"), options=db_options(budget)) for p in range(PARTITIONS)]
    keys = _fill(dbs)
    for db in dbs:
        db.flush()
    before = budget.cache.get_usage()
    scanned = [k for db in dbs for k, _ in db.items(read_opt=scan_options())]
    assert scanned == sorted(keys)  # every key, in key order (the partitions' keys sort by partition)
    assert budget.cache.get_usage() - before < MIB
    assert sum(1 for db in dbs for _ in db.items()) == len(keys)
    assert budget.cache.get_usage() - before > 4 * MIB


def test_the_member_tables_partition_scan_is_the_one_past_the_cache(tmp_path: Path) -> None:
    """What the cycle commands call (``faust_private.iter_partition``) uses :func:`scan_options`: every member of the
    partition, none of its blocks left in the shared cache."""
    app = faust.App("t-member-scan", broker="memory://", store="rocksdb://", datadir=str(tmp_path),
                    **fp.APP_SETTINGS)
    budget = Budget(cache_bytes=8 * MIB, write_buffer_bytes=16 * MIB)
    table = fp.member_table(app, "members", partitions=PARTITIONS, budget=budget)
    rng = random.Random(2)
    items = [(b"M%07d" % i, rng.randbytes(1024)) for i in range(PER_PARTITION // 1024)]
    for start in range(0, len(items), 1000):
        table.data.write(1, items[start:start + 1000])
    table.data.databases()[1].flush()
    before = budget.cache.get_usage()
    assert list(fp.iter_partition(table, 1, PARTITIONS)) == items
    assert budget.cache.get_usage() - before < MIB


def test_fausts_defaults_keep_everything_in_memtables(tmp_path: Path) -> None:
    """What the budget replaces: with faust's RocksDBOptions every write stays in RAM up to 64 MB per partition."""
    dbs = [RocksDBOptions().open(tmp_path / f"p{p}") for p in range(PARTITIONS)]
    _fill(dbs)
    assert _memtables(dbs) >= PARTITIONS * PER_PARTITION


def test_the_member_table_store_writes_batches_with_their_changelog_offset(tmp_path: Path) -> None:
    app = faust.App("t-member-store", broker="memory://", store="rocksdb://", datadir=str(tmp_path),
                    **fp.APP_SETTINGS)
    budget = Budget(cache_bytes=4 * MIB, write_buffer_bytes=4 * MIB)
    table = fp.member_table(app, "members", partitions=PARTITIONS, budget=budget)
    store = table.data
    assert isinstance(store, MemberStore) and store.budget is budget
    changelog = TP(table.changelog_topic.get_topic_name(), 2)
    assert store.persisted_offset(changelog) is None
    store.write(2, [(b"A", b"1"), (b"B", b"2")], 41)
    store.write(2, [(b"A", None), (b"C", b"3")], 42)
    assert store.persisted_offset(changelog) == 42
    assert fp.table_get(table, 2, b"B") == b"2" and fp.table_get(table, 2, b"A") is None
    assert fp.table_get_many(table, 2, [b"C", b"A", b"B"]) == [b"3", None, b"2"]
    assert sorted(fp.iter_partition(table, 2, PARTITIONS)) == [(b"B", b"2"), (b"C", b"3")]
    memory = fp.table_memory(table)
    assert memory["databases"] == 1 and memory["keys"] >= 2 and memory["write_buffers"] > 0
    assert sorted((p, k, v) for p, k, v in read_stopped(tmp_path)) == [(2, b"B", b"2"), (2, b"C", b"3")]


def test_recovery_leaves_the_active_partitions_to_restore_from_their_persisted_offsets(tmp_path: Path) -> None:
    import asyncio

    class Consumer:  # what Faust's _build_offsets asks of its consumer
        async def earliest_offsets(self, *tps: TP) -> dict[TP, int]:
            return {tp: 0 for tp in tps}

    app = faust.App("t-member-recovery", broker="memory://", store="rocksdb://", datadir=str(tmp_path),
                    **fp.APP_SETTINGS)
    table = fp.member_table(app, "members", partitions=PARTITIONS, budget=Budget(4 * MIB, 4 * MIB))
    name = table.changelog_topic.get_topic_name()
    fresh, behind, ahead, empty = (TP(name, p) for p in range(4))
    table.data.write(behind.partition, [(b"A", b"1")], 50)
    table.data.write(ahead.partition, [(b"B", b"2")], 120)
    recovery = app.tables.recovery
    for tp, last in ((fresh, 99), (behind, 99), (ahead, 99), (empty, -1)):
        recovery.tp_to_table[tp] = table
        recovery.active_highwaters[tp] = last
        recovery.active_offsets[tp] = table.data.persisted_offset(tp)
    asyncio.run(recovery._build_offsets(Consumer(), {fresh, behind, ahead, empty}, recovery.active_offsets, "active"))
    # A disk ahead of its changelog (120 > 99) is not a copy of it: set aside, restored from the start (issue 27)
    assert recovery.pending == {fresh: (0, 99), behind: (51, 99), ahead: (0, 99)}
    assert fp.restore_pending(app, table) == [fresh.partition, behind.partition, ahead.partition]
    # Faust reads none of the pending ranges (nor Faust's consistency check: nothing is past its changelog now)
    assert recovery.active_offsets[fresh] == recovery.active_offsets[behind] == recovery.active_offsets[ahead] == 99
    assert table.data.persisted_offset(ahead) is None and fp.table_get(table, ahead.partition, b"B") is None
    aside, = (tmp_path / "set-aside").iterdir()
    assert list(read_stopped(aside)) == [(ahead.partition, b"B", b"2")]  # kept whole, as a data directory
    assert sorted(p for p, _, _ in read_stopped(tmp_path)) == [behind.partition]


def test_a_standby_partition_ahead_of_its_changelog_is_set_aside_too(tmp_path: Path) -> None:
    import asyncio

    class Consumer:  # Faust builds the standby high-water marks after their offsets: asked here
        async def earliest_offsets(self, *tps: TP) -> dict[TP, int]:
            return {tp: 0 for tp in tps}

        async def highwaters(self, *tps: TP) -> dict[TP, int]:
            return {tp: 10 for tp in tps}  # the next offset: the last one is 9

    app = faust.App("t-member-standby", broker="memory://", store="rocksdb://", datadir=str(tmp_path),
                    **fp.APP_SETTINGS)
    table = fp.member_table(app, "members", partitions=PARTITIONS, budget=Budget(4 * MIB, 4 * MIB))
    name = table.changelog_topic.get_topic_name()
    ahead, behind = TP(name, 0), TP(name, 1)
    table.data.write(ahead.partition, [(b"A", b"1")], 30)
    table.data.write(behind.partition, [(b"B", b"2")], 4)
    recovery = app.tables.recovery
    for tp in (ahead, behind):
        recovery.tp_to_table[tp] = table
        recovery.standby_offsets[tp] = table.data.persisted_offset(tp)
    asyncio.run(recovery._build_offsets(Consumer(), {ahead, behind}, recovery.standby_offsets, "standby"))
    assert recovery.standby_offsets[ahead] == -1 and recovery.standby_offsets[behind] == 4  # Faust reads on from there
    assert recovery.pending == {}  # standbys stay Faust's
    assert [p for p, _, _ in read_stopped(next((tmp_path / "set-aside").iterdir()))] == [ahead.partition]
