"""``python -m sidecar roster …``: make the first roster, and change it by majority.

The installer collects each flat's ``member`` line, makes the first roster with
``init`` and copies it to every flat. A change is a proposal file that members
``approve`` (each with its own key) until a majority has signed; ``submit`` hands it to
a running node, which records it in its feed; every node then switches at the stated
time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from sidecar import config as config_module
from sidecar.ledger.identity import Identity
from sidecar.mesh import roster
from sidecar.mesh.roster import Member, Roster, RosterError

DEFAULT_EFFECTIVE_IN_S = 60


class RosterUsageError(Exception):
    """Wrong arguments or files for a roster command."""


def add_commands(commands: Any, default_config: str) -> None:
    """Register ``roster`` and its subcommands on the main parser."""
    parser = commands.add_parser("roster", help="the building's member roster")
    sub = parser.add_subparsers(required=True, metavar="action")

    member = sub.add_parser("member", help="print this flat's member line")
    member.add_argument("--config", type=Path, default=Path(default_config))
    member.add_argument(
        "--address", help="host:port peers dial (default: the listen address)"
    )
    member.set_defaults(handler=_member)

    init = sub.add_parser("init", help="make the first roster from member lines")
    init.add_argument("--building", required=True)
    init.add_argument("--out", type=Path, required=True)
    init.add_argument("members", type=Path, nargs="+", help="files of member lines")
    init.set_defaults(handler=_init)

    propose = sub.add_parser("propose", help="propose the next roster version")
    propose.add_argument("--roster", type=Path, required=True, help="the current one")
    propose.add_argument("--add", type=Path, action="append", default=[])
    propose.add_argument("--remove", action="append", default=[], metavar="FLAT")
    propose.add_argument(
        "--effective-in",
        type=int,
        default=DEFAULT_EFFECTIVE_IN_S,
        help="seconds from now until every node switches",
    )
    propose.add_argument("--out", type=Path, required=True)
    propose.set_defaults(handler=_propose)

    approve = sub.add_parser("approve", help="sign a proposal with this flat's key")
    approve.add_argument("proposal", type=Path)
    approve.add_argument("--config", type=Path, default=Path(default_config))
    approve.set_defaults(handler=_approve)

    submit = sub.add_parser("submit", help="hand an approved proposal to the node")
    submit.add_argument("proposal", type=Path)
    submit.add_argument("--config", type=Path, default=Path(default_config))
    submit.set_defaults(handler=_submit)

    show = sub.add_parser("show", help="print a roster or proposal")
    show.add_argument("file", type=Path)
    show.set_defaults(handler=_show)


def _member(args: argparse.Namespace) -> int:
    config = config_module.load(args.config)
    identity = Identity.load(config.key_file)
    address = args.address or f"{config.host}:{config.port}"
    member = roster.member_from_json(
        {
            "flat": config.flat,
            "floor": config.floor,
            "key": identity.public_key.hex(),
            "address": address,
        }
    )
    print(json.dumps(member.to_json()))
    return 0


def _init(args: argparse.Namespace) -> int:
    if args.out.exists():
        raise RosterUsageError(f"{args.out} already exists; not overwriting it")
    members = tuple(m for path in args.members for m in _read_members(path))
    first = roster.parse(
        {
            "building": args.building,
            "version": 1,
            "members": [member.to_json() for member in members],
        }
    )
    roster.save(first, args.out)
    print(
        f"Roster version 1 of {first.building}: {len(members)} member(s), "
        f"digest {first.digest.hex()[:16]}…; copy {args.out} to every flat."
    )
    return 0


def _propose(args: argparse.Namespace) -> int:
    current = roster.load(args.roster)
    if args.effective_in < 1:
        raise RosterUsageError("--effective-in must be at least 1 second")
    members = [m for m in current.members if m.flat not in set(args.remove)]
    unknown = set(args.remove) - {m.flat for m in current.members}
    if unknown:
        raise RosterUsageError(f"no member with flat {sorted(unknown)} to remove")
    for path in args.add:
        members.extend(_read_members(path))
    proposed = Roster(
        current.building,
        current.version + 1,
        tuple(members),
        current.digest,
        time.time_ns() // 1_000_000 + args.effective_in * 1000,
    )
    roster.parse(proposed.document())  # the same checks a node makes
    _write_proposal(args.out, proposed, [])
    print(
        f"Proposed version {proposed.version}: {len(members)} member(s); "
        f"{current.majority} of the {len(current.members)} current members must "
        f"approve it."
    )
    return 0


def _approve(args: argparse.Namespace) -> int:
    proposed, approvals = _read_proposal(args.proposal)
    config = config_module.load(args.config)
    identity = Identity.load(config.key_file)
    mine = roster.approve(identity, proposed)
    approvals = [a for a in approvals if a.get("author") != mine["author"]] + [mine]
    _write_proposal(args.proposal, proposed, approvals)
    print(f"Approved as flat {config.flat}: {len(approvals)} approval(s) so far.")
    return 0


def _submit(args: argparse.Namespace) -> int:
    proposed, approvals = _read_proposal(args.proposal)
    config = config_module.load(args.config)
    reply = asyncio.run(
        _ask_node(
            f"http://{config.host}:{config.port}/api/v1/ws",
            config.api_token,
            {
                "type": "roster_submit",
                "proposal": proposed.document(),
                "approvals": approvals,
            },
        )
    )
    if reply.get("type") != "roster":
        print(f"refused: {reply.get('reason')}: {reply.get('detail')}", file=sys.stderr)
        return 1
    print(
        f"Recorded as seq {reply['seq']}; version {reply['version']} takes effect "
        f"at {reply['effective']} ms on every node."
    )
    return 0


def _show(args: argparse.Namespace) -> int:
    try:
        doc = json.loads(args.file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise RosterUsageError(f"{args.file}: {err}") from err
    approvals = doc.get("approvals", []) if isinstance(doc, dict) else []
    shown = roster.parse(doc.get("proposal", doc) if isinstance(doc, dict) else doc)
    print(
        f"{shown.building} roster version {shown.version}, digest {shown.digest.hex()}"
    )
    for member in shown.members:
        print(
            f"  flat {member.flat} (floor {member.floor}) at {member.address}: "
            f"author {member.author.hex()[:16]}…"
        )
    if "proposal" in doc:
        print(f"  {len(approvals)} approval(s)")
    return 0


async def _ask_node(url: str, token: str, message: dict[str, Any]) -> dict[str, Any]:
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(url, headers={"Authorization": f"Bearer {token}"}) as ws,
        ):
            await ws.send_json({"type": "hello", "protocol": 1})
            await ws.receive_json(timeout=10)
            await ws.send_json(message)
            reply: dict[str, Any] = await ws.receive_json(timeout=30)
            return reply
    except (aiohttp.ClientError, OSError, TimeoutError) as err:
        raise RosterUsageError(
            f"cannot reach the node at {url}: {err}; is it running?"
        ) from err


def _read_members(path: Path) -> list[Member]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise RosterUsageError(f"{path}: {err}") from err
    members = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            members.append(roster.member_from_json(json.loads(line)))
        except (ValueError, RosterError) as err:
            raise RosterUsageError(f"{path} line {number}: {err}") from err
    return members


def _read_proposal(path: Path) -> tuple[Roster, list[dict[str, Any]]]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise RosterUsageError(f"{path}: {err}") from err
    if not isinstance(doc, dict) or not isinstance(doc.get("approvals"), list):
        raise RosterUsageError(f"{path} is not a proposal from 'roster propose'")
    return roster.parse(doc.get("proposal")), doc["approvals"]


def _write_proposal(
    path: Path, proposed: Roster, approvals: list[dict[str, Any]]
) -> None:
    path.write_text(
        json.dumps({"proposal": proposed.document(), "approvals": approvals}, indent=2)
        + "\n",
        encoding="utf-8",
    )
