"""Leaderless group discharge and outage support, computed alike on every node."""
