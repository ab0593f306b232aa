"""The systemd unit for the sidecar: hardened, and correct for systemd itself.

The keys are always checked by reading the file; where ``systemd-analyze`` is installed
it verifies the unit and scores its exposure too.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "packaging" / "systemd"
UNIT = FOLDER / "local-vpp-sidecar.service"
BACKUP = FOLDER / "local-vpp-sidecar-backup.service"
TIMER = FOLDER / "local-vpp-sidecar-backup.timer"
SYSUSERS = FOLDER / "local-vpp-sidecar.sysusers"
ANALYZE = shutil.which("systemd-analyze")


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Sections → keys → every value given (systemd allows a key more than once)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        assert sep, f"line {number} is not key=value: {raw!r}"
        assert current is not None, f"line {number} is outside a section"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


@pytest.fixture(scope="module")
def service() -> dict[str, list[str]]:
    return parse_unit(UNIT.read_text())["Service"]


def _one(service: dict[str, list[str]], key: str) -> str:
    values = service.get(key, [])
    assert len(values) == 1, f"{key}: {values}"
    return values[0]


def test_it_runs_the_installed_command_as_a_dedicated_user(
    service: dict[str, list[str]],
) -> None:
    user = _one(service, "User")
    assert user not in ("", "root", "0")
    assert _one(service, "Group") == user
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    command = next(iter(scripts["scripts"]))
    exec_start = _one(service, "ExecStart").split()
    assert Path(exec_start[0]).name == command
    assert exec_start[1] == "run"
    # The sysusers file makes that user, with the state directory as its home.
    fields = next(
        line.split()
        for line in SYSUSERS.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    assert fields[:2] == ["u", user]
    state = _one(service, "StateDirectory")
    assert fields[-2] == f"/var/lib/{state}"
    assert fields[-1].endswith("nologin")


def test_everything_it_keeps_is_in_its_private_state_directory(
    service: dict[str, list[str]],
) -> None:
    state = f"/var/lib/{_one(service, 'StateDirectory')}"
    assert _one(service, "StateDirectoryMode") == "0700"
    exec_start = _one(service, "ExecStart").split()
    config = Path(exec_start[exec_start.index("--config") + 1])
    assert config.parent == Path(state)
    assert _one(service, "WorkingDirectory") == state
    assert _one(service, "UMask") == "0077"
    # ProtectSystem=strict leaves only the state directory writable: nothing else may
    # be named writable.
    assert "ReadWritePaths" not in service


@pytest.mark.parametrize("unit", [UNIT, BACKUP], ids=lambda p: p.name)
def test_it_is_hardened(unit: Path) -> None:
    service = parse_unit(unit.read_text())["Service"]
    expected = {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes",
        "RestrictNamespaces": "yes",
        "RestrictSUIDSGID": "yes",
        "LockPersonality": "yes",
        "MemoryDenyWriteExecute": "yes",
        "SystemCallArchitectures": "native",
        "CapabilityBoundingSet": "",
    }
    assert {key: _one(service, key) for key in expected} == expected
    families = set(_one(service, "RestrictAddressFamilies").split())
    # The node needs IP for Home Assistant and the other flats; nothing needs more
    # than IP, netlink and local sockets.
    assert unit == BACKUP or {"AF_INET", "AF_INET6"} <= families
    assert families <= {"AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK"}
    assert "@system-service" in service["SystemCallFilter"]


def test_a_configuration_error_is_not_restarted_in_a_loop(
    service: dict[str, list[str]],
) -> None:
    # python -m sidecar exits 2 for a wrong configuration or key (sidecar/cli.py).
    assert _one(service, "Restart") == "on-failure"
    assert _one(service, "RestartPreventExitStatus") == "2"


def test_the_daily_backup_snapshots_the_same_node_into_its_state_directory(
    service: dict[str, list[str]],
) -> None:
    backup = parse_unit(BACKUP.read_text())
    exec_start = _one(backup["Service"], "ExecStart").split()
    node = _one(service, "ExecStart").split()
    assert exec_start[0] == node[0]
    assert exec_start[1] == "backup"
    config = exec_start[exec_start.index("--config") + 1]
    assert config == node[node.index("--config") + 1]
    target = Path(exec_start[exec_start.index("--to") + 1])
    state = f"/var/lib/{_one(service, 'StateDirectory')}"
    assert target.is_relative_to(state)
    assert (
        f"local-vpp/{target.parent.name}"
        in _one(backup["Service"], "StateDirectory").split()
    )
    assert _one(backup["Service"], "User") == _one(service, "User")
    assert _one(backup["Service"], "Type") == "oneshot"
    timer = parse_unit(TIMER.read_text())["Timer"]
    assert _one(timer, "OnCalendar") == "daily"
    assert _one(timer, "Persistent") == "true"


def _analyzable(tmp_path: Path, text: str, name: str = UNIT.name) -> Path:
    """A copy systemd-analyze can verify on a machine without the sidecar installed.

    ``verify`` checks that ExecStart's program exists; the copy names one that does.
    """
    stand_in = shutil.which("true")
    assert stand_in is not None
    copy = tmp_path / name
    copy.write_text(
        re.sub(r"(?m)^ExecStart=\S+", f"ExecStart={stand_in}", text, count=1)
    )
    return copy


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verifies_the_unit_and_rates_its_exposure_ok(
    tmp_path: Path,
) -> None:
    assert ANALYZE is not None
    copy = _analyzable(tmp_path, UNIT.read_text())
    verified = subprocess.run(
        [ANALYZE, "verify", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert verified.returncode == 0, verified.stderr
    assert verified.stderr.strip() == "", verified.stderr
    security = subprocess.run(
        [ANALYZE, "security", "--offline=yes", "--no-pager", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    level = re.search(r"Overall exposure level for \S+: ([\d.]+)", security.stdout)
    assert level is not None, security.stdout + security.stderr
    # systemd rates 0-10; under 2 is "OK" (this unit scores 1.3 with systemd 252).
    assert float(level.group(1)) < 2.0, security.stdout


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verifies_the_backup_timer_and_its_service(
    tmp_path: Path,
) -> None:
    assert ANALYZE is not None
    _analyzable(tmp_path, BACKUP.read_text(), BACKUP.name)
    timer = tmp_path / TIMER.name
    timer.write_text(TIMER.read_text())
    verified = subprocess.run(
        [ANALYZE, "verify", str(timer), str(tmp_path / BACKUP.name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert verified.returncode == 0, verified.stderr
    assert verified.stderr.strip() == "", verified.stderr


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_would_catch_a_misspelt_key(tmp_path: Path) -> None:
    assert ANALYZE is not None
    text = UNIT.read_text().replace("ProtectSystem=", "ProtectSytem=")
    verified = subprocess.run(
        [ANALYZE, "verify", str(_analyzable(tmp_path, text))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert "ProtectSytem" in verified.stderr
