"""tests/brokers.py: which broker the broker-backed tests get (PARTD_TEST_BROKER), proven without one running."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.brokers import KafkaContainerBroker, TansuBroker, broker_kind, make_broker


def test_tansu_is_the_default_and_ci_s(tmp_path: Path) -> None:
    assert broker_kind({}) == "tansu" and broker_kind({"PARTD_TEST_BROKER": ""}) == "tansu"
    broker = make_broker(tmp_path, {})
    assert isinstance(broker, TansuBroker) and broker.worker_env == {}


def test_testcontainers_asks_for_apache_kafka_with_kraft_and_the_tansu_work_arounds_off(tmp_path: Path) -> None:
    assert broker_kind({"PARTD_TEST_BROKER": "TestContainers "}) == "testcontainers"
    broker = make_broker(tmp_path, {"PARTD_TEST_BROKER": "testcontainers"})
    assert isinstance(broker, KafkaContainerBroker)
    assert broker.kraft and broker.image.startswith("confluentinc/cp-kafka:7.")
    assert broker.worker_env == {"PARTD_TANSU_WORKAROUNDS": "off"}


def test_an_unknown_choice_is_one_clear_error() -> None:
    with pytest.raises(ValueError, match="PARTD_TEST_BROKER='kafka': use one of tansu, testcontainers"):
        broker_kind({"PARTD_TEST_BROKER": "kafka"})


def test_without_a_docker_engine_the_testcontainers_choice_says_so(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """These machines have no Docker daemon (README): the switch fails at once with the reason, not a hang."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    broker = make_broker(tmp_path, {"PARTD_TEST_BROKER": "testcontainers"})
    with pytest.raises(RuntimeError, match="needs a Docker engine"):
        broker.start()
