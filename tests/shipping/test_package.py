"""The sidecar as an installer gets it: ``pip install .`` and ``local-vpp-sidecar``.

The wheel is built from this tree and installed into a fresh virtual environment with
``--no-deps``; the sidecar's dependencies come from the test environment (a path
entry, not an install), so the test needs no network. The installed command must be
the one that runs: the checks look at where ``sidecar`` was imported from.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import sysconfig
import tomllib
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from devkit import processes
from devkit.sidecar_node import READY, sidecar_cli
from tests.shipping.imports import third_party_imports

ROOT = Path(__file__).resolve().parents[2]
COMMAND = "local-vpp-sidecar"


def _run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run pip or the installed copy; never measured for coverage.

    Coverage of the test run starts in every process of this environment's Python;
    pip run from a temporary folder would find no coverage settings there and write
    data that cannot be combined with the rest.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("COV_CORE_")}
    return subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _have_hatchling() -> bool:
    """Whether the build backend is installed here (else pip fetches it itself)."""
    try:
        importlib.metadata.version("hatchling")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def _build_wheel(out: Path) -> Path:
    """``pip wheel .`` of this tree; without build isolation when hatchling is here."""
    isolation = ["--no-build-isolation"] if _have_hatchling() else []
    done = _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        *isolation,
        "--wheel-dir",
        out,
        ROOT,
        cwd=out,
    )
    assert done.returncode == 0, done.stderr
    wheels = list(out.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build_wheel(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed; its bin folder."""
    env = tmp_path_factory.mktemp("venv")
    venv.create(env, with_pip=False, symlinks=True)
    python = env / "bin" / "python"
    done = _run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "--no-deps",
        "--no-index",
        wheel,
        cwd=env,
    )
    assert done.returncode == 0, done.stderr
    # The dependencies (aiohttp, cryptography, zeroconf) from this environment: a
    # plain path entry, so this environment's own .pth files (the editable install of
    # the source tree) are not read.
    site = Path(
        _run(
            python,
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
            cwd=env,
        ).stdout.strip()
    )
    (site / "test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return env / "bin"


@pytest.fixture(autouse=True)
def _no_source_tree_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTHONPATH", raising=False)


def test_the_wheel_holds_the_sidecar_only_with_its_command_and_dependencies(
    wheel: Path,
) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(info).decode())
        points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        entry_points = archive.read(points).decode()
    tops = {name.split("/")[0] for name in names if not name.endswith("/")}
    # custom_components in site-packages would shadow Home Assistant's own folder.
    assert {t for t in tops if not t.endswith(".dist-info")} == {"sidecar"}
    assert "sidecar/__main__.py" in names
    assert f"{COMMAND} = sidecar.console:main" in entry_points
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert metadata["Version"] == project["version"]
    required = {_name(req) for req in metadata.get_all("Requires-Dist") or []}
    assert required == {"aiohttp", "cryptography", "zeroconf"}


def test_the_package_and_the_requirements_file_name_the_same_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = [
        line.strip()
        for line in (ROOT / "sidecar" / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert sorted(project["dependencies"]) == sorted(listed)


def test_every_module_the_sidecar_imports_is_a_declared_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_name(req) for req in project["dependencies"]}
    providers = importlib.metadata.packages_distributions()
    needed = {
        _name(dist)
        for module in third_party_imports(ROOT / "sidecar")
        for dist in providers.get(module, [module])
    }
    assert needed == declared, f"imported {needed}, declared {declared}"


def test_the_installed_command_has_the_same_commands_as_python_m_sidecar(
    installed: Path, tmp_path: Path
) -> None:
    where = _run(
        installed / "python",
        "-c",
        "import sidecar; print(sidecar.__file__)",
        cwd=tmp_path,
    )
    assert Path(where.stdout.strip()).is_relative_to(installed.parent), where
    mine = _run(installed / COMMAND, "--help", cwd=tmp_path)
    assert mine.returncode == 0, mine.stderr
    assert mine.stdout.startswith(f"usage: {COMMAND} ")
    source = sidecar_cli("--help")
    assert mine.stdout == source.stdout.replace("python -m sidecar", COMMAND)
    for command in ("init", "run", "backup", "restore", "verify", "export", "status"):
        assert f"    {command} " in mine.stdout
    sub = _run(installed / COMMAND, "roster", "--help", cwd=tmp_path)
    assert sub.stdout == sidecar_cli("roster", "--help").stdout.replace(
        "python -m sidecar", COMMAND
    )


async def test_the_installed_command_sets_up_runs_and_reports_a_node(
    installed: Path, tmp_path: Path
) -> None:
    config = tmp_path / "sidecar.toml"
    made = _run(
        installed / COMMAND,
        "init",
        "--config",
        config,
        "--building",
        "bldg-test",
        "--floor",
        "3",
        "--flat",
        "301",
        "--listen",
        "127.0.0.1:0",
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "data" / "node.key").stat().st_mode & 0o777 == 0o600
    missing = _run(installed / COMMAND, "status", "--config", config, cwd=tmp_path)
    assert missing.returncode == 2
    assert "run the node first" in missing.stderr

    process, _ = await processes.start(
        [str(installed / COMMAND), "run", "--config", str(config)],
        READY,
        log=tmp_path / "run.log",
        what="the installed sidecar",
    )
    assert await processes.stop(process, what="the installed sidecar") == 0

    status = _run(
        installed / COMMAND, "status", "--config", config, "--json", cwd=tmp_path
    )
    assert status.returncode == 0, status.stderr
    summary = json.loads(status.stdout)
    assert summary["building"] == "bldg-test"
    assert [a["self"] for a in summary["authors"]] == [True]
    member = _run(
        installed / COMMAND,
        "roster",
        "member",
        "--config",
        config,
        "--address",
        "127.0.0.1:8765",
        cwd=tmp_path,
    )
    assert member.returncode == 0, member.stderr
    assert json.loads(member.stdout)["flat"] == "301"


def _name(requirement: str) -> str:
    """The distribution name of a requirement, normalised."""
    for stop in "<>=!~; [":
        requirement = requirement.split(stop, maxsplit=1)[0]
    return requirement.strip().lower().replace("_", "-")


def test_the_editable_install_the_scripts_make_still_imports_every_program(
    tmp_path: Path,
) -> None:
    env = tmp_path / "venv"
    venv.create(env, with_pip=False, symlinks=True)
    python = env / "bin" / "python"
    # Always with build isolation, as the scripts install: under ``--python`` pip
    # runs the build backend in the new, empty environment, which lacks hatchling.
    done = _run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "--no-deps",
        "--editable",
        ROOT,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    found = _run(
        python,
        "-c",
        "import importlib.util as u, json; print(json.dumps([u.find_spec(m).origin "
        "for m in ('custom_components.local_vpp', 'sidecar', 'simulator', 'devkit', "
        "'bench')]))",
        cwd=tmp_path,
    )
    assert found.returncode == 0, found.stderr
    origins = [Path(origin) for origin in json.loads(found.stdout)]
    assert all(origin.is_relative_to(ROOT) for origin in origins), origins
    assert (env / "bin" / COMMAND).exists()


def test_the_console_entry_point_names_itself_in_its_help(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sidecar import console

    monkeypatch.setattr(sys, "argv", [COMMAND, "--help"])
    with pytest.raises(SystemExit) as done:
        console.main()
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: {COMMAND} [-h] command")


def test_advice_in_errors_names_the_command_that_was_run(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Installed, a missing configuration says to run 'local-vpp-sidecar init'."""
    from sidecar import cli, console

    missing = str(tmp_path / "sidecar.toml")
    monkeypatch.setattr(sys, "argv", [COMMAND, "status", "--config", missing])
    assert console.main() != 0
    assert f"'{COMMAND} init'" in capsys.readouterr().err
    # From a checkout the same error names 'python -m sidecar'.
    assert cli.main(["status", "--config", missing]) != 0
    assert "'python -m sidecar init'" in capsys.readouterr().err
