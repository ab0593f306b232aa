"""Serve register devices over Modbus TCP with pymodbus, from 3.8 on.

pymodbus has changed its datastore API several times (slave contexts, device
contexts, SimDevice). Instead of those stores the server gets one context object
that answers every way pymodbus has asked a datastore for registers:

* up to 3.11 the server looks up ``context[unit_id]`` and calls ``validate`` (3.8
  only), ``async_getValues`` and ``async_setValues`` on what it gets;
* later versions call ``async_getValues(unit_id, …)``/``async_setValues(unit_id, …)``
  on the context itself.

From 3.11 on every refusal gets its exact exception code (2 illegal address, 3
illegal value, 4 device failure). Older versions cannot say all of that: in 3.9 and
3.10 a refused read answers "device failure"; in 3.8 every refusal known from the
address answers "illegal address", and a write with a bad value is acknowledged but
not applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pymodbus.constants
import pymodbus.exceptions
from pymodbus.datastore import ModbusServerContext
from pymodbus.server import ModbusTcpServer

from .register_device import ModbusRefusal, RegisterDevice

# Looked up by name because each exists only in some pymodbus versions: newer ones
# check for the ExcCodes enum; the server answers "no such unit" to NoSuchIdException,
# called NoSuchSlaveException up to 3.9.
_EXC_CODES: Any = getattr(pymodbus.constants, "ExcCodes", None)
_NO_SUCH_UNIT: type[Exception] = getattr(
    pymodbus.exceptions,
    "NoSuchIdException",
    getattr(
        pymodbus.exceptions, "NoSuchSlaveException", pymodbus.exceptions.ModbusException
    ),
)

_LOGGER = logging.getLogger(__name__)
_READ_CODES = frozenset({3, 4})
_GATEWAY_TARGET_FAILED = 0x0B


def _exception_code(code: int) -> Any:
    """The value newer pymodbus expects back for an exception response."""
    return _EXC_CODES(code) if _EXC_CODES is not None else code


def _refuse(refusal: ModbusRefusal, *, write: bool) -> Any:
    """The exception code, in the form this pymodbus checks for.

    Before the ExcCodes enum, only writes had their return value checked (as a
    plain number); a refused read can only raise, which answers "device failure".
    """
    if _EXC_CODES is not None:
        return _EXC_CODES(refusal.code)
    if write:
        return int(refusal.code)
    raise refusal


class _LegacyUnit:
    """One unit as pymodbus 3.8–3.9 address it (``context[unit_id]``)."""

    def __init__(self, device: RegisterDevice) -> None:
        self._device = device
        self._validated: tuple[int, int, list[int]] | None = None

    def validate(self, func_code: int, address: int, count: int = 1) -> bool:
        # These versions answer only "illegal address" cleanly; an exception raised
        # here comes out as a malformed response. So every refusal known before
        # the values are seen is reported as illegal address. A read is done here
        # already and kept for the read that follows, so that a one-read glitch is
        # not used up twice.
        try:
            if func_code in _READ_CODES:
                self._validated = (address, count, self._device.read(address, count))
            else:
                self._device.check_write(address, count)
        except ModbusRefusal:
            return False
        return True

    async def async_getValues(
        self, func_code: int, address: int, count: int = 1
    ) -> Any:
        validated, self._validated = self._validated, None
        if validated is not None and validated[:2] == (address, count):
            return validated[2]
        try:
            return self._device.read(address, count)
        except ModbusRefusal as refusal:
            return _refuse(refusal, write=False)

    async def async_setValues(
        self, func_code: int, address: int, values: Sequence[int]
    ) -> Any:
        try:
            self._device.write(address, list(values))
        except ModbusRefusal as refusal:
            return _refuse(refusal, write=True)
        return None


class _DeviceContext(ModbusServerContext):
    """The unit ids and their devices, for every pymodbus datastore interface."""

    def __init__(self, devices: Mapping[int, RegisterDevice]) -> None:
        # Deliberately not calling super().__init__: its stores are what we replace.
        self._units = dict(devices)
        self._legacy = {unit_id: _LegacyUnit(d) for unit_id, d in devices.items()}
        # What pymodbus ≥ 3.13 looks at to decide to call this context directly.
        self.simdevices: list[Any] = []
        self.old_simulator = True
        self.single = False

    def __getitem__(self, unit_id: int) -> _LegacyUnit:
        if unit_id not in self._legacy:
            raise _NO_SUCH_UNIT(f"no unit {unit_id}")
        return self._legacy[unit_id]

    def __contains__(self, unit_id: object) -> bool:
        return unit_id in self._units

    def device_ids(self) -> list[int]:
        """The unit ids served."""
        return list(self._units)

    def slaves(self) -> list[int]:
        """The unit ids served (pymodbus 3.8's name)."""
        return list(self._units)

    async def async_getValues(
        self, device_id: int, func_code: int, address: int, count: int = 1
    ) -> Any:
        """Registers for a read, or the exception code to answer with."""
        device = self._units.get(device_id)
        if device is None:
            return _exception_code(_GATEWAY_TARGET_FAILED)
        try:
            return device.read(address, count)
        except ModbusRefusal as refusal:
            return _exception_code(refusal.code)

    async def async_setValues(
        self, device_id: int, func_code: int, address: int, values: Any
    ) -> Any:
        """``None`` when the write is done, else the exception code."""
        device = self._units.get(device_id)
        if device is None:
            return _exception_code(_GATEWAY_TARGET_FAILED)
        try:
            device.write(address, list(values))
        except ModbusRefusal as refusal:
            return _exception_code(refusal.code)
        return None


async def _swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read whatever a client sends and never answer."""
    with contextlib.suppress(ConnectionError):
        while await reader.read(4096):
            pass
    writer.close()


class ModbusTcpUnits:
    """A Modbus TCP endpoint for several unit ids, that can drop off the network."""

    def __init__(
        self, devices: Mapping[int, RegisterDevice], host: str, port: int
    ) -> None:
        """Serve ``devices`` (by unit id) on ``host``:``port`` (0: any free port)."""
        self._context = _DeviceContext(devices)
        self.host = host
        self.port = port
        self._server: ModbusTcpServer | None = None
        self._reopen: asyncio.Task[None] | None = None
        self._silence: asyncio.Server | None = None

    @property
    def listening(self) -> bool:
        """Whether clients can connect now and get answers."""
        return self._server is not None

    @property
    def silent(self) -> bool:
        """Whether the endpoint has gone silent (see ``go_silent``)."""
        return self._silence is not None

    async def start(self) -> None:
        """Start listening; afterwards ``port`` is the real port."""
        server = ModbusTcpServer(self._context, address=(self.host, self.port))
        where = f"{self.host}:{self.port}"
        try:
            await server.serve_forever(background=True)
        except RuntimeError as err:  # how newer pymodbus reports a failed bind
            raise OSError(f"cannot listen on {where}: {err}") from err
        listener: Any = server.transport  # an asyncio.Server once listening
        if listener is None:  # how older pymodbus reports a failed bind
            raise OSError(f"cannot listen on {where}")
        self.port = listener.sockets[0].getsockname()[1]
        self._server = server
        _LOGGER.debug("Modbus TCP on %s:%s", self.host, self.port)

    async def _close(self) -> None:
        server: Any = self._server  # shutdown() is untyped in some versions
        self._server = None
        if server is not None:
            # Closes the listening socket and every client connection.
            await server.shutdown()

    async def stop(self) -> None:
        """Stop for good: close connections and stop listening."""
        await self._cancel_reopen()
        await self._close()
        await self._end_silence()

    async def _cancel_reopen(self) -> None:
        if self._reopen is not None:
            self._reopen.cancel()
            await asyncio.wait([self._reopen])  # never swallows our own cancellation
            self._reopen = None

    async def go_silent(self) -> None:
        """Stop answering, as a device that lost power or its network does.

        Open connections are dropped; new ones are accepted on the same port but
        nothing is ever answered, so clients run into their timeouts.
        """
        if self._silence is not None:
            return
        await self._cancel_reopen()
        await self._close()
        self._silence = await asyncio.start_server(_swallow, self.host, self.port)

    async def speak_again(self) -> None:
        """Answer again on the same port, after ``go_silent``."""
        if self._silence is None:
            return
        await self._end_silence()
        await self.start()

    async def _end_silence(self) -> None:
        silence, self._silence = self._silence, None
        if silence is not None:
            silence.close()
            silence.close_clients()
            await silence.wait_closed()

    async def disconnect(self, seconds: float) -> None:
        """Drop all clients and refuse connections for ``seconds`` of real time.

        Then listen again on the same port, as a device does after a reboot.
        """
        if self._silence is not None:
            raise ValueError("the endpoint is silent; let it speak again first")
        if self._reopen is not None:
            self._reopen.cancel()
        await self._close()
        self._reopen = asyncio.create_task(self._come_back(seconds))

    async def _come_back(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        # Someone may have taken the port meanwhile; keep trying, as a device would.
        while True:
            try:
                await self.start()
            except OSError as err:
                _LOGGER.warning("cannot listen again yet: %s", err)
                await asyncio.sleep(1.0)
            else:
                break
        self._reopen = None
