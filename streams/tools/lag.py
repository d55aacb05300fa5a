"""``partd lag``: consumer lag per group/topic/partition from the true high-water mark, printed, watched,
or served as a Prometheus exporter. The measuring is :mod:`streams.observability.lag` (the same code the
workers sample with); this is the command around it (a tool: it imports the worker's code, never the reverse).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from typing import Any

from prometheus_client import CollectorRegistry

from streams.config import Settings
from streams.observability.lag import LagCollector, LagRow, group_topics, lag_rows, sample_forever
from streams.text import plural


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
