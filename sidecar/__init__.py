"""The Local VPP ledger node: signs a flat's energy flows and keeps them verifiable.

The sidecar is its own program: it never imports the Home Assistant integration or the
simulator. The protocol it implements is specified in docs/PROTOCOL.md.
"""

from sidecar.apps.wat import kinds as _wat_kinds
from sidecar.coordination import kinds as _coordination_kinds
from sidecar.ledger import battery_day as _battery_day
from sidecar.ledger import battery_state as _battery_state
from sidecar.mesh import roster as _roster
from sidecar.mesh import roster_votes as _roster_votes

__version__ = "0.1.0"

# The ledger format checks the kinds defined above it with the schemas they register.
# Registering them here, where every use of the sidecar starts, makes the node and every
# tool check all kinds alike.
_coordination_kinds.register()
_roster.register()
_battery_state.register()
_battery_day.register()
_roster_votes.register()

_wat_kinds.register()
