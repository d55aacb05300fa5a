"""The seed 002 code tables as data."""
from __future__ import annotations

import pytest

from processors import codes


def test_table_sizes_match_seed_002():
    assert len(codes.ELECTION_TYPES) == 20 and len(codes.ENROLLMENT_SOURCES) == 13
    assert len(codes.SEP_REASONS) == 39 and len(codes.DISENROLLMENT_REASONS) == 67
    assert list(codes.COPAY_LEVELS) == ["0", "1", "2", "3", "4", "5"]
    assert list(codes.PREMIUM_SUBSIDY_LEVELS) == ["000", "025", "050", "075", "100"]
    assert set(codes.SUBSIDY_SOURCES) == {"A", "D"}
    assert set(codes.TRANSACTION_CODES) == {51, 61, 72, 80, 81, 82, 83}
    assert len(codes.STATE_CODES) == 51 and codes.TERRITORY_CODES == {"PR", "VI", "GU", "AS", "MP"}


def test_enrollment_source_normalisation():
    assert codes.normalize_enrollment_source("H") == "H"
    assert codes.normalize_enrollment_source("M") == "I"   # M is not in T24
    assert codes.normalize_enrollment_source(None) == "I"


def test_sep_reason_flags():
    assert codes.sep_reason_for_enrollment("22") and not codes.sep_reason_for_disenrollment("22")
    assert codes.sep_reason_for_enrollment("31") and codes.sep_reason_for_disenrollment("31")
    assert codes.sep_reason_for_disenrollment("YB")
    assert not codes.sep_reason_for_enrollment("77") and not codes.is_sep_reason(None)


def test_disenrollment_reasons():
    assert codes.DISENROLLMENT_REASONS["13"] == "ENR IN OTHER PLAN"
    assert codes.normalize_disenrollment_reason("Y8") == "Y8"
    assert codes.normalize_disenrollment_reason("38") == "99"   # 38-40 are not in T30
    assert codes.normalize_disenrollment_reason(None) == "99"


def test_election_types():
    assert codes.is_election_type("U") and codes.ELECTION_TYPES["U"] == "Dual or LIS SEP"
    assert not codes.is_election_type("B") and not codes.is_election_type(None)


@pytest.mark.parametrize("mbi", ["1EG4TE5MK73", "9AA0AA0AA00", "2AC3DE4FG56", "1E94T95MK73"])
def test_valid_mbis(mbi):
    assert codes.is_valid_mbi(mbi)


@pytest.mark.parametrize("mbi", ["", None, "1EG4TE5MK7", "0EG4TE5MK73", "1SG4TE5MK73", "1LG4TE5MK73",
                                 "1OG4TE5MK73", "1IG4TE5MK73", "1BG4TE5MK73", "1ZG4TE5MK73",
                                 "1EG4TE5MK7A", "1EGXTE5MK73", "1EG4995MK73", "1eg4te5mk73", "1EG4TE5MK73 "])
def test_invalid_mbis(mbi):
    assert not codes.is_valid_mbi(mbi)


def test_state_codes():
    assert codes.is_state_code("DC") and codes.is_state_code("GU") and codes.is_territory("PR")
    assert not codes.is_state_code("XX") and not codes.is_territory("OH")
