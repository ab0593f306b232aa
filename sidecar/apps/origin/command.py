"""The origin commands: ``origin``, ``certificates`` and ``verify-certificates``."""

from __future__ import annotations

import argparse
import csv
import json
import sqlite3
import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import TextIO

from sidecar import config as config_module
from sidecar.apps.origin import checker, feeds, issue, model, report
from sidecar.apps.origin.today import Today
from sidecar.ledger import canonical
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.kinds import periods
from sidecar.storage import store

CSV_COLUMNS = (
    "id",
    "building",
    "floor",
    "flat",
    "device",
    "period_start",
    "period_end",
    "source",
    "use",
    "wh",
    "ren_wh",
    "status",
    "rollup",
)


class OriginUsageError(ValueError):
    """Wrong arguments for the certificate commands (exit code 2)."""


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], default_config: str
) -> None:
    """Register the two commands."""
    make = commands.add_parser(
        "certificates", help="export granular certificates of a period"
    )
    source = make.add_mutually_exclusive_group()
    source.add_argument("--config", type=Path, help=f"(default: {default_config})")
    source.add_argument("--db", type=Path, help="a ledger database file instead")
    make.add_argument(
        "--tz", help="the building's time zone with --db (default: Asia/Tokyo)"
    )
    make.add_argument(
        "--from", dest="start", required=True, help="local date or date-time"
    )
    make.add_argument(
        "--to", dest="end", required=True, help="local date or date-time (exclusive)"
    )
    make.add_argument("--flat", help="only this flat (its name or author id)")
    make.add_argument("--format", choices=("json", "csv"), default="json")
    make.add_argument("--out", type=Path, help="file to write (default: stdout)")
    make.set_defaults(handler=_certificates, default_config=default_config)

    table = commands.add_parser(
        "origin", help="origin figures per flat and building, by hour or day"
    )
    source = table.add_mutually_exclusive_group()
    source.add_argument("--config", type=Path, help=f"(default: {default_config})")
    source.add_argument("--db", type=Path, help="a ledger database file instead")
    table.add_argument("--tz", help="the building's time zone with --db")
    table.add_argument("--from", dest="start", required=True)
    table.add_argument("--to", dest="end", required=True, help="(exclusive)")
    table.add_argument("--by", choices=tuple(report.LEVELS), default="day")
    table.add_argument("--format", choices=("json", "csv"), default="csv")
    table.set_defaults(handler=_origin, default_config=default_config)

    check = commands.add_parser(
        "verify-certificates", help="check a certificate file against exported feeds"
    )
    check.add_argument("file", type=Path)
    check.add_argument("--feeds", type=Path, required=True, help="`export` output")
    check.add_argument("--json", action="store_true", help="one JSON object")
    check.set_defaults(handler=_verify)


def parse_time(text: str, tz: str) -> int:
    """A local date (its midnight) or ISO date-time as ms; naive times are local."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=periods.zone(tz))
        else:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=periods.zone(tz))
    except ValueError as err:
        raise OriginUsageError(f"{text!r} is not a date or ISO date-time") from err
    return int(moment.timestamp() * 1000)


def _usage_errors_exit_2(
    handler: Callable[[argparse.Namespace], int],
) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except OriginUsageError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2

    return run


def _source(args: argparse.Namespace) -> tuple[Path, str, int, int]:
    """The database, time zone and period the arguments name."""
    if args.db is not None:
        path: Path = args.db
        tz = args.tz or config_module.DEFAULT_TIMEZONE
    else:
        config = config_module.load(args.config or Path(args.default_config))
        path, tz = config.db_path, args.tz or config.timezone
    if not path.exists():
        raise OriginUsageError(f"{path} does not exist")
    try:
        periods.zone(tz)
    except periods.ZoneError as err:
        raise OriginUsageError(str(err)) from err
    start, end = parse_time(args.start, tz), parse_time(args.end, tz)
    if start >= end:
        raise OriginUsageError("--from must be before --to")
    return path, tz, start, end


@_usage_errors_exit_2
def _origin(args: argparse.Namespace) -> int:
    path, tz, start, end = _source(args)
    conn = store.connect(path, readonly=True)
    try:
        today = Today(tz)
        today.catch_up(conn)
    finally:
        conn.close()
    flats = today.tracker.flats
    table = report.rows(
        model.compute(flats), flats, tz, by=args.by, start=start, end=end
    )
    if args.format == "json":
        for row in table:
            print(canonical.encode(row).decode())
    else:
        writer = csv.DictWriter(sys.stdout, report.COLUMNS)
        writer.writeheader()
        writer.writerows(table)
    return 0


@_usage_errors_exit_2
def _certificates(args: argparse.Namespace) -> int:
    path, tz, start, end = _source(args)
    conn = store.connect(path, readonly=True)
    try:
        authors = None if args.flat is None else [_flat(conn, args.flat, tz)]
        issued = issue.issue(conn, tz, start=start, end=end, authors=authors)
    finally:
        conn.close()
    out: TextIO = sys.stdout if args.out is None else args.out.open("w")
    try:
        if args.format == "csv":
            write_csv(issued.lines, out)
        else:
            for line in issued.lines:
                out.write(canonical.encode(line).decode() + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    if issued.pending or issued.open_hours:
        print(
            f"left out: {issued.open_hours} flat-hours not yet closed by every flat, "
            f"{issued.pending} not yet proven by a majority-cosigned checkpoint",
            file=sys.stderr,
        )
    return 0


def _flat(conn: sqlite3.Connection, name: str, tz: str) -> bytes:
    tracker = issue.track(conn, tz)
    for author, flat in tracker.flats.items():
        if name in (flat.flat, author.hex()):
            return author
    raise OriginUsageError(f"no flat {name!r} in this ledger")


def write_csv(lines: list[JsonObject], out: TextIO) -> None:
    """One row per certificate (without proofs: the JSON form carries those)."""
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for line in lines:
        if line.get("type") != "bundle":
            continue
        location = line["location"]
        period = line["period"]
        entries = line["entries"]
        certs = line["certificates"]
        assert isinstance(location, dict)
        assert isinstance(period, list)
        assert isinstance(entries, dict)
        assert isinstance(certs, list)
        for cert in certs:
            assert isinstance(cert, dict)
            writer.writerow(
                (
                    cert["id"],
                    line["building"],
                    location["floor"],
                    location["flat"],
                    line["device"],
                    period[0],
                    period[1],
                    cert["source"],
                    cert["use"],
                    cert["wh"],
                    cert["ren_wh"],
                    cert["status"],
                    entries["rollup"],
                )
            )


@_usage_errors_exit_2
def _verify(args: argparse.Namespace) -> int:
    for path in (args.file, args.feeds):
        if not path.exists():
            raise OriginUsageError(f"{path} does not exist")
    with args.feeds.open() as lines:
        view = feeds.scan(lines)
    with args.file.open() as lines:
        result = checker.check(lines, view)
    if args.json:
        print(
            json.dumps(
                {
                    "ok": result.ok,
                    "bundles": result.bundles,
                    "certificates": result.certificates,
                    "faults": [
                        {"code": f.code, "where": f.where, "detail": f.detail}
                        for f in result.faults
                    ],
                }
            )
        )
    else:
        for fault in result.faults:
            print(fault)
        verdict = "ok" if result.ok else f"{len(result.faults)} faults"
        print(
            f"{result.certificates} certificates in {result.bundles} flat-hours: "
            f"{verdict}"
        )
    return 0 if result.ok else 1
