"""streams.runtime.deadletters: a dead letter carries the reason, where the record was, and its bytes (bounded)."""
from __future__ import annotations

import datetime as dt

from streams.kafka.registry import SchemaRegistry
from streams.kafka.serde import Serde
from streams.runtime.deadletters import MAX_RAW_KEY, MAX_RAW_VALUE, Source, dead_letter

SERDE = Serde(SchemaRegistry.embedded())
M = "1EG4TE5MK73"


def _src(value: bytes | None, key: bytes | None = M.encode()) -> Source:
    return Source("enrollment-requests", 3, 17, key, value, 1_700_000_000_000)


def test_a_dead_letter_keeps_a_bounded_prefix_size_and_hash() -> None:
    import hashlib

    big = bytes(range(256)) * 1000
    letter = dead_letter(_src(big), "RECORD_TOO_LARGE", "x" * 5000)
    v = letter.value
    assert v["raw_value"] == big[:MAX_RAW_VALUE] and v["truncated"] and v["raw_value_size"] == len(big)
    assert v["raw_value_sha256"] == hashlib.sha256(big).hexdigest() and len(v["error_message"]) == 2000
    SERDE.encode(letter.topic, v)  # fits the schema
    small = dead_letter(_src(b"abc"), "X", "y").value
    assert small["raw_value"] == b"abc" and not small["truncated"]


def test_a_dead_letter_says_where_the_record_was_and_when_it_was_published() -> None:
    letter = dead_letter(_src(b"\x07x"), "WRONG_MAGIC_BYTE", "magic byte 7")
    assert letter.topic == "dead-letters" and letter.key == M
    v = letter.value
    assert (v["source_topic"], v["partition"], v["offset"]) == ("enrollment-requests", 3, 17)
    assert v["received_at"] == dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.timezone.utc)  # the record's own time
    assert v["raw_key"] == M.encode() and v["raw_value"] == b"\x07x" and not v["truncated"]


def test_a_huge_key_is_cut_too_and_a_record_without_key_or_value_still_fits() -> None:
    big_key = b"K" * (MAX_RAW_KEY + 5)
    v = dead_letter(_src(b"v", key=big_key), "X", "y").value
    assert v["raw_key"] == big_key[:MAX_RAW_KEY] and v["raw_key_size"] == len(big_key) and v["truncated"]
    none = dead_letter(_src(None, key=None), "MISSING_KEY", "no key")
    assert none.key == "" and none.value["raw_value"] is None and none.value["raw_value_sha256"] is None
    SERDE.encode(none.topic, none.value)
