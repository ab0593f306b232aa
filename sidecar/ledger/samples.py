"""Measurement samples from Home Assistant: parsing, plausibility and rejection reasons.

A whole sample is refused only when its time is unusable; a single implausible value is
dropped and the rest of the sample is used (PROTOCOL.md, section 12.4). Nothing a sample
contains can raise anything but :class:`SampleRejected`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from sidecar.ledger.bounds import OutOfBounds, number

COUNTERS: Final = {
    "pv_wh": "pv",
    "grid_in_wh": "grid_in",
    "grid_out_wh": "grid_out",
    "battery_in_wh": "bat_in",
    "battery_out_wh": "bat_out",
    "home_wh": "home",
    "living_wh": "living",
}
# Loads and PV can read slightly negative (standby draw, sensor offset): up to this
# much counts as zero, more is implausible.
NEGATIVE_SLACK_W: Final = 50.0
# A counter may run this much faster than the power limit (rounding, timing jitter)...
JUMP_MARGIN: Final = 1.25
# ...plus this many Wh, the resolution of the coarsest counters.
JUMP_SLACK_WH: Final = 2.0
# No number in a sample may be larger than this, before any arithmetic (PROTOCOL.md
# §12.10): a thousand times a flat's lifetime energy in Wh, with sub-mWh resolution
# left in a float. Each field's own rules below are narrower.
MAX_MAGNITUDE: Final = 1e12
# A stored energy beyond any flat's battery (the coordination limit, 10 MWh).
MAX_STORED_WH: Final = 1e7


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a sample or one of its values was not used."""

    reason: str
    detail: str
    field: str | None = None

    @property
    def scope(self) -> str:
        """``sample`` when the whole sample was refused, else ``field``."""
        return "sample" if self.field is None else "field"


class SampleRejected(Exception):
    """The whole sample is unusable."""

    def __init__(self, rejection: Rejection) -> None:
        super().__init__(rejection.detail)
        self.rejection = rejection


@dataclass(slots=True)
class Sample:
    """One accepted sample, in the units the flow builder integrates."""

    ts: int
    counters: dict[str, float] = field(default_factory=dict)  # quantity → Wh
    power: dict[str, float] = field(default_factory=dict)  # quantity → W, ≥ 0
    soc_ppm: int | None = None
    stored_wh: float | None = None
    mhz: int | None = None
    mv: int | None = None
    bus_w: float | None = None  # + exporting to the building bus, − importing
    # Counters that start from a new base here (a reset or a replaced meter): the
    # energy since their previous reading is unknown and must not be reconciled.
    rebased: tuple[str, ...] = ()


class SampleChecker:
    """Checks samples in arrival order against each other and against physics.

    ``device_speed`` is how many of the devices' seconds pass in one second of the
    samples' ``ts`` (1 for real devices; N for a simulated building at N× speed): a
    counter's allowed rise scales with it. ``signed_until`` is the end of the last
    durable flow: samples at or before it were signed already and are refused.
    """

    def __init__(
        self,
        *,
        max_power_w: float,
        max_skew_ms: int,
        max_age_ms: int,
        device_speed: float = 1.0,
        signed_until: int | None = None,
    ) -> None:
        self.max_power_w = max_power_w
        self.max_skew_ms = max_skew_ms
        self.max_age_ms = max_age_ms
        self.device_speed = device_speed
        self.signed_until = signed_until
        self.last_ts: int | None = None
        # The last reading of each counter that was used: the next one is checked
        # against it, however many readings were refused in between.
        self.last_counters: dict[str, tuple[float, int]] = {}
        # The last refused reading: a second reading consistent with it (a meter that
        # was reset or replaced) becomes the counter's new base.
        self.refused_counters: dict[str, tuple[float, int]] = {}

    def check(
        self, message: dict[str, object], now_ms: int
    ) -> tuple[Sample, list[Rejection]]:
        """Turn a ``sample`` message into a :class:`Sample` and the values dropped."""
        ts = self._check_time(message.get("ts"), now_ms)
        sample = Sample(ts)
        dropped: list[Rejection] = []
        numbers: dict[str, float] = {}
        for key, value in message.items():
            if key in ("type", "ts") or not _known(key):
                continue
            try:
                numbers[key] = number(value, -MAX_MAGNITUDE, MAX_MAGNITUDE, key)
            except OutOfBounds as err:
                dropped.append(Rejection(err.reason, err.detail, key))
        for key, quantity in COUNTERS.items():
            if key in numbers:
                self._counter(sample, key, quantity, numbers[key], dropped)
        self._powers(sample, numbers, dropped)
        self._state(sample, numbers, dropped)
        self.last_ts = ts
        return sample, dropped

    def _check_time(self, ts: object, now_ms: int) -> int:
        if isinstance(ts, bool) or not isinstance(ts, int):
            raise SampleRejected(
                Rejection("missing_ts", "ts must be integer milliseconds")
            )
        if ts > now_ms + self.max_skew_ms:
            raise SampleRejected(
                Rejection(
                    "in_future", f"ts is {ts - now_ms} ms ahead of the sidecar's clock"
                )
            )
        if ts < now_ms - self.max_age_ms:
            raise SampleRejected(
                Rejection("too_old", f"ts is {(now_ms - ts) // 1000} s old")
            )
        if self.signed_until is not None and ts <= self.signed_until:
            raise SampleRejected(
                Rejection(
                    "already_signed",
                    f"ts is {self.signed_until - ts} ms before the end of the last "
                    "signed flow",
                )
            )
        if self.last_ts is not None and ts == self.last_ts:
            raise SampleRejected(Rejection("same_ts", "same ts as the previous sample"))
        if self.last_ts is not None and ts < self.last_ts:
            raise SampleRejected(
                Rejection(
                    "out_of_order", f"{self.last_ts - ts} ms before the previous sample"
                )
            )
        return ts

    def _counter(
        self,
        sample: Sample,
        key: str,
        quantity: str,
        value: float,
        dropped: list[Rejection],
    ) -> None:
        if value < 0:
            dropped.append(Rejection("negative_counter", f"{key} is {value}", key))
            return
        last = self.last_counters.get(key)
        if last is None:
            self._use(sample, key, quantity, value)
            return
        refusal = self._implausible(key, value, sample.ts, last)
        if refusal is None:
            self._use(sample, key, quantity, value)
            return
        refused = self.refused_counters.get(key)
        self.refused_counters[key] = (value, sample.ts)
        if (
            refused is not None
            and refused[1] > last[1]
            and self._implausible(key, value, sample.ts, refused) is None
        ):
            # Two readings agree with each other and not with the old base: the
            # meter was reset or replaced.
            self._use(sample, key, quantity, value)
            sample.rebased += (quantity,)
            return
        dropped.append(refusal)

    def _use(self, sample: Sample, key: str, quantity: str, value: float) -> None:
        sample.counters[quantity] = value
        self.last_counters[key] = (value, sample.ts)
        self.refused_counters.pop(key, None)

    def allowed_rise_wh(self, dt_ms: int) -> float:
        """The most a counter may grow in ``dt_ms`` of sample time (PROTOCOL 12.4)."""
        device_ms = dt_ms * self.device_speed
        return self.max_power_w * device_ms / 3_600_000 * JUMP_MARGIN + JUMP_SLACK_WH

    def _implausible(
        self, key: str, value: float, ts: int, base: tuple[float, int]
    ) -> Rejection | None:
        before, dt_ms = base[0], ts - base[1]
        if value < before:
            return Rejection(
                "counter_backwards", f"{key} fell from {before} to {value}", key
            )
        allowed = self.allowed_rise_wh(dt_ms)
        if value - before > allowed:
            return Rejection(
                "counter_jump",
                f"{key} grew {value - before:.1f} Wh in {dt_ms} ms; "
                f"at most {allowed:.1f} Wh is possible",
                key,
            )
        return None

    def _powers(
        self, sample: Sample, numbers: dict[str, float], dropped: list[Rejection]
    ) -> None:
        for key, value in numbers.items():
            if not key.endswith("_w"):
                continue
            if abs(value) > self.max_power_w:
                dropped.append(
                    Rejection(
                        "power_limit",
                        f"{key} is {value} W, beyond the flat's {self.max_power_w} W",
                        key,
                    )
                )
                continue
            if key in ("pv_w", "home_w", "living_w"):
                if value < -NEGATIVE_SLACK_W:
                    dropped.append(
                        Rejection("out_of_range", f"{key} is {value} W", key)
                    )
                    continue
                sample.power[key[:-2]] = max(value, 0.0)
            elif key == "battery_w":  # + discharging, − charging
                sample.power["bat_out"] = max(value, 0.0)
                sample.power["bat_in"] = max(-value, 0.0)
            elif key == "grid_w":  # + importing, − exporting
                sample.power["grid_in"] = max(value, 0.0)
                sample.power["grid_out"] = max(-value, 0.0)
            elif key == "bus_w":  # not a flow: the bus ledger's alone
                sample.bus_w = value

    def _state(
        self, sample: Sample, numbers: dict[str, float], dropped: list[Rejection]
    ) -> None:
        soc = numbers.get("soc_pct")
        if soc is not None:
            if 0 <= soc <= 100:
                sample.soc_ppm = round(soc * 10_000)
            else:
                dropped.append(
                    Rejection("out_of_range", f"soc_pct is {soc}", "soc_pct")
                )
        stored = numbers.get("stored_wh")
        if stored is not None:
            if 0 <= stored <= MAX_STORED_WH:
                sample.stored_wh = stored
            else:
                dropped.append(
                    Rejection("out_of_range", f"stored_wh is {stored}", "stored_wh")
                )
        hz = numbers.get("frequency_hz")
        if hz is not None:
            if hz == 0 or 40 <= hz <= 70:
                sample.mhz = round(hz * 1000)
            else:
                dropped.append(
                    Rejection("out_of_range", f"frequency_hz is {hz}", "frequency_hz")
                )
        volts = numbers.get("voltage_v")
        if volts is not None:
            if 0 <= volts <= 500:
                sample.mv = round(volts * 1000)
            else:
                dropped.append(
                    Rejection("out_of_range", f"voltage_v is {volts}", "voltage_v")
                )


_NUMERIC: Final = frozenset(
    {
        *COUNTERS,
        "pv_w",
        "battery_w",
        "grid_w",
        "home_w",
        "living_w",
        "bus_w",
        "soc_pct",
        "stored_wh",
        # The battery's own view, stated in battery_state entries (battery_state.py).
        "soh_pct",
        "battery_cycles",
        "cell_v_max",
        "cell_v_min",
        "frequency_hz",
        "voltage_v",
    }
)


def _known(key: str) -> bool:
    # Unknown keys are ignored so that newer clients can send more.
    return key in _NUMERIC
