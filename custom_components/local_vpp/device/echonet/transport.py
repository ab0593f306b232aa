"""Requests to one ECHONET Lite node over UDP, matched to their answers.

Frames are built and parsed with ``pychonet`` (the library the ECHONET Lite Home
Assistant integration uses). Its request client is not used: it always sends to
port 3610, waits for answers by polling every 0.1 s for up to 20 s, and cannot be
given a node on another port, which tests on 127.0.0.1 and installers behind a
port-forwarding gateway need. Here each request waits on a future that the
matching answer completes: same TID, from the object that was asked, from the
node's address. Anything else is counted and dropped.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from typing import Any, Final

from pychonet.lib.functions import (
    DecodeEchonetMsgError,
    buildEchonetMsg,
    decodeEchonetMsg,
)

from ..errors import CannotConnectError, DeviceRejectedError

ECHONET_PORT: Final = 3610
MULTICAST_GROUP: Final = "224.0.23.0"

GET: Final = 0x62
SETC: Final = 0x61
GET_RES: Final = 0x72
SET_RES: Final = 0x71
GET_SNA: Final = 0x52
SETC_SNA: Final = 0x51

type Eoj = tuple[int, int, int]
NODE_PROFILE: Final[Eoj] = (0x0E, 0xF0, 0x01)


class EchonetRefusedError(DeviceRejectedError):
    """The node answered with a *_SNA service: some properties were refused."""

    def __init__(self, eoj: Eoj, refused: list[int]) -> None:
        """Name the object and the properties it would not serve or take."""
        self.refused = refused
        epcs = ", ".join(f"0x{epc:02X}" for epc in refused)
        super().__init__(f"object {_eoj_text(eoj)} refused {epcs}")


@dataclass(slots=True)
class LinkCounters:
    """What the link saw that it could not use, for diagnostics."""

    requests: int = 0
    timeouts: int = 0
    bad_frames: int = 0
    unmatched: int = 0


def _eoj_text(eoj: Eoj) -> str:
    return "".join(f"{part:02X}" for part in eoj)


def parse_frame(data: bytes) -> dict[str, Any] | None:
    """The decoded frame, or ``None`` when it is not a whole ECHONET Lite frame."""
    try:
        frame: dict[str, Any] = decodeEchonetMsg(data)
    except (DecodeEchonetMsgError, IndexError):
        return None
    # The decoder does not check that every property is complete.
    size = 12 + sum(2 + len(opc["EDT"]) for opc in frame["OPC"])
    if size != len(data) or any(len(o["EDT"]) != o["PDC"] for o in frame["OPC"]):
        return None
    return frame


class EchonetLink(asyncio.DatagramProtocol):
    """One UDP socket to one node; one request in flight at a time.

    Real nodes answer to port 3610 whatever port a request came from, so a
    controller on a home network listens on 3610 (``local_port``); tests and a
    controller sharing its host with another ECHONET program use 0 (any port) and a
    node that answers to the sender's port, as the simulator does.
    """

    def __init__(
        self,
        host: str,
        port: int = ECHONET_PORT,
        *,
        local_port: int = 0,
        timeout: float = 2.0,
        attempts: int = 2,
    ) -> None:
        """Talk to the node at ``host``:``port``."""
        self.host = host
        self.port = port
        self.local_port = local_port
        self.timeout = timeout
        self.attempts = attempts
        self.counters = LinkCounters()
        self._transport: asyncio.DatagramTransport | None = None
        self._pending: dict[int, tuple[Eoj, asyncio.Future[dict[str, Any]]]] = {}
        self._tid = 0
        self._address = host
        self._lock = asyncio.Lock()

    async def _ensure_open(self) -> asyncio.DatagramTransport:
        if self._transport is None or self._transport.is_closing():
            loop = asyncio.get_running_loop()
            # Answers come from an address, not a name: match them against it.
            try:
                infos = await loop.getaddrinfo(
                    self.host, self.port, family=socket.AF_INET, type=socket.SOCK_DGRAM
                )
            except OSError as err:
                raise CannotConnectError(f"cannot resolve {self.host}: {err}") from err
            self._address = str(infos[0][4][0])
            try:
                await loop.create_datagram_endpoint(
                    lambda: self, local_addr=("0.0.0.0", self.local_port)
                )
            except OSError as err:
                raise CannotConnectError(
                    f"cannot open UDP port {self.local_port} for ECHONET Lite: {err}"
                ) from err
        assert self._transport is not None
        return self._transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the socket asyncio opened for us."""
        assert isinstance(transport, asyncio.DatagramTransport)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the socket; the next request opens another."""
        self._transport = None

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        """Complete the request this answer belongs to, if any."""
        frame = parse_frame(data)
        if frame is None:
            self.counters.bad_frames += 1
            return
        waiting = self._pending.get(frame["TID"])
        seoj = (frame["SEOJGC"], frame["SEOJCC"], frame["SEOJCI"])
        if waiting is None or addr[0] != self._address or seoj != waiting[0]:
            # A late answer, someone else's, or one from the wrong object.
            self.counters.unmatched += 1
            return
        if not waiting[1].done():
            waiting[1].set_result(frame)

    async def get(self, eoj: Eoj, epcs: list[int]) -> dict[int, bytes | None]:
        """Read ``epcs`` of object ``eoj``; unserved ones are None."""
        frame = await self._request(eoj, GET, [{"EPC": epc} for epc in epcs])
        if frame["ESV"] not in (GET_RES, GET_SNA):
            raise DeviceRejectedError(f"unexpected answer 0x{frame['ESV']:02X}")
        values: dict[int, bytes | None] = dict.fromkeys(epcs)
        for opc in frame["OPC"]:
            if opc["EPC"] in values and opc["PDC"] > 0:
                values[opc["EPC"]] = bytes(opc["EDT"])
        return values

    async def set(self, eoj: Eoj, values: list[tuple[int, bytes]]) -> None:
        """Write ``values`` to object ``eoj`` and wait for the node to acknowledge."""
        opc = [
            {"EPC": epc, "PDC": len(edt), "EDT": int.from_bytes(edt, "big")}
            for epc, edt in values
        ]
        frame = await self._request(eoj, SETC, opc)
        if frame["ESV"] == SET_RES:
            return
        refused = [o["EPC"] for o in frame["OPC"] if o["PDC"] > 0]
        raise EchonetRefusedError(eoj, refused or [epc for epc, _ in values])

    async def _request(
        self, eoj: Eoj, esv: int, opc: list[dict[str, int]]
    ) -> dict[str, Any]:
        async with self._lock:
            transport = await self._ensure_open()
            loop = asyncio.get_running_loop()
            for _ in range(self.attempts):
                self._tid = self._tid % 0xFFFF + 1
                tid = self._tid
                payload = bytes(
                    buildEchonetMsg(
                        {
                            "TID": tid,
                            "DEOJGC": eoj[0],
                            "DEOJCC": eoj[1],
                            "DEOJCI": eoj[2],
                            "ESV": esv,
                            "OPC": opc,
                        }
                    )
                )
                future: asyncio.Future[dict[str, Any]] = loop.create_future()
                self._pending[tid] = (eoj, future)
                self.counters.requests += 1
                try:
                    transport.sendto(payload, (self._address, self.port))
                    return await asyncio.wait_for(future, self.timeout)
                except TimeoutError:
                    self.counters.timeouts += 1
                finally:
                    del self._pending[tid]
            raise CannotConnectError(
                f"ECHONET Lite node {self.host}:{self.port} did not answer"
                f" object {_eoj_text(eoj)} within {self.timeout:g} s"
            )

    def close(self) -> None:
        """Close the socket; a later request opens a new one."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None
