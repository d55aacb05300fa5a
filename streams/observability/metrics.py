"""Product metrics (Prometheus). No identifiers of people ever go in a label.

Every label value here comes from a closed set of codes (topic names, TRC
codes and types, notice types, publication numbers, error codes, agent
names): never an MBI, SSN, name, date of birth, contract-level person data or
a free-text message. ``tests/ops/test_metrics.py`` checks this on real outputs.

Names (all served at the worker's ``/metrics``; docs/operations.md lists them
with Faust's own and the lag metrics of :mod:`streams.observability.lag`):

* ``partd_events_in_total{topic}``: input records consumed
* ``partd_records_out_total{topic}``: records produced
* ``partd_trr_replies_total{trc,trc_type}``: TRR replies by code and type
* ``partd_reassignments_total{case}``: reassignment decisions with a letter
  (PREMIUM, NON_RENEWAL_PDP, NON_RENEWAL_MA, CHOOSER_TAN, NOT_POSSIBLE)
* ``partd_letters_total{publication,notice_type}``: beneficiary letters
* ``partd_plan_notices_total{notice_type}``: GAIN/LOSS file records, obligations
* ``partd_enrollments_total{kind}``: auto (TRC 117) / facilitated (TRC 118)
* ``partd_dead_letters_total{error_code}``: dead letters
* ``partd_batch_size``: records per processed batch (histogram)
* ``partd_batch_duration_seconds{agent}``: wall time to process a batch
* ``partd_event_latency_seconds{topic}``: record timestamp -> processed
* ``partd_replayed_total``: redelivered records answered from the outbox (after a crash)
* ``partd_buffered_records``: member records waiting for their turn (order)
* ``partd_skipped_offsets_total{topic}``: offsets the fetch jumped over (fetched again; 0 on a healthy run)
* ``partd_refetches_total{topic}``: partitions fetched again because records handed to Faust never reached the runtime
* ``partd_enforced_total``: records applied while a sibling input's lag was not known (after PARTD_MAX_IDLE_MS)
* ``partd_commits_total``, ``partd_commit_duration_seconds``: member offset commits (flush + commit)
* ``partd_cycle_step_seconds{command}``: one partition's share of a cycle command
* ``partd_restore_records_total``, ``partd_restore_bytes_total``, ``partd_restore_seconds_total``:
  member-table changelog records read back into this worker's RocksDB partitions (a worker on an
  empty disk reads its partitions' whole changelog; on the same disk only what changed)
* ``partd_last_restore_records``, ``partd_last_restore_seconds``: the latest restore that had something to read
* ``partd_rocksdb_bytes{part}``: what the member table's RocksDB databases hold, read at scrape time:
  ``block_cache`` (shared, bounded by PARTD_ROCKSDB_CACHE_MB), ``write_buffers`` (all memtables,
  bounded by PARTD_ROCKSDB_WRITE_BUFFER_MB), ``table_readers`` (outside the cache), ``sst_files`` (disk)
* ``partd_rocksdb_keys``: estimated keys in this worker's partitions (members + keys of unknown people)
"""
from __future__ import annotations

import time
from collections.abc import Iterable
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

from processors.model import Output
from streams import topics

if TYPE_CHECKING:
    from streams.runtime.rules import Result

# Beneficiary-notice type -> reassignment case (processors/reassignment.py NOTICE_TYPES).
REASSIGNMENT_CASES = {
    "REASSIGNMENT_PREMIUM": "PREMIUM",
    "REASSIGNMENT_NON_RENEWAL_PDP": "NON_RENEWAL_PDP",
    "REASSIGNMENT_NON_RENEWAL_MA": "NON_RENEWAL_MA",
    "CHOOSER": "CHOOSER_TAN",
    "REASSIGNMENT_NOT_POSSIBLE": "NOT_POSSIBLE",
}
try:  # the closed set of letters, created at 0 (dashboards and rates see the first one)
    from processors.reassignment import NOTICE_TYPES as REASSIGNMENT_NOTICE_TYPES
    from processors.reassignment import PUBLICATIONS as REASSIGNMENT_PUBLICATIONS
except ImportError:  # pragma: no cover - the rules moved: nothing pre-created
    REASSIGNMENT_NOTICE_TYPES, REASSIGNMENT_PUBLICATIONS = {}, {}
# TRCs that mean a CMS enrollment of a beneficiary who did not choose (processors/data/trc.json).
ENROLLMENT_KINDS = {"117": "auto", "118": "facilitated"}
# Serde error codes, created at 0 so the first dead letter is an increase Prometheus sees.
KNOWN_DEAD_LETTER_CODES = ("EMPTY_VALUE", "SCHEMA_MISMATCH", "UNDECODABLE", "UNKNOWN_SCHEMA_ID", "WRONG_MAGIC_BYTE",
                           "REDUCED_COUNTIES_MISSING")
COUNTED_INPUTS = topics.INPUTS

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


def _label(value: object) -> str:
    """A label value from an enum/str/None code."""
    if value is None:
        return "none"
    return str(getattr(value, "value", value))


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
        self.reassignments = Counter(
            "partd_reassignments_total", "Reassignment decisions with a letter, by case", ["case"], registry=r,
        )
        self.letters = Counter(
            "partd_letters_total", "Beneficiary letters by publication and notice type",
            ["publication", "notice_type"], registry=r,
        )
        self.plan_notices = Counter(
            "partd_plan_notices_total", "Plan notices (GAIN/LOSS file records, obligations)", ["notice_type"], registry=r,
        )
        self.enrollments = Counter(
            "partd_enrollments_total", "CMS enrollments: auto (TRC 117) and facilitated (TRC 118)", ["kind"], registry=r,
        )
        self.skipped = Counter(
            "partd_skipped_offsets_total",
            "Input offsets the fetch jumped over, fetched again by the member runtime (0 on a healthy run)",
            ["topic"], registry=r,
        )
        self.refetches = Counter("partd_refetches_total",
                                 "Seeks back to records handed to Faust that never reached the runtime (0 on a healthy run)",
                                 ["topic"], registry=r)
        self.replayed = Counter("partd_replayed_total", "Redelivered member records answered from the outbox",
                                registry=r)
        self.buffered = Gauge("partd_buffered_records", "Member records waiting for their turn (timestamp order)",
                              registry=r)
        self.enforced = Counter("partd_enforced_total",
                                "Member records applied while a sibling input's lag was not known", registry=r)
        self.commits = Counter("partd_commits_total", "Member offset commits (after a flush)", registry=r)
        self.commit_duration = Histogram("partd_commit_duration_seconds", "Flush + commit of the member offsets",
                                         buckets=_LATENCY_BUCKETS, registry=r)
        self.cycle_seconds = Histogram("partd_cycle_step_seconds", "One partition's share of a cycle command",
                                       ["command"], buckets=_LATENCY_BUCKETS, registry=r)
        self.batch_size = Histogram(
            "partd_batch_size", "Records per processed batch",
            buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 2000, 5000), registry=r,
        )
        self.batch_duration = Histogram(
            "partd_batch_duration_seconds", "Wall time to process one batch, by agent", ["agent"],
            buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.event_latency = Histogram(
            "partd_event_latency_seconds", "From a record's timestamp to the end of its batch's processing",
            ["topic"], buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.restore_records = Counter("partd_restore_records_total",
                                       "Member-table changelog records restored into this worker's partitions",
                                       registry=r)
        self.restore_bytes = Counter("partd_restore_bytes_total", "Bytes of the changelog records restored",
                                     registry=r)
        self.restore_seconds = Counter("partd_restore_seconds_total", "Time spent restoring the member table",
                                       registry=r)
        self.last_restore_records = Gauge("partd_last_restore_records", "Changelog records of the latest restore",
                                          registry=r)
        self.last_restore_seconds = Gauge("partd_last_restore_seconds", "Duration of the latest restore",
                                          registry=r)
        # Series that exist from the start (0), so rates and the dead-letter
        # alert see the first increment.
        for topic in COUNTED_INPUTS:
            self.events_in.labels(topic)
        for code in KNOWN_DEAD_LETTER_CODES:
            self.dead_letters.labels(code)
        for kind in ENROLLMENT_KINDS.values():
            self.enrollments.labels(kind)
        for notice_type, case in REASSIGNMENT_CASES.items():
            self.reassignments.labels(case)
        for case, publication in REASSIGNMENT_PUBLICATIONS.items():
            self.letters.labels(publication, REASSIGNMENT_NOTICE_TYPES[case])

    def member_batch(self, result: "Result", seconds: float, stamps: Iterable[tuple[str, int | None]]) -> None:
        """A member batch is applied (called by the member runtime where it is timed)."""
        total = 0
        for topic, n in result.by_topic.items():
            self.events_in.labels(topic).inc(n)
            total += n
        self.batch_size.observe(total)
        if result.replayed:
            self.replayed.inc(result.replayed)
        self.outputs(result.outputs)
        self.outputs(result.dead)
        self.processed("members", seconds, ((t, ms / 1000) for t, ms in stamps if ms))

    def restored(self, done: Any) -> None:
        """A restore of the member table finished (:class:`streams.kafka.internals.restore.Restored`)."""
        if not done.partitions:
            return  # a rebalance that left nothing to read
        self.restore_records.inc(done.records)
        self.restore_bytes.inc(done.bytes)
        self.restore_seconds.inc(done.seconds)
        self.last_restore_records.set(done.records)
        self.last_restore_seconds.set(done.seconds)

    def cycle_step(self, command: str, seconds: float) -> None:
        self.events_in.labels(topics.CYCLE_COMMANDS).inc()
        self.cycle_seconds.labels(command).observe(seconds)

    def plans(self, n_in: int, n_dead: int) -> None:
        self.events_in.labels("plan-year-updates").inc(n_in)
        self.batch_size.observe(n_in)

    def processed(self, agent: str, seconds: float, timestamps: Iterable[tuple[str, float | None]] = (),
                  now: float | None = None) -> None:
        """A batch is done: ``seconds`` of processing, and ``(topic, record timestamp in s)`` of its records.

        Called where the batch is timed (the member runtime, the agents).
        """
        self.batch_duration.labels(agent).observe(max(0.0, seconds))
        now = time.time() if now is None else now
        children: dict[str, Any] = {}
        for topic, ts in timestamps:
            if ts:
                child = children.get(topic)
                if child is None:
                    child = children[topic] = self.event_latency.labels(topic)
                child.observe(max(0.0, now - ts))

    def outputs(self, outs: Iterable[Output]) -> None:
        """:meth:`output` for each record (counted per label set first: one ``inc`` per series)."""
        counts: dict[tuple[str, ...], int] = {}
        for out in outs:
            key = _output_labels(out)
            counts[key] = counts.get(key, 0) + 1
        for key, n in counts.items():
            self._count_output(key, n)

    def output(self, out: Output) -> None:
        self._count_output(_output_labels(out), 1)

    def _count_output(self, key: tuple[str, ...], n: int) -> None:
        topic = key[0]
        self.records_out.labels(topic).inc(n)
        if topic == "trr-replies":
            trc, trc_type = key[1], key[2]
            self.replies.labels(trc, trc_type).inc(n)
            kind = ENROLLMENT_KINDS.get(trc)
            if kind:
                self.enrollments.labels(kind).inc(n)
        elif topic == "dead-letters":
            self.dead_letters.labels(key[1]).inc(n)
        elif topic == "beneficiary-notices":
            notice_type, publication = key[1], key[2]
            self.notices.labels(topic, notice_type).inc(n)
            self.letters.labels(publication, notice_type).inc(n)
            case = REASSIGNMENT_CASES.get(notice_type)
            if case:
                self.reassignments.labels(case).inc(n)
        elif topic == "plan-notices":
            notice_type = key[1]
            self.notices.labels(topic, notice_type).inc(n)
            self.plan_notices.labels(notice_type).inc(n)


def _output_labels(out: Output) -> tuple[str, ...]:
    """The label values an output is counted under: its topic, then what that topic's series are labelled by."""
    v = out.value
    topic = out.topic
    if topic == "trr-replies":
        return topic, _label(v["transaction_reply_code"]), _label(v["trc_type"])
    if topic == "dead-letters":
        return topic, _label(v["error_code"])
    if topic == "beneficiary-notices":
        return topic, _label(v.get("notice_type")), _label(v.get("publication"))
    if topic == "plan-notices":
        return topic, _label(v.get("notice_type"))
    return (topic,)


class RocksDBCollector:
    """``partd_rocksdb_bytes{part}`` and ``partd_rocksdb_keys`` from ``read()`` (module doc), at scrape time."""

    def __init__(self, read: Callable[[], Mapping[str, int]]) -> None:
        self.read = read

    def collect(self) -> Iterable[GaugeMetricFamily]:
        found = self.read()
        if not found:
            return []
        parts = GaugeMetricFamily("partd_rocksdb_bytes", "Member-table RocksDB memory and disk, by part",
                                  labels=["part"])
        for part in ("block_cache", "block_cache_pinned", "write_buffers", "memtables", "table_readers",
                     "sst_files"):
            parts.add_metric([part], float(found.get(part, 0)))
        keys = GaugeMetricFamily("partd_rocksdb_keys", "Estimated keys in this worker's member-table partitions",
                                 value=float(found.get("keys", 0)))
        return [parts, keys]
