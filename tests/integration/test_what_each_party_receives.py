"""Issue 23 through a real broker and worker: plans can bill, states see their answers, the Cleanup ID.

One log, published whole before the worker starts (a backlog, each stage a second after the one before), so
which benchmark a reply sees is decided by the log's order alone: member A enrolls before the 2027 benchmark
calculation (its 011 has no amounts; the calculation then sends A's plan a 121 with them), member B after it (its
011 has them, and the Cleanup ID its transaction set); Florida's own submission is answered on ``state-responses``
under ``FL``. The golden scenarios show the rest (tests/golden/*/README.md).
"""
from __future__ import annotations

from decimal import Decimal

import pytest

from streams.tools import sample
from tests.integration import golden
from tests.integration.conftest import Cluster

pytestmark = pytest.mark.integration

A, B, C = "1EG4TE5MA01", "1EG4TE5MA02", "1EG4TE5MA03"


def _line(topic: str, value: dict) -> dict:
    return {"topic": topic, "key": None, "value": value}


def _log() -> list[dict]:
    plan = sample._plan
    plans = [plan("S7101", "001", 2026, "11", "ORG1", "38.00"), plan("S7101", "001", 2027, "11", "ORG1", "40.00"),
             plan("S7202", "001", 2027, "11", "ORG2", "30.00"),
             plan("H9001", "001", 2027, "11", "ORG9", "0.00", plan_type="MMP")]
    people = [sample._bene(m, "ADA", "LOVELACE", "FL") for m in (A, B, C)]
    lis = [sample._lis(f"L-{m}", m, "100", "1", "2026-01-01") for m in (A, B, C)]
    a_enrolls = sample._txn("A-61", A, 61, "S7101", "001", "2027-01-01", submitted_at="2026-07-01T12:00:00Z",
                            application_date="2026-07-01")
    calculate = {"command": "CALCULATE_BENCHMARKS", "plan_year": 2027, "as_of": "2026-07-31T16:00:00Z",
                 "reference_month": "2026-07-01", "state_code": None, "seed": None}
    b_enrolls = sample._txn("B-61", B, 61, "S7101", "001", "2027-01-01", submitted_at="2026-08-03T12:00:00Z",
                            application_date="2026-08-03") | {"cleanup_id": "CLN-2026-0042"}
    by_florida = sample._txn("FL-61", C, 61, "H9001", "001", "2027-01-01", submitted_at="2026-08-03T12:00:00Z",
                             application_date="2026-08-03", enrollment_source="J") | {"submitter_id": "FL"}
    return ([_line("plan-year-updates", p) for p in plans] + [_line("beneficiary-updates", b) for b in people]
            + [_line("lis-status-changes", x) for x in lis] + [_line("enrollment-requests", a_enrolls)]
            + [_line("cycle-commands", calculate)] + [_line("enrollment-requests", t) for t in (b_enrolls, by_florida)])


def test_amounts_follow_the_log_states_get_their_answers_and_replies_carry_the_cleanup_id(cluster: Cluster) -> None:
    inputs = _log()
    golden.run(cluster, inputs, settle=False)
    cluster.worker()
    golden.settle_all(cluster, inputs)
    replies = cluster.read_keyed("trr-replies")
    by = {(r["plan_tracking_id"] or r["reason"], r["mbi"]): r for _, r in replies}

    # Region 11 has no LIS enrollee in July 2026: the benchmark is the plain average (40.00 + 30.00) / 2 = 35.00.
    a = by[("A-61", A)]
    assert (a["transaction_reply_code"], a["part_d_premium"]) == ("011", Decimal("40.00"))
    assert (a["lis_premium_subsidy_amount"], a["member_premium_liability"]) == (None, None)  # no 2027 benchmark yet
    recalc = by[("BENCHMARK_CALCULATED", A)]  # the calculation tells A's plan what A will owe
    assert (recalc["transaction_reply_code"], recalc["contract_id"], recalc["effective_date"].isoformat()) == (
        "121", "S7101", "2027-01-01")
    assert (recalc["lis_premium_subsidy_amount"], recalc["member_premium_liability"]) == (
        Decimal("35.00"), Decimal("5.00"))
    b = by[("B-61", B)]
    assert (b["transaction_reply_code"], b["lis_premium_subsidy_amount"], b["member_premium_liability"]) == (
        "011", Decimal("35.00"), Decimal("5.00"))
    assert b["cleanup_id"] == "CLN-2026-0042" and a["cleanup_id"] is None
    assert b["file_name"] == "P.RS7101.DAILYTRR.D260803.T1200000.01"  # seed 001's process number

    # Florida reads its own answer under its own key: the same record as the MMP's (108: before the window).
    [(key, answer)] = cluster.read_keyed("state-responses")
    fl = by[("FL-61", C)]
    assert key == "FL" and answer == fl
    assert (fl["transaction_reply_code"], fl["trc_short_name"], fl["reason"]) == (
        "108", "ELECTION LIMITS EXCEEDED", "OUTSIDE_WINDOW")
