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
from typing import Any, Callable, Mapping

import orjson

from processors import beneficiary, enrollment, lis
from processors.model import MemberState, Output, Rejected, new_member
from streams.deadletters import Source, dead_letter
from streams.serde import Serde

log = logging.getLogger(__name__)

# Member-state field: the offset of the last record of each input topic applied
# to this member (a key always lives in one partition, so one offset per topic).
APPLIED = "_applied"

Processor = Callable[[MemberState | None, dict[str, Any], Mapping[str, Any]], Any]


def _enrollment(state: MemberState | None, event: dict[str, Any], plans: Mapping[str, Any]) -> Any:
    return enrollment.apply_enrollment(state, event, plans)


def _lis(state: MemberState | None, event: dict[str, Any], plans: Mapping[str, Any]) -> Any:
    return lis.apply_lis_change(state, event)


def _beneficiary(state: MemberState | None, event: dict[str, Any], plans: Mapping[str, Any]) -> Any:
    return beneficiary.apply_beneficiary_update(state, event)


PROCESSORS: dict[str, Processor] = {
    "enrollment-requests": _enrollment,
    "lis-status-changes": _lis,
    "beneficiary-updates": _beneficiary,
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
    dead: list[Output] = field(default_factory=list)
    applied: int = 0
    replayed: int = 0
    by_topic: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def process_batch(
    sources: list[Source],
    serde: Serde,
    load_state: Callable[[bytes], MemberState | None],
    plans: Mapping[str, Any],
) -> BatchResult:
    """Run a batch; never raises for bad input (it becomes dead letters)."""
    result = BatchResult()
    # Decode per topic in one pass each.
    decoded: list[tuple[dict[str, Any] | None, Any]] = [(None, None)] * len(sources)
    by_topic: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(sources):
        by_topic[s.topic].append(i)
    for topic, idxs in by_topic.items():
        values = [sources[i].value or b"" for i in idxs]
        for i, pair in zip(idxs, serde.decode_many(topic, values)):
            decoded[i] = pair
    # Group by key, keeping order within a key.
    order: dict[bytes, list[int]] = {}
    for i, s in enumerate(sources):
        result.by_topic[s.topic] += 1
        record, error = decoded[i]
        if error is not None:
            result.dead.append(dead_letter(s, error.error_code, error.message))
            continue
        if s.key is None:
            result.dead.append(dead_letter(s, "MISSING_KEY", "record has no key; the key must be the MBI"))
            continue
        order.setdefault(s.key, []).append(i)
    for key, idxs in order.items():
        state = load_state(key)
        changed = False
        for i in idxs:
            s = sources[i]
            record = decoded[i][0]
            assert record is not None
            if state is not None and state.get(APPLIED, {}).get(s.topic, -1) >= s.offset:
                # Redelivery after a crash (at-least-once): this record already
                # changed the state; applying it again would give a wrong reply.
                result.replayed += 1
                continue
            mbi = key.decode("utf-8", "replace")
            if record.get("mbi") != mbi:
                result.dead.append(dead_letter(s, "KEY_MISMATCH", "the record's mbi differs from the message key"))
                continue
            try:
                step = PROCESSORS[s.topic](state, record, plans)
            except Rejected as rej:
                result.dead.append(dead_letter(s, rej.error_code, rej.message))
                continue
            except Exception as exc:  # noqa: BLE001 - a bug must not stop the worker
                log.exception("processor failed on %s[%d]@%d", s.topic, s.partition, s.offset)
                result.dead.append(dead_letter(s, "PROCESSING_ERROR", f"{type(exc).__name__}: {exc}"))
                continue
            result.applied += 1
            if step.state is not None:
                state = step.state
            if state is not None:
                state[APPLIED] = {**state.get(APPLIED, {}), s.topic: s.offset}
                changed = True
                result.state_event[key] = i
            result.outputs.extend(step.outputs)
        if changed and state is not None:
            result.states[key] = state
    return result


__all__ = ["BatchResult", "process_batch", "encode_state", "decode_state", "new_member"]
