"""Every enrollment transaction (the enrollment-requests topic), dispatched by transaction code.

One table, :data:`HANDLERS`, says which rule answers which transaction code: TC 61, 51, 72, 80, 81
are ``processors.enrollment``'s; TC 82, 83 and a TC 61 a state submits (enrollment source ``J`` or a
two-letter ``submitter_id``) are ``processors.passive``'s (seed 000). ``passive`` builds on
``enrollment``; neither imports the other's dispatch, and neither imports this module.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from processors import enrollment, passive, withdrawal
from processors.codes import TC_ENROLL, TC_MMP_CANCEL, TC_MMP_OPT_OUT, is_valid_mbi
from processors.dates import is_valid_effective_date
from processors.model import TRR_REPLIES, MemberState, PlanState, Record, Rejected, StepResult
from processors.premium import with_amounts
from processors.trr import state_responses

Handler = enrollment.Handler


def _enrollment_or_passive(state: MemberState, event: Record, plans: Mapping[str, PlanState]) -> StepResult:
    """TC 61: a state's passive enrollment (seed 000), or any other enrollment."""
    if passive.is_passive_submission(event):
        return passive.apply_passive_enrollment(state, event, plans)
    return enrollment.HANDLERS[TC_ENROLL](state, event, plans)


#: Transaction code -> the rule that answers it.
HANDLERS: dict[int, Handler] = {
    **enrollment.HANDLERS,
    TC_ENROLL: _enrollment_or_passive,
    TC_MMP_CANCEL: passive.apply_mmp_cancellation,
    TC_MMP_OPT_OUT: passive.apply_mmp_opt_out,
}


def apply_enrollment(state: MemberState | None, event: Record, plans: Mapping[str, PlanState],
                     benchmarks: Mapping[int, Mapping[str, Any]] | None = None) -> StepResult:
    """Apply one ``EnrollmentTransaction`` to the member: :func:`judge`, then what every reply carries (issue 23).

    Every TRR reply echoes the transaction's ``cleanup_id`` (seed 002 Table 1, null unless set); a reply with a
    ``part_d_premium`` gets the member's LIS premium subsidy amount and premium liability
    (:func:`processors.premium.with_amounts`; ``benchmarks``: plan year -> region -> benchmark known to this
    member's partition, none: both empty); and when the transaction was submitted by a state (``submitter_id`` a
    two-letter state code), each reply goes once more to ``state-responses``, keyed by that state
    (:func:`processors.trr.state_responses`). Raises and routes as :func:`judge`.
    """
    res = judge(state, event, plans)
    cleanup = event.get("cleanup_id")
    for out in res.outputs:
        if out.topic == TRR_REPLIES:
            out.value["cleanup_id"] = cleanup
    with_amounts(res.outputs, res.state if res.state is not None else state, plans, benchmarks)
    answers = state_responses(res.outputs, event.get("submitter_id"))
    return StepResult(res.state, [*res.outputs, *answers]) if answers else res


def judge(state: MemberState | None, event: Record, plans: Mapping[str, PlanState]) -> StepResult:
    """Judge one ``EnrollmentTransaction``: the new member state and the TRR replies.

    ``plans`` is the plan catalog keyed ``{contract_id}-{pbp_id}-{plan_year}``.
    Returns the new state (None: unchanged) and the TRR replies: exactly one
    per transaction, except an accepted enrollment that ends or replaces
    other enrollments (011 + one 014 per losing enrollment) and an accepted
    enrollment cancellation that reinstates the prior plan (013 + 291).

    MMP passive enrollment (seed 000, ``processors.passive``, after the 007
    and 008 checks, :data:`HANDLERS`): a TC 61 with enrollment source ``J`` or
    submitted by a two-letter state code goes to ``passive.apply_passive_enrollment``;
    TC 82 (MMP enrollment cancellation) to ``passive.apply_mmp_cancellation``; TC 83
    (MMP opt-out) to ``passive.apply_mmp_opt_out`` (docs/mmp-passive.md).

    After 007 and 008, every transaction code: an effective date outside
    2006-01-01 .. 9998-12-31 (``dates.is_valid_effective_date``) is **037**.

    Raises ``Rejected('INVALID_TRANSACTION_CODE', ...)`` for an unknown
    transaction code. Never mutates ``state``.
    """
    tc = event.get("transaction_code")
    handler = HANDLERS.get(tc)
    if handler is None:
        raise Rejected("INVALID_TRANSACTION_CODE", f"transaction code {tc!r} is not 51, 61, 72, 80, 81, 82 or 83")
    if not is_valid_mbi(event.get("mbi")):
        return enrollment.reject("007", event, None, plans)
    if state is None or state.get("profile") is None:
        return enrollment.reject("008", event, state, plans)
    eff = event.get("effective_date")
    if not isinstance(eff, dt.date) or not is_valid_effective_date(eff):
        # Before Part D began (2006-01-01) or in the last calendar year (no day/month/year after it
        # to compute): a bad effective date, for every transaction code (issue 16).
        return enrollment.reject("037", event, state, plans)
    # Issue 22: an election that cancels a not-yet-started CMS reassignment undoes it (processors/withdrawal.py).
    return withdrawal.after_enrollment(state, handler(state, event, plans), event)
