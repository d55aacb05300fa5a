"""JSON objects <-> Avro records, driven by each topic's schema.

Used by ``partd produce TOPIC FILE.jsonl`` (one JSON object per line ->
:func:`record_from_json` -> Serde.encode) and ``partd consume TOPIC``
(Serde.decode -> :func:`record_to_json` -> one JSON line).

JSON forms, by Avro type (the walk follows the topic's current schema):

==========================  ===============================  =================================
Avro                        from JSON accepts                to JSON gives
==========================  ===============================  =================================
int/date                    ``"2026-01-01"`` (or epoch days) ``"2026-01-01"``
long/timestamp-millis       ISO instant with ``Z`` or an     ``"2026-10-04T10:00:00.000Z"``
                            offset (or epoch millis); none
                            is an error (never guessed)
bytes/decimal(p, s)         ``"31.5"``, ``31.5``, ``31``      ``"31.50"`` (a string: exact)
                            -> Decimal with s places; more
                            places than s is an error
bytes                       base64 string                    base64 string
enum                        a symbol                         the symbol
["null", T]                 null / missing -> None           null
array, map, record          recursively                      recursively
int, long, boolean, string  the JSON value, type-checked     the value
==========================  ===============================  =================================

A field missing from the JSON object takes its schema default (``null`` for
optional fields, ``false`` for the opt-out flags, ``[]`` for arrays); a
missing field without a default, or a key that is not a field, is a
:class:`JsonConversionError`.
"""
from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

import schemas

Converter = Callable[[Any, str], Any]
Record = dict[str, Any]

_EPOCH = dt.date(1970, 1, 1)
_UTC = dt.timezone.utc
_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


class JsonConversionError(ValueError):
    """A JSON value that does not fit the schema; the message starts with the field path."""


def record_from_json(topic: str, obj: dict[str, Any]) -> Record:
    """The Avro record (Python values fastavro writes) for a JSON object on ``topic``."""
    return _converters(topic)[0](obj, _root(topic))


def record_to_json(topic: str, record: Record) -> dict[str, Any]:
    """The JSON object (json.dumps-able) for a decoded record of ``topic``."""
    return _converters(topic)[1](record, _root(topic))


def _root(topic: str) -> str:
    return schemas.topic_schema_file(topic).removesuffix(".avsc").rsplit("/", 1)[-1]


@lru_cache(maxsize=None)
def _converters(topic: str) -> tuple[Converter, Converter]:
    raw = schemas.topic_schema_json(topic)
    return _Builder(True).build(raw), _Builder(False).build(raw)


def _fail(path: str, message: str) -> JsonConversionError:
    return JsonConversionError(f"{path}: {message}")


# -- leaf converters: from JSON --------------------------------------------


def _date_in(value: Any, path: str) -> dt.date:
    if isinstance(value, dt.datetime):
        raise _fail(path, f"expected a date, got an instant {value!r}")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return _EPOCH + dt.timedelta(days=value)
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise _fail(path, f"expected an ISO date (YYYY-MM-DD), got {value!r}")


#: What an instant looks like in JSON (said in every error about one).
INSTANT_FORM = "an ISO instant with a zone, e.g. \"2026-11-02T14:00:00Z\" or \"2026-11-02T09:00:00-05:00\""


def _instant_in(value: Any, path: str) -> dt.datetime:
    if isinstance(value, dt.datetime):
        parsed = value  # a Python caller's datetime: naive is UTC
    elif isinstance(value, int) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(0, _UTC) + dt.timedelta(milliseconds=value)
    elif isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise _fail(path, f"expected {INSTANT_FORM}, got {value!r}") from None
        if parsed.tzinfo is None:
            # "2026-11-02 14:00" or a date: which zone? Eastern (CMS's deadlines) and UTC differ by hours,
            # enough to move a passive enrollment out of its window: never guessed.
            what = "a date" if len(value.strip()) <= 10 else "an instant without a zone"
            raise _fail(path, f"{what} {value!r} where {INSTANT_FORM} is expected (add Z for UTC)")
    else:
        raise _fail(path, f"expected {INSTANT_FORM}, got {value!r}")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=_UTC)
    return parsed.astimezone(_UTC)


def _decimal_in(scale: int, precision: int) -> Converter:
    quantum = Decimal(1).scaleb(-scale)
    limit = Decimal(10) ** (precision - scale)

    def convert(value: Any, path: str) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
            raise _fail(path, f"expected a decimal number or string, got {value!r}")
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise _fail(path, f"expected a decimal number or string, got {value!r}") from None
        if not number.is_finite():
            raise _fail(path, f"expected a finite decimal, got {value!r}")
        quantized = number.quantize(quantum)
        if quantized != number:
            raise _fail(path, f"{value!r} has more than {scale} decimal places")
        if abs(quantized) >= limit:
            raise _fail(path, f"{value!r} does not fit decimal({precision},{scale})")
        return quantized

    return convert


def _bytes_in(value: Any, path: str) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            pass
    raise _fail(path, f"expected base64 text, got {value!r}")


def _typed(kinds: tuple[type, ...], label: str) -> Converter:
    def convert(value: Any, path: str) -> Any:
        if isinstance(value, bool) and bool not in kinds:
            raise _fail(path, f"expected {label}, got {value!r}")
        if not isinstance(value, kinds):
            raise _fail(path, f"expected {label}, got {value!r}")
        return value

    return convert


def _float_in(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(path, f"expected a number, got {value!r}")
    return float(value)


def _null_in(value: Any, path: str) -> None:
    if value is not None:
        raise _fail(path, f"expected null, got {value!r}")
    return None


# -- leaf converters: to JSON ----------------------------------------------


def _date_out(value: Any, path: str) -> str:
    return value.isoformat()


def _instant_out(value: Any, path: str) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=_UTC)
    text = value.astimezone(_UTC).isoformat(timespec="milliseconds")
    return text.removesuffix("+00:00") + "Z"


def _decimal_out(value: Any, path: str) -> str:
    return str(value)


def _bytes_out(value: Any, path: str) -> str:
    return base64.b64encode(bytes(value)).decode("ascii")


def _same(value: Any, path: str) -> Any:
    return value


# -- the schema walk ---------------------------------------------------------


class _Builder:
    """Builds one converter per schema node; named types are remembered for references."""

    def __init__(self, from_json: bool) -> None:
        self.from_json = from_json
        self.named: dict[str, Converter] = {}
        self.namespace = ""

    def build(self, schema: Any, namespace: str = "") -> Converter:
        if isinstance(schema, str):
            return self._reference_or_primitive(schema, namespace)
        if isinstance(schema, list):
            return self._union([self.build(s, namespace) for s in schema], schema)
        kind = schema["type"]
        logical = schema.get("logicalType")
        if kind == "record":
            return self._record(schema, namespace)
        if kind == "enum":
            return self._enum(schema, namespace)
        if kind == "fixed":
            conv = _bytes_in if self.from_json else _bytes_out
            self._name(schema, namespace, conv)
            return conv
        if kind == "array":
            return self._array(self.build(schema["items"], namespace))
        if kind == "map":
            return self._map(self.build(schema["values"], namespace))
        if logical == "date" and kind == "int":
            return _date_in if self.from_json else _date_out
        if logical in ("timestamp-millis", "timestamp-micros") and kind == "long":
            return _instant_in if self.from_json else _instant_out
        if logical == "decimal" and kind == "bytes":
            if self.from_json:
                return _decimal_in(int(schema.get("scale", 0)), int(schema["precision"]))
            return _decimal_out
        return self.build(kind, namespace)

    def _reference_or_primitive(self, name: str, namespace: str) -> Converter:
        if name in _PRIMITIVES:
            return self._primitive(name)
        full = name if "." in name else f"{namespace}.{name}" if namespace else name
        named = self.named.get(full) or self.named.get(name)
        if named is None:
            raise ValueError(f"unknown named type {name!r}")
        return named

    def _primitive(self, name: str) -> Converter:
        if not self.from_json:
            return _bytes_out if name == "bytes" else _same
        return {
            "null": _null_in,
            "boolean": _typed((bool,), "true or false"),
            "int": _typed((int,), "an integer"),
            "long": _typed((int,), "an integer"),
            "float": _float_in,
            "double": _float_in,
            "bytes": _bytes_in,
            "string": _typed((str,), "a string"),
        }[name]

    def _name(self, schema: dict[str, Any], namespace: str, conv: Converter) -> str:
        name = schema["name"]
        ns = schema.get("namespace", namespace)
        full = name if "." in name else f"{ns}.{name}" if ns else name
        self.named[full] = conv
        return full.rpartition(".")[0]

    def _union(self, branches: list[Converter], schema: list[Any]) -> Converter:
        nullable = "null" in schema
        others = [b for b, s in zip(branches, schema) if s != "null"]

        def convert(value: Any, path: str) -> Any:
            if value is None:
                if nullable:
                    return None
                raise _fail(path, "null is not allowed")
            errors = []
            for branch in others:
                try:
                    return branch(value, path)
                except JsonConversionError as exc:
                    errors.append(str(exc))
            raise JsonConversionError(errors[0] if len(errors) == 1 else f"{path}: no union branch fits: {errors}")

        return convert

    def _enum(self, schema: dict[str, Any], namespace: str) -> Converter:
        symbols = frozenset(schema["symbols"])

        def convert(value: Any, path: str) -> Any:
            if not isinstance(value, str) or value not in symbols:
                raise _fail(path, f"{value!r} is not one of {sorted(symbols)}")
            return value

        conv: Converter = convert if self.from_json else _same
        self._name(schema, namespace, conv)
        return conv

    def _array(self, item: Converter) -> Converter:
        def convert(value: Any, path: str) -> list[Any]:
            if not isinstance(value, (list, tuple)):
                raise _fail(path, f"expected a list, got {value!r}")
            return [item(v, f"{path}[{i}]") for i, v in enumerate(value)]

        return convert

    def _map(self, item: Converter) -> Converter:
        def convert(value: Any, path: str) -> dict[str, Any]:
            if not isinstance(value, dict):
                raise _fail(path, f"expected an object, got {value!r}")
            return {k: item(v, f"{path}.{k}") for k, v in value.items()}

        return convert

    def _record(self, schema: dict[str, Any], namespace: str) -> Converter:
        fields: list[tuple[str, Converter, bool, Any]] = []
        names: frozenset[str] = frozenset(f["name"] for f in schema["fields"])
        from_json = self.from_json

        def convert(value: Any, path: str) -> Record:
            if not isinstance(value, dict):
                raise _fail(path, f"expected an object, got {value!r}")
            if from_json:
                extra = value.keys() - names
                if extra:
                    raise _fail(path, f"unknown fields {sorted(extra)}")
            out: Record = {}
            for name, conv, has_default, default in fields:
                if name in value:
                    out[name] = conv(value[name], f"{path}.{name}")
                elif has_default:
                    out[name] = copy.deepcopy(default) if from_json else default
                else:
                    raise _fail(f"{path}.{name}", "required field is missing")
            return out

        # Register before building the fields so a recursive reference resolves.
        inner_ns = self._name(schema, namespace, convert)
        for f in schema["fields"]:
            conv = self.build(f["type"], inner_ns)
            fields.append((f["name"], conv, "default" in f, _default_value(f, conv, from_json)))
        return convert


def _default_value(field: dict[str, Any], conv: Converter, from_json: bool) -> Any:
    """A field's default as a record value (from JSON) or as JSON (to JSON: None for a missing key)."""
    if "default" not in field:
        return None
    if not from_json:
        return None
    default = field["default"]
    if default is None:
        return None
    try:
        return conv(default, field["name"])
    except JsonConversionError:
        return default
