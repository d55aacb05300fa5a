"""The ``partd`` command: broker, worker, up, produce, consume."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from streams import topics
from streams.config import Settings
from streams.text import plural
from streams.tools import errors
from streams.tools.errors import PartdError, require_broker, require_topic


def _say(msg: str) -> None:
    print(msg, flush=True)


def _serde() -> Any:
    from streams.kafka.registry import SchemaRegistry
    from streams.kafka.serde import Serde

    return Serde(SchemaRegistry.from_env())


# ------------------------------------------------------------------ broker
def cmd_broker(args: argparse.Namespace, settings: Settings) -> None:
    from streams.kafka.admin import ensure_topics
    from streams.tools.broker import EmbeddedBroker

    if args.mtls and not args.tls:
        raise PartdError("--mtls needs --tls DIR (the directory for the certificates)")
    log_dir = Path(tempfile.mkdtemp(prefix="partd-broker-"))
    broker = EmbeddedBroker(log_dir=log_dir, tls_dir=args.tls, client_auth=args.mtls)
    bootstrap = broker.start(args.port)  # a BrokerError is one line (streams/tools/errors.py)
    try:
        ensure_topics(bootstrap, list(topics.ALL), settings.partitions, security=broker.security)
        for line in broker.exports():
            _say(line)
        how = (f"reachable only over TLS (stunnel in front; CA {broker.security.ssl_cafile}"
               f"{', client certificate required' if args.mtls else ''})" if args.tls else "plaintext")
        _say(f"embedded Tansu broker (pid {broker.pid}), {how}, {len(topics.ALL)} topics x {settings.partitions} "
             f"partitions; memory only: data is gone when it stops. Ctrl-C to stop.")
        _wait_for_signal()
    finally:
        broker.stop()


def _wait_for_signal() -> None:
    stop = {"now": False}

    def handler(signum: int, frame: Any) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    while not stop["now"]:
        time.sleep(0.2)


# ------------------------------------------------------------------ worker
def use_uvloop() -> None:
    """uvloop for the worker's event loops (Faust's and its consumer thread's); ``PARTD_UVLOOP=off`` keeps asyncio's."""
    from streams.config import settings

    if not settings().uvloop:
        return
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def _dump_tasks(signum: int, frame: Any) -> None:
    """``kill -USR1 <worker pid>``: log every asyncio task's stack (to see what a worker waits for)."""
    import io
    import logging

    out = io.StringIO()
    try:
        tasks = asyncio.all_tasks(asyncio.get_event_loop())
    except RuntimeError:
        return
    for task in tasks:
        task.print_stack(limit=8, file=out)
    logging.getLogger("partd.tasks").warning("%d tasks:\n%s", len(tasks), out.getvalue())


def cmd_worker(args: argparse.Namespace, settings: Settings) -> None:
    import logging

    from streams.kafka.admin import ensure_topics
    from streams.kafka.clients import log_bootstrap_failures
    from streams.kafka.internals import UntestedVersions, check_versions
    from streams.runtime import startup
    from streams.runtime.app import PartdApp
    from streams.tools.broker import port_free

    try:
        check_versions(allow_untested=settings.allow_untested_versions)
    except UntestedVersions as exc:
        raise PartdError(str(exc)) from None
    bootstrap = require_broker(settings)
    try:
        prepared = startup.prepare(settings, bootstrap)  # the data directory: this worker's alone, this cluster's
    except startup.StartupError as exc:
        raise PartdError(str(exc)) from None
    if settings.web_port and not port_free(settings.web_host, settings.web_port):
        raise PartdError(f"the worker's web port {settings.web_host}:{settings.web_port} is in use (another worker?): "
                         "give each worker on this machine its own PARTD_WEB_PORT and PARTD_DATA_DIR")
    ensure_topics(bootstrap, list(topics.ALL), settings.partitions)
    log_bootstrap_failures()  # connected: from here on the worker's log has every failed connection
    use_uvloop()
    startup.tune_gc()
    partd = PartdApp(settings, bootstrap)
    lines = [(logging.INFO, startup.summary_line(settings, bootstrap, prepared.cluster_id))]
    lines += [(logging.WARNING, warning) for warning in prepared.warnings]
    worker = startup.PartdWorker(partd.app, settings, lines)
    signal.signal(signal.SIGUSR1, _dump_tasks)
    worker.execute_from_commandline()


# ------------------------------------------------------------------ produce / consume
#: Bad lines ``partd produce`` lists one by one (then how many more).
MAX_BAD_LINES = 20
#: Where the input records are shown, field by field, with an example each.
RECORDS_DOC = "docs/record-shapes.md"


def cmd_produce(args: argparse.Namespace, settings: Settings) -> None:
    from streams.tools import docpages as examples
    from streams.tools.io import produce
    from streams.tools.jsonconv import record_from_json

    if args.example is not None:
        topic = topics.check(args.example)
        if topic not in examples.EXAMPLES:
            raise PartdError(f"{topic} is one of partd's outputs: only its inputs take records from you "
                             f"({', '.join(examples.EXAMPLES)})")
        _say(examples.example_line(topic))
        return
    if args.topic is None or args.file is None:
        raise PartdError("partd produce needs a TOPIC and a FILE.jsonl (`partd produce --help` lists the topics; "
                         "`partd produce --example TOPIC` prints a record to start from)")
    topic = topics.check(args.topic)
    records = []
    bad: list[str] = []
    with open(args.file, encoding="utf-8") as fh:
        try:
            lines = list(fh)
        except UnicodeDecodeError:
            raise PartdError(f"{args.file} is not UTF-8 text: `partd produce` reads JSON lines (UTF-8), "
                             "one record per line") from None
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
            if isinstance(obj, dict) and "value" in obj and isinstance(obj["value"], dict):
                key, value = obj.get("key"), obj["value"]
            else:
                key, value = None, obj
            records.append((topic, key, record_from_json(topic, value)))
        except Exception as exc:  # noqa: BLE001 - every bad line is listed
            bad.append(f"{args.file}:{n}: not a valid {topic} record: {exc}")
    if bad:
        hint = f"`partd produce --example {topic}` prints a valid one; {RECORDS_DOC} lists every field"
        if len(bad) == 1:
            raise PartdError(f"{bad[0]}; nothing was published ({hint})")
        for line in bad[:MAX_BAD_LINES]:
            print(f"partd: error: {line}", file=sys.stderr, flush=True)
        more = f" ({len(bad) - MAX_BAD_LINES} more not shown)" if len(bad) > MAX_BAD_LINES else ""
        raise PartdError(f"{args.file}: {len(bad)} of {len(records) + len(bad)} records are not valid {topic} "
                         f"records{more}; nothing was published: fix them and run again ({hint})")
    bootstrap = require_broker(settings)
    require_topic(bootstrap, topic)
    sent = asyncio.run(produce(bootstrap, _serde(), records))
    _say(f"produced {plural(sent, 'record')} to {topic}")


def cmd_consume(args: argparse.Namespace, settings: Settings) -> None:
    from streams.tools.io import Consumed, consume_records
    from streams.tools.jsonconv import record_to_json

    topic = topics.check(args.topic)
    bootstrap = require_broker(settings)
    require_topic(bootstrap, topic)
    serde = _serde()

    def line(c: Consumed) -> str:
        out: dict[str, Any] = {"partition": c.partition, "offset": c.offset, "key": c.key}
        if args.by_time:
            out["timestamp"] = _instant_text(c.timestamp_ms)
        if c.error is not None:
            out["error"] = f"{c.error.error_code}: {c.error.message}"
        else:
            out["value"] = record_to_json(topic, c.record)
        return json.dumps(out, sort_keys=False)

    async def run() -> tuple[int, int]:
        read = printed = 0
        held: list[Consumed] = []  # --by-time: everything, sorted at the end
        async with contextlib.aclosing(consume_records(bootstrap, serde, topic, timeout=args.idle)) as records:
            async for c in records:
                if not args.by_time and args.max is not None and printed >= args.max:
                    break
                read += 1
                if args.key is not None and c.key != args.key:
                    continue
                if args.by_time:
                    held.append(c)
                    continue
                print(line(c), flush=True)
                printed += 1
        held.sort(key=lambda c: (c.timestamp_ms, c.partition, c.offset))
        for c in held[:args.max]:
            print(line(c), flush=True)
            printed += 1
        return read, printed

    read, printed = asyncio.run(run())
    if read == 0:
        print(f"partd: {topic} is empty: nothing has been published to it yet", file=sys.stderr, flush=True)
    elif printed == 0:
        print(f"partd: none of the {plural(read, 'record')} of {topic} has the key {args.key}", file=sys.stderr,
              flush=True)


def _instant_text(ms: int) -> str:
    import datetime as dt

    t = dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc)
    return t.isoformat(timespec="milliseconds").removesuffix("+00:00") + "Z"


def schemas_record(topic: str) -> str:
    """The record name of a topic's current schema (``EnrollmentTransaction``)."""
    import schemas

    return schemas.topic_schema_file(topic).removesuffix(".avsc")


def count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


# ------------------------------------------------------------------ up
def cmd_up(args: argparse.Namespace, settings: Settings) -> None:
    from streams.tools.updemo import run_up

    raise SystemExit(run_up(settings, once=args.once, keep_data=args.keep_data))


# Modules that add their own subcommand: each has ``add_parser(subparsers)``
# which sets ``func(args, settings)`` as the default.
COMMAND_MODULES: tuple[str, ...] = ("streams.tools.lag", "streams.tools.generate", "streams.tools.bench",
                                    "streams.tools.planfile_cli", "streams.tools.console")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="partd", description="Part D Stream: enrollment, LIS and the annual reassignment on Kafka.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("broker", help="start the embedded Tansu broker on 127.0.0.1 and print its address")
    p.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    p.add_argument("--tls", metavar="DIR", type=Path, default=None,
                   help="reachable only over TLS: write a new CA (DIR/ca.pem) and a certificate for 127.0.0.1 to DIR "
                        "and print the KAFKA_SECURITY_PROTOCOL/KAFKA_SSL_CAFILE lines to export")
    p.add_argument("--mtls", action="store_true",
                   help="with --tls: also require a client certificate (writes DIR/client.pem, DIR/client-key.pem)")
    p.set_defaults(func=cmd_broker)
    p = sub.add_parser("worker", help="run a stream worker (needs KAFKA_BOOTSTRAP_SERVERS)")
    p.set_defaults(func=cmd_worker)
    p = sub.add_parser("up", help="broker + worker + a built-in sample, with a summary")
    p.add_argument("--once", action="store_true", help="exit after the summary instead of running until Ctrl-C")
    p.add_argument("--keep-data", action="store_true", help="keep the run's data directory")
    p.set_defaults(func=cmd_up)
    p = sub.add_parser(
        "produce", help="publish JSON lines to a topic as Avro",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Publish FILE.jsonl (one JSON record per line, or {\"key\": ..., \"value\": {...}}) to TOPIC "
                    "as Avro. A file with a bad line publishes nothing: every bad line is listed.",
        epilog="input topics (the record each takes):\n" + "".join(
            f"  {t:<22} {schemas_record(t)}\n" for t in topics.INPUTS)
        + f"\n`partd produce --example TOPIC` prints a record that works as it is; {RECORDS_DOC} shows one for "
          "each topic\nwith every field (dates \"2027-01-01\", instants with a zone \"2026-11-02T14:00:00Z\", "
          "money \"28.40\").")
    p.add_argument("topic", nargs="?", metavar="TOPIC", help="an input topic (below)")
    p.add_argument("file", nargs="?", metavar="FILE.jsonl", help="the records, one JSON object per line")
    p.add_argument("--example", metavar="TOPIC", default=None,
                   help="print an example record of TOPIC (one JSON line) and exit")
    p.set_defaults(func=cmd_produce)
    p = sub.add_parser("consume", help="print a topic's records as JSON lines, from the beginning",
                       description="Print TOPIC's records as JSON lines (partition, offset, key, value), from the "
                                   "beginning until it has been idle for --idle seconds. By default each partition "
                                   "is printed in offset order, one partition after another (as the fetches come), "
                                   "not in time order across partitions; --by-time prints them all in record-"
                                   "timestamp order (with their timestamps), once everything has been read.")
    p.add_argument("topic")
    p.add_argument("--by-time", action="store_true",
                   help="every record in record-timestamp order across partitions (reads to the end first)")
    p.add_argument("--max", type=count, default=None, help="stop after this many records")
    p.add_argument("--idle", type=float, default=3.0, help="stop after this many idle seconds")
    p.add_argument("--key", default=None,
                   help="only records with this key (trr-replies, plan-notices: a contract id; member topics: an MBI)")
    p.set_defaults(func=cmd_consume)
    for module in COMMAND_MODULES:
        importlib.import_module(module).add_parser(sub)
    args = parser.parse_args(argv)
    errors.run(args.func, args)


if __name__ == "__main__":
    main()
