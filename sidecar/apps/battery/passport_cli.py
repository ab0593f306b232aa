"""``python -m sidecar battery-passport``: make a battery passport, or check one.

Exit codes as for the other commands: 0 done (or the passport holds), 1 the passport
cannot be made or has faults (each printed), 2 usage or configuration errors.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from sidecar import config as config_module
from sidecar.apps.battery import passport_check
from sidecar.apps.battery.passport import PassportError, build
from sidecar.config import Config, ConfigError
from sidecar.ledger import etp
from sidecar.ledger.identity import Identity, KeyFileError
from sidecar.ledger.kinds import periods
from sidecar.mesh import roster as roster_module
from sidecar.mesh.roster import Roster, RosterError
from sidecar.storage import store
from sidecar.tools import members


def add_commands(commands: Any, default_config: str) -> None:
    """Register ``battery-passport`` on the main parser."""
    parser = commands.add_parser(
        "battery-passport", help="a signed battery passport, or --check one offline"
    )
    parser.add_argument("--config", type=Path, default=Path(default_config))
    parser.add_argument(
        "--from", dest="since", help="start, local date or time (2025-04-01[T06:00])"
    )
    parser.add_argument("--to", dest="until", help="end (exclusive), same form")
    parser.add_argument("--serial", help="the battery (default: the newest)")
    parser.add_argument("--out", type=Path, help="file to write (default: stdout)")
    parser.add_argument(
        "--check", type=Path, metavar="FILE", help="check a passport file offline"
    )
    parser.add_argument(
        "--roster",
        type=Path,
        metavar="ROSTER_FILE",
        help="with --check: the building's trusted roster to count members against",
    )
    parser.set_defaults(handler=_handle)


def instant(text: str | None, tz: str) -> int | None:
    """A local date or date and time of zone ``tz`` as Unix ms; None for None."""
    if text is None:
        return None
    try:
        local = datetime.fromisoformat(text)
    except ValueError as err:
        raise ValueError(f"{text!r} is not a date or date and time: {err}") from err
    if local.tzinfo is None:
        local = local.replace(tzinfo=periods.zone(tz))
    return int(local.timestamp() * 1000)


def _handle(args: argparse.Namespace) -> int:
    if args.check is not None:
        return _check(args.check, args.roster)
    try:
        config = config_module.load(args.config)
        identity = Identity.load(config.key_file)
        period = (
            instant(args.since, config.timezone),
            instant(args.until, config.timezone),
        )
    except (ConfigError, KeyFileError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        document = _make(config, identity, period, args.serial)
    except PassportError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except RosterError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    text = json.dumps(document, indent=1, ensure_ascii=False) + "\n"
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
    return 0


def _make(
    config: Config,
    identity: Identity,
    period: tuple[int | None, int | None],
    serial: str | None,
) -> dict[str, Any]:
    if not config.db_path.exists():
        raise PassportError(f"{config.db_path} does not exist yet; run the node first")
    conn = store.connect(config.db_path, readonly=True)
    try:
        return build(
            conn,
            identity,
            tz=config.timezone,
            place=(config.building, config.floor, config.flat),
            period=period,
            serial=serial,
            now_ms=time.time_ns() // 1_000_000,
            roster=None
            if config.roster_file is None
            else roster_module.load(config.roster_file),
        )
    finally:
        conn.close()


def _check(path: Path, roster_path: Path | None) -> int:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        trusted = None if roster_path is None else members.first_roster(roster_path)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    faults = passport_check.check(document, trusted)
    for fault in faults:
        print(f"fault: {fault}")
    if faults:
        _note(trusted)
        return 1
    passport = document["passport"]
    battery = passport.get("battery", {})
    print(
        f"ok: battery {battery.get('serial')!r} of flat {passport.get('flat')}, "
        f"{len(passport.get('evidence', []))} entries proven in a checkpoint signed "
        f"by {1 + len(passport.get('cosignatures', []))} of "
        f"{_counted(passport, trusted)}"
    )
    _note(trusted)
    return 0


def _counted(passport: dict[str, Any], trusted: Roster | None) -> str:
    """The members the majority was counted against (the check has passed)."""
    chain = passport_check.roster_chain(passport, trusted)
    if chain is None:
        return f"{len(passport.get('members', []))} members"
    ts = etp.statement_from_wire(passport["checkpoint"]).content.get("ts")
    in_force = chain.at(ts if isinstance(ts, int) else 0)
    return f"{len(in_force.members)} members of roster version {in_force.version}"


def _note(trusted: Roster | None) -> None:
    if trusted is None:
        print(f"note: {passport_check.FROM_PASSPORT}")
