"""Shared by the fault tests: inputs built from streams.tools.sample, a reference run, output checks."""
from __future__ import annotations

import datetime as dt
from collections import Counter
from functools import lru_cache
from typing import Any, Iterable, Mapping

import fastavro

import schemas
from processors import plans as plan_rules
from streams.kafka.serde import Serde
from streams.runtime import state as st
from streams.runtime.deadletters import Source
from streams.runtime.rules import Result, process_batch
from streams.tools import sample
from streams.tools.jsonconv import record_from_json

TS = 1_760_000_000_000  # fixed record timestamp: replays read the same log
mbi = sample.mbi
SWITCH = sample.SWITCH


def catalog(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for r in records:
        k, v = plan_rules.apply_plan_update(r)
        out[k] = v
    return out


SAMPLE_PLANS = [record_from_json("plan-year-updates", p) for p in sample.PLANS]
SAMPLE_CATALOG = catalog(SAMPLE_PLANS)

enrollment_stream = sample.enrollment_churn


class Reference:
    """The pure pipeline over a log, partition by partition, in order: an uninterrupted run."""

    def __init__(self, serde: Serde, plans: Mapping[str, Any]) -> None:
        self.serde = serde
        self.plans = plans
        self.table: dict[bytes, bytes] = {}
        self.outputs: list[tuple[str, bytes | None, bytes]] = []
        self.dead: list[Any] = []

    def run(self, sources: list[Source], batch: int = 500) -> None:
        for start in range(0, len(sources), batch):
            chunk = sources[start:start + batch]
            res: Result = process_batch(chunk, self.serde, lambda k: st.decode(self.table.get(k)), self.plans)
            for k, stored in res.writes.items():
                self.table[k] = st.encode(stored)
            for topic, key, value, _ in res.sends:
                self.outputs.append((topic, key.encode(), value))
            self.dead.extend(res.dead)

    def members(self) -> dict[bytes, Any]:
        """The member table as the rules see it (no bookkeeping; keys that hold no member left out)."""
        return {k: m for k, v in self.table.items() if (m := st.member_of(v)) is not None}


def dedupe(records: list[dict[str, Any]], id_field: str) -> tuple[list[dict[str, Any]], int]:
    """Drop records whose ``id_field`` was seen before; (kept, duplicates dropped)."""
    seen: set[Any] = set()
    kept = []
    for r in records:
        k = r[id_field] if isinstance(id_field, str) else tuple(r[f] for f in id_field)
        if k in seen:
            continue
        seen.add(k)
        kept.append(r)
    return kept, len(records) - len(kept)


def dead_letter_id(r: Mapping[str, Any]) -> tuple[str, int, int]:
    return (r["source_topic"], r["partition"], r["offset"])


def multiset(records: Iterable[Mapping[str, Any]], fields: Iterable[str]) -> Counter:
    fs = tuple(fields)
    return Counter(tuple(str(r.get(f)) for f in fs) for r in records)


def utc(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc)


def _without_logical_types(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _without_logical_types(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [_without_logical_types(s) for s in schema]
    return schema


@lru_cache(maxsize=None)
def plain_schema(topic: str) -> Any:
    """``topic``'s schema with logical types removed, parsed: dates and instants become plain ints
    (to write out-of-range ones)."""
    return fastavro.parse_schema(_without_logical_types(schemas.topic_schema_json(topic)), named_schemas={})


def as_plain(topic: str, value: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-shaped record as :func:`plain_schema` writes it: dates as days, instants as millis, enums as symbols."""
    out = {}
    for k, v in record_from_json(topic, value).items():
        if isinstance(v, dt.datetime):
            v = int(v.timestamp() * 1000)
        elif isinstance(v, dt.date):
            v = (v - dt.date(1970, 1, 1)).days
        elif hasattr(v, "as_tuple"):
            v = str(v)
        elif hasattr(v, "value"):
            v = v.value
        out[k] = v
    return out
