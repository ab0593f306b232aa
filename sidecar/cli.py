"""The command line: every ``python -m sidecar`` command.

``init``, ``run``, ``verify``, ``export``, ``import`` and ``status`` live here;
``roster`` has a module of its own.

Exit codes: 0 success, 1 problems found or the node failed, 2 configuration or usage
errors (the message says which file, key or value is wrong).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sqlite3
import sys
from pathlib import Path
from typing import TextIO

from sidecar import command_name
from sidecar import config as config_module
from sidecar.api.listener import ListenError
from sidecar.apps.battery import passport_cli
from sidecar.apps.origin import command as origin_command
from sidecar.apps.wat import cli as wat_cli
from sidecar.config import Config, ConfigError
from sidecar.ledger.identity import Identity, KeyFileError
from sidecar.mesh.membership import MembershipError
from sidecar.mesh.roster import Roster, RosterError
from sidecar.node import Node
from sidecar.storage import store
from sidecar.storage.feed import FeedStateError
from sidecar.storage.writer import StorageError, Writer
from sidecar.tools import backup as backup_module
from sidecar.tools import c2sp_cli, roster_cli
from sidecar.tools.export import ExportError, export_lines
from sidecar.tools.ingest import Ingestor
from sidecar.tools.members import RosterChain, load_chain
from sidecar.tools.roster_cli import RosterUsageError
from sidecar.tools.status import summarize
from sidecar.tools.verify import verify_database

DEFAULT_CONFIG = "sidecar.toml"


class UsageError(Exception):
    """Wrong arguments or files; exit code 2."""


def main(argv: list[str] | None = None, prog: str = "python -m sidecar") -> int:
    """Run one command; returns the exit code (``prog`` names it in help)."""
    command_name.use(prog)
    parser = _parser(prog)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        code: int = args.handler(args)
    except (
        ConfigError,
        KeyFileError,
        UsageError,
        store.StoreError,
        FeedStateError,
        RosterError,
        RosterUsageError,
        MembershipError,
    ) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (ExportError, StorageError, ListenError, backup_module.BackupError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return code


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="Local VPP ledger node for one flat."
    )
    commands = parser.add_subparsers(required=True, metavar="command")

    init = commands.add_parser("init", help="create the key pair and configuration")
    init.add_argument("--config", type=Path, default=Path(DEFAULT_CONFIG))
    init.add_argument("--building", required=True, help="the building's ledger id")
    init.add_argument("--floor", required=True)
    init.add_argument("--flat", required=True)
    init.add_argument("--listen", default=f"127.0.0.1:{config_module.DEFAULT_PORT}")
    init.add_argument("--data-dir", default="data", help="relative to the config file")
    init.set_defaults(handler=_init)

    run = commands.add_parser("run", help="run the node")
    run.add_argument("--config", type=Path, default=Path(DEFAULT_CONFIG))
    run.add_argument(
        "--restored-ok",
        action="store_true",
        help="after a restore: no peer can hold entries signed after the backup",
    )
    run.set_defaults(handler=_run)

    save = commands.add_parser("backup", help="back up the key and ledger, running")
    save.add_argument("--config", type=Path, default=Path(DEFAULT_CONFIG))
    save.add_argument("--to", type=Path, required=True, help="the backup file")
    save.set_defaults(handler=_backup)

    back = commands.add_parser("restore", help="restore a backup (node stopped)")
    back.add_argument("--config", type=Path, default=Path(DEFAULT_CONFIG))
    back.add_argument("--from", dest="source", type=Path, required=True)
    back.add_argument("--force", action="store_true", help="replace existing files")
    back.set_defaults(handler=_restore)

    verify = commands.add_parser("verify", help="check a ledger database completely")
    verify.add_argument("db", type=Path)
    verify.add_argument("--json", action="store_true", help="one JSON object")
    verify.add_argument(
        "--roster",
        type=Path,
        help="the building's first roster (a roster file or an export): check that "
        "every author and witness was a member when it signed",
    )
    verify.set_defaults(handler=_verify)

    export = commands.add_parser("export", help="write the ledger as JSON lines")
    _database_arguments(export)
    export.add_argument("--author", help="only this author (hex id)")
    export.add_argument("--out", type=Path, help="file to write (default: stdout)")
    export.add_argument(
        "--roster",
        type=Path,
        help="the building's first roster (default: the config's)",
    )
    export.set_defaults(handler=_export)

    load = commands.add_parser("import", help="verify and store exported JSON lines")
    load.add_argument("file", type=Path)
    _database_arguments(load)
    load.add_argument(
        "--roster", type=Path, help="the building's first roster, if the file has none"
    )
    load.set_defaults(handler=_import)

    status = commands.add_parser("status", help="summarise the ledger database")
    _database_arguments(status)
    status.add_argument("--json", action="store_true", help="one JSON object")
    status.set_defaults(handler=_status)

    roster_cli.add_commands(commands, DEFAULT_CONFIG)
    origin_command.add_commands(commands, DEFAULT_CONFIG)
    passport_cli.add_commands(commands, DEFAULT_CONFIG)

    wat_cli.add_commands(commands, DEFAULT_CONFIG)
    c2sp_cli.add_commands(commands, DEFAULT_CONFIG)
    return parser


def _database_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--config", type=Path, help=f"(default: {DEFAULT_CONFIG})")
    group.add_argument("--db", type=Path, help="a ledger database file instead")


def _database(args: argparse.Namespace) -> Path:
    if args.db is not None:
        path: Path = args.db
        if not path.exists():
            raise UsageError(f"{path} does not exist")
        return path
    config = config_module.load(args.config or Path(DEFAULT_CONFIG))
    if not config.db_path.exists():
        raise UsageError(f"{config.db_path} does not exist yet; run the node first")
    return config.db_path


def _init(args: argparse.Namespace) -> int:
    path: Path = args.config
    if path.exists():
        raise UsageError(f"{path} already exists; not overwriting it")
    data_dir = path.parent / args.data_dir
    key_file = data_dir / "node.key"
    if key_file.exists():
        raise UsageError(f"{key_file} already exists; refusing to overwrite a node key")
    data_dir.mkdir(parents=True, exist_ok=True)
    identity = Identity.generate()
    identity.save(key_file)
    config_module.write_new(
        path,
        building=args.building,
        floor=args.floor,
        flat=args.flat,
        listen=args.listen,
        data_dir=args.data_dir,
    )
    try:
        config_module.load(path)
    except ConfigError:
        path.unlink()
        key_file.unlink()
        raise
    print(f"Created {path} and {key_file} (mode 0600).")
    print(f"Author id of flat {args.flat}: {identity.author.hex()}")
    print(f"Give Home Assistant the api_token from {path}.")
    return 0


def _run(args: argparse.Namespace) -> int:
    config = config_module.load(args.config)
    identity = Identity.load(config.key_file)
    if config.db_path.exists() and backup_module.restored(config.db_path):
        if not args.restored_ok:
            raise UsageError(
                f"{config.db_path} was restored from a backup, and peers may hold "
                "entries this node signed after it; signing those seqs again would "
                "be equivocation. Take this node's feed back from a peer first: on "
                "the peer, "
                + command_name.advice(
                    f"export --author {identity.author.hex()} --out own.jsonl"
                )
                + f", here {command_name.advice('import own.jsonl')}. Only if no "
                "peer can have seen newer entries, start with 'run --restored-ok'"
            )
        backup_module.clear_mark(config.db_path)
    return asyncio.run(_serve(config, identity))


async def _serve(config: Config, identity: Identity) -> int:
    node = Node(config, identity)

    def ready() -> None:
        print(
            f"Local VPP sidecar for flat {config.flat} of {config.building}: "
            f"listening on http://{config.host}:{node.port} "
            f"(author {identity.author.hex()[:16]}…, next seq {node.feed.seq + 1})",
            flush=True,
        )

    return await node.serve(ready)


def _verify(args: argparse.Namespace) -> int:
    if not args.db.exists():
        raise UsageError(f"{args.db} does not exist")
    roster = None if args.roster is None else _roster_chain(args.roster)
    report = verify_database(args.db, roster)
    if args.json:
        print(
            json.dumps(
                {
                    "ok": report.ok,
                    "authors": report.authors,
                    "entries": report.entries,
                    "statements": report.statements,
                    "findings": [
                        {
                            "code": f.code,
                            "author": f.author,
                            "where": f.where,
                            "detail": f.detail,
                        }
                        for f in report.findings
                    ],
                    "notices": [
                        {
                            "code": f.code,
                            "author": f.author,
                            "where": f.where,
                            "detail": f.detail,
                        }
                        for f in report.notices
                    ],
                }
            )
        )
    else:
        for finding in report.findings:
            print(finding)
        for notice in report.notices:
            print(f"notice: {notice}")
        verdict = "OK" if report.ok else f"{len(report.findings)} problem(s)"
        print(
            f"{verdict}: {report.authors} author(s), {report.entries} entries, "
            f"{report.statements} statements checked"
            + ("" if roster else "; membership not checked (no --roster)")
        )
    return 0 if report.ok else 1


def _roster_chain(path: Path) -> RosterChain:
    try:
        return load_chain(path)
    except RosterError as err:
        raise UsageError(f"--roster: {err}") from err


def _first_roster(path: Path) -> Roster:
    return _roster_chain(path).versions[0]


def _export_roster(args: argparse.Namespace) -> Roster | None:
    """The first roster an export carries: --roster, else the config's roster file."""
    if args.roster is not None:
        return _first_roster(args.roster)
    if args.db is not None:
        return None
    config = config_module.load(args.config or Path(DEFAULT_CONFIG))
    return None if config.roster_file is None else _first_roster(config.roster_file)


def _export(args: argparse.Namespace) -> int:
    path = _database(args)
    roster = _export_roster(args)
    author = None
    if args.author is not None:
        try:
            author = bytes.fromhex(args.author)
        except ValueError as err:
            raise UsageError("--author takes a hex author id") from err
    conn = store.connect(path, readonly=True)
    try:
        if args.out is None:
            return _write_lines(conn, author, roster, sys.stdout)
        with args.out.open("w", encoding="utf-8") as handle:
            return _write_lines(conn, author, roster, handle)
    finally:
        conn.close()


def _write_lines(
    conn: sqlite3.Connection,
    author: bytes | None,
    roster: Roster | None,
    out: TextIO,
) -> int:
    for line in export_lines(conn, author, roster=roster):
        out.write(line + "\n")
    return 0


def _import(args: argparse.Namespace) -> int:
    path = _database(args)
    if not args.file.exists():
        raise UsageError(f"{args.file} does not exist")
    writer = Writer(path)
    writer.start()
    conn = store.connect(path, readonly=True)
    try:
        roster = None if args.roster is None else _first_roster(args.roster)
        ingestor = Ingestor(conn, writer, roster)
        with args.file.open(encoding="utf-8") as handle:
            for number, text in enumerate(handle, start=1):
                if text.strip():
                    reason = ingestor.line(text)
                    if reason is not None and reason != "duplicate":
                        print(f"line {number}: refused: {reason}", file=sys.stderr)
        ingestor.finish()
    finally:
        writer.close()
        conn.close()
    accepted = sum(ingestor.accepted.values())
    refused = {k: v for k, v in ingestor.rejected.items() if k != "duplicate"}
    own = backup_module.own_author(path)
    if own in ingestor.heads and not refused and backup_module.restored(path):
        backup_module.clear_mark(path)
        print("This node's own feed is back from the peer: it may run again.")
    print(
        f"Stored {accepted} line(s); {ingestor.rejected['duplicate']} already present; "
        f"refused {sum(refused.values())} {dict(refused) if refused else ''}".rstrip()
    )
    return 1 if refused else 0


def _backup(args: argparse.Namespace) -> int:
    head = backup_module.backup(args.config, args.to)
    print(f"Backed up the key and the ledger (own feed at seq {head}) to {args.to}.")
    return 0


def _restore(args: argparse.Namespace) -> int:
    head = backup_module.restore(args.config, args.source, force=args.force)
    print(
        f"Restored the key and the ledger (own feed at seq {head}). Before running, "
        "take this node's newer entries back from a peer ('export --author' there, "
        "'import' here); 'run' refuses until then."
    )
    return 0


def _status(args: argparse.Namespace) -> int:
    path = _database(args)
    conn = store.connect(path, readonly=True)
    try:
        summary = summarize(conn, path)
    finally:
        conn.close()
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"Building {summary['building']}; this node is author {summary['self']}")
    for item in summary["authors"]:
        who = "this node" if item["self"] else item["author"][:16] + "…"
        print(
            f"  {who}: {item['entries']} entries stored (seq {item['first_seq']}–"
            f"{item['last_seq']}), pruned to {item['pruned_to']}, "
            f"{item['checkpoints']} checkpoints "
            f"(latest size {item['checkpoint_size']}), "
            f"{item['equivocations']} equivocation(s); by kind {item['by_kind']}"
        )
    sizes = ", ".join(
        f"{name} {size / 1e6:.1f} MB" for name, size in summary["bytes"].items()
    )
    print(f"  disk: {sizes}")
    return 0
