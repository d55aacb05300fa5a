"""Issue 2's done-when, end to end: real broker, real worker process, independent client."""
from __future__ import annotations

import pytest

from streams.tools import sample
from tests.integration.conftest import Cluster

pytestmark = pytest.mark.integration


def _reference(c: Cluster) -> None:
    c.publish(sample.STAGE_REFERENCE)
    c.wait({"plan-year-updates", "beneficiary-updates"})


def test_enroll_duplicate_garbage_then_next(cluster: Cluster) -> None:
    cluster.worker()
    _reference(cluster)
    txn = dict(sample._txn("IT-0001", "1EG4TE5MK73", 61, "S7101", "001", "2027-01-01"))
    cluster.publish([("enrollment-requests", txn)])
    cluster.wait({"enrollment-requests"})
    first = cluster.read_keyed("trr-replies")
    assert [(k, r["transaction_reply_code"], r["mbi"], r["plan_tracking_id"]) for k, r in first] == [
        ("S7101", "011", "1EG4TE5MK73", "IT-0001")
    ]
    # The very same transaction again: already enrolled in that PBP.
    cluster.publish([("enrollment-requests", txn)])
    cluster.wait({"enrollment-requests"})
    replies = cluster.read("trr-replies", expect=2)
    assert sorted(r["transaction_reply_code"] for r in replies) == ["011", "109"]
    # Garbage bytes: one dead letter with the bytes untouched, and the worker goes on.
    garbage = b"\x00\x00\x00\x00\x01\xff\xfe definitely not avro"
    cluster.publish([("enrollment-requests", "1EG4TE5MK73", garbage)], raw=True)
    nxt = sample._txn("IT-0002", "3GJ6VG7PM95", 61, "S7303", "001", "2027-01-01")
    cluster.publish([("enrollment-requests", nxt)])
    cluster.wait({"enrollment-requests"})
    dead = cluster.read("dead-letters", expect=1)
    assert len(dead) == 1
    assert dead[0]["raw_value"] == garbage
    assert dead[0]["source_topic"] == "enrollment-requests"
    assert dead[0]["raw_key"] == b"1EG4TE5MK73"
    assert dead[0]["error_code"] in {"UNDECODABLE", "UNKNOWN_SCHEMA_ID"}
    replies = cluster.read_keyed("trr-replies")
    assert ("S7303", "011") in [(k, r["transaction_reply_code"]) for k, r in replies]
    assert len(replies) == 3
    assert all(w.alive() for w in cluster.workers)


def test_full_sample_gives_every_expected_reply(cluster: Cluster) -> None:
    cluster.worker()
    _reference(cluster)
    cluster.publish(sample.STAGE_ENROLL)
    cluster.wait({"enrollment-requests"})
    cluster.publish(sample.STAGE_CHANGE)
    cluster.publish(sample.GARBAGE, raw=True)
    cluster.wait({"enrollment-requests", "lis-status-changes"})
    replies = cluster.read_keyed("trr-replies")
    got = sorted((r["plan_tracking_id"] or r["mbi"], k, r["transaction_reply_code"]) for k, r in replies)
    expected = sorted([
        ("SAMPLE-0001", "S7101", "011"), ("SAMPLE-0002", "S7101", "109"), ("SAMPLE-0003", "S7202", "011"),
        ("SAMPLE-0004", "S7303", "011"), ("SAMPLE-0005", "S7999", "107"), ("SAMPLE-0006", "S7303", "037"),
        ("SAMPLE-0007", "S7101", "036"), ("SAMPLE-0008", "S7101", "007"), ("SAMPLE-0009", "S7101", "008"),
        ("SAMPLE-0010", "S7303", "104"), ("SAMPLE-0011", "S7101", "204"),
        ("SAMPLE-0012", "S7101", "011"), ("2FH5UF6NK84", "S7202", "014"),
        ("SAMPLE-0013", "S7303", "013"), ("SAMPLE-0014", "S7303", "291"), ("SAMPLE-0015", "S7303", "209"),
        ("1EG4TE5MK73", "S7101", "121"),
    ])
    assert got == expected, got
    for k, r in replies:  # each plan reads its own: the key is the contract
        assert k == r["contract_id"]
    dead = cluster.read("dead-letters", expect=3)
    codes = sorted(d["error_code"] for d in dead)
    assert "LIS_PERIOD_OVERLAP" in codes
    assert len(dead) == 3
