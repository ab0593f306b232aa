"""Outage support over the building bus: the plan, and the transfers it leaves."""
