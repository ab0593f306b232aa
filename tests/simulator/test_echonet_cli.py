"""``python -m simulator flat --protocol echonet`` as a real process over UDP."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

from simulator.echonet import frame as f
from tests.simulator.echonet_probe import EchonetProbe

ROOT = Path(__file__).resolve().parents[2]
_READY = re.compile(r"ECHONET Lite on UDP [\d.]+:(\d+); control API on http")


async def test_the_flat_process_answers_echonet_lite_with_the_control_api() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "simulator",
        "flat",
        "--port",
        "0",
        "--control-port",
        "0",
        "--manual",
        "--protocol",
        "echonet",
        "--echonet-port",
        "0",
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        ready = _READY.search(line)
        assert ready, line
        async with EchonetProbe(int(ready[1])) as probe:
            answer = await probe.ask((0x0E, 0xF0, 0x01), f.GET, [(0xD6, b"")])
            assert answer is not None
            assert answer.esv == f.GET_RES
            assert dict(answer.props)[0xD6][0] == 4
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()
    assert process.returncode == 0
