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

import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError

from streams.config import settings
from streams.kafka import internals

_Client = TypeVar("_Client", AIOKafkaConsumer, AIOKafkaProducer, AIOKafkaAdminClient)


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


@asynccontextmanager
async def started(client: _Client) -> AsyncIterator[_Client]:
    """Start ``client``, and stop it on the way out, also when starting failed (no "Unclosed" warning)."""
    try:
        await client.start()
        yield client
    finally:
        await (client.close() if isinstance(client, AIOKafkaAdminClient) else client.stop())


async def probe(bootstrap: str, *, timeout_ms: int = 10000) -> None:
    """Connect to the cluster at ``bootstrap`` and read its metadata once; raise what the client raises.

    The commands call this before they do anything else, so an unreachable
    cluster is one clear error (:func:`explain_connection_error`) rather than
    a failure in the middle of the work. aiokafka's own log line about the
    failed connection is kept quiet unless ``PARTD_LOG_LEVEL=debug``.
    """
    quiet = logging.getLogger("aiokafka")
    level = quiet.level
    if not settings().debug:
        quiet.setLevel(logging.CRITICAL)
    try:
        async with started(admin(bootstrap, request_timeout_ms=timeout_ms)):
            pass
    finally:
        quiet.setLevel(level)


def explain_connection_error(exc: BaseException, bootstrap: str) -> str | None:
    """One line saying that the cluster at ``bootstrap`` cannot be reached and what to do; None if ``exc`` is not that.

    Used by the command line (``streams/tools/errors.py``) for every command.
    """
    where = f"the Kafka cluster at {bootstrap} (KAFKA_BOOTSTRAP_SERVERS)"
    fix = ("start a broker with `partd broker` and export the KAFKA_BOOTSTRAP_SERVERS=... line it prints, "
           "or set KAFKA_BOOTSTRAP_SERVERS to a running cluster")
    if isinstance(exc, KafkaTimeoutError):
        return f"{where} did not answer in time: is it running and reachable from here? {fix}"
    if isinstance(exc, (KafkaConnectionError, NodeNotReadyError, ConnectionRefusedError, socket.gaierror)):
        return f"cannot connect to {where}: {fix}"
    return None
