"""streams.runtime.state: the stored value per key (member, applied offsets, outbox)."""
from __future__ import annotations

import orjson

from processors.model import Output
from streams.runtime import state as st


def test_round_trip_and_a_key_without_a_member() -> None:
    stored = st.Stored(None, {"enrollment-requests": 7}, [["enrollment-requests", 7, st.pack((), [("X", "y")])]])
    back = st.decode(st.encode(stored))
    assert back == stored and back.member is None
    assert back.seen("enrollment-requests", 7) and not back.seen("enrollment-requests", 8)
    assert back.entry("enrollment-requests", 7) == [["d", "X", "y"]]
    assert st.member_of(st.encode(stored)) is None


def test_values_written_before_the_envelope_are_read() -> None:
    old = {"mbi": "M", "profile": None, "_applied": {"lis-status-changes": 3},
           "_outbox": [["lis-status-changes", 3, []]]}
    stored = st.decode(orjson.dumps(old))
    assert stored.member == {"mbi": "M", "profile": None}
    assert stored.applied == {"lis-status-changes": 3} and stored.outbox == [["lis-status-changes", 3, []]]


def test_pack_unpack_keeps_the_bytes() -> None:
    items = st.pack([(Output("trr-replies", "S1", {}), b"\x00\x01bytes")], [("CODE", "why")])
    assert st.unpack(items) == ([("trr-replies", "S1", b"\x00\x01bytes")], [("CODE", "why")])


def test_trim_drops_committed_entries_and_keeps_the_newest() -> None:
    stored = st.Stored({"m": 1}, {}, [["a", i, []] for i in range(40)] + [["b", 5, []]])
    st.trim(stored, lambda source: 30 if source == "a" else None)
    assert [(e[0], e[1]) for e in stored.outbox] == [("a", i) for i in range(30, 40)] + [("b", 5)]
    many = st.Stored({"m": 1}, {}, [["a", i, []] for i in range(100)])
    st.trim(many, lambda source: None)
    assert len(many.outbox) == st.MAX_ENTRIES and many.outbox[-1][1] == 99


def test_record_replaces_an_entry_and_marks_it_applied() -> None:
    stored = st.Stored({"m": 1}, {"a": 3}, [["a", 3, ["old"]]])
    st.record(stored, [["a", 3, ["new"]], ["a", 4, []]])
    assert stored.outbox == [["a", 3, ["new"]], ["a", 4, []]] and stored.applied == {"a": 4}


def test_members_skips_runtime_keys_and_keys_without_a_member() -> None:
    items = [(st.GROUP_KEY, st.encode_group({0: 3})), (b"A", st.encode(st.Stored({"x": 1}))),
             (b"B", st.encode(st.Stored(None)))]
    assert [(k, s.member) for k, s in st.members(items)] == [(b"A", {"x": 1})]
    assert st.decode_group(st.encode_group({0: 3, 2: 9})) == {0: 3, 2: 9} and st.decode_group(None) == {}


def test_members_having_a_key_skips_the_values_without_it_unread(monkeypatch) -> None:
    lis = {"lis": [{"premium_subsidy_level": "100"}]}
    outbox = [["cycle-commands:0", 3, st.pack([(Output("trr-replies", "S1", {}), b'"premium_subsidy_level"')])]]
    items = [(st.GROUP_KEY, st.encode_group({0: 3})), (b"A", st.encode(st.Stored(lis))),
             (b"B", st.encode(st.Stored({"lis": []}))),
             (b"C", st.encode(st.Stored({"lis": []}, {}, outbox))),  # the name only in the outbox's bytes
             (b"D", st.encode(st.Stored({"note": "premium_subsidy_level"}))),  # a false positive: read, kept
             (b"E", b'{"lis": [{"premium_subsidy_level": "050"}]}')]  # before the envelope, another encoder
    decoded: list[bytes] = []
    decode = st.decode
    monkeypatch.setattr(st, "decode", lambda raw: decoded.append(raw) or decode(raw))
    got = [k for k, _ in st.members(items, having="premium_subsidy_level")]
    assert got == [b"A", b"D", b"E"]
    assert len(decoded) == 3  # B and C were never decoded
    assert [k for k, _ in st.members(items)] == [b"A", b"B", b"C", b"D", b"E"]


def _entry(source: str, offset: int) -> list:
    return [source, offset, st.pack([(Output("trr-replies", "S1", {}), b"\x00reply%d" % offset)])]


def test_the_outbox_follows_the_head_and_a_value_without_one_is_just_the_head() -> None:
    bare = st.Stored({"mbi": "M"}, {"enrollment-requests": 4})
    assert st.encode(bare) == orjson.dumps({"v": st.VERSION, "m": {"mbi": "M"}, "a": {"enrollment-requests": 4}})
    assert st.outbox_bytes(st.encode(bare)) == 0
    full = st.Stored({"mbi": "M"}, {"enrollment-requests": 4}, [_entry("enrollment-requests", 4)])
    raw = st.encode(full)
    head, sep, tail = raw.partition(b"\n")
    assert head == st.encode(bare) and orjson.loads(tail) == full.outbox
    assert st.decode(raw) == full
    assert st.outbox_bytes(raw) == len(raw) - len(head)


def test_values_of_version_2_are_read_and_measured() -> None:
    outbox = [_entry("lis-status-changes", 9)]
    v2 = orjson.dumps({"v": 2, "m": {"mbi": "M"}, "a": {"lis-status-changes": 9}, "o": outbox})
    assert st.decode(v2) == st.Stored({"mbi": "M"}, {"lis-status-changes": 9}, outbox)
    assert st.outbox_bytes(v2) == len(v2) - len(st.encode(st.Stored({"mbi": "M"}, {"lis-status-changes": 9})))
    assert st.outbox_bytes(orjson.dumps({"v": 2, "m": {}, "a": {}, "o": []})) == 0


def test_trim_raw_drops_committed_entries_and_keeps_the_head_byte_for_byte() -> None:
    stored = st.Stored({"mbi": "M", "x": "é\nnot a separator"}, {"enrollment-requests": 7, "lis-status-changes": 2},
                       [_entry("lis-status-changes", 2), _entry("enrollment-requests", 6), _entry("enrollment-requests", 7)])
    raw = st.encode(stored)
    head = raw.partition(b"\n")[0]
    assert b"\n" not in head  # JSON escapes the newline inside the member
    committed = {"enrollment-requests": 7, "lis-status-changes": 3}
    trimmed = st.trim_raw(raw, committed.get)
    assert trimmed is not None and trimmed.startswith(head + b"\n")
    assert st.decode(trimmed) == st.Stored(stored.member, stored.applied, [_entry("enrollment-requests", 7)])
    assert st.trim_raw(trimmed, committed.get) is None  # nothing more to drop
    assert st.trim_raw(raw, {"enrollment-requests": 8, "lis-status-changes": 3}.get) == head  # all committed
    assert st.trim_raw(raw, lambda source: None) is None  # nothing known to be committed: unchanged
    assert st.trim_raw(head, committed.get) is None and st.trim_raw(None, committed.get) is None
