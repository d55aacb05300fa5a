"""The 34 PDP regions as data (docs/codes.md); territories outside."""
from __future__ import annotations

import json
from importlib import resources

import pytest

from processors.regions import (
    REGIONS,
    STATE_TO_REGION,
    TERRITORIES,
    is_region,
    is_territory,
    region_of_state,
)

EXPECTED = {
    "01": "ME NH", "02": "CT MA RI VT", "03": "NY", "04": "NJ", "05": "DC DE MD", "06": "PA WV",
    "07": "VA", "08": "NC", "09": "SC", "10": "GA", "11": "FL", "12": "AL TN", "13": "MI", "14": "OH",
    "15": "IN KY", "16": "WI", "17": "IL", "18": "MO", "19": "AR", "20": "MS", "21": "LA", "22": "TX",
    "23": "OK", "24": "KS", "25": "IA MN MT NE ND SD WY", "26": "NM", "27": "CO", "28": "AZ", "29": "NV",
    "30": "OR WA", "31": "ID UT", "32": "CA", "33": "HI", "34": "AK",
}


def test_table_matches_domain_exactly():
    assert {r: " ".join(s) for r, s in REGIONS.items()} == EXPECTED


def test_fifty_states_and_dc_each_in_exactly_one_region():
    all_states = [s for states in REGIONS.values() for s in states]
    assert len(all_states) == len(set(all_states)) == 51
    assert len(STATE_TO_REGION) == 51


@pytest.mark.parametrize("code,region", [("MD", "05"), ("dc", "05"), (" de ", "05"), ("CA", "32"),
                                         ("HI", "33"), ("AK", "34"), ("WY", "25"), ("ME", "01")])
def test_region_of_state(code, region):
    assert region_of_state(code) == region


@pytest.mark.parametrize("code", ["PR", "VI", "GU", "AS", "MP", "pr"])
def test_territories_are_in_no_region(code):
    assert region_of_state(code) is None
    assert is_territory(code)


@pytest.mark.parametrize("code", [None, "", "XX", "ZZ", "05"])
def test_unknown_codes(code):
    assert region_of_state(code) is None
    assert not is_territory(code)


def test_table_is_data_not_code():
    raw = json.loads(resources.files("processors.data").joinpath("pdp_regions.json").read_text())
    assert set(raw["regions"]) == set(EXPECTED)
    assert set(raw["territories"]) == set(TERRITORIES) == {"PR", "VI", "GU", "AS", "MP"}


def test_is_region():
    assert is_region("01") and is_region("34")
    assert not is_region("35") and not is_region("1") and not is_region(None)
