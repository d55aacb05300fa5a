"""``partd generate``: a synthetic national Part D population, written straight to the input topics.

Reproducible from a seed: the same ``--members``, ``--year`` and ``--seed`` give
byte-identical records. Shares are round national figures (CMS enrollment
snapshots, order of magnitude only):

* ~26% of Part D enrollees have LIS (about 13M of 50M); of them ~90% a full
  premium subsidy (level 100), the rest partial (025/050/075); ~75% deemed
  (subsidy source D: full and partial duals, SSI, MSP), ~25% applied (A);
* PDP vs MA-PD about 45/55 overall, LIS enrollees more often in PDPs;
* enrollment source: LIS members in PDPs were auto-enrolled (A, full duals),
  facilitated (C, other LIS), reassigned in an earlier year (H) or chose
  their plan (B); everybody else chose (B);
* members spread over the states roughly by Medicare enrollment, a few in
  territories (never reassigned).

Plans (for plan years Y-1 and Y) per region: national PDP sponsors with a
basic PBP around a regional centre premium (some waive the de minimis, an
enhanced PBP beside many), MA-PD contracts (many at $0), MA-only plans, an
employer-group PDP and PACE in some regions; for Y premiums move, ~3% of PDPs
and ~5% of MA plans do not renew.

Records: ``plan-year-updates`` (Y-1 and Y), ``beneficiary-updates``,
``enrollment-requests`` (TC 61 effective Jan 1 Y-1 with the member's
source) and ``lis-status-changes``. Encoding is fastavro schemaless with the
parsed schemas; producing uses aiokafka batch builders (one in-flight batch
per partition, no per-record await), partitioned as the default partitioner
would (murmur2 of the key), so it is not the bottleneck of a benchmark.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import struct
import time
from dataclasses import dataclass, field
from decimal import Decimal
from io import BytesIO
from typing import Any, Iterable

import fastavro

from processors.regions import REGIONS, STATE_TO_REGION
from streams.kafka import clients

UTC = dt.timezone.utc
_HEADER = struct.Struct(">bI")

# Approximate Medicare enrollment by state (millions): weights only.
STATE_WEIGHTS: dict[str, float] = {
    "CA": 6.5, "FL": 4.9, "TX": 4.4, "NY": 3.8, "PA": 2.9, "OH": 2.4, "IL": 2.3, "MI": 2.1, "NC": 2.0,
    "GA": 1.7, "NJ": 1.6, "VA": 1.6, "AZ": 1.4, "WA": 1.4, "TN": 1.4, "MA": 1.3, "IN": 1.3, "MO": 1.2,
    "WI": 1.2, "MD": 1.1, "SC": 1.1, "MN": 1.0, "AL": 1.0, "CO": 0.9, "KY": 0.9, "LA": 0.9, "OR": 0.8,
    "OK": 0.7, "CT": 0.7, "IA": 0.6, "AR": 0.6, "MS": 0.6, "KS": 0.5, "NV": 0.5, "UT": 0.4, "NM": 0.4,
    "WV": 0.4, "NE": 0.35, "ID": 0.35, "ME": 0.3, "NH": 0.3, "HI": 0.3, "MT": 0.2, "RI": 0.2, "DE": 0.2,
    "SD": 0.2, "ND": 0.13, "AK": 0.1, "VT": 0.15, "DC": 0.09, "WY": 0.1, "PR": 0.6, "VI": 0.02, "GU": 0.02,
}

FIRST = ("MARY", "JAMES", "PATRICIA", "JOHN", "LINDA", "ROBERT", "BARBARA", "MICHAEL", "ELIZABETH", "WILLIAM",
         "ROSA", "JOSE", "MARIA", "WEI", "AMINA", "DMITRI", "KEIKO", "LEON", "NILS", "OLGA")
LAST = ("SMITH", "JOHNSON", "WILLIAMS", "BROWN", "JONES", "GARCIA", "MILLER", "DAVIS", "RODRIGUEZ", "MARTINEZ",
        "NGUYEN", "PATEL", "KIM", "OKAFOR", "REYES", "BERG", "SATO", "WEISS", "DIAZ", "LUND")

# MBI: C A AN N A AN N A A N N, letters without S L O I B Z (processors.codes).
_L = "ACDEFGHJKMNPQRTUVWXY"
_LN = _L + "0123456789"
_D = "0123456789"
_MBI_POS = ("123456789", _L, _LN, _D, _L, _LN, _D, _L, _L, _D, _D)

GENERATED_INPUTS = ("plan-year-updates", "beneficiary-updates", "enrollment-requests", "lis-status-changes")


def mbi_for(n: int) -> str:
    """The n-th synthetic MBI (a bijection of n onto valid MBIs)."""
    out = []
    for alphabet in reversed(_MBI_POS):
        n, r = divmod(n, len(alphabet))
        out.append(alphabet[r])
    return "".join(reversed(out))


@dataclass
class Population:
    """Avro-ready records (dates as ``date``, money as ``Decimal``, instants as aware ``datetime``)."""

    year: int
    seed: int
    plans: list[dict[str, Any]] = field(default_factory=list)
    beneficiaries: list[dict[str, Any]] = field(default_factory=list)
    enrollments: list[dict[str, Any]] = field(default_factory=list)
    lis: list[dict[str, Any]] = field(default_factory=list)

    def by_topic(self) -> dict[str, list[dict[str, Any]]]:
        return {
            "plan-year-updates": self.plans, "beneficiary-updates": self.beneficiaries,
            "enrollment-requests": self.enrollments, "lis-status-changes": self.lis,
        }

    def summary(self) -> dict[str, Any]:
        lis_members = {r["mbi"] for r in self.lis}
        sources: dict[str, int] = {}
        for e in self.enrollments:
            sources[e["enrollment_source"]] = sources.get(e["enrollment_source"], 0) + 1
        pdp = sum(1 for e in self.enrollments if e["contract_id"][0] in "SE")
        return {
            "members": len(self.beneficiaries), "plans": len(self.plans), "enrollments": len(self.enrollments),
            "lis_changes": len(self.lis), "lis_members": len(lis_members),
            "full_subsidy": sum(1 for r in self.lis if r["premium_subsidy_level"] == "100"),
            "deemed": sum(1 for r in self.lis if r["subsidy_source"] == "D"),
            "pdp_enrollments": pdp, "sources": dict(sorted(sources.items())),
        }


def _money(x: float) -> Decimal:
    return Decimal(max(0.0, round(x, 2))).quantize(Decimal("0.01"))


#: The counties (``county_code`` suffixes) a generated MA service area reduction drops, in each of its region's states.
REDUCED_COUNTY_SUFFIXES = range(1, 31)


_STATE_INDEX = {s: i for i, s in enumerate(STATE_WEIGHTS)}


def county_code(state: str, suffix: int) -> str:
    """A generated member's SSA county code: the state's index in STATE_WEIGHTS, then a 3-digit county."""
    return f"{_STATE_INDEX[state]:02d}{suffix:03d}"


def reduced_counties(region: str) -> list[str]:
    """The counties a generated service area reduction in ``region`` leaves (about 30 of 97 per state): sent with
    the plan-year record, as a plan's bid does (a reduction without them is a dead letter, REDUCED_COUNTIES_MISSING)."""
    return [county_code(s, n) for s in STATE_WEIGHTS if STATE_TO_REGION.get(s) == region for n in REDUCED_COUNTY_SUFFIXES]


def _plans(rng: random.Random, year: int) -> tuple[list[dict[str, Any]], dict[str, dict[str, list[tuple]]]]:
    """Plan-year records for Y-1 and Y, and per region the Y-1 choices members are drawn from."""
    prev = year - 1
    t_prev = dt.datetime(prev - 1, 9, 30, 12, tzinfo=UTC)
    t_next = dt.datetime(prev, 9, 30, 12, tzinfo=UTC)
    records: list[dict[str, Any]] = []
    # region -> kind -> [(contract, pbp, premium_prev)]
    choices: dict[str, dict[str, list[tuple]]] = {}
    pdp_sponsors = [(f"S{5600 + i:04d}", f"ORG-PDP-{i:02d}") for i in range(12)]
    ma_orgs = [f"ORG-MA-{i:02d}" for i in range(10)]

    def add(contract: str, pbp: str, region: str, parent: str, plan_type: str, benefit: str, p_prev: Decimal,
            *, waives: bool = False, employer: bool = False, non_renew_p: float = 0.0, sar: bool = False) -> None:
        status_next = "RENEWING"
        if rng.random() < non_renew_p:
            status_next = "SERVICE_AREA_REDUCTION" if sar and rng.random() < 0.4 else "NON_RENEWING"
        p_next = _money(float(p_prev) * (1.0 + rng.gauss(0.05, 0.15))) if p_prev > 0 else p_prev
        for y, prem, status, t in ((prev, p_prev, "RENEWING", t_prev), (year, p_next, status_next, t_next)):
            records.append({
                "contract_id": contract, "pbp_id": pbp, "plan_year": y, "parent_org_id": parent, "region": region,
                "plan_type": plan_type, "benefit_type": benefit, "basic_premium": prem, "waives_de_minimis": waives,
                "renewal_status": status, "employer_group": employer, "event_time": t,
                **({"reduced_counties": reduced_counties(region)} if status == "SERVICE_AREA_REDUCTION" else {}),
            })

    for region in sorted(REGIONS):
        rnum = int(region)
        centre = rng.uniform(28.0, 45.0)
        c: dict[str, list[tuple]] = {"pdp_low": [], "pdp": [], "ma": [], "employer": [], "pace": []}
        for contract, parent in pdp_sponsors:
            if rng.random() > 0.75:
                continue
            basic = _money(rng.gauss(centre, 9.0))
            pbp = f"{rnum:02d}1"
            add(contract, pbp, region, parent, "PDP", "BASIC", basic, waives=rng.random() < 0.25, non_renew_p=0.03)
            c["pdp"].append((contract, pbp, basic))
            if basic <= Decimal(str(round(centre, 2))):
                c["pdp_low"].append((contract, pbp, basic))
            if rng.random() < 0.6:
                pbp_e = f"{rnum:02d}2"
                add(contract, pbp_e, region, parent, "PDP", "ENHANCED", _money(basic * Decimal("1.1") + 8),
                    non_renew_p=0.03)
                c["pdp"].append((contract, pbp_e, None))
        if not c["pdp_low"]:
            c["pdp_low"] = sorted(c["pdp"], key=lambda t: t[2] if t[2] is not None else Decimal(999))[:1]
        for k in range(6):
            contract = f"H{1000 + rnum * 10 + k:04d}"
            parent = ma_orgs[(rnum + k) % len(ma_orgs)]
            for j in range(rng.randint(1, 3)):
                prem = _money(0.0 if rng.random() < 0.5 else rng.gauss(20.0, 15.0))
                pbp = f"{j + 1:03d}"
                add(contract, pbp, region, parent, "MAPD", "BASIC", prem, non_renew_p=0.05, sar=True)
                c["ma"].append((contract, pbp, prem))
            if k < 2:
                add(contract, "801", region, parent, "MA", "BASIC", Decimal("0.00"), non_renew_p=0.05)
        contract = f"E{4000 + rnum:04d}"
        add(contract, "801", region, "ORG-EGWP", "PDP", "BASIC", _money(rng.gauss(40.0, 5.0)), employer=True)
        c["employer"].append((contract, "801", None))
        if rnum % 2 == 0:
            contract = f"H{9000 + rnum:04d}"
            add(contract, "001", region, "ORG-PACE", "PACE", "BASIC", Decimal("0.00"))
            c["pace"].append((contract, "001", None))
        choices[region] = c
    return records, choices


def generate(members: int, *, year: int = 2026, seed: int = 1) -> Population:
    """The population: ``members`` beneficiaries, their Y-1 enrollments and LIS periods, and the plans."""
    rng = random.Random(seed)
    pop = Population(year=year, seed=seed)
    pop.plans, choices = _plans(rng, year)
    prev = year - 1
    jan1 = dt.date(prev, 1, 1)
    dec31 = dt.date(prev, 12, 31)
    lis_start_options = (jan1, dt.date(prev - 1, 1, 1), dt.date(prev - 3, 1, 1))
    bene_time = dt.datetime(prev - 1, 11, 1, 12, tzinfo=UTC)
    lis_time = dt.datetime(prev - 1, 12, 15, 12, tzinfo=UTC)
    choose_app, choose_sub = dt.date(prev - 1, 11, 20), dt.datetime(prev - 1, 11, 21, 12, tzinfo=UTC)
    auto_app, auto_sub = dt.date(prev - 1, 12, 1), dt.datetime(prev - 1, 12, 5, 12, tzinfo=UTC)
    death_days = [dt.date(prev, m, 15) for m in range(2, 13)]
    states = list(STATE_WEIGHTS)
    cum = []
    total = 0.0
    for s in states:
        total += STATE_WEIGHTS[s]
        cum.append(total)
    births = [dt.date(y, m, 1 + (y * m) % 27) for y in range(1930, 1959) for m in range(1, 13)]
    random_ = rng.random
    choice = rng.choice
    base = rng.randrange(10 ** 9)
    for i in range(members):
        mbi = mbi_for(base + i * 7919)
        r = random_() * total
        lo, hi = 0, len(cum) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if cum[mid] < r:
                lo = mid + 1
            else:
                hi = mid
        state = states[lo]
        region = STATE_TO_REGION.get(state) or choice(("11", "32", "03"))  # territories: a plan somewhere
        c = choices[region]
        birth = choice(births)
        # LIS category
        u = random_()
        if u < 0.26:
            lis_kind = "full_dual" if u < 0.155 else ("partial_dual" if u < 0.195 else "applied")
        else:
            lis_kind = None
        medicaid = "FULL_BENEFIT_DUAL" if lis_kind == "full_dual" else (
            "PARTIAL_DUAL" if lis_kind == "partial_dual" else "NONE")
        dod = choice(death_days) if random_() < 0.005 else None
        pop.beneficiaries.append({
            "mbi": mbi, "first_name": choice(FIRST), "last_name": choice(LAST), "middle_initial": None,
            "birth_date": birth, "sex": "F" if random_() < 0.55 else "M", "ssn": None, "state_code": state,
            "county_code": county_code(state, 1 + i % 97), "part_a_start": dt.date(birth.year + 65, birth.month, 1),
            "part_b_start": dt.date(birth.year + 65, birth.month, 1),
            "part_d_eligible_start": dt.date(birth.year + 65, birth.month, 1), "date_of_death": dod,
            "medicaid_status": medicaid, "medicaid_start": dt.date(prev - 3, 1, 1) if lis_kind in ("full_dual", "partial_dual") else None,
            "medicaid_end": None, "opt_out_auto_enrollment": False, "opt_out_passive_enrollment": False,
            "event_time": bene_time,
        })
        # Plan and source
        v = random_()
        if lis_kind is not None:
            if v < 0.55:  # PDP
                w = random_()
                source = "A" if (lis_kind == "full_dual" and w < 0.55) else ("C" if w < 0.70 else ("H" if w < 0.82 else "B"))
                contract, pbp, _ = choice(c["pdp_low"] if source != "B" else c["pdp"])
            else:
                source, (contract, pbp, _) = "B", choice(c["ma"])
        else:
            source = "B"
            if v < 0.40:
                contract, pbp, _ = choice(c["pdp"])
            elif v < 0.43:
                contract, pbp, _ = choice(c["employer"])
            elif v < 0.431 and c["pace"]:
                contract, pbp, _ = choice(c["pace"])
            else:
                contract, pbp, _ = choice(c["ma"])
        chooser = source == "B"
        pop.enrollments.append({
            "tracking_id": f"GEN{seed}-{i:09d}", "correlation_id": None, "transaction_code": 61, "mbi": mbi,
            "contract_id": contract, "pbp_id": pbp, "election_type": "A" if chooser else "Z",
            "enrollment_source": source, "sep_reason": None, "disenrollment_reason": None,
            "application_date": choose_app if chooser else auto_app, "effective_date": jan1,
            "submitted_at": choose_sub if chooser else auto_sub, "submitter_id": contract if chooser else "CMS",
            "first_name": None, "last_name": None, "middle_initial": None, "birth_date": None, "sex": None,
            "rx_bin": None, "rx_pcn": None, "rx_group": None, "rx_member_id": None,
        })
        if lis_kind is not None:
            w = random_()
            if lis_kind == "full_dual":
                level, copay, src = "100", ("1" if w < 0.5 else ("2" if w < 0.95 else "3")), "D"
            elif lis_kind == "partial_dual":
                level, copay, src = "100", "2", "D"
            else:
                level, copay, src = ("100", "2", "A") if w < 0.72 else (choice(("025", "050", "075")), "4", "A")
            end = dec31 if random_() < 0.08 else None  # loses LIS next year
            pop.lis.append({
                "change_id": f"GENLIS{seed}-{i:09d}", "mbi": mbi, "action": "UPSERT", "premium_subsidy_level": level,
                "copay_level": copay, "subsidy_source": src, "start_date": choice(lis_start_options), "end_date": end,
                "event_time": lis_time,
            })
    return pop


def key_of(topic: str, record: dict[str, Any]) -> bytes:
    if topic == "plan-year-updates":
        return f"{record['contract_id']}-{record['pbp_id']}-{record['plan_year']}".encode()
    return record["mbi"].encode()


def encode(serde: Any, topic: str, records: Iterable[dict[str, Any]]) -> list[tuple[bytes, bytes]]:
    """``(key, framed Avro value)`` for each record: one reused buffer, the parsed schema, no per-record lookups."""
    schema_id = serde.registry.id_for_topic(topic)
    schema = serde.registry.reader_schema(topic)
    header = _HEADER.pack(0, schema_id)
    buf = BytesIO()
    write = fastavro.schemaless_writer
    out = []
    for r in records:
        buf.seek(0)
        buf.truncate()
        buf.write(header)
        write(buf, schema, r)
        out.append((key_of(topic, r), buf.getvalue()))
    return out


def partition_of(key: bytes, partitions: int) -> int:
    """The partition aiokafka's (and the Java client's) default partitioner picks for ``key``."""
    return clients.key_partition(key, partitions)


async def produce_fast(bootstrap: str, topics: dict[str, list[tuple[bytes, bytes]]],
                       *, batch_bytes: int = 512 * 1024, timestamp_ms: int | None = None) -> int:
    """Publish pre-encoded ``(key, value)`` lists per topic; returns the number of records.

    Topics are published one after the other, in the order given (so record
    timestamps follow that order, as a publisher's would: partd applies the
    member topics in timestamp order); the partitions of one topic in parallel,
    in whole record batches (:class:`streams.runtime.send.Sender`). ``timestamp_ms``:
    every record gets that timestamp instead of the time it is sent (two runs of
    the same log, e.g. a test's, then carry the same timestamps).
    """
    from streams.runtime.send import Sender

    sender = Sender(bootstrap, linger_ms=20, max_batch_size=batch_bytes, max_request_size=8 * batch_bytes, acks=1)
    await sender.start()
    n = 0
    try:
        for topic, items in topics.items():
            if not items:
                continue
            parts = await sender.partitions(topic)
            per: dict[int, list[tuple[bytes, bytes, int | None]]] = {p: [] for p in parts}
            for k, v in items:
                per[parts[partition_of(k, len(parts))]].append((k, v, timestamp_ms))
            await asyncio.gather(*(sender.send_partition(topic, p, kvs) for p, kvs in per.items() if kvs))
            await sender.flush()
            n += len(items)
    finally:
        await sender.stop()
    return n


# ---------------------------------------------------------------- CLI
def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("generate", help="write a synthetic national population to the input topics (fast)")
    p.add_argument("--members", type=int, default=10000, help="beneficiaries (default 10000)")
    p.add_argument("--year", type=int, default=2026, help="plan year Y of the next cycle; enrollments are for Y-1 (default 2026)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--stage", choices=("all", "reference", "activity"), default="all",
                   help="reference: plans + beneficiaries; activity: enrollments + LIS; all: both, in that order")
    p.add_argument("--wait-group", default=None,
                   help="after the reference stage, wait until this consumer group (the workers' PARTD_APP_ID) "
                        "has processed it, so no enrollment arrives before its beneficiary")
    p.add_argument("--dry-run", action="store_true", help="generate and encode only; print the rates")
    p.set_defaults(func=cmd_generate)


def cmd_generate(args: argparse.Namespace, settings: Any) -> None:
    from streams.kafka.registry import SchemaRegistry
    from streams.kafka.serde import Serde
    from streams.tools.errors import require_broker

    bootstrap = None if args.dry_run else require_broker(settings)
    t0 = time.perf_counter()
    pop = generate(args.members, year=args.year, seed=args.seed)
    t1 = time.perf_counter()
    serde = Serde(SchemaRegistry.from_env())
    encoded = {t: encode(serde, t, recs) for t, recs in pop.by_topic().items()}
    t2 = time.perf_counter()
    n = sum(len(v) for v in encoded.values())
    print(f"generated {n} records in {t1 - t0:.2f}s ({n / max(t1 - t0, 1e-9):,.0f}/s), "
          f"encoded in {t2 - t1:.2f}s ({n / max(t2 - t1, 1e-9):,.0f}/s)", flush=True)
    print("population: " + ", ".join(f"{k}={v}" for k, v in pop.summary().items()), flush=True)
    if bootstrap is None:
        return
    stages = {"reference": ("plan-year-updates", "beneficiary-updates"),
              "activity": ("enrollment-requests", "lis-status-changes")}
    todo = ["reference", "activity"] if args.stage == "all" else [args.stage]
    for stage in todo:
        t = time.perf_counter()
        sent = asyncio.run(produce_fast(bootstrap, {topic: encoded[topic] for topic in stages[stage]}))
        dt_ = time.perf_counter() - t
        print(f"{stage}: produced {sent} records in {dt_:.2f}s ({sent / max(dt_, 1e-9):,.0f}/s)", flush=True)
        if stage == "reference" and args.wait_group and "activity" in todo:
            from streams.tools.io import wait_consumed

            asyncio.run(wait_consumed(bootstrap, args.wait_group, set(stages["reference"]), timeout=600))
