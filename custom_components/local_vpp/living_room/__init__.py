"""How the living room is switched and measured when the device does not do it."""
