"""streams.runtime.consume.Intake: back-pressure per partition, as Kafka Streams' buffered.records.per.partition."""
from __future__ import annotations

from typing import Any

from streams.runtime.consume import Intake


class Consumer:
    """Records Faust's flow-control hooks (``on_buffer_full`` / ``on_buffer_drop``)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, int]] = []

    def on_buffer_full(self, tp: Any) -> None:
        self.calls.append(("full", tp.topic, tp.partition))

    def on_buffer_drop(self, tp: Any) -> None:
        self.calls.append(("drop", tp.topic, tp.partition))


def test_a_partition_over_the_limit_is_paused_once_and_resumed_at_half() -> None:
    consumer = Consumer()
    intake = Intake(lambda: consumer, lambda: 1, max_buffered=10)
    tp = ("enrollment-requests", 3)
    for n in (5, 11, 12, 8):
        intake.pressure(tp, n)
    assert consumer.calls == [("full", "enrollment-requests", 3)] and intake.paused == {tp}
    intake.pressure(tp, 5)
    assert consumer.calls[-1] == ("drop", "enrollment-requests", 3) and not intake.paused


def test_a_paused_partition_is_resumed_when_its_buffer_is_applied_not_only_when_records_arrive() -> None:
    consumer = Consumer()
    intake = Intake(lambda: consumer, lambda: 1, max_buffered=10)
    held = {("enrollment-requests", 3): 40, ("lis-status-changes", 3): 30}
    for tp, n in held.items():
        intake.pressure(tp, n)
    assert intake.paused == set(held)
    # the group applied the enrollments (no new record of a paused partition arrives to tell)
    held[("enrollment-requests", 3)] = 0
    intake.drained(lambda tp: held[tp])
    assert intake.paused == {("lis-status-changes", 3)}
    assert consumer.calls[-1] == ("drop", "enrollment-requests", 3)
    held[("lis-status-changes", 3)] = 6
    intake.drained(lambda tp: held[tp])
    assert intake.paused == {("lis-status-changes", 3)}  # above half of the limit: still paused
    held[("lis-status-changes", 3)] = 5
    intake.drained(lambda tp: held[tp])
    assert not intake.paused and consumer.calls.count(("drop", "lis-status-changes", 3)) == 1
