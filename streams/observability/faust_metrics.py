"""Faust's own sensors on ``/metrics`` (``faust_*``), without a Prometheus update per record.

Faust's ``PrometheusMonitor`` updates labelled Prometheus metrics on every
record, several times: message in, stream event in and out, message out,
table get and set, send initiated and completed. On the member stream that
was about a tenth of the worker's CPU (py-spy, docs/benchmarks.md).

:class:`LeanPrometheusMonitor` keeps Faust's in-memory ``Monitor`` counting
on those per-record hooks (plain integer and dict updates, which Faust itself
reads, e.g. ``stream_inbound_time``) and turns the counts into the same
``faust_*`` series only when ``/metrics`` is scraped (:class:`_MonitorCounts`).
Everything else (commit latency, rebalances, assignment, offsets, HTTP) is
Faust's own code, unchanged.

Not served any more: ``faust_events_runtime_ms`` and
``faust_producer_send_latency`` (a histogram observation per record);
``partd_batch_duration_seconds`` and ``partd_event_latency_seconds`` say the
same per batch. ``faust_topic_messages_sent_total`` counts only what goes
through Faust's producer (table changelogs, cycle fan-out): the outputs go
straight to the client (``PartdApp._send``) and are counted by
``partd_records_out_total``.
"""
from __future__ import annotations

import logging

from typing import Any, Iterable, Iterator

from faust.sensors.monitor import Monitor
from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

PREFIX = "faust"
# FaustMetrics fields that the scrape-time collector serves instead.
REPLACED = (
    "messages_received", "active_messages", "messages_received_per_topics",
    "messages_received_per_topics_partition", "events_runtime_latency",
    "total_events", "total_active_events", "total_events_per_stream", "table_operations",
    "topic_messages_sent", "total_sent_messages", "producer_send_latency",
)


class LeanPrometheusMonitor(PrometheusMonitor):
    """Faust's Prometheus sensor with the per-record hooks left to the in-memory ``Monitor``."""

    logger = logging.getLogger("faust.partd.monitor")  # Faust's own lines stay with Faust's (PARTD_LOG_LEVEL)

    on_message_in = Monitor.on_message_in  # type: ignore[assignment]
    on_stream_event_in = Monitor.on_stream_event_in  # type: ignore[assignment]
    on_stream_event_out = Monitor.on_stream_event_out  # type: ignore[assignment]
    on_message_out = Monitor.on_message_out  # type: ignore[assignment]
    on_table_get = Monitor.on_table_get  # type: ignore[assignment]
    on_table_set = Monitor.on_table_set  # type: ignore[assignment]
    on_table_del = Monitor.on_table_del  # type: ignore[assignment]
    on_send_initiated = Monitor.on_send_initiated  # type: ignore[assignment]
    on_send_completed = Monitor.on_send_completed  # type: ignore[assignment]


class _MonitorCounts:
    """A Prometheus collector: the monitor's counts as ``faust_*`` series, read at scrape time."""

    def __init__(self, monitor: Monitor, prefix: str = PREFIX) -> None:
        self.monitor = monitor
        self.prefix = prefix

    def describe(self) -> list[Any]:
        return []  # unchecked collector: names are not reserved ahead of time

    def collect(self) -> Iterator[Any]:
        m, p = self.monitor, self.prefix
        yield CounterMetricFamily(f"{p}_messages_received", "Total messages received", value=m.messages_received_total)
        yield GaugeMetricFamily(f"{p}_active_messages", "Total active messages", value=m.messages_active)
        yield _labelled(CounterMetricFamily, f"{p}_messages_received_per_topic", "Messages received per topic",
                        ["topic"], (([t], n) for t, n in m.messages_received_by_topic.items()))
        yield _labelled(GaugeMetricFamily, f"{p}_messages_received_per_topics_partition", "Last offset read per partition",
                        ["topic", "partition"], (([tp.topic, str(tp.partition)], o) for tp, o in m.tp_read_offsets.items()))
        yield CounterMetricFamily(f"{p}_total_events", "Total events received", value=m.events_total)
        yield GaugeMetricFamily(f"{p}_total_active_events", "Total active events", value=m.events_active)
        yield _labelled(CounterMetricFamily, f"{p}_total_events_per_stream", "Events received per stream",
                        ["stream"], (([st], n) for st, n in m.events_by_stream.items()))
        yield _labelled(CounterMetricFamily, f"{p}_table_operations", "Table operations", ["table", "operation"],
                        (([f"table.{name}", op], getattr(state, op)) for name, state in m.tables.items()
                         for op in ("keys_retrieved", "keys_updated", "keys_deleted")))
        yield _labelled(CounterMetricFamily, f"{p}_topic_messages_sent", "Messages sent per topic (through Faust's producer)",
                        ["topic"], (([t], n) for t, n in m.messages_sent_by_topic.items()))
        yield CounterMetricFamily(f"{p}_total_sent_messages", "Messages sent (through Faust's producer)",
                                  value=m.messages_sent)


def _labelled(family: Any, name: str, doc: str, labels: list[str], samples: Iterable[tuple[list[str], float]]) -> Any:
    """A metric family with one sample per label-values list, in label order."""
    out = family(name, doc, labels=labels)
    for values, value in sorted(samples, key=lambda s: s[0]):
        out.add_metric(values, value)
    return out


def install(app: Any, registry: CollectorRegistry, prefix: str = PREFIX, pattern: str = "/metrics") -> LeanPrometheusMonitor:
    """Make ``app``'s monitor a :class:`LeanPrometheusMonitor` reporting into ``registry``, served at ``pattern``.

    Use instead of ``faust.sensors.prometheus.setup_prometheus_sensors``, which it mirrors.
    """
    from aiohttp.web import Response
    from faust import web
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    metrics = FaustMetrics.create(registry, prefix)
    for field in REPLACED:
        registry.unregister(getattr(metrics, field))
    monitor = LeanPrometheusMonitor(metrics=metrics)
    app.monitor = monitor
    registry.register(_MonitorCounts(monitor, prefix))

    @app.page(pattern)
    async def metrics_handler(self: web.View, request: web.Request) -> web.Response:
        return Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}, status=200)

    return monitor
