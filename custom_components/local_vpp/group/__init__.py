"""The flat's part in the building: group discharge and outage support over the bus."""
