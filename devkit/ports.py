"""Free TCP ports on 127.0.0.1 for the processes that devkit's users start."""

from __future__ import annotations

import os
import random
import socket
from contextlib import ExitStack
from pathlib import Path

_HANDED_OUT: set[int] = set()
_LOWEST = 20000


def _ephemeral_start() -> int:
    """The first port of the kernel's ephemeral range (32768 if it cannot be read)."""
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        return int(text.split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _all_free(ports: range) -> bool:
    """Whether every port in ``ports`` can be bound on 127.0.0.1 now, all at once."""
    if any(port in _HANDED_OUT for port in ports):
        return False
    with ExitStack() as stack:
        for port in ports:
            sock = stack.enter_context(socket.socket())
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody uses now, below the ephemeral range.

    A port the kernel hands out for port 0 is also the source port of some outgoing
    connection sooner or later; with hundreds of mesh links opening, one of them
    can take it before the process that was given it binds it.
    """
    return free_port_block(1)


def _worker_share(lowest: int, ceiling: int) -> tuple[int, int]:
    """The slice of the ports for this test worker, when tests run in parallel.

    Each worker process remembers only its own ports; slices keep two workers
    from handing out the same port in the moment before its process binds it.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if not worker.startswith("gw") or workers < 2:
        return lowest, ceiling
    index = int(worker[2:]) % workers
    width = (ceiling - lowest) // workers
    return lowest + index * width, lowest + (index + 1) * width


def free_port_block(count: int) -> int:
    """The first of ``count`` consecutive free TCP ports on 127.0.0.1.

    The whole block lies below the kernel's ephemeral range, so
    no outgoing connection takes one of its ports as its source port before the
    process it is meant for binds it (where the range leaves no room below it, any
    block from port 20000 up will do). The ports are checked, not reserved; this
    process never hands out the same port twice.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    ceiling = _ephemeral_start() - count + 1  # the block ends below the range
    if ceiling <= _LOWEST:
        ceiling = 65536 - count + 1
    lowest, ceiling = _worker_share(_LOWEST, ceiling)
    for _ in range(1000):
        base = random.randrange(lowest, ceiling)
        ports = range(base, base + count)
        if _all_free(ports):
            _HANDED_OUT.update(ports)
            return base
    raise OSError(f"found no block of {count} free ports")


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that nobody uses now (checked, not reserved)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
