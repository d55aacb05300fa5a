"""Restoring the member table (issue 15): the whole changelog on an empty disk, only the tail on the same disk,
in partd's own batches (streams/kafka/internals/restore.py), and no outbox kept for members at rest."""
from __future__ import annotations

from collections import Counter

import pytest

from streams import topics
from streams.kafka.internals.store import read_stopped
from streams.runtime import state as st
from streams.tools import sample
from streams.tools.bench import scrape
from tests import kafka_read
from tests.integration.conftest import Cluster
from tests.integration.test_restart import _mbi

pytestmark = pytest.mark.integration

N = 200


def _changelog_end(cluster: Cluster) -> int:
    """Records in the member table's changelog (read with kafka-python: tests/kafka_read.py)."""
    return sum(kafka_read.ends(cluster.bootstrap, [topics.member_changelog(cluster.group)]).values())


def _changelog_outboxes(cluster: Cluster) -> int:
    return sum(1 for r in kafka_read.read(cluster.bootstrap, [topics.member_changelog(cluster.group)])
               if st.outbox_bytes(r.value))


def _enroll(cluster: Cluster, mbis: list[str], tag: str) -> dict[str, str]:
    """A TC 61 into S7101-001 for every member; their TRCs (011 the first time, 109 once enrolled).

    Exactly one reply per transaction (counted: a reply sent twice fails here, it cannot hide in a dict)."""
    cluster.publish([("enrollment-requests", sample._txn(f"{tag}-{i:04d}", m, 61, "S7101", "001", "2027-01-01"))
                     for i, m in enumerate(mbis)])
    cluster.wait({"enrollment-requests"})
    mine = [r for r in cluster.read("trr-replies") if r["plan_tracking_id"].startswith(tag + "-")]
    assert Counter(r["plan_tracking_id"] for r in mine) == Counter({f"{tag}-{i:04d}": 1 for i in range(len(mbis))})
    return {r["mbi"]: r["transaction_reply_code"] for r in mine}


def _at_rest(data_dir: object) -> tuple[int, int]:
    """(members, members whose stored value still has an outbox) in a stopped worker's database."""
    values = [v for _, k, v in read_stopped(data_dir) if k[:1] != b"\x00"]
    return len(values), sum(1 for v in values if st.outbox_bytes(v))


def test_empty_disk_restores_everything_same_disk_only_what_changed(cluster: Cluster) -> None:
    mbis = sorted({_mbi(i) for i in range(N)})
    w1 = cluster.worker("w1")
    cluster.publish([r for r in sample.STAGE_REFERENCE if r[0] == "plan-year-updates"])
    cluster.publish([("beneficiary-updates", sample._bene(m, "Test", f"Member{i}", "FL")) for i, m in enumerate(mbis)])
    cluster.wait({"plan-year-updates", "beneficiary-updates"})
    assert set(_enroll(cluster, mbis, "R1").values()) == {"011"}
    assert scrape(w1.web_port)["partd_restore_records_total"] == 0  # a new group: nothing to restore
    assert w1.stop() == 0, w1.log_tail()
    at_stop = _changelog_end(cluster)
    # the changelog keeps each value as sent (outbox included: a successor may need it after a crash) ...
    assert _changelog_outboxes(cluster) >= N
    # ... the worker's own database keeps no outbox once the commit covered it
    assert _at_rest(cluster.tmp / "w1") == (N, 0)

    w2 = cluster.worker("w2")  # an empty disk: every partition's whole changelog
    second = _enroll(cluster, mbis, "R2")
    assert second == {m: "109" for m in mbis}, "members lost by the restore"
    metrics = scrape(w2.web_port)
    assert metrics["partd_restore_records_total"] == at_stop
    assert metrics["partd_restore_seconds_total"] > 0
    assert w2.stop() == 0, w2.log_tail()
    written = _changelog_end(cluster) - at_stop
    assert written >= N
    assert _at_rest(cluster.tmp / "w2") == (N, 0)  # restored without the outboxes the commits covered

    w1 = cluster.worker("w1")  # its own disk again: only what w2 wrote since w1 stopped
    third = _enroll(cluster, mbis, "R3")
    assert third == {m: "109" for m in mbis}
    assert scrape(w1.web_port)["partd_restore_records_total"] == written
