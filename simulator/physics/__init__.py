"""The world the flats live in: sun, grid, loads, batteries, time and the bus's flows.

Nothing here knows about Modbus, HTTP or how the flats are put together.
"""
