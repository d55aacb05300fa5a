"""Building ``DeadLetter`` records: the reason, where it came from, the untouched bytes."""
from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

from processors.model import DEAD_LETTERS, Output


class Source(NamedTuple):
    """Where an input record came from."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None = None


def dead_letter(source: Source, error_code: str, message: str) -> Output:
    """A dead letter for ``source``.

    ``received_at`` is the input record's own broker timestamp (not the wall
    clock), so a replay of the same log gives the same dead letters.
    """
    ts = source.timestamp_ms or 0
    value: dict[str, Any] = {
        "source_topic": source.topic,
        "partition": source.partition,
        "offset": source.offset,
        "error_code": error_code,
        "error_message": message[:2000],
        "raw_key": source.key,
        "raw_value": source.value,
        "received_at": dt.datetime.fromtimestamp(ts / 1000, tz=dt.timezone.utc),
    }
    key = source.key.decode("utf-8", "replace") if source.key is not None else ""
    return Output(DEAD_LETTERS, key, value)
