"""Interactive queries: one member's record, read from the member table by the worker that holds it.

As Kafka Streams' interactive queries (``KafkaStreams.store`` and
``queryMetadataForKey``): the state lives in the workers, each worker knows
which worker holds which partition, and a question about one key goes to the
worker that holds the key's partition, which reads its own store.

* **Who holds what.** Every worker advertises its web address (``PARTD_WEB_URL``,
  Faust's ``canonical_url``) in its group membership; Faust's assignor hands
  every worker the whole map of addresses and member-table partitions with each
  assignment (Faust's public ``app.router.table_metadata``). :meth:`MemberQuery.routing`
  returns that map, so any one worker tells a client where every partition is.
* **The key's partition** is the one Kafka's default partitioner gives the MBI
  (murmur2, as the Java client, aiokafka and ``partd produce`` key records):
  the member inputs are co-partitioned with the table, so that is where the
  member is (:func:`streams.kafka.clients.key_partition`).
* **The read** (:meth:`MemberQuery.member`) is one RocksDB get in that
  partition's database, only on a worker that holds the partition and has
  restored it; any other worker answers ``NOT_HERE`` with the holder's address.
  Outbox entries are handed over as stored (values are Avro bytes, base64):
  the caller decodes them.

No HTTP here: :func:`streams.observability.web.install_member_query` serves it.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from streams.kafka import clients
from streams.kafka.internals import faust_private as fp
from streams.runtime import state as st


class MemberQuery:
    """Reads one member from this worker's partitions of the member table.

    ``held(p)``: this worker holds partition ``p`` and has restored it;
    ``partitions()``: the member topics' partition count; ``url``: this
    worker's advertised address; ``router``: Faust's (``app.router``).
    """

    def __init__(self, table: Any, router: Any, url: str, held: Callable[[int], bool],
                 partitions: Callable[[], int]) -> None:
        self.table = table
        self.router = router
        self.url = url
        self.held = held
        self.partitions = partitions

    def routing(self) -> dict[str, Any]:
        """``{"self": url, "partitions": N, "workers": {url: [partition, ...]}}`` as of the last assignment."""
        workers: dict[str, list[int]] = {}
        try:
            found: Mapping[str, Mapping[str, list[int]]] = self.router.table_metadata(self.table.name)
        except Exception:  # noqa: BLE001 - before the first assignment Faust has no map yet
            found = {}
        for url, by_topic in found.items():
            workers[str(url)] = sorted(p for parts in by_topic.values() for p in parts)
        return {"self": self.url, "partitions": self.partitions(), "workers": workers}

    def owner(self, partition: int) -> str | None:
        for url, parts in self.routing()["workers"].items():
            if partition in parts:
                return url
        return None

    def member(self, mbi: str) -> tuple[int, dict[str, Any]]:
        """``(HTTP status, body)``: the member's stored record, or where to ask instead."""
        key = mbi.encode("utf-8")
        partition = clients.key_partition(key, self.partitions())
        if not self.held(partition):
            owner = self.owner(partition)
            return 421, {"error": "NOT_HERE", "partition": partition, "owner": owner if owner != self.url else None,
                         "message": f"partition {partition} is not held by this worker (a rebalance?)"}
        stored = st.decode(fp.table_get(self.table, partition, key))
        body: dict[str, Any] = {"partition": partition, "worker": self.url,
                                "found": stored is not None and stored.member is not None}
        if stored is not None:
            body.update(member=stored.member, applied=stored.applied, outbox=[_entry(e) for e in stored.outbox])
        return 200, body


def _entry(entry: list[Any]) -> dict[str, Any]:
    """An outbox entry as JSON: the input record that caused it and what it sent (values base64 Avro)."""
    source, offset, items = entry
    records = [{"topic": i[1], "key": i[2], "value": i[3]} for i in items if i[0] == "o"]
    dead = [{"error_code": i[1], "error_message": i[2]} for i in items if i[0] == "d"]
    return {"input": source, "offset": offset, "records": records, "dead_letters": dead}
