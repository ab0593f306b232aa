"""Simulator tests: the real Modbus server, its physics, CLI and control API."""
