"""streams.runtime.gap_repair: where fetched records go in a batch (pure part; the broker part is in tests/faults/test_crash.py)."""
from __future__ import annotations

import pytest

from streams.runtime.deadletters import Source
from streams.runtime.gap_repair import faust_timestamp_ms, merge_in_order


def _s(topic: str, partition: int, offset: int) -> Source:
    return Source(topic, partition, offset, b"k", b"v", 0)


def test_fetched_records_go_before_the_next_delivered_record_of_their_partition() -> None:
    delivered = [_s("e", 0, 10), _s("l", 1, 3), _s("e", 0, 14), _s("e", 1, 7)]
    contexts = ["c0", "c1", "c2", "c3"]
    missing = {("e", 0): [_s("e", 0, 12), _s("e", 0, 11), _s("e", 0, 13)], ("e", 1): [_s("e", 1, 5), _s("e", 1, 6)]}
    out, ctx = merge_in_order(delivered, contexts, missing)
    assert [(s.topic, s.partition, s.offset) for s in out] == [
        ("e", 0, 10), ("l", 1, 3), ("e", 0, 11), ("e", 0, 12), ("e", 0, 13), ("e", 0, 14),
        ("e", 1, 5), ("e", 1, 6), ("e", 1, 7),
    ]
    assert ctx == ["c0", "c1", "c2", "c2", "c2", "c2", "c3", "c3", "c3"]


def test_nothing_missing_keeps_the_batch() -> None:
    delivered = [_s("e", 0, 1), _s("e", 0, 2)]
    assert merge_in_order(delivered, ["a", "b"], {}) == (delivered, ["a", "b"])


def test_a_fetched_record_after_every_delivered_one_is_an_error() -> None:
    with pytest.raises(ValueError):
        merge_in_order([_s("e", 0, 1)], ["a"], {("e", 0): [_s("e", 0, 5)]})


def test_timestamps_match_what_a_faust_event_gives() -> None:
    for ms in (1_760_000_000_123, 1_700_000_000_001, 0):
        assert faust_timestamp_ms(ms) == int((ms / 1000.0) * 1000)
    assert faust_timestamp_ms(None) is None and faust_timestamp_ms(-1) is None
