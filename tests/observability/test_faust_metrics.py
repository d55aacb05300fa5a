"""streams.observability.faust_metrics: Faust's per-record sensor counts, served as faust_* series at scrape time."""
from __future__ import annotations

import types

import faust
from faust.types import TP
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from streams.observability import faust_metrics


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_counts_from_the_hooks_become_series_and_faust_own_metrics_stay() -> None:
    app = faust.App("t-faust-metrics", broker="memory://", store="memory://")
    registry = CollectorRegistry()
    monitor = faust_metrics.install(app, registry)
    assert app.monitor is monitor
    tp = TP("enrollment-requests", 3)
    for offset in (10, 11, 12):
        monitor.on_message_in(tp, offset, types.SimpleNamespace(time_in=None))
    monitor.on_message_out(tp, 12, types.SimpleNamespace(time_in=1.0, time_out=None, time_total=None))
    table = types.SimpleNamespace(name="members")
    monitor.on_table_get(table, b"k")
    monitor.on_table_set(table, b"k", b"v")
    monitor.on_table_set(table, b"k", b"w")
    monitor.on_send_initiated(None, "partd-members-changelog", None, 1, 2)

    s = _samples(registry)
    assert s[("faust_messages_received_total", ())] == 3
    assert s[("faust_active_messages", ())] == 2
    assert s[("faust_messages_received_per_topic_total", (("topic", "enrollment-requests"),))] == 3
    assert s[("faust_messages_received_per_topics_partition",
              (("partition", "3"), ("topic", "enrollment-requests")))] == 12
    assert s[("faust_table_operations_total", (("operation", "keys_updated"), ("table", "table.members")))] == 2
    assert s[("faust_table_operations_total", (("operation", "keys_retrieved"), ("table", "table.members")))] == 1
    assert s[("faust_topic_messages_sent_total", (("topic", "partd-members-changelog"),))] == 1
    # Faust's own metrics that are not per record are still there (and still Faust's objects).
    names = {name for name, _ in s}
    assert "faust_total_rebalances" in names
    assert "faust_events_runtime_ms_bucket" not in names  # dropped: one observation per record


def test_hot_hooks_do_not_touch_prometheus_objects() -> None:
    # The per-record hooks are the in-memory Monitor's (plain counters), not PrometheusMonitor's.
    from faust.sensors.monitor import Monitor

    for hook in ("on_message_in", "on_stream_event_in", "on_stream_event_out", "on_message_out",
                 "on_table_get", "on_table_set", "on_send_initiated", "on_send_completed"):
        assert getattr(faust_metrics.LeanPrometheusMonitor, hook) is getattr(Monitor, hook), hook
