"""Free TCP ports on 127.0.0.1 for processes started by benchmarks and tests."""

from __future__ import annotations

import random
import socket
from pathlib import Path

_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody uses now, below the ephemeral range.

    A port the kernel hands out for port 0 is also the source port of some outgoing
    connection sooner or later; with hundreds of mesh links opening, one of them
    can take it before the process that was given it binds it.
    """
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        ephemeral = int(text.split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral = 32768
    while True:
        port = random.randrange(20000, max(20001, ephemeral))
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
