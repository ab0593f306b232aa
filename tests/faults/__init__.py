"""Fault injection: crashes, slow and full disks, read-only stores, hostile peers."""
