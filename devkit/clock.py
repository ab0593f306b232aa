"""The clock the sidecars sign with."""

from __future__ import annotations

import time


def now_ms() -> int:
    """Wall-clock ms since the epoch, as a node stamps its entries and samples."""
    return time.time_ns() // 1_000_000
