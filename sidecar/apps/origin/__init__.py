"""Renewable origin: where each flat's energy came from, and granular certificates.

A pure function of the ledger and the building's time zone, identical on every node
(docs/ORIGIN.md): :mod:`.hourly` sums each flat's signed entries per hour,
:mod:`.model` allocates them (own PV, own battery, neighbours, grid) with exact
integers, :mod:`.certificates` issues EnergyTag-style granular certificates with
ledger proofs, :mod:`.checker` verifies them offline from exported feeds.
"""
