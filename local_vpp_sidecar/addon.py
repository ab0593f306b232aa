"""The add-on's start and backup steps: Home Assistant's options become node files.

``addon.py start`` prepares the node and then runs it: the first start creates the
flat's key and configuration (``local-vpp-sidecar init``); every start writes the
options into the configuration, takes back the node after Home Assistant restored a
backup, and leaves the API token (and, with an address, the flat's roster member
line) in the add-on's configuration folder for the installer. ``addon.py backup`` is
run by the Supervisor before it backs the add-on up: a consistent snapshot of the key
and ledger, because the live database files are left out of the backup.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

DATA = Path(os.environ.get("LVPP_ADDON_DATA", "/data"))
SHARED = Path(os.environ.get("LVPP_ADDON_CONFIG", "/config"))
COMMAND = shlex.split(os.environ.get("LVPP_SIDECAR", "local-vpp-sidecar"))
CONFIG = DATA / "sidecar.toml"
LEDGER = DATA / "ledger"
DATABASE = LEDGER / "ledger.db"
BACKUP = DATA / "backup.tar"
# Written once the node has had a ledger: from then on a missing ledger means a
# restore, never a first start (Home Assistant backups leave the live ledger out).
RAN = LEDGER / "ran"
OWN_FEED = "own-feed.jsonl"
FIXED = ("building", "floor", "flat")
# Every interface of the host (the add-on runs on the host's network); tests narrow it.
LISTEN_HOST = os.environ.get("LVPP_ADDON_LISTEN_HOST", "0.0.0.0")


class AddonError(Exception):
    """The options or the add-on's files are wrong; the message says what to do."""


def main(argv: list[str]) -> int:
    """``start`` or ``backup``; returns the exit code (``start`` replaces itself)."""
    try:
        if argv == ["start"]:
            command = prepare(_options())
            sys.stdout.flush()
            os.execvp(command[0], command)
        if argv == ["backup"]:
            return backup()
    except AddonError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print("usage: addon.py start|backup", file=sys.stderr)
    return 2


def prepare(options: dict[str, Any]) -> list[str]:
    """Make the node's files agree with ``options``; the command that runs it."""
    if not CONFIG.exists():
        if BACKUP.exists():
            _restore()
        elif (LEDGER / "node.key").exists():
            raise AddonError(
                f"{LEDGER / 'node.key'} exists but its configuration does not; "
                "restore the add-on from a Home Assistant backup"
            )
        else:
            _init(options)
    elif not DATABASE.exists() and BACKUP.exists():
        # Home Assistant restored a backup: the live database is not in it.
        _restore()
    elif not DATABASE.exists() and RAN.exists() and not options.get("restored_ok"):
        # A backup without a snapshot (taken while the add-on was stopped): starting
        # afresh with the flat's key would sign record numbers the others hold.
        raise AddonError(
            "this node has signed records before, but its ledger is gone and there "
            "is no snapshot to restore it from. Starting again with the same key "
            "would sign record numbers the other flats already hold. Give the flat "
            "a new key (reinstall the add-on) and have the building replace its key "
            "by a roster change; only if no other flat can hold this flat's "
            "records, switch on 'Start after a restore without the peers' copy'"
        )
    if DATABASE.exists():
        RAN.touch()
    _check_fixed(options)
    _configure(_settings(options))
    _take_back_own_feed()
    _publish(options)
    command = [*COMMAND, "run", "--config", str(CONFIG)]
    if options.get("restored_ok"):
        command.append("--restored-ok")
    return command


def backup() -> int:
    """Snapshot the key and ledger into the data folder (nothing to do before a run)."""
    if not DATABASE.exists():
        print("No ledger yet: nothing to snapshot.")
        return 0
    RAN.touch()
    return _sidecar("backup", "--config", str(CONFIG), "--to", str(BACKUP))


def _options() -> dict[str, Any]:
    try:
        options: dict[str, Any] = json.loads((DATA / "options.json").read_text())
    except (OSError, ValueError) as err:
        raise AddonError(f"cannot read the add-on's options: {err}") from err
    return options


def _init(options: dict[str, Any]) -> None:
    print(f"First start: creating the key and configuration of flat {options['flat']}.")
    code = _sidecar(
        "init",
        "--config",
        str(CONFIG),
        "--building",
        options["building"],
        "--floor",
        options["floor"],
        "--flat",
        options["flat"],
        "--listen",
        f"{LISTEN_HOST}:{options['port']}",
        "--data-dir",
        LEDGER.name,
    )
    if code != 0:
        raise AddonError("creating the node failed (see above)")


def _restore() -> None:
    print("Restoring the node's key and ledger from the add-on's backup snapshot.")
    if _sidecar("restore", "--config", str(CONFIG), "--from", str(BACKUP), "--force"):
        raise AddonError("the restore failed (see above)")


def _check_fixed(options: dict[str, Any]) -> None:
    """Building, floor and flat name the node in the ledger: they cannot change."""
    text = CONFIG.read_text(encoding="utf-8")
    for key in FIXED:
        found = re.search(rf'(?m)^{key} = "([^"]*)"', text)
        if found is not None and found.group(1) != options[key]:
            raise AddonError(
                f"the option {key} is {options[key]!r} but this node was created as "
                f"{found.group(1)!r}; a flat's identity cannot change. Set it back, "
                "or uninstall the add-on (its key and ledger are deleted) and start "
                "again"
            )


def _settings(options: dict[str, Any]) -> dict[str, str | int | bool]:
    settings: dict[str, str | int | bool] = {
        "listen": f"{LISTEN_HOST}:{options['port']}",
        "announce": bool(options.get("announce", True)),
        "sync": options.get("sync", "full"),
        "device_serial": options.get("device_serial") or "",
    }
    zone = options.get("timezone") or os.environ.get("TZ")
    if zone:
        settings["timezone"] = zone
    roster = options.get("roster_file")
    if roster:
        path = SHARED / roster
        if not path.is_file():
            raise AddonError(
                f"the roster file {roster!r} is not in the add-on's configuration "
                "folder (addon_configs/…local_vpp_sidecar); copy it there"
            )
        settings["roster"] = str(path)
    else:
        settings["roster"] = ""
    return settings


def _configure(settings: dict[str, str | int | bool]) -> None:
    """Set keys of the configuration ``init`` wrote (each occurs once there)."""
    text = CONFIG.read_text(encoding="utf-8")
    for key, value in settings.items():
        # The value goes in a callable, not a template: it may hold backslashes.
        text, found = re.subn(
            rf"(?m)^{re.escape(key)} = [^#\n]*?(\s*#.*)?$",
            _replacement(f"{key} = {_toml(value)}"),
            text,
        )
        if found != 1:
            raise AddonError(f"{CONFIG}: {found} lines set {key!r}; expected one")
    CONFIG.write_text(text, encoding="utf-8")


def _replacement(line: str) -> Callable[[re.Match[str]], str]:
    """A ``re.sub`` replacement that writes ``line`` and keeps the line's comment."""

    def replace(match: re.Match[str]) -> str:
        return line + (match.group(1) or "")

    return replace


def _toml(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value)


def _take_back_own_feed() -> None:
    """Import this node's feed exported by a peer, as a restored node needs."""
    source = SHARED / OWN_FEED
    if not source.is_file():
        return
    print(f"Importing {OWN_FEED} (this node's own feed, exported by a peer).")
    code = _sidecar("import", str(source), "--config", str(CONFIG))
    source.replace(
        source.with_name(source.name + (".imported" if not code else ".refused"))
    )


def _publish(options: dict[str, Any]) -> None:
    """Leave what the installer needs in the add-on's configuration folder."""
    SHARED.mkdir(parents=True, exist_ok=True)
    token = re.search(r'(?m)^api_token = "([^"]+)"', CONFIG.read_text(encoding="utf-8"))
    if token is not None:
        path = SHARED / "api_token.txt"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(token.group(1) + "\n")
    address = options.get("address")
    if not address:
        print("No address set: the roster member line is written once it is.")
        return
    member = subprocess.run(
        [*COMMAND, "roster", "member", "--config", str(CONFIG), "--address", address],
        capture_output=True,
        text=True,
        check=False,
    )
    if member.returncode != 0:
        raise AddonError(
            f"the address {address!r} was refused: {member.stderr.strip()}"
        )
    (SHARED / "member.json").write_text(member.stdout, encoding="utf-8")
    print(f"This flat's roster member line is in member.json: {member.stdout.strip()}")


def _sidecar(*args: str) -> int:
    return subprocess.run([*COMMAND, *args], check=False).returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
