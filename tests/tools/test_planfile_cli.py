"""``partd trr-read`` and what ``partd submit`` publishes, without a broker (the broker run is
tests/integration/test_plan_files.py)."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from streams import topics
from streams.kafka.registry import SchemaRegistry
from streams.kafka.serde import Serde
from streams.tools import planfiles as pf
from streams.tools.planfile_cli import FILE_PARTITION, submission

DATA = Path(__file__).parent / "data"
TRR_SAMPLE = DATA / "P.RS7101.DAILYTRR.D261103.T0915307"
TC61_SAMPLE = DATA / "tc61-sample.txt"
AT = dt.datetime(2026, 11, 2, 14, 0, 0, 250000, tzinfo=dt.timezone.utc)


def _partd(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    return subprocess.run([sys.executable, "-m", "streams.tools.cli", *args], capture_output=True, text=True,
                          env=env, timeout=60)


def test_trr_read_prints_each_record_as_a_json_line():
    done = _partd("trr-read", str(TRR_SAMPLE))
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["mbi"], r["transaction_reply_code"], r["transaction_code"]) for r in lines] == [
        ("1EG4TE5MK73", "011", 61), ("2FH5UF6NK84", "014", 51), ("3GJ6VG7PM95", "121", 1)]
    first = lines[0]
    assert first["file_name"] == TRR_SAMPLE.name
    assert (first["effective_date"], first["part_d_premium"], first["cms_processing_timestamp"]) == (
        "2027-01-01", "28.40", "2026-11-02T14:00:00.000Z")
    assert (first["prior_contract_id"], first["prior_pbp_id"], first["sex"]) == ("S7303", "002", "F")
    assert lines[1]["plan_tracking_id"] is None and lines[1]["update_source_contract_id"] == "S7202"


def test_trr_read_names_each_bad_line_and_fails(tmp_path: Path):
    good = TRR_SAMPLE.read_bytes().split(b"\n")
    bad = tmp_path / "bad.trr"
    bad.write_bytes(good[0] + b"\n" + good[1][:700] + b"\n" + good[2][:62] + b"2027X101" + good[2][70:] + b"\n")
    done = _partd("trr-read", str(bad))
    assert done.returncode == 1
    assert [json.loads(line)["mbi"] for line in done.stdout.splitlines()] == ["1EG4TE5MK73"]
    errors = done.stderr.splitlines()
    assert errors[0].startswith(f"partd: error: {bad}:2: WRONG_LENGTH")
    assert errors[1].startswith(f"partd: error: {bad}:3: BAD_DATE") and "effective_date" in errors[1]
    assert "Traceback" not in done.stderr


def test_trr_read_of_a_missing_file_is_one_line():
    done = _partd("trr-read", "/nonexistent/file.trr")
    assert done.returncode == 1
    assert done.stderr.strip().startswith("partd: error: cannot read /nonexistent/file.trr")
    assert len(done.stderr.strip().splitlines()) == 1


def test_submit_without_a_broker_says_what_to_do():
    done = _partd("submit", str(TC61_SAMPLE))
    assert done.returncode == 1 and "KAFKA_BOOTSTRAP_SERVERS" in done.stderr and "Traceback" not in done.stderr


def test_a_batch_becomes_transactions_and_dead_letters_in_line_order():
    data = TC61_SAMPLE.read_bytes()
    records, bad = submission(data, TC61_SAMPLE.name, submitted_at=AT)
    assert [t for t, _, _ in records] == [topics.ENROLLMENT_REQUESTS, topics.ENROLLMENT_REQUESTS, topics.DEAD_LETTERS]
    assert [n for n, _ in bad] == [3] and bad[0][1].startswith("BAD_DATE")
    serde = Serde(SchemaRegistry.embedded())
    txns = [serde.decode(t, serde.encode(t, v)) for t, _, v in records[:2]]
    assert [(x["tracking_id"], x["mbi"], x["contract_id"], x["pbp_id"], x["transaction_code"]) for x in txns] == [
        ("SUBMIT-0001", "1EG4TE5MK73", "S7101", "001", 61), ("SUBMIT-0002", "4HK7WH8QN16", "S7303", "005", 61)]
    assert txns[1]["sex"] == "M" and txns[1]["sep_reason"] == "21" and txns[0]["rx_pcn"] == "MEDDPRIME"
    assert {x["submitted_at"] for x in txns} == {AT}
    letter = serde.decode(topics.DEAD_LETTERS, serde.encode(topics.DEAD_LETTERS, records[2][2]))
    third = data.split(b"\n")[2]
    assert letter["source_topic"] == f"file:{TC61_SAMPLE.name}@sha256:{hashlib.sha256(data).hexdigest()}"
    assert (letter["partition"], letter["offset"]) == (FILE_PARTITION, 3)
    assert letter["error_code"] == pf.BAD_DATE and "line 3" in letter["error_message"]
    assert letter["raw_value"] == third and len(third) == 600 and letter["raw_key"] is None
    assert letter["received_at"] == AT


def test_a_line_of_any_bytes_is_dead_lettered_untouched():
    junk = b"\xff\xfe not a record \x00"
    records, bad = submission(b"\r\n".join([junk, b"", b"x" * 600]) + b"\r\n", "batch.txt", submitted_at=AT)
    assert [t for t, _, _ in records] == [topics.DEAD_LETTERS] * 3
    assert [r[2]["raw_value"] for r in records] == [junk, b"", b"x" * 600]
    assert [r[2]["error_code"] for r in records] == [pf.NOT_ASCII, pf.WRONG_LENGTH, pf.UNKNOWN_TC]
    assert [n for n, _ in bad] == [1, 2, 3]


def _partd_at(bootstrap: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PARTD_LOG_LEVEL"}
    return subprocess.run([sys.executable, "-m", "streams.tools.cli", *args], capture_output=True, text=True,
                          env={**env, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}, timeout=60)


def test_a_broker_that_does_not_answer_is_one_line(tmp_path: Path):
    nowhere = "127.0.0.1:1"
    for args in (("trr-file", "--contract", "S7101", "--out", str(tmp_path), "--all"),
                 ("submit", str(TC61_SAMPLE), "--submitted-at", "2026-11-02T14:00:00Z")):
        done = _partd_at(nowhere, *args)
        assert done.returncode == 1
        errors = [line for line in done.stderr.splitlines() if nowhere in line]
        assert len(errors) == 1 and errors[0].startswith("partd: error: cannot connect to the Kafka cluster at")
        assert "Traceback" not in done.stderr and "Unclosed" not in done.stderr and "Unable connect" not in done.stderr


def test_trr_file_options_are_checked_before_anything_is_read(tmp_path: Path):
    done = _partd_at("127.0.0.1:1", "trr-file", "--contract", "S7101", "--out", str(tmp_path), "--date", "2026-13-01")
    assert done.returncode == 1
    assert done.stderr.strip() == "partd: error: --date '2026-13-01' is not a date: give YYYY-MM-DD (or --all)"
    done = _partd_at("127.0.0.1:1", "submit", str(TC61_SAMPLE), "--submitted-at", "yesterday")
    assert done.returncode == 1 and "--submitted-at 'yesterday' is not an ISO instant" in done.stderr
