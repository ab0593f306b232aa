"""A flat's ECHONET Lite node: storage battery, home solar, smart meter and panel.

The same readings and writes as the SunSpec family, so the integration does not
know which one it talks to. What differs:

- Control is an operation mode (0xDA) plus the power (0xEB/0xEC) and energy amount
  (0xAA/0xAB) written *before* the mode, as the AIF storage-battery guideline asks.
  There is no revert timer: the amount is the dead-man (power × the hold's revert
  time, at least ``MIN_HOLD_S``), so a battery whose controller vanished stops once
  that energy has moved.
- A hold that has not changed (same mode, power within ``POWER_DEADBAND_W``) is
  written again only after half that time, never once a poll: ECHONET devices keep
  settings in flash.
- The living room is fed by the power conditioner's backup output, which switches
  by itself when the grid fails: the integration watches it (0xD0 independent
  operation) and the distribution panel's channel, and does not switch it.
- Where the node has a multi-input PCS (0x02A5, the hybrid power conditioner that
  PV and battery share), its AC-side power and the energy it converted each way
  are read, and its 0xD0 is the grid-connection state (the battery's 0xD0 only
  where the PCS does not say). Its four properties are asked for even when its
  property map leaves them out: the Appendix makes them mandatory, and some units
  list fewer than they serve. Without a PCS nothing of this changes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from ..bus_wired import BusWired
from ..capabilities import Capabilities
from ..counters import WrappingCounter
from ..errors import DeviceError, DeviceRejectedError
from ..flat import ROLE_BATTERY, ROLE_METER, ROLE_PV, UnitIdentity
from ..reading import (
    BatteryReading,
    ConditionerReading,
    FlatReading,
    LivingRoomReading,
    MeterReading,
    PvReading,
)
from . import properties as p
from .transport import NODE_PROFILE, EchonetLink, Eoj

# A new power within this much of the one held is not worth a flash write.
POWER_DEADBAND_W: Final = 50.0
# The shortest hold the amount is sized for: a group round asks for seconds, but an
# unchanged hold is rewritten only after half of this (flash wear), so a vanished
# controller leaves the battery running for at most this long.
MIN_HOLD_S: Final = 60
# Properties per request: many devices refuse long requests.
MAX_PROPERTIES: Final = 8

_BATTERY_READ: Final = (
    p.FAULT_STATUS,
    p.AC_EFFECTIVE_CAPACITY,
    p.CUMULATIVE_CHARGED,
    p.CUMULATIVE_DISCHARGED,
    p.CHARGE_POWER_LIMITS,
    p.DISCHARGE_POWER_LIMITS,
    p.INTERCONNECTION,
    p.BATTERY_POWER,
    p.OPERATION_MODE,
    p.REMAINING_WH,
    p.REMAINING_PCT,
    p.STATE_OF_HEALTH,
)
_PV_READ: Final = (p.PV_POWER, p.PV_ENERGY)
_METER_READ: Final = (p.METER_POWER, p.IMPORTED, p.EXPORTED)
_METER_SCALE: Final = (p.COEFFICIENT, p.ENERGY_UNIT, p.DIGITS)
_PANEL_READ: Final = (p.CHANNEL_POWER, p.CHANNEL_ENERGY)
_PANEL_SCALE: Final = (p.PANEL_UNIT, p.COEFFICIENT)
_PCS_READ: Final = (
    p.PCS_INTERCONNECTION,
    p.PCS_POWER,
    p.PCS_AC_TO_DC_ENERGY,
    p.PCS_DC_TO_AC_ENERGY,
)


class NoStorageBatteryError(DeviceError):
    """The node answered but serves no storage battery (class 0x027D)."""


@dataclass(frozen=True, slots=True)
class _Hold:
    mode: int
    power_w: float
    revert_s: int
    written_at: float


@dataclass(slots=True)
class _Scale:
    """Wh per count of a cumulative counter, and where it wraps."""

    wh_per_count: float
    counter: WrappingCounter

    def wh(self, raw: int | None) -> float | None:
        value = self.counter.update(raw)
        return None if value is None else value * self.wh_per_count


class EchonetFlatDevice(BusWired):
    """Discover, poll and control one flat's ECHONET Lite node.

    On a building bus only through a changeover controller (``BusWired``).
    """

    # No standard ECHONET Lite property holds a backup reserve (see battery_facts).
    has_reserve_setting = False

    def __init__(
        self,
        link: EchonetLink,
        *,
        living_room_channel: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Use ``link``; the living room is panel channel ``living_room_channel``."""
        self._link = link
        self._channel = living_room_channel
        self._clock = clock
        # Until discovery: a battery that may be controlled; discovery checks that
        # it accepts the operation mode (0xDA in its set map).
        self.capabilities = _capabilities(control_power=True)
        self.identities: dict[str, UnitIdentity] = {}
        self.objects: dict[Eoj, set[int]] = {}
        self.last_poll_requests = 0
        self._hold: _Hold | None = None
        self._scales: dict[str, _Scale] = {}
        # The most power the battery says it takes or gives (0xC8/0xC9 maximum).
        self._limits: dict[int, int | None] = {}
        self._discovered = False

    @classmethod
    def udp(
        cls,
        host: str,
        port: int,
        *,
        local_port: int = 0,
        timeout: float = 2.0,
        living_room_channel: int = 1,
    ) -> EchonetFlatDevice:
        """A flat at ``host``:``port`` (the socket opens on first use)."""
        link = EchonetLink(host, port, local_port=local_port, timeout=timeout)
        return cls(link, living_room_channel=living_room_channel)

    @property
    def discovered(self) -> bool:
        """Whether the node's objects and scales have been read."""
        return self._discovered

    @property
    def serial(self) -> str:
        """The storage battery's identification number names the installation."""
        return self.identities[ROLE_BATTERY].serial

    async def async_discover(self) -> dict[str, UnitIdentity]:
        """Read the instance list, each object's property maps and identification.

        Raises ``CannotConnectError`` or ``NoStorageBatteryError``.
        """
        node = await self._link.get(NODE_PROFILE, [p.INSTANCE_LIST])
        eojs = p.instance_list(node[p.INSTANCE_LIST])
        objects: dict[Eoj, set[int]] = {}
        identities: dict[str, UnitIdentity] = {}
        writable: set[int] = set()
        roles = {
            p.STORAGE_BATTERY: ROLE_BATTERY,
            p.HOME_SOLAR: ROLE_PV,
            p.SMART_METER: ROLE_METER,
            p.PANEL_METER: "panel",
            p.MULTI_INPUT_PCS: "conditioner",
        }
        for eoj in eojs:
            if eoj not in roles:
                continue
            maps = await self._link.get(eoj, [p.GET_MAP, p.SET_MAP, p.IDENTIFICATION])
            objects[eoj] = p.property_map(maps[p.GET_MAP])
            if eoj == p.STORAGE_BATTERY:
                writable = p.property_map(maps[p.SET_MAP])
            uid = maps[p.IDENTIFICATION] or b""
            identities[roles[eoj]] = UnitIdentity(
                manufacturer=uid[1:4].hex().upper(),
                model=f"ECHONET Lite 0x{eoj[0]:02X}{eoj[1]:02X}",
                version="",
                serial=uid[4:].rstrip(b"\x00").decode("ascii", "replace") or uid.hex(),
            )
        if p.STORAGE_BATTERY not in objects:
            raise NoStorageBatteryError(
                f"node {self._link.host} serves no storage battery (class 0x027D)"
            )
        self.objects = objects
        self.identities = identities
        # Read-only batteries (and those only a vendor "ECHONET mode" opens) are
        # read and recorded, but never counted on to give power.
        self.capabilities = _capabilities(
            control_power={p.OPERATION_MODE, p.CHARGE_AMOUNT, p.DISCHARGE_AMOUNT}
            <= writable
        )
        await self._read_scales()
        self._discovered = True
        return identities

    async def _read_scales(self) -> None:
        """Units, coefficients and digits: fixed per device, read once."""
        scales: dict[str, _Scale] = {
            name: _Scale(1.0, WrappingCounter(p.WH_COUNTER_MODULUS))
            for name in ("pv", "charged", "discharged", "pcs_in", "pcs_out")
        }
        if p.SMART_METER in self.objects:
            raw = await self._read(p.SMART_METER, _METER_SCALE)
            unit = p.UNIT_WH.get(p.unsigned(raw[p.ENERGY_UNIT]) or 0, 1000.0)
            coefficient = p.unsigned(raw[p.COEFFICIENT]) or 1
            digits = p.unsigned(raw[p.DIGITS]) or 8
            for name in ("imported", "exported"):
                scales[name] = _Scale(unit * coefficient, WrappingCounter(10**digits))
        if p.PANEL_METER in self.objects:
            raw = await self._read(p.PANEL_METER, _PANEL_SCALE)
            unit = p.UNIT_WH.get(p.unsigned(raw[p.PANEL_UNIT]) or 0, 1000.0)
            coefficient = p.unsigned(raw[p.COEFFICIENT]) or 1
            scales["room"] = _Scale(
                unit * coefficient, WrappingCounter(p.PANEL_MODULUS)
            )
        self._scales = scales
        raw = await self._read(
            p.STORAGE_BATTERY, (p.CHARGE_POWER_LIMITS, p.DISCHARGE_POWER_LIMITS)
        )
        self._limits = {
            p.CHARGE_POWER: p.max_of_pair(raw[p.CHARGE_POWER_LIMITS]),
            p.DISCHARGE_POWER: p.max_of_pair(raw[p.DISCHARGE_POWER_LIMITS]),
        }

    async def _read(
        self, eoj: Eoj, epcs: tuple[int, ...], *, listed_only: bool = True
    ) -> dict[int, bytes | None]:
        """Read what the object serves of ``epcs``, a few properties per request.

        ``listed_only``: skip what its property map leaves out; otherwise ask
        anyway, and what it refuses stays None.
        """
        listed = self.objects.get(eoj, set())
        served = [epc for epc in epcs if epc in listed or not listed_only]
        values: dict[int, bytes | None] = dict.fromkeys(epcs)
        for start in range(0, len(served), MAX_PROPERTIES):
            chunk = served[start : start + MAX_PROPERTIES]
            values.update(await self._link.get(eoj, chunk))
            self.last_poll_requests += 1
        return values

    async def async_poll(self) -> FlatReading:
        """Read every object; a property an object refuses (*_SNA) stays None.

        Raises ``CannotConnectError`` when the node does not answer.
        """
        if not self._discovered:
            await self.async_discover()
        self.last_poll_requests = 0
        parts: dict[Eoj, dict[int, bytes | None] | None] = {}
        for eoj, epcs in (
            (p.STORAGE_BATTERY, _BATTERY_READ),
            (p.HOME_SOLAR, _PV_READ),
            (p.SMART_METER, _METER_READ),
            (p.PANEL_METER, _PANEL_READ),
            (p.MULTI_INPUT_PCS, _PCS_READ),
        ):
            if eoj not in self.objects:
                parts[eoj] = None
                continue
            # One node, one link: an object that does not answer means the node
            # does not, so the poll ends there instead of waiting out every object.
            parts[eoj] = await self._read(
                eoj, epcs, listed_only=eoj != p.MULTI_INPUT_PCS
            )
        battery, pcs = parts[p.STORAGE_BATTERY], parts[p.MULTI_INPUT_PCS]
        grid = _interconnection(pcs, battery)
        return await self._with_bus(
            FlatReading(
                pv=self._pv(parts[p.HOME_SOLAR]),
                battery=None if battery is None else self._battery(battery, grid),
                meter=self._meter(parts[p.SMART_METER], grid),
                living_room=self._living_room(parts[p.PANEL_METER], grid),
                conditioner=None if pcs is None else self._conditioner(pcs),
            )
        )

    def _conditioner(self, raw: dict[int, bytes | None]) -> ConditionerReading:
        power = p.signed(raw[p.PCS_POWER])
        state = p.unsigned(raw[p.PCS_INTERCONNECTION])
        return ConditionerReading(
            # ECHONET counts AC-to-DC (taking power in) as positive.
            power_w=None if power is None else -float(power),
            output_wh=self._scales["pcs_out"].wh(
                p.unsigned(raw[p.PCS_DC_TO_AC_ENERGY])
            ),
            input_wh=self._scales["pcs_in"].wh(p.unsigned(raw[p.PCS_AC_TO_DC_ENERGY])),
            independent=None if state is None else state == p.INDEPENDENT,
        )

    def _pv(self, raw: dict[int, bytes | None] | None) -> PvReading | None:
        if raw is None:
            return None
        power = p.unsigned(raw[p.PV_POWER])
        return PvReading(
            power_w=None if power is None else float(power),
            energy_wh=self._scales["pv"].wh(p.unsigned(raw[p.PV_ENERGY])),
            connected=None,
        )

    def _battery(
        self, raw: dict[int, bytes | None], interconnection: int | None
    ) -> BatteryReading:
        power = p.signed(raw[p.BATTERY_POWER])
        mode = p.unsigned(raw[p.OPERATION_MODE])
        fault = p.unsigned(raw[p.FAULT_STATUS])
        hold = self._hold
        forced = None if mode is None else mode in p.FORCED_MODES
        remaining = None
        if hold is not None and forced:
            elapsed = self._clock() - hold.written_at
            remaining = max(0, math.ceil(hold.revert_s - elapsed))
        return BatteryReading(
            # ECHONET counts charging as positive; the integration, discharging.
            power_w=None if power is None else -float(power),
            soc_pct=_float(p.unsigned(raw[p.REMAINING_PCT])),
            soh_pct=_float(p.unsigned(raw[p.STATE_OF_HEALTH])),
            cycles=None,
            charged_wh=self._scales["charged"].wh(
                p.unsigned(raw[p.CUMULATIVE_CHARGED])
            ),
            discharged_wh=self._scales["discharged"].wh(
                p.unsigned(raw[p.CUMULATIVE_DISCHARGED])
            ),
            rated_wh=_float(p.unsigned(raw[p.AC_EFFECTIVE_CAPACITY])),
            available_wh=_float(p.unsigned(raw[p.REMAINING_WH])),
            # No discharge floor is served: the remaining capacity (0xE2 / 0xE4) is
            # what the battery can still give, down to 0 %.
            min_soc_pct=0.0,
            reserve_soc_pct=None,
            max_charge_w=_float(p.max_of_pair(raw[p.CHARGE_POWER_LIMITS])),
            max_discharge_w=_float(p.max_of_pair(raw[p.DISCHARGE_POWER_LIMITS])),
            cell_v_max=None,
            cell_v_min=None,
            alarms=None if fault is None else int(fault == p.FAULT),
            inverter_connected=None
            if interconnection is None
            else interconnection != p.INDEPENDENT,
            inverter_faulted=None if fault is None else fault == p.FAULT,
            setpoint_enabled=forced,
            setpoint_w=hold.power_w if hold is not None and forced else None,
            setpoint_revert_remaining_s=remaining,
        )

    def _meter(
        self, raw: dict[int, bytes | None] | None, interconnection: int | None
    ) -> MeterReading | None:
        if raw is None:
            return None
        power = p.signed(raw[p.METER_POWER])
        # The smart meter does not know whether the grid is there; the power
        # conditioner does (independent operation means islanded).
        return MeterReading(
            power_w=None if power is None else -float(power),
            imported_wh=self._scales["imported"].wh(p.unsigned(raw[p.IMPORTED])),
            exported_wh=self._scales["exported"].wh(p.unsigned(raw[p.EXPORTED])),
            voltage_v=None,
            frequency_hz=None,
            connected=None
            if interconnection is None
            else interconnection != p.INDEPENDENT,
        )

    def _living_room(
        self, raw: dict[int, bytes | None] | None, interconnection: int | None
    ) -> LivingRoomReading | None:
        power = energy = None
        if raw is not None:
            power = p.channel_values(
                raw[p.CHANNEL_POWER], self._channel, is_signed=True
            )
            energy = self._scales["room"].wh(
                p.channel_values(raw[p.CHANNEL_ENERGY], self._channel, is_signed=False)
            )
        if raw is None and interconnection is None:
            return None
        return LivingRoomReading(
            on_battery=None
            if interconnection is None
            else interconnection == p.INDEPENDENT,
            power_w=_float(power),
            energy_wh=energy,
            powered=None,
        )

    async def async_read_registers(self) -> dict[str, dict[int, int]]:
        """Every readable property of every object, for diagnostics (as integers)."""
        raw: dict[str, dict[int, int]] = {}
        for eoj, epcs in self.objects.items():
            values = await self._read(eoj, tuple(sorted(epcs)))
            raw["".join(f"{x:02X}" for x in eoj)] = {
                epc: int.from_bytes(edt, "big")
                for epc, edt in values.items()
                if edt is not None
            }
        return raw

    # -- writes (called only by the integration's battery control) ------------------

    async def async_set_power_setpoint(self, power_w: float, revert_s: int) -> None:
        """Charge or discharge at ``power_w`` (+ discharge) for ``revert_s`` or more.

        Power and amount go first, then the mode, each acknowledged (SetC) before
        the next. An unchanged hold is written again only after half its time.
        """
        if revert_s <= 0:
            raise ValueError("a setpoint needs a revert time of at least 1 s")
        self._check_controllable()
        if power_w > 0:
            mode, power_epc, amount_epc = (
                p.MODE_DISCHARGING,
                p.DISCHARGE_POWER,
                p.DISCHARGE_AMOUNT,
            )
        elif power_w < 0:
            mode, power_epc, amount_epc = (
                p.MODE_CHARGING,
                p.CHARGE_POWER,
                p.CHARGE_AMOUNT,
            )
        else:
            mode = p.MODE_STANDBY
        now = self._clock()
        hold, hold_s = self._hold, max(revert_s, MIN_HOLD_S)
        if (
            hold is not None
            and hold.mode == mode
            and abs(hold.power_w - power_w) < POWER_DEADBAND_W
            and now - hold.written_at < hold_s / 2
        ):
            return
        self._hold = None
        if mode != p.MODE_STANDBY:
            watts = round(abs(power_w))
            # The battery refuses more than its maximum; ask for what it can do.
            if (limit := self._limits.get(power_epc)) is not None:
                watts = min(watts, limit)
            amount_wh = max(1, math.ceil(watts * hold_s / 3600))
            await self._link.set(
                p.STORAGE_BATTERY,
                [
                    (power_epc, watts.to_bytes(4, "big")),
                    (amount_epc, amount_wh.to_bytes(4, "big")),
                ],
            )
        await self._link.set(p.STORAGE_BATTERY, [(p.OPERATION_MODE, bytes((mode,)))])
        self._hold = _Hold(mode, power_w, hold_s, now)

    async def async_clear_power_setpoint(self) -> None:
        """Hand the battery back to its own (automatic) operation."""
        self._check_controllable()
        self._hold = None
        await self._link.set(
            p.STORAGE_BATTERY, [(p.OPERATION_MODE, bytes((p.MODE_AUTO,)))]
        )

    def _check_controllable(self) -> None:
        if not self.capabilities.control_power:
            raise DeviceRejectedError(
                "this battery does not accept its operation mode over ECHONET Lite"
                " (it may need the vendor's ECHONET mode switched on)"
            )

    async def async_set_living_room_on_battery(self, on_battery: bool) -> None:
        """Nothing to do: the backup output switches by itself, and is watched."""

    async def async_set_reserve_soc(self, pct: float) -> None:
        """ECHONET Lite has no standard backup-reserve property."""
        raise DeviceRejectedError(
            "this ECHONET Lite battery has no backup-reserve setting"
        )

    async def async_close(self) -> None:
        """Close the socket (and the bus controller's connection) for good."""
        self._link.close()
        await self._close_bus()


def _capabilities(*, control_power: bool) -> Capabilities:
    return Capabilities(
        control_power=control_power,
        switch_living_room=False,
        revert_timer=False,
        min_write_interval_s=MIN_HOLD_S / 2,
    )


def _interconnection(
    pcs: dict[int, bytes | None] | None, battery: dict[int, bytes | None] | None
) -> int | None:
    """0xD0: the PCS's where it has one and says, else the battery's."""
    for raw, epc in ((pcs, p.PCS_INTERCONNECTION), (battery, p.INTERCONNECTION)):
        state = None if raw is None else p.unsigned(raw[epc])
        if state is not None:
            return state
    return None


def _float(value: int | None) -> float | None:
    return None if value is None else float(value)
