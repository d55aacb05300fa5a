"""Input records and the ``DeadLetter`` records built for the ones that cannot be applied.

A dead letter carries the reason, where the record came from and its bytes:
untouched up to :data:`MAX_RAW_KEY` / :data:`MAX_RAW_VALUE` bytes, else only a
prefix, with the whole record's size and SHA-256, so that no input, however
large, makes an output the producer cannot send (docs/delivery.md, "Size limits").
"""
from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any, NamedTuple

from processors.model import DEAD_LETTERS, Output

#: The most of a record's key and value a dead letter carries (the rest: size and SHA-256).
MAX_RAW_KEY = 1024
MAX_RAW_VALUE = 64 * 1024
MAX_MESSAGE = 2000


class Source(NamedTuple):
    """An input record: where it is, its bytes and the timestamp its producer gave it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None = None


def dead_letter(source: Source, error_code: str, message: str) -> Output:
    """A dead letter for ``source``.

    ``received_at`` is the input record's own timestamp (not the wall clock),
    so a replay of the same log gives the same dead letters.
    """
    ts = source.timestamp_ms or 0
    key, value = source.key, source.value
    truncated = (key is not None and len(key) > MAX_RAW_KEY) or (value is not None and len(value) > MAX_RAW_VALUE)
    record: dict[str, Any] = {
        "source_topic": source.topic,
        "partition": source.partition,
        "offset": source.offset,
        "error_code": error_code,
        "error_message": message[:MAX_MESSAGE],
        "raw_key": key[:MAX_RAW_KEY] if key is not None else None,
        "raw_value": value[:MAX_RAW_VALUE] if value is not None else None,
        "received_at": dt.datetime.fromtimestamp(ts / 1000, tz=dt.timezone.utc),
        "raw_key_size": len(key) if key is not None else None,
        "raw_value_size": len(value) if value is not None else None,
        "raw_value_sha256": hashlib.sha256(value).hexdigest() if value is not None else None,
        "truncated": truncated,
    }
    out_key = key[:MAX_RAW_KEY].decode("utf-8", "replace") if key is not None else ""
    return Output(DEAD_LETTERS, out_key, record)
