"""A flat simulator in its own process (``python -m simulator flat``), like a device."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from devkit.ports import free_port
from devkit.processes import ROOT


@dataclass(frozen=True)
class SimulatorPorts:
    """Where the simulator listens."""

    modbus: int
    control: int

    @property
    def control_url(self) -> str:
        """Base URL of its HTTP control API."""
        return f"http://127.0.0.1:{self.control}"


@contextmanager
def flat_simulator(*extra_args: str) -> Iterator[SimulatorPorts]:
    """Start ``python -m simulator flat`` and wait until its Modbus port answers."""
    ports = SimulatorPorts(free_port(), free_port())
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulator",
            "flat",
            "--port",
            str(ports.modbus),
            "--control-port",
            str(ports.control),
            *extra_args,
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", ports.modbus), 0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("the simulator did not start") from None
                time.sleep(0.1)
        yield ports
    finally:
        process.terminate()
        process.wait(10)
