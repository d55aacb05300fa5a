"""Deterministic identifiers: every id is a pure function of the input that caused it.

Replaying the same input log gives the same ids, so a consumer that sees a
record twice (at-least-once delivery) drops the second by its id.
"""
from __future__ import annotations

import hashlib

_sha256 = hashlib.sha256


def stable_id(prefix: str, *parts: object) -> str:
    """``prefix`` + 20 hex digits of SHA-256 over the parts (joined unambiguously: each part's UTF-8 bytes
    after their length as 4 big-endian bytes)."""
    buf = bytearray()
    for p in parts:
        b = (p if type(p) is str else str(p)).encode()
        buf += len(b).to_bytes(4, "big")
        buf += b
    return f"{prefix}{_sha256(buf).hexdigest()[:20].upper()}"


def draw_fraction(*parts: object) -> float:
    """A reproducible number in [0, 1) from the parts (the 'random' draw).

    Uses the first 8 bytes of SHA-256: uniform for any practical purpose, and
    the same on every machine and every replay.
    """
    h = hashlib.sha256("|".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(h[:8], "big") / 2**64
