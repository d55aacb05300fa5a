"""RocksDB alone: write N member-sized records (~1.3 kB, 2 versions per key) into 8 partition databases
opened with partd's options and one budget (streams/kafka/internals/store.py), 10,000 records per round
of 8 write batches as the changelog restore writes them; print the rate per 10%.

    .venv/bin/python scripts/bench_rocksdb_write.py 2350000            # partd's options
    .venv/bin/python scripts/bench_rocksdb_write.py 2350000 nostall    # L0 slowdown/stop triggers off

Issue 15: tells the member store's share of a slow restore (docs/capacity.md, "Restore").
"""
import os, sys, time, shutil, random
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import rocksdict
from streams.kafka.internals import store as S

N = int(sys.argv[1]); mode = sys.argv[2] if len(sys.argv) > 2 else "default"
import tempfile
root = tempfile.mkdtemp(prefix="partd-rocksdb-")
budget = S.Budget()
dbs = []
for p in range(8):
    o = S.db_options(budget)
    if mode == "nostall":
        o.set_level_zero_slowdown_writes_trigger(1000)
        o.set_level_zero_stop_writes_trigger(1000)
        o.set_soft_pending_compaction_bytes_limit(0)
        o.set_hard_pending_compaction_bytes_limit(0)
    dbs.append(rocksdict.Rdict(f"{root}/p{p}", options=o))
import base64
pool = [base64.b64encode(os.urandom(980)) for _ in range(4096)]
t0 = time.monotonic(); last = t0; written = 0; i = 0
while written < N:
    for p in range(8):
        b = rocksdict.WriteBatch(raw_mode=True)
        for k in range(1250):
            key = b"%011d" % random.randrange(N // 2)  # 2 versions per key on average
            b.put(key, pool[random.randrange(4096)])
        dbs[p].write(b)
        written += 1250
    if written % (N // 10) < 10000:
        now = time.monotonic()
        print(f"{written:>9,} {written/(now-t0):>9,.0f}/s", flush=True)
print("total", round(time.monotonic() - t0, 1), "s", f"{N/(time.monotonic()-t0):,.0f}/s")
for d in dbs:
    d.close()
shutil.rmtree(root, ignore_errors=True)
