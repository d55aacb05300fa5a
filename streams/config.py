"""Configuration: every environment variable partd reads is read here, once (README lists them).

``Settings.from_env()`` is the whole configuration of a worker or a command;
:func:`settings` is the process's own (read at first use). Nothing else in
``streams/`` reads ``os.environ``.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

_OFF = ("off", "0", "false", "no")
_ON = ("on", "1", "true", "yes")


class ConfigError(ValueError):
    """A variable with a value partd cannot use (the message names it and says what is expected)."""


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int | None = None) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _ON:
        return True
    if raw in _OFF:
        return False
    raise ConfigError(f"{name} must be on or off, got {raw!r}")


def _bootstrap(env: Mapping[str, str]) -> str | None:
    """``KAFKA_BOOTSTRAP_SERVERS``: ``host[:port]`` entries separated by commas, or None when unset."""
    raw = env.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if not raw:
        return None
    for entry in raw.split(","):
        entry = entry.strip()
        host, sep, port = entry.rpartition(":")
        if not sep:  # a host alone: Kafka's default port
            host, port = entry, "9092"
        bracketed = host.startswith("[") and host.endswith("]")  # an IPv6 address
        if not host or (":" in host and not bracketed) or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"KAFKA_BOOTSTRAP_SERVERS must be host:port (several separated by commas), got {raw!r}")
    return raw


def log_level(environ: Mapping[str, str] | None = None) -> str:
    """``PARTD_LOG_LEVEL`` (default ``info``), readable even when another variable is wrong."""
    env = os.environ if environ is None else environ
    return (env.get("PARTD_LOG_LEVEL", "").strip() or "info").lower()


@dataclass(frozen=True)
class Settings:
    """Everything a worker or a command needs to know about where and how it runs."""

    bootstrap_servers: str | None = None  # KAFKA_BOOTSTRAP_SERVERS; None: the embedded broker (partd up)
    schema_registry_url: str | None = None  # SCHEMA_REGISTRY_URL; None: ids from schemas/registry.json
    data_dir: Path = Path("data")  # PARTD_DATA_DIR
    web_port: int = 6066  # PARTD_WEB_PORT
    web_host: str = "127.0.0.1"  # PARTD_WEB_HOST
    partitions: int = 8  # PARTD_PARTITIONS
    app_id: str = "partd"  # PARTD_APP_ID
    batch_size: int = 500  # PARTD_BATCH_SIZE: records per processing batch
    log_level: str = "info"  # PARTD_LOG_LEVEL
    uvloop: bool = True  # PARTD_UVLOOP
    #: PARTD_MAX_IDLE_MS: how long a partition group waits for a sibling input whose lag is not
    #: known yet (nothing fetched) before it goes on without it (docs/architecture.md, "Order").
    max_idle_ms: int = 2000
    #: PARTD_BUFFERED_RECORDS: records buffered per input partition before its fetching pauses.
    buffered_records: int = 2000
    commit_interval_s: float = 2.0  # PARTD_COMMIT_INTERVAL_MS / 1000
    lag_interval_s: float = 5.0  # PARTD_LAG_INTERVAL (seconds; 0 turns the worker's lag sampler off)
    tansu_workarounds: bool = True  # PARTD_TANSU_WORKAROUNDS (off: only to show what they fix)
    allow_untested_versions: bool = False  # PARTD_ALLOW_UNTESTED_VERSIONS
    #: The variables that were set (not defaulted), e.g. to tell a chosen web port from the default.
    given: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        return cls(
            bootstrap_servers=_bootstrap(env),
            schema_registry_url=env.get("SCHEMA_REGISTRY_URL", "").strip() or None,
            data_dir=Path(env.get("PARTD_DATA_DIR", "").strip() or "data"),
            web_port=_int(env, "PARTD_WEB_PORT", 6066, minimum=0),
            web_host=env.get("PARTD_WEB_HOST", "").strip() or "127.0.0.1",
            partitions=_int(env, "PARTD_PARTITIONS", 8, minimum=1),
            app_id=env.get("PARTD_APP_ID", "").strip() or "partd",
            batch_size=_int(env, "PARTD_BATCH_SIZE", 500, minimum=1),
            log_level=log_level(env),
            uvloop=_flag(env, "PARTD_UVLOOP", True),
            max_idle_ms=_int(env, "PARTD_MAX_IDLE_MS", 2000, minimum=0),
            buffered_records=_int(env, "PARTD_BUFFERED_RECORDS", 2000, minimum=1),
            commit_interval_s=_int(env, "PARTD_COMMIT_INTERVAL_MS", 2000, minimum=10) / 1000.0,
            lag_interval_s=_float(env, "PARTD_LAG_INTERVAL", 5.0),
            tansu_workarounds=_flag(env, "PARTD_TANSU_WORKAROUNDS", True),
            allow_untested_versions=_flag(env, "PARTD_ALLOW_UNTESTED_VERSIONS", False),
            given=frozenset(k for k, v in env.items() if (k.startswith(("PARTD_", "KAFKA_", "SCHEMA_"))) and v.strip()),
        )

    @property
    def debug(self) -> bool:
        return self.log_level == "debug"


@lru_cache(maxsize=1)
def settings() -> Settings:
    """This process's settings, read from the environment at first use."""
    return Settings.from_env()
