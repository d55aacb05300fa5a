"""Product metrics (Prometheus). No identifiers of people ever go in a label."""
from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram

from processors.model import Output

if TYPE_CHECKING:
    from streams.member_pipeline import BatchResult


class Metrics:
    """Counters the agents update; served at /metrics by the worker's web server."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.events_in = Counter("partd_events_in_total", "Input records consumed", ["topic"], registry=r)
        self.records_out = Counter("partd_records_out_total", "Records produced", ["topic"], registry=r)
        self.replies = Counter("partd_trr_replies_total", "TRR replies by code and type", ["trc", "trc_type"], registry=r)
        self.dead_letters = Counter("partd_dead_letters_total", "Dead letters by error code", ["error_code"], registry=r)
        self.notices = Counter("partd_notices_total", "Notices by topic and type", ["topic", "notice_type"], registry=r)
        self.batch_size = Histogram(
            "partd_batch_size", "Records per processed batch",
            buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 2000, 5000), registry=r,
        )

    def batch(self, result: "BatchResult") -> None:
        total = 0
        for topic, n in result.by_topic.items():
            self.events_in.labels(topic).inc(n)
            total += n
        self.batch_size.observe(total)

    def plans(self, n_in: int, n_dead: int) -> None:
        self.events_in.labels("plan-year-updates").inc(n_in)
        self.batch_size.observe(n_in)

    def output(self, out: Output) -> None:
        self.records_out.labels(out.topic).inc()
        v = out.value
        if out.topic == "trr-replies":
            self.replies.labels(v["transaction_reply_code"], v["trc_type"]).inc()
        elif out.topic == "dead-letters":
            self.dead_letters.labels(v["error_code"]).inc()
        elif out.topic in ("beneficiary-notices", "plan-notices"):
            self.notices.labels(out.topic, str(v.get("notice_type"))).inc()
