"""State MMP passive enrollment (seed 000): TC 61 source J, TC 82, TC 83.

Pure: each function takes the member state, the ``EnrollmentTransaction`` and
the plan catalog and returns a :class:`StepResult` (new state or None, TRR
replies). ``processors.enrollment.apply_enrollment`` routes here after its
007/008 checks:

* TC 61 with ``enrollment_source`` ``J``, or submitted by a two-letter state
  code (``submitter_id``) -> :func:`apply_passive_enrollment`;
* TC 82 (MMP enrollment cancellation) -> :func:`apply_mmp_cancellation`;
* TC 83 (MMP opt-out) -> :func:`apply_mmp_opt_out`.

Every rule, its TRC and the reason it gives (``TrrRecord.reason``) are in
``docs/mmp-passive.md`` (and the conventions in ``docs/conventions.md``).

Member-state keys added by this module (all optional; read with ``.get``):

* ``passive_years`` (model.py): calendar years in which an accepted passive
  enrollment takes effect (any month; TC 82/83 remove the year again).
* ``passive_submissions``: ``{"{contract}-{pbp}-{effective}": {"application_date",
  "tracking_id", "submitted_at"}}`` -- the *original* passive submission for
  that plan and effective date (the first one received inside the window with
  a valid application date, accepted or not). A correction must carry the
  same application date.
* ``mmp_opt_out``: ``{"date", "tracking_id"}`` -- the beneficiary opted out of
  passive enrollment (TC 83); treated like OPTOM.
* ``preliminary_years`` (written by ``processors.state_lists``): plan years
  whose preliminary reassignment list named the member.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from processors import cycle_dates
from processors import enrollment as _enr
from processors.codes import STATE_CODES, TC_ENROLL, is_election_type, is_state_code
from processors.dates import EASTERN, LAST_EFFECTIVE_DATE, UTC, eastern_date, from_iso, instant_iso, iso, month_end
from processors.member import region_state_code
from processors.model import MemberState, Output, PlanState, Record, StepResult, clone
from processors.plans import plan_key

PASSIVE_SOURCE = "J"  # seed 002 Table 24: state-submitted passive enrollment
MMP = "MMP"

# Reasons given in the reply's ``reason`` field (108 "ELECTION LIMITS EXCEEDED", reason OUTSIDE_WINDOW).
OUTSIDE_WINDOW = "OUTSIDE_WINDOW"
APPLICATION_DATE_NOT_SUBMISSION_DATE = "APPLICATION_DATE_NOT_SUBMISSION_DATE"
CORRECTION_CHANGES_APPLICATION_DATE = "CORRECTION_CHANGES_APPLICATION_DATE"
NOT_MMP_PLAN = "NOT_MMP_PLAN"
SOURCE_NOT_J = "SOURCE_NOT_J"
SUBMITTER_NOT_STATE = "SUBMITTER_NOT_STATE"
OPTED_OUT = "OPTED_OUT"
LEFT_MMP_VOLUNTARILY = "LEFT_MMP_VOLUNTARILY"
ALREADY_REASSIGNED = "ALREADY_REASSIGNED"
ALREADY_PASSIVE = "ALREADY_PASSIVE"
LISTED_FOR_REASSIGNMENT = "LISTED_FOR_REASSIGNMENT"
NO_PASSIVE_ENROLLMENT = "NO_PASSIVE_ENROLLMENT"
ALREADY_EFFECTIVE = "ALREADY_EFFECTIVE"
# The demonstration's enrollment criteria (seed 000; issue 13).
NOT_IN_SUBMITTING_STATE = "NOT_IN_SUBMITTING_STATE"
NOT_FULL_BENEFIT_DUAL = "NOT_FULL_BENEFIT_DUAL"
MEDICAID_ENDS_BEFORE_EFFECTIVE_DATE = "MEDICAID_ENDS_BEFORE_EFFECTIVE_DATE"
NO_PART_A_AND_B = "NO_PART_A_AND_B"
FULL_BENEFIT_DUAL = "FULL_BENEFIT_DUAL"

# The October submission window for January 1 passive enrollments (seed 000) is per plan year data
# (processors/data/cycle_dates.json, processors/cycle_dates.py); the 2023 memo's October 4 06:00 -
# October 27 17:00 Eastern is the default.


# --------------------------------------------------------------------------- time

def window(plan_year: int) -> tuple[dt.datetime, dt.datetime]:
    """(opens, closes) of the submission window for January 1 of ``plan_year``, as UTC instants.

    The plan year's dates (``processors/data/cycle_dates.json``), by default October 4 06:00 to
    October 27 17:00 America/New_York of ``plan_year - 1`` (seed 000), both ends inclusive.
    """
    return cycle_dates.passive_window(plan_year)


def in_window(submitted_at: dt.datetime, plan_year: int) -> bool:
    """True if ``submitted_at`` (aware) is inside the January 1 ``plan_year`` window."""
    opens, closes = window(plan_year)
    t = submitted_at.astimezone(UTC)
    return opens <= t <= closes


def submission_date(submitted_at: dt.datetime) -> dt.date:
    """The Eastern calendar date of a submission (what the application date must be)."""
    return eastern_date(submitted_at)


# --------------------------------------------------------------------------- questions

def is_passive_submission(event: Mapping[str, Any]) -> bool:
    """Routing: a TC 61 with source J, or one submitted by a two-letter state code."""
    if event.get("transaction_code") != TC_ENROLL:
        return False
    submitter = event.get("submitter_id")
    by_state = isinstance(submitter, str) and len(submitter) == 2 and is_state_code(submitter)
    return event.get("enrollment_source") == PASSIVE_SOURCE or by_state


def opted_out(state: MemberState) -> bool:
    """OPTOM: the profile's ``opt_out_passive_enrollment`` or an MMP opt-out (TC 83) on record."""
    profile = state.get("profile") or {}
    return bool(profile.get("opt_out_passive_enrollment")) or bool(state.get("mmp_opt_out"))


def submission_key(contract_id: str, pbp_id: str, effective_date: dt.date) -> str:
    return f"{contract_id}-{pbp_id}-{iso(effective_date)}"


def _years(state: MemberState, key: str) -> list[int]:
    return [int(y) for y in (state.get(key) or [])]


def _is_passive(e: Mapping[str, Any]) -> bool:
    return e.get("enrollment_source") == PASSIVE_SOURCE


def demonstration_criteria_failure(state: MemberState, submitter: str | None, submitted_on: dt.date,
                                   effective: dt.date) -> str | None:
    """The first of the demonstration's enrollment criteria the member does not meet, else None.

    Seed 000: passive transactions "can only contain Medicare beneficiaries who, at the time the
    transaction is submitted, meet the enrollment criteria of the given state's demonstration for
    January 1". The capitated Medicare-Medicaid demonstrations enroll full-benefit dual eligibles of
    that state into plans covering Parts A, B and D, so, judged on the profile as it stands when the
    transaction is processed:

    * ``NOT_IN_SUBMITTING_STATE``: the member's state (the state file's, else the address's:
      :func:`processors.member.region_state_code`) is not the submitting state;
    * ``NOT_FULL_BENEFIT_DUAL``: ``medicaid_status`` is not FULL_BENEFIT_DUAL, or its Medicaid period
      (``medicaid_start`` .. ``medicaid_end``, a missing bound open) does not cover the submission date;
    * ``MEDICAID_ENDS_BEFORE_EFFECTIVE_DATE``: that period is known to end before the effective date;
    * ``NO_PART_A_AND_B``: no Part A or no Part B start on or before the effective date.
    """
    profile = state.get("profile") or {}
    if region_state_code(state) != submitter:
        return NOT_IN_SUBMITTING_STATE
    start, end = profile.get("medicaid_start"), profile.get("medicaid_end")
    day = iso(submitted_on)
    if (profile.get("medicaid_status") != FULL_BENEFIT_DUAL or (start and start > day) or (end and end < day)):
        return NOT_FULL_BENEFIT_DUAL
    if end and end < iso(effective):
        return MEDICAID_ENDS_BEFORE_EFFECTIVE_DATE
    a, b = profile.get("part_a_start"), profile.get("part_b_start")
    if not a or not b or a > iso(effective) or b > iso(effective):
        return NO_PART_A_AND_B
    return None


def newly_or_again_eligible(state: MemberState, effective: dt.date, plans: Mapping[str, PlanState]) -> bool:
    """Seed 000: passive enrollment is for "individuals who are newly eligible or who have regained eligibility".

    Not so (issue 22) for a member who left an MMP voluntarily (:func:`processors.passive_eligibility.
    voluntary_mmp_exit`) in the effective year before the effective date, or in the year before unless
    they are in one of seed 000's groups that regain eligibility for the new calendar year
    (:func:`processors.passive_eligibility.regains_passive_eligibility`). A voluntary exit two or more
    calendar years back is not held against the member (the seed speaks of "the current calendar year").
    """
    from processors import passive_eligibility as pe  # late: it builds on this module

    year = effective.year
    if pe.voluntary_mmp_exit(state, dt.date(year, 1, 1), effective, plans) is not None:
        return False
    if pe.voluntary_mmp_exit(state, dt.date(year - 1, 1, 1), dt.date(year, 1, 1), plans) is not None:
        return pe.regains_passive_eligibility(state, year, plans)[0]
    return True


# --------------------------------------------------------------------------- replies

def _with_reason(out: Output, reason: str | None) -> Output:
    """The one place a rule's reason reaches a reply: ``TrrRecord.reason`` (issue 23); ``trc_short_name``
    stays the code table's short name (the DTRR field is 15 characters)."""
    if reason:
        out.value["reason"] = reason
    return out


def _reply(trc: str, reason: str | None, event: Record, state: MemberState,
           plans: Mapping[str, PlanState], **fields: Any) -> Output:
    return _with_reason(_enr._reply(trc, event, state, plans, **fields), reason)


# --------------------------------------------------------------------------- TC 61 source J

def apply_passive_enrollment(state: MemberState, event: Record, plans: Mapping[str, PlanState]) -> StepResult:
    """A state-submitted passive enrollment into an MMP (the member has a profile; MBI valid).

    Checks, in order (the first failure is the only reply):

    1. 108 ``OUTSIDE_WINDOW``: effective January 1 of Y and ``submitted_at``
       not inside October 4 06:00 .. October 27 17:00 Eastern of Y-1.
    2. Application date: a *correction* (an original submission for this
       member, plan and effective date is on record) must repeat the
       original's application date, else 108
       ``CORRECTION_CHANGES_APPLICATION_DATE``; otherwise the application
       date must be the Eastern date of ``submitted_at``, else 108
       ``APPLICATION_DATE_NOT_SUBMISSION_DATE``. From here on the submission
       is the original (recorded in ``passive_submissions``, even when a later
       check rejects it, so that its correction keeps its date).
    3. The TC 61 basics: 036 death before the effective date, 104 election
       type, 037 not a first of month / before Part D eligibility, 107 no plan.
    4. 108 ``NOT_MMP_PLAN`` (plan_type not MMP), 108 ``SOURCE_NOT_J``,
       108 ``SUBMITTER_NOT_STATE`` (not one of the 50 states or DC).
    4b. The demonstration's criteria (:func:`demonstration_criteria_failure`),
       108 with ``NOT_IN_SUBMITTING_STATE``, ``NOT_FULL_BENEFIT_DUAL``,
       ``MEDICAID_ENDS_BEFORE_EFFECTIVE_DATE`` or ``NO_PART_A_AND_B``.
    5. 166 ``OPTED_OUT``: OPTOM in the profile or a TC 83 opt-out on record.
    5b. 108 ``LEFT_MMP_VOLUNTARILY``: the member left an MMP of their own accord this calendar year, or
       the year before without regaining eligibility (seed 000; :func:`newly_or_again_eligible`).
    6. 108 ``ALREADY_REASSIGNED``: Y (effective year) in ``reassigned_years``.
    7. 108 ``ALREADY_PASSIVE``: Y in ``passive_years`` (once per calendar year).
    8. 037 ``LISTED_FOR_REASSIGNMENT``: Y in ``preliminary_years`` and the
       effective date is after January 1 of Y (wait for Y+1, or use Jan 1).
    9. The ordinary enrollment (``processors.enrollment``): 106, 109, then 011
       (source J) plus 014 to the plan the member leaves. Y joins ``passive_years``.
    """
    eff: dt.date = event["effective_date"]
    app: dt.date = event["application_date"]
    submitted: dt.datetime = event["submitted_at"]
    contract, pbp = event["contract_id"], event["pbp_id"]
    year = eff.year

    def reject(trc: str, reason: str | None, st: MemberState, changed: bool = False) -> StepResult:
        return StepResult(st if changed else None, [_reply(trc, reason, event, st, plans)])

    if (eff.month, eff.day) == (1, 1) and not in_window(submitted, year):
        return reject("108", OUTSIDE_WINDOW, state)

    key = submission_key(contract, pbp, eff)
    original = (state.get("passive_submissions") or {}).get(key)
    if original is not None:
        if iso(app) != original["application_date"]:
            return reject("108", CORRECTION_CHANGES_APPLICATION_DATE, state)
        base, changed = state, False
    else:
        if app != submission_date(submitted):
            return reject("108", APPLICATION_DATE_NOT_SUBMISSION_DATE, state)
        base = clone(state)
        base.setdefault("passive_submissions", {})[key] = {
            "application_date": iso(app),
            "tracking_id": event["tracking_id"],
            "submitted_at": instant_iso(submitted),
        }
        changed = True

    profile = base["profile"]
    dod = from_iso(profile.get("date_of_death"))
    if dod is not None and dod < eff:
        return reject("036", None, base, changed)
    if not is_election_type(event.get("election_type")):
        return reject("104", None, base, changed)
    eligible = _enr.part_d_eligibility(profile)
    if eff.day != 1 or eligible is None or eff < eligible.replace(day=1):
        return reject("037", None, base, changed)
    plan = plans.get(plan_key(contract, pbp, year))
    if plan is None:
        return reject("107", None, base, changed)

    if plan.get("plan_type") != MMP:
        return reject("108", NOT_MMP_PLAN, base, changed)
    if event.get("enrollment_source") != PASSIVE_SOURCE:
        return reject("108", SOURCE_NOT_J, base, changed)
    if event.get("submitter_id") not in STATE_CODES:
        return reject("108", SUBMITTER_NOT_STATE, base, changed)
    failed = demonstration_criteria_failure(base, event.get("submitter_id"), submission_date(submitted), eff)
    if failed is not None:
        return reject("108", failed, base, changed)
    if opted_out(base):
        return reject("166", OPTED_OUT, base, changed)
    if not newly_or_again_eligible(base, eff, plans):
        return reject("108", LEFT_MMP_VOLUNTARILY, base, changed)
    if year in _years(base, "reassigned_years"):
        return reject("108", ALREADY_REASSIGNED, base, changed)
    if year in _years(base, "passive_years"):
        return reject("108", ALREADY_PASSIVE, base, changed)
    if year in _years(base, "preliminary_years") and eff > dt.date(year, 1, 1):
        return reject("037", LISTED_FOR_REASSIGNMENT, base, changed)

    res = _enr._enroll(base, event, plans)
    if res.state is None:  # 106 / 109 from the ordinary rules
        return StepResult(base if changed else None, res.outputs)
    new = res.state
    new["passive_years"] = sorted(set(_years(new, "passive_years")) | {year})
    return StepResult(new, res.outputs)


# --------------------------------------------------------------------------- TC 82 / TC 83

def _pending_passive(state: MemberState, contract: str, pbp: str, start: str | None,
                     today: dt.date) -> dict[str, Any] | None:
    """The active passive (source J) enrollment in that plan, starting on ``start`` (any start
    after ``today`` when None), not yet effective on ``today``."""
    for e in reversed(state["enrollments"]):
        if (e["status"] == "ACTIVE" and _is_passive(e) and e["contract_id"] == contract
                and e["pbp_id"] == pbp and (start is None or e["start"] == start)):
            if start is None and e["start"] <= iso(today):
                continue
            return e
    return None


def _drop_passive_year(state: MemberState, year: int) -> None:
    """Remove ``year`` from ``passive_years`` unless another active passive enrollment starts in it."""
    still = any(e["status"] == "ACTIVE" and _is_passive(e) and int(e["start"][:4]) == year
                for e in state["enrollments"])
    if not still:
        state["passive_years"] = [y for y in _years(state, "passive_years") if y != year]


def _cancel(state: MemberState, event: Record, plans: Mapping[str, PlanState],
            target: dict[str, Any]) -> StepResult:
    """Cancel ``target`` like a TC 80 (013 + 291 reinstating the prior plan), keeping the event's TC."""
    start = from_iso(target["start"])
    res = _enr._cancel_enrollment(state, {**event, "effective_date": start}, plans)
    assert res.state is not None
    _drop_passive_year(res.state, start.year)
    return res


def apply_mmp_cancellation(state: MemberState, event: Record, plans: Mapping[str, PlanState]) -> StepResult:
    """TC 82: cancel a passive enrollment that has not taken effect yet.

    * 209 ``NO_PASSIVE_ENROLLMENT``: no active source-J enrollment in that
      contract+PBP starting on ``effective_date``.
    * 037 ``ALREADY_EFFECTIVE``: the Eastern date of ``submitted_at`` is on
      or after its start (after the start it is a disenrollment, TC 51).
    * Accepted: 013 (transaction code 82), the enrollment is CANCELLED, the
      plan it replaced is reinstated (291 to that plan), and its year leaves
      ``passive_years`` -- so the second reassignment run can pick the member up.
    """
    eff: dt.date = event["effective_date"]
    today = submission_date(event["submitted_at"])
    target = _pending_passive(state, event["contract_id"], event["pbp_id"], iso(eff), today)
    if target is None:
        return StepResult(None, [_reply("209", NO_PASSIVE_ENROLLMENT, event, state, plans)])
    if today >= eff:
        return StepResult(None, [_reply("037", ALREADY_EFFECTIVE, event, state, plans)])
    return _cancel(state, event, plans, target)


def apply_mmp_opt_out(state: MemberState, event: Record, plans: Mapping[str, PlanState]) -> StepResult:
    """TC 83: the beneficiary opts out of passive enrollment.

    Always accepted: ``mmp_opt_out`` = {date (Eastern submission date),
    tracking_id} is recorded (OPTOM from then on: later passive enrollments get
    166, and the member does not regain passive eligibility). If a passive
    enrollment in the event's contract+PBP has not taken effect yet (latest
    start after the submission date), it is cancelled exactly like TC 82
    (013 with transaction code 83 + 291 to the reinstated prior plan; its year
    leaves ``passive_years``). Otherwise the single reply is 013 (transaction
    code 83) meaning "opt-out recorded"; an MMP enrollment already in effect
    continues (leaving it is a TC 51).
    """
    today = submission_date(event["submitted_at"])
    new = clone(state)
    new["mmp_opt_out"] = {"date": iso(today), "tracking_id": event["tracking_id"]}
    target = _pending_passive(new, event["contract_id"], event["pbp_id"], None, today)
    if target is not None:
        return _cancel(new, event, plans, target)
    current = _in_force(new, event["contract_id"], event["pbp_id"], today)
    if current is not None:
        return _opt_out_after_start(new, event, plans, current, today)
    return StepResult(new, [_reply("013", None, event, new, plans)])


#: Seed 002 Table 30: "63 ENRL OPT OUT MMP - MMP (Medicare and Medicaid plan) opt-out after enrolled".
OPT_OUT_AFTER_ENROLLED = "63"


def _in_force(state: MemberState, contract: str, pbp: str, day: dt.date) -> dict[str, Any] | None:
    """The active enrollment in that plan covering ``day`` whose coverage goes on past ``day``'s month
    (never in the last calendar year, where the rules cannot compute the day after a month, issue 16)."""
    if day > LAST_EFFECTIVE_DATE:
        return None
    d, last = iso(day), iso(month_end(day))
    for e in reversed(state["enrollments"]):
        if (e["status"] == "ACTIVE" and e["contract_id"] == contract and e["pbp_id"] == pbp
                and e["start"] <= d and (e["end"] is None or e["end"] > last)):
            return e
    return None


def _opt_out_after_start(new: MemberState, event: Record, plans: Mapping[str, PlanState],
                         current: dict[str, Any], today: dt.date) -> StepResult:
    """TC 83 once the MMP enrollment has begun (issue 22): carried out, not only acknowledged.

    The enrollment ends on the last day of the month of the (Eastern) submission with disenrollment
    reason 63 (seed 002 Table 30 "MMP opt-out after enrolled"), as a disenrollment submitted that day
    would; the 013 (transaction code 83) carries the reason and the CMS disenrollment effective date (the
    first day without coverage). The opt-out is recorded as an election for that date (rule 106)."""
    last = month_end(today)
    out_day = last + dt.timedelta(days=1)
    current["end"] = iso(last)
    current["disenrollment_reason"] = OPT_OUT_AFTER_ENROLLED
    new["elections"][iso(out_day)] = {"application_date": iso(today), "tracking_id": event["tracking_id"]}
    return StepResult(new, [_reply("013", None, event, new, plans, effective_date=out_day,
                                   disenrollment_reason=OPT_OUT_AFTER_ENROLLED,
                                   part_d_premium=_enr._premium(plans, current["contract_id"], current["pbp_id"], last))])
