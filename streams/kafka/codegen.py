"""Avro writers and readers generated from a schema: fastavro's bytes and records, without its per-field dispatch.

fastavro's ``schemaless_writer`` walks the parsed schema for every record: per
field a type dispatch, per union a ``validate`` of each branch, per logical
type a lookup and a conversion call. For a fixed record that walk is most of
the cost (a 33-field ``TrrRecord``: ~40 us here). :func:`writer` and
:func:`reader` turn one parsed schema into one straight-line Python function,
built when the schema is loaded, so they follow whatever schema versions the
registry holds (records, unions with null, enums, arrays, maps, fixed, bytes,
``date``, ``timestamp-millis``, ``decimal`` ...).

**Only a fast path, never a second opinion.** A generated function handles the
values it knows exactly (``None`` in a null branch, ``str`` for strings and enum
symbols, ``int`` within the range fastavro would accept, exact ``date``, aware
``datetime``, ``Decimal``, ``bytes``, ``bool``, ``float``, ``list``, ``dict``);
for anything else (another type, a missing field without a default, a value
fastavro would reject, a union that is not ``[null, X]``, a malformed or
truncated body) it raises :class:`Slow`, and the caller does what it did before:
fastavro, whose bytes, records and exceptions are then the answer. So the
generated code only ever returns what fastavro returns for the same input;
``tests/kafka/test_codegen.py`` checks it byte for byte and record for record
over every schema in ``schemas/`` with hypothesis.

Where exactness needs fastavro's own arithmetic (decimals, logical types with no
fast path here) the generated code calls fastavro's own conversion functions.
Readers decode records written with the schema itself (the topic's current id);
other writer versions go through fastavro's schema resolution.
"""
from __future__ import annotations

import datetime as _dt
import struct
from collections.abc import Callable, Mapping
from decimal import Decimal
from itertools import count
from typing import Any

import fastavro

from streams.kafka.internals.fastavro_private import (
    LOGICAL_READERS,
    LOGICAL_WRITERS,
    extract_logical_type,
    extract_record_type,
)
from streams.kafka.internals.fastavro_private import write_data as _fastavro_write_data

ParsedSchema = Any
Writer = Callable[[Mapping[str, Any]], bytes]
Reader = Callable[[bytes], dict[str, Any]]

PRIMITIVES = frozenset(("null", "boolean", "int", "long", "float", "double", "bytes", "string"))
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1
DAYS_SHIFT = 719163  # date(1970, 1, 1).toordinal()
EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
#: cached conversions per generated function (dates and instants repeat); cleared when this large
CACHE_LIMIT = 4096


class Slow(Exception):
    """The value is off the generated fast path: the caller must use fastavro for it."""


# ------------------------------------------------------------------ helpers the generated code calls

_BYTE = [bytes((i,)) for i in range(256)]
#: zigzag varint of every n in [0, _SMALL) (for lengths, counts, union and enum indexes)
_SMALL = 1024


def _varint(u: int) -> bytes:
    """Varint of a non-negative (already zigzagged) integer."""
    if u < 0x80:
        return _BYTE[u]
    out = bytearray()
    while u & ~0x7F:
        out.append((u & 0x7F) | 0x80)
        u >>= 7
    out.append(u)
    return bytes(out)


def _long(n: int) -> bytes:
    """Zigzag varint of an int in the long range (the caller checked the range)."""
    return _varint((n << 1) ^ (n >> 63))


_LEN = [_varint(2 * n) for n in range(_SMALL)]  # _LEN[n] == _long(n) for 0 <= n < _SMALL


def _count(n: int) -> bytes:
    return _LEN[n] if n < _SMALL else _long(n)


def _read_varint(d: bytes, p: int, b: int) -> tuple[int, int]:
    """The rest of a varint whose first byte ``b`` (at ``p - 1``) had the continuation bit.

    As fastavro reads it, 64 bits wide: up to 10 bytes, of the 10th byte only its lowest bit counts; a
    varint longer than that is left to fastavro (its C shift past 64 bits is not Python's).
    """
    n = b & 0x7F
    shift = 7
    while True:
        b = d[p]
        p += 1
        if shift == 63:
            if b & 0x80:
                raise Slow("varint longer than 10 bytes")
            return n | ((b & 1) << 63), p
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, p
        shift += 7


_pack_f = struct.Struct("<f").pack
_pack_d = struct.Struct("<d").pack
_unpack_f = struct.Struct("<f").unpack_from
_unpack_d = struct.Struct("<d").unpack_from


def _fastavro_bytes(value: Any, schema: Any, named: dict[str, Any], name: str) -> bytes:
    """What fastavro writes for ``value`` as ``schema`` (used at generation time, for defaults)."""
    out = bytearray()
    _fastavro_write_data(out, value, schema, named, name,
                         {"strict": False, "strict_allow_default": False, "disable_tuple_notation": False})
    return bytes(out)


# ------------------------------------------------------------------ code generation

class _Gen:
    """Source lines and the constants they refer to."""

    def __init__(self, named: dict[str, Any]) -> None:
        self.named = named
        self.lines: list[str] = []
        self.env: dict[str, Any] = {
            "Slow": Slow, "_long": _long, "_count": _count, "_LEN": _LEN, "_read_varint": _read_varint,
            "_date": _dt.date, "_datetime": _dt.datetime, "_timedelta": _dt.timedelta, "_Decimal": Decimal,
            "_EPOCH": EPOCH, "_pack_f": _pack_f, "_pack_d": _pack_d, "_unpack_f": _unpack_f,
            "_unpack_d": _unpack_d, "_fromordinal": _dt.date.fromordinal, "CACHE_LIMIT": CACHE_LIMIT,
            "_dict": dict, "_list": list, "_str": str, "_int": int, "_bytes": bytes, "_float": float,
        }
        self._ids = count()
        self.stack: list[str] = []  # records being generated (a recursive reference falls back)
        self.tables: dict[Any, str] = {}

    def var(self, stem: str = "v") -> str:
        return f"{stem}{next(self._ids)}"

    def const(self, value: Any, stem: str = "K") -> str:
        name = f"_{stem}{next(self._ids)}"
        self.env[name] = value
        return name

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def resolve(self, schema: Any) -> Any:
        if isinstance(schema, str) and schema not in PRIMITIVES:
            return self.named[schema]
        return schema

    def build(self, name: str) -> Callable[..., Any]:
        source = "\n".join(self.lines) + "\n"
        code = compile(source, f"<partd generated {name}>", "exec")
        exec(code, self.env)  # noqa: S102 - our own generated source, from a schema
        fn = self.env[name]
        fn.__source__ = source  # type: ignore[attr-defined]
        return fn


def _null_union(schema: list[Any]) -> tuple[int | None, int | None] | None:
    """``(null index, other index)`` of a two-branch union with null, else None."""
    if len(schema) == 2 and "null" in schema and schema.count("null") == 1:
        null = schema.index("null")
        return null, 1 - null
    return None


def _enter(g: _Gen, schema: Any, ind: int) -> tuple[Any, tuple[int | None, int | None] | None] | None:
    """``(schema with a named reference resolved, union)``: for a union ``(index of null or None, index of
    the other branch of a [null, X] union or None)``, else None. Returns None after emitting the
    ``raise Slow`` of a recursive reference (left to fastavro)."""
    if isinstance(schema, str) and schema not in PRIMITIVES and schema in g.stack:
        g.emit(ind, "raise Slow('recursive type')")
        return None
    schema = g.resolve(schema)
    if not isinstance(schema, list):
        return schema, None
    nu = _null_union(schema)
    if nu is not None:
        return schema, nu
    return schema, (schema.index("null") if "null" in schema else None, None)


# -- writer

def _lengths(g: _Gen, tag: bytes) -> str:
    """The name of a table: ``tag`` + the varint of ``2 * n`` (a byte length or count ``n``) for small ``n``."""
    key = ("lengths", tag)
    name = g.tables.get(key)
    if name is None:
        name = g.tables[key] = g.const([tag + _LEN[n] for n in range(_SMALL)], "LEN")
    return name


def _w(g: _Gen, schema: Any, v: str, ind: int, in_union: bool, tag: bytes = b"") -> None:
    """Lines appending ``tag`` (a union branch index, or nothing) and the encoding of the value in local ``v``
    as ``schema`` to ``out`` (via ``a``); the tag is folded into the value's bytes where they are precomputed."""
    entered = _enter(g, schema, ind)
    if entered is None:
        return
    schema, nu = entered
    if nu is not None:
        assert not tag  # a union is never directly in a union (Avro forbids it)
        null, other = nu
        if other is None:  # another kind of union: only its null is on the fast path (None validates nothing else)
            if null is not None:
                g.emit(ind, f"if {v} is None:")
                g.emit(ind + 1, f"a({_BYTE[2 * null]!r})")
                g.emit(ind, "else:")
                ind += 1
            g.emit(ind, "raise Slow('union')")
            return
        other_schema = g.resolve(schema[other])
        g.emit(ind, f"if {v} is None:")
        g.emit(ind + 1, f"a({_BYTE[2 * null]!r})")
        g.emit(ind, "else:")
        if isinstance(other_schema, dict) and extract_record_type(other_schema) in ("record", "error"):
            g.emit(ind + 1, f"if type({v}) is not _dict or '-type' in {v}:")
            g.emit(ind + 2, "raise Slow('record in a union')")
        _w(g, schema[other], v, ind + 1, True, _BYTE[2 * other])
        return
    rtype = extract_record_type(schema)
    logical = extract_logical_type(schema) if isinstance(schema, dict) else None
    if logical and logical in LOGICAL_WRITERS:
        _w_logical(g, schema, rtype, logical, v, ind, in_union, tag)
        return
    if rtype == "null":
        if tag:
            g.emit(ind, f"a({tag!r})")
        return  # fastavro writes nothing, whatever the value
    if rtype in ("string", "bytes"):
        b, n = g.var("b"), g.var("n")
        g.emit(ind, f"if type({v}) is not {'_str' if rtype == 'string' else '_bytes'}:")
        g.emit(ind + 1, "raise Slow")
        if rtype == "string":
            g.emit(ind, f"{b} = {v}.encode()")
        else:
            b = v
        g.emit(ind, f"{n} = len({b})")
        g.emit(ind, f"a({_lengths(g, tag)}[{n}] if {n} < {_SMALL} else {tag!r} + _long({n}))")
        g.emit(ind, f"a({b})")
    elif rtype in ("int", "long"):
        lo, hi = (INT_MIN, INT_MAX) if (in_union and rtype == "int") else (LONG_MIN, LONG_MAX)
        g.emit(ind, f"if type({v}) is not _int or not {lo} <= {v} <= {hi}:")
        g.emit(ind + 1, "raise Slow")
        g.emit(ind, f"a({_lengths(g, tag)}[{v}] if 0 <= {v} < {_SMALL} else {tag!r} + _long({v}))")
    elif rtype == "boolean":
        true, false = tag + _BYTE[1], tag + _BYTE[0]
        g.emit(ind, f"if {v} is True:")
        g.emit(ind + 1, f"a({true!r})")
        g.emit(ind, f"elif {v} is False:")
        g.emit(ind + 1, f"a({false!r})")
        g.emit(ind, "else:")
        g.emit(ind + 1, "raise Slow")
    elif rtype in ("double", "float"):
        g.emit(ind, f"if type({v}) is not _float:")
        g.emit(ind + 1, "raise Slow")
        g.emit(ind, f"a({tag!r} + {'_pack_d' if rtype == 'double' else '_pack_f'}({v}))")
    elif rtype == "enum":
        table = g.const({s: tag + _long(i) for i, s in enumerate(schema["symbols"])}, "E")
        x = g.var("x")
        g.emit(ind, f"{x} = {table}.get({v}) if type({v}) is _str else None")
        g.emit(ind, f"if {x} is None:")
        g.emit(ind + 1, "raise Slow")
        g.emit(ind, f"a({x})")
    elif rtype == "fixed":
        g.emit(ind, f"if type({v}) is not _bytes or len({v}) != {int(schema['size'])}:")
        g.emit(ind + 1, "raise Slow")
        if tag:
            g.emit(ind, f"a({tag!r})")
        g.emit(ind, f"a({v})")
    elif rtype == "array":
        item = g.var("i")
        _w_blocks(g, v, "_list", tag, ind)
        g.emit(ind + 1, f"for {item} in {v}:")
        _w(g, schema["items"], item, ind + 2, False)
        g.emit(ind, "a(b'\\x00')")
    elif rtype == "map":
        key, val = g.var("k"), g.var("m")
        _w_blocks(g, v, "_dict", tag, ind)
        g.emit(ind + 1, f"for {key}, {val} in {v}.items():")
        _w(g, "string", key, ind + 2, False)
        _w(g, schema["values"], val, ind + 2, False)
        g.emit(ind, "a(b'\\x00')")
    elif rtype in ("record", "error"):
        if tag:
            g.emit(ind, f"if type({v}) is not _dict:")
            g.emit(ind + 1, "raise Slow('not a dict')")
            g.emit(ind, f"a({tag!r})")
        _w_record(g, schema, v, ind)
    else:
        g.emit(ind, f"raise Slow({rtype!r})")


def _w_blocks(g: _Gen, v: str, pytype: str, tag: bytes, ind: int) -> None:
    """The start of an array or a map as fastavro writes it: one block (its count) when not empty, then the
    caller's loop over the items (at ``ind + 1``) and the 0 that ends it."""
    g.emit(ind, f"if type({v}) is not {pytype}:")
    g.emit(ind + 1, "raise Slow")
    if tag:
        g.emit(ind, f"a({tag!r})")
    g.emit(ind, f"if {v}:")
    g.emit(ind + 1, f"a(_count(len({v})))")


def _w_record(g: _Gen, schema: dict[str, Any], r: str, ind: int) -> None:
    g.stack.append(schema["name"])
    g.emit(ind, f"if type({r}) is not _dict:")
    g.emit(ind + 1, "raise Slow('not a dict')")
    missing = g.const(object(), "MISSING")
    for field in schema["fields"]:
        name, ftype = field["name"], field["type"]
        v = g.var()
        nullable = "null" in ftype  # fastavro: a missing field of a type with null in it is written as None
        if "default" in field:
            try:
                dbytes: bytes | None = _fastavro_bytes(field.get("default"), ftype, g.named, name)
            except Exception:  # noqa: BLE001 - fastavro cannot write this default: leave the record to it
                dbytes = None
            if (isinstance(ftype, list) and _null_union(ftype) is not None and dbytes is not None
                    and dbytes == _none_bytes(ftype, g.named, name)):
                # the default is written as None is (the usual ``"default": null``): missing == None
                g.emit(ind, f"{v} = {r}.get({name!r})")
                _w(g, ftype, v, ind, False)
                continue
            default = g.const(dbytes, "D") if dbytes is not None else None
            g.emit(ind, f"{v} = {r}.get({name!r}, {missing})")
            g.emit(ind, f"if {v} is {missing}:")
            g.emit(ind + 1, f"a({default})" if default else "raise Slow('default')")
            g.emit(ind, "else:")
            _w(g, ftype, v, ind + 1, False)
        else:
            g.emit(ind, f"{v} = {r}.get({name!r})" if nullable else f"{v} = {r}[{name!r}]")
            _w(g, ftype, v, ind, False)
    g.stack.pop()


def _none_bytes(schema: Any, named: dict[str, Any], name: str) -> bytes | None:
    try:
        return _fastavro_bytes(None, schema, named, name)
    except Exception:  # noqa: BLE001 - None is not a value of this type
        return None


def _w_cached_long(g: _Gen, v: str, ind: int, guard: str, compute: list[str], x: str, lo: int, hi: int,
                   tag: bytes, stem: str) -> None:
    """A logical type over a long (date, instant): the value's bytes from a bounded cache keyed by the value,
    ``compute`` (lines setting ``x``) on a miss; a plain int in range is written as it is (fastavro too)."""
    cache = g.const({}, stem)
    g.emit(ind, f"if {guard}:")
    g.emit(ind + 1, f"{x} = {cache}.get({v})")
    g.emit(ind + 1, f"if {x} is None:")
    for line in compute:
        g.emit(ind + 2, line)
    g.emit(ind + 2, f"if not {lo} <= {x} <= {hi}:")
    g.emit(ind + 3, "raise Slow")
    g.emit(ind + 2, f"if len({cache}) >= CACHE_LIMIT:")
    g.emit(ind + 3, f"{cache}.clear()")
    g.emit(ind + 2, f"{x} = {cache}[{v}] = {tag!r} + _long({x})")
    g.emit(ind + 1, f"a({x})")
    g.emit(ind, f"elif type({v}) is _int and {lo} <= {v} <= {hi}:")
    g.emit(ind + 1, f"a({tag!r} + _long({v}))")
    g.emit(ind, "else:")
    g.emit(ind + 1, "raise Slow")


def _w_logical(g: _Gen, schema: dict[str, Any], rtype: str, logical: str, v: str, ind: int, in_union: bool,
               tag: bytes) -> None:
    lo, hi = (INT_MIN, INT_MAX) if (in_union and rtype == "int") else (LONG_MIN, LONG_MAX)
    if logical == "int-date":
        x = g.var("x")
        _w_cached_long(g, v, ind, f"type({v}) is _date", [f"{x} = {v}.toordinal() - {DAYS_SHIFT}"], x, lo, hi, tag,
                       "DATES")
    elif logical == "long-timestamp-millis":
        x, d = g.var("x"), g.var("d")
        _w_cached_long(g, v, ind, f"type({v}) is _datetime and {v}.tzinfo is not None",
                       [f"{d} = {v} - _EPOCH", f"{x} = ({d}.days * 86400 + {d}.seconds) * 1000 + {d}.microseconds // 1000"],
                       x, lo, hi, tag, "INSTANTS")
    elif logical == "bytes-decimal":
        prep, sch, b = g.const(LOGICAL_WRITERS[logical], "PREP"), g.const(schema, "S"), g.var("b")
        g.emit(ind, f"if type({v}) is _Decimal:")
        g.emit(ind + 1, f"{b} = {prep}({v}, {sch})")
        g.emit(ind, f"elif type({v}) is _bytes:")
        g.emit(ind + 1, f"{b} = {v}")
        g.emit(ind, "else:")
        g.emit(ind + 1, "raise Slow")
        g.emit(ind, f"a({tag!r} + _count(len({b})))")
        g.emit(ind, f"a({b})")
    else:
        g.emit(ind, f"raise Slow({logical!r})")


def writer(schema: ParsedSchema, named: dict[str, Any] | None = None, prefix: bytes = b"") -> Writer:
    """A function ``record -> prefix + Avro body``, the bytes fastavro's ``schemaless_writer`` writes;
    raises :class:`Slow` (or another exception) for anything off its fast path."""
    named = _named(schema, named)
    g = _Gen(named)
    g.env["_PREFIX"] = prefix
    g.emit(0, "def write(r):")
    g.emit(1, "out = [_PREFIX]")
    g.emit(1, "a = out.append")
    _w(g, schema, "r", 1, False)
    g.emit(1, "return b''.join(out)")
    return g.build("write")


# -- reader

def _r_long(g: _Gen, into: str, ind: int) -> None:
    """Lines reading a zigzag long at ``p`` into ``into``."""
    g.emit(ind, f"{into} = d[p]")
    g.emit(ind, "p += 1")
    g.emit(ind, f"if {into} & 0x80:")
    g.emit(ind + 1, f"{into}, p = _read_varint(d, p, {into})")
    g.emit(ind, f"{into} = ({into} >> 1) ^ -({into} & 1)")


def _r_len(g: _Gen, ind: int) -> str:
    """Lines reading a byte length at ``p``; the name of the end offset."""
    n, e = g.var("n"), g.var("e")
    g.emit(ind, f"{n} = d[p]")
    g.emit(ind, "p += 1")
    g.emit(ind, f"if {n} & 0x80:")
    g.emit(ind + 1, f"{n}, p = _read_varint(d, p, {n})")
    g.emit(ind, f"if {n} & 1:")
    g.emit(ind + 1, "raise Slow('negative length')")
    g.emit(ind, f"{e} = p + ({n} >> 1)")
    g.emit(ind, f"if {e} > L:")
    g.emit(ind + 1, "raise Slow('truncated')")
    return e


def _r(g: _Gen, schema: Any, into: str, ind: int) -> None:
    """Lines reading a value of ``schema`` at ``p`` into local ``into`` (as fastavro returns it)."""
    entered = _enter(g, schema, ind)
    if entered is None:
        return
    schema, nu = entered
    if nu is not None:
        null, other = nu
        b = g.var("u")
        g.emit(ind, f"{b} = d[p]")
        g.emit(ind, "p += 1")
        g.emit(ind, f"if {b} == {2 * null if null is not None else -1}:")
        g.emit(ind + 1, f"{into} = None")
        if other is not None:
            g.emit(ind, f"elif {b} == {2 * other}:")
            _r(g, schema[other], into, ind + 1)
        g.emit(ind, "else:")
        g.emit(ind + 1, "raise Slow('union index')")
        return
    rtype = extract_record_type(schema)
    logical = extract_logical_type(schema) if isinstance(schema, dict) and "logicalType" in schema else None
    if logical and logical in LOGICAL_READERS:
        _r_logical(g, schema, rtype, logical, into, ind)
        return
    _r_plain(g, schema, rtype, into, ind)


def _r_plain(g: _Gen, schema: Any, rtype: str, into: str, ind: int) -> None:
    if rtype == "null":
        g.emit(ind, f"{into} = None")
    elif rtype == "string":
        e = _r_len(g, ind)
        g.emit(ind, f"{into} = d[p:{e}].decode()")
        g.emit(ind, f"p = {e}")
    elif rtype == "bytes":
        e = _r_len(g, ind)
        g.emit(ind, f"{into} = d[p:{e}]")
        g.emit(ind, f"p = {e}")
    elif rtype in ("int", "long"):
        _r_long(g, into, ind)
    elif rtype == "boolean":
        g.emit(ind, f"{into} = d[p] != 0")
        g.emit(ind, "p += 1")
    elif rtype == "double":
        g.emit(ind, f"{into}, = _unpack_d(d, p)")
        g.emit(ind, "p += 8")
    elif rtype == "float":
        g.emit(ind, f"{into}, = _unpack_f(d, p)")
        g.emit(ind, "p += 4")
    elif rtype == "enum":
        symbols = g.const(tuple(schema["symbols"]), "SYM")
        i = g.var("i")
        _r_long(g, i, ind)
        g.emit(ind, f"if not 0 <= {i} < {len(schema['symbols'])}:")
        g.emit(ind + 1, "raise Slow('enum index')")
        g.emit(ind, f"{into} = {symbols}[{i}]")
    elif rtype == "fixed":
        size = int(schema["size"])
        g.emit(ind, f"if p + {size} > L:")
        g.emit(ind + 1, "raise Slow('truncated')")
        g.emit(ind, f"{into} = d[p:p + {size}]")
        g.emit(ind, f"p += {size}")
    elif rtype in ("array", "map"):
        n, item, key = g.var("c"), g.var("x"), g.var("k")
        g.emit(ind, f"{into} = " + ("[]" if rtype == "array" else "{}"))
        _r_long(g, n, ind)
        g.emit(ind, f"while {n} != 0:")
        g.emit(ind + 1, f"if {n} < 0:")
        g.emit(ind + 2, f"{n} = -{n}")
        skip = g.var("s")
        _r_long(g, skip, ind + 2)
        g.emit(ind + 1, f"if {n} > L:")
        g.emit(ind + 2, "raise Slow('block count')")
        g.emit(ind + 1, f"for _ in range({n}):")
        if rtype == "array":
            _r(g, schema["items"], item, ind + 2)
            g.emit(ind + 2, f"{into}.append({item})")
        else:
            _r_plain(g, "string", "string", key, ind + 2)
            _r(g, schema["values"], item, ind + 2)
            g.emit(ind + 2, f"{into}[{key}] = {item}")
        _r_long(g, n, ind + 1)
    elif rtype in ("record", "error"):
        g.stack.append(schema["name"])
        names = []
        for field in schema["fields"]:
            v = g.var()
            _r(g, field["type"], v, ind)
            names.append((field["name"], v))
        g.stack.pop()
        # fastavro's record dict: one key per writer field, in schema order (a repeated name keeps the last value)
        g.emit(ind, f"{into} = {{" + ", ".join(f"{n!r}: {v}" for n, v in names) + "}")
    else:
        g.emit(ind, f"raise Slow({rtype!r})")


def _r_logical(g: _Gen, schema: dict[str, Any], rtype: str, logical: str, into: str, ind: int) -> None:
    raw = g.var("w")
    conversions = {"int-date": ("DATES", f"_fromordinal({raw} + {DAYS_SHIFT})"),
                   "long-timestamp-millis": ("INSTANTS", f"_EPOCH + _timedelta(microseconds={raw} * 1000)")}
    if logical in conversions:  # as fastavro's read_date / read_timestamp_millis, from a bounded cache
        stem, expr = conversions[logical]
        cache = g.const({}, stem)
        _r_long(g, raw, ind)
        g.emit(ind, f"{into} = {cache}.get({raw})")
        g.emit(ind, f"if {into} is None:")
        g.emit(ind + 1, f"if len({cache}) >= CACHE_LIMIT:")
        g.emit(ind + 2, f"{cache}.clear()")
        g.emit(ind + 1, f"{into} = {cache}[{raw}] = {expr}")
    else:  # fastavro's own conversion of the plain value (decimal, uuid, time-*, ...)
        fn, sch = g.const(LOGICAL_READERS[logical], "READ"), g.const(schema, "S")
        _r_plain(g, schema, rtype, raw, ind)
        g.emit(ind, f"{into} = {fn}({raw}, {sch}, None)")


def reader(schema: ParsedSchema, named: dict[str, Any] | None = None, offset: int = 0) -> Reader:
    """A function ``bytes -> record``: what fastavro's ``schemaless_reader`` returns for a body written with
    ``schema`` that starts at ``offset`` and fills the rest of the bytes; raises :class:`Slow` (or another
    exception) for anything else (truncated, trailing bytes, a bad index, ...)."""
    named = _named(schema, named)
    g = _Gen(named)
    g.emit(0, "def read(d):")
    g.emit(1, f"p = {int(offset)}")
    g.emit(1, "L = len(d)")
    _r(g, schema, "rec", 1)
    g.emit(1, "if p != L:")
    g.emit(2, "raise Slow('trailing bytes')")
    g.emit(1, "return rec")
    return g.build("read")


def _named(schema: ParsedSchema, named: dict[str, Any] | None) -> dict[str, Any]:
    if named is not None:
        return named
    if isinstance(schema, dict) and "__named_schemas" in schema:
        return schema["__named_schemas"]
    found: dict[str, Any] = {}
    fastavro.parse_schema(schema, named_schemas=found)
    return found
