"""The SQLite ledger database: every SQL statement, the writer thread, retention."""
