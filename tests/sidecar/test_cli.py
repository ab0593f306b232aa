"""The command line and the configuration file, as an installer meets them."""

from __future__ import annotations

import json
import re
import socket
import sqlite3
from pathlib import Path

import pytest

from devkit.sidecar_node import sidecar_cli as run_cli
from sidecar import config
from sidecar.config import ConfigError
from tests.sidecar.support import BUILDING, T0, init_site, open_ledger


def test_init_creates_a_private_key_and_config_and_never_overwrites(
    tmp_path: Path,
) -> None:
    path = init_site(tmp_path)
    key = tmp_path / "data" / "node.key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert path.stat().st_mode & 0o777 == 0o600  # it holds the API token
    loaded = config.load(path)
    assert (loaded.building, loaded.floor, loaded.flat, loaded.port) == (
        BUILDING,
        "3",
        "301",
        0,
    )
    assert loaded.key_file == key
    assert len(loaded.api_token) >= 32
    assert loaded.api_token not in repr(loaded)
    before = key.read_bytes()
    again = run_cli(
        "init",
        "--config",
        str(path),
        "--building",
        BUILDING,
        "--floor",
        "1",
        "--flat",
        "1",
    )
    assert again.returncode == 2
    assert "already exists" in again.stderr
    path.unlink()
    again = run_cli(
        "init",
        "--config",
        str(path),
        "--building",
        BUILDING,
        "--floor",
        "1",
        "--flat",
        "1",
    )
    assert again.returncode == 2
    assert "refusing to overwrite a node key" in again.stderr
    assert key.read_bytes() == before


def test_init_refuses_a_bad_building_id_and_leaves_nothing_behind(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sidecar.toml"
    result = run_cli(
        "init",
        "--config",
        str(path),
        "--building",
        "two words",
        "--floor",
        "3",
        "--flat",
        "1",
    )
    assert result.returncode == 2
    assert "[node] building: must be 1-64 of" in result.stderr
    assert not path.exists()
    assert not (tmp_path / "data" / "node.key").exists()


def _config_with(tmp_path: Path, pattern: str, replacement: str) -> Path:
    path = init_site(tmp_path)
    text = re.sub(pattern, replacement, path.read_text(), flags=re.MULTILINE)
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("pattern", "replacement", "message"),
    [
        (
            r"^interval_ms = .*$",
            "interval_ms = 300.5",
            "[ledger] interval_ms: must be a int",
        ),
        (
            r"^interval_ms = .*$",
            "interval_ms = 700",
            "[ledger] interval_ms: must be between 200",
        ),
        (r"^listen = .*$", 'listen = "nowhere"', "[node] listen: must be host:port"),
        (r"^sync = .*$", 'sync = "sometimes"', "[storage] sync: must be one of"),
        (
            r"^flow_hours = .*$",
            "flow_hours = 8000",
            "[retention] hourly_days: must keep",
        ),
        (
            r"^max_power_w = .*$",
            "max_powr_w = 5",
            "unknown key (did you mean 'max_power_w'?)",
        ),
        (
            r"^\[limits\]$",
            "[limit]",
            "[limit]: unknown section (did you mean 'limits'?)",
        ),
        (r"^flat = .*$", "", "[node] flat: is required"),
        (
            r"^device_serial = .*$",
            'device_serial = "é"',
            "[node] device_serial: must be up",
        ),
        (r"^building = .*$", "building = [", "is not valid TOML"),
    ],
)
def test_config_errors_name_the_key_and_the_problem(
    tmp_path: Path, pattern: str, replacement: str, message: str
) -> None:
    path = _config_with(tmp_path, pattern, replacement)
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_run_stops_with_exit_code_2_on_a_bad_config(tmp_path: Path) -> None:
    path = _config_with(tmp_path, r"^interval_ms = .*$", "interval_ms = 700")
    result = run_cli("run", "--config", str(path))
    assert result.returncode == 2
    assert "[ledger] interval_ms: must be between 200 and 60000" in result.stderr


def test_run_on_a_taken_port_says_so_and_exits(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        path = init_site(tmp_path, listen=f"127.0.0.1:{port}")
        result = run_cli("run", "--config", str(path))
    assert result.returncode == 1
    assert f"error: cannot listen on 127.0.0.1:{port} (Address already in use)" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr
    # Nothing was lost: the database opened and closed cleanly, and verifies.
    verified = run_cli("verify", str(tmp_path / "data" / "ledger.db"))
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_short_token_is_refused_without_being_repeated(tmp_path: Path) -> None:
    path = _config_with(tmp_path, r"^api_token = .*$", 'api_token = "hunter2"')
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    assert "api_token: must be at least 32 characters long" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_run_refuses_a_key_others_can_read(tmp_path: Path) -> None:
    path = init_site(tmp_path)
    (tmp_path / "data" / "node.key").chmod(0o640)
    result = run_cli("run", "--config", str(path))
    assert result.returncode == 2
    assert "chmod 600" in result.stderr


def test_verify_status_export_and_import_on_the_command_line(tmp_path: Path) -> None:
    source = open_ledger(tmp_path / "a.db")
    now = source.flows(30, T0 + 1000)
    source.feed.checkpoint(now)
    source.sync()
    source.writer.close()

    verified = run_cli("verify", str(tmp_path / "a.db"))
    assert verified.returncode == 0
    assert "OK: 1 author(s), 30 entries, 1 statements checked" in verified.stdout

    status = run_cli("status", "--db", str(tmp_path / "a.db"), "--json")
    summary = json.loads(status.stdout)
    assert summary["building"] == BUILDING
    assert summary["authors"][0]["entries"] == 30
    assert summary["authors"][0]["checkpoint_size"] == 30

    exported = run_cli(
        "export", "--db", str(tmp_path / "a.db"), "--out", str(tmp_path / "a.jsonl")
    )
    assert exported.returncode == 0
    lines = (tmp_path / "a.jsonl").read_text().splitlines()
    assert [json.loads(line)["type"] for line in lines] == ["ledger", "author"] + [
        "entry"
    ] * 30 + ["checkpoint"]

    target = open_ledger(tmp_path / "b.db")
    target.writer.close()
    imported = run_cli(
        "import", str(tmp_path / "a.jsonl"), "--db", str(tmp_path / "b.db")
    )
    assert imported.returncode == 0, imported.stderr
    assert "Stored 33 line(s)" in imported.stdout
    again = run_cli("import", str(tmp_path / "a.jsonl"), "--db", str(tmp_path / "b.db"))
    assert "30 already present" in again.stdout
    assert run_cli("verify", str(tmp_path / "b.db"), "--json").returncode == 0

    conn = sqlite3.connect(tmp_path / "a.db")
    conn.execute("UPDATE entries SET sig = zeroblob(64) WHERE seq = 7")
    conn.commit()
    conn.close()
    broken = run_cli("verify", str(tmp_path / "a.db"), "--json")
    assert broken.returncode == 1
    findings = json.loads(broken.stdout)["findings"]
    assert [(f["code"], f["where"]) for f in findings] == [("bad_signature", "seq 7")]
    refused = run_cli("export", "--db", str(tmp_path / "a.db"), "--author", "zz")
    assert refused.returncode == 2


def test_commands_on_missing_files_say_so(tmp_path: Path) -> None:
    for args in (
        ("verify", str(tmp_path / "none.db")),
        ("status", "--db", str(tmp_path / "none.db")),
        ("status", "--config", str(tmp_path / "none.toml")),
    ):
        result = run_cli(*args)
        assert result.returncode == 2
        assert "does not exist" in result.stderr


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_configuration_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    path = init_site(tmp_path)
    path.chmod(mode)
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    assert f"mode {mode:04o}" in str(caught.value)
    assert f"chmod 600 {path}" in str(caught.value)
    done = run_cli("run", "--config", str(path))
    assert done.returncode != 0
    assert "API token" in done.stderr
    assert "listening" not in done.stdout
