"""The same input log, processed twice on fresh brokers, gives identical output records."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from streams import topics
from streams.kafka.serde import Serde
from tests.integration import golden
from tests.integration.conftest import fresh_cluster

pytestmark = pytest.mark.integration


def _run_once(tmp: Path, serde: Serde) -> dict[str, Counter[tuple[bytes | None, bytes]]]:
    with fresh_cluster(tmp, serde) as cluster:
        cluster.worker()
        inputs = golden.load(golden.GOLDEN / "annual_cycle" / "inputs.jsonl")
        garbage = [("enrollment-requests", "1EG4TE5MK01", b"\x00\x00\x00\x00\x01\x02garbage")]
        golden.run(cluster, inputs)
        cluster.publish(garbage, raw=True, timestamp_ms=1_760_000_000_000)
        cluster.wait({"enrollment-requests"})
        return {t: Counter(cluster.read_raw(t)) for t in topics.OUTPUTS}


def test_same_inputs_give_byte_identical_outputs(tmp_path: Path, serde: Serde) -> None:
    first = _run_once(tmp_path / "a", serde)
    second = _run_once(tmp_path / "b", serde)
    assert sum(first["trr-replies"].values()) > 40
    # 7 blue letters + 1 tan letter + 1 REASSIGNMENT_NOT_POSSIBLE + 1 LIS_ENDS_NEXT_YEAR (issue 22; the
    # December second notices come from REASSIGNMENT_FORMULARY_NOTICES, not in this log)
    assert sum(first["beneficiary-notices"].values()) == 10
    assert sum(first["dead-letters"].values()) == 1
    for topic in topics.OUTPUTS:
        assert first[topic] == second[topic], f"{topic} differs between two runs of the same log"
