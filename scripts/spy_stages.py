"""Shares of a worker's py-spy samples by stage of the member path (``partd bench --profile DIR`` writes the stacks).

    .venv/bin/python scripts/spy_stages.py prof/worker-stream-1w.txt [more files ...]

Each sample of the worker's main thread (the event loop: Faust, the member runtime, the rules) goes to
the first stage below whose pattern is in its stack, so the rows add up to 100% of the main thread's
busy samples; samples where the loop waits (uvloop's own frame at the leaf) are counted apart, and so is
Faust's consumer thread. The patterns are file and function names: a renamed module lands in
"other runtime" or "other" until it is added here.
"""
from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Avro encode (Serde.encode)", ("Serde.encode", "(<partd generated write>")),
    ("Avro decode + input checks (decode.py)", ("decode_many", "decode_batch", "(<partd generated read>")),
    ("reply records (processors/trr.py)", ("processors/trr.py",)),
    ("ids (processors/ids.py)", ("processors/ids.py",)),
    ("state clone (processors/model.py)", ("clone (processors/model.py",)),
    ("rules (other processors/)", ("processors/",)),
    ("state encode/decode, outbox (runtime/state.py)", ("streams/runtime/state.py",)),
    ("member store write (RocksDB, Faust table)", ("kafka/internals/store.py", "rocksdict", "faust/stores",
                                                   "faust/tables", "internals/faust_private.py")),
    ("send path (runtime/send.py, aiokafka producer)", ("streams/runtime/send.py", "aiokafka/producer")),
    ("ordering (runtime/order.py)", ("streams/runtime/order.py",)),
    ("commit (runtime/commit.py)", ("streams/runtime/commit.py",)),
    ("metrics (observability/, prometheus)", ("streams/observability", "prometheus_client")),
    ("Faust fetcher / consumer (aiokafka)", ("faust/transport", "aiokafka/consumer", "aiokafka/conn",
                                             "aiokafka/client")),
    ("other runtime (streams/runtime/)", ("streams/runtime/",)),
)
IDLE_LEAVES = ("Worker.execute_from_commandline", "_run_once", "select (selectors.py", "epoll")


def classify(path: Path) -> tuple[Counter[str], int, int, int]:
    """``(busy samples per stage, busy main-thread samples, idle main-thread samples, other threads)``."""
    stages: Counter[str] = Counter()
    busy = idle = others = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        try:
            n = int(count)
        except ValueError:
            continue
        if "execute_from_commandline" not in stack:
            others += n
            continue
        leaf = stack.rsplit(";", 1)[-1]
        if any(leaf.startswith(i) for i in IDLE_LEAVES):
            idle += n
            continue
        busy += n
        for name, patterns in STAGES:
            if any(p in stack for p in patterns):
                stages[name] += n
                break
        else:
            stages["other (Faust, mode, asyncio)"] += n
    return stages, busy, idle, others


def main(paths: list[str]) -> None:
    for p in paths:
        stages, busy, idle, others = classify(Path(p))
        total = busy + idle
        print(f"{p}: main thread {total} samples, {100 * busy / max(total, 1):.0f}% busy; "
              f"other threads {others} samples")
        for name, n in stages.most_common():
            print(f"  {100 * n / max(busy, 1):5.1f}%  {name}")


if __name__ == "__main__":
    main(sys.argv[1:])
