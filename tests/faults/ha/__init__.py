"""Fault cases that need Home Assistant."""
