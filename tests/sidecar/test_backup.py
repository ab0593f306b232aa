"""Backup while running, restore, and rejoining the mesh without equivocating."""

from __future__ import annotations

import asyncio
import stat
import tarfile
import time
from pathlib import Path

from devkit.node_db import read_rows
from devkit.sidecar_node import sidecar_cli
from sidecar.ledger.identity import Identity
from sidecar.storage import store
from sidecar.tools.verify import verify_database
from tests.sidecar.mesh_support import Building, Flat


def _head(db: Path, author: bytes) -> int:
    rows = read_rows(
        db,
        "SELECT max(e.seq) FROM entries e JOIN authors a ON a.no = e.author "
        "WHERE a.id = ?",
        (author,),
    )
    return int(rows[0][0] or 0)


def _conflicts(db: Path) -> int:
    return int(read_rows(db, "SELECT count(*) FROM conflicts")[0][0])


async def _until_held(flat: Flat, author: bytes, seq: int, within: float) -> None:
    deadline = time.monotonic() + within
    while _head(flat.db, author) < seq:
        assert time.monotonic() < deadline, f"{flat.name} never held seq {seq}"
        await asyncio.sleep(0.2)


def _ok(result: object) -> None:
    assert getattr(result, "returncode", None) == 0, result


async def test_a_restored_node_takes_its_feed_back_and_never_equivocates(
    tmp_path: Path,
) -> None:
    archive = tmp_path / "flat-100.backup"
    async with Building(tmp_path, 2) as building:
        restored, peer = building.flats
        await building.start()
        await building.linked(within=30)
        await building.produce(2, restored)
        _ok(
            sidecar_cli(
                "backup", "--config", str(restored.config), "--to", str(archive)
            )
        )
        # Signed after the backup, and replicated to the peer.
        await building.produce(2, restored)
        lost = _head(restored.db, restored.author)
        await _until_held(peer, restored.author, lost, 30)
        await building.stop(restored)
        _ok(
            sidecar_cli(
                "restore",
                "--config",
                str(restored.config),
                "--from",
                str(archive),
                "--force",
            )
        )
        at_backup = _head(restored.db, restored.author)
        assert 0 < at_backup < lost
        refused = sidecar_cli("run", "--config", str(restored.config))
        assert refused.returncode == 2
        assert "restored from a backup" in refused.stderr
        own = tmp_path / "own.jsonl"
        _ok(
            sidecar_cli(
                "export",
                "--config",
                str(peer.config),
                "--author",
                restored.author.hex(),
                "--out",
                str(own),
            )
        )
        _ok(sidecar_cli("import", str(own), "--config", str(restored.config)))
        assert _head(restored.db, restored.author) == lost
        await building.start(restored)
        await building.linked(within=30)
        await building.produce(2, restored)
        await _until_held(peer, restored.author, lost + 1, 30)
    assert _conflicts(peer.db) == 0
    assert _conflicts(restored.db) == 0
    for flat in (restored, peer):
        report = verify_database(flat.db)
        assert report.ok, [str(f) for f in report.findings]


def test_the_backup_and_the_restored_key_stay_private(tmp_path: Path) -> None:
    config = tmp_path / "site" / "sidecar.toml"
    _ok(
        sidecar_cli(
            "init",
            "--config",
            str(config),
            "--building",
            "bldg-01",
            "--floor",
            "3",
            "--flat",
            "301",
        )
    )
    archive = tmp_path / "site.backup"
    missing = sidecar_cli("backup", "--config", str(config), "--to", str(archive))
    assert missing.returncode == 1
    assert "nothing to back up" in missing.stderr
    key = config.parent / "data" / "node.key"
    store.create(config.parent / "data" / "ledger.db", "bldg-01", _public(key))
    _ok(sidecar_cli("backup", "--config", str(config), "--to", str(archive)))
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    with tarfile.open(archive) as tar:
        assert {m.name: m.mode for m in tar.getmembers()} == {
            "node.key": 0o600,
            "sidecar.toml": 0o600,
            "ledger.db": 0o600,
        }
    # A first roster the node adopted goes with it, and comes back where it was.
    kept = config.parent / "data" / "roster.json"
    kept.write_text('{"building": "bldg-01"}\n')
    _ok(sidecar_cli("backup", "--config", str(config), "--to", str(archive)))
    with tarfile.open(archive) as tar:
        assert tar.getmember("roster.json").mode == 0o600
    # Restoring onto existing files needs --force; onto a new machine it does not.
    again = sidecar_cli("restore", "--config", str(config), "--from", str(archive))
    assert again.returncode == 1
    assert "--force" in again.stderr
    elsewhere = tmp_path / "new" / "sidecar.toml"
    _ok(sidecar_cli("restore", "--config", str(elsewhere), "--from", str(archive)))
    new_key = elsewhere.parent / "data" / "node.key"
    assert new_key.read_bytes() == key.read_bytes()
    restored_roster = elsewhere.parent / "data" / "roster.json"
    assert restored_roster.read_bytes() == kept.read_bytes()
    assert stat.S_IMODE(new_key.stat().st_mode) == 0o600
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o600
    refused = sidecar_cli("run", "--config", str(elsewhere))
    assert refused.returncode == 2
    assert "--restored-ok" in refused.stderr


def _public(key: Path) -> bytes:
    return Identity.load(key).public_key
