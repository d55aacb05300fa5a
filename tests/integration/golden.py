"""Running a golden scenario (tests/golden/*) through a real broker and worker."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from streams.tools import scenario
from streams.tools.jsonconv import record_to_json
from tests.integration.conftest import Cluster

GOLDEN = Path(__file__).resolve().parent.parent / "golden"


load = scenario.load

#: Inputs no consumer group of the worker consumes (every worker reads them whole): nothing to settle on.
#: A scenario may publish last year's benchmarks on lis-benchmarks, as the product published them then.
READ_WHOLE = {"lis-benchmarks"}


def run(cluster: Cluster, inputs: list[dict[str, Any]], *, timestamp_ms: int | None = 1_760_000_000_000,
        settle: bool = True) -> None:
    """Publish stage by stage (each a second after the one before: record timestamps follow the
    publish order, and two runs read the same input log).

    ``settle``: wait after each stage until the worker has applied it; without it
    the whole log is published at once (a backlog) and applied in timestamp order.
    """
    for n, stage in enumerate(scenario.stages(inputs)):
        ts = timestamp_ms + 1000 * n if timestamp_ms is not None else None
        cluster.publish([(line["topic"], line["value"]) for line in stage], timestamp_ms=ts)
        if settle and stage[0]["topic"] not in READ_WHOLE:
            cluster.settle(stage[0]["topic"], stage[0]["value"])


def settle_all(cluster: Cluster, inputs: list[dict[str, Any]], timeout: float = 300.0) -> None:
    """Wait until the worker has applied a whole published log: every cycle command on every partition,
    then every member record."""
    for line in inputs:
        if line["topic"] == "cycle-commands":
            cluster.settle(line["topic"], line["value"], timeout=timeout)
    cluster.wait({line["topic"] for line in inputs if line["topic"] != "cycle-commands"} - READ_WHOLE, timeout=timeout)


def compare(cluster: Cluster, expected: list[dict[str, Any]], *, keep: dict[str, Any]) -> None:
    """Every expected record is there (on its key, on the fields the line gives), nothing more."""
    by_topic: dict[str, list[dict[str, Any]]] = {}
    for line in expected:
        by_topic.setdefault(line["topic"], []).append(line)
    for topic, lines in by_topic.items():
        actual = [(k, record_to_json(topic, r)) for k, r in cluster.read_keyed(topic) if keep.get(topic, lambda r: True)(r)]
        missing = []
        for line in lines:
            want = line["value"]
            hit = next((i for i, (k, r) in enumerate(actual)
                        if k == line["key"] and all(r.get(f) == v for f, v in want.items())), None)
            if hit is None:
                missing.append(line)
            else:
                actual.pop(hit)
        assert not missing and not actual, (
            f"{topic}: {len(missing)} expected records missing, {len(actual)} unexpected\n"
            f"missing: {[m['value'] for m in missing[:3]]}\nunexpected: {actual[:3]}"
        )


def check_backlog(cluster: Cluster, directory: Path, *, keep: dict[str, Any]) -> None:
    """The whole log published before the worker starts (each stage a second after the one
    before), then one worker: the answers must be those of a run where each stage settled."""
    inputs = load(directory / "inputs.jsonl")
    run(cluster, inputs, settle=False)
    cluster.worker()
    settle_all(cluster, inputs)
    compare(cluster, load(directory / "expected.jsonl"), keep=keep)
