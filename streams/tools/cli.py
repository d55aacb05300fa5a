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
# Library loggers that write whole Kafka records (keys and values: MBIs, names, SSNs,
# birth dates) at DEBUG: kept at INFO even when PARTD_LOG_LEVEL=debug (docs/security.md).
RECORD_DUMPING_LOGGERS = (
    "aiokafka.conn", "aiokafka.producer.producer", "faust.topics", "faust.transport.consumer",
    "faust.transport.drivers.aiokafka",
)


def quiet_record_dumps() -> None:
    import logging

    for name in RECORD_DUMPING_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(max(logger.level, logging.INFO))


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
    from faust.worker import Worker

    from streams.kafka.admin import ensure_topics
    from streams.kafka.clients import log_bootstrap_failures
    from streams.kafka.internals import UntestedVersions, check_versions
    from streams.runtime.app import PartdApp
    from streams.tools.broker import port_free

    try:
        check_versions(allow_untested=settings.allow_untested_versions)
    except UntestedVersions as exc:
        raise PartdError(str(exc)) from None
    bootstrap = require_broker(settings)
    if settings.web_port and not port_free(settings.web_host, settings.web_port):
        raise PartdError(f"the worker's web port {settings.web_host}:{settings.web_port} is in use (another worker?): "
                         "give each worker on this machine its own PARTD_WEB_PORT")
    ensure_topics(bootstrap, list(topics.ALL), settings.partitions)
    log_bootstrap_failures()  # connected: from here on the worker's log has every failed connection
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    use_uvloop()
    partd = PartdApp(settings, bootstrap)
    worker = Worker(partd.app, loglevel=settings.log_level, quiet=True)
    signal.signal(signal.SIGUSR1, _dump_tasks)
    quiet_record_dumps()
    worker.execute_from_commandline()


# ------------------------------------------------------------------ produce / consume
def cmd_produce(args: argparse.Namespace, settings: Settings) -> None:
    from streams.tools.io import produce
    from streams.tools.jsonconv import record_from_json

    topic = topics.check(args.topic)
    records = []
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
                if "value" in obj and isinstance(obj["value"], dict):
                    key, value = obj.get("key"), obj["value"]
                else:
                    key, value = None, obj
                records.append((topic, key, record_from_json(topic, value)))
            except Exception as exc:  # noqa: BLE001
                raise PartdError(f"{args.file}:{n}: not a valid {topic} record: {exc}") from exc
    bootstrap = require_broker(settings)
    require_topic(bootstrap, topic)
    sent = asyncio.run(produce(bootstrap, _serde(), records))
    _say(f"produced {sent} records to {topic}")


def cmd_consume(args: argparse.Namespace, settings: Settings) -> None:
    from streams.tools.io import consume
    from streams.tools.jsonconv import record_to_json

    topic = topics.check(args.topic)
    bootstrap = require_broker(settings)
    require_topic(bootstrap, topic)
    serde = _serde()

    async def run() -> tuple[int, int]:
        read = printed = 0
        async with contextlib.aclosing(consume(bootstrap, serde, topic, timeout=args.idle)) as records:
            async for partition, offset, key, record, error in records:
                if args.max is not None and printed >= args.max:
                    break
                read += 1
                if args.key is not None and key != args.key:
                    continue
                line: dict[str, Any] = {"partition": partition, "offset": offset, "key": key}
                if error is not None:
                    line["error"] = f"{error.error_code}: {error.message}"
                else:
                    line["value"] = record_to_json(topic, record)
                print(json.dumps(line, sort_keys=False), flush=True)
                printed += 1
        return read, printed

    read, printed = asyncio.run(run())
    if read == 0:
        print(f"partd: {topic} is empty: nothing has been published to it yet", file=sys.stderr, flush=True)
    elif printed == 0:
        print(f"partd: none of the {read} records of {topic} has the key {args.key}", file=sys.stderr, flush=True)


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
COMMAND_MODULES: tuple[str, ...] = ("streams.observability.lag", "streams.tools.generate", "streams.tools.bench",
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
    p = sub.add_parser("produce", help="publish JSON lines to a topic as Avro")
    p.add_argument("topic")
    p.add_argument("file")
    p.set_defaults(func=cmd_produce)
    p = sub.add_parser("consume", help="print a topic's records as JSON lines, from the beginning")
    p.add_argument("topic")
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
