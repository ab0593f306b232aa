"""A building of ledger nodes on 127.0.0.1 with one roster.

Every flat has its own directory, key and port, and runs as a real ``python -m
sidecar run`` process. The flats are set up as an installer does it, with the
sidecar's own commands (``init``, ``roster member``, ``roster init``). Each running
node gets one local API client (a node serves one at a time), through which the
building asks it things and feeds it samples.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import ClassVar

import aiohttp

from devkit import local_api
from devkit.clock import now_ms
from devkit.local_api import LocalApiClient, Message
from devkit.ports import free_port
from devkit.sidecar_node import ConfigValue, SidecarNode, floor_of, init_node
from devkit.sidecar_node import write_roster as write_first_roster

BUILDING = "bldg-01"
# What a building's clients subscribe to unless told otherwise.
SUBSCRIPTIONS = ("mesh", "setpoint", "bus_setpoint")


class Flat(SidecarNode):
    """One flat's node: its files, name and author id, and while it runs its process."""

    def __init__(self, config: Path, name: str, author: bytes) -> None:
        super().__init__(config)
        self.name = name
        self.author = author
        self.counter = 1000.0  # the PV counter (Wh) of the samples fed to it

    @property
    def directory(self) -> Path:
        """The flat's folder: configuration, data, roster and log."""
        return self.config.parent

    @property
    def floor(self) -> str:
        """The flat's floor, as its configuration and the roster say."""
        return floor_of(self.name)


def make_flat(
    directory: Path,
    name: str,
    *,
    building: str = BUILDING,
    settings: Mapping[str, ConfigValue] | None = None,
    port: int | None = None,
    flat_type: type[Flat] = Flat,
) -> Flat:
    """Set up one flat's node in ``directory`` (on a free port unless given)."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "sidecar.toml"
    author = init_node(
        config,
        building=building,
        flat=name,
        listen=f"127.0.0.1:{port or free_port()}",
        settings=settings,
        in_process=True,
    )
    return flat_type(config, name, bytes.fromhex(author))


def flat_names(count: int) -> list[str]:
    """``count`` flat numbers, ten a floor: 100 to 109, then 200 to 209, and so on."""
    return [f"{1 + index // 10}{index % 10:02d}" for index in range(count)]


class Building:
    """N flats with one roster; an ``async with`` block stops whatever still runs.

    ``settings`` are set in every flat's configuration after ``init`` (for example
    ``{"interval_ms": 200}``). Subclasses may set :attr:`flat_type` to a subclass of
    :class:`Flat` that knows more about a flat. With ``alone`` no roster is made: each
    flat runs as a building of one until it adopts the building's first roster.
    """

    flat_type: ClassVar[type[Flat]] = Flat

    def __init__(
        self,
        directory: Path,
        names: Sequence[str],
        *,
        building: str = BUILDING,
        settings: Mapping[str, ConfigValue] | None = None,
        subscribe: Iterable[str] = SUBSCRIPTIONS,
        alone: bool = False,
    ) -> None:
        self.building = building
        given = {k: v for k, v in (settings or {}).items() if k != "roster"}
        self.settings = given if alone else {**given, "roster": "roster.json"}
        self.subscribe = tuple(subscribe)
        self.flats = [self.make_flat(directory / name, name) for name in names]
        self.roster_file = (
            None
            if alone
            else write_first_roster(building, [f.config for f in self.flats], directory)
        )
        self.session: aiohttp.ClientSession | None = None
        self.clients: dict[str, LocalApiClient] = {}  # by flat name

    def make_flat(self, directory: Path, name: str, port: int | None = None) -> Flat:
        """Set up one more flat of this building (not yet in the roster)."""
        return make_flat(
            directory,
            name,
            building=self.building,
            settings=self.settings,
            port=port,
            flat_type=self.flat_type,
        )

    async def __aenter__(self) -> Building:
        self.session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: object) -> None:
        failures = await self.close()
        if failures and exc[0] is None:
            raise failures[0]

    def running(self) -> list[Flat]:
        """The flats whose node runs."""
        return [flat for flat in self.flats if flat.process is not None]

    async def start(
        self,
        *flats: Flat,
        within: float = 30,
        command: Callable[[Flat], list[str] | None] | None = None,
    ) -> None:
        """Start these flats' nodes (all if none given) and wait until each is ready.

        ``command`` may give a flat another command line than ``python -m sidecar
        run``. A node that fails to start fails the call once the others are up (and
        are stopped on leaving the ``async with`` block).
        """
        chosen = flats or tuple(self.flats)
        started = await asyncio.gather(
            *(
                flat.start(None if command is None else command(flat), within)
                for flat in chosen
            ),
            return_exceptions=True,
        )
        for flat, outcome in zip(chosen, started, strict=True):
            if isinstance(outcome, BaseException):
                flat.process = None  # a failed start leaves no process behind
        for outcome in started:
            if isinstance(outcome, BaseException):
                raise outcome

    async def stop(self, flat: Flat, within: float = 30) -> None:
        """Stop one flat's node cleanly (SIGTERM); killing it is an error."""
        await self._drop_client(flat)
        try:
            await flat.stop(within)
        finally:
            flat.process = None

    async def kill(self, flat: Flat) -> None:
        """``kill -9`` one flat's node and wait until it is gone."""
        assert flat.process is not None
        flat.kill()
        await flat.process.wait()
        flat.process = None
        await self._drop_client(flat)

    async def close(self, within: float = 30) -> list[BaseException]:
        """Close the clients and stop every running node; what went wrong."""
        for client in self.clients.values():
            await client.close()
        self.clients.clear()
        stopped = await asyncio.gather(
            *(self.stop(flat, within) for flat in self.running()),
            return_exceptions=True,
        )
        if self.session is not None:
            await self.session.close()
        return [result for result in stopped if isinstance(result, BaseException)]

    async def _drop_client(self, flat: Flat) -> None:
        client = self.clients.pop(flat.name, None)
        if client is not None:
            await client.close()

    async def connect(
        self,
        flat: Flat,
        greeting: Message,
        on_message: Callable[[Message], bool] | None = None,
    ) -> LocalApiClient:
        """Open the flat's local API client with this greeting (replacing any)."""
        assert self.session is not None, "use the building in an async with block"
        await self._drop_client(flat)
        client = await local_api.connect(
            self.session, flat.running.url, flat.token, greeting, on_message
        )
        self.clients[flat.name] = client
        return client

    async def client(self, flat: Flat) -> LocalApiClient:
        """The flat's local API client, connected (subscribed) on first use."""
        client = self.clients.get(flat.name)
        if client is None or client.ws.closed:
            client = await self.connect(flat, local_api.hello(subscribe=self.subscribe))
        return client

    async def ask(self, flat: Flat, message: Message, within: float = 15) -> Message:
        """One request and its reply on the flat's local API client."""
        return await (await self.client(flat)).ask(message, within)

    async def status(self, flat: Flat) -> Message:
        """The flat's ``status`` reply."""
        return await self.ask(flat, {"type": "status"})

    async def ask_all(
        self, message: Message, within: float = 30
    ) -> list[Message | None]:
        """The same request to every flat; None where no reply came in time."""

        async def one(flat: Flat) -> Message | None:
            try:
                return await self.ask(flat, message, within)
            except TimeoutError:
                return None

        return list(await asyncio.gather(*(one(flat) for flat in self.flats)))

    async def peers_online(self) -> list[int]:
        """Each node's count of linked peers (-1: it did not answer)."""
        return [
            -1 if reply is None else int(reply["mesh"]["peers_online"])
            for reply in await self.ask_all({"type": "status"})
        ]

    async def linked(self, within: float, every: float = 0.5) -> tuple[float, int]:
        """Wait until every node is linked with all the others, at most ``within`` s.

        Returns the seconds waited and the fewest peers any node had online then; a
        building that never links completely is returned as it is.
        """
        start = time.monotonic()
        want = len(self.flats) - 1
        while True:
            online = await self.peers_online()
            if min(online) >= want or time.monotonic() - start > within:
                return time.monotonic() - start, min(online)
            await asyncio.sleep(every)

    async def produce(self, seconds: float, *flats: Flat) -> None:
        """Feed samples to these flats (all running ones if none) for a while."""
        chosen = flats or tuple(self.running())
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for flat in chosen:
                client = await self.client(flat)
                flat.counter += 0.3
                await client.send(
                    local_api.sample(now_ms(), pv_wh=flat.counter, pv_w=5400)
                )
            await asyncio.sleep(0.1)

    async def converged(
        self, flats: list[Flat] | None = None, within: float = 60
    ) -> dict[str, list[int]]:
        """Wait until the flats hold identical heads for every author; those heads."""
        chosen = flats or self.running()
        deadline = time.monotonic() + within
        while True:
            heads = [(await self.status(flat))["mesh"]["heads"] for flat in chosen]
            if all(h == heads[0] for h in heads):
                result: dict[str, list[int]] = heads[0]
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"no convergence: {json.dumps(heads)[:2000]}")
            await asyncio.sleep(0.3)

    def log_count(self, pattern: str) -> int:
        """Lines of all the nodes' logs that match ``pattern``."""
        count = 0
        for flat in self.flats:
            with contextlib.suppress(FileNotFoundError):
                text = flat.log.read_text(errors="replace")
                count += len(re.findall(pattern, text))
        return count

    def log_problems(self) -> int:
        """WARNING and ERROR lines in all the nodes' logs."""
        return self.log_count(r"\b(WARNING|ERROR)\b")
