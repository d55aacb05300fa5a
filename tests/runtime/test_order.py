"""streams.runtime.order: the records of one partition number in record-timestamp order (Kafka Streams' rule)."""
from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streams import topics
from streams.runtime.deadletters import Source
from streams.runtime import order
from streams.runtime.order import CAUGHT_UP, LAGGING, UNKNOWN, CommandInput, Group

BENE, LIS, MAGI, ENROLL = topics.MEMBER_INPUTS


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def group(hw: dict[str, int | None], clock: Clock | None = None, idle: float = 2.0, max_buffered: int = 2000) -> Group:
    g = Group(0, topics.MEMBER_INPUTS, max_idle_s=idle, highwater=lambda t, p: hw.get(t), clock=clock or Clock(),
              max_buffered=max_buffered)
    for t in topics.MEMBER_INPUTS:
        g.set_next_offset(t, 0)
    return g


def rec(topic: str, offset: int, ts: int) -> Source:
    return Source(topic, 0, offset, b"K", b"v", ts)


def test_a_lagging_sibling_holds_everything_back_until_its_records_come() -> None:
    hw = {BENE: 1, LIS: 0, MAGI: 0, ENROLL: 1}
    g = group(hw)
    g.add(rec(ENROLL, 0, 2000))  # the enrollment was fetched first ...
    assert g.take(10) == []  # ... but beneficiary-updates has a record this worker has not seen
    g.add(rec(BENE, 0, 1000))
    assert [(s.topic, s.timestamp_ms) for s in g.take(10)] == [(BENE, 1000), (ENROLL, 2000)]


def test_caught_up_siblings_do_not_hold_anything_back() -> None:
    g = group({BENE: 0, LIS: 0, MAGI: 0, ENROLL: 2})
    g.add(rec(ENROLL, 0, 5))
    g.add(rec(ENROLL, 1, 6))
    assert [s.offset for s in g.take(10)] == [0, 1]


def test_unknown_lag_is_waited_for_at_most_the_idle_time() -> None:
    clock = Clock()
    hw: dict[str, int | None] = {BENE: None, LIS: 0, MAGI: 0, ENROLL: 1}
    g = group(hw, clock, idle=2.0)
    g.add(rec(ENROLL, 0, 5))
    assert g.take(10) == []
    clock.now = 1.9
    assert g.take(10) == []
    clock.now = 2.0
    assert [s.offset for s in g.take(10)] == [0]  # enforced processing
    assert g.enforced == 1


def test_ties_go_by_topic_rank_then_offset() -> None:
    g = group({BENE: 2, LIS: 1, MAGI: 0, ENROLL: 2})
    for r in (rec(ENROLL, 0, 7), rec(ENROLL, 1, 7), rec(LIS, 0, 7), rec(BENE, 0, 7), rec(BENE, 1, 7)):
        g.add(r)
    assert [(s.topic, s.offset) for s in g.take(10)] == [(BENE, 0), (BENE, 1), (LIS, 0), (ENROLL, 0), (ENROLL, 1)]


def test_take_stops_when_an_input_runs_dry_before_its_end() -> None:
    hw = {BENE: 3, LIS: 0, MAGI: 0, ENROLL: 1}
    g = group(hw)
    g.add(rec(BENE, 0, 1))
    g.add(rec(ENROLL, 0, 10))
    assert [s.offset for s in g.take(10)] == [0]  # bene 1..2 not here yet: the enrollment waits
    g.add(rec(BENE, 1, 2))
    g.add(rec(BENE, 2, 3))
    assert [(s.topic, s.offset) for s in g.take(10)] == [(BENE, 1), (BENE, 2), (ENROLL, 0)]


def test_skipped_offsets_are_reported_and_duplicates_ignored() -> None:
    g = group({BENE: 10, LIS: 0, MAGI: 0, ENROLL: 0})
    assert g.add(rec(BENE, 0, 1)) is None
    assert g.add(rec(BENE, 0, 1)) is None  # fetched twice
    assert g.add(rec(BENE, 5, 1)) == 1  # offsets 1..4 never came
    assert g.drop_from(BENE, 1) == 1
    assert [s.offset for s in g.inputs[BENE].buffer] == [0]


def test_status() -> None:
    g = group({BENE: None, LIS: 3, MAGI: 0, ENROLL: 0})
    assert g.status(g.inputs[BENE]) == UNKNOWN
    assert g.status(g.inputs[LIS]) == LAGGING
    assert g.status(g.inputs[MAGI]) == CAUGHT_UP


class Log:
    """A stand-in for the cycle commands reader."""

    def __init__(self, items: list[Source], caught_up: bool = True) -> None:
        self.items = items
        self.version = object()
        self._caught_up = caught_up

    def commands(self) -> list[Source]:
        return self.items

    def caught_up(self) -> bool:
        return self._caught_up


def test_cycle_commands_take_their_place_in_time() -> None:
    g = group({BENE: 0, LIS: 0, MAGI: 0, ENROLL: 3})
    cmd = Source(topics.CYCLE_COMMANDS, 2, 0, b"C", b"c", 15)
    g.attach(CommandInput(len(topics.MEMBER_INPUTS), Log([cmd]), {}))
    for r in (rec(ENROLL, 0, 10), rec(ENROLL, 1, 15), rec(ENROLL, 2, 20)):
        g.add(r)
    is_cmd = lambda item: item.topic == topics.CYCLE_COMMANDS  # noqa: E731
    assert [s.offset for s in g.take(10, stop=is_cmd)] == [0, 1]  # same timestamp: member data first
    assert g.peek() == cmd
    g.inputs[topics.CYCLE_COMMANDS].pop()
    assert g.inputs[topics.CYCLE_COMMANDS].cursor == {2: 1}
    assert [s.offset for s in g.take(10, stop=is_cmd)] == [2]


def test_a_commands_reader_behind_holds_the_group() -> None:
    g = group({BENE: 0, LIS: 0, MAGI: 0, ENROLL: 1})
    g.attach(CommandInput(len(topics.MEMBER_INPUTS), Log([], caught_up=False), {}))
    g.add(rec(ENROLL, 0, 10))
    assert g.take(10) == []


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_any_fetch_order_and_batch_size_gives_the_same_order(data: Any) -> None:
    """Records arrive in any interleaving of partitions and in any chunks: released in the same order."""
    n = {t: data.draw(st.integers(0, 6)) for t in topics.MEMBER_INPUTS}
    logs = {t: [rec(t, i, data.draw(st.integers(0, 20))) for i in range(n[t])] for t in topics.MEMBER_INPUTS}
    hw = {t: n[t] for t in topics.MEMBER_INPUTS}

    def run(order_seed: int, batch: int) -> list[tuple[str, int]]:
        g = group(hw)
        pending = {t: list(v) for t, v in logs.items()}
        out: list[tuple[str, int]] = []
        rnd = __import__("random").Random(order_seed)
        while any(pending.values()):
            t = rnd.choice([t for t in pending if pending[t]])
            for _ in range(rnd.randint(1, 3)):
                if pending[t]:
                    g.add(pending[t].pop(0))
            out.extend((s.topic, s.offset) for s in g.take(batch))
        out.extend((s.topic, s.offset) for s in g.take(10_000))
        return out

    first = run(data.draw(st.integers(0, 10**6)), data.draw(st.integers(1, 5)))
    second = run(data.draw(st.integers(0, 10**6)), data.draw(st.integers(1, 50)))
    assert first == second
    assert len(first) == sum(n.values())


# --------------------------------------------------------------------------- back-pressure, as actions
def test_an_input_over_the_limit_is_paused_once_and_resumed_at_half() -> None:
    g = group({BENE: 0, LIS: 0, MAGI: 0, ENROLL: 100}, max_buffered=10)
    first = g.route([rec(ENROLL, i, 5) for i in range(11)])
    assert first.pause == [(ENROLL, 0)] and not first.resume and g.paused == {ENROLL}
    assert not g.route([rec(ENROLL, 11, 5)]).pause  # once
    g.take(6)  # 6 left: above half
    assert not g.drained()
    g.take(1)  # 5 left: half
    assert g.drained().resume == [(ENROLL, 0)] and not g.paused


def test_a_paused_input_is_resumed_when_its_buffer_is_applied_not_only_when_records_arrive() -> None:
    g = group({BENE: 40, LIS: 30, MAGI: 0, ENROLL: 0}, max_buffered=10)
    acts = g.route([rec(BENE, i, i) for i in range(40)] + [rec(LIS, i, 100 + i) for i in range(30)])
    assert sorted(acts.pause) == [(BENE, 0), (LIS, 0)]
    g.take(40)  # the beneficiaries (earlier timestamps); no new record of a paused input arrives to tell
    assert g.drained().resume == [(BENE, 0)] and g.paused == {LIS}
    g.take(24)
    assert not g.drained() and g.paused == {LIS}  # 6 left: above half of the limit
    g.take(1)
    assert g.drained().resume == [(LIS, 0)] and not g.paused


def test_after_a_rebalance_the_group_forgets_its_pauses() -> None:
    g = group({BENE: 0, LIS: 0, MAGI: 0, ENROLL: 100}, max_buffered=2)
    assert g.route([rec(ENROLL, i, 5) for i in range(3)]).pause
    g.rebalanced()  # Faust fetches every assigned partition again
    assert not g.paused and g.route([rec(ENROLL, 3, 5)]).pause == [(ENROLL, 0)]


# --------------------------------------------------------------------------- fetch repair, as actions
def test_a_jump_is_sought_back_and_records_fetched_before_the_seek_are_dropped() -> None:
    clock = Clock()
    g = group({BENE: 0, LIS: 0, MAGI: 0, ENROLL: 10}, clock)
    acts = g.route([rec(ENROLL, 0, 1), rec(ENROLL, 4, 1), rec(ENROLL, 5, 1)])
    assert acts.seek == [((ENROLL, 0), 1)] and acts.skipped == {ENROLL: 3}
    assert [s.offset for s in g.inputs[ENROLL].buffer] == [0]
    clock.now = 1.0
    assert not g.route([rec(ENROLL, 6, 1)])  # fetched before the seek: dropped, nothing asked
    assert [s.offset for s in g.inputs[ENROLL].buffer] == [0]
    assert not g.route([rec(ENROLL, 1, 1), rec(ENROLL, 2, 1), rec(ENROLL, 3, 1), rec(ENROLL, 4, 1)])
    assert [s.offset for s in g.inputs[ENROLL].buffer] == [0, 1, 2, 3, 4]


def test_records_before_the_seek_are_taken_again_after_the_resync_window() -> None:
    clock = Clock()
    g = group({BENE: 0, LIS: 0, MAGI: 0, ENROLL: 10}, clock)
    g.route([rec(ENROLL, 0, 1), rec(ENROLL, 3, 1)])
    clock.now = order.RESYNC_S
    g.route([rec(ENROLL, 3, 1)])  # the sought offset never came: after RESYNC_S the group stops dropping
    assert [s.offset for s in g.inputs[ENROLL].buffer] == [0]  # ... and 3 is a jump again: sought once more
    assert g.repair._resync[ENROLL][0] == 1


def test_offsets_that_never_come_are_given_up_after_max_seeks() -> None:
    """order.py's give-up: after MAX_SEEKS fetches of the same offsets the group goes on from the later record."""
    clock = Clock()
    g = group({BENE: 0, LIS: 0, MAGI: 0, ENROLL: 10}, clock)
    g.route([rec(ENROLL, 0, 1)])
    seeks = []
    for n in range(order.MAX_SEEKS + 1):
        clock.now = (n + 1) * (order.RESYNC_S + 1)  # each re-fetch brings the jump again, after the window
        acts = g.route([rec(ENROLL, 3, 1)])
        seeks += acts.seek
        assert acts.skipped == {ENROLL: 2}
    assert seeks == [((ENROLL, 0), 1)] * order.MAX_SEEKS  # the last jump is accepted: no more seek
    assert [s.offset for s in g.inputs[ENROLL].buffer] == [0, 3]
    assert [s.offset for s in g.take(10)] == [0, 3]


def test_records_handed_to_faust_but_lost_are_fetched_again_after_refetch_s() -> None:
    clock = Clock()
    hw = {BENE: 1, LIS: 0, MAGI: 0, ENROLL: 3}
    g = group(hw, clock)
    positions = {(ENROLL, 0): 3}
    g.route([rec(BENE, 0, 5)])
    assert g.take(10) == [] and g.inputs[ENROLL].wait_started == 0.0  # waits: enrollment-requests lags
    position = lambda t, p: positions.get((t, p))  # noqa: E731
    assert not g.refetch(position)  # not waiting long enough yet
    clock.now = order.REFETCH_S
    assert not g.refetch(position)  # ahead since now: on its way through Faust's channel?
    clock.now = 2 * order.REFETCH_S
    acts = g.refetch(position)
    assert acts.seek == [((ENROLL, 0), 0)] and acts.refetched == {ENROLL: 1}
    clock.now = 2 * order.REFETCH_S + 1
    assert not g.refetch(position)  # the seek put the position back: the next wait starts afresh


def test_records_not_handed_over_yet_are_left_alone() -> None:
    """Position at the next expected offset: its records are only not fetched yet; seeking would lose its turn."""
    clock = Clock()
    g = group({BENE: 1, LIS: 0, MAGI: 0, ENROLL: 3}, clock)
    g.route([rec(BENE, 0, 5)])
    g.take(10)
    for t in (10.0, 100.0, 1000.0):  # at the next expected offset (0), however long
        clock.now = t
        assert not g.refetch(lambda tp, p: 0)
    for t in (2000.0, 3000.0):  # not known (a rebalance)
        clock.now = t
        assert not g.refetch(lambda tp, p: None)
