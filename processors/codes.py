"""Code tables of seed 002 (and the contract's transaction codes), kept as data.

The tables live in ``processors/data/codes.json``; this module only loads them
and answers membership questions. Every helper takes the raw string from the
event (``None`` allowed) and never raises.
"""
from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

_DATA: dict[str, Any] = json.loads(
    resources.files("processors.data").joinpath("codes.json").read_text()
)

COPAY_LEVELS: dict[str, str] = _DATA["copay_levels"]                      # T13
PREMIUM_SUBSIDY_LEVELS: dict[str, str] = _DATA["premium_subsidy_levels"]  # T14
SUBSIDY_SOURCES: dict[str, str] = _DATA["subsidy_sources"]                # T15
ELECTION_TYPES: dict[str, str] = _DATA["election_types"]                  # T23
ENROLLMENT_SOURCES: dict[str, str] = _DATA["enrollment_sources"]          # T24
SEP_REASONS: dict[str, dict[str, Any]] = _DATA["sep_reasons"]             # T28
DISENROLLMENT_REASONS: dict[str, str] = _DATA["disenrollment_reasons"]    # T30
TRANSACTION_CODES: dict[int, str] = {int(k): v for k, v in _DATA["transaction_codes"].items()}
STATE_CODES: frozenset[str] = frozenset(_DATA["state_codes"])             # 50 states + DC
TERRITORY_CODES: frozenset[str] = frozenset(_DATA["territory_codes"])     # PR VI GU AS MP

# Transaction codes (docs/codes.md).
TC_DISENROLL = 51
TC_ENROLL = 61
TC_4RX = 72
TC_CANCEL_ENROLLMENT = 80
TC_CANCEL_DISENROLLMENT = 81
TC_MMP_CANCEL = 82
TC_MMP_OPT_OUT = 83
# Replies that answer no submitted transaction (LIS 121/223) use CMS's
# "system generated" transaction type 01.
TC_INFORMATIONAL = 1

INVALID_ENROLLMENT_SOURCE = "I"   # T24: invalid submitted value, transaction not rejected
DEFAULT_DISENROLLMENT_REASON = "99"  # T30 "OTHER (not supplied by beneficiary)"
DISENROLLMENT_REASON_OTHER_PLAN = "13"  # T30 "ENR IN OTHER PLAN"

# CMS MBI format: C A AN N A AN N A A N N, letters exclude S L O I B Z.
_L = "ACDEFGHJKMNPQRTUVWXY"
_MBI_RE = re.compile(
    rf"^[1-9][{_L}][{_L}0-9][0-9][{_L}][{_L}0-9][0-9][{_L}][{_L}][0-9][0-9]$"
)


def is_valid_mbi(mbi: str | None) -> bool:
    """True if ``mbi`` has the CMS MBI format (11 characters, upper case)."""
    return isinstance(mbi, str) and _MBI_RE.match(mbi) is not None


def is_election_type(code: str | None) -> bool:
    return code in ELECTION_TYPES


def is_enrollment_source(code: str | None) -> bool:
    return code in ENROLLMENT_SOURCES


def normalize_enrollment_source(code: str | None) -> str:
    """The source as stored and replied: an unknown or missing value becomes ``I``."""
    return code if code in ENROLLMENT_SOURCES else INVALID_ENROLLMENT_SOURCE


def is_sep_reason(code: str | None) -> bool:
    return code in SEP_REASONS


def sep_reason_for_enrollment(code: str | None) -> bool:
    """True if ``code`` is a T28 SEP reason flagged 'Enrollment SEP? = Y'."""
    return code in SEP_REASONS and bool(SEP_REASONS[code]["enrollment"])


def sep_reason_for_disenrollment(code: str | None) -> bool:
    """True if ``code`` is a T28 SEP reason flagged 'Disenrollment SEP? = Y'."""
    return code in SEP_REASONS and bool(SEP_REASONS[code]["disenrollment"])


def is_disenrollment_reason(code: str | None) -> bool:
    return code in DISENROLLMENT_REASONS


def normalize_disenrollment_reason(code: str | None) -> str:
    """A blank or invalid reason becomes ``99`` (what CMS substitutes)."""
    return code if code in DISENROLLMENT_REASONS else DEFAULT_DISENROLLMENT_REASON


def is_copay_level(code: str | None) -> bool:
    return code in COPAY_LEVELS


def is_premium_subsidy_level(code: str | None) -> bool:
    return code in PREMIUM_SUBSIDY_LEVELS


def is_subsidy_source(code: str | None) -> bool:
    return code in SUBSIDY_SOURCES


def is_transaction_code(code: int | None) -> bool:
    return code in TRANSACTION_CODES


def is_state_code(code: str | None) -> bool:
    """50 states, DC and the territories PR, VI, GU, AS, MP."""
    return code in STATE_CODES or code in TERRITORY_CODES


def is_territory(code: str | None) -> bool:
    return code in TERRITORY_CODES
