"""Ordinary mistakes through the real command line: one ``partd: error: ...`` line, a non-zero exit, no traceback.

Each case runs ``python -m streams.tools.cli ...`` as a user would and checks the
whole of stderr; the broker cases use a real Tansu broker (or a port nothing
listens on), the registry cases a real HTTP server (or a closed port).
"""
from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams import topics
from streams.tools import sample
from streams.tools.broker import EmbeddedBroker, free_port
from tests.integration.conftest import PARTITIONS

TOPIC_LIST = ", ".join(topics.INPUTS + topics.OUTPUTS)


def _partd(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items()
            if k not in ("KAFKA_BOOTSTRAP_SERVERS", "SCHEMA_REGISTRY_URL", "PARTD_LOG_LEVEL")}
    return subprocess.run([sys.executable, "-m", "streams.tools.cli", *args], capture_output=True, text=True,
                          env={**base, **(env or {})}, timeout=timeout)


def _one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a failed command (asserting there is exactly one and no traceback)."""
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def _closed_port() -> str:
    return f"127.0.0.1:{free_port()}"  # bound and released: nothing listens there


def _unreachable(address: str) -> str:
    return (f"partd: error: cannot connect to the Kafka cluster at {address} (KAFKA_BOOTSTRAP_SERVERS): "
            "start a broker with `partd broker` and export the KAFKA_BOOTSTRAP_SERVERS=... line it prints, "
            "or set KAFKA_BOOTSTRAP_SERVERS to a running cluster")


@pytest.fixture
def plans_file(tmp_path: Path) -> Path:
    plans = [p for topic, p in sample.STAGE_REFERENCE if topic == "plan-year-updates"][:2]
    path = tmp_path / "plans.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in plans))
    return path


# ---------------------------------------------------------------- no broker needed
@pytest.mark.parametrize("command", [("consume", "enrollment-request"), ("produce", "enrollment-request")])
def test_unknown_topic_is_named_with_the_list_of_topics(command: tuple[str, str], plans_file: Path) -> None:
    args = [*command, str(plans_file)] if command[0] == "produce" else list(command)
    done = _partd(*args, env={"KAFKA_BOOTSTRAP_SERVERS": _closed_port()})
    assert _one_error_line(done) == (
        "partd: error: unknown topic 'enrollment-request' (did you mean enrollment-requests?); "
        f"partd's topics are: {TOPIC_LIST}")


def test_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "does-not-exist.jsonl"
    done = _partd("produce", "enrollment-requests", str(missing), env={"KAFKA_BOOTSTRAP_SERVERS": _closed_port()})
    assert _one_error_line(done) == f"partd: error: no such file: {missing} (check the path)"


def test_a_file_that_is_not_json_lines_text_is_named(tmp_path: Path) -> None:
    binary = tmp_path / "export.jsonl"
    binary.write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(256)))  # e.g. a gzip file
    done = _partd("produce", "enrollment-requests", str(binary), env={"KAFKA_BOOTSTRAP_SERVERS": _closed_port()})
    assert _one_error_line(done) == (f"partd: error: {binary} is not UTF-8 text: `partd produce` reads JSON lines "
                                     "(UTF-8), one record per line")
    done = _partd("produce", "enrollment-requests", str(tmp_path), env={"KAFKA_BOOTSTRAP_SERVERS": _closed_port()})
    assert _one_error_line(done) == f"partd: error: {tmp_path} is a directory, not a file"


@pytest.mark.parametrize("command", [
    ("worker",), ("consume", "trr-replies"), ("produce", "plan-year-updates", "PLANS"), ("lag",),
    ("generate", "--members", "5"), ("up", "--once"),
])
def test_unreachable_broker_is_one_line_with_the_address_and_the_fix(command: tuple[str, ...], plans_file: Path,
                                                                     tmp_path: Path) -> None:
    address = _closed_port()
    args = [str(plans_file) if a == "PLANS" else a for a in command]
    done = _partd(*args, env={"KAFKA_BOOTSTRAP_SERVERS": address, "PARTD_DATA_DIR": str(tmp_path / "data")})
    assert _one_error_line(done) == _unreachable(address)
    assert done.stdout == ""
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").iterdir())  # nothing left behind


def test_unset_bootstrap_says_what_to_do() -> None:
    done = _partd("worker")
    assert _one_error_line(done) == (
        "partd: error: KAFKA_BOOTSTRAP_SERVERS is not set: start a broker with `partd broker` and export the "
        "KAFKA_BOOTSTRAP_SERVERS=... line it prints (or run `partd up`, which starts everything)")


def test_a_bootstrap_address_that_is_not_host_port_is_a_config_error() -> None:
    done = _partd("consume", "trr-replies", env={"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:kafka"})
    assert _one_error_line(done) == ("partd: error: KAFKA_BOOTSTRAP_SERVERS must be host:port "
                                     "(several separated by commas), got '127.0.0.1:kafka'")


def test_debug_level_prints_the_traceback_before_the_line() -> None:
    address = _closed_port()
    done = _partd("consume", "trr-replies", env={"KAFKA_BOOTSTRAP_SERVERS": address, "PARTD_LOG_LEVEL": "debug"})
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert "KafkaConnectionError" in done.stderr
    assert done.stderr.splitlines()[-1] == _unreachable(address)


def test_broker_on_a_port_in_use_is_one_line() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        done = _partd("broker", "--port", str(port))
    assert _one_error_line(done) == (
        f"partd: error: the embedded broker: port {port} on 127.0.0.1 is already in use (another broker?): "
        "choose a free port, or leave the port out to get one")


# ---------------------------------------------------------------- a real broker
@pytest.mark.integration
@pytest.mark.parametrize("command", [("produce", "plan-year-updates", "PLANS"), ("worker",)])
def test_unreachable_registry_is_one_line(command: tuple[str, ...], broker: str, plans_file: Path,
                                          tmp_path: Path) -> None:
    url = f"http://{_closed_port()}"
    args = [str(plans_file) if a == "PLANS" else a for a in command]
    done = _partd(*args, env={"KAFKA_BOOTSTRAP_SERVERS": broker, "SCHEMA_REGISTRY_URL": url,
                              "PARTD_DATA_DIR": str(tmp_path / "data"), "PARTD_WEB_PORT": str(free_port()),
                              "PARTD_PARTITIONS": str(PARTITIONS)})
    assert _one_error_line(done) == (
        f"partd: error: no usable answer from the schema registry at {url} (SCHEMA_REGISTRY_URL): "
        "[Errno 111] Connection refused; start it or fix SCHEMA_REGISTRY_URL, "
        "or unset it to use the ids in schemas/registry.json")


@pytest.fixture
def not_a_registry() -> Iterator[str]:
    """An HTTP server that answers 404 to everything (a wrong SCHEMA_REGISTRY_URL)."""
    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            self.send_error(404)

        do_GET = do_POST  # noqa: N815

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.integration
def test_a_url_that_is_not_a_registry_is_one_line(broker: str, not_a_registry: str) -> None:
    done = _partd("consume", "trr-replies", env={"KAFKA_BOOTSTRAP_SERVERS": broker,
                                                 "SCHEMA_REGISTRY_URL": not_a_registry})
    assert _one_error_line(done) == (
        f"partd: error: no usable answer from the schema registry at {not_a_registry} (SCHEMA_REGISTRY_URL): "
        "HTTP 404 Not Found to POST /subjects/enrollment-requests-value/versions; start it or fix "
        "SCHEMA_REGISTRY_URL, or unset it to use the ids in schemas/registry.json")


@pytest.mark.integration
def test_a_second_worker_on_the_same_web_port_is_one_line(broker: str, tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:  # what the first worker's web server holds
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _partd("worker", env={"KAFKA_BOOTSTRAP_SERVERS": broker, "PARTD_WEB_PORT": str(port),
                                     "PARTD_DATA_DIR": str(tmp_path / "data"), "PARTD_PARTITIONS": str(PARTITIONS)})
    assert _one_error_line(done) == (
        f"partd: error: the worker's web port 127.0.0.1:{port} is in use (another worker?): "
        "give each worker on this machine its own PARTD_WEB_PORT and PARTD_DATA_DIR")


@pytest.mark.integration
def test_consume_of_an_empty_topic_says_so(broker: str) -> None:
    done = _partd("consume", "lis-benchmarks", "--idle", "1", env={"KAFKA_BOOTSTRAP_SERVERS": broker})
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert done.stderr == "partd: lis-benchmarks is empty: nothing has been published to it yet\n"


@pytest.mark.integration
def test_a_topic_missing_on_the_cluster_is_named(tmp_path: Path) -> None:
    with EmbeddedBroker(log_dir=tmp_path) as bare:  # no topics created
        done = _partd("consume", "trr-replies", env={"KAFKA_BOOTSTRAP_SERVERS": bare.bootstrap})
        assert _one_error_line(done) == (
            f"partd: error: topic trr-replies does not exist on the cluster at {bare.bootstrap}: "
            "`partd worker` (or `partd broker`) creates partd's topics")


@pytest.mark.integration
def test_consume_key_keeps_one_plans_records_and_max_counts_them(broker: str, plans_file: Path) -> None:
    env = {"KAFKA_BOOTSTRAP_SERVERS": broker}
    plans = [json.loads(line) for line in plans_file.read_text().splitlines()]
    assert _partd("produce", "plan-year-updates", str(plans_file), env=env).returncode == 0
    key = f"{plans[1]['contract_id']}-{plans[1]['pbp_id']}-{plans[1]['plan_year']}"
    done = _partd("consume", "plan-year-updates", "--idle", "1", "--key", key, env=env)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(line["key"], line["value"]["contract_id"]) for line in lines] == [(key, plans[1]["contract_id"])]
    one = _partd("consume", "plan-year-updates", "--idle", "1", "--max", "1", env=env)
    assert len(one.stdout.splitlines()) == 1
    none = _partd("consume", "plan-year-updates", "--idle", "1", "--key", "S0000-000-1999", env=env)
    assert none.returncode == 0 and none.stdout == ""
    assert none.stderr == "partd: none of the 2 records of plan-year-updates has the key S0000-000-1999\n"


@pytest.mark.integration
def test_consume_into_a_reader_that_stops_early_ends_quietly(broker: str) -> None:
    env = {"KAFKA_BOOTSTRAP_SERVERS": broker}
    made = _partd("generate", "--members", "10", "--stage", "reference", env=env)  # ~2,000 plans: more than a pipe holds
    assert made.returncode == 0, made.stderr
    proc = subprocess.Popen([sys.executable, "-m", "streams.tools.cli", "consume", "plan-year-updates", "--idle", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **env})
    assert proc.stdout is not None and proc.stderr is not None
    first = json.loads(proc.stdout.readline())  # `partd consume ... | head -1`
    proc.stdout.close()
    assert proc.wait(60) == 0
    assert proc.stderr.read() == ""
    assert first["value"]["plan_year"] > 2000
