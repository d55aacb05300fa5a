"""A plan's files through a real broker and a real worker: a TC 61 batch in (``partd submit``),
the fixed-width TRR out (``partd trr-file``), read back (``partd trr-read``)."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from streams import topics
from streams.tools import planfiles as pf
from streams.tools import sample

pytestmark = pytest.mark.integration

AT = "2026-11-02T14:00:00Z"


def _partd(bootstrap: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streams.tools.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}, timeout=120)


def _txn(tracking: str, mbi: str, contract: str, pbp: str) -> dict:
    return dict(mbi=mbi, tracking_id=tracking, transaction_code=61, contract_id=contract, pbp_id=pbp,
                election_type="A", enrollment_source="B", application_date=dt.date(2026, 11, 1),
                effective_date=dt.date(2027, 1, 1), last_name="SUBMITTED", first_name="NAME", sex="U")


def test_a_batch_in_and_the_trr_files_out(cluster, tmp_path: Path) -> None:
    cluster.worker()
    cluster.publish(sample.STAGE_REFERENCE)
    cluster.wait({topics.PLAN_YEAR_UPDATES, topics.BENEFICIARY_UPDATES})

    good = [
        _txn("FILE-0001", "1EG4TE5MK73", "S7101", "001"),  # 011
        _txn("FILE-0002", "2FH5UF6NK84", "S7101", "002"),  # 011
        _txn("FILE-0003", "3GJ6VG7PM95", "S7303", "001"),  # 011, another contract's file
        _txn("FILE-0004", "6KN9YK1TQ38", "S7101", "001"),  # 008: nobody by that MBI
        _txn("FILE-0005", "1EG4TE5MK73", "S7101", "001"),  # 109: already in that PBP
    ]
    lines = [pf.tc61_line(t) for t in good]
    short = lines[0][:599]
    tc51 = lines[1][:59] + "51" + lines[1][61:]
    batch = tmp_path / "S7101-TC61.txt"
    batch.write_bytes(pf.file_bytes(lines[:2] + [short] + lines[2:4] + [tc51] + lines[4:]))

    done = _partd(cluster.bootstrap, "submit", str(batch), "--submitted-at", AT)
    assert done.returncode == 1, done.stderr
    assert "published 5 to enrollment-requests, dead-lettered 2 to dead-letters" in done.stdout
    assert f"{batch}:3: WRONG_LENGTH" in done.stderr and f"{batch}:6: UNKNOWN_TC" in done.stderr

    cluster.wait({topics.ENROLLMENT_REQUESTS})
    source = f"file:{batch.name}@sha256:{hashlib.sha256(batch.read_bytes()).hexdigest()}"
    letters = [d for d in cluster.read(topics.DEAD_LETTERS, expect=2) if d["source_topic"] == source]
    assert sorted((d["offset"], d["error_code"], d["raw_value"]) for d in letters) == [
        (3, pf.WRONG_LENGTH, short.encode()), (6, pf.UNKNOWN_TC, tc51.encode())]
    replies = cluster.read(topics.TRR_REPLIES, expect=5)
    mine = [r for r in replies if r["contract_id"] == "S7101"]
    assert sorted((r["plan_tracking_id"], r["transaction_reply_code"]) for r in mine) == [
        ("FILE-0001", "011"), ("FILE-0002", "011"), ("FILE-0004", "008"), ("FILE-0005", "109")]

    out1, out2 = tmp_path / "out1", tmp_path / "out2"
    for out in (out1, out2):
        done = _partd(cluster.bootstrap, "trr-file", "--contract", "S7101", "--out", str(out), "--date", "2026-11-02")
        assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in out1.iterdir())
    assert names == sorted({r["file_name"] for r in mine}) == ["P.RS7101.DAILYTRR.D261102.T1400000.01"]
    for name in names:  # written again: the same bytes
        assert (out1 / name).read_bytes() == (out2 / name).read_bytes()
    data = (out1 / names[0]).read_bytes()
    assert [len(line) for _, line in pf.lines_of(data)] == [800] * 4

    done = _partd(cluster.bootstrap, "trr-read", str(out1 / names[0]))
    assert done.returncode == 0, done.stderr
    read = [json.loads(line) for line in done.stdout.splitlines()]
    want = []
    for r in mine:
        carried = {k: r.get(k) for k in pf.TRR_CARRIED}
        carried["trc_short_name"] = r["trc_short_name"][:15].rstrip()
        carried["file_name"] = r["file_name"]
        want.append(json.loads(pf.json_line(carried)))
    key = lambda x: x["plan_tracking_id"]  # noqa: E731
    assert sorted(read, key=key) == sorted(want, key=key)
    # Name, sex and birth date as CMS has them (beneficiary-updates), else as the plan sent them.
    names = {r["plan_tracking_id"]: (r["last_name"], r["first_name"], r["sex"], r["birth_date"]) for r in read}
    assert names["FILE-0001"] == ("Lovelace", "Ada", "F", "1950-03-14")
    assert names["FILE-0004"] == ("SUBMITTED", "NAME", "U", None)

    none = _partd(cluster.bootstrap, "trr-file", "--contract", "S7101", "--out", str(tmp_path / "none"),
                  "--date", "2026-11-03")
    assert none.returncode == 0 and not list((tmp_path / "none").iterdir())
    every = _partd(cluster.bootstrap, "trr-file", "--contract", "S7303", "--out", str(tmp_path / "all"), "--all")
    assert every.returncode == 0, every.stderr
    [other] = list((tmp_path / "all").iterdir())
    assert [pf.parse_trr_line(line)["plan_tracking_id"] for _, line in pf.lines_of(other.read_bytes())] == ["FILE-0003"]
