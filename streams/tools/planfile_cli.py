"""``partd trr-file``, ``partd trr-read`` and ``partd submit``: plans' fixed-width files (docs/plan-files.md).

``trr-file`` reads a contract's records from ``trr-replies`` and writes one file per ``file_name``;
``trr-read`` prints such a file as JSON lines; ``submit`` publishes a plan's TC 61 batch to
``enrollment-requests`` and every line it cannot read to ``dead-letters``. The codecs are the pure
functions of :mod:`streams.tools.planfiles`.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from streams import topics
from streams.tools import planfiles
from streams.text import plural
from streams.tools.cli import _serde
from streams.tools.errors import PartdError, require_broker

#: ``source_topic`` of a dead letter for a line of a submitted file: ``file:{name}@sha256:{the file's SHA-256}``
#: (:func:`file_source`). The hash is the submission's identity: the dedupe rule of docs/delivery.md,
#: (source_topic, partition, offset), tells two submissions of same-named files apart, and takes the same
#: bytes submitted twice as one submission.
FILE_SOURCE_PREFIX = "file:"
#: ``partition`` of such a dead letter (a file has none); its ``offset`` is the line number (1-based).
FILE_PARTITION = -1


def file_source(file_name: str, data: bytes) -> str:
    """The ``source_topic`` of the dead letters of a submitted file (its name and its content's SHA-256)."""
    import hashlib

    return f"{FILE_SOURCE_PREFIX}{file_name}@sha256:{hashlib.sha256(data).hexdigest()}"


def _warn(msg: str) -> None:
    print(f"partd: warning: {msg}", file=sys.stderr, flush=True)


def _read_file(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise PartdError(f"cannot read {path}: {exc.strerror or exc}")


def _noted(notes: Counter) -> str:
    return ", ".join(f"{name} x{n}" for name, n in sorted(notes.items()))


def _kafka_errors(settings: Any) -> tuple[type[BaseException], ...]:
    """The errors a command turns into one ``partd: error:`` line; aiokafka's own log lines about
    them (``Unable connect to ...``) only at ``PARTD_LOG_LEVEL=debug``."""
    import logging

    from aiokafka.errors import KafkaError

    if settings.log_level != "debug":
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    return (KafkaError, OSError, TimeoutError, LookupError)


# ------------------------------------------------------------------ trr-file
async def _trr_records(bootstrap: str, contract: str) -> tuple[list[dict[str, Any]], int]:
    from streams.tools.io import read_to_end

    serde = _serde()
    records: list[dict[str, Any]] = []
    bad = 0
    async for msgs in read_to_end(bootstrap, topics.TRR_REPLIES, key=contract.encode()):
        for record, error in serde.decode_many(topics.TRR_REPLIES, [m.value for m in msgs]):
            if error is not None:
                bad += 1
            elif record["contract_id"] == contract:
                records.append(record)
    return records, bad


def _safe_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name and "\0" not in name


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_file(out_dir: Path, name: str, lines: list[str]) -> None:
    """Write the TRR ``lines`` to ``out_dir/name`` atomically (a loader never sees half a file), with the mode
    any new file gets here (0666 less the umask: a loader running as another user can read it), not the
    0600 of a temporary file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=out_dir)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            for chunk in planfiles.file_chunks(lines):
                fh.write(chunk)
        os.replace(tmp, out_dir / name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cmd_trr_file(args: argparse.Namespace, settings: Any) -> None:
    if args.all:
        day = None
    elif args.date:
        try:
            day = dt.date.fromisoformat(args.date)
        except ValueError:
            raise PartdError(f"--date {args.date!r} is not a date: give YYYY-MM-DD (or --all)")
    else:
        day = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
    out_dir = Path(args.out)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PartdError(f"cannot create --out {out_dir}: {exc.strerror or exc}")
    bootstrap = require_broker(settings)
    errors = _kafka_errors(settings)
    try:
        records, undecodable = asyncio.run(_trr_records(bootstrap, args.contract))
    except errors as exc:
        raise PartdError(f"cannot read {topics.TRR_REPLIES} from {bootstrap}: {exc} (is the broker running?)")
    if undecodable:
        _warn(f"{plural(undecodable, 'record')} of {args.contract} on {topics.TRR_REPLIES} could not be decoded and are not in "
              "any file (see `partd consume trr-replies`)")
    chosen = [r for r in records if day is None or planfiles.file_date(r["file_name"]) == day]
    unsafe = sorted({r["file_name"] for r in chosen if not _safe_name(r["file_name"])})
    if unsafe:
        raise PartdError(f"{len(unsafe)} file_name values are not file names (a path separator or empty): {unsafe[:3]}")
    notes: Counter = Counter()
    files = planfiles.trr_files(chosen, notes)
    try:
        for name, lines in files.items():
            write_file(out_dir, name, lines)
            print(f"{out_dir / name}: {plural(len(lines), 'record')}", flush=True)
    except OSError as exc:
        raise PartdError(f"cannot write to {out_dir}: {exc.strerror or exc}")
    if notes:
        _warn(f"values longer than their field were cut, or numbers too wide were left blank: {_noted(notes)} "
              "(docs/plan-files.md)")
    when = "all days" if day is None else day.isoformat()
    written = sum(len(v) for v in files.values())
    print(f"trr-file: {args.contract}, {when}: {plural(written, 'record')} in {plural(len(files), 'file')} "
          f"({plural(len(chosen) - written, 'repeat')} dropped)", flush=True)


# ------------------------------------------------------------------ trr-read
def cmd_trr_read(args: argparse.Namespace, settings: Any) -> None:
    data = _read_file(args.file)
    name = Path(args.file).name
    bad = 0
    out = sys.stdout.buffer
    for n, line in planfiles.lines_of(data):
        try:
            record = planfiles.parse_trr_line(line)
        except planfiles.LineError as exc:
            bad += 1
            print(f"partd: error: {args.file}:{n}: {exc}", file=sys.stderr, flush=True)
            continue
        record["file_name"] = name
        out.write(planfiles.json_line(record))
    out.flush()
    if bad:
        raise SystemExit(1)


# ------------------------------------------------------------------ submit
def submission(data: bytes, file_name: str, *, submitted_at: dt.datetime, submitter_id: str | None = None,
               ) -> tuple[list[tuple[str, str | None, dict[str, Any]]], list[tuple[int, str]]]:
    """The records a TC 61 batch means: ``(topic, key, value)`` in line order (transactions to
    ``enrollment-requests``, unreadable lines to ``dead-letters``), and ``(line number, reason)`` of
    each unreadable line."""
    from streams.runtime.deadletters import Source, dead_letter

    ms = int(submitted_at.timestamp() * 1000)
    records: list[tuple[str, str | None, dict[str, Any]]] = []
    bad: list[tuple[int, str]] = []
    source_name = file_source(file_name, data)
    for n, line in planfiles.lines_of(data):
        try:
            fields, _extra = planfiles.parse_tc61_line(line)
        except planfiles.LineError as exc:
            source = Source(source_name, FILE_PARTITION, n, None, bytes(line), ms)
            out = dead_letter(source, exc.code, f"{file_name} line {n}: {exc.message}")
            records.append((out.topic, out.key, out.value))
            bad.append((n, str(exc)))
            continue
        value = planfiles.enrollment_transaction(fields, submitted_at=submitted_at, submitter_id=submitter_id)
        records.append((topics.ENROLLMENT_REQUESTS, None, value))
    return records, bad


def _instant(text: str) -> dt.datetime:
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)).astimezone(dt.timezone.utc)


def cmd_submit(args: argparse.Namespace, settings: Any) -> None:
    from streams.tools.io import produce

    data = _read_file(args.file)
    if args.submitted_at:
        try:
            submitted_at = _instant(args.submitted_at)
        except ValueError:
            raise PartdError(f"--submitted-at {args.submitted_at!r} is not an ISO instant (e.g. 2026-11-02T14:00:00Z)")
    else:
        submitted_at = dt.datetime.now(dt.timezone.utc)
    submitted_at = submitted_at.replace(microsecond=submitted_at.microsecond // 1000 * 1000)
    bootstrap = require_broker(settings)
    records, bad = submission(data, Path(args.file).name, submitted_at=submitted_at, submitter_id=args.submitter)
    for n, reason in bad:
        print(f"partd: error: {args.file}:{n}: {reason}", file=sys.stderr, flush=True)
    errors = _kafka_errors(settings)
    try:
        asyncio.run(produce(bootstrap, _serde(), records, timestamp_ms=int(submitted_at.timestamp() * 1000)))
    except errors as exc:
        raise PartdError(f"cannot publish to {bootstrap}: {exc} (is the broker running?)")
    published = len(records) - len(bad)
    print(f"submit: {args.file}: published {published} to {topics.ENROLLMENT_REQUESTS}, "
          f"dead-lettered {len(bad)} to {topics.DEAD_LETTERS}"
          + (f" (source_topic {file_source(Path(args.file).name, data)})" if bad else ""), flush=True)
    if bad:
        raise SystemExit(1)


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("trr-file", help="write a contract's TRR replies as fixed-width files (one per file_name)")
    p.add_argument("--contract", required=True, help="the contract whose records to write (the trr-replies key)")
    p.add_argument("--out", required=True, help="directory to write the files to (created if needed)")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--date", help="the day (UTC, YYYY-MM-DD) in the file names to write; default: yesterday")
    when.add_argument("--all", action="store_true", help="every file of the contract")
    p.set_defaults(func=cmd_trr_file)
    p = subparsers.add_parser("trr-read", help="print a fixed-width TRR file as JSON lines")
    p.add_argument("file")
    p.set_defaults(func=cmd_trr_read)
    p = subparsers.add_parser("submit", help="publish a plan's fixed-width TC 61 batch to enrollment-requests")
    p.add_argument("file")
    p.add_argument("--submitted-at", default=None,
                   help="the submission instant (ISO, e.g. 2026-11-02T14:00:00Z); default: now")
    p.add_argument("--submitter", default=None, help="submitter_id; default: each line's contract")
    p.set_defaults(func=cmd_submit)
