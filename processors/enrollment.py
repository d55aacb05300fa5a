"""Enrollment transactions (the enrollment-requests topic): TC 61, 51, 72, 80, 81.

Pure: each handler of :data:`HANDLERS` takes ``(state, event, plans)`` and returns the new member
state (None when unchanged) and the TRR replies. ``processors.transactions.apply_enrollment``
dispatches a transaction to its handler here or in ``processors.passive`` (82, 83 and state
passive TC 61), after the checks every transaction code shares. The processing time of every reply
is the transaction's ``submitted_at``. See ``docs/conventions.md`` for every
TRC choice the public TRC list leaves open.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from processors.codes import (
    DISENROLLMENT_REASON_OTHER_PLAN,
    TC_4RX,
    TC_CANCEL_DISENROLLMENT,
    TC_CANCEL_ENROLLMENT,
    TC_DISENROLL,
    TC_ENROLL,
    is_election_type,
    normalize_disenrollment_reason,
    normalize_enrollment_source,
    sep_reason_for_disenrollment,
    sep_reason_for_enrollment,
)
from processors.dates import day_before, from_iso, is_month_end, iso
from processors.member import enrollment_on, lis_on
from processors.model import MemberState, Output, PlanState, Record, StepResult, with_own_enrollments
from processors.plans import plan_key, plan_premium
from processors.reassignment import reenrollment_obligation
from processors.trr import beneficiary_fields, lis_fields, trr_from

TRC_ALREADY_ENROLLED = "039"
TRC_DUPLICATE_PBP = "109"
RX_FIELDS = ("rx_bin", "rx_pcn", "rx_group", "rx_member_id")


# --------------------------------------------------------------------------- replies

def _premium(plans: Mapping[str, PlanState], contract_id: str, pbp_id: str, day: dt.date | None):
    if day is None:
        return None
    return plan_premium(plans.get(plan_key(contract_id, pbp_id, day.year)))


def _valid_election_type(code: str | None) -> str | None:
    # TrrRecord.election_type is an Avro enum: an invalid code cannot be echoed.
    return code if is_election_type(code) else None


def _reply(
    trc: str,
    event: Record,
    state: MemberState | None,
    plans: Mapping[str, PlanState],
    *,
    contract_id: str | None = None,
    pbp_id: str | None = None,
    effective_date: dt.date | None = None,
    cause_id: str | None = None,
    own: bool = True,
    transaction_code: int | None = None,
    **fields: Any,
) -> Output:
    """One TRR reply about ``event``.

    ``own`` replies go to the submitter's plan and echo its tracking and
    correlation ids; the others (014 to a losing plan, 291 to a reinstated
    prior plan) do not carry another plan's ids.
    """
    contract_id = contract_id or event["contract_id"]
    pbp_id = pbp_id or event.get("pbp_id")
    eff = effective_date if effective_date is not None else event.get("effective_date")
    values: dict[str, Any] = {
        "pbp_id": pbp_id,
        "effective_date": eff,
        "application_date": event.get("application_date"),
        "election_type": _valid_election_type(event.get("election_type")),
        "enrollment_source": normalize_enrollment_source(event.get("enrollment_source")),
        "part_d_premium": _premium(plans, contract_id, pbp_id, eff),
        "plan_tracking_id": event.get("tracking_id") if own else None,
        "external_correlation_id": event.get("correlation_id") if own else None,
        "update_source_contract_id": event.get("submitter_id"),
    }
    if state is not None and eff is not None:
        period = lis_on(state, eff)
        if period is not None:
            values.update(lis_fields(period))
    values.update(beneficiary_fields(state, event))
    file_name = fields.pop("file_name", None)
    values.update(fields)
    return trr_from(trc, event["mbi"], contract_id, transaction_code or int(event["transaction_code"]),
                    event["submitted_at"], cause_id or event["tracking_id"], file_name, values)


def reject(trc: str, event: Record, state: MemberState | None, plans: Mapping[str, PlanState],
           **fields: Any) -> StepResult:
    """A rejection: exactly one reply, state unchanged (also the checks every transaction code shares:
    ``processors.transactions``)."""
    if event.get("transaction_code") == TC_DISENROLL:
        fields.setdefault("disenrollment_reason", event.get("disenrollment_reason"))
    return StepResult(None, [_reply(trc, event, state, plans, **fields)])


def _enrollment_accepted(new: MemberState, e: dict[str, Any], event: Record,
                         plans: Mapping[str, PlanState]) -> Output:
    """The 011 for enrollment ``e``, built from what the state stored (same on redelivery)."""
    start = from_iso(e["start"])
    return _reply(
        "011", event, new, plans,
        contract_id=e["contract_id"], pbp_id=e["pbp_id"], effective_date=start,
        application_date=from_iso(e["application_date"]),
        election_type=_valid_election_type(e["election_type"]),
        enrollment_source=e["enrollment_source"],
        prior_contract_id=e["prior_contract_id"],
        prior_pbp_id=e["prior_pbp_id"],
    )


# --------------------------------------------------------------------------- helpers

def part_d_eligibility(profile: Mapping[str, Any]) -> dt.date | None:
    """First day the member may have Part D: ``part_d_eligible_start``, else the
    earlier of the Part A / Part B starts, else None (not eligible)."""
    d = from_iso(profile.get("part_d_eligible_start"))
    if d is not None:
        return d
    starts = [from_iso(profile.get(k)) for k in ("part_a_start", "part_b_start")]
    starts = [s for s in starts if s is not None]
    return min(starts) if starts else None


def _same_plan(e: Mapping[str, Any], contract_id: str, pbp_id: str) -> bool:
    return e["contract_id"] == contract_id and e["pbp_id"] == pbp_id


def _active(state: MemberState) -> list[dict[str, Any]]:
    return [e for e in state["enrollments"] if e["status"] == "ACTIVE"]


def _disenrollment_end(eff: dt.date) -> dt.date | None:
    """Last enrolled day for a disenrollment effective ``eff`` (None: bad date)."""
    if eff.day == 1:
        return day_before(eff)
    if is_month_end(eff):
        return eff
    return None


def _later_election(state: MemberState, day: dt.date, application_date: dt.date, tracking_id: str) -> bool:
    """Rule 106: an accepted election for ``day`` has a later application date."""
    prev = state["elections"].get(iso(day))
    return (
        prev is not None
        and prev.get("tracking_id") != tracking_id
        and prev["application_date"] > iso(application_date)
    )


# --------------------------------------------------------------------------- TC 61

def _enroll(state: MemberState, event: Record, plans: Mapping[str, PlanState]) -> StepResult:
    eff: dt.date = event["effective_date"]
    app: dt.date = event["application_date"]
    contract, pbp = event["contract_id"], event["pbp_id"]
    profile = state["profile"]
    election_type = event.get("election_type")

    dod = from_iso(profile.get("date_of_death"))
    if dod is not None and dod < eff:
        return reject("036", event, state, plans)
    if not is_election_type(election_type):
        return reject("104", event, state, plans)
    if eff.day != 1:
        return reject("037", event, state, plans)
    eligible = part_d_eligibility(profile)
    if eligible is None or eff < eligible.replace(day=1):
        return reject("037", event, state, plans)
    if plan_key(contract, pbp, eff.year) not in plans:
        return reject("107", event, state, plans)
    sep = event.get("sep_reason")
    if sep not in (None, "") and not sep_reason_for_enrollment(sep):
        return reject("104", event, state, plans)

    if _later_election(state, eff, app, event["tracking_id"]):
        return reject("106", event, state, plans)
    current = enrollment_on(state, eff)
    if current is not None and _same_plan(current, contract, pbp):
        # Seed 001: a re-enrollment into the plan the member is still in "will be rejected as
        # 'beneficiary already enrolled'" (039), whatever its election type; 109 (duplicate PBP) is
        # the same election again: an enrollment in that PBP starting on that very date.
        trc = TRC_DUPLICATE_PBP if current["start"] == iso(eff) else TRC_ALREADY_ENROLLED
        return reject(trc, event, state, plans,
                       prior_contract_id=current["prior_contract_id"], prior_pbp_id=current["prior_pbp_id"])

    new = with_own_enrollments(state)
    start = iso(eff)
    app_iso = iso(app)

    # A later-starting enrollment chosen with a later application date stays;
    # this one then ends the day before it.
    end: str | None = None
    for e in _active(new):
        if e["start"] > start and (e["application_date"] or "") > app_iso:
            candidate = iso(day_before(from_iso(e["start"])))
            end = candidate if end is None else min(end, candidate)

    losers: list[tuple[dict[str, Any], dt.date]] = []
    for e in _active(new):
        if e["start"] < start and (e["end"] is None or e["end"] >= start):
            e["end"] = iso(day_before(eff))                 # switch: the old plan ends the day before
            e["disenrollment_reason"] = DISENROLLMENT_REASON_OTHER_PLAN
            losers.append((e, eff))
        elif e["start"] >= start and (end is None or e["start"] <= end):
            e["status"] = "CANCELLED"                       # replaced before it started
            e["disenrollment_reason"] = DISENROLLMENT_REASON_OTHER_PLAN
            losers.append((e, from_iso(e["start"])))

    prior = enrollment_on(new, day_before(eff))
    rx = {k: event.get(k) for k in RX_FIELDS}
    enrollment = {
        "contract_id": contract,
        "pbp_id": pbp,
        "start": start,
        "end": end,
        "election_type": election_type,
        "enrollment_source": normalize_enrollment_source(event.get("enrollment_source")),
        "sep_reason": sep or None,
        "application_date": app_iso,
        "tracking_id": event["tracking_id"],
        "prior_contract_id": prior["contract_id"] if prior else None,
        "prior_pbp_id": prior["pbp_id"] if prior else None,
        "disenrollment_reason": None,
        "status": "ACTIVE",
        "rx": rx if any(v is not None for v in rx.values()) else None,
        "reassignment": None,
    }
    new["enrollments"].append(enrollment)
    new["elections"][start] = {"application_date": app_iso, "tracking_id": event["tracking_id"]}

    outputs = [_enrollment_accepted(new, enrollment, event, plans)]
    seen: set[str] = set()
    for e, when in losers:
        cause = event["tracking_id"]
        if e["contract_id"] in seen:
            cause = f"{cause}|{e['pbp_id']}|{e['start']}"
        seen.add(e["contract_id"])
        outputs.append(_loser_reply(event, new, plans, e, when, cause))
    outputs.extend(_stays_after_reassignment(event, losers))
    return StepResult(new, outputs)


def _stays_after_reassignment(event: Record, losers: list[tuple[dict[str, Any], dt.date]]) -> list[Output]:
    """SEND_ANOC_EOC to the plan when this enrollment replaces a reassignment *out of* that same plan.

    Seed 001: a reassigned member who re-enrolls in the losing plan stays there, and that plan "must send
    its ANOC/Evidence of Coverage (EOC) and other required annual materials by December 31".
    """
    contract, pbp = event["contract_id"], event["pbp_id"]
    out: list[Output] = []
    for e, _ in losers:
        moved = e.get("reassignment") or {}
        if moved and e["status"] == "CANCELLED" and (e.get("prior_contract_id"), e.get("prior_pbp_id")) == (contract, pbp):
            out.append(reenrollment_obligation(
                mbi=event["mbi"], contract_id=contract, pbp_id=pbp, plan_year=int(moved["plan_year"]),
                cause_id=event["tracking_id"], processed_at=event["submitted_at"],
            ))
    return out


def _loser_reply(event: Record, new: MemberState, plans: Mapping[str, PlanState],
                 e: dict[str, Any], when: dt.date, cause: str) -> Output:
    """TRC 014 (transaction code 51) to the plan that loses the member."""
    return _reply(
        "014", event, new, plans,
        contract_id=e["contract_id"], pbp_id=e["pbp_id"], effective_date=when,
        cause_id=cause, own=False, transaction_code=TC_DISENROLL,
        disenrollment_reason=DISENROLLMENT_REASON_OTHER_PLAN,
        part_d_premium=None,
    )


# --------------------------------------------------------------------------- TC 51

def _disenroll(state: MemberState, event: Record, plans: Mapping[str, PlanState]) -> StepResult:
    eff: dt.date = event["effective_date"]
    contract, pbp = event["contract_id"], event["pbp_id"]
    reason = normalize_disenrollment_reason(event.get("disenrollment_reason"))
    last_day = _disenrollment_end(eff)
    if last_day is None:
        return reject("037", event, state, plans, disenrollment_reason=reason)
    out_day = last_day + dt.timedelta(days=1)          # CMS disenrollment effective date
    sep = event.get("sep_reason")
    if sep not in (None, "") and not sep_reason_for_disenrollment(sep):
        return reject("104", event, state, plans, disenrollment_reason=reason)

    end = iso(last_day)
    mine = [e for e in _active(state) if _same_plan(e, contract, pbp)]
    target = next((e for e in reversed(mine)
                   if e["start"] <= end and (e["end"] is None or e["end"] > end)), None)
    if target is None:
        if any(e["start"] > end for e in mine):
            # Disenrolling on/before the enrollment start is a cancellation: use TC 80.
            return reject("292", event, state, plans, effective_date=out_day, disenrollment_reason=reason)
        return reject("209", event, state, plans, effective_date=out_day, disenrollment_reason=reason)
    if _later_election(state, out_day, event["application_date"], event["tracking_id"]):
        return reject("106", event, state, plans, effective_date=out_day, disenrollment_reason=reason)

    new = with_own_enrollments(state)
    idx = state["enrollments"].index(target)
    e = new["enrollments"][idx]
    e["end"] = end
    e["disenrollment_reason"] = reason
    new["elections"][iso(out_day)] = {
        "application_date": iso(event["application_date"]), "tracking_id": event["tracking_id"],
    }
    reply = _reply("013", event, new, plans, effective_date=out_day, disenrollment_reason=reason,
                   part_d_premium=_premium(plans, contract, pbp, last_day))
    return StepResult(new, [reply])


# --------------------------------------------------------------------------- TC 72

def _update_4rx(state: MemberState, event: Record, plans: Mapping[str, PlanState]) -> StepResult:
    eff: dt.date = event["effective_date"]
    day = iso(eff)
    contract, pbp = event["contract_id"], event["pbp_id"]
    target = next((e for e in reversed(_active(state)) if _same_plan(e, contract, pbp)
                   and e["start"] <= day and (e["end"] is None or day <= e["end"])), None)
    if target is None:
        return reject("209", event, state, plans)
    new = with_own_enrollments(state)
    e = new["enrollments"][state["enrollments"].index(target)]
    e["rx"] = {k: event.get(k) for k in RX_FIELDS}
    return StepResult(new, [_reply("204", event, new, plans)])


# --------------------------------------------------------------------------- TC 80

def _cancel_enrollment(state: MemberState, event: Record, plans: Mapping[str, PlanState]) -> StepResult:
    eff: dt.date = event["effective_date"]
    start = iso(eff)
    contract, pbp = event["contract_id"], event["pbp_id"]
    target = next((e for e in reversed(_active(state))
                   if _same_plan(e, contract, pbp) and e["start"] == start), None)
    if target is None:
        return reject("209", event, state, plans)

    new = with_own_enrollments(state)
    e = new["enrollments"][state["enrollments"].index(target)]
    e["status"] = "CANCELLED"
    election = new["elections"].get(start)
    if election is not None and election.get("tracking_id") == e["tracking_id"]:
        del new["elections"][start]
    outputs = [_reply("013", event, new, plans, effective_date=eff)]

    # Reinstate the plan the cancelled enrollment had taken the member from.
    before = iso(day_before(eff))
    prior = next((p for p in reversed(_active(new))
                  if p["end"] == before and p["disenrollment_reason"] == DISENROLLMENT_REASON_OTHER_PLAN
                  and p["contract_id"] == e["prior_contract_id"] and p["pbp_id"] == e["prior_pbp_id"]), None)
    if prior is not None and not any(o["start"] > before for o in _active(new) if o is not prior):
        prior["end"] = None
        prior["disenrollment_reason"] = None
        outputs.append(_reply(
            "291", event, new, plans,
            contract_id=prior["contract_id"], pbp_id=prior["pbp_id"],
            effective_date=from_iso(prior["start"]),
            application_date=from_iso(prior["application_date"]),
            election_type=_valid_election_type(prior["election_type"]),
            enrollment_source=prior["enrollment_source"],
            cause_id=f"{event['tracking_id']}|REINSTATE", own=False,
        ))
    return StepResult(new, outputs)


# --------------------------------------------------------------------------- TC 81

def _cancel_disenrollment(state: MemberState, event: Record, plans: Mapping[str, PlanState]) -> StepResult:
    eff: dt.date = event["effective_date"]
    contract, pbp = event["contract_id"], event["pbp_id"]
    last_day = _disenrollment_end(eff)
    if last_day is None:
        return reject("037", event, state, plans)
    end = iso(last_day)
    target = next((e for e in reversed(_active(state))
                   if _same_plan(e, contract, pbp) and e["end"] == end
                   and e["disenrollment_reason"] != DISENROLLMENT_REASON_OTHER_PLAN), None)
    if target is None or any(o["start"] > end for o in _active(state) if o is not target):
        return reject("292", event, state, plans)
    new = with_own_enrollments(state)
    e = new["enrollments"][state["enrollments"].index(target)]
    e["end"] = None
    e["disenrollment_reason"] = None
    start = from_iso(e["start"])
    return StepResult(new, [_reply(
        "291", event, new, plans, effective_date=start,
        application_date=from_iso(e["application_date"]),
        election_type=_valid_election_type(e["election_type"]),
        enrollment_source=e["enrollment_source"],
    )])


# --------------------------------------------------------------------------- entry point

Handler = Callable[[MemberState, Record, Mapping[str, PlanState]], StepResult]

#: This module's transaction codes (``processors.transactions.HANDLERS`` is the whole dispatch table).
HANDLERS: dict[int, Handler] = {
    TC_ENROLL: _enroll,
    TC_DISENROLL: _disenroll,
    TC_4RX: _update_4rx,
    TC_CANCEL_ENROLLMENT: _cancel_enrollment,
    TC_CANCEL_DISENROLLMENT: _cancel_disenrollment,
}
