"""JSON lines <-> Avro records, for `partd produce` / `partd consume`."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

import schemas
from streams.kafka.registry import SchemaRegistry
from streams.kafka.serde import Serde
from streams.tools.jsonconv import JsonConversionError, record_from_json, record_to_json

UTC = dt.timezone.utc

# One JSON object per topic, as a producer would write it in a .jsonl file.
SAMPLES: dict[str, dict] = {
    "enrollment-requests": {
        "tracking_id": "PLAN-0001", "transaction_code": 61, "mbi": "1EG4TE5MK73", "contract_id": "S1234",
        "pbp_id": "001", "election_type": "A", "enrollment_source": "B", "application_date": "2026-11-02",
        "effective_date": "2027-01-01", "submitted_at": "2026-11-02T10:30:00-05:00", "submitter_id": "S1234",
        "first_name": "Ana", "birth_date": "1955-03-09", "sex": "F",
    },
    "lis-status-changes": {
        "change_id": "SSA-1", "mbi": "1EG4TE5MK73", "action": "UPSERT", "premium_subsidy_level": "100",
        "copay_level": "1", "subsidy_source": "D", "start_date": "2026-01-01", "end_date": None,
        "event_time": "2026-01-01T00:00:00Z",
    },
    "plan-year-updates": {
        "contract_id": "S1234", "pbp_id": "001", "plan_year": 2027, "parent_org_id": "ORG1", "region": "03",
        "plan_type": "PDP", "benefit_type": "BASIC", "basic_premium": "31.5", "waives_de_minimis": True,
        "renewal_status": "RENEWING", "employer_group": False, "event_time": "2026-08-01T12:00:00Z",
    },
    "beneficiary-updates": {
        "mbi": "1EG4TE5MK73", "first_name": "Ana", "last_name": "Ruiz", "birth_date": "1955-03-09", "sex": "F",
        "ssn": "123456789", "state_code": "NY", "county_code": "33010", "part_a_start": "2020-04-01",
        "medicaid_status": "FULL_BENEFIT_DUAL", "medicaid_start": "2025-01-01", "opt_out_passive_enrollment": True,
        "event_time": "2026-01-05T08:00:00.250Z",
    },
    "cycle-commands": {
        "command": "CALCULATE_BENCHMARKS", "plan_year": 2027, "as_of": "2026-07-31T12:00:00Z",
        "reference_month": "2026-06-01", "seed": 42,
    },
    "trr-replies": {
        "mbi": "1EG4TE5MK73", "contract_id": "S1234", "pbp_id": "001", "transaction_code": 61,
        "transaction_reply_code": "212", "trc_type": "ACCEPTED", "trc_short_name": "REASSIGNMENT ACCEPTED",
        "effective_date": "2027-01-01", "transaction_date": "2026-11-01", "election_type": "Y",
        "enrollment_source": "H", "lis_subsidy_source": "A", "lis_premium_subsidy_amount": 40,
        "part_d_premium": 0.5, "cms_processing_timestamp": "2026-11-01T06:00:00Z",
        "file_name": "P.RS1234.SPCLTRD.D261101.T0600000", "cms_tracking_id": "T-abc",
    },
    # issue 23: a state's answers, the same TrrRecord (here a passive enrollment refused, with its reason)
    "state-responses": {
        "mbi": "1EG4TE5MK73", "contract_id": "H9001", "pbp_id": "001", "transaction_code": 61,
        "transaction_reply_code": "108", "trc_type": "REJECTED", "trc_short_name": "ELECTION LIMITS EXCEEDED",
        "transaction_date": "2026-10-10", "cms_processing_timestamp": "2026-10-10T14:00:00Z",
        "file_name": "P.RH9001.DAILYTRR.D261010.T1400000.01", "cms_tracking_id": "T-def",
        "update_source_contract_id": "MD", "reason": "OUTSIDE_WINDOW", "cleanup_id": "CLN-7",
        "member_premium_liability": "3.00",
    },
    "beneficiary-notices": {
        "notice_id": "N-1", "mbi": "1EG4TE5MK73", "notice_type": "REASSIGNMENT_PREMIUM", "publication": "11209",
        "paper_color": "BLUE", "plan_year": 2027, "losing_contract_id": "S1234", "losing_pbp_id": "001",
        "gaining_contract_id": "S5678", "gaining_pbp_id": "002", "current_plan_premium": "45.10",
        "mail_by": "2026-11-15", "zero_premium_options": ["S5678-002", "S9999-001"],
        "issued_at": "2026-11-01T06:00:00Z",
    },
    "plan-notices": {
        "notice_id": "P-1", "contract_id": "S5678", "pbp_id": "002", "notice_type": "OBLIGATION",
        "mbi": "1EG4TE5MK73", "obligation": "SUBMIT_4RX", "due_at": "2026-11-04T06:00:00Z", "plan_year": 2027,
        "issued_at": "2026-11-01T06:00:00Z",
    },
    "state-reassignment-lists": {
        "list_type": "PRELIMINARY", "plan_year": 2027, "state_code": "NY", "mbi": "1EG4TE5MK73",
        "first_name": "Ana", "last_name": "Ruiz",
    },
    "lis-benchmarks": {
        "region": "03", "plan_year": 2027, "reference_month": "2026-06-01", "benchmark_premium": "38.72",
        "lis_enrollment_total": 123456, "plans_weighted": 7, "calculated_at": "2026-07-31T12:00:00Z",
    },
    "magi-applications": {
        "application_id": "APP-1", "mbi": "1EG4TE5MK73", "state_code": "NY", "application_date": "2026-11-01",
        "birth_date": "1980-05-02", "household_size": 2, "monthly_household_income": "1850.25",
        "event_time": "2026-11-01T15:00:00Z",
    },
    "medicaid-determinations": {
        "determination_id": "D-1", "mbi": "1EG4TE5MK73", "application_id": "APP-1", "state_code": "NY",
        "outcome": "ELIGIBLE_MAGI", "group": "ADULT", "age": 46, "household_size": 2,
        "monthly_household_income": "1850.25", "decided_at": "2026-11-01T15:00:00Z",
    },
    "dead-letters": {
        "source_topic": "enrollment-requests", "partition": 3, "offset": 99, "error_code": "WRONG_MAGIC_BYTE",
        "error_message": "magic byte 123", "raw_key": "MUVHNFRFNU1LNzM=", "raw_value": "eyJhIjoxfQ==",
        "received_at": "2026-11-02T15:30:00Z",
    },
}


@pytest.fixture(scope="module")
def serde() -> Serde:
    return Serde(SchemaRegistry.from_env({}))


def test_there_is_a_sample_for_every_topic():
    assert set(SAMPLES) == set(schemas.topics())


@pytest.mark.parametrize("topic", list(SAMPLES))
def test_json_to_avro_to_json_round_trip(serde, topic):
    record = record_from_json(topic, SAMPLES[topic])
    # every field is present (defaults filled in)
    assert set(record) == {f["name"] for f in schemas.topic_schema_json(topic)["fields"]}
    decoded = serde.decode(topic, serde.encode(topic, record))
    assert decoded == record
    out = record_to_json(topic, decoded)
    json.dumps(out)  # JSON-serialisable
    assert record_from_json(topic, out) == record
    assert record_to_json(topic, record_from_json(topic, out)) == out


def test_types_produced_from_json():
    r = record_from_json("enrollment-requests", SAMPLES["enrollment-requests"])
    assert r["application_date"] == dt.date(2026, 11, 2)
    assert r["submitted_at"] == dt.datetime(2026, 11, 2, 15, 30, tzinfo=UTC)
    assert r["submitted_at"].utcoffset() == dt.timedelta(0)
    assert r["correlation_id"] is None and r["rx_member_id"] is None and r["middle_initial"] is None
    p = record_from_json("plan-year-updates", SAMPLES["plan-year-updates"])
    assert p["basic_premium"] == Decimal("31.50") and str(p["basic_premium"]) == "31.50"
    t = record_from_json("trr-replies", SAMPLES["trr-replies"])
    assert str(t["lis_premium_subsidy_amount"]) == "40.00" and str(t["part_d_premium"]) == "0.50"
    d = record_from_json("dead-letters", SAMPLES["dead-letters"])
    assert d["raw_value"] == b'{"a":1}' and d["raw_key"] == b"1EG4TE5MK73"


def test_defaults_for_missing_fields():
    b = record_from_json("beneficiary-updates", SAMPLES["beneficiary-updates"])
    assert b["opt_out_auto_enrollment"] is False and b["opt_out_passive_enrollment"] is True
    assert b["date_of_death"] is None and b["middle_initial"] is None
    n1 = record_from_json("beneficiary-notices", {k: v for k, v in SAMPLES["beneficiary-notices"].items() if k != "zero_premium_options"})
    n2 = record_from_json("beneficiary-notices", {k: v for k, v in SAMPLES["beneficiary-notices"].items() if k != "zero_premium_options"})
    assert n1["zero_premium_options"] == [] and n1["zero_premium_options"] is not n2["zero_premium_options"]


def test_instants_without_a_zone_are_refused_and_epoch_millis_work():
    base = dict(SAMPLES["lis-status-changes"])
    for text, what in (("2026-01-01T05:06:07.891", "an instant without a zone"), ("2026-11-02 14:00", "an instant "
                       "without a zone"), ("2026-10-01", "a date")):
        with pytest.raises(JsonConversionError) as err:
            record_from_json("lis-status-changes", base | {"event_time": text})
        assert str(err.value) == (f"LisStatusChange.event_time: {what} {text!r} where an ISO instant with a zone, e.g. "
                                  '"2026-11-02T14:00:00Z" or "2026-11-02T09:00:00-05:00" is expected (add Z for UTC)')
    eastern = record_from_json("lis-status-changes", base | {"event_time": "2026-01-01T05:06:07.891-05:00"})
    assert eastern["event_time"] == dt.datetime(2026, 1, 1, 10, 6, 7, 891000, tzinfo=UTC)
    millis = record_from_json("lis-status-changes", base | {"event_time": 1767225600000})
    assert millis["event_time"] == dt.datetime(2026, 1, 1, tzinfo=UTC)


def test_to_json_forms():
    out = record_to_json("plan-notices", record_from_json("plan-notices", SAMPLES["plan-notices"]))
    assert out["due_at"] == "2026-11-04T06:00:00.000Z"
    assert out["effective_date"] is None and out["file_name"] is None
    bench = record_to_json("lis-benchmarks", record_from_json("lis-benchmarks", SAMPLES["lis-benchmarks"]))
    assert bench["benchmark_premium"] == "38.72" and bench["reference_month"] == "2026-06-01"
    assert bench["lis_enrollment_total"] == 123456
    dead = record_to_json("dead-letters", record_from_json("dead-letters", SAMPLES["dead-letters"]))
    assert dead["raw_value"] == "eyJhIjoxfQ==" and dead["raw_key"] == "MUVHNFRFNU1LNzM="


@pytest.mark.parametrize(
    ("topic", "change", "fragment"),
    [
        ("enrollment-requests", {"nonsense": 1}, "unknown fields"),
        ("enrollment-requests", {"mbi": None}, "EnrollmentTransaction.mbi"),
        ("enrollment-requests", {"effective_date": "01/01/2027"}, "effective_date"),
        ("enrollment-requests", {"transaction_code": "61"}, "transaction_code"),
        ("enrollment-requests", {"transaction_code": True}, "transaction_code"),
        ("lis-status-changes", {"action": "DELETE"}, "action"),
        ("lis-status-changes", {"event_time": "yesterday"}, "event_time"),
        ("plan-year-updates", {"basic_premium": "31.555"}, "more than 2 decimal places"),
        ("plan-year-updates", {"basic_premium": "abc"}, "basic_premium"),
        ("plan-year-updates", {"basic_premium": "12345678.00"}, "does not fit"),
        ("plan-year-updates", {"waives_de_minimis": "yes"}, "waives_de_minimis"),
        ("dead-letters", {"raw_value": "not base64!"}, "raw_value"),
        ("beneficiary-notices", {"zero_premium_options": "S5678-002"}, "zero_premium_options"),
        ("beneficiary-notices", {"zero_premium_options": ["ok", 3]}, "zero_premium_options[1]"),
    ],
)
def test_bad_json_is_a_conversion_error_naming_the_field(topic, change, fragment):
    with pytest.raises(JsonConversionError) as info:
        record_from_json(topic, SAMPLES[topic] | change)
    assert fragment in str(info.value)


def test_missing_required_field():
    obj = {k: v for k, v in SAMPLES["cycle-commands"].items() if k != "as_of"}
    with pytest.raises(JsonConversionError, match=r"CycleCommand\.as_of: required field is missing"):
        record_from_json("cycle-commands", obj)


def test_unknown_topic_is_a_key_error():
    with pytest.raises(KeyError):
        record_from_json("no-such-topic", {})
