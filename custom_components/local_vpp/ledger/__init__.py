"""The flat's link to its ledger sidecar and what the sidecar reports."""
