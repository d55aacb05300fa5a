"""The generated Avro writers and readers (streams/kafka/codegen.py) against fastavro, over every schema partd has.

The generated code is a fast path only: for any input it either raises (and the
serde then asks fastavro) or returns exactly what fastavro returns. So each
property below is "fastavro's answer, or a refusal":

* valid records of every schema in ``schemas/`` (current and previous versions),
  drawn from the schema itself: the generated writer's bytes == fastavro's, and
  the generated reader's record == fastavro's (compared by ``repr`` too, so a
  ``Decimal('1.50')`` is not taken for ``Decimal('1.5')``);
* records with wrong or odd values (another type, a bool for an int, a naive
  datetime, an ISO string for a date, a missing field, an int out of range, a
  tuple for a union ...): the writer raises or writes fastavro's bytes, and when
  fastavro refuses the record, so does the writer;
* fastavro's bytes, cut, extended or with one byte changed: the reader raises
  or returns fastavro's record, and never returns a record where fastavro raises;
* through :class:`Serde`: every topic's records are framed and read as before,
  and values written with a previous schema id are still resolved by fastavro.
"""
from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import schemas
from streams.kafka import codegen
from streams.kafka.registry import SchemaRegistry, parse
from streams.kafka.serde import EncodeError, Serde, frame

SCHEMA_FILES = sorted(str(p.relative_to(schemas.SCHEMA_DIR)) for p in schemas.SCHEMA_DIR.rglob("*.avsc"))
ZONES = [dt.timezone.utc, dt.timezone(dt.timedelta(hours=-5)), ZoneInfo("America/New_York")]
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                          HealthCheck.data_too_large])


#: Every kind of type partd's schemas have, and the ones they may get (maps, fixed, floats, records nested in
#: unions and arrays, a union other than [null, X], a recursive record): the generated code must stay exact there.
SYNTHETIC = {
    "type": "record", "name": "Everything", "namespace": "test.partd", "fields": [
        {"name": "s", "type": "string"}, {"name": "b", "type": "bytes"}, {"name": "i", "type": "int"},
        {"name": "l", "type": "long"}, {"name": "f", "type": "float"}, {"name": "d", "type": "double"},
        {"name": "t", "type": "boolean"}, {"name": "n", "type": "null"},
        {"name": "fx", "type": {"type": "fixed", "name": "Four", "size": 4}},
        {"name": "e", "type": ["null", {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN"], "default": "RED"}],
         "default": None},
        {"name": "m", "type": {"type": "map", "values": ["null", "long"]}},
        {"name": "a", "type": {"type": "array", "items": {"type": "record", "name": "Item", "fields": [
            {"name": "k", "type": "string"}, {"name": "when", "type": ["null", {"type": "int", "logicalType": "date"}],
                                              "default": None}]}}},
        {"name": "nested", "type": ["null", "Item"], "default": None},
        {"name": "again", "type": {"type": "array", "items": "Color"}, "default": []},
        {"name": "money", "type": {"type": "bytes", "logicalType": "decimal", "precision": 5, "scale": 3},
         "default": "\u0000"},
        {"name": "count", "type": "int", "default": 7},
        {"name": "flag", "type": "boolean", "default": True},
        {"name": "three", "type": ["null", "string", "long"], "default": None},
        {"name": "next", "type": ["null", "Everything"], "default": None},
    ]}
SCHEMA_FILES.append("synthetic")


def _parsed(name: str) -> tuple[Any, dict[str, Any]]:
    named: dict[str, Any] = {}
    raw = SYNTHETIC if name == "synthetic" else schemas.schema_json(name)
    return fastavro.parse_schema(raw, named_schemas=named), named


PARSED = {name: _parsed(name) for name in SCHEMA_FILES}
WRITERS = {name: codegen.writer(p, n) for name, (p, n) in PARSED.items()}
READERS = {name: codegen.reader(p, n) for name, (p, n) in PARSED.items()}


# ------------------------------------------------------------------ values drawn from a schema

def values(schema: Any, named: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Valid values of ``schema`` as the processors build them (dates, aware datetimes, Decimals, ...);
    a recursive record stops nesting after two levels (its union's null branch)."""
    if isinstance(schema, str) and schema in named:
        return values(named[schema], named, depth)
    if isinstance(schema, list):
        if depth > 2 and "null" in schema:
            return st.none()
        return st.one_of(*[values(s, named, depth) for s in schema])
    t = schema if isinstance(schema, str) else schema["type"]
    logical = schema.get("logicalType") if isinstance(schema, dict) else None
    if logical == "date":
        return st.one_of(st.dates(), st.integers(1 - codegen.DAYS_SHIFT, dt.date.max.toordinal() - codegen.DAYS_SHIFT))
    if logical == "timestamp-millis":
        return st.one_of(st.datetimes(timezones=st.sampled_from(ZONES)), st.integers(-(2**40), 2**40))
    if logical == "decimal":
        p, s = schema["precision"], schema.get("scale", 0)
        limit = Decimal(10) ** (p - s) - Decimal(1).scaleb(-s)
        return st.one_of(
            st.decimals(min_value=-limit, max_value=limit, places=s, allow_nan=False, allow_infinity=False),
            st.decimals(min_value=-limit, max_value=limit, places=max(0, s - 1), allow_nan=False,
                        allow_infinity=False),
            st.binary(max_size=5))
    if isinstance(t, (dict, list)):
        return values(t, named, depth)
    if t in named:
        return values(named[t], named, depth)
    simple = {
        "null": st.none(), "boolean": st.booleans(), "int": st.integers(-(2**31), 2**31 - 1),
        "long": st.integers(-(2**63), 2**63 - 1), "float": st.floats(width=32, allow_nan=False),
        "double": st.floats(allow_nan=False), "bytes": st.binary(max_size=40),
        "string": st.text(max_size=30) | st.text(max_size=300, alphabet="ABC"),
    }
    if t in simple:
        return simple[t]
    if t == "enum":
        return st.sampled_from(schema["symbols"])
    if t == "fixed":
        return st.binary(min_size=schema["size"], max_size=schema["size"])
    if t == "array":
        return st.lists(values(schema["items"], named, depth), max_size=4)
    if t == "map":
        return st.dictionaries(st.text(max_size=8), values(schema["values"], named, depth), max_size=3)
    if t in ("record", "error"):
        # a field may be left out when it has a default fastavro can write (else fastavro refuses the record)
        optional = {f["name"]: values(f["type"], named, depth + 1) for f in schema["fields"]
                    if "default" in f and _writable_default(f, named)}
        required = {f["name"]: values(f["type"], named, depth + 1) for f in schema["fields"] if f["name"] not in optional}
        return st.fixed_dictionaries(required, optional=optional)
    raise AssertionError(f"no strategy for {schema!r}")


def _writable_default(field: dict[str, Any], named: dict[str, Any]) -> bool:
    try:
        codegen._fastavro_bytes(field["default"], field["type"], named, field["name"])
    except Exception:  # noqa: BLE001
        return False
    return True


ODD = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(2**63, 2**70), st.text(max_size=5),
                st.binary(max_size=5), st.floats(), st.dates().map(str), st.datetimes(),
                st.datetimes(timezones=st.just(dt.timezone.utc)), st.dates(), st.decimals(allow_nan=False),
                st.tuples(st.text(max_size=5), st.integers()), st.lists(st.integers(), max_size=2),
                st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def odd_record(schema: Any, named: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A valid record with one field replaced by an odd value, or removed."""
    fields = [f["name"] for f in schema["fields"]]

    @st.composite
    def build(draw: st.DrawFn) -> Any:
        rec = dict(draw(values(schema, named)))
        name = draw(st.sampled_from(fields))
        if draw(st.booleans()):
            rec.pop(name, None)
        else:
            rec[name] = draw(ODD)
        return rec

    return build()


def fastavro_bytes(parsed: Any, record: Any) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, parsed, record)
    return out.getvalue()


def fastavro_record(parsed: Any, data: bytes) -> Any:
    bio = io.BytesIO(data)
    rec = fastavro.schemaless_reader(bio, parsed, None)
    if bio.tell() != len(data):
        raise ValueError("trailing bytes")
    return rec


def same(a: Any, b: Any) -> bool:
    return a == b and repr(a) == repr(b)


# ------------------------------------------------------------------ properties

@pytest.mark.parametrize("name", SCHEMA_FILES)
@SETTINGS
@given(data=st.data())
def test_valid_records_write_and_read_as_fastavro(name: str, data: st.DataObject) -> None:
    """partd's schemas: every valid record is on the fast path. The synthetic schema has what it leaves to
    fastavro (a three-branch union, a recursive record): refused there, or exact."""
    parsed, named = PARSED[name]
    record = data.draw(values(parsed, named))
    expected = fastavro_bytes(parsed, record)
    try:
        assert WRITERS[name](record) == expected
        assert same(READERS[name](expected), fastavro_record(parsed, expected))
    except codegen.Slow:
        if name != "synthetic":
            raise


@pytest.mark.parametrize("name", SCHEMA_FILES)
@SETTINGS
@given(data=st.data())
def test_odd_records_are_refused_or_written_as_fastavro(name: str, data: st.DataObject) -> None:
    parsed, named = PARSED[name]
    record = data.draw(odd_record(parsed, named))
    try:
        expected: bytes | None = fastavro_bytes(parsed, record)
    except Exception:  # noqa: BLE001 - fastavro refuses it: the fast path must refuse it too
        expected = None
    try:
        got: bytes | None = WRITERS[name](record)
    except Exception:  # noqa: BLE001 - refused: the serde asks fastavro
        return
    assert got == expected


@pytest.mark.parametrize("name", SCHEMA_FILES)
@SETTINGS
@given(data=st.data())
def test_damaged_bodies_are_refused_or_read_as_fastavro(name: str, data: st.DataObject) -> None:
    parsed, named = PARSED[name]
    good = fastavro_bytes(parsed, data.draw(values(parsed, named)))
    how = data.draw(st.sampled_from(("cut", "extend", "flip")))
    if how == "cut":
        body = good[:data.draw(st.integers(0, max(0, len(good) - 1)))]
    elif how == "extend":
        body = good + data.draw(st.binary(min_size=1, max_size=3))
    else:
        pos = data.draw(st.integers(0, len(good) - 1))
        body = good[:pos] + bytes([data.draw(st.integers(0, 255))]) + good[pos + 1:]
    try:
        expected = fastavro_record(parsed, body)
    except Exception:  # noqa: BLE001
        expected = ValueError
    try:
        got = READERS[name](body)
    except Exception:  # noqa: BLE001 - refused: the serde asks fastavro
        return
    assert expected is not ValueError, f"the generated reader read {body!r}, fastavro refuses it"
    assert same(got, expected)


def test_the_synthetic_schema_is_on_the_fast_path_but_for_what_it_leaves_to_fastavro() -> None:
    parsed, named = PARSED["synthetic"]
    base = {"s": "é", "b": b"\x00", "i": -1, "l": 2**40, "f": 1.5, "d": -2.25, "t": True, "n": None, "fx": b"abcd",
            "e": "GREEN", "m": {"k": 1, "z": None}, "a": [{"k": "x", "when": dt.date(2026, 1, 1)}],
            "nested": {"k": "y"}, "again": ["RED"], "money": Decimal("12.345"), "count": 3, "flag": False,
            "next": None}  # "three" left out: its default's bytes, precomputed
    body = fastavro_bytes(parsed, base)
    assert WRITERS["synthetic"](base) == body
    assert same(READERS["synthetic"](body), fastavro_record(parsed, body))
    with_null = {**base, "three": None}  # the null of a three-branch union is on the fast path, not its others
    assert WRITERS["synthetic"](with_null) == fastavro_bytes(parsed, with_null)
    for field, value in (("three", "a string"), ("three", 5), ("next", dict(base))):
        with pytest.raises(codegen.Slow):
            WRITERS["synthetic"]({**base, field: value})
        with pytest.raises(codegen.Slow):
            READERS["synthetic"](fastavro_bytes(parsed, {**base, field: value}))


def test_long_varints_and_negative_indexes_are_left_to_fastavro() -> None:
    """Bodies fastavro reads in its own way (10-byte varints, a union index of -1) are never read by the fast path."""
    parsed, named = PARSED["LisStatusChange.avsc"]
    reader = codegen.reader(parsed, named)
    record = {"change_id": "C", "mbi": "1EG4TE5MK73", "action": "UPSERT", "premium_subsidy_level": "100",
              "copay_level": "1", "subsidy_source": "A", "start_date": dt.date(2026, 1, 1), "end_date": None,
              "event_time": dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)}
    good = fastavro_bytes(parsed, record)
    assert same(reader(good), fastavro_record(parsed, good))
    ten = b"\x82\x80\x80\x80\x80\x80\x80\x80\x80\x7e"  # 1 as a 10-byte varint, bits past 64 dropped
    assert codegen._read_varint(ten, 1, ten[0]) == (2, 10)
    eleven = b"\x82\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00"
    with pytest.raises(codegen.Slow):
        codegen._read_varint(eleven, 1, eleven[0])
    end = [i for i, f in enumerate(parsed["fields"]) if f["name"] == "end_date"][0]
    assert end > 0
    with pytest.raises(codegen.Slow):  # the union index -1 (zigzag 1): fastavro's list[-1], not for the fast path
        reader(_with_union_index(parsed, record, "end_date", b"\x01"))


def _with_union_index(parsed: Any, record: dict[str, Any], field: str, index: bytes) -> bytes:
    """``record``'s bytes with the union index of ``field`` (null) replaced."""
    names = [f["name"] for f in parsed["fields"]]
    pos = names.index(field)
    before = {f["name"]: record[f["name"]] for f in parsed["fields"][:pos]}
    head = fastavro_bytes({"type": "record", "name": "P", "fields": parsed["fields"][:pos]}, before)
    body = fastavro_bytes(parsed, record)
    assert body[len(head):len(head) + 1] == b"\x00"
    return head + index + body[len(head) + 1:]


# ------------------------------------------------------------------ through the serde

@pytest.fixture(scope="module")
def serde() -> Serde:
    return Serde(SchemaRegistry.embedded())


@pytest.mark.parametrize("topic", schemas.topics())
@SETTINGS
@given(data=st.data())
def test_serde_frames_and_reads_every_topic_as_fastavro(serde: Serde, topic: str, data: st.DataObject) -> None:
    reg = serde.registry
    parsed = reg.reader_schema(topic)
    record = data.draw(values(parsed, parsed["__named_schemas"]))
    expected = frame(reg.id_for_topic(topic), fastavro_bytes(parsed, record))
    assert serde.encode(topic, record) == expected
    assert same(serde.decode(topic, expected), fastavro_record(parsed, expected[5:]))


@pytest.mark.parametrize("topic", schemas.topics())
@SETTINGS
@given(data=st.data())
def test_serde_odd_records_give_fastavros_bytes_or_encode_error(serde: Serde, topic: str,
                                                                 data: st.DataObject) -> None:
    parsed = serde.registry.reader_schema(topic)
    record = data.draw(odd_record(parsed, parsed["__named_schemas"]))
    try:
        expected = frame(serde.registry.id_for_topic(topic), fastavro_bytes(parsed, record))
    except Exception:  # noqa: BLE001
        with pytest.raises(EncodeError):
            serde.encode(topic, record)
        return
    assert serde.encode(topic, record) == expected


PREVIOUS = [(t, v) for t in schemas.topics() for v in schemas.topic_versions(t) if not v.current]


@pytest.mark.parametrize(("topic", "version"), PREVIOUS, ids=[f"{t}-{v.id}" for t, v in PREVIOUS])
@SETTINGS
@given(data=st.data())
def test_values_of_previous_versions_decode_as_before(serde: Serde, topic: str, version: schemas.SchemaVersion,
                                                      data: st.DataObject) -> None:
    """A value written with a previous schema id: fastavro's schema resolution, as before the generated reader."""
    old = parse(schemas.schema_json(version.file))
    record = data.draw(values(old, old["__named_schemas"]))
    body = fastavro_bytes(old, record)
    current = serde.registry.reader_schema(topic)
    try:
        expected = fastavro.schemaless_reader(io.BytesIO(body), old, current)
    except Exception:  # noqa: BLE001 - e.g. an enum symbol the current version dropped: a dead letter either way
        return
    assert same(serde.decode(topic, frame(version.id, body)), expected)


def test_every_schema_file_is_covered() -> None:
    assert len(SCHEMA_FILES) - 1 == len(list(Path(schemas.SCHEMA_DIR).rglob("*.avsc"))) >= 26
    assert all(WRITERS[n].__source__ and READERS[n].__source__ for n in SCHEMA_FILES)  # type: ignore[attr-defined]
