"""Topic administration: create missing topics, read partition counts.

Uses aiokafka's ``AIOKafkaAdminClient`` (CreateTopics / Metadata work on both
Apache Kafka and Tansu).  Synchronous wrappers so the CLI and tests can call
them outside an event loop; ``*_async`` variants for code that already runs
in one.  Note (docs/tansu.md, quirk 5): Tansu does not support CreatePartitions,
so an existing topic with too few partitions is reported, never grown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

from streams.config import KafkaSecurity
from streams.kafka import clients

__all__ = [
    "DEFAULT_PARTITIONS",
    "ensure_topics",
    "ensure_topics_async",
    "partition_count",
    "partition_count_async",
]

log = logging.getLogger(__name__)

DEFAULT_PARTITIONS = 8
_T = TypeVar("_T")


def _run(coro: Coroutine[Any, Any, _T]) -> _T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    coro.close()
    raise RuntimeError("called from a running event loop: use the *_async variant")


async def _partition_counts(admin: AIOKafkaAdminClient, topics: Iterable[str]) -> dict[str, int]:
    """Partition count of every existing topic among ``topics`` (absent ones left out)."""
    out: dict[str, int] = {}
    for desc in await admin.describe_topics(list(topics)):
        if desc.get("error_code", 0) == 0 and desc.get("partitions"):
            out[desc["topic"]] = len(desc["partitions"])
    return out


async def ensure_topics_async(
    bootstrap: str,
    names: list[str],
    partitions: int = DEFAULT_PARTITIONS,
    replication: int = 1,
    *,
    configs: dict[str, str] | None = None,
    timeout_ms: int = 30000,
    security: KafkaSecurity | None = None,
) -> list[str]:
    """Create the topics of ``names`` that do not exist; return the created ones.

    Idempotent.  A topic that exists with a different partition count is left
    as it is (a warning is logged). ``security``: how to connect (default:
    this process's settings, :func:`streams.kafka.clients.connection`).
    """
    async with clients.started(clients.admin(bootstrap, security=security, request_timeout_ms=timeout_ms)) as admin:
        existing = set(await admin.list_topics())
        missing = [n for n in dict.fromkeys(names) if n not in existing]
        created: list[str] = []
        if missing:
            new = [
                NewTopic(n, partitions, replication, topic_configs=dict(configs or {}))
                for n in missing
            ]
            response = await admin.create_topics(new, timeout_ms=timeout_ms)
            for topic, code, *rest in response.topic_errors:
                error = for_code(code)
                if code == 0:
                    created.append(topic)
                elif error is TopicAlreadyExistsError:  # raced with someone else
                    continue
                else:
                    raise error(f"create topic {topic!r}: {rest[0] if rest else ''}")
        counts = await _partition_counts(admin, names)
        other = {n: counts[n] for n in names if n in counts and counts[n] != partitions and n not in created}
        if other:
            log.warning(
                "%d topics exist with other partition counts than the %d wanted (left as they are): %s",
                len(other),
                partitions,
                ", ".join(f"{n} {c}" for n, c in other.items()),
            )
        if created:
            log.info("created topics %s with %d partitions", created, partitions)
        return created


def ensure_topics(
    bootstrap: str,
    names: list[str],
    partitions: int = DEFAULT_PARTITIONS,
    replication: int = 1,
    **kwargs: Any,
) -> list[str]:
    """Synchronous :func:`ensure_topics_async`."""
    return _run(ensure_topics_async(bootstrap, names, partitions, replication, **kwargs))


async def partition_count_async(bootstrap: str, topic: str, *, timeout_ms: int = 30000,
                                security: KafkaSecurity | None = None) -> int | None:
    """Number of partitions of ``topic``, or None if it does not exist."""
    async with clients.started(clients.admin(bootstrap, security=security, request_timeout_ms=timeout_ms)) as admin:
        if topic not in set(await admin.list_topics()):
            return None
        return (await _partition_counts(admin, [topic])).get(topic)


def partition_count(bootstrap: str, topic: str, **kwargs: Any) -> int | None:
    """Synchronous :func:`partition_count_async`."""
    return _run(partition_count_async(bootstrap, topic, **kwargs))
