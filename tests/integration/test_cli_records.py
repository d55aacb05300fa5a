"""Your own records, through the real command line, on one broker and one worker shared by the module (issue 27).

* every input topic's example (``partd produce --example TOPIC``), published with ``partd produce``, gets
  its answer from the worker: TRC 011, TRC 121, a Medicaid determination, the region's benchmark;
* ``produce`` refuses instants without a zone, lists every bad line and publishes nothing from such a file;
* ``submit``'s dead letters carry the submission's identity (the file's SHA-256);
* an ``INVALID_CODE`` dead letter names every bad code of its record and a page the repository has;
* ``consume --by-time``, ``trr-file`` files that honour the umask, and "1 record".

The tests run in file order on the module's worker: the last one reads the replies the first and the
third caused.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams import topics
from streams.kafka.admin import ensure_topics
from streams.kafka.registry import SchemaRegistry
from streams.kafka.serde import Serde
from streams.tools import docpages
from streams.tools import planfiles as pf
from streams.tools.broker import EmbeddedBroker
from streams.tools.io import end_offsets, read_all
from streams.tools.runner import WorkerProcess
from tests.integration.conftest import PARTITIONS

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MBI = docpages.EXAMPLES[topics.BENEFICIARY_UPDATES]["mbi"]


@pytest.fixture(scope="module")
def bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A broker and a worker on it, for every test of the module (none of them stops it)."""
    tmp = tmp_path_factory.mktemp("records")
    broker = EmbeddedBroker(log_dir=tmp)
    broker.start(None)
    worker = None
    try:
        ensure_topics(broker.bootstrap, list(topics.ALL), PARTITIONS)
        worker = WorkerProcess(broker.bootstrap, tmp / "data", partitions=PARTITIONS).start()
        assert worker.wait_log("] ready: holding", 90), worker.log_tail()
        yield broker.bootstrap
        assert worker.alive(), worker.log_tail()
    finally:
        if worker is not None:
            worker.stop()
        broker.stop()


def _partd(*args: str, bootstrap: str | None = None, umask: int | None = None,
           stdout: object = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "PARTD_", "SCHEMA_"))}
    if bootstrap is not None:
        env["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
    return subprocess.run([sys.executable, "-m", "streams.tools.cli", *args], stdout=stdout, stderr=subprocess.PIPE,
                          text=True, env=env, timeout=120,
                          preexec_fn=None if umask is None else (lambda: os.umask(umask)))


def _consume(bootstrap: str, topic: str, *args: str) -> list[dict]:
    done = _partd("consume", topic, "--idle", "1", *args, bootstrap=bootstrap)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def _wait(bootstrap: str, topic: str, expect: int) -> None:
    """Until ``topic`` holds ``expect`` records (the worker's answers), at most 90 s."""
    serde = Serde(SchemaRegistry.embedded())
    asyncio.run(read_all(bootstrap, serde, topic, expect=expect, timeout=90))


def _count(bootstrap: str, topic: str) -> int:
    return sum(asyncio.run(end_offsets(bootstrap, [topic])).values())


def test_each_input_topics_example_published_with_produce_gets_its_answer(bootstrap: str, tmp_path: Path) -> None:
    for topic in (topics.PLAN_YEAR_UPDATES, topics.BENEFICIARY_UPDATES, topics.ENROLLMENT_REQUESTS,
                  topics.LIS_STATUS_CHANGES, topics.MAGI_APPLICATIONS, topics.CYCLE_COMMANDS):
        path = tmp_path / f"{topic}.jsonl"
        with open(path, "w") as out:  # `partd produce --example TOPIC > TOPIC.jsonl`
            assert _partd("produce", "--example", topic, stdout=out).returncode == 0
        done = _partd("produce", topic, str(path), bootstrap=bootstrap)
        assert (done.returncode, done.stdout, done.stderr) == (0, f"produced 1 record to {topic}\n", "")
        if topic == topics.ENROLLMENT_REQUESTS:
            _wait(bootstrap, topics.TRR_REPLIES, 1)  # answered before the LIS period is published

    _wait(bootstrap, topics.LIS_BENCHMARKS, 1)
    _wait(bootstrap, topics.TRR_REPLIES, 3)
    replies = [r["value"] for r in _consume(bootstrap, topics.TRR_REPLIES, "--key", "S7101")]
    enrollment = docpages.EXAMPLES[topics.ENROLLMENT_REQUESTS]
    # the enrollment: accepted as submitted (AEP election, 2027-01-01); the LIS period: 121 to the plan she is in;
    # the benchmark calculation: a 121 with what she now owes (docs/conventions.md, issue 23). Amounts: the 011
    # (no LIS yet) owes the whole 28.40; the LIS 121 comes before the benchmark is known (both empty); the
    # calculation's 121: 100% of min(28.40, 28.40) = 28.40 subsidy, 0.00 liability
    assert [(r["transaction_reply_code"], r["mbi"], r["pbp_id"], r["effective_date"]) for r in replies] == [
        ("011", MBI, "001", "2027-01-01"), ("121", MBI, "001", "2027-01-01"), ("121", MBI, "001", "2027-01-01")]
    assert [(r["reason"], r["lis_premium_subsidy_amount"], r["member_premium_liability"]) for r in replies] == [
        (None, None, "28.40"), (None, None, None), ("BENCHMARK_CALCULATED", "28.40", "0.00")]
    assert replies[0]["plan_tracking_id"] == enrollment["tracking_id"]
    assert (replies[1]["lis_premium_subsidy_level"], replies[1]["lis_copay_level"]) == ("100", "2")
    determinations = [d["value"] for d in _consume(bootstrap, topics.MEDICAID_DETERMINATIONS)]
    assert [(d["mbi"], d["application_id"]) for d in determinations] == [(MBI, "FL-2026-55501")]
    # region 11's 2027 benchmark: its one plan, no LIS enrollee in July 2026: the plan's premium (seed 004)
    benchmarks = [b["value"] for b in _consume(bootstrap, topics.LIS_BENCHMARKS)]
    assert [(b["region"], b["plan_year"], b["benchmark_premium"], b["plans_weighted"]) for b in benchmarks] == [
        ("11", 2027, "28.40", 1)]
    example_topics = set(docpages.EXAMPLES)
    assert not [d for d in _consume(bootstrap, topics.DEAD_LETTERS) if d["value"]["source_topic"] in example_topics]


def test_produce_refuses_instants_without_a_zone_lists_every_bad_line_and_publishes_nothing(
        bootstrap: str, tmp_path: Path) -> None:
    good = docpages.example(topics.ENROLLMENT_REQUESTS)
    lines = [good, dict(good, submitted_at="2026-11-02 14:00"), dict(good, submitted_at="2026-10-01"),
             dict(good, effective_date="2027-13-01"), "{not json"]
    path = tmp_path / "enrollments.jsonl"
    path.write_text("".join((json.dumps(x) if isinstance(x, dict) else x) + "\n" for x in lines))
    before = _count(bootstrap, topics.ENROLLMENT_REQUESTS)
    done = _partd("produce", topics.ENROLLMENT_REQUESTS, str(path), bootstrap=bootstrap)
    instant = ('an ISO instant with a zone, e.g. "2026-11-02T14:00:00Z" or "2026-11-02T09:00:00-05:00" is expected '
               "(add Z for UTC)")
    bad = f"partd: error: {path}:{{}}: not a valid enrollment-requests record: "
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.splitlines() == [
        bad.format(2) + f"EnrollmentTransaction.submitted_at: an instant without a zone '2026-11-02 14:00' where {instant}",
        bad.format(3) + f"EnrollmentTransaction.submitted_at: a date '2026-10-01' where {instant}",
        bad.format(4) + "EnrollmentTransaction.effective_date: expected an ISO date (YYYY-MM-DD), got '2027-13-01'",
        bad.format(5) + "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        f"partd: error: {path}: 4 of 5 records are not valid enrollment-requests records; nothing was published: fix "
        "them and run again (`partd produce --example enrollment-requests` prints a valid one; docs/record-shapes.md "
        "lists every field)"]
    assert (ROOT / "docs" / "record-shapes.md").is_file()

    one = tmp_path / "one.jsonl"
    one.write_text(json.dumps(dict(good, submitted_at="2026-11-02T14:00:00")) + "\n")
    done = _partd("produce", topics.ENROLLMENT_REQUESTS, str(one), bootstrap=bootstrap)
    assert done.returncode == 1 and done.stderr == (
        f"partd: error: {one}:1: not a valid enrollment-requests record: EnrollmentTransaction.submitted_at: an instant "
        f"without a zone '2026-11-02T14:00:00' where {instant}; nothing was published (`partd produce --example "
        "enrollment-requests` prints a valid one; docs/record-shapes.md lists every field)\n")

    many = tmp_path / "many.jsonl"
    many.write_text("".join(json.dumps(dict(good, submitted_at=f"2026-11-{d:02d}")) + "\n" for d in range(1, 26)))
    done = _partd("produce", topics.ENROLLMENT_REQUESTS, str(many), bootstrap=bootstrap)
    listed = done.stderr.splitlines()
    assert done.returncode == 1 and len(listed) == 21, listed
    assert [int(line.split(":")[3]) for line in listed[:20]] == list(range(1, 21))
    assert listed[20].startswith(f"partd: error: {many}: 25 of 25 records are not valid enrollment-requests records "
                                 "(5 more not shown); nothing was published")
    assert _count(bootstrap, topics.ENROLLMENT_REQUESTS) == before


def test_submit_dead_letters_carry_the_submission_identity(bootstrap: str, tmp_path: Path) -> None:
    def batch(folder: str, trackings: list[str]) -> Path:
        lines = [pf.tc61_line(dict(mbi="9AA9AA9AA99", tracking_id=t, transaction_code=61, contract_id="S7303",
                                   pbp_id="001", election_type="A", enrollment_source="B",
                                   application_date=dt.date(2026, 11, 1), effective_date=dt.date(2027, 1, 1)))
                 for t in trackings]
        path = tmp_path / folder / "S7303-TC61.txt"  # the same name, each day
        path.parent.mkdir()
        path.write_bytes(pf.file_bytes([lines[0], lines[1][:599], *lines[2:]]))  # line 2 is short
        return path

    monday, tuesday = batch("monday", ["MON-1", "MON-2", "MON-3"]), batch("tuesday", ["TUE-1", "TUE-2", "TUE-3"])
    sources = {}
    for path, at in ((monday, "2026-11-02T14:00:00Z"), (tuesday, "2026-11-03T14:00:00Z"),
                     (monday, "2026-11-04T14:00:00Z")):  # Monday's file again, byte for byte
        done = _partd("submit", str(path), "--submitted-at", at, bootstrap=bootstrap)
        sources[path] = f"file:S7303-TC61.txt@sha256:{hashlib.sha256(path.read_bytes()).hexdigest()}"
        assert done.returncode == 1
        assert done.stdout == (f"submit: {path}: published 2 to enrollment-requests, dead-lettered 1 to dead-letters "
                               f"(source_topic {sources[path]})\n")
    letters = [d["value"] for d in _consume(bootstrap, topics.DEAD_LETTERS)
               if d["value"]["source_topic"].startswith("file:S7303-TC61.txt")]
    assert sorted((d["source_topic"], d["partition"], d["offset"], d["error_code"]) for d in letters) == sorted([
        (sources[monday], -1, 2, pf.WRONG_LENGTH), (sources[tuesday], -1, 2, pf.WRONG_LENGTH),
        (sources[monday], -1, 2, pf.WRONG_LENGTH)])
    # docs/delivery.md's rule: two submissions stay two; the same bytes twice are one
    assert len({(d["source_topic"], d["partition"], d["offset"]) for d in letters}) == 2


def test_an_invalid_code_dead_letter_names_every_bad_code(bootstrap: str, tmp_path: Path) -> None:
    lis = dict(docpages.example(topics.LIS_STATUS_CHANGES), change_id="BAD-CODES", premium_subsidy_level="200",
               copay_level="9")
    bene = dict(docpages.example(topics.BENEFICIARY_UPDATES), mbi="1EG4TE5MK74", state_code="ZZ",
                medicaid_state_code="QQ")
    for topic, value in ((topics.LIS_STATUS_CHANGES, lis), (topics.BENEFICIARY_UPDATES, bene)):
        path = tmp_path / f"{topic}.jsonl"
        path.write_text(json.dumps(value) + "\n")
        assert _partd("produce", topic, str(path), bootstrap=bootstrap).returncode == 0
    before = len([d for d in _consume(bootstrap, topics.DEAD_LETTERS)])
    _wait(bootstrap, topics.DEAD_LETTERS, before if before >= 2 else 2)
    letters = {d["value"]["source_topic"]: d["value"] for d in _consume(bootstrap, topics.DEAD_LETTERS)
               if d["value"]["error_code"] == "INVALID_CODE"}
    assert letters[topics.LIS_STATUS_CHANGES]["error_message"] == (
        "premium_subsidy_level '200' is not one of 000, 025, 050, 075, 100 (seed 002 Table 14); copay_level '9' is "
        "not one of 0, 1, 2, 3, 4, 5 (seed 002 Table 13): the code tables are in docs/codes.md")
    assert letters[topics.BENEFICIARY_UPDATES]["error_message"] == (
        "state_code 'ZZ' is not a US state or territory; medicaid_state_code 'QQ' is not a US state or territory "
        "(two-letter USPS codes: docs/codes.md)")
    codes = (ROOT / "docs" / "codes.md").read_text()  # the page a dead letter points to is in the repository
    assert "## Seed 002 Table 14: premium subsidy levels" in codes and "## Seed 002 Table 13: copay levels" in codes


def test_consume_by_time_and_trr_files_that_honour_the_umask(bootstrap: str, tmp_path: Path) -> None:
    _wait(bootstrap, topics.TRR_REPLIES, 9)  # the examples' 3 (S7101), the 3 submitted batches' 2 x 008 (S7303)
    plain = _consume(bootstrap, topics.TRR_REPLIES)
    timed = _consume(bootstrap, topics.TRR_REPLIES, "--by-time")
    assert "timestamp" not in plain[0] and all(re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", r["timestamp"]) for r in timed)
    assert [r["timestamp"] for r in timed] == sorted(r["timestamp"] for r in timed)
    assert sorted((r["partition"], r["offset"]) for r in timed) == sorted((r["partition"], r["offset"]) for r in plain)
    for p in {r["partition"] for r in plain}:  # without --by-time: each partition in offset order
        offsets = [r["offset"] for r in plain if r["partition"] == p]
        assert offsets == sorted(offsets)
    # the batches submitted "on 2026-11-02..04" are older than the examples produced now: first by time
    assert timed[0]["key"] == "S7303" and timed[-1]["key"] == "S7101"
    assert len(timed) == 3 + 3 * 2

    for umask in (0o022, 0o027):
        out = tmp_path / f"trr-{umask:o}"
        done = _partd("trr-file", "--contract", "S7101", "--out", str(out), "--all", bootstrap=bootstrap, umask=umask)
        assert done.returncode == 0, done.stderr
        files = sorted(out.iterdir())
        assert len(files) == 3  # the enrollment's day, the LIS change's day and the benchmark calculation's day
        assert done.stdout.splitlines() == [f"{f}: 1 record" for f in files] + [
            "trr-file: S7101, all days: 3 records in 3 files (0 repeats dropped)"]
        assert {stat.S_IMODE(f.stat().st_mode) for f in files} == {0o666 & ~umask}
