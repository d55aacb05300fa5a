"""What the annual cycle has issued to or about a member, per plan year (member state key ``issued``).

Letters, plan obligations and state list entries are facts about the year that a later event can make wrong
(issue 22, "outputs follow the year"): a member who re-enrolls in the losing plan before January 1 is not
reassigned, so the blue letter, the December notice, the list entries and the obligations not yet due that
said otherwise are withdrawn by records that name them (:mod:`processors.withdrawal`). The runs also use the
record not to issue a notice twice (a second run, a repeated command).

Shape (JSON, in the member state)::

    "issued": {"2027": {
        "notices": [{"notice_id", "notice_type", "mail_by"}],
        "obligations": [{"notice_id", "contract_id", "pbp_id", "plan_year", "mbi", "obligation", "due_at"}],
        "lists": [[list_type, state_code]],
        "withdrawn": [{"at", "reason", "cause"}]      # one per change of mind: the round of later ids
    }}

Every function that writes takes a state the caller already copied (never the caller's input).
"""
from __future__ import annotations

from typing import Any

from processors.dates import instant_iso, iso
from processors.model import MemberState

KEY = "issued"


def for_year(state: MemberState | None, plan_year: int) -> dict[str, Any]:
    """The record of ``plan_year`` (empty lists when nothing was issued); read only."""
    year = ((state or {}).get(KEY) or {}).get(str(int(plan_year))) or {}
    return {"notices": year.get("notices") or [], "obligations": year.get("obligations") or [],
            "lists": year.get("lists") or [], "withdrawn": year.get("withdrawn") or []}


def _year(new: MemberState, plan_year: int) -> dict[str, Any]:
    record = new.setdefault(KEY, {}).setdefault(str(int(plan_year)), {})
    for name in ("notices", "obligations", "lists", "withdrawn"):
        record.setdefault(name, [])
    return record


def has_notice(state: MemberState | None, plan_year: int, notice_type: str) -> bool:
    return any(n["notice_type"] == notice_type for n in for_year(state, plan_year)["notices"])


def notice(state: MemberState | None, plan_year: int, notice_type: str) -> dict[str, Any] | None:
    return next((n for n in for_year(state, plan_year)["notices"] if n["notice_type"] == notice_type), None)


def rounds(state: MemberState | None, plan_year: int) -> int:
    """How many times the year's reassignment was undone (later ids carry it, so none is reused)."""
    return len(for_year(state, plan_year)["withdrawn"])


def note_notice(new: MemberState, plan_year: int, value: dict[str, Any]) -> None:
    """Record a ``BeneficiaryNotice`` value issued for ``plan_year``."""
    _year(new, plan_year)["notices"].append({
        "notice_id": value["notice_id"], "notice_type": value["notice_type"], "mail_by": iso(value.get("mail_by")),
    })


def note_obligation(new: MemberState, plan_year: int, value: dict[str, Any]) -> None:
    """Record a ``PlanNotice`` OBLIGATION value issued about the member for ``plan_year``."""
    _year(new, plan_year)["obligations"].append({
        "notice_id": value["notice_id"], "contract_id": value["contract_id"], "pbp_id": value["pbp_id"],
        "plan_year": int(value["plan_year"]), "mbi": value["mbi"], "obligation": value["obligation"],
        "due_at": instant_iso(value.get("due_at")),
    })


def note_list(new: MemberState, plan_year: int, list_type: str, state_code: str) -> bool:
    """Record a list entry; False when that entry (list type, state) was already recorded."""
    lists = _year(new, plan_year)["lists"]
    if [list_type, state_code] in lists:
        return False
    lists.append([list_type, state_code])
    return True


def forget(new: MemberState, plan_year: int, *, notices: list[dict[str, Any]] = (),
           obligations: list[dict[str, Any]] = (), lists: bool = False) -> None:
    """Drop withdrawn items from the record (so a repeat withdraws nothing more)."""
    record = _year(new, plan_year)
    gone = {n["notice_id"] for n in notices} | {o["notice_id"] for o in obligations}
    record["notices"] = [n for n in record["notices"] if n["notice_id"] not in gone]
    record["obligations"] = [o for o in record["obligations"] if o["notice_id"] not in gone]
    if lists:
        record["lists"] = []


def note_withdrawal(new: MemberState, plan_year: int, at: Any, reason: str, cause: str) -> None:
    _year(new, plan_year)["withdrawn"].append({"at": instant_iso(at), "reason": reason, "cause": cause})
