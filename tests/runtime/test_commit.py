"""streams.runtime.commit: the delivery rule over partition tasks (prepare, flush, commit, post-commit)."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from streams.runtime.commit import Checkpoint
from streams.runtime.send import DeliveryFailed

ROOT = Path(__file__).resolve().parents[2]


class FakeSender:
    def __init__(self, events: list, fail: bool = False) -> None:
        self.fail = fail
        self.events = events

    async def flush(self) -> None:
        self.events.append("flush")
        if self.fail:
            raise DeliveryFailed("refused")


class FakeTask:
    """The part of a PartitionTask the rule calls, journaled."""

    def __init__(self, name: str, offsets: dict, events: list) -> None:
        self.name, self._offsets, self.events = name, offsets, events
        self.after: list[bool] = []

    def prepare_commit(self) -> Any:
        self.events.append(f"prepare {self.name}")
        return dict(self._offsets)

    def offsets(self, prepared: Any) -> dict:
        return prepared

    async def post_commit(self, prepared: Any, committed: bool) -> None:
        self.events.append(f"post {self.name}")
        self.after.append(committed)


def _checkpoint(events: list, ok: bool = True, fail: bool = False) -> tuple[Checkpoint, list]:
    calls: list[dict] = []

    async def commit(offsets: dict) -> bool:
        events.append("commit")
        calls.append(dict(offsets))
        return ok

    return Checkpoint(FakeSender(events, fail), commit, interval_s=2.0), calls  # type: ignore[arg-type]


def test_prepare_every_task_flush_commit_all_at_once_then_post_commit() -> None:
    events: list = []
    cp, calls = _checkpoint(events)
    a = FakeTask("a", {("t", 0): 6}, events)
    b = FakeTask("b", {("t", 1): 1, ("u", 1): 3}, events)
    assert asyncio.run(cp.commit([a, b])) == {("t", 0): 6, ("t", 1): 1, ("u", 1): 3}
    assert events == ["prepare a", "prepare b", "flush", "commit", "post a", "post b"]
    assert calls == [{("t", 0): 6, ("t", 1): 1, ("u", 1): 3}] and a.after == b.after == [True]
    assert cp.commits == 1


def test_a_failed_flush_commits_nothing_and_nothing_after() -> None:
    events: list = []
    cp, calls = _checkpoint(events, fail=True)
    a = FakeTask("a", {("t", 0): 1}, events)
    with pytest.raises(DeliveryFailed):
        asyncio.run(cp.commit([a]))
    assert calls == [] and a.after == [] and events == ["prepare a", "flush"]


def test_a_refused_commit_is_not_recorded_but_the_flush_still_counts() -> None:
    events: list = []
    cp, _ = _checkpoint(events, ok=False)
    a = FakeTask("a", {("t", 0): 1}, events)
    assert asyncio.run(cp.commit([a])) == {} and a.after == [False] and cp.commits == 0


def test_nothing_processed_still_flushes_and_finishes_without_a_commit_request() -> None:
    events: list = []
    cp, calls = _checkpoint(events)
    a = FakeTask("a", {}, events)
    assert asyncio.run(cp.commit([a])) == {}
    assert events == ["prepare a", "flush", "post a"] and calls == [] and a.after == [False]


def test_due_every_interval() -> None:
    now = [0.0]

    async def commit(offsets: dict) -> bool:
        return True

    cp = Checkpoint(FakeSender([]), commit, interval_s=2.0, clock=lambda: now[0])  # type: ignore[arg-type]
    assert not cp.due()
    now[0] = 2.0
    assert cp.due()
    asyncio.run(cp.commit([]))
    assert not cp.due()


def test_the_rule_and_the_docs_name_the_outbox_bound() -> None:
    from streams.runtime import commit, state

    assert state.MAX_ENTRIES == 32
    assert "MAX_ENTRIES` (32)" in commit.Checkpoint.commit.__doc__
    assert "32 entries" in (ROOT / "docs" / "delivery.md").read_text()
