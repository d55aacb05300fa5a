"""One batch of member-keyed events through the processors.

Plain Python (no Faust): the agent hands in the raw records of a batch, this
decodes them in one pass per topic, groups them by MBI (keeping each key's
order), runs each key's events through the processors starting from the
stored state, and hands back one new state per key plus the output records and
dead letters. The agent then writes each state once and sends the outputs.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Mapping, NamedTuple

import orjson

from processors import auto_enrollment, beneficiary, enrollment, lis, magi
from processors.model import MemberState, Output, Rejected, StepResult, new_member
from streams.kafka.serde import UNDECODABLE, DecodeError, Serde
from streams.runtime import outbox
from streams.runtime.deadletters import Source, dead_letter

log = logging.getLogger(__name__)

# Member-state field: the offset of the last record of each input topic applied
# to this member (a key always lives in one partition, so one offset per topic).
APPLIED = "_applied"

class Reference(NamedTuple):
    """What every worker holds whole and the rules may read: the plan catalog and the benchmarks."""

    plans: Mapping[str, Any]
    benchmarks: Mapping[int, Mapping[str, Decimal]] = {}


Processor = Callable[[MemberState | None, dict[str, Any], Reference], Any]


def _then_auto_enrollment(state: MemberState | None, step: StepResult, ref: Reference, as_of: Any) -> StepResult:
    """After a change that can make a member a candidate: auto-enroll or facilitate (seed 004)."""
    current = step.state if step.state is not None else state
    auto = auto_enrollment.auto_or_facilitate(current, ref.plans, ref.benchmarks, as_of)
    if auto.state is None and not auto.outputs:
        return step
    return StepResult(auto.state if auto.state is not None else step.state, list(step.outputs) + list(auto.outputs))


def _enrollment(state: MemberState | None, event: dict[str, Any], ref: Reference) -> Any:
    return enrollment.apply_enrollment(state, event, ref.plans)


def _lis(state: MemberState | None, event: dict[str, Any], ref: Reference) -> Any:
    return _then_auto_enrollment(state, lis.apply_lis_change(state, event), ref, event["event_time"])


def _beneficiary(state: MemberState | None, event: dict[str, Any], ref: Reference) -> Any:
    step = beneficiary.apply_beneficiary_update(state, event)
    return _then_auto_enrollment(state, step, ref, event["event_time"])


def _magi(state: MemberState | None, event: dict[str, Any], ref: Reference) -> Any:
    """MAGI screen (seed 003): publish the determination, update Medicaid status, then seed 004."""
    determination = magi.screen(event)
    step = magi.apply_determination(state, determination)
    step = StepResult(step.state, [magi.determination_output(determination), *step.outputs])
    return _then_auto_enrollment(state, step, ref, event["event_time"])


PROCESSORS: dict[str, Processor] = {
    "enrollment-requests": _enrollment,
    "lis-status-changes": _lis,
    "beneficiary-updates": _beneficiary,
    "magi-applications": _magi,
}


def encode_state(state: MemberState) -> bytes:
    return orjson.dumps(state)


def decode_state(raw: bytes | None) -> MemberState | None:
    return orjson.loads(raw) if raw else None


@dataclass
class BatchResult:
    states: dict[bytes, MemberState] = field(default_factory=dict)  # key -> new state
    state_event: dict[bytes, int] = field(default_factory=dict)  # key -> index of an event of that key
    outputs: list[Output] = field(default_factory=list)
    values: list[bytes] = field(default_factory=list)  # the encoded value of each output (same order): what is sent
    dead: list[Output] = field(default_factory=list)
    applied: int = 0
    replayed: int = 0  # redelivered records (offset <= applied): not applied again
    resent: int = 0  # outputs re-sent from the outbox for them
    resent_dead: int = 0  # dead letters re-sent for them (also in ``dead``)
    by_topic: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def process_batch(
    sources: list[Source],
    serde: Serde,
    load_state: Callable[[bytes], MemberState | None],
    ref: Reference | Mapping[str, Any],
) -> BatchResult:
    """Run a batch; never raises for bad input (it becomes dead letters).

    Redelivery (at-least-once): a record whose offset is at or below the
    member's ``_applied`` offset for its topic already changed the state. It
    is not applied again; its outputs (and dead letters) are sent again from
    the member's outbox (:mod:`streams.runtime.outbox`) and the state is written again
    unchanged, so a crash between the changelog write and the output flush
    loses nothing. Consumers drop the duplicates by id (docs/delivery.md).
    """
    if not isinstance(ref, Reference):
        ref = Reference(ref)  # a bare plan catalog
    result = BatchResult()
    # Decode per topic in one pass each.
    decoded: list[tuple[dict[str, Any] | None, Any]] = [(None, None)] * len(sources)
    by_topic: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(sources):
        by_topic[s.topic].append(i)
    for topic, idxs in by_topic.items():
        values = [sources[i].value or b"" for i in idxs]
        try:
            pairs = serde.decode_many(topic, values)
        except Exception as exc:  # noqa: BLE001 - decode_many never raises; belt and braces
            err = DecodeError(UNDECODABLE, f"{type(exc).__name__}")
            pairs = [(None, err) for _ in idxs]
        for i, pair in zip(idxs, pairs):
            decoded[i] = pair
    # Newest offset per topic in this batch (outbox trimming).
    newest: dict[str, int] = {}
    # Group by key, keeping order within a key.
    order: dict[bytes, list[int]] = {}
    for i, s in enumerate(sources):
        result.by_topic[s.topic] += 1
        if s.offset > newest.get(s.topic, -1):
            newest[s.topic] = s.offset
        record, error = decoded[i]
        if error is not None:
            result.dead.append(dead_letter(s, error.error_code, error.message))
            continue
        if s.key is None:
            result.dead.append(dead_letter(s, "MISSING_KEY", "record has no key; the key must be the MBI"))
            continue
        if not isinstance(record, dict) or record.get("mbi") != s.key.decode("utf-8", "replace"):
            # Independent of the state: the same answer on every delivery.
            result.dead.append(dead_letter(s, "KEY_MISMATCH", "the record's mbi differs from the message key"))
            continue
        order.setdefault(s.key, []).append(i)
    for key, idxs in order.items():
        try:
            _process_key(key, idxs, sources, decoded, serde, load_state, ref, newest, result)
        except Exception as exc:  # noqa: BLE001 - e.g. a corrupt stored state: never stop the worker
            log.error("member batch failed on %s: %s (%d records to dead-letters)",
                      _where(sources[idxs[0]]), type(exc).__name__, len(idxs))
            result.states.pop(key, None)
            result.state_event.pop(key, None)
            for i in idxs:
                result.dead.append(dead_letter(sources[i], "PROCESSING_ERROR", f"{type(exc).__name__}"))
    return result


def _where(s: Source) -> str:
    """Where a record is, for logs: topic, partition, offset (never the key: it is an MBI)."""
    return f"{s.topic}[{s.partition}]@{s.offset}"


def _process_key(
    key: bytes,
    idxs: list[int],
    sources: list[Source],
    decoded: list[tuple[dict[str, Any] | None, Any]],
    serde: Serde,
    load_state: Callable[[bytes], MemberState | None],
    ref: Reference,
    newest: Mapping[str, int],
    result: BatchResult,
) -> None:
    state = load_state(key)
    changed = False
    entries: list[outbox.Entry] = []  # this batch's outputs of this key, by input record
    outputs: list[Output] = []
    values: list[bytes] = []
    dead: list[Output] = []
    for i in idxs:
        s = sources[i]
        record = decoded[i][0]
        assert record is not None
        if state is not None and state.get(APPLIED, {}).get(s.topic, -1) >= s.offset:
            # Redelivery after a crash (at-least-once): this record already
            # changed the state; applying it again would give a wrong reply.
            # Send what it produced the first time, if it may not have gone out.
            result.replayed += 1
            items = outbox.find(state, s.topic, s.offset)
            if items is not None:
                again, again_values, again_dead = outbox.unpack(serde, items, s)
                outputs.extend(again)
                values.extend(again_values)
                dead.extend(again_dead)
                result.resent += len(again)
                result.resent_dead += len(again_dead)
                changed = True  # write the state again: its changelog record may be the one lost
                result.state_event[key] = i
            continue
        failure: tuple[str, str] | None = None
        try:
            step = PROCESSORS[s.topic](state, record, ref)
            items, encoded = outbox.pack(serde, step.outputs)  # also proves every output fits its schema
        except Rejected as rej:
            failure = (rej.error_code, rej.message)
        except Exception as exc:  # noqa: BLE001 - a bug must not stop the worker
            # Type and place only: messages and tracebacks can carry MBIs or names.
            log.error("processor failed on %s: %s", _where(s), type(exc).__name__)
            failure = ("PROCESSING_ERROR", f"{type(exc).__name__}: {exc}")
        if failure is not None:
            dead.append(dead_letter(s, *failure))
            entries.append([s.topic, s.offset, outbox.pack(serde, (), [failure])[0]])
        else:
            result.applied += 1
            if step.state is not None:
                state = step.state
            outputs.extend(step.outputs)
            values.extend(encoded)
            entries.append([s.topic, s.offset, items])
        if state is not None:
            state[APPLIED] = {**state.get(APPLIED, {}), s.topic: s.offset}
            changed = True
            result.state_event[key] = i
    if changed and state is not None:
        if entries:
            # Every record of the key in this batch counts as applied (rejected
            # ones too, even those seen before the state existed): a redelivery
            # answers each from its outbox entry instead of re-evaluating it
            # against a state that already moved on.
            applied = dict(state.get(APPLIED, {}))
            for topic, offset, _ in entries:
                if offset > applied.get(topic, -1):
                    applied[topic] = offset
            state[APPLIED] = applied
            outbox.record(state, entries, newest)
        result.states[key] = state
    result.outputs.extend(outputs)
    result.values.extend(values)
    result.dead.extend(dead)


__all__ = ["BatchResult", "process_batch", "encode_state", "decode_state", "new_member"]
