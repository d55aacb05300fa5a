"""The plan catalog indexed for the per-member rules of a cycle (issue 6).

The reassignment (and the auto-enrollment draw) asks one question per member:
*which basic, renewing, non-employer PDPs does region R offer in plan year Y?*
Scanning the whole catalog for it (2,000+ plan-years nationally) for every
member was ~40% of a reassignment run's CPU. :class:`PlanIndex` answers it
with one dict lookup.

* Built once per cycle command by the caller that runs many members
  (``streams.runtime.outbox.scan_partition``), never per member.
* Immutable: a snapshot of the catalog when it is built (a shallow copy; the
  catalog replaces a plan's state, it never edits it in place), so a plan
  update arriving during a scan cannot change the answer half-way.
* A read-only ``Mapping`` of the catalog itself (``{contract}-{pbp}-{year}`` ->
  PlanState): every function that takes ``plans`` takes a ``PlanIndex`` too.
* Pure: same catalog, same index; nothing is cached per member.

:func:`region_pdps` is the one entry point for the rules: with a ``PlanIndex``
it is a lookup, with a plain catalog dict it scans it (the old cost, once per
question), with exactly the same result. There is deliberately no cache keyed
by the identity of a plain dict: the shell's catalog dict (``streams/runtime/reference.py``, ``LatestTable.data``)
is updated in place, so such a cache could serve a stale catalog.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import NamedTuple

from processors.benchmark import money
from processors.model import PlanState


class RegionPdp(NamedTuple):
    """A basic, renewing, non-employer PDP of one (plan year, region), as the target rules read it."""

    key: str  # "{contract_id}-{pbp_id}"
    premium: Decimal  # the Y basic premium
    parent_org_id: str | None
    waives_de_minimis: bool
    plan: PlanState


def is_basic_renewing_pdp(plan: PlanState, plan_year: int, region: str) -> bool:
    """A PDP of ``plan_year`` in ``region``, BASIC, RENEWING, not an employer group plan."""
    return (
        int(plan["plan_year"]) == plan_year
        and plan.get("plan_type") == "PDP"
        and plan.get("benefit_type") == "BASIC"
        and plan.get("renewal_status") == "RENEWING"
        and not plan.get("employer_group")
        and plan.get("region") == region
    )


def _entry(plan: PlanState) -> RegionPdp:
    return RegionPdp(
        f"{plan['contract_id']}-{plan['pbp_id']}",
        money(plan["basic_premium"]),
        plan.get("parent_org_id"),
        bool(plan.get("waives_de_minimis")),
        plan,
    )


def _sorted(entries: list[RegionPdp]) -> tuple[RegionPdp, ...]:
    # Stable sort by key: the order every caller used to get from sorted(keys).
    return tuple(sorted(entries, key=lambda e: e.key))


class PlanIndex(Mapping[str, PlanState]):
    """An immutable snapshot of the plan catalog, with its basic renewing PDPs grouped by (plan year, region)."""

    __slots__ = ("_plans", "_pdps")

    def __init__(self, plans: Mapping[str, PlanState]) -> None:
        snapshot = dict(plans)
        groups: dict[tuple[int, object], list[RegionPdp]] = {}
        for plan in snapshot.values():
            year = int(plan["plan_year"])
            if (
                plan.get("plan_type") == "PDP"
                and plan.get("benefit_type") == "BASIC"
                and plan.get("renewal_status") == "RENEWING"
                and not plan.get("employer_group")
            ):
                groups.setdefault((year, plan.get("region")), []).append(_entry(plan))
        self._plans: dict[str, PlanState] = snapshot
        self._pdps: dict[tuple[int, object], tuple[RegionPdp, ...]] = {k: _sorted(v) for k, v in groups.items()}

    @classmethod
    def of(cls, plans: Mapping[str, PlanState]) -> PlanIndex:
        """``plans`` itself if it is already an index, else a new index of it."""
        return plans if isinstance(plans, PlanIndex) else cls(plans)

    def basic_renewing_pdps(self, plan_year: int, region: str) -> tuple[RegionPdp, ...]:
        """The region's basic, renewing, non-employer PDPs of ``plan_year``, sorted by ``{contract}-{pbp}``."""
        return self._pdps.get((plan_year, region), ())

    # --- read-only Mapping of the catalog
    def __getitem__(self, key: str) -> PlanState:
        return self._plans[key]

    def get(self, key: str, default: PlanState | None = None) -> PlanState | None:  # type: ignore[override]
        return self._plans.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._plans

    def __iter__(self) -> Iterator[str]:
        return iter(self._plans)

    def __len__(self) -> int:
        return len(self._plans)

    def __repr__(self) -> str:
        return f"PlanIndex({len(self._plans)} plan-years, {len(self._pdps)} (year, region) groups)"


def region_pdps(plans: Mapping[str, PlanState], plan_year: int, region: str) -> tuple[RegionPdp, ...]:
    """The basic, renewing, non-employer PDPs of ``region`` for ``plan_year``, sorted by ``{contract}-{pbp}``.

    A lookup for a :class:`PlanIndex`; a scan of the whole catalog for any other mapping.
    """
    if isinstance(plans, PlanIndex):
        return plans.basic_renewing_pdps(plan_year, region)
    return _sorted([_entry(p) for p in plans.values() if is_basic_renewing_pdp(p, plan_year, region)])
