"""Consumer lag from the TRUE high-water mark, and ``partd lag``.

Lag of a group on a partition = high-water mark - committed offset, where

* the **high-water mark** comes from aiokafka's ``end_offsets`` *after*
  :func:`streams.kafka.internals.tansu.apply` (on Tansu, ListOffsets(LATEST) is
  "last batch base + 1", docs/tansu.md, quirk 1; the work-around corrects it from a
  Fetch's high-water mark, and is a no-op on Apache Kafka);
* the **committed offset** comes from OffsetFetch for the group (Tansu never
  writes ``__consumer_offsets``, so nothing here reads that topic; kafka-python's
  ``describe_groups`` raises on Tansu, so nothing here uses it). A partition
  the group never committed counts from the log start (``committed`` is null);
* **lag in seconds** is the age of the oldest unprocessed record: the
  timestamp of the record AT the committed offset, ``now - timestamp``
  (0 when the partition is caught up).

Three users of the same code:

* the worker samples its own group in a background task and serves the gauges
  at ``/metrics`` (:func:`streams.observability.web.install`);
* ``partd lag [--watch] [--json]`` prints them;
* ``partd lag --serve PORT`` is a stand-alone exporter. Lag must also be
  measured OUTSIDE the consumer: a worker that is stuck, stopped or dead
  cannot report its own lag, and that is exactly when lag matters. The
  Prometheus config scrapes both; the alert rules take the max per
  group/topic/partition over every source.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Iterator

from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from streams import topics
from streams.config import Settings
from streams.kafka import clients, internals
from streams.text import plural

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class LagRow:
    group: str
    topic: str
    partition: int
    committed: int | None  # None: the group never committed on this partition
    high_water: int
    lag: int
    lag_seconds: float | None = None  # None: not measured (the record could not be fetched)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class LagReader:
    """Long-lived consumers that read a group's lag (one OffsetFetch and one end-offsets round per sample).

    Two consumers: one with ``group_id`` (never subscribes, so it never joins the
    group: it only sends OffsetFetch), one without a group (end offsets, log
    starts, and the record at the committed offset for lag seconds).
    """

    def __init__(self, bootstrap: str, group: str, topics: Iterable[str] | None = None, *,
                 app_topics: Iterable[str] = (), fetch_timeout: float = 2.0) -> None:
        self.bootstrap = bootstrap
        self.group = group
        self.topics = tuple(topics) if topics else None
        self.app_topics = tuple(app_topics)
        self.fetch_timeout = fetch_timeout
        self._offsets: AIOKafkaConsumer | None = None
        self._reader: AIOKafkaConsumer | None = None

    async def start(self) -> "LagReader":
        self._offsets = clients.consumer(self.bootstrap, group_id=self.group,
                                         enable_auto_commit=False, client_id=f"partd-lag-{self.group}")
        self._reader = clients.consumer(self.bootstrap, group_id=None,
                                        enable_auto_commit=False, auto_offset_reset="earliest",
                                        client_id="partd-lag-reader")
        try:
            await self._offsets.start()
            await self._reader.start()
        except BaseException:
            await self.stop()  # no unclosed client left behind by a failed start (TLS refused, ...)
            raise
        return self

    async def stop(self) -> None:
        for c in (self._offsets, self._reader):
            if c is not None:
                try:
                    await c.stop()
                except Exception:  # noqa: BLE001 - best effort at shutdown
                    log.debug("lag consumer stop failed", exc_info=True)
        self._offsets = self._reader = None

    async def __aenter__(self) -> "LagReader":
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()

    async def _partitions(self) -> list[TopicPartition]:
        assert self._reader is not None
        await internals.refresh_metadata(self._reader)  # new topics/partitions
        if self.topics:
            names = list(self.topics)
        else:
            names = sorted(t for t in await self._reader.topics() if not t.startswith("__"))
        tps = []
        for t in names:
            for p in sorted(self._reader.partitions_for_topic(t) or ()):
                tps.append(TopicPartition(t, p))
        return tps

    async def _committed(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        assert self._offsets is not None
        return await internals.fetch_committed(self._offsets, tps)

    async def sample(self, *, with_seconds: bool = True) -> list[LagRow]:
        """One reading of every partition's lag, sorted by topic and partition."""
        assert self._reader is not None
        tps = await self._partitions()
        if not tps:
            return []
        committed = await self._committed(tps)
        if not self.topics:
            # Explicit topics: all shown. Otherwise: topics the group has committed
            # on, plus the app's own topics (visible before the first commit).
            keep = {tp.topic for tp in committed} | set(self.app_topics)
            tps = [tp for tp in tps if tp.topic in keep]
        if not tps:
            return []
        ends = await self._reader.end_offsets(tps)
        missing = [tp for tp in tps if tp not in committed]
        starts = await self._reader.beginning_offsets(missing) if missing else {}
        rows: dict[TopicPartition, LagRow] = {}
        for tp in tps:
            hw = ends[tp]
            base = committed.get(tp, starts.get(tp, 0))
            rows[tp] = LagRow(self.group, tp.topic, tp.partition, committed.get(tp), hw, max(0, hw - base),
                              0.0 if hw <= base else None)
        if with_seconds:
            behind = {tp: committed.get(tp, starts.get(tp, 0)) for tp, r in rows.items() if r.lag > 0}
            if behind:
                stamps = await self._oldest_timestamps(behind)
                now = time.time()
                for tp, ts in stamps.items():
                    r = rows[tp]
                    rows[tp] = LagRow(r.group, r.topic, r.partition, r.committed, r.high_water, r.lag,
                                      round(max(0.0, now - ts / 1000.0), 3))
        return [rows[tp] for tp in sorted(rows, key=lambda t: (t.topic, t.partition))]

    async def _oldest_timestamps(self, positions: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
        """Timestamp (ms) of the record at each given offset (the oldest unprocessed one)."""
        assert self._reader is not None
        reader = self._reader
        reader.assign(list(positions))
        for tp, off in positions.items():
            reader.seek(tp, off)
        found: dict[TopicPartition, int] = {}
        deadline = time.monotonic() + self.fetch_timeout
        try:
            while len(found) < len(positions) and time.monotonic() < deadline:
                batches = await reader.getmany(timeout_ms=200, max_records=len(positions) * 4)
                for tp, msgs in batches.items():
                    if tp in found or not msgs:
                        continue
                    first = min(msgs, key=lambda m: m.offset)
                    found[tp] = first.timestamp
                    reader.pause(tp)
        finally:
            reader.assign([])
        return found


async def lag_rows(bootstrap: str, group: str, topics: Iterable[str] | None = None, *,
                   app_topics: Iterable[str] = topics.GROUP_INPUTS, with_seconds: bool = True) -> list[LagRow]:
    """One reading with short-lived consumers."""
    async with LagReader(bootstrap, group, topics, app_topics=app_topics) as reader:
        return await reader.sample(with_seconds=with_seconds)


# --------------------------------------------------------------------- Prometheus
class LagCollector:
    """Serves the last lag reading as gauges (no stale label sets: each scrape shows the last sample).

    * ``partd_consumer_lag{group,topic,partition}``: records (high-water - committed)
    * ``partd_consumer_lag_seconds{group,topic,partition}``: age of the oldest unprocessed record
    * ``partd_consumer_committed_offset{group,topic,partition}`` (absent if never committed)
    * ``partd_topic_high_water_offset{group,topic,partition}``: the true high-water mark
    * ``partd_lag_sample_timestamp_seconds{group}``, ``partd_lag_sample_duration_seconds{group}``,
      ``partd_lag_sample_errors_total{group}``
    """

    def __init__(self) -> None:
        self.rows: dict[str, list[LagRow]] = {}
        self.sampled_at: dict[str, float] = {}
        self.duration: dict[str, float] = {}
        self.errors: dict[str, int] = {}

    def update(self, group: str, rows: list[LagRow], duration: float) -> None:
        self.rows[group] = rows
        self.sampled_at[group] = time.time()
        self.duration[group] = duration
        self.errors.setdefault(group, 0)

    def failed(self, group: str) -> None:
        self.errors[group] = self.errors.get(group, 0) + 1

    def collect(self) -> Iterator[Any]:
        labels = ["group", "topic", "partition"]
        lag = GaugeMetricFamily("partd_consumer_lag", "Records the group has not committed (true high-water - committed)", labels=labels)
        secs = GaugeMetricFamily("partd_consumer_lag_seconds", "Age of the oldest unprocessed record (0 when caught up)", labels=labels)
        comm = GaugeMetricFamily("partd_consumer_committed_offset", "The group's committed offset", labels=labels)
        hw = GaugeMetricFamily("partd_topic_high_water_offset", "True high-water mark (Fetch-corrected on Tansu)", labels=labels)
        for group, rows in self.rows.items():
            for r in rows:
                lv = [group, r.topic, str(r.partition)]
                lag.add_metric(lv, r.lag)
                hw.add_metric(lv, r.high_water)
                if r.committed is not None:
                    comm.add_metric(lv, r.committed)
                if r.lag_seconds is not None:
                    secs.add_metric(lv, r.lag_seconds)
        yield from (lag, secs, comm, hw)
        ts = GaugeMetricFamily("partd_lag_sample_timestamp_seconds", "When lag was last sampled", labels=["group"])
        dur = GaugeMetricFamily("partd_lag_sample_duration_seconds", "How long the last lag sample took", labels=["group"])
        err = CounterMetricFamily("partd_lag_sample_errors", "Lag samples that failed", labels=["group"])
        for group in sorted(set(self.sampled_at) | set(self.errors)):
            if group in self.sampled_at:
                ts.add_metric([group], self.sampled_at[group])
                dur.add_metric([group], self.duration[group])
            err.add_metric([group], self.errors.get(group, 0))
        yield from (ts, dur, err)


class _Stopped(Exception):
    """``stop`` was set while a sample was in hand."""


async def _unless_stopped(work: Any, stop: asyncio.Event | None) -> Any:
    """Await ``work``, or cancel it and raise :class:`_Stopped` as soon as ``stop`` is set (a worker stopping
    does not wait for a sample: a reader's start or the lag-seconds reads can take seconds)."""
    if stop is None:
        return await work
    task = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        task.cancel()  # the sampler itself was cancelled
        raise
    finally:
        stopping.cancel()
    if task.done():
        return task.result()
    task.cancel()
    try:
        await task
    except BaseException:  # noqa: BLE001 - cancelled (or failed while cancelled): stopping anyway
        pass
    raise _Stopped


async def sample_forever(bootstrap: str, groups: list[str], collector: LagCollector, interval: float,
                         topics: Iterable[str] | None = None, *, app_topics: Iterable[str] = topics.GROUP_INPUTS,
                         stop: asyncio.Event | None = None) -> None:
    """Sample ``groups`` every ``interval`` s into ``collector`` until cancelled (or ``stop`` is set)."""
    readers: dict[str, LagReader] = {}
    try:
        while stop is None or not stop.is_set():
            for group in groups:
                t0 = time.monotonic()
                try:
                    reader = readers.get(group)
                    if reader is None:
                        reader = readers[group] = await _unless_stopped(
                            LagReader(bootstrap, group, topics, app_topics=app_topics).start(), stop)
                    rows = await _unless_stopped(reader.sample(), stop)
                except (asyncio.CancelledError, _Stopped):
                    if stop is not None and stop.is_set():
                        return  # a clean stop: the sample in hand is dropped, the readers closed below
                    raise
                except Exception as exc:  # noqa: BLE001 - keep sampling; the error is counted
                    log.warning("lag sample of group %s failed: %r", group, exc)
                    collector.failed(group)
                    bad = readers.pop(group, None)
                    if bad is not None:
                        await bad.stop()
                    continue
                collector.update(group, rows, time.monotonic() - t0)
            if stop is not None:
                try:
                    await asyncio.wait_for(stop.wait(), interval)
                except asyncio.TimeoutError:
                    pass
            else:
                await asyncio.sleep(interval)
    finally:
        for reader in readers.values():
            await reader.stop()


# --------------------------------------------------------------------- CLI
def group_topics(group: str, app_id: str) -> tuple[str, ...]:
    """Topics shown for ``group`` even before its first commit: the worker group's inputs, none for another."""
    return topics.GROUP_INPUTS if group == app_id else ()


def format_table(rows: list[LagRow]) -> str:
    head = ("GROUP", "TOPIC", "PARTITION", "COMMITTED", "HIGH-WATER", "LAG", "LAG-SECONDS")
    body = [
        (r.group, r.topic, str(r.partition), "-" if r.committed is None else str(r.committed),
         str(r.high_water), str(r.lag), "?" if r.lag_seconds is None else f"{r.lag_seconds:.1f}")
        for r in rows
    ]
    total = sum(r.lag for r in rows)
    oldest = max((r.lag_seconds or 0.0 for r in rows), default=0.0)
    widths = [max(len(x) for x in col) for col in zip(head, *body)] if body else [len(h) for h in head]
    fmt = "  ".join(f"{{:<{w}}}" if i < 2 else f"{{:>{w}}}" for i, w in enumerate(widths))
    lines = [fmt.format(*head)] + [fmt.format(*b) for b in body]
    lines.append(f"total lag: {plural(total, 'record')} over {plural(len(rows), 'partition')}; "
                 f"oldest unprocessed record: {oldest:.1f} s")
    return "\n".join(lines)


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "lag", help="consumer lag per group/topic/partition from the true high-water mark",
        description="Consumer lag of a group (default: the app id) on any cluster (KAFKA_BOOTSTRAP_SERVERS): "
                    "high-water mark (Tansu-corrected) minus committed offset, and the age of the oldest "
                    "unprocessed record.",
    )
    p.add_argument("--group", action="append", default=None,
                   help="consumer group (repeatable; default: PARTD_APP_ID, i.e. partd)")
    p.add_argument("--topic", action="append", default=None,
                   help="only these topics (repeatable; default: the group's topics)")
    p.add_argument("--json", action="store_true",
                   help="print a JSON list of {group, topic, partition, committed, high_water, lag, lag_seconds}")
    p.add_argument("--watch", nargs="?", type=float, const=2.0, default=None, metavar="SECONDS",
                   help="refresh every SECONDS (default 2) until Ctrl-C")
    p.add_argument("--serve", type=int, default=None, metavar="PORT",
                   help="run as a Prometheus exporter on PORT (/metrics) instead of printing")
    p.add_argument("--host", default="127.0.0.1", help="bind address for --serve (default 127.0.0.1)")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between samples with --serve (default 5)")
    p.set_defaults(func=cmd_lag)


def cmd_lag(args: argparse.Namespace, settings: Settings) -> None:
    from streams.tools.errors import require_broker

    bootstrap = require_broker(settings)
    groups = args.group or [settings.app_id]
    logging.basicConfig(level=logging.WARNING)

    def app_topics_for(group: str) -> tuple[str, ...]:
        return group_topics(group, settings.app_id)

    if args.serve is not None:
        _serve(bootstrap, groups, args, app_topics_for)
        return

    async def once() -> list[LagRow]:
        rows: list[LagRow] = []
        for g in groups:
            rows += await lag_rows(bootstrap, g, args.topic, app_topics=app_topics_for(g))
        return rows

    async def run() -> None:
        while True:
            rows = await once()  # a failure is one line (streams/tools/errors.py)
            if args.json:
                print(json.dumps([r.as_json() for r in rows]), flush=True)
            else:
                if args.watch:
                    sys.stdout.write("\x1b[H\x1b[2J")
                    print(f"partd lag  {bootstrap}  {time.strftime('%H:%M:%S')}  (every {args.watch:g} s, Ctrl-C to stop)")
                print(format_table(rows), flush=True)
            if not args.watch:
                return
            await asyncio.sleep(args.watch)

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


def _serve(bootstrap: str, groups: list[str], args: argparse.Namespace, app_topics_for: Any) -> None:
    import signal

    from prometheus_client import start_http_server

    registry = CollectorRegistry()
    collector = LagCollector()
    registry.register(collector)
    server, _thread = start_http_server(args.serve, addr=args.host, registry=registry)
    print(f"partd lag exporter: http://{args.host}:{args.serve}/metrics, groups {', '.join(groups)}, "
          f"every {args.interval:g} s", flush=True)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        tasks = [
            asyncio.create_task(sample_forever(bootstrap, [g], collector, args.interval, args.topic,
                                               app_topics=app_topics_for(g), stop=stop))
            for g in groups
        ]
        await asyncio.gather(*tasks)

    try:
        asyncio.run(run())
    finally:
        server.shutdown()
