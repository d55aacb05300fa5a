"""The fixed-width codecs (streams/tools/planfiles.py): the hand-made samples, the round trip, overflow."""
from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processors.ids import stable_id
from processors.trr import TRC_TABLE
from streams import topics
from streams.kafka.registry import SchemaRegistry
from streams.kafka.serde import Serde
from streams.tools import planfiles as pf

DATA = Path(__file__).parent / "data"
TRR_SAMPLE = DATA / "P.RS7101.DAILYTRR.D261103.T0915307"
TC61_SAMPLE = DATA / "tc61-sample.txt"
UTC = dt.timezone.utc
D = dt.date

# The three records of the TRR sample, typed from tests/tools/data/README.md (not from the codec).
SAMPLE_RECORDS = [
    dict(mbi="1EG4TE5MK73", last_name="Lovelace", first_name="Ada", middle_initial="B", sex="F",
         birth_date=D(1950, 3, 14), contract_id="S7101", transaction_reply_code="011", transaction_code=61,
         effective_date=D(2027, 1, 1), pbp_id="001", transaction_date=D(2026, 11, 2), prior_contract_id="S7303",
         prior_pbp_id="002", update_source_contract_id=None, application_date=D(2026, 11, 1),
         part_d_premium=Decimal("28.40"), election_type="A", enrollment_source="B",
         cms_processing_timestamp=dt.datetime(2026, 11, 2, 14, 0, tzinfo=UTC), lis_premium_subsidy_level="100",
         lis_copay_level="1", lis_period_start=D(2026, 1, 1), lis_premium_subsidy_amount=Decimal("28.40"),
         lis_period_end=None, lis_subsidy_source="D", trc_short_name="ENROLLMENT ACCE", disenrollment_reason=None,
         cms_tracking_id="T0123456789ABCDEF0123", plan_tracking_id="SAMPLE-0001"),
    dict(mbi="2FH5UF6NK84", last_name="Ortiz", first_name="Ben", middle_initial=None, sex="M",
         birth_date=D(1948, 7, 9), contract_id="S7101", transaction_reply_code="014", transaction_code=51,
         effective_date=D(2027, 2, 1), pbp_id="002", transaction_date=D(2026, 11, 3), prior_contract_id=None,
         prior_pbp_id=None, update_source_contract_id="S7202", application_date=D(2026, 11, 2), part_d_premium=None,
         election_type=None, enrollment_source=None,
         cms_processing_timestamp=dt.datetime(2026, 11, 3, 9, 15, 30, 700000, tzinfo=UTC),
         lis_premium_subsidy_level=None, lis_copay_level=None, lis_period_start=None, lis_premium_subsidy_amount=None,
         lis_period_end=None, lis_subsidy_source=None, trc_short_name="DISENROLLED DUE", disenrollment_reason="13",
         cms_tracking_id="TFEDCBA98765432100123", plan_tracking_id=None),
    dict(mbi="3GJ6VG7PM95", last_name="Diaz-Villanu", first_name="Coralin", middle_initial=None, sex="U",
         birth_date=D(1941, 12, 31), contract_id="S7101", transaction_reply_code="121", transaction_code=1,
         effective_date=D(2026, 6, 1), pbp_id="001", transaction_date=D(2026, 11, 3), prior_contract_id=None,
         prior_pbp_id=None, update_source_contract_id=None, application_date=None, part_d_premium=Decimal("30.05"),
         election_type="U", enrollment_source="B", cms_processing_timestamp=dt.datetime(2026, 11, 3, 9, 20, tzinfo=UTC),
         lis_premium_subsidy_level="050", lis_copay_level="2", lis_period_start=D(2026, 6, 1),
         lis_premium_subsidy_amount=Decimal("15.05"), lis_period_end=D(2026, 12, 31), lis_subsidy_source="A",
         trc_short_name="LIS PERIOD ADDE", disenrollment_reason=None, cms_tracking_id="T00000000000000000ABC",
         plan_tracking_id="TRK-15-CHARS-XX"),
]


def _sample_lines(path: Path) -> list[bytes]:
    return [line for _, line in pf.lines_of(path.read_bytes())]


def test_the_hand_made_trr_sample_reads_field_by_field():
    lines = _sample_lines(TRR_SAMPLE)
    assert [len(line) for line in lines] == [800, 800, 800]
    for line, expected in zip(lines, SAMPLE_RECORDS):
        assert pf.parse_trr_line(line) == expected


def test_records_write_the_hand_made_trr_sample_byte_for_byte():
    records = [dict(r) for r in SAMPLE_RECORDS]
    # What the product holds where the file shows a cut value: the full names and TRC short names.
    records[2].update(last_name="Diaz-Villanueva", first_name="Coraline")
    for rec in records:
        rec["trc_short_name"] = TRC_TABLE[rec["transaction_reply_code"]]["short_name"]
        rec["file_name"] = TRR_SAMPLE.name
    assert pf.file_bytes(pf.trr_files(records)[TRR_SAMPLE.name]) == TRR_SAMPLE.read_bytes()


def test_the_hand_made_tc61_sample_reads_field_by_field():
    lines = _sample_lines(TC61_SAMPLE)
    fields, extra = pf.parse_tc61_line(lines[0])
    assert fields == dict(
        mbi="1EG4TE5MK73", last_name="Lovelace", first_name="Ada", middle_initial="B", sex="F",
        birth_date=D(1950, 3, 14), pbp_id="001", election_type="A", contract_id="S7101",
        application_date=D(2026, 11, 1), transaction_code=61, effective_date=D(2027, 1, 1), sep_reason=None,
        enrollment_source="B", tracking_id="SUBMIT-0001", rx_bin="610014", rx_pcn="MEDDPRIME", rx_group="SUN01",
        rx_member_id="A1B2C3")
    assert extra == dict(eghp_flag=None, segment_id="000", premium_withhold_option="D", creditable_coverage_flag="Y",
                         uncovered_months="000", part_d_opt_out_flag=None, secondary_rx_bin=None,
                         secondary_rx_pcn=None)
    fields, extra = pf.parse_tc61_line(lines[1])
    assert (fields["mbi"], fields["sex"], fields["birth_date"], fields["pbp_id"], fields["election_type"],
            fields["contract_id"], fields["application_date"], fields["sep_reason"], fields["tracking_id"],
            fields["middle_initial"], fields["rx_bin"]) == (
        "4HK7WH8QN16", "M", D(1952, 2, 29), "005", "S", "S7303", D(2026, 11, 5), "21", "SUBMIT-0002", None, None)
    assert (extra["eghp_flag"], extra["part_d_opt_out_flag"]) == ("Y", "Y")
    with pytest.raises(pf.LineError) as bad:
        pf.parse_tc61_line(lines[2])
    assert bad.value.code == pf.BAD_DATE and "application_date" in bad.value.message


def test_a_tc61_line_becomes_the_enrollment_transaction_it_means():
    fields, _ = pf.parse_tc61_line(_sample_lines(TC61_SAMPLE)[0])
    at = dt.datetime(2026, 11, 2, 14, tzinfo=UTC)
    record = pf.enrollment_transaction(fields, submitted_at=at)
    assert record["submitted_at"] == at and record["submitter_id"] == "S7101"
    assert record["correlation_id"] is None and record["disenrollment_reason"] is None
    assert pf.enrollment_transaction(fields, submitted_at=at, submitter_id="NY")["submitter_id"] == "NY"
    value = Serde(SchemaRegistry.embedded()).encode(topics.ENROLLMENT_REQUESTS, record)
    assert Serde(SchemaRegistry.embedded()).decode(topics.ENROLLMENT_REQUESTS, value)["tracking_id"] == "SUBMIT-0001"


@pytest.mark.parametrize(("change", "code"), [
    (lambda s: s[:599], pf.WRONG_LENGTH),
    (lambda s: s + " ", pf.WRONG_LENGTH),
    (lambda s: s[:59] + "51" + s[61:], pf.UNKNOWN_TC),
    (lambda s: s[:59] + "6X" + s[61:], pf.UNKNOWN_TC),
    (lambda s: s[:63] + "20270230" + s[71:], pf.BAD_DATE),
    (lambda s: s[:33] + "1950031A" + s[41:], pf.BAD_DATE),
    (lambda s: s[:63] + " " * 8 + s[71:], pf.MISSING_FIELD),
    (lambda s: s[:209] + " " * 15 + s[224:], pf.MISSING_FIELD),
    (lambda s: s[:32] + "X" + s[33:], pf.BAD_VALUE),
])
def test_tc61_lines_that_cannot_be_read_say_why(change, code):
    good = _sample_lines(TC61_SAMPLE)[0].decode()
    with pytest.raises(pf.LineError) as bad:
        pf.parse_tc61_line(change(good))
    assert bad.value.code == code


def test_a_non_ascii_byte_is_its_own_reason():
    good = _sample_lines(TC61_SAMPLE)[0]
    with pytest.raises(pf.LineError) as bad:
        pf.parse_tc61_line(good[:12] + "Ñ".encode() + good[14:])
    assert bad.value.code == pf.NOT_ASCII


def test_lines_of_takes_lf_and_crlf_and_no_empty_last_line():
    assert list(pf.lines_of(b"a\r\nb\nc\n")) == [(1, b"a"), (2, b"b"), (3, b"c")]
    assert list(pf.lines_of(b"a\n\nb")) == [(1, b"a"), (2, b""), (3, b"b")]
    assert list(pf.lines_of(b"")) == []


def test_file_date_reads_the_stamp_of_a_cms_file_name():
    assert pf.file_date("P.RS7101.DAILYTRR.D261103.T0915307") == D(2026, 11, 3)
    assert pf.file_date("P.RS7101.SPCLTRD.D251017.T1430005") == D(2025, 10, 17)
    # issue 23: seed 001's names end with the process number (".pn": 01); a name written before still reads
    assert pf.file_date("P.RS7101.SPCLTRD.D251017.T1430005.01") == D(2025, 10, 17)
    assert pf.file_date("P.RS7101.DAILYTRR.D261103.T0915307.01") == D(2026, 11, 3)
    assert pf.file_date("something-else") is None


# ---------------------------------------------------------------- properties
_L = "ACDEFGHJKMNPQRTUVWXY"
mbis = st.from_regex(rf"\A[1-9][{_L}][{_L}0-9][0-9][{_L}][{_L}0-9][0-9][{_L}][{_L}][0-9][0-9]\Z")
contracts = st.from_regex(r"\A[HSER][0-9]{4}\Z")
pbps = st.from_regex(r"\A[0-9]{3}\Z")
dates = st.dates(D(1900, 1, 1), D(2099, 12, 31))
instants = st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2099, 12, 31)).map(
    lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000, tzinfo=UTC))
cents = st.integers(0, 99_999_999).map(lambda c: Decimal(c).scaleb(-2))


def printable(max_size: int) -> st.SearchStrategy[str]:
    """Printable ASCII with no trailing space (blank padding cannot tell it from the pad)."""
    return st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=max_size).filter(
        lambda s: s == s.rstrip())


@st.composite
def trr_records(draw: st.DrawFn) -> dict:
    """A TrrRecord as the product emits one (the values the processors and the schema allow)."""
    trc = draw(st.sampled_from(sorted(TRC_TABLE)))
    info = TRC_TABLE[trc]
    at = draw(instants)
    contract = draw(contracts)
    opt = lambda s: draw(st.none() | s)  # noqa: E731
    rec = dict(
        mbi=draw(mbis), contract_id=contract, pbp_id=opt(pbps), transaction_code=draw(st.sampled_from([1, 51, 61, 72, 80, 81, 82, 83])),
        transaction_reply_code=trc, trc_type={"A": "ACCEPTED", "R": "REJECTED", "I": "INFORMATIONAL"}[info["type"]],
        trc_short_name=info["short_name"], effective_date=opt(dates), transaction_date=draw(dates),
        application_date=opt(dates), election_type=opt(st.sampled_from("A C D E F I J L M N O R S T U V W X Y Z".split())),
        enrollment_source=opt(st.sampled_from("A B C D E F G H I J K L N".split())), prior_contract_id=opt(contracts),
        prior_pbp_id=opt(pbps), disenrollment_reason=opt(st.from_regex(r"\A[0-9]{2}\Z")),
        lis_premium_subsidy_level=opt(st.sampled_from(["000", "025", "050", "075", "100"])),
        lis_copay_level=opt(st.sampled_from("012345")), lis_subsidy_source=opt(st.sampled_from(["A", "D"])),
        lis_period_start=opt(dates), lis_period_end=opt(dates), lis_premium_subsidy_amount=opt(cents),
        part_d_premium=opt(cents), cms_processing_timestamp=at,
        file_name=f"P.R{contract}.DAILYTRR.D{at:%y%m%d}.T{at:%H%M%S}{at.microsecond // 100000}.01",
        cms_tracking_id=stable_id("T", draw(st.text(max_size=8)), contract, trc), plan_tracking_id=opt(printable(15)),
        external_correlation_id=opt(st.text(max_size=20)),
        update_source_contract_id=opt(contracts | st.sampled_from(["CMS", "NY", "FL"])),
    )
    # The beneficiary's own fields: read by the codec when the record has them (docs/plan-files.md).
    rec.update(last_name=opt(printable(12)), first_name=opt(printable(7)), middle_initial=opt(printable(1)),
               birth_date=opt(dates), sex=opt(st.sampled_from("MFU")))
    return rec


_SERDE = Serde(SchemaRegistry.embedded())
_SCHEMA_FIELDS = {f["name"] for f in __import__("schemas").schema_json("TrrRecord")["fields"]}


def _carried(rec: dict) -> dict:
    """What the layout gives back for ``rec`` (docs/plan-files.md): the TRC short name's first 15
    characters, the processing instant to the tenth of a second, everything else as it is."""
    want = {name: rec.get(name) for name in pf.TRR_CARRIED}
    want["trc_short_name"] = rec["trc_short_name"][:15].rstrip()
    t = rec["cms_processing_timestamp"]
    want["cms_processing_timestamp"] = t.replace(microsecond=t.microsecond // 100000 * 100000)
    return want


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(trr_records())
def test_every_trr_record_round_trips_through_a_line(rec):
    # It is a record the product can emit: the schema takes it.
    _SERDE.encode(topics.TRR_REPLIES, {k: v for k, v in rec.items() if k in _SCHEMA_FIELDS})
    notes: Counter = Counter()
    line = pf.trr_line(rec, notes)
    assert len(line) == pf.TRR_LENGTH and line.isascii() and line.isprintable()
    assert line[41] == pf.TRR_RECORD_TYPE
    assert pf.parse_trr_line(line) == _carried(rec)
    assert not notes


wild_text = st.none() | st.text(max_size=40)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(trr_records(), st.data())
def test_a_value_that_does_not_fit_never_shifts_the_line(rec, data):
    text_fields = [f.name for f in pf.TRR_LAYOUT if f.kind == "text"] + ["prior_contract_id", "prior_pbp_id"]
    wild = dict(rec)
    for name in text_fields:
        wild[name] = data.draw(wild_text, label=name)
    for name in ("part_d_premium", "lis_premium_subsidy_amount"):
        wild[name] = data.draw(st.none() | st.decimals(-10**7, 10**8, places=2, allow_nan=False), label=name)
    wild["transaction_code"] = data.draw(st.integers(-1000, 1000), label="tc")
    wild["sex"] = data.draw(st.none() | st.text(max_size=3), label="sex")
    notes: Counter = Counter()
    line = pf.trr_line(wild, notes)
    assert len(line) == pf.TRR_LENGTH and line.isascii() and line.isprintable()
    back = pf.parse_trr_line(line)
    # Dates, the instant and the tracking id stay exactly where they were.
    same = _carried(rec)
    for name in ("birth_date", "effective_date", "transaction_date", "application_date", "lis_period_start",
                 "lis_period_end", "cms_processing_timestamp", "cms_tracking_id"):
        assert back[name] == same[name], name
    widths = {f.name: f.length for f in pf.TRR_LAYOUT} | {"prior_contract_id": 5, "prior_pbp_id": 3}
    for name in text_fields:
        value, got = wild[name], back[name]
        assert got is None or len(got) <= widths[name]
        if value is not None and value.isascii() and value.isprintable():
            assert got == (value[:widths[name]].rstrip() or None), name
            assert notes[name] == 0 or len(value) > widths[name]
    for name in ("part_d_premium", "lis_premium_subsidy_amount"):
        value = wild[name]
        fits = value is not None and 0 <= value < 1_000_000
        assert back[name] == (value if fits else None), name
        assert notes[name] == (1 if value is not None and not fits else 0)
    tc = wild["transaction_code"]
    assert back["transaction_code"] == (tc if 0 <= tc <= 99 else None)
    assert notes["transaction_code"] == (0 if 0 <= tc <= 99 else 1)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(trr_records(), min_size=1, max_size=12), st.randoms(use_true_random=False))
def test_a_file_is_the_same_bytes_whatever_the_order_and_repeats(records, rnd: random.Random):
    base = pf.trr_files(records)
    again = records + [records[rnd.randrange(len(records))] for _ in range(rnd.randrange(5))]
    rnd.shuffle(again)
    assert pf.trr_files(again) == base
    assert sum(len(v) for v in base.values()) == len({(r["file_name"], r["cms_tracking_id"]) for r in records})
    assert set(base) == {r["file_name"] for r in records}
    # docs/plan-files.md: by processing timestamp (as written: tenths), MBI, TC, TRC, tracking id.
    order = lambda r: (_carried(r)["cms_processing_timestamp"], r["mbi"], r["transaction_code"],  # noqa: E731
                       r["transaction_reply_code"], r["cms_tracking_id"])
    for name, lines in base.items():
        unique = {r["cms_tracking_id"]: r for r in records if r["file_name"] == name}.values()
        assert [pf.parse_trr_line(line)["cms_tracking_id"] for line in lines] == [
            r["cms_tracking_id"] for r in sorted(unique, key=order)]


@st.composite
def tc61_transactions(draw: st.DrawFn) -> dict:
    opt = lambda s: draw(st.none() | s)  # noqa: E731
    return dict(
        mbi=draw(mbis), last_name=opt(printable(12)), first_name=opt(printable(7)), middle_initial=opt(printable(1)),
        sex=opt(st.sampled_from("MFU")), birth_date=opt(dates), pbp_id=draw(pbps),
        election_type=opt(st.sampled_from("AEFINOSTUZ")), contract_id=draw(contracts), application_date=draw(dates),
        transaction_code=61, effective_date=draw(dates), sep_reason=opt(st.from_regex(r"\A[0-9]{2}\Z")),
        enrollment_source=draw(st.sampled_from("ABCEFGJKLN")), tracking_id=draw(printable(15)),
        rx_bin=opt(printable(6)), rx_pcn=opt(printable(10)), rx_group=opt(printable(15)), rx_member_id=opt(printable(20)),
    )


@settings(max_examples=300)
@given(tc61_transactions())
def test_every_tc61_transaction_round_trips_through_a_line(txn):
    line = pf.tc61_line(txn)
    assert len(line) == pf.TC61_LENGTH
    fields, _ = pf.parse_tc61_line(line)
    assert fields == txn
