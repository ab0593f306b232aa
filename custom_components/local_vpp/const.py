"""Constants shared by the integration's platforms."""

from __future__ import annotations

from typing import Final

DOMAIN: Final = "local_vpp"

# The flat's number or short name ("301"): in device names, titles and entity ids.
CONF_FLAT: Final = "flat"
CONF_UNIT_PV: Final = "unit_pv"
CONF_UNIT_BATTERY: Final = "unit_battery"
CONF_UNIT_METER: Final = "unit_meter"
CONF_POLL_INTERVAL: Final = "poll_interval"

DEFAULT_PORT: Final = 502
DEFAULT_UNIT_PV: Final = 1
DEFAULT_UNIT_BATTERY: Final = 2
DEFAULT_UNIT_METER: Final = 3
DEFAULT_POLL_INTERVAL_S: Final = 1.0
MIN_POLL_INTERVAL_S: Final = 0.25
MAX_POLL_INTERVAL_S: Final = 60.0

# Per-request Modbus timeout: long enough for a busy inverter, short enough that a
# dead link shows as unavailable within a few polls.
MODBUS_TIMEOUT_S: Final = 2.0

# A setpoint is written with this revert timer and re-armed while it is wanted, so
# a Home Assistant that stops cannot leave the battery charging or draining.
SETPOINT_REVERT_S: Final = 60
SETPOINT_REARM_BELOW_S: Final = 30

# A repair issue once the device has failed this many polls in a row and for at
# least this long: a blip is not worth a repair, a dead link is.
REPAIR_AFTER_FAILURES: Final = 10
REPAIR_AFTER_S: Final = 60.0
ISSUE_CONNECTION_FAILING: Final = "connection_failing"

# Living-room backup (outage) options.
CONF_FAST_POLL_INTERVAL: Final = "fast_poll_interval"
CONF_RECONNECT_DELAY: Final = "reconnect_delay"
CONF_SHED_ENTITIES: Final = "shed_entities"
CONF_RESTORE_STAGGER: Final = "restore_stagger"
CONF_NOMINAL_VOLTAGE: Final = "nominal_voltage"
CONF_GRID_AREA: Final = "grid_area"

DEFAULT_FAST_POLL_INTERVAL_S: Final = 0.5
DEFAULT_RECONNECT_DELAY_S: Final = 300.0
MIN_RECONNECT_DELAY_S: Final = 10.0
MAX_RECONNECT_DELAY_S: Final = 3600.0
DEFAULT_RESTORE_STAGGER_S: Final = 5.0
DEFAULT_NOMINAL_VOLTAGE: Final = 100.0
DEFAULT_GRID_AREA: Final = "60"

BACKUP_MODE_AUTO: Final = "auto"
BACKUP_MODE_MANUAL: Final = "manual"
BACKUP_MODE_OFF: Final = "off"
BACKUP_MODES: Final = [BACKUP_MODE_AUTO, BACKUP_MODE_MANUAL, BACKUP_MODE_OFF]

EVENT_OUTAGE_STARTED: Final = "local_vpp_outage_started"
EVENT_BACKUP_ENGAGED: Final = "local_vpp_backup_engaged"
EVENT_OUTAGE_ENDED: Final = "local_vpp_outage_ended"
EVENT_BACKUP_RELEASED: Final = "local_vpp_backup_released"

# Entity domains whose entities can be shed with homeassistant.turn_off.
SHEDDABLE_DOMAINS: Final = [
    "switch",
    "light",
    "fan",
    "climate",
    "water_heater",
    "humidifier",
    "media_player",
    "input_boolean",
]

# The flat's ledger sidecar (optional).
CONF_SIDECAR_URL: Final = "sidecar_url"
CONF_SIDECAR_TOKEN: Final = "sidecar_token"

# Group discharge, directed by the sidecar (docs/PROTOCOL.md section 12).
EVENT_GROUP_DISCHARGE_STARTED: Final = "local_vpp_group_discharge_started"
EVENT_GROUP_DISCHARGE_ENDED: Final = "local_vpp_group_discharge_ended"
# A setpoint message without a revert time is written with this one; the sidecar
# re-sends every round, so a short timer is the dead-man switch.
DEFAULT_GROUP_REVERT_S: Final = 5
MAX_GROUP_REVERT_S: Final = 60

# Outage support over the building bus, directed by the sidecar.
EVENT_BUS_SUPPORT_STARTED: Final = "local_vpp_bus_support_started"
EVENT_BUS_SUPPORT_ENDED: Final = "local_vpp_bus_support_ended"

SERVICE_REQUEST_GROUP_DISCHARGE: Final = "request_group_discharge"
SERVICE_CANCEL_GROUP_DISCHARGE: Final = "cancel_group_discharge"
