"""streams.runtime.decode: size limits, and the key must be the MBI."""
from __future__ import annotations

from streams.kafka.registry import SchemaRegistry
from streams.kafka.serde import Serde
from streams.runtime.deadletters import Source
from streams.runtime.decode import MAX_INPUT_BYTES, MAX_TEXT, decode_batch
from streams.tools import sample
from streams.tools.jsonconv import record_from_json

SERDE = Serde(SchemaRegistry.embedded())
M = "1EG4TE5MK73"


def _src(value: bytes | None, key: bytes | None = M.encode(), topic: str = "enrollment-requests") -> Source:
    return Source(topic, 0, 0, key, value, 1_700_000_000_000)


def _txn(**kw: object) -> bytes:
    return SERDE.encode("enrollment-requests", record_from_json("enrollment-requests",
                                                               sample._txn("T1", M, 61, "S7101", "001", "2027-01-01", **kw)))


def test_limits_and_keys() -> None:
    long_id = SERDE.encode("enrollment-requests", record_from_json(
        "enrollment-requests", sample._txn("T" * (MAX_TEXT + 1), M, 61, "S7101", "001", "2027-01-01")))
    sources = [_src(_txn()), _src(long_id), _src(b"\x00" * (MAX_INPUT_BYTES + 1)), _src(_txn(), key=None),
               _src(_txn(), key=b"2AC3DE4FG56"), _src(b"")]
    out = decode_batch(SERDE, sources)
    assert out[0][0]["mbi"] == M and out[0][1] is None
    assert [p[0] for _, p in out[1:]] == ["FIELD_TOO_LONG", "RECORD_TOO_LARGE", "MISSING_KEY", "KEY_MISMATCH",
                                         "EMPTY_VALUE"]
