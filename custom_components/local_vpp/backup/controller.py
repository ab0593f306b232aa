"""The living-room backup in Home Assistant: watch the grid, act, announce.

The decisions live in plain-Python modules (``grid_watch``, ``load_shedding``,
``battery_runtime``); this module feeds them each poll and carries out what they
decide: the living room to the battery (through ``battery_control``, where the power
cut is the first claim), loads shed, residents told, events fired, and all of it undone
once the grid has been stable for the reconnection delay. It keeps its state in
Home Assistant's storage, so a restart during a power cut resumes without flapping.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from homeassistant.components import persistent_notification
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import ATTR_ENTITY_ID, SERVICE_TURN_OFF, SERVICE_TURN_ON
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.storage import Store
from homeassistant.helpers.translation import async_get_translations
from homeassistant.util import dt as dt_util

from ..battery_control import BatteryControl, Party
from ..const import (
    BACKUP_MODE_AUTO,
    BACKUP_MODE_OFF,
    BACKUP_MODES,
    CONF_FAST_POLL_INTERVAL,
    CONF_GRID_AREA,
    CONF_NOMINAL_VOLTAGE,
    CONF_POLL_INTERVAL,
    CONF_RECONNECT_DELAY,
    CONF_RESTORE_STAGGER,
    CONF_SHED_ENTITIES,
    DEFAULT_FAST_POLL_INTERVAL_S,
    DEFAULT_GRID_AREA,
    DEFAULT_NOMINAL_VOLTAGE,
    DEFAULT_POLL_INTERVAL_S,
    DEFAULT_RECONNECT_DELAY_S,
    DEFAULT_RESTORE_STAGGER_S,
    DOMAIN,
    EVENT_BACKUP_ENGAGED,
    EVENT_BACKUP_RELEASED,
    EVENT_OUTAGE_ENDED,
    EVENT_OUTAGE_STARTED,
)
from ..coordinator import LocalVppCoordinator
from ..device import DeviceError, FlatReading
from ..signals import BACKUP_CHANGED
from .battery_runtime import BackupEnergyUse, LoadAverage, runtime_left_min
from .grid_watch import GridState, GridWatch, GridWatchSettings, Transition
from .load_shedding import ShedPlan

_LOGGER = logging.getLogger(__name__)

_STORAGE_VERSION = 1
_SAVE_DELAY_S = 1.0


def _monotonic() -> float:
    """The clock every outage timing uses (a function so tests can move it)."""
    return time.monotonic()


def grid_watch_settings(options: dict[str, Any]) -> GridWatchSettings:
    """The grid thresholds configured in the entry's options."""
    return GridWatchSettings(
        nominal_voltage_v=float(
            options.get(CONF_NOMINAL_VOLTAGE, DEFAULT_NOMINAL_VOLTAGE)
        ),
        area_hz=int(options.get(CONF_GRID_AREA, DEFAULT_GRID_AREA)),
        reconnect_delay_s=float(
            options.get(CONF_RECONNECT_DELAY, DEFAULT_RECONNECT_DELAY_S)
        ),
    )


class BackupController:
    """Supervise one flat's living-room backup."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        coordinator: LocalVppCoordinator,
        control: BatteryControl,
    ) -> None:
        """Prepare; ``async_start`` restores the saved state and begins watching."""
        self.hass = hass
        self._entry = entry
        self._coordinator = coordinator
        self._control = control
        options = dict(entry.options)
        self._settings = grid_watch_settings(options)
        self._normal_poll_s: float = options.get(
            CONF_POLL_INTERVAL, DEFAULT_POLL_INTERVAL_S
        )
        self._fast_poll_s: float = options.get(
            CONF_FAST_POLL_INTERVAL, DEFAULT_FAST_POLL_INTERVAL_S
        )
        self._shed_entities: list[str] = list(options.get(CONF_SHED_ENTITIES, []))
        self._stagger_s = float(
            options.get(CONF_RESTORE_STAGGER, DEFAULT_RESTORE_STAGGER_S)
        )
        self._store: Store[dict[str, Any]] = Store(
            hass, _STORAGE_VERSION, f"{DOMAIN}.{entry.entry_id}.backup"
        )
        self.mode = BACKUP_MODE_AUTO
        self.watch = GridWatch(self._settings)
        self.energy_use: BackupEnergyUse | None = None
        self.last_outage_duration_s: float | None = None
        # When the grid came back in the current outage (restoring), on our clock.
        self._grid_back_at: float | None = None
        self._load = LoadAverage()
        self._plan = ShedPlan()
        self._unsubscribers: list[CALLBACK_TYPE] = []
        self._timers: set[CALLBACK_TYPE] = set()

    # -- lifecycle -------------------------------------------------------------

    async def async_start(self) -> None:
        """Restore what was saved, then follow every poll."""
        if (saved := await self._store.async_load()) is not None:
            self._restore(saved)
        self._apply_poll_cadence()
        self._unsubscribers.append(
            self._coordinator.async_add_listener(self._handle_poll)
        )
        self._handle_poll()

    async def async_stop(self) -> None:
        """Stop watching and save the state for the next start."""
        for unsubscribe in [*self._unsubscribers, *self._timers]:
            unsubscribe()
        self._unsubscribers.clear()
        self._timers.clear()
        await self._store.async_save(self._snapshot())

    def _restore(self, saved: dict[str, Any]) -> None:
        now, wall_now = _monotonic(), time.time()
        if saved.get("mode") in BACKUP_MODES:
            self.mode = saved["mode"]
        if (watch := saved.get("watch")) is not None:
            restored = GridWatch.from_dict(
                watch, self._settings, now=now, wall_now=wall_now
            )
            if restored is not None:
                self.watch = restored
        self._control.restore_power_cut(
            bool(saved.get("engaged", False)) and self.watch.backup_wanted
        )
        if (plan := saved.get("shed_plan")) is not None:
            self._plan = ShedPlan.from_dict(plan) or ShedPlan()
        if (use := saved.get("energy_use")) is not None:
            self.energy_use = BackupEnergyUse.from_dict(use, now=now, wall_now=wall_now)
        self.last_outage_duration_s = saved.get("last_outage_duration_s")
        if (back_wall := saved.get("grid_back_wall")) is not None:
            self._grid_back_at = float(back_wall) - wall_now + now

    def _snapshot(self) -> dict[str, Any]:
        now, wall_now = _monotonic(), time.time()
        return {
            "mode": self.mode,
            "watch": self.watch.to_dict(now=now, wall_now=wall_now),
            "engaged": self.engaged,
            "shed_plan": self._plan.to_dict(),
            "energy_use": None
            if self.energy_use is None
            else self.energy_use.to_dict(now=now, wall_now=wall_now),
            "last_outage_duration_s": self.last_outage_duration_s,
            "grid_back_wall": None
            if self._grid_back_at is None
            else self._grid_back_at - now + wall_now,
        }

    def _save(self) -> None:
        self._store.async_delay_save(self._snapshot, _SAVE_DELAY_S)

    # -- what entities read ------------------------------------------------------

    def _announce_change(self) -> None:
        """Signal ``BACKUP_CHANGED``: the mode or the backup state changed."""
        async_dispatcher_send(self.hass, BACKUP_CHANGED.format(self._entry.entry_id))

    @property
    def engaged(self) -> bool:
        """Whether the living room is on the battery because of an outage."""
        return self._control.power_cut

    @property
    def armed(self) -> bool:
        """Whether an outage would be acted on or announced."""
        return self.mode != BACKUP_MODE_OFF

    def outage_duration_s(self) -> float | None:
        """Length of the current outage (until the grid came back), else the last."""
        started = self.watch.outage_started_at
        if started is None:
            return self.last_outage_duration_s
        ended = self._grid_back_at if self._grid_back_at is not None else _monotonic()
        return max(0.0, ended - started)

    def runtime_left_min(self, reading: FlatReading | None) -> float | None:
        """Minutes the battery could carry the living room from now."""
        battery = None if reading is None else reading.battery
        if battery is None:
            return None
        return runtime_left_min(
            soc_pct=battery.soc_pct,
            capacity_wh=battery.rated_wh,
            floor_soc_pct=battery.min_soc_pct,
            load_w=self._load.value_w,
        )

    # -- mode ----------------------------------------------------------------------

    async def async_set_mode(self, mode: str) -> None:
        """Change the backup mode; an outage under way is taken over if now auto."""
        if mode not in BACKUP_MODES:
            raise ValueError(f"unknown backup mode {mode!r}")
        self.mode = mode
        self._apply_poll_cadence()
        if mode == BACKUP_MODE_AUTO and self.watch.backup_wanted and not self.engaged:
            await self._async_engage()
        self._save()
        self._announce_change()

    def _apply_poll_cadence(self) -> None:
        # Armed: poll fast so a grid loss is noticed within half a second.
        self._coordinator.poll_interval_s = (
            self._fast_poll_s if self.armed else self._normal_poll_s
        )

    # -- each poll ---------------------------------------------------------------

    @callback
    def _handle_poll(self) -> None:
        now = _monotonic()
        reading = self._coordinator.data
        meter = reading.meter if self._coordinator.last_update_success else None
        transition = self.watch.update(
            now,
            voltage_v=None if meter is None else meter.voltage_v,
            frequency_hz=None if meter is None else meter.frequency_hz,
            connected=None if meter is None else meter.connected,
        )
        if self._coordinator.last_update_success:
            room = reading.living_room
            self._load.update(None if room is None else room.power_w, now)
            if self.energy_use is not None and self.watch.backup_wanted:
                battery = reading.battery
                self.energy_use.update(
                    None if battery is None else battery.discharged_wh, now
                )
        if transition is not None:
            self._handle_transition(transition)

    def _handle_transition(self, transition: Transition) -> None:
        if transition.to_state is GridState.SUSPECT:
            # Confirm at once instead of a whole poll later: two samples this far
            # apart cannot both fall inside a short sag.
            self._later(self._settings.confirm_s, self._async_confirmation_poll)
        elif transition.to_state is GridState.RESTORING:
            self._grid_back_at = transition.at
        elif transition.to_state is GridState.OUTAGE:
            # A relapse while restoring: the outage goes on.
            self._grid_back_at = None
        if transition.ends_outage:
            started = transition.outage_started_at
            back = (
                self._grid_back_at if self._grid_back_at is not None else transition.at
            )
            self.last_outage_duration_s = (
                None if started is None else max(0.0, back - started)
            )
            self._grid_back_at = None
        if transition.starts_outage:
            self._entry.async_create_task(
                self.hass, self._async_outage_started(), "local_vpp outage started"
            )
        elif transition.ends_outage:
            self._entry.async_create_task(
                self.hass,
                self._async_outage_ended(),
                "local_vpp outage ended",
            )
        self._save()
        self._announce_change()

    def _later(self, delay_s: float, action: Callable[[Any], Any]) -> None:
        """Run ``action`` after ``delay_s``; cancelled if the entry unloads first."""

        async def run(now: Any) -> None:
            self._timers.discard(cancel)
            await action(now)

        cancel = async_call_later(self.hass, delay_s, run)
        self._timers.add(cancel)

    async def _async_confirmation_poll(self, _now: Any) -> None:
        await self._coordinator.async_refresh()

    # -- actions -------------------------------------------------------------------

    def _event_data(self, **extra: Any) -> dict[str, Any]:
        return {"entry_id": self._entry.entry_id, "flat": self._entry.title} | extra

    async def _async_outage_started(self) -> None:
        self.energy_use = BackupEnergyUse()
        battery = self._coordinator.data.battery
        self.energy_use.update(
            None if battery is None else battery.discharged_wh, _monotonic()
        )
        if not self.armed:
            return
        meter = self._coordinator.data.meter
        started = self.watch.outage_started_at
        started_at = dt_util.utcnow() - timedelta(
            seconds=0 if started is None else _monotonic() - started
        )
        self.hass.bus.async_fire(
            EVENT_OUTAGE_STARTED,
            self._event_data(
                started_at=started_at.isoformat(),
                voltage_v=None if meter is None else meter.voltage_v,
                frequency_hz=None if meter is None else meter.frequency_hz,
            ),
        )
        # The living room first: telling people can wait a few milliseconds.
        if self.mode == BACKUP_MODE_AUTO:
            await self._async_engage()
        await self._async_notify(
            "outage_auto" if self.mode == BACKUP_MODE_AUTO else "outage_manual",
            shed=self._plan.entity_ids,
        )
        self._save()
        self._announce_change()

    async def _async_engage(self) -> None:
        """Living room to battery, battery to backup, shed the chosen loads."""
        coordinator = self._coordinator
        room = coordinator.data.living_room
        try:
            await self._control.async_start_power_cut(
                room_on_battery=None if room is None else room.on_battery
            )
        except DeviceError as err:
            _LOGGER.error("Could not switch the living room to the battery: %s", err)
            return
        self._plan = ShedPlan.from_states(self._shed_entities, self._states())
        if shed := list(self._plan.entity_ids):
            await self.hass.services.async_call(
                "homeassistant", SERVICE_TURN_OFF, {ATTR_ENTITY_ID: shed}, blocking=True
            )
        battery = coordinator.data.battery
        self.hass.bus.async_fire(
            EVENT_BACKUP_ENGAGED,
            self._event_data(
                soc_pct=None if battery is None else battery.soc_pct,
                runtime_left_min=self.runtime_left_min(coordinator.data),
                shed_entities=shed,
            ),
        )
        self._save()
        await coordinator.async_refresh()

    async def _async_outage_ended(self) -> None:
        used_wh = None if self.energy_use is None else self.energy_use.used_wh
        restored: list[str] = []
        if self.engaged:
            restored = await self._async_release()
        if self.armed:
            self.hass.bus.async_fire(
                EVENT_OUTAGE_ENDED,
                self._event_data(
                    duration_s=self.last_outage_duration_s,
                    battery_energy_used_wh=used_wh,
                ),
            )
            # Replaces the power-cut notification: residents see how it ended.
            await self._async_notify("power_back")
        if restored or self.engaged:
            self.hass.bus.async_fire(
                EVENT_BACKUP_RELEASED, self._event_data(restored_entities=restored)
            )
        try:
            await self._control.async_end_power_cut()
        except DeviceError as err:
            _LOGGER.warning("Could not hand the battery back after the outage: %s", err)
        self._save()
        self._announce_change()

    async def _async_release(self) -> list[str]:
        """Living room back to the grid; shed loads back one by one."""
        try:
            await self._control.async_move_living_room(Party.POWER_CUT, False)
        except DeviceError as err:
            _LOGGER.error("Could not move the living room back to the grid: %s", err)
        restore = self._plan.without_manual(self._states()).restore(
            self._states(), stagger_s=self._stagger_s
        )
        self._plan = restore.waiting
        for step in restore.steps:
            if step.delay_s <= 0:
                await self._async_turn_on(step.entity_id)
            else:
                self._later(step.delay_s, self._turn_on_later(step.entity_id))
        await self._coordinator.async_refresh()
        return list(restore.entity_ids)

    def _turn_on_later(self, entity_id: str) -> Callable[[Any], Any]:
        async def turn_on(_now: Any) -> None:
            await self._async_turn_on(entity_id)

        return turn_on

    async def _async_turn_on(self, entity_id: str) -> None:
        await self.hass.services.async_call(
            "homeassistant", SERVICE_TURN_ON, {ATTR_ENTITY_ID: entity_id}, blocking=True
        )

    def _states(self) -> dict[str, str | None]:
        return {
            entity_id: state.state
            if (state := self.hass.states.get(entity_id))
            else None
            for entity_id in self._shed_entities
        }

    @property
    def _notification_id(self) -> str:
        return f"{DOMAIN}_{self._entry.entry_id}_outage"

    async def _async_notify(self, key: str, shed: tuple[str, ...] = ()) -> None:
        """A persistent notification in the user's language."""
        translations = await async_get_translations(
            self.hass, self.hass.config.language, "exceptions", [DOMAIN]
        )

        def text(name: str) -> str:
            return translations.get(f"component.{DOMAIN}.exceptions.{name}.message", "")

        shed_text = ""
        if shed:
            names = ", ".join(
                state.name if (state := self.hass.states.get(entity)) else entity
                for entity in shed
            )
            shed_text = text("outage_shed").replace("{loads}", names)
        message = (
            text(f"{key}_message")
            .replace("{flat}", self._entry.title)
            .replace("{shed}", shed_text)
        )
        persistent_notification.async_create(
            self.hass,
            message,
            title=text(f"{key}_title"),
            notification_id=self._notification_id,
        )
