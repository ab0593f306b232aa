"""A plain UDP client for the simulator's ECHONET Lite nodes, with its own codec."""

from __future__ import annotations

import asyncio

from simulator.echonet.frame import Eoj, Frame, decode

CONTROLLER: Eoj = (0x05, 0xFF, 0x01)


class _Collector(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.frames: asyncio.Queue[Frame] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str | bytes, int]) -> None:
        self.frames.put_nowait(decode(data))


class EchonetProbe:
    """Send one frame, wait for the answer (or for silence)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._tid = 0
        self._transport: asyncio.DatagramTransport | None = None
        self._collector = _Collector()

    async def __aenter__(self) -> EchonetProbe:
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: self._collector, local_addr=("127.0.0.1", 0)
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._transport is not None
        self._transport.close()

    @property
    def tid(self) -> int:
        """The TID of the last request sent."""
        return self._tid

    def send_raw(self, data: bytes) -> None:
        assert self._transport is not None
        self._transport.sendto(data, ("127.0.0.1", self.port))

    async def ask(
        self,
        deoj: Eoj,
        esv: int,
        props: list[tuple[int, bytes]],
        *,
        wait_s: float = 2.0,
    ) -> Frame | None:
        """The answer, or ``None`` when none came within ``wait_s``."""
        self._tid += 1
        frame = Frame(self._tid, CONTROLLER, deoj, esv, tuple(props))
        self.send_raw(frame.encode())
        try:
            return await asyncio.wait_for(self._collector.frames.get(), wait_s)
        except TimeoutError:
            return None
