"""ECHONET Lite frames (format 1, EHD 0x1081) and property maps, both ways.

The simulator has its own small codec rather than the integration's library, so a
mistake on one side shows up as a failing test instead of cancelling out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

EHD: Final = b"\x10\x81"

# Requests.
SETI: Final = 0x60
SETC: Final = 0x61
GET: Final = 0x62
INF_REQ: Final = 0x63
# Answers.
SET_RES: Final = 0x71
GET_RES: Final = 0x72
INF: Final = 0x73
# Answers when not every property could be served (the *_SNA services).
SETI_SNA: Final = 0x50
SETC_SNA: Final = 0x51
GET_SNA: Final = 0x52
INF_SNA: Final = 0x53

# Request ESV → (answer when all went well, answer when some did not).
ANSWERS: Final[dict[int, tuple[int | None, int]]] = {
    SETI: (None, SETI_SNA),
    SETC: (SET_RES, SETC_SNA),
    GET: (GET_RES, GET_SNA),
    INF_REQ: (INF, INF_SNA),
}

_HEADER_LEN: Final = 12


class FrameError(ValueError):
    """A datagram that is not a well-formed ECHONET Lite format-1 frame."""


type Eoj = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class Frame:
    """One ECHONET Lite message: transaction, objects, service and properties."""

    tid: int
    seoj: Eoj
    deoj: Eoj
    esv: int
    props: tuple[tuple[int, bytes], ...]

    def encode(self) -> bytes:
        """The frame as sent on the wire."""
        if not 0 <= self.tid <= 0xFFFF:
            raise FrameError(f"TID {self.tid} does not fit two bytes")
        out = bytearray(EHD)
        out += self.tid.to_bytes(2, "big")
        out += bytes(self.seoj) + bytes(self.deoj)
        out += bytes((self.esv, len(self.props)))
        for epc, edt in self.props:
            out += bytes((epc, len(edt))) + edt
        return bytes(out)


def decode(data: bytes) -> Frame:
    """Parse a datagram; ``FrameError`` for anything that is not a whole frame."""
    if len(data) < _HEADER_LEN:
        raise FrameError(f"{len(data)} bytes is shorter than a frame header")
    if data[:2] != EHD:
        raise FrameError(f"header {data[:2].hex()} is not ECHONET Lite format 1")
    props: list[tuple[int, bytes]] = []
    at = _HEADER_LEN
    for _ in range(data[11]):
        if at + 2 > len(data):
            raise FrameError("frame ends inside a property header")
        epc, pdc = data[at], data[at + 1]
        if at + 2 + pdc > len(data):
            raise FrameError(f"property 0x{epc:02X} runs past the end of the frame")
        props.append((epc, bytes(data[at + 2 : at + 2 + pdc])))
        at += 2 + pdc
    if at != len(data):
        raise FrameError(f"{len(data) - at} bytes after the last property")
    return Frame(
        tid=int.from_bytes(data[2:4], "big"),
        seoj=(data[4], data[5], data[6]),
        deoj=(data[7], data[8], data[9]),
        esv=data[10],
        props=tuple(props),
    )


def property_map(epcs: set[int]) -> bytes:
    """Encode a property map (EPC 0x9D/0x9E/0x9F).

    Fewer than 16 properties are listed; 16 or more are a 16-byte bitmap where byte
    ``n`` bit ``b`` stands for EPC ``0x80 + n + 0x10 * b``.
    """
    if len(epcs) < 16:
        return bytes((len(epcs), *sorted(epcs)))
    bitmap = bytearray(16)
    for epc in epcs:
        bitmap[epc & 0x0F] |= 1 << ((epc >> 4) - 8)
    return bytes((len(epcs),)) + bytes(bitmap)
