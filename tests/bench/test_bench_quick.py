"""``partd bench --quick`` proves the harness works. No timing is asserted: the figures depend on the machine."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from processors.codes import is_valid_mbi
from streams.tools.generate import generate, mbi_for

REQUIRED = ("baseline_events_per_s", "faust_passthrough_events_per_s", "processor_events_per_s", "ratio",
            "ratio_faust", "cycle_members", "cycle_seconds", "workers", "worker_peak_rss_mb", "broker_peak_rss_mb")


def test_generator_is_reproducible_and_valid() -> None:
    a, b = generate(500, seed=7), generate(500, seed=7)
    assert a.enrollments == b.enrollments and a.lis == b.lis and a.plans == b.plans
    assert generate(500, seed=8).enrollments != a.enrollments
    assert all(is_valid_mbi(e["mbi"]) for e in a.enrollments)
    assert len({e["mbi"] for e in a.enrollments}) == 500
    assert {p["region"] for p in a.plans} == {f"{r:02d}" for r in range(1, 35)}
    assert is_valid_mbi(mbi_for(0)) and is_valid_mbi(mbi_for(10**12))


@pytest.mark.integration
def test_bench_quick_writes_the_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}  # the embedded broker
    done = subprocess.run([sys.executable, "-m", "streams.tools.cli", "bench", "--quick", "--json", str(out)],
                          capture_output=True, text=True, env=env, timeout=540, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    res = json.loads(out.read_text())
    for key in REQUIRED:
        assert key in res, key
    assert res["workers"] == 1
    assert res["replies_complete"] is True
    assert res["enrollment_replies"] == res["transactions"] == res["cycle_members"]
    assert "dead_letters" in res  # reported, not asserted: the processor evolves
    assert res["cycle_reassignment_outputs"], "the reassignment run produced nothing"
    assert res["faust_passthrough_events"] == res["events"]  # the plain Faust agent forwarded every record
    assert "ratio processor / Faust passthrough" in done.stdout and "ratio processor / raw baseline" in done.stdout
