"""Bad input, fuzzed, and crash-redelivery, straight through the pure batch pipeline (fast).

Properties, for any log:
* ``process_batch`` never raises;
* every record is accounted for once: counts in = applied + replayed + dead letters;
* every record the serde cannot read becomes a dead letter carrying its exact bytes;
* every output and dead letter fits its topic's schema (the agent can send it);
* a crash anywhere (some state writes durable, outputs since the last commit
  lost) followed by redelivery from the last commit gives, after dropping
  duplicates by id, exactly the outputs of an uninterrupted run, and the same
  tables.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import random
import struct
from collections import Counter
from io import BytesIO
from typing import Any

import fastavro
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.kafka.registry import SchemaRegistry
from streams.kafka.serde import Serde
from streams.runtime import state as stored_state
from streams.runtime.deadletters import MAX_RAW_KEY, MAX_RAW_VALUE, Source
from streams.runtime.rules import process_batch
from streams.tools import sample
from streams.tools.jsonconv import record_from_json
from tests.faults.helpers import (
    SAMPLE_CATALOG,
    TS,
    Reference,
    as_plain,
    enrollment_stream,
    mbi,
    plain_schema,
)

SERDE = Serde(SchemaRegistry.from_env())
TOPICS = ("enrollment-requests", "lis-status-changes", "beneficiary-updates")
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


IDS = {t: SERDE.registry.id_for_topic(t) for t in TOPICS}


def _valid(topic: str, i: int) -> dict[str, Any]:
    m = mbi(i % 7)
    if topic == "enrollment-requests":
        return sample._txn(f"F-{i}", m, 61, "S7101", "001", "2027-01-01")
    if topic == "lis-status-changes":
        return sample._lis(f"FL-{i}", m, "100", "1", f"2026-{1 + i % 12:02d}-01")
    return sample._bene(m, "Fuzz", f"Person{i}", "FL")


def _raw_body(topic: str, record: dict[str, Any]) -> bytes:
    """Avro body of a record whose logical fields are already ints (days / millis)."""
    out = BytesIO()
    fastavro.schemaless_writer(out, plain_schema(topic), record)
    return out.getvalue()


@st.composite
def bad_or_good(draw: st.DrawFn, i: int) -> tuple[str, bytes | None, bytes, bool]:
    """``(topic, key, value, unreadable)``: one input record, good or bad in one of many ways."""
    topic = draw(st.sampled_from(TOPICS))
    base = _valid(topic, i)
    key = base["mbi"].encode()
    good = SERDE.encode(topic, record_from_json(topic, base))
    kind = draw(st.sampled_from([
        "good", "good", "random", "truncated", "magic", "unknown_id", "other_schema", "codes",
        "dates", "huge", "overlap", "nokey", "mismatch", "badmbi", "empty",
    ]))
    if kind == "good":
        return topic, key, good, False
    if kind == "random":
        return topic, key, draw(st.binary(max_size=300)), True
    if kind == "truncated":
        return topic, key, good[:draw(st.integers(0, len(good) - 1))], True
    if kind == "magic":
        return topic, key, bytes([draw(st.integers(1, 255))]) + good[1:], True
    if kind == "unknown_id":
        return topic, key, b"\x00" + struct.pack(">I", draw(st.integers(12, 2**32 - 1)).__index__()) + good[5:], True
    if kind == "other_schema":
        other = {"enrollment-requests": 4, "lis-status-changes": 1, "beneficiary-updates": 2}[topic]
        return topic, key, b"\x00" + struct.pack(">I", other) + good[5:], True
    if kind == "empty":
        return topic, key, b"", True
    plain = as_plain(topic, base)
    text = st.text(max_size=12)
    if kind == "codes":
        field = draw(st.sampled_from([f for f, v in plain.items() if isinstance(v, (str, int)) and not isinstance(v, bool) and f != "mbi"]))
        if isinstance(plain[field], int):
            plain[field] = draw(st.integers(-2**31, 2**31 - 1))
        elif field in ("action", "subsidy_source", "medicaid_status"):
            return topic, key, good, False  # enums: any other symbol is not Avro at all (covered by random)
        elif field in ("tracking_id", "change_id"):
            # any text, but unique per submission as the contract says (DOMAIN.md): two members' transactions
            # with one tracking id would share a cms_tracking_id, and a consumer would drop one as a duplicate
            plain[field] = draw(text) + f"#{i}"
        else:
            plain[field] = draw(text)
    elif kind == "dates":
        fields = [f for f in plain if f.endswith(("_date", "_start", "_end", "_at", "_time", "birth_date", "date_of_death"))]
        for f in draw(st.lists(st.sampled_from(fields), min_size=1, max_size=3)) if fields else []:
            if plain.get(f) is not None or not f.endswith("_end"):
                big = f.endswith(("_at", "_time"))
                plain[f] = draw(st.integers(-2**63, 2**63 - 1) if big else st.integers(-2**31, 2**31 - 1))
    elif kind == "huge":
        field = {"enrollment-requests": "tracking_id", "lis-status-changes": "change_id", "beneficiary-updates": "last_name"}[topic]
        plain[field] = "X" * draw(st.integers(10_000, 300_000))
    elif kind == "overlap":
        topic = "lis-status-changes"
        start = draw(st.dates(dt.date(2025, 1, 1), dt.date(2027, 12, 31)))
        end = draw(st.none() | st.dates(start, dt.date(2028, 12, 31)))
        value = sample._lis(f"OV-{i}", mbi(i % 7), draw(st.sampled_from(["100", "075", "050", "025", "000"])), "1",
                            start.isoformat(), end.isoformat() if end else None,
                            draw(st.sampled_from(["UPSERT", "UPSERT", "REMOVE"])))
        return topic, mbi(i % 7).encode(), SERDE.encode(topic, record_from_json(topic, value)), False
    elif kind == "nokey":
        return topic, None, good, False
    elif kind == "mismatch":
        return topic, mbi(i % 7 + 1).encode(), good, False
    elif kind == "badmbi":
        plain["mbi"] = draw(st.text(min_size=0, max_size=14))
        key = plain["mbi"].encode("utf-8", "replace")
    body = _raw_body(topic, plain)
    return topic, key, b"\x00" + struct.pack(">I", IDS[topic]) + body, False


@st.composite
def logs(draw: st.DrawFn) -> list[tuple[str, bytes | None, bytes, bool]]:
    n = draw(st.integers(1, 40))
    return [draw(bad_or_good(i)) for i in range(n)]


def _sources(log: list[tuple[str, bytes | None, bytes, bool]]) -> list[Source]:
    offsets: Counter[str] = Counter()
    out = []
    for topic, key, value, _ in log:
        out.append(Source(topic, 0, offsets[topic], key, value, TS))
        offsets[topic] += 1
    return out


def _check_result(sources: list[Source], res: Any, table: dict[bytes, bytes],
                  unreadable: set[int] | None = None) -> None:
    """Every input record is accounted for, judged from the inputs and what the batch left (never from the
    runtime's own counters): a dead letter of its own, or an outbox entry for it in its key's stored value
    (what a redelivery would be answered with); and every transaction that is not a dead letter has exactly
    one reply carrying its tracking id."""
    dead = [d.value for d in res.dead]
    where = Counter((d["source_topic"], d["offset"]) for d in dead)
    assert all(n == 1 for n in where.values()), "a record became two dead letters"
    replies = Counter(SERDE.decode(t, v)["plan_tracking_id"] for t, _, v, _ in res.sends if t == "trr-replies")
    for s in sources:
        if (s.topic, s.offset) in where:
            continue
        stored = stored_state.decode(table.get(s.key or b""))
        assert stored is not None and stored.entry(s.topic, s.offset) is not None, \
            f"{s.topic}@{s.offset}: neither a dead letter nor applied to its key"
        if s.topic == "enrollment-requests":
            tracking = SERDE.decode(s.topic, s.value)["tracking_id"]
            assert replies[tracking] == 1, f"transaction {tracking!r}: {replies[tracking]} replies"
    assert len(where) <= len(sources)
    by_where = {(s.topic, s.offset): s for s in sources}
    for d in dead:
        s = by_where[(d["source_topic"], d["offset"])]
        # the untouched bytes, or a prefix of them with the size and SHA-256 of the whole record
        assert d["raw_value"] == (s.value[:MAX_RAW_VALUE] if s.value is not None else None)
        assert d["raw_key"] == (s.key[:MAX_RAW_KEY] if s.key is not None else None)
        assert d["raw_value_size"] == (len(s.value) if s.value is not None else None)
        assert d["raw_value_sha256"] == (hashlib.sha256(s.value).hexdigest() if s.value is not None else None)
        assert d["truncated"] == (len(s.value or b"") > MAX_RAW_VALUE or len(s.key or b"") > MAX_RAW_KEY)
    for i in unreadable or ():
        assert (sources[i].topic, sources[i].offset) in where, f"unreadable record {i} is not a dead letter"
    for o in res.outputs + res.dead:
        SERDE.encode(o.topic, o.value)  # fits the schema: the agent can send it
    for topic, _, value, _ in res.sends:
        SERDE.decode(topic, value)  # every record sent is a valid record of its topic


@SETTINGS
@given(log=logs(), batch=st.integers(1, 17))
def test_fuzzed_batches_never_raise_and_account_for_every_record(log: list, batch: int) -> None:
    sources = _sources(log)
    unreadable = {i for i, (_, _, _, bad) in enumerate(log) if bad}
    table: dict[bytes, bytes] = {}
    for start in range(0, len(sources), batch):
        chunk = sources[start:start + batch]
        res = process_batch(chunk, SERDE, lambda k: stored_state.decode(table.get(k)), SAMPLE_CATALOG)
        for k, s in res.writes.items():
            table[k] = stored_state.encode(s)
        _check_result(chunk, res, table, {i - start for i in unreadable if start <= i < start + batch})


def _ids(topic: str, value: dict[str, Any]) -> Any:
    if topic == "trr-replies":
        return value["cms_tracking_id"]
    if topic == "dead-letters":
        return (value["source_topic"], value["partition"], value["offset"])
    return value["notice_id"]


@SETTINGS
@given(data=st.data())
def test_crash_then_redelivery_equals_uninterrupted_run(data: st.DataObject) -> None:
    members = data.draw(st.integers(1, 6))
    ref_json, txns = enrollment_stream(members, data.draw(st.integers(1, 4)))
    # Stages of one topic each, as a producer that waits for each stage (golden.run) sends them:
    # Kafka orders records within a partition only, and the redelivery after a crash covers
    # the uncommitted records of the stage in progress.
    extra = data.draw(logs())
    rnd = random.Random(data.draw(st.integers(0, 2**32)))
    log: list = []
    stage_of: list[int] = []
    for n, topic in enumerate(TOPICS[::-1]):  # beneficiary-updates, lis-status-changes, enrollment-requests
        stage = [(t, v["mbi"].encode(), SERDE.encode(t, record_from_json(t, v)), False) for t, v in ref_json + txns if t == topic]
        for rec in extra:
            if rec[0] == topic:
                stage.insert(rnd.randrange(len(stage) + 1), rec)
        log.extend(stage)
        stage_of.extend([n] * len(stage))
    sources = _sources(log)
    reference = Reference(SERDE, SAMPLE_CATALOG)
    reference.run(sources, batch=data.draw(st.integers(1, 50)))
    want = Counter(reference.outputs)

    # The crashed run: batches up to the crash, the last one half written.
    batch = data.draw(st.integers(1, 30))
    bounds = sorted({i for i in range(0, len(sources), batch)} | {i for i in range(1, len(sources)) if stage_of[i] != stage_of[i - 1]})
    bounds.append(len(sources))
    crash = data.draw(st.integers(0, len(bounds) - 2))  # index of the batch during which it dies
    stage_start = min(b for b in range(len(bounds) - 1) if stage_of[bounds[b]] == stage_of[bounds[crash]])
    committed = data.draw(st.integers(stage_start, crash))  # batches whose offsets were committed
    table: dict[bytes, bytes] = {}
    sent: list[tuple[str, bytes | None, bytes]] = []
    for b in range(crash + 1):
        res = process_batch(sources[bounds[b]:bounds[b + 1]], SERDE, lambda k: stored_state.decode(table.get(k)), SAMPLE_CATALOG)
        writes = list(res.writes.items())
        if b == crash:
            writes = [w for w in writes if rnd.random() < 0.5]
        for k, s in writes:
            table[k] = stored_state.encode(s)
        if b < committed:  # flushed before the commit; later outputs: some made it, some did not
            sent.extend((t, k.encode(), v) for t, k, v, _ in res.sends)
        else:
            sent.extend((t, k.encode(), v) for t, k, v, _ in res.sends if rnd.random() < 0.3)
    # A new worker: the durable table, redelivery from the last commit, other batch sizes.
    batch2 = data.draw(st.integers(1, 30))
    rest = sources[bounds[committed]:]
    for start in range(0, len(rest), batch2):
        chunk = rest[start:start + batch2]
        res = process_batch(chunk, SERDE, lambda k: stored_state.decode(table.get(k)), SAMPLE_CATALOG)
        for k, s in res.writes.items():
            table[k] = stored_state.encode(s)
        _check_result(chunk, res, table)
        sent.extend((t, k.encode(), v) for t, k, v, _ in res.sends)

    # Consumers drop duplicates by id; what is left is exactly the uninterrupted run.
    seen: set[Any] = set()
    kept: Counter = Counter()
    for topic, key, raw in sent:
        ident = (topic, _ids(topic, SERDE.decode(topic, raw)))
        if ident in seen:
            continue
        seen.add(ident)
        kept[(topic, key, raw)] += 1
    assert kept == want
    members = {k: m for k, v in table.items() if (m := stored_state.member_of(v)) is not None}
    assert members == reference.members()
    # The reference is the same pipeline: also count against the inputs. Every transaction of the log has
    # exactly one reply after dedupe, or is a dead letter (undecodable, a bad key, a rejected code...).
    answered = Counter(SERDE.decode(t, raw)["plan_tracking_id"] for t, _, raw in kept.elements() if t == "trr-replies")
    letters = {(d["source_topic"], d["offset"]) for t, _, raw in kept.elements() if t == "dead-letters"
               for d in [SERDE.decode(t, raw)]}
    for s in sources:
        if s.topic == "enrollment-requests" and (s.topic, s.offset) not in letters:
            tracking = SERDE.decode(s.topic, s.value)["tracking_id"]
            assert answered[tracking] == 1, f"transaction {tracking!r} answered {answered[tracking]} times"
    # Duplicates are bounded by what was applied since the last commit: only records at or after the
    # redelivery point were sent twice (a record before it was sent once, by the crashed run only).
    redelivered = {(s.topic, s.offset) for s in sources[bounds[committed]:]}
    before = Counter((t, k, raw) for t, k, raw in sent)
    for (t, k, raw), n in before.items():
        if n > 1:
            cause = _cause(t, raw)
            assert cause is None or cause in redelivered, f"{t}: a record of {cause} sent {n} times"


def _cause(topic: str, raw: bytes) -> tuple[str, int] | None:
    """The input record a dead letter names (None for other outputs: their cause is checked by id above)."""
    if topic != "dead-letters":
        return None
    d = SERDE.decode(topic, raw)
    return (d["source_topic"], d["offset"])


def test_redelivered_record_resends_its_outputs() -> None:
    """The issue's case by hand: state written, replies lost, the record comes again."""
    ref, txns = enrollment_stream(2, 2)
    recs = [(t, v["mbi"].encode(), SERDE.encode(t, record_from_json(t, v)), False) for t, v in ref + txns]
    sources = _sources(recs)
    table: dict[bytes, bytes] = {}
    first = process_batch(sources, SERDE, lambda k: stored_state.decode(table.get(k)), SAMPLE_CATALOG)
    for k, s in first.writes.items():
        table[k] = stored_state.encode(s)
    again = process_batch(sources, SERDE, lambda k: stored_state.decode(table.get(k)), SAMPLE_CATALOG)
    assert again.applied == 0 and again.replayed == len(sources)
    sent = lambda r: sorted((t, k, v, ts) for t, k, v, ts in r.sends)  # noqa: E731
    assert sent(again) == sent(first) and len(first.sends) >= len(txns)
    assert {k: s.member for k, s in again.writes.items()} == {k: s.member for k, s in first.writes.items()}
    assert all(s.applied for s in again.writes.values())
