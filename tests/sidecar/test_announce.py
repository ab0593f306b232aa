"""A node with ``announce = true`` can be found on the network, token not included."""

from __future__ import annotations

import asyncio
from pathlib import Path

from zeroconf import ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from sidecar.mesh.announce import SERVICE_TYPE
from tests.sidecar.mesh_support import Building


async def test_an_announcing_node_is_found_with_its_flat_and_address(
    tmp_path: Path,
) -> None:
    async with Building(tmp_path, 1) as building:
        (flat,) = building.flats
        text = flat.config.read_text().replace("announce = false", "announce = true")
        text = text.replace('device_serial = ""', 'device_serial = "LVPP-100-BAT"')
        flat.config.write_text(text)
        await building.start()
        browser_zc = AsyncZeroconf(interfaces=["127.0.0.1"])
        found: asyncio.Queue[str] = asyncio.Queue()

        def seen(
            zeroconf: Zeroconf,
            service_type: str,
            name: str,
            state_change: ServiceStateChange,
        ) -> None:
            if state_change is ServiceStateChange.Added:
                found.put_nowait(name)

        browser = AsyncServiceBrowser(
            browser_zc.zeroconf, [SERVICE_TYPE], handlers=[seen]
        )
        try:
            name = await asyncio.wait_for(found.get(), 15)
            info = AsyncServiceInfo(SERVICE_TYPE, name)
            assert await info.async_request(browser_zc.zeroconf, 5000)
            properties = {
                key.decode(): (value or b"").decode()
                for key, value in info.properties.items()
            }
            assert info.port == flat.port
            assert info.parsed_addresses() == ["127.0.0.1"]
            assert properties["flat"] == flat.name
            assert properties["building"] == "bldg-01"
            assert properties["author"] == flat.author.hex()
            assert properties["serial"] == "LVPP-100-BAT"
            assert properties["path"] == "/api/v1/ws"
            token = flat.running.token
            assert all(token not in value for value in properties.values())
        finally:
            await browser.async_cancel()
            await browser_zc.async_close()
