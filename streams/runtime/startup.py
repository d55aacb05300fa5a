"""A worker's start-up: its data directory, the cluster it belongs to, and what it says when it starts.

``partd worker`` (``streams/tools/cli.py``) calls :func:`prepare` once the
cluster has answered and before it builds the Faust app:

1. **The data directory is this worker's alone** (:func:`lock_data_dir`): an
   exclusive ``flock`` on ``{PARTD_DATA_DIR}/worker.lock``, held for the
   process's life. The operating system drops it when the process ends, even
   on a crash or ``kill -9``, so a stale lock never stops a restart. A second
   worker on the same directory stops at once with one line naming
   ``PARTD_DATA_DIR`` and ``PARTD_WEB_PORT`` (without it, Faust retried
   RocksDB's own lock 30 times, crashed after ~44 s and forced two
   rebalances on the first worker).
2. **The data directory belongs to this cluster** (:func:`check_cluster`):
   ``{PARTD_DATA_DIR}/cluster.json`` records the id of the cluster
   (Kafka's ``cluster.id``) the tables were written against. A directory
   written against another cluster has offsets that mean nothing here: its
   tables are moved to ``{PARTD_DATA_DIR}/set-aside/{time}`` (kept, never
   deleted) and restored from this cluster's changelog, said once in one
   warning line. (The embedded broker keeps data in memory only, so each
   ``partd broker`` is a new cluster with its own id.) A partition that is
   ahead of its changelog on the *same* cluster (the broker lost data) is set
   aside by the table's recovery (``streams/kafka/internals/restore.py``).

Then :class:`PartdWorker` runs the app: Faust's worker, logging what an
operator needs at ``PARTD_LOG_LEVEL=info`` (the default): a start-up summary
(:func:`summary_line`: cluster, group, web server, data directory), a line
when the worker holds its partitions (:func:`holding_line`, logged by
``streams/runtime/app.py`` after each rebalance), partd's own lines, and
every warning and error. Faust's, mode's and aiokafka's own INFO lines (about
130 before the worker was ready, ASCII tables included) only at
``PARTD_LOG_LEVEL=debug``.
"""
from __future__ import annotations

import asyncio
import fcntl
import gc
import json
import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faust.worker import Worker

from streams.config import Settings
from streams.kafka import clients
from streams.kafka.internals.store import set_aside_dir

log = logging.getLogger("partd.worker")

#: The lock file in the data directory (its text names the worker holding it).
LOCK_FILE = "worker.lock"
#: The cluster the data directory's tables were written against.
CLUSTER_FILE = "cluster.json"
#: Loggers whose INFO lines are Faust's detail, shown only at ``PARTD_LOG_LEVEL=debug``.
DETAIL_LOGGERS = ("faust", "mode", "aiokafka", "kafka")
#: Library loggers that write whole Kafka records (keys and values: MBIs, names, SSNs,
#: birth dates) at DEBUG: kept at INFO even when PARTD_LOG_LEVEL=debug (docs/security.md).
RECORD_DUMPING_LOGGERS = (
    "aiokafka.conn", "aiokafka.producer.producer", "faust.topics", "faust.transport.consumer",
    "faust.transport.drivers.aiokafka", "faust.partd.consumer",
)


#: The cyclic garbage collector's thresholds in a worker (Python's default: 700, 10, 10). A worker allocates
#: millions of short-lived containers (decoded records and states, reply dicts), nearly all freed by reference
#: counting; with the default, a first-generation scan ran every 700 of them (and the older generations, which
#: hold Faust, aiokafka and the reference data, every 7,000 and 70,000). Measured: docs/benchmarks.md.
GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    """Collect cyclic garbage less often in a worker (:data:`GC_THRESHOLDS`)."""
    gc.set_threshold(*GC_THRESHOLDS)


def freeze_heap() -> None:
    """After start-up (the app, its reference data and the restored tables are built): move every object alive
    now out of the collector's generations (``gc.freeze``), so later collections do not scan them again."""
    gc.collect()
    gc.freeze()


class StartupError(Exception):
    """The worker cannot start here; the message is the one line that says why and what to do."""


@dataclass
class DataDirLock:
    """The data directory's lock, held until the process ends (the OS releases it)."""

    path: Path
    fd: int

    def release(self) -> None:
        os.close(self.fd)


@dataclass
class Prepared:
    """What :func:`prepare` found: the lock, the cluster's id, and the warnings to log at start."""

    lock: DataDirLock
    cluster_id: str | None
    warnings: list[str] = field(default_factory=list)


def prepare(settings: Settings, bootstrap: str) -> Prepared:
    """The start-up checks of ``partd worker`` (module doc); a :class:`StartupError` if it cannot start."""
    lock = lock_data_dir(settings.data_dir, settings.web_port)
    try:
        cluster = asyncio.run(clients.cluster_id(bootstrap))
    except Exception:  # noqa: BLE001 - the id is a check, not a need: the worker goes on without it
        log.debug("no cluster id from %s", bootstrap, exc_info=True)
        cluster = None
    return Prepared(lock, cluster, check_cluster(settings.data_dir, bootstrap, cluster))


def lock_data_dir(data_dir: Path, web_port: int) -> DataDirLock:
    """Take ``{data_dir}/worker.lock`` for this process, or raise :class:`StartupError` naming the holder."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "another process"
        os.close(fd)
        raise StartupError(
            f"the data directory {data_dir} (PARTD_DATA_DIR) is in use by another worker on this machine "
            f"({holder}): give each worker its own PARTD_DATA_DIR and PARTD_WEB_PORT, e.g. "
            f"`PARTD_DATA_DIR={data_dir}-2 PARTD_WEB_PORT={_free_port()} partd worker`") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()}, web port {web_port}\n".encode())
    return DataDirLock(path, fd)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def check_cluster(data_dir: Path, bootstrap: str, cluster: str | None) -> list[str]:
    """Set the tables aside if ``data_dir`` was written against another cluster; record this one. The warnings."""
    if cluster is None:
        return []
    path = data_dir / CLUSTER_FILE
    try:
        before = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        before = {}
    if not isinstance(before, dict):
        before = {}
    warnings = []
    known = before.get("cluster_id")
    if known and known != cluster:
        tables = [p for p in sorted(data_dir.glob("v*")) if (p / "tables").is_dir()]
        if tables:
            into = set_aside_dir(data_dir)
            for p in tables:
                p.rename(into / p.name)
            warnings.append(
                f"the data directory {data_dir} (PARTD_DATA_DIR) was written against another Kafka cluster "
                f"(id {known}, at {before.get('bootstrap', '?')}), not this one (id {cluster}, at {bootstrap}): "
                f"moved its tables ({', '.join(str(p) for p in tables)}) to {into} (kept, not deleted) and "
                "restoring the member table from this cluster's changelog")
    if known != cluster or before.get("bootstrap") != bootstrap:
        tmp = path.with_name(f".{CLUSTER_FILE}.tmp")
        tmp.write_text(json.dumps({"cluster_id": cluster, "bootstrap": bootstrap}) + "\n", encoding="utf-8")
        tmp.replace(path)
    return warnings


def summary_line(settings: Settings, bootstrap: str, cluster: str | None) -> str:
    """The worker's first line: where it runs and what it uses."""
    web = f"http://{settings.web_host}:{settings.web_port}" if settings.web_port else "off"
    return (f"partd worker (pid {os.getpid()}): cluster {bootstrap}{f' (id {cluster})' if cluster else ''}, "
            f"group {settings.app_id}, web server {web} (/metrics, /ready), data directory {settings.data_dir}; "
            "joining the group (PARTD_LOG_LEVEL=debug shows Faust's detail)")


def ranges(numbers: Sequence[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``"0-2, 5"``."""
    spans: list[list[int]] = []
    for n in sorted(set(numbers)):
        if spans and spans[-1][1] == n - 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


def holding_line(held: Sequence[int], partitions: int, *, first: bool) -> str:
    """The line after a rebalance: the member partitions this worker now holds."""
    head = "ready" if first else "rebalanced"
    if not held:
        return (f"{head}: holding none of the {partitions} member partitions (other workers hold them all: "
                "this one stands by)")
    return f"{head}: holding member partitions {ranges(held)} of {partitions}"


def operator_logging(debug: bool) -> None:
    """The worker's log levels: Faust's detail only at debug; never whole records (module doc)."""
    for name in DETAIL_LOGGERS + RECORD_DUMPING_LOGGERS:
        if not debug:
            logging.getLogger(name).setLevel(logging.WARNING)
        elif name in RECORD_DUMPING_LOGGERS:
            logging.getLogger(name).setLevel(logging.INFO)


#: Warnings the libraries log on every rebalance, which are its ordinary course (the worker's own
#: "rebalanced: holding ..." line says what happened): at info they are not shown, at debug as DEBUG.
ROUTINE_WARNINGS = (
    "Heartbeat failed for group %s because it is rebalancing",  # aiokafka: a member joins or leaves
    "exception performing seek when flow not active IllegalStateError: No current assignment",  # Faust: revoked
)


class RoutineWarnings(logging.Filter):
    """Shows :data:`ROUTINE_WARNINGS` as DEBUG lines (at debug) or not at all (at info)."""

    def __init__(self, debug: bool) -> None:
        super().__init__()
        self.debug = debug

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and any(w in str(record.msg) for w in ROUTINE_WARNINGS):
            if not self.debug:
                return False
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


class PartdWorker(Worker):
    """Faust's worker, with partd's log levels and start-up lines (module doc)."""

    def __init__(self, app: Any, settings: Settings, lines: Sequence[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(app, loglevel=settings.log_level, quiet=True, **kwargs)
        self.partd_debug = settings.debug
        self.partd_lines = list(lines)

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:  # mode's hook: logging is set up
        super().on_setup_root_logger(logger, level)
        operator_logging(self.partd_debug)
        for handler in logger.handlers:
            handler.addFilter(RoutineWarnings(self.partd_debug))
        for line_level, line in self.partd_lines:
            log.log(line_level, line)
