"""A real Prometheus on loopback scrapes a real worker and the lag exporter.

How the lag alert is made to fire for real (docs/operations.md, "Lag"):
the worker is frozen with SIGSTOP (a hung process: it consumes nothing and
cannot answer /metrics) while a producer keeps publishing. Lag is measured
outside the worker by ``partd lag --serve`` (job ``partd-lag``); the alert
expressions take the max over both sources, so the real
``PartdConsumerLagGrowing`` expression goes pending, then firing, and
``PartdWorkerDown`` fires too. The rules file is deploy/prometheus/alerts.yml
with only the ``for:`` durations shortened; evaluation and scrape every 1 s.

The dashboard test evaluates every PromQL expression of every panel of
deploy/grafana/dashboards/partd.json against the same live Prometheus.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
from typing import Iterator

import pytest

from streams import topics
from streams.kafka.admin import ensure_topics
from streams.kafka.registry import SchemaRegistry
from streams.kafka.serde import Serde
from streams.tools import sample
from streams.tools.broker import EmbeddedBroker
from streams.tools.io import produce, wait_consumed
from streams.tools.jsonconv import record_from_json
from streams.tools.runner import WorkerProcess
from tests.ops.prom import DEPLOY, LagExporter, Prometheus, rules_for_test

pytestmark = pytest.mark.integration

PARTITIONS = 4
FOR = "4s"  # every `for:` of alerts.yml in this test


class Stack:
    def __init__(self, bootstrap: str, worker: WorkerProcess, exporter: LagExporter, prom: Prometheus) -> None:
        self.bootstrap, self.worker, self.exporter, self.prom = bootstrap, worker, exporter, prom
        self.serde = Serde(SchemaRegistry.from_env())


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("prom-live")
    broker = EmbeddedBroker(log_dir=tmp)
    bootstrap = broker.start(None)
    worker = exporter = prom = None
    try:
        ensure_topics(bootstrap, list(topics.ALL), PARTITIONS)
        worker = WorkerProcess(bootstrap, tmp / "w1", partitions=PARTITIONS,
                               extra_env={"PARTD_LAG_INTERVAL": "1"}).start()
        exporter = LagExporter(bootstrap, tmp, interval=1.0).start()
        prom = Prometheus(tmp / "prom", {"partd-worker": [f"127.0.0.1:{worker.web_port}"],
                                         "partd-lag": [f"127.0.0.1:{exporter.port}"]},
                          rules_for_test(FOR)).start()
        s = Stack(bootstrap, worker, exporter, prom)
        # Real traffic: plans, people, enrollments (replies of several TRCs) and bad records (dead letters).
        records = [(t, None, record_from_json(t, v)) for t, v in sample.STAGE_REFERENCE + sample.STAGE_ENROLL]
        asyncio.run(produce(bootstrap, s.serde, records))
        asyncio.run(produce(bootstrap, s.serde, [("enrollment-requests", "BAD", b"not avro")] * 3))
        asyncio.run(wait_consumed(bootstrap, "partd", {"plan-year-updates", "beneficiary-updates",
                                                       "enrollment-requests"}, timeout=90))
        yield s
    finally:
        for p in (prom, exporter):
            if p is not None:
                p.stop()
        if worker is not None:
            if worker.proc is not None and worker.alive():
                os.kill(worker.proc.pid, signal.SIGCONT)
            worker.stop()
        broker.stop()


def _panel_exprs() -> list[tuple[str, str]]:
    dash = json.loads((DEPLOY / "grafana" / "dashboards" / "partd.json").read_text())
    return [(p["title"], t["expr"]) for p in dash["panels"] for t in p.get("targets", [])]


def test_every_dashboard_panel_has_series(stack: Stack) -> None:
    prom = stack.prom
    exprs = _panel_exprs()
    assert len(exprs) >= 14
    deadline = time.monotonic() + 45
    while True:
        empty = [(title, e) for title, e in exprs if not prom.query(e)]
        if not empty or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert not empty, f"panels whose query returns no series: {empty}\nworker log:\n{stack.worker.log_tail()}"
    # and the data is the real one: replies and dead letters went through
    trc = prom.query("sum(partd_trr_replies_total)")
    assert float(trc[0]["value"][1]) >= 5
    dead = prom.query('sum(partd_dead_letters_total{error_code="WRONG_MAGIC_BYTE"})')
    assert float(dead[0]["value"][1]) == 3
    # the alert rule is evaluated once per interval after the scrape that brought the series: wait for that
    # evaluation (observable), not for nothing; under load it can come a few intervals later
    deadline = time.monotonic() + 45
    while not prom.alert_states("PartdDeadLetters") & {"pending", "firing"} and time.monotonic() < deadline:
        time.sleep(0.5)
    assert prom.alert_states("PartdDeadLetters") & {"pending", "firing"}


def _publish_forever(stack: Stack, stop: threading.Event, counter: list[int]) -> None:
    serde = stack.serde
    txn = [v for t, v in sample.STAGE_ENROLL if t == "enrollment-requests"][0]

    async def run() -> None:
        i = 0
        while not stop.is_set():
            batch = []
            for _ in range(10):
                v = dict(txn, tracking_id=f"LOAD-{i:06d}")
                batch.append(("enrollment-requests", None, record_from_json("enrollment-requests", v)))
                i += 1
            await produce(stack.bootstrap, serde, batch)
            counter[0] += len(batch)
            await asyncio.sleep(0.5)

    asyncio.run(run())


def test_lag_alert_fires_when_the_worker_stops_consuming(stack: Stack) -> None:
    prom, worker = stack.prom, stack.worker
    # caught up: no lag alert
    assert not prom.alert_states("PartdConsumerLagGrowing")
    stop = threading.Event()
    sent = [0]
    t = threading.Thread(target=_publish_forever, args=(stack, stop, sent), daemon=True)
    t.start()
    os.kill(worker.proc.pid, signal.SIGSTOP)  # the worker hangs: it consumes nothing and serves nothing
    seen: dict[str, float] = {}
    t0 = time.monotonic()
    try:
        deadline = t0 + 60
        while time.monotonic() < deadline:
            states = prom.alert_states("PartdConsumerLagGrowing")
            for st in states:
                seen.setdefault(st, round(time.monotonic() - t0, 1))
            if "firing" in seen and "firing" in prom.alert_states("PartdWorkerDown"):
                break
            time.sleep(0.5)
        lag_now = prom.query('sum(max by (group, topic, partition) (partd_consumer_lag{topic="enrollment-requests"}))')
        down = prom.alert_states("PartdWorkerDown")
    finally:
        stop.set()
        t.join(10)
        os.kill(worker.proc.pid, signal.SIGCONT)
    print(f"lag alert states first seen (s after SIGSTOP): {seen}; published {sent[0]}; "
          f"lag {lag_now[0]['value'][1] if lag_now else None}; PartdWorkerDown {down}")
    assert "pending" in seen and "firing" in seen, (seen, prom.alerts())
    assert seen["pending"] <= seen["firing"]
    assert "firing" in down
    assert lag_now and float(lag_now[0]["value"][1]) > 0
    # the worker comes back (it rejoins the group) and the lag drains: the alert resolves
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        lag = prom.query('sum(max by (group, topic, partition) (partd_consumer_lag{job="partd-lag"}))')
        if lag and float(lag[0]["value"][1]) == 0 and not prom.alert_states("PartdConsumerLagGrowing"):
            break
        time.sleep(1)
    else:
        pytest.fail(f"lag did not drain after SIGCONT: {lag}\n{worker.log_tail()}")
