"""Fuzzed bad input through a real worker process (issue 7: faults and bad input).

One input log from a fixed seed (tests/faults/badinput.py): about 1,800 valid
records (plans, beneficiaries, LIS periods, enrollment transactions) with about
200 bad ones spread over the input topics (random bytes, truncated Avro, wrong
magic byte, unknown or foreign schema ids, no key, a key that is not the
record's MBI, invalid codes, dates and instants Python cannot represent,
overlapping LIS periods, 200 kB strings). Published stage by stage to a real
broker, processed by a real ``partd worker``. Then:

* the worker is alive and answers the last valid transaction, sent after all of it;
* every bad record that cannot be a transaction is on ``dead-letters`` at its own
  (topic, partition, offset) with its exact key and value bytes and a fitting code;
* every transaction (valid, or valid Avro with a wrong plan/election type/MBI) has
  exactly one reply with its ``plan_tracking_id``;
* records in = records answered + records applied to state + plan records + dead letters,
  and the member table equals the pure pipeline's over the same log;
* the same log on a fresh broker with a fresh worker gives byte-identical output topics.
"""
from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from streams import topics
from streams.kafka.serde import Serde
from streams.runtime import state as stored_state
from streams.runtime.deadletters import MAX_RAW_KEY, MAX_RAW_VALUE, Source
from streams.runtime.rules import process_batch
from streams.tools import sample
from tests.faults import integ
from tests.faults.badinput import (
    Log,
    Rec,
    encode,
    fuzz_log,
    positions,
    publish,
    summary,
)
from tests.faults.helpers import TS, catalog, mbi, utc
from tests.integration.conftest import PARTITIONS, Cluster, fresh_cluster

pytestmark = [pytest.mark.integration, pytest.mark.faults]

SEED = 20_260_507
WAIT = 240.0


def _drive(cluster: Cluster, log: Log) -> None:
    for recs, stage_topics in log.stages:
        publish(cluster.bootstrap, recs, PARTITIONS)
        cluster.wait(stage_topics, timeout=WAIT)


def _outputs(cluster: Cluster) -> dict[str, tuple[Counter, Counter, int]]:
    """Per output topic: (raw multiset of (key, value), the same without duplicates by id, duplicates)."""
    out = {}
    for topic in topics.OUTPUTS:
        sources = integ.read_sources(cluster.bootstrap, [topic])
        kept, dups = integ.dedupe_topic(cluster.serde, sources)
        out[topic] = (Counter((s.key, s.value) for s in sources), kept, dups)
    return out


def _second_run(tmp: Path, serde: Serde, log: Log) -> tuple[dict[str, tuple[Counter, Counter, int]], float]:
    """The same log on a fresh broker with a fresh worker (as test_cycle_determinism does)."""
    with fresh_cluster(tmp, serde) as cluster:
        worker = cluster.worker()
        t0 = time.monotonic()
        _drive(cluster, log)
        seconds = time.monotonic() - t0
        assert worker.alive(), worker.log_tail()
        return _outputs(cluster), seconds


def _reference(serde: Serde, log: Log, where: dict[tuple[str, int, int], Rec], sources: list[Source]) -> tuple[dict, Counter, int]:
    """The pure pipeline over the same log, stage by stage: (table, outputs, records applied)."""
    plans = catalog(serde.decode("plan-year-updates", r.value) for r in log.records if r.expect == "plan")
    stage_of = {id(r): n for n, (recs, _) in enumerate(log.stages) for r in recs}
    member = sorted((s for s in sources if s.topic in topics.MEMBER_INPUTS),
                    key=lambda s: (stage_of[id(where[(s.topic, s.partition, s.offset)])], s.topic, s.partition, s.offset))
    table: dict[bytes, bytes] = {}
    outputs: Counter = Counter()
    applied = 0
    for n in range(len(log.stages)):
        stage = [s for s in member if stage_of[id(where[(s.topic, s.partition, s.offset)])] == n]
        for start in range(0, len(stage), 500):
            res = process_batch(stage[start:start + 500], serde, lambda k: stored_state.decode(table.get(k)), plans)
            for k, stored in res.writes.items():
                table[k] = stored_state.encode(stored)
            applied += res.applied
            for topic, key, value, _ in res.sends:
                outputs[(topic, key.encode(), value)] += 1
    return {k: m for k, v in table.items() if (m := stored_state.member_of(v)) is not None}, outputs, applied


def test_fuzzed_log_through_a_worker_then_the_same_log_again(cluster: Cluster, serde: Serde, tmp_path: Path) -> None:
    log = fuzz_log(SEED)
    where = positions(log, PARTITIONS)
    worker = cluster.worker()
    t0 = time.monotonic()
    _drive(cluster, log)
    first_seconds = time.monotonic() - t0

    # The worker survived all of it, and answered the transaction sent after it (the last stage).
    assert worker.alive(), worker.log_tail()

    # What the broker holds is exactly the log, at the positions it was built for.
    used = sorted({r.topic for r in log.records})
    sources = integ.read_sources(cluster.bootstrap, used)
    assert len(sources) == len(log.records)
    for s in sources:
        r = where[(s.topic, s.partition, s.offset)]
        assert (s.key, s.value) == (r.key, r.value), f"{s.topic}[{s.partition}]@{s.offset} is not the record built for it"

    # Every output topic, and the same without duplicates by id, as a consumer reads it
    # (docs/delivery.md; a worker that is not interrupted sends none).
    first = _outputs(cluster)

    # Dead letters: one per bad record, at its position, with its exact bytes and a fitting code.
    dead = [(k, serde.decode("dead-letters", v)) for (k, v), n in first["dead-letters"][1].items() for _ in range(n)]
    at = Counter(integ.stable_id("dead-letters", d) for _, d in dead)
    expected_dead = {pos for pos, r in where.items() if r.expect == "dead"}
    assert set(at) == expected_dead, (
        f"not dead-lettered: {[(where[p].kind, p) for p in expected_dead - set(at)][:10]}; "
        f"dead-lettered but should not be: {[(where[p].kind, p) for p in set(at) - expected_dead][:10]}"
    )
    assert [p for p, n in at.items() if n != 1] == []
    for key, d in dead:
        r = where[integ.stable_id("dead-letters", d)]
        # the exact bytes, or (over the size limits) their prefix with the whole record's size and SHA-256
        assert d["raw_value"] == (r.value[:MAX_RAW_VALUE] if r.value is not None else None), \
            f"{r.kind}: the dead letter does not carry the exact bytes"
        assert d["raw_key"] == (r.key[:MAX_RAW_KEY] if r.key is not None else None)
        assert d["raw_value_size"] == (len(r.value) if r.value is not None else None)
        assert key == (r.key[:MAX_RAW_KEY] if r.key is not None else b"")
        assert d["error_code"] in r.codes, (r.kind, d["error_code"], d["error_message"][:300])
        assert d["received_at"] == utc(TS)  # the input record's own timestamp, not the wall clock

    # Replies: every transaction exactly one, by plan_tracking_id (after dropping duplicates by id).
    trr = [serde.decode("trr-replies", v) for (k, v), n in first["trr-replies"][1].items() for _ in range(n)]
    own = Counter(r["plan_tracking_id"] for r in trr if r["plan_tracking_id"] is not None)
    trc_of = {r["plan_tracking_id"]: r["transaction_reply_code"] for r in trr if r["plan_tracking_id"] is not None}
    transactions = [r for r in log.records if r.expect == "reply"]
    assert set(own) == {r.tracking_id for r in transactions}
    assert [t for t, n in own.items() if n != 1] == []
    for r in transactions:
        if r.trc is not None:
            assert trc_of[r.tracking_id] == r.trc, (r.kind, r.tracking_id[:40], trc_of[r.tracking_id])
    assert trc_of["AFTER-0001"] == "011"

    # State: the member table equals the pure pipeline's over the same log, and every record
    # applied to a member is at or below the member's applied offset for its topic.
    table = integ.changelog_table(cluster.bootstrap)
    ref_table, ref_outputs, ref_applied = _reference(serde, log, where, sources)
    assert table == ref_table
    state_recs = [(pos, r) for pos, r in where.items() if r.expect == "state"]
    applied = integ.changelog_applied(cluster.bootstrap)
    for (topic, _, offset), r in state_recs:
        assert applied[r.key][topic] >= offset
    plan_recs = [r for r in where.values() if r.expect == "plan"]

    # Counts in = answered + applied to state + plan records + dead letters (each record exactly once).
    records_in = len(sources)
    n_dead = len(at)
    assert records_in == len(own) + len(state_recs) + len(plan_recs) + n_dead
    assert ref_applied == len(own) + len(state_recs)  # the pipeline's own count of applied records

    # The worker's outputs of the member topics are exactly the pure pipeline's.
    worker_member_outputs: Counter = Counter()
    for topic, (_, kept, _) in first.items():
        for (k, v), n in kept.items():
            if topic == "dead-letters" and serde.decode(topic, v)["source_topic"] not in topics.MEMBER_INPUTS:
                continue
            worker_member_outputs[(topic, k, v)] += n
    assert worker_member_outputs == ref_outputs

    # Determinism with bad input: the same log, a fresh broker and worker, the same bytes.
    second, second_seconds = _second_run(tmp_path / "second", serde, log)
    for topic in topics.OUTPUTS:
        assert first[topic][1] == second[topic][1], f"{topic} differs between two runs of the same log"
        if first[topic][2] == second[topic][2] == 0:
            assert first[topic][0] == second[topic][0]

    info = summary(log)
    integ.report(
        "fuzz-worker", seed=SEED, records_in=records_in, bad_in=info["bad"],
        replies_out=sum(first["trr-replies"][1].values()), transactions_answered=len(own),
        state_records=len(state_recs), plan_records=len(plan_recs), dead_letters=n_dead,
        dead_letters_by_code=dict(sorted(Counter(d["error_code"] for _, d in dead).items())),
        duplicates_first_run=sum(first[t][2] for t in topics.OUTPUTS),
        duplicates_second_run=sum(second[t][2] for t in topics.OUTPUTS), first_run_s=round(first_seconds, 1), second_run_s=round(second_seconds, 1),
        kinds=info["kinds"],
    )


def test_large_records_are_dead_lettered_and_the_worker_goes_on(cluster: Cluster) -> None:
    """The records that used to stop the worker for good (docs/delivery.md, "Size limits").

    Seven transactions of one member with 200 kB tracking ids (each well under
    the producer's 1 MB), a beneficiary with a 1.1 MB name, and a 1.2 MB record
    of garbage: each becomes one dead letter (a bounded prefix of its bytes, its
    size and SHA-256); the next transaction is answered; a restarted worker
    does not stop on them again and sends nothing twice.
    """
    import hashlib

    from streams.runtime.deadletters import MAX_RAW_VALUE

    m, other = mbi(1), mbi(2)
    w1 = cluster.worker()
    cluster.publish([("plan-year-updates", p) for p in sample.PLANS], timestamp_ms=TS)
    cluster.wait({"plan-year-updates"}, timeout=WAIT)
    cluster.publish([("beneficiary-updates", x, encode("beneficiary-updates", sample._bene(x, "A", "B", "FL")))
                     for x in (m, other)], raw=True, timestamp_ms=TS)
    cluster.wait({"beneficiary-updates"}, timeout=WAIT)
    big = [sample._txn(f"{i}" + "T" * 200_000, m, 61 if i % 2 == 0 else 72, "S7101", "001", "2027-01-01")
           for i in range(7)]
    huge_name = encode("beneficiary-updates", sample._bene(m, "N" * 1_100_000, "B", "FL"))
    garbage = b"\x00\x00\x00\x00\x04" + bytes(1_200_000)
    bad = [("enrollment-requests", m, encode("enrollment-requests", t)) for t in big]
    bad += [("beneficiary-updates", m, huge_name), ("enrollment-requests", m, garbage)]
    cluster.publish(bad, raw=True, timestamp_ms=TS)
    cluster.wait({"enrollment-requests", "beneficiary-updates"}, timeout=WAIT)
    after = sample._txn("AFTER-0002", other, 61, "S7101", "001", "2027-01-01")
    cluster.publish([("enrollment-requests", other, encode("enrollment-requests", after))], raw=True, timestamp_ms=TS)
    cluster.wait({"enrollment-requests"}, timeout=WAIT)
    assert w1.alive(), w1.log_tail()

    own = Counter(r["plan_tracking_id"] for r in cluster.read("trr-replies") if r["plan_tracking_id"])
    assert own == Counter({"AFTER-0002": 1})
    dead = cluster.read("dead-letters")
    codes = Counter(d["error_code"] for d in dead)
    assert codes == Counter({"RECORD_TOO_LARGE": 9}), codes  # each over 64 kB: not even decoded
    values = {v for _, _, v in bad}
    for d in dead:
        assert d["truncated"] and len(d["raw_value"]) == MAX_RAW_VALUE
        whole = next(v for v in values if hashlib.sha256(v).hexdigest() == d["raw_value_sha256"])
        assert d["raw_value_size"] == len(whole) and whole.startswith(d["raw_value"])

    # A restart on the same records: nothing stops it, nothing is sent again.
    w1.stop()
    w2 = cluster.worker("w2")
    again = sample._txn("AFTER-0003", other, 72, "S7101", "001", "2027-01-01")
    cluster.publish([("enrollment-requests", other, encode("enrollment-requests", again))], raw=True, timestamp_ms=TS)
    cluster.wait({"enrollment-requests"}, timeout=WAIT)
    assert w2.alive(), w2.log_tail()
    assert len(cluster.read("dead-letters")) == len(dead)
    own = Counter(r["plan_tracking_id"] for r in cluster.read("trr-replies") if r["plan_tracking_id"])
    assert own == Counter({"AFTER-0002": 1, "AFTER-0003": 1})
