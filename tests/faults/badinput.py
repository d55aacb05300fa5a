"""Input logs for the worker fault tests: valid records interleaved with bad ones, from a fixed seed.

Every record says what must become of it (``expect``):

``dead``   a dead letter at its own position with its exact key and value bytes
           (``codes``: the error codes that fit);
``reply``  an enrollment transaction: exactly one reply whose ``plan_tracking_id``
           is its ``tracking_id`` (``trc``: the reply code, where the input fixes it);
``state``  a beneficiary or LIS record applied to the member's state;
``plan``   a plan-year update taken into the plan catalog.

Bad input that is valid Avro and names a real member but a wrong plan, election
type or MBI format is a *transaction* and gets a rejecting reply (107, 104, 007),
as CMS answers it; everything that cannot be decoded, has no or the wrong key, or
is rejected by a processor (bad codes, overlapping LIS periods, ...) is a dead letter.
"""
from __future__ import annotations

import asyncio
import json
import random
import struct
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any, Iterable

import fastavro
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2

import schemas
from streams.kafka.registry import SchemaRegistry
from streams.kafka.serde import Serde, frame
from streams.tools import sample
from streams.tools.jsonconv import record_from_json
from tests.faults.helpers import TS, as_plain, enrollment_stream, mbi, plain_schema

SERDE = Serde(SchemaRegistry.from_env())
DECODE_CODES = frozenset({"EMPTY_VALUE", "WRONG_MAGIC_BYTE", "UNKNOWN_SCHEMA_ID", "UNDECODABLE", "SCHEMA_MISMATCH"})
KNOWN_IDS = {v.id for t in schemas.topics() for v in schemas.topic_versions(t)}
HUGE = 200_000  # characters in a huge string (200 kB)


@dataclass(frozen=True)
class Rec:
    topic: str
    key: bytes | None
    value: bytes
    kind: str
    expect: str  # dead | reply | state | plan
    codes: frozenset[str] = frozenset()
    trc: str | None = None
    tracking_id: str | None = None
    partition: int | None = None  # explicit for keyless records; else the key's default partition
    mbi: str | None = None


@dataclass
class Log:
    """Stages published one after the other, waiting for the worker after each."""

    stages: list[tuple[list[Rec], set[str]]] = field(default_factory=list)

    @property
    def records(self) -> list[Rec]:
        return [r for recs, _ in self.stages for r in recs]


def encode(topic: str, value: dict[str, Any]) -> bytes:
    return SERDE.encode(topic, record_from_json(topic, value))


def encode_plain(topic: str, value: dict[str, Any], **ints: int) -> bytes:
    """A value whose date/instant fields named in ``ints`` are raw ints (days / millis), any size."""
    out = as_plain(topic, value)
    out.update(ints)
    buf = BytesIO()
    fastavro.schemaless_writer(buf, plain_schema(topic), out)
    return frame(SERDE.registry.id_for_topic(topic), buf.getvalue())


# --------------------------------------------------------------------------- bad records

GENERIC = ("random", "truncated", "magic", "unknown_id", "other_schema", "empty", "nokey", "mismatch")


def _generic(rnd: random.Random, topic: str, kind: str, key: bytes, good: bytes, other_key: bytes) -> Rec:
    if kind == "random":
        value = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 300)))
        return Rec(topic, key, value, kind, "dead", DECODE_CODES)
    if kind == "truncated":
        value = good[:rnd.randrange(len(good))]
        return Rec(topic, key, value, kind, "dead", frozenset({"EMPTY_VALUE", "UNDECODABLE"}))
    if kind == "magic":
        return Rec(topic, key, bytes([rnd.randint(1, 255)]) + good[1:], kind, "dead", frozenset({"WRONG_MAGIC_BYTE"}))
    if kind == "unknown_id":
        sid = rnd.choice([rnd.randint(14, 100), rnd.randint(114, 2**32 - 1)])
        assert sid not in KNOWN_IDS
        return Rec(topic, key, b"\x00" + struct.pack(">I", sid) + good[5:], kind, "dead", frozenset({"UNKNOWN_SCHEMA_ID"}))
    if kind == "other_schema":
        own = {v.id for v in schemas.topic_versions(topic)}
        sid = rnd.choice(sorted(KNOWN_IDS - own))
        return Rec(topic, key, b"\x00" + struct.pack(">I", sid) + good[5:], kind, "dead", frozenset({"SCHEMA_MISMATCH"}))
    if kind == "empty":
        return Rec(topic, key, b"", kind, "dead", frozenset({"EMPTY_VALUE"}))
    if kind == "nokey":
        return Rec(topic, None, good, kind, "dead", frozenset({"MISSING_KEY"}), partition=rnd.randrange(4))
    if kind == "mismatch":
        return Rec(topic, other_key, good, kind, "dead", frozenset({"KEY_MISMATCH"}))
    raise AssertionError(kind)


def _dead(topic: str, value: dict[str, Any] | bytes, kind: str, code: str, key: str | None = None) -> Rec:
    raw = value if isinstance(value, bytes) else encode(topic, value)
    k = key if key is not None else (value["mbi"] if isinstance(value, dict) else None)
    return Rec(topic, k.encode() if k is not None else None, raw, kind, "dead", frozenset({code}))


def bad_enrollment(rnd: random.Random, i: int, members: int) -> Rec:
    m = mbi(rnd.randrange(members))
    tid = f"BAD-E-{i:04d}"
    txn = sample._txn(tid, m, 61, "S7101", "001", "2027-01-01")
    good = encode("enrollment-requests", txn)
    kind = rnd.choice(GENERIC + ("bad_tc", "date_range", "instant_range", "bad_contract", "bad_pbp",
                                 "bad_election", "bad_mbi", "huge_mbi", "huge_name", "far_future"))
    topic = "enrollment-requests"
    if kind in GENERIC:
        return _generic(rnd, topic, kind, m.encode(), good, mbi(members + 10 + i).encode())
    if kind == "bad_tc":
        return _dead(topic, dict(txn, transaction_code=rnd.choice([0, 1, 99, -61, 2**31 - 1])), kind, "INVALID_TRANSACTION_CODE")
    if kind == "date_range":
        days = rnd.choice([3_000_000, -800_000, 2**31 - 1])
        return _dead(topic, encode_plain(topic, txn, effective_date=days), kind, "UNDECODABLE", m)
    if kind == "instant_range":
        return _dead(topic, encode_plain(topic, txn, submitted_at=rnd.choice([2**62, -(2**62), 253402300800000])), kind, "UNDECODABLE", m)
    # Valid Avro, a real member, something wrong in the transaction: a rejecting reply.
    if kind == "bad_contract":
        return _reply(dict(txn, contract_id=rnd.choice(["ZZ999", "S0000", "X", "S71O1"])), kind, "107")
    if kind == "bad_pbp":
        return _reply(dict(txn, pbp_id=rnd.choice(["999", "", "01"])), kind, "107")
    if kind == "far_future":  # the last month Python can represent: outside the rules' date range (issue 16)
        return _reply(dict(txn, effective_date="9999-12-01"), kind, "037")
    if kind == "bad_election":
        return _reply(dict(txn, election_type=rnd.choice(["Q", "ZZ", "1"])), kind, "104")
    if kind == "bad_mbi":
        bad = rnd.choice(["BADMBI", "00000000000", "1EG4TE5MK7", "1eg4te5mk73"])
        return _reply(dict(txn, mbi=bad), kind, "007")
    # Records over the size limit (docs/delivery.md): dead letters with a prefix, the size and the SHA-256.
    if kind == "huge_mbi":
        return _dead(topic, dict(txn, mbi="9" * HUGE), kind, "RECORD_TOO_LARGE")
    if kind == "huge_name":
        return _dead(topic, dict(txn, first_name="N" * HUGE, last_name="L" * HUGE), kind, "RECORD_TOO_LARGE")
    raise AssertionError(kind)


def _reply(txn: dict[str, Any], kind: str, trc: str | None) -> Rec:
    return Rec("enrollment-requests", txn["mbi"].encode(), encode("enrollment-requests", txn), kind, "reply",
               trc=trc, tracking_id=txn["tracking_id"], mbi=txn["mbi"])


def bad_lis(rnd: random.Random, i: int, members: int) -> Rec:
    m = mbi(rnd.randrange(members))
    lis = sample._lis(f"BAD-L-{i:04d}", m, "100", "1", "2026-01-01")
    good = encode("lis-status-changes", lis)
    topic = "lis-status-changes"
    kind = rnd.choice(GENERIC + ("bad_level", "bad_copay", "huge_level", "bad_period", "date_range", "instant_range", "bad_mbi"))
    if kind in GENERIC:
        return _generic(rnd, topic, kind, m.encode(), good, mbi(members + 10 + i).encode())
    if kind == "bad_level":
        return _dead(topic, dict(lis, premium_subsidy_level=rnd.choice(["999", "10", "", "abc"])), kind, "INVALID_CODE")
    if kind == "bad_copay":
        return _dead(topic, dict(lis, copay_level=rnd.choice(["6", "9", "-1", ""])), kind, "INVALID_CODE")
    if kind == "huge_level":
        return _dead(topic, dict(lis, premium_subsidy_level="1" * HUGE), kind, "RECORD_TOO_LARGE")
    if kind == "bad_period":
        return _dead(topic, dict(lis, start_date="2026-06-01", end_date="2026-05-31"), kind, "INVALID_PERIOD")
    if kind == "date_range":
        return _dead(topic, encode_plain(topic, lis, start_date=rnd.choice([3_000_000, -800_000])), kind, "UNDECODABLE", m)
    if kind == "instant_range":
        return _dead(topic, encode_plain(topic, lis, event_time=rnd.choice([2**62, -(2**62)])), kind, "UNDECODABLE", m)
    if kind == "bad_mbi":
        bad = rnd.choice(["BADMBI", "1EG4TE5MK7", "9" * HUGE])
        return _dead(topic, dict(lis, mbi=bad), kind, "RECORD_TOO_LARGE" if len(bad) > 100 else "INVALID_MBI")
    raise AssertionError(kind)


def overlap_lis(rnd: random.Random, i: int, members: int) -> Rec:
    """A second period that overlaps the member's open 100% period from 2026-01-01 (published after it)."""
    m = mbi(rnd.randrange(members))
    start = rnd.choice(["2026-03-01", "2026-06-01", "2027-01-01"])
    end = rnd.choice([None, "2027-12-31"])
    lis = sample._lis(f"OVERLAP-{i:04d}", m, rnd.choice(["050", "075", "025"]), "2", start, end)
    return _dead("lis-status-changes", lis, "overlap", "LIS_PERIOD_OVERLAP")


def bad_beneficiary(rnd: random.Random, i: int, members: int) -> Rec:
    n = rnd.randrange(members)
    m = mbi(n)
    bene = dict(sample._bene(m, f"First{n}", f"Last{n}", "FL"), event_time="2026-10-02T12:00:00Z")
    good = encode("beneficiary-updates", bene)
    topic = "beneficiary-updates"
    kind = rnd.choice(GENERIC + ("bad_state", "huge_state", "bad_mbi", "huge_mbi", "date_range", "instant_range"))
    if kind in GENERIC:
        return _generic(rnd, topic, kind, m.encode(), good, mbi(members + 10 + i).encode())
    if kind == "bad_state":
        return _dead(topic, dict(bene, state_code=rnd.choice(["ZZ", "", "fl", "XX"])), kind, "INVALID_CODE")
    if kind == "huge_state":
        return _dead(topic, dict(bene, state_code="F" * HUGE), kind, "RECORD_TOO_LARGE")
    if kind == "bad_mbi":
        return _dead(topic, dict(bene, mbi=rnd.choice(["BADMBI", "1EG4TE5MK7", "S" * 11])), kind, "INVALID_MBI")
    if kind == "huge_mbi":  # a 200 kB key and a 200 kB value: a dead letter of their prefixes
        return _dead(topic, dict(bene, mbi="9" * HUGE), kind, "RECORD_TOO_LARGE")
    if kind == "date_range":
        return _dead(topic, encode_plain(topic, bene, birth_date=rnd.choice([3_000_000, -800_000])), kind, "UNDECODABLE", m)
    if kind == "instant_range":
        return _dead(topic, encode_plain(topic, bene, event_time=rnd.choice([2**62, -(2**62)])), kind, "UNDECODABLE", m)
    raise AssertionError(kind)


def bad_plan(rnd: random.Random, i: int) -> Rec:
    plan = sample._plan(f"S9{i:03d}", "001", 2027, "11", "ORG-BAD", "20.00")
    key = f"S9{i:03d}-001-2027"
    good = encode("plan-year-updates", plan)
    topic = "plan-year-updates"
    kind = rnd.choice(("random", "truncated", "magic", "unknown_id", "other_schema", "empty", "bad_region", "bad_premium"))
    if kind == "bad_region":
        return _dead(topic, encode(topic, dict(plan, region=rnd.choice(["99", "00", "", "1"]))), kind, "INVALID_REGION", key)
    if kind == "bad_premium":
        return _dead(topic, encode(topic, dict(plan, basic_premium="-1.00")), kind, "INVALID_PREMIUM", key)
    return _generic(rnd, topic, kind, key.encode(), good, key.encode())


def garbage(rnd: random.Random, topic: str, key: str) -> Rec:
    """Undecodable bytes on a topic whose valid records this test does not send (cycle commands, MAGI)."""
    kind = rnd.choice(("random", "magic", "unknown_id", "other_schema", "empty"))
    body = bytes(rnd.randrange(256) for _ in range(rnd.randint(5, 80)))
    return _generic(rnd, topic, kind, key.encode(), b"\x00\x00\x00\x00\x05" + body, key.encode())


# --------------------------------------------------------------------------- the log

def fuzz_log(seed: int, members: int = 300, per_member: int = 4, bad: int = 200) -> Log:
    """About ``members * (2 + per_member) + bad`` records in five stages (module doc).

    Stages: plans (+ bad plans and cycle-command garbage); beneficiaries (+ bad ones,
    200 kB names, MAGI garbage); LIS (+ bad ones, overlaps at the end); transactions
    (+ bad ones); one last valid transaction (the worker still answers).
    """
    rnd = random.Random(seed)
    ref, txns = enrollment_stream(members, per_member)
    # One more member with no transactions: the last stage enrolls it (011).
    after = mbi(members)
    ref += [("beneficiary-updates", sample._bene(after, "After", "Member", "FL")),
            ("lis-status-changes", sample._lis("L-after", after, "100", "1", "2026-01-01"))]

    def valid(topic: str, value: dict[str, Any], expect: str) -> Rec:
        return Rec(topic, value["mbi"].encode(), encode(topic, value), "valid", expect, mbi=value["mbi"],
                   tracking_id=value.get("tracking_id"))

    def interleave(good: list[Rec], bad_recs: Iterable[Rec]) -> list[Rec]:
        out = list(good)
        for r in bad_recs:
            out.insert(rnd.randrange(len(out) + 1), r)
        return out

    n_plan, n_cycle, n_magi = 10, 5, 5
    n_bene = n_lis = (bad - n_plan - n_cycle - n_magi) * 3 // 10
    n_overlap = 10
    n_enroll = bad - n_plan - n_cycle - n_magi - n_bene - n_lis

    plans = [Rec("plan-year-updates", f"{p['contract_id']}-{p['pbp_id']}-{p['plan_year']}".encode(),
                 encode("plan-year-updates", p), "valid", "plan") for p in sample.PLANS]
    stage_plans = interleave(plans, [bad_plan(rnd, i) for i in range(n_plan)])
    stage_plans += [garbage(rnd, "cycle-commands", f"REASSIGNMENT_RUN-{2027 + i}") for i in range(n_cycle)]

    benes = [valid(t, v, "state") for t, v in ref if t == "beneficiary-updates"]
    # 200 kB names on an otherwise valid record: over the size limit, a dead letter (docs/delivery.md).
    for j in range(2):
        m = mbi(members + 1 + j)
        benes.append(_dead("beneficiary-updates", sample._bene(m, "F" * HUGE, "L" * HUGE, "FL"), "huge_name",
                           "RECORD_TOO_LARGE"))
    stage_benes = interleave(benes, [bad_beneficiary(rnd, i, members) for i in range(n_bene)])
    stage_benes += [garbage(rnd, "magi-applications", mbi(rnd.randrange(members))) for _ in range(n_magi)]

    lis = [valid(t, v, "state") for t, v in ref if t == "lis-status-changes"]
    stage_lis = interleave(lis, [bad_lis(rnd, i, members) for i in range(n_lis - n_overlap)])
    stage_lis += [overlap_lis(rnd, i, members) for i in range(n_overlap)]

    enr = [valid(t, v, "reply") for t, v in txns]
    stage_enr = interleave(enr, [bad_enrollment(rnd, i, members) for i in range(n_enroll)])

    last = [valid("enrollment-requests", sample._txn("AFTER-0001", after, 61, "S7101", "001", "2027-01-01"), "reply")]
    last = [Rec(r.topic, r.key, r.value, r.kind, r.expect, trc="011", tracking_id="AFTER-0001", mbi=after) for r in last]

    log = Log()
    log.stages = [
        (stage_plans, {"plan-year-updates", "cycle-commands"}),
        (stage_benes, {"beneficiary-updates", "magi-applications"}),
        (stage_lis, {"lis-status-changes"}),
        (stage_enr, {"enrollment-requests"}),
        (last, {"enrollment-requests"}),
    ]
    return log


# --------------------------------------------------------------------------- publishing and positions

def partition_of(rec: Rec, partitions: int) -> int:
    """The partition the producer puts ``rec`` in (aiokafka's default partitioner: murmur2 of the key)."""
    if rec.partition is not None:
        return rec.partition
    assert rec.key is not None
    return (murmur2(rec.key) & 0x7FFFFFFF) % partitions


def publish(bootstrap: str, recs: list[Rec], partitions: int) -> None:
    """Publish in order, each record in its partition, all with the fixed timestamp (a replayable log)."""

    async def run() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=1024 * 1024,
                                    max_request_size=4 * 1024 * 1024)
        await producer.start()
        try:
            futures = [await producer.send(r.topic, key=r.key, value=r.value, timestamp_ms=TS,
                                           partition=partition_of(r, partitions)) for r in recs]
            await producer.flush()
            for f in futures:
                await f
        finally:
            await producer.stop()

    asyncio.run(run())


def positions(log: Log, partitions: int) -> dict[tuple[str, int, int], Rec]:
    """(topic, partition, offset) of every record of ``log`` on a fresh broker."""
    next_offset: dict[tuple[str, int], int] = {}
    out: dict[tuple[str, int, int], Rec] = {}
    for r in log.records:
        tp = (r.topic, partition_of(r, partitions))
        off = next_offset.get(tp, 0)
        next_offset[tp] = off + 1
        out[(r.topic, tp[1], off)] = r
    return out


def summary(log: Log) -> dict[str, Any]:
    recs = log.records
    kinds: dict[str, int] = {}
    for r in recs:
        if r.kind != "valid":
            kinds[r.kind] = kinds.get(r.kind, 0) + 1
    return {
        "records": len(recs),
        "bad": sum(r.kind != "valid" for r in recs),
        "expect": {e: sum(r.expect == e for r in recs) for e in ("dead", "reply", "state", "plan")},
        "kinds": json.dumps(dict(sorted(kinds.items()))),
    }
