"""streams.runtime.worker: the loop over partition tasks, with fakes of Faust's consumer, the table and the
producer (tests/runtime/fakes.py): no broker, milliseconds.

The oracle is the input log, not the runtime's own counts: every transaction gets its reply (by the plan's
tracking id), and the replies equal those of the pure pipeline over each partition's log in offset order.
"""
from __future__ import annotations

import asyncio
from collections import Counter

from streams import topics
from streams.runtime import order
from streams.runtime.deadletters import Source
from streams.tools import sample
from tests.runtime.fakes import SERDE, Fakes, encode, log_of

ENROLL, BENE = topics.ENROLLMENT_REQUESTS, topics.BENEFICIARY_UPDATES
M = "1EG4TE5MK73"


def _src(offset: int, partition: int = 0) -> Source:
    return Source(ENROLL, partition, offset, M.encode(), b"v", 1_700_000_000_000 + offset)


def _replies(f: Fakes) -> Counter:
    """Replies per transaction (the plan's tracking id; replies to no transaction, e.g. 121, left out)."""
    decoded = (SERDE.decode("trr-replies", v) for _, v in f.sender.outputs("trr-replies"))
    return Counter(r["plan_tracking_id"] for r in decoded if r["plan_tracking_id"])


def test_a_partition_revoked_after_a_seek_and_given_back_takes_its_records() -> None:
    """A seek's re-fetch state must not outlive the partition (issue 24): a revoke closes everything about it.

    The worker seeks enrollment-requests[0] back after a jump; the partition is revoked and comes
    back within RESYNC_S; the new fetch starts at the committed offset, not at the sought one, and
    its records must be taken, not dropped as "fetched before the seek". (Failed before the task:
    ``MemberRuntime._resync`` outlived the revoke: 0 of 3 records buffered.)
    """
    f = Fakes()

    async def run() -> int:
        f.consumer.assign(0)
        await f.runtime.on_rebalance_complete()
        await f.runtime.route([_src(0), _src(5)])  # offsets 1..4 never came: sought back to 1
        assert ("seek", (ENROLL, 0), 1) in f.journal
        await f.runtime.before_revoke({tp for tp in _tps(0)})
        await f.runtime.on_rebalance_complete()  # given back: starts again at the committed offset, 0
        await f.runtime.route([_src(0), _src(1), _src(2)])
        return f.runtime.tasks[0].buffered(ENROLL)

    assert asyncio.run(run()) == 3


class _TP:
    def __init__(self, topic: str, partition: int) -> None:
        self.topic, self.partition = topic, partition


def _tps(partition: int) -> list[_TP]:
    return [_TP(t, partition) for t in topics.MEMBER_INPUTS]


def test_every_transaction_of_the_log_is_answered_once_whatever_the_fetch_chunks() -> None:
    """Counted against the inputs: each transaction id has exactly one reply."""
    people, txns = sample.enrollment_churn(12, 4)
    log = log_of(people + txns)
    want = Counter(v["tracking_id"] for _, v in txns)
    results = []
    for chunk in (1, 7, 500):
        f = Fakes()
        f.caught_up(log)
        f.consumer.assign(*range(4))

        async def run(f: Fakes = f, chunk: int = chunk) -> None:
            await f.runtime.on_rebalance_complete()
            await f.drive(log, chunk=chunk)
            await f.runtime.commit()

        asyncio.run(run())
        got = _replies(f)
        replies = [SERDE.decode("trr-replies", v) for _, v in f.sender.outputs("trr-replies")]
        # one reply per transaction (a switch also tells the losing plan, 014, with no plan tracking id)
        assert got == want
        assert sum(1 for r in replies if r["transaction_reply_code"] == "014") > 0
        assert f.consumer.committed == {(s.topic, s.partition): f.consumer.hw[(s.topic, s.partition)] for s in log}
        # every output topic, byte for byte (as tests/integration/test_replay.py compares them)
        results.append({t: Counter(f.sender.outputs(t, delivered_only=True)) for t in topics.OUTPUTS})
    assert results[0] == results[1] == results[2]
    assert sum(results[0]["trr-replies"].values()) > len(want)


def test_records_wait_for_a_lagging_sibling_then_go_in_timestamp_order() -> None:
    """A transaction fetched before the beneficiary it needs waits for it (lag known, not zero): 011, not 008."""
    f = Fakes()
    bene = Source(BENE, 0, 0, M.encode(), encode(BENE, sample._bene(M, "A", "B", "FL")), 1000)
    txn = Source(ENROLL, 0, 0, M.encode(), encode(ENROLL, sample._txn("T1", M, 61, "S7101", "001", "2027-01-01")),
                 2000)
    f.caught_up([bene, txn])
    f.consumer.assign(0)

    async def run() -> None:
        await f.runtime.on_rebalance_complete()
        await f.runtime.route([txn])
        assert await f.runtime.step() == (False, True)  # nothing released: waits for beneficiary-updates[0]
        assert f.sender.outputs("trr-replies") == []
        await f.runtime.route([bene])
        await f.runtime.step()

    asyncio.run(run())
    assert [SERDE.decode("trr-replies", v)["transaction_reply_code"] for _, v in f.sender.outputs("trr-replies")] \
        == ["011"]


def test_a_partition_whose_records_never_arrived_is_fetched_again_through_the_consumer() -> None:
    """The worker's re-fetch: the group waits for enrollment-requests[0] (lag 3), whose fetch position is past
    the records the runtime got; after REFETCH_S the consumer is told to seek back, once."""
    f = Fakes()
    f.caught_up([])
    f.consumer.hw[(BENE, 0)] = 1
    f.consumer.hw[(ENROLL, 0)] = 3
    f.consumer.positions[(ENROLL, 0)] = 3  # handed to Faust, lost on the way
    f.consumer.assign(0)
    now = [0.0]

    async def run() -> None:
        await f.runtime.on_rebalance_complete()
        f.runtime.tasks[0].group._clock = lambda: now[0]
        await f.runtime.route([Source(BENE, 0, 0, M.encode(), encode(BENE, sample._bene(M, "A", "B", "FL")), 5)])
        for t in (0.0, 1.0, order.REFETCH_S, order.REFETCH_S + 1, 2 * order.REFETCH_S + 0.1, 2 * order.REFETCH_S + 1):
            now[0] = t
            await f.runtime.step()

    asyncio.run(run())
    assert [e for e in f.journal if e[0] == "seek"] == [("seek", (ENROLL, 0), 0)]
    assert f.ctx.metrics.refetches.labels(ENROLL)._value.get() == 1


def test_a_revoke_commits_before_the_partition_is_given_up_and_forgets_it() -> None:
    """Kafka Streams' rule: on revocation, flush then commit what was processed; the task is closed after."""
    f = Fakes()
    people, txns = sample.enrollment_churn(4, 1)
    log = log_of(people + txns)
    f.caught_up(log)
    f.consumer.assign(*range(4))

    async def run() -> None:
        await f.runtime.on_rebalance_complete()
        await f.drive(log)
        assert not f.consumer.committed
        tasks = dict(f.runtime.tasks)
        await f.runtime.before_revoke(_tps(1) + _tps(2))
        assert sorted(f.runtime.tasks) == [0, 3] and tasks[1].closed and tasks[2].closed

    asyncio.run(run())
    kinds = [e[0] for e in f.journal]
    assert kinds.index("flush") < kinds.index("commit") < kinds.index("agents")
    assert f.consumer.committed == {(s.topic, s.partition): f.consumer.hw[(s.topic, s.partition)] for s in log}
    assert not f.sender.pending  # every output and changelog record flushed before the commit


def test_a_stop_commits_and_applies_nothing_more() -> None:
    f = Fakes()
    people, _ = sample.enrollment_churn(3, 0)
    log = log_of(people)
    f.caught_up(log)
    f.consumer.assign(*range(4))

    async def run() -> None:
        await f.runtime.on_rebalance_complete()
        await f.drive(log)
        await f.runtime.before_stop()

    asyncio.run(run())
    assert f.runtime.stopped and f.runtime.checkpoint.commits == 1
    assert f.consumer.committed == {(s.topic, s.partition): f.consumer.hw[(s.topic, s.partition)] for s in log}


def test_the_loop_takes_what_the_consumer_hands_over_and_stops_when_faust_stops_the_agent() -> None:
    """The loop in bulk mode (streams/kafka/internals/bulk.py): records handed to the intake are applied; after
    the worker's stop (``before_stop``) the loop waits instead of spinning (a spinning loop never let Faust stop
    the agent: the worker hung on SIGTERM), and Faust's stop of the agent (thrown into its channel) ends it."""
    import threading
    from types import SimpleNamespace

    from mode.utils.queues import FlowControlEvent, ThrowableQueue

    f = Fakes()
    f.consumer.bulk_mode = True
    records = [(BENE, sample._bene(M, "Ann", "Lee", "FL")),
               (ENROLL, sample._txn("T-1", M, 61, "S7101", "001", "2027-01-01"))]
    outcome: dict[str, object] = {}

    async def run() -> None:
        f.consumer.assign(0, 1, 2, 3)
        await f.runtime.on_rebalance_complete()
        sources = log_of(records)
        f.caught_up(sources)
        queue = ThrowableQueue(flow_control=FlowControlEvent())
        loop_task = asyncio.ensure_future(f.runtime.run(SimpleNamespace(channel=SimpleNamespace(queue=queue))))
        f.runtime.intake.put(1, [(None, [SimpleNamespace(topic=s.topic, partition=s.partition, offset=s.offset,
                                                          key=s.key, value=s.value, timestamp=s.timestamp_ms)
                                         for s in sources])])
        for _ in range(200):
            if _replies(f):
                break
            await asyncio.sleep(0.01)
        outcome["replies"] = dict(_replies(f))

        async def more_to_do() -> tuple[bool, bool]:
            return True, False  # as after a step that applied records: the loop takes again at once

        f.runtime.step = more_to_do  # type: ignore[method-assign]
        await asyncio.sleep(0.02)
        await f.runtime.before_stop()
        await asyncio.sleep(0.05)  # the loop must let this run
        outcome["other tasks run"] = True
        queue._throw(StopAsyncIteration())  # Actor.cancel
        try:
            await asyncio.wait_for(loop_task, 2.0)
        except StopAsyncIteration:
            outcome["stopped"] = True

    thread = threading.Thread(target=lambda: asyncio.run(run()), daemon=True)
    thread.start()
    thread.join(10)
    assert outcome == {"replies": {"T-1": 1}, "other tasks run": True, "stopped": True}
