"""Power, energy, battery and grid sensors."""

from __future__ import annotations

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorStateClass,
)
from homeassistant.const import (
    PERCENTAGE,
    EntityCategory,
    UnitOfElectricPotential,
    UnitOfEnergy,
    UnitOfFrequency,
    UnitOfPower,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .backup.entities import BACKUP_SENSORS, BackupSensor
from .battery_health.entities import health_sensors
from .device import BUS_STATES, ROLE_BATTERY, ROLE_METER, ROLE_PV
from .group.entities import GROUP_SENSORS, GroupSensor
from .inverter.entities import inverter_sensors
from .ledger.entities import (
    LEDGER_ENTRIES,
    LEDGER_ESTIMATED,
    MESH_SENSORS,
    WITNESSED_AGE,
    LedgerEntriesSensor,
    LedgerEstimatedSensor,
    MeshSensor,
    WitnessedAgeSensor,
)
from .origin.setup import async_origin_sensors
from .runtime import LocalVppConfigEntry
from .sensor_kinds import (
    LocalVppEnergySensor,
    LocalVppSensor,
    LocalVppSensorDescription,
)
from .sensor_kinds import energy_sensor as _energy
from .sensor_kinds import power_sensor as _power
from .wat.entities import wat_sensors
from .wat.poller import WatPoller

PARALLEL_UPDATES = 0

MEASUREMENTS: tuple[LocalVppSensorDescription, ...] = (
    _power("pv_power", ROLE_PV, lambda r: r.pv.power_w if r.pv else None),
    _power(
        "battery_power",
        ROLE_BATTERY,
        lambda r: r.battery.power_w if r.battery else None,
    ),
    _power(
        "grid_import_power",
        ROLE_METER,
        lambda r: r.meter.import_power_w if r.meter else None,
    ),
    _power(
        "grid_export_power",
        ROLE_METER,
        lambda r: r.meter.export_power_w if r.meter else None,
    ),
    _power(
        "living_room_power",
        ROLE_BATTERY,
        lambda r: r.living_room.power_w if r.living_room else None,
    ),
    LocalVppSensorDescription(
        key="battery_soc",
        translation_key="battery_soc",
        role=ROLE_BATTERY,
        value_fn=lambda r: r.battery.soc_pct if r.battery else None,
        device_class=SensorDeviceClass.BATTERY,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=PERCENTAGE,
        suggested_display_precision=1,
    ),
    LocalVppSensorDescription(
        key="battery_soh",
        translation_key="battery_soh",
        role=ROLE_BATTERY,
        value_fn=lambda r: r.battery.soh_pct if r.battery else None,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=PERCENTAGE,
        suggested_display_precision=1,
        entity_category=EntityCategory.DIAGNOSTIC,
    ),
    LocalVppSensorDescription(
        key="battery_cycles",
        translation_key="battery_cycles",
        role=ROLE_BATTERY,
        value_fn=lambda r: r.battery.cycles if r.battery else None,
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
    ),
    LocalVppSensorDescription(
        key="battery_stored_energy",
        translation_key="battery_stored_energy",
        role=ROLE_BATTERY,
        value_fn=lambda r: r.battery.available_wh if r.battery else None,
        device_class=SensorDeviceClass.ENERGY_STORAGE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfEnergy.WATT_HOUR,
        suggested_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
    ),
    LocalVppSensorDescription(
        key="grid_voltage",
        translation_key="grid_voltage",
        role=ROLE_METER,
        value_fn=lambda r: r.meter.voltage_v if r.meter else None,
        device_class=SensorDeviceClass.VOLTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricPotential.VOLT,
        suggested_display_precision=1,
        entity_category=EntityCategory.DIAGNOSTIC,
    ),
    LocalVppSensorDescription(
        key="grid_frequency",
        translation_key="grid_frequency",
        role=ROLE_METER,
        value_fn=lambda r: r.meter.frequency_hz if r.meter else None,
        device_class=SensorDeviceClass.FREQUENCY,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfFrequency.HERTZ,
        suggested_display_precision=2,
        entity_category=EntityCategory.DIAGNOSTIC,
    ),
)

ENERGY_TOTALS: tuple[LocalVppSensorDescription, ...] = (
    _energy("pv_energy", ROLE_PV, lambda r: r.pv.energy_wh if r.pv else None),
    _energy(
        "battery_charge_energy",
        ROLE_BATTERY,
        lambda r: r.battery.charged_wh if r.battery else None,
    ),
    _energy(
        "battery_discharge_energy",
        ROLE_BATTERY,
        lambda r: r.battery.discharged_wh if r.battery else None,
    ),
    _energy(
        "grid_import_energy",
        ROLE_METER,
        lambda r: r.meter.imported_wh if r.meter else None,
    ),
    _energy(
        "grid_export_energy",
        ROLE_METER,
        lambda r: r.meter.exported_wh if r.meter else None,
    ),
    _energy(
        "living_room_energy",
        ROLE_BATTERY,
        lambda r: r.living_room.energy_wh if r.living_room else None,
    ),
)

# Only for a flat on a building bus (model 64901).
BUS_MEASUREMENTS: tuple[LocalVppSensorDescription, ...] = (
    LocalVppSensorDescription(
        key="bus_state",
        translation_key="bus_state",
        role=ROLE_BATTERY,
        value_fn=lambda r: r.bus.state_name if r.bus else None,
        device_class=SensorDeviceClass.ENUM,
        options=list(BUS_STATES.values()),
    ),
    _power("bus_power", ROLE_BATTERY, lambda r: r.bus.power_w if r.bus else None),
    LocalVppSensorDescription(
        key="bus_setpoint",
        translation_key="bus_setpoint",
        role=ROLE_BATTERY,
        value_fn=lambda r: r.bus.setpoint_w if r.bus else None,
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=0,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
    ),
)

BUS_ENERGY_TOTALS: tuple[LocalVppSensorDescription, ...] = (
    _energy(
        "bus_energy_exported",
        ROLE_BATTERY,
        lambda r: r.bus.exported_wh if r.bus else None,
    ),
    _energy(
        "bus_energy_imported",
        ROLE_BATTERY,
        lambda r: r.bus.imported_wh if r.bus else None,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: LocalVppConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the flat's sensors."""
    coordinator = entry.runtime_data.coordinator
    entities: list[SensorEntity] = [
        LocalVppSensor(coordinator, description) for description in MEASUREMENTS
    ]
    entities += [
        LocalVppEnergySensor(coordinator, description) for description in ENERGY_TOTALS
    ]
    if coordinator.device.has_bus:
        entities += [LocalVppSensor(coordinator, d) for d in BUS_MEASUREMENTS]
        entities += [LocalVppEnergySensor(coordinator, d) for d in BUS_ENERGY_TOTALS]
    entities += inverter_sensors(coordinator)
    backup = entry.runtime_data.backup
    entities += [
        BackupSensor(coordinator, backup, description) for description in BACKUP_SENSORS
    ]
    if (link := entry.runtime_data.sidecar) is not None:
        entities.append(LedgerEntriesSensor(coordinator, link, LEDGER_ENTRIES))
        entities.append(LedgerEstimatedSensor(coordinator, link, LEDGER_ESTIMATED))
        entities += [MeshSensor(coordinator, link, d) for d in MESH_SENSORS]
        entities.append(WitnessedAgeSensor(coordinator, link, WITNESSED_AGE))
        poller = WatPoller(hass, link, entry.entry_id)
        entities += wat_sensors(coordinator, poller)
        poller.async_start()
        entry.async_on_unload(poller.async_stop)
    if (group := entry.runtime_data.group) is not None:
        entities += [GroupSensor(coordinator, group, d) for d in GROUP_SENSORS]
    entities += await async_origin_sensors(hass, entry)
    if (health := entry.runtime_data.battery_health) is not None:
        entities += health_sensors(health, coordinator)
    async_add_entities(entities)
