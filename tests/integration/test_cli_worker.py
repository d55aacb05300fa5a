"""``partd worker`` the second hour (issue 27), through the real command line, on real brokers.

* a restart on a data directory a broker no longer has (the README's session by hand, twice): the
  partitions ahead of the changelog are set aside (kept) and restored, in one warning line; a data
  directory written against another cluster altogether is said once; the worker answers;
* a second worker on the same data directory stops at once with one line naming ``PARTD_DATA_DIR``
  and ``PARTD_WEB_PORT``, and the first worker does not notice;
* a clean stop (Ctrl-C, SIGTERM) logs no ERROR and no traceback;
* the start-up is a short summary, Faust's detail only at ``PARTD_LOG_LEVEL=debug``.

Each worker is ``python -m streams.tools.cli worker`` (:class:`streams.tools.runner.WorkerProcess`),
its output in a file, as a user runs it in the background.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from streams import topics
from streams.kafka.admin import ensure_topics
from streams.kafka.internals.store import read_stopped
from streams.tools import sample
from streams.tools.broker import EmbeddedBroker, free_port
from streams.tools.io import wait_consumed
from streams.tools.runner import WorkerProcess
from tests.integration.conftest import PARTITIONS

pytestmark = pytest.mark.integration

READY = "] ready: holding member partitions"


def _partd(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "PARTD_", "SCHEMA_"))}
    return subprocess.run([sys.executable, "-m", "streams.tools.cli", *args], capture_output=True, text=True,
                          env={**base, **env}, timeout=timeout)


def _files(tmp: Path) -> dict[str, Path]:
    """The README's session files: plans, people, enrollments (the built-in sample's)."""
    out = {}
    for name, stage, wanted in (("plans", sample.STAGE_REFERENCE, "plan-year-updates"),
                                ("people", sample.STAGE_REFERENCE, "beneficiary-updates"),
                                ("enrollments", sample.STAGE_ENROLL, "enrollment-requests")):
        out[wanted] = tmp / f"{name}.jsonl"
        out[wanted].write_text("".join(json.dumps(v) + "\n" for t, v in stage if t == wanted))
    return out


def _session(bootstrap: str, files: dict[str, Path]) -> Counter[str]:
    """Produce the three files as the README does, wait for the worker, and count the replies by TRC."""
    env = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    for topic, path in files.items():
        done = _partd("produce", topic, str(path), env=env)
        assert done.returncode == 0, done.stderr
    asyncio.run(wait_consumed(bootstrap, "partd", set(files), timeout=90))
    done = _partd("consume", "trr-replies", "--idle", "1", env=env)
    assert done.returncode == 0, done.stderr
    return Counter(json.loads(line)["value"]["transaction_reply_code"] for line in done.stdout.splitlines())


def _worker(bootstrap: str, data: Path, **env: str) -> WorkerProcess:
    w = WorkerProcess(bootstrap, data, partitions=PARTITIONS, extra_env=env).start()
    assert w.wait_log(READY, 90), w.log_tail()
    return w


def _log(w: WorkerProcess) -> str:
    return w.log_path.read_text(errors="replace")


def _stopped_cleanly(w: WorkerProcess, sig: int = signal.SIGTERM) -> str:
    """Stop ``w`` with ``sig`` (Ctrl-C is SIGINT); its whole log, asserting no ERROR line and no traceback."""
    assert w.proc is not None
    w.proc.send_signal(sig)
    assert w.proc.wait(60) == 0, w.log_tail()
    log = _log(w)
    assert "[ERROR]" not in log and "[CRITICAL]" not in log and "Traceback" not in log, log
    assert "member runtime stopped after" in log
    return log


def _broker(tmp: Path, cluster_id: str | None = None) -> EmbeddedBroker:
    b = EmbeddedBroker(log_dir=tmp, cluster_id=cluster_id)
    b.start(None)
    ensure_topics(b.bootstrap, list(topics.ALL), PARTITIONS)
    return b


def test_a_data_dir_ahead_of_the_cluster_is_set_aside_restored_and_answers(tmp_path: Path) -> None:
    data = tmp_path / "data"
    files = _files(tmp_path)
    first = _broker(tmp_path / "b1", cluster_id="partd-lost-data")
    try:
        w1 = _worker(first.bootstrap, data)
        replies = _session(first.bootstrap, files)
        assert sum(replies.values()) == 10 and replies["011"] >= 3, replies
        _stopped_cleanly(w1)
    finally:
        first.stop()
    written = {(p, k) for p, k, _ in read_stopped(data)}
    assert written

    # The same cluster (its id) after it lost everything: a memory-only broker restarted.
    second = _broker(tmp_path / "b2", cluster_id="partd-lost-data")
    second_address = second.bootstrap
    try:
        w2 = _worker(second.bootstrap, data)
        assert _session(second.bootstrap, files) == replies  # restored (from nothing) and answering
        log = _stopped_cleanly(w2)
    finally:
        second.stop()
    warnings = [line for line in log.splitlines() if "[WARNING]" in line]
    assert len(warnings) == 1, warnings
    aside = sorted((data / "set-aside").iterdir())
    assert len(aside) == 1
    found = re.search(rf"\[WARNING\] member table partitions ([\d, ]+) \(active\) in "
                     rf"{re.escape(str(data / 'v1' / 'tables'))} are ahead of the changelog partd-members-changelog "
                     rf"\(0: offset \d+ on disk, the changelog is empty; .*\): the broker lost data, or this data "
                     rf"directory was written against another cluster; moved them to {re.escape(str(aside[0]))} "
                     r"\(kept, not deleted: they may be the only copy\) and restoring from the changelog",
                     warnings[0])
    assert found, warnings[0]
    assert {p for p, _ in written} <= {int(p) for p in found.group(1).split(", ")}  # every partition with data
    assert {(p, k) for p, k, _ in read_stopped(aside[0])} == written  # the old store, whole

    # Another cluster altogether (a new embedded broker has a new id): said once, the tables set aside.
    third = _broker(tmp_path / "b3")
    third_id, third_address = third.cluster_id, third.bootstrap
    try:
        w3 = _worker(third.bootstrap, data)
        log = _stopped_cleanly(w3, signal.SIGINT)
    finally:
        third.stop()
    warnings = [line for line in log.splitlines() if "[WARNING]" in line]
    aside = sorted((data / "set-aside").iterdir())
    assert len(aside) == 2 and len(warnings) == 1, warnings
    assert warnings[0].endswith(
        f"[WARNING] the data directory {data} (PARTD_DATA_DIR) was written against another Kafka cluster "
        f"(id partd-lost-data, at {second_address}), not this one (id {third_id}, at {third_address}): "
        f"moved its tables ({data / 'v1'}) to {aside[1]} (kept, not deleted) and restoring the member table "
        "from this cluster's changelog "), warnings[0]


def test_second_worker_on_a_data_dir_in_use_quiet_start_and_clean_stops(tmp_path: Path) -> None:
    data = tmp_path / "data"
    broker = _broker(tmp_path / "b")
    try:
        w1 = _worker(broker.bootstrap, data)
        # The start: a summary, partd's lines, nothing of Faust's (no service lines, no ASCII tables).
        lines = _log(w1).splitlines()
        start = lines[:next(i for i, line in enumerate(lines) if READY in line) + 1]
        assert len(start) <= 4, start
        assert re.search(rf"\[INFO\] partd worker \(pid {w1.pid}\): cluster {broker.bootstrap} "
                         rf"\(id {broker.cluster_id}\), group partd, web server http://127.0.0.1:{w1.web_port} "
                         rf"\(/metrics, /ready\), data directory {re.escape(str(data))}; joining the group "
                         r"\(PARTD_LOG_LEVEL=debug shows Faust's detail\)", start[0]), start[0]
        assert start[-1].endswith(f"[INFO] ready: holding member partitions 0-{PARTITIONS - 1} of {PARTITIONS} ")
        assert not any("[^" in line or "+---" in line for line in start), start

        # A second worker on the same data directory, with its own web port as the old advice said.
        port = free_port()
        done = _partd("worker", env={"KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "PARTD_DATA_DIR": str(data),
                                     "PARTD_WEB_PORT": str(port), "PARTD_PARTITIONS": str(PARTITIONS)}, timeout=30)
        assert done.returncode == 1 and done.stdout == "", done
        line, = done.stderr.splitlines()
        assert re.fullmatch(
            rf"partd: error: the data directory {re.escape(str(data))} \(PARTD_DATA_DIR\) is in use by another worker "
            rf"on this machine \(pid {w1.pid}, web port {w1.web_port}\): give each worker its own PARTD_DATA_DIR and "
            rf"PARTD_WEB_PORT, e\.g\. `PARTD_DATA_DIR={re.escape(str(data))}-2 PARTD_WEB_PORT=\d+ partd worker`",
            line), line
        assert "rebalanced" not in _log(w1)  # the first worker never noticed
        assert w1.alive()

        # Ctrl-C of a healthy worker that has work behind it: no ERROR, no traceback.
        replies = _session(broker.bootstrap, _files(tmp_path))
        assert sum(replies.values()) == 10, replies
        _stopped_cleanly(w1, signal.SIGINT)

        # The same directory right after (the lock went with the process), at debug: Faust's detail is back.
        w2 = _worker(broker.bootstrap, data, PARTD_LOG_LEVEL="debug")
        log = _stopped_cleanly(w2)
        assert "[^PartdWorker]: Starting..." in log and "Highwater - Active" in log  # Faust's own lines
    finally:
        broker.stop()
