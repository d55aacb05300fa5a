"""Shapes shared by every processor: events in, state, records out.

The functional core works on plain Python values so that it needs no Kafka,
no Faust and no clock:

* **Events** are the dicts fastavro decodes from the input topics: Avro
  ``date`` fields are ``datetime.date``, ``timestamp-millis`` fields are
  timezone-aware ``datetime.datetime`` (UTC), ``decimal`` fields are
  ``decimal.Decimal``; optional fields may be ``None``.
* **State** is JSON-shaped (dicts, lists, str, int, bool, None) so that the
  shell can store it with orjson cheaply. Dates in state are ISO strings
  (``"2026-01-01"``), which sort correctly as strings; money is a string
  decimal (``"31.50"``).
* **Outputs** are :class:`Output` tuples: the topic, the key and the value
  dict shaped exactly like the output topic's Avro record (dates as
  ``datetime.date``, instants as aware ``datetime``, money as ``Decimal``).

A processor never mutates the state it is given; it returns a new one. The new
state may share nested values with the old (a rule copies what it changes:
:func:`with_own_enrollments`, a shallow ``dict(state)`` to replace a top-level
value, or a whole :func:`clone`), so no processor changes a value of its input
in place.

Member state (the per-beneficiary table, keyed by MBI)::

    {
      "mbi": "1EG4TE5MK73",
      "profile": None | {             # last BeneficiaryUpdate, dates as ISO
          "first_name", "last_name", "middle_initial", "birth_date", "sex",
          "ssn", "state_code", "county_code", "part_a_start", "part_b_start",
          "part_d_eligible_start", "date_of_death", "medicaid_status",
          "medicaid_start", "medicaid_end", "opt_out_auto_enrollment",
          "opt_out_passive_enrollment",
          "medicaid_state_code",      # the state file (issue 13); None when on none
          "mailing_address_line1", "mailing_address_line2", "mailing_city",
          "mailing_state_code", "mailing_zip_code",
          "event_time"  # ISO instant
      },
      "enrollments": [                # every enrollment ever, oldest first
          {"contract_id", "pbp_id",
           "start": "2026-01-01", "end": None | "2026-06-30",
           "election_type", "enrollment_source", "sep_reason",
           "application_date", "tracking_id",
           "prior_contract_id", "prior_pbp_id",
           "disenrollment_reason": None | "13",
           "status": "ACTIVE" | "CANCELLED",
           "rx": {"rx_bin", "rx_pcn", "rx_group", "rx_member_id"} | None,
           "reassignment": None | {"plan_year": 2027, "case": "PREMIUM"|"NON_RENEWAL"}}
      ],
      "lis": [                        # LIS periods, never overlapping, by start
          {"change_id", "premium_subsidy_level": "100", "copay_level": "1",
           "subsidy_source": "A"|"D", "start": "2026-01-01", "end": None | "2026-12-31"}
      ],
      "elections": {                  # rule 106: latest application date per effective date
          "2026-02-01": {"application_date": "2026-01-10", "tracking_id": "..."}
      },
      "reassigned_years": [2027],     # calendar years a CMS reassignment took effect
      "passive_years": [2027]         # calendar years a passive enrollment took effect
    }

Plan catalog (global table keyed ``{contract_id}-{pbp_id}-{plan_year}``): the
PlanYearUpdate as state (``basic_premium`` a string decimal, ``event_time``
an ISO instant).
"""
from __future__ import annotations

import copy
from typing import Any, NamedTuple

import orjson

Record = dict[str, Any]
MemberState = dict[str, Any]
PlanState = dict[str, Any]

# Output topics (the external contract, docs/record-shapes.md).
TRR_REPLIES = "trr-replies"
BENEFICIARY_NOTICES = "beneficiary-notices"
PLAN_NOTICES = "plan-notices"
STATE_LISTS = "state-reassignment-lists"
LIS_BENCHMARKS = "lis-benchmarks"
DEAD_LETTERS = "dead-letters"
#: Issue 23: the replies to the transactions a state submitted, keyed by the state's code.
STATE_RESPONSES = "state-responses"

# Input topics.
ENROLLMENT_REQUESTS = "enrollment-requests"
LIS_STATUS_CHANGES = "lis-status-changes"
PLAN_YEAR_UPDATES = "plan-year-updates"
BENEFICIARY_UPDATES = "beneficiary-updates"
CYCLE_COMMANDS = "cycle-commands"


class Output(NamedTuple):
    """One record a processor wants published."""

    topic: str
    key: str
    value: Record


class Rejected(Exception):
    """An event that is schema-valid but cannot be applied at all.

    The shell sends it to ``dead-letters`` with ``error_code`` and the
    message; it is not a TRR rejection (those are ordinary replies).
    """

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


def new_member(mbi: str) -> MemberState:
    """The state of a beneficiary nobody has told us anything about."""
    return {
        "mbi": mbi,
        "profile": None,
        "enrollments": [],
        "lis": [],
        "elections": {},
        "reassigned_years": [],
        "passive_years": [],
    }


class StepResult(NamedTuple):
    """What a processor returns: the new state (or None: unchanged) and outputs."""

    state: MemberState | None
    outputs: list[Output]


def with_own_enrollments(state: MemberState) -> MemberState:
    """A copy of ``state`` for a rule that changes enrollments and elections: the copy's ``enrollments`` list,
    each enrollment dict in it and its ``elections`` dict are its own (fields of an enrollment may be set, an
    enrollment appended, an election added or removed); everything else (the profile, the LIS periods, an
    enrollment's ``rx`` and ``reassignment`` dicts, the election values) is shared with ``state`` and must be
    replaced, never changed in place. The same JSON as :func:`clone`, at a fraction of its cost."""
    new = dict(state)
    new["enrollments"] = [dict(e) for e in state["enrollments"]]
    new["elections"] = dict(state["elections"])
    return new


def clone(state: MemberState) -> MemberState:
    """A deep copy of a JSON-shaped state, several times faster than ``copy.deepcopy``."""
    try:
        return orjson.loads(orjson.dumps(state))
    except TypeError:  # a non-JSON value slipped in: still correct, just slower
        return copy.deepcopy(state)
