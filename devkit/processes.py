"""Start one of the project's programs as a process, wait until it is ready, stop it.

The programs say they are ready with one line on stdout (the sidecar: ``listening on
http://…``; the simulator: its ports). A process that does not say so in time, says
something else, or whose start is cancelled is killed: a failed start never leaves a
process behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import sys
from pathlib import Path
from typing import BinaryIO

Process = asyncio.subprocess.Process

# The source tree the processes run in: ``python -m sidecar`` there runs this tree's
# code even where the installed copy of the project is another one.
ROOT = Path(__file__).resolve().parent.parent


class StartFailed(AssertionError):
    """A program did not print its ready line."""


def module_command(module: str, *args: str) -> list[str]:
    """The command line of ``python -m module args…`` with this interpreter."""
    return [sys.executable, "-m", module, *args]


async def start(
    command: list[str],
    ready: re.Pattern[str],
    *,
    within: float = 30,
    log: Path | None = None,
    what: str = "the process",
) -> tuple[Process, re.Match[str]]:
    """Run ``command`` and wait for a stdout line matching ``ready``; both.

    stderr goes to ``log`` (appended) if given, else it is discarded. stdout stays a
    pipe: the programs print only their ready line there.
    """
    if log is None:
        process = await _spawn(command, asyncio.subprocess.DEVNULL)
    else:
        with log.open("ab") as handle:
            process = await _spawn(command, handle)
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), within)).decode()
        match = ready.search(line)
        if match is None:
            raise StartFailed(f"{what} did not start: {line!r}")
        return process, match
    except BaseException:
        # A timeout, a bad ready line or a cancelled start: never leave it running.
        with contextlib.suppress(ProcessLookupError):  # it may have exited already
            process.kill()
        await process.wait()
        raise


async def _spawn(command: list[str], stderr: int | BinaryIO) -> Process:
    return await asyncio.create_subprocess_exec(
        *command,
        cwd=ROOT,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=stderr,
    )


async def spawn(command: list[str], log: Path) -> Process:
    """Run ``command`` with stdout and stderr appended to ``log``; do not wait.

    For a program whose readiness is seen otherwise (a port that answers).
    """
    with log.open("ab") as handle:
        return await asyncio.create_subprocess_exec(
            *command,
            cwd=ROOT,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=handle,
            stderr=handle,
        )


async def stop(
    process: asyncio.subprocess.Process,
    within: float = 30,
    *,
    what: str = "the process",
) -> int:
    """SIGTERM and wait for the exit code.

    A process that does not stop within ``within`` s is killed, and that is an error
    (:class:`StopFailed`): a program must stop cleanly when asked.
    """
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
    try:
        return await asyncio.wait_for(process.wait(), within)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()  # never leave a process behind
        await process.wait()
        raise StopFailed(f"{what} did not stop within {within:.0f} s") from None


class StopFailed(AssertionError):
    """A program did not stop within its time after SIGTERM (it was killed)."""


async def kill(process: asyncio.subprocess.Process) -> None:
    """SIGKILL (kill -9) and wait until it is gone."""
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    await process.wait()
