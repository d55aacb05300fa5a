"""The annual cycle: every member partition applies each cycle command at its place in time.

``cycle-commands`` is small, and every worker reads it whole
(:class:`streams.runtime.reference.CommandLog`). For each member partition it
is one more input of the partition's :class:`~streams.runtime.order.Group`,
ordered with the member records by record timestamp: a command is applied
after every member record published before it and before every one
published after it, live or from a backlog, whatever the batch sizes. Each
partition keeps the commands it has applied (its cursor) in the member table
(:data:`streams.runtime.state.GROUP_KEY`), so a restart neither skips nor
repeats one.

Applying a command to partition *p* (:func:`scan_partition`) scans *p*'s
members and calls the processors; each partition reports on
``partd-cycle-results`` (keyed by command id), where the results agent merges
the reports (LIS counts for the benchmark) and publishes what needs every
partition (``lis-benchmarks``), then a ``done`` record with the benchmarks.

What a command needs is read from the commands before it, so every partition
decides the same way (:func:`plan`):

* ``STATE_PASSIVE_OPT_IN`` records the state's opt-in (nothing to scan);
* the opted-in states of a list command are those of the opt-ins before it;
* ``PRELIMINARY_REASSIGNMENT_LIST``, ``REASSIGNMENT_RUN`` and
  ``SECOND_REASSIGNMENT_RUN`` use the benchmarks of the last
  ``CALCULATE_BENCHMARKS`` of their plan year before them: the partition waits
  until that calculation is done on every partition; with no such
  calculation the command is refused (``NO_BENCHMARK``). ``YEAR_END`` uses
  them the same way when there is a calculation, and runs without one
  otherwise (its terminations do not need one). The runs also get the
  benchmarks of the year before (the choosers' tan letter compares this
  year's premium liability with next year's, seed 001):
  :meth:`Commands._previous_benchmarks`.

A command that cannot be run is skipped by every partition and dead-lettered
once, by the ``cycle-commands`` agent (:func:`plan` gives both the same answer).
Internal messages are JSON (orjson); the contract topics stay Avro.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

from processors import benchmark, lis_counts, plan_obligations, preview, state_lists
from processors.ids import stable_id
from processors.model import Output, Rejected
from processors.plan_index import PlanIndex
from streams import topics
from streams.kafka.serde import Serde
from streams.runtime import state as st
from streams.runtime.deadletters import Source
from streams.runtime.order import order_key

log = logging.getLogger(__name__)

CALCULATE_BENCHMARKS = "CALCULATE_BENCHMARKS"
#: Commands every member partition scans its members for.
SCANNED = frozenset({CALCULATE_BENCHMARKS} | set(state_lists.MEMBER_COMMANDS))
#: Commands that need the plan year's regional benchmarks.
NEEDS_BENCHMARKS = frozenset({
    state_lists.PRELIMINARY_REASSIGNMENT_LIST, state_lists.REASSIGNMENT_RUN, state_lists.SECOND_REASSIGNMENT_RUN,
})
#: Commands that use the plan year's benchmarks when one was calculated before them, and run without them
#: otherwise (issue 22: YEAR_END ends enrollments whatever; its auto-enrollment needs a benchmark).
USES_BENCHMARKS = frozenset({state_lists.YEAR_END})
#: Members scanned between two yields to the event loop (heartbeats, the web server).
SCAN_CHUNK = 2000
#: Rank of the commands among a partition's inputs: after the member topics (same timestamp: data first).
RANK = len(topics.MEMBER_INPUTS)


class CommandError(ValueError):
    """A schema-valid command that cannot be run (goes to dead-letters)."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


def _enum(v: Any) -> Any:
    return getattr(v, "value", v)


def source_name(item: Source) -> str:
    """How a command is named in a member's outbox: ``cycle-commands:<partition>``."""
    return f"{topics.CYCLE_COMMANDS}:{item.partition}"


def command_id(cmd: Mapping[str, Any]) -> str:
    """Deterministic id of a command from its content (a re-sent identical command has the same id)."""
    return stable_id(
        "C", _enum(cmd["command"]), cmd["plan_year"], cmd["as_of"].isoformat(),
        cmd.get("reference_month"), cmd.get("seed"), cmd.get("state_code"),
    )


@dataclass(frozen=True)
class Skip:
    """Nothing to scan: an opt-in (``error`` None) or a command that cannot run (dead-lettered once)."""

    error: CommandError | None = None


@dataclass(frozen=True)
class Wait:
    """The command needs a calculation that is not done on every partition yet."""

    reason: str


Plan = dict[str, Any] | Skip | Wait


class Commands:
    """The cycle commands every worker has read, and what each one needs (module doc)."""

    def __init__(self, log_: Any, done: Mapping[str, Any], partitions: Callable[[], int],
                 benchmarks: Any | None = None) -> None:
        self.log = log_  # CommandLog: .items [(Source, record | None)], .version
        self.done = done  # command id -> the results agent's "done" record
        self.partitions = partitions
        self.benchmarks = benchmarks  # lis-benchmarks as the worker holds them (reference.LatestTable), or None
        self._sorted: list[tuple[Source, dict[str, Any] | None]] = []
        self._seen: object = None

    def _ordered(self) -> list[tuple[Source, dict[str, Any] | None]]:
        if self._seen is not self.log.version:
            self._seen = self.log.version
            self._sorted = sorted(self.log.items, key=lambda sr: order_key(sr[0], RANK))
        return self._sorted

    def record(self, item: Source) -> dict[str, Any] | None:
        for src, record in self._ordered():
            if src.partition == item.partition and src.offset == item.offset:
                return record
        return None

    def before(self, item: Source) -> Iterator[dict[str, Any]]:
        """The decoded commands ordered before ``item``."""
        mark = order_key(item, RANK)
        for src, record in self._ordered():
            if order_key(src, RANK) >= mark:
                return
            if record is not None:
                yield record

    def plan(self, item: Source) -> Plan:
        """What partition scans do for the command ``item`` (the same answer on every worker)."""
        record = self.record(item)
        if record is None:
            code, message = getattr(self.log, "errors", {}).get((item.partition, item.offset),
                                                                ("UNDECODABLE", "not a cycle command"))
            return Skip(CommandError(code, message))
        command = _enum(record["command"])
        year = record["plan_year"]
        try:
            if command == state_lists.STATE_PASSIVE_OPT_IN:
                state_lists.apply_opt_in((), record)  # validation only; opt-ins are read from the log
                return Skip()
            if command == "UNKNOWN" or command not in SCANNED:
                raise CommandError("UNSUPPORTED_COMMAND", f"command {command!r} is not supported by this worker")
            if command == CALCULATE_BENCHMARKS and record.get("reference_month") is None:
                raise CommandError("MISSING_REFERENCE_MONTH", "CALCULATE_BENCHMARKS needs reference_month")
            bms: Mapping[str, Any] = {}
            previous: tuple[dict[str, Decimal] | None, str | None] = (None, None)
            if command in NEEDS_BENCHMARKS:
                calc = self._last_calculation(item, year)
                if calc is None:
                    raise CommandError("NO_BENCHMARK", f"no CALCULATE_BENCHMARKS for plan year {year} before "
                                                       f"this {command}: send it first")
                done = self.done.get(command_id(calc))
                if done is None:
                    return Wait(f"benchmarks of {year} not calculated on every partition yet")
                bms = done["benchmarks"]
                previous = self._previous_benchmarks(item, year)
                if isinstance(previous, Wait):
                    return previous
            elif command in USES_BENCHMARKS:
                calc = self._last_calculation(item, year)
                done = self.done.get(command_id(calc)) if calc is not None else {"benchmarks": {}}
                if done is None:
                    return Wait(f"benchmarks of {year} not calculated on every partition yet")
                bms = done["benchmarks"]
                previous = self._previous_benchmarks(item, year)  # the 013's amounts of December 31
                if isinstance(previous, Wait):
                    return previous
            opted = self._opted_in(item, year)
        except CommandError as exc:
            return Skip(exc)
        except Rejected as rej:
            return Skip(CommandError(rej.error_code, rej.message))
        as_of: dt.datetime = record["as_of"]
        ref = record.get("reference_month")
        return {
            "command_id": command_id(record),
            "command": command,
            "plan_year": year,
            "as_of": as_of.isoformat(),
            "as_of_dt": as_of,
            "reference_month": ref.isoformat() if ref else None,
            "reference_month_d": ref,
            "seed": record.get("seed") if record.get("seed") is not None else 0,
            "partitions": self.partitions(),
            "benchmarks_d": {r: Decimal(v) for r, v in bms.items()},
            "previous_benchmarks_d": previous[0],
            "previous_benchmarks_from": previous[1],
            "opted_in_states": sorted(opted),
        }

    def _previous_benchmarks(self, item: Source, year: int) -> tuple[dict[str, Decimal] | None, str | None] | Wait:
        """The benchmarks of plan year ``year - 1`` a run compares the choosers' liability with (seed 001, issue 22).

        Determined by the log, the same on every worker and partition:

        1. the last ``CALCULATE_BENCHMARKS`` of ``year - 1`` before the command in the command log: its
           results (the values it published on ``lis-benchmarks``); wait until it is done everywhere;
        2. else ``lis-benchmarks`` as this worker holds it: for each region, the latest ``year - 1`` record
           published at or before the command's timestamp (last year's calculation, usually long done, or
           by another deployment); wait until the reader has read the topic up to its end;
        3. else unknown (None): the tan letter goes out with a ``LIABILITY_NOT_COMPARED_*`` reason.
        """
        calc = self._last_calculation(item, year - 1)
        if calc is not None:
            done = self.done.get(command_id(calc))
            if done is None:
                return Wait(f"benchmarks of {year - 1} not calculated on every partition yet")
            return {r: Decimal(v) for r, v in done["benchmarks"].items()}, CALCULATE_BENCHMARKS
        if self.benchmarks is None:
            return None, None
        if not self.benchmarks.caught_up():
            return Wait(f"{topics.LIS_BENCHMARKS} not read to its end yet")
        found = benchmarks_as_of(self.benchmarks, year - 1, item.timestamp_ms)
        return (found, topics.LIS_BENCHMARKS) if found else (None, None)

    def calculation_before(self, cid: str) -> dict[str, Decimal] | None:
        """The benchmarks of the last ``CALCULATE_BENCHMARKS`` of the same plan year before the command ``cid``
        (None: it is the first, or that one's results are not known): what a recalculation compares with."""
        for src, record in self._ordered():
            if record is not None and command_id(record) == cid:
                previous = self._last_calculation(src, record["plan_year"])
                done = self.done.get(command_id(previous)) if previous is not None else None
                return {r: Decimal(v) for r, v in done["benchmarks"].items()} if done is not None else None
        return None

    def _last_calculation(self, item: Source, year: int) -> dict[str, Any] | None:
        found = None
        for record in self.before(item):
            if _enum(record["command"]) == CALCULATE_BENCHMARKS and record["plan_year"] == year \
                    and record.get("reference_month") is not None:
                found = record
        return found

    def applied_benchmarks(self, cursor: Mapping[int, int]) -> dict[int, dict[str, Decimal]]:
        """The benchmarks of the calculations before ``cursor`` (a partition's applied commands), from their done
        records: how a partition that applied them before issue 23 (no :data:`BENCHMARKS_KEY`) learns them."""
        found: dict[int, dict[str, Decimal]] = {}
        for src, record in self._ordered():
            if record is None or src.offset >= cursor.get(src.partition, 0):
                continue
            if _enum(record["command"]) == CALCULATE_BENCHMARKS and record.get("reference_month") is not None:
                done = self.done.get(command_id(record))
                if done is not None:
                    found[int(record["plan_year"])] = {r: Decimal(v) for r, v in done["benchmarks"].items()}
        return found

    def _opted_in(self, item: Source, year: int) -> frozenset[str]:
        states: list[str] = []
        for record in self.before(item):
            if _enum(record["command"]) == state_lists.STATE_PASSIVE_OPT_IN and record["plan_year"] == year:
                try:
                    states = state_lists.apply_opt_in(states, record)[1]
                except Rejected:
                    continue
        return frozenset(states)


def benchmarks_as_of(table: Any, plan_year: int, timestamp_ms: int | None) -> dict[str, Decimal]:
    """Region -> benchmark of ``plan_year`` from ``lis-benchmarks`` as held by ``table`` (keys
    ``{region}-{plan_year}``): each region's latest record at or before ``timestamp_ms``."""
    out: dict[str, Decimal] = {}
    suffix = f"-{int(plan_year)}"
    for key in sorted(table.history):
        if key.endswith(suffix):
            record = table.as_of(key, timestamp_ms)
            if record is not None:
                out[record["region"]] = Decimal(record["benchmark_premium"])
    return out


# --------------------------------------------------------------------------- one partition's scan
def plan_index(plans: Mapping[str, Any]) -> Mapping[str, Any]:
    """The catalog indexed once per command, not per member (the region's target plans become a lookup); a
    malformed catalog entry: the catalog itself, scanned per member."""
    try:
        return PlanIndex.of(plans)
    except Exception as exc:  # noqa: BLE001 - never stop a scan for the index
        log.error("plan index not built (%s): scanning the catalog per member", type(exc).__name__)
        return plans


def scan_partition(
    payload: Mapping[str, Any],
    members: Iterable[tuple[bytes, st.Stored]],
    plans: Mapping[str, Any],
    serde: Serde,
    source: str,
    offset: int,
) -> Iterator[tuple[bytes, st.Stored | None, list[Output], list[tuple[str, str, bytes]]]]:
    """One partition's share of a member cycle command, safe to run again for the same command.

    ``source``/``offset``: the command's place (``cycle-commands:<q>``, its
    offset). A member whose outbox has an entry for it was already handled:
    its stored records are yielded again (with the member, to be written again
    as it is). Otherwise the member is evaluated; a member that changes gets the
    entry in its new value. A member whose evaluation raises is logged (no
    identifiers) and skipped, so one bad state cannot stop the run. Yields
    ``(key, new value or None, new outputs, records to send)``.
    """
    year = payload["plan_year"]
    index = plan_index(plans)
    opted = frozenset(payload["opted_in_states"])
    for key, stored in members:
        first = st.again(stored, source, offset)
        if first is not None:
            yield key, stored, [], first[0]
            continue
        try:
            step = state_lists.run_cycle_member(
                payload["command"], stored.member, plans=index, benchmarks=payload["benchmarks_d"], plan_year=year,
                seed=payload["seed"], as_of=payload["as_of_dt"], opted_in_states=opted,
                previous_benchmarks=payload.get("previous_benchmarks_d"),
            )
            encoded = [(o, serde.encode(o.topic, o.value)) for o in step.outputs]
        except Exception as exc:  # noqa: BLE001 - one member must not stop the run
            log.error("cycle step failed for one member (%s %s, %s@%d): %s",
                      payload["command"], year, source, offset, type(exc).__name__)
            continue
        if step.state is None and not encoded:
            continue
        new = st.Stored(step.state if step.state is not None else stored.member, dict(stored.applied),
                        list(stored.outbox))
        st.remember(new, source, offset, encoded)
        yield key, new, step.outputs, [(o.topic, o.key, v) for o, v in encoded]


def scanned_key(command: str) -> str | None:
    """The key a member's stored value must hold to be read by a scan for ``command`` (None: every member is read).

    ``CALCULATE_BENCHMARKS`` has nothing for a member without an LIS period
    (:data:`processors.preview.CALCULATION_NEEDS`), so both of its steps read only the values holding that key
    (``state.members(..., having=)``); the others, three in four members of ``partd bench``'s population, are
    skipped unread."""
    return preview.CALCULATION_NEEDS if command == CALCULATE_BENCHMARKS else None


def partition_counts(payload: Mapping[str, Any], members: Iterable[tuple[bytes, st.Stored]]) -> dict[str, int]:
    return lis_counts.count_lis_enrollment((s.member for _, s in members), payload["reference_month_d"])


def result_message(payload: Mapping[str, Any], partition: int, body: Mapping[str, Any]) -> tuple[bytes, bytes]:
    return payload["command_id"].encode(), orjson.dumps({
        "command_id": payload["command_id"], "command": payload["command"], "plan_year": payload["plan_year"],
        "as_of": payload["as_of"], "reference_month": payload["reference_month"],
        "partitions": payload["partitions"], "partition": partition, **body,
    })


# --------------------------------------------------------------------------- issue 23: after a calculation
#
# ``CALCULATE_BENCHMARKS`` has two steps in each partition. First its members are counted and the report sent (the
# benchmark needs every partition); the partition then waits for the command's done record, which carries the
# benchmarks. Second (:func:`scan_calculation`) its members are scanned with them: the 121 to a plan whose member
# now owes something else, the July preview's PROJECTED_LOSS records (processors/preview.py), and a second report
# (:func:`preview_payload`) whose tallies the results agent sums into the preview's count records. Only then is
# the command applied: a member record after it in the partition's order sees its benchmarks, one before it does
# not, whatever the fetch or batch sizes; the partition keeps them under :data:`BENCHMARKS_KEY` (the member rules'
# ``Reference.benchmarks``), so a restart or a new owner reads the same ones.

#: The per-partition key of the benchmarks the partition has applied (plan year -> region -> benchmark).
BENCHMARKS_KEY = b"\x00partd:benchmarks"
#: The internal name of a calculation's second step on ``partd-cycle-results`` (its reports and done record).
PREVIEW = "PREVIEW"


def encode_benchmarks(bms: Mapping[int, Mapping[str, Decimal]]) -> bytes:
    return orjson.dumps({str(y): {r: str(v) for r, v in sorted(by.items())} for y, by in sorted(bms.items())})


def decode_benchmarks(raw: bytes | None) -> dict[int, dict[str, Decimal]] | None:
    """The stored benchmarks, or None when the partition never stored any (applied before issue 23, or none)."""
    if not raw:
        return None
    return {int(y): {r: Decimal(v) for r, v in by.items()} for y, by in orjson.loads(raw).items()}


def with_calculation(before: Mapping[int, Mapping[str, Decimal]], plan_year: int,
                     done_benchmarks: Mapping[str, Any]) -> dict[int, dict[str, Decimal]]:
    """``before`` with plan year ``plan_year`` replaced by the calculation's benchmarks (its done record's)."""
    after = {y: dict(by) for y, by in before.items()}
    after[int(plan_year)] = {r: Decimal(v) for r, v in done_benchmarks.items()}
    return after


def preview_id(calculation_id: str) -> str:
    """The id of a calculation's second step (its reports, its done record)."""
    return f"{calculation_id}-{PREVIEW}"


def preview_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The calculation's payload, renamed for its second step's report (:func:`result_message`)."""
    return {**payload, "command_id": preview_id(payload["command_id"]), "command": PREVIEW}


def scan_calculation(
    payload: Mapping[str, Any],
    members: Iterable[tuple[bytes, st.Stored]],
    plans: Mapping[str, Any],
    serde: Serde,
    source: str,
    offset: int,
    before: Mapping[int, Mapping[str, Decimal]],
    after: Mapping[int, Mapping[str, Decimal]],
    tallies: Counter[str],
) -> Iterator[tuple[bytes, st.Stored | None, list[Output], list[tuple[str, str, bytes]]]]:
    """A calculation's second step on one partition (:func:`scan_partition`'s contract; no member state changes):
    :func:`processors.preview.at_calculation` per member, its tally keys added to ``tallies``. A member answered
    from its outbox (a re-run) is tallied again from its state."""
    year = payload["plan_year"]
    index = plan_index(plans)
    bms = after.get(year) or {}
    for key, stored in members:
        first = st.again(stored, source, offset)
        try:
            if first is not None:
                keys, encoded, outputs = preview.tally(stored.member, index, bms, year, payload["seed"]), [], []
            else:
                step, keys = preview.at_calculation(stored.member, index, before, after, year, payload["seed"],
                                                    payload["as_of_dt"])
                outputs = step.outputs
                encoded = [(o, serde.encode(o.topic, o.value)) for o in outputs]
        except Exception as exc:  # noqa: BLE001 - one member must not stop the step
            log.error("calculation step failed for one member (%s, %s@%d): %s", year, source, offset,
                      type(exc).__name__)
            continue
        tallies.update(keys)
        if first is not None:
            yield key, stored, [], first[0]
            continue
        if not encoded:
            continue
        new = st.Stored(stored.member, dict(stored.applied), list(stored.outbox))
        st.remember(new, source, offset, encoded)
        yield key, new, outputs, [(o.topic, o.key, v) for o, v in encoded]


def preview_outputs(progress: Mapping[str, Any]) -> list[Output]:
    """The preview's count records once every partition has reported its tallies."""
    counts = preview.merge(p.get("counts", {}) for p in progress["parts"].values())
    return preview.count_outputs(counts, progress["plan_year"], dt.datetime.fromisoformat(progress["as_of"]))


# --------------------------------------------------------------------------- the results agent
def merge_progress(progress: dict[str, Any] | None, report: Mapping[str, Any]) -> dict[str, Any]:
    """Add one partition's report (idempotent: a redelivered report replaces itself)."""
    progress = dict(progress or {"parts": {}, "done": False})
    parts = dict(progress["parts"])
    parts[str(report["partition"])] = {k: v for k, v in report.items() if k in ("counts", "summary")}
    progress.update({k: report[k] for k in ("command_id", "command", "plan_year", "as_of", "reference_month",
                                             "partitions")})
    progress["parts"] = parts
    return progress


def complete(progress: Mapping[str, Any]) -> bool:
    return len(progress["parts"]) >= progress["partitions"]


def benchmark_outputs(progress: Mapping[str, Any], plans: Mapping[str, Any]) -> list[Output]:
    counts = lis_counts.merge_counts(*(p.get("counts", {}) for p in progress["parts"].values()))
    return benchmark.calculate_benchmarks(
        plans, counts, progress["plan_year"], dt.date.fromisoformat(progress["reference_month"]),
        dt.datetime.fromisoformat(progress["as_of"]),
    )


def premium_case_obligations(progress: Mapping[str, Any], plans: Mapping[str, Any], outputs: Iterable[Output],
                             previous: Mapping[str, Decimal] | None) -> list[Output]:
    """Issue 22 item 8: the plan-level ``SEND_ANOC`` of each premium-case PDP, issued with the benchmark
    calculation (before September 30; :func:`processors.plan_obligations.premium_case_obligations`).
    ``previous``: the benchmarks of the calculation of the same year before this one (``Commands.calculation_before``)."""
    benchmarks = {o.value["region"]: o.value["benchmark_premium"] for o in outputs if o.topic == topics.LIS_BENCHMARKS}
    return plan_obligations.premium_case_obligations(plans, benchmarks, previous, progress["plan_year"],
                                                     dt.datetime.fromisoformat(progress["as_of"]))


def done_message(progress: Mapping[str, Any], outputs: Iterable[Output]) -> tuple[bytes, bytes]:
    """The record saying a command is done on every partition (with the benchmarks it calculated)."""
    benchmarks = {o.value["region"]: str(o.value["benchmark_premium"]) for o in outputs
                  if o.topic == topics.LIS_BENCHMARKS}
    return f"{progress['command_id']}-done".encode(), orjson.dumps({
        "command_id": progress["command_id"], "command": progress["command"], "plan_year": progress["plan_year"],
        "done": True, "benchmarks": benchmarks, "summary": summary_of(progress),
    })


def summary_of(progress: Mapping[str, Any]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for part in progress["parts"].values():
        total.update(part.get("summary") or {})
    return dict(total)


def decoded(serde: Serde, records: Iterable[tuple[str, str, bytes]]) -> list[Output]:
    """Outputs sent again from an outbox, decoded (so a re-run reports the same summary)."""
    out = []
    for topic, key, value in records:
        try:
            out.append(Output(topic, key, serde.decode(topic, value)))
        except Exception:  # noqa: BLE001 - our own bytes; never stop a scan for a summary
            continue
    return out


def summarize(outputs: Iterable[Output]) -> Counter[str]:
    c: Counter[str] = Counter()
    for o in outputs:
        v = o.value
        if o.topic == topics.TRR_REPLIES:
            c[f"trc_{v['transaction_reply_code']}"] += 1
        elif o.topic == topics.BENEFICIARY_NOTICES:
            c[f"letter_{v.get('publication') or v['notice_type']}"] += 1
        elif o.topic == topics.PLAN_NOTICES:
            c[f"plan_{v['notice_type']}"] += 1
        elif o.topic == topics.STATE_LISTS:
            c[f"list_{v['list_type']}"] += 1
    return c
