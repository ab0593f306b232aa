"""ECHONET Lite nodes beside a running ``Simulator``: one per flat, same physics.

Typical use in a test::

    async with Simulator(config) as sim, EchonetNodes(sim, port=0) as nodes:
        nodes.port("101")            # the flat's UDP port on 127.0.0.1
        nodes.node("101").silent = True

A write settles the whole building at once, as a Modbus write does.
"""

from __future__ import annotations

from collections.abc import Iterable

from .echonet.node import EchonetNode
from .simulator import Simulator


class EchonetNodes:
    """The flats of ``sim`` (or those named) as ECHONET Lite nodes."""

    def __init__(
        self,
        sim: Simulator,
        *,
        flat_ids: Iterable[str] | None = None,
        port: int = 0,
    ) -> None:
        """One node per flat on ``sim.host``; ``port`` 0 takes free ports.

        A fixed ``port`` is the first flat's, the next flat's is one more, and so on.
        """
        self.sim = sim
        ids = list(flat_ids) if flat_ids is not None else list(sim.model.flats)
        building = sim.model
        self._nodes = {
            flat_id: EchonetNode(
                building.flats[flat_id],
                sim.host,
                port + index if port else 0,
                on_write=building.settle,
            )
            for index, flat_id in enumerate(ids)
        }

    @property
    def flat_ids(self) -> list[str]:
        """The flats served, in port order."""
        return list(self._nodes)

    def node(self, flat_id: str | None = None) -> EchonetNode:
        """Flat ``flat_id``'s node (the only one may go unnamed)."""
        if flat_id is None:
            (only,) = self._nodes.values()
            return only
        return self._nodes[flat_id]

    def port(self, flat_id: str | None = None) -> int:
        """Flat ``flat_id``'s UDP port."""
        return self.node(flat_id).port

    async def start(self) -> None:
        """Open every node's socket."""
        for node in self._nodes.values():
            await node.start()

    async def stop(self) -> None:
        """Close every node's socket."""
        for node in self._nodes.values():
            await node.stop()

    async def __aenter__(self) -> EchonetNodes:
        """Start; the nodes stop when the ``async with`` block ends."""
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        """Stop."""
        await self.stop()
