"""WAT: neighbours settle their energy in a local token whose value moves with time.

A pure function of the ledger and time, computed alike on every node (docs/WAT.md,
PROTOCOL.md section 7.10): :mod:`.spec` the currency document, :mod:`.adoption` how a
version is adopted, :mod:`.value` value over time, :mod:`.matching` one interval,
:mod:`.book` intervals in order, :mod:`.settlement` the whole kept up to date.
"""
