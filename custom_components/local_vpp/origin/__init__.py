"""Renewable origin in Home Assistant: today's shares and energy, and certificates.

The figures come from the flat's ledger sidecar (its ``/api/v1/origin`` endpoints,
read through the sidecar link); the sidecar computes them from the building's
ledger as docs/ORIGIN.md describes.
"""
