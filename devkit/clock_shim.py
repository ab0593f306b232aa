"""Move one process's wall clock while it runs: an ``LD_PRELOAD`` shim, built with cc.

The shim offsets ``CLOCK_REALTIME`` (through ``clock_gettime``, ``gettimeofday`` and
``time``) by a number of milliseconds read from a file; the monotonic clocks are left
alone, as a real clock step leaves them. The test rewrites the file and the process
sees the jump within :data:`REREAD_MS`. Only the process started with
:meth:`ClockShim.environment` is affected, so one node of a building can have its
clock jumped while its peers keep true time. Needs a C compiler and glibc (Linux).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REREAD_MS = 50  # how often the shim looks at its offset file

_SOURCE = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

typedef int (*clock_fn)(clockid_t, struct timespec *);
static clock_fn real_clock_gettime;
static long long offset_ms, next_read_ns;

static void load(void) {
    if (!real_clock_gettime)
        real_clock_gettime = (clock_fn)dlsym(RTLD_NEXT, "clock_gettime");
    struct timespec mono;
    real_clock_gettime(CLOCK_MONOTONIC, &mono);
    long long now = mono.tv_sec * 1000000000LL + mono.tv_nsec;
    if (now < __atomic_load_n(&next_read_ns, __ATOMIC_RELAXED))
        return;
    __atomic_store_n(&next_read_ns, now + REREAD_NS, __ATOMIC_RELAXED);
    const char *path = getenv("CLOCK_SHIM_FILE");
    FILE *file = path ? fopen(path, "r") : NULL;
    long long value;
    if (file) {
        if (fscanf(file, "%lld", &value) == 1)
            __atomic_store_n(&offset_ms, value, __ATOMIC_RELAXED);
        fclose(file);
    }
}

static void shift(struct timespec *ts) {
    long long ms = __atomic_load_n(&offset_ms, __ATOMIC_RELAXED);
    long long ns = ts->tv_nsec + ms * 1000000LL;
    long long sec = ns / 1000000000LL;
    ns %= 1000000000LL;
    if (ns < 0) { ns += 1000000000LL; sec -= 1; }
    ts->tv_sec += sec;
    ts->tv_nsec = ns;
}

int clock_gettime(clockid_t id, struct timespec *ts) {
    load();
    int result = real_clock_gettime(id, ts);
    if (result == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
        shift(ts);
    return result;
}

int gettimeofday(struct timeval *tv, void *tz) {
    struct timespec ts;
    (void)tz;
    int result = clock_gettime(CLOCK_REALTIME, &ts);
    if (result == 0 && tv) {
        tv->tv_sec = ts.tv_sec;
        tv->tv_usec = ts.tv_nsec / 1000;
    }
    return result;
}

time_t time(time_t *out) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (out)
        *out = ts.tv_sec;
    return ts.tv_sec;
}
"""


class ShimUnavailable(RuntimeError):
    """The shim cannot be built here (no C compiler, or not Linux)."""


def build(folder: Path) -> Path:
    """Compile the shim into ``folder``; the shared library's path."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None or not sys.platform.startswith("linux"):
        raise ShimUnavailable("the clock shim needs a C compiler on Linux")
    source = folder / "clock_shim.c"
    source.write_text(_SOURCE)
    library = folder / "clock_shim.so"
    subprocess.run(
        [
            compiler,
            "-shared",
            "-fPIC",
            "-O2",
            f"-DREREAD_NS={REREAD_MS * 1_000_000}LL",
            "-o",
            str(library),
            str(source),
            "-ldl",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return library


class ClockShim:
    """One process's clock offset: the file it reads and the command that loads it."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.library = build(folder)
        self.file = folder / "clock_offset_ms"
        self.set(0)

    def set(self, offset_ms: int) -> None:
        """Jump the clock to true time plus ``offset_ms`` (seen within REREAD_MS)."""
        temporary = self.file.with_suffix(".tmp")
        temporary.write_text(f"{offset_ms}\n")
        os.replace(temporary, self.file)

    def command(self, command: list[str]) -> list[str]:
        """``command`` run with the shim loaded (through ``env``)."""
        return [
            "env",
            f"LD_PRELOAD={self.library}",
            f"CLOCK_SHIM_FILE={self.file}",
            *command,
        ]
