"""Entities for what only some flats' inverters have; a flat without it gets none.

- An ECHONET Lite multi-input PCS (class 0x02A5), the power conditioner that PV and
  battery share: its AC-side power (+ giving out), the energy it gave out and took
  in, and whether it runs self-sustained (islanded, feeding its backup output). On
  the battery's device.
- SunSpec model 123 on a 1xx PV inverter: whether it is told to stay connected to
  the grid, and the output limit in force. Diagnostic, on the PV device.

Which a flat has is known from the first poll, done before the platforms are set
up: the part of the reading is ``None`` only when the device has no such object.
"""

from __future__ import annotations

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
)
from homeassistant.components.sensor import SensorEntity, SensorStateClass
from homeassistant.const import PERCENTAGE, EntityCategory

from ..coordinator import LocalVppCoordinator
from ..device import ROLE_BATTERY, ROLE_PV
from ..sensor_kinds import (
    LocalVppBinarySensor,
    LocalVppBinarySensorDescription,
    LocalVppEnergySensor,
    LocalVppSensor,
    LocalVppSensorDescription,
    energy_sensor,
    power_sensor,
)

CONDITIONER_POWER = power_sensor(
    "conditioner_power",
    ROLE_BATTERY,
    lambda r: r.conditioner.power_w if r.conditioner else None,
)
CONDITIONER_TOTALS = (
    energy_sensor(
        "conditioner_output_energy",
        ROLE_BATTERY,
        lambda r: r.conditioner.output_wh if r.conditioner else None,
    ),
    energy_sensor(
        "conditioner_input_energy",
        ROLE_BATTERY,
        lambda r: r.conditioner.input_wh if r.conditioner else None,
    ),
)
PV_OUTPUT_LIMIT = LocalVppSensorDescription(
    key="pv_output_limit",
    translation_key="pv_output_limit",
    role=ROLE_PV,
    value_fn=lambda r: r.pv_controls.output_limit_pct if r.pv_controls else None,
    state_class=SensorStateClass.MEASUREMENT,
    native_unit_of_measurement=PERCENTAGE,
    suggested_display_precision=0,
    entity_category=EntityCategory.DIAGNOSTIC,
)


SELF_SUSTAINED = LocalVppBinarySensorDescription(
    key="conditioner_self_sustained",
    translation_key="conditioner_self_sustained",
    role=ROLE_BATTERY,
    value_fn=lambda r: r.conditioner.independent if r.conditioner else None,
)
PV_GRID_CONNECTION = LocalVppBinarySensorDescription(
    key="pv_grid_connection",
    translation_key="pv_grid_connection",
    role=ROLE_PV,
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
    entity_category=EntityCategory.DIAGNOSTIC,
    value_fn=lambda r: r.pv_controls.connected if r.pv_controls else None,
)


def inverter_sensors(coordinator: LocalVppCoordinator) -> list[SensorEntity]:
    """The sensors for what this flat's inverters have."""
    reading = coordinator.data
    entities: list[SensorEntity] = []
    if reading.conditioner is not None:
        entities.append(LocalVppSensor(coordinator, CONDITIONER_POWER))
        entities += [LocalVppEnergySensor(coordinator, d) for d in CONDITIONER_TOTALS]
    if reading.pv_controls is not None:
        entities.append(LocalVppSensor(coordinator, PV_OUTPUT_LIMIT))
    return entities


def inverter_binary_sensors(
    coordinator: LocalVppCoordinator,
) -> list[BinarySensorEntity]:
    """The binary sensors for what this flat's inverters have."""
    reading = coordinator.data
    descriptions = [
        description
        for description, part in (
            (SELF_SUSTAINED, reading.conditioner),
            (PV_GRID_CONNECTION, reading.pv_controls),
        )
        if part is not None
    ]
    return [LocalVppBinarySensor(coordinator, d) for d in descriptions]
