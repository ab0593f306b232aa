"""The command-line tools that work on a ledger database: verify, export, import."""
