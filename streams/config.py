"""Configuration, read once from the environment (README lists every variable)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

INPUT_TOPICS = (
    "enrollment-requests",
    "lis-status-changes",
    "plan-year-updates",
    "beneficiary-updates",
    "cycle-commands",
    "magi-applications",
)
OUTPUT_TOPICS = (
    "trr-replies",
    "beneficiary-notices",
    "plan-notices",
    "state-reassignment-lists",
    "lis-benchmarks",
    "dead-letters",
    "medicaid-determinations",
)
# Input topics keyed by MBI: one agent, co-partitioned with the member table.
MEMBER_TOPICS = ("enrollment-requests", "lis-status-changes", "beneficiary-updates", "magi-applications")
# Internal: cycle steps fanned out to every member partition.
MEMBER_COMMANDS_TOPIC = "partd-member-commands"
# Internal: each partition's report on a cycle step (keyed by command id).
CYCLE_RESULTS_TOPIC = "partd-cycle-results"
ALL_TOPICS = INPUT_TOPICS + OUTPUT_TOPICS + (MEMBER_COMMANDS_TOPIC, CYCLE_RESULTS_TOPIC)


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, got {raw!r}") from None


@dataclass(frozen=True)
class Settings:
    """Everything a worker or a command needs to know about where it runs."""

    bootstrap_servers: str | None = None  # None: the embedded broker
    schema_registry_url: str | None = None  # None: ids from schemas/registry.json
    data_dir: Path = Path("data")
    web_port: int = 6066
    web_host: str = "127.0.0.1"
    partitions: int = 8
    app_id: str = "partd"
    batch_size: int = 500
    log_level: str = "info"
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(
            bootstrap_servers=os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None,
            schema_registry_url=os.environ.get("SCHEMA_REGISTRY_URL") or None,
            data_dir=Path(os.environ.get("PARTD_DATA_DIR", "data")),
            web_port=_int("PARTD_WEB_PORT", 6066),
            web_host=os.environ.get("PARTD_WEB_HOST", "127.0.0.1"),
            partitions=_int("PARTD_PARTITIONS", 8),
            app_id=os.environ.get("PARTD_APP_ID", "partd"),
            batch_size=_int("PARTD_BATCH_SIZE", 500),
            log_level=os.environ.get("PARTD_LOG_LEVEL", "info"),
        )
