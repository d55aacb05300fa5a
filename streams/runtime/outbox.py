"""The outbox: a member's recent outputs, kept in its own state, to re-send after a crash.

At-least-once with a state table has one hole. A batch writes the new member
state (changelog) and queues the outputs; both go through the same producer,
to different partitions, in no guaranteed order. If the worker dies after the
changelog record reached the broker but before the outputs did, the offsets
were not committed (Faust flushes the producer before committing), so the
input is delivered again, to a worker that restored the *new* state: the
record's offset is already in ``_applied`` and applying it again would give a
wrong reply (109 duplicate instead of 011). Skipping it, as before, lost the
reply for good.

So the state carries, next to ``_applied``, the outputs of the member's
recent input records, keyed by (input topic, offset)::

    "_outbox": [[topic, offset, [item, ...]], ...]     # oldest first
    item: ["o", out_topic, out_key, base64(Confluent-framed Avro value)]
        | ["d", error_code, error_message]             # a dead letter, rebuilt from the redelivered record

A redelivered record (offset <= applied) is answered from its entry, with the
very same bytes (every id in them is a pure function of the input), and the
state is written again as it is (so a changelog write that never made it is
made now). Consumers see at most a duplicate, which they drop by its id
(docs/delivery.md). The state fields themselves never change on replay.

The same holds for a cycle step: a member reassigned by the fan-out message at
``partd-member-commands`` offset k has an entry ``[partd-member-commands, k, ...]``
with its 212/014, GAIN/LOSS, obligations and letter; a redelivered fan-out
message re-sends them instead of answering ``ALREADY_REASSIGNED`` with nothing
(:func:`scan_partition`, which ``streams/runtime/app.py`` calls for every member
cycle command).

An entry is needed only until the input offset is committed, which Faust does
every few seconds (``broker_commit_interval``) or every ``broker_commit_every``
records. The outbox keeps entries whose offset is within ``WINDOW`` records of
the newest offset of the same topic in the batch that writes the state, and at
most ``MAX_ENTRIES`` entries per member; older ones are dropped when the member
is next written. ``PARTD_OUTBOX_WINDOW`` overrides the window.
"""
from __future__ import annotations

import base64
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from processors import state_lists
from processors.model import MemberState, Output
from processors.plan_index import PlanIndex
from streams.kafka.serde import EncodeError, Serde
from streams.runtime.deadletters import Source, dead_letter

log = logging.getLogger(__name__)

OUTBOX = "_outbox"
APPLIED = "_applied"
WINDOW = int(os.environ.get("PARTD_OUTBOX_WINDOW") or 50_000)
MAX_ENTRIES = 32

Item = list[Any]
Entry = list[Any]  # [topic, offset, [item, ...]]


def pack(serde: Serde, outputs: Iterable[Output], dead: Iterable[tuple[str, str]] = ()) -> tuple[list[Item], list[bytes]]:
    """Outbox items for ``outputs`` and dead letters ``(code, message)``, and the outputs' encoded values.

    Each output is encoded once, here (raises :class:`EncodeError`): the
    worker sends these very bytes, and a redelivery re-sends the same bytes
    from the stored item.
    """
    items: list[Item] = []
    values: list[bytes] = []
    for o in outputs:
        value = serde.encode(o.topic, o.value)
        values.append(value)
        items.append(["o", o.topic, o.key, base64.b64encode(value).decode("ascii")])
    items.extend(["d", code, message] for code, message in dead)
    return items, values


def unpack(
    serde: Serde, items: Iterable[Item], source: Source | None = None,
) -> tuple[list[Output], list[bytes], list[Output]]:
    """``(outputs, their stored encoded values, dead letters)`` of stored items.

    Dead letters are rebuilt from the redelivered ``source``.
    """
    outputs: list[Output] = []
    values: list[bytes] = []
    dead: list[Output] = []
    for item in items:
        if item[0] == "o":
            _, topic, key, b64 = item
            value = base64.b64decode(b64)
            record, error = serde.decode_many(topic, [value])[0]
            if error is None:
                outputs.append(Output(topic, key, record))  # type: ignore[arg-type]
                values.append(value)
            else:  # cannot happen with our own registry; never stop the worker for it
                log.error("outbox item for %s undecodable: %s", topic, error.error_code)
        elif item[0] == "d" and source is not None:
            dead.append(dead_letter(source, item[1], item[2]))
    return outputs, values, dead


def find(state: MemberState | None, topic: str, offset: int) -> list[Item] | None:
    """The stored items of input ``(topic, offset)``, or None."""
    if not state:
        return None
    for entry in state.get(OUTBOX) or ():
        if entry[1] == offset and entry[0] == topic:
            return entry[2]
    return None


def record(state: MemberState, entries: list[Entry], newest: Mapping[str, int]) -> None:
    """Add ``entries`` to ``state``'s outbox and drop what no redelivery can need any more.

    ``newest``: topic -> the newest input offset of that topic in this batch.
    """
    kept = [
        e for e in (state.get(OUTBOX) or [])
        if not any(e[0] == n[0] and e[1] == n[1] for n in entries)
        and (e[0] not in newest or e[1] >= newest[e[0]] - WINDOW)
    ]
    kept.extend(entries)
    state[OUTBOX] = kept[-MAX_ENTRIES:]


def strip(state: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The state without the outbox (what the product's table means; used to compare runs)."""
    if state is None:
        return None
    return {k: v for k, v in state.items() if k != OUTBOX}


def scan_partition(
    payload: Mapping[str, Any],
    members: Iterable[tuple[bytes, bytes]],
    plans: Mapping[str, Any],
    decode: Callable[[bytes], MemberState | None],
    serde: Serde,
    *,
    topic: str,
    offset: int,
) -> Iterable[tuple[bytes, MemberState | None, list[Output], list[bytes]]]:
    """One partition's share of a member cycle command, safe to run again for the same fan-out message.

    ``topic``/``offset``: where the fan-out message is (``partd-member-commands``,
    its offset). A member whose outbox has an entry for that message was
    already handled by it: its stored records are yielded again (with its
    state, to be written again as it is). ``plans`` (the catalog, or a
    ``PlanIndex`` of it) is indexed once here, for the whole scan: a plan update
    arriving during the scan is seen by the next command. Otherwise the member is evaluated;
    a member that moves gets the entry in its new state. A member whose
    evaluation raises is logged (no identifiers) and skipped, so one bad state
    cannot stop the run. Each yield is ``(key, state, outputs, values)``, with
    ``values`` the outputs' encoded bytes (the ones to send).
    """
    year = payload["plan_year"]
    as_of = payload["as_of_dt"]
    seed = payload["seed"]
    bms = payload["benchmarks_d"]
    opted = frozenset(payload.get("opted_in_states") or ())
    try:  # once per fan-out message, not per member: the region's target plans become a lookup
        index: Mapping[str, Any] = PlanIndex.of(plans)
    except Exception as exc:  # noqa: BLE001 - a malformed catalog entry: scan per member, as before
        log.error("plan index not built (%s): scanning the catalog per member", type(exc).__name__)
        index = plans
    for key, raw in members:
        state = decode(raw)
        if state is None:
            continue
        items = find(state, topic, offset)
        if items is not None:
            outputs, values, _ = unpack(serde, items)
            yield key, state, outputs, values
            continue
        try:
            step = state_lists.run_cycle_member(
                payload["command"], state, plans=index, benchmarks=bms, plan_year=year, seed=seed,
                as_of=as_of, opted_in_states=opted,
            )
            new = step.state
            items, values = pack(serde, step.outputs)
            if new is not None:
                record(new, [[topic, offset, items]], {topic: offset})
        except (Exception, EncodeError) as exc:  # noqa: BLE001 - one member must not stop the run
            log.error("cycle step failed for one member (%s %s, %s[%d]): %s",
                      payload["command"], year, topic, offset, type(exc).__name__)
            continue
        if new is not None or step.outputs:
            yield key, new, step.outputs, values
