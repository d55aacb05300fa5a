"""What ops see on the worker's web server (127.0.0.1 by default, ``PARTD_WEB_PORT``).

* ``/metrics``: Faust's own sensors (``faust_*``), the product counters of
  :mod:`streams.observability.metrics` (``partd_*``), the consumer lag of this worker's group
  (:mod:`streams.observability.lag`, sampled every ``PARTD_LAG_INTERVAL`` s, default 5; 0
  turns the sampler off) and rebalance/assignment metrics
  (``partd_rebalances_total``, ``partd_assigned_partitions``).
* ``/healthz``: 200 while the worker's event loop answers (liveness).
* ``/ready``: 200 once the plan catalog is loaded and no rebalance is going on,
  503 otherwise (readiness).

:func:`install` is called by ``PartdApp.__init__`` after the agents are defined, with a
:class:`WebContext`: the Faust app (its web server, tasks and signals) and what the pages read,
not the whole ``PartdApp``. Batches are timed where they are applied (the member runtime and the
agents call :class:`streams.observability.metrics.Metrics` themselves).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter, Gauge, disable_created_metrics

from streams import topics
from streams.config import Settings
from streams.observability import faust_metrics
from streams.observability.lag import LagCollector, sample_forever
from streams.observability.metrics import Metrics, RocksDBCollector

log = logging.getLogger(__name__)


@dataclass
class WebContext:
    """What the worker's web server serves from."""

    app: Any  # the Faust app: pages, app tasks, signals
    settings: Settings
    bootstrap: str
    metrics: Metrics
    ready: asyncio.Event  # set once the reference data is loaded
    table_memory: Callable[[], Mapping[str, int]]  # the member table's RocksDB memory (partd_rocksdb_*)
    lag_collector: LagCollector | None = field(default=None, init=False)


def install(ctx: WebContext) -> WebContext:
    """Serve Faust's own sensors and the product metrics from one registry at ``/metrics``, and more (module doc)."""
    app = ctx.app
    registry = ctx.metrics.registry
    disable_created_metrics()  # no *_created series: half the series, nothing lost
    faust_metrics.install(app, registry)  # Faust's sensors, counted per record, turned into series per scrape
    registry.register(RocksDBCollector(ctx.table_memory))
    _install_rebalance_metrics(ctx)
    _install_health(ctx)

    interval = ctx.settings.lag_interval_s
    if interval > 0:
        collector = LagCollector()
        registry.register(collector)
        ctx.lag_collector = collector

        sampler = StoppableTask("lag sampler", lambda stop: sample_forever(
            ctx.bootstrap, [ctx.settings.app_id], collector, interval, app_topics=topics.GROUP_INPUTS, stop=stop))

        @app.task
        async def partd_lag_sampler() -> None:
            await sampler.run()

        async def stop_sampler(sender: Any, **kwargs: Any) -> None:
            await sampler.stop()  # close the sampler's consumers before Faust closes the loop

        app.on_before_shutdown.connect(stop_sampler)
    return ctx


class StoppableTask:
    """An app task that stops on request: :meth:`stop` sets its ``stop`` event and waits (at most
    ``timeout`` s) for it to end. Faust starts app tasks only once table recovery has completed, so
    a worker stopped during recovery never ran it: then there is nothing to wait for (a clean stop
    logs no warning)."""

    def __init__(self, name: str, work: Callable[[asyncio.Event], Any], timeout: float = 5.0) -> None:
        self.name = name
        self.work = work
        self.timeout = timeout
        self._stop = asyncio.Event()
        self._started = False
        self._done = asyncio.Event()

    async def run(self) -> None:
        self._started = True
        try:
            await self.work(self._stop)
        finally:
            self._done.set()

    async def stop(self) -> None:
        self._stop.set()
        if not self._started:
            return  # never started (stopped before Faust's app tasks ran); if it starts now it ends at once
        try:
            await asyncio.wait_for(self._done.wait(), self.timeout)
        except asyncio.TimeoutError:
            log.warning("%s did not stop in %g s", self.name, self.timeout)


def _install_rebalance_metrics(ctx: WebContext) -> None:
    app = ctx.app
    registry = ctx.metrics.registry
    rebalances = Counter("partd_rebalances_total", "Rebalances this worker took part in (partition assignments)",
                         registry=registry)
    assigned = Gauge("partd_assigned_partitions", "Partitions assigned to this worker, by topic", ["topic"],
                     registry=registry)
    known: set[str] = set()

    async def on_assigned(sender: Any, assigned_tps: Any = None, **kwargs: Any) -> None:
        tps = assigned_tps if assigned_tps is not None else kwargs.get("assigned", set())
        rebalances.inc()
        counts: dict[str, int] = {}
        for tp in tps:
            counts[tp.topic] = counts.get(tp.topic, 0) + 1
        for topic in known | set(counts):
            assigned.labels(topic).set(counts.get(topic, 0))
        known.update(counts)

    app.on_partitions_assigned.connect(on_assigned)


def _install_health(ctx: WebContext) -> None:
    from faust import web

    app = ctx.app

    @app.page("/healthz")
    async def healthz(self: web.View, request: web.Request) -> web.Response:
        return self.json({"status": "ok"})

    @app.page("/ready")
    async def ready(self: web.View, request: web.Request) -> web.Response:
        loaded = ctx.ready.is_set()
        rebalancing = bool(getattr(app, "rebalancing", False))
        ok = loaded and not rebalancing
        return self.json({"ready": ok, "catalog_loaded": loaded, "rebalancing": rebalancing},
                         status=200 if ok else 503)


def install_member_query(app: Any, query: Any, token: Any, refusal: str | None) -> None:
    """Serve one member's record from this worker's member table (an interactive query, docs/operations.md).

    * ``GET /partd/workers``: which worker (web address) holds which member-table
      partition, as Faust's assignor told this worker (no PHI, like ``/metrics``);
    * ``POST /partd/member`` ``{"mbi": ...}`` with ``Authorization: Bearer <PARTD_CONSOLE_TOKEN>``:
      the member as this worker holds it (``query.member``: 200, or 421 and the
      holder's address when the partition is elsewhere). 404 while ``refusal``
      says the lookup is off, 401 without the token. The MBI travels in the body,
      never in a URL, and the log names it by :func:`streams.observability.access.mbi_hash`.

    ``query`` is a :class:`streams.runtime.query.MemberQuery`; ``token`` the
    ``PARTD_CONSOLE_TOKEN`` secret (or None).
    """
    from faust import web as fweb

    from streams.observability import access

    if refusal is not None:
        log.info("%s", refusal)

    @app.page("/partd/workers")
    async def workers(self: fweb.View, request: fweb.Request) -> fweb.Response:
        return self.json(query.routing())

    @app.page("/partd/member")
    class Member(fweb.View):
        async def post(self, request: fweb.Request) -> fweb.Response:
            if refusal is not None:
                return self.json({"error": "LOOKUP_OFF", "message": refusal}, status=404)
            if not access.bearer_ok(request.headers.get("Authorization"), token):
                return self.json({"error": "UNAUTHORIZED", "message": "a member lookup needs "
                                  "Authorization: Bearer <PARTD_CONSOLE_TOKEN>"}, status=401)
            try:
                mbi = str((await request.json())["mbi"]).strip().upper()
            except Exception:  # noqa: BLE001 - any malformed body
                mbi = ""
            if not mbi.isalnum() or len(mbi) > 20:
                return self.json({"error": "BAD_REQUEST", "message": 'send {"mbi": "<11 letters and digits>"}'},
                                 status=400)
            status, body = query.member(mbi)
            log.info("member query %s: partition %s, %s", access.mbi_hash(mbi, token), body.get("partition"),
                     "found" if body.get("found") else body.get("error", "not found"))
            return self.json(body, status=status)
