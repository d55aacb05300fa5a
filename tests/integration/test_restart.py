"""State survives a worker restart, including recovery from the changelog on a fresh disk.

This is the test that catches Tansu's end-offset bug (docs/tansu.md, quirk 1): the
changelog is written in multi-record batches; a worker restoring from it must
read it to the true high-water mark or some members are silently missing.
"""
from __future__ import annotations

import pytest

from streams.tools import sample
from tests.integration.conftest import Cluster

pytestmark = pytest.mark.integration

N = 120


def _mbi(i: int) -> str:
    # Valid MBI shape: digit, letter, alnum, digit, letter, alnum, digit, letter, letter, digit, digit.
    letters = "ACDEFGHJKMNPQRTUVWXY"
    return f"{1 + i % 9}{letters[i % 20]}{letters[(i // 20) % 20]}{i % 10}{letters[(i // 7) % 20]}A{(i // 3) % 10}KM{(i // 10) % 10}{i % 7}"


@pytest.mark.parametrize("fresh_disk", [False, True], ids=["same-disk", "fresh-disk"])
def test_tables_complete_after_restart(cluster: Cluster, fresh_disk: bool) -> None:
    w1 = cluster.worker("w1")
    mbis = sorted({_mbi(i) for i in range(N)})
    assert len(mbis) == N
    cluster.publish([r for r in sample.STAGE_REFERENCE if r[0] == "plan-year-updates"])
    cluster.publish([("beneficiary-updates", sample._bene(m, "Test", f"Member{i}", "FL")) for i, m in enumerate(mbis)])
    cluster.wait({"plan-year-updates", "beneficiary-updates"})
    cluster.publish([
        ("enrollment-requests", sample._txn(f"R1-{i:04d}", m, 61, "S7101", "001", "2027-01-01"))
        for i, m in enumerate(mbis)
    ])
    cluster.wait({"enrollment-requests"})
    assert sorted(r["transaction_reply_code"] for r in cluster.read("trr-replies", expect=N)) == ["011"] * N
    assert w1.stop() == 0, w1.log_tail()

    cluster.worker("w2" if fresh_disk else "w1")
    # Every member must still be known and enrolled: a second TC 61 into the same PBP is a duplicate (109).
    cluster.publish([
        ("enrollment-requests", sample._txn(f"R2-{i:04d}", m, 61, "S7101", "001", "2027-01-01"))
        for i, m in enumerate(mbis)
    ])
    cluster.wait({"enrollment-requests"})
    replies = cluster.read("trr-replies", expect=2 * N)
    second = {r["mbi"]: r["transaction_reply_code"] for r in replies if r["plan_tracking_id"].startswith("R2-")}
    assert len(second) == N
    wrong = {m: trc for m, trc in second.items() if trc != "109"}
    assert not wrong, f"{len(wrong)} members lost by the restart: {sorted(wrong.items())[:5]}"
