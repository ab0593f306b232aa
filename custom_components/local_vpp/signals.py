"""How the integration's parts tell each other about changes: dispatcher signals.

Every signal belongs to one config entry: send and connect ``SIGNAL.format(entry_id)``.
Handlers must be callbacks: the dispatcher runs those at once, in the order they
connected, like a direct call.
"""

from __future__ import annotations

from typing import Final

from homeassistant.util.signal_type import SignalTypeFormat

from .ledger.messages import BusSetpoint, GroupSetpoint

# The living-room backup's mode or state changed.
BACKUP_CHANGED: Final[SignalTypeFormat[()]] = SignalTypeFormat(
    "local_vpp_{}_backup_changed"
)
# The flat's part in a group discharge changed.
GROUP_CHANGED: Final[SignalTypeFormat[()]] = SignalTypeFormat(
    "local_vpp_{}_group_changed"
)
# The sidecar link went up or down, or the sidecar reported the mesh or an entry.
LINK_CHANGED: Final[SignalTypeFormat[()]] = SignalTypeFormat(
    "local_vpp_{}_link_changed"
)
# The sidecar sent a ``setpoint`` (the flat's part in a group discharge), read.
SETPOINT_RECEIVED: Final[SignalTypeFormat[GroupSetpoint]] = SignalTypeFormat(
    "local_vpp_{}_setpoint"
)
# The sidecar sent a ``bus_setpoint`` (outage support over the bus), read.
BUS_SETPOINT_RECEIVED: Final[SignalTypeFormat[BusSetpoint]] = SignalTypeFormat(
    "local_vpp_{}_bus_setpoint"
)
