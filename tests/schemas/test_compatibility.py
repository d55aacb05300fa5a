"""Every current schema is BACKWARD compatible with its committed previous version.

BACKWARD: a consumer using the current schema (reader) can read records written
with the previous schema (writer). Checked with the ``avro`` library's
ReaderWriterCompatibilityChecker, independently of fastavro.
"""
from __future__ import annotations

import copy
import json

import avro.schema
import pytest
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

import schemas

RECORDS = schemas.record_names()


def _parse(raw: dict) -> avro.schema.Schema:
    return avro.schema.parse(json.dumps(raw))


def _compatibility(reader: dict, writer: dict) -> SchemaCompatibilityType:
    result = ReaderWriterCompatibilityChecker().get_compatibility(_parse(reader), _parse(writer))
    return result.compatibility


def test_there_is_a_previous_version_for_every_record():
    assert len(RECORDS) == 13  # the contract's 11 + MagiApplication, MedicaidDetermination
    for name in RECORDS:
        assert (schemas.PREVIOUS_DIR / f"{name}.avsc").is_file()


@pytest.mark.parametrize("name", RECORDS)
def test_current_reads_previous(name):
    current = schemas.schema_json(name)
    previous = schemas.previous_schema_json(name)
    assert _compatibility(reader=current, writer=previous) == SchemaCompatibilityType.compatible


@pytest.mark.parametrize("topic", schemas.topics())
def test_current_reads_every_embedded_version(topic):
    """Every id a record may be framed with (a schema changed in place under its id would make the
    records already written with it unreadable: a changed schema gets a new id, the old one stays)."""
    current = schemas.topic_schema_json(topic)
    for version in schemas.topic_versions(topic):
        if not version.current:
            older = schemas.schema_json(version.file)
            assert _compatibility(reader=current, writer=older) == SchemaCompatibilityType.compatible, version


def test_issue_23_schemas_keep_their_old_current_id():
    """Issue 23 added optional fields (and enum symbols before UNKNOWN) to six records: each current schema has
    a new id 400 + n, the one it replaced stays known under its id, and state-responses is a new subject."""
    for topic, new_id, old_id, old_file in (
            ("enrollment-requests", 401, 1, "previous/EnrollmentTransaction.v2.avsc"),
            ("plan-year-updates", 403, 203, "previous/PlanYearUpdate.v3.avsc"),
            ("trr-replies", 406, 206, "previous/TrrRecord.v3.avsc"),
            ("beneficiary-notices", 407, 7, "previous/BeneficiaryNotice.v2.avsc"),
            ("plan-notices", 408, 208, "previous/PlanNotice.v3.avsc"),
            ("state-reassignment-lists", 409, 9, "previous/StateListEntry.v2.avsc")):
        versions = {v.id: v for v in schemas.topic_versions(topic)}
        # issue 22 changed three of them too: its 300 + n version is current, issue 23's is kept
        assert schemas.topic_schema_id(topic) in (new_id, new_id - 100) and new_id in versions
        assert versions[old_id].file == old_file and not versions[old_id].current
    assert [(v.id, v.file) for v in schemas.topic_versions("state-responses")] == [(416, "TrrRecord.avsc")]


def test_changed_schemas_keep_their_old_current_id():
    """Issue 13 added optional fields to PlanYearUpdate, BeneficiaryUpdate and PlanNotice: the schemas
    they had before stay known under their ids 3, 4, 8 (previous/*.v2.avsc) and the new ones are 203, 204, 208."""
    for topic, new_id, old_id, name in (("plan-year-updates", 203, 3, "PlanYearUpdate"),
                                        ("beneficiary-updates", 204, 4, "BeneficiaryUpdate"),
                                        ("plan-notices", 208, 8, "PlanNotice")):
        versions = {v.id: v for v in schemas.topic_versions(topic)}
        # issue 23 changed two of them again (400 + n), issue 22 plan-notices (308, folding 23's 408)
        assert schemas.topic_schema_id(topic) in (new_id, new_id + 100, new_id + 200)
        assert versions[old_id].file == f"previous/{name}.v2.avsc" and not versions[old_id].current
        assert versions[100 + old_id].file == f"previous/{name}.avsc"


def test_schemas_changed_by_issue_22_keep_their_old_ids():
    """Issue 22 changed five schemas (optional fields at the end, new enum symbols before UNKNOWN): the
    new versions are 300 + n, the versions before keep their ids (n; issue 23's 400 + n where it changed the
    record too: the current one has both's fields)."""
    for topic, new_id, old_id, old_file in (
            ("cycle-commands", 305, 5, "previous/CycleCommand.v2.avsc"),
            ("beneficiary-notices", 307, 407, "previous/BeneficiaryNotice.v3.avsc"),
            ("plan-notices", 308, 408, "previous/PlanNotice.v4.avsc"),
            ("state-reassignment-lists", 309, 409, "previous/StateListEntry.v3.avsc"),
            ("medicaid-determinations", 313, 13, "previous/MedicaidDetermination.v2.avsc")):
        versions = {v.id: v for v in schemas.topic_versions(topic)}
        assert schemas.topic_schema_id(topic) == new_id
        assert versions[old_id].file == old_file and not versions[old_id].current
        current = schemas.topic_schema_json(topic)
        assert _compatibility(reader=current, writer=schemas.schema_json(old_file)) == SchemaCompatibilityType.compatible


@pytest.mark.parametrize("name", RECORDS)
def test_checker_catches_a_new_required_field(name):
    previous = schemas.previous_schema_json(name)
    current = copy.deepcopy(schemas.schema_json(name))
    current["fields"].append({"name": "brand_new_required", "type": "string", "doc": "no default"})
    assert _compatibility(reader=current, writer=previous) == SchemaCompatibilityType.incompatible


def test_checker_accepts_a_new_optional_field_with_default():
    previous = schemas.previous_schema_json("EnrollmentTransaction")
    current = copy.deepcopy(schemas.schema_json("EnrollmentTransaction"))
    current["fields"].append({"name": "channel", "type": ["null", "string"], "default": None, "doc": "optional"})
    assert _compatibility(reader=current, writer=previous) == SchemaCompatibilityType.compatible


def test_checker_catches_a_narrowed_type():
    previous = schemas.previous_schema_json("RegionBenchmark")
    current = copy.deepcopy(schemas.schema_json("RegionBenchmark"))
    for f in current["fields"]:
        if f["name"] == "lis_enrollment_total":
            f["type"] = "int"  # long -> int cannot be read
    assert _compatibility(reader=current, writer=previous) == SchemaCompatibilityType.incompatible


def test_enum_default_lets_a_writer_add_a_symbol():
    """The reason every enum has a default: an older reader can read a newer writer's symbol."""
    reader = schemas.schema_json("PlanYearUpdate")
    writer = copy.deepcopy(reader)
    for f in writer["fields"]:
        if f["name"] == "plan_type":
            f["type"]["symbols"].append("SNP")
    assert _compatibility(reader=reader, writer=writer) == SchemaCompatibilityType.compatible
    del next(f for f in reader["fields"] if f["name"] == "plan_type")["type"]["default"]
    assert _compatibility(reader=reader, writer=writer) == SchemaCompatibilityType.incompatible
