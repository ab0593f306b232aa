"""From samples to ``flow`` bodies.

Each quantity is integrated and cut into intervals, the totals are balanced and
allocated, and the renewable share held in the battery is tracked. Energy between
two samples comes from the counter delta when both samples carry the counter, else
from the trapezoid of the powers; it is split over the intervals the stretch spans in
proportion to time (PROTOCOL.md, sections 7.1 and 12.5).
"""

from __future__ import annotations

from typing import Final

from sidecar.ledger import kinds
from sidecar.ledger.canonical import JsonObject, JsonValue
from sidecar.ledger.samples import Sample

QUANTITIES: Final = ("pv", "grid_in", "bat_out", "home", "bat_in", "grid_out", "living")
MIN_GAP_MS: Final = 5_000
GAP_INTERVALS: Final = 5
_MWH_PER_W_MS: Final = 1 / 3_600  # 1 W for 1 ms is 1/3600 mWh
_BATTERY: Final = frozenset({"bat_in", "bat_out"})
_OTHERS: Final = frozenset({"pv", "grid_in", "bat_out", "bat_in", "grid_out"})


class FlowBuilder:
    """Accumulates one flat's samples into flow bodies, one per interval."""

    def __init__(
        self,
        *,
        interval_ms: int,
        grid_ren_ppm: int,
        floor: str,
        flat: str,
        serial: str | None = None,
        battery_share_ppm: int | None = None,
    ) -> None:
        self.interval_ms = interval_ms
        self.max_gap_ms = max(GAP_INTERVALS * interval_ms, MIN_GAP_MS)
        self.grid_ren_ppm = grid_ren_ppm
        self.loc: JsonObject = {"floor": floor, "flat": flat}
        self.serial = serial
        self._prev: Sample | None = None
        self._start = 0
        self._end = 0
        self._count = 0
        self._energy = dict.fromkeys(QUANTITIES, 0.0)
        self._seen: set[str] = set()
        self._carry = dict.fromkeys(QUANTITIES, 0.0)
        self._latest: dict[str, int] = {}
        self._battery_mwh = 0.0
        self._measured_mwh: float | None = None
        self._battery_share = (
            grid_ren_ppm if battery_share_ppm is None else battery_share_ppm
        )
        self._has_battery = battery_share_ppm is not None

    def add(self, sample: Sample) -> list[JsonObject]:
        """Take the next accepted sample; return the intervals it completed."""
        before = self._prev
        self._prev = sample
        if before is None:
            self._open(sample.ts)
            self._arrive(sample)
            return []
        span = sample.ts - before.ts
        done: list[JsonObject] = []
        if span > self.max_gap_ms:
            if before.ts > self._start:
                done.append(self._close(before.ts))
            self._reset()
            for quantity, energy in self._energies(before, sample, span, True).items():
                self._energy[quantity] += energy
                self._seen.add(quantity)
            self._start = before.ts
            self._observe(sample)
            done.append(self._close(sample.ts, gap=True))
            self._open(sample.ts)
            self._arrive(sample)
            return done
        energies = self._energies(before, sample, span, False)
        at = before.ts
        while at < sample.ts:
            until = min(self._end, sample.ts)
            share = (until - at) / span
            for quantity, energy in energies.items():
                self._energy[quantity] += energy * share
                self._seen.add(quantity)
            at = until
            if until == self._end:
                if until == sample.ts:
                    self._observe(
                        sample
                    )  # its values are the ones at the interval's end
                done.append(self._close(until))
                self._open(until)
        self._arrive(sample)
        return done

    def _open(self, start: int) -> None:
        self._start = start
        self._end = (start // self.interval_ms + 1) * self.interval_ms
        self._count = 0

    def _arrive(self, sample: Sample) -> None:
        self._count += 1
        self._observe(sample)

    def _observe(self, sample: Sample) -> None:
        for key, value in (
            ("soc", sample.soc_ppm),
            ("mhz", sample.mhz),
            ("mv", sample.mv),
        ):
            if value is not None:
                self._latest[key] = value
        if sample.stored_wh is not None:
            self._measured_mwh = sample.stored_wh * 1000
            self._has_battery = True

    def _energies(
        self, before: Sample, after: Sample, span: int, counters_only: bool
    ) -> dict[str, float]:
        result: dict[str, float] = {}
        for quantity in QUANTITIES:
            if quantity in before.counters and quantity in after.counters:
                delta = after.counters[quantity] - before.counters[quantity]
                result[quantity] = delta * 1000
            elif (
                not counters_only
                and quantity in before.power
                and quantity in after.power
            ):
                mean = (before.power[quantity] + after.power[quantity]) / 2
                result[quantity] = mean * span * _MWH_PER_W_MS
        return result

    def _reset(self) -> None:
        self._energy = dict.fromkeys(QUANTITIES, 0.0)
        self._seen = set()

    def _take(self, quantity: str) -> int:
        """Whole mWh of a quantity, carrying the rounding remainder forward.

        Carrying keeps sums over many intervals exact.
        """
        value = self._energy[quantity] + self._carry[quantity]
        whole = max(round(value), 0)
        self._carry[quantity] = value - whole
        return whole

    def _close(self, end: int, *, gap: bool = False) -> JsonObject:
        taken = {quantity: self._take(quantity) for quantity in QUANTITIES}
        metered = "home" in self._seen
        supplied = taken["pv"] + taken["grid_in"] + taken["bat_out"]
        if metered:
            home = taken["home"]
        elif gap and not self._seen >= _OTHERS:
            # Across a gap only counters count; if some flow had none, the home's share
            # is unknown and the balance states the difference instead of guessing.
            home = 0
        else:
            home = max(0, supplied - taken["bat_in"] - taken["grid_out"])
        totals = kinds.Totals(
            pv=taken["pv"],
            grid_in=taken["grid_in"],
            bat_out=taken["bat_out"],
            home=home,
            bat_in=taken["bat_in"],
            grid_out=taken["grid_out"],
        )
        allocation = kinds.allocate(totals)
        renewable = {
            "pv": kinds.PPM,
            "grid": self.grid_ren_ppm,
            "battery": self._battery_share,
        }
        transfers: list[JsonValue] = [
            {"from": source, "to": sink, "mwh": mwh, "ren": renewable[source]}
            for source, sink, mwh in allocation
        ]
        if self._seen & _BATTERY:
            self._has_battery = True
        pv_charge = sum(
            mwh
            for source, sink, mwh in allocation
            if (source, sink) == ("pv", "battery")
        )
        self._track_battery(totals, pv_charge)
        body: JsonObject = {
            "start": self._start,
            "end": end,
            "loc": self.loc,
            "samples": 0 if gap else self._count,
            "balance": kinds.balance(totals, metered=metered),
            "transfers": transfers,
        }
        if self.serial:
            body["serial"] = self.serial
        body.update(self._latest)
        if self._has_battery:
            body["bat_ren"] = self._battery_share
        if "living" in self._seen:
            body["living"] = taken["living"]
        if gap:
            body["gap"] = 1
        self._reset()
        return body

    def _track_battery(self, totals: kinds.Totals, pv_charge: int) -> None:
        """Update the pooled renewable share of the stored energy.

        Charging adds energy at its source's share, discharging takes it out at the
        pool's share. Charge the
        allocation could not attribute to PV counts at the grid's share.
        """
        share = self._battery_share / kinds.PPM
        stored = self._battery_mwh - totals.bat_out + totals.bat_in
        renewable = (self._battery_mwh - totals.bat_out) * share + pv_charge
        renewable += (totals.bat_in - pv_charge) * self.grid_ren_ppm / kinds.PPM
        if stored > 0:
            self._battery_share = round(
                min(max(renewable / stored, 0.0), 1.0) * kinds.PPM
            )
        # A measured stored energy replaces the estimate; the share carries over.
        measured = self._measured_mwh
        self._measured_mwh = None
        self._battery_mwh = max(stored if measured is None else measured, 0.0)
