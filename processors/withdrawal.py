"""Outputs that a later event makes wrong are withdrawn by records that say so (issue 22, "outputs follow the year").

The case this module handles: a member reassigned for January 1 of Y who, before that day, re-enrolls in the
losing plan (seed 001: "the beneficiary must make a new enrollment election into the plan"), elects any other
plan, or has the reassignment enrollment cancelled (TC 80), is **not** reassigned:

* the marks come off: Y leaves ``reassigned_years`` (the final lists and the December notice leave them out,
  a state's passive enrollment in Y is no longer refused ``ALREADY_REASSIGNED``; seed 000 speaks of
  individuals "confirmed as having been reassigned");
* what the reassignment issued is withdrawn, each record naming what it withdraws:
  the blue letter and the December notice (``<type>_WITHDRAWN``, ``withdrawn_notice_id``; the mail house
  does not mail one not mailed yet, 1-800-MEDICARE sees it no longer holds), the final / updated final list
  entries (``FINAL_WITHDRAWN`` / ``UPDATED_FINAL_WITHDRAWN`` on the list that carried them, the national one
  too), and the plan obligations not yet due (``OBLIGATION_WITHDRAWN``: the gaining plan's 4Rx and enrollment
  confirmation, the losing plan's disenrollment confirmation and alternative ANOC). Obligations already due
  were owed when they fell due and stay. The GAIN/LOSS file records are an interim list that "may not
  exactly match the list of beneficiaries who are ultimately enrolled ... since voluntary beneficiary
  elections may occur" (seed 001): not withdrawn; the TRR (014 to the gaining plan) says what happened.

Pure: (state before, the enrollment step's result, the transaction) -> the result with the withdrawals after
the transaction's own replies. What was issued is read from the member's ``issued`` record
(:mod:`processors.issued`); withdrawn items leave it, so a repeat withdraws nothing more.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from processors import issued
from processors.dates import instant_from_iso
from processors.ids import stable_id
from processors.model import BENEFICIARY_NOTICES, MemberState, Output, Record, StepResult, clone

MEMBER_ELECTED_LOSING_PLAN = "MEMBER_ELECTED_LOSING_PLAN"
MEMBER_ELECTED_OTHER_PLAN = "MEMBER_ELECTED_OTHER_PLAN"
REASSIGNMENT_CANCELLED = "REASSIGNMENT_CANCELLED"
WITHDRAWN = "_WITHDRAWN"
TC_ENROLL = 61


def withdrawn_notice(new: MemberState, plan_year: int, record: Mapping[str, Any], *, reason: str,
                     issued_at: dt.datetime, losing: tuple[str | None, str | None],
                     gaining: tuple[str | None, str | None]) -> Output:
    """``<type>_WITHDRAWN`` for the recorded notice ``record`` ({notice_id, notice_type}) of ``plan_year``."""
    return Output(BENEFICIARY_NOTICES, new["mbi"], {
        "notice_id": stable_id("N", "WITHDRAWN", record["notice_id"]),
        "mbi": new["mbi"],
        "notice_type": f"{record['notice_type']}{WITHDRAWN}",
        "publication": None,
        "paper_color": None,
        "plan_year": int(plan_year),
        "losing_contract_id": losing[0],
        "losing_pbp_id": losing[1],
        "gaining_contract_id": gaining[0],
        "gaining_pbp_id": gaining[1],
        "current_plan_premium": None,
        "mail_by": None,
        "gaining_plan_premium": None,
        "zero_premium_options": [],
        "reason": reason,
        "issued_at": issued_at,
        "withdrawn_notice_id": record["notice_id"],
    })


def _why(event: Record, moved: Mapping[str, Any]) -> str:
    if event.get("transaction_code") != TC_ENROLL:
        return REASSIGNMENT_CANCELLED
    if (event.get("contract_id"), event.get("pbp_id")) == (moved.get("prior_contract_id"), moved.get("prior_pbp_id")):
        return MEMBER_ELECTED_LOSING_PLAN
    return MEMBER_ELECTED_OTHER_PLAN


def undo_reassignment(new: MemberState, moved: Mapping[str, Any], event: Record) -> list[Output]:
    """Take the marks of the reassignment ``moved`` (now CANCELLED) off ``new`` (a copy) and withdraw what it
    issued; the records, in order: letters, list entries, obligations."""
    from processors import plan_obligations, state_lists  # late: both build on the reassignment

    year = int(moved["reassignment"]["plan_year"])
    at: dt.datetime = event["submitted_at"]
    reason = _why(event, moved)
    record = issued.for_year(new, year)
    losing = (moved.get("prior_contract_id"), moved.get("prior_pbp_id"))
    gaining = (moved["contract_id"], moved["pbp_id"])
    from processors.reassignment import REASSIGNMENT_NOTICES

    notices = [n for n in record["notices"] if n["notice_type"] in REASSIGNMENT_NOTICES]
    out = [withdrawn_notice(new, year, n, reason=reason, issued_at=at, losing=losing, gaining=gaining)
           for n in notices]
    for list_type, code in record["lists"]:
        out.append(state_lists.list_entry(new, year, f"{list_type}{WITHDRAWN}", code, reason=reason))
    open_ = [o for o in record["obligations"] if o.get("due_at") and instant_from_iso(o["due_at"]) > at]
    for o in open_:
        out.append(plan_obligations.withdrawn(
            o, issued_at=at,
            note=f"The member is not reassigned for {year} ({reason}: the transaction of {at.isoformat()}, effective"
                 f" {event['effective_date']}): this obligation no longer applies."))
    issued.forget(new, year, notices=notices, obligations=open_, lists=True)
    issued.note_withdrawal(new, year, at, reason, str(event.get("tracking_id")))
    new["reassigned_years"] = [y for y in new.get("reassigned_years") or [] if int(y) != year]
    return out


def after_enrollment(before: MemberState | None, result: StepResult, event: Record) -> StepResult:
    """Issue 22 item 3: the enrollment step ``result`` cancelled a not-yet-started CMS reassignment enrollment
    (a re-enrollment in the losing plan, another election, a TC 80): undo the reassignment (module doc)."""
    if result.state is None or before is None:
        return result
    old = before.get("enrollments") or []
    cancelled = [e for i, e in enumerate(result.state["enrollments"])
                 if e.get("reassignment") and e["status"] == "CANCELLED" and i < len(old)
                 and old[i]["status"] == "ACTIVE"
                 and int(e["reassignment"]["plan_year"]) in [int(y) for y in result.state.get("reassigned_years") or []]]
    if not cancelled:
        return result
    new = clone(result.state)
    outputs = list(result.outputs)
    for e in cancelled:
        outputs.extend(undo_reassignment(new, e, event))
    return StepResult(new, outputs)
