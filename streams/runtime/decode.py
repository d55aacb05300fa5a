"""3. Decode: a batch's records, per topic in one pass, checked against the size limits.

Returns, per record, the decoded value or the reason it goes to dead-letters.
Checks that do not depend on any state (so a redelivered record gets the same
answer):

* ``RECORD_TOO_LARGE``: a value over :data:`MAX_INPUT_BYTES` (not decoded at all);
* the serde's codes (``EMPTY_VALUE``, ``WRONG_MAGIC_BYTE``, ``UNKNOWN_SCHEMA_ID``,
  ``UNDECODABLE``, ``SCHEMA_MISMATCH``);
* ``FIELD_TOO_LONG``: a text field over :data:`MAX_TEXT` characters (names,
  ids and codes are far shorter; this keeps any one record's outputs and the
  member's stored state small);
* ``MISSING_KEY`` / ``KEY_MISMATCH``: the key must be the record's MBI.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from streams.kafka.serde import UNDECODABLE, Serde
from streams.runtime.deadletters import Source

#: The largest input value decoded (a contract record is well under 2 kB).
MAX_INPUT_BYTES = 64 * 1024
#: The longest text field accepted in an input record.
MAX_TEXT = 256

Decoded = tuple[dict[str, Any] | None, tuple[str, str] | None]  # (record, (error_code, message))


def decode_batch(serde: Serde, sources: Sequence[Source], *, keyed_by_mbi: bool = True) -> list[Decoded]:
    """``(record, None)`` or ``(None, (error_code, message))`` for each source, in order. Never raises."""
    out: list[Decoded] = [(None, None)] * len(sources)
    by_topic: dict[str, list[int]] = {}
    for i, s in enumerate(sources):
        if s.value is not None and len(s.value) > MAX_INPUT_BYTES:
            out[i] = (None, ("RECORD_TOO_LARGE", f"value of {len(s.value)} bytes; the limit is {MAX_INPUT_BYTES}"))
        else:
            by_topic.setdefault(s.topic, []).append(i)
    for topic, idxs in by_topic.items():
        try:
            pairs = serde.decode_many(topic, [sources[i].value for i in idxs])
        except Exception as exc:  # noqa: BLE001 - decode_many never raises; belt and braces
            pairs = [(None, _error(UNDECODABLE, type(exc).__name__)) for _ in idxs]
        for i, (record, error) in zip(idxs, pairs):
            if error is not None:
                out[i] = (None, (error.error_code, error.message))
                continue
            out[i] = (None, problem) if (problem := _check(record, sources[i], keyed_by_mbi)) else (record, None)
    return out


def _error(code: str, message: str) -> Any:
    from streams.kafka.serde import DecodeError

    return DecodeError(code, message)


def _check(record: dict[str, Any], source: Source, keyed_by_mbi: bool) -> tuple[str, str] | None:
    # A text field of n characters takes at least n bytes of the value: a value no longer than the limit
    # (plus the 5-byte header) cannot hold a field over it, and most inputs are ~50-100 bytes.
    if source.value is None or len(source.value) > MAX_TEXT + 5:
        for name, value in record.items():
            if isinstance(value, str) and len(value) > MAX_TEXT:
                return "FIELD_TOO_LONG", f"field {name} has {len(value)} characters; the limit is {MAX_TEXT}"
    if keyed_by_mbi:
        if source.key is None:
            return "MISSING_KEY", "record has no key; the key must be the MBI"
        if record.get("mbi") != source.key.decode("utf-8", "replace"):
            return "KEY_MISMATCH", "the record's mbi differs from the message key"
    return None
