"""The message key of a record on each topic (DOMAIN.md)."""
from __future__ import annotations

from typing import Any, Callable

KEYS: dict[str, Callable[[dict[str, Any]], str]] = {
    "enrollment-requests": lambda v: v["mbi"],
    "lis-status-changes": lambda v: v["mbi"],
    "beneficiary-updates": lambda v: v["mbi"],
    "plan-year-updates": lambda v: f"{v['contract_id']}-{v['pbp_id']}-{v['plan_year']}",
    "cycle-commands": lambda v: f"{v['command']}-{v['plan_year']}",
    "magi-applications": lambda v: v["mbi"],
    "medicaid-determinations": lambda v: v["mbi"],
    "trr-replies": lambda v: v["contract_id"],
    "beneficiary-notices": lambda v: v["mbi"],
    "plan-notices": lambda v: v["contract_id"],
    "state-reassignment-lists": lambda v: v["state_code"],
    "lis-benchmarks": lambda v: f"{v['region']}-{v['plan_year']}",
}


def key_for(topic: str, value: dict[str, Any]) -> str:
    """The contract's key for ``value`` on ``topic``."""
    try:
        return KEYS[topic](value)
    except KeyError as exc:
        raise ValueError(f"cannot derive the key of a {topic} record: missing {exc}") from None
