"""Ways to hurt a sidecar: a slow fsync, a small disk, a stream of samples, a census.

The slow disk is a tiny ``LD_PRELOAD`` library compiled with the machine's C compiler
into the test's folder: it sleeps before every ``pwrite``, ``fsync`` and ``fdatasync``.
Slowing the sync alone would not do for kill -9: SQLite has written a transaction's
pages, commit mark included, before it syncs, and what a killed process wrote survives
it; so the writes are slowed too, and a kill lands before a commit's mark often.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from devkit.node_db import read_rows
from devkit.sidecar_node import SidecarNode

SHIM_SOURCE = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sys/types.h>
#include <unistd.h>
#include <stdlib.h>
#include <time.h>

static void pause_a_while(void) {
    const char *text = getenv("SLOW_FSYNC_MS");
    long ms = text ? atol(text) : 20;
    struct timespec wait = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&wait, NULL);
}

ssize_t pwrite(int fd, const void *data, size_t count, off_t offset) {
    static ssize_t (*real)(int, const void *, size_t, off_t);
    if (!real) real = dlsym(RTLD_NEXT, "pwrite");
    pause_a_while();
    return real(fd, data, count, offset);
}

ssize_t pwrite64(int fd, const void *data, size_t count, off64_t offset) {
    static ssize_t (*real)(int, const void *, size_t, off64_t);
    if (!real) real = dlsym(RTLD_NEXT, "pwrite64");
    pause_a_while();
    return real(fd, data, count, offset);
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    pause_a_while();
    return real(fd);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    pause_a_while();
    return real(fd);
}
"""


def slow_disk_shim(folder: Path) -> Path:
    """Compile the slow-disk library into ``folder``; skip if there is no compiler."""
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        pytest.skip("no C compiler (cc, gcc or clang) to build the slow-disk shim")
    source = folder / "slow_disk.c"
    source.write_text(SHIM_SOURCE)
    library = folder / "slow_disk.so"
    subprocess.run(
        [compiler, "-shared", "-fPIC", "-O2", "-o", str(library), str(source), "-ldl"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return library


def run_command(node: SidecarNode, shim: Path | None, slow_ms: int = 20) -> list[str]:
    """``python -m sidecar run`` for ``node``, with the shim preloaded if given."""
    command = [sys.executable, "-m", "sidecar", "run", "--config", str(node.config)]
    if shim is None:
        return command
    return ["env", f"LD_PRELOAD={shim}", f"SLOW_FSYNC_MS={slow_ms}", *command]


@dataclass
class Stream:
    """Samples sent as fast as a node takes them; what it acknowledged and refused."""

    ts: int
    counter: float
    step_ms: int = 1000
    acked: dict[int, str] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    window: int = 64
    statuses: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    ws: aiohttp.ClientWebSocketResponse | None = None

    async def status(self, within: float = 10) -> dict[str, Any]:
        """The node's ``status``, asked on the stream's own socket (one per node)."""
        assert self.ws is not None
        await self.ws.send_json({"type": "status"})
        return await asyncio.wait_for(self.statuses.get(), within)

    async def run(
        self, ws: aiohttp.ClientWebSocketResponse, first: asyncio.Event
    ) -> None:
        """Send and receive until cancelled or the socket closes."""
        self.ws = ws
        slots = asyncio.Semaphore(self.window)

        async def send() -> None:
            while True:
                await slots.acquire()
                self.ts += self.step_ms
                self.counter += 1.5
                await ws.send_json(
                    {
                        "type": "sample",
                        "ts": self.ts,
                        "pv_wh": self.counter,
                        "pv_w": 5400,
                    }
                )

        async def receive() -> None:
            async for message in ws:
                reply: dict[str, Any] = message.json()
                if reply.get("type") in ("status", "mesh"):
                    if reply["type"] == "status":
                        self.statuses.put_nowait(reply)
                    continue
                if reply.get("type") == "entry":
                    self.acked[int(reply["seq"])] = str(reply["id"])
                    first.set()
                else:
                    self.errors[str(reply.get("reason") or reply.get("type"))] += 1
                    # Refusals come fast; the samples' clock must not run ahead of
                    # the node's meanwhile (they would be refused as in_future).
                    await asyncio.sleep(0.01)
                slots.release()

        sender = asyncio.create_task(send())
        try:
            await receive()
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await sender


def own_entries(db: Path, author: bytes) -> dict[int, str]:
    """``{seq: id}`` of one author's entries in a database."""
    return {
        int(seq): bytes(eid).hex()
        for seq, eid in read_rows(
            db,
            "SELECT e.seq, e.id FROM entries e JOIN authors a ON a.no = e.author "
            "WHERE a.id = ?",
            (author,),
        )
    }


def conflicts_against(db: Path, author: bytes) -> int:
    """How many equivocation records a database holds against ``author``."""
    rows = read_rows(
        db,
        "SELECT count(*) FROM conflicts c JOIN authors a ON a.no = c.author "
        "WHERE a.id = ?",
        (author,),
    )
    return int(rows[0][0])


def duplicated_flows(db: Path, author: bytes) -> int:
    """Flow entries of ``author`` that cover an interval another one covers too."""
    rows = read_rows(
        db,
        "SELECT count(*) - "
        "count(DISTINCT json_extract(CAST(e.body AS TEXT), '$.start')) "
        "FROM entries e JOIN authors a ON a.no = e.author "
        "WHERE a.id = ? AND e.kind = 'flow'",
        (author,),
    )
    return int(rows[0][0])


def _mount(*args: str) -> bool:
    mount = shutil.which("mount")
    if mount is None:
        return False
    return (
        subprocess.run([mount, *args], capture_output=True, check=False).returncode == 0
    )


def _unmount(folder: Path) -> None:
    subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


@contextlib.contextmanager
def on_small_tmpfs(folder: Path, size: str) -> Iterator[None]:
    """Put ``folder`` (and what it holds) on a tmpfs of ``size`` for a while.

    A real full disk, as an unprivileged user cannot make one: skips the test where
    mounting is not allowed.
    """
    saved = folder.with_name(folder.name + ".saved")
    shutil.copytree(folder, saved)
    if not _mount("-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(folder)):
        shutil.rmtree(saved)
        pytest.skip("mounting a small tmpfs is not permitted here")
    try:
        shutil.copytree(saved, folder, dirs_exist_ok=True)
        yield
    finally:
        _unmount(folder)
        shutil.rmtree(saved)


def fill(folder: Path) -> Path:
    """Fill the file system of ``folder`` to the last block; the filler file."""
    filler = folder / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 1 << 16, 1 << 12, 1 << 9):
            block = bytes(size)
            with contextlib.suppress(OSError):
                while True:
                    os.write(descriptor, block)
    finally:
        os.close(descriptor)
    return filler


def writable_again(folder: Path) -> None:
    """Let a :func:`read_only` folder be written again (the mount stays)."""
    assert _mount("-o", "remount,bind,rw", str(folder))


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """Make ``folder`` a read-only bind mount of itself until the block ends.

    Files opened before stay writable through their old mount: so the node is
    started on it, as after a restart onto a store that went read-only.
    """
    if not _mount("--bind", str(folder), str(folder)):
        pytest.skip("bind mounts are not permitted here")
    try:
        if not _mount("-o", "remount,bind,ro", str(folder)):
            pytest.skip("remounting read-only is not permitted here")
        yield
    finally:
        _unmount(folder)
