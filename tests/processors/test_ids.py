"""Ids are SHA-256 of the length-prefixed parts: the same hex digits for the same parts, on every machine."""
from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from processors.ids import stable_id


def reference(prefix: str, *parts: object) -> str:
    """The definition, spelled out: each part's UTF-8 bytes after their length (4 bytes, big-endian)."""
    h = hashlib.sha256()
    for p in parts:
        b = str(p).encode("utf-8")
        h.update(len(b).to_bytes(4, "big"))
        h.update(b)
    return f"{prefix}{h.hexdigest()[:20].upper()}"


def test_a_known_id() -> None:
    # sha256(b"\0\0\0\x03abc") = 2f3a...; written out so a change of the definition cannot pass unnoticed
    assert stable_id("T", "abc") == "T" + hashlib.sha256(b"\x00\x00\x00\x03abc").hexdigest()[:20].upper()
    assert stable_id("T", "ab", "c") != stable_id("T", "a", "bc")


@given(prefix=st.sampled_from(["T", "N", "P", ""]),
       parts=st.lists(st.one_of(st.text(), st.integers(), st.none(), st.dates()), max_size=5))
def test_stable_id_is_the_length_prefixed_sha256(prefix: str, parts: list[object]) -> None:
    assert stable_id(prefix, *parts) == reference(prefix, *parts)
