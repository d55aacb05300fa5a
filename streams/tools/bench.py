"""``partd bench``: the processor against the raw client, and the annual cycle, on one broker.

One run, one broker (the embedded Tansu unless ``KAFKA_BOOTSTRAP_SERVERS`` is
set), one synthetic population (:mod:`streams.tools.generate`). For each worker
count (1, and 2 with ``--workers 2``) a *round*:

1. the topics are deleted and created again (a clean log: every count below
   is exact), ``W`` real ``partd worker`` processes start with a fresh group;
2. *reference load*: plans (Y-1, Y) and beneficiaries, until consumed;
3. *enrollment + LIS stream* (the processor figure): TC 61 for Jan 1 Y-1 and
   the LIS periods, events/s from the first input produced to the last reply
   (the reply records' timestamps); every transaction must have exactly one
   TC 61 reply, dead letters must be 0;
4. (round 1) *raw baseline*: aiokafka consume -> produce pass-through of the
   same enrollment + LIS records (same bytes, same partitions) into a scratch
   topic, events/s;
   and (round 1, ``bench`` extra installed) *Quix Streams with partd's rules*
   (:mod:`streams.tools.quix_same_rules`): the same member inputs, already in
   the log, through a Quix application that runs partd's ``process_batch`` per
   record with the member's value in Quix's state; events/s of the stream from
   its first output to its last (``quix_same_rules_events_per_s``);
5. *annual cycle*: CALCULATE_BENCHMARKS, then REASSIGNMENT_RUN, until every
   partition reported and all outputs are out; ``cycle_seconds`` = load
   (2 + 3) + benchmark + reassignment;
6. (round 1) *latency*: a steady offered load of TC 72 (4Rx update) transactions
   at half the processor's measured events/s (or ``--latency-rate``) for ``--latency-seconds`` (60 s),
   sent by a producer with Kafka 4's default ``linger.ms`` (5 ms), and
   the p50 / p99 / max from a transaction's record timestamp (set when it is
   sent) to the moment its reply is read from ``trr-replies`` by a consumer
   tailing it (a reply carries its input's timestamp, so the reply's own
   timestamp cannot tell when it was written).

Peak RSS comes from ``/proc/PID/status`` (VmHWM of each worker; the broker's
VmRSS sampled during the round, its VmHWM over the whole run). CPU seconds per
phase come from ``/proc/PID/stat``. ``--profile DIR`` runs py-spy on the
(first) worker during the reference load, the stream, the cycle and the latency
phase of round 1 (``worker-PHASE-1w.txt``) and prints the hot spots. No figure
is asserted anywhere: ``--quick`` only proves the harness.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from streams import topics
from streams.config import Settings
from streams.kafka import clients

SCRATCH_TOPIC = "partd-bench-passthrough"
FAUST_SCRATCH_TOPIC = "partd-bench-faust-passthrough"
QUIX_SCRATCH_TOPIC = "partd-bench-quix-same-rules"
SCRATCH_TOPICS = (SCRATCH_TOPIC, FAUST_SCRATCH_TOPIC, QUIX_SCRATCH_TOPIC)
APP_PREFIX = "partd-bench"
#: Every topic the bench creates gets Kafka's default retention written into its configs: Quix Streams derives
#: its changelog topics from the input topics' retention.ms/retention.bytes, which Tansu's DescribeConfigs only
#: returns when they were set at creation (docs/tansu.md, quirk 10). On Apache Kafka these are the defaults.
TOPIC_CONFIGS = {"retention.ms": "604800000", "retention.bytes": "-1"}
BENCH_OUTPUTS = ("trr-replies", "beneficiary-notices", "plan-notices", "state-reassignment-lists",
                 "lis-benchmarks", "dead-letters", "state-responses")
UTC = dt.timezone.utc
LATENCY_SECONDS = 60.0
#: The offered load's producer waits this long to fill a batch: the Java client's default since Kafka 4.0
#: (KIP-1030; aiokafka's is 0). Each record its own batch made Tansu, which lists every stored batch of a
#: partition on each fetch, cost more with every second of the measurement (docs/benchmarks.md, "latency").
OFFERED_LINGER_MS = 5


def _say(msg: str) -> None:
    print(msg, flush=True)


# ---------------------------------------------------------------- /proc
def _status_kb(pid: int, field: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _cpu_seconds(pid: int | None) -> float:
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as fh:
            parts = fh.read().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class RssSampler:
    """Highest VmRSS (MB) seen for each pid, sampled every ``interval`` s in a thread."""

    def __init__(self, pids: dict[str, int | None], interval: float = 0.25) -> None:
        self.pids = {k: v for k, v in pids.items() if v}
        self.peak_mb: dict[str, float] = {k: 0.0 for k in self.pids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(0.25)

    def sample(self) -> None:
        for name, pid in self.pids.items():
            kb = _status_kb(pid, "VmRSS")
            if kb is not None:
                self.peak_mb[name] = max(self.peak_mb[name], kb / 1024)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sample()


class CpuMeter:
    """CPU seconds used by each process between ``start()`` and ``stop()``."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = pids
        self.t0 = 0.0
        self.c0: dict[str, float] = {}

    def start(self) -> "CpuMeter":
        self.t0 = time.monotonic()
        self.c0 = {k: _cpu_seconds(p) for k, p in self.pids.items()}
        self.c0["bench"] = time.process_time()
        return self

    def stop(self) -> dict[str, float]:
        wall = time.monotonic() - self.t0
        out = {f"cpu_{k}_s": round(_cpu_seconds(p) - self.c0[k], 2) for k, p in self.pids.items()}
        out["cpu_bench_s"] = round(time.process_time() - self.c0["bench"], 2)
        out["wall_s"] = round(wall, 2)
        return out

    @contextlib.contextmanager
    def into(self, r: dict[str, Any], key: str) -> Iterator[None]:
        """Measure the ``with`` block: ``r[key]`` = :meth:`stop`'s figures once it has run."""
        self.start()
        yield
        r[key] = self.stop()


# ---------------------------------------------------------------- topics
async def reset_topics(bootstrap: str, partitions: int) -> None:
    """Delete every partd topic and bench group topic, then create the contract topics again."""

    from streams.kafka.admin import ensure_topics_async

    admin = clients.admin(bootstrap, request_timeout_ms=30000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        doomed = [t for t in existing if t in topics.ALL or t in SCRATCH_TOPICS or t.startswith(APP_PREFIX)
                  or t.startswith((f"changelog__{APP_PREFIX}", f"repartition__{APP_PREFIX}"))]  # Quix's own
        if doomed:
            await admin.delete_topics(doomed)
        for _ in range(100):  # deletion is asynchronous on Apache Kafka
            if not set(await admin.list_topics()) & set(doomed):
                break
            await asyncio.sleep(0.2)
    finally:
        await admin.close()
    await ensure_topics_async(bootstrap, list(topics.ALL) + list(SCRATCH_TOPICS), partitions, configs=TOPIC_CONFIGS)


async def _end_offsets(bootstrap: str, topics: tuple[str, ...] | list[str]) -> dict[Any, int]:
    from streams.tools.io import end_offsets

    return await end_offsets(bootstrap, topics)


async def _topic_counts(bootstrap: str, topics: tuple[str, ...]) -> dict[str, int]:
    ends = await _end_offsets(bootstrap, topics)
    out = {t: 0 for t in topics}
    for tp, n in ends.items():
        out[tp.topic] += n
    return out


async def wait_quiet(bootstrap: str, group: str, topics: tuple[str, ...] | set[str], timeout: float) -> None:
    """Wait until ``group`` committed everything in ``topics`` and nothing new arrived meanwhile."""
    from streams.tools.io import wait_consumed

    prev = None
    deadline = time.monotonic() + timeout
    while True:
        ends = await _end_offsets(bootstrap, list(topics))
        if ends == prev:
            return
        await wait_consumed(bootstrap, group, topics, timeout=max(1.0, deadline - time.monotonic()),
                            report=lambda lag: _say(f"  ... {lag:,} records of {', '.join(sorted(topics))} to apply"))
        prev = ends


# ---------------------------------------------------------------- measurements
async def passthrough(bootstrap: str, topics: tuple[str, ...], expect: int) -> dict[str, Any]:
    """Raw aiokafka: consume ``topics`` from the beginning, produce every record to the scratch topic, same partition."""
    from aiokafka import TopicPartition

    consumer = clients.consumer(bootstrap, group_id=None, auto_offset_reset="earliest",
                                max_partition_fetch_bytes=4 * 1024 * 1024, fetch_max_bytes=16 * 1024 * 1024)
    producer = clients.producer(bootstrap, linger_ms=5, max_batch_size=256 * 1024, acks=1)
    await consumer.start()
    await producer.start()
    try:
        tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        t0 = time.monotonic()
        n = 0
        futures = []
        while n < expect:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            if not batches and time.monotonic() - t0 > 120:
                break
            for tp, msgs in batches.items():
                for m in msgs:
                    futures.append(await producer.send(SCRATCH_TOPIC, key=m.key, value=m.value, partition=tp.partition))
                n += len(msgs)
        await producer.flush()
        await asyncio.gather(*futures)
        seconds = time.monotonic() - t0
    finally:
        await producer.stop()
        await consumer.stop()
    return {"baseline_events": n, "baseline_seconds": round(seconds, 3),
            "baseline_events_per_s": round(n / seconds, 1) if seconds else None}


class OutputClock:
    """When each count of records was reached on some topics: their end offsets sampled every 50 ms.

    Output records carry their input record's timestamp (as in Kafka Streams), so the time an
    output was written is taken here, from the outside, not from the record.
    """

    def __init__(self, bootstrap: str, names: tuple[str, ...], interval: float = 0.05) -> None:
        self.bootstrap = bootstrap
        self.names = names
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> "OutputClock":
        from aiokafka import TopicPartition

        self._consumer = clients.consumer(self.bootstrap, group_id=None)
        await self._consumer.start()
        self._tps = [TopicPartition(t, p) for t in self.names for p in sorted(self._consumer.partitions_for_topic(t) or ())]
        self.base = sum((await self._consumer.end_offsets(self._tps)).values())
        self._task = asyncio.ensure_future(self._run())
        return self

    async def _run(self) -> None:
        while True:
            n = sum((await self._consumer.end_offsets(self._tps)).values()) - self.base
            self.samples.append((time.time(), n))
            await asyncio.sleep(self.interval)

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        await self._consumer.stop()

    def reached(self, count: int) -> float | None:
        """Wall time (s) of the first sample with at least ``count`` new records."""
        return next((t for t, n in self.samples if n >= count), None)

    def first(self) -> float | None:
        return next((t for t, n in self.samples if n > 0), None)

    def final(self) -> int:
        return self.samples[-1][1] if self.samples else 0


async def timed_stream(bootstrap: str, group: str, act: dict[str, list], timeout: float) -> dict[str, Any]:
    """Publish the stream and wait until the worker has applied it; times from the first record produced to
    the moment the outputs stopped growing (sampled), and the producer's own rate."""
    from streams.tools.generate import produce_fast

    async with OutputClock(bootstrap, (topics.TRR_REPLIES, topics.DEAD_LETTERS)) as clock:
        t_first = time.time()
        t0 = time.monotonic()
        await produce_fast(bootstrap, act)
        produce_s = time.monotonic() - t0
        await wait_quiet(bootstrap, group, set(act), timeout)
        await asyncio.sleep(4 * clock.interval)
    last = clock.reached(clock.final()) or time.time()
    return {"t_first": t_first, "seconds": max(last - t_first, 1e-3), "produce_seconds": produce_s,
            "consumed_seconds": time.monotonic() - t0}


def faust_passthrough(bootstrap: str, act_topics: tuple[str, ...], expect: int, run_dir: Path,
                      timeout: float) -> dict[str, Any]:
    """A plain Faust agent forwarding the same records (already in the log) to a scratch topic:
    events/s from its first forwarded record to its last (the group's start-up not counted)."""
    async def measure(proc: subprocess.Popen[bytes]) -> dict[str, Any]:
        async with OutputClock(bootstrap, (FAUST_SCRATCH_TOPIC,)) as clock:
            deadline = time.monotonic() + timeout
            while clock.final() < expect and time.monotonic() < deadline and proc.poll() is None:
                await asyncio.sleep(0.2)
            await asyncio.sleep(2 * clock.interval)
        return _scratch_rate(clock, expect, expect, "faust_passthrough")

    return _beside(run_dir / "faust-passthrough.log", measure,
                   ["streams.tools.faust_passthrough", bootstrap, f"{APP_PREFIX}-faust-passthrough",
                    str(run_dir / "faust-passthrough"), FAUST_SCRATCH_TOPIC, *act_topics])


def _beside(log_path: Path, measure: Any, module_args: list[str]) -> dict[str, Any]:
    """Run ``python -m module_args`` beside the bench (its output to ``log_path``), ``measure(proc)`` it,
    then stop it (SIGTERM, then SIGKILL after 30 s)."""
    log = open(log_path, "ab")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", *module_args], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        return asyncio.run(measure(proc))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def _scratch_rate(clock: "OutputClock", expect: int, events: int, prefix: str) -> dict[str, Any]:
    """Events/s from the first output record on the scratch topic to the ``expect``-th; the first sample
    already counts some records, so its start is extrapolated from the rate."""
    first, last = clock.first(), clock.reached(expect)
    if first is None or last is None:
        raise RuntimeError(f"{prefix}: {clock.final()} of {expect} records written")
    n_first = next(n for t, n in clock.samples if t == first)
    seconds = max(last - first, 1e-3) * expect / max(expect - n_first, 1)
    return {f"{prefix}_events": events, f"{prefix}_seconds": round(seconds, 3),
            f"{prefix}_events_per_s": round(events / seconds, 1)}


def quix_same_rules(bootstrap: str, pop: Any, args: argparse.Namespace, expect: int, events: int, run_dir: Path,
                    timeout: float) -> dict[str, Any]:
    """Quix Streams running partd's ``process_batch`` per record (streams/tools/quix_same_rules.py) on the member
    inputs already in the log: events/s of the enrollment + LIS stream, from its first output to its last
    (``expect``: every output partd wrote for the same inputs, the plans' own notices left out; the beneficiary
    updates before the stream write none in the bench's population)."""
    from streams.tools.quix_same_rules import available

    missing = available()
    if missing is not None:
        _say(f"  (no Quix Streams line: {missing})")
        return {"quix_same_rules_skipped": missing}

    async def measure(proc: subprocess.Popen[bytes]) -> dict[str, Any]:
        async with OutputClock(bootstrap, (QUIX_SCRATCH_TOPIC,)) as clock:
            deadline = time.monotonic() + timeout
            while clock.final() < expect and time.monotonic() < deadline and proc.poll() is None:
                await asyncio.sleep(0.2)
            await asyncio.sleep(2 * clock.interval)
        if clock.final() != expect:
            raise RuntimeError(f"Quix Streams with partd's rules wrote {clock.final()} records, partd {expect}"
                               f"{'' if proc.poll() is None else f' (it exited with {proc.returncode})'}; "
                               f"log {run_dir / 'quix-same-rules.log'}")
        return {**_scratch_rate(clock, expect, events, "quix_same_rules"), "quix_same_rules_outputs": clock.final()}

    return _beside(run_dir / "quix-same-rules.log", measure,
                   ["streams.tools.quix_same_rules", bootstrap, f"{APP_PREFIX}-quix-same-rules",
                    str(run_dir / "quix-state"), QUIX_SCRATCH_TOPIC, str(args.members), str(args.year), str(args.seed)])


def latency_transactions(pop: Any, count: int) -> list[tuple[bytes, dict[str, Any]]]:
    """``count`` TC 72 (4Rx update) transactions, each answered by one 204: members enrolled for the whole
    year Y-1 and alive, in turn; unique tracking ids."""
    dead = {b["mbi"] for b in pop.beneficiaries if b["date_of_death"]}
    base = [e for e in pop.enrollments if e["mbi"] not in dead]
    if not base:
        return []
    submitted = dt.datetime(pop.year - 1, 3, 2, 12, tzinfo=UTC)
    out = []
    for i in range(count):
        e = base[i % len(base)]
        out.append((e["mbi"].encode(), {**e, "tracking_id": f"LATENCY-{i}", "transaction_code": 72,
                                        "submitted_at": submitted, "rx_bin": "610014", "rx_pcn": "LAT",
                                        "rx_group": f"G{i % 97}", "rx_member_id": f"L{i}"}))
    return out


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of a sorted list."""
    return ordered[min(len(ordered) - 1, max(0, math.ceil(len(ordered) * q) - 1))]


async def offered_load(bootstrap: str, serde: Any, txs: list[tuple[bytes, dict[str, Any]]], rate: float,
                       timeout: float) -> dict[str, Any]:
    """Send ``txs`` to enrollment-requests at ``rate`` per second (each stamped with the wall clock as it is
    sent) while a consumer tails trr-replies; latency of each reply = when it was read - its transaction's
    timestamp (the reply carries it). Returns the figures in ms."""
    from aiokafka import TopicPartition

    encoded = [(k, serde.encode(topics.ENROLLMENT_REQUESTS, v)) for k, v in txs]
    wanted = {v["tracking_id"] for _, v in txs}
    consumer = clients.consumer(bootstrap, group_id=None, fetch_max_wait_ms=5, enable_auto_commit=False)
    producer = clients.producer(bootstrap, linger_ms=OFFERED_LINGER_MS, acks=1)
    await consumer.start()
    await producer.start()
    latencies: list[float] = []
    sent_at: list[int] = []  # the transaction's timestamp (ms) of each latency
    stop = asyncio.Event()

    async def tail() -> None:
        while not stop.is_set() or len(latencies) < len(txs):
            batches = await consumer.getmany(timeout_ms=20, max_records=5000)
            now_ms = time.time() * 1000
            for msgs in batches.values():
                for (rec, _), m in zip(serde.decode_many(topics.TRR_REPLIES, [m.value for m in msgs]), msgs):
                    if rec is not None and rec.get("plan_tracking_id") in wanted:
                        latencies.append(now_ms - m.timestamp)
                        sent_at.append(m.timestamp)
            if stop.is_set() and time.monotonic() > drain_deadline:
                return

    try:
        tps = [TopicPartition(topics.TRR_REPLIES, p) for p in sorted(consumer.partitions_for_topic(topics.TRR_REPLIES) or ())]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)
        drain_deadline = float("inf")
        reader = asyncio.ensure_future(tail())
        t0 = time.monotonic()
        futures = []
        sent = 0
        while sent < len(encoded):
            due = min(len(encoded), int((time.monotonic() - t0) * rate) + 1)
            while sent < due:
                key, value = encoded[sent]
                futures.append(await producer.send(topics.ENROLLMENT_REQUESTS, key=key, value=value,
                                                   timestamp_ms=int(time.time() * 1000)))
                sent += 1
            await asyncio.sleep(0.002)
        offered_s = time.monotonic() - t0
        await producer.flush()
        await asyncio.gather(*futures)
        drain_deadline = time.monotonic() + timeout
        stop.set()
        await reader
    finally:
        await producer.stop()
        await consumer.stop()
    ordered = sorted(latencies)
    out: dict[str, Any] = {"latency_offered_per_s": round(rate, 1), "latency_transactions": len(txs),
                           "latency_offered_seconds": round(offered_s, 3), "latency_replies": len(latencies)}
    if ordered:
        out.update({"latency_ms_p50": round(percentile(ordered, 0.50), 1),
                    "latency_ms_p99": round(percentile(ordered, 0.99), 1),
                    "latency_ms_max": round(ordered[-1], 1)})
        # p99 per 10 s of sending (does the latency stay level, or grow with the log?)
        first = min(sent_at)
        windows: dict[int, list[float]] = {}
        for ts, ms in zip(sent_at, latencies):
            windows.setdefault(int((ts - first) // 10_000), []).append(ms)
        out["latency_ms_p99_per_10s"] = [round(percentile(sorted(w), 0.99), 1) for _, w in sorted(windows.items())]
    return out


async def check_replies(bootstrap: str, serde: Any, mbis: set[str]) -> dict[str, Any]:
    """Read every trr-replies record: one TC 61 reply per transaction, and the last reply's timestamp."""

    ends = await _end_offsets(bootstrap, ["trr-replies"])
    consumer = clients.consumer(bootstrap, group_id=None, auto_offset_reset="earliest",
                                max_partition_fetch_bytes=4 * 1024 * 1024)
    await consumer.start()
    per_mbi: Counter[str] = Counter()
    trcs: Counter[str] = Counter()
    other = 0
    last_ts = 0
    first_ts = None
    try:
        tps = list(ends)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        remaining = {tp: n for tp, n in ends.items() if n > 0}
        deadline = time.monotonic() + 300
        while remaining and time.monotonic() < deadline:
            for tp, msgs in (await consumer.getmany(timeout_ms=1000, max_records=10000)).items():
                for (rec, err), m in zip(serde.decode_many("trr-replies", [m.value for m in msgs]), msgs):
                    last_ts = max(last_ts, m.timestamp)
                    first_ts = m.timestamp if first_ts is None else min(first_ts, m.timestamp)
                    if rec is None:
                        other += 1
                        continue
                    trcs[rec["transaction_reply_code"]] += 1
                    if rec["transaction_code"] == 61:
                        per_mbi[rec["mbi"]] += 1
                    else:
                        other += 1
                if msgs and msgs[-1].offset + 1 >= ends[tp]:
                    remaining.pop(tp, None)
    finally:
        await consumer.stop()
    missing = sum(1 for m in mbis if per_mbi.get(m, 0) == 0)
    duplicated = sum(1 for m in mbis if per_mbi.get(m, 0) > 1)
    return {
        "replies": sum(trcs.values()), "enrollment_replies": sum(per_mbi.values()), "lis_replies": other,
        "replies_missing": missing, "replies_duplicated": duplicated,
        "replies_complete": missing == 0 and duplicated == 0,
        "trc": dict(sorted(trcs.items())), "last_reply_ms": last_ts, "first_reply_ms": first_ts,
    }


def _cycle_command(command: str, year: int, seed: int) -> dict[str, Any]:
    prev = year - 1
    if command == "CALCULATE_BENCHMARKS":
        return {"command": command, "plan_year": year, "as_of": dt.datetime(prev, 7, 31, 16, tzinfo=UTC),
                "reference_month": dt.date(prev, 7, 1), "state_code": None, "seed": None}
    return {"command": command, "plan_year": year, "as_of": dt.datetime(prev, 10, 17, 14, 30, tzinfo=UTC),
            "reference_month": None, "state_code": None, "seed": seed}


async def run_cycle_step(bootstrap: str, serde: Any, group: str, command: str, year: int, seed: int,
                         timeout: float) -> dict[str, Any]:
    """Send one cycle command; its time runs until every member partition has applied it (its done record)."""
    from streams.tools.io import produce
    from streams.tools.scenario import wait_cycle

    record = _cycle_command(command, year, seed)
    before = await _topic_counts(bootstrap, BENCH_OUTPUTS)
    t0 = time.monotonic()
    await produce(bootstrap, serde, [(topics.CYCLE_COMMANDS, None, record)])
    outcome = await wait_cycle(bootstrap, serde, group, record, timeout=timeout)
    seconds = time.monotonic() - t0
    if outcome != "done":
        raise RuntimeError(f"{command} {year} was not applied: {outcome}")
    after = await _topic_counts(bootstrap, BENCH_OUTPUTS)
    return {"seconds": round(seconds, 3), "outputs": {t: after[t] - before[t] for t in BENCH_OUTPUTS if after[t] - before[t]}}


# ---------------------------------------------------------------- memory, state size, restore (issue 15)
def distribution(sizes: list[int]) -> dict[str, float]:
    """Mean, p50, p99 and max of byte sizes (nearest-rank percentiles)."""
    if not sizes:
        return {"mean": 0.0, "p50": 0.0, "p99": 0.0, "max": 0.0}
    ordered = sorted(sizes)

    def rank(q: float) -> float:
        return float(ordered[min(len(ordered) - 1, max(0, math.ceil(len(ordered) * q) - 1))])

    return {"mean": round(sum(ordered) / len(ordered), 1), "p50": rank(0.50), "p99": rank(0.99),
            "max": float(ordered[-1])}


def scrape(port: int) -> dict[str, float]:
    """A worker's ``/metrics`` as ``{'name{labels}': value}`` (labels as written, sorted)."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out


def rocksdb_parts(metrics: dict[str, float]) -> dict[str, int]:
    """``partd_rocksdb_bytes{part}`` and ``partd_rocksdb_keys`` of a scrape."""
    out = {k.split('"')[1]: int(v) for k, v in metrics.items() if k.startswith("partd_rocksdb_bytes{")}
    if "partd_rocksdb_keys" in metrics:
        out["keys"] = int(metrics["partd_rocksdb_keys"])
    return out


def worker_memory(worker: Any, members: int) -> dict[str, Any]:
    """RSS per member held (VmHWM: the peak of the whole round) and where it is, from the worker's /metrics."""
    hwm_kb = _status_kb(worker.pid, "VmHWM") or 0
    rss_kb = _status_kb(worker.pid, "VmRSS") or 0
    parts = rocksdb_parts(scrape(worker.web_port))
    return {
        "worker_members_held": members,
        "worker_rss_bytes_per_member": round(hwm_kb * 1024 / members, 1) if members else None,
        "worker_rss_mb_at_end": round(rss_kb / 1024, 1),
        "worker_rocksdb_mb": {k: round(v / 2**20, 1) for k, v in parts.items() if k != "keys"},
        "worker_rocksdb_keys": parts.get("keys"),
    }


def stored_state_sizes(data_dir: Path) -> dict[str, Any]:
    """The member values a stopped worker's RocksDB holds: size per member (and its outbox part), and the disk."""
    from streams.kafka.internals.store import read_stopped
    from streams.runtime import state as st

    sizes, outbox = [], []
    for _, key, value in read_stopped(data_dir):
        if key[:1] == b"\x00" or value is None:
            continue
        sizes.append(len(value))
        outbox.append(st.outbox_bytes(value))
    disk = sum(f.stat().st_size for f in Path(data_dir).rglob("*") if f.is_file())
    d = distribution(sizes)
    return {"state_keys": len(sizes), "state_bytes_mean": d["mean"], "state_bytes_p50": d["p50"],
            "state_bytes_p99": d["p99"], "state_bytes_max": d["max"],
            "state_outbox_bytes_mean": round(sum(outbox) / len(outbox), 1) if outbox else 0.0,
            "state_with_outbox": sum(1 for n in outbox if n),
            "worker_disk_bytes": disk, "worker_disk_bytes_per_member": round(disk / len(sizes), 1) if sizes else None}


async def changelog_sizes(bootstrap: str, topic: str, members: int) -> dict[str, Any]:
    """Every record of the member table's changelog: bytes per record and the outbox part of it, and what a
    compacted changelog would keep (the last value per key)."""
    from streams.runtime import state as st
    from streams.tools.io import read_to_end

    records = total = outbox_total = with_outbox = 0
    last: dict[bytes, tuple[int, int]] = {}
    async for msgs in read_to_end(bootstrap, topic):
        for m in msgs:
            size = len(m.key or b"") + len(m.value or b"")
            records += 1
            total += size
            ob = st.outbox_bytes(m.value)
            outbox_total += ob
            with_outbox += bool(ob)
            if m.value is None:
                last.pop(m.key, None)
            else:
                last[m.key] = (size, ob)
    kept = [v for k, v in last.items() if k[:1] != b"\x00"]
    compacted = sum(size for size, _ in kept)
    return {
        "changelog_records": records, "changelog_bytes": total,
        "changelog_record_bytes_mean": round(total / records, 1) if records else 0.0,
        "changelog_record_outbox_bytes_mean": round(outbox_total / records, 1) if records else 0.0,
        "changelog_records_with_outbox": with_outbox,
        "changelog_records_per_member": round(records / members, 3) if members else None,
        "changelog_bytes_per_member": round(total / members, 1) if members else None,
        "changelog_compacted_bytes_per_member": round(compacted / members, 1) if members else None,
        "changelog_compacted_outbox_bytes_per_member": round(sum(ob for _, ob in kept) / members, 1)
        if members else None,
    }


def probe_transactions(pop: Any, partitions: int, tag: str) -> list[dict[str, Any]]:
    """One TC 72 (4Rx update) per partition, for an enrolled member the cycle leaves alone (no LIS, alive):
    answered 204 only by a worker that holds the member's enrollment (209/008 if its state is missing)."""
    from streams.tools.generate import partition_of

    lis = {r["mbi"] for r in pop.lis}
    dead = {b["mbi"] for b in pop.beneficiaries if b["date_of_death"]}
    chosen: dict[int, dict[str, Any]] = {}
    for e in pop.enrollments:
        if e["mbi"] in lis or e["mbi"] in dead:
            continue
        chosen.setdefault(partition_of(e["mbi"].encode(), partitions), e)
        if len(chosen) == partitions:
            break
    submitted = dt.datetime(pop.year - 1, 3, 2, 12, tzinfo=UTC)
    return [{**e, "tracking_id": f"BENCH-{tag}-{p}", "transaction_code": 72, "submitted_at": submitted,
             "rx_bin": "610014", "rx_pcn": "BENCH", "rx_group": f"G{p}", "rx_member_id": f"{tag}{p}"}
            for p, e in sorted(chosen.items())]


async def _new_replies(bootstrap: str, serde: Any, since: dict[Any, int]) -> list[dict[str, Any]]:
    """trr-replies records after the offsets ``since``, decoded."""
    consumer = clients.consumer(bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(list(since))
        todo = [tp for tp in since if ends[tp] > since[tp]]
        consumer.assign(todo)
        for tp in todo:
            consumer.seek(tp, since[tp])
        out = []
        while todo:
            for tp, msgs in (await consumer.getmany(*todo, timeout_ms=1000)).items():
                out.extend(rec for rec, _ in serde.decode_many("trr-replies", [m.value for m in msgs if m.offset < ends[tp]]))
            todo = [tp for tp in todo if await consumer.position(tp) < ends[tp]]
        return [r for r in out if r is not None]
    finally:
        await consumer.stop()


async def takeover(bootstrap: str, serde: Any, worker: Any, probes: list[dict[str, Any]],
                   timeout: float) -> dict[str, Any]:
    """Start ``worker`` (the group's only one) and publish ``probes`` at once: seconds until its first and
    last answer, what it restored (its /metrics), and whether every probe got the 204 a complete state gives."""
    from streams.tools.io import produce

    since = await _end_offsets(bootstrap, [topics.TRR_REPLIES])
    async with OutputClock(bootstrap, (topics.TRR_REPLIES,)) as clock:
        t0 = time.time()
        worker.start()
        await produce(bootstrap, serde, [(topics.ENROLLMENT_REQUESTS, None, rec) for rec in probes])
        deadline = time.monotonic() + timeout
        while clock.final() < len(probes) and time.monotonic() < deadline and worker.alive():
            await asyncio.sleep(0.1)
        await asyncio.sleep(2 * clock.interval)
    first, last = clock.first(), clock.reached(len(probes))
    if last is None:
        raise RuntimeError(f"the restarted worker answered {clock.final()} of {len(probes)} transactions; "
                           f"log {worker.log_path}:\n{worker.log_tail()}")
    metrics = scrape(worker.web_port)
    replies = await _new_replies(bootstrap, serde, since)
    tags = {p["tracking_id"] for p in probes}
    trcs = Counter(r["transaction_reply_code"] for r in replies if r.get("plan_tracking_id") in tags)
    records = int(metrics.get("partd_restore_records_total", 0))  # this worker's restores (one, unless it rebalanced)
    seconds = metrics.get("partd_restore_seconds_total", 0.0)
    return {"first_answer_seconds": round(first - t0, 3) if first else None,
            "all_answered_seconds": round(last - t0, 3),
            "records": records, "seconds": round(seconds, 3),
            "bytes": int(metrics.get("partd_restore_bytes_total", 0)),
            "records_per_s": round(records / seconds, 1) if seconds else None,
            "answers": dict(sorted(trcs.items())), "answers_ok": trcs == Counter({"204": len(probes)}),
            "worker_peak_rss_mb": round((_status_kb(worker.pid, "VmHWM") or 0) / 1024, 1)}


def restore_round(bootstrap: str, serde: Any, group: str, worker0: Any, pop: Any, partitions: int,
                  run_dir: Path, timeout: float) -> dict[str, Any]:
    """Stop ``worker0`` (cleanly); a worker on an **empty data dir** takes over every partition (the whole
    changelog restored); stop it; ``worker0`` again on **its own disk** (only what changed since it stopped)."""
    from streams.tools.runner import WorkerProcess

    changelog = topics.member_changelog(group)
    worker0.stop()
    r: dict[str, Any] = stored_state_sizes(worker0.data_dir)
    at_stop = sum(asyncio.run(_end_offsets(bootstrap, [changelog])).values())
    env = {"PARTD_LOG_LEVEL": "info"}

    def round_on(data_dir: Path, tag: str, prefix: str) -> None:
        worker = WorkerProcess(bootstrap, data_dir, partitions=partitions, app_id=group, extra_env=env)
        try:
            got = asyncio.run(takeover(bootstrap, serde, worker, probe_transactions(pop, partitions, tag), timeout))
        finally:
            worker.stop()
        r.update({f"{prefix}_{k}": v for k, v in got.items()})

    round_on(run_dir / f"{group}-empty-disk", "EMPTY", "restore")
    r["restore_changelog_records"] = at_stop
    # the name for it: changelog records restored per second
    r["restore_members_per_s"] = r["restore_records_per_s"]
    written = sum(asyncio.run(_end_offsets(bootstrap, [changelog])).values()) - at_stop
    round_on(worker0.data_dir, "SAME", "restart_same_disk")
    r["restart_same_disk_changelog_records_since_stop"] = written
    return r


# ---------------------------------------------------------------- profile
class PySpy:
    """``py-spy record`` on one pid, raw collapsed stacks, stopped with SIGINT."""

    def __init__(self, pid: int, out: Path, rate: int = 97) -> None:
        self.out = out
        exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        self.proc = subprocess.Popen([exe, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw",
                                      "--output", str(out)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def stop(self) -> Path:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.out


@contextlib.contextmanager
def spied(args: argparse.Namespace, pid: int, phase: str, workers: int, profiles: dict[str, Path]) -> Iterator[None]:
    """With ``--profile DIR``: py-spy on ``pid`` for the ``with`` block, into ``DIR/worker-PHASE-Nw.txt``
    (noted in ``profiles[phase]``); without it, nothing."""
    if not args.profile:
        yield
        return
    spy = PySpy(pid, Path(args.profile) / f"worker-{phase}-{workers}w.txt")
    try:
        yield
    finally:
        profiles[phase] = spy.stop()


def profile_summary(path: Path, top: int = 25) -> list[tuple[str, float, float]]:
    """``(frame, inclusive %, self %)`` from py-spy's collapsed stacks, by inclusive share."""
    incl: Counter[str] = Counter()
    self_: Counter[str] = Counter()
    total = 0
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        stack, _, count = line.rpartition(" ")
        try:
            n = int(count)
        except ValueError:
            continue
        frames = [f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].split("/")[-1] + ")" if " (" in f else f
                  for f in stack.split(";")]
        total += n
        for f in set(frames):
            incl[f] += n
        if frames:
            self_[frames[-1]] += n
    if not total:
        return []
    return [(f, 100.0 * n / total, 100.0 * self_[f] / total) for f, n in incl.most_common(top)]


# ---------------------------------------------------------------- a round
def run_round(bootstrap: str, broker_pid: int | None, workers: int, pop: Any, encoded: dict[str, list],
              args: argparse.Namespace, run_dir: Path, serde: Any, baseline: bool) -> dict[str, Any]:
    from streams.tools.generate import produce_fast
    from streams.tools.runner import WorkerProcess

    group = f"{APP_PREFIX}-{workers}w"
    timeout = 300 + pop_size(pop) / 100
    asyncio.run(reset_topics(bootstrap, args.partitions))
    procs = [WorkerProcess(bootstrap, run_dir / f"{group}-{k}", partitions=args.partitions, app_id=group,
                           extra_env={"PARTD_LOG_LEVEL": "warning"}).start() for k in range(workers)]
    pids = {f"worker{k}": w.pid for k, w in enumerate(procs)}
    pids["broker"] = broker_pid
    r: dict[str, Any] = {"workers": workers}
    profiles: dict[str, Path] = {}
    try:
        with RssSampler(pids) as rss:
            # 2. reference load: the plans first (this also waits for the group to form), then the beneficiaries
            t0 = time.monotonic()
            asyncio.run(produce_fast(bootstrap, {"plan-year-updates": encoded["plan-year-updates"]}))
            _watched(wait_quiet(bootstrap, group, {"plan-year-updates"}, timeout), procs)
            r["startup_and_plans_seconds"] = round(time.monotonic() - t0, 3)
            # what the plans caused (plan-level notices): not the member inputs' (the Quix line compares those)
            by_plans = asyncio.run(_topic_counts(bootstrap, BENCH_OUTPUTS))
            with spied(args, procs[0].pid, "reference", workers, profiles), CpuMeter(pids).into(r, "reference_cpu"):
                t0 = time.monotonic()
                asyncio.run(produce_fast(bootstrap, {"beneficiary-updates": encoded["beneficiary-updates"]}))
                _watched(wait_quiet(bootstrap, group, {"beneficiary-updates"}, timeout), procs)
                r["reference_seconds"] = round(time.monotonic() - t0, 3)
            _alive(procs)

            # 3. the enrollment + LIS stream
            act = {t: encoded[t] for t in ("enrollment-requests", "lis-status-changes")}
            n_events = sum(len(v) for v in act.values())
            with spied(args, procs[0].pid, "stream", workers, profiles), CpuMeter(pids).into(r, "stream_cpu"):
                timed = _watched(timed_stream(bootstrap, group, act, timeout), procs)
            produce_s = timed["produce_seconds"]
            r["stream_consumed_seconds"] = round(timed["consumed_seconds"], 3)
            _alive(procs)
            check = asyncio.run(check_replies(bootstrap, serde, {e["mbi"] for e in pop.enrollments}))
            written = asyncio.run(_topic_counts(bootstrap, BENCH_OUTPUTS))  # every output of the load so far
            dead = written["dead-letters"]
            seconds = timed["seconds"]
            r.update({
                "events": n_events, "transactions": len(pop.enrollments), "lis_changes": len(pop.lis),
                "generator_produce_events_per_s": round(n_events / produce_s, 1),
                "processor_seconds": round(seconds, 3),
                "processor_events_per_s": round(n_events / seconds, 1),
                "dead_letters": dead, **{k: v for k, v in check.items() if k not in ("last_reply_ms", "first_reply_ms")},
            })

            # 4. the raw baseline and a plain Faust agent, same records
            if baseline:
                with CpuMeter(pids).into(r, "baseline_cpu"):
                    r.update(asyncio.run(passthrough(bootstrap, tuple(act), n_events)))
                if args.faust_baseline:
                    with CpuMeter(pids).into(r, "faust_passthrough_cpu"):
                        r.update(faust_passthrough(bootstrap, tuple(act), n_events, run_dir, timeout))
                if args.quix_baseline:
                    member_outputs = sum(written.values()) - sum(by_plans.values())
                    with CpuMeter(pids).into(r, "quix_same_rules_cpu"):
                        r.update(quix_same_rules(bootstrap, pop, args, member_outputs, n_events, run_dir, timeout))

            # 5. the annual cycle
            with spied(args, procs[0].pid, "cycle", workers, profiles), CpuMeter(pids).into(r, "cycle_cpu"):
                bm = _watched(run_cycle_step(bootstrap, serde, group, "CALCULATE_BENCHMARKS", pop.year, 0, timeout),
                              procs)
                ra = _watched(run_cycle_step(bootstrap, serde, group, "REASSIGNMENT_RUN", pop.year, args.seed,
                                             timeout), procs)
            _alive(procs)
            r.update({
                "cycle_members": len(pop.beneficiaries),
                "cycle_load_seconds": round(r["reference_seconds"] + r["processor_seconds"], 3),
                "cycle_benchmark_seconds": bm["seconds"], "cycle_benchmark_outputs": bm["outputs"],
                "cycle_reassignment_seconds": ra["seconds"], "cycle_reassignment_outputs": ra["outputs"],
            })
            r["cycle_seconds"] = round(r["cycle_load_seconds"] + bm["seconds"] + ra["seconds"], 3)
            r["cycle_members_per_s"] = round(r["cycle_members"] / r["cycle_seconds"], 1)
            # 6. (round 1) latency at half the measured throughput
            if baseline and args.latency_seconds > 0:
                rate = args.latency_rate or max(1.0, r["processor_events_per_s"] / 2)
                txs = latency_transactions(pop, max(1, int(rate * args.latency_seconds)))
                _say(f"  latency: {len(txs):,} TC 72 at {rate:,.0f}/s for {args.latency_seconds:g} s ...")
                with spied(args, procs[0].pid, "latency", workers, profiles), CpuMeter(pids).into(r, "latency_cpu"):
                    r.update(_watched(offered_load(bootstrap, serde, txs, rate, timeout=60 + args.latency_seconds),
                                      procs))
                _alive(procs)
            hwm = [_status_kb(w.pid, "VmHWM") for w in procs if w.pid]
            r["worker_peak_rss_mb"] = round(max((k or 0) for k in hwm) / 1024, 1)
            r["worker_peak_rss_mb_each"] = [round((k or 0) / 1024, 1) for k in hwm]

            # 7. (one worker) memory per member, stored state and changelog sizes, restore
            if workers == 1 and args.restore:
                members = len(pop.beneficiaries)
                r.update(worker_memory(procs[0], members))
                r.update(asyncio.run(changelog_sizes(bootstrap, topics.member_changelog(group), members)))
                r.update(restore_round(bootstrap, serde, group, procs[0], pop, args.partitions, run_dir, timeout))
        r["broker_peak_rss_mb_round"] = round(rss.peak_mb.get("broker", 0.0), 1)
    except BaseException:
        for w in procs:
            _say(f"--- worker log {w.log_path}\n{w.log_tail(30)}")
        raise
    finally:
        for w in procs:
            w.stop()
    if profiles:
        r["profiles"] = {k: str(v) for k, v in profiles.items()}
    return r


def pop_size(pop: Any) -> int:
    return len(pop.beneficiaries) + len(pop.enrollments) + len(pop.lis)


def _alive(procs: list[Any]) -> None:
    for w in procs:
        if not w.alive():
            raise RuntimeError(f"worker pid {w.pid} exited; log {w.log_path}:\n{w.log_tail()}")


def _watched(coro: Any, procs: list[Any]) -> Any:
    """Run ``coro`` (a wait for the workers) and stop it as soon as a worker has exited, with its log:
    a bench waiting on a dead worker would otherwise sit out its whole timeout (hours at 1M members)."""

    async def run() -> Any:
        task = asyncio.ensure_future(coro)
        while not task.done():
            await asyncio.wait({task}, timeout=1.0)
            if not task.done() and any(not w.alive() for w in procs):
                task.cancel()
                _alive(procs)
        return task.result()

    return asyncio.run(run())


# ---------------------------------------------------------------- report
def _table(res: dict[str, Any]) -> str:
    rows = [("raw baseline (aiokafka consume->produce)", f"{res['baseline_events_per_s']:,.0f} events/s")]
    if "ratio_faust" in res:
        rows.append(("plain Faust agent forwarding raw bytes", f"{res['faust_passthrough_events_per_s']:,.0f} events/s"))
    if "quix_same_rules_events_per_s" in res:
        rows.append(("Quix Streams running partd's rules", f"{res['quix_same_rules_events_per_s']:,.0f} events/s"))
    rows.append(("processor, enrollment + LIS, 1 worker", f"{res['processor_events_per_s']:,.0f} events/s"))
    if "ratio_faust" in res:
        rows.append(("ratio processor / Faust passthrough", f"{res['ratio_faust']:.3f}"))
    if "ratio_quix" in res:
        rows.append(("ratio processor / Quix with partd's rules", f"{res['ratio_quix']:.3f}"))
    if "latency_ms_p99" in res:
        rows.append((f"reply latency at {res['latency_offered_per_s']:,.0f} tx/s: p50 / p99 / max",
                     f"{res['latency_ms_p50']:,.1f} / {res['latency_ms_p99']:,.1f} / {res['latency_ms_max']:,.1f} ms "
                     f"({res['latency_replies']:,} of {res['latency_transactions']:,} answered)"))
        if res.get("latency_ms_p99_per_10s"):
            rows.append(("  p99 per 10 s of sending", " / ".join(f"{ms:,.0f}" for ms in res["latency_ms_p99_per_10s"])
                         + " ms"))
    rows += [("ratio processor / raw baseline", f"{res['ratio']:.3f}"),
            ("replies complete (1 per transaction)", f"{res['replies_complete']} ({res['dead_letters']} dead letters)"),
            (f"annual cycle, {res['cycle_members']:,} members, 1 worker",
             f"{res['cycle_seconds']:.1f} s ({res['cycle_members_per_s']:,.0f} members/s)"),
            ("  load / benchmark / reassignment",
             f"{res['cycle_load_seconds']:.1f} / {res['cycle_benchmark_seconds']:.1f} / {res['cycle_reassignment_seconds']:.1f} s"),
            ("worker peak RSS", f"{res['worker_peak_rss_mb']:.0f} MB"),
            ("broker peak RSS (whole run)", f"{res['broker_peak_rss_mb']:.0f} MB"),
            ("generator: encode / produce", f"{res['generator_encode_events_per_s']:,.0f} / {res['generator_produce_events_per_s']:,.0f} records/s")]
    if "worker_rss_bytes_per_member" in res:
        rows += [("worker RSS per member held (peak)", f"{res['worker_rss_bytes_per_member']:,.0f} bytes"),
                 ("stored state per member: mean / p99", f"{res['state_bytes_mean']:,.0f} / {res['state_bytes_p99']:,.0f} bytes"
                  f" (outbox {res['state_outbox_bytes_mean']:,.0f})"),
                 ("changelog record: mean (outbox part)", f"{res['changelog_record_bytes_mean']:,.0f} "
                  f"({res['changelog_record_outbox_bytes_mean']:,.0f}) bytes, {res['changelog_records']:,} records"),
                 ("restore, empty disk", f"{res['restore_records']:,} records in {res['restore_seconds']:.1f} s "
                  f"({res['restore_members_per_s'] or 0:,.0f}/s); first answer after {res['restore_first_answer_seconds']:.1f} s"),
                 ("restart, same disk", f"{res['restart_same_disk_records']:,} records restored "
                  f"({res['restart_same_disk_changelog_records_since_stop']:,} written since it stopped); "
                  f"first answer after {res['restart_same_disk_first_answer_seconds']:.1f} s"),
                 ("restored state answers (TC 72 -> 204)",
                  f"{res['restore_answers_ok'] and res['restart_same_disk_answers_ok']}")]
    if "scaling_stream" in res:
        rows += [("processor, 2 workers", f"{res['processor_events_per_s_2w']:,.0f} events/s"),
                 ("scaling 2w/1w: stream / cycle", f"{res['scaling_stream']:.2f} / {res['scaling_cycle']:.2f}"),
                 ("annual cycle, 2 workers", f"{res['cycle_seconds_2w']:.1f} s"),
                 ("worker peak RSS, 2 workers", f"{res['worker_peak_rss_mb_2w']:.0f} MB")]
    width = max(len(a) for a, _ in rows)
    return "\n".join(f"{a:<{width}}  {b}" for a, b in rows)


def cmd_bench(args: argparse.Namespace, settings: Settings) -> None:
    from streams.kafka.registry import SchemaRegistry
    from streams.kafka.serde import Serde
    from streams.tools.broker import EmbeddedBroker
    from streams.tools.generate import encode, generate

    if args.quick:
        args.members = min(args.members, 300)
        if args.latency_seconds == LATENCY_SECONDS:
            args.latency_seconds = 3.0
    args.partitions = args.partitions or settings.partitions
    if args.latency_rate is not None and not args.latency_rate > 0:
        raise SystemExit(f"partd: error: --latency-rate must be a number of transactions a second above 0, "
                         f"not {args.latency_rate:g}")
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="partd-bench-"))
    broker = None
    try:
        if settings.bootstrap_servers:
            if not args.reset_topics:
                raise SystemExit("partd: error: bench deletes and recreates every partd topic; on the cluster at "
                                 f"{settings.bootstrap_servers} pass --reset-topics if that is what you want")
            from streams.tools.errors import require_broker

            bootstrap, broker_pid = require_broker(settings), None
        else:
            broker = EmbeddedBroker(log_dir=run_dir)
            bootstrap = broker.start(None)
            broker_pid = broker.pid
        _say(f"broker {bootstrap} (pid {broker_pid}); {args.members:,} members, {args.partitions} partitions, "
             f"seed {args.seed}; run dir {run_dir}")
        serde = Serde(SchemaRegistry.from_env())
        t0 = time.perf_counter()
        pop = generate(args.members, year=args.year, seed=args.seed)
        t1 = time.perf_counter()
        encoded = {t: encode(serde, t, recs) for t, recs in pop.by_topic().items()}
        t2 = time.perf_counter()
        n = sum(len(v) for v in encoded.values())
        _say(f"generated {n:,} records in {t1 - t0:.1f}s, encoded in {t2 - t1:.1f}s; " +
             ", ".join(f"{k}={v}" for k, v in pop.summary().items()))
        res: dict[str, Any] = {
            "members": args.members, "partitions": args.partitions, "seed": args.seed, "quick": args.quick,
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                        "loadavg_at_start": os.getloadavg()},
            "bootstrap": "embedded tansu" if broker else "external",
            "generator_records": n, "generator_generate_events_per_s": round(n / (t1 - t0), 1),
            "generator_encode_events_per_s": round(n / (t2 - t1), 1),
        }
        rounds = [1] + ([args.workers] if args.workers > 1 else [])
        per: dict[int, dict[str, Any]] = {}
        for w in rounds:
            _say(f"round: {w} worker(s)...")
            per[w] = run_round(bootstrap, broker_pid, w, pop, encoded, args, run_dir, serde, baseline=(w == 1))
            r = per[w]
            _say(f"  {w}w: stream {r['processor_events_per_s']:,.0f} events/s, replies complete {r['replies_complete']}, "
                 f"cycle {r['cycle_seconds']:.1f}s, worker RSS {r['worker_peak_rss_mb']:.0f} MB")
        one = per[1]
        res.update({k: v for k, v in one.items()})
        res["workers"] = args.workers
        res["ratio"] = round(one["processor_events_per_s"] / one["baseline_events_per_s"], 4)
        if "faust_passthrough_events_per_s" in one:
            res["ratio_faust"] = round(one["processor_events_per_s"] / one["faust_passthrough_events_per_s"], 4)
        if "quix_same_rules_events_per_s" in one:
            res["ratio_quix"] = round(one["processor_events_per_s"] / one["quix_same_rules_events_per_s"], 4)
        if args.workers > 1:
            two = per[args.workers]
            res.update({f"{k}_2w": v for k, v in two.items() if not isinstance(v, dict)})
            res["scaling_stream"] = round(two["processor_events_per_s"] / one["processor_events_per_s"], 3)
            res["scaling_cycle"] = round(one["cycle_seconds"] / two["cycle_seconds"], 3)
            res["replies_complete"] = one["replies_complete"] and two["replies_complete"]
            res["rounds"] = {str(k): v for k, v in per.items()}
        res["broker_peak_rss_mb"] = round((_status_kb(broker_pid, "VmHWM") or 0) / 1024, 1) if broker_pid else None
        res["machine"]["loadavg_at_end"] = os.getloadavg()
        _say("")
        _say(_table({**res, "broker_peak_rss_mb": res["broker_peak_rss_mb"] or 0.0}))
        if args.profile:
            for w, r in per.items():
                for phase, path in r.get("profiles", {}).items():
                    _say(f"\nprofile, worker 0, {phase}, {w} worker(s) ({path}): inclusive% self% frame")
                    for frame, inc, self_pct in profile_summary(Path(path)):
                        _say(f"  {inc:5.1f} {self_pct:5.1f}  {frame}")
        if args.json:
            Path(args.json).write_text(json.dumps(res, indent=2, default=str) + "\n")
            _say(f"\nwrote {args.json}")
    finally:
        if broker is not None:
            broker.stop()
        if not args.keep:
            shutil.rmtree(run_dir, ignore_errors=True)


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("bench", help="benchmark: raw client baseline, the processor, the annual cycle")
    p.add_argument("--members", type=int, default=20000, help="population and cycle size (default 20000)")
    p.add_argument("--workers", type=int, choices=(1, 2), default=1, help="2: also run with two workers (scaling)")
    p.add_argument("--partitions", type=int, default=None, help="partitions (default PARTD_PARTITIONS, 8)")
    p.add_argument("--year", type=int, default=2026, help="plan year Y of the cycle")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="tiny population: proves the harness works (CI)")
    p.add_argument("--json", default=None, metavar="FILE", help="write the results as a JSON object")
    p.add_argument("--profile", default=None, metavar="DIR", help="py-spy the worker (reference load, stream, cycle, latency), print hot spots")
    p.add_argument("--reset-topics", action="store_true", help="allow deleting the partd topics on an external cluster")
    p.add_argument("--keep", action="store_true", help="keep the run directory (worker logs, data)")
    p.add_argument("--no-restore", dest="restore", action="store_false",
                   help="skip the memory, state-size and restore measurements after the 1-worker round")
    p.add_argument("--no-faust-baseline", dest="faust_baseline", action="store_false",
                   help="skip the plain Faust passthrough (minutes at 1M members)")
    p.add_argument("--no-quix-baseline", dest="quix_baseline", action="store_false",
                   help="skip Quix Streams running partd's rules (needs the bench extra; minutes at 1M members)")
    p.add_argument("--latency-seconds", type=float, default=LATENCY_SECONDS, metavar="S",
                   help=f"offered load at half the measured throughput for S seconds, for the reply latency "
                        f"(default {LATENCY_SECONDS:g}; --quick: 3; 0 skips it)")
    p.add_argument("--latency-rate", type=float, default=None, metavar="TX_PER_S",
                   help="offer the latency load at this rate instead of half the measured throughput "
                        "(a latency at a stated rate, comparable between runs)")
    p.set_defaults(func=cmd_bench)
