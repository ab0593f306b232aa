"""A simulated flat that speaks ECHONET Lite, for the Home Assistant tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from custom_components.local_vpp.families import (
    CONF_ECHONET_LOCAL_PORT,
    CONF_FAMILY,
    CONF_HOST,
    CONF_LIVING_ROOM_CHANNEL,
    CONF_PORT,
    FAMILY_ECHONET,
)
from simulator.echonet_nodes import EchonetNodes
from simulator.model.config import FlatConfig
from simulator.simulator import Simulator
from simulator.threaded import FlatThread, run_flat_in_thread

# A simulated flat and its ECHONET Lite nodes.
type EchonetFlat = tuple[FlatThread, EchonetNodes]


@contextmanager
def echonet_flat_in_thread(**config: Any) -> Iterator[EchonetFlat]:
    """Flat 101 at midday after a night on battery, as an ECHONET Lite node.

    Its power conditioner's backup output takes the living room by itself in an
    outage, as ECHONET Lite ones do. ``config`` changes its FlatConfig.
    """
    handle = run_flat_in_thread(
        FlatConfig(
            port=0,
            manual_clock=True,
            start=datetime(2026, 6, 21, 4, 0),
            backup_output_auto=True,
            **config,
        )
    )
    handle.advance(8 * 3600, max_step_s=10)

    async def start(sim: Simulator) -> EchonetNodes:
        nodes = EchonetNodes(sim)
        await nodes.start()
        return nodes

    try:
        nodes = handle.call_async(start)
    except BaseException:
        handle.close()
        raise
    try:
        yield handle, nodes
    finally:
        handle.call_async(lambda _: nodes.stop())
        handle.close()


def echonet_entry_data(nodes: EchonetNodes) -> dict[str, Any]:
    """Config entry data for the node; answers come back to any free port."""
    return {
        CONF_FAMILY: FAMILY_ECHONET,
        CONF_HOST: "127.0.0.1",
        CONF_PORT: nodes.port(),
        CONF_ECHONET_LOCAL_PORT: 0,
        CONF_LIVING_ROOM_CHANNEL: 1,
    }
