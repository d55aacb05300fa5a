"""``partd lag --json``, the worker's /metrics and the lag exporter agree with offsets known in advance.

Records go to enrollment-requests in explicit producer batches of several
records (Tansu's ListOffsets(LATEST) answers "last batch base + 1": 31 for
batches of 10/20/30 instead of 60), so a lag figure built on ListOffsets would
be visibly wrong here. The values are not Avro: every record becomes a
WRONG_MAGIC_BYTE dead letter, which also gives exact product counters.
"""
from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import AIOKafkaProducer

from tests.ops.conftest import Cluster
from tests.ops.prom import LagExporter, partd_lag_json, sample, scrape

pytestmark = pytest.mark.integration
TOPIC = "enrollment-requests"


def _publish_batches(bootstrap: str, batches: list[tuple[int, int]], timestamp_ms: int | None = None) -> None:
    """``(partition, n)``: one producer batch of n records each."""

    async def run() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            for partition, n in batches:
                batch = producer.create_batch()
                for i in range(n):
                    assert batch.append(key=f"K{partition}".encode(), value=b"x%d" % i, timestamp=timestamp_ms) is not None
                batch.close()
                await (await producer.send_batch(batch, TOPIC, partition=partition))
        finally:
            await producer.stop()

    asyncio.run(run())


def _by_partition(rows: list[dict]) -> dict[int, dict]:
    return {r["partition"]: r for r in rows if r["topic"] == TOPIC and r["group"] == "partd"}


def test_lag_agrees_with_true_offsets(cluster: Cluster) -> None:
    w = cluster.worker("w1", extra_env={"PARTD_LAG_INTERVAL": "0.5"})
    _publish_batches(cluster.bootstrap, [(0, 10), (0, 20), (0, 30), (1, 4)])
    cluster.wait({TOPIC})

    # caught up: committed == high-water == 60 on partition 0 (not 31)
    rows = _by_partition(partd_lag_json(cluster.bootstrap, "--topic", TOPIC))
    assert rows[0] == {"group": "partd", "topic": TOPIC, "partition": 0, "committed": 60, "high_water": 60,
                       "lag": 0, "lag_seconds": 0.0}
    assert (rows[1]["committed"], rows[1]["high_water"], rows[1]["lag"]) == (4, 4, 0)
    assert (rows[2]["committed"], rows[2]["high_water"], rows[2]["lag"]) == (None, 0, 0)

    # the worker's own /metrics says the same (its sampler runs every 0.5 s)
    deadline = time.monotonic() + 20
    while True:
        m = scrape(w.web_port)
        got = (sample(m, "partd_topic_high_water_offset", topic=TOPIC, partition=0),
               sample(m, "partd_consumer_committed_offset", topic=TOPIC, partition=0),
               sample(m, "partd_consumer_lag", topic=TOPIC, partition=0),
               sample(m, "partd_consumer_committed_offset", topic=TOPIC, partition=1))
        if got == (60, 60, 0, 4) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert got == (60, 60, 0, 4)
    assert sample(m, "partd_events_in_total", topic=TOPIC) == 64
    assert sample(m, "partd_dead_letters_total", error_code="WRONG_MAGIC_BYTE") == 64
    assert sample(m, "partd_records_out_total", topic="dead-letters") == 64

    # stop the worker at a known point, then more batches arrive, with known timestamps
    assert w.stop() == 0, w.log_tail()
    now_ms = int(time.time() * 1000)
    _publish_batches(cluster.bootstrap, [(0, 5), (0, 7)], timestamp_ms=now_ms - 120_000)
    _publish_batches(cluster.bootstrap, [(1, 3)], timestamp_ms=now_ms - 30_000)

    rows = _by_partition(partd_lag_json(cluster.bootstrap, "--topic", TOPIC))
    assert (rows[0]["committed"], rows[0]["high_water"], rows[0]["lag"]) == (60, 72, 12)
    assert (rows[1]["committed"], rows[1]["high_water"], rows[1]["lag"]) == (4, 7, 3)
    assert (rows[3]["committed"], rows[3]["high_water"], rows[3]["lag"]) == (None, 0, 0)
    # lag seconds: the age of the record AT the committed offset (the first of the 5)
    assert 119 <= rows[0]["lag_seconds"] <= 140, rows[0]
    assert 29 <= rows[1]["lag_seconds"] <= 50, rows[1]

    # the lag exporter's /metrics (what Prometheus scrapes while the worker is down) agrees
    exporter = LagExporter(cluster.bootstrap, cluster.tmp, interval=0.5).start()
    try:
        m = scrape(exporter.port)
        for p, row in rows.items():
            assert sample(m, "partd_consumer_lag", group="partd", topic=TOPIC, partition=p) == row["lag"]
            assert sample(m, "partd_topic_high_water_offset", group="partd", topic=TOPIC, partition=p) == row["high_water"]
            assert sample(m, "partd_consumer_committed_offset", group="partd", topic=TOPIC, partition=p) == row["committed"]
        assert 119 <= sample(m, "partd_consumer_lag_seconds", topic=TOPIC, partition=0) <= 140
    finally:
        exporter.stop()

    # a worker comes back: it processes exactly the 15 new records, and lag returns to 0
    w2 = cluster.worker("w1", extra_env={"PARTD_LAG_INTERVAL": "0.5"})
    cluster.wait({TOPIC})
    rows = _by_partition(partd_lag_json(cluster.bootstrap, "--topic", TOPIC))
    assert (rows[0]["committed"], rows[0]["high_water"], rows[0]["lag"]) == (72, 72, 0)
    assert (rows[1]["committed"], rows[1]["high_water"], rows[1]["lag"]) == (7, 7, 0)
    deadline = time.monotonic() + 20
    while sample(scrape(w2.web_port), "partd_events_in_total", topic=TOPIC) != 15 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert sample(scrape(w2.web_port), "partd_events_in_total", topic=TOPIC) == 15
