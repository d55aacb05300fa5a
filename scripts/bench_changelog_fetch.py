"""The broker alone: produce N member-sized records (~1.3 kB) over 8 partitions of one topic into a fresh
embedded Tansu, in record batches of BATCH bytes (default 512 kB), then read them back with the changelog
restore's consumer settings (streams/kafka/internals/restore.py); print the read rate per 10%.

    .venv/bin/python scripts/bench_changelog_fetch.py 2350000 [BATCH]

Tansu 0.6.0 lists every stored batch of a partition on each fetch and caps a fetch response at 5 MiB, so the
rate depends on the batch size and falls as the log grows when batches are small (4 kB batches: 30,000
records/s at 800,000 records; 16 kB: 37,000/s at 2,350,000; 512 kB: 154,000/s). PB, TB and WAIT in the
environment override the consumer's partition/total fetch bytes and fetch wait (ms).

Issue 15: tells the broker's share of a slow restore (docs/capacity.md, "Restore").
"""
import asyncio, base64, os, random, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from aiokafka import TopicPartition
from streams.kafka import clients
from streams.kafka.admin import ensure_topics_async
from streams.kafka.internals import restore as R
from streams.tools.broker import EmbeddedBroker
from streams.tools.generate import produce_fast

N = int(sys.argv[1])
BATCH = int(sys.argv[2]) if len(sys.argv) > 2 else 512 * 1024  # producer batch bytes: a worker writes small batches
pool = [base64.b64encode(os.urandom(980)) for _ in range(4096)]

async def main(bootstrap):
    recs = [(b"%011d" % random.randrange(N // 2), pool[i % 4096]) for i in range(N)]
    t = time.monotonic()
    await produce_fast(bootstrap, {"fo-changelog": recs}, batch_bytes=BATCH)
    print(f"produced {N:,} in {time.monotonic()-t:.1f}s", flush=True)
    c = clients.consumer(bootstrap, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
                         max_partition_fetch_bytes=int(os.environ.get('PB', R.FETCH_PARTITION_BYTES)),
                         fetch_max_bytes=int(os.environ.get('TB', R.FETCH_BYTES)),
                         fetch_max_wait_ms=int(os.environ.get('WAIT', 500)))
    await c.start()
    tps = [TopicPartition("fo-changelog", p) for p in range(8)]
    c.assign(tps); await c.seek_to_beginning(*tps)
    got = 0; t0 = time.monotonic(); mark = N // 10
    while got < N:
        b = await c.getmany(*tps, timeout_ms=500, max_records=R.FETCH_RECORDS)
        got += sum(len(v) for v in b.values())
        if got >= mark:
            print(f"{got:>10,} read {got/(time.monotonic()-t0):>10,.0f}/s", flush=True); mark += N // 10
    print(f"read {N:,} in {time.monotonic()-t0:.1f}s")
    await c.stop()

with EmbeddedBroker() as broker:
    asyncio.run(ensure_topics_async(broker.bootstrap, ["fo-changelog"], 8))
    asyncio.run(main(broker.bootstrap))
