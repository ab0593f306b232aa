"""One ledger node (``python -m sidecar``): its files, its command line, its process.

Everything goes through the sidecar's own interfaces: its command line (``init``,
``roster member``, …), its configuration file and its ready line.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import runpy
import signal
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path

import aiohttp

from devkit import local_api, processes

READY = re.compile(r"listening on http://[\d.]+:(\d+)")
_AUTHOR = re.compile(r"Author id of flat .*: ([0-9a-f]{64})")
_IN_PROCESS = threading.Lock()  # one in-process command at a time: they swap sys.argv

type ConfigValue = str | int | bool


def sidecar_cli(
    *args: str, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m sidecar args…`` as a process to completion; its outcome."""
    return subprocess.run(
        processes.module_command("sidecar", *args),
        cwd=cwd or processes.ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def sidecar_cli_here(*args: str) -> str:
    """Run ``python -m sidecar args…`` in this process; what it printed.

    The same command line as :func:`sidecar_cli` without a process start: setting up a
    building runs two commands per flat. A command that fails raises
    :class:`AssertionError` with what it said.
    """
    out, err = io.StringIO(), io.StringIO()
    with (
        _IN_PROCESS,
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        # The command sets up logging for a process of its own: undone afterwards.
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        argv, sys.argv = sys.argv, ["sidecar", *args]
        try:
            runpy.run_module("sidecar", run_name="__main__")
            code: object = 0
        except SystemExit as exit_:
            code = exit_.code
        finally:
            sys.argv = argv
            root.handlers[:] = handlers
            root.setLevel(level)
    if code not in (0, None):
        raise AssertionError(
            f"python -m sidecar {' '.join(args)} failed ({code}): {err.getvalue()}"
        )
    return out.getvalue()


def toml_value(value: ConfigValue) -> str:
    """A value as the configuration file writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value)  # a TOML basic string for the values written here


def configure(config: Path, values: Mapping[str, ConfigValue]) -> None:
    """Set keys of a configuration ``sidecar init`` wrote (each key occurs once)."""
    text = config.read_text()
    for key, value in values.items():
        text, found = re.subn(
            rf"(?m)^{re.escape(key)} = .*$", f"{key} = {toml_value(value)}", text
        )
        if found != 1:
            raise ValueError(f"{config}: {found} lines set {key!r}")
    config.write_text(text)


def init_node(
    config: Path,
    *,
    building: str,
    flat: str,
    floor: str | None = None,
    listen: str = "127.0.0.1:0",
    settings: Mapping[str, ConfigValue] | None = None,
    in_process: bool = False,
) -> str:
    """``sidecar init`` a node at ``config``, then set ``settings``; its author (hex).

    ``floor`` defaults to the flat number without its last two digits (``"301"`` is
    on floor 3).
    """
    args = (
        "init",
        "--config",
        str(config),
        "--building",
        building,
        "--floor",
        floor or floor_of(flat),
        "--flat",
        flat,
        "--listen",
        listen,
    )
    if in_process:
        said = sidecar_cli_here(*args)
    else:
        result = sidecar_cli(*args)
        if result.returncode != 0:
            raise AssertionError(f"sidecar init failed: {result.stderr}")
        said = result.stdout
    if settings:
        configure(config, settings)
    author = _AUTHOR.search(said)
    if author is None:
        raise AssertionError(f"sidecar init did not name the author: {said!r}")
    return author.group(1)


def floor_of(flat: str) -> str:
    """The floor of a flat numbered floor-then-two-digits (``"1204"``: ``"12"``)."""
    return flat[:-2] if len(flat) > 2 else "1"


def write_roster(building: str, configs: Iterable[Path], folder: Path) -> Path:
    """Make the first roster of these nodes in ``folder`` and give it to each of them.

    As an installer does it: every node's ``roster member`` line (collected in
    ``members.jsonl``), one ``roster init``, the file copied beside each configuration
    and named in it. Returns the roster's path in ``folder``.
    """
    configs = list(configs)
    members = [
        sidecar_cli_here("roster", "member", "--config", str(config)).strip()
        for config in configs
    ]
    lines = folder / "members.jsonl"
    lines.write_text("\n".join(members) + "\n")
    roster = folder / "roster.json"
    sidecar_cli_here(
        "roster", "init", "--building", building, "--out", str(roster), str(lines)
    )
    text = roster.read_bytes()
    for config in configs:
        (config.parent / "roster.json").write_bytes(text)
        configure(config, {"roster": "roster.json"})
    return roster


class SidecarNode:
    """A node's files and, while it runs, its process.

    The node can be started again after it stopped (the same files and port).
    """

    def __init__(self, config: Path) -> None:
        self.config = config
        self.process: processes.Process | None = None
        node = tomllib.loads(config.read_text())["node"]
        self.token: str = node["api_token"]
        self.port = int(str(node["listen"]).rsplit(":", 1)[1])
        data = config.parent / str(node["data_dir"])
        self.db = data / "ledger.db"
        self.key_file = data / str(node["key_file"])
        self.log = config.parent / "sidecar.log"

    @property
    def url(self) -> str:
        """The local API's address (HTTP form, for aiohttp)."""
        return f"http://127.0.0.1:{self.port}{local_api.WS_PATH}"

    @property
    def ws_url(self) -> str:
        """The local API's address as Home Assistant is given it."""
        return f"ws://127.0.0.1:{self.port}{local_api.WS_PATH}"

    @property
    def headers(self) -> dict[str, str]:
        """The bearer token, as HTTP headers."""
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def running(self) -> SidecarNode:
        """The node itself, asserting that it runs."""
        assert self.process is not None, f"the node of {self.config} is not running"
        return self

    async def start(self, command: list[str] | None = None, within: float = 30) -> None:
        """Run ``python -m sidecar run`` (or ``command``) and wait for the ready line.

        The node's stderr (its log) goes to ``sidecar.log`` beside the configuration.
        """
        command = command or processes.module_command(
            "sidecar", "run", "--config", str(self.config)
        )
        self.process, ready = await processes.start(
            command, READY, within=within, log=self.log, what="the sidecar"
        )
        self.port = int(ready.group(1))

    async def stop(self, within: float = 30) -> int:
        """SIGTERM and wait; a node that does not stop in time is killed (an error)."""
        assert self.process is not None
        return await processes.stop(self.process, within, what="the sidecar")

    def kill(self) -> None:
        """Send SIGKILL (``kill -9``); wait on :attr:`process` for it to end."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGKILL)

    async def connect(
        self,
        session: aiohttp.ClientSession,
        *,
        hello: bool = True,
        subscribe: Iterable[str] = (),
    ) -> aiohttp.ClientWebSocketResponse:
        """A local API socket, greeted unless ``hello`` is False."""
        greeting = local_api.hello(subscribe=subscribe) if hello else None
        return await local_api.open_session(session, self.url, self.token, greeting)


async def start_sidecar(config: Path, within: float = 30) -> SidecarNode:
    """A node for ``config``, started."""
    node = SidecarNode(config)
    await node.start(within=within)
    return node
