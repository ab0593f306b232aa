"""SunSpec 1xx: the integer inverter, storage and meter models devices serve."""
