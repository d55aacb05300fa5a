"""4. Rules: a batch of member records through the processors, in order. Plain Python, no Kafka.

For each record, in the order :mod:`streams.runtime.order` released them:

* a record that could not be decoded (:mod:`streams.runtime.decode`) becomes a
  dead letter (the same on every delivery: it depends on no state);
* a record already applied to its key (its offset is at or below the key's
  last applied offset for that input: a redelivery after a crash) is answered
  from the key's outbox, with the very bytes sent the first time;
* any other record goes through its processor (``processors/``) with the key's
  current state; the outputs are encoded once, here (those bytes are sent and
  kept in the outbox); a rejection or a processor bug becomes a dead letter
  and is remembered in the outbox too, so its redelivery gets the same answer.

Each touched key's new value is returned once (written once per batch), and
the records to send in record order.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from processors import auto_enrollment, beneficiary, enrollment, lis, magi
from processors.model import MemberState, Output, Rejected, StepResult
from streams import topics
from streams.kafka.serde import EncodeError, Serde
from streams.runtime import state as st
from streams.runtime.deadletters import Source, dead_letter
from streams.runtime.decode import Decoded

log = logging.getLogger(__name__)


class Reference(NamedTuple):
    """What the rules may read besides the member: the plan catalog (every worker holds it whole) and the
    benchmarks (plan year -> region -> benchmark).

    ``partition_benchmarks`` (the shell's): per member partition, the benchmarks that partition has applied
    (the ``CALCULATE_BENCHMARKS`` commands before its place in the command order, streams/runtime/cycle.py), so
    which benchmark a reply sees is a function of the input log; a record of partition *p* is judged with
    ``at(p).benchmarks``.
    """

    plans: Mapping[str, Any]
    benchmarks: Mapping[int, Mapping[str, Decimal]] = {}
    partition_benchmarks: Mapping[int, Mapping[int, Mapping[str, Decimal]]] | None = None

    def at(self, partition: int) -> "Reference":
        if self.partition_benchmarks is None:
            return self
        return self._replace(benchmarks=self.partition_benchmarks.get(partition) or {})


Processor = Callable[[MemberState | None, dict[str, Any], Reference], StepResult]


def _then_auto_enrollment(state: MemberState | None, step: StepResult, ref: Reference, as_of: Any) -> StepResult:
    """After a change that can make a member a candidate: auto-enroll or facilitate (seed 004)."""
    current = step.state if step.state is not None else state
    auto = auto_enrollment.auto_or_facilitate(current, ref.plans, ref.benchmarks, as_of)
    if auto.state is None and not auto.outputs:
        return step
    return StepResult(auto.state if auto.state is not None else step.state, list(step.outputs) + list(auto.outputs))


def _enrollment(state: MemberState | None, event: dict[str, Any], ref: Reference) -> StepResult:
    return enrollment.apply_enrollment(state, event, ref.plans, ref.benchmarks)


def _lis(state: MemberState | None, event: dict[str, Any], ref: Reference) -> StepResult:
    return _then_auto_enrollment(state, lis.apply_lis_change(state, event, ref.plans, ref.benchmarks), ref,
                                 event["event_time"])


def _beneficiary(state: MemberState | None, event: dict[str, Any], ref: Reference) -> StepResult:
    return _then_auto_enrollment(state, beneficiary.apply_beneficiary_update(state, event), ref, event["event_time"])


def _magi(state: MemberState | None, event: dict[str, Any], ref: Reference) -> StepResult:
    """MAGI screen (seed 003): publish the determination, update Medicaid status, then seed 004."""
    determination = magi.screen(event)
    step = magi.apply_determination(state, determination)
    step = StepResult(step.state, [magi.determination_output(determination), *step.outputs])
    return _then_auto_enrollment(state, step, ref, event["event_time"])


#: The processor of each member input topic.
PROCESSORS: dict[str, Processor] = {
    topics.ENROLLMENT_REQUESTS: _enrollment,
    topics.LIS_STATUS_CHANGES: _lis,
    topics.BENEFICIARY_UPDATES: _beneficiary,
    topics.MAGI_APPLICATIONS: _magi,
}
assert set(PROCESSORS) == set(topics.MEMBER_INPUTS)

Send = tuple[str, str, bytes, int | None]  # (topic, key, value bytes, timestamp ms of the input record)


@dataclass
class Result:
    writes: dict[bytes, st.Stored] = field(default_factory=dict)  # key -> new value (insertion order)
    sends: list[Send] = field(default_factory=list)  # every record to send, in record order
    outputs: list[Output] = field(default_factory=list)  # outputs computed in this batch (for metrics)
    dead: list[Output] = field(default_factory=list)  # dead letters sent by this batch (new and again)
    applied: int = 0
    replayed: int = 0  # redelivered records (already applied): answered from the outbox
    resent: int = 0  # outputs sent again for them
    resent_dead: int = 0  # dead letters sent again for them (also in ``dead``)
    by_topic: dict[str, int] = field(default_factory=dict)


def where(s: Source) -> str:
    """Where a record is, for logs: topic, partition, offset (never the key: it is an MBI)."""
    return f"{s.topic}[{s.partition}]@{s.offset}"


def apply_batch(
    sources: Sequence[Source],
    decoded: Sequence[Decoded],
    serde: Serde,
    load: Callable[[bytes], st.Stored | None],
    ref: Reference,
) -> Result:
    """Run a batch of member records (module doc). Never raises for bad input."""
    result = Result()
    working: dict[bytes, st.Stored | None] = {}
    for s, (record, problem) in zip(sources, decoded, strict=True):
        result.by_topic[s.topic] = result.by_topic.get(s.topic, 0) + 1
        if problem is not None:
            _dead(result, serde, s, *problem)
            continue
        key = s.key
        assert key is not None and record is not None
        stored = working[key] if key in working else load(key)
        if stored is not None and stored.seen(s.topic, s.offset):
            result.replayed += 1
            items = stored.entry(s.topic, s.offset)
            if items is not None:
                _again(result, serde, s, items)
                result.writes[key] = stored  # write it again: its changelog record may be the one lost
            working[key] = stored
            continue
        working[key] = stored = _apply(result, serde, s, record, stored, ref.at(s.partition))
        result.writes[key] = stored
    return result


def _apply(result: Result, serde: Serde, s: Source, record: dict[str, Any], stored: st.Stored | None,
           ref: Reference) -> st.Stored:
    member = stored.member if stored is not None else None
    failure: tuple[str, str] | None = None
    try:
        step = PROCESSORS[s.topic](member, record, ref)
        encoded = [(o, serde.encode(o.topic, o.value)) for o in step.outputs]  # proves every output fits its schema
    except Rejected as rej:
        failure = (rej.error_code, rej.message)
    except (Exception, EncodeError) as exc:  # noqa: BLE001 - a bug must not stop the worker
        # Type and place only: messages and tracebacks can carry MBIs or names.
        log.error("processor failed on %s: %s", where(s), type(exc).__name__)
        failure = ("PROCESSING_ERROR", f"{type(exc).__name__}: {exc}")
    new = st.Stored(member, dict(stored.applied), list(stored.outbox)) if stored is not None else st.Stored()
    if failure is not None:
        _dead(result, serde, s, *failure)
        st.record(new, [[s.topic, s.offset, st.pack((), [failure])]])
        return new
    result.applied += 1
    if step.state is not None:
        new.member = step.state
    result.outputs.extend(step.outputs)
    result.sends.extend((o.topic, o.key, v, s.timestamp_ms) for o, v in encoded)
    st.record(new, [[s.topic, s.offset, st.pack(encoded)]])
    return new


def _dead(result: Result, serde: Serde, s: Source, code: str, message: str) -> None:
    letter = dead_letter(s, code, message)
    result.dead.append(letter)
    result.sends.append((letter.topic, letter.key, serde.encode(letter.topic, letter.value), s.timestamp_ms))


def _again(result: Result, serde: Serde, s: Source, items: list[st.Item]) -> None:
    sends, dead = st.unpack(items)
    result.sends.extend((topic, key, value, s.timestamp_ms) for topic, key, value in sends)
    result.resent += len(sends)
    result.resent_dead += len(dead)
    for code, message in dead:
        _dead(result, serde, s, code, message)


class MissRecorder(Mapping[str, Any]):
    """The plan catalog as the processors see it (no copy), noting lookups of keys it does not have."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = data
        self.missed = False

    def __getitem__(self, key: str) -> Any:
        try:
            return self._data[key]
        except KeyError:
            self.missed = True
            raise

    def __contains__(self, key: object) -> bool:
        found = key in self._data
        if not found:
            self.missed = True
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def process_batch(sources: Sequence[Source], serde: Serde, load: Callable[[bytes], st.Stored | None],
                  ref: Reference | Mapping[str, Any]) -> Result:
    """Steps 3 and 4 of the member path for a released batch: decode, then the rules (no I/O)."""
    from streams.runtime.decode import decode_batch

    if not isinstance(ref, Reference):
        ref = Reference(ref)  # a bare plan catalog
    return apply_batch(sources, decode_batch(serde, sources), serde, load, ref)
