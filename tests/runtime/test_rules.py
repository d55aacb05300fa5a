"""streams.runtime.rules: a batch of member records through the processors (no Kafka).

The Medicaid side through the member pipeline: beneficiary updates, LIS changes and MAGI
applications trigger auto/facilitated enrollment (seed 004) and MAGI determinations (seed 003);
then the rules' own duties: bad records become dead letters, a redelivery is answered from the
key's outbox (byte for byte), a processor bug becomes a dead letter and is remembered, and a
plan-year the catalog has not seen is noticed (the task catches the catalog up and runs again)."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from streams.kafka.registry import SchemaRegistry
from streams.kafka.serde import Serde
from streams.runtime import state as stored_state
from streams.runtime.deadletters import Source
from streams.runtime.rules import Reference, process_batch
from streams.tools import sample
from streams.tools.jsonconv import record_from_json
from tests.processors.cycle_builders import catalog, plan

SERDE = Serde(SchemaRegistry.embedded())
MBI = "1EG4TE5MK73"
PLANS = catalog(
    plan("S1001", "001", "30.00", region="11", year=2027),
    plan("S2002", "001", "45.00", region="11", parent="ORG2", year=2027),
)
BENCHMARKS = {2027: {"11": Decimal("35.00")}}


class Table:
    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.offset = 0

    def run(self, items: list[tuple[str, dict[str, Any]]], ref: Reference) -> Any:
        sources = []
        for topic, value in items:
            self.offset += 1
            raw = SERDE.encode(topic, record_from_json(topic, value))
            sources.append(Source(topic, 0, self.offset, MBI.encode(), raw, 1_700_000_000_000))
        res = process_batch(sources, SERDE, lambda k: stored_state.decode(self.data.get(k)), ref)
        for k, stored in res.writes.items():
            self.data[k] = stored_state.encode(stored)
        return res


def fbde_update(**kw: Any) -> dict[str, Any]:
    b = sample._bene(MBI, "Ada", "Lovelace", "FL", medicaid_status="FULL_BENEFIT_DUAL", **kw)
    b.update(medicaid_start="2026-10-01", event_time="2027-01-10T12:00:00Z")
    return b


def test_full_benefit_dual_without_a_plan_is_auto_enrolled_117_once() -> None:
    t = Table()
    res = t.run([("beneficiary-updates", fbde_update())], Reference(PLANS, BENCHMARKS))
    replies = [o for o in res.outputs if o.topic == "trr-replies"]
    assert [(o.value["transaction_reply_code"], o.key) for o in replies] == [("117", "S1001")]
    assert replies[0].value["enrollment_source"] == "A"
    again = t.run([("beneficiary-updates", fbde_update())], Reference(PLANS, BENCHMARKS))
    assert not [o for o in again.outputs if o.topic == "trr-replies"], "already enrolled: nothing more"


def test_no_benchmark_means_no_auto_enrollment_yet() -> None:
    res = Table().run([("beneficiary-updates", fbde_update())], Reference(PLANS, {}))
    assert [o for o in res.outputs if o.topic == "trr-replies"] == []
    assert res.dead == []


def test_opt_out_gives_166() -> None:
    b = fbde_update()
    b["opt_out_auto_enrollment"] = True
    res = Table().run([("beneficiary-updates", b)], Reference(PLANS, BENCHMARKS))
    assert [o.value["transaction_reply_code"] for o in res.outputs if o.topic == "trr-replies"] == ["166"]


def test_magi_application_publishes_a_determination_and_updates_the_member() -> None:
    t = Table()
    t.run([("beneficiary-updates", sample._bene(MBI, "Ada", "Lovelace", "FL"))], Reference(PLANS, {}))
    app = {
        "application_id": "APP-1", "mbi": MBI, "state_code": "FL", "application_date": "2027-01-05",
        "birth_date": "1985-05-02", "household_size": 1, "monthly_household_income": "900.00",
        "event_time": "2027-01-05T15:00:00Z",
    }
    res = t.run([("magi-applications", app)], Reference(PLANS, {}))
    dets = [o for o in res.outputs if o.topic == "medicaid-determinations"]
    assert len(dets) == 1 and dets[0].key == MBI
    assert getattr(dets[0].value["outcome"], "value", dets[0].value["outcome"]) == "ELIGIBLE_MAGI"
    SERDE.encode("medicaid-determinations", dets[0].value)  # fits the schema
    assert stored_state.member_of(t.data[MBI.encode()])["profile"]["medicaid_status"] is not None


# --------------------------------------------------------------------------- the rules' own duties
def _txn(offset: int, tracking: str, contract: str = "S1001") -> Source:
    raw = SERDE.encode("enrollment-requests", record_from_json(
        "enrollment-requests", sample._txn(tracking, MBI, 61, contract, "001", "2027-01-01")))
    return Source("enrollment-requests", 0, offset, MBI.encode(), raw, 1_700_000_000_000 + offset)


def _bene(offset: int) -> Source:
    raw = SERDE.encode("beneficiary-updates", record_from_json("beneficiary-updates",
                                                                sample._bene(MBI, "A", "B", "FL")))
    return Source("beneficiary-updates", 0, offset, MBI.encode(), raw, 1_700_000_000_000)


def _codes(res: Any) -> list[tuple[str, str]]:
    out = []
    for topic, _, value, _ in res.sends:
        rec = SERDE.decode(topic, value)
        out.append((topic, rec.get("transaction_reply_code") or rec.get("error_code")))
    return out


def test_each_record_once_in_order_each_key_written_once() -> None:
    res = process_batch([_bene(0), _txn(0, "T1"), _txn(1, "T2")], SERDE, lambda k: None, Reference(PLANS))
    assert _codes(res) == [("trr-replies", "011"), ("trr-replies", "109")]
    assert list(res.writes) == [MBI.encode()] and res.writes[MBI.encode()].applied == {
        "beneficiary-updates": 0, "enrollment-requests": 1}
    assert all(ts == s.timestamp_ms for (_, _, _, ts), s in zip(res.sends, [_txn(0, "T1"), _txn(1, "T2")]))


def test_a_redelivery_is_answered_from_the_outbox_not_judged_again() -> None:
    first = process_batch([_bene(0), _txn(0, "T1")], SERDE, lambda k: None, Reference(PLANS))
    stored = first.writes[MBI.encode()]
    again = process_batch([_txn(0, "T1")], SERDE, lambda k: stored, Reference(PLANS))
    assert [s[2] for s in again.sends] == [s[2] for s in first.sends if s[0] == "trr-replies"]
    assert again.replayed == 1 and again.applied == 0


def test_undecodable_records_and_processor_failures_are_dead_letters_remembered_for_the_redelivery() -> None:
    import processors.transactions as tx

    bad = Source("enrollment-requests", 0, 5, MBI.encode(), b"\x07not avro", 7)
    res = process_batch([bad], SERDE, lambda k: None, Reference(PLANS))
    assert _codes(res) == [("dead-letters", "WRONG_MAGIC_BYTE")]
    assert res.writes == {}  # depends on no state: the same answer on every delivery

    original = tx.HANDLERS[61]
    tx.HANDLERS[61] = lambda *a: 1 / 0  # a processor bug
    try:
        res = process_batch([_bene(0), _txn(0, "T1")], SERDE, lambda k: None, Reference(PLANS))
    finally:
        tx.HANDLERS[61] = original
    assert _codes(res) == [("dead-letters", "PROCESSING_ERROR")]
    stored = res.writes[MBI.encode()]
    again = process_batch([_txn(0, "T1")], SERDE, lambda k: stored, Reference(PLANS))
    assert _codes(again) == [("dead-letters", "PROCESSING_ERROR")]  # not judged again (it would be 011 now)
    assert again.resent_dead == 1


def test_a_plan_year_the_catalog_lacks_is_noticed() -> None:
    from streams.runtime.rules import MissRecorder

    plans = MissRecorder(PLANS)
    process_batch([_bene(0), _txn(0, "T1", contract="S9999")], SERDE, lambda k: None, Reference(plans))
    assert plans.missed
    known = MissRecorder(PLANS)
    process_batch([_bene(0), _txn(0, "T1")], SERDE, lambda k: None, Reference(known))
    assert not known.missed
