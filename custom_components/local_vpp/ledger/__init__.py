"""The flat's link to its ledger sidecar and the messages spoken over it."""
