"""The Avro schemas: they parse, carry the contract's field names, and follow record-shapes.md."""
from __future__ import annotations

import json

import fastavro
import pytest

import schemas
from processors.trr import TRR_FIELDS

TRR_CONTRACT = [
    "mbi", "contract_id", "pbp_id", "transaction_code", "transaction_reply_code", "trc_type",
    "trc_short_name", "effective_date", "transaction_date", "application_date", "election_type",
    "enrollment_source", "prior_contract_id", "prior_pbp_id", "disenrollment_reason",
    "lis_premium_subsidy_level", "lis_copay_level", "lis_subsidy_source", "lis_period_start",
    "lis_period_end", "lis_premium_subsidy_amount", "part_d_premium", "cms_processing_timestamp",
    "file_name", "cms_tracking_id", "plan_tracking_id", "external_correlation_id",
    "update_source_contract_id",
]

# The external contract (docs/record-shapes.md): topic -> record -> required field names.
CONTRACT: dict[str, tuple[str, list[str]]] = {
    "enrollment-requests": ("EnrollmentTransaction", [
        "tracking_id", "correlation_id", "transaction_code", "mbi", "contract_id", "pbp_id",
        "election_type", "enrollment_source", "sep_reason", "disenrollment_reason",
        "application_date", "effective_date", "submitted_at", "submitter_id",
        "first_name", "last_name", "middle_initial", "birth_date", "sex",
        "rx_bin", "rx_pcn", "rx_group", "rx_member_id",
    ]),
    "lis-status-changes": ("LisStatusChange", [
        "change_id", "mbi", "action", "premium_subsidy_level", "copay_level", "subsidy_source",
        "start_date", "end_date", "event_time",
    ]),
    "plan-year-updates": ("PlanYearUpdate", [
        "contract_id", "pbp_id", "plan_year", "parent_org_id", "region", "plan_type", "benefit_type",
        "basic_premium", "waives_de_minimis", "renewal_status", "employer_group", "event_time",
    ]),
    "beneficiary-updates": ("BeneficiaryUpdate", [
        "mbi", "first_name", "last_name", "middle_initial", "birth_date", "sex", "ssn", "state_code",
        "county_code", "part_a_start", "part_b_start", "part_d_eligible_start", "date_of_death",
        "medicaid_status", "medicaid_start", "medicaid_end", "opt_out_auto_enrollment",
        "opt_out_passive_enrollment", "event_time",
    ]),
    "cycle-commands": ("CycleCommand", [
        "command", "plan_year", "as_of", "reference_month", "state_code", "seed",
    ]),
    "trr-replies": ("TrrRecord", TRR_CONTRACT),
    # issue 23: the answers to a state's own transactions, the same TrrRecord keyed by the state code
    "state-responses": ("TrrRecord", TRR_CONTRACT),
    "beneficiary-notices": ("BeneficiaryNotice", [
        "notice_id", "mbi", "notice_type", "publication", "paper_color", "plan_year",
        "losing_contract_id", "losing_pbp_id", "gaining_contract_id", "gaining_pbp_id",
        "current_plan_premium", "mail_by",
    ]),
    "plan-notices": ("PlanNotice", [
        "notice_id", "contract_id", "pbp_id", "notice_type", "file_name", "mbi", "obligation",
        "due_at", "lis_premium_subsidy_level", "lis_copay_level",
    ]),
    "state-reassignment-lists": ("StateListEntry", [
        "list_type", "plan_year", "state_code", "mbi", "ssn", "first_name", "last_name",
        "middle_initial", "birth_date", "sex",
    ]),
    "lis-benchmarks": ("RegionBenchmark", [
        "region", "plan_year", "reference_month", "benchmark_premium", "lis_enrollment_total",
        "plans_weighted",
    ]),
    "dead-letters": ("DeadLetter", [
        "source_topic", "partition", "offset", "error_code", "error_message", "raw_key", "raw_value",
        "received_at",
    ]),
    # The Medicaid side (docs/medicaid.md): not in the original contract's table; these names are ours.
    "magi-applications": ("MagiApplication", [
        "application_id", "mbi", "state_code", "application_date", "birth_date", "household_size",
        "monthly_household_income", "pregnant", "receives_ssi", "blind_or_disabled", "needs_long_term_care",
        "requests_medicare_cost_sharing", "medically_needy", "medicare_entitled", "event_time",
    ]),
    "medicaid-determinations": ("MedicaidDetermination", [
        "determination_id", "mbi", "application_id", "state_code", "outcome", "group", "exempt_bases",
        "reason", "age", "household_size", "monthly_household_income", "fpl_year", "fpl_table",
        "monthly_fpl", "fpl_percent", "standard_percent", "disregard_percent", "income_limit",
        "medicare_entitled", "medicaid_status", "effective_date", "decided_at",
    ]),
}

# The extras agreed in docs/record-shapes.md, and nothing else.
EXTRAS: dict[str, list[str]] = {
    "BeneficiaryNotice": ["gaining_plan_premium", "zero_premium_options", "reason", "issued_at",
                          # issue 23: the plan's HPMS name and phone (seed 001), and the options' too
                          "plan_marketing_name", "plan_customer_service_number", "zero_premium_option_plans",
                          "withdrawn_notice_id"],  # issue 22
    "PlanNotice": ["header_code", "trailer_code", "plan_year", "effective_date", "issued_at",
                   # issue 13: the address on GAIN/LOSS records, the out-of-region flag, a note
                   "mailing_address_line1", "mailing_address_line2", "mailing_city", "mailing_state_code",
                   "mailing_zip_code", "address_outside_plan_region", "note",
                   # issue 23: the July preview's projected reason and count
                   "reason", "projected_count",
                   # issue 22: plan-level obligations, withdrawals
                   "all_enrollees", "withdrawn_notice_id"],
    # issue 23: what states need to answer inquiries about the reassigned (seed 000/001)
    "StateListEntry": ["losing_contract_id", "losing_pbp_id", "gaining_contract_id", "gaining_pbp_id",
                       "effective_date", "lis_premium_subsidy_level", "lis_copay_level", "mailing_address_line1",
                       "mailing_address_line2", "mailing_city", "mailing_state_code", "mailing_zip_code",
                       "projected_count",
                       "reason"],  # issue 22: why a *_WITHDRAWN entry no longer holds
    "RegionBenchmark": ["calculated_at"],
    # issue 16: a dead letter's bytes are bounded; the whole record's size and SHA-256
    "DeadLetter": ["raw_key_size", "raw_value_size", "raw_value_sha256", "truncated"],
    # issue 13: inputs with optional fields beyond the contract
    "PlanYearUpdate": ["reduced_counties",
                       # issue 23: the HPMS data seed 001 prints on the notices
                       "organization_marketing_name", "customer_service_number",
                       "auto_enrollment_customer_service_number"],
    "EnrollmentTransaction": ["cleanup_id"],  # issue 23: seed 002 Table 1's Cleanup ID
    "BeneficiaryUpdate": ["medicaid_state_code", "mailing_address_line1", "mailing_address_line2", "mailing_city",
                          "mailing_state_code", "mailing_zip_code"],
    "TrrRecord": ["last_name", "first_name", "middle_initial", "birth_date", "sex",
                  # issue 23: the reason apart from the short name, the Cleanup ID, the member's liability
                  "reason", "cleanup_id", "member_premium_liability"],
    # issue 22: a termination says when the 10-day notice ends and when coverage ends (seed 003)
    "MedicaidDetermination": ["notice_period_ends", "coverage_end_date"],
}

DATE = {"type": "int", "logicalType": "date"}
INSTANT = {"type": "long", "logicalType": "timestamp-millis"}
MONEY = {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}

# Contract types (docs/record-shapes.md): field -> logical type, per record.
LOGICAL: dict[str, dict[str, dict]] = {
    "EnrollmentTransaction": {"application_date": DATE, "effective_date": DATE, "submitted_at": INSTANT, "birth_date": DATE},
    "LisStatusChange": {"start_date": DATE, "end_date": DATE, "event_time": INSTANT},
    "PlanYearUpdate": {"basic_premium": MONEY, "event_time": INSTANT},
    "BeneficiaryUpdate": {"birth_date": DATE, "part_a_start": DATE, "part_b_start": DATE, "part_d_eligible_start": DATE,
                          "date_of_death": DATE, "medicaid_start": DATE, "medicaid_end": DATE, "event_time": INSTANT},
    "CycleCommand": {"as_of": INSTANT, "reference_month": DATE},
    "TrrRecord": {"effective_date": DATE, "transaction_date": DATE, "application_date": DATE, "lis_period_start": DATE,
                  "lis_period_end": DATE, "lis_premium_subsidy_amount": MONEY, "part_d_premium": MONEY,
                  "cms_processing_timestamp": INSTANT, "birth_date": DATE, "member_premium_liability": MONEY},
    "BeneficiaryNotice": {"current_plan_premium": MONEY, "mail_by": DATE, "gaining_plan_premium": MONEY, "issued_at": INSTANT},
    "PlanNotice": {"due_at": INSTANT, "effective_date": DATE, "issued_at": INSTANT},
    "StateListEntry": {"birth_date": DATE, "effective_date": DATE},
    "RegionBenchmark": {"reference_month": DATE, "benchmark_premium": MONEY, "calculated_at": INSTANT},
    "DeadLetter": {"received_at": INSTANT},
    "MagiApplication": {"application_date": DATE, "birth_date": DATE, "monthly_household_income": MONEY,
                        "event_time": INSTANT},
    "MedicaidDetermination": {"monthly_household_income": MONEY, "monthly_fpl": MONEY, "fpl_percent": MONEY,
                              "standard_percent": MONEY, "disregard_percent": MONEY, "income_limit": MONEY,
                              "effective_date": DATE, "decided_at": INSTANT,
                              "notice_period_ends": DATE, "coverage_end_date": DATE},
}

# Required (non-nullable) fields per record-shapes.md where it says so.
REQUIRED: dict[str, set[str]] = {
    "EnrollmentTransaction": {"tracking_id", "mbi", "contract_id", "pbp_id", "enrollment_source", "application_date",
                              "effective_date", "submitted_at", "submitter_id", "transaction_code"},
    "TrrRecord": {"mbi", "contract_id", "transaction_code", "transaction_reply_code", "trc_type", "trc_short_name",
                  "transaction_date", "cms_processing_timestamp", "file_name", "cms_tracking_id"},
}

ENUMS: dict[tuple[str, str], tuple[str, list[str]]] = {
    ("LisStatusChange", "action"): ("LisAction", ["UPSERT", "REMOVE"]),
    ("LisStatusChange", "subsidy_source"): ("SubsidySource", ["A", "D"]),
    ("PlanYearUpdate", "plan_type"): ("PlanType", ["PDP", "MAPD", "MA", "MMP", "PACE", "PFFS", "COST"]),
    ("PlanYearUpdate", "benefit_type"): ("BenefitType", ["BASIC", "ENHANCED"]),
    ("PlanYearUpdate", "renewal_status"): ("RenewalStatus", ["RENEWING", "NON_RENEWING", "SERVICE_AREA_REDUCTION"]),
    ("BeneficiaryUpdate", "medicaid_status"): ("MedicaidStatus", ["FULL_BENEFIT_DUAL", "PARTIAL_DUAL", "NONE"]),
    ("CycleCommand", "command"): ("CycleCommandType", [
        "STATE_PASSIVE_OPT_IN", "CALCULATE_BENCHMARKS", "PRELIMINARY_REASSIGNMENT_LIST", "REASSIGNMENT_RUN",
        "FINAL_REASSIGNMENT_LIST", "SECOND_REASSIGNMENT_RUN", "UPDATED_FINAL_REASSIGNMENT_LIST",
        "REASSIGNMENT_FORMULARY_NOTICES", "YEAR_END"]),
    ("TrrRecord", "trc_type"): ("TrcType", ["ACCEPTED", "REJECTED", "INFORMATIONAL"]),
    ("TrrRecord", "election_type"): ("ElectionType", "A C D E F I J L M N O R S T U V W X Y Z".split()),
    ("TrrRecord", "enrollment_source"): ("EnrollmentSource", "A B C D E F G H I J K L N".split()),
    ("TrrRecord", "lis_subsidy_source"): ("SubsidySource", ["A", "D"]),
    ("BeneficiaryNotice", "paper_color"): ("PaperColor", ["BLUE", "TAN"]),
    ("PlanNotice", "notice_type"): ("PlanNoticeType", ["GAIN_FILE_RECORD", "LOSS_FILE_RECORD", "OBLIGATION",
                                                       "PROJECTED_LOSS", "PROJECTED_LOSS_COUNT",  # issue 23
                                                       "OBLIGATION_WITHDRAWN"]),  # issue 22
    ("StateListEntry", "list_type"): ("StateListType", ["PRELIMINARY", "FINAL", "UPDATED_FINAL",
                                                        "PROJECTED_COUNT",  # issue 23
                                                        "FINAL_WITHDRAWN", "UPDATED_FINAL_WITHDRAWN"]),  # issue 22
    ("MedicaidDetermination", "outcome"): ("MagiOutcome", [
        "ELIGIBLE_MAGI", "INELIGIBLE_MAGI", "NON_MAGI_REFERRAL", "NOT_SCREENED"]),
    ("MedicaidDetermination", "group"): ("MagiGroup", [
        "ADULT", "PREGNANT", "INFANT", "CHILD", "EXEMPT_AGED", "EXEMPT_SSI", "EXEMPT_BLIND_DISABLED",
        "EXEMPT_LONG_TERM_CARE", "EXEMPT_MEDICARE_COST_SHARING", "EXEMPT_MEDICALLY_NEEDY", "NONE"]),
    ("MedicaidDetermination", "medicaid_status"): ("MedicaidStatus", ["FULL_BENEFIT_DUAL", "PARTIAL_DUAL", "NONE"]),
}

# Code fields that stay strings (record-shapes.md) and must document their allowed values.
STRING_CODES: dict[tuple[str, str], list[str]] = {
    ("EnrollmentTransaction", "election_type"): ["A", "Z", "AEP"],
    ("EnrollmentTransaction", "enrollment_source"): ["A", "N", "I invalid"],
    ("EnrollmentTransaction", "sep_reason"): ["01", "96"],
    ("EnrollmentTransaction", "disenrollment_reason"): ["01", "13", "54"],
    ("EnrollmentTransaction", "submitter_id"): ["CMS", "state"],
    ("EnrollmentTransaction", "transaction_code"): ["61", "51", "72", "80", "81", "82", "83"],
    ("LisStatusChange", "premium_subsidy_level"): ["000", "025", "050", "075", "100"],
    ("LisStatusChange", "copay_level"): ["0", "1", "2", "3", "4", "5"],
    ("TrrRecord", "lis_premium_subsidy_level"): ["000", "025", "050", "075", "100"],
    ("TrrRecord", "lis_copay_level"): ["0", "5"],
    ("BeneficiaryNotice", "notice_type"): ["REASSIGNMENT_PREMIUM", "REASSIGNMENT_NON_RENEWAL_PDP",
                                           "REASSIGNMENT_NON_RENEWAL_MA", "CHOOSER", "REASSIGNMENT_NOT_POSSIBLE",
                                           "REASSIGNMENT_FORMULARY_NOTICE", "LIS_ENDS_NEXT_YEAR", "PLAN_TERMINATED",
                                           "_WITHDRAWN"],
    ("BeneficiaryNotice", "reason"): ["NO_FORMULARY_DATA"],
    ("StateListEntry", "state_code"): ["US"],
    ("PlanNotice", "obligation"): ["SUBMIT_4RX", "SEND_ENROLLMENT_CONFIRMATION", "SEND_DISENROLLMENT_CONFIRMATION",
                                   "SEND_ANOC", "SEND_ALTERNATIVE_ANOC", "SEND_NON_RENEWAL_NOTICE", "SEND_ANOC_EOC"],
    ("DeadLetter", "error_code"): ["EMPTY_VALUE", "WRONG_MAGIC_BYTE", "UNKNOWN_SCHEMA_ID", "UNDECODABLE", "SCHEMA_MISMATCH"],
    ("MedicaidDetermination", "exempt_bases"): ["AGED", "SSI", "BLIND_DISABLED", "LONG_TERM_CARE",
                                                "MEDICARE_COST_SHARING", "MEDICALLY_NEEDY"],
    ("MedicaidDetermination", "reason"): ["AGE_65_OR_OLDER", "SSI_RECIPIENT", "NO_POVERTY_GUIDELINE",
                                          "INCOME_ABOVE_STANDARD", "INCOME_ABOVE_STANDARD_EXEMPT_BASIS", "NO_MAGI_GROUP"],
    ("MedicaidDetermination", "fpl_table"): ["CONTIGUOUS", "AK", "HI"],
}

TOPICS = list(CONTRACT)


def _fields(schema: dict) -> dict[str, dict]:
    return {f["name"]: f for f in schema["fields"]}


def _non_null(field_type):
    if isinstance(field_type, list):
        rest = [t for t in field_type if t != "null"]
        assert len(rest) == 1
        return rest[0]
    return field_type


def test_registry_lists_exactly_the_contract_topics():
    assert set(schemas.topics()) == set(CONTRACT)
    reg = schemas.load_registry()
    assert set(reg) == {f"{t}-value" for t in CONTRACT}
    ids = [e["id"] for e in reg.values()] + [p["id"] for e in reg.values() for p in e.get("previous", [])]
    assert len(ids) == len(set(ids)), "schema ids must be unique"
    for topic, (record, _) in CONTRACT.items():
        assert schemas.topic_schema_file(topic) == f"{record}.avsc"
        for version in schemas.topic_versions(topic):
            assert (schemas.SCHEMA_DIR / version.file).is_file()


@pytest.mark.parametrize("topic", TOPICS)
@pytest.mark.parametrize("version", ["current", "previous"])
def test_schema_parses_with_fastavro(topic, version):
    name = CONTRACT[topic][0]
    raw = schemas.schema_json(name) if version == "current" else schemas.previous_schema_json(name)
    parsed = fastavro.parse_schema(raw, named_schemas={})
    assert parsed["name"] == f"gov.cms.partd.{name}"
    assert raw["namespace"] == "gov.cms.partd"
    assert raw["type"] == "record"


@pytest.mark.parametrize("topic", TOPICS)
def test_contract_fields_exist_and_nothing_else(topic):
    name, contract = CONTRACT[topic]
    names = [f["name"] for f in schemas.topic_schema_json(topic)["fields"]]
    missing = [n for n in contract if n not in names]
    assert not missing, f"{name} lacks contract fields {missing}"
    assert sorted(names) == sorted(contract + EXTRAS.get(name, []))
    assert len(names) == len(set(names))


def test_trr_field_order_matches_trr_builder():
    names = tuple(f["name"] for f in schemas.schema_json("TrrRecord")["fields"])
    assert names == TRR_FIELDS


@pytest.mark.parametrize("topic", TOPICS)
def test_every_field_and_record_has_a_doc(topic):
    raw = schemas.topic_schema_json(topic)
    assert raw.get("doc", "").strip()
    for f in raw["fields"]:
        assert isinstance(f.get("doc"), str) and f["doc"].strip(), f"{raw['name']}.{f['name']} has no doc"
        t = _non_null(f["type"])
        if isinstance(t, dict) and t.get("type") == "enum":
            assert t.get("doc", "").strip(), f"enum {t['name']} has no doc"


@pytest.mark.parametrize("topic", TOPICS)
def test_optional_fields_are_null_first_with_null_default(topic):
    for f in schemas.topic_schema_json(topic)["fields"]:
        if isinstance(f["type"], list):
            assert f["type"][0] == "null" and len(f["type"]) == 2, f["name"]
            assert "default" in f and f["default"] is None, f["name"]


@pytest.mark.parametrize("record", sorted(LOGICAL))
def test_dates_instants_and_money_use_the_contract_logical_types(record):
    fields = _fields(schemas.schema_json(record))
    for name, expected in LOGICAL[record].items():
        assert _non_null(fields[name]["type"]) == expected, f"{record}.{name}"
    # and no other field pretends to be one
    for name, f in fields.items():
        t = _non_null(f["type"])
        if isinstance(t, dict) and t.get("logicalType"):
            assert name in LOGICAL[record], f"{record}.{name} has an unexpected logical type"


@pytest.mark.parametrize("record", sorted(REQUIRED))
def test_required_fields_are_not_nullable(record):
    fields = _fields(schemas.schema_json(record))
    for name, f in fields.items():
        nullable = isinstance(f["type"], list)
        assert nullable == (name not in REQUIRED[record]), f"{record}.{name}"


def test_code_fields_of_enrollment_transaction_are_strings():
    fields = _fields(schemas.schema_json("EnrollmentTransaction"))
    for name in ("election_type", "enrollment_source", "sep_reason", "disenrollment_reason", "submitter_id"):
        assert _non_null(fields[name]["type"]) == "string", name
    assert fields["transaction_code"]["type"] == "int"


@pytest.mark.parametrize(("record", "field"), sorted(ENUMS))
def test_enums_hold_the_code_table_and_a_default(record, field):
    enum_name, symbols = ENUMS[(record, field)]
    t = _non_null(_fields(schemas.schema_json(record))[field]["type"])
    assert t["type"] == "enum" and t["name"] == enum_name
    assert t["symbols"][: len(symbols)] == symbols
    extra = t["symbols"][len(symbols):]
    assert extra in ([], ["UNKNOWN"]), f"{enum_name} has unexpected symbols {extra}"
    assert t["default"] in t["symbols"]
    if enum_name == "EnrollmentSource":
        assert t["default"] == "I"  # seed 002 Table 24: invalid value
    else:
        assert t["default"] == "UNKNOWN"


@pytest.mark.parametrize("topic", TOPICS)
def test_every_enum_in_every_schema_has_a_default(topic):
    def walk(t):
        if isinstance(t, list):
            for x in t:
                yield from walk(x)
        elif isinstance(t, dict):
            if t.get("type") == "enum":
                yield t
            for f in t.get("fields", []):
                yield from walk(f["type"])
            if "items" in t:
                yield from walk(t["items"])

    for enum in walk(schemas.topic_schema_json(topic)):
        assert enum.get("default") in enum["symbols"], enum["name"]


@pytest.mark.parametrize(("record", "field"), sorted(STRING_CODES))
def test_string_code_fields_document_their_values(record, field):
    doc = _fields(schemas.schema_json(record))[field]["doc"]
    for value in STRING_CODES[(record, field)]:
        assert value in doc, f"{record}.{field} doc does not mention {value!r}"


#: Topics new since the first version: no record was ever written with an older schema of theirs.
NEW_TOPICS = {"state-responses"}  # issue 23


def test_previous_versions_are_checked_in_for_every_record():
    for topic in TOPICS:
        name = CONTRACT[topic][0]
        if topic in NEW_TOPICS:
            assert [v.current for v in schemas.topic_versions(topic)] == [True]
            continue
        prev = schemas.previous_schema_json(name)
        assert prev["name"] == name
        versions = schemas.topic_versions(topic)
        assert versions[0].current and not any(v.current for v in versions[1:])
        assert any(v.file == f"previous/{name}.avsc" for v in versions[1:])


def test_loaders_return_fresh_copies():
    a = schemas.schema_json("DeadLetter")
    a["fields"].clear()
    assert schemas.schema_json("DeadLetter")["fields"]
    reg = schemas.load_registry()
    reg.clear()
    assert schemas.load_registry()
    assert json.loads(schemas.schema_text("DeadLetter.avsc"))["name"] == "DeadLetter"
    assert schemas.topic_schema_id("enrollment-requests") == 401
    with pytest.raises(KeyError):
        schemas.topic_schema_file("no-such-topic")
