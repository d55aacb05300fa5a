"""Faust's consumer with the member topics' records handed over in bulk (faust-streaming 0.15.3).

Faust's fetcher (``Consumer._drain_messages``) takes each fetched record on its
own: a ``ConsumerMessage``, then ``Service.wait_first(callback(message),
suspend_flow.wait())`` (two futures and an ``asyncio.wait``), the conductor's
per-topic-partition callback (a lock, flow control, the producer's ebb), an
``Event`` and a put into the agent's channel; the member runtime then took the
events out of that channel again. py-spy put that at ~22% of a worker's busy
time during the enrollment + LIS stream (docs/benchmarks.md, "2026-12-07").

:class:`BulkConsumer` is the aiokafka driver's ``Consumer`` with one method,
``getmany`` (the generator ``_drain_messages`` iterates), changed: records of
the *bulk topics* (the member inputs) are handed to the sink, the member
runtime's :class:`streams.runtime.consume.Intake`, as the lists aiokafka
fetched them, one call per fetch; every other record goes on through Faust's
own path exactly as before (the small agents, the table changelogs of Faust's
recovery). What Faust does per record that partd relies on is done per list:

* only partitions Faust counts as active (not paused by its flow control or
  by ``on_buffer_full``, partd's back-pressure) are handed over, and only
  while its flow is active (during a rebalance nothing is: Faust drops the
  rest of the fetch the same way and seeks back on resume);
* Faust's read offset of the partition (``_read_offset``: a record below it
  was fetched before a seek and is dropped, "DROPPED MESSAGE ROFF") filters
  the list and moves to its last record;
* the generation the records were fetched in travels with them (the intake
  drops a list of an older generation, as Faust's own stream drops events);
* back-pressure: when the intake holds more than its limit, the fetcher waits
  until the runtime has taken records (as it waited on a full channel).

Group membership, assignment, pause/resume, seeks, commits and table recovery
are Faust's, unchanged. The member topics are subscribed by the
``partd-members`` agent as before (its channel now receives nothing).
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from typing import Any, AsyncIterator, Protocol

from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP


class Sink(Protocol):
    """Where :class:`BulkConsumer` hands the bulk topics' records (``streams.runtime.consume.Intake``)."""

    def put(self, generation: int, fetched: Sequence[tuple[Any, Sequence[Any]]]) -> None: ...

    def room(self) -> Awaitable[None] | None: ...


class BulkConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer, handing the records of :attr:`bulk_topics` to :attr:`sink` (module doc)."""

    #: Faust's own lines stay with Faust's (shown at PARTD_LOG_LEVEL=debug), and, as Faust's consumer logs whole
    #: records at DEBUG ("DROPPED MESSAGE ROFF"), never below INFO (startup.RECORD_DUMPING_LOGGERS). A name of
    #: its own: mode gives a subclass its module's logger unless the class names one no service has used.
    logger = logging.getLogger("faust.partd.consumer")
    bulk_topics: frozenset[str] = frozenset()
    sink: Sink | None = None
    #: records handed over in bulk (a counter for tests and metrics)
    bulk_records = 0

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Any]]:  # Faust's Consumer.getmany
        records, active_partitions = await self._wait_next_records(timeout)
        generation_id = self.app.consumer_generation_id
        if records is None or self.should_stop:
            return
        sink = self.sink
        if sink is not None and self.bulk_topics:
            rest = {}
            fetched = []
            for tp, recs in records.items():
                if tp.topic not in self.bulk_topics:
                    rest[tp] = recs
                elif recs and self.flow_active and (active_partitions is None or tp in active_partitions
                                                     or tp in self._buffered_partitions):
                    recs = self._after_read_offset(tp, recs)
                    if recs:
                        fetched.append((tp, recs))
            if fetched:
                sink.put(generation_id, fetched)
                self.bulk_records += sum(len(r) for _, r in fetched)
                wait = sink.room()
                if wait is not None:
                    await wait
            records = rest
        async for item in self._per_record(records, active_partitions, generation_id):
            yield item

    def _after_read_offset(self, tp: TP, recs: Sequence[Any]) -> Sequence[Any]:
        """The records at or after Faust's read offset of ``tp`` (as ``_drain_messages`` filters them), which
        then moves to the last one; Faust's end-offset bookkeeping for its monitor, once per list."""
        r_offset = self._read_offset[tp]
        if r_offset is not None and recs[0].offset < r_offset:
            recs = [r for r in recs if r.offset >= r_offset]
            if not recs:
                return recs
        self._read_offset[tp] = recs[-1].offset
        self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
        return recs

    async def _per_record(self, records: Any, active_partitions: Any, generation_id: int) -> AsyncIterator[tuple[TP, Any]]:
        """The rest of the fetch, record by record: faust-streaming 0.15.3's ``Consumer.getmany`` after its wait."""
        records_it = self.scheduler.iterate(records)
        to_message = self._to_message
        if self.flow_active:
            for tp, record in records_it:
                if not self.flow_active:
                    break
                if self.app.consumer_generation_id != generation_id:
                    break
                if active_partitions is None or tp in active_partitions or tp in self._buffered_partitions:
                    self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
                    yield tp, to_message(tp, record)
        else:
            try:
                await self.perform_seek()
            except Exception as ex:  # noqa: BLE001 - as Faust's own getmany
                self.log.warning(f"exception performing seek when flow not active {ex}")


def bulk_consumer_class(transport_consumer: type) -> type | None:
    """:class:`BulkConsumer` if the transport's consumer is the aiokafka driver's (the only one tested), else None."""
    return BulkConsumer if transport_consumer is faust_aiokafka.Consumer else None


def new_consumer(app: Any, topics: frozenset[str], sink: Sink) -> Any | None:
    """A :class:`BulkConsumer` for ``app`` handing ``topics`` to ``sink``, built as Faust's ``App._new_consumer``
    builds its consumer; None if the app's transport is not the aiokafka driver (Faust's own consumer then)."""
    transport = app.transport
    cls = bulk_consumer_class(transport.Consumer)
    if cls is None:
        return None
    consumer = cls(transport, callback=app.topics.on_message, loop=transport.loop,
                   on_partitions_revoked=app._on_partitions_revoked,
                   on_partitions_assigned=app._on_partitions_assigned, beacon=app.beacon)
    consumer.bulk_topics = topics
    consumer.sink = sink
    return consumer
