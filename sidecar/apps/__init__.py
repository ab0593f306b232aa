"""Applications that read the ledger, each a pure function of the ledger and time.

Renewable origin certificates, battery traceability and settlement in the local token
land here: they read entries through the ledger and storage packages and write nothing.
"""
