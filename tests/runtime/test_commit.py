"""streams.runtime.commit: a commit flushes first, commits only what was processed, and nothing if the flush fails."""
from __future__ import annotations

import asyncio

import pytest

from streams.runtime.commit import Checkpoint
from streams.runtime.send import DeliveryFailed


class FakeSender:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.events: list[str] = []

    async def flush(self) -> None:
        self.events.append("flush")
        if self.fail:
            raise DeliveryFailed("refused")


def test_flush_then_commit_the_offset_after_the_last_processed_record() -> None:
    sender = FakeSender()
    committed: list[dict] = []

    async def commit(offsets: dict) -> bool:
        sender.events.append("commit")
        committed.append(dict(offsets))
        return True

    cp = Checkpoint(sender, commit, interval_s=2.0)  # type: ignore[arg-type]
    cp.done("t", 0, 5)
    cp.done("t", 0, 3)  # an older offset does not move it back
    cp.done("u", 1, 0)
    heard: list[dict] = []
    cp.on_committed.append(lambda offs: heard.append(dict(offs)))
    assert asyncio.run(cp.commit()) == {("t", 0): 6, ("u", 1): 1}
    assert sender.events == ["flush", "commit"] and heard == committed
    assert asyncio.run(cp.commit()) == {}  # nothing new: only the flush
    assert cp.committed_offset("t", 0) == 6


def test_a_failed_flush_commits_nothing() -> None:
    calls: list[dict] = []

    async def commit(offsets: dict) -> bool:
        calls.append(dict(offsets))
        return True

    cp = Checkpoint(FakeSender(fail=True), commit, interval_s=2.0)  # type: ignore[arg-type]
    cp.done("t", 0, 1)
    with pytest.raises(DeliveryFailed):
        asyncio.run(cp.commit())
    assert calls == [] and cp.committed_offset("t", 0) is None


def test_a_refused_commit_is_not_recorded() -> None:
    async def commit(offsets: dict) -> bool:
        return False

    cp = Checkpoint(FakeSender(), commit, interval_s=2.0)  # type: ignore[arg-type]
    cp.done("t", 0, 1)
    assert asyncio.run(cp.commit()) == {} and cp.committed_offset("t", 0) is None
