"""A flat's files from the previous release open, and keep working, in this one."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import aiohttp
import pytest

from devkit.sidecar_node import sidecar_cli, start_sidecar
from sidecar.ledger.identity import Identity
from sidecar.storage import migrations, store
from sidecar.tools.verify import verify_database

FIXTURE = Path(__file__).parent.parent / "fixtures" / "previous_release"
OLD_ENTRIES = 11


def _copy(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    shutil.copytree(FIXTURE, site)
    (site / "README.md").unlink()
    (site / "data" / "node.key").chmod(0o600)
    (site / "sidecar.toml").chmod(0o600)
    return site / "sidecar.toml"


def _schema(db: Path) -> tuple[int, str, list[str]]:
    conn = sqlite3.connect(db)
    try:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        (schema,) = conn.execute(
            "SELECT value FROM meta WHERE key = 'schema'"
        ).fetchone()
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
    finally:
        conn.close()
    return int(version), str(schema), tables


def test_the_fixture_is_the_previous_release_s_schema() -> None:
    version, schema, tables = _schema(FIXTURE / "data" / "ledger.db")
    assert (version, schema) == (0, "1")
    assert "bus_intervals" not in tables


async def test_a_previous_release_flat_opens_and_goes_on(tmp_path: Path) -> None:
    config = _copy(tmp_path)
    node = await start_sidecar(config)
    try:
        async with aiohttp.ClientSession() as session:
            ws = await node.connect(session)
            await ws.send_json({"type": "status"})
            status = await ws.receive_json(timeout=10)
            assert status["next_seq"] == OLD_ENTRIES + 1
            await ws.close()
    finally:
        assert await node.stop() == 0
    version, schema, tables = _schema(node.db)
    assert (version, schema) == (migrations.CURRENT, str(migrations.CURRENT))
    assert "bus_intervals" in tables
    report = verify_database(node.db)
    assert report.ok, [str(f) for f in report.findings]
    assert report.entries == OLD_ENTRIES
    # The command line agrees, and the upgraded files open again unchanged.
    assert sidecar_cli("verify", str(node.db)).returncode == 0
    node = await start_sidecar(config)
    assert await node.stop() == 0
    assert _schema(node.db)[0] == migrations.CURRENT


def test_a_database_of_a_newer_release_is_refused_untouched(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    identity = Identity.generate()
    store.create(db, "bldg-01", identity.public_key)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute(f"PRAGMA user_version = {migrations.CURRENT + 1}")
    conn.close()
    with pytest.raises(store.StoreError, match="knows up to"):
        store.create(db, "bldg-01", identity.public_key)
    assert _schema(db)[0] == migrations.CURRENT + 1


def test_upgrading_twice_changes_nothing(tmp_path: Path) -> None:
    db = _copy(tmp_path).parent / "data" / "ledger.db"
    key = Identity.load(db.parent / "node.key")
    store.create(db, "bldg-01", key.public_key)
    store.create(db, "bldg-01", key.public_key)
    assert _schema(db)[0] == migrations.CURRENT
