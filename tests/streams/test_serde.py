"""Confluent wire format: round trips for every topic, every error code, previous writers."""
from __future__ import annotations

import copy
import datetime as dt
import io
import struct
from decimal import Decimal

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import schemas
from streams.kafka.registry import SchemaRegistry
from streams.kafka.serde import (
    EMPTY_VALUE,
    ERROR_CODES,
    SCHEMA_MISMATCH,
    UNDECODABLE,
    UNKNOWN_SCHEMA_ID,
    WRONG_MAGIC_BYTE,
    DecodeError,
    EncodeError,
    Serde,
    frame,
    split,
)

UTC = dt.timezone.utc
TOPICS = list(schemas.topics())


@pytest.fixture(scope="module")
def registry() -> SchemaRegistry:
    return SchemaRegistry.from_env({})


@pytest.fixture(scope="module")
def serde(registry) -> Serde:
    return Serde(registry)


def _value_for(field_type, name: str, i: int):
    """A non-null sample value for a field type (schema-driven, so every field is covered)."""
    if isinstance(field_type, list):
        return _value_for([t for t in field_type if t != "null"][0], name, i)
    if isinstance(field_type, dict):
        logical = field_type.get("logicalType")
        if logical == "date":
            return dt.date(2026, 1, 1) + dt.timedelta(days=i)
        if logical == "timestamp-millis":
            return dt.datetime(2026, 10, 4, 10, 0, i % 60, 123000, tzinfo=UTC)
        if logical == "decimal":
            return Decimal(f"{i}.25")
        if field_type["type"] == "enum":
            return field_type["symbols"][i % (len(field_type["symbols"]) - 1)]
        if field_type["type"] == "array":
            items = field_type["items"]
            if isinstance(items, dict) and items.get("type") == "record":  # e.g. zero_premium_option_plans
                return [{f["name"]: _value_for(f["type"], f"{name}-{j}-{f['name']}", i + j)
                         for f in items["fields"]} for j in range(2)]
            return [f"{name}-{j}" for j in range(3)]
        field_type = field_type["type"]
    return {
        "string": f"{name}-é-{i}",
        "int": 1000 + i,
        "long": 2**40 + i,
        "boolean": i % 2 == 0,
        "bytes": bytes(range(i % 7, 20)),
    }[field_type]


def full_record(topic: str) -> dict:
    raw = schemas.topic_schema_json(topic)
    return {f["name"]: _value_for(f["type"], f["name"], i) for i, f in enumerate(raw["fields"])}


def minimal_record(topic: str) -> dict:
    """Only required fields set; optional ones None, defaults where the schema has them."""
    raw = schemas.topic_schema_json(topic)
    out = {}
    for i, f in enumerate(raw["fields"]):
        if isinstance(f["type"], list):
            out[f["name"]] = None
        elif "default" in f:
            out[f["name"]] = copy.deepcopy(f["default"])
        else:
            out[f["name"]] = _value_for(f["type"], f["name"], i)
    return out


ENROLLMENT = {
    "tracking_id": "PLAN-0001", "correlation_id": "corr-9", "transaction_code": 61, "mbi": "1EG4TE5MK73",
    "contract_id": "S1234", "pbp_id": "001", "election_type": "A", "enrollment_source": "B",
    "sep_reason": None, "disenrollment_reason": None, "application_date": dt.date(2026, 11, 2),
    "effective_date": dt.date(2027, 1, 1), "submitted_at": dt.datetime(2026, 11, 2, 15, 30, tzinfo=UTC),
    "submitter_id": "S1234", "first_name": "Ana", "last_name": "Ruiz", "middle_initial": None,
    "birth_date": dt.date(1955, 3, 9), "sex": "F", "rx_bin": None, "rx_pcn": None, "rx_group": None,
    "rx_member_id": None, "cleanup_id": None,
}


@pytest.mark.parametrize("topic", TOPICS)
@pytest.mark.parametrize("builder", [full_record, minimal_record])
def test_round_trip_every_topic(serde, registry, topic, builder):
    record = builder(topic)
    data = serde.encode(topic, record)
    magic, schema_id = split(data)
    assert magic == 0
    assert schema_id == registry.id_for_topic(topic)
    assert serde.decode(topic, data) == record


def test_known_wire_bytes_of_an_enrollment(serde):
    data = serde.encode("enrollment-requests", ENROLLMENT)
    assert data[:5] == b"\x00\x00\x00\x01\x91"  # id 401 (issue 23)
    # the body is plain Avro binary: fastavro alone reads it back
    body = fastavro.schemaless_reader(io.BytesIO(data[5:]), fastavro.parse_schema(schemas.schema_json("EnrollmentTransaction")))
    assert body == ENROLLMENT
    assert body["submitted_at"].tzinfo is not None


def test_embedded_ids_are_the_checked_in_ones(registry):
    # 1..13, except the schemas issues 13/16 extended (200 + n), issue 22 extended (300 + n) and issue 23 extended
    # (400 + n): a changed schema gets a new id and its former version stays readable under its old id
    # (schemas/previous/*.v2/.v3/.v4.avsc). Where issues 22 and 23 changed the same record (BeneficiaryNotice,
    # PlanNotice, StateListEntry) the current one has both's fields under issue 22's id and issue 23's is kept.
    # state-responses (issue 23, a new topic) has trr-replies' schema under an id of its own.
    assert [registry.id_for_topic(t) for t in TOPICS] == [401, 2, 403, 204, 305, 406, 307, 308, 309, 10, 211, 12, 313,
                                                           416]


def test_encode_rejects_a_record_that_does_not_fit(serde):
    bad = dict(ENROLLMENT, transaction_code="sixty-one")
    with pytest.raises(EncodeError):
        serde.encode("enrollment-requests", bad)
    missing = {k: v for k, v in ENROLLMENT.items() if k != "mbi"}
    with pytest.raises(EncodeError):
        serde.encode("enrollment-requests", missing)
    too_precise = full_record("lis-benchmarks") | {"benchmark_premium": Decimal("31.255")}
    with pytest.raises(EncodeError):
        serde.encode("lis-benchmarks", too_precise)


# -- error codes -----------------------------------------------------------------


def _code(serde, topic, data):
    with pytest.raises(DecodeError) as info:
        serde.decode(topic, data)
    assert info.value.message
    return info.value.error_code


def test_empty_value(serde):
    assert _code(serde, "enrollment-requests", b"") == EMPTY_VALUE
    assert _code(serde, "enrollment-requests", None) == EMPTY_VALUE


def test_wrong_magic_byte(serde):
    good = serde.encode("enrollment-requests", ENROLLMENT)
    assert _code(serde, "enrollment-requests", b"\x01" + good[1:]) == WRONG_MAGIC_BYTE
    assert _code(serde, "enrollment-requests", b'{"mbi": "1EG4TE5MK73"}') == WRONG_MAGIC_BYTE
    assert _code(serde, "enrollment-requests", b"\xff") == WRONG_MAGIC_BYTE


def test_header_shorter_than_five_bytes_is_undecodable(serde):
    assert _code(serde, "enrollment-requests", b"\x00\x00\x01") == UNDECODABLE


def test_unknown_schema_id(serde):
    good = serde.encode("enrollment-requests", ENROLLMENT)
    assert _code(serde, "enrollment-requests", frame(999, good[5:])) == UNKNOWN_SCHEMA_ID
    assert _code(serde, "enrollment-requests", frame(2**32 - 1, good[5:])) == UNKNOWN_SCHEMA_ID


def test_truncated_body_is_undecodable(serde):
    good = serde.encode("enrollment-requests", ENROLLMENT)
    for cut in (5, 6, 10, len(good) - 1):
        assert _code(serde, "enrollment-requests", good[:cut]) == UNDECODABLE, cut


def test_trailing_bytes_are_undecodable(serde):
    good = serde.encode("enrollment-requests", ENROLLMENT)
    assert _code(serde, "enrollment-requests", good + b"\x00") == UNDECODABLE
    assert _code(serde, "enrollment-requests", good + b"garbage") == UNDECODABLE


def test_bad_utf8_and_bad_union_index_are_undecodable(serde):
    # DeadLetter starts with source_topic (string): length 2, bytes ff fe
    assert _code(serde, "dead-letters", frame(11, b"\x04\xff\xfe")) == UNDECODABLE
    # EnrollmentTransaction: tracking_id "a", then correlation_id union index 7 (zigzag 14)
    assert _code(serde, "enrollment-requests", frame(1, b"\x02a\x0e")) == UNDECODABLE


def test_another_topics_record_is_a_schema_mismatch(serde):
    lis = serde.encode("lis-status-changes", full_record("lis-status-changes"))
    assert _code(serde, "enrollment-requests", lis) == SCHEMA_MISMATCH
    trr = serde.encode("trr-replies", full_record("trr-replies"))
    assert _code(serde, "dead-letters", trr) == SCHEMA_MISMATCH


def test_error_is_an_exception_with_code_and_message():
    err = DecodeError(UNDECODABLE, "x")
    assert err.error_code == UNDECODABLE and err.message == "x"
    assert str(err) == "UNDECODABLE: x"
    assert set(ERROR_CODES) == {EMPTY_VALUE, WRONG_MAGIC_BYTE, UNKNOWN_SCHEMA_ID, UNDECODABLE, SCHEMA_MISMATCH}


def test_unknown_topic_gives_errors_not_exceptions(serde):
    out = serde.decode_many("no-such-topic", [b"\x00\x00\x00\x00\x01"])
    assert out[0][0] is None and out[0][1].error_code == UNKNOWN_SCHEMA_ID


# -- batches ---------------------------------------------------------------------


def test_decode_many_keeps_order_and_mixes_records_and_errors(serde):
    good = serde.encode("enrollment-requests", ENROLLMENT)
    other = serde.encode("enrollment-requests", dict(ENROLLMENT, tracking_id="PLAN-0002"))
    values = [good, b"", b"\x07abcd", other, good[:-2], frame(555, good[5:]), good]
    out = serde.decode_many("enrollment-requests", values)
    assert len(out) == len(values)
    assert [e.error_code if e else None for _, e in out] == [
        None, EMPTY_VALUE, WRONG_MAGIC_BYTE, None, UNDECODABLE, UNKNOWN_SCHEMA_ID, None,
    ]
    assert out[0][0] == ENROLLMENT
    assert out[3][0]["tracking_id"] == "PLAN-0002"
    assert out[6][0] == ENROLLMENT
    for record, error in out:
        assert (record is None) != (error is None)


def test_decoded_records_are_independent(serde):
    good = serde.encode("beneficiary-notices", full_record("beneficiary-notices"))
    a, b = serde.decode_many("beneficiary-notices", [good, good])
    a[0]["zero_premium_options"].append("X")
    assert b[0]["zero_premium_options"] == full_record("beneficiary-notices")["zero_premium_options"]


# -- previous versions -------------------------------------------------------------


# What the previous versions lack (the input records, and TrrRecord since issue 14) (docs/record-shapes.md, "Schema evolution").
# LisStatusChange lacks no field: its enums had no UNKNOWN symbol yet.
ISSUE_13_FIELDS = {
    "plan-year-updates": {"reduced_counties"},
    "beneficiary-updates": {"medicaid_state_code", "mailing_address_line1", "mailing_address_line2", "mailing_city",
                            "mailing_state_code", "mailing_zip_code"},
    "plan-notices": {"mailing_address_line1", "mailing_address_line2", "mailing_city", "mailing_state_code",
                     "mailing_zip_code", "address_outside_plan_region", "note"},
    # issue 16: a dead letter's bytes are bounded (size and SHA-256 of the whole record)
    "dead-letters": {"raw_key_size", "raw_value_size", "raw_value_sha256", "truncated"},
}
# issue 22: what each schema it extended gained (the version before it keeps its old id)
ISSUE_22_FIELDS = {
    "medicaid-determinations": {"notice_period_ends", "coverage_end_date"},
    "beneficiary-notices": {"withdrawn_notice_id"},
    "plan-notices": {"all_enrollees", "withdrawn_notice_id"},
    "state-reassignment-lists": {"reason"},
    "cycle-commands": set(),  # two new command symbols only
}
#: Fields issue 23 added (the topic's version before it: its old current id, previous/*.v2 or *.v3).
ISSUE_23_FIELDS = {
    "enrollment-requests": {"cleanup_id"},
    "plan-year-updates": {"organization_marketing_name", "customer_service_number",
                          "auto_enrollment_customer_service_number"},
    "trr-replies": {"reason", "cleanup_id", "member_premium_liability"},
    "beneficiary-notices": {"plan_marketing_name", "plan_customer_service_number", "zero_premium_option_plans"},
    "plan-notices": {"reason", "projected_count"},
    "state-reassignment-lists": {"losing_contract_id", "losing_pbp_id", "gaining_contract_id", "gaining_pbp_id",
                                 "effective_date", "lis_premium_subsidy_level", "lis_copay_level",
                                 "mailing_address_line1", "mailing_address_line2", "mailing_city",
                                 "mailing_state_code", "mailing_zip_code", "projected_count"},
}
PREVIOUS_LACKS = {
    "enrollment-requests": {"correlation_id", "rx_member_id"} | ISSUE_23_FIELDS["enrollment-requests"],
    "plan-year-updates": {"employer_group"} | ISSUE_13_FIELDS["plan-year-updates"] | ISSUE_23_FIELDS["plan-year-updates"],
    "beneficiary-updates": {"opt_out_auto_enrollment", "opt_out_passive_enrollment"} | ISSUE_13_FIELDS["beneficiary-updates"],
    "plan-notices": ISSUE_13_FIELDS["plan-notices"] | ISSUE_23_FIELDS["plan-notices"] | ISSUE_22_FIELDS["plan-notices"],
    "dead-letters": ISSUE_13_FIELDS["dead-letters"],
    "cycle-commands": {"seed"},
    "magi-applications": {"medically_needy"},
    "trr-replies": {"last_name", "first_name", "middle_initial", "birth_date", "sex"} | ISSUE_23_FIELDS["trr-replies"],
    "beneficiary-notices": ISSUE_23_FIELDS["beneficiary-notices"] | ISSUE_22_FIELDS["beneficiary-notices"],
    "state-reassignment-lists": ISSUE_23_FIELDS["state-reassignment-lists"] | ISSUE_22_FIELDS["state-reassignment-lists"],
    "medicaid-determinations": ISSUE_22_FIELDS["medicaid-determinations"],
}
#: Topics that are new (issue 23): no record was ever written with an older schema of theirs.
NEW_TOPICS = {"state-responses"}


@pytest.mark.parametrize("topic", [t for t in TOPICS if t not in NEW_TOPICS])
def test_previous_version_id_is_read_by_the_current_reader(serde, registry, topic):
    """A record written with the previous version reads as the current shape: the fields
    the previous version lacks come back as their defaults, everything else as written."""
    prev = next(v for v in schemas.topic_versions(topic) if not v.current)
    _read_with_previous(serde, topic, prev, PREVIOUS_LACKS.get(topic, set()))


@pytest.mark.parametrize("topic", sorted(ISSUE_13_FIELDS))
def test_the_version_before_issue_13_is_read_by_the_current_reader(serde, topic):
    """The schema a topic had before issue 13 (its old current id, n) still decodes."""
    v2 = next(v for v in schemas.topic_versions(topic) if v.file.endswith(".v2.avsc"))
    assert v2.id == schemas.topic_schema_id(topic) % 100
    _read_with_previous(serde, topic, v2, ISSUE_13_FIELDS[topic] | ISSUE_23_FIELDS.get(topic, set())
                        | ISSUE_22_FIELDS.get(topic, set()))


def _version_of(topic: str, hundred: int) -> schemas.SchemaVersion | None:
    """The topic's version numbered ``hundred`` + its original id (e.g. 400 + 8 for plan-notices), if any."""
    n = schemas.topic_versions(topic)[-1].id % 100
    return next((v for v in schemas.topic_versions(topic) if v.id == hundred + n), None)


@pytest.mark.parametrize("topic", sorted(ISSUE_23_FIELDS))
def test_the_version_before_issue_23_is_read_by_the_current_reader(serde, topic):
    """The schema a topic had before issue 23 keeps its id (n, or 200 + n after issue 13) and still decodes;
    issue 23's version has 400 + n (current, or kept as previous where issue 22 changed the record too)."""
    v23 = _version_of(topic, 400)
    assert v23 is not None
    before = [v for v in schemas.topic_versions(topic) if not v.current and v.id < 400][-1]  # the one it replaced
    _read_with_previous(serde, topic, before, ISSUE_23_FIELDS[topic] | ISSUE_22_FIELDS.get(topic, set()))


@pytest.mark.parametrize("topic", sorted(ISSUE_22_FIELDS))
def test_the_version_before_issue_22_is_read_by_the_current_reader(serde, topic):
    """Issue 22's version is current under 300 + n; the version before it (issue 23's 400 + n where both changed
    the record, else n) keeps its id and decodes."""
    current = schemas.topic_schema_id(topic)
    assert current // 100 == 3
    before = _version_of(topic, 400) or next(v for v in schemas.topic_versions(topic) if v.id == current - 300)
    assert not before.current and before.file.startswith("previous/")
    _read_with_previous(serde, topic, before, ISSUE_22_FIELDS[topic])


def _read_with_previous(serde, topic, prev, expected_lacks):
    current_fields = {f["name"]: f for f in schemas.topic_schema_json(topic)["fields"]}
    previous_fields = {f["name"] for f in schemas.schema_json(prev.file)["fields"]}
    lacks = set(current_fields) - previous_fields
    assert lacks == expected_lacks
    assert previous_fields <= set(current_fields)
    source = full_record(topic)
    for f in schemas.schema_json(prev.file)["fields"]:  # a symbol the older writer knows (issue 22 added some)
        enum = next((t for t in (f["type"] if isinstance(f["type"], list) else [f["type"]])
                     if isinstance(t, dict) and t.get("type") == "enum"), None)
        if enum is not None and source[f["name"]] not in enum["symbols"]:
            source[f["name"]] = enum["symbols"][0]
    for name in lacks:  # a value other than the default, so a kept value would show
        if isinstance(source[name], bool):
            source[name] = not current_fields[name]["default"]
        assert source[name] != current_fields[name]["default"]
    for f in schemas.schema_json(prev.file)["fields"]:  # a symbol added since (issue 23) is not the older writer's
        t = f["type"]
        if isinstance(t, dict) and t.get("type") == "enum" and source[f["name"]] not in t["symbols"]:
            source[f["name"]] = t["symbols"][0]
    written = {k: v for k, v in source.items() if k in previous_fields}
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(schemas.schema_json(prev.file), named_schemas={}), written)
    data = frame(prev.id, buf.getvalue())
    assert serde.decode(topic, data) == dict(source, **{name: current_fields[name]["default"] for name in lacks})


def test_previous_lis_status_change_has_no_unknown_symbol():
    """The previous LisStatusChange is genuinely older too: its enums had no UNKNOWN symbol."""
    prev = schemas.previous_schema_json("LisStatusChange")
    enums = {f["name"]: f["type"] for f in prev["fields"] if isinstance(f["type"], dict) and f["type"].get("type") == "enum"}
    assert enums["action"]["symbols"] == ["UPSERT", "REMOVE"]
    assert enums["subsidy_source"]["symbols"] == ["A", "D"]
    assert [f["name"] for f in prev["fields"]] == [f["name"] for f in schemas.schema_json("LisStatusChange")["fields"]]


def test_an_older_writer_without_a_newer_field_is_resolved(registry):
    """A genuinely different previous version: the reader fills the new optional field's default."""
    raw = schemas.schema_json("EnrollmentTransaction")
    older = copy.deepcopy(raw)
    older["fields"] = [f for f in older["fields"] if f["name"] not in ("rx_member_id", "correlation_id")]
    # and an enum-free reordering: put mbi first
    older["fields"].sort(key=lambda f: f["name"] != "mbi")
    reg = SchemaRegistry.from_env({})
    reg.add_writer_schema(7001, older)
    serde = Serde(reg)
    buf = io.BytesIO()
    written = {k: v for k, v in ENROLLMENT.items() if k not in ("rx_member_id", "correlation_id")}
    fastavro.schemaless_writer(buf, fastavro.parse_schema(older, named_schemas={}), written)
    decoded = serde.decode("enrollment-requests", frame(7001, buf.getvalue()))
    assert decoded == dict(ENROLLMENT, correlation_id=None, rx_member_id=None)
    assert set(decoded) == {f["name"] for f in raw["fields"]}


def test_writer_enum_symbol_unknown_to_reader_becomes_the_default():
    raw = schemas.schema_json("PlanYearUpdate")
    newer = copy.deepcopy(raw)
    plan_type = next(f for f in newer["fields"] if f["name"] == "plan_type")
    plan_type["type"]["symbols"].append("SNP")
    reg = SchemaRegistry.from_env({})
    reg.add_writer_schema(7002, newer)
    buf = io.BytesIO()
    rec = full_record("plan-year-updates") | {"plan_type": "SNP"}
    fastavro.schemaless_writer(buf, fastavro.parse_schema(newer, named_schemas={}), rec)
    decoded = Serde(reg).decode("plan-year-updates", frame(7002, buf.getvalue()))
    assert decoded["plan_type"] == "UNKNOWN"


def test_a_same_named_but_unresolvable_writer_is_a_schema_mismatch():
    raw = schemas.schema_json("RegionBenchmark")
    bad = copy.deepcopy(raw)
    for f in bad["fields"]:
        if f["name"] == "plan_year":
            f["type"] = "string"  # string cannot be read as int
    reg = SchemaRegistry.from_env({})
    reg.add_writer_schema(7003, bad)
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(bad, named_schemas={}), full_record("lis-benchmarks") | {"plan_year": "2027"})
    out = Serde(reg).decode_many("lis-benchmarks", [frame(7003, buf.getvalue())])
    assert out[0][0] is None and out[0][1].error_code == SCHEMA_MISMATCH


# -- fuzz ----------------------------------------------------------------------------


def _check(out, n):
    assert len(out) == n
    for record, error in out:
        assert (record is None) != (error is None)
        if error is not None:
            assert error.error_code in ERROR_CODES
        else:
            assert isinstance(record, dict)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(topic=st.sampled_from(TOPICS), values=st.lists(st.binary(max_size=64), max_size=8))
def test_random_bytes_never_raise(serde, topic, values):
    _check(serde.decode_many(topic, values), len(values))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    topic=st.sampled_from(TOPICS),
    schema_id=st.sampled_from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 101, 106, 0, 12, 2**31, 401, 406, 416]),
    body=st.binary(max_size=200),
)
def test_random_bodies_behind_a_valid_header_never_raise(serde, topic, schema_id, body):
    _check(serde.decode_many(topic, [struct.pack(">bI", 0, schema_id) + body]), 1)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(topic=st.sampled_from(TOPICS), data=st.data())
def test_mutated_valid_values_never_raise(serde, topic, data):
    good = serde.encode(topic, full_record(topic))
    pos = data.draw(st.integers(0, len(good) - 1))
    byte = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(good) + 3))
    mutated = (good[:pos] + bytes([byte]) + good[pos + 1:] + b"\x00\x01\x02")[:cut]
    _check(serde.decode_many(topic, [mutated]), 1)
