"""Confluent wire format: magic byte 0, 4-byte big-endian schema id, Avro binary body.

:class:`Serde` encodes a record with its topic's current schema id and
decodes any value whose id the registry knows: the topic's current id directly,
any other known id (e.g. a previous version) with writer -> reader schema
resolution. Decoding failures are :class:`DecodeError` with one of the codes
below; :meth:`Serde.decode_many` never raises and returns one
``(record, None)`` or ``(None, error)`` per value.

Error codes:

``EMPTY_VALUE``        the value is ``None`` or zero bytes (a tombstone)
``WRONG_MAGIC_BYTE``   the first byte is not 0
``UNKNOWN_SCHEMA_ID``  the registry has no schema with that id
``UNDECODABLE``        the Avro body cannot be read with the writer schema (truncated,
                       trailing bytes, bad UTF-8, bad union index, a header shorter
                       than 5 bytes, ...)
``SCHEMA_MISMATCH``    the writer schema cannot be resolved to the topic's reader schema
                       (typically another topic's record type)

The serde is generic: it knows nothing about particular records.

Each topic's current schema is also compiled into a generated writer and reader
(:mod:`streams.kafka.codegen`) the first time the topic is used: a record (or a
value written with the current id) on their fast path is encoded (decoded)
there, anything else by fastavro as before, so the bytes, records and errors
are fastavro's in every case, only cheaper to get.
"""
from __future__ import annotations

import logging
import re
import struct
from collections.abc import Iterable
from io import BytesIO
from typing import Any

import fastavro
from fastavro.read import SchemaResolutionError

from streams.kafka import codegen
from streams.kafka.registry import RegistryError, SchemaRegistry, UnknownSchemaId

MAGIC = 0
HEADER = struct.Struct(">bI")
HEADER_SIZE = HEADER.size  # 5

EMPTY_VALUE = "EMPTY_VALUE"
WRONG_MAGIC_BYTE = "WRONG_MAGIC_BYTE"
UNKNOWN_SCHEMA_ID = "UNKNOWN_SCHEMA_ID"
UNDECODABLE = "UNDECODABLE"
SCHEMA_MISMATCH = "SCHEMA_MISMATCH"
ERROR_CODES = (EMPTY_VALUE, WRONG_MAGIC_BYTE, UNKNOWN_SCHEMA_ID, UNDECODABLE, SCHEMA_MISMATCH)

Record = dict[str, Any]

_reader = fastavro.schemaless_reader
_writer = fastavro.schemaless_writer

log = logging.getLogger(__name__)


class DecodeError(Exception):
    """A value that cannot be decoded; ``error_code`` is one of :data:`ERROR_CODES`."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(f"{error_code}: {message}")
        self.error_code = error_code
        self.message = message

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, DecodeError)
            and other.error_code == self.error_code
            and other.message == self.message
        )

    def __hash__(self) -> int:
        return hash((self.error_code, self.message))


class EncodeError(ValueError):
    """A record that does not fit its topic's schema (missing field, wrong type, bad scale...)."""


def frame(schema_id: int, body: bytes) -> bytes:
    """Prefix an Avro body with the Confluent header."""
    return HEADER.pack(MAGIC, schema_id) + body


def split(data: bytes) -> tuple[int, int]:
    """``(magic, schema_id)`` of a framed value (at least 5 bytes)."""
    return HEADER.unpack_from(data)


class _TopicCodec:
    """Everything decoding one topic needs, looked up once."""

    __slots__ = ("topic", "schema_id", "reader", "resolved", "fast_write", "fast_read")

    def __init__(self, topic: str, schema_id: int, reader: Any) -> None:
        self.topic = topic
        self.schema_id = schema_id
        self.reader = reader
        # writer id -> (writer schema, reader schema or None when identical)
        self.resolved: dict[int, tuple[Any, Any]] = {schema_id: (reader, None)}
        # generated from the current schema (None: not generated; fastavro does all of it)
        self.fast_write: codegen.Writer | None = None
        self.fast_read: codegen.Reader | None = None
        try:
            self.fast_write = codegen.writer(reader, prefix=HEADER.pack(MAGIC, schema_id))
            self.fast_read = codegen.reader(reader, offset=HEADER_SIZE)
        except Exception as exc:  # noqa: BLE001 - a schema the generator cannot handle: fastavro alone
            log.warning("no generated codec for %s (%s: %s); fastavro does it", topic, type(exc).__name__, exc)


class Serde:
    """Encode/decode the values of every topic the registry knows."""

    def __init__(self, registry: SchemaRegistry) -> None:
        self.registry = registry
        self._codecs: dict[str, _TopicCodec] = {}

    def _codec(self, topic: str) -> _TopicCodec:
        codec = self._codecs.get(topic)
        if codec is None:
            codec = _TopicCodec(topic, self.registry.id_for_topic(topic), self.registry.reader_schema(topic))
            self._codecs[topic] = codec
        return codec

    # -- encode -------------------------------------------------------------

    def encode(self, topic: str, record: Record) -> bytes:
        """Framed Avro bytes of ``record`` with ``topic``'s current schema; raises :class:`EncodeError`."""
        codec = self._codec(topic)
        fast = codec.fast_write
        if fast is not None:
            try:
                return fast(record)
            except Exception:  # noqa: BLE001, S110 - off the fast path: fastavro decides (bytes or the error)
                pass
        out = BytesIO()
        out.write(HEADER.pack(MAGIC, codec.schema_id))
        try:
            _writer(out, codec.reader, record)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError, struct.error) as exc:
            raise EncodeError(f"{topic}: record does not fit the schema: {exc!r}") from exc
        return out.getvalue()

    def encode_many(self, topic: str, records: Iterable[Record]) -> list[bytes]:
        """:meth:`encode` for each record."""
        return [self.encode(topic, r) for r in records]

    # -- decode -------------------------------------------------------------

    def decode(self, topic: str, data: bytes | None) -> Record:
        """The record in ``data``, read as ``topic``'s current schema; raises :class:`DecodeError`."""
        record, error = self.decode_many(topic, [data])[0]
        if error is not None:
            raise error
        return record  # type: ignore[return-value]

    def decode_many(
        self, topic: str, values: Iterable[bytes | None]
    ) -> list[tuple[Record | None, DecodeError | None]]:
        """Decode a batch; one ``(record, None)`` or ``(None, DecodeError)`` per value. Never raises.

        An unknown topic makes every value ``UNKNOWN_SCHEMA_ID``.
        """
        try:
            codec = self._codec(topic)
        except Exception as exc:  # unknown topic: nothing to read with
            err = DecodeError(UNKNOWN_SCHEMA_ID, f"no schema for topic {topic!r}: {exc}")
            return [(None, err) for _ in values]
        resolved = codec.resolved
        current = codec.schema_id
        reader = codec.reader
        fast = codec.fast_read
        out: list[tuple[Record | None, DecodeError | None]] = []
        append = out.append
        for data in values:
            if not data:
                append((None, DecodeError(EMPTY_VALUE, "empty value")))
                continue
            if len(data) < HEADER_SIZE or data[0] != MAGIC:
                append((None, _bad_header(data)))
                continue
            schema_id = int.from_bytes(data[1:5], "big")
            if schema_id == current:
                if fast is not None and type(data) is bytes:
                    try:
                        append((fast(data), None))
                        continue
                    except Exception:  # noqa: BLE001, S110 - off the fast path: fastavro decides (record or error)
                        pass
                writer, resolve_to = reader, None
            else:
                pair = resolved.get(schema_id)
                if pair is None:
                    pair_or_error = self._resolve(codec, schema_id)
                    if isinstance(pair_or_error, DecodeError):
                        append((None, pair_or_error))
                        continue
                    pair = pair_or_error
                writer, resolve_to = pair
            # A fresh BytesIO shares the bytes object's buffer (no copy); measured
            # faster than truncating and rewriting one reused buffer.
            bio = BytesIO(data)
            bio.seek(HEADER_SIZE)
            try:
                record = _reader(bio, writer, resolve_to)
            except SchemaResolutionError as exc:
                append((None, DecodeError(SCHEMA_MISMATCH, f"schema id {schema_id} -> {topic}: {exc}")))
                continue
            except Exception as exc:  # noqa: BLE001 - any failure to read the body
                append((None, DecodeError(UNDECODABLE, f"schema id {schema_id}: {type(exc).__name__}: {_plain(exc)}")))
                continue
            end = bio.tell()
            if end != len(data):
                append((None, DecodeError(UNDECODABLE, f"schema id {schema_id}: {len(data) - end} trailing bytes")))
                continue
            append((record, None))
        return out

    def _resolve(self, codec: _TopicCodec, schema_id: int) -> tuple[Any, Any] | DecodeError:
        """Writer/reader pair for a writer id other than the topic's current one (cached on success)."""
        try:
            writer = self.registry.writer_schema(schema_id)
        except UnknownSchemaId as exc:
            return DecodeError(UNKNOWN_SCHEMA_ID, exc.message)
        except RegistryError as exc:
            # Not cached: the next batch tries again.
            return DecodeError(UNKNOWN_SCHEMA_ID, f"schema id {schema_id}: registry unavailable: {exc}")
        except Exception as exc:  # noqa: BLE001 - e.g. a registry schema fastavro cannot parse
            return DecodeError(UNKNOWN_SCHEMA_ID, f"schema id {schema_id}: unusable schema: {exc}")
        if not _same_named_type(writer, codec.reader):
            # Another record type: fastavro would refuse to resolve it on every read.
            return DecodeError(
                SCHEMA_MISMATCH,
                f"schema id {schema_id} is {_name(writer)}, topic {codec.topic} reads {_name(codec.reader)}",
            )
        pair = (writer, None if writer == codec.reader else codec.reader)
        codec.resolved[schema_id] = pair
        return pair


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _plain(exc: BaseException) -> str:
    """An exception's message without object addresses (a dead letter is a pure function of its input)."""
    return _ADDRESS.sub("", str(exc))


def _name(schema: Any) -> str:
    return schema.get("name", "?") if isinstance(schema, dict) else str(schema)


def _same_named_type(writer: Any, reader: Any) -> bool:
    """True if ``writer`` is the reader's record (same full name, or one of the reader's aliases)."""
    if not isinstance(writer, dict) or not isinstance(reader, dict):
        return False
    wname = writer.get("name")
    return wname == reader.get("name") or wname in (reader.get("aliases") or ())


def _bad_header(data: bytes) -> DecodeError:
    if data[0] != MAGIC:
        return DecodeError(WRONG_MAGIC_BYTE, f"magic byte {data[0]}, expected {MAGIC}")
    return DecodeError(UNDECODABLE, f"value of {len(data)} bytes is shorter than the {HEADER_SIZE}-byte header")
