"""streams.runtime.context: what the member runtime may use of the worker."""
from __future__ import annotations

from types import SimpleNamespace

from aiokafka.partitioner import murmur2

from streams.runtime.context import MemberTable
from tests.runtime.fakes import Fakes


def test_the_partition_count_comes_from_the_consumer_else_the_settings() -> None:
    f = Fakes()
    assert f.ctx.partition_count() == 4
    g = Fakes()
    g.consumer.partitions = lambda topic: None  # type: ignore[method-assign]
    g.ctx.settings = g.ctx.settings.__class__(partitions=6)
    assert g.ctx.partition_count() == 6


def test_the_member_table_reads_and_writes_one_partition_of_faust_s_memory_store() -> None:
    store = SimpleNamespace(data={})
    table = MemberTable(SimpleNamespace(), SimpleNamespace(data=store), lambda **kw: None, lambda: 4)
    keys = [f"K{i}".encode() for i in range(20)]
    for k in keys:
        table.write((murmur2(k) & 0x7FFFFFFF) % 4, [(k, b"v" + k)])
    part = [k for k in keys if (murmur2(k) & 0x7FFFFFFF) % 4 == 2]
    assert [k for k, _ in table.items(2)] == sorted(part) and part
    assert table.get(2, part[0]) == b"v" + part[0] and table.get_many(2, part[:2]) == [b"v" + k for k in part[:2]]
    table.write(2, [(part[0], None)])
    assert table.get(2, part[0]) is None
