"""5. State: what the members table keeps per key, and how it is read and written.

One value per MBI, written once per batch that touched the key: a JSON head,
and only while the key has outbox entries, a newline and the outbox::

    {"v": 3,
     "m": MemberState | None,     # the rules' state (processors/model.py); None: not a known member
     "a": {input: offset}}        # the last offset of each input applied to this key
    \n
    [[input, offset, [item, ...]], ...]   # the outbox, oldest first (absent when empty)

``a`` and the outbox make redelivery safe (at-least-once, :mod:`streams.runtime.commit`):
a record at or below ``a[input]`` already changed this key, and is answered
again from the outbox with the very bytes sent the first time instead of being
judged again against a state that has moved on. A key with ``m = None`` exists
to remember exactly that for records about people partd does not know (a 008
rejection leaves no member, but its redelivery must still get the same 008).

An outbox item is ``["o", topic, key, base64(value bytes)]`` or, for a dead
letter, ``["d", error_code, error_message]`` (rebuilt from the redelivered
record). An entry is needed only until its input offset is committed, so it
is bounded three ways (:func:`trim`, :func:`trim_raw`): entries below the
committed offset of their input are dropped whenever the key is written; after
each commit the runtime rewrites the keys it wrote since the previous one in
its own database without the entries that commit covered (no changelog
record: the changelog keeps the value as written, which a successor may need
after a crash); and a worker restoring a partition from the changelog drops
the entries below the group's committed offsets. So a member at rest is
stored without an outbox, and a changelog record carries only the outputs
of records not yet committed when it was written, at most :data:`MAX_ENTRIES`.
JSON never contains a raw newline, so the outbox is split off without
parsing the head, and a value with no outbox is just the head.

Inputs are named by topic for member topics, and ``cycle-commands:<partition>``
for a cycle command (every member partition applies them, see
:mod:`streams.runtime.cycle`).

Keys starting with ``\\x00`` are the runtime's own (the group's cycle cursor,
:data:`GROUP_KEY`), never an MBI. Values written by earlier versions are read
as well: version 2 (``{"v": 2, "m", "a", "o"}``: the outbox inside the JSON)
and the first layout (a member dict with ``_applied``/``_outbox`` in it).
"""
from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from processors.model import MemberState, Output

_b64 = binascii.b2a_base64  # base64.b64encode without its checks and copy

VERSION = 3
MAX_ENTRIES = 32
#: Between the head and the outbox (never inside JSON: orjson escapes newlines in strings).
SEPARATOR = b"\n"
#: The per-partition key of the runtime's own state (the cycle commands applied so far).
GROUP_KEY = b"\x00partd:group"

Item = list[Any]
Entry = list[Any]  # [input, offset, [item, ...]]


@dataclass
class Stored:
    """A decoded table value."""

    member: MemberState | None = None
    applied: dict[str, int] = field(default_factory=dict)
    outbox: list[Entry] = field(default_factory=list)

    def seen(self, source: str, offset: int) -> bool:
        """True if the record at ``offset`` of input ``source`` was already applied to this key."""
        return self.applied.get(source, -1) >= offset

    def entry(self, source: str, offset: int) -> list[Item] | None:
        for e in self.outbox:
            if e[1] == offset and e[0] == source:
                return e[2]
        return None


def decode(raw: bytes | None) -> Stored | None:
    if not raw:
        return None
    head, _, tail = raw.partition(SEPARATOR)
    value = orjson.loads(head)
    version = value.get("v")
    if version == VERSION:
        return Stored(value.get("m"), value.get("a") or {}, orjson.loads(tail) if tail else [])
    if version == 2:  # the outbox inside the JSON
        return Stored(value.get("m"), value.get("a") or {}, value.get("o") or [])
    # written before the envelope: a member dict with the bookkeeping inside
    applied = value.pop("_applied", None) or {}
    outbox = value.pop("_outbox", None) or []
    return Stored(value, applied, outbox)


def encode(stored: Stored) -> bytes:
    head = orjson.dumps({"v": VERSION, "m": stored.member, "a": stored.applied})
    if not stored.outbox:
        return head
    return head + SEPARATOR + orjson.dumps(stored.outbox)


def outbox_bytes(raw: bytes | None) -> int:
    """How many bytes of a stored value are its outbox (separator included; 0 for none)."""
    if not raw:
        return 0
    head, sep, tail = raw.partition(SEPARATOR)
    if sep:
        return len(sep) + len(tail)
    value = orjson.loads(head)
    if value.get("v") == 2 and value.get("o"):
        return len(raw) - len(encode(Stored(value.get("m"), value.get("a") or {})))
    return 0


def has_outbox(raw: bytes | None) -> bool:
    """Whether a value this version wrote still carries outbox entries (no parsing: the separator)."""
    return bool(raw) and SEPARATOR in raw


def trim_raw(raw: bytes | None, committed: Callable[[str], int | None]) -> bytes | None:
    """:func:`trim` on a stored value; the new value, or None if nothing was dropped (or it has no outbox).

    Only the outbox is parsed (the head is kept byte for byte), so this is cheap
    enough for every key a commit covered and every record a restore reads.
    """
    if not raw:
        return None
    head, sep, tail = raw.partition(SEPARATOR)
    if not sep:
        return None
    stored = Stored(None, {}, orjson.loads(tail))
    before = len(stored.outbox)
    trim(stored, committed)
    if len(stored.outbox) == before:
        return None
    return head + SEPARATOR + orjson.dumps(stored.outbox) if stored.outbox else head


def encode_group(cursor: Mapping[int, int]) -> bytes:
    """The value of :data:`GROUP_KEY`: per partition of ``cycle-commands``, the next offset not yet applied."""
    return orjson.dumps({"cycle": {str(q): o for q, o in sorted(cursor.items())}})


def decode_group(raw: bytes | None) -> dict[int, int]:
    if not raw:
        return {}
    return {int(q): int(o) for q, o in (orjson.loads(raw).get("cycle") or {}).items()}


def member_of(raw: bytes | None) -> MemberState | None:
    """The rules' state in a table value (None for a key that is not a member)."""
    stored = decode(raw)
    return stored.member if stored is not None else None


def trim(stored: Stored, committed: Callable[[str], int | None]) -> None:
    """Drop outbox entries no redelivery can need: below their input's committed offset; keep the newest."""
    kept = []
    for e in stored.outbox:
        done = committed(e[0])
        if done is None or e[1] >= done:
            kept.append(e)
    stored.outbox = kept[-MAX_ENTRIES:]


def record(stored: Stored, entries: Iterable[Entry]) -> None:
    """Add this batch's entries (replacing entries of the same input record) and mark their offsets applied."""
    entries = list(entries)
    if not entries:
        return
    if stored.outbox:
        new = {(e[0], e[1]) for e in entries}
        stored.outbox = [e for e in stored.outbox if (e[0], e[1]) not in new] + entries
    else:  # a member at rest has none
        stored.outbox = entries
    applied = stored.applied
    for source, offset, _ in entries:
        if offset > applied.get(source, -1):
            applied[source] = offset


# ---------------------------------------------------------------- the outbox: one helper for every input
def remember(stored: Stored, source: str, offset: int, values: Iterable[tuple[Output, bytes]] = (),
             dead: Iterable[tuple[str, str]] = ()) -> None:
    """Keep what the record at ``offset`` of input ``source`` caused (its encoded outputs, its dead letters'
    reasons) in the key's outbox, and mark the offset applied: a redelivery is answered with :func:`again`.

    The member runtime's rules (:mod:`streams.runtime.rules`) and the cycle commands
    (:mod:`streams.runtime.cycle`) both record here; entries are bounded by :func:`trim`
    (:data:`MAX_ENTRIES`, and only until their input offset is committed)."""
    record(stored, [[source, offset, pack(values, dead)]])


def again(stored: Stored | None, source: str, offset: int) -> tuple[list[tuple[str, str, bytes]],
                                                                  list[tuple[str, str]]] | None:
    """What the record at ``offset`` of input ``source`` caused the first time, from the key's outbox:
    ``([(topic, key, value bytes)], [(error_code, message)])``, the very bytes sent then; None if the
    outbox has no entry for it (never applied to this key, or the entry was trimmed)."""
    items = stored.entry(source, offset) if stored is not None else None
    return unpack(items) if items is not None else None


def pack(values: Iterable[tuple[Output, bytes]], dead: Iterable[tuple[str, str]] = ()) -> list[Item]:
    """Outbox items for encoded outputs ``(output, value bytes)`` and dead letters ``(code, message)``."""
    items: list[Item] = [["o", o.topic, o.key, _b64(v, newline=False).decode("ascii")] for o, v in values]
    if dead:
        items.extend(["d", code, message] for code, message in dead)
    return items


def unpack(items: Iterable[Item]) -> tuple[list[tuple[str, str, bytes]], list[tuple[str, str]]]:
    """``([(topic, key, value bytes)], [(error_code, message)])`` of stored items."""
    sends: list[tuple[str, str, bytes]] = []
    dead: list[tuple[str, str]] = []
    for item in items:
        if item[0] == "o":
            sends.append((item[1], item[2], base64.b64decode(item[3])))
        elif item[0] == "d":
            dead.append((item[1], item[2]))
    return sends, dead


def members(items: Iterable[tuple[bytes, bytes]], having: str | None = None) -> Iterator[tuple[bytes, Stored]]:
    """``(key, stored)`` of a partition's table items that hold a member (the runtime's own keys skipped).

    ``having``: a key name; a value with no JSON key of that name anywhere is skipped unread (its bytes do not
    contain the name in double quotes, which is how every JSON encoder writes a key of letters and underscores;
    the outbox after :data:`SEPARATOR` is base64, without quotes). The test errs one way only: a value with
    the name elsewhere (in a string) is decoded like any other."""
    mark = f'"{having}"'.encode() if having is not None else None
    for key, raw in items:
        if key[:1] == b"\x00":
            continue
        if mark is not None and mark not in raw:
            continue
        stored = decode(raw)
        if stored is not None and stored.member is not None:
            yield key, stored


def strip(raw: bytes | None) -> Mapping[str, Any] | None:
    """The member a table value holds, without the runtime's bookkeeping (to compare runs)."""
    return member_of(raw)
