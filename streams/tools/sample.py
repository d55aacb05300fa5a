"""The built-in sample that ``partd up`` publishes: small, readable, every outcome once.

Plans in two PDP regions (11 Florida, 22 Texas) for plan years 2026 and 2027;
beneficiaries with and without LIS; valid and invalid transactions. Values are
JSON-shaped (ISO dates, string money) and go through ``streams.tools.jsonconv`` like
any ``partd produce`` file.
"""
from __future__ import annotations

from typing import Any

T0 = "2026-11-02T14:00:00Z"


def _plan(contract: str, pbp: str, year: int, region: str, parent: str, premium: str, plan_type: str = "PDP", **kw: Any) -> dict[str, Any]:
    return {
        "contract_id": contract, "pbp_id": pbp, "plan_year": year, "parent_org_id": parent,
        "region": region, "plan_type": plan_type, "benefit_type": kw.get("benefit_type", "BASIC"),
        "basic_premium": premium, "waives_de_minimis": kw.get("waives_de_minimis", False),
        "renewal_status": kw.get("renewal_status", "RENEWING"), "employer_group": False,
        "event_time": "2026-09-01T12:00:00Z",
    }


def _bene(mbi: str, first: str, last: str, state: str, **kw: Any) -> dict[str, Any]:
    return {
        "mbi": mbi, "first_name": first, "last_name": last, "middle_initial": None,
        "birth_date": kw.get("birth_date", "1950-03-14"), "sex": kw.get("sex", "F"), "ssn": None,
        "state_code": state, "county_code": kw.get("county_code", "010"),
        "part_a_start": "2015-03-01", "part_b_start": "2015-03-01", "part_d_eligible_start": "2015-03-01",
        "date_of_death": kw.get("date_of_death"), "medicaid_status": kw.get("medicaid_status", "NONE"),
        "medicaid_start": None, "medicaid_end": None,
        "opt_out_auto_enrollment": False, "opt_out_passive_enrollment": False,
        "event_time": "2026-10-01T12:00:00Z",
    }


def _txn(tracking: str, mbi: str, tc: int, contract: str, pbp: str, eff: str, **kw: Any) -> dict[str, Any]:
    return {
        "tracking_id": tracking, "correlation_id": kw.get("correlation_id"), "transaction_code": tc,
        "mbi": mbi, "contract_id": contract, "pbp_id": pbp,
        "election_type": kw.get("election_type", "A" if tc == 61 else None),
        "enrollment_source": kw.get("enrollment_source", "B"), "sep_reason": kw.get("sep_reason"),
        "disenrollment_reason": kw.get("disenrollment_reason"),
        "application_date": kw.get("application_date", "2026-11-01"), "effective_date": eff,
        "submitted_at": kw.get("submitted_at", T0), "submitter_id": contract,
        "first_name": None, "last_name": None, "middle_initial": None, "birth_date": None, "sex": None,
        "rx_bin": kw.get("rx_bin"), "rx_pcn": kw.get("rx_pcn"), "rx_group": kw.get("rx_group"),
        "rx_member_id": kw.get("rx_member_id"),
    }


def _lis(change: str, mbi: str, level: str, copay: str, start: str, end: str | None = None, action: str = "UPSERT") -> dict[str, Any]:
    return {
        "change_id": change, "mbi": mbi, "action": action, "premium_subsidy_level": level,
        "copay_level": copay, "subsidy_source": "D", "start_date": start, "end_date": end,
        "event_time": "2026-11-03T09:00:00Z",
    }


PLANS = [
    _plan(c, p, y, region, parent, prem)
    for y in (2026, 2027)
    for c, p, region, parent, prem in (
        ("S7101", "001", "11", "ORG-SUN", "28.40"),
        ("S7101", "002", "11", "ORG-SUN", "41.10"),
        ("S7202", "001", "11", "ORG-GULF", "30.05"),
        ("S7303", "001", "22", "ORG-LONE", "25.75"),
        ("S7303", "005", "22", "ORG-LONE", "39.90"),
    )
]

BENEFICIARIES = [
    _bene("1EG4TE5MK73", "Ada", "Lovelace", "FL"),
    _bene("2FH5UF6NK84", "Ben", "Ortiz", "FL"),
    _bene("3GJ6VG7PM95", "Cora", "Diaz", "TX"),
    _bene("4HK7WH8QN16", "Dev", "Patel", "TX", sex="M"),
    _bene("5JM8XJ9RP27", "Eve", "Nguyen", "FL", date_of_death="2026-10-20"),
]

# Stage 1: the plan catalog and who the beneficiaries are.
STAGE_REFERENCE = [("plan-year-updates", p) for p in PLANS] + [("beneficiary-updates", b) for b in BENEFICIARIES]

# Stage 2: enrollments (every listed TRC once) and a 4Rx.
STAGE_ENROLL = [
    ("enrollment-requests", _txn("SAMPLE-0001", "1EG4TE5MK73", 61, "S7101", "001", "2027-01-01")),   # 011
    ("enrollment-requests", _txn("SAMPLE-0002", "1EG4TE5MK73", 61, "S7101", "001", "2027-01-01")),   # 109
    ("enrollment-requests", _txn("SAMPLE-0003", "2FH5UF6NK84", 61, "S7202", "001", "2027-01-01")),   # 011
    ("enrollment-requests", _txn("SAMPLE-0004", "3GJ6VG7PM95", 61, "S7303", "001", "2027-01-01")),   # 011
    ("enrollment-requests", _txn("SAMPLE-0005", "4HK7WH8QN16", 61, "S7999", "001", "2027-01-01")),   # 107
    ("enrollment-requests", _txn("SAMPLE-0006", "4HK7WH8QN16", 61, "S7303", "005", "2027-01-15")),   # 037
    ("enrollment-requests", _txn("SAMPLE-0007", "5JM8XJ9RP27", 61, "S7101", "002", "2027-01-01")),   # 036
    ("enrollment-requests", _txn("SAMPLE-0008", "9ZZ9ZZ9ZZ99", 61, "S7101", "001", "2027-01-01")),   # 007
    ("enrollment-requests", _txn("SAMPLE-0009", "6KN9YK1TQ38", 61, "S7101", "001", "2027-01-01")),   # 008
    ("enrollment-requests", _txn("SAMPLE-0010", "4HK7WH8QN16", 61, "S7303", "005", "2027-01-01", election_type=None)),  # 104
]

# Stage 3: changes to those enrollments, LIS, and bad input.
STAGE_CHANGE = [
    ("enrollment-requests", _txn("SAMPLE-0011", "1EG4TE5MK73", 72, "S7101", "001", "2027-01-01",
                                  rx_bin="610014", rx_pcn="MEDDPRIME", rx_group="SUN01", rx_member_id="A1B2C3")),  # 204
    ("enrollment-requests", _txn("SAMPLE-0012", "2FH5UF6NK84", 61, "S7101", "002", "2027-02-01", election_type="U")),  # 011 + 014
    ("enrollment-requests", _txn("SAMPLE-0013", "3GJ6VG7PM95", 51, "S7303", "001", "2027-03-31", disenrollment_reason="11")),  # 013
    ("enrollment-requests", _txn("SAMPLE-0014", "3GJ6VG7PM95", 81, "S7303", "001", "2027-03-31")),  # 291
    ("enrollment-requests", _txn("SAMPLE-0015", "4HK7WH8QN16", 72, "S7303", "001", "2027-01-01", rx_bin="1")),  # 209
    ("lis-status-changes", _lis("LIS-0001", "1EG4TE5MK73", "100", "1", "2026-01-01")),  # 121
    ("lis-status-changes", _lis("LIS-0002", "1EG4TE5MK73", "050", "2", "2026-06-01", "2026-12-31")),  # overlap: dead letter
]

GARBAGE = [
    ("enrollment-requests", "1EG4TE5MK73", b"\x00\x00\x00\x00\x01not avro at all"),
    ("lis-status-changes", "2FH5UF6NK84", b"plain text is not a record"),
]


# --------------------------------------------------------------------------
# A synthetic churn of enrollments (the fault tests and scripts/crash_soak.py)
# --------------------------------------------------------------------------
LETTERS = "ACDEFGHJKMNPQRTUVWXY"
# Contract/PBP pairs of the sample catalog (2027) a member can switch between.
SWITCH = [("S7101", "001"), ("S7202", "001"), ("S7101", "002")]


def mbi(i: int) -> str:
    """A valid, unique MBI for every i < 20**4 * 9."""
    a, b, c, d = i % 20, (i // 20) % 20, (i // 400) % 20, (i // 8000) % 20
    return f"{1 + (i // 160000) % 9}{LETTERS[a]}{LETTERS[b]}{i % 10}{LETTERS[c]}{LETTERS[d]}{(i // 10) % 10}KM{(i // 100) % 10}{i % 7}"


def enrollment_churn(members: int, per_member: int) -> tuple[list[tuple[str, dict[str, Any]]], list[tuple[str, dict[str, Any]]]]:
    """(people, transactions): members in FL with full LIS, then per_member transactions each.

    Each member enrolls, then switches plans (011 + 014 to the losing plan),
    repeats itself (109), or updates 4Rx (TC 72): every kind of reply, each
    depending on the state, so that a lost or doubled state write shows.
    """
    people: list[tuple[str, dict[str, Any]]] = []
    for i in range(members):
        m = mbi(i)
        people.append(("beneficiary-updates", _bene(m, f"First{i}", f"Last{i}", "FL")))
        people.append(("lis-status-changes", _lis(f"L-{i}", m, "100", "1", "2026-01-01")))
    txns: list[tuple[str, dict[str, Any]]] = []
    for round_ in range(per_member):
        for i in range(members):
            m, tid, kind = mbi(i), f"T{i:05d}-{round_:03d}", (i + round_) % 4
            if round_ == 0 or kind in (0, 1):
                c, p = SWITCH[(i + round_) % len(SWITCH)]
                txns.append(("enrollment-requests", _txn(
                    tid, m, 61, c, p, f"2027-{1 + round_ % 12:02d}-01", election_type="U" if round_ else "A",
                    application_date=f"2026-11-{1 + round_ % 28:02d}")))
            elif kind == 2:
                c, p = SWITCH[(i + round_ - 1) % len(SWITCH)]
                txns.append(("enrollment-requests", _txn(tid, m, 61, c, p, "2027-01-01")))
            else:
                c, p = SWITCH[i % len(SWITCH)]
                txns.append(("enrollment-requests", _txn(
                    tid, m, 72, c, p, "2027-01-01", rx_bin="610014", rx_pcn="P", rx_group="G", rx_member_id=f"X{i}")))
    return people, txns
