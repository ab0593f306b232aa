"""Slowly wandering random values (clouds, appliance use, grid voltage)."""

from __future__ import annotations

import math
import random


class Wander:
    """A mean-reverting random walk (Ornstein–Uhlenbeck) around 0.

    Its spread is ``sigma`` whatever the step size, and it forgets its past after about
    ``time_constant_s``: clouds and loads drift instead of jumping every step.
    """

    def __init__(
        self, rng: random.Random, sigma: float, time_constant_s: float
    ) -> None:
        """Start at 0 and draw from ``rng`` (seeded by the caller for repeatability)."""
        self._rng = rng
        self.sigma = sigma
        self._tau = time_constant_s
        self.value = 0.0

    def step(self, dt: float) -> float:
        """Move on by ``dt`` seconds and return the new value."""
        if dt <= 0 or self.sigma == 0:
            return self.value
        keep = math.exp(-dt / self._tau)
        spread = self.sigma * math.sqrt(1.0 - keep * keep)
        self.value = self.value * keep + spread * self._rng.gauss(0.0, 1.0)
        return self.value
