"""BeneficiaryUpdate -> the member's profile (the beneficiary-updates topic)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from processors.codes import is_state_code, is_valid_mbi
from processors.dates import instant_from_iso, instant_iso, iso
from processors.model import MemberState, Record, Rejected, StepResult, new_member

_DATE_FIELDS = (
    "birth_date", "part_a_start", "part_b_start", "part_d_eligible_start",
    "date_of_death", "medicaid_start", "medicaid_end",
)
_TEXT_FIELDS = (
    "first_name", "last_name", "middle_initial", "sex", "ssn", "state_code", "county_code",
    # issue 13 (optional; absent from older producers' records): the state file and the mailing address
    "medicaid_state_code", "mailing_address_line1", "mailing_address_line2", "mailing_city",
    "mailing_state_code", "mailing_zip_code",
)


def _enum(v: Any) -> Any:
    return getattr(v, "value", v)


def _as_iso(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, dt.date):
        return iso(v)
    return str(v)


def profile_from_event(event: Record) -> dict[str, Any]:
    """The profile dict stored in member state (dates as ISO strings)."""
    profile: dict[str, Any] = {name: event.get(name) for name in _TEXT_FIELDS}
    profile["medicaid_state_code"] = (profile.get("medicaid_state_code") or "").strip() or None
    profile.update({name: _as_iso(event.get(name)) for name in _DATE_FIELDS})
    profile["medicaid_status"] = _enum(event.get("medicaid_status"))
    profile["opt_out_auto_enrollment"] = bool(event.get("opt_out_auto_enrollment"))
    profile["opt_out_passive_enrollment"] = bool(event.get("opt_out_passive_enrollment"))
    profile["event_time"] = instant_iso(event.get("event_time"))
    return profile


def apply_beneficiary_update(state: MemberState | None, event: Record) -> StepResult:
    """Store the profile carried by a ``BeneficiaryUpdate``.

    * Unknown member: created with :func:`new_member`.
    * Out of order: an update whose ``event_time`` is older than the stored
      profile's is ignored (``StepResult(None, [])``); an equal time applies
      again (idempotent redelivery).
    * ``Rejected('INVALID_MBI', ...)`` for a malformed MBI and
      ``Rejected('INVALID_CODE', ...)`` for a ``state_code`` (or a non-blank
      ``medicaid_state_code``) that is not one of the 50 states, DC, PR, VI,
      GU, AS or MP. A blank ``medicaid_state_code`` is stored as None.

    No outputs: profile changes emit nothing by themselves.
    """
    mbi = event.get("mbi")
    if not is_valid_mbi(mbi):
        raise Rejected("INVALID_MBI", f"MBI {mbi!r} does not have the CMS MBI format")
    medicaid_state = (event.get("medicaid_state_code") or "").strip()
    bad = [f"{name} {code!r} is not a US state or territory" for name, code, valid in (
        ("state_code", event.get("state_code"), is_state_code(event.get("state_code"))),
        ("medicaid_state_code", medicaid_state, not medicaid_state or is_state_code(medicaid_state))) if not valid]
    if bad:  # every bad code of the record
        raise Rejected("INVALID_CODE", "; ".join(bad) + " (two-letter USPS codes: docs/codes.md)")
    old = (state or {}).get("profile")
    if old and old.get("event_time") and event.get("event_time") is not None:
        if instant_from_iso(old["event_time"]) > event["event_time"]:
            return StepResult(None, [])
    new = dict(state) if state is not None else new_member(mbi)  # only the profile is replaced
    new["profile"] = profile_from_event(event)
    return StepResult(new, [])
