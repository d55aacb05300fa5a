"""partd over TLS on a real broker: the embedded Tansu behind its TLS end, real ``partd`` commands and worker.

Everything a person runs is a real ``partd`` process configured only by the
lines ``partd broker --tls DIR`` prints (``EmbeddedBroker.exports()``).
A client that is not configured for TLS, or trusts another CA, or has no
client certificate where one is required, is refused, and partd says so in
one ``partd: error: ... TLS ...`` line.
"""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import trustme

from streams import topics
from streams.kafka.admin import ensure_topics
from streams.text import plural
from streams.tools import sample
from streams.tools.broker import EmbeddedBroker
from streams.tools.runner import WorkerProcess

pytestmark = pytest.mark.integration

PARTITIONS = 4
ADA = "1EG4TE5MK73"  # in the sample: FL, no plan yet
SECURITY_VARS = ("KAFKA_SECURITY_PROTOCOL", "KAFKA_SSL_CAFILE", "KAFKA_SSL_CERTFILE", "KAFKA_SSL_KEYFILE",
                 "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD")


def _env(broker: EmbeddedBroker, **changes: str | None) -> dict[str, str]:
    """This process's environment without Kafka settings, plus the broker's exported lines, plus ``changes``."""
    env = {k: v for k, v in os.environ.items() if k not in SECURITY_VARS and k != "KAFKA_BOOTSTRAP_SERVERS"}
    env.update(line.split("=", 1) for line in broker.exports())
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def _partd(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streams.tools.cli", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


def _jsonl(path: Path, rows: list[Any]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The command failed with exactly one ``partd: error:`` line and no traceback; that line."""
    assert done.returncode != 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("partd: error: "), done.stderr
    return lines[0]


@pytest.fixture
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """A broker per test (it starts in a fraction of a second), so no test sees another's records."""
    root = tmp_path_factory.mktemp("tls-broker")
    broker = EmbeddedBroker(root, tls_dir=root / "tls")
    broker.start()
    try:
        ensure_topics(broker.bootstrap, list(topics.ALL), PARTITIONS, security=broker.security)
        yield broker
    finally:
        broker.stop()


def test_the_whole_flow_over_tls(tls_broker: EmbeddedBroker, tmp_path: Path) -> None:
    env = _env(tls_broker, PARTD_PARTITIONS=str(PARTITIONS))
    assert env["KAFKA_SECURITY_PROTOCOL"] == "SSL" and env["KAFKA_SSL_CAFILE"].endswith("/ca.pem")
    plans = [p for p in sample.PLANS if p["plan_year"] == 2027]
    people = [b for b in sample.BENEFICIARIES if b["mbi"] == ADA]
    for topic, rows in (("plan-year-updates", plans), ("beneficiary-updates", people)):
        done = _partd("produce", topic, _jsonl(tmp_path / f"{topic}.jsonl", rows), env=env)
        assert done.returncode == 0, done.stderr
        assert f"produced {plural(len(rows), 'record')}" in done.stdout
    worker = WorkerProcess(tls_broker.bootstrap, tmp_path / "worker", partitions=PARTITIONS,
                           extra_env={k: env[k] for k in ("KAFKA_SECURITY_PROTOCOL", "KAFKA_SSL_CAFILE")}).start()
    try:
        # The worker has taken in who Ada is before her enrollment comes (else it may answer 008 first:
        # docs/architecture.md, "Order"); `partd lag` over TLS says when.
        _wait_lag_zero(env, "beneficiary-updates", 1, worker)
        enroll = next(v for t, v in sample.STAGE_ENROLL if v["tracking_id"] == "SAMPLE-0001")  # TC 61 -> 011
        wrong_key = {"key": "2FH5UF6NK84", "value": {**enroll, "tracking_id": "TLS-KEY-MISMATCH"}}
        done = _partd("produce", "enrollment-requests", _jsonl(tmp_path / "enroll.jsonl", [enroll, wrong_key]), env=env)
        assert done.returncode == 0, done.stderr

        deadline = time.monotonic() + 120
        replies: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not replies:
            assert worker.alive(), worker.log_tail()
            out = _partd("consume", "trr-replies", "--idle", "1", env=env)
            assert out.returncode == 0, out.stderr
            replies = [json.loads(line) for line in out.stdout.splitlines()]
            time.sleep(0.5)
        assert [(r["key"], r["value"]["mbi"], r["value"]["transaction_code"], r["value"]["transaction_reply_code"],
                 r["value"]["plan_tracking_id"]) for r in replies] == [("S7101", ADA, 61, "011", "SAMPLE-0001")], \
            (replies, worker.log_tail())

        out = _partd("consume", "dead-letters", "--idle", "1", env=env)
        assert out.returncode == 0, out.stderr
        dead = [json.loads(line) for line in out.stdout.splitlines()]
        assert [(d["key"], d["value"]["source_topic"], d["value"]["error_code"]) for d in dead] == [
            ("2FH5UF6NK84", "enrollment-requests", "KEY_MISMATCH")]

        rows = _wait_lag_zero(env, "enrollment-requests", 2, worker)
        assert len(rows) == PARTITIONS and sum(r["high_water"] for r in rows) == 2, rows
        assert sum(r["lag"] for r in rows) == 0, rows
    finally:
        assert worker.stop() == 0, worker.log_tail()


def _wait_lag_zero(env: dict[str, str], topic: str, records: int, worker: WorkerProcess) -> list[dict[str, Any]]:
    """``partd lag --json`` for ``topic`` until the worker's group has committed all ``records``; the rows."""
    deadline = time.monotonic() + 120
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        assert worker.alive(), worker.log_tail()
        out = _partd("lag", "--json", "--topic", topic, env=env)
        assert out.returncode == 0, out.stderr
        rows = json.loads(out.stdout)
        if rows and sum(r["lag"] for r in rows) == 0 and sum(r["committed"] or 0 for r in rows) == records:
            return rows
        time.sleep(0.5)
    raise AssertionError(f"the worker did not take in {records} records of {topic}: {rows}\n{worker.log_tail()}")


@pytest.mark.parametrize("command", [("consume", "trr-replies"), ("lag",), ("worker",)], ids=lambda c: c[0])
def test_a_plaintext_client_is_refused_in_one_line(tls_broker: EmbeddedBroker, tmp_path: Path,
                                                   command: tuple[str, ...]) -> None:
    env = _env(tls_broker, KAFKA_SECURITY_PROTOCOL=None, KAFKA_SSL_CAFILE=None, PARTD_DATA_DIR=str(tmp_path))
    line = _one_error_line(_partd(*command, env=env))
    assert f"the broker at {tls_broker.bootstrap} requires TLS" in line
    assert "KAFKA_SECURITY_PROTOCOL=SSL" in line and "KAFKA_SSL_CAFILE" in line


@pytest.mark.parametrize("command", [("consume", "trr-replies"), ("lag",), ("worker",)], ids=lambda c: c[0])
def test_a_client_trusting_another_ca_is_refused_in_one_line(tls_broker: EmbeddedBroker, tmp_path: Path,
                                                             command: tuple[str, ...]) -> None:
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    env = _env(tls_broker, KAFKA_SSL_CAFILE=str(other), PARTD_DATA_DIR=str(tmp_path))
    line = _one_error_line(_partd(*command, env=env))
    assert line.startswith(f"partd: error: TLS: the certificate of the broker at {tls_broker.bootstrap} is not trusted")
    assert f"KAFKA_SSL_CAFILE={other}" in line


def test_a_tls_client_on_a_plaintext_port_is_told_so(broker: str, tmp_path: Path) -> None:
    """In-process: aiokafka itself waits its whole request timeout (40 s) for a TLS hello Tansu never answers."""
    from aiokafka.errors import KafkaConnectionError

    from streams.config import KafkaSecurity
    from streams.kafka.clients import explain_connection_error

    ca = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca))
    line = explain_connection_error(KafkaConnectionError(f"Unable to bootstrap from {broker}"), broker,
                                    security=KafkaSecurity("SSL", ca))
    assert line is not None and line.startswith(f"TLS: the broker at {broker} speaks plaintext, not TLS")


def test_mutual_tls_needs_the_client_certificate(tmp_path: Path) -> None:
    with EmbeddedBroker(tmp_path, tls_dir=tmp_path / "tls", client_auth=True) as broker:
        ensure_topics(broker.bootstrap, ["plan-year-updates"], 1, security=broker.security)
        env = _env(broker)
        assert env["KAFKA_SSL_CERTFILE"].endswith("client.pem") and env["KAFKA_SSL_KEYFILE"].endswith("client-key.pem")
        plan = sample.PLANS[0]
        done = _partd("produce", "plan-year-updates", _jsonl(tmp_path / "p.jsonl", [plan]), env=env)
        assert done.returncode == 0, done.stderr
        out = _partd("consume", "plan-year-updates", "--idle", "1", env=env)
        assert out.returncode == 0, out.stderr
        assert [json.loads(line)["value"]["contract_id"] for line in out.stdout.splitlines()] == [plan["contract_id"]]

        line = _one_error_line(_partd("consume", "plan-year-updates",
                                      env=_env(broker, KAFKA_SSL_CERTFILE=None, KAFKA_SSL_KEYFILE=None)))
        assert "TLS: the broker at" in line and "requires a client certificate" in line
        assert "KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE" in line


def test_sasl_settings_reach_the_broker_and_the_password_never_shows(broker: str, tmp_path: Path) -> None:
    """Tansu here offers no SASL mechanism (INFRA; streams/kafka/internals/tansu.py): it answers the
    handshake partd's clients send with an empty list, which proves the settings are on the wire."""
    password = "pw-Never-Print-7f3a91"
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": broker, "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
           "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_USERNAME": "plan-s7101",
           "KAFKA_SASL_PASSWORD": password, "PARTD_DATA_DIR": str(tmp_path)}
    for command in (("consume", "trr-replies"), ("lag",), ("worker",)):
        line = _one_error_line(_partd(*command, env=env))
        assert line == (f"partd: error: SASL: the broker at {broker} does not offer KAFKA_SASL_MECHANISM=SCRAM-SHA-512: "
                        f"set the mechanism its SASL listener enables (or the address of that listener)"), line
    debug = _partd("worker", env={**env, "PARTD_LOG_LEVEL": "debug"})
    assert debug.returncode != 0 and "Traceback" in debug.stderr  # debug: the traceback too
    assert "SASL" in debug.stderr
    for command in (("consume", "trr-replies"), ("worker",)):
        done = _partd(*command, env={**env, "PARTD_LOG_LEVEL": "debug"})
        assert password not in done.stdout + done.stderr


def test_a_worker_over_tls_with_an_https_registry_logs_and_serves_no_secret(tls_broker: EmbeddedBroker,
                                                                           tmp_path: Path) -> None:
    """At debug level the worker's log and /metrics hold neither the registry's password nor any other secret
    it was given, while they show it worked (a reply sent, schemas from the registry)."""
    import urllib.request

    from tests.kafka.test_registry import REGISTRY_PASSWORD, FakeConfluent, _serving

    state = FakeConfluent()
    state.user_info = "svc-partd:" + REGISTRY_PASSWORD
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "registry-ca.pem"))
    with _serving(state, ca) as url:
        registry = {"SCHEMA_REGISTRY_URL": url, "SCHEMA_REGISTRY_CA_FILE": str(tmp_path / "registry-ca.pem"),
                    "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": state.user_info}
        env = _env(tls_broker, **registry)
        worker = WorkerProcess(tls_broker.bootstrap, tmp_path / "worker", partitions=PARTITIONS,
                               extra_env={**{k: env[k] for k in ("KAFKA_SECURITY_PROTOCOL", "KAFKA_SSL_CAFILE")},
                                          **registry, "PARTD_LOG_LEVEL": "debug"}).start()
        try:
            plan = next(p for p in sample.PLANS if p["plan_year"] == 2027 and p["contract_id"] == "S7202")
            bad = {**next(v for t, v in sample.STAGE_ENROLL if v["tracking_id"] == "SAMPLE-0009"),
                   "tracking_id": "TLS-SECRETS-1", "contract_id": "S7202"}  # unknown MBI: 008
            for topic, rows in (("plan-year-updates", [plan]), ("enrollment-requests", [bad])):
                done = _partd("produce", topic, _jsonl(tmp_path / f"{topic}.jsonl", rows), env=env)
                assert done.returncode == 0, done.stderr
            metrics = ""
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and 'partd_trr_replies_total{trc="008"' not in metrics:
                assert worker.alive(), worker.log_tail()
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/metrics", timeout=10) as resp:
                        metrics = resp.read().decode()
                except OSError:
                    pass
                time.sleep(0.5)
            assert 'partd_trr_replies_total{trc="008"' in metrics, worker.log_tail()
        finally:
            worker.stop()
    log = worker.log_path.read_text(errors="replace")
    assert "DEBUG" in log  # a debug log of a worker that ran
    assert any(p.startswith("/subjects/") for _, p, _ in state.requests)  # it used the https registry
    for text in (log, metrics):
        assert REGISTRY_PASSWORD not in text
        assert base64.b64encode(state.user_info.encode()).decode() not in text
