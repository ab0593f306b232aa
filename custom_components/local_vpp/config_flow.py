"""Set up a flat from the UI: where its Modbus endpoint is and which unit is which."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import voluptuous as vol
from homeassistant.config_entries import (
    SOURCE_IGNORE,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import selector
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
from homeassistant.loader import async_get_integration
from modbus_connection.model.sunspec import SunSpecModels

from .battery_facts import battery_facts_schema
from .const import (
    CONF_FAST_POLL_INTERVAL,
    CONF_FLAT,
    CONF_GRID_AREA,
    CONF_NOMINAL_VOLTAGE,
    CONF_POLL_INTERVAL,
    CONF_RECONNECT_DELAY,
    CONF_RESTORE_STAGGER,
    CONF_SHED_ENTITIES,
    CONF_SIDECAR_TOKEN,
    CONF_SIDECAR_URL,
    CONF_UNIT_BATTERY,
    CONF_UNIT_METER,
    CONF_UNIT_PV,
    DEFAULT_FAST_POLL_INTERVAL_S,
    DEFAULT_GRID_AREA,
    DEFAULT_NOMINAL_VOLTAGE,
    DEFAULT_POLL_INTERVAL_S,
    DEFAULT_PORT,
    DEFAULT_RECONNECT_DELAY_S,
    DEFAULT_RESTORE_STAGGER_S,
    DEFAULT_UNIT_BATTERY,
    DEFAULT_UNIT_METER,
    DEFAULT_UNIT_PV,
    DOMAIN,
    MAX_POLL_INTERVAL_S,
    MAX_RECONNECT_DELAY_S,
    MIN_POLL_INTERVAL_S,
    MIN_RECONNECT_DELAY_S,
    SHEDDABLE_DOMAINS,
)
from .device import (
    ROLE_BATTERY,
    ROLE_METER,
    ROLE_PV,
    CannotConnectError,
    MissingModelsError,
    NotSunSpecError,
)
from .echonet_flow import EchonetSteps
from .families import (
    CONF_FAMILY,
    FAMILY_ECHONET,
    FAMILY_SUNSPEC,
    async_discover_sunspec,
    family_of,
)
from .group.bus_controller_options import (
    async_bus_controller_errors,
    bus_controller_schema,
)
from .ledger.sidecar_link import async_check_sidecar
from .living_room.options import living_room_errors, living_room_schema
from .naming import MAX_FLAT_LENGTH, async_default_title
from .runtime import LocalVppConfigEntry

LEDGER_PATH = "/api/v1/ws"

_LOGGER = logging.getLogger(__name__)

# A box with the number in it: a slider from 1 to 247 hides which id is chosen.
_UNIT_ID = selector.NumberSelector(
    selector.NumberSelectorConfig(
        min=1, max=247, step=1, mode=selector.NumberSelectorMode.BOX
    )
)
_UNIT_KEYS = (CONF_UNIT_PV, CONF_UNIT_BATTERY, CONF_UNIT_METER)


def _normalized(user_input: dict[str, Any]) -> dict[str, Any]:
    """Unit ids as integers (the number box gives floats), the flat trimmed."""
    data = dict(user_input)
    for key in _UNIT_KEYS:
        data[key] = int(data[key])
    if CONF_FLAT in data:
        data[CONF_FLAT] = str(data[CONF_FLAT]).strip()
    return data


def _connection_schema(
    defaults: dict[str, Any], *, ask_flat: bool = False
) -> vol.Schema:
    flat: dict[Any, Any] = {}
    if ask_flat:
        flat = {
            vol.Required(
                CONF_FLAT, default=defaults.get(CONF_FLAT, "")
            ): selector.TextSelector()
        }
    return vol.Schema(
        flat
        | {
            vol.Required(CONF_HOST, default=defaults.get(CONF_HOST, "")): str,
            vol.Required(
                CONF_PORT, default=defaults.get(CONF_PORT, DEFAULT_PORT)
            ): vol.All(vol.Coerce(int), vol.Range(min=1, max=65535)),
            vol.Required(
                CONF_UNIT_PV, default=defaults.get(CONF_UNIT_PV, DEFAULT_UNIT_PV)
            ): _UNIT_ID,
            vol.Required(
                CONF_UNIT_BATTERY,
                default=defaults.get(CONF_UNIT_BATTERY, DEFAULT_UNIT_BATTERY),
            ): _UNIT_ID,
            vol.Required(
                CONF_UNIT_METER,
                default=defaults.get(CONF_UNIT_METER, DEFAULT_UNIT_METER),
            ): _UNIT_ID,
        }
    )


def _models_found(models: Mapping[str, SunSpecModels], data: Mapping[str, Any]) -> str:
    """Which SunSpec models each unit has, for the installer: "PV (unit 1): 1, 701"."""
    units = {ROLE_PV: CONF_UNIT_PV, ROLE_BATTERY: CONF_UNIT_BATTERY}
    units[ROLE_METER] = CONF_UNIT_METER
    return "\n".join(
        f"- {role} (unit {data[key]}): "
        + ", ".join(str(model.model_id) for model in models[role].chain)
        for role, key in units.items()
        if role in models
    )


async def _validate(
    data: dict[str, Any],
) -> tuple[str | None, dict[str, str], dict[str, str]]:
    """Read the flat's SunSpec maps; its serial and the models, or the errors.

    On success the placeholders say which models each unit has.
    """
    units = [data[CONF_UNIT_PV], data[CONF_UNIT_BATTERY], data[CONF_UNIT_METER]]
    if len(set(units)) != len(units):
        return None, {"base": "duplicate_unit_ids"}, {}
    try:
        family, device = await async_discover_sunspec(data)
    except CannotConnectError:
        return None, {"base": "cannot_connect"}, {}
    except NotSunSpecError as err:
        return None, {"base": "not_sunspec"}, {"unit": f"{err.role} ({err.unit_id})"}
    except MissingModelsError as err:
        return None, {"base": "missing_models"}, {"models": err.summary}
    except Exception:
        _LOGGER.exception("Unexpected error while checking %s", data[CONF_HOST])
        return None, {"base": "unknown"}, {}
    # The entry remembers which SunSpec family answered; 7xx stays the default.
    data.pop(CONF_FAMILY, None)
    if family != FAMILY_SUNSPEC:
        data[CONF_FAMILY] = family
    return device.serial, {}, {"models": _models_found(device.models, data)}


async def _check_sidecar(
    hass: HomeAssistant, url: str, token: str, serial: str | None
) -> str | None:
    """Open the sidecar's WebSocket as the link will; an error key or ``None``."""
    integration = await async_get_integration(hass, DOMAIN)
    return await async_check_sidecar(
        async_get_clientsession(hass),
        url,
        token,
        client=f"{DOMAIN} {integration.version}",
        serial=serial,
    )


def _sidecar_url(info: ZeroconfServiceInfo) -> str:
    path = str(info.properties.get("path") or LEDGER_PATH)
    if not path.startswith("/"):
        path = f"/{path}"
    host = str(info.ip_address)
    if info.ip_address.version == 6:
        host = f"[{host}]"
    return f"ws://{host}:{info.port}{path}"


class LocalVppConfigFlow(EchonetSteps, domain=DOMAIN):
    """Add a flat, or point an existing one at a new address."""

    VERSION = 1
    # 1.2: the flat's number or name (``flat``) is part of the entry data.
    MINOR_VERSION = 2

    def __init__(self) -> None:
        """Nothing discovered yet."""
        self._sidecar_entry: LocalVppConfigEntry | None = None
        self._sidecar_url = ""
        self._sidecar_info: dict[str, str] = {}

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: LocalVppConfigEntry) -> OptionsFlow:
        """Offer the poll interval."""
        return LocalVppOptionsFlow()

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask which kind of devices the flat has."""
        return self.async_show_menu(step_id="user", menu_options=["sunspec", "echonet"])

    async def async_step_sunspec(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask which flat it is and where its Modbus endpoint is."""
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None:
            user_input = _normalized(user_input)
            flat = user_input[CONF_FLAT]
            if not flat or len(flat) > MAX_FLAT_LENGTH:
                errors[CONF_FLAT] = "flat_length"
                serial = None
            else:
                serial, errors, placeholders = await _validate(user_input)
            if serial is not None:
                await self.async_set_unique_id(serial)
                self._abort_if_unique_id_configured()
                return self.async_create_entry(
                    title=await async_default_title(self.hass, user_input[CONF_FLAT]),
                    data=user_input,
                    description="models_found",
                    description_placeholders=placeholders,
                )
        return self.async_show_form(
            step_id="sunspec",
            data_schema=_connection_schema(user_input or {}, ask_flat=True),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_zeroconf(
        self, discovery_info: ZeroconfServiceInfo
    ) -> ConfigFlowResult:
        """A ledger sidecar announced itself: link it to its flat's entry."""
        properties = {
            str(key): str(value) for key, value in discovery_info.properties.items()
        }
        serial = properties.get("serial", "").strip()
        author = properties.get("author", "").strip()
        await self.async_set_unique_id(f"ledger-{author or serial or 'unknown'}")
        self._abort_if_unique_id_configured()
        url = _sidecar_url(discovery_info)
        entry = self._entry_for_sidecar(serial)
        if entry is None:
            return self.async_abort(reason="not_set_up")
        if entry.options.get(CONF_SIDECAR_URL) == url:
            return self.async_abort(reason="already_configured")
        token = entry.options.get(CONF_SIDECAR_TOKEN)
        if (
            entry.options.get(CONF_SIDECAR_URL)
            and token
            and await _check_sidecar(self.hass, url, str(token), entry.unique_id)
            is None
        ):
            # The same sidecar at a new address: follow it without asking.
            return self.async_update_reload_and_abort(
                entry,
                options=dict(entry.options) | {CONF_SIDECAR_URL: url},
                reason="sidecar_moved",
            )
        self._sidecar_entry = entry
        self._sidecar_url = url
        self._sidecar_info = {
            "flat": properties.get("flat", "") or "?",
            "building": properties.get("building", "") or "?",
            "entry": entry.title,
            "url": url,
        }
        self.context["title_placeholders"] = {"name": entry.title}
        return await self.async_step_zeroconf_confirm()

    def _entry_for_sidecar(self, serial: str) -> LocalVppConfigEntry | None:
        """The flat with this battery serial; without one, the only unlinked flat."""
        entries = [
            entry
            for entry in self.hass.config_entries.async_entries(DOMAIN)
            if entry.source != SOURCE_IGNORE
        ]
        if serial:
            return next((e for e in entries if e.unique_id == serial), None)
        unlinked = [e for e in entries if not e.options.get(CONF_SIDECAR_URL)]
        return unlinked[0] if len(unlinked) == 1 else None

    async def async_step_zeroconf_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the sidecar's API token, check it, and link the flat."""
        entry = self._sidecar_entry
        assert entry is not None
        errors: dict[str, str] = {}
        if user_input is not None:
            token = str(user_input[CONF_SIDECAR_TOKEN]).strip()
            error = await _check_sidecar(
                self.hass, self._sidecar_url, token, entry.unique_id
            )
            if error is None:
                return self.async_update_reload_and_abort(
                    entry,
                    options=dict(entry.options)
                    | {CONF_SIDECAR_URL: self._sidecar_url, CONF_SIDECAR_TOKEN: token},
                    reason="sidecar_linked",
                )
            errors["base"] = error
        return self.async_show_form(
            step_id="zeroconf_confirm",
            data_schema=vol.Schema(
                {
                    vol.Required(CONF_SIDECAR_TOKEN): selector.TextSelector(
                        selector.TextSelectorConfig(
                            type=selector.TextSelectorType.PASSWORD
                        )
                    )
                }
            ),
            errors=errors,
            description_placeholders=self._sidecar_info,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the address or unit ids of the same flat."""
        entry = self._get_reconfigure_entry()
        if family_of(entry.data) == FAMILY_ECHONET:
            return await self.async_step_echonet_reconfigure()
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None:
            user_input = _normalized(user_input)
            serial, errors, placeholders = await _validate(user_input)
            if serial is not None:
                await self.async_set_unique_id(serial)
                self._abort_if_unique_id_mismatch(reason="wrong_device")
                # The family is as found now (a replaced inverter may serve another).
                kept = {k: v for k, v in entry.data.items() if k != CONF_FAMILY}
                return self.async_update_reload_and_abort(entry, data=kept | user_input)
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=_connection_schema(user_input or dict(entry.data)),
            errors=errors,
            description_placeholders=placeholders,
        )


def _seconds(minimum: float, maximum: float, step: float) -> selector.NumberSelector:
    return selector.NumberSelector(
        selector.NumberSelectorConfig(
            min=minimum,
            max=maximum,
            step=step,
            unit_of_measurement="s",
            mode=selector.NumberSelectorMode.BOX,
        )
    )


def _options_schema(options: Mapping[str, Any]) -> vol.Schema:
    def current(key: str, default: Any) -> Any:
        return options.get(key, default)

    return vol.Schema(
        {
            vol.Required(
                CONF_POLL_INTERVAL,
                default=current(CONF_POLL_INTERVAL, DEFAULT_POLL_INTERVAL_S),
            ): _seconds(MIN_POLL_INTERVAL_S, MAX_POLL_INTERVAL_S, 0.05),
            vol.Required(
                CONF_FAST_POLL_INTERVAL,
                default=current(CONF_FAST_POLL_INTERVAL, DEFAULT_FAST_POLL_INTERVAL_S),
            ): _seconds(MIN_POLL_INTERVAL_S, MAX_POLL_INTERVAL_S, 0.05),
            vol.Required(
                CONF_RECONNECT_DELAY,
                default=current(CONF_RECONNECT_DELAY, DEFAULT_RECONNECT_DELAY_S),
            ): _seconds(MIN_RECONNECT_DELAY_S, MAX_RECONNECT_DELAY_S, 1),
            vol.Optional(
                CONF_SHED_ENTITIES, default=current(CONF_SHED_ENTITIES, [])
            ): selector.EntitySelector(
                selector.EntitySelectorConfig(domain=SHEDDABLE_DOMAINS, multiple=True)
            ),
            vol.Required(
                CONF_RESTORE_STAGGER,
                default=current(CONF_RESTORE_STAGGER, DEFAULT_RESTORE_STAGGER_S),
            ): _seconds(0, 600, 1),
            vol.Required(
                CONF_NOMINAL_VOLTAGE,
                default=current(CONF_NOMINAL_VOLTAGE, DEFAULT_NOMINAL_VOLTAGE),
            ): selector.NumberSelector(
                selector.NumberSelectorConfig(
                    min=90,
                    max=260,
                    step=1,
                    unit_of_measurement="V",
                    mode=selector.NumberSelectorMode.BOX,
                )
            ),
            vol.Required(
                CONF_GRID_AREA, default=current(CONF_GRID_AREA, DEFAULT_GRID_AREA)
            ): selector.SelectSelector(
                selector.SelectSelectorConfig(
                    options=["50", "60"],
                    translation_key=CONF_GRID_AREA,
                    mode=selector.SelectSelectorMode.LIST,
                )
            ),
            vol.Optional(
                CONF_SIDECAR_URL,
                description={"suggested_value": options.get(CONF_SIDECAR_URL)},
            ): selector.TextSelector(
                selector.TextSelectorConfig(type=selector.TextSelectorType.URL)
            ),
            vol.Optional(
                CONF_SIDECAR_TOKEN,
                description={"suggested_value": options.get(CONF_SIDECAR_TOKEN)},
            ): selector.TextSelector(
                selector.TextSelectorConfig(type=selector.TextSelectorType.PASSWORD)
            ),
        }
    )


class LocalVppOptionsFlow(OptionsFlow):
    """Polling cadence and what happens during a power cut."""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the options."""
        errors: dict[str, str] = {}
        if user_input is not None:
            url = user_input.get(CONF_SIDECAR_URL)
            token = user_input.get(CONF_SIDECAR_TOKEN)
            if bool(url) != bool(token):
                errors["base"] = "sidecar_incomplete"
            elif url and not str(url).startswith(("ws://", "wss://")):
                errors[CONF_SIDECAR_URL] = "sidecar_url_scheme"
            elif (
                url
                and token
                and (
                    url != self.config_entry.options.get(CONF_SIDECAR_URL)
                    or token != self.config_entry.options.get(CONF_SIDECAR_TOKEN)
                )
                and (
                    error := await _check_sidecar(
                        self.hass, str(url), str(token), self.config_entry.unique_id
                    )
                )
            ):
                errors["base"] = error
            elif not (errors := living_room_errors(user_input)) and not (
                errors := await async_bus_controller_errors(
                    user_input, self.config_entry.options
                )
            ):
                return self.async_create_entry(data=user_input)
        schema = (
            _options_schema(self.config_entry.options)
            .extend(living_room_schema(self.config_entry.options))
            .extend(battery_facts_schema(self.config_entry.options))
        )
        # A 7xx battery unit serves the bus itself; other families need the
        # changeover controller the electrician installs.
        if family_of(self.config_entry.data) != FAMILY_SUNSPEC:
            schema = schema.extend(bus_controller_schema(self.config_entry.options))
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(schema, user_input or {}),
            errors=errors,
        )
