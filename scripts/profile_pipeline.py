"""Where the member pipeline's time goes, per record type and per stage (pure Python, no broker).

    .venv/bin/python scripts/profile_pipeline.py                 # 20,000 members: stages timed, then cProfile
    .venv/bin/python scripts/profile_pipeline.py --members 5000 --no-cprofile

The population of ``partd bench`` (``streams.tools.generate``, seed 1) goes through the
member pipeline in the order the bench sends it: the beneficiary updates (into an empty
table), the TC 61 transactions, the LIS changes, then a REASSIGNMENT_RUN scan of every
member (``streams.runtime.cycle.scan_partition``, after CALCULATE_BENCHMARKS' counts).

**Stages** (timed with ``perf_counter`` around each, no profiler: the figures are the
real cost): ``decode`` (``decode_batch``: Avro + the field checks), ``load`` (the stored
value of each key -> ``Stored``), ``rules`` (the processor: validation, new state, reply
dicts), ``encode`` (``Serde.encode`` of every output), ``outbox`` (``state.pack`` /
``state.record``: the outputs kept in the state until committed), ``store`` (``state.encode``
of each written key, once per batch). The loop is a copy of ``rules.apply_batch``'s happy
path (no dead letters, no redelivery, which this population has none of); the digest of its
sends is checked against ``process_batch`` on the same input so the copy cannot drift.

**cProfile** then runs the real ``process_batch`` per record type and groups the rules'
time (cumulative, so nested rows overlap): reply building (``processors/trr.py``), ids
(``processors/ids.py``), the state clone, dates. cProfile slows Python calls far more
than C calls, so its shares are read against the timed stages, not alone.
"""
from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import hashlib
import os
import pstats
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from processors import benchmark, lis_counts  # noqa: E402
from processors import plans as plan_rules  # noqa: E402
from streams.kafka.registry import SchemaRegistry  # noqa: E402
from streams.kafka.serde import Serde  # noqa: E402
from streams.runtime import cycle  # noqa: E402
from streams.runtime import state as st  # noqa: E402
from streams.runtime.deadletters import Source  # noqa: E402
from streams.runtime.decode import decode_batch  # noqa: E402
from streams.runtime.rules import PROCESSORS, Reference, process_batch  # noqa: E402
from streams.tools import generate  # noqa: E402

BATCH = 500
UTC = dt.timezone.utc
STAGES = ("decode", "load", "rules", "encode", "outbox", "store")
PHASES = (("beneficiary update", "beneficiary-updates"), ("TC 61", "enrollment-requests"),
          ("LIS change", "lis-status-changes"))


def sources_of(serde: Serde, pop: generate.Population, topic: str) -> list[Source]:
    return [Source(topic, generate.partition_of(key, 8), i, key, value, 0)
            for i, (key, value) in enumerate(generate.encode(serde, topic, pop.by_topic()[topic]))]


def staged(serde: Serde, ref: Reference, table: dict[bytes, bytes], sources: list[Source]) -> tuple[dict[str, float], int, str]:
    """The happy path of ``apply_batch`` with a clock around each stage; ``(seconds per stage, outputs, digest)``."""
    t = dict.fromkeys(STAGES, 0.0)
    pc = time.perf_counter
    h = hashlib.sha256()
    n_out = 0
    for start in range(0, len(sources), BATCH):
        batch = sources[start:start + BATCH]
        t0 = pc()
        decoded = decode_batch(serde, batch)
        t["decode"] += pc() - t0
        working: dict[bytes, st.Stored | None] = {}
        writes: dict[bytes, st.Stored] = {}
        for s, (record, problem) in zip(batch, decoded):
            assert problem is None, problem
            key = s.key
            t0 = pc()
            stored = working[key] if key in working else st.decode(table.get(key))
            t1 = pc()
            member = stored.member if stored is not None else None
            step = PROCESSORS[s.topic](member, record, ref)
            t2 = pc()
            encoded = [(o, serde.encode(o.topic, o.value)) for o in step.outputs]
            t3 = pc()
            new = st.Stored(member, dict(stored.applied), list(stored.outbox)) if stored is not None else st.Stored()
            if step.state is not None:
                new.member = step.state
            st.record(new, [[s.topic, s.offset, st.pack(encoded)]])
            t4 = pc()
            t["load"] += t1 - t0
            t["rules"] += t2 - t1
            t["encode"] += t3 - t2
            t["outbox"] += t4 - t3
            working[key] = writes[key] = new
            for _, v in encoded:
                h.update(v)
            n_out += len(encoded)
        t0 = pc()
        for k, stored in writes.items():
            table[k] = st.encode(stored)
        t["store"] += pc() - t0
    return t, n_out, h.hexdigest()


def real(serde: Serde, ref: Reference, table: dict[bytes, bytes], sources: list[Source]) -> tuple[float, str]:
    h = hashlib.sha256()
    t0 = time.perf_counter()
    for start in range(0, len(sources), BATCH):
        res = process_batch(sources[start:start + BATCH], serde, lambda k: st.decode(table.get(k)), ref)
        for k, stored in res.writes.items():
            table[k] = st.encode(stored)
        for _, _, value, _ in res.sends:
            h.update(value)
    return time.perf_counter() - t0, h.hexdigest()


def scan_payload(catalog: dict, table: dict[bytes, bytes], year: int) -> dict:
    states = [st.member_of(raw) for raw in table.values()]
    counts = lis_counts.count_lis_enrollment(states, dt.date(year - 1, 7, 1))
    bms = benchmark.benchmark_values(catalog, counts, year)
    return {"command": "REASSIGNMENT_RUN", "plan_year": year, "as_of_dt": dt.datetime(year - 1, 10, 17, 14, 30, tzinfo=UTC),
            "seed": 1, "benchmarks_d": bms, "opted_in_states": []}


def scan(serde: Serde, catalog: dict, table: dict[bytes, bytes], payload: dict) -> tuple[dict[str, float], int]:
    """The worker's scan of one partition (all members here), split: load (decode the stored values),
    scan (rules + encode + outbox, as ``scan_partition`` does them), store (encode the new values)."""
    t0 = time.perf_counter()
    members = list(st.members(table.items()))
    t1 = time.perf_counter()
    results = list(cycle.scan_partition(payload, members, catalog, serde, "cycle-commands:0", 7))
    t2 = time.perf_counter()
    for _, new, _, _ in results:
        if new is not None:
            st.encode(new)
    t3 = time.perf_counter()
    return {"load": t1 - t0, "scan": t2 - t1, "store": t3 - t2}, sum(len(r[3]) for r in results)


GROUPS = (  # (label, predicate on (file, function)) for the cProfile rows; cumulative time
    ("Serde.encode (Avro, fastavro)", lambda f, n: f.endswith("serde.py") and n == "encode"),
    ("Serde.decode_many (Avro, fastavro)", lambda f, n: f.endswith("serde.py") and n == "decode_many"),
    ("decode._check (field limits)", lambda f, n: f.endswith("decode.py") and n == "_check"),
    ("trr.trr_record (reply dict)", lambda f, n: f.endswith("trr.py") and n == "trr_record"),
    ("ids.stable_id (SHA-256)", lambda f, n: f.endswith("ids.py") and n == "stable_id"),
    ("model.clone (orjson round trip)", lambda f, n: f.endswith("model.py") and n == "clone"),
    ("state.decode", lambda f, n: f.endswith("state.py") and n == "decode"),
    ("state.encode", lambda f, n: f.endswith("state.py") and n == "encode"),
    ("state.pack + record (outbox)", lambda f, n: f.endswith("state.py") and n in ("pack", "record")),
    ("dates: from_iso/iso/isoformat", lambda f, n: (f.endswith("dates.py") and n in ("from_iso", "iso"))),
)


def profiled(fn, *args) -> tuple[float, list[tuple[str, float]], pstats.Stats]:
    prof = cProfile.Profile()
    prof.enable()
    fn(*args)
    prof.disable()
    stats = pstats.Stats(prof)
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = []
    for label, pred in GROUPS:
        cum = 0.0
        for (file, _line, name), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
            if pred(file, name):
                cum += ct
        rows.append((label, cum))
    return total, rows, stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--members", type=int, default=20_000)
    ap.add_argument("--year", type=int, default=2027)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-cprofile", dest="cprofile", action="store_false")
    ap.add_argument("--top", type=int, default=12, help="cProfile: functions by self time per type")
    args = ap.parse_args()

    serde = Serde(SchemaRegistry.embedded())
    pop = generate.generate(args.members, year=args.year, seed=args.seed)
    catalog = dict(plan_rules.apply_plan_update(p) for p in pop.plans)
    ref = Reference(catalog)
    phases = [(label, topic, sources_of(serde, pop, topic)) for label, topic in PHASES]
    print(f"{args.members:,} members, {len(catalog):,} plan-years; load average {os.getloadavg()[0]:.2f}")

    # 1. stages, timed (and checked against process_batch)
    table: dict[bytes, bytes] = {}
    check: dict[bytes, bytes] = {}
    rows = []
    for label, topic, sources in phases:
        gc.collect()
        t, n_out, dig = staged(serde, ref, table, sources)
        real_s, real_dig = real(serde, ref, check, sources)
        assert dig == real_dig, f"{label}: the staged copy of apply_batch differs from process_batch"
        rows.append((label, len(sources), n_out, t, real_s))
    assert table == check
    payload = scan_payload(catalog, table, args.year)
    gc.collect()
    scan_t, scan_out = scan(serde, catalog, table, payload)

    print(f"\nstages, us per event (load average {os.getloadavg()[0]:.2f}):")
    print(f"{'record type':<20} {'events':>7} {'outputs':>7} " + " ".join(f"{s:>7}" for s in STAGES)
          + f" {'sum':>7} {'real':>7}")
    for label, n, n_out, t, real_s in rows:
        total = sum(t.values())
        print(f"{label:<20} {n:>7} {n_out:>7} " + " ".join(f"{t[s] * 1e6 / n:>7.1f}" for s in STAGES)
              + f" {total * 1e6 / n:>7.1f} {real_s * 1e6 / n:>7.1f}")
        print(f"{'':<20} {'':>7} {'':>7} " + " ".join(f"{100 * t[s] / total:>6.0f}%" for s in STAGES))
    n = len(table)
    print(f"{'cycle scan (member)':<20} {n:>7} {scan_out:>7}  load {scan_t['load'] * 1e6 / n:.1f}  "
          f"rules+encode+outbox {scan_t['scan'] * 1e6 / n:.1f}  store (movers) {scan_t['store'] * 1e6 / n:.1f}  "
          f"sum {sum(scan_t.values()) * 1e6 / n:.1f} us/member")

    if not args.cprofile:
        return
    # 2. cProfile of the real functions per record type
    table = {}
    print("\ncProfile (cumulative seconds of each group, share of the profiled total; rows overlap):")
    for label, topic, sources in phases:
        gc.collect()
        show(label, len(sources), "event", *profiled(real, serde, ref, table, sources), args.top)
    gc.collect()
    payload = scan_payload(catalog, table, args.year)
    show("cycle scan", len(table), "member", *profiled(scan, serde, catalog, table, payload), args.top)


def show(label: str, n: int, unit: str, total: float, groups: list[tuple[str, float]], stats: pstats.Stats,
         top: int) -> None:
    print(f"\n== {label}: {n:,} {unit}s, {total:.2f} s profiled = {total * 1e6 / n:.0f} us/{unit}")
    for g, cum in groups:
        if cum:
            print(f"   {100 * cum / total:5.1f}%  {cum * 1e6 / n:7.1f} us/{unit}  {g}")
    stats.sort_stats("tottime").print_stats(top)


if __name__ == "__main__":
    main()
