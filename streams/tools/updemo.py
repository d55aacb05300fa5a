"""``partd up``: the main job on the embedded broker, with a readable summary."""
from __future__ import annotations

import asyncio
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

from streams import topics
from streams.config import Settings
from streams.kafka.registry import SchemaRegistry
from streams.kafka.serde import Serde
from streams.tools import sample, scenario
from streams.tools.io import produce, read_all, wait_consumed
from streams.tools.jsonconv import record_from_json
from streams.tools.runner import ConsoleProcess, WorkerProcess

_T = TypeVar("_T")


def _say(msg: str) -> None:
    print(msg, flush=True)


async def _ticking(work: Awaitable[_T], doing: str, worker: WorkerProcess, every: float = 5.0) -> _T:
    """Await ``work``, saying every ``every`` seconds that it is still going (no step is silent for long).

    A worker that exits meanwhile ends the wait at once (:class:`TimeoutError`), instead of at ``work``'s timeout.
    """
    task = asyncio.ensure_future(work)
    started = last = time.monotonic()
    while True:
        done, _ = await asyncio.wait({task}, timeout=0.5)
        if done:
            return task.result()
        if not worker.alive():
            task.cancel()
            raise TimeoutError(f"the worker exited (code {worker.proc.returncode if worker.proc else '?'}) "
                               f"while {doing}")
        if time.monotonic() - last >= every:
            last = time.monotonic()
            _say(f"      ... {doing} ({last - started:.0f} s)")


def _records(stage: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, None, dict[str, Any]]]:
    return [(topic, None, record_from_json(topic, value)) for topic, value in stage]


def run_up(settings: Settings, *, once: bool, keep_data: bool) -> int:
    from streams.kafka.admin import ensure_topics
    from streams.tools.broker import EmbeddedBroker
    from streams.tools.errors import require_broker

    # Ctrl-C or a SIGTERM stops the run and still stops the worker and the broker (and even
    # when started in the background, where SIGINT comes in ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    external = require_broker(settings) if settings.bootstrap_servers else None  # unreachable: one line, nothing made
    base = settings.data_dir
    made = [d for d in (base, *base.parents) if not d.exists()]  # removed again at the end if left empty
    base.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="up-", dir=base))
    broker = None
    worker = None
    console: ConsoleProcess | None = None
    code = 1  # until the run says otherwise: a failed run keeps its directory (the worker's log)
    t0 = time.monotonic()
    try:
        if external:
            bootstrap = external
            _say(f"[1/6] using the Kafka cluster at {bootstrap}")
        elif settings.kafka.protocol != "PLAINTEXT":
            _say(f"error: partd up's own broker is plaintext, but KAFKA_SECURITY_PROTOCOL={settings.kafka.protocol}: "
                 "start `partd broker --tls DIR`, export the lines it prints and run `partd up` again "
                 "(or unset KAFKA_SECURITY_PROTOCOL)")
            return 2
        else:
            broker = EmbeddedBroker(log_dir=run_dir)
            bootstrap = broker.start(None)
            _say(f"[1/6] embedded Tansu broker at {bootstrap} (pid {broker.pid})")
        ensure_topics(bootstrap, list(topics.ALL), settings.partitions)
        _say(f"[2/6] {len(topics.ALL)} topics x {settings.partitions} partitions ready")
        worker = WorkerProcess(bootstrap, run_dir / "worker", partitions=settings.partitions, app_id=settings.app_id,
                               web_port=settings.web_port if "PARTD_WEB_PORT" in settings.given else None).start()
        where = f"log {worker.log_path}" if keep_data else "--keep-data keeps its log"
        _say(f"[3/6] worker started (pid {worker.pid}, {where})")
        port = settings.console_port if "PARTD_CONSOLE_PORT" in settings.given else None
        console = ConsoleProcess(bootstrap, run_dir, workers=[f"http://127.0.0.1:{worker.web_port}"], port=port)
        if not _start_console(console, settings):
            console = None
        code, plan = asyncio.run(_publish_and_report(bootstrap, settings, worker))
        _say(f"done in {time.monotonic() - t0:.1f}s")
        if code != 0:
            return code
        if once:
            _next_steps(None, None, settings.app_id, plan)
            return code
        _next_steps(bootstrap, worker.web_port, settings.app_id, plan, console.url if console else None)
        _say("running until Ctrl-C.")
        try:
            while worker.alive():
                time.sleep(0.5)
            _say("the worker stopped unexpectedly; its log:\n" + worker.log_tail())
            code = 1
            return code
        except KeyboardInterrupt:
            _say("stopping")
            return 0
    finally:
        if console is not None:
            console.stop()
        if worker is not None:
            worker.stop()
        if broker is not None:
            broker.stop()
        if keep_data or code != 0:
            log = f" (worker log {worker.log_path})" if worker is not None else ""
            _say(f"kept the run's data and logs in {run_dir}{log}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
            for d in made:  # innermost first; a directory something else wrote into stays
                try:
                    d.rmdir()
                except OSError:
                    break


def _start_console(console: ConsoleProcess, settings: Settings) -> bool:
    """Start ``partd console`` on this run's cluster and worker and print its URL (or why it did not start)."""
    try:
        console.start()
    except (RuntimeError, TimeoutError) as exc:
        console.stop()
        _say(f"      (console not started: {str(exc).splitlines()[-1]})")
        return False
    lookup = "on" if settings.console_token is not None else "off: set PARTD_CONSOLE_TOKEN to look members up"
    _say(f"      console: {console.url}  (open it to watch the run: lag, the annual cycle, dead letters; "
         f"member lookup {lookup})")
    return True


def _partd_command() -> str:
    """How to type ``partd`` here: the name if it is on PATH, else the script next to this Python."""
    if shutil.which("partd"):
        return "partd"
    script = Path(sys.executable).parent / "partd"
    if not script.exists():
        return "partd"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def _next_steps(bootstrap: str | None, web_port: int | None, group: str, plan: str,
                console: str | None = None) -> None:
    """What to try next: publish more, read a plan's replies, see the lag, open /metrics.

    With ``bootstrap`` (the run goes on) the commands name this run's cluster
    and worker; without it (``--once``: both are stopped) they say how to get them.
    """
    partd = _partd_command()
    if bootstrap is None:
        _say(f"next: `{partd} up` (without --once) keeps the broker and worker running; then, in another shell:")
        bootstrap, metrics = "<the address it prints>", "http://127.0.0.1:<the worker's port>/metrics"
    else:
        _say("next, in another shell:")
        metrics = f"http://127.0.0.1:{web_port}/metrics"
    steps = [
        (f"export KAFKA_BOOTSTRAP_SERVERS={bootstrap}", "the cluster for the commands below"),
        (f"{partd} generate --members 1000 --wait-group {group}",
         "publish more: a synthetic population (or `partd produce TOPIC FILE.jsonl`)"),
        (f"{partd} consume trr-replies --key {plan}", f"plan {plan}'s replies (TRR records are keyed by contract)"),
        (f"{partd} lag", f"the worker group's ({group}) lag per topic and partition"),
        (f"curl -s {metrics}", "the worker's Prometheus metrics"),
    ]
    if console is not None:
        steps.append((f"open {console}", "the console: lag, the annual cycle, dead letters, one member"))
    width = max(len(cmd) for cmd, _ in steps)
    for cmd, what in steps:
        _say(f"  {cmd:<{width}}   # {what}")


async def _publish_and_report(bootstrap: str, settings: Settings, worker: WorkerProcess) -> tuple[int, str]:
    """Publish the sample, print the summary and run the annual cycle: (exit code, the plan with most replies)."""
    serde = Serde(SchemaRegistry.from_env())
    group = settings.app_id
    stages = [
        ("plans and beneficiaries", _records(sample.STAGE_REFERENCE)),
        ("enrollment transactions", _records(sample.STAGE_ENROLL)),
        ("changes, LIS and bad input", _records(sample.STAGE_CHANGE) + list(sample.GARBAGE)),
    ]
    _say("[4/6] publishing the built-in sample in three stages, each processed before the next "
         "(the first also waits for the worker to join, ~10 s)")
    total = 0
    for name, records in stages:
        n = await produce(bootstrap, serde, records)
        total += n
        try:
            await _ticking(wait_consumed(bootstrap, group, {t for t, _, _ in records}, timeout=90),
                           f"waiting for the worker to process {n} {name}", worker)
        except TimeoutError as exc:
            _say(f"error: {exc}\nworker log tail:\n{worker.log_tail()}")
            return 1, ""
        _say(f"      {n:4d} {name} processed")
    replies = await read_all(bootstrap, serde, "trr-replies")
    dead = await read_all(bootstrap, serde, "dead-letters")
    _say(f"[5/6] summary: {total} records in, {len(replies)} TRR replies, {len(dead)} dead letters")
    by_trc = Counter((r["transaction_reply_code"], r["trc_type"], r["trc_short_name"]) for r in replies)
    _say("  replies by TRC:")
    for (trc, kind, name), n in sorted(by_trc.items()):
        _say(f"    {trc} {kind:<13} {name:<46} {n}")
    by_contract = Counter(r["contract_id"] for r in replies)
    plan = by_contract.most_common(1)[0][0] if by_contract else "S7101"
    _say("  replies by contract (topic trr-replies, key = contract): "
         + ", ".join(f"{c} {n}" for c, n in sorted(by_contract.items())))
    by_code = Counter(d["error_code"] for d in dead)
    _say("  dead letters by error code: " + (", ".join(f"{c} {n}" for c, n in sorted(by_code.items())) or "none"))
    return await _annual_cycle(bootstrap, serde, group, worker), plan


async def _annual_cycle(bootstrap: str, serde: Serde, group: str, worker: WorkerProcess) -> int:
    """A small annual LIS cycle: the golden scenario's plans, members, benchmark and reassignment run."""
    if not scenario.ANNUAL_CYCLE_DEMO.exists():
        _say(f"(annual cycle demo skipped: {scenario.ANNUAL_CYCLE_DEMO} not found)")
        return 0
    lines = scenario.load(scenario.ANNUAL_CYCLE_DEMO)
    year = next(line["value"]["plan_year"] for line in lines if line["topic"] == "cycle-commands")
    _say(f"[6/6] a small annual LIS cycle for plan year {year}: "
         f"{len(lines)} records (plans, members, CALCULATE_BENCHMARKS, REASSIGNMENT_RUN)")

    def stage_done(i: int, n: int, stage: list[dict[str, Any]]) -> None:
        what = stage[0]["value"]["command"] if stage[0]["topic"] == topics.CYCLE_COMMANDS else stage[0]["topic"]
        _say(f"      {i}/{n}: {len(stage):3d} {what} processed")

    try:
        await _ticking(scenario.play(bootstrap, serde, group, lines, on_stage=stage_done),
                       "the annual cycle is running", worker)
    except TimeoutError as exc:
        _say(f"error: {exc}\nworker log tail:\n{worker.log_tail()}")
        return 1
    bms = [b for b in await read_all(bootstrap, serde, "lis-benchmarks") if b["plan_year"] == year]
    _say("  regional LIS benchmarks (lis-benchmarks):")
    for b in sorted(bms, key=lambda b: b["region"]):
        _say(f"    region {b['region']}: ${b['benchmark_premium']}  "
             f"({b['lis_enrollment_total']} LIS enrollees in {b['plans_weighted']} plans, {b['reference_month']:%Y-%m})")
    special = [r for r in await read_all(bootstrap, serde, "trr-replies") if ".SPCLTRD." in r["file_name"]]
    moved = sum(1 for r in special if r["transaction_reply_code"] == "212")
    _say(f"  reassigned: {moved} members (special TRR: {moved} x 212 to gaining plans, "
         f"{sum(1 for r in special if r['transaction_reply_code'] == '014')} x 014 to losing plans)")
    letters = Counter(
        (n.get("publication") or "-", getattr(n.get("paper_color"), "value", n.get("paper_color")) or "-", n["notice_type"])
        for n in await read_all(bootstrap, serde, "beneficiary-notices")
    )
    _say("  letters (beneficiary-notices):")
    for (pub, color, kind), n in sorted(letters.items()):
        _say(f"    Pub. {pub:<6} {color:<5} {kind:<30} {n}")
    plan = Counter(
        (getattr(n["notice_type"], "value", n["notice_type"]), n.get("obligation") or "")
        for n in await read_all(bootstrap, serde, "plan-notices")
    )
    _say("  plan files and obligations (plan-notices): "
         + ", ".join(f"{t}{'/' + o if o else ''} {n}" for (t, o), n in sorted(plan.items())))
    return 0
