"""From samples to ``flow`` bodies.

Each quantity is integrated and cut into intervals, the totals are balanced and
allocated, and the renewable share held in the battery is tracked. Energy between
two samples comes from the counters when the later sample carries one, else from the
trapezoid of the powers; it is split over the intervals the stretch spans in
proportion to time (PROTOCOL.md, sections 7.1 and 12.5).

The builder keeps, per quantity, the counter reading its flows have accounted up to
(the *position*). A counter reading always brings the position to the counter, so
energy estimated from power while readings were refused or missing is corrected by
the next accepted reading: the ledger's totals over any span between two accepted
readings equal the counter's difference. Flows say which they are: ``estimated``
(some energy integrated from power, or unknown), ``reconciled`` (it carries the
correction of estimates, from ``reconciles`` on), else measured.
"""

from __future__ import annotations

from typing import Final

from sidecar.ledger import kinds
from sidecar.ledger.canonical import JsonObject, JsonValue
from sidecar.ledger.resume import Resume
from sidecar.ledger.samples import Sample

QUANTITIES: Final = ("pv", "grid_in", "bat_out", "home", "bat_in", "grid_out", "living")
MIN_GAP_MS: Final = 5_000
GAP_INTERVALS: Final = 5
_MWH_PER_W_MS: Final = 1 / 3_600  # 1 W for 1 ms is 1/3600 mWh
_BATTERY: Final = frozenset({"bat_in", "bat_out"})
_OTHERS: Final = frozenset({"pv", "grid_in", "bat_out", "bat_in", "grid_out"})
ESTIMATED: Final = "estimated"
RECONCILED: Final = "reconciled"
MEASURED: Final = "measured"  # never written: a flow without ``quality`` is measured
_EXACT, _ESTIMATE, _UNKNOWN = "exact", "estimate", "unknown"


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
        resume: Resume | None = None,
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
        # Per quantity: the counter reading (mWh) the flows account up to, and since
        # when that position rests on estimates rather than a reading.
        self._position: dict[str, float] = {}
        self._estimating: dict[str, int] = {}
        self._marks: dict[str, str] = {}  # quantity → its quality in the open interval
        self._reconciles: int | None = None
        self.closed: Resume | None = None  # where the last returned flow ended
        # Resumed without positions: the first stretch's energy is unknown.
        self._blind_from: int | None = None
        if resume is not None:
            self._resume(resume)

    def _resume(self, resume: Resume) -> None:
        """Go on from the last durable flow: the next stretch starts at its end."""
        self._position = dict(resume.position)
        self._estimating = dict(resume.estimating)
        self._prev = Sample(resume.end)
        self._open(resume.end)
        self.closed = resume
        if not resume.position:
            self._blind_from = resume.end

    def add(self, sample: Sample) -> list[JsonObject]:
        """Take the next accepted sample; return the intervals it completed."""
        before = self._prev
        self._prev = sample
        if before is None:
            self._open(sample.ts)
            self._arrive(sample)
            self._anchor(sample)
            return []
        span = sample.ts - before.ts
        done: list[JsonObject] = []
        blind = before.ts == self._blind_from
        if span > self.max_gap_ms:
            if before.ts > self._start:
                done.append(self._close(before.ts))
            self._reset()
            self._start = before.ts
            for quantity, (spread, at_end, how) in self._energies(
                before, sample, span, True
            ).items():
                self._add(quantity, spread + at_end, how, last=True)
            if blind:
                self._marks[""] = ESTIMATED
            self._observe(sample)
            done.append(self._close(sample.ts, gap=True))
            self._open(sample.ts)
            self._arrive(sample)
            self._anchor(sample)
            return done
        energies = self._energies(before, sample, span, False)
        at = before.ts
        while at < sample.ts:
            until = min(self._end, sample.ts)
            share = (until - at) / span
            last = until == sample.ts
            for quantity, (spread, at_end, how) in energies.items():
                energy = spread * share + (at_end if last else 0.0)
                self._add(quantity, energy, how, last=last)
            if blind:
                self._marks[""] = ESTIMATED  # nothing is known of this stretch
            at = until
            if until == self._end:
                if last:
                    self._observe(sample)  # its values are the ones at the end
                done.append(self._close(until))
                self._open(until)
        self._arrive(sample)
        self._anchor(sample)
        return done

    def _add(self, quantity: str, energy: float, how: str, *, last: bool) -> None:
        """Book one piece of a stretch and mark the quality it gives its interval.

        ``how`` is ``_EXACT`` when the stretch ends at a counter reading the position
        reaches at its last piece (a reconciliation if the position rested on
        estimates), ``_ESTIMATE`` for power integrated, ``_UNKNOWN`` for nothing known.
        """
        since = self._estimating.get(quantity)
        exact = how == _EXACT
        if exact and since is None:
            self._marks.setdefault(quantity, MEASURED)
        elif exact and last and since is not None:
            del self._estimating[quantity]
            self._marks[quantity] = RECONCILED
            if self._reconciles is None or since < self._reconciles:
                self._reconciles = since
        else:
            self._marks[quantity] = ESTIMATED
            if quantity in self._position and since is None:
                self._estimating[quantity] = self._start
        if how == _UNKNOWN:
            return
        self._energy[quantity] += energy
        self._seen.add(quantity)
        if quantity in self._position:
            self._position[quantity] += energy

    def _anchor(self, sample: Sample) -> None:
        """A counter reading is where the flows now stand for its quantity."""
        for quantity, value in sample.counters.items():
            self._position[quantity] = value * 1000
            if quantity in sample.rebased:
                # The stretch up to a reset cannot be reconciled: it stays estimated.
                self._estimating.pop(quantity, None)

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
    ) -> dict[str, tuple[float, float, str]]:
        """Per quantity: energy spread over the stretch, energy at its end, its kind.

        With a counter reading at the end, the stretch's energy is the reading less
        the position. If the position rests on estimates, the stretch is estimated
        from power like the ones before, and the rest (the correction) comes at its
        end. Without a reading, power is integrated; a quantity with neither is
        present (unknown, nothing booked) only if it has a counter to wait for.
        """
        result: dict[str, tuple[float, float, str]] = {}
        for quantity in QUANTITIES:
            estimate: float | None = None
            if (
                not counters_only
                and quantity in before.power
                and quantity in after.power
            ):
                mean = (before.power[quantity] + after.power[quantity]) / 2
                estimate = mean * span * _MWH_PER_W_MS
            counter = after.counters.get(quantity)
            position = self._position.get(quantity)
            if (
                counter is not None
                and position is not None
                and quantity not in after.rebased
            ):
                exact = counter * 1000 - position
                if quantity not in self._estimating:
                    result[quantity] = (exact, 0.0, _EXACT)
                else:
                    spread = estimate or 0.0
                    result[quantity] = (spread, exact - spread, _EXACT)
            elif estimate is not None:
                result[quantity] = (estimate, 0.0, _ESTIMATE)
            elif position is not None:
                result[quantity] = (0.0, 0.0, _UNKNOWN)
        return result

    def _reset(self) -> None:
        self._energy = dict.fromkeys(QUANTITIES, 0.0)
        self._seen = set()
        self._marks = {}
        self._reconciles = None

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
        marks = set(self._marks.values())
        if ESTIMATED in marks:
            body["quality"] = ESTIMATED
        elif RECONCILED in marks:
            body["quality"] = RECONCILED
        if self._reconciles is not None:
            body["reconciles"] = self._reconciles
        self._reset()
        self.closed = Resume(end, dict(self._position), dict(self._estimating))
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
