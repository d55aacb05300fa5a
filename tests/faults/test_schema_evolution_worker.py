"""Schema evolution through a real worker: records written with the previous schema versions.

The previous versions of the input schemas (schemas/previous/, ids 101...) are
genuinely older: EnrollmentTransaction without ``correlation_id`` and
``rx_member_id`` (and issue 23's ``cleanup_id``), PlanYearUpdate without ``employer_group`` (and issue 13's
``reduced_counties``, issue 23's HPMS name and numbers), BeneficiaryUpdate without the two opt-outs (and issue
13's ``medicaid_state_code`` and mailing address), CycleCommand without ``seed``, MagiApplication
without ``medically_needy``, LisStatusChange with enums that had no UNKNOWN
symbol. The annual-cycle scenario (tests/golden/annual_cycle) plus a few MAGI
applications is played twice, each time on a fresh broker with a fresh worker:
once with every input written with the previous schema ids, once with the
current ids (the fields the previous versions lack set to their defaults, so
both carry the same information). The output topics must be identical and
there must be no dead letters.
"""
from __future__ import annotations

import io
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import fastavro
import pytest

import schemas
from streams import topics
from streams.kafka.serde import Serde, frame, split
from streams.tools import scenario
from streams.tools.jsonconv import record_from_json
from streams.topics import key_for
from tests.faults import integ
from tests.faults.helpers import TS
from tests.integration import golden
from tests.integration.conftest import fresh_cluster

pytestmark = [pytest.mark.integration, pytest.mark.faults]

WAIT = 240.0


def _fields(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in raw["fields"]}


PREVIOUS = {t: next(v for v in schemas.topic_versions(t) if not v.current) for t in topics.INPUTS}
PREVIOUS_SCHEMA = {t: fastavro.parse_schema(schemas.schema_json(v.file), named_schemas={}) for t, v in PREVIOUS.items()}
PREVIOUS_FIELDS = {t: set(_fields(schemas.schema_json(v.file))) for t, v in PREVIOUS.items()}
# Fields of the current version that the previous one lacks, with their defaults.
LACKS = {
    t: {n: f["default"] for n, f in _fields(schemas.topic_schema_json(t)).items() if n not in PREVIOUS_FIELDS[t]}
    for t in topics.INPUTS
}

MAGI = [
    {"application_id": f"EVO-{i}", "mbi": mbi, "state_code": "MD", "application_date": "2025-11-03",
     "birth_date": birth, "household_size": size, "monthly_household_income": income,
     "pregnant": False, "receives_ssi": ssi, "blind_or_disabled": False, "needs_long_term_care": False,
     "requests_medicare_cost_sharing": True, "medically_needy": False, "medicare_entitled": True,
     "event_time": "2025-11-03T15:00:00Z"}
    for i, (mbi, birth, size, income, ssi) in enumerate([
        ("1EG4TE5MK01", "1950-02-11", 1, "900.00", True),
        ("1EG4TE5MK02", "1948-07-30", 2, "1500.00", False),
        ("1EG4TE5MK03", "1955-12-01", 1, "4200.00", False),
    ])
]


def _lines() -> list[dict[str, Any]]:
    """The scenario, with every field the previous versions lack at its default."""
    lines = golden.load(golden.GOLDEN / "annual_cycle" / "inputs.jsonl")
    lines += [{"topic": "magi-applications", "key": m["mbi"], "value": m} for m in MAGI]
    out = []
    for line in lines:
        value = dict(line["value"], **LACKS[line["topic"]])
        out.append({"topic": line["topic"], "key": line.get("key") or key_for(line["topic"], value), "value": value})
    return out


def _current(topic: str, record: dict[str, Any], serde: Serde) -> bytes:
    return serde.encode(topic, record)


def _previous(topic: str, record: dict[str, Any], serde: Serde) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, PREVIOUS_SCHEMA[topic], {k: v for k, v in record.items() if k in PREVIOUS_FIELDS[topic]})
    return frame(PREVIOUS[topic].id, buf.getvalue())


Encoder = Callable[[str, dict[str, Any], Serde], bytes]


def _run(tmp: Path, serde: Serde, encoder: Encoder) -> tuple[dict[str, Counter], Counter, float]:
    """One fresh broker and worker; the scenario stage by stage. (outputs, schema ids seen on the inputs, seconds)."""
    with fresh_cluster(tmp, serde) as cluster:
        bootstrap = cluster.bootstrap
        worker = cluster.worker()
        t0 = time.monotonic()
        for n, stage in enumerate(scenario.stages(_lines())):
            cluster.publish([(line["topic"], line["key"], encoder(line["topic"], record_from_json(line["topic"], line["value"]), serde))
                             for line in stage], raw=True, timestamp_ms=TS + 1000 * n)
            cluster.settle(stage[0]["topic"], stage[0]["value"], timeout=WAIT)
        seconds = time.monotonic() - t0
        assert worker.alive(), worker.log_tail()
        ids = Counter(split(s.value)[1] for s in integ.read_sources(bootstrap, topics.INPUTS))
        return {t: Counter(cluster.read_raw(t)) for t in topics.OUTPUTS}, ids, seconds


def test_previous_and_current_schema_ids_give_the_same_outputs(tmp_path: Path, serde: Serde) -> None:
    assert LACKS["enrollment-requests"].keys() == {"correlation_id", "rx_member_id", "cleanup_id"}  # issue 23
    assert LACKS["beneficiary-updates"].keys() == {
        "opt_out_auto_enrollment", "opt_out_passive_enrollment",
        # issue 13 (optional, null by default)
        "medicaid_state_code", "mailing_address_line1", "mailing_address_line2", "mailing_city",
        "mailing_state_code", "mailing_zip_code",
    }
    assert LACKS["plan-year-updates"].keys() == {"employer_group", "reduced_counties",
                                                 # issue 23: the HPMS data the letters print
                                                 "organization_marketing_name", "customer_service_number",
                                                 "auto_enrollment_customer_service_number"}
    assert LACKS["cycle-commands"].keys() == {"seed"}
    assert LACKS["magi-applications"].keys() == {"medically_needy"}

    old, old_ids, old_s = _run(tmp_path / "previous", serde, _previous)
    new, new_ids, new_s = _run(tmp_path / "current", serde, _current)

    # Each run really was written with the version it claims.
    n_in = len(_lines())
    assert set(old_ids) == {PREVIOUS[t].id for t in topics.INPUTS if any(line["topic"] == t for line in _lines())}
    assert set(new_ids) == {serde.registry.id_for_topic(t) for t in topics.INPUTS if any(line["topic"] == t for line in _lines())}
    assert sum(old_ids.values()) == sum(new_ids.values()) == n_in

    # Issue 22: the scenario's MA service area reduction (H4004-002) comes without reduced_counties here (the
    # previous PlanYearUpdate has no such field, and both runs hold it at its default): the record is applied
    # and reported, one REDUCED_COUNTIES_MISSING dead letter per run. It carries the input's own bytes, which
    # differ between the two encodings by construction; everything else of it must be the same.
    def dead(run: dict[str, Counter]) -> list[tuple[Any, ...]]:
        out = []
        for (key, v), n in run["dead-letters"].items():
            d = serde.decode("dead-letters", v)
            out += [(key, d["source_topic"], d["partition"], d["offset"], d["error_code"], d["error_message"])] * n
        return sorted(out)

    for run in (old, new):
        letters = dead(run)
        assert [(k, code) for k, _, _, _, code, _ in letters] == [(b"H4004-002-2026", "REDUCED_COUNTIES_MISSING")], letters
        assert sum(run["trr-replies"].values()) > 40
        assert sum(run["lis-benchmarks"].values()) >= 1
        assert sum(run["beneficiary-notices"].values()) >= 1
        assert sum(run["medicaid-determinations"].values()) == len(MAGI)
    assert dead(old) == dead(new)
    for topic in topics.OUTPUTS:
        if topic != "dead-letters":
            assert old[topic] == new[topic], f"{topic}: records written with the previous schemas give other outputs"

    integ.report(
        "schema-evolution-worker", records_in=n_in, previous_ids=dict(sorted(old_ids.items())),
        current_ids=dict(sorted(new_ids.items())),
        outputs={t: sum(c.values()) for t, c in new.items()}, dead_letters=1,
        previous_run_s=round(old_s, 1), current_run_s=round(new_s, 1),
    )
