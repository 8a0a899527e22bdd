"""Config flow of the BC26 integration: port, LwM2M platform, options, reconfigure."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryFlow,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import selector

from .compat import OptionsFlowWithReload, async_port_selector, async_stable_port, vol
from .connection import NotBc26Error, async_open_module
from .const import (
    BAUDRATES,
    CONF_BAUDRATE,
    CONF_CHECK_INTERVAL,
    CONF_DATA_MODE,
    CONF_DEREGISTER_ON_UNLOAD,
    CONF_ENDPOINT,
    CONF_POLL_INTERVAL,
    CONF_PORT,
    CONF_QUEUE_AGE,
    CONF_QUEUE_SIZE,
    CONF_SERVER,
    CONF_SERVER_PORT,
    DATA_MODES,
    DEFAULT_BAUDRATE,
    DEFAULT_CHECK_INTERVAL,
    DEFAULT_DATA_MODE,
    DEFAULT_DEREGISTER_ON_UNLOAD,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_QUEUE_AGE,
    DEFAULT_QUEUE_SIZE,
    DEFAULT_SERVER_PORT,
    DOMAIN,
    MAX_CHECK_INTERVAL,
    MAX_POLL_INTERVAL,
    MAX_QUEUE_AGE,
    MAX_QUEUE_SIZE,
    MIN_CHECK_INTERVAL,
    MIN_POLL_INTERVAL,
    MIN_QUEUE_AGE,
    SUBENTRY_OBJECT,
    SUBENTRY_REPORT,
    SUBENTRY_RESOURCE_SENSOR,
    module_title,
)
from .modem import (
    InvalidArgumentError,
    ModemError,
    ModemIdentity,
    PortError,
    validate_endpoint,
    validate_server_host,
)
from .object_flow import (
    ObjectSubentryFlow,
    buffer_access_error,
    default_object_data,
    entry_declarations,
)
from .report_flow import ReportSubentryFlow
from .selectors import seconds, whole, whole_number
from .subentry_flow import ResourceSensorSubentryFlow
from .timing import session_timing

BAUDRATE_SELECTOR = selector.SelectSelector(
    selector.SelectSelectorConfig(
        options=[str(rate) for rate in BAUDRATES], mode=selector.SelectSelectorMode.DROPDOWN
    )
)
SERVER_PORT_SELECTOR = whole_number(1, 65535)
DATA_MODE_SELECTOR = selector.SelectSelector(
    selector.SelectSelectorConfig(
        options=list(DATA_MODES),
        translation_key=CONF_DATA_MODE,
        mode=selector.SelectSelectorMode.LIST,
    )
)
OPTIONS_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_DATA_MODE): DATA_MODE_SELECTOR,
        vol.Required(CONF_POLL_INTERVAL): seconds(MIN_POLL_INTERVAL, MAX_POLL_INTERVAL),
        vol.Required(CONF_CHECK_INTERVAL): seconds(0, MAX_CHECK_INTERVAL),
        vol.Optional(CONF_QUEUE_SIZE): whole_number(1, MAX_QUEUE_SIZE),
        vol.Optional(CONF_QUEUE_AGE): seconds(MIN_QUEUE_AGE, MAX_QUEUE_AGE),
        vol.Required(CONF_DEREGISTER_ON_UNLOAD): selector.BooleanSelector(),
    }
)


async def _async_identify(
    hass: HomeAssistant, port: str, baudrate: int
) -> tuple[ModemIdentity | None, str | None]:
    """Talk to the module on `port`: its identity, or the form error to show."""
    try:
        modem, identity = await async_open_module(port, baudrate, session_timing(hass).timeouts)
    except PortError:
        return None, "cannot_connect"
    except NotBc26Error:
        return None, "not_bc26"
    except ModemError:
        return None, "no_response"
    await modem.close()
    return identity, None


def _platform_errors(user_input: dict[str, Any]) -> dict[str, str]:
    """Check the server and endpoint with the same rules the modem's command builders apply."""
    errors: dict[str, str] = {}
    try:
        validate_server_host(user_input[CONF_SERVER])
    except InvalidArgumentError:
        errors[CONF_SERVER] = "invalid_server"
    port = whole(user_input[CONF_SERVER_PORT])
    if port is None or not 1 <= port <= 65535:
        errors[CONF_SERVER_PORT] = "invalid_server_port"
    try:
        validate_endpoint(user_input[CONF_ENDPOINT])
    except InvalidArgumentError:
        errors[CONF_ENDPOINT] = "invalid_endpoint"
    return errors


def _platform_data(user_input: dict[str, Any]) -> dict[str, Any]:
    return {
        CONF_SERVER: user_input[CONF_SERVER],
        CONF_SERVER_PORT: whole(user_input[CONF_SERVER_PORT]),
        CONF_ENDPOINT: user_input[CONF_ENDPOINT],
    }


def _stripped(user_input: dict[str, Any]) -> dict[str, Any]:
    """Text fields without the blanks a paste brings along."""
    return {
        key: value.strip() if isinstance(value, str) else value for key, value in user_input.items()
    }


class Bc26ConfigFlow(ConfigFlow, domain=DOMAIN):
    """Find the module on a serial port, then describe the LwM2M platform."""

    VERSION = 1
    MINOR_VERSION = 2  # 1.2: the declared objects are subentries (see async_migrate_entry)

    def __init__(self) -> None:
        """Nothing chosen yet."""
        self._connection: dict[str, Any] = {}
        self._imei = ""

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> Bc26OptionsFlow:
        """The session options."""
        return Bc26OptionsFlow()

    @classmethod
    @callback
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """The declared LwM2M objects and the decoded resource sensors are subentries."""
        return {
            SUBENTRY_OBJECT: ObjectSubentryFlow,
            SUBENTRY_REPORT: ReportSubentryFlow,
            SUBENTRY_RESOURCE_SENSOR: ResourceSensorSubentryFlow,
        }

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Serial port and baud rate; the module must answer as a BC26 before going on."""
        errors: dict[str, str] = {}
        if user_input is not None:
            user_input = _stripped(user_input)
            port = await async_stable_port(self.hass, user_input[CONF_PORT])
            baudrate = int(user_input[CONF_BAUDRATE])
            self._async_abort_entries_match({CONF_PORT: port})
            identity, error = await _async_identify(self.hass, port, baudrate)
            if identity is not None:
                await self.async_set_unique_id(identity.imei)
                # The module is known: it moved to another port, remember where it is now.
                self._abort_if_unique_id_configured(
                    updates={CONF_PORT: port, CONF_BAUDRATE: baudrate}
                )
                self._connection = {CONF_PORT: port, CONF_BAUDRATE: baudrate}
                self._imei = identity.imei
                return await self.async_step_platform()
            errors["base"] = str(error)
        schema = vol.Schema(
            {
                vol.Required(CONF_PORT): await async_port_selector(self.hass),
                vol.Required(CONF_BAUDRATE, default=str(DEFAULT_BAUDRATE)): BAUDRATE_SELECTOR,
            }
        )
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(schema, user_input or {}),
            errors=errors,
        )

    async def async_step_platform(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """LwM2M server, endpoint name and data mode."""
        errors: dict[str, str] = {}
        if user_input is not None:
            user_input = _stripped(user_input)
            errors = _platform_errors(user_input)
            if not errors:
                return self.async_create_entry(
                    title=module_title(self._imei),
                    data={**self._connection, **_platform_data(user_input)},
                    options={
                        CONF_DATA_MODE: user_input[CONF_DATA_MODE],
                        CONF_POLL_INTERVAL: DEFAULT_POLL_INTERVAL,
                        CONF_CHECK_INTERVAL: DEFAULT_CHECK_INTERVAL,
                        CONF_QUEUE_SIZE: DEFAULT_QUEUE_SIZE,
                        CONF_QUEUE_AGE: DEFAULT_QUEUE_AGE,
                        CONF_DEREGISTER_ON_UNLOAD: DEFAULT_DEREGISTER_ON_UNLOAD,
                    },
                    subentries=default_object_data(),
                )
        schema = vol.Schema(
            {
                vol.Required(CONF_SERVER): selector.TextSelector(),
                vol.Required(CONF_SERVER_PORT, default=DEFAULT_SERVER_PORT): SERVER_PORT_SELECTOR,
                vol.Required(CONF_ENDPOINT, default=self._imei): selector.TextSelector(),
                vol.Required(CONF_DATA_MODE, default=DEFAULT_DATA_MODE): DATA_MODE_SELECTOR,
            }
        )
        return self.async_show_form(
            step_id="platform",
            data_schema=self.add_suggested_values_to_schema(schema, user_input or {}),
            errors=errors,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the port, baud rate, server or endpoint of a configured module."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            user_input = _stripped(user_input)
            port = await async_stable_port(self.hass, user_input[CONF_PORT])
            baudrate = int(user_input[CONF_BAUDRATE])
            errors = _platform_errors(user_input)
            if not errors and _must_probe(entry, port, baudrate):
                identity, error = await _async_identify(self.hass, port, baudrate)
                if identity is None:
                    errors["base"] = str(error)
                else:
                    await self.async_set_unique_id(identity.imei)
                    self._abort_if_unique_id_mismatch(reason="wrong_module")
            if not errors:
                return self.async_update_reload_and_abort(
                    entry,
                    data_updates={
                        CONF_PORT: port,
                        CONF_BAUDRATE: baudrate,
                        **_platform_data(user_input),
                    },
                )
        schema = vol.Schema(
            {
                vol.Required(CONF_PORT): await async_port_selector(self.hass),
                vol.Required(CONF_BAUDRATE): BAUDRATE_SELECTOR,
                vol.Required(CONF_SERVER): selector.TextSelector(),
                vol.Required(CONF_SERVER_PORT): SERVER_PORT_SELECTOR,
                vol.Required(CONF_ENDPOINT): selector.TextSelector(),
            }
        )
        current = {**entry.data, CONF_BAUDRATE: str(entry.data[CONF_BAUDRATE])}
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(schema, user_input or current),
            errors=errors,
        )


def _must_probe(entry: ConfigEntry, port: str, baudrate: int) -> bool:
    """Whether the reconfigure flow talks to the module before saving.

    Only a changed port or baud rate needs it. A loaded entry holds its own port
    exclusively, so a new baud rate on that same port cannot be tried from here; the
    reload that follows shows the outcome (a wrong rate leaves the entry retrying setup).
    """
    if (port, baudrate) == (entry.data[CONF_PORT], entry.data[CONF_BAUDRATE]):
        return False
    return not (entry.state is ConfigEntryState.LOADED and port == entry.data[CONF_PORT])


def _options_errors(entry: ConfigEntry, user_input: dict[str, Any]) -> dict[str, str]:
    errors: dict[str, str] = {}
    if problem := buffer_access_error(entry_declarations(entry), user_input[CONF_DATA_MODE]):
        errors[CONF_DATA_MODE] = problem
    poll = whole(user_input[CONF_POLL_INTERVAL])
    if poll is None or not MIN_POLL_INTERVAL <= poll <= MAX_POLL_INTERVAL:
        errors[CONF_POLL_INTERVAL] = "invalid_poll_interval"
    for key, low, high, error in (
        (CONF_QUEUE_SIZE, 1, MAX_QUEUE_SIZE, "invalid_queue_size"),
        (CONF_QUEUE_AGE, MIN_QUEUE_AGE, MAX_QUEUE_AGE, "invalid_queue_age"),
    ):
        value = whole(user_input[key])
        if value is None or not low <= value <= high:
            errors[key] = error
    check = whole(user_input[CONF_CHECK_INTERVAL])
    if check is None or not (check == 0 or MIN_CHECK_INTERVAL <= check <= MAX_CHECK_INTERVAL):
        errors[CONF_CHECK_INTERVAL] = "invalid_check_interval"
    return errors


class Bc26OptionsFlow(OptionsFlowWithReload):
    """Data mode, poll and check intervals, outbox limits, deregistration on unload; by a reload."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """One form with every option."""
        errors: dict[str, str] = {}
        current = {
            CONF_DATA_MODE: DEFAULT_DATA_MODE,
            CONF_POLL_INTERVAL: DEFAULT_POLL_INTERVAL,
            CONF_CHECK_INTERVAL: DEFAULT_CHECK_INTERVAL,
            CONF_QUEUE_SIZE: DEFAULT_QUEUE_SIZE,
            CONF_QUEUE_AGE: DEFAULT_QUEUE_AGE,
            CONF_DEREGISTER_ON_UNLOAD: DEFAULT_DEREGISTER_ON_UNLOAD,
            **self.config_entry.options,
        }
        if user_input is not None:
            # The outbox limits came later: a caller that leaves them out keeps them.
            user_input = {**current, **user_input}
            errors = _options_errors(self.config_entry, user_input)
            if not errors:
                return self.async_create_entry(
                    data={
                        CONF_DATA_MODE: user_input[CONF_DATA_MODE],
                        CONF_POLL_INTERVAL: whole(user_input[CONF_POLL_INTERVAL]),
                        CONF_CHECK_INTERVAL: whole(user_input[CONF_CHECK_INTERVAL]),
                        CONF_QUEUE_SIZE: whole(user_input[CONF_QUEUE_SIZE]),
                        CONF_QUEUE_AGE: whole(user_input[CONF_QUEUE_AGE]),
                        CONF_DEREGISTER_ON_UNLOAD: user_input[CONF_DEREGISTER_ON_UNLOAD],
                    }
                )
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(OPTIONS_SCHEMA, user_input or current),
            errors=errors,
            description_placeholders={
                "min_check": str(MIN_CHECK_INTERVAL),
                "min_poll": str(MIN_POLL_INTERVAL),
            },
        )
