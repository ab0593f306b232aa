"""The flat's devices as ECHONET Lite objects: property images from the physics.

Classes served (Appendix "Detailed Requirements for ECHONET Device Objects"):
storage battery 0x027D, home solar power 0x0279, low-voltage smart electric energy
meter 0x0288, distribution-panel metering 0x0287 and, when the flat's
``echonet_pcs`` says so, the multi-input PCS 0x02A5. Each object answers ``get``
with the property's bytes (``None``: not served) and ``set`` with whether it took
the value. Every value is computed from the flat at the moment it is asked for.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final

from ..model.config import UnitRole
from ..model.controls import DISABLED, ENABLED, MODE_WATTS
from ..model.flat import Flat
from .frame import Eoj, property_map

STORAGE_BATTERY: Final[Eoj] = (0x02, 0x7D, 0x01)
HOME_SOLAR: Final[Eoj] = (0x02, 0x79, 0x01)
SMART_METER: Final[Eoj] = (0x02, 0x88, 0x01)
PANEL_METER: Final[Eoj] = (0x02, 0x87, 0x01)
MULTI_INPUT_PCS: Final[Eoj] = (0x02, 0xA5, 0x01)
NODE_PROFILE: Final[Eoj] = (0x0E, 0xF0, 0x01)

# Manufacturer code 0xFFFFFF is the one the specification leaves for experiments.
MANUFACTURER: Final = b"\xff\xff\xff"

# Operation mode (0xDA) and working operation status (0xCF) of the storage battery.
MODE_CHARGING: Final = 0x42
MODE_DISCHARGING: Final = 0x43
MODE_STANDBY: Final = 0x44
MODE_AUTO: Final = 0x46
# System-interconnected type (0xD0): on the grid with reverse flow, or islanded.
INTERCONNECTED: Final = 0x00
INDEPENDENT: Final = 0x01

# Cumulative-energy unit codes (0x0288 E1, 0x0287 C2) → kWh per count.
UNIT_KWH: Final[dict[int, float]] = {
    0x00: 1.0,
    0x01: 0.1,
    0x02: 0.01,
    0x03: 0.001,
    0x04: 0.0001,
    0x0A: 10.0,
    0x0B: 100.0,
    0x0C: 1000.0,
    0x0D: 10000.0,
}

# Distribution-panel channels: 1 is the living-room circuit, 2 the rest of the flat.
CHANNEL_LIVING_ROOM: Final = 1
CHANNEL_REST: Final = 2

type Getter = Callable[[], bytes]
type Setter = Callable[[bytes], bool]


def u(value: float, size: int) -> bytes:
    """An unsigned big-endian integer, clipped to what ``size`` bytes hold."""
    return max(0, min(int(value), (1 << (8 * size)) - 1)).to_bytes(size, "big")


def s(value: float, size: int) -> bytes:
    """A signed big-endian integer, clipped to what ``size`` bytes hold."""
    limit = 1 << (8 * size - 1)
    return max(-limit, min(round(value), limit - 1)).to_bytes(size, "big", signed=True)


def _constant(value: bytes) -> Getter:
    return lambda: value


class EchonetObject:
    """One object instance: its properties and which may be set."""

    role: UnitRole | None = None

    def __init__(self, eoj: Eoj, flat: Flat, serial: str) -> None:
        """An object ``eoj`` of ``flat``; ``serial`` goes into its identification."""
        self.eoj = eoj
        self.flat = flat
        uid = serial.encode()[:13].ljust(13, b"\x00")
        self.getters: dict[int, Getter] = {
            0x80: lambda: bytes((0x30,)),
            0x81: lambda: b"\x00",
            0x82: lambda: b"\x00\x00R\x01",
            0x83: lambda: b"\xfe" + MANUFACTURER + uid,
            0x88: lambda: bytes((0x41 if self.faulted() else 0x42,)),
            0x8A: lambda: MANUFACTURER,
        }
        self.setters: dict[int, Setter] = {}

    def faulted(self) -> bool:
        """Whether the device reports a fault (0x88)."""
        return False

    def failing(self) -> bool:
        """Whether the device has stopped answering anything but Get_SNA."""
        return self.role is not None and self.role in self.flat.failing_units

    def finish(self) -> None:
        """Add the property maps once every property is known."""
        maps = {
            0x9D: {0x80, 0x88},
            0x9E: set(self.setters),
            0x9F: set(self.getters) | {0x9D, 0x9E, 0x9F},
        }
        for epc, epcs in maps.items():
            self.getters[epc] = _constant(property_map(epcs))

    def get(self, epc: int) -> bytes | None:
        """The property's bytes now, or ``None`` when it is not served."""
        getter = self.getters.get(epc)
        return None if getter is None or self.failing() else getter()

    def set(self, epc: int, edt: bytes) -> bool:
        """Take a written value; ``False`` for one this object refuses."""
        setter = self.setters.get(epc)
        return setter is not None and not self.failing() and setter(edt)


class StorageBattery(EchonetObject):
    """0x027D: the battery and its hybrid power conditioner.

    The operation mode (0xDA) drives the same setpoint the Modbus model 704 does.
    Charging or discharging runs at the power set in 0xEB/0xEC and stops by itself
    (back to automatic) once the amount set in 0xAA/0xAB has moved: that is the only
    dead-man an ECHONET battery has. ``E0`` sets both amounts at once (+ charge).
    """

    role = UnitRole.BATTERY

    def __init__(self, flat: Flat, serial: str) -> None:
        """The flat's battery as an ECHONET object."""
        super().__init__(STORAGE_BATTERY, flat, serial)
        spec = flat.config.battery
        self.charge_wh = 0
        self.discharge_wh = 0
        self.charge_w = int(spec.max_charge_w)
        self.discharge_w = int(spec.max_discharge_w)
        self.mode_writes = 0
        battery = flat.battery
        self.getters |= {
            0xA0: lambda: u(spec.capacity_wh * battery.soh, 4),
            0xA8: lambda: u(battery.charged.register_wh % 1_000_000_000, 4),
            0xA9: lambda: u(battery.discharged.register_wh % 1_000_000_000, 4),
            0xAA: lambda: u(self.charge_wh, 4),
            0xAB: lambda: u(self.discharge_wh, 4),
            0xC8: lambda: u(0, 4) + u(spec.max_charge_w, 4),
            0xC9: lambda: u(0, 4) + u(spec.max_discharge_w, 4),
            0xCF: lambda: bytes((self._working_status(),)),
            0xD0: lambda: bytes((self._interconnection(),)),
            # + charging, − discharging: the opposite of the Modbus sign.
            0xD3: lambda: s(-battery.power_w, 4),
            0xDA: lambda: bytes((self.mode(),)),
            0xE0: lambda: s(self.charge_wh or -self.discharge_wh, 4),
            0xE2: lambda: u(battery.stored_wh, 4),
            0xE4: lambda: u(round(battery.soc * 100), 1),
            0xE5: lambda: u(round(battery.soh * 100), 1),
            0xEB: lambda: u(self.charge_w, 4),
            0xEC: lambda: u(self.discharge_w, 4),
        }
        self.setters |= {
            0xAA: lambda edt: self._set_amount(edt, charge=True),
            0xAB: lambda edt: self._set_amount(edt, charge=False),
            0xDA: self._set_mode,
            0xE0: self._set_signed_amount,
            0xEB: lambda edt: self._set_power(edt, charge=True),
            0xEC: lambda edt: self._set_power(edt, charge=False),
        }
        self.finish()

    def faulted(self) -> bool:
        """A battery fault is the device's fault."""
        return self.flat.battery_fault

    def lock_controls(self) -> None:
        """Refuse every write, as a battery whose vendor "ECHONET mode" is off does."""
        self.setters.clear()
        self.finish()

    def mode(self) -> int:
        """The operation mode now; automatic again once an amount has run out."""
        controls = self.flat.controls
        if controls.enabled != ENABLED:
            return MODE_AUTO
        if controls.setpoint_w > 0:
            return MODE_DISCHARGING
        return MODE_CHARGING if controls.setpoint_w < 0 else MODE_STANDBY

    def _working_status(self) -> int:
        power_w = self.flat.battery.power_w
        if power_w > 1:
            return MODE_DISCHARGING
        return MODE_CHARGING if power_w < -1 else MODE_STANDBY

    def _interconnection(self) -> int:
        # Islanded (self-sustained operation) while the grid is out.
        return INDEPENDENT if not self.flat.grid.up else INTERCONNECTED

    def _set_amount(self, edt: bytes, *, charge: bool) -> bool:
        if len(edt) != 4:
            return False
        value = int.from_bytes(edt, "big")
        if charge:
            self.charge_wh = value
        else:
            self.discharge_wh = value
        return True

    def _set_signed_amount(self, edt: bytes) -> bool:
        if len(edt) != 4:
            return False
        value = int.from_bytes(edt, "big", signed=True)
        self.charge_wh, self.discharge_wh = max(0, value), max(0, -value)
        return True

    def _set_power(self, edt: bytes, *, charge: bool) -> bool:
        spec = self.flat.config.battery
        if len(edt) != 4:
            return False
        value = int.from_bytes(edt, "big")
        if value > (spec.max_charge_w if charge else spec.max_discharge_w):
            return False
        if charge:
            self.charge_w = value
        else:
            self.discharge_w = value
        return True

    def _set_mode(self, edt: bytes) -> bool:
        if len(edt) != 1 or edt[0] not in (
            MODE_CHARGING,
            MODE_DISCHARGING,
            MODE_STANDBY,
            MODE_AUTO,
        ):
            return False
        mode, controls = edt[0], self.flat.controls
        controls.mode = MODE_WATTS
        controls.revert_w = 0
        controls.revert_enabled = DISABLED
        controls.revert_s = 0
        if mode == MODE_AUTO:
            controls.enabled = DISABLED
            controls.setpoint_w = 0
        elif mode == MODE_STANDBY:
            controls.enabled = ENABLED
            controls.setpoint_w = 0
        else:
            discharge = mode == MODE_DISCHARGING
            power_w = self.discharge_w if discharge else self.charge_w
            amount_wh = self.discharge_wh if discharge else self.charge_wh
            controls.enabled = ENABLED
            controls.setpoint_w = power_w if discharge else -power_w
            if amount_wh > 0 and power_w > 0:
                # The amount runs out after this long at the set power.
                controls.revert_s = max(1, math.ceil(amount_wh * 3600 / power_w))
        controls.rearm()
        self.mode_writes += 1
        return True


class HomeSolar(EchonetObject):
    """0x0279: the PV power conditioner."""

    role = UnitRole.PV

    def __init__(self, flat: Flat, serial: str) -> None:
        """The flat's PV as an ECHONET object."""
        super().__init__(HOME_SOLAR, flat, serial)
        self.getters |= {
            0xD0: lambda: bytes((INTERCONNECTED,)),
            0xE0: lambda: u(flat.pv_w, 2),
            0xE1: lambda: u(flat.pv_produced.register_wh % 1_000_000_000, 4),
        }
        self.finish()


class SmartMeter(EchonetObject):
    """0x0288: the flat's low-voltage smart meter (+ import in E7, the ECHONET sign).

    Cumulative energy is a count of ``unit × coefficient`` kWh that wraps after
    ``digits`` decimal digits, as a real meter's does.
    """

    role = UnitRole.METER

    def __init__(
        self,
        flat: Flat,
        serial: str,
        *,
        unit: int = 0x02,
        coefficient: int = 1,
        digits: int = 8,
    ) -> None:
        """The flat's meter with energy unit code ``unit`` (0x02: 0.01 kWh)."""
        super().__init__(SMART_METER, flat, serial)
        self.unit, self.coefficient, self.digits = unit, coefficient, digits
        # Energy counted before the simulation started, so a test can make it wrap.
        self.offset_wh = 0.0
        self.getters |= {
            0xD3: lambda: u(self.coefficient, 4),
            0xD7: lambda: u(self.digits, 1),
            0xE0: lambda: self._count(flat.imported.wh),
            0xE1: lambda: bytes((self.unit,)),
            0xE3: lambda: self._count(flat.exported.wh),
            0xE7: lambda: s(-flat.meter_w, 4),
        }
        self.finish()

    def _count(self, wh: float) -> bytes:
        step_wh = UNIT_KWH[self.unit] * 1000 * self.coefficient
        count = math.floor((wh + self.offset_wh) / step_wh)
        return u(count % 10**self.digits, 4)


class PanelMeter(EchonetObject):
    """0x0287: distribution-panel metering, channel 1 the living-room circuit.

    0xB3 / 0xB7 answer every channel: start channel, channel count, then 4 bytes per
    channel (cumulative in the unit of 0xC2, instantaneous in W).
    """

    def __init__(self, flat: Flat, serial: str) -> None:
        """The flat's panel with two measured channels."""
        super().__init__(PANEL_METER, flat, serial)
        self.getters |= {
            0xB3: lambda: (
                bytes((1, 2))
                + u(flat.living_room_energy.register_wh % 100_000_000, 4)
                + u(0, 4)
            ),
            0xB7: lambda: bytes((1, 2)) + s(flat.living_room_w, 4) + s(flat.rest_w, 4),
            0xC2: lambda: bytes((0x03,)),
            0xD3: lambda: u(1, 4),
        }
        self.finish()


class MultiInputPcs(EchonetObject):
    """0x02A5: the hybrid power conditioner that PV and battery share.

    Only what the Appendix defines for the class: E7 the AC-side power, + while
    it converts AC to DC (the "normal" direction: taking power in) and − while
    it converts DC to AC (giving power out); E0 and E3 the energy converted each
    way in 0.001 kWh; D0 the system-interconnection state, independent (0x01)
    while the grid is out and it feeds its self-sustained output; E8 the objects
    connected to it.
    """

    role = UnitRole.BATTERY

    def __init__(self, flat: Flat, serial: str, connected: list[EchonetObject]) -> None:
        """The flat's power conditioner, in front of the ``connected`` objects."""
        super().__init__(MULTI_INPUT_PCS, flat, serial)
        listed = bytes((len(connected),)) + b"".join(bytes(o.eoj) for o in connected)
        self.getters |= {
            0xD0: lambda: bytes((INDEPENDENT if not flat.grid.up else INTERCONNECTED,)),
            0xE0: lambda: u(flat.conditioner_in.register_wh % 1_000_000_000, 4),
            0xE3: lambda: u(flat.conditioner_out.register_wh % 1_000_000_000, 4),
            0xE7: lambda: s(-flat.conditioner_w, 4),
            0xE8: lambda: listed,
        }
        self.finish()

    def faulted(self) -> bool:
        """The power conditioner shares the battery's fault."""
        return self.flat.battery_fault


class NodeProfile(EchonetObject):
    """0x0EF0: the node itself and the list of its instances."""

    def __init__(self, flat: Flat, serial: str, objects: list[EchonetObject]) -> None:
        """The node that holds ``objects``."""
        super().__init__(NODE_PROFILE, flat, serial)
        eojs = b"".join(bytes(obj.eoj) for obj in objects)
        classes = b"".join(bytes(obj.eoj[:2]) for obj in objects)
        self.getters |= {
            0x82: lambda: b"\x01\x0d\x01\x00",
            0xD3: lambda: u(len(objects), 3),
            0xD4: lambda: u(len(objects) + 1, 2),
            0xD5: lambda: bytes((len(objects),)) + eojs,
            0xD6: lambda: bytes((len(objects),)) + eojs,
            0xD7: lambda: bytes((len(objects),)) + classes,
        }
        self.finish()


def flat_objects(flat: Flat) -> list[EchonetObject]:
    """The node profile first, then the flat's four devices (five with a PCS)."""
    serial = flat.config.serial
    battery = StorageBattery(flat, serial(UnitRole.BATTERY))
    solar = HomeSolar(flat, serial(UnitRole.PV))
    devices: list[EchonetObject] = [
        battery,
        solar,
        SmartMeter(flat, serial(UnitRole.METER)),
        PanelMeter(flat, serial(UnitRole.BATTERY) + "-P"),
    ]
    if flat.config.echonet_pcs:
        devices.append(
            MultiInputPcs(flat, serial(UnitRole.BATTERY) + "-C", [battery, solar])
        )
    return [NodeProfile(flat, serial(UnitRole.BATTERY), devices), *devices]
