"""Building ``TrrRecord`` values (the ``trr-replies`` topic) and their file names."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from importlib import resources
from typing import Any

from processors.codes import is_state_code
from processors.dates import file_stamp, from_iso
from processors.ids import stable_id
from processors.model import STATE_RESPONSES, TRR_REPLIES, Output

_TYPES = {"A": "ACCEPTED", "R": "REJECTED", "I": "INFORMATIONAL"}

TRC_TABLE: dict[str, dict[str, str]] = {
    k: v
    for k, v in json.loads(resources.files("processors.data").joinpath("trc.json").read_text()).items()
    if not k.startswith("_")
}

# Every field of the TrrRecord schema, in schema order, with its default.
TRR_FIELDS: tuple[str, ...] = (
    "mbi", "contract_id", "pbp_id", "transaction_code", "transaction_reply_code",
    "trc_type", "trc_short_name", "effective_date", "transaction_date",
    "application_date", "election_type", "enrollment_source", "prior_contract_id",
    "prior_pbp_id", "disenrollment_reason", "lis_premium_subsidy_level",
    "lis_copay_level", "lis_subsidy_source", "lis_period_start", "lis_period_end",
    "lis_premium_subsidy_amount", "part_d_premium", "cms_processing_timestamp",
    "file_name", "cms_tracking_id", "plan_tracking_id", "external_correlation_id",
    "update_source_contract_id", "last_name", "first_name", "middle_initial", "birth_date", "sex",
    # issue 23: the reason apart from the short name, seed 002's Cleanup ID, the member's premium liability
    "reason", "cleanup_id", "member_premium_liability",
)

#: The beneficiary's own fields on a TRR record (the fixed-width file's positions 13-41).
BENEFICIARY_FIELDS: tuple[str, ...] = ("last_name", "first_name", "middle_initial", "birth_date", "sex")


def lis_fields(period: dict[str, Any] | None) -> dict[str, Any]:
    """The LIS fields of a TRR record from an LIS period of the member state (none: {})."""
    if period is None:
        return {}
    return {
        "lis_premium_subsidy_level": period["premium_subsidy_level"],
        "lis_copay_level": period["copay_level"],
        "lis_subsidy_source": period["subsidy_source"],
        "lis_period_start": from_iso(period["start"]),
        "lis_period_end": from_iso(period.get("end")),
    }


def beneficiary_fields(state: dict[str, Any] | None, event: dict[str, Any] | None = None) -> dict[str, Any]:
    """Name, birth date and sex for a TRR record: as CMS has them (the member's profile, from
    ``beneficiary-updates``), else as the transaction (``event``) submitted them, else none."""
    profile = (state or {}).get("profile")
    if profile:
        fields = {name: profile.get(name) for name in BENEFICIARY_FIELDS}
        fields["birth_date"] = from_iso(fields["birth_date"])
        return fields
    if event is not None:
        return {name: event.get(name) for name in BENEFICIARY_FIELDS}
    return {}


#: Seed 001's ``pn``, the process number ending a Gentran mailbox / TIBCO file name
#: (``P.Rxxxxx.SPCLTRD.Dyymmdd.Thhmsst.pn``): two digits. partd writes each file in one process, and a
#: name is already unique per contract, file type and processing instant, so it is always ``01``
#: (docs/conventions.md, issue 23).
PROCESS_NUMBER = "01"


def cms_file_name(contract_id: str, file_type: str, at: dt.datetime) -> str:
    """A CMS file name in seed 001's Gentran mailbox / TIBCO form:
    ``P.R{contract}.{file_type}.D{yymmdd}.T{hhmmsst}.{pn}`` (``pn`` = :data:`PROCESS_NUMBER`)."""
    return f"P.R{contract_id}.{file_type}.{file_stamp(at)}.{PROCESS_NUMBER}"


def daily_trr_file_name(contract_id: str, at: dt.datetime) -> str:
    """The daily TRR a reply belongs to: ``P.R{contract}.DAILYTRR.D{yymmdd}.T{hhmmsst}.01``."""
    return cms_file_name(contract_id, "DAILYTRR", at)


def special_trr_file_name(contract_id: str, at: dt.datetime) -> str:
    """The reassignment special TRR: ``P.R{contract}.SPCLTRD.D{yymmdd}.T{hhmmsst}.01`` (seed 001)."""
    return cms_file_name(contract_id, "SPCLTRD", at)


#: The TrrRecord fields as a set (to check the names a caller passes) and as a template of defaults.
_FIELD_SET = frozenset(TRR_FIELDS)
_TEMPLATE: dict[str, Any] = dict.fromkeys(TRR_FIELDS)
#: TRC -> (trc_type, trc_short_name)
_TRC_NAMES: dict[str, tuple[str, str]] = {trc: (_TYPES[info["type"]], info["short_name"]) for trc, info in TRC_TABLE.items()}
_MONEY = ("lis_premium_subsidy_amount", "part_d_premium", "member_premium_liability")


def trr_record(
    *,
    trc: str,
    mbi: str,
    contract_id: str,
    transaction_code: int,
    processed_at: dt.datetime,
    cause_id: str,
    file_name: str | None = None,
    **fields: Any,
) -> Output:
    """One TRR reply as an :class:`Output` keyed by contract.

    ``cause_id`` identifies what caused the reply (a tracking id, or a cycle
    step and MBI); with the contract and TRC it makes ``cms_tracking_id``, so
    the id is the same on every replay. Unknown field names raise ``TypeError``.
    """
    return trr_from(trc, mbi, contract_id, transaction_code, processed_at, cause_id, file_name, fields)


def trr_from(trc: str, mbi: str, contract_id: str, transaction_code: int, processed_at: dt.datetime, cause_id: str,
             file_name: str | None, fields: dict[str, Any]) -> Output:
    """:func:`trr_record` with the other fields in a dict (not copied: the value is a new dict)."""
    if not _FIELD_SET.issuperset(fields):
        raise TypeError(f"not TrrRecord fields: {sorted(set(fields) - _FIELD_SET)}")
    trc_type, short_name = _TRC_NAMES[trc]
    value = _TEMPLATE.copy()
    value.update(fields)
    value["mbi"] = mbi
    value["contract_id"] = contract_id
    value["transaction_code"] = transaction_code
    value["transaction_reply_code"] = trc
    value["trc_type"] = trc_type
    value["trc_short_name"] = short_name
    value["cms_processing_timestamp"] = processed_at
    value["transaction_date"] = fields.get("transaction_date") or processed_at.date()
    value["file_name"] = file_name or daily_trr_file_name(contract_id, processed_at)
    value["cms_tracking_id"] = stable_id("T", cause_id, contract_id, trc)
    for money in _MONEY:
        amount = value[money]
        if amount is not None and amount.__class__ is not Decimal and not isinstance(amount, Decimal):
            value[money] = Decimal(str(amount))
    return Output(TRR_REPLIES, contract_id, value)


def state_responses(outputs: list[Output], submitter_id: str | None) -> list[Output]:
    """The answers a state reads (issue 23, seed 000: "CMS processes state files as received and provides
    responses"): every TRR reply to a transaction whose ``submitter_id`` is a two-letter state code, once more
    on ``state-responses`` keyed by that code; the same ``TrrRecord`` (a copy of the value). None otherwise."""
    if not (isinstance(submitter_id, str) and len(submitter_id) == 2 and is_state_code(submitter_id)):
        return []
    return [Output(STATE_RESPONSES, submitter_id, dict(o.value)) for o in outputs if o.topic == TRR_REPLIES]
