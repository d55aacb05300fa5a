"""The MAGI screen (seed 003) and applying its determination to the member."""
from __future__ import annotations

import copy
import datetime as dt
import io
import json
from decimal import Decimal

import fastavro
import pytest

import schemas
from processors import magi
from processors.magi import apply_determination, screen
from processors.model import Rejected, new_member
from tests.processors.builders import MBI, make_member, make_profile

UTC = dt.timezone.utc
APPLIED = dt.date(2025, 3, 10)


def application(**kw):
    app = {
        "application_id": "APP-1", "mbi": MBI, "state_code": "OH", "application_date": APPLIED,
        "birth_date": dt.date(1980, 6, 15), "household_size": 1,
        "monthly_household_income": Decimal("1000.00"), "pregnant": False, "receives_ssi": False,
        "blind_or_disabled": False, "needs_long_term_care": False, "requests_medicare_cost_sharing": False,
        "medically_needy": False, "medicare_entitled": True,
        "event_time": dt.datetime(2025, 3, 10, 15, 0, tzinfo=UTC),
    }
    app.update(kw)
    return app


def birth_for_age(age: int, *, days: int = 0) -> dt.date:
    """Born so that the applicant turns ``age`` on APPLIED + ``days`` (negative: already had the birthday)."""
    day = APPLIED + dt.timedelta(days=days)
    return day.replace(year=day.year - age)


def limit_138(annual: int) -> Decimal:
    """The exact (138% of annual / 12) in cents when it is whole cents (true for these tables)."""
    v = Decimal(annual) * Decimal("1.38") / 12
    assert v == v.quantize(Decimal("0.01"))
    return v


# --------------------------------------------------------------------------- data files


def test_fpl_data_2025_values():
    years = magi.FPL_TABLE["years"]
    t = years["2025"]
    assert t["CONTIGUOUS"]["sizes"][0] == 15650 and t["CONTIGUOUS"]["each_additional"] == 5500
    assert t["AK"]["sizes"][0] == 19550 and t["AK"]["each_additional"] == 6880
    assert t["HI"]["sizes"][0] == 17990 and t["HI"]["each_additional"] == 6330
    for year in years.values():
        for table in year.values():
            s = table["sizes"]
            assert len(s) == 8
            assert all(s[i] == s[0] + i * table["each_additional"] for i in range(8))
    assert "_source" in magi.FPL_TABLE and "_source" in magi.STANDARDS


@pytest.mark.parametrize(("size", "annual"), [(1, 15650), (2, 21150), (8, 54150), (9, 59650), (12, 76150)])
def test_annual_fpl_by_household_size(size, annual):
    assert magi.annual_fpl(magi.FPL_TABLE, 2025, "CONTIGUOUS", size) == annual


def test_fpl_year_is_latest_not_after_application_year():
    assert magi.fpl_year(magi.FPL_TABLE, 2025) == 2025
    assert magi.fpl_year(magi.FPL_TABLE, 2027) == 2025
    assert magi.fpl_year(magi.FPL_TABLE, 2024) == 2024
    assert magi.fpl_year(magi.FPL_TABLE, 2023) is None


def test_standards_default_is_the_seed_minimum():
    d = magi.STANDARDS["default"]
    assert d == {"adult": "133", "pregnant": "133", "infant": "133", "child": "133"}
    assert magi.STANDARDS["disregard_percent"] == "5"


# --------------------------------------------------------------------------- income boundaries


@pytest.mark.parametrize(("state", "size", "annual"), [
    ("OH", 1, 15650), ("OH", 2, 21150), ("OH", 3, 26650), ("OH", 4, 32150), ("DC", 8, 54150),
    ("OH", 9, 59650), ("AK", 1, 19550), ("AK", 4, 40190), ("HI", 1, 17990), ("HI", 3, 30650),
])
def test_adult_income_at_limit_eligible_one_cent_over_not(state, size, annual):
    limit = limit_138(annual)
    at = screen(application(state_code=state, household_size=size, monthly_household_income=limit))
    assert at["outcome"] == "ELIGIBLE_MAGI" and at["group"] == "ADULT"
    assert at["income_limit"] == limit
    assert at["fpl_percent"] == Decimal("138.00")
    assert at["fpl_table"] == ("CONTIGUOUS" if state not in ("AK", "HI") else state)
    over = screen(application(state_code=state, household_size=size, monthly_household_income=limit + Decimal("0.01")))
    assert over["outcome"] == "INELIGIBLE_MAGI" and over["reason"] == "INCOME_ABOVE_STANDARD"
    assert over["fpl_percent"] > over["standard_percent"] + over["disregard_percent"]
    assert over["medicaid_status"] == "NONE" and over["effective_date"] is None


def test_the_disregard_is_five_points_of_fpl_subtracted_from_income():
    # 133% alone would stop at 1734.55; with the 5-point disregard 1799.75 passes (seed 003).
    d = screen(application(monthly_household_income=Decimal("1780.00")))
    assert d["outcome"] == "ELIGIBLE_MAGI"
    assert d["standard_percent"] == Decimal("133.00") and d["disregard_percent"] == Decimal("5.00")
    assert d["monthly_fpl"] == Decimal("1304.17")


def test_limit_not_whole_cents_rounds_down():
    # a state standard that gives a fraction of a cent: (150 + 5)% of 15650 / 12 = 2021.4583...
    standards = copy.deepcopy(magi.STANDARDS)
    standards["states"]["OH"] = {"adult": "150"}
    ok = screen(application(monthly_household_income=Decimal("2021.45")), standards=standards)
    assert ok["outcome"] == "ELIGIBLE_MAGI" and ok["income_limit"] == Decimal("2021.45")
    no = screen(application(monthly_household_income=Decimal("2021.46")), standards=standards)
    assert no["outcome"] == "INELIGIBLE_MAGI"


def test_uses_2024_guidelines_for_a_2024_application():
    d = screen(application(application_date=dt.date(2024, 5, 1), monthly_household_income=Decimal("1731.90")))
    assert d["fpl_year"] == 2024 and d["outcome"] == "ELIGIBLE_MAGI"
    assert screen(application(application_date=dt.date(2024, 5, 1),
                              monthly_household_income=Decimal("1731.91")))["outcome"] == "INELIGIBLE_MAGI"


def test_later_year_uses_latest_available():
    d = screen(application(application_date=dt.date(2026, 2, 1), birth_date=dt.date(1980, 1, 1)))
    assert d["fpl_year"] == 2025


def test_zero_income_is_eligible():
    assert screen(application(monthly_household_income=Decimal("0")))["outcome"] == "ELIGIBLE_MAGI"


# --------------------------------------------------------------------------- ages


@pytest.mark.parametrize(("age", "days", "group"), [
    (18, 1, "CHILD"),    # turns 18 tomorrow: 17
    (18, 0, "CHILD"),    # 18 today
    (19, 1, "CHILD"),    # 19 tomorrow: still 18
    (19, 0, "ADULT"),    # 19 today
    (64, 0, "ADULT"),
    (65, 1, "ADULT"),    # 65 tomorrow: still 64
])
def test_age_boundaries_of_magi_groups(age, days, group):
    d = screen(application(birth_date=birth_for_age(age, days=days)))
    assert d["group"] == group and d["outcome"] == "ELIGIBLE_MAGI"


def test_age_65_on_the_application_date_is_exempt():
    d = screen(application(birth_date=birth_for_age(65)))
    assert d["age"] == 65
    assert d["outcome"] == "NON_MAGI_REFERRAL" and d["group"] == "EXEMPT_AGED"
    assert d["reason"] == "AGE_65_OR_OLDER" and d["exempt_bases"] == ["AGED"]
    assert d["medicaid_status"] is None and d["effective_date"] is None
    assert d["fpl_percent"] is not None  # the income facts are still reported


def test_infant_under_one():
    d = screen(application(birth_date=dt.date(2024, 9, 1), medicare_entitled=False, household_size=3))
    assert d["group"] == "INFANT" and d["age"] == 0


def test_feb_29_birthday():
    born = dt.date(2004, 2, 29)
    assert magi.age_on(born, dt.date(2023, 2, 28)) == 18
    assert magi.age_on(born, dt.date(2023, 3, 1)) == 19


# --------------------------------------------------------------------------- state standards


def _standards(**states):
    s = copy.deepcopy(magi.STANDARDS)
    s["states"] = states
    return s


def test_child_state_standard_applies():
    standards = _standards(OH={"child": "200"})
    fpl_m = Decimal(26650) / 12
    limit = (fpl_m * Decimal("2.05")).quantize(Decimal("0.01"), rounding="ROUND_FLOOR")
    base = dict(birth_date=dt.date(2015, 1, 1), household_size=3, medicare_entitled=False)
    ok = screen(application(monthly_household_income=limit, **base), standards=standards)
    assert ok["outcome"] == "ELIGIBLE_MAGI" and ok["group"] == "CHILD"
    assert ok["standard_percent"] == Decimal("200.00") and ok["income_limit"] == limit
    no = screen(application(monthly_household_income=limit + Decimal("0.01"), **base), standards=standards)
    assert no["outcome"] == "INELIGIBLE_MAGI" and no["group"] == "CHILD"
    # another state keeps the default
    other = screen(application(state_code="IN", monthly_household_income=limit, **base), standards=standards)
    assert other["outcome"] == "INELIGIBLE_MAGI" and other["standard_percent"] == Decimal("133.00")


def test_pregnant_state_standard_and_pregnant_adult_not_in_adult_group():
    standards = _standards(OH={"pregnant": "185"})
    limit = Decimal(21150) * Decimal("1.90") / 12  # 3348.75
    ok = screen(application(pregnant=True, household_size=2, monthly_household_income=limit), standards=standards)
    assert ok["outcome"] == "ELIGIBLE_MAGI" and ok["group"] == "PREGNANT" and ok["income_limit"] == limit
    no = screen(application(pregnant=True, household_size=2, monthly_household_income=limit + Decimal("0.01")),
                standards=standards)
    assert no["outcome"] == "INELIGIBLE_MAGI" and no["group"] == "PREGNANT"


def test_pregnant_minor_passes_under_the_higher_child_standard():
    standards = _standards(OH={"child": "250", "pregnant": "185"})
    d = screen(application(pregnant=True, birth_date=birth_for_age(17), household_size=2,
                           monthly_household_income=Decimal("4000.00")), standards=standards)
    assert d["outcome"] == "ELIGIBLE_MAGI" and d["group"] == "CHILD"


def test_state_without_adult_group():
    standards = _standards(TX={"adult": None})
    d = screen(application(state_code="TX", monthly_household_income=Decimal("10.00")), standards=standards)
    assert d["outcome"] == "INELIGIBLE_MAGI" and d["reason"] == "NO_MAGI_GROUP" and d["group"] == "NONE"


def test_adult_group_medicare_exclusion_is_a_data_switch():
    standards = copy.deepcopy(magi.STANDARDS)
    standards["adult_group_excludes_medicare"] = True
    d = screen(application(medicare_entitled=True), standards=standards)
    assert d["outcome"] == "INELIGIBLE_MAGI" and d["reason"] == "NO_MAGI_GROUP"
    d = screen(application(medicare_entitled=False), standards=standards)
    assert d["outcome"] == "ELIGIBLE_MAGI"


# --------------------------------------------------------------------------- exempt groups


def test_ssi_recipient_is_referred_whatever_the_income():
    d = screen(application(receives_ssi=True, monthly_household_income=Decimal("100.00")))
    assert d["outcome"] == "NON_MAGI_REFERRAL" and d["group"] == "EXEMPT_SSI" and d["reason"] == "SSI_RECIPIENT"


@pytest.mark.parametrize(("flag", "group"), [
    ("blind_or_disabled", "EXEMPT_BLIND_DISABLED"),
    ("needs_long_term_care", "EXEMPT_LONG_TERM_CARE"),
    ("requests_medicare_cost_sharing", "EXEMPT_MEDICARE_COST_SHARING"),
    ("medically_needy", "EXEMPT_MEDICALLY_NEEDY"),
])
def test_exempt_basis_referred_only_above_the_magi_standard(flag, group):
    below = screen(application(**{flag: True}, monthly_household_income=Decimal("1799.75")))
    assert below["outcome"] == "ELIGIBLE_MAGI" and below["group"] == "ADULT"
    assert below["exempt_bases"] == [group.removeprefix("EXEMPT_")]
    above = screen(application(**{flag: True}, monthly_household_income=Decimal("1799.76")))
    assert above["outcome"] == "NON_MAGI_REFERRAL" and above["group"] == group
    assert above["reason"] == "INCOME_ABOVE_STANDARD_EXEMPT_BASIS"
    assert above["medicaid_status"] is None


def test_several_exempt_bases_in_fixed_order():
    d = screen(application(birth_date=birth_for_age(70), medically_needy=True, receives_ssi=True,
                           blind_or_disabled=True))
    assert d["exempt_bases"] == ["AGED", "SSI", "BLIND_DISABLED", "MEDICALLY_NEEDY"]
    assert d["group"] == "EXEMPT_AGED"


# --------------------------------------------------------------------------- status, dates, territories


def test_medicaid_status_and_effective_date():
    d = screen(application())
    assert d["medicaid_status"] == "FULL_BENEFIT_DUAL" and d["effective_date"] == dt.date(2025, 3, 1)
    d = screen(application(medicare_entitled=False))
    assert d["outcome"] == "ELIGIBLE_MAGI" and d["medicaid_status"] is None


@pytest.mark.parametrize("territory", ["PR", "VI", "GU", "AS", "MP"])
def test_territories_are_not_screened(territory):
    d = screen(application(state_code=territory))
    assert d["outcome"] == "NOT_SCREENED" and d["reason"] == "NO_POVERTY_GUIDELINE" and d["fpl_year"] is None


def test_year_before_any_guideline_not_screened():
    d = screen(application(application_date=dt.date(2020, 1, 5), birth_date=dt.date(1980, 1, 1)))
    assert d["outcome"] == "NOT_SCREENED"


@pytest.mark.parametrize(("field", "value", "code"), [
    ("mbi", "bad", "INVALID_MBI"),
    ("state_code", "ZZ", "INVALID_CODE"),
    ("household_size", 0, "INVALID_APPLICATION"),
    ("monthly_household_income", Decimal("-1"), "INVALID_APPLICATION"),
    ("birth_date", dt.date(2025, 3, 11), "INVALID_APPLICATION"),
])
def test_unscreenable_applications_are_rejected(field, value, code):
    with pytest.raises(Rejected) as e:
        screen(application(**{field: value}))
    assert e.value.error_code == code


def test_screen_is_deterministic_and_does_not_mutate():
    app = application()
    before = copy.deepcopy(app)
    a, b = screen(app), screen(app)
    assert a == b and app == before
    assert a["determination_id"] != screen(application(application_id="APP-2"))["determination_id"]
    assert magi.determination_output(a).topic == "medicaid-determinations"
    assert magi.determination_output(a).key == MBI


# --------------------------------------------------------------------------- Avro


def _round_trip(record_name: str, value: dict) -> dict:
    parsed = fastavro.parse_schema(schemas.schema_json(record_name), named_schemas={})
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, parsed, value)
    buf.seek(0)
    return fastavro.schemaless_reader(buf, parsed)


@pytest.mark.parametrize("kw", [
    {}, {"state_code": "PR"}, {"birth_date": dt.date(1950, 1, 1)}, {"monthly_household_income": Decimal("9999.99")},
])
def test_application_and_determination_round_trip_with_fastavro(kw):
    app = application(**kw)
    assert _round_trip("MagiApplication", app) == app
    det = screen(app)
    assert _round_trip("MedicaidDetermination", det) == det


def test_schemas_are_registered():
    assert schemas.topic_schema_id("magi-applications") == 12
    # issue 22 (notice_period_ends, coverage_end_date): a new id, 13 kept for the records written with it
    assert schemas.topic_schema_id("medicaid-determinations") == 313
    assert [v.id for v in schemas.topic_versions("magi-applications")] == [12, 112]
    assert [v.id for v in schemas.topic_versions("medicaid-determinations")] == [313, 113, 13]
    det_fields = [f["name"] for f in schemas.schema_json("MedicaidDetermination")["fields"]]
    assert det_fields == list(screen(application()))
    json.dumps(schemas.schema_json("MagiApplication"))


# --------------------------------------------------------------------------- apply_determination


def _fbde_member(**profile_kw):
    return make_member(profile=make_profile(**profile_kw))


def test_eligible_dual_sets_the_profile():
    state = _fbde_member()
    before = copy.deepcopy(state)
    det = screen(application())
    res = apply_determination(state, det)
    assert state == before
    p = res.state["profile"]
    assert (p["medicaid_status"], p["medicaid_start"], p["medicaid_end"]) == ("FULL_BENEFIT_DUAL", "2025-03-01", None)
    assert res.outputs == []
    m = res.state["medicaid"]
    assert m["determination_id"] == det["determination_id"] and m["period_from_magi"] is True
    assert m["fpl_percent"] == str(det["fpl_percent"]) and m["decided_at"] == "2025-03-10T15:00:00+00:00"
    json.dumps(res.state)


def test_existing_dual_period_is_kept():
    state = _fbde_member(medicaid_status="FULL_BENEFIT_DUAL", medicaid_start="2020-01-01")
    res = apply_determination(state, screen(application()))
    assert res.state["profile"]["medicaid_start"] == "2020-01-01"
    assert res.state["medicaid"]["period_from_magi"] is False


def test_ineligible_ends_a_period_opened_by_magi_only():
    state = apply_determination(_fbde_member(), screen(application())).state
    later = screen(application(application_id="APP-2", application_date=dt.date(2025, 9, 2),
                               monthly_household_income=Decimal("5000.00"),
                               event_time=dt.datetime(2025, 9, 2, 10, tzinfo=UTC)))
    res = apply_determination(state, later)
    assert res.state["profile"]["medicaid_end"] == "2025-09-30"
    # a period from the state file is not ended by a MAGI screen
    other = _fbde_member(medicaid_status="FULL_BENEFIT_DUAL", medicaid_start="2020-01-01")
    res = apply_determination(other, later)
    assert res.state["profile"]["medicaid_end"] is None


def test_referral_leaves_the_profile_alone():
    state = _fbde_member()
    res = apply_determination(state, screen(application(birth_date=dt.date(1950, 1, 1))))
    assert res.state["profile"] == state["profile"]
    assert res.state["medicaid"]["outcome"] == "NON_MAGI_REFERRAL"


def test_older_determination_is_ignored_equal_reapplies():
    det = screen(application())
    state = apply_determination(_fbde_member(), det).state
    older = screen(application(application_id="APP-0", event_time=dt.datetime(2025, 3, 1, tzinfo=UTC)))
    assert apply_determination(state, older).state is None
    again = apply_determination(state, det)
    assert again.state == state


def test_unknown_member_gets_only_the_medicaid_record():
    res = apply_determination(None, screen(application()))
    assert res.state["profile"] is None and res.state["medicaid"]["outcome"] == "ELIGIBLE_MAGI"
    assert set(new_member(MBI)) <= set(res.state)


# --------------------------------------------------------------------------- issue 22 item 6: 10 days' notice
# Seed 003: "Current law requires the state agency to provide at least 10 days advance notice of
# termination actions", and CMS contemplates "to extend Medicaid coverage until the end of the month in
# which the Medicaid termination notice period ends". A determination of ineligibility ends Medicaid no
# earlier than the end of the month in which the 10 days after the decision end, and says so.

def _ineligible_on(day: dt.date, hour: int = 15) -> dict:
    return screen(application(application_id=f"APP-{day}", application_date=day,
                              monthly_household_income=Decimal("5000.00"),
                              event_time=dt.datetime(day.year, day.month, day.day, hour, tzinfo=UTC)))


@pytest.mark.parametrize(("decided", "notice_ends", "last_day"), [
    (dt.date(2025, 11, 25), dt.date(2025, 12, 5), dt.date(2025, 12, 31)),   # the case: not Nov 30
    (dt.date(2025, 11, 21), dt.date(2025, 12, 1), dt.date(2025, 12, 31)),   # the 10th day is Dec 1
    (dt.date(2025, 11, 20), dt.date(2025, 11, 30), dt.date(2025, 11, 30)),  # the 10th day is still November
    (dt.date(2025, 11, 1), dt.date(2025, 11, 11), dt.date(2025, 11, 30)),
    (dt.date(2025, 12, 28), dt.date(2026, 1, 7), dt.date(2026, 1, 31)),     # across the year end
])
def test_ineligibility_ends_medicaid_after_ten_days_notice(decided, notice_ends, last_day):
    det = _ineligible_on(decided)
    assert det["outcome"] == "INELIGIBLE_MAGI"
    assert (det["notice_period_ends"], det["coverage_end_date"]) == (notice_ends, last_day)
    state = apply_determination(_fbde_member(), screen(application())).state   # a MAGI-opened dual period
    res = apply_determination(state, det)
    assert res.state["profile"]["medicaid_end"] == last_day.isoformat()
    assert _round_trip("MedicaidDetermination", det) == det


def test_the_ten_day_end_flows_into_dual_status_and_passive_criteria():
    # decided November 25: still a full-benefit dual on December 15 (was ended November 30 before)
    from processors.auto_enrollment import is_full_benefit_dual_on
    from processors.passive import demonstration_criteria_failure

    state = apply_determination(_fbde_member(), screen(application())).state
    state = apply_determination(state, _ineligible_on(dt.date(2025, 11, 25))).state
    assert is_full_benefit_dual_on(state, dt.date(2025, 12, 15))
    assert not is_full_benefit_dual_on(state, dt.date(2026, 1, 1))
    # a passive enrollment for January 1 submitted December 2: a dual that day, but Medicaid ends first
    assert demonstration_criteria_failure(state, "OH", dt.date(2025, 12, 2), dt.date(2026, 1, 1)) \
        == "MEDICAID_ENDS_BEFORE_EFFECTIVE_DATE"


def test_eligible_and_referred_determinations_end_nothing():
    for det in (screen(application()), screen(application(birth_date=dt.date(1950, 1, 1)))):
        assert det["notice_period_ends"] is None and det["coverage_end_date"] is None
