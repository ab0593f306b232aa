"""Renewable origin: where each flat's energy came from, and granular certificates.

A pure function of the ledger and the building's time zone, identical on every node
(docs/ORIGIN.md): :mod:`.hourly` sums each flat's signed entries per hour,
:mod:`.model` allocates them (own PV, own battery, neighbours, grid) with exact
integers, :mod:`.report` tabulates them by hour or day, :mod:`.today` keeps today's
up to date, :mod:`.certificates` and :mod:`.anchors` make EnergyTag-style granular
certificates with their ledger proofs, :mod:`.issue` issues a period's,
:mod:`.feeds` and :mod:`.checker` verify them offline from exported feeds;
:mod:`.command` and :mod:`.routes` are the command line and the local API.
"""
