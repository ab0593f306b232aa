"""``python -m sidecar statement | verify-statement | settlement-report | currency …``.

Statements and the month report read a node's database (``--config``, read-only) or
exported feeds (``--export``); ``verify-statement`` reads only exports, offline. A
currency version is proposed to a file, approved by members one by one with their own
keys, and submitted to a node, which records it (docs/WAT.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sidecar import config as config_module
from sidecar.apps.wat import adoption, spec, statement
from sidecar.apps.wat.settlement import Settlement
from sidecar.apps.wat.sources import (
    SourceError,
    author_of,
    from_database,
    from_exports,
)
from sidecar.apps.wat.spec import SpecError
from sidecar.ledger.identity import Identity, KeyFileError
from sidecar.ledger.kinds import periods


class WatUsageError(Exception):
    """Wrong arguments or files for a WAT command."""


def add_commands(commands: Any, default_config: str) -> None:
    """Register the WAT commands on the main parser."""
    state = commands.add_parser("statement", help="a flat's WAT statement for a month")
    _source(state, default_config)
    state.add_argument("--flat", help="the flat (default: this node's)")
    state.add_argument("--month", required=True, help="YYYY-MM, building time")
    state.add_argument("--format", choices=("json", "csv"), default="json")
    state.set_defaults(handler=_guard(_statement))

    check = commands.add_parser(
        "verify-statement", help="check a statement against exported feeds, offline"
    )
    check.add_argument("statement", type=Path, help="a statement in JSON")
    check.add_argument("--export", type=Path, nargs="+", required=True)
    check.set_defaults(handler=_guard(_verify))

    report = commands.add_parser(
        "settlement-report", help="per flat: neighbours, bus and grid, for a month"
    )
    _source(report, default_config)
    report.add_argument("--month", required=True, help="YYYY-MM, building time")
    report.add_argument("--format", choices=("json", "csv"), default="json")
    report.set_defaults(handler=_guard(_report))

    currency = commands.add_parser("currency", help="propose and approve WAT's rules")
    sub = currency.add_subparsers(required=True, metavar="action")
    propose = sub.add_parser("propose", help="write a proposal of the next version")
    propose.add_argument("--building", required=True)
    propose.add_argument("--effective", required=True, help="ISO 8601 time")
    propose.add_argument("--current", type=Path, help="the version it replaces")
    propose.add_argument("--set", action="append", default=[], metavar="KEY=JSON")
    propose.add_argument("--out", type=Path, required=True)
    propose.set_defaults(handler=_guard(_propose))
    approve = sub.add_parser("approve", help="sign a proposal with this flat's key")
    approve.add_argument("proposal", type=Path)
    approve.add_argument("--config", type=Path, default=Path(default_config))
    approve.set_defaults(handler=_guard(_approve))


def _source(parser: argparse.ArgumentParser, default_config: str) -> None:
    parser.add_argument("--config", type=Path, default=Path(default_config))
    parser.add_argument("--export", type=Path, nargs="+", help="read exports instead")


def _guard(handler: Callable[[argparse.Namespace], int]) -> Callable[..., int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except (
            WatUsageError,
            SourceError,
            SpecError,
            KeyFileError,
            ValueError,
            config_module.ConfigError,
        ) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2

    return run


def _load(args: argparse.Namespace) -> tuple[Settlement, str | None]:
    if args.export:
        return from_exports(args.export), None
    return from_database(args.config)


def _span(settlement: Settlement, month: str) -> tuple[int, int]:
    versions = settlement.inputs.currencies.versions
    if not versions:
        raise WatUsageError("no currency has been adopted in this ledger")
    return statement.month_span(month, versions[-1].tz)


def _statement(args: argparse.Namespace) -> int:
    settlement, own = _load(args)
    flat = args.flat or own
    if flat is None:
        raise WatUsageError("name the flat with --flat when reading exports")
    start, end = _span(settlement, args.month)
    doc = statement.statement(
        settlement, author_of(settlement, flat, start), start, end
    )
    if args.format == "csv":
        sys.stdout.write(statement.to_csv(doc))
    else:
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    return 0


def _verify(args: argparse.Namespace) -> int:
    try:
        claimed = json.loads(args.statement.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise WatUsageError(f"{args.statement}: {err}") from err
    settlement = from_exports(args.export)
    start, end = _instant(claimed["from"]), _instant(claimed["to"])
    computed = statement.statement(
        settlement, bytes.fromhex(claimed["author"]), start, end
    )
    reach = _instant(str(claimed["settled_until"]))
    if _instant(str(computed["settled_until"])) < reach:
        print("the exports do not settle as far as the statement says")
        return 1
    keys = ["building", "flat", "author", "currency", "unit", "decimals", "tz"]
    keys += ["from", "to", "opening"]
    if computed["settled_until"] == claimed["settled_until"]:
        keys += ["earned", "spent", "value_change", "closing"]
    lines = computed["lines"]
    assert isinstance(lines, list)
    covered = [
        line
        for line in lines
        if isinstance(line, dict) and _instant(str(line["end"])) <= reach
    ]
    problems = [key for key in keys if claimed.get(key) != computed.get(key)]
    if claimed.get("lines") != covered:
        problems.append("lines")
    if problems:
        print(f"statement of flat {claimed.get('flat')} differs in: {problems}")
        return 1
    print(
        f"statement of flat {claimed.get('flat')} matches the feeds: "
        f"{len(covered)} line(s), closing {claimed.get('closing')} base units"
    )
    return 0


def _report(args: argparse.Namespace) -> int:
    settlement, _own = _load(args)
    start, end = _span(settlement, args.month)
    rows = statement.report(settlement, start, end)
    if args.format == "csv":
        columns = list(rows[0]) if rows else ["flat"]
        print(",".join(columns))
        for row in rows:
            print(",".join(str(row[column]) for column in columns))
    else:
        print(json.dumps(rows, indent=2))
    return 0


def _propose(args: argparse.Namespace) -> int:
    effective = _instant(args.effective)
    if args.current is None:
        proposed = spec.default(args.building, effective)
        doc = proposed.document()
    else:
        current = spec.parse(_read(args.current).get("proposal"))
        doc = current.document()
        doc.update(version=current.version + 1, prev=current.digest.hex())
        doc["effective"] = effective
    for item in args.set:
        key, _, value = item.partition("=")
        if key not in doc or key in {"building", "version", "prev"}:
            raise WatUsageError(f"--set {key}: not a member that can be set")
        doc[key] = json.loads(value)
    proposed = spec.parse(doc)
    _write(args.out, {"proposal": proposed.document(), "approvals": []})
    print(f"Proposed {proposed.name} version {proposed.version} from {args.effective}")
    return 0


def _approve(args: argparse.Namespace) -> int:
    doc = _read(args.proposal)
    proposed = spec.parse(doc.get("proposal"))
    config = config_module.load(args.config)
    identity = Identity.load(config.key_file)
    mine = adoption.approve(identity, proposed)
    approvals = [
        a for a in doc.get("approvals", []) if a.get("author") != mine["author"]
    ]
    _write(
        args.proposal,
        {"proposal": proposed.document(), "approvals": [*approvals, mine]},
    )
    print(f"Approved as flat {config.flat}: {len(approvals) + 1} approval(s) so far.")
    return 0


def _instant(text: str) -> int:
    """ISO 8601 with an offset, or ms since the epoch."""
    if text.isdigit():
        return int(text)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=periods.zone("Asia/Tokyo"))
    return int(moment.timestamp() * 1000)


def _read(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise WatUsageError(f"{path}: {err}") from err
    if not isinstance(doc, dict):
        raise WatUsageError(f"{path} is not a proposal")
    return doc


def _write(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
