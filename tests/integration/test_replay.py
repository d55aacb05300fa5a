"""One mixed log, replayed: the same output topics, byte for byte, whatever the batch size or a restart.

The golden annual cycle's whole log (plans, beneficiaries, LIS periods, enrollments,
benchmark calculation, reassignment run) plus bad records is published before a worker
starts (a backlog, each stage a second after the one before), then applied with
``PARTD_BATCH_SIZE`` 1, 7 and 500, and once with the worker stopped half way and
another one finishing on a fresh disk. Every output topic must hold the same records.
The batch-7 run also holds at most 2 records of a partition (``PARTD_BUFFERED_RECORDS``):
its partitions are paused and resumed all the time (a paused partition whose buffer
was applied must be resumed, or its group waits forever).
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from streams import topics
from streams.kafka.serde import Serde
from tests.integration import golden
from tests.integration.conftest import fresh_cluster

pytestmark = pytest.mark.integration

BAD = [
    ("enrollment-requests", "1EG4TE5MK01", b"\x00\x00\x00\x00\x01\x02garbage"),
    ("lis-status-changes", "1EG4TE5MK02", b""),
    ("beneficiary-updates", "1EG4TE5MK03", b"\x07not avro"),
]


def _replay(tmp: Path, serde: Serde, *, batch: int, restart: bool = False,
            buffered: int | None = None) -> dict[str, Counter[Any]]:
    inputs = golden.load(golden.GOLDEN / "annual_cycle" / "inputs.jsonl")
    with fresh_cluster(tmp, serde) as cluster:
        golden.run(cluster, inputs, settle=False)
        cluster.publish(BAD, raw=True, timestamp_ms=1_760_000_000_500)
        env = {"PARTD_BATCH_SIZE": str(batch)}
        if buffered is not None:
            env["PARTD_BUFFERED_RECORDS"] = str(buffered)
        if restart:
            first = cluster.worker("w1", extra_env=env)
            calculate = next(line for line in inputs if line["topic"] == "cycle-commands")
            cluster.settle("cycle-commands", calculate["value"])  # half way: the benchmarks are done
            assert first.stop() == 0, first.log_tail()
            cluster.worker("w2", extra_env=env)  # a fresh disk
        else:
            cluster.worker("w1", extra_env=env)
        golden.settle_all(cluster, inputs)
        return {t: Counter(cluster.read_raw(t)) for t in topics.OUTPUTS}


def test_one_log_gives_the_same_outputs_whatever_the_batch_size_or_a_restart(tmp_path: Path, serde: Serde) -> None:
    runs = {name: _replay(tmp_path / name, serde, **kw) for name, kw in (
        ("batch-500", {"batch": 500}), ("batch-7", {"batch": 7, "buffered": 2}), ("batch-1", {"batch": 1}),
        ("restart", {"batch": 500, "restart": True}))}
    reference = runs["batch-500"]
    assert sum(reference["trr-replies"].values()) > 40 and sum(reference["dead-letters"].values()) == len(BAD)
    for name, outputs in runs.items():
        for topic in topics.OUTPUTS:
            assert outputs[topic] == reference[topic], f"{topic} differs between batch-500 and {name}"
