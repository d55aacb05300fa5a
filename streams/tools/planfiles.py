"""Plans' own files: the fixed-width TRR (800-byte records) and TC 61 batches (600-byte records).

Pure functions, no Kafka: records (the dicts fastavro reads and writes) <-> lines (``str``,
printable ASCII, no line terminator). The commands that move them to and from the topics are in
:mod:`streams.tools.planfile_cli`; every choice the public layouts leave open is written down in
``docs/plan-files.md``. In short:

* a text value is left-justified and space-padded; an absent one (``None``, or ``""``) is blank and
  reads back as ``None``;
* dates are ``CCYYMMDD``; amounts are 8 digits, zero-padded, two implied decimals (``00003150`` is
  31.50), unsigned; the processing timestamp is ``CCYYMMDDHHMMSSt`` (UTC, tenths of a second);
* **a value never shifts the line**: text is folded to printable ASCII and cut at its width; a
  number that cannot be written in its width (an amount of $1,000,000 or more, or negative; a
  transaction code outside 00-99) is written blank. Each such value is counted in ``notes``
  (field name -> count) so the caller can say so; nothing else about the line changes.
"""
from __future__ import annotations

import datetime as dt
import operator
import re
import unicodedata
from collections import Counter
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Iterable, Iterator, Mapping, NamedTuple

import orjson

TRR_LENGTH = 800
TC61_LENGTH = 600
#: Field 7 of every TRR detail record (the layout names the field, not its values: docs/plan-files.md).
TRR_RECORD_TYPE = "T"
#: partd's ``cms_tracking_id`` is ``T`` + 20 hex digits; the 20-byte field carries the digits.
_CMS_ID = re.compile(r"T[0-9A-F]{20}")
_CMS_ID_DIGITS = re.compile(r"[0-9A-F]{20}")
#: ``.Dyymmdd.Thhmmsst`` at the end of a name, or before seed 001's process number (``.01``, issue 23).
_TRR_NAME_STAMP = re.compile(r"\.D(\d{6})\.T\d{7}(?:\.\d{2})?$")
_UTC = dt.timezone.utc
_MAX_CENTS = 10**8  # 8 digits

Notes = Counter  # field name -> how many values were cut or blanked


class Field(NamedTuple):
    """One field of a layout: 1-based ``start`` and ``length`` as the public layouts give them."""

    name: str
    start: int
    length: int
    kind: str  # text, short (text cut silently), date, money, int2, instant, sex, cms_id, const


class LineError(ValueError):
    """A line that cannot be read; ``code`` is one of :data:`LINE_ERRORS`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


WRONG_LENGTH = "WRONG_LENGTH"
NOT_ASCII = "NOT_ASCII"
BAD_DATE = "BAD_DATE"
UNKNOWN_TC = "UNKNOWN_TC"
MISSING_FIELD = "MISSING_FIELD"
BAD_VALUE = "BAD_VALUE"
LINE_ERRORS = (WRONG_LENGTH, NOT_ASCII, BAD_DATE, UNKNOWN_TC, MISSING_FIELD, BAD_VALUE)


# ---------------------------------------------------------------- layouts
#: The TRR detail record (PCUG layout 3-23; docs/plan-files.md): the fields partd writes, by
#: ``TrrRecord`` field name. Every other position is blank.
TRR_LAYOUT: tuple[Field, ...] = (
    Field("mbi", 1, 12, "text"),
    Field("last_name", 13, 12, "text"),
    Field("first_name", 25, 7, "text"),
    Field("middle_initial", 32, 1, "text"),
    Field("sex", 33, 1, "sex"),
    Field("birth_date", 34, 8, "date"),
    Field("record_type", 42, 1, "const"),
    Field("contract_id", 43, 5, "text"),
    Field("transaction_reply_code", 57, 3, "text"),
    Field("transaction_code", 60, 2, "int2"),
    Field("effective_date", 63, 8, "date"),
    Field("pbp_id", 72, 3, "text"),
    Field("transaction_date", 76, 8, "date"),
    Field("prior_contract_id", 100, 5, "text"),  # item 26, previous contract+PBP (100-107): the contract,
    Field("prior_pbp_id", 105, 3, "text"),  # then the PBP
    Field("update_source_contract_id", 116, 5, "text"),
    Field("application_date", 124, 8, "date"),
    Field("part_d_premium", 146, 8, "money"),
    Field("election_type", 154, 1, "text"),
    Field("enrollment_source", 155, 1, "text"),
    Field("cms_processing_timestamp", 163, 15, "instant"),
    Field("lis_premium_subsidy_level", 235, 3, "text"),
    Field("lis_copay_level", 238, 1, "text"),
    Field("lis_period_start", 239, 8, "date"),
    Field("lis_premium_subsidy_amount", 271, 8, "money"),
    Field("lis_period_end", 355, 8, "date"),
    Field("lis_subsidy_source", 363, 1, "text"),
    Field("trc_short_name", 366, 15, "short"),  # the first 15 characters, by definition: never noted
    Field("disenrollment_reason", 381, 2, "text"),
    Field("cms_tracking_id", 475, 20, "cms_id"),
    Field("plan_tracking_id", 495, 15, "text"),
)

#: The ``TrrRecord`` fields a TRR line carries (what :func:`parse_trr_line` returns).
TRR_CARRIED: tuple[str, ...] = tuple(f.name for f in TRR_LAYOUT if f.kind != "const")

#: A plan's TC 61 enrollment record (PCUG v19.4 layout 3-9 as transcribed by a public parser).
#: ``enrollment`` fields become the ``EnrollmentTransaction``; the rest are read and kept only in
#: :func:`parse_tc61_line`'s ``extra`` (the record has no field for them).
TC61_LAYOUT: tuple[Field, ...] = (
    Field("mbi", 1, 12, "text"),
    Field("last_name", 13, 12, "text"),
    Field("first_name", 25, 7, "text"),
    Field("middle_initial", 32, 1, "text"),
    Field("sex", 33, 1, "text"),
    Field("birth_date", 34, 8, "date"),
    Field("eghp_flag", 42, 1, "text"),
    Field("pbp_id", 43, 3, "text"),
    Field("election_type", 46, 1, "text"),
    Field("contract_id", 47, 5, "text"),
    Field("application_date", 52, 8, "date"),
    Field("transaction_code", 60, 2, "int2"),
    Field("effective_date", 64, 8, "date"),
    Field("segment_id", 72, 3, "text"),
    Field("premium_withhold_option", 81, 1, "text"),
    Field("creditable_coverage_flag", 94, 1, "text"),
    Field("uncovered_months", 95, 3, "text"),
    Field("part_d_opt_out_flag", 99, 1, "text"),
    Field("sep_reason", 101, 2, "text"),
    Field("enrollment_source", 171, 1, "text"),
    Field("tracking_id", 210, 15, "text"),
    # 225-291, 4Rx: primary BIN, PCN, group, member id, then the secondary BIN and PCN (not carried),
    # in the order of the TRR's items 61-66 (docs/plan-files.md).
    Field("rx_bin", 225, 6, "text"),
    Field("rx_pcn", 231, 10, "text"),
    Field("rx_group", 241, 15, "text"),
    Field("rx_member_id", 256, 20, "text"),
    Field("secondary_rx_bin", 276, 6, "text"),
    Field("secondary_rx_pcn", 282, 10, "text"),
)
#: TC 61 fields with no ``EnrollmentTransaction`` field: read, not published.
TC61_NOT_CARRIED = frozenset({"eghp_flag", "segment_id", "premium_withhold_option", "creditable_coverage_flag",
                              "uncovered_months", "part_d_opt_out_flag", "secondary_rx_bin", "secondary_rx_pcn"})
_TC61_REQUIRED_DATES = ("application_date", "effective_date")
#: Sex codes: the TRR carries CMS's numeric code; TC 61 input takes either form.
_SEX_TO_CMS = {"M": "1", "F": "2", "U": "0"}
_SEX_FROM_CMS = {"1": "M", "2": "F", "0": "U"}


# ---------------------------------------------------------------- writing: one value
def fold(value: str) -> str:
    """``value`` as printable ASCII: accents dropped (``Ñ`` -> ``N``), anything else (control
    characters, other scripts) ``?``."""
    out = []
    for ch in unicodedata.normalize("NFKD", value):
        if " " <= ch <= "~":
            out.append(ch)
        elif not unicodedata.combining(ch):
            out.append("?")
    return "".join(out)


def _fit(value: Any, width: int, name: str, notes: Notes | None) -> str:
    """A text value in ``width`` characters: padded, or folded to printable ASCII and cut (noted)."""
    if value is None or value == "":
        return " " * width
    if type(value) is not str:
        value = str(getattr(value, "value", value))  # an enum symbol
    if value.isascii() and value.isprintable():
        if len(value) <= width:
            return value.ljust(width)
        fitted = value[:width]
    else:
        fitted = fold(value)[:width]
    if notes is not None:
        notes[name] += 1
    return fitted.ljust(width)


def _text(width: int, name: str) -> Callable[[Any, Notes | None], str]:
    return lambda value, notes: _fit(value, width, name, notes)


_DATES: dict[dt.date, str] = {}


def _date8(value: dt.date) -> str:
    """``CCYYMMDD`` (cached: a file's dates repeat)."""
    text = f"{value.year:04d}{value.month:02d}{value.day:02d}"
    if len(_DATES) < 100_000:
        _DATES[value] = text
    return text


_AMOUNTS: dict[Decimal, str | None] = {}


def _cents(value: Decimal) -> str | None:
    """8 digits of cents, or None when the amount does not fit (>= 1,000,000.00, negative, not cents)."""
    text = _AMOUNTS.get(value, "")
    if text == "":
        try:
            cents = value.scaleb(2)
            text = f"{int(cents):08d}" if cents == cents.to_integral_value() and 0 <= cents < _MAX_CENTS else None
        except (InvalidOperation, ValueError, OverflowError):
            text = None
        if len(_AMOUNTS) < 100_000:
            _AMOUNTS[value] = text
    return text


def _money(width: int, name: str) -> Callable[[Any, Notes | None], str]:
    def write(value: Any, notes: Notes | None) -> str:
        if value is None:
            return "        "
        text = _cents(value if isinstance(value, Decimal) else Decimal(str(value)))
        if text is None:
            if notes is not None:
                notes[name] += 1
            return "        "
        return text

    return write


def _int2(width: int, name: str) -> Callable[[Any, Notes | None], str]:
    def write(value: Any, notes: Notes | None) -> str:
        if value is None:
            return "  "
        if type(value) is int and 0 <= value <= 99:
            return f"{value:02d}"
        if notes is not None:
            notes[name] += 1
        return "  "

    return write


_INSTANTS: dict[dt.datetime, str] = {}


def _instant(width: int, name: str) -> Callable[[Any, Notes | None], str]:
    def write(value: Any, notes: Notes | None) -> str:
        if value is None:
            return " " * 15
        t = value.astimezone(_UTC)
        text = (f"{t.year:04d}{t.month:02d}{t.day:02d}{t.hour:02d}{t.minute:02d}{t.second:02d}"
                f"{t.microsecond // 100000}")
        if len(_INSTANTS) < 100_000:  # a file's records share a few processing instants
            _INSTANTS[value] = text
        return text

    return write


def _sex(width: int, name: str) -> Callable[[Any, Notes | None], str]:
    def write(value: Any, notes: Notes | None) -> str:
        if value is None or value == "":
            return " "
        code = _SEX_TO_CMS.get(value)
        if code is None:
            if notes is not None:
                notes[name] += 1
            return " "
        return code

    return write


def _cms_id(width: int, name: str) -> Callable[[Any, Notes | None], str]:
    text = _text(width, name)

    def write(value: Any, notes: Notes | None) -> str:
        if type(value) is str and len(value) == 21 and _CMS_ID.fullmatch(value):
            return value[1:]
        return text(value, notes)

    return write


#: Formatters of the kinds not written in line (text, short and date are: see :class:`_Writer`).
_WRITERS: dict[str, Callable[[int, str], Callable[[Any, Notes | None], str]]] = {
    "money": _money, "int2": _int2, "instant": _instant, "sex": _sex, "cms_id": _cms_id,
}
#: The formatted text of common values, looked up in line before calling a kind's formatter
#: (a miss, or a cached None, calls it: it formats, caches, or notes a value that does not fit).
_INT2 = {i: f"{i:02d}" for i in range(100)}
_CACHES: dict[str, dict[Any, str | None]] = {"money": _AMOUNTS, "int2": _INT2, "instant": _INSTANTS,
                                            "sex": _SEX_TO_CMS}


# ---------------------------------------------------------------- writing: one line
def _compile(name: str, source: str, env: dict[str, Any]) -> Any:
    """The function ``name`` defined by ``source`` (generated from our own layout tables only)."""
    exec(source, env)  # noqa: S102 - no outside input reaches the source
    return env[name]


class _Writer:
    """A layout compiled to one Python function, as ``dataclasses`` compiles ``__init__``.

    The function reads the fields from the record (one ``itemgetter`` call), formats each in line
    (text: padded when it is
    printable ASCII within its width; dates: from a cache) or with the field's formatter, and fills
    a ``%``-template whose fillers are literal spaces. Generated because a loop over the fields
    (a call per field) ran at ~80k lines/s on the reference machine and the target is 100k.
    """

    def __init__(self, layout: tuple[Field, ...], length: int, constants: Mapping[str, str]) -> None:
        template: list[str] = []
        names: list[str] = []
        args: list[str] = []
        env: dict[str, Any] = {"_fit": _fit, "_DATES": _DATES, "_date8": _date8}
        pos = 1
        for f in sorted(layout, key=lambda f: f.start):
            if f.start < pos:
                raise ValueError(f"layout overlap at {f.name} ({f.start})")
            template.append(" " * (f.start - pos))
            pos = f.start + f.length
            if f.kind == "const":
                template.append(constants[f.name].ljust(f.length).replace("%", "%%"))
                continue
            template.append("%s")
            i = len(names)
            v, w, blank = f"v{i}", f.length, repr(" " * f.length)
            names.append(f.name)
            if f.kind == "text":
                args.append(f"{blank} if {v} is None or {v} == '' else {v}.ljust({w}) if {v}.__class__ is str "
                            f"and len({v}) <= {w} and {v}.isascii() and {v}.isprintable() "
                            f"else _fit({v}, {w}, {f.name!r}, notes)")
            elif f.kind == "short":  # cut by definition, never noted
                args.append(f"{blank} if {v} is None or {v} == '' else {v}[:{w}].ljust({w}) if {v}.__class__ is str "
                            f"and {v}.isascii() and {v}.isprintable() else _fit({v}, {w}, {f.name!r}, None)")
            elif f.kind == "date":
                args.append(f"{blank} if {v} is None else _DATES.get({v}) or _date8({v})")
            elif f.kind in _CACHES:
                env[f"_c{i}"], env[f"_w{i}"] = _CACHES[f.kind], _WRITERS[f.kind](f.length, f.name)
                args.append(f"{blank} if {v} is None else _c{i}.get({v}) or _w{i}({v}, notes)")
            else:
                env[f"_w{i}"] = _WRITERS[f.kind](f.length, f.name)
                args.append(f"_w{i}({v}, notes)")
        if pos - 1 > length:
            raise ValueError(f"layout longer than {length}")
        template.append(" " * (length - pos + 1))
        env["_TEMPLATE"] = "".join(template)
        env["_ALL"] = operator.itemgetter(*names)  # one call for a whole decoded record
        variables = ", ".join(f"v{i}" for i in range(len(names)))
        body = ["def line(record, notes=None):",
                "    try:",
                f"        {variables}, = _ALL(record)",
                "    except KeyError:  # a record without some fields: those are blank",
                "        get = record.get",
                f"        {variables}, = [get(name) for name in {tuple(names)!r}]",
                "    return _TEMPLATE % (\n        " + ",\n        ".join(f"({a})" for a in args) + ",\n    )"]
        self.line: Callable[[Mapping[str, Any], Notes | None], str] = _compile("line", "\n".join(body), env)
        self.length = length


_TRR_WRITER = _Writer(TRR_LAYOUT, TRR_LENGTH, {"record_type": TRR_RECORD_TYPE})
_TC61_WRITER = _Writer(TC61_LAYOUT, TC61_LENGTH, {})


def trr_line(record: Mapping[str, Any], notes: Notes | None = None) -> str:
    """The 800-character TRR line of a ``TrrRecord`` (absent fields blank). Cut or blanked values
    are counted in ``notes``."""
    return _TRR_WRITER.line(record, notes)


def tc61_line(transaction: Mapping[str, Any], notes: Notes | None = None) -> str:
    """The 600-character TC 61 line of an ``EnrollmentTransaction`` (the inverse of
    :func:`parse_tc61_line`; for tests, benchmarks and plans that build batches from records).
    The plan tracking ID is ``tracking_id``; sex is written as given (M/F/U)."""
    return _TC61_WRITER.line(transaction, notes)


# ---------------------------------------------------------------- reading
_DATES_IN: dict[str, dt.date] = {}


def _read_date(text: str, name: str) -> dt.date | None:
    if text == "        ":
        return None
    d = _DATES_IN.get(text)
    if d is None:
        try:
            if not text.isdigit():
                raise ValueError
            d = dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
        except ValueError:
            raise LineError(BAD_DATE, f"{name} is not a CCYYMMDD date") from None
        if len(_DATES_IN) < 100_000:
            _DATES_IN[text] = d
    return d


_MONEY_IN: dict[str, Decimal] = {}


def _read_money(text: str, name: str) -> Decimal | None:
    if text == "        ":
        return None
    if not text.isdigit():
        raise LineError(BAD_VALUE, f"{name} is not 8 digits of cents")
    value = Decimal(int(text)).scaleb(-2)
    if len(_MONEY_IN) < 100_000:
        _MONEY_IN[text] = value
    return value


def _read_int2(text: str, name: str) -> int | None:
    if text == "  ":
        return None
    if not text.isdigit():
        raise LineError(BAD_VALUE, f"{name} is not a two-digit code")
    return int(text)


_INSTANTS_IN: dict[str, dt.datetime] = {}


def _read_instant(text: str, name: str) -> dt.datetime | None:
    if not text.strip():
        return None
    try:
        if not text.isdigit():
            raise ValueError
        value = dt.datetime(int(text[:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]), int(text[10:12]),
                            int(text[12:14]), int(text[14]) * 100000, tzinfo=_UTC)
    except ValueError:
        raise LineError(BAD_DATE, f"{name} is not a CCYYMMDDHHMMSSt timestamp") from None
    if len(_INSTANTS_IN) < 100_000:
        _INSTANTS_IN[text] = value
    return value


def _read_text(text: str, name: str) -> str | None:
    return text.rstrip() or None


def _read_sex(text: str, name: str) -> str | None:
    return None if text == " " else _SEX_FROM_CMS.get(text, text)


def _read_cms_id(text: str, name: str) -> str | None:
    return f"T{text}" if _CMS_ID_DIGITS.fullmatch(text) else _read_text(text, name)


#: Readers of the kinds not read in line (text and short are: see :func:`_reader`).
_READERS: dict[str, Callable[[str, str], Any]] = {
    "date": _read_date, "money": _read_money, "int2": _read_int2, "instant": _read_instant, "sex": _read_sex,
    "cms_id": _read_cms_id,
}


def _check_line(line: str | bytes, length: int) -> str:
    if isinstance(line, (bytes, bytearray)):
        if not line.isascii():
            raise LineError(NOT_ASCII, "the line has bytes outside ASCII")
        line = line.decode("ascii")
    if len(line) != length:
        raise LineError(WRONG_LENGTH, f"{len(line)} bytes, a record has {length}")
    if not line.isascii():
        raise LineError(NOT_ASCII, "the line has characters outside ASCII")
    return line


def _reader(fields: Iterable[Field]) -> Callable[[str], dict[str, Any]]:
    """``line -> {name: value}`` for ``fields`` (in their order), compiled like :class:`_Writer`:
    text sliced and stripped in line (blank -> None), dates from a cache, the rest by their reader."""
    env: dict[str, Any] = {}
    caches = {"date": _DATES_IN, "money": _MONEY_IN, "instant": _INSTANTS_IN}  # a miss calls the reader
    items = []
    for i, f in enumerate(fields):
        span, key = f"line[{f.start - 1}:{f.start - 1 + f.length}]", repr(f.name)
        if f.kind in ("text", "short"):
            items.append(f"{key}: {span}.rstrip() or None")
        elif f.kind in caches:
            env[f"_c{i}"], env[f"_r{i}"] = caches[f.kind], _READERS[f.kind]
            items.append(f"{key}: None if (t{i} := {span}) == {' ' * f.length!r} "
                         f"else _c{i}.get(t{i}) or _r{i}(t{i}, {key})")
        else:
            env[f"_r{i}"] = _READERS[f.kind]
            items.append(f"{key}: _r{i}({span}, {key})")
    return _compile("read", "def read(line):\n    return {\n        " + ",\n        ".join(items) + ",\n    }", env)


_READ_TRR = _reader(f for f in TRR_LAYOUT if f.kind != "const")


def parse_trr_line(line: str | bytes) -> dict[str, Any]:
    """The ``TrrRecord`` fields an 800-byte TRR line carries (:data:`TRR_CARRIED`); blank -> None.

    Raises :class:`LineError` for a line that is not one (length, non-ASCII, a bad date or number).
    """
    return _READ_TRR(_check_line(line, TRR_LENGTH))


_READ_TC61 = _reader(f for f in TC61_LAYOUT if f.name not in TC61_NOT_CARRIED)
_READ_TC61_EXTRA = _reader(f for f in TC61_LAYOUT if f.name in TC61_NOT_CARRIED)


def parse_tc61_line(line: str | bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(transaction fields, extra)`` of a 600-byte TC 61 line.

    The transaction fields are the ``EnrollmentTransaction`` fields the line gives (blank -> None;
    sex ``1``/``2``/``0`` -> ``M``/``F``/``U``); ``extra`` the fields the record has no place for.
    Raises :class:`LineError`: wrong length, non-ASCII, a bad date, a TC other than 61, a blank
    application or effective date or plan tracking ID, a sex code other than M/F/U/1/2/0.
    """
    line = _check_line(line, TC61_LENGTH)
    tc_text = line[59:61]
    if tc_text != "61":
        raise LineError(UNKNOWN_TC, f"transaction code {tc_text.strip()!r} at 60-61: this reader takes TC 61 only")
    fields = _READ_TC61(line)
    for name in _TC61_REQUIRED_DATES:
        if fields[name] is None:
            raise LineError(MISSING_FIELD, f"{name} is blank")
    if fields["tracking_id"] is None:
        raise LineError(MISSING_FIELD, "the plan tracking ID (210-224) is blank")
    sex = fields["sex"]
    if sex is not None:
        sex = _SEX_FROM_CMS.get(sex, sex)
        if sex not in _SEX_TO_CMS:
            raise LineError(BAD_VALUE, "sex (33) is not M, F, U, 1, 2 or 0")
        fields["sex"] = sex
    return fields, _READ_TC61_EXTRA(line)


def enrollment_transaction(fields: Mapping[str, Any], *, submitted_at: dt.datetime,
                           submitter_id: str | None = None) -> dict[str, Any]:
    """The ``EnrollmentTransaction`` a parsed TC 61 line means, submitted at ``submitted_at`` by
    ``submitter_id`` (default: the line's contract)."""
    record = dict(fields)
    record.update(
        correlation_id=None,
        mbi=fields.get("mbi") or "",
        contract_id=fields.get("contract_id") or "",
        pbp_id=fields.get("pbp_id") or "",
        enrollment_source=fields.get("enrollment_source") or "",
        disenrollment_reason=None,
        submitted_at=submitted_at,
        submitter_id=submitter_id or fields.get("contract_id") or "",
    )
    return record


# ---------------------------------------------------------------- TRR files
def file_date(file_name: str) -> dt.date | None:
    """The day in a CMS file name's ``.Dyymmdd.Thhmmsst`` stamp (UTC), or None."""
    m = _TRR_NAME_STAMP.search(file_name)
    if m is None:
        return None
    d = m.group(1)
    try:
        return dt.date(2000 + int(d[:2]), int(d[2:4]), int(d[4:]))
    except ValueError:
        return None


def _order(line: str) -> str:
    """A TRR line's place in its file: processing timestamp, MBI, TC, TRC, CMS tracking ID (as written)."""
    return line[162:177] + line[0:12] + line[59:61] + line[56:59] + line[474:494]


def trr_files(records: Iterable[Mapping[str, Any]], notes: Notes | None = None) -> dict[str, list[str]]:
    """The lines of each TRR file (by ``file_name``), deduplicated and in a fixed order.

    A record delivered twice (same ``cms_tracking_id``) is written once; lines are ordered by what
    they say (processing timestamp, MBI, TC, TRC, CMS tracking ID, then the whole line), so the
    same records in any order and with any repeats give the same lines.
    """
    files: dict[str, dict[str, tuple[str, str]]] = {}
    for rec in records:
        line = trr_line(rec, notes)
        entry = (_order(line), line)
        per = files.setdefault(rec["file_name"], {})
        key = rec.get("cms_tracking_id") or line
        old = per.get(key)
        if old is None or entry < old:
            per[key] = entry
    return {name: [line for _, line in sorted(per.values())] for name, per in sorted(files.items())}


def file_bytes(lines: list[str]) -> bytes:
    """A file's bytes: each line ended by ``\\n``, ASCII."""
    return b"".join(file_chunks(lines))


def file_chunks(lines: list[str], size: int = 2048) -> Iterator[bytes]:
    """A file's bytes ``size`` lines at a time (no copy of the whole file)."""
    for i in range(0, len(lines), size):
        yield ("\n".join(lines[i:i + size]) + "\n").encode("ascii")


def lines_of(data: bytes) -> Iterable[tuple[int, bytes]]:
    """``(line number, line)`` of a file's bytes, without ``\\n`` / ``\\r\\n`` (the final newline
    ends the last line; it does not start an empty one)."""
    parts = data.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    for n, part in enumerate(parts, 1):
        yield n, part[:-1] if part.endswith(b"\r") else part


# ---------------------------------------------------------------- JSON
_JSON_TEXT: dict[Any, str] = {}


def _json_text(value: Any) -> str:
    """The JSON string of an amount (``"31.50"``) or an instant (``...T..:..:..sssZ``), cached."""
    text = _JSON_TEXT.get(value)
    if text is None:
        if isinstance(value, dt.datetime):
            text = value.astimezone(_UTC).isoformat(timespec="milliseconds").removesuffix("+00:00") + "Z"
        elif isinstance(value, Decimal):
            text = f"{value:.2f}"
        else:
            raise TypeError(f"not JSON: {type(value).__name__}")
        if len(_JSON_TEXT) < 100_000:
            _JSON_TEXT[value] = text
    return text


def json_line(record: Mapping[str, Any], instants: tuple[str, ...] = ("cms_processing_timestamp",)) -> bytes:
    """One JSON line in the forms of ``partd consume``: ISO dates, the ``instants`` fields as
    ``...T..:..:..sssZ``, amounts as strings (``"31.50"``)."""
    out = dict(record)
    for k in instants:
        v = out.get(k)
        if v is not None:
            out[k] = _json_text(v)
    return orjson.dumps(out, default=_json_text) + b"\n"
