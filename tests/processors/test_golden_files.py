"""Every golden scenario is well formed: inputs decodable as their topic's records, and every expected line
with its hand-written reason (``_why``), the fields it compares and nothing else."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from streams.tools.jsonconv import record_from_json

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
SCENARIOS = sorted(p.name for p in GOLDEN.iterdir() if (p / "expected.jsonl").is_file())


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_the_scenarios_are_there():
    assert {"annual_cycle", "mmp_passive", "plan_year"} <= set(SCENARIOS)


@pytest.mark.parametrize("name", SCENARIOS)
def test_golden_files_are_well_formed(name):
    directory = GOLDEN / name
    assert (directory / "README.md").is_file()
    for line in _lines(directory / "inputs.jsonl"):
        assert set(line) == {"topic", "key", "value"}
        record_from_json(line["topic"], line["value"])  # raises on a field the topic's record does not have
    for line in _lines(directory / "expected.jsonl"):
        assert set(line) == {"topic", "key", "value", "_why"} and len(line["_why"]) > 20, line
