"""The one topic registry: every topic partd reads or writes, its key and its role.

The contract's topic names are defined by the rules (``processors/model.py``,
``processors/magi.py``: the processors name the topics of the records they
emit); the runtime's own internal topics are defined here. Everything else
imports the names from this module.
"""
from __future__ import annotations

from typing import Any, Callable

from processors.magi import MAGI_APPLICATIONS, MEDICAID_DETERMINATIONS
from processors.model import (
    BENEFICIARY_NOTICES,
    BENEFICIARY_UPDATES,
    CYCLE_COMMANDS,
    DEAD_LETTERS,
    ENROLLMENT_REQUESTS,
    LIS_BENCHMARKS,
    LIS_STATUS_CHANGES,
    PLAN_NOTICES,
    PLAN_YEAR_UPDATES,
    STATE_LISTS,
    STATE_RESPONSES,
    TRR_REPLIES,
)

#: Internal: each member partition's report on a cycle command, and the command's done record
#: (keyed by command id).
CYCLE_RESULTS = "partd-cycle-results"

#: Contract inputs (docs/record-shapes.md).
INPUTS = (ENROLLMENT_REQUESTS, LIS_STATUS_CHANGES, PLAN_YEAR_UPDATES, BENEFICIARY_UPDATES, CYCLE_COMMANDS,
          MAGI_APPLICATIONS)
#: Contract outputs (docs/record-shapes.md).
OUTPUTS = (TRR_REPLIES, BENEFICIARY_NOTICES, PLAN_NOTICES, STATE_LISTS, LIS_BENCHMARKS, DEAD_LETTERS,
           MEDICAID_DETERMINATIONS, STATE_RESPONSES)
INTERNAL = (CYCLE_RESULTS,)
#: The member table: one value per MBI (streams/runtime/state.py), RocksDB per partition plus its
#: changelog topic, which Faust creates and names after the app id (:func:`member_changelog`).
MEMBER_TABLE = "members"
#: Every topic partd creates.
ALL = INPUTS + OUTPUTS + INTERNAL

#: Inputs keyed by MBI: co-partitioned with the member table. The order is the tie-break
#: for records with the same timestamp (who the person is, then their LIS, their Medicaid
#: screen, then the transactions judged against all that).
MEMBER_INPUTS = (BENEFICIARY_UPDATES, LIS_STATUS_CHANGES, MAGI_APPLICATIONS, ENROLLMENT_REQUESTS)
#: Topics a worker's consumer group reads (lag is reported for these).
GROUP_INPUTS = INPUTS + INTERNAL

#: The contract's key of a record on each topic (docs/record-shapes.md).
KEYS: dict[str, Callable[[dict[str, Any]], str]] = {
    ENROLLMENT_REQUESTS: lambda v: v["mbi"],
    LIS_STATUS_CHANGES: lambda v: v["mbi"],
    BENEFICIARY_UPDATES: lambda v: v["mbi"],
    PLAN_YEAR_UPDATES: lambda v: f"{v['contract_id']}-{v['pbp_id']}-{v['plan_year']}",
    CYCLE_COMMANDS: lambda v: f"{getattr(v['command'], 'value', v['command'])}-{v['plan_year']}",
    MAGI_APPLICATIONS: lambda v: v["mbi"],
    MEDICAID_DETERMINATIONS: lambda v: v["mbi"],
    TRR_REPLIES: lambda v: v["contract_id"],
    # issue 23: a state's own answers, keyed by the submitting state (a TrrRecord's update_source_contract_id
    # is the transaction's submitter_id)
    STATE_RESPONSES: lambda v: v["update_source_contract_id"],
    BENEFICIARY_NOTICES: lambda v: v["mbi"],
    PLAN_NOTICES: lambda v: v["contract_id"],
    STATE_LISTS: lambda v: v["state_code"],
    LIS_BENCHMARKS: lambda v: f"{v['region']}-{v['plan_year']}",
}


def member_changelog(app_id: str) -> str:
    """The member table's changelog topic of the worker group ``app_id`` (PARTD_APP_ID)."""
    return f"{app_id}-{MEMBER_TABLE}-changelog"


class UnknownTopic(ValueError):
    """A topic name that is not one of partd's (the message lists them)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown topic {name!r}; partd's topics are: {', '.join(INPUTS + OUTPUTS)}")
        self.name = name


def check(name: str) -> str:
    """``name`` if it is one of partd's topics, else :class:`UnknownTopic`."""
    if name not in ALL:
        raise UnknownTopic(name)
    return name


def key_for(topic: str, value: dict[str, Any]) -> str:
    """The contract's key for ``value`` on ``topic``."""
    try:
        return KEYS[topic](value)
    except KeyError as exc:
        raise ValueError(f"cannot derive the key of a {topic} record: missing {exc}") from None


__all__ = [
    "ALL", "BENEFICIARY_NOTICES", "BENEFICIARY_UPDATES", "CYCLE_COMMANDS", "CYCLE_RESULTS", "DEAD_LETTERS",
    "ENROLLMENT_REQUESTS", "GROUP_INPUTS", "INPUTS", "INTERNAL", "KEYS", "LIS_BENCHMARKS", "LIS_STATUS_CHANGES",
    "MAGI_APPLICATIONS", "MEDICAID_DETERMINATIONS", "MEMBER_INPUTS", "OUTPUTS", "PLAN_NOTICES",
    "PLAN_YEAR_UPDATES", "STATE_LISTS", "STATE_RESPONSES", "TRR_REPLIES", "UnknownTopic", "check", "key_for",
]
