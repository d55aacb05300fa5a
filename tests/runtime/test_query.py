"""streams.runtime.query: one member read by the worker that holds its partition; others say who does."""
from __future__ import annotations

from types import SimpleNamespace

from streams.kafka import clients
from streams.runtime import state as st
from streams.runtime.query import MemberQuery

M = "1EG4TE5MK73"


class Router:
    def table_metadata(self, name: str) -> dict:
        assert name == "members"
        return {"http://a:1": {"members": [0, 1]}, "http://b:2": {"members": [2, 3]}}


def _query(held: set[int]) -> MemberQuery:
    stored = st.Stored({"mbi": M}, {"enrollment-requests": 4}, [])
    st.remember(stored, "enrollment-requests", 4, dead=[("X", "why")])
    table = SimpleNamespace(name="members", data=SimpleNamespace(data={M.encode(): st.encode(stored)}))
    return MemberQuery(table, Router(), "http://a:1", lambda p: p in held, lambda: 4)


def test_the_holder_reads_the_member_with_its_outbox() -> None:
    partition = clients.key_partition(M.encode(), 4)
    status, body = _query({partition}).member(M)
    assert status == 200 and body["found"] and body["partition"] == partition
    assert body["member"] == {"mbi": M} and body["applied"] == {"enrollment-requests": 4}
    assert body["outbox"] == [{"input": "enrollment-requests", "offset": 4, "records": [],
                               "dead_letters": [{"error_code": "X", "error_message": "why"}]}]


def test_another_worker_names_the_holder() -> None:
    partition = clients.key_partition(M.encode(), 4)
    status, body = _query(set()).member(M)
    owner = "http://a:1" if partition in (0, 1) else "http://b:2"
    assert status == 421 and body["error"] == "NOT_HERE" and body["owner"] == (None if owner == "http://a:1" else owner)
    assert _query(set()).routing() == {"self": "http://a:1", "partitions": 4,
                                       "workers": {"http://a:1": [0, 1], "http://b:2": [2, 3]}}
