"""Speed of the plan-file codecs (streams/tools/planfiles.py), no Kafka: records/s written and read.

    .venv/bin/python scripts/bench_planfiles.py [--records 200000] [--repeat 3]

TRR: TrrRecords (the mix of a daily file: every field the layout carries, names, LIS on a third)
-> ``trr_files`` (dedupe + order + 800-byte lines) -> the file on disk (``partd trr-file``'s writer); and back: file bytes ->
``parse_trr_line`` per line, and the same plus the JSON line ``partd trr-read`` prints.
TC 61: transactions -> ``tc61_line`` -> disk; file bytes -> ``parse_tc61_line`` +
``enrollment_transaction`` per line (what ``partd submit`` does before publishing). Best of
``--repeat`` runs each; prints one line per figure and a JSON summary.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from processors.ids import stable_id  # noqa: E402
from processors.trr import TRC_TABLE  # noqa: E402
from streams.tools import planfiles as pf  # noqa: E402
from streams.tools.planfile_cli import write_file  # noqa: E402

UTC = dt.timezone.utc
_L = "ACDEFGHJKMNPQRTUVWXY"


def _mbi(rnd: random.Random) -> str:
    c = lambda s: rnd.choice(s)  # noqa: E731
    return (c("123456789") + c(_L) + c(_L + "0123456789") + c("0123456789") + c(_L) + c(_L + "0123456789")
            + c("0123456789") + c(_L) + c(_L) + c("0123456789") + c("0123456789"))


def trr_records(n: int, seed: int = 1) -> list[dict]:
    rnd = random.Random(seed)
    trcs = sorted(TRC_TABLE)
    at = dt.datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
    out = []
    for i in range(n):
        trc = rnd.choice(trcs)
        lis = i % 3 == 0
        out.append(dict(
            mbi=_mbi(rnd), contract_id="S7101", pbp_id=f"{rnd.randrange(1, 20):03d}", transaction_code=61,
            transaction_reply_code=trc, trc_type="ACCEPTED", trc_short_name=TRC_TABLE[trc]["short_name"],
            effective_date=dt.date(2027, rnd.randrange(1, 13), 1), transaction_date=at.date(),
            application_date=dt.date(2026, 10, rnd.randrange(1, 32)), election_type=rnd.choice("AUSE"),
            enrollment_source=rnd.choice("ABCH"), prior_contract_id=None if i % 4 else "S7303",
            prior_pbp_id=None if i % 4 else "002", disenrollment_reason=None,
            lis_premium_subsidy_level="100" if lis else None, lis_copay_level="1" if lis else None,
            lis_subsidy_source="D" if lis else None, lis_period_start=dt.date(2026, 1, 1) if lis else None,
            lis_period_end=None, lis_premium_subsidy_amount=Decimal("28.40") if lis else None,
            part_d_premium=Decimal(rnd.randrange(1500, 6000)).scaleb(-2),
            cms_processing_timestamp=at + dt.timedelta(milliseconds=100 * (i // 1000)),
            file_name="P.RS7101.DAILYTRR.D261102.T1400000", cms_tracking_id=stable_id("T", i, "S7101", trc),
            plan_tracking_id=f"PLAN-{i:010d}", external_correlation_id=None, update_source_contract_id="S7101",
            last_name=rnd.choice(["Lovelace", "Ortiz", "Nguyen", "Diaz-Villanueva", "O'Brien"]),
            first_name=rnd.choice(["Ada", "Ben", "Coraline", "Dev"]), middle_initial=rnd.choice([None, "Q"]),
            birth_date=dt.date(1930 + rnd.randrange(60), rnd.randrange(1, 13), rnd.randrange(1, 29)),
            sex=rnd.choice("MFU"),
        ))
    return out


def transactions(records: list[dict]) -> list[dict]:
    return [dict(r, tracking_id=r["plan_tracking_id"], sep_reason=None, rx_bin="610014", rx_pcn="MEDDPRIME",
                 rx_group="SUN01", rx_member_id=f"M{i}", transaction_code=61) for i, r in enumerate(records)]


def best(repeat: int, fn) -> tuple[float, float]:
    """Best wall-clock and best CPU seconds of ``repeat`` runs (CPU: less hurt by a busy machine)."""
    wall, cpu = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return min(wall), min(cpu)


def from_broker(records: list[dict], tmp: Path, repeat: int) -> dict[str, int]:
    """``partd trr-file --all`` as the command runs it (read to the end offsets, decode, dedupe, order,
    write), against an embedded broker holding ``records`` on trr-replies."""
    import asyncio
    import types

    from streams import topics
    from streams.config import Settings
    from streams.kafka.admin import ensure_topics
    from streams.kafka.registry import SchemaRegistry
    from streams.kafka.serde import Serde
    from streams.tools.broker import EmbeddedBroker
    from streams.tools.io import produce
    from streams.tools.planfile_cli import cmd_trr_file

    broker = EmbeddedBroker(log_dir=tmp)
    bootstrap = broker.start(None)
    try:
        ensure_topics(bootstrap, [topics.TRR_REPLIES], 8)
        asyncio.run(produce(bootstrap, Serde(SchemaRegistry.embedded()),
                            [(topics.TRR_REPLIES, r["contract_id"], r) for r in records]))
        args = types.SimpleNamespace(contract=records[0]["contract_id"], out=str(tmp / "out"), date=None, all=True)
        settings = Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": bootstrap})
        wall, cpu = best(repeat, lambda: cmd_trr_file(args, settings))
    finally:
        broker.stop()
    n = len(records)
    print(f"{'trr-file (broker)':>14}: {n / wall:>10,.0f} records/s wall, {n / cpu:>10,.0f} per CPU second of the "
          f"command ({n:,} records on trr-replies, best of {repeat})", flush=True)
    return {"wall": round(n / wall), "cpu": round(n / cpu)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--broker", action="store_true",
                    help="also time `partd trr-file` end to end: the records on trr-replies of an embedded broker "
                         "-> read, decode, files on disk")
    args = ap.parse_args()
    n = args.records
    records = trr_records(n)
    txns = transactions(records)
    tmp = Path(tempfile.mkdtemp(prefix="partd-bench-planfiles-"))
    trr_path, tc_path = tmp / records[0]["file_name"], tmp / "tc61.txt"

    def write_trr() -> None:  # as `partd trr-file` writes them
        for name, lines in pf.trr_files(records).items():
            write_file(tmp, name, lines)

    def write_tc61() -> None:
        tc_path.write_bytes(pf.file_bytes([pf.tc61_line(t) for t in txns]))

    write_trr()
    write_tc61()
    trr_data, tc_data = trr_path.read_bytes(), tc_path.read_bytes()

    def read_trr() -> None:
        for _, line in pf.lines_of(trr_data):
            pf.parse_trr_line(line)

    def read_trr_json() -> None:
        out = bytearray()
        for _, line in pf.lines_of(trr_data):
            rec = pf.parse_trr_line(line)
            rec["file_name"] = trr_path.name
            out += pf.json_line(rec)

    at = dt.datetime(2026, 11, 2, 14, tzinfo=UTC)

    def read_tc61() -> None:
        for _, line in pf.lines_of(tc_data):
            fields, _ = pf.parse_tc61_line(line)
            pf.enrollment_transaction(fields, submitted_at=at)

    runs = {"trr_write": write_trr, "trr_read": read_trr, "trr_read_json": read_trr_json,
            "tc61_write": write_tc61, "tc61_read": read_tc61}
    figures = {}
    for name, fn in runs.items():
        wall, cpu = best(args.repeat, fn)
        figures[name] = {"wall": round(n / wall), "cpu": round(n / cpu)}
        print(f"{name:>14}: {n / wall:>10,.0f} records/s wall, {n / cpu:>10,.0f} per CPU second "
              f"({n:,} records, best of {args.repeat})", flush=True)
    if args.broker:
        figures["trr_file_from_broker"] = from_broker(records, tmp, args.repeat)
    print(json.dumps({"records": n, "load_average": os.getloadavg()[0], **figures}))
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
