"""Crash soak: N rounds of SIGKILL-and-restart on a real broker, with the publisher pattern of issue 12.

    .venv/bin/python scripts/crash_soak.py 20                 # 20 rounds, 400 members x 50 TC 61s each
    .venv/bin/python scripts/crash_soak.py 3 --members 100 --per-member 20 --json soak.json

Each round, on a fresh embedded broker (or KAFKA_BOOTSTRAP_SERVERS, topics reset):

1. the plans are published; a worker starts;
2. while it starts, the publisher sends the beneficiaries and their LIS periods,
   then, 2 seconds later, their TC 61s (plan switches, repeats, 4Rx updates):
   both are a backlog for the starting worker;
3. once replies flow (after a random share of them, 5% to 90%), the worker is
   SIGKILLed and a new one is started: on the same disk in odd rounds, on a
   fresh disk in even rounds (it restores the member table from the changelog);
4. when the new worker has applied everything, the outputs are compared with
   the pure pipeline (``streams.runtime.rules``) over the same input log, read
   back from the broker and applied in record-timestamp order per partition.

Per round and in total it prints, per transaction (by the plan's tracking id):
``missing`` (no reply), ``differing`` (replies other than the uninterrupted
run's: e.g. 008 before the crash and 011 after), and ``duplicated`` (records
sent again with the same bytes, which consumers drop by id). The expected
figures are 0 missing and 0 differing; duplicates are allowed after a crash.
Not part of CI (minutes per round).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from processors import plans as plan_rules  # noqa: E402
from streams import topics  # noqa: E402
from streams.config import Settings  # noqa: E402
from streams.kafka.admin import ensure_topics_async  # noqa: E402
from streams.kafka.registry import SchemaRegistry  # noqa: E402
from streams.kafka.serde import Serde  # noqa: E402
from streams.runtime import state as st  # noqa: E402
from streams.runtime.deadletters import Source  # noqa: E402
from streams.runtime.rules import process_batch  # noqa: E402
from streams.tools import sample  # noqa: E402
from streams.tools.broker import EmbeddedBroker  # noqa: E402
from streams.tools.io import end_offsets, produce, wait_consumed  # noqa: E402
from streams.tools.jsonconv import record_from_json  # noqa: E402
from streams.tools.runner import WorkerProcess  # noqa: E402

PARTITIONS = 8
RANK = {t: i for i, t in enumerate(topics.MEMBER_INPUTS)}


async def read_sources(bootstrap: str, names: list[str]) -> list[Source]:
    from aiokafka import TopicPartition

    from streams.kafka import clients

    consumer = clients.consumer(bootstrap, group_id=None, auto_offset_reset="earliest",
                                max_partition_fetch_bytes=8 * 1024 * 1024)
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in names for p in sorted(consumer.partitions_for_topic(t) or ())]
        ends = await consumer.end_offsets(tps)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        out: dict[Any, list[Source]] = {tp: [] for tp in tps}
        while any([await consumer.position(tp) < ends[tp] for tp in tps]):
            for tp, msgs in (await consumer.getmany(timeout_ms=500, max_records=10000)).items():
                out[tp].extend(Source(m.topic, m.partition, m.offset, m.key, m.value, m.timestamp) for m in msgs)
        return [s for tp in tps for s in out[tp]]
    finally:
        await consumer.stop()


def reference(serde: Serde, catalog: dict, sources: list[Source]) -> list[tuple[str, bytes, bytes]]:
    """The uninterrupted run: each partition's records in (timestamp, topic rank, offset) order."""
    per: dict[int, list[Source]] = defaultdict(list)
    for s in sources:
        per[s.partition].append(s)
    table: dict[bytes, bytes] = {}
    out: list[tuple[str, bytes, bytes]] = []
    for p in sorted(per):
        ordered = sorted(per[p], key=lambda s: (s.timestamp_ms or 0, RANK[s.topic], s.offset))
        for start in range(0, len(ordered), 500):
            res = process_batch(ordered[start:start + 500], serde, lambda k: st.decode(table.get(k)), catalog)
            for k, v in res.writes.items():
                table[k] = st.encode(v)
            out.extend((t, k.encode(), v) for t, k, v, _ in res.sends)
    return out


def by_transaction(serde: Serde, replies: list[tuple[bytes, bytes]]) -> dict[str, Counter]:
    out: dict[str, Counter] = defaultdict(Counter)
    for key, value in replies:
        record = serde.decode(topics.TRR_REPLIES, value)
        if record.get("plan_tracking_id"):
            out[record["plan_tracking_id"]][value] += 1
    return out


def one_round(n: int, args: argparse.Namespace, serde: Serde, work: Path) -> dict[str, Any]:
    rnd = random.Random(args.seed * 1000 + n)
    people, txns = sample.enrollment_churn(args.members, args.per_member)
    external = Settings.from_env().bootstrap_servers
    broker = None if external else EmbeddedBroker(log_dir=work)
    bootstrap = external or broker.start(None)  # type: ignore[union-attr]
    group = f"partd-soak-{n}"
    workers: list[WorkerProcess] = []
    try:
        asyncio.run(ensure_topics_async(bootstrap, list(topics.ALL), PARTITIONS))
        if external:
            raise SystemExit("crash_soak needs fresh topics each round: run it on the embedded broker")
        asyncio.run(produce(bootstrap, serde, [(topics.PLAN_YEAR_UPDATES, None, record_from_json(topics.PLAN_YEAR_UPDATES, p))
                                               for p in sample.PLANS]))
        w1 = WorkerProcess(bootstrap, work / f"r{n}-w1", partitions=PARTITIONS, app_id=group,
                           extra_env={"PARTD_LOG_LEVEL": "warning"}).start()
        workers.append(w1)
        asyncio.run(produce(bootstrap, serde, [(t, None, record_from_json(t, v)) for t, v in people]))
        time.sleep(2.0)
        asyncio.run(produce(bootstrap, serde, [(t, None, record_from_json(t, v)) for t, v in txns]))
        expect = len(txns)
        share = rnd.uniform(0.05, 0.9)
        t0 = time.monotonic()
        while True:
            got = sum(asyncio.run(end_offsets(bootstrap, [topics.TRR_REPLIES])).values())
            if got >= share * expect or time.monotonic() - t0 > 600:
                break
            time.sleep(0.05)
        w1.kill()
        same_disk = n % 2 == 1
        w2 = WorkerProcess(bootstrap, work / (f"r{n}-w1" if same_disk else f"r{n}-w2"), partitions=PARTITIONS,
                           app_id=group, extra_env={"PARTD_LOG_LEVEL": "warning"}).start()
        workers.append(w2)
        t1 = time.monotonic()
        asyncio.run(wait_consumed(bootstrap, group, list(topics.MEMBER_INPUTS), timeout=900))
        recovery = time.monotonic() - t1
        time.sleep(1.0)
        if not w2.alive():
            raise RuntimeError(f"the new worker exited:\n{w2.log_tail()}")

        sources = asyncio.run(read_sources(bootstrap, list(topics.MEMBER_INPUTS)))
        catalog = dict(plan_rules.apply_plan_update(record_from_json(topics.PLAN_YEAR_UPDATES, p)) for p in sample.PLANS)
        want = reference(serde, catalog, sources)
        got_replies = [(s.key, s.value) for s in asyncio.run(read_sources(bootstrap, [topics.TRR_REPLIES]))]
        got_dead = [(s.key, s.value) for s in asyncio.run(read_sources(bootstrap, [topics.DEAD_LETTERS]))]
        want_by = by_transaction(serde, [(k, v) for t, k, v in want if t == topics.TRR_REPLIES])
        got_by = by_transaction(serde, got_replies)
        own = {v["tracking_id"] for _, v in txns}
        missing = sum(1 for t in own if not got_by.get(t))
        differing = sum(1 for t in own if got_by.get(t) and set(got_by[t]) != set(want_by.get(t, {})))
        duplicated = sum(n_ - 1 for c in got_by.values() for n_ in c.values() if n_ > 1)
        want_all = Counter((k, v) for t, k, v in want if t in (topics.TRR_REPLIES, topics.DEAD_LETTERS))
        got_all = Counter(got_replies + got_dead)
        equal_after_dedupe = set(got_all) == set(want_all)
        return {"round": n, "transactions": len(own), "killed_after_replies": round(share, 2),
                "restart": "same disk" if same_disk else "fresh disk", "recovery_seconds": round(recovery, 1),
                "replies": len(got_replies), "missing": missing, "differing": differing, "duplicated": duplicated,
                "outputs_equal_after_dedupe": equal_after_dedupe}
    finally:
        for w in workers:
            w.stop()
        if broker is not None:
            broker.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("rounds", type=int)
    ap.add_argument("--members", type=int, default=400)
    ap.add_argument("--per-member", type=int, default=50)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--json", default=None)
    ap.add_argument("--keep", action="store_true", help="keep the worker logs and data")
    args = ap.parse_args()
    serde = Serde(SchemaRegistry.from_env())
    work = Path(tempfile.mkdtemp(prefix="partd-soak-"))
    results = []
    try:
        for n in range(1, args.rounds + 1):
            r = one_round(n, args, serde, work)
            results.append(r)
            print(json.dumps(r), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")
    total = {k: sum(r[k] for r in results) for k in ("transactions", "missing", "differing", "duplicated")}
    total["rounds"] = len(results)
    total["rounds_equal_after_dedupe"] = sum(1 for r in results if r["outputs_equal_after_dedupe"])
    print("total:", json.dumps(total))
    if args.json:
        Path(args.json).write_text(json.dumps({"rounds": results, "total": total}, indent=2) + "\n")


if __name__ == "__main__":
    main()
