"""Fault-injection tests: real processes under clock, key, network and device faults."""
