"""The flats and the building meter as Modbus devices.

The SunSpec register map, each unit's registers and writes, and the pymodbus TCP
server that serves them.
"""
