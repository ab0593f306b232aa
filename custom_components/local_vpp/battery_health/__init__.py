"""Battery health from the flat's ledger: figures, anomalies, a repair, a passport.

The sidecar computes the figures from the flat's signed records (docs/BATTERY.md);
this package reads them through the sidecar link and shows them.
"""
