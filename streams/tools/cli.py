"""The ``partd`` command: broker, worker, up, produce, consume."""
from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, NoReturn

from streams import topics
from streams.config import Settings


def _say(msg: str) -> None:
    print(msg, flush=True)


def _fail(msg: str, code: int = 1) -> NoReturn:
    print(f"partd: error: {msg}", file=sys.stderr, flush=True)
    raise SystemExit(code)


def _bootstrap_or_fail(settings: Settings) -> str:
    if settings.bootstrap_servers:
        return settings.bootstrap_servers
    _fail("KAFKA_BOOTSTRAP_SERVERS is not set: start a broker with `partd broker` and export the address it prints "
          "(or use `partd up`, which starts everything).")


def _serde() -> Any:
    from streams.kafka.registry import SchemaRegistry
    from streams.kafka.serde import Serde

    return Serde(SchemaRegistry.from_env())


# ------------------------------------------------------------------ broker
def cmd_broker(args: argparse.Namespace, settings: Settings) -> None:
    from streams.kafka.admin import ensure_topics
    from streams.tools.broker import BrokerError, EmbeddedBroker

    if args.mtls and not args.tls:
        _fail("--mtls needs --tls DIR (the directory for the certificates)")
    log_dir = Path(tempfile.mkdtemp(prefix="partd-broker-"))
    broker = EmbeddedBroker(log_dir=log_dir, tls_dir=args.tls, client_auth=args.mtls)
    try:
        bootstrap = broker.start(args.port)
    except BrokerError as exc:
        _fail(str(exc))
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


def cmd_worker(args: argparse.Namespace, settings: Settings) -> None:
    from faust.worker import Worker

    from streams.kafka.admin import ensure_topics
    from streams.kafka.clients import log_bootstrap_failures
    from streams.kafka.internals import UntestedVersions, check_versions
    from streams.runtime.app import PartdApp

    try:
        check_versions(allow_untested=settings.allow_untested_versions)
    except UntestedVersions as exc:
        _fail(str(exc))
    bootstrap = _bootstrap_or_fail(settings)
    ensure_topics(bootstrap, list(topics.ALL), settings.partitions)
    log_bootstrap_failures()  # connected: from here on the worker's log has every failed connection
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    use_uvloop()
    partd = PartdApp(settings, bootstrap)
    worker = Worker(partd.app, loglevel=settings.log_level, quiet=True)
    quiet_record_dumps()
    worker.execute_from_commandline()


# ------------------------------------------------------------------ produce / consume
def cmd_produce(args: argparse.Namespace, settings: Settings) -> None:
    from streams.tools.io import produce
    from streams.tools.jsonconv import record_from_json

    bootstrap = _bootstrap_or_fail(settings)
    records = []
    with open(args.file, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
                if "value" in obj and isinstance(obj["value"], dict):
                    key, value = obj.get("key"), obj["value"]
                else:
                    key, value = None, obj
                records.append((args.topic, key, record_from_json(args.topic, value)))
            except Exception as exc:  # noqa: BLE001
                _fail(f"{args.file}:{n}: not a valid {args.topic} record: {exc}")
    sent = asyncio.run(produce(bootstrap, _serde(), records))
    _say(f"produced {sent} records to {args.topic}")


def cmd_consume(args: argparse.Namespace, settings: Settings) -> None:
    from streams.tools.io import consume
    from streams.tools.jsonconv import record_to_json

    bootstrap = _bootstrap_or_fail(settings)
    serde = _serde()

    async def run() -> None:
        async for partition, offset, key, record, error in consume(
            bootstrap, serde, args.topic, timeout=args.idle, max_records=args.max
        ):
            line: dict[str, Any] = {"partition": partition, "offset": offset, "key": key}
            if error is not None:
                line["error"] = f"{error.error_code}: {error.message}"
            else:
                line["value"] = record_to_json(args.topic, record)
            print(json.dumps(line, sort_keys=False), flush=True)

    asyncio.run(run())


# ------------------------------------------------------------------ up
def cmd_up(args: argparse.Namespace, settings: Settings) -> None:
    from streams.tools.updemo import run_up

    raise SystemExit(run_up(settings, once=args.once, keep_data=args.keep_data))


# Modules that add their own subcommand: each has ``add_parser(subparsers)``
# which sets ``func(args, settings)`` as the default.
COMMAND_MODULES: tuple[str, ...] = ("streams.observability.lag", "streams.tools.generate", "streams.tools.bench")


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
    p.add_argument("--max", type=int, default=None, help="stop after this many records")
    p.add_argument("--idle", type=float, default=3.0, help="stop after this many idle seconds")
    p.set_defaults(func=cmd_consume)
    for module in COMMAND_MODULES:
        importlib.import_module(module).add_parser(sub)
    args = parser.parse_args(argv)
    from streams.config import ConfigError

    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        _fail(f"{exc}")
    from streams.kafka.clients import quiet_bootstrap_failures
    from streams.kafka.registry import RegistryError

    if not settings.debug:
        quiet_bootstrap_failures()
    try:
        args.func(args, settings)
    except (ConfigError, RegistryError) as exc:  # a KAFKA_SSL_* file that is not PEM, a registry refusing us, ...
        _fail(f"{exc}")
    except Exception as exc:  # noqa: BLE001 - a connection failure gets one line, anything else its traceback
        line = _explain(exc, settings)
        if line is None:
            raise
        if settings.debug:
            traceback.print_exc()
        _fail(line)


def _explain(exc: BaseException, settings: Settings) -> str | None:
    """The one line for a connection failure (TLS, SASL, ...), or None."""
    if not settings.bootstrap_servers:
        return None
    from streams.kafka.clients import explain_connection_error

    return explain_connection_error(exc, settings.bootstrap_servers)


if __name__ == "__main__":
    main()
