"""The plan catalog: a ``PlanYearUpdate`` becomes the plan's state for one year."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from processors.dates import instant_from_iso, instant_iso
from processors.model import PlanState, Record, Rejected

PDP_REGIONS: frozenset[str] = frozenset(f"{n:02d}" for n in range(1, 35))

_CENTS = Decimal("0.01")
#: PlanYearUpdate's HPMS fields (issue 23, seed 001): the notices' plan name and phone numbers.
CONTACT_FIELDS = ("organization_marketing_name", "customer_service_number", "auto_enrollment_customer_service_number")


def plan_key(contract_id: str, pbp_id: str, plan_year: int) -> str:
    """The catalog key ``{contract_id}-{pbp_id}-{plan_year}``."""
    return f"{contract_id}-{pbp_id}-{int(plan_year)}"


def _enum(v: Any) -> Any:
    # fastavro gives enum symbols as str already; tolerate Enum objects too.
    return getattr(v, "value", v)


def apply_plan_update(event: Record) -> tuple[str, PlanState]:
    """Validate a ``PlanYearUpdate`` and return its catalog key and state.

    Raises ``Rejected('INVALID_REGION', ...)`` unless ``region`` is ``01``..``34``
    and ``Rejected('INVALID_PREMIUM', ...)`` for a missing or negative
    ``basic_premium``. The state is JSON-shaped: ``basic_premium`` is a string
    decimal with two places, ``event_time`` an ISO instant, ``reduced_counties``
    the county codes a service area reduction drops (None: not sent).
    """
    region = event.get("region")
    if region not in PDP_REGIONS:
        raise Rejected("INVALID_REGION", f"region {region!r} is not a PDP region 01..34")
    raw = event.get("basic_premium")
    try:
        premium = Decimal(str(raw)) if raw is not None else None
    except InvalidOperation:
        premium = None
    if premium is None or not premium.is_finite():
        raise Rejected("INVALID_PREMIUM", f"basic_premium {raw!r} is not a decimal")
    if premium < 0:
        raise Rejected("INVALID_PREMIUM", f"basic_premium {premium} is negative")
    key = plan_key(event["contract_id"], event["pbp_id"], event["plan_year"])
    state: PlanState = {
        "contract_id": event["contract_id"],
        "pbp_id": event["pbp_id"],
        "plan_year": int(event["plan_year"]),
        "parent_org_id": event.get("parent_org_id"),
        "region": region,
        "plan_type": _enum(event.get("plan_type")),
        "benefit_type": _enum(event.get("benefit_type")),
        "basic_premium": str(premium.quantize(_CENTS)),
        "waives_de_minimis": bool(event.get("waives_de_minimis")),
        "renewal_status": _enum(event.get("renewal_status")),
        "employer_group": bool(event.get("employer_group")),
        "reduced_counties": _counties(event.get("reduced_counties")),
        "event_time": instant_iso(event.get("event_time")),
    }
    # issue 23: the HPMS data seed 001 prints on the beneficiary notices (only when sent: an older producer's
    # plan keeps the shape it had)
    for name in CONTACT_FIELDS:
        if event.get(name) is not None:
            state[name] = event[name]
    return key, state


def _counties(raw: Any) -> list[str] | None:
    """``reduced_counties`` as stored: trimmed strings, None when not sent (unknown)."""
    if raw is None:
        return None
    return [str(c).strip() for c in raw if c is not None and str(c).strip()]


def is_stale(current: PlanState | None, event: Record) -> bool:
    """True if ``current`` was set by an update newer than ``event`` (out of order).

    The shell may use it to keep the newer catalog entry; an equal event time
    is not stale (a redelivery applies again, with the same result).
    """
    if not current or not current.get("event_time") or event.get("event_time") is None:
        return False
    return instant_from_iso(current["event_time"]) > event["event_time"]


def plan_premium(plan: PlanState | None) -> Decimal | None:
    """The plan's basic premium as a ``Decimal`` (None when there is no plan)."""
    if not plan or plan.get("basic_premium") is None:
        return None
    return Decimal(plan["basic_premium"])
