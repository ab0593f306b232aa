"""Device counters that start again from 0 at a fixed modulus."""

from __future__ import annotations


class WrappingCounter:
    """Turn a counter that starts again from 0 at ``modulus`` into one that grows.

    A value more than half the range below the last one is a wrap; a smaller dip is
    passed through unchanged, for the energy sensors' own dip rule to judge.
    """

    def __init__(self, modulus: int) -> None:
        """A counter that wraps after ``modulus`` counts."""
        self.modulus = modulus
        self._last: int | None = None
        self._wraps = 0

    def update(self, raw: int | None) -> int | None:
        """The counter including past wraps; ``None`` when the device did not say."""
        if raw is None:
            return None
        if self._last is not None and self._last - raw > self.modulus // 2:
            self._wraps += 1
        self._last = raw
        return raw + self._wraps * self.modulus
