"""Find ECHONET Lite nodes on the LAN: one multicast Get of the instance list.

Every node answers from its own address, so the answers name the hosts. Many home
networks drop multicast (Wi-Fi isolation, IGMP snooping, mesh routers): an empty
result is normal, and the installer types the address instead.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from pychonet.lib.functions import buildEchonetMsg

from .properties import INSTANCE_LIST, STORAGE_BATTERY, instance_list
from .transport import ECHONET_PORT, GET, GET_RES, MULTICAST_GROUP, parse_frame

# Node profile, every instance: the address a search uses.
_ANY_NODE_PROFILE: Final = (0x0E, 0xF0, 0x00)


class _Answers(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.hosts: dict[str, bool] = {}

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        frame = parse_frame(data)
        if frame is None or frame["ESV"] != GET_RES:
            return
        if (frame["SEOJGC"], frame["SEOJCC"]) != (0x0E, 0xF0):
            return
        for opc in frame["OPC"]:
            if opc["EPC"] == INSTANCE_LIST:
                eojs = instance_list(bytes(opc["EDT"]))
                self.hosts[str(addr[0])] = STORAGE_BATTERY in eojs


async def async_search(
    target: tuple[str, int] = (MULTICAST_GROUP, ECHONET_PORT),
    *,
    local_port: int = ECHONET_PORT,
    wait_s: float = 2.0,
) -> dict[str, bool]:
    """Hosts that answered within ``wait_s``, each with whether it has a battery.

    ``target`` is the multicast group, or one address to ask a single node.
    Raises ``OSError`` when the socket cannot be opened (port taken).
    """
    loop = asyncio.get_running_loop()
    answers = _Answers()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: answers, local_addr=("0.0.0.0", local_port)
    )
    try:
        request = buildEchonetMsg(
            {
                "TID": 1,
                "DEOJGC": _ANY_NODE_PROFILE[0],
                "DEOJCC": _ANY_NODE_PROFILE[1],
                "DEOJCI": _ANY_NODE_PROFILE[2],
                "ESV": GET,
                "OPC": [{"EPC": INSTANCE_LIST}],
            }
        )
        transport.sendto(bytes(request), target)
        await asyncio.sleep(wait_s)
    finally:
        transport.close()
    return answers.hosts
