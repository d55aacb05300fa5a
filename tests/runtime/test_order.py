"""streams.runtime.order: the records of one partition number in record-timestamp order (Kafka Streams' rule)."""
from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streams import topics
from streams.runtime.deadletters import Source
from streams.runtime.order import CAUGHT_UP, LAGGING, UNKNOWN, CommandInput, Group

BENE, LIS, MAGI, ENROLL = topics.MEMBER_INPUTS


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def group(hw: dict[str, int | None], clock: Clock | None = None, idle: float = 2.0) -> Group:
    g = Group(0, topics.MEMBER_INPUTS, max_idle_s=idle, highwater=lambda t, p: hw.get(t), clock=clock or Clock())
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
