"""No identifiers of people in the worker's log or /metrics; the web server listens on loopback only.

A real worker processes valid records for four people with known MBIs, SSNs,
names and birth dates (beneficiary updates, LIS periods, enrollments, a MAGI
application) and bad records that carry the same identifiers: undecodable and
truncated values, a key that is another person's MBI, invalid codes, an
overlapping LIS period, and transactions whose processing fails inside a
processor (dates at the end of the calendar: the worker logs those failures).
Then neither the worker's log file nor its ``/metrics`` page contains any MBI,
SSN (with or without dashes), first or last name or ISO birth date, while both
show the run happened (docs/security.md), at the default log level and at
``PARTD_LOG_LEVEL=debug``.
"""
from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

import pytest

from streams.tools import sample
from tests.faults import integ
from tests.faults.badinput import encode
from tests.faults.helpers import TS
from tests.integration.conftest import Cluster

pytestmark = [pytest.mark.integration, pytest.mark.faults]

WAIT = 240.0

PEOPLE = [
    # mbi, ssn as sent, first, last, birth date, state
    ("8TW4XJ2PQ61", "457555462", "Xanthippe", "Wolfeschlegel", "1941-05-17", "FL"),
    ("5RK7VN3MD48", "078-05-1120", "Bartholomew", "Vanderkruijs", "1938-11-02", "FL"),
    ("2HF9QP6WT37", "219099998", "Ottoline", "Featherstonehaugh", "1952-08-29", "TX"),
    ("6UY2GA8CE95", "321-54-9876", "Quillon", "Marchbanks", "1947-01-23", "FL"),
]


def _secrets() -> list[str]:
    out: list[str] = []
    for mbi, ssn, first, last, birth, _ in PEOPLE:
        digits = ssn.replace("-", "")
        out += [mbi, digits, f"{digits[:3]}-{digits[3:5]}-{digits[5:]}", first, last, birth]
    return out


def _bene(mbi: str, ssn: str, first: str, last: str, birth: str, state: str, **kw: object) -> dict:
    return dict(sample._bene(mbi, first, last, state, birth_date=birth), ssn=ssn, middle_initial="Q", **kw)


def _txn(tid: str, person: tuple, tc: int, contract: str, pbp: str, eff: str, **kw: object) -> dict:
    mbi, _, first, last, birth, _ = person
    return dict(sample._txn(tid, mbi, tc, contract, pbp, eff, **kw), first_name=first, last_name=last, birth_date=birth)


def _inputs() -> tuple[list, list, list, list]:
    a, b, c, d = PEOPLE
    benes = [("beneficiary-updates", p[0], encode("beneficiary-updates", _bene(*p))) for p in PEOPLE]
    # d is a full-benefit dual: later LIS and beneficiary events run the auto-enrollment rules on it.
    benes[3] = ("beneficiary-updates", d[0], encode("beneficiary-updates", _bene(*d, medicaid_status="FULL_BENEFIT_DUAL")))
    good_a = encode("beneficiary-updates", _bene(*a))
    bad_benes = [
        ("beneficiary-updates", a[0], good_a[:len(good_a) // 2]),                        # truncated: UNDECODABLE
        ("beneficiary-updates", a[0], b"\x07" + good_a[1:]),                              # WRONG_MAGIC_BYTE
        ("beneficiary-updates", b[0], good_a),                                            # KEY_MISMATCH
        ("beneficiary-updates", c[0], encode("beneficiary-updates", _bene(*c[:5], "ZZ"))),  # INVALID_CODE
        ("beneficiary-updates", a[1], encode("beneficiary-updates", _bene(a[1], *a[1:]))),  # an SSN as the MBI: INVALID_MBI
        ("beneficiary-updates", d[0], encode("beneficiary-updates", _bene(     # year 9999: applied (issue 16), no dead letter
            *d, medicaid_status="FULL_BENEFIT_DUAL", medicaid_start="9999-12-31", event_time="9999-12-31T23:59:59Z"))),
        ("beneficiary-updates", None, good_a),                                            # MISSING_KEY
    ]
    lis = [("lis-status-changes", p[0], encode("lis-status-changes", sample._lis(f"PRIV-L-{i}", p[0], "100", "1", "2026-01-01")))
           for i, p in enumerate(PEOPLE[:3])]
    bad_lis = [
        ("lis-status-changes", a[0], encode("lis-status-changes", sample._lis("PRIV-OV", a[0], "050", "2", "2026-06-01"))),  # overlap
        ("lis-status-changes", d[0], encode("lis-status-changes", dict(                 # year 9999: applied (issue 16)
            sample._lis("PRIV-L-END", d[0], "100", "1", "2026-01-01"), event_time="9999-12-31T23:59:59Z"))),
        ("lis-status-changes", b[0], b"\x00\x00\x00\x00\x02" + b[2].encode() + b[3].encode()),  # UNDECODABLE
    ]
    txns = [
        ("enrollment-requests", a[0], encode("enrollment-requests", _txn("PRIV-1", a, 61, "S7101", "001", "2027-01-01"))),
        ("enrollment-requests", b[0], encode("enrollment-requests", _txn("PRIV-2", b, 61, "S7202", "001", "2027-01-01"))),
        ("enrollment-requests", c[0], encode("enrollment-requests", _txn("PRIV-3", c, 61, "S7303", "001", "2027-01-01"))),
        ("enrollment-requests", c[0], encode("enrollment-requests", _txn("PRIV-4", c, 61, "S7999", "001", "2027-01-01"))),  # 107
        ("enrollment-requests", a[0], encode("enrollment-requests", _txn("PRIV-5", a, 99, "S7101", "001", "2027-01-01"))),  # bad TC
        ("enrollment-requests", a[0], encode("enrollment-requests", _txn("PRIV-6", a, 51, "S7101", "001", "9999-12-31"))),  # 037 (issue 16)
        ("enrollment-requests", b[0], encode("enrollment-requests", _txn("PRIV-7", b, 51, "S7202", "001", "0001-01-01"))),  # 037 (issue 16)
        ("enrollment-requests", c[0], b"\x00\x00\x00\x00\x01" + f"{c[2]} {c[3]} {c[4]} {c[1]}".encode()),  # UNDECODABLE
    ]
    magi = [("magi-applications", d[0], encode("magi-applications", {
        "application_id": "PRIV-APP", "mbi": d[0], "state_code": "FL", "application_date": "2026-10-05",
        "birth_date": d[4], "household_size": 1, "monthly_household_income": "800.00", "pregnant": False,
        "receives_ssi": True, "blind_or_disabled": False, "needs_long_term_care": False,
        "requests_medicare_cost_sharing": True, "medically_needy": False, "medicare_entitled": True,
        "event_time": "2026-10-05T12:00:00Z"}))]
    return benes + bad_benes, lis + bad_lis, txns, magi


def _listening(port: int) -> list[tuple[str, str]]:
    """(file, local address hex) of every listening TCP socket on ``port`` in this network namespace."""
    out = []
    for name in ("tcp", "tcp6"):
        path = Path("/proc/net") / name
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            addr, port_hex = fields[1].rsplit(":", 1)
            if int(port_hex, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                out.append((name, addr))
    return out


def _non_loopback_address() -> str | None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: no packet is sent for a UDP connect
            addr = s.getsockname()[0]
    except OSError:
        return None
    return None if addr.startswith("127.") or addr == "0.0.0.0" else addr


@pytest.mark.parametrize("level", ["info", "debug"])
def test_no_identifiers_in_logs_or_metrics(cluster: Cluster, level: str) -> None:
    """At the default level and at PARTD_LOG_LEVEL=debug (where Faust and aiokafka would write whole records)."""
    worker = cluster.worker(extra_env={"PARTD_LOG_LEVEL": level})
    benes, lis, txns, magi = _inputs()
    cluster.publish([("plan-year-updates", p) for p in sample.PLANS], timestamp_ms=TS)
    cluster.wait({"plan-year-updates"}, timeout=WAIT)
    for stage, topic in ((benes, "beneficiary-updates"), (lis, "lis-status-changes"), (txns, "enrollment-requests"),
                         (magi, "magi-applications")):
        cluster.publish(stage, raw=True, timestamp_ms=TS)
        cluster.wait({topic}, timeout=WAIT)
    assert worker.alive(), worker.log_tail()

    # The run happened: replies and dead letters. The extreme dates that used to make a processor fail
    # (PROCESSING_ERROR, logged) get answers since issue 16: 037 for PRIV-6/7, the year-9999 LIS and
    # beneficiary events are applied.
    replies = {r["plan_tracking_id"]: r["transaction_reply_code"] for r in cluster.read("trr-replies") if r["plan_tracking_id"]}
    assert replies == {"PRIV-1": "011", "PRIV-2": "011", "PRIV-3": "011", "PRIV-4": "107", "PRIV-6": "037", "PRIV-7": "037"}
    dead = cluster.read("dead-letters")
    codes = sorted(d["error_code"] for d in dead)
    # 6 bad beneficiary updates, 2 bad LIS changes, 2 bad transactions: each one dead letter.
    assert len(dead) == 10, codes
    assert codes.count("PROCESSING_ERROR") == 0, codes
    assert {"UNDECODABLE", "WRONG_MAGIC_BYTE", "KEY_MISMATCH", "INVALID_CODE", "INVALID_MBI", "MISSING_KEY",
            "LIS_PERIOD_OVERLAP", "INVALID_TRANSACTION_CODE"} <= set(codes), codes
    assert [r["mbi"] for r in cluster.read("medicaid-determinations")] == [PEOPLE[3][0]]

    with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/metrics", timeout=30) as resp:
        metrics = resp.read().decode()
    assert "partd_dead_letters_total" in metrics
    assert "partd_trr_replies_total" in metrics
    dead_total = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                     if line.startswith("partd_dead_letters_total"))
    assert dead_total == len(dead)  # the page shows this run, not just the metric's name
    cluster.stop_all()  # everything the worker will ever log about this run is in the file now
    log = worker.log_path.read_text(errors="replace")
    # the log shows the run (an empty log would pass every check below): the worker held every partition
    # (one worker, 4 partitions: streams/runtime/startup.holding_line) and stopped cleanly
    assert "ready: holding member partitions 0-3 of 4" in log, log[-2000:]
    assert "member runtime stopped after" in log
    assert ("[DEBUG]" in log) == (level == "debug")
    for secret in _secrets():
        for where, text in (("/metrics", metrics), ("worker log", log)):
            assert secret.lower() not in text.lower(), f"{secret!r} appears in the {where}"
    integ.report(f"privacy-{level}", records_in=len(benes) + len(lis) + len(txns) + len(magi) + len(sample.PLANS),
                 dead_letters=len(dead), identifiers_checked=len(_secrets()), log_lines=len(log.splitlines()),
                 metrics_bytes=len(metrics), leaks=0)


def test_web_server_listens_on_loopback_only_by_default(cluster: Cluster) -> None:
    worker = cluster.worker()
    assert "PARTD_WEB_HOST" not in worker.env or worker.env["PARTD_WEB_HOST"] == "127.0.0.1"
    cluster.publish([("plan-year-updates", p) for p in sample.PLANS], timestamp_ms=TS)
    cluster.wait({"plan-year-updates"}, timeout=WAIT)
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/healthz", timeout=30) as resp:
        assert resp.status == 200
    listening = _listening(worker.web_port)
    assert listening, f"nothing listens on {worker.web_port}"
    # 0100007F is 127.0.0.1 in /proc/net/tcp; ::1 in tcp6. Never 0.0.0.0 or ::.
    assert all(addr in ("0100007F", "00000000000000000000000001000000") for _, addr in listening), listening
    other = _non_loopback_address()
    if other is not None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            assert s.connect_ex((other, worker.web_port)) != 0, f"the web server answers on {other}"
