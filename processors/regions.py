"""The 34 PDP regions (data in ``processors/data/pdp_regions.json``).

A member's region is the region of the state on their profile (seed 001: the
state file, else the address; the profile's ``state_code`` carries it). The
territories PR, VI, GU, AS and MP are in no region.
"""
from __future__ import annotations

import json
from importlib import resources

_DATA = json.loads(resources.files("processors.data").joinpath("pdp_regions.json").read_text())

#: region code ("01".."34") -> the state codes in it, as in the data file.
REGIONS: dict[str, tuple[str, ...]] = {r: tuple(states) for r, states in _DATA["regions"].items()}

#: two-letter state code -> region code.
STATE_TO_REGION: dict[str, str] = {s: r for r, states in REGIONS.items() for s in states}

#: territories: outside the 34 regions, never reassigned.
TERRITORIES: frozenset[str] = frozenset(_DATA["territories"])


def _norm(code: str | None) -> str:
    return (code or "").strip().upper()


def region_of_state(code: str | None) -> str | None:
    """The two-digit PDP region of a state code; None for a territory, an unknown code or None."""
    return STATE_TO_REGION.get(_norm(code))


def is_territory(code: str | None) -> bool:
    """True for PR, VI, GU, AS, MP (case-insensitive)."""
    return _norm(code) in TERRITORIES


def is_region(region: str | None) -> bool:
    """True for one of the 34 region codes ("01".."34")."""
    return region in REGIONS
