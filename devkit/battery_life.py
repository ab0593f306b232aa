"""A flat's battery life at high speed: simulator physics into signed flow entries.

For the battery traceability tests and benchmark: a lone simulated flat is stepped
directly (manual clock, no sockets), each step's reading becomes the ``sample`` the
integration would send (register values: whole Wh counters, SoC in tenths of a %),
and the sidecar's own :class:`~sidecar.ledger.samples.SampleChecker`,
:class:`~sidecar.ledger.flows.FlowBuilder` and :func:`~sidecar.ledger.etp.make_entry`
turn the samples into the signed, hash-chained flow entries a node would write.
The node's own rule for ``battery_state`` entries adds the battery's reports. Only
the database is left out, which the figures do not depend on.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sidecar.ledger import etp, kinds
from sidecar.ledger.battery_state import BATTERY_STATE, BatteryStates
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.etp import Entry
from sidecar.ledger.flows import FlowBuilder
from sidecar.ledger.identity import Identity
from sidecar.ledger.samples import SampleChecker
from simulator.model.building import Building
from simulator.model.config import BuildingConfig, FlatConfig
from simulator.physics.battery import Degradation

SERIAL = "LVPP-101-BAT"
BUILDING = "bldg-life"
JST = timedelta(hours=9)


@dataclass(frozen=True, slots=True)
class Injection:
    """Degradation that starts on day ``day`` (counted from 0)."""

    day: int
    degradation: Degradation


def _sample(building: Building, ts: int) -> dict[str, object]:
    state = building.flat().state()
    battery, meter = state.battery, state.meter
    return {
        "type": "sample",
        "ts": ts,
        "pv_w": state.pv.w,
        "pv_wh": state.pv.tot_wh_inj,
        "battery_w": battery.w,
        "battery_in_wh": battery.tot_wh_abs,
        "battery_out_wh": battery.tot_wh_inj,
        "soc_pct": round(battery.soc_pct, 1),
        "soh_pct": round(battery.soh_pct, 1),
        "battery_cycles": battery.cycles,
        "cell_v_max": round(battery.cell_v_max, 3),
        "cell_v_min": round(battery.cell_v_min, 3),
        "grid_w": -meter.w,
        "grid_in_wh": meter.tot_wh_abs,
        "grid_out_wh": meter.tot_wh_inj,
    }


def contents(
    days: int,
    *,
    step_s: int = 300,
    seed: int = 1,
    injection: Injection | None = None,
    start: datetime = datetime(2025, 1, 1),
    place: tuple[str, str] = ("1", "101"),
) -> Iterator[tuple[int, str, JsonObject]]:
    """``(ts, kind, content)`` of the entries of ``days`` simulated days of one flat.

    One sample per ``step_s`` simulated seconds, one flow per sample, and the
    ``battery_state`` entries the node writes from them; cloud cover changes every
    morning from the seed. The content is what the node of flat ``place`` (floor,
    flat) appends.
    """
    config = FlatConfig(
        port=0,
        manual_clock=True,
        start=start,
        seed=seed,
        max_step_s=float(step_s),
        soc_pct=50.0,
    )
    building = Building(BuildingConfig.of_flat(config))
    weather = random.Random(seed)
    checker = SampleChecker(max_power_w=20_000, max_skew_ms=0, max_age_ms=10**12)
    builder = FlowBuilder(
        interval_ms=step_s * 1000,
        grid_ren_ppm=0,
        floor=place[0],
        flat=place[1],
        serial=SERIAL,
        battery_share_ppm=0,
    )
    states = BatteryStates()
    base_ms = int((start - JST).replace(tzinfo=UTC).timestamp() * 1000)
    for day in range(days):
        if injection is not None and injection.day == day:
            building.degrade(injection.degradation)
        building.set_clouds(round(weather.random() ** 2 * 0.9, 2))
        for _ in range(86_400 // step_s):
            building.advance(step_s)
            ts = base_ms + round(building.elapsed_s * 1000)
            message = _sample(building, ts)
            sample, _dropped = checker.check(message, ts)
            for content in builder.add(sample):
                yield ts, kinds.FLOW, content
            if (state := states.take(message, ts, SERIAL)) is not None:
                yield ts, BATTERY_STATE, state


def life(
    days: int,
    *,
    identity: Identity,
    step_s: int = 300,
    seed: int = 1,
    injection: Injection | None = None,
    start: datetime = datetime(2025, 1, 1),
) -> Iterator[Entry]:
    """The signed entries of :func:`contents`, hash-chained from seq 1."""
    prev = bytes(32)
    made = contents(days, step_s=step_s, seed=seed, injection=injection, start=start)
    for seq, (ts, kind, content) in enumerate(made, start=1):
        body: JsonObject = {
            "v": kinds.VERSION,
            "kind": kind,
            "building": BUILDING,
            "ts": ts,
        }
        body.update(content)
        entry = etp.make_entry(identity, seq, prev, (), body)
        prev = entry.id
        yield entry
