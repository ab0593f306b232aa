"""Waiting for something to become true, or for a server to answer."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import urllib.request
from collections.abc import Callable


class NotInTime(AssertionError):
    """What was waited for did not happen in time (a failed test, in a test)."""


async def until(
    condition: Callable[[], bool],
    seconds: float = 10,
    tick: Callable[[], None] | None = None,
    *,
    interval: float = 0.05,
) -> None:
    """Wait until ``condition()`` holds, calling ``tick()`` between looks.

    It looks ``seconds / interval`` times, ``interval`` apart: on a busy machine the
    wait lasts longer in real time rather than giving up early.
    """
    for _ in range(int(seconds / interval)):
        if condition():
            return
        if tick is not None:
            tick()
        await asyncio.sleep(interval)
    raise NotInTime("timed out waiting")


async def port_answers(
    port: int,
    within: float,
    *,
    alive: Callable[[], bool] | None = None,
    what: str = "the server",
) -> None:
    """Wait until something accepts TCP connections on 127.0.0.1:``port``.

    ``alive`` says whether the process that should listen still runs: once it has
    ended, waiting longer is pointless.
    """
    deadline = time.monotonic() + within
    while True:
        if alive is not None and not alive():
            raise NotInTime(f"{what} stopped before it listened on port {port}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise NotInTime(
                    f"{what}: nothing listens on port {port} after {within:.0f} s"
                ) from None
            await asyncio.sleep(0.1)
        else:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (and is not a zombie we reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def url_answers(
    url: str,
    within: float,
    *,
    alive: Callable[[], bool] | None = None,
    what: str = "the server",
) -> None:
    """Block until an HTTP ``url`` answers with a success, as a script waits."""
    deadline = time.monotonic() + within
    while True:
        if alive is not None and not alive():
            raise NotInTime(f"{what} stopped while starting")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise NotInTime(
                    f"{what} did not answer within {within:.0f} s"
                ) from None
            time.sleep(0.25)
