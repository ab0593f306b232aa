"""``c2sp-keys``: the flat's C2SP origin and verifier keys, for an outside witness.

An outside witness (the bulk-supply operator, an auditor) is configured with the
flat's origin and log verifier key; those who trust the node's own cosignatures are
given its witness verifier key. The witness key is made here if the node has not
made it yet.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sidecar import config as config_module
from sidecar.ledger.identity import Identity
from sidecar.mesh import c2sp_checkpoint


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], default_config: str
) -> None:
    """Register the command."""
    keys = commands.add_parser(
        "c2sp-keys", help="print the C2SP origin and verifier keys of this flat"
    )
    keys.add_argument("--config", type=Path, default=Path(default_config))
    keys.add_argument("--json", action="store_true", help="one JSON object")
    keys.set_defaults(handler=_keys)


def _keys(args: argparse.Namespace) -> int:
    config = config_module.load(args.config)
    identity = Identity.load(config.key_file)
    log = c2sp_checkpoint.log_signer(config, identity)
    witness, made = c2sp_checkpoint.witness_signer(config, identity)
    shown = {
        "origin": log.verifier.name,
        "log_key": log.verifier.vkey(),
        "witness_key": witness.verifier.vkey(),
    }
    if args.json:
        print(json.dumps(shown))
        return 0
    print(f"origin:      {shown['origin']}")
    print(f"log key:     {shown['log_key']}")
    print(f"witness key: {shown['witness_key']}")
    if made:
        print(f"(made the witness key {config.data_dir / 'witness.key'}, mode 0600)")
    return 0
