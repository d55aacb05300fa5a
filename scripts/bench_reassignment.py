"""Micro-benchmark of the annual reassignment over a synthetic population (pure Python, no broker).

    .venv/bin/python scripts/bench_reassignment.py                      # 20,000 members, 3 repeats
    .venv/bin/python scripts/bench_reassignment.py --members 5000 --repeat 1

Steps (only 3 and 4 are timed):

1. ``streams.tools.generate.generate(members, year, seed)``: plans (Y-1 and Y) and
   the beneficiary, enrollment and LIS records of every member;
2. member states through the real pure pipeline
   (``streams.runtime.rules.process_batch``, Avro-encoded records, batches
   of 500), then the benchmarks of Y from the July Y-1 LIS counts
   (``processors.benchmark``), as ``partd bench`` does;
3. **processors**: ``state_lists.run_cycle_member("REASSIGNMENT_RUN", ...)``
   for every member, with the plan catalog prepared once per run as the shell
   does (``processors.plan_index.PlanIndex`` when it exists, else the plain
   catalog dict);
4. **shell scan**: ``streams.runtime.cycle.scan_partition`` over the encoded member
   table (decode each state, run the step, pack the outbox entry of every
   member that moves), the function the worker calls per partition.

Each timed step runs ``--repeat`` times on fresh copies of the states; the best
is reported. A digest of every output and new state is printed so that two
versions of the code can be compared for identical results.
"""
from __future__ import annotations

import argparse
import datetime as dt
import gc
import hashlib
import sys
import time
from collections import Counter
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The indexed catalog (issue 6) when this tree has it: the script also runs from an export of the
# code before it (``git archive <commit> processors streams schemas``; the editable install's finder
# would otherwise supply processors.plan_index from the working tree).
import processors  # noqa: E402
from processors import benchmark, lis_counts, state_lists  # noqa: E402
from processors.model import Output  # noqa: E402
from streams.kafka.registry import SchemaRegistry  # noqa: E402
from streams.kafka.serde import Serde  # noqa: E402
from streams.runtime import cycle  # noqa: E402
from streams.runtime import state as stored  # noqa: E402
from streams.runtime.deadletters import Source  # noqa: E402
from streams.runtime.rules import process_batch  # noqa: E402
from streams.tools import generate  # noqa: E402

if (Path(processors.__file__).parent / "plan_index.py").exists():
    from processors.plan_index import PlanIndex
else:  # pragma: no cover - the "before" run
    PlanIndex = None  # type: ignore[assignment,misc]

UTC = dt.timezone.utc
COMMAND = "REASSIGNMENT_RUN"


def build(members: int, year: int, seed: int, serde: Serde) -> tuple[dict, dict[bytes, bytes], dict]:
    pop = generate.generate(members, year=year, seed=seed)
    catalog: dict = {}
    from processors import plans as plan_rules

    for p in pop.plans:
        k, v = plan_rules.apply_plan_update(p)
        catalog[k] = v
    table: dict[bytes, bytes] = {}
    offsets: Counter[str] = Counter()
    sources: list[Source] = []
    for topic in ("beneficiary-updates", "enrollment-requests", "lis-status-changes"):
        for key, value in generate.encode(serde, topic, pop.by_topic()[topic]):
            sources.append(Source(topic, 0, offsets[topic], key, value, 0))
            offsets[topic] += 1
    for start in range(0, len(sources), 500):
        res = process_batch(sources[start:start + 500], serde, lambda k: stored.decode(table.get(k)), catalog)
        assert not res.dead, res.dead[:1]
        for k, value in res.writes.items():
            table[k] = stored.encode(value)
    states = [stored.member_of(raw) for raw in table.values()]
    counts = lis_counts.count_lis_enrollment(states, dt.date(year - 1, 7, 1))
    bms = benchmark.benchmark_values(catalog, counts, year)
    return catalog, table, bms


def digest(h: "hashlib._Hash", key: object, state: object, outputs: list[Output]) -> None:
    h.update(orjson.dumps([str(key), state, [[o.topic, o.key, o.value] for o in outputs]], default=str))


def run_processors(catalog: dict, table: dict[bytes, bytes], bms: dict, payload: dict) -> tuple[float, str, Counter]:
    states = [(k, stored.member_of(v)) for k, v in table.items()]  # fresh, untimed
    gc.collect()
    h = hashlib.sha256()
    summary: Counter[str] = Counter()
    t0 = time.perf_counter()
    plans = PlanIndex(catalog) if PlanIndex is not None else catalog  # once per cycle command
    results = [
        (k, state_lists.run_cycle_member(
            COMMAND, st, plans=plans, benchmarks=bms, plan_year=payload["plan_year"], seed=payload["seed"],
            as_of=payload["as_of_dt"]))
        for k, st in states
    ]
    elapsed = time.perf_counter() - t0
    for k, step in results:
        digest(h, k, step.state, step.outputs)
        summary.update(cycle.summarize(step.outputs))
    return elapsed, h.hexdigest(), summary


def run_scan(catalog: dict, table: dict[bytes, bytes], serde: Serde, payload: dict) -> tuple[float, str]:
    gc.collect()
    h = hashlib.sha256()
    t0 = time.perf_counter()
    results = list(cycle.scan_partition(payload, stored.members(table.items()), catalog, serde,
                                        "cycle-commands:0", 7))
    elapsed = time.perf_counter() - t0
    for k, new, outs, _sends in results:
        digest(h, k, new.member if new is not None else None, outs)
    return elapsed, h.hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--members", type=int, default=20_000)
    ap.add_argument("--year", type=int, default=2027)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--draw-seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    serde = Serde(SchemaRegistry.embedded())
    t = time.perf_counter()
    catalog, table, bms = build(args.members, args.year, args.seed, serde)
    print(f"setup: {len(table)} members, {len(catalog)} plan-years, {len(bms)} regional benchmarks "
          f"({time.perf_counter() - t:.1f} s, untimed)")
    cmd = {"command": COMMAND, "plan_year": args.year, "as_of": dt.datetime(args.year - 1, 10, 17, 14, 30, tzinfo=UTC),
           "reference_month": None, "state_code": None, "seed": args.draw_seed}
    payload = {"command": COMMAND, "plan_year": args.year, "as_of_dt": cmd["as_of"], "seed": args.draw_seed,
               "benchmarks_d": bms, "opted_in_states": []}

    best_p, best_s = float("inf"), float("inf")
    digests_p: set[str] = set()
    digests_s: set[str] = set()
    summary: Counter[str] = Counter()
    for i in range(args.repeat):
        tp, dp, summary = run_processors(catalog, table, bms, payload)
        ts, ds = run_scan(catalog, table, serde, payload)
        digests_p.add(dp)
        digests_s.add(ds)
        best_p, best_s = min(best_p, tp), min(best_s, ts)
        print(f"run {i + 1}: processors {tp:.3f} s = {len(table) / tp:,.0f} members/s; "
              f"scan_partition {ts:.3f} s = {len(table) / ts:,.0f} members/s")
    n = len(table)
    print(f"best: processors {n / best_p:,.0f} members/s ({best_p * 1e6 / n:.1f} us/member); "
          f"scan_partition {n / best_s:,.0f} members/s ({best_s * 1e6 / n:.1f} us/member)")
    print(f"index: {'PlanIndex' if PlanIndex is not None else 'none (plain catalog dict)'}")
    print("outputs:", dict(sorted(summary.items())))
    assert len(digests_p) == 1 and len(digests_s) == 1, "results differ between repeats"
    print(f"digest processors {digests_p.pop()[:16]}  scan_partition {digests_s.pop()[:16]}")


if __name__ == "__main__":
    main()
