"""The node's one HTTP port: the local API and the mesh behind the connection guard.

Both share one aiohttp application. The guard closes connections that never
authenticate, so that slow or idle strangers cannot take the file descriptors the
flat's Home Assistant and the members' links need.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Final

from aiohttp import web

from sidecar.api.server import LocalApi
from sidecar.config import Config
from sidecar.mesh.guard import (
    GUARD,
    ConnectionGuard,
    GuardedSite,
    GuardLimits,
    file_bound,
)
from sidecar.mesh.mesh import Mesh

SHUTDOWN_TIMEOUT_S: Final = 2.0
KEEPALIVE_S: Final = 15.0


class ListenError(Exception):
    """The node cannot listen where its configuration says (port taken, bad host)."""


async def listen(
    config: Config,
    api: LocalApi,
    mesh: Mesh,
    count_rejection: Callable[[str], None],
    routes: Iterable[Callable[[web.Application], None]] = (),
) -> tuple[web.AppRunner, int]:
    """Serve the local API and the mesh on the configured address; the runner, port.

    Raises :class:`ListenError` when the address cannot be taken.
    """
    app = web.Application(client_max_size=config.max_frame_bytes)
    api.add_routes(app)
    mesh.add_routes(app)
    for add_routes in routes:  # further endpoints of the local API
        add_routes(app)
    limits = GuardLimits(
        config.unauthenticated_timeout_s,
        config.max_unauthenticated_per_source,
        file_bound(config.max_unauthenticated),
    )
    guard = ConnectionGuard(limits, count_rejection)
    app[GUARD] = guard
    # Handlers of links whose peer vanished must not hold a stop for a minute;
    # an idle kept-alive connection (status readers) is closed after a while.
    runner = web.AppRunner(
        app,
        access_log=None,
        shutdown_timeout=SHUTDOWN_TIMEOUT_S,
        keepalive_timeout=KEEPALIVE_S,
    )
    await runner.setup()
    site = GuardedSite(runner, config.host, config.port, guard)
    try:
        await site.start()
    except OSError as err:
        await runner.cleanup()
        reason = os.strerror(err.errno) if err.errno else str(err)
        raise ListenError(
            f"cannot listen on {config.host}:{config.port} ({reason}); "
            "is another sidecar running, or is [node] listen wrong?"
        ) from err
    return runner, int(runner.addresses[0][1])  # the real port when 0 was asked
