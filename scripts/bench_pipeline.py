"""Micro-benchmark of the member pipeline (pure Python, no broker): ``process_batch`` over a synthetic stream.

    .venv/bin/python scripts/bench_pipeline.py                    # 20,000 members, 3 repeats
    .venv/bin/python scripts/bench_pipeline.py --members 5000 --profile

The records are the ones ``partd bench`` sends (``streams.tools.generate``:
beneficiary updates, then enrollments and LIS changes, Avro-encoded), run in
batches of 500 through ``streams.runtime.rules.process_batch`` (decode + rules) with the
member table as a dict of encoded values, as the worker does. The digest covers the bytes
the worker sends (``Result.sends``). Timed: the enrollment + LIS stream (the
part ``partd bench`` measures as the processor's events/s). A digest of every
output and state lets two versions of the code be compared for identical results.

``--rules-free`` measures the ceiling of any speed-up of the rules: each processor call
(``streams.runtime.rules.PROCESSORS``) returns the very ``StepResult`` it returned in an
untimed first pass over the same input (recorded in order, replayed in order), so the
timed runs do everything but the rules (decode, state load, Avro encode of the replies,
outbox, state encode, the batch loop) and must print the same digest.

``--worker-gc`` runs with the garbage collector as a worker has it
(``streams.runtime.startup``: ``tune_gc`` at start, ``freeze_heap`` once the reference data
is built, here after the setup); without it, Python's default thresholds (what every
version of this script measured before, and what workers ran before 2026-12-07).
"""
from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import pstats
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from processors import plans as plan_rules  # noqa: E402
from streams.kafka.registry import SchemaRegistry  # noqa: E402
from streams.kafka.serde import Serde  # noqa: E402
from streams.runtime import state as st  # noqa: E402
from streams.runtime.deadletters import Source  # noqa: E402
from streams.runtime import rules, startup  # noqa: E402
from streams.runtime.rules import process_batch  # noqa: E402
from streams.tools import generate  # noqa: E402

BATCH = 500


def sources_of(serde: Serde, pop: generate.Population, topics: tuple[str, ...]) -> list[Source]:
    offsets: Counter[str] = Counter()
    out = []
    for topic in topics:
        for key, value in generate.encode(serde, topic, pop.by_topic()[topic]):
            out.append(Source(topic, generate.partition_of(key, 8), offsets[topic], key, value, 0))
            offsets[topic] += 1
    return out


def run(serde: Serde, catalog: dict, table: dict[bytes, bytes], sources: list[Source], h: "hashlib._Hash") -> int:
    n_out = 0
    for start in range(0, len(sources), BATCH):
        res = process_batch(sources[start:start + BATCH], serde, lambda k: st.decode(table.get(k)), catalog)
        for k, stored in res.writes.items():
            table[k] = st.encode(stored)
        for _, _, value, _ in res.sends:  # what the worker sends
            h.update(value)
            n_out += 1
    return n_out


class Recorded:
    """The processors, recorded once (every call's result, in call order), then replayed without running them."""

    def __init__(self) -> None:
        self.steps: list = []
        self.replay: Iterator | None = None

    def install(self) -> None:
        for topic, fn in list(rules.PROCESSORS.items()):
            rules.PROCESSORS[topic] = self._wrap(fn)

    def _wrap(self, fn):  # noqa: ANN001, ANN202
        def call(state, event, ref):  # noqa: ANN001, ANN202
            if self.replay is not None:
                return next(self.replay)
            step = fn(state, event, ref)
            self.steps.append(step)
            return step
        return call

    def start_replay(self) -> None:
        self.replay = iter(self.steps)


def with_table(h: "hashlib._Hash", table: dict[bytes, bytes]) -> str:
    """The digest of a run: its sends (already in ``h``), then every stored value in key order."""
    for k in sorted(table):
        h.update(k + table[k])
    return h.hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--members", type=int, default=20_000)
    ap.add_argument("--year", type=int, default=2027)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="cProfile one run, print the top functions")
    ap.add_argument("--rules-free", action="store_true",
                    help="time everything but the rules (module doc): the ceiling of any speed-up of the rules")
    ap.add_argument("--worker-gc", action="store_true", help="the garbage collector's settings of a worker (module doc)")
    args = ap.parse_args()
    if args.worker_gc:
        startup.tune_gc()

    serde = Serde(SchemaRegistry.embedded())
    pop = generate.generate(args.members, year=args.year, seed=args.seed)
    catalog = dict(plan_rules.apply_plan_update(p) for p in pop.plans)
    reference = sources_of(serde, pop, ("beneficiary-updates",))
    stream = sources_of(serde, pop, ("enrollment-requests", "lis-status-changes"))
    base: dict[bytes, bytes] = {}
    run(serde, catalog, base, reference, hashlib.sha256())
    print(f"setup: {len(base)} members, {len(catalog)} plan-years, {len(stream)} stream events (untimed)")
    recorded = None
    if args.rules_free:
        recorded = Recorded()
        recorded.install()
        h, table = hashlib.sha256(), dict(base)
        run(serde, catalog, table, stream, h)  # untimed: records every processor call's result
        recorded_digest = with_table(h, table)
    if args.worker_gc:
        startup.freeze_heap()  # the setup (and the recorded steps) is what a worker holds from its start
    best = float("inf")
    digests = set() if recorded is None else {recorded_digest}
    for i in range(args.repeat):
        if recorded is not None:
            recorded.start_replay()
        table = dict(base)
        h = hashlib.sha256()
        gc.collect()
        prof = cProfile.Profile() if args.profile and i == 0 else None
        t0 = time.perf_counter()
        if prof:
            prof.enable()
        n_out = run(serde, catalog, table, stream, h)
        if prof:
            prof.disable()
        elapsed = time.perf_counter() - t0
        digests.add(with_table(h, table))
        if prof:
            pstats.Stats(prof).sort_stats("tottime").print_stats(30)
            continue
        best = min(best, elapsed)
        print(f"run {i + 1}: {elapsed:.3f} s = {len(stream) / elapsed:,.0f} events/s ({n_out} outputs)")
    label = ("best" + (", rules free (the rules' results replayed)" if recorded is not None else "")
             + (", worker GC" if args.worker_gc else ""))
    print(f"{label}: {len(stream) / best:,.0f} events/s ({best * 1e6 / len(stream):.1f} us/event)")
    assert len(digests) == 1, "results differ between repeats"
    print(f"digest {digests.pop()[:16]}")


if __name__ == "__main__":
    main()
