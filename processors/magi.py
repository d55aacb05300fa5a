"""The Medicaid MAGI screen (seed 003) and its effect on the member's Medicaid status.

Two pure steps:

* :func:`screen` turns one ``MagiApplication`` (topic ``magi-applications``)
  into one ``MedicaidDetermination`` record (topic ``medicaid-determinations``,
  key MBI).
* :func:`apply_determination` records the determination in the member state
  and updates the profile's Medicaid fields when the determination makes the
  member a full-benefit dual (or ends a Medicaid period a MAGI determination
  had opened).

The screen, in the order of seed 003's Figure 1 (non-financial criteria, then
the MAGI income standard, then the non-MAGI categories):

1. Age on the application date. MAGI-exempt outright (Text Box 1): age 65 or
   older (group ``EXEMPT_AGED``) and SSI recipients (``EXEMPT_SSI``, eligible
   on a basis that needs no income determination): outcome
   ``NON_MAGI_REFERRAL``.
2. No poverty guideline for the state (territories) or for any year up to the
   application's: ``NOT_SCREENED``.
3. MAGI groups the applicant fits: ``PREGNANT`` (pregnant), ``INFANT`` (under 1),
   ``CHILD`` (under 19), ``ADULT`` (19 to 64, not pregnant; not Medicare when
   the standards say so). Household income counts with the standard disregard
   of 5 percentage points of the FPL for the household size (seed 003: "minus
   a standard income disregard of 5 percentage points of the FPL"), i.e.
   eligible when ``income - 5% FPL <= standard% FPL``. Monthly income against
   the monthly FPL (the annual guideline / 12), exact arithmetic.
4. Eligible under any fitting group: ``ELIGIBLE_MAGI`` (the group reported is
   the first eligible one in the order PREGNANT, INFANT, CHILD, ADULT).
5. Otherwise a claimed exempt basis (blind/disabled, long-term care, Medicare
   cost-sharing, medically needy; seed 003: exempt "if income exceeds" the
   MAGI standards) gives ``NON_MAGI_REFERRAL`` with the first of them as the
   group; otherwise ``INELIGIBLE_MAGI``.

``docs/medicaid.md`` has the field-by-field description and every choice made
where the seed is silent.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from fractions import Fraction
from importlib import resources
from typing import Any

from processors.codes import STATE_CODES, TERRITORY_CODES, is_valid_mbi
from processors.dates import UTC, instant_from_iso, instant_iso, iso, month_end
from processors.ids import stable_id
from processors.model import MemberState, Output, Record, Rejected, StepResult, new_member, clone

MAGI_APPLICATIONS = "magi-applications"
MEDICAID_DETERMINATIONS = "medicaid-determinations"

# outcomes
ELIGIBLE_MAGI = "ELIGIBLE_MAGI"
INELIGIBLE_MAGI = "INELIGIBLE_MAGI"
NON_MAGI_REFERRAL = "NON_MAGI_REFERRAL"
NOT_SCREENED = "NOT_SCREENED"

# groups
ADULT, PREGNANT, INFANT, CHILD = "ADULT", "PREGNANT", "INFANT", "CHILD"
MAGI_GROUP_ORDER = (PREGNANT, INFANT, CHILD, ADULT)
NO_GROUP = "NONE"

# MAGI-exempt bases (seed 003 Text Box 1), in the order they name the group
AGED = "AGED"
SSI = "SSI"
BLIND_DISABLED = "BLIND_DISABLED"
LONG_TERM_CARE = "LONG_TERM_CARE"
MEDICARE_COST_SHARING = "MEDICARE_COST_SHARING"
MEDICALLY_NEEDY = "MEDICALLY_NEEDY"
EXEMPT_ORDER = (AGED, SSI, BLIND_DISABLED, LONG_TERM_CARE, MEDICARE_COST_SHARING, MEDICALLY_NEEDY)
#: bases that take the applicant out of MAGI altogether (no MAGI screen)
OUTRIGHT_EXEMPT = (AGED, SSI)
_FLAG_BASES = (
    ("receives_ssi", SSI),
    ("blind_or_disabled", BLIND_DISABLED),
    ("needs_long_term_care", LONG_TERM_CARE),
    ("requests_medicare_cost_sharing", MEDICARE_COST_SHARING),
    ("medically_needy", MEDICALLY_NEEDY),
)

# reasons
REASON_AGE_65 = "AGE_65_OR_OLDER"
REASON_SSI = "SSI_RECIPIENT"
REASON_NO_FPL = "NO_POVERTY_GUIDELINE"
REASON_INCOME = "INCOME_ABOVE_STANDARD"
REASON_NO_GROUP = "NO_MAGI_GROUP"
REASON_EXEMPT = "INCOME_ABOVE_STANDARD_EXEMPT_BASIS"

FULL_BENEFIT_DUAL = "FULL_BENEFIT_DUAL"
NO_MEDICAID = "NONE"
ADULT_MIN_AGE, AGED_AGE, INFANT_AGE = 19, 65, 1

CENT = Decimal("0.01")
STATE_KEY = "medicaid"


def _load(name: str) -> dict[str, Any]:
    return json.loads(resources.files("processors.data").joinpath(name).read_text())


#: processors/data/fpl.json (HHS poverty guidelines)
FPL_TABLE: dict[str, Any] = _load("fpl.json")
#: processors/data/medicaid_standards.json (state-set MAGI standards)
STANDARDS: dict[str, Any] = _load("medicaid_standards.json")


# --------------------------------------------------------------------------- arithmetic


def age_on(birth: dt.date, day: dt.date) -> int:
    """Completed years on ``day`` (a birthday counts on the day itself; Feb 29 turns on Mar 1)."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def fpl_table_name(state_code: str) -> str | None:
    """``AK``, ``HI``, ``CONTIGUOUS`` (other states and DC), or None (territories / unknown)."""
    if state_code in ("AK", "HI"):
        return state_code
    if state_code in STATE_CODES:
        return "CONTIGUOUS"
    return None


def fpl_year(fpl_table: Mapping[str, Any], year: int) -> int | None:
    """The latest guideline year in the table that is not after ``year``."""
    years = [int(y) for y in fpl_table["years"] if int(y) <= year]
    return max(years) if years else None


def annual_fpl(fpl_table: Mapping[str, Any], year: int, table: str, household_size: int) -> int:
    """The guideline (annual dollars) of ``year`` for a household of ``household_size``."""
    t = fpl_table["years"][str(year)][table]
    sizes = t["sizes"]
    if household_size <= len(sizes):
        return int(sizes[household_size - 1])
    return int(sizes[-1]) + (household_size - len(sizes)) * int(t["each_additional"])


def _dec(f: Fraction, rounding: str) -> Decimal:
    """A non-negative fraction to two places, rounded on integers (exact: no float, no context precision).

    ``rounding``: ROUND_FLOOR, ROUND_CEILING or ROUND_HALF_UP.
    """
    q, r = divmod(f.numerator * 100, f.denominator)
    if r and (rounding == ROUND_CEILING or (rounding == ROUND_HALF_UP and 2 * r >= f.denominator)):
        q += 1
    return (Decimal(q) / 100).quantize(CENT)


def _money(v: Any) -> Fraction:
    return Fraction(Decimal(str(v)))


def standard_percent(standards: Mapping[str, Any], state_code: str, group: str) -> Decimal | None:
    """The state's standard for a group (percent of FPL before the disregard); None: not covered."""
    key = group.lower()
    state = (standards.get("states") or {}).get(state_code) or {}
    raw = state[key] if key in state else (standards.get("default") or {}).get(key)
    return None if raw is None else Decimal(str(raw))


def fitting_groups(age: int, pregnant: bool, medicare: bool, standards: Mapping[str, Any]) -> list[str]:
    """The MAGI groups an applicant of this age fits, in MAGI_GROUP_ORDER (coverage not yet checked)."""
    out = []
    if pregnant:
        out.append(PREGNANT)
    if age < INFANT_AGE:
        out.append(INFANT)
    if age < ADULT_MIN_AGE:
        out.append(CHILD)
    if ADULT_MIN_AGE <= age < AGED_AGE and not pregnant:
        if not (medicare and standards.get("adult_group_excludes_medicare")):
            out.append(ADULT)
    return out


# --------------------------------------------------------------------------- screen


def _enum(v: Any) -> Any:
    return getattr(v, "value", v)


def _validate(app: Mapping[str, Any]) -> None:
    if not is_valid_mbi(app.get("mbi")):
        raise Rejected("INVALID_MBI", f"MBI {app.get('mbi')!r} does not have the CMS MBI format")
    code = app.get("state_code")
    if code not in STATE_CODES and code not in TERRITORY_CODES:
        raise Rejected("INVALID_CODE", f"state_code {code!r} is not a US state, DC or territory")
    size = app.get("household_size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise Rejected("INVALID_APPLICATION", f"household_size {size!r} is not a whole number of at least 1")
    income = app.get("monthly_household_income")
    if income is None or Decimal(str(income)) < 0:
        raise Rejected("INVALID_APPLICATION", f"monthly_household_income {income!r} is missing or negative")
    birth, applied = app.get("birth_date"), app.get("application_date")
    if birth is None or applied is None or birth > applied:
        raise Rejected("INVALID_APPLICATION", f"birth_date {birth} is missing or after application_date {applied}")
    if app.get("event_time") is None:
        raise Rejected("INVALID_APPLICATION", "event_time is missing")


def screen(
    application: Mapping[str, Any],
    fpl_table: Mapping[str, Any] | None = None,
    standards: Mapping[str, Any] | None = None,
) -> Record:
    """The ``MedicaidDetermination`` value for one ``MagiApplication`` (module docstring).

    ``fpl_table`` / ``standards`` default to the data files (:data:`FPL_TABLE`,
    :data:`STANDARDS`). Dates are ``datetime.date``, instants aware
    ``datetime``, money and percents ``Decimal`` with two places. Raises
    ``Rejected`` (``INVALID_MBI``, ``INVALID_CODE``, ``INVALID_APPLICATION``)
    for an application that cannot be screened at all (the shell dead-letters it).
    """
    fpl_table = FPL_TABLE if fpl_table is None else fpl_table
    standards = STANDARDS if standards is None else standards
    _validate(application)
    app = application
    state_code: str = app["state_code"]
    applied: dt.date = app["application_date"]
    age = age_on(app["birth_date"], applied)
    size: int = app["household_size"]
    income = Decimal(str(app["monthly_household_income"])).quantize(CENT)
    medicare = bool(app.get("medicare_entitled"))
    pregnant = bool(app.get("pregnant"))
    decided_at: dt.datetime = app["event_time"]

    bases = ([AGED] if age >= AGED_AGE else []) + [b for flag, b in _FLAG_BASES if app.get(flag)]
    bases = [b for b in EXEMPT_ORDER if b in bases]

    det: Record = {
        "determination_id": stable_id("MD", app["application_id"], app["mbi"], instant_iso(decided_at)),
        "mbi": app["mbi"],
        "application_id": app["application_id"],
        "state_code": state_code,
        "outcome": None,
        "group": NO_GROUP,
        "exempt_bases": bases,
        "reason": None,
        "age": age,
        "household_size": size,
        "monthly_household_income": income,
        "fpl_year": None,
        "fpl_table": None,
        "monthly_fpl": None,
        "fpl_percent": None,
        "standard_percent": None,
        "disregard_percent": None,
        "income_limit": None,
        "medicare_entitled": medicare,
        "medicaid_status": None,
        "effective_date": None,
        "decided_at": decided_at,
        "notice_period_ends": None,
        "coverage_end_date": None,
    }

    table = fpl_table_name(state_code)
    year = fpl_year(fpl_table, applied.year) if table is not None else None
    fpl_m: Fraction | None = None
    if table is not None and year is not None:
        fpl_m = Fraction(annual_fpl(fpl_table, year, table, size), 12)
        disregard = Decimal(str(standards.get("disregard_percent", "5")))
        det.update(
            fpl_year=year, fpl_table=table, monthly_fpl=_dec(fpl_m, ROUND_HALF_UP),
            fpl_percent=_dec(_money(income) * 100 / fpl_m, ROUND_CEILING),
            disregard_percent=disregard.quantize(CENT),
        )

    for outright in OUTRIGHT_EXEMPT:
        if outright in bases:
            det.update(outcome=NON_MAGI_REFERRAL, group=f"EXEMPT_{outright}",
                       reason=REASON_AGE_65 if outright == AGED else REASON_SSI)
            return det
    if fpl_m is None:
        det.update(outcome=NOT_SCREENED, reason=REASON_NO_FPL)
        return det

    disregard_f = Fraction(Decimal(det["disregard_percent"])) / 100
    covered = [
        (g, std) for g in fitting_groups(age, pregnant, medicare, standards)
        if (std := standard_percent(standards, state_code, g)) is not None
    ]
    countable = _money(income) - disregard_f * fpl_m  # seed 003: income minus 5% of the FPL
    chosen = None
    for g, std in covered:
        if countable <= Fraction(std) / 100 * fpl_m:
            chosen = (g, std)
            break
    shown = chosen or (covered[0] if covered else None)
    if shown is not None:
        g, std = shown
        limit = (Fraction(std) / 100 + disregard_f) * fpl_m
        det.update(group=g, standard_percent=std.quantize(CENT), income_limit=_dec(limit, ROUND_FLOOR))

    if chosen is not None:
        det.update(
            outcome=ELIGIBLE_MAGI,
            medicaid_status=FULL_BENEFIT_DUAL if medicare else None,
            effective_date=applied.replace(day=1),
        )
        return det
    claimed = [b for b in bases if b not in OUTRIGHT_EXEMPT]
    if claimed:
        det.update(outcome=NON_MAGI_REFERRAL, group=f"EXEMPT_{claimed[0]}", reason=REASON_EXEMPT)
        return det
    notice_ends, last_day = termination_dates(decided_at)
    det.update(
        outcome=INELIGIBLE_MAGI, medicaid_status=NO_MEDICAID,
        reason=REASON_INCOME if covered else REASON_NO_GROUP,
        notice_period_ends=notice_ends, coverage_end_date=last_day,
    )
    return det


#: Seed 003: "Current law requires the state agency to provide at least 10 days advance notice of termination
#: actions" (and CMS contemplates "to extend Medicaid coverage until the end of the month in which the Medicaid
#: termination notice period ends").
TERMINATION_NOTICE = dt.timedelta(days=10)


def termination_dates(decided_at: dt.datetime) -> tuple[dt.date, dt.date]:
    """(last day of the notice period, last day of coverage) of a termination decided at ``decided_at``.

    The notice is given on the decision's (UTC) date; the notice period ends 10 days later and coverage
    runs to the end of that month: decided November 25 -> notice ends December 5 -> covered through
    December 31; decided November 20 -> November 30 -> November 30.
    """
    notice_ends = _day(decided_at) + TERMINATION_NOTICE
    return notice_ends, month_end(notice_ends)


def determination_output(determination: Record) -> Output:
    """The determination as an :class:`Output` on ``medicaid-determinations`` keyed by MBI."""
    return Output(MEDICAID_DETERMINATIONS, determination["mbi"], determination)


# --------------------------------------------------------------------------- apply


def _day(at: dt.datetime) -> dt.date:
    return at.astimezone(UTC).date() if at.tzinfo else at.date()


def _str(v: Any) -> Any:
    return None if v is None else str(v)


def apply_determination(state: MemberState | None, determination: Mapping[str, Any]) -> StepResult:
    """Record a ``MedicaidDetermination`` for the member and update the profile's Medicaid fields.

    * Out of order: a determination decided before the one on record is
      ignored (``StepResult(None, [])``); an equal instant applies again.
    * Always: ``state["medicaid"]`` = a summary of the determination (for the
      deemed copay level and for the next determination).
    * ``ELIGIBLE_MAGI`` with ``medicaid_status`` FULL_BENEFIT_DUAL: unless the
      profile already has a FULL_BENEFIT_DUAL period covering the effective
      date, the profile becomes ``medicaid_status`` FULL_BENEFIT_DUAL,
      ``medicaid_start`` = the effective date, ``medicaid_end`` None, and the
      period is marked as opened by MAGI (``state["medicaid"]["period_from_magi"]``).
    * ``INELIGIBLE_MAGI`` when the open period was opened by a MAGI
      determination: ``medicaid_end`` = the determination's ``coverage_end_date``,
      the end of the month in which the 10-day advance notice period ends
      (seed 003; :func:`termination_dates`).
    * Anything else (referrals, not screened, eligible without Medicare):
      profile unchanged.
    * No profile yet (never seen on beneficiary-updates): only ``state["medicaid"]``.

    No outputs. Never mutates ``state``. The shell should call
    :func:`processors.auto_enrollment.auto_or_facilitate` afterwards.
    """
    mbi = determination["mbi"]
    current = state if state is not None else new_member(mbi)
    old = current.get(STATE_KEY) or {}
    decided_at = determination["decided_at"]
    if old.get("decided_at") and instant_from_iso(old["decided_at"]) > decided_at:
        return StepResult(None, [])
    new = clone(current)
    outcome = _enum(determination.get("outcome"))
    status = _enum(determination.get("medicaid_status"))
    effective = determination.get("effective_date")
    from_magi = bool(old.get("period_from_magi"))
    profile = new.get("profile")

    if profile is not None:
        if outcome == ELIGIBLE_MAGI and status == FULL_BENEFIT_DUAL and effective is not None:
            eff = iso(effective)
            covered = (
                profile.get("medicaid_status") == FULL_BENEFIT_DUAL
                and (profile.get("medicaid_start") or "") <= eff
                and (profile.get("medicaid_end") is None or eff <= profile["medicaid_end"])
            )
            if not covered:
                profile.update(medicaid_status=FULL_BENEFIT_DUAL, medicaid_start=eff, medicaid_end=None)
                from_magi = True
        elif (
            outcome == INELIGIBLE_MAGI and from_magi
            and profile.get("medicaid_status") == FULL_BENEFIT_DUAL and profile.get("medicaid_end") is None
        ):
            end = iso(termination_dates(decided_at)[1])  # no earlier than 10 days' notice allows (seed 003)
            profile["medicaid_end"] = max(end, profile.get("medicaid_start") or end)

    new[STATE_KEY] = {
        "determination_id": determination["determination_id"],
        "application_id": determination.get("application_id"),
        "state_code": determination.get("state_code"),
        "outcome": outcome,
        "group": _enum(determination.get("group")),
        "exempt_bases": [_enum(b) for b in determination.get("exempt_bases") or []],
        "fpl_percent": _str(determination.get("fpl_percent")),
        "medicaid_status": status,
        "effective_date": iso(effective) if effective is not None else None,
        "decided_at": instant_iso(decided_at),
        "period_from_magi": from_magi,
    }
    return StepResult(new, [])
