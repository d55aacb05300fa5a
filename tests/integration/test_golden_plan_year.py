"""Issue 22: the plan year carried to its end through a real broker and worker (tests/golden/plan_year).

From the July benchmark to January 1: a chooser whose premium rises (the tan letter compared with last
year's benchmark read from lis-benchmarks), a plan that does not renew (its plan-level duty, the
reassignment of its LIS members, the year end for the others), someone who re-enrolls in their old plan in
November (withdrawals), a full-benefit dual left without a target, the second run, the December notice and
the year end. The expected records were written by hand (README, every line's ``_why``). The same log runs
live (each stage settled) and from a backlog (published before the worker starts): both give the expected
records and byte-identical outputs.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from streams import topics
from streams.kafka.serde import Serde
from tests.integration import golden
from tests.integration.conftest import Cluster, fresh_cluster

pytestmark = pytest.mark.integration

DIR = golden.GOLDEN / "plan_year"

KEEP = {
    # what happens from the July benchmark on (the set-up's own 011s and 121s are of 2025)
    "trr-replies": lambda r: r["cms_processing_timestamp"] >= dt.datetime(2026, 7, 1, tzinfo=dt.timezone.utc),
    # last year's benchmark is an input of the scenario
    "lis-benchmarks": lambda r: r["plan_year"] == 2027,
}


def _withdrawals_name_what_they_withdraw(cluster: Cluster) -> int:
    """Every *_WITHDRAWN record names (``withdrawn_notice_id``) a record of the same member and kind that was
    issued; every withdrawn list entry matches an entry of that list. Returns how many were checked."""
    def name(v: Any) -> str:
        return getattr(v, "value", v)

    n = 0
    for topic, same in (("beneficiary-notices", lambda r, o: name(o["notice_type"]) + "_WITHDRAWN" == name(r["notice_type"])),
                        ("plan-notices", lambda r, o: o["obligation"] == r["obligation"] and name(o["notice_type"]) == "OBLIGATION")):
        records = [r for _, r in cluster.read_keyed(topic)]
        by_id = {r["notice_id"]: r for r in records}
        for r in records:
            if name(r["notice_type"]).endswith("_WITHDRAWN"):
                original = by_id[r["withdrawn_notice_id"]]
                assert original["mbi"] == r["mbi"] and same(r, original), (r, original)
                n += 1
    entries = [(k, r) for k, r in cluster.read_keyed("state-reassignment-lists")]
    for key, r in entries:
        if name(r["list_type"]).endswith("_WITHDRAWN"):
            base = name(r["list_type"]).removesuffix("_WITHDRAWN")
            assert any(k == key and name(o["list_type"]) == base and o["mbi"] == r["mbi"] for k, o in entries), r
            n += 1
    return n


def _outputs(cluster: Cluster) -> dict[str, Counter[tuple[bytes | None, bytes]]]:
    return {t: Counter(cluster.read_raw(t)) for t in topics.OUTPUTS}


def test_golden_plan_year_live_and_from_a_backlog(tmp_path: Path, serde: Serde) -> None:
    inputs, expected = golden.load(DIR / "inputs.jsonl"), golden.load(DIR / "expected.jsonl")
    runs: dict[str, Any] = {}
    with fresh_cluster(tmp_path / "live", serde) as cluster:
        cluster.worker()
        golden.run(cluster, inputs)
        golden.compare(cluster, expected, keep=KEEP)
        # 2 letters, 3 obligations, 2 list entries (README)
        assert _withdrawals_name_what_they_withdraw(cluster) == 7
        runs["live"] = _outputs(cluster)
    with fresh_cluster(tmp_path / "backlog", serde) as cluster:
        golden.run(cluster, inputs, settle=False)
        cluster.worker()
        golden.settle_all(cluster, inputs)
        golden.compare(cluster, expected, keep=KEEP)
        runs["backlog"] = _outputs(cluster)
    for topic in topics.OUTPUTS:
        assert runs["live"][topic] == runs["backlog"][topic], f"{topic}: live and backlog differ"
