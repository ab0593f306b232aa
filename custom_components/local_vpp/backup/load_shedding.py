"""Which loads to switch off when the grid fails, and how to bring them back.

Pure data in, data out: the caller reads entity states from Home Assistant, passes them
as ``{entity_id: state}`` and calls ``homeassistant.turn_off`` / ``turn_on`` on the
entity ids it gets back (those services work for every sheddable domain).

Rules:

- Only loads that are on when the outage starts are switched off, and only those are
  ever switched back on: a load that was off stays off.
- A load that is unavailable or unknown when the outage starts is left alone and not
  restored afterwards; nobody knows what it was doing.
- A load the resident switches back on during the outage is theirs again: it is
  dropped from the plan and not touched at the end.
- Loads come back one at a time, ``stagger_s`` apart, in the order the user listed
  them, so compressors and heaters do not all start at once on a grid just back.

The plan serialises to a dict so it survives a Home Assistant restart mid-outage.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from ..const import DEFAULT_RESTORE_STAGGER_S, SHEDDABLE_DOMAINS

# Climate, water heaters and media players report a mode or activity rather than "on";
# these are the states that mean "not drawing power". A media player in standby is
# already at its lowest draw, so it is not worth switching off.
_OFF_STATES: Final = frozenset({"off", "standby"})
# Home Assistant's states for an entity whose device cannot be reached.
_UNKNOWN_STATES: Final = frozenset({"unavailable", "unknown"})
_SNAPSHOT_VERSION: Final = 1

type EntityStates = Mapping[str, str | None]
"""Entity id → state string; missing or ``None`` when the entity does not exist."""


def is_on(state: str | None) -> bool | None:
    """Whether a load in ``state`` draws power; ``None`` when that is unknowable."""
    if state is None or state in _UNKNOWN_STATES:
        return None
    return state not in _OFF_STATES


def is_sheddable(entity_id: str) -> bool:
    """Whether ``homeassistant.turn_off`` can switch this entity's load off."""
    return entity_id.partition(".")[0] in SHEDDABLE_DOMAINS


@dataclass(frozen=True, slots=True)
class ShedLoad:
    """A load this plan switched off, and the state it had before."""

    entity_id: str
    previous_state: str


@dataclass(frozen=True, slots=True)
class RestoreStep:
    """Switch ``entity_id`` back on ``delay_s`` after the restore starts.

    ``previous_state`` (e.g. ``cool`` for a climate entity) lets a caller restore the
    exact mode instead of a plain turn-on.
    """

    entity_id: str
    delay_s: float
    previous_state: str


@dataclass(frozen=True, slots=True)
class ShedPlan:
    """The loads switched off for an outage, in the user's order."""

    loads: tuple[ShedLoad, ...] = ()

    @classmethod
    def from_states(cls, entity_ids: Iterable[str], states: EntityStates) -> ShedPlan:
        """Plan the shedding of ``entity_ids`` given their states now.

        Only sheddable entities that are on are in the plan; duplicates count once.
        """
        loads: dict[str, ShedLoad] = {}
        for entity_id in entity_ids:
            state = states.get(entity_id)
            if (
                entity_id not in loads
                and is_sheddable(entity_id)
                and state is not None
                and is_on(state)
            ):
                loads[entity_id] = ShedLoad(entity_id, state)
        return cls(tuple(loads.values()))

    @property
    def entity_ids(self) -> tuple[str, ...]:
        """The loads to switch off now (``homeassistant.turn_off``)."""
        return tuple(load.entity_id for load in self.loads)

    def without_manual(self, states: EntityStates) -> ShedPlan:
        """The plan without the loads the resident has switched back on.

        Call it whenever a shed load's state changes during the outage, so a load that
        was switched on and off again by hand is not switched on at the end.
        """
        return ShedPlan(
            tuple(
                load
                for load in self.loads
                if is_on(states.get(load.entity_id)) is not True
            )
        )

    def restore(
        self, states: EntityStates, *, stagger_s: float = DEFAULT_RESTORE_STAGGER_S
    ) -> Restore:
        """Steps to switch the shed loads back on, given their states now.

        Loads that are on again are the resident's and are left alone; loads that are
        unavailable now cannot be switched and wait in ``Restore.waiting`` for the
        caller to try again once they are back.
        """
        if stagger_s < 0:
            raise ValueError("stagger must not be negative")
        steps: list[RestoreStep] = []
        waiting: list[ShedLoad] = []
        for load in self.loads:
            match is_on(states.get(load.entity_id)):
                case False:
                    delay_s = len(steps) * stagger_s
                    steps.append(
                        RestoreStep(load.entity_id, delay_s, load.previous_state)
                    )
                case None:
                    waiting.append(load)
        return Restore(tuple(steps), ShedPlan(tuple(waiting)))

    def to_dict(self) -> dict[str, Any]:
        """Serialise for storage across a restart."""
        return {
            "version": _SNAPSHOT_VERSION,
            "loads": [
                {"entity_id": load.entity_id, "previous_state": load.previous_state}
                for load in self.loads
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ShedPlan | None:
        """Rebuild from storage; ``None`` if the data is not a plan of ours."""
        try:
            if data["version"] != _SNAPSHOT_VERSION:
                return None
            loads = tuple(
                ShedLoad(item["entity_id"], item["previous_state"])
                for item in data["loads"]
            )
        except (KeyError, TypeError):
            return None
        if not all(
            isinstance(load.entity_id, str) and isinstance(load.previous_state, str)
            for load in loads
        ):
            return None
        return cls(loads)


@dataclass(frozen=True, slots=True)
class Restore:
    """What to switch back on now, and what is still waiting to be restored."""

    steps: tuple[RestoreStep, ...]
    waiting: ShedPlan

    @property
    def entity_ids(self) -> tuple[str, ...]:
        """The loads switched back on by these steps, in order."""
        return tuple(step.entity_id for step in self.steps)
