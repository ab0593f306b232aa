"""One flat as an ECHONET Lite node on UDP: Get, SetC, SetI and INF_REQ.

Answers go back to the sender's address and port (a real controller listens on
3610 and sends from it, so that is the same thing there). A property the object
does not serve, or a value it refuses, makes the whole answer the ``*_SNA`` service
of the request, with every property listed as the specification says. Faults for
tests: ``silent`` (no answers), ``late_s`` (answers that late), ``wrong_tid`` and
``wrong_eoj`` (answers that do not match the request).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ..model.flat import Flat
from .frame import (
    ANSWERS,
    GET,
    INF_REQ,
    SETC,
    SETI,
    Frame,
    FrameError,
    decode,
)
from .objects import EchonetObject, flat_objects

_LOGGER = logging.getLogger(__name__)


class EchonetNode(asyncio.DatagramProtocol):
    """A flat's node profile and devices behind one UDP socket."""

    def __init__(
        self,
        flat: Flat,
        host: str = "127.0.0.1",
        port: int = 3610,
        on_write: Callable[[], None] | None = None,
    ) -> None:
        """Serve ``flat`` on ``host``:``port`` (0: a free port) once started.

        ``on_write`` runs after an accepted write, so the owner can settle the
        physics into the new mode at once.
        """
        self.flat = flat
        self.host = host
        self._port = port
        self._on_write = on_write
        self.objects = {obj.eoj: obj for obj in flat_objects(flat)}
        self.silent = False
        self.late_s = 0.0
        self.wrong_tid = False
        self.wrong_eoj = False
        self.bad_frames = 0
        self.requests = 0
        # Every accepted write in order, as (object, EPC): tests check the order.
        self.written: list[tuple[tuple[int, int, int], int]] = []
        self._transport: asyncio.DatagramTransport | None = None
        self._late: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The UDP port (the real one once started)."""
        if self._transport is None:
            return self._port
        return int(self._transport.get_extra_info("sockname")[1])

    def object(self, class_code: int) -> EchonetObject:
        """The object of class ``0xXXYY`` (e.g. 0x027D), instance 1."""
        return self.objects[(class_code >> 8, class_code & 0xFF, 0x01)]

    async def start(self) -> None:
        """Open the socket."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: self, local_addr=(self.host, self._port)
        )
        self._transport = transport

    async def stop(self) -> None:
        """Close the socket and drop answers still waiting to go."""
        for task in self._late:
            task.cancel()
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport (asyncio calls this once bound)."""
        assert isinstance(transport, asyncio.DatagramTransport)
        self._transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str | bytes, int]) -> None:
        """Answer one request."""
        try:
            request = decode(data)
        except FrameError as err:
            self.bad_frames += 1
            _LOGGER.debug("Dropped a bad frame from %s: %s", addr, err)
            return
        self.requests += 1
        if self.silent:
            return  # as if the request never arrived
        answer = self.answer(request)
        if answer is None:
            return
        if self.late_s > 0:
            task = asyncio.get_running_loop().create_task(
                self._send_later(answer, addr)
            )
            self._late.add(task)
            task.add_done_callback(self._late.discard)
        else:
            self._send(answer, addr)

    def answer(self, request: Frame) -> Frame | None:
        """The answer to ``request``, or ``None`` for a request that gets none."""
        target = self._target(request.deoj)
        if target is None or request.esv not in ANSWERS:
            return None
        ok_esv, sna_esv = ANSWERS[request.esv]
        props: list[tuple[int, bytes]] = []
        all_ok = True
        wrote = False
        for epc, edt in request.props:
            if request.esv in (GET, INF_REQ):
                value = target.get(epc)
                all_ok &= value is not None
                props.append((epc, value or b""))
            elif request.esv in (SETC, SETI):
                accepted = target.set(epc, edt)
                if accepted:
                    self.written.append((target.eoj, epc))
                wrote |= accepted
                all_ok &= accepted
                # An accepted property is answered empty, a refused one echoed.
                props.append((epc, b"" if accepted else edt))
        if wrote and self._on_write is not None:
            self._on_write()
        esv = ok_esv if all_ok else sna_esv
        if esv is None:
            return None
        seoj = target.eoj
        if self.wrong_eoj:
            seoj = (seoj[0], seoj[1], (seoj[2] % 0x7F) + 1)
        tid = (request.tid + 1) & 0xFFFF if self.wrong_tid else request.tid
        return Frame(tid, seoj, request.seoj, esv, tuple(props))

    def _target(self, deoj: tuple[int, int, int]) -> EchonetObject | None:
        if deoj in self.objects:
            return self.objects[deoj]
        # Instance 0 addresses every instance of a class; the node has one of each.
        if deoj[2] == 0:
            return self.objects.get((deoj[0], deoj[1], 0x01))
        return None

    def _send(self, answer: Frame, addr: tuple[str | bytes, int]) -> None:
        if self._transport is not None:
            self._transport.sendto(answer.encode(), addr)

    async def _send_later(self, answer: Frame, addr: tuple[str | bytes, int]) -> None:
        await asyncio.sleep(self.late_s)
        self._send(answer, addr)
