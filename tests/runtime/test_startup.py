"""streams/runtime/startup.py: the data directory's lock and cluster, the start-up lines (issue 27).

``tests/integration/test_cli_worker.py`` runs each of these through ``partd worker`` on real brokers.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from streams.runtime import startup


def test_a_locked_data_dir_is_refused_with_the_holder_and_both_variables(tmp_path: Path) -> None:
    data = tmp_path / "data"
    held = startup.lock_data_dir(data, 6066)
    assert (data / "worker.lock").read_text().startswith("pid ")
    with pytest.raises(startup.StartupError) as err:
        startup.lock_data_dir(data, 6067)  # another open file description: refused as another process would be
    assert str(err.value).startswith(f"the data directory {data} (PARTD_DATA_DIR) is in use by another worker on "
                                     "this machine (pid ")
    assert "web port 6066): give each worker its own PARTD_DATA_DIR and PARTD_WEB_PORT" in str(err.value)
    held.release()
    startup.lock_data_dir(data, 6067).release()  # free again once the holder is gone


def test_tables_of_another_cluster_are_set_aside_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "v1" / "tables" / "members-0.db").mkdir(parents=True)
    assert startup.check_cluster(data, "127.0.0.1:1", "A") == []  # first seen: recorded, nothing moved
    assert json.loads((data / "cluster.json").read_text()) == {"cluster_id": "A", "bootstrap": "127.0.0.1:1"}
    assert startup.check_cluster(data, "127.0.0.1:2", "A") == []  # the same cluster at another address
    warnings = startup.check_cluster(data, "127.0.0.1:3", "B")
    aside, = (data / "set-aside").iterdir()
    assert warnings == [f"the data directory {data} (PARTD_DATA_DIR) was written against another Kafka cluster (id A, "
                        f"at 127.0.0.1:2), not this one (id B, at 127.0.0.1:3): moved its tables ({data / 'v1'}) to "
                        f"{aside} (kept, not deleted) and restoring the member table from this cluster's changelog"]
    assert (aside / "v1" / "tables" / "members-0.db").is_dir() and not (data / "v1").exists()
    assert startup.check_cluster(data, "127.0.0.1:3", "B") == []  # said once
    assert startup.check_cluster(data, "127.0.0.1:3", None) == []  # a broker that does not say: nothing done


def test_lines() -> None:
    assert startup.ranges([5, 0, 1, 2, 7, 8]) == "0-2, 5, 7-8"
    assert startup.holding_line([0, 1, 2, 3], 8, first=True) == "ready: holding member partitions 0-3 of 8"
    assert startup.holding_line([4], 8, first=False) == "rebalanced: holding member partitions 4 of 8"
    assert startup.holding_line([], 4, first=False) == (
        "rebalanced: holding none of the 4 member partitions (other workers hold them all: this one stands by)")


@pytest.mark.parametrize("debug", [False, True])
def test_routine_rebalance_warnings_are_not_warnings(debug: bool) -> None:
    routine = startup.RoutineWarnings(debug)

    def record(msg: str, level: int = logging.WARNING) -> logging.LogRecord:
        return logging.LogRecord("x", level, __file__, 1, msg, ("partd",), None)

    heartbeat = record("Heartbeat failed for group %s because it is rebalancing")
    seek = record("[^--Consumer]: exception performing seek when flow not active IllegalStateError: No current "
                  "assignment for partition TopicPartition(topic='plan-year-updates', partition=1)")
    for r in (heartbeat, seek):
        assert routine.filter(r) is debug
        assert r.levelname == ("DEBUG" if debug else "WARNING")
    other = record("lag sample of group %s failed: %r")
    assert routine.filter(other) and other.levelname == "WARNING"
