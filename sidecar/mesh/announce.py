"""Announcing the node on the local network (zeroconf), so installers need not type it.

Home Assistant finds ``_lvpp-ledger._tcp.local.`` services and offers to link the
flat's sidecar (PROTOCOL.md section 12.9). The announcement carries no secret: Home
Assistant still needs the API token.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from typing import Final

from zeroconf import InterfaceChoice, NonUniqueNameException, ServiceInfo
from zeroconf.asyncio import AsyncZeroconf

from sidecar import __version__

_LOGGER = logging.getLogger(__name__)
SERVICE_TYPE: Final = "_lvpp-ledger._tcp.local."
API_PATH: Final = "/api/v1/ws"


class Announcer:
    """The node's zeroconf registration while it runs."""

    def __init__(self) -> None:
        self._zeroconf: AsyncZeroconf | None = None
        self.info: ServiceInfo | None = None

    async def start(
        self,
        *,
        host: str,
        port: int,
        building: str,
        floor: str,
        flat: str,
        author: bytes,
        serial: str | None,
    ) -> None:
        """Register the service; a failure is logged, never fatal."""
        addresses = _addresses(host)
        if not addresses:
            _LOGGER.warning(
                "Not announcing on the network: listen address %s is not an IP", host
            )
            return
        interfaces: list[str] | InterfaceChoice = (
            InterfaceChoice.All if host in {"0.0.0.0", "::"} else [host]
        )
        self.info = ServiceInfo(
            SERVICE_TYPE,
            f"Local VPP {building} flat {flat}.{SERVICE_TYPE}",
            addresses=addresses,
            port=port,
            server=f"lvpp-{building}-{flat}.local.".replace("_", "-"),
            properties={
                "v": "1",
                "building": building,
                "floor": floor,
                "flat": flat,
                "author": author.hex(),
                "serial": serial or "",
                "path": API_PATH,
                "sidecar": __version__,
            },
        )
        try:
            self._zeroconf = AsyncZeroconf(interfaces=interfaces)
            await self._zeroconf.async_register_service(self.info)
        except (OSError, NonUniqueNameException) as err:
            _LOGGER.warning("Could not announce the node on the network: %s", err)
            await self.stop()
            return
        _LOGGER.info("Announced as %s on port %d", self.info.name, port)

    async def stop(self) -> None:
        """Withdraw the announcement."""
        if self._zeroconf is None:
            return
        zeroconf, self._zeroconf = self._zeroconf, None
        try:
            await zeroconf.async_unregister_all_services()
        finally:
            await zeroconf.async_close()


def _addresses(host: str) -> list[bytes]:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return []
    if address.is_unspecified:
        return [socket.inet_aton(_primary_ipv4())]
    return [address.packed]


def _primary_ipv4() -> str:
    """The address other machines reach this one at (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks a route
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"
