"""streams.runtime.task: one member partition's task, with fakes (tests/runtime/fakes.py), in milliseconds.

What is checked is what the task leaves behind: the records handed to the sender, the partition's database,
the offsets it offers the commit; never the task's own counters.
"""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streams import topics
from streams.runtime import state as st
from streams.runtime.deadletters import Source
from streams.runtime import task as task_module
from streams.runtime.task import PartitionTask
from streams.tools import sample
from tests.runtime.fakes import CHANGELOG, SERDE, Fakes, encode

ENROLL, BENE = topics.ENROLLMENT_REQUESTS, topics.BENEFICIARY_UPDATES
M = "1EG4TE5MK73"


def _txn(offset: int, tracking: str, m: str = M, **kw: Any) -> Source:
    value = encode(ENROLL, sample._txn(tracking, m, 61, "S7101", "001", "2027-01-01", **kw))
    return Source(ENROLL, 0, offset, m.encode(), value, 2000 + offset)


def _bene(offset: int, m: str = M) -> Source:
    return Source(BENE, 0, offset, m.encode(), encode(BENE, sample._bene(m, "A", "B", "FL")), 1000 + offset)


def _open(f: Fakes, partition: int = 0) -> PartitionTask:
    return asyncio.run(PartitionTask.open(partition, f.ctx, f.runtime.commands))


def _trcs(records: list[tuple[bytes | None, bytes | None]]) -> list[tuple[str, str]]:
    return [(SERDE.decode("trr-replies", v)["plan_tracking_id"], SERDE.decode("trr-replies", v)["transaction_reply_code"])
            for _, v in records]


def test_open_starts_after_the_committed_offsets_with_the_stored_cycle_cursor() -> None:
    f = Fakes()
    f.consumer.committed[(ENROLL, 2)] = 7
    f.table.write(2, [(st.GROUP_KEY, st.encode_group({0: 3}))])
    task = _open(f, 2)
    assert task.group.inputs[ENROLL].next_offset == 7 and task.group.inputs[BENE].next_offset == 0
    assert task.cursor_written == task.cursor_durable == {0: 3}
    assert task.group.inputs[topics.CYCLE_COMMANDS].cursor == {0: 3}


def test_apply_hands_state_and_outputs_over_before_the_offsets_count_as_processed() -> None:
    f = Fakes()
    task = _open(f)
    asyncio.run(task.apply([_bene(0), _txn(0, "T1"), _txn(1, "T2")]))
    # each touched key once into the database and the changelog (held), the replies appended
    assert [(t, k) for t, k, _, _ in f.sender.pending if t == CHANGELOG] == [(CHANGELOG, M.encode())]
    assert _trcs(f.sender.outputs("trr-replies")) == [("T1", "011"), ("T2", "109")]
    assert task.processed == {BENE: 1, ENROLL: 2}
    assert task.prepare_commit().offsets == {(BENE, 0): 1, (ENROLL, 0): 2}
    stored = st.decode(f.table.get(0, M.encode()))
    assert stored.member is not None and stored.applied == {BENE: 0, ENROLL: 1}
    assert [(e[0], e[1]) for e in stored.outbox] == [(BENE, 0), (ENROLL, 0), (ENROLL, 1)]


def test_apply_reads_the_batch_members_in_one_multi_get_each_key_once() -> None:
    f = Fakes()
    task = _open(f)
    other = "1EG4TE5MK74"
    asyncio.run(task.apply([_bene(0), _bene(1, other)]))
    reads: list[tuple[str, Any]] = []
    get = f.table.get
    f.table.get = lambda p, k: reads.append(("get", k)) or get(p, k)  # type: ignore[method-assign]
    f.table.get_many = lambda p, ks: reads.append(("get_many", list(ks))) or [get(p, k) for k in ks]  # type: ignore[method-assign]
    asyncio.run(task.apply([_txn(0, "T1"), _txn(1, "T2", other), _txn(2, "T3")]))
    assert reads == [("get_many", [M.encode(), other.encode()])]
    # what was read is what the rules saw: both members known (011), the second TC 61 of M a 109
    assert _trcs(f.sender.outputs("trr-replies")) == [("T1", "011"), ("T2", "011"), ("T3", "109")]


def test_after_the_commit_the_member_is_stored_without_its_outbox() -> None:
    f = Fakes()
    task = _open(f)
    asyncio.run(task.apply([_bene(0), _txn(0, "T1")]))
    asyncio.run(f.runtime.checkpoint.commit([task]))
    assert f.consumer.committed == {(BENE, 0): 1, (ENROLL, 0): 1}
    raw = f.table.get(0, M.encode())
    assert not st.has_outbox(raw) and st.member_of(raw) is not None
    assert task.prepare_commit().offsets == {}  # nothing new to commit


@pytest.mark.parametrize("held_bytes", [task_module.HELD_BYTES, 0])
def test_the_commit_strips_what_it_holds_without_reading_it_back(held_bytes: int, monkeypatch: Any) -> None:
    """Values written since the last commit are kept for its strip up to HELD_BYTES; beyond, they are read back
    in one multi-get. Either way the database ends up with the same bytes."""
    monkeypatch.setattr(task_module, "HELD_BYTES", held_bytes)
    other = "1EG4TE5MK74"
    f = Fakes()
    task = _open(f)
    asyncio.run(task.apply([_bene(0), _bene(1, other), _txn(0, "T1"), _txn(1, "T2", other)]))
    asyncio.run(task.apply([_txn(2, "T3")]))  # M written again: the value held is the newer one
    written = {k: f.table.get(0, k) for k in (M.encode(), other.encode())}
    reads: list[list[bytes]] = []
    get_many = f.table.get_many
    f.table.get_many = lambda p, ks: reads.append(list(ks)) or get_many(p, ks)  # type: ignore[method-assign]
    asyncio.run(f.runtime.checkpoint.commit([task]))
    assert [sorted(r) for r in reads] == ([] if held_bytes else [sorted([M.encode(), other.encode()])])
    for key, raw in written.items():  # what the strip wrote: the value written, without the outbox
        assert f.table.get(0, key) == raw.partition(st.SEPARATOR)[0]
    assert task.held == {} and task.outboxed == set()


def test_a_refused_commit_keeps_the_outbox_for_the_next_owner() -> None:
    f = Fakes()
    f.consumer.refuse = True
    task = _open(f)
    asyncio.run(task.apply([_bene(0), _txn(0, "T1")]))
    asyncio.run(f.runtime.checkpoint.commit([task]))
    assert st.has_outbox(f.table.get(0, M.encode())) and set(task.outboxed) == {M.encode()}
    assert task.prepare_commit().offsets == {(BENE, 0): 1, (ENROLL, 0): 1}  # offered again next time


def test_a_redelivered_record_is_answered_from_the_outbox_byte_for_byte() -> None:
    """A crash after the state was written and before the commit: the next task gets the records again."""
    f = Fakes()
    first = _open(f)
    asyncio.run(first.apply([_bene(0), _txn(0, "T1")]))
    sent = f.sender.outputs("trr-replies")
    f.sender.pending.clear()
    again = _open(f)  # a new task on the same database, nothing committed
    asyncio.run(again.apply([_bene(0), _txn(0, "T1")]))
    assert f.sender.outputs("trr-replies") == sent  # the same bytes, not judged again (it would be 109)
    assert again.processed == {BENE: 1, ENROLL: 1}


def test_a_member_partd_does_not_know_keeps_its_008_until_the_commit_then_the_key_goes() -> None:
    f = Fakes()
    task = _open(f)
    asyncio.run(task.apply([_txn(0, "EARLY")]))
    assert _trcs(f.sender.outputs("trr-replies")) == [("EARLY", "008")]
    stored = st.decode(f.table.get(0, M.encode()))
    assert stored.member is None and task.unknown == {M.encode()}
    # redelivered after the beneficiary arrived (no commit): the same 008, not an 011
    f.sender.pending.clear()
    redo = _open(f)
    asyncio.run(redo.apply([_txn(0, "EARLY"), _bene(0)]))
    assert _trcs(f.sender.outputs("trr-replies")) == [("EARLY", "008")]
    asyncio.run(f.runtime.checkpoint.commit([redo]))
    assert st.member_of(f.table.get(0, M.encode())) is not None  # the beneficiary made it a member: kept
    g = Fakes()
    lone = _open(g)
    asyncio.run(lone.apply([_txn(0, "EARLY")]))
    asyncio.run(g.runtime.checkpoint.commit([lone]))
    assert g.table.get(0, M.encode()) is None and lone.unknown == set()  # swept once committed
    assert (CHANGELOG, M.encode(), None) in [(t, k, v) for t, k, v, _ in g.sender.pending]  # the delete, held


def test_the_outbox_keeps_at_most_32_entries_per_key() -> None:
    f = Fakes()
    task = _open(f)
    asyncio.run(task.apply([_bene(0)] + [_txn(i, f"T{i}") for i in range(40)]))
    stored = st.decode(f.table.get(0, M.encode()))
    assert len(stored.outbox) == st.MAX_ENTRIES == 32 and stored.outbox[-1][:2] == [ENROLL, 39]


def test_a_cycle_command_moves_the_cursor_which_is_durable_after_the_flush() -> None:
    from streams.runtime import cycle

    f = Fakes()
    f.caught_up([])
    task = _open(f)
    cmd = Source(topics.CYCLE_COMMANDS, 1, 4, b"C", b"c", 5000)
    f.log.add(cmd, None)
    assert task.group.peek() == cmd
    assert asyncio.run(task.command(cmd, cycle.Skip()))
    assert task.cursor_written == {1: 5} and task.cursor_durable == {}
    assert st.decode_group(f.table.get(0, st.GROUP_KEY)) == {1: 5}
    asyncio.run(f.runtime.checkpoint.commit([task]))
    assert task.cursor_durable == {1: 5} and not f.sender.pending


def test_a_closed_task_leaves_nothing_behind_in_the_runtime() -> None:
    f = Fakes()
    f.consumer.assign(0, 1)

    class TP:
        def __init__(self, t: str, p: int) -> None:
            self.topic, self.partition = t, p

    async def run() -> None:
        await f.runtime.on_rebalance_complete()
        await f.runtime.route([_txn(0, "T1"), _txn(3, "T4")])  # a jump: a seek and a resync for partition 0
        await f.runtime.before_revoke([TP(t, 0) for t in topics.MEMBER_INPUTS])

    asyncio.run(run())
    assert sorted(f.runtime.tasks) == [1]
    assert not any(isinstance(v, dict) and 0 in v for v in vars(f.runtime).values())


def test_a_calculations_scans_read_only_the_members_with_an_lis_period(monkeypatch: Any) -> None:
    """CALCULATE_BENCHMARKS has nothing for a member without an LIS period (processors/preview.py,
    CALCULATION_NEEDS), so both of its steps skip such members unread; every other scan reads them all."""
    import datetime as dt

    from streams.runtime import cycle
    from tests.processors.cycle_builders import Y, member, mbi_for

    f = Fakes()
    task = _open(f)
    with_lis, without = mbi_for(1), mbi_for(2)
    f.table.write(0, [(with_lis.encode(), st.encode(st.Stored(member(with_lis)))),
                      (without.encode(), st.encode(st.Stored(member(without, level=None))))])
    assert [k for k, _ in task._members(cycle.CALCULATE_BENCHMARKS)] == [with_lis.encode()]
    assert sorted(k for k, _ in task._members("REASSIGNMENT_RUN")) == sorted([with_lis.encode(), without.encode()])
    decoded: list[bytes] = []
    decode = st.decode
    monkeypatch.setattr(st, "decode", lambda raw: decoded.append(raw) or decode(raw))
    plan = {"command": cycle.CALCULATE_BENCHMARKS, "reference_month_d": dt.date(Y - 1, 7, 1)}
    body = asyncio.run(task._scan(plan, Source(topics.CYCLE_COMMANDS, 0, 0, b"C", b"c", 0)))
    assert body == {"counts": {"S1001-001": 1}} and len(decoded) == 1
