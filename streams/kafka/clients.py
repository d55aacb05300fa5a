"""Every Kafka client partd makes is built here, from one set of connection settings.

The worker's Faust app (:func:`faust_settings`), its own readers of the
reference topics, the lag sampler and every tool (``produce``, ``consume``,
``lag``, ``generate``, ``bench``, ``up``) get their aiokafka clients from
these functions, so a connection setting (security, timeouts) is added in
one place and reaches every client.

Broker work-arounds: the first client built for a bootstrap address checks
whether the broker is Tansu (:func:`streams.kafka.internals.tansu.is_tansu`)
and installs the Tansu work-arounds only then
(:func:`streams.kafka.internals.use_broker`).
"""
from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from streams.kafka import internals


def connection(bootstrap: str) -> dict[str, Any]:
    """The keyword arguments every aiokafka client gets: where the cluster is and how to connect."""
    internals.use_broker(bootstrap)
    return {"bootstrap_servers": bootstrap}


def consumer(bootstrap: str, *topics: str, group_id: str | None = None, **options: Any) -> AIOKafkaConsumer:
    """An aiokafka consumer (not started). ``group_id=None``: a plain reader without a group."""
    return AIOKafkaConsumer(*topics, group_id=group_id, **connection(bootstrap), **options)


def producer(bootstrap: str, **options: Any) -> AIOKafkaProducer:
    """An aiokafka producer (not started)."""
    return AIOKafkaProducer(**connection(bootstrap), **options)


def admin(bootstrap: str, **options: Any) -> AIOKafkaAdminClient:
    """An aiokafka admin client (not started)."""
    return AIOKafkaAdminClient(**connection(bootstrap), **options)


def faust_settings(bootstrap: str) -> dict[str, Any]:
    """The Faust app settings that say where the cluster is and how to connect (``faust.App(**...)``)."""
    internals.use_broker(bootstrap)
    return {"broker": f"kafka://{bootstrap}"}
