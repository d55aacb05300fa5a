"""The ``partd`` command as a person uses it: broker, produce, consume, up."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from streams.tools import sample

pytestmark = pytest.mark.integration


def _partd(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streams.tools.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def test_produce_then_consume_round_trips_json_lines(broker: str, tmp_path: Path) -> None:
    plans = [p for topic, p in sample.STAGE_REFERENCE if topic == "plan-year-updates"][:3]
    src = tmp_path / "plans.jsonl"
    src.write_text("\n".join(json.dumps(p) for p in plans) + "\n")
    env = {"KAFKA_BOOTSTRAP_SERVERS": broker}
    done = _partd("produce", "plan-year-updates", str(src), env=env)
    assert done.returncode == 0, done.stderr
    assert "produced 3 records" in done.stdout
    out = _partd("consume", "plan-year-updates", "--idle", "2", env=env)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert sorted(line["key"] for line in lines) == sorted(f"{p['contract_id']}-{p['pbp_id']}-{p['plan_year']}" for p in plans)
    got = {line["key"]: line["value"] for line in lines}
    for p in plans:
        v = got[f"{p['contract_id']}-{p['pbp_id']}-{p['plan_year']}"]
        assert v["basic_premium"] == p["basic_premium"] and v["region"] == p["region"]


def test_produce_rejects_a_bad_line_and_says_where(broker: str, tmp_path: Path) -> None:
    src = tmp_path / "bad.jsonl"
    src.write_text('{"contract_id": "S1"}\n')
    done = _partd("produce", "plan-year-updates", str(src), env={"KAFKA_BOOTSTRAP_SERVERS": broker})
    assert done.returncode != 0
    assert f"{src}:1" in done.stderr


def test_partd_broker_prints_a_usable_address(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "streams.tools.cli", "broker"], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PARTD_PARTITIONS": "3"}, start_new_session=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:")
        bootstrap = line.split("=", 1)[1]
        from streams.kafka.admin import partition_count

        assert partition_count(bootstrap, "trr-replies") == 3
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert proc.returncode == 0


def test_partd_up_once_runs_the_main_job(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "PARTD_WEB_PORT",
                                                             "PARTD_DATA_DIR")}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "streams.tools.cli", "up", "--once"], capture_output=True, text=True,
                          env=env, timeout=400, cwd=tmp_path)  # PARTD_DATA_DIR: ./data, as for a user
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "17 TRR replies, 3 dead letters" in out
    for trc in ("007", "008", "011", "013", "014", "036", "037", "104", "107", "109", "121", "204", "209", "291"):
        assert f"    {trc} " in out, f"TRC {trc} missing from the summary"
    assert "region 05: $35.00" in out
    assert "reassigned: 7 members" in out
    assert "Pub. 11209  BLUE" in out and "Pub. 11267  TAN" in out
    assert list(tmp_path.iterdir()) == [], "partd up --once must clean up its run directory (and ./data it made)"
    assert str(tmp_path) not in out, "a path printed by partd up must exist after it exits"
    assert "--keep-data keeps its log" in out
    # the annual cycle (the longest step) reports each of its stages
    for i in range(1, 9):
        assert f"      {i}/8: " in out
    # what to try next: publish more, one plan's replies, lag, /metrics
    tail = out[out.index("next: "):]
    for step in ("up` (without --once)", "generate --members 1000 --wait-group partd",
                 "consume trr-replies --key S7101", "partd lag", "/metrics"):
        assert step in tail, step
    assert time.monotonic() - started < 400


def test_partd_up_keep_data_keeps_the_log_it_prints_and_sigterm_stops_everything(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "PARTD_WEB_PORT")}
    env["PARTD_DATA_DIR"] = str(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "streams.tools.cli", "up", "--keep-data"], stdout=subprocess.PIPE,
                            text=True, env=env, start_new_session=True)
    lines = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("[3/6]"):
                break
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    out = "".join(lines) + rest
    assert proc.returncode != 0  # stopped in the middle of the sample: not a finished run
    broker_pid = int(re.search(r"\[1/6\] embedded Tansu broker at \S+ \(pid (\d+)\)", out).group(1))
    worker_pid, log = re.search(r"\[3/6\] worker started \(pid (\d+), log (\S+)\)", out).groups()
    assert Path(log).is_file() and Path(log).is_relative_to(tmp_path)
    assert f"kept the run's data and logs in {Path(log).parent.parent} (worker log {log})" in out
    for pid in (broker_pid, int(worker_pid)):  # stopped, not left running
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_partd_up_whose_worker_fails_says_why_at_once_and_keeps_its_log(tmp_path: Path) -> None:
    import socket

    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    env["PARTD_DATA_DIR"] = str(tmp_path)
    with socket.socket() as taken:  # the worker's web port is taken: the worker stops at once
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env["PARTD_WEB_PORT"] = str(port)
        done = subprocess.run([sys.executable, "-m", "streams.tools.cli", "up", "--once"], capture_output=True,
                              text=True, env=env, timeout=120)
    assert done.returncode == 1
    out = done.stdout
    assert "error: the worker exited (code 1) while waiting for the worker to process 15 plans and beneficiaries" in out
    assert f"partd: error: the worker's web port 127.0.0.1:{port} is in use" in out  # the log's tail
    log = Path(re.search(r"\(worker log (\S+)\)", out).group(1))
    assert log.is_file() and log.is_relative_to(tmp_path)
    assert "is in use" in log.read_text()
