"""``partd console``: an operator's page for lag, the annual cycle, dead letters and one member.

A tool: it imports the runtime and observability code it shows (the runtime
never imports it). What each view reads, and how, is in :mod:`.feeds`; the
routes, the token and the live updates are in :mod:`.server`; the page is
``static/`` (uPlot, vendored from its npm release, draws the charts: see
``static/vendor/uplot/VERSION``). docs/operations.md, "The console", is the
operator's guide; docs/security.md, "The console", says who may see what.
"""
from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import signal
from typing import Any

from streams.config import Settings

log = logging.getLogger("partd.console")


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "console", help="a web page: lag, the annual cycle, dead letters and one member's record",
        description="Serve the operator's console on 127.0.0.1 (a free port unless --port or PARTD_CONSOLE_PORT) "
                    "against KAFKA_BOOTSTRAP_SERVERS. The member lookup needs PARTD_CONSOLE_TOKEN "
                    "(docs/security.md); workers are found through PARTD_WEB_URL or --worker.")
    p.add_argument("--port", type=int, default=None, help="port (default PARTD_CONSOLE_PORT, else a free one)")
    p.add_argument("--host", default=None,
                   help="bind address (default PARTD_CONSOLE_HOST, 127.0.0.1; anything else needs PARTD_CONSOLE_TOKEN)")
    p.add_argument("--group", action="append", default=None,
                   help="consumer group whose lag to show (repeatable; default PARTD_APP_ID, i.e. partd)")
    p.add_argument("--worker", action="append", default=None, metavar="URL",
                   help="a worker's web address to find the others through (repeatable; default PARTD_WEB_URL, "
                        "else http://PARTD_WEB_HOST:PARTD_WEB_PORT)")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between lag samples (default 2)")
    p.set_defaults(func=cmd_console)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check(settings: Settings, host: str) -> None:
    """The rules that hold before anything starts (docs/security.md, "The console"); one line each."""
    from streams.tools.errors import PartdError

    if not is_loopback(host) and settings.console_token is None:
        raise PartdError(f"the console will not listen on {host} without PARTD_CONSOLE_TOKEN: anyone who reaches "
                         "it would see dead letters and lag; set the token (`openssl rand -hex 32`) or keep the "
                         "default 127.0.0.1")
    if settings.kafka.tls and not settings.web_tls:
        raise PartdError(f"the cluster is reached over TLS (KAFKA_SECURITY_PROTOCOL={settings.kafka.protocol}), so "
                         "the console serves HTTPS too: set PARTD_WEB_CERTFILE and PARTD_WEB_KEYFILE "
                         "(a certificate for the console's address and its unencrypted key)")


def cmd_console(args: argparse.Namespace, settings: Settings) -> None:
    from streams.observability import access
    from streams.tools.broker import port_free
    from streams.tools.errors import PartdError, require_broker

    host = args.host or settings.console_host
    port = args.port if args.port is not None else settings.console_port
    check(settings, host)
    server_ssl = access.server_ssl_context(settings)  # a bad certificate: one line, before anything starts
    client_ssl = access.client_ssl_context(settings) if settings.web_cafile is not None else None
    if port and not port_free(host, port):
        raise PartdError(f"the console's port {host}:{port} is in use: pick another with --port")
    bootstrap = require_broker(settings)
    logging.basicConfig(level=logging.DEBUG if settings.debug else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("aiokafka", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        asyncio.run(serve(settings, bootstrap, host, port, args.group or [settings.app_id],
                          args.worker or [settings.web_url_advertised], args.interval, server_ssl, client_ssl))
    except KeyboardInterrupt:
        pass


async def serve(settings: Settings, bootstrap: str, host: str, port: int, groups: list[str], seeds: list[str],
                interval: float, server_ssl: Any, client_ssl: Any) -> None:
    from aiohttp import web

    from streams.kafka.registry import SchemaRegistry
    from streams.kafka.serde import Serde
    from streams.observability import access
    from streams.tools.console.feeds import (CycleFeed, DeadLetterFeed, LagFeed, MemberLookup, ThroughputFeed,
                                             Workers)
    from streams.tools.console.server import Console, Hub

    serde = Serde(SchemaRegistry.from_settings(settings))
    hub = Hub()
    workers = Workers(seeds, client_ssl)
    lag = LagFeed(groups, settings.app_id, interval, hub.changed)
    throughput = ThroughputFeed(workers, interval, hub.changed)
    cycle = CycleFeed(bootstrap, serde, hub.changed)
    dead = DeadLetterFeed(bootstrap, serde, hub.changed)
    refusal = access.lookup_refusal(settings)
    console = Console(lag=lag, throughput=throughput, cycle=cycle, dead=dead,
                      member=MemberLookup(bootstrap, serde, workers, settings.console_token),
                      token=settings.console_token, refusal=refusal, https=server_ssl is not None, hub=hub)
    runner = web.AppRunner(console.app(), access_log=None)  # no request log: nothing to leak
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=server_ssl)
    await site.start()
    bound = runner.addresses[0][1]
    scheme = "https" if server_ssl is not None else "http"
    shown = f"[{host}]" if ":" in host else host
    print(f"partd console: {scheme}://{shown}:{bound}/  (lag of {', '.join(groups)} every {interval:g} s; "
          f"workers through {', '.join(seeds)}; member lookup {'on' if refusal is None else 'off'})", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await workers.start()
    tasks: list[asyncio.Task[Any]] = []
    try:
        tasks.append(asyncio.create_task(lag.run(bootstrap, stop)))
        tasks.append(asyncio.create_task(throughput.run(stop)))
        for reader in (dead.reader, cycle.commands, cycle.results):
            try:
                await reader.start()
            except TimeoutError:  # a long topic: it goes on reading in the background, the page says so
                log.info("%s: still reading it from the start", reader.topic)
        while not stop.is_set():
            cycle.poll()
            try:
                await asyncio.wait_for(stop.wait(), 0.25)
            except asyncio.TimeoutError:
                pass
    finally:
        stop.set()
        hub.close()  # open event streams end, so the server stops at once
        for t in tasks:
            try:
                await asyncio.wait_for(t, 5)
            except (asyncio.TimeoutError, asyncio.CancelledError, Exception):  # noqa: BLE001 - shutting down
                pass
        for closing in (dead.reader.stop(), cycle.commands.stop(), cycle.results.stop(), workers.stop(),
                        runner.cleanup()):
            try:
                await closing
            except Exception:  # noqa: BLE001 - shutting down
                log.debug("console stop", exc_info=True)
