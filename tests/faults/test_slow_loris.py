"""Unfinished requests cannot lock Home Assistant and the members out (issue 13).

The node runs with a small file limit (256, as a small device might) so that a few
hundred unfinished requests would take every descriptor. They come from other
loopback addresses than Home Assistant's, as an attacker's would from its own host.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
from pathlib import Path

import pytest

from devkit import processes
from devkit.clock import now_ms
from devkit.sidecar_node import configure
from sidecar import config as config_module
from tests.sidecar.mesh_support import Building, Flat, peer_connect

FILE_LIMIT = 256
SLOW = 300
SOURCES = [f"127.0.0.{host}" for host in range(2, 7)]  # 60 from each
TIMEOUT_S = 3
SETTINGS = {"unauthenticated_timeout_s": TIMEOUT_S}
UNFINISHED = b"GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


def _limited(flat: Flat) -> list[str]:
    """``python -m sidecar run`` under a file limit of FILE_LIMIT."""
    command = processes.module_command("sidecar", "run", "--config", str(flat.config))
    line = " ".join(shlex.quote(part) for part in command)
    return ["sh", "-c", f"ulimit -n {FILE_LIMIT} && exec {line}"]


type _Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _open_slow(port: int, source: str) -> _Stream | None:
    """An HTTP request whose headers never end; None if the node refused at once.

    The writer is kept with the reader: a writer collected closes its connection.
    """
    try:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, local_addr=(source, 0)
        )
        writer.write(UNFINISHED)
        await writer.drain()
    except OSError:
        return None
    return reader, writer


async def _closed_by_node(stream: _Stream) -> bytes:
    """Everything the node sent before it closed the connection."""
    reader, writer = stream
    try:
        with contextlib.suppress(ConnectionError):
            return await reader.read()
        return b""
    finally:
        writer.close()


async def test_slow_requests_are_closed_and_home_assistant_and_members_get_in(
    tmp_path: Path,
) -> None:
    async with Building(tmp_path, 3) as building:
        node, member = building.flats[0], building.flats[2]
        configure(node.config, SETTINGS)
        await building.start(node, command=_limited)
        session = building.session
        assert session is not None
        slow = [
            await _open_slow(node.port, SOURCES[i % len(SOURCES)]) for i in range(SLOW)
        ]
        # Home Assistant's link and a member's link still come up and work.
        async with asyncio.timeout(20):
            ha = await node.connect(session)
            start = now_ms() - 10_000
            for i in range(3):
                await ha.send_json({"type": "sample", "ts": start + i * 1000})
            while (reply := await ha.receive_json())["type"] != "entry":
                assert reply["type"] == "rejected", reply
            ws, ready = await peer_connect(session, node, member.identity)
            assert ready["type"] == "ready"
        # Every slow request is closed by the node, with a status line saying why.
        async with asyncio.timeout(4 * TIMEOUT_S + 20):
            answers = await asyncio.gather(
                *(_closed_by_node(stream) for stream in slow if stream is not None)
            )
        assert all(
            answer.startswith((b"HTTP/1.1 408", b"HTTP/1.1 503")) for answer in answers
        )
        # The authenticated links outlived the timeout; the closings are counted.
        await ha.send_json({"type": "status"})
        while (reply := await ha.receive_json(timeout=10))["type"] != "status":
            pass
        rejected = reply["rejected"]
        closed = rejected.get("request_timeout", 0) + rejected.get(
            "too_many_connections", 0
        )
        assert closed == SLOW, rejected
        assert rejected["request_timeout"] > 0, rejected
        assert not ws.closed
        await ws.close()
        await ha.close()
        assert node.process is not None
        assert node.process.returncode is None


PER_SOURCE = 64  # the default cap of unauthenticated connections per source address


async def test_one_source_holds_at_most_its_share_and_is_told_so(
    tmp_path: Path,
) -> None:
    async with Building(tmp_path, 1) as building:
        node = building.flats[0]
        configure(node.config, SETTINGS)
        await building.start(node)
        session = building.session
        assert session is not None
        slow = [
            await _open_slow(node.port, "127.0.0.9") for _ in range(PER_SOURCE + 20)
        ]
        streams = [stream for stream in slow if stream is not None]
        # The 20 over the cap are answered 503 at once; the rest wait for the timeout.
        async with asyncio.timeout(4 * TIMEOUT_S + 20):
            answers = await asyncio.gather(*map(_closed_by_node, streams))
        busy = [a for a in answers if a.startswith(b"HTTP/1.1 503")]
        late = [a for a in answers if a.startswith(b"HTTP/1.1 408")]
        assert (len(busy), len(late)) == (20, PER_SOURCE), answers
        ha = await node.connect(session)
        await ha.send_json({"type": "status"})
        while (reply := await ha.receive_json(timeout=10))["type"] != "status":
            pass
        assert reply["rejected"]["too_many_connections"] == 20
        assert reply["rejected"]["request_timeout"] == PER_SOURCE
        await ha.close()


@pytest.mark.parametrize("path", ["/api/v1/status", "/api/v1/wat"])
async def test_a_kept_alive_connection_with_the_token_outlives_the_timeout(
    tmp_path: Path, path: str
) -> None:
    async with Building(tmp_path, 1) as building:
        node = building.flats[0]
        configure(node.config, SETTINGS)
        await building.start(node)
        token = config_module.load(node.config).api_token
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {token}\r\n\r\n"
        ).encode()
        reader, writer = await asyncio.open_connection("127.0.0.1", node.port)
        try:
            async with asyncio.timeout(4 * TIMEOUT_S + 20):
                for _ in range(2):
                    writer.write(request)
                    await writer.drain()
                    status = await reader.readline()
                    assert status.startswith(b"HTTP/1.1 200"), status
                    length = 0
                    while (line := await reader.readline()) != b"\r\n":
                        name, _, value = line.decode().partition(":")
                        if name.lower() == "content-length":
                            length = int(value)
                    await reader.readexactly(length)
                    # Polls come a while apart: longer than the node waits for an
                    # unauthenticated connection to authenticate.
                    await asyncio.sleep(TIMEOUT_S + 1)
        finally:
            writer.close()
