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
            "ratio_faust", "cycle_members", "cycle_seconds", "workers", "worker_peak_rss_mb", "broker_peak_rss_mb",
            "worker_rss_bytes_per_member", "state_bytes_mean", "state_bytes_p99", "changelog_record_bytes_mean",
            "restore_members_per_s", "restore_first_answer_seconds", "restart_same_disk_first_answer_seconds",
            "quix_same_rules_events_per_s", "ratio_quix", "latency_ms_p50", "latency_ms_p99", "latency_ms_max")


def test_generator_is_reproducible_and_valid() -> None:
    a, b = generate(500, seed=7), generate(500, seed=7)
    assert a.enrollments == b.enrollments and a.lis == b.lis and a.plans == b.plans
    assert generate(500, seed=8).enrollments != a.enrollments
    assert all(is_valid_mbi(e["mbi"]) for e in a.enrollments)
    assert len({e["mbi"] for e in a.enrollments}) == 500
    assert {p["region"] for p in a.plans} == {f"{r:02d}" for r in range(1, 35)}
    assert is_valid_mbi(mbi_for(0)) and is_valid_mbi(mbi_for(10**12))


LATENCY_RATE = 40


def test_bench_refuses_a_latency_rate_that_is_not_above_zero(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "streams.tools.cli", "bench", "--quick", "--latency-rate", "0"],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        "partd: error: --latency-rate must be a number of transactions a second above 0, not 0"]


@pytest.mark.integration
def test_bench_quick_writes_the_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}  # the embedded broker
    done = subprocess.run([sys.executable, "-m", "streams.tools.cli", "bench", "--quick", "--json", str(out),
                           "--latency-rate", str(LATENCY_RATE)],
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
    # issue 26: Quix Streams ran partd's rules on the same inputs and wrote exactly the records partd wrote
    assert res["quix_same_rules_events"] == res["events"] and res["quix_same_rules_outputs"] > res["transactions"]
    assert "Quix Streams running partd's rules" in done.stdout and "ratio processor / Quix" in done.stdout
    # issue 26: latency of a steady load at half the measured rate; every transaction answered
    assert res["latency_replies"] == res["latency_transactions"] > 0
    # offered at the rate asked for (--latency-rate), for the 3 s of --quick
    assert res["latency_offered_per_s"] == LATENCY_RATE and res["latency_transactions"] == LATENCY_RATE * 3
    assert 0 < res["latency_ms_p50"] <= res["latency_ms_p99"] <= res["latency_ms_max"]
    windows = res["latency_ms_p99_per_10s"]  # one p99 per 10 s of sending, none above the whole run's max
    assert windows and all(0 <= ms <= res["latency_ms_max"] for ms in windows)
    assert "reply latency at" in done.stdout
    # issue 15: sizes measured, the whole changelog restored on an empty disk, only the new records on the same
    # disk, and the restored states answer the probe transactions (TC 72 -> 204) in both cases
    assert res["state_keys"] == res["cycle_members"] and 0 < res["state_bytes_mean"] <= res["state_bytes_p99"]
    assert res["state_outbox_bytes_mean"] == 0 and res["changelog_record_outbox_bytes_mean"] > 0
    assert res["restore_records"] == res["restore_changelog_records"] > res["cycle_members"]
    assert res["restart_same_disk_records"] == res["restart_same_disk_changelog_records_since_stop"] > 0
    assert res["restore_answers_ok"] and res["restart_same_disk_answers_ok"], (res["restore_answers"],
                                                                               res["restart_same_disk_answers"])


def test_distribution_percentiles_are_nearest_rank() -> None:
    from streams.tools.bench import distribution

    d = distribution(list(range(1, 101)))
    assert d == {"mean": 50.5, "p50": 50.0, "p99": 99.0, "max": 100.0}
    assert distribution([7]) == {"mean": 7.0, "p50": 7.0, "p99": 7.0, "max": 7.0}
    assert distribution([])["p99"] == 0.0


def test_probe_transactions_one_per_partition_for_members_the_cycle_leaves_alone() -> None:
    from streams.tools.bench import probe_transactions
    from streams.tools.generate import partition_of

    pop = generate(2000, seed=3)
    probes = probe_transactions(pop, 8, "T")
    lis = {r["mbi"] for r in pop.lis}
    assert sorted(partition_of(p["mbi"].encode(), 8) for p in probes) == list(range(8))
    assert all(p["transaction_code"] == 72 and p["mbi"] not in lis for p in probes)
    assert {p["tracking_id"] for p in probes} == {f"BENCH-T-{k}" for k in range(8)}
