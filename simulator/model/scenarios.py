"""Named building scenarios: a set-up and a timetable of events on the simulated clock.

A scenario is data: the building's settings (start time, how full the batteries
are, how much the households draw, …) and steps, each an action from
``simulator.model.actions`` with its JSON body at a simulated second. The seed
decides everything else, so a scenario runs the same way every time.

    scenario = SCENARIOS["outage_uneven_soc"]
    building = Building(scenario.config(flats=20, seed=3, manual_clock=True))
    apply_scenario(scenario, building)
    building.advance(scenario.duration_s)

Scenarios can also come from a JSON file with the same fields (see
``Scenario.from_json``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from .actions import BUILDING_ACTIONS, FLAT_ACTIONS
from .building import Building
from .config import BuildingConfig

type FlatSelector = str | int | Sequence[int]
"""Which flats a step is for: ``"all"``, ``"wired"``, an index or a list of them.

Indexes count flats in order (0 is 101) and wrap around, so a scenario fits a
building of any size.
"""


@dataclass(frozen=True, slots=True)
class Step:
    """``action`` with ``body`` at ``at_s`` simulated seconds after the start."""

    at_s: float
    action: str
    body: Mapping[str, Any] = field(default_factory=dict)
    flats: FlatSelector | None = None

    def __post_init__(self) -> None:
        """Refuse an unknown action, a flat action without flats, a bad body."""
        if self.action in BUILDING_ACTIONS:
            if self.flats is not None:
                raise ValueError(f"{self.action!r} is for the whole building")
            BUILDING_ACTIONS[self.action](self.body)
        elif self.action in FLAT_ACTIONS:
            if self.flats is None:
                raise ValueError(f"{self.action!r} needs 'flats'")
            FLAT_ACTIONS[self.action](self.body)
        else:
            known = sorted((*BUILDING_ACTIONS, *FLAT_ACTIONS))
            raise ValueError(f"unknown action {self.action!r}; choose from {known}")
        if self.at_s < 0:
            raise ValueError("a step cannot come before the start")


@dataclass(frozen=True, slots=True)
class Scenario:
    """A named situation for a building, from its set-up to its last event."""

    name: str
    description: str
    start: datetime
    duration_s: float
    settings: Mapping[str, Any]
    steps: tuple[Step, ...]

    def config(self, **overrides: Any) -> BuildingConfig:
        """The building for this scenario; ``overrides`` win over its settings."""
        return BuildingConfig(**{"start": self.start, **self.settings, **overrides})

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Scenario:
        """A scenario from JSON data: the fields above, ``start`` in ISO 8601."""
        try:
            settings = {
                key: _tuples(value) for key, value in data.get("settings", {}).items()
            }
            unknown = set(settings) - {f.name for f in fields(BuildingConfig)}
            if unknown:
                raise ValueError(f"unknown settings: {sorted(unknown)}")
            return cls(
                name=str(data["name"]),
                description=str(data.get("description", "")),
                start=datetime.fromisoformat(data["start"]),
                duration_s=float(data["duration_s"]),
                settings=settings,
                steps=tuple(
                    Step(
                        at_s=float(step["at_s"]),
                        action=str(step["action"]),
                        body=dict(step.get("body", {})),
                        flats=_selector(step.get("flats")),
                    )
                    for step in data.get("steps", ())
                ),
            )
        except (KeyError, TypeError, AttributeError) as err:
            raise ValueError(f"not a scenario: {err!r}") from err


def _tuples(value: Any) -> Any:
    """JSON lists as the tuples ``BuildingConfig`` uses."""
    if isinstance(value, list):
        return tuple(_tuples(item) for item in value)
    return value


def _selector(value: Any) -> FlatSelector | None:
    if value is None or isinstance(value, str | int):
        return value
    return tuple(int(index) for index in value)


def flats_of(selector: FlatSelector, building: Building) -> list[str]:
    """The flat numbers ``selector`` picks in ``building``."""
    ids = list(building.flats)
    match selector:
        case "all":
            return ids
        case "wired":
            return [flat_id for flat_id in ids if building.flats[flat_id].bus_wired]
        case str():
            raise ValueError(f"unknown flat selector {selector!r}")
        case int():
            return [ids[selector % len(ids)]]
        case _:
            return [ids[index % len(ids)] for index in selector]


def apply_scenario(scenario: Scenario, building: Building) -> None:
    """Schedule ``scenario``'s steps on ``building``'s clock, counted from now.

    The flats a step is for are chosen now. A step the building refuses when it
    comes (a cloud cover of 2, say) is logged and left out; see ``Building``.
    """
    origin = building.elapsed_s
    for step in scenario.steps:
        if step.action in BUILDING_ACTIONS:
            command = BUILDING_ACTIONS[step.action](step.body)
            building.schedule(
                origin + step.at_s, step.action, partial(command, building)
            )
            continue
        assert step.flats is not None
        flat_command = FLAT_ACTIONS[step.action](step.body)
        for flat_id in flats_of(step.flats, building):
            building.schedule(
                origin + step.at_s,
                f"{step.action} {flat_id}",
                partial(flat_command, building, flat_id),
            )


def load_scenario(name_or_path: str) -> Scenario:
    """A built-in scenario by name, or one from a JSON file."""
    if name_or_path in SCENARIOS:
        return SCENARIOS[name_or_path]
    path = Path(name_or_path)
    if path.suffix == ".json" and path.is_file():
        return Scenario.from_json(json.loads(path.read_text(encoding="utf-8")))
    raise ValueError(
        f"no scenario {name_or_path!r}; choose from {sorted(SCENARIOS)}"
        " or give a .json file"
    )


_HOUR = 3600.0

# A cold, overcast weekday in January: no sun after five, everyone home by seven.
EVENING_PEAK = Scenario(
    name="evening_peak",
    description="A winter weekday evening: loads rise to the 19:00–20:30 peak"
    " while the batteries, topped up during the day, stand ready.",
    start=datetime(2025, 1, 15, 17, 0),
    duration_s=4 * _HOUR,
    settings={
        "cloud_cover": 0.6,
        "soc_bands": ((1.0, 60.0, 95.0),),
        "load_scale": (0.7, 1.5),
    },
    steps=(
        Step(1 * _HOUR, "loads", {"factor": 1.1}),
        Step(2 * _HOUR, "loads", {"factor": 1.2}),
        Step(3.5 * _HOUR, "loads", {"factor": 1.0}),
    ),
)

# The same evening; in the middle of the peak one flat drops off the network.
FLAT_VANISHES = Scenario(
    name="flat_vanishes",
    description="The evening peak at 19:00; after ten minutes flat 103 (the third)"
    " goes silent on the network for twenty minutes, its devices still running.",
    start=datetime(2025, 1, 15, 19, 0),
    duration_s=1 * _HOUR,
    settings=EVENING_PEAK.settings,
    steps=(
        Step(0.0, "loads", {"factor": 1.2}),
        Step(600.0, "vanish", flats=2),
        Step(1800.0, "return", flats=2),
    ),
)

# Dark and half the batteries nearly empty when the grid fails for two hours.
OUTAGE_UNEVEN_SOC = Scenario(
    name="outage_uneven_soc",
    description="A two-hour outage at 18:35 on a winter evening: half the flats"
    " have full batteries, half are nearly empty; living rooms switch to battery"
    " a second after the grid goes, as the integration would.",
    start=datetime(2025, 1, 15, 18, 30),
    duration_s=3 * _HOUR,
    settings={
        "cloud_cover": 0.6,
        "soc_bands": ((0.5, 70.0, 95.0), (0.5, 6.0, 15.0)),
        "load_scale": (0.7, 1.5),
    },
    steps=(
        Step(300.0, "outage", {"on": True}),
        Step(301.0, "living_room", {"source": 1}, flats="all"),
        Step(300.0 + 2 * _HOUR, "outage", {"on": False}),
        Step(301.0 + 2 * _HOUR, "living_room", {"source": 0}, flats="all"),
    ),
)

_DAY = 24 * _HOUR

# Two months of ordinary days; after the first month four batteries start failing.
AGEING_BATTERIES = Scenario(
    name="ageing_batteries",
    description="Sixty days from 1 March; on day 30 the second flat's battery starts"
    " fading 0.2 % a day, the third's self-discharges 30 % a month, the fourth's"
    " loses 3 % efficiency each way and the fifth gets a weak cell (90 %); the first"
    " stays healthy. Physics in 5-minute steps: run it at a high --speed.",
    start=datetime(2025, 3, 1, 0, 0),
    duration_s=60 * _DAY,
    settings={"max_step_s": 300.0, "cloud_cover": 0.3},
    steps=(
        Step(30 * _DAY, "degrade", {"fade_pct_per_day": 0.2}, flats=1),
        Step(30 * _DAY, "degrade", {"self_discharge_pct_per_month": 27.0}, flats=2),
        Step(30 * _DAY, "degrade", {"efficiency_loss_pct": 3.0}, flats=3),
        Step(30 * _DAY, "degrade", {"weak_cell_pct": 90.0}, flats=4),
    ),
)

SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (EVENING_PEAK, FLAT_VANISHES, OUTAGE_UNEVEN_SOC, AGEING_BATTERIES)
}
