"""What the console shows, each read the way the rest of partd reads it (no second implementation).

* :class:`LagFeed`: the lag of each group, sampled by
  :func:`streams.observability.lag.sample_forever` with
  :class:`~streams.observability.lag.LagReader` (the code of ``partd lag --json``,
  of the worker's ``/metrics`` and of the lag exporter), plus a few minutes of history;
* :class:`ThroughputFeed`: records applied per second, from every worker's
  ``/metrics`` (``partd_events_in_total``: the dashboard's "Events in per
  second"), the workers found through any one of them (``/partd/workers``);
* :class:`CycleFeed`: every cycle command (the runtime's
  :class:`~streams.runtime.reference.CommandLog`), how many partitions have
  reported it and its ``done`` record (the runtime's
  :class:`~streams.runtime.app.CycleResults`), what it produced per output topic;
* :class:`DeadLetterFeed`: ``dead-letters`` read whole and followed
  (:class:`~streams.runtime.reference.TopicReader`): counts by reason and source
  topic, and the latest :data:`LATEST` dead letters;
* :class:`MemberLookup`: one member's record from the worker that holds it
  (:mod:`streams.runtime.query`, an interactive query), and what partd sent
  about the member that is still on the topics keyed by MBI.
"""
from __future__ import annotations

import asyncio
import base64
import logging
import ssl
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from streams import topics
from streams.config import Secret
from streams.kafka import clients
from streams.kafka.serde import Serde
from streams.observability.lag import LagCollector, LagRow, group_topics, sample_forever
from streams.runtime import cycle
from streams.runtime.app import CycleResults
from streams.runtime.deadletters import Source
from streams.runtime.reference import CommandLog, TopicReader
from streams.tools.io import read_to_end
from streams.tools.jsonconv import record_to_json

log = logging.getLogger(__name__)

#: How many of the latest dead letters the page lists.
LATEST = 100
#: How much history the charts keep.
HISTORY_S = 600.0
#: The worker metric the throughput is computed from (the dashboard's "Events in per second" panel).
EVENTS_IN = "partd_events_in_total"
#: Which Grafana series (deploy/grafana/dashboards/partd.json) each figure of the console matches.
DASHBOARD_SERIES = {
    "lag": "partd_consumer_lag",
    "lag_seconds": "partd_consumer_lag_seconds",
    "throughput": EVENTS_IN,
    "dead_letters": "partd_dead_letters_total",
}
#: Outputs of a cycle command by topic, from the names of :func:`streams.runtime.cycle.summarize`.
SUMMARY_TOPICS = {"trc_": topics.TRR_REPLIES, "letter_": topics.BENEFICIARY_NOTICES,
                  "plan_": topics.PLAN_NOTICES, "list_": topics.STATE_LISTS}
#: Topics keyed by MBI whose records partd sent about a member (the member lookup reads the MBI's partition).
MEMBER_KEYED_OUTPUTS = (topics.BENEFICIARY_NOTICES, topics.MEDICAID_DETERMINATIONS, topics.DEAD_LETTERS)
#: At most this many records per topic in a member lookup (the latest).
MEMBER_RECORDS = 200


def mask(key: str | None) -> str:
    """A key as shown without the lookup: only its last 4 characters."""
    if not key:
        return ""
    return "\u2022" * 7 + key[-4:] if len(key) > 4 else "\u2022" * 4


# ------------------------------------------------------------------------------------------ lag
class LagFeed(LagCollector):
    """``partd lag``'s samples of each group (the collector :func:`sample_forever` fills), with history."""

    def __init__(self, groups: list[str], app_id: str, interval: float, changed: Callable[[], None]) -> None:
        super().__init__()
        self.groups = groups
        self.app_id = app_id
        self.interval = interval
        self.changed = changed
        self.history: dict[str, deque[tuple[float, int]]] = {
            g: deque(maxlen=max(10, int(HISTORY_S / max(interval, 0.1)))) for g in groups}

    def update(self, group: str, rows: list[LagRow], duration: float) -> None:
        super().update(group, rows, duration)
        self.history[group].append((self.sampled_at[group], sum(r.lag for r in rows)))
        self.changed()

    def failed(self, group: str) -> None:
        super().failed(group)
        self.changed()

    async def run(self, bootstrap: str, stop: asyncio.Event) -> None:
        await asyncio.gather(*(
            sample_forever(bootstrap, [g], self, self.interval, app_topics=group_topics(g, self.app_id), stop=stop)
            for g in self.groups))

    def snapshot(self) -> dict[str, Any]:
        groups = {}
        for g in self.groups:
            groups[g] = {
                "rows": [r.as_json() for r in self.rows.get(g, [])],
                "sampled_at": self.sampled_at.get(g),
                "duration": self.duration.get(g),
                "errors": self.errors.get(g, 0),
                "history": list(self.history[g]),
            }
        return {"interval": self.interval, "groups": groups, "series": DASHBOARD_SERIES["lag"]}


# ------------------------------------------------------------------------------------------ workers
class Workers:
    """The workers' web servers: found through the first that answers ``/partd/workers``, then each asked."""

    def __init__(self, seeds: list[str], ssl_context: ssl.SSLContext | None) -> None:
        self.seeds = [s.rstrip("/") for s in seeds]
        self.ssl = ssl_context if ssl_context is not None else False
        self.session: aiohttp.ClientSession | None = None
        self.routing: dict[str, Any] | None = None
        self.error: str | None = None

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.close()

    def urls(self) -> list[str]:
        found = list((self.routing or {}).get("workers", {}))
        return found or self.seeds

    async def refresh(self) -> dict[str, Any] | None:
        """The partition map as the first answering worker (known ones, then the seeds) knows it."""
        assert self.session is not None
        for url in dict.fromkeys(self.urls() + self.seeds):
            try:
                async with self.session.get(f"{url}/partd/workers", ssl=self.ssl) as resp:
                    if resp.status == 200:
                        self.routing, self.error = await resp.json(), None
                        return self.routing
                    self.error = f"{url}/partd/workers answered {resp.status}"
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                self.error = f"no worker answers at {url} ({type(exc).__name__}): set PARTD_WEB_URL or --worker"
        return None

    async def get_text(self, url: str) -> str:
        assert self.session is not None
        async with self.session.get(url, ssl=self.ssl) as resp:
            resp.raise_for_status()
            return await resp.text()

    async def post_json(self, url: str, body: dict[str, Any], token: Secret | None) -> tuple[int, dict[str, Any]]:
        assert self.session is not None
        headers = {"Authorization": f"Bearer {token.reveal()}"} if token is not None else {}
        async with self.session.post(url, json=body, headers=headers, ssl=self.ssl) as resp:
            return resp.status, await resp.json(content_type=None)


class ThroughputFeed:
    """Records applied per second: the rate of ``partd_events_in_total`` summed over every worker's ``/metrics``."""

    def __init__(self, workers: Workers, interval: float, changed: Callable[[], None]) -> None:
        self.workers = workers
        self.interval = interval
        self.changed = changed
        self.last: dict[str, tuple[float, float]] = {}  # url -> (when, counter)
        self.status: dict[str, dict[str, Any]] = {}
        self.history: deque[tuple[float, float]] = deque(maxlen=max(10, int(HISTORY_S / max(interval, 0.1))))

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.sample()
            try:
                await asyncio.wait_for(stop.wait(), self.interval)
            except asyncio.TimeoutError:
                pass

    async def sample(self) -> None:
        await self.workers.refresh()
        total, known = 0.0, False
        status: dict[str, dict[str, Any]] = {}
        for url in self.workers.urls():
            try:
                counter = events_in(await self.workers.get_text(f"{url}/metrics"))
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as exc:
                status[url] = {"ok": False, "error": f"{type(exc).__name__}: /metrics not reachable"}
                self.last.pop(url, None)
                continue
            now = time.time()
            rate = None
            if url in self.last:
                when, before = self.last[url]
                if now > when and counter >= before:  # a restarted worker's counter starts again at 0
                    rate = (counter - before) / (now - when)
            self.last[url] = (now, counter)
            status[url] = {"ok": True, "applied_total": counter, "rate": rate}
            if rate is not None:
                total, known = total + rate, True
        self.status = status
        if known:
            self.history.append((time.time(), round(total, 3)))
        self.changed()

    def snapshot(self) -> dict[str, Any]:
        return {"workers": self.status, "rate": self.history[-1][1] if self.history else None,
                "history": list(self.history), "error": self.workers.error if not self.status else None,
                "series": EVENTS_IN}


def events_in(text: str) -> float:
    """The sum of ``partd_events_in_total`` over its topics in a ``/metrics`` page."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == EVENTS_IN:
                total += s.value
    return total


# ------------------------------------------------------------------------------------------ cycle
class CycleFeed:
    """Every cycle command, how far each partition has got, its done record and what it produced."""

    def __init__(self, bootstrap: str, serde: Serde, changed: Callable[[], None]) -> None:
        self.commands = CommandLog(topics.CYCLE_COMMANDS, bootstrap, serde)
        self.results = CycleResults(bootstrap, serde)
        self.changed = changed
        self._seen: tuple[object, object] | None = None

    def poll(self) -> None:
        """Tell the page when either topic brought something new (the readers run on their own)."""
        seen = (self.commands.version, self.results.version)
        if seen != self._seen:
            self._seen = seen
            self.changed()

    def snapshot(self, refused: dict[tuple[int, int], str], partitions: int | None) -> list[dict[str, Any]]:
        out = []
        for src, record in self.commands.items:
            row: dict[str, Any] = {"partition": src.partition, "offset": src.offset,
                                   "published_at": src.timestamp_ms}
            if record is None:
                code = self.commands.errors.get((src.partition, src.offset), ("UNDECODABLE", ""))[0]
                row.update(command=None, status="refused", error_code=code)
                out.append(row)
                continue
            command = getattr(record["command"], "value", record["command"])
            cid = cycle.command_id(record)
            progress = self.results.reports.get(cid)
            done = self.results.done.get(cid)
            row.update(command=command, plan_year=record["plan_year"], as_of=record["as_of"].isoformat(),
                       state_code=record.get("state_code"), command_id=cid,
                       partitions=progress["partitions"] if progress else partitions,
                       applied=sorted(int(p) for p in progress["parts"]) if progress else [],
                       done=done is not None)
            summary = (done or {}).get("summary") or (cycle.summary_of(progress) if progress else {})
            row["outputs"] = outputs_by_topic(summary, (done or {}).get("benchmarks") or {})
            row["summary"] = summary
            row["benchmarks"] = (done or {}).get("benchmarks") or {}  # region -> premium (CALCULATE_BENCHMARKS)
            if (src.partition, src.offset) in refused:
                row.update(status="refused", error_code=refused[(src.partition, src.offset)])
            elif command == "STATE_PASSIVE_OPT_IN":
                row["status"] = "recorded"  # nothing to scan: later commands read it from the log
            elif done is not None:
                row["status"] = "done"
            else:
                row["status"] = "running" if progress else "waiting"
            out.append(row)
        return out


def outputs_by_topic(summary: dict[str, int], benchmarks: dict[str, Any]) -> dict[str, int]:
    """Records a command produced, per output topic (its summary's names, its benchmarks)."""
    out: Counter[str] = Counter()
    for name, n in summary.items():
        topic = next((t for prefix, t in SUMMARY_TOPICS.items() if name.startswith(prefix)), "other")
        out[topic] += n
    if benchmarks:
        out[topics.LIS_BENCHMARKS] += len(benchmarks)
    return dict(out)


# ------------------------------------------------------------------------------------------ dead letters
class DeadLetterFeed:
    """``dead-letters`` read whole and followed: counts by (reason, source topic), the latest ones."""

    def __init__(self, bootstrap: str, serde: Serde, changed: Callable[[], None]) -> None:
        self.reader = TopicReader(topics.DEAD_LETTERS, bootstrap, serde, self._apply)
        self.changed = changed
        self.counts: Counter[tuple[str, str]] = Counter()
        self.latest: deque[dict[str, Any]] = deque(maxlen=LATEST)
        self.refused_commands: dict[tuple[int, int], str] = {}  # cycle command (partition, offset) -> code
        self.total = 0
        self.unreadable = 0

    def _apply(self, src: Source, record: dict[str, Any] | None) -> None:
        if record is None:
            self.unreadable += 1
            return
        self.total += 1
        self.counts[(record["error_code"], record["source_topic"])] += 1
        if record["source_topic"] == topics.CYCLE_COMMANDS:
            self.refused_commands[(record["partition"], record["offset"])] = record["error_code"]
        raw_key = record.get("raw_key")
        self.latest.append({
            "error_code": record["error_code"], "error_message": record["error_message"],
            "source_topic": record["source_topic"], "partition": record["partition"], "offset": record["offset"],
            "received_at": record["received_at"].isoformat(), "published_at": src.timestamp_ms,
            "key": raw_key.decode("utf-8", "replace") if raw_key is not None else None,
        })
        self.changed()

    def snapshot(self, reveal: bool) -> dict[str, Any]:
        latest = []
        for row in reversed(self.latest):
            row = dict(row)
            if not reveal:
                row["key"] = mask(row["key"])
                row["error_message"] = None  # may name the person (docs/security.md)
            latest.append(row)
        counts = [{"error_code": c, "source_topic": t, "count": n}
                  for (c, t), n in sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))]
        return {"total": self.total, "unreadable": self.unreadable, "counts": counts, "latest": latest,
                "revealed": reveal, "reading": not self.reader.caught_up(), "series": DASHBOARD_SERIES["dead_letters"]}


# ------------------------------------------------------------------------------------------ one member
class MemberLookup:
    """One member: the worker's record (an interactive query) and the MBI-keyed records partd sent."""

    def __init__(self, bootstrap: str, serde: Serde, workers: Workers, token: Secret | None) -> None:
        self.bootstrap = bootstrap
        self.serde = serde
        self.workers = workers
        self.token = token

    async def lookup(self, mbi: str) -> tuple[int, dict[str, Any]]:
        routing = await self.workers.refresh()
        if routing is None:
            return 503, {"error": "NO_WORKER", "message": self.workers.error}
        partition = clients.key_partition(mbi.encode(), routing["partitions"])
        owner = next((u for u, parts in routing["workers"].items() if partition in parts), None)
        if owner is None:
            return 503, {"error": "NO_OWNER", "message": f"no worker holds partition {partition} right now "
                                                         "(a rebalance?): try again in a few seconds"}
        status, body = await self.workers.post_json(f"{owner}/partd/member", {"mbi": mbi}, self.token)
        if status == 421 and body.get("owner"):  # the map moved between the two calls
            status, body = await self.workers.post_json(f"{body['owner']}/partd/member", {"mbi": mbi}, self.token)
        if status != 200:
            return status, body
        body["mbi"] = mbi
        body["outbox"] = [self._decoded_entry(e) for e in body.get("outbox") or []]
        body["sent"] = await self.sent(mbi)
        return 200, body

    def _decoded_entry(self, entry: dict[str, Any]) -> dict[str, Any]:
        records = []
        for r in entry["records"]:
            raw = base64.b64decode(r["value"])
            records.append({"topic": r["topic"], "key": r["key"], "value": self._json(r["topic"], raw)})
        return {**entry, "records": records}

    def _json(self, topic: str, raw: bytes) -> Any:
        if topic not in topics.ALL or topic == topics.CYCLE_RESULTS:
            return None
        record, error = self.serde.decode_many(topic, [raw])[0]
        return record_to_json(topic, record) if error is None else {"undecodable": error.error_code}

    async def sent(self, mbi: str) -> dict[str, list[dict[str, Any]]]:
        """The records on :data:`MEMBER_KEYED_OUTPUTS` with the MBI as key (the latest :data:`MEMBER_RECORDS`),
        read from the one partition of each topic the MBI goes to."""
        key = mbi.encode()
        found: dict[str, list[dict[str, Any]]] = {}
        for topic in MEMBER_KEYED_OUTPUTS:
            rows: deque[dict[str, Any]] = deque(maxlen=MEMBER_RECORDS)
            async for batch in read_to_end(self.bootstrap, topic, key=key, key_partition_only=True, idle_timeout=10):
                rows.extend({"partition": m.partition, "offset": m.offset, "timestamp": m.timestamp,
                             "value": self._json(topic, m.value)} for m in batch)
            found[topic] = list(rows)
        return found
