"""Two ``partd worker`` processes on one broker split the partitions; both do work; every reply arrives."""
from __future__ import annotations

import time

import pytest

from streams.tools import sample
from tests.integration.test_restart import _mbi
from tests.ops.conftest import Cluster
from tests.ops.prom import sample as metric
from tests.ops.prom import scrape

pytestmark = pytest.mark.integration
TOPIC = "enrollment-requests"
N = 60


def _assigned(port: int) -> float:
    return metric(scrape(port), "partd_assigned_partitions", topic=TOPIC) or 0.0


def test_two_workers_split_partitions_and_both_work(cluster: Cluster) -> None:
    w1 = cluster.worker("w1")
    w2 = cluster.worker("w2")
    deadline = time.monotonic() + 90
    split = (0.0, 0.0)
    while time.monotonic() < deadline:
        try:
            split = (_assigned(w1.web_port), _assigned(w2.web_port))
        except OSError:
            split = (0.0, 0.0)
        if split[0] > 0 and split[1] > 0 and sum(split) == 4:
            break
        time.sleep(0.5)
    assert split[0] > 0 and split[1] > 0 and sum(split) == 4, (split, w1.log_tail(), w2.log_tail())

    mbis = sorted({_mbi(i) for i in range(N)})
    cluster.publish([r for r in sample.STAGE_REFERENCE if r[0] == "plan-year-updates"])
    cluster.publish([("beneficiary-updates", sample._bene(m, "Test", f"Member{i}", "FL")) for i, m in enumerate(mbis)])
    cluster.wait({"plan-year-updates", "beneficiary-updates"})
    cluster.publish([("enrollment-requests", sample._txn(f"MW-{i:04d}", m, 61, "S7101", "001", "2027-01-01"))
                     for i, m in enumerate(mbis)])
    cluster.wait({TOPIC})
    replies = cluster.read("trr-replies", expect=N)
    assert sorted(r["transaction_reply_code"] for r in replies) == ["011"] * N

    m1, m2 = scrape(w1.web_port), scrape(w2.web_port)
    e1 = metric(m1, "partd_events_in_total", topic=TOPIC) or 0
    e2 = metric(m2, "partd_events_in_total", topic=TOPIC) or 0
    r1 = metric(m1, "partd_trr_replies_total", trc="011") or 0
    r2 = metric(m2, "partd_trr_replies_total", trc="011") or 0
    print(f"partitions {split}; enrollments processed w1={e1:.0f} w2={e2:.0f}; replies w1={r1:.0f} w2={r2:.0f}")
    assert e1 > 0 and e2 > 0
    assert e1 + e2 == N
    assert r1 + r2 == N
