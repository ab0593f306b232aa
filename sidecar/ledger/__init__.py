"""The ledger format: canonical bodies, signed entries, kinds, Merkle trees, the chain.

Pure functions and data: nothing here touches the database, the network or the clock,
and nothing here imports the packages above it (storage, mesh, coordination, api).
"""
