"""The actions: bc26.send, bc26.reregister and bc26.update_registration.

Everything a caller got wrong is refused with ServiceValidationError before anything
is queued, and so is a send the session cannot take now (not registered, queue
full): expected refusals, which Home Assistant logs in one line. What the module or
the platform did wrong is a HomeAssistantError. `user_error` is the one place that
turns what the session raises into what users read. Nothing reaches the serial line
unless it is a valid send for a registered module.

Re-registering and updating the registration disturb the module for everyone: they
are for administrators. Sending stays open to automations and every user.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.service import async_register_admin_service

from .compat import vol
from .const import DOMAIN
from .coordinator import (
    Bc26Coordinator,
    ModemUnavailableError,
    NotObservedError,
    NotRegisteredError,
)
from .data import Bc26ConfigEntry, Bc26Data
from .modem import (
    MAX_ID,
    MAX_PAYLOAD,
    CommandRejectedError,
    ConStatus,
    ModemError,
    ModemTimeoutError,
    PortError,
    ResourcePath,
    SendFailedError,
    parse_id,
)
from .outbox import OutboxFullError
from .uplink import (
    QUEUE_LIMIT,
    SendOutcomeUnknownError,
    SendQueueClosedError,
    SendQueueFullError,
    Uplink,
)

SERVICE_SEND = "send"
SERVICE_REREGISTER = "reregister"
SERVICE_UPDATE_REGISTRATION = "update_registration"

ATTR_CONFIG_ENTRY_ID = "config_entry_id"
ATTR_DATA = "data"
ATTR_ENCODING = "encoding"
ATTR_OBJECT_ID = "object_id"
ATTR_INSTANCE_ID = "instance_id"
ATTR_RESOURCE_ID = "resource_id"
ATTR_CONFIRMABLE = "confirmable"
ATTR_DELIVERY = "delivery"

ENCODING_TEXT = "text"
ENCODING_HEX = "hex"
DELIVERY_NOW = "now"  # fail now with the reason when the module cannot send
DELIVERY_QUEUE = "queue"  # keep it in the outbox until it can go (store and forward)
ATTR_IDS = (ATTR_OBJECT_ID, ATTR_INSTANCE_ID, ATTR_RESOURCE_ID)

# Why a confirmable send failed, as AT+QLWDATASTATUS? tells, in words users can read.
_SEND_FAILED = {ConStatus.TIMEOUT: "send_failed_timeout", ConStatus.RESET: "send_failed_reset"}

ENTRY_SCHEMA = vol.Schema({vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string})
# Ids and `confirmable` are checked in the action itself, strictly and with translated
# errors: a schema would coerce 19.7 to 19 and "yes" or 2 to true.
SEND_SCHEMA = ENTRY_SCHEMA.extend(
    {
        vol.Required(ATTR_DATA): cv.string,
        vol.Optional(ATTR_ENCODING, default=ENCODING_TEXT): vol.In([ENCODING_TEXT, ENCODING_HEX]),
        vol.Optional(ATTR_OBJECT_ID): cv.match_all,
        vol.Optional(ATTR_INSTANCE_ID): cv.match_all,
        vol.Optional(ATTR_RESOURCE_ID): cv.match_all,
        vol.Optional(ATTR_CONFIRMABLE, default=False): cv.match_all,
        vol.Optional(ATTR_DELIVERY, default=DELIVERY_NOW): vol.In([DELIVERY_NOW, DELIVERY_QUEUE]),
    }
)


def async_setup_services(hass: HomeAssistant) -> None:
    """Register the actions once for the integration (not per entry)."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_SEND,
        _async_send,
        schema=SEND_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    async_register_admin_service(
        hass, DOMAIN, SERVICE_REREGISTER, _entry_action(async_reregister), ENTRY_SCHEMA
    )
    async_register_admin_service(
        hass,
        DOMAIN,
        SERVICE_UPDATE_REGISTRATION,
        _entry_action(async_update_registration),
        ENTRY_SCHEMA,
    )


def _refusal(key: str, **placeholders: str) -> ServiceValidationError:
    """The call is wrong, or the session cannot take it now."""
    return ServiceValidationError(
        translation_domain=DOMAIN, translation_key=key, translation_placeholders=placeholders
    )


def _failure(key: str, **placeholders: str) -> HomeAssistantError:
    """A valid request the module or the platform could not carry out."""
    return HomeAssistantError(
        translation_domain=DOMAIN, translation_key=key, translation_placeholders=placeholders
    )


def user_error(  # noqa: PLR0911 - one arm per error a user can meet
    coordinator: Bc26Coordinator, err: Exception, failed_key: str = "send_error"
) -> HomeAssistantError:
    """What the user reads for `err`, raised by a send or a registration step."""
    match err:
        case SendQueueFullError():
            return _refusal("queue_full", limit=str(QUEUE_LIMIT))
        case SendQueueClosedError():
            return _refusal("send_cancelled")
        case SendOutcomeUnknownError():
            return _failure("send_outcome_unknown")
        case ModemUnavailableError() | PortError():
            return _refusal("module_unavailable")
        case NotRegisteredError():
            return _refusal("not_registered")
        case NotObservedError(path=path):
            return _refusal("not_observed", path=str(path))
        case SendFailedError():
            status = coordinator.con_status or ConStatus.FAILED
            return _failure(_SEND_FAILED.get(status, "send_failed"))
        case ModemTimeoutError() if failed_key == "send_error":
            return _failure("send_timeout")
        case CommandRejectedError() if failed_key == "send_error":
            return _failure("send_rejected", error=str(err))
        case _ if not coordinator.connected:
            return _refusal("module_unavailable")
        case _:
            return _failure(failed_key, error=str(err))


def _loaded(hass: HomeAssistant, entry_id: str) -> Bc26Data:
    entry: Bc26ConfigEntry | None = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise _refusal("entry_not_found", entry_id=entry_id)
    if entry.state is not ConfigEntryState.LOADED:
        raise _refusal("entry_not_loaded", title=entry.title)
    return entry.runtime_data


def _payload(data: str, encoding: str) -> bytes:
    """The bytes to send, or ServiceValidationError for empty, bad hex or too long."""
    if encoding == ENCODING_HEX:
        data = "".join(data.split())  # "01 F0 00" as people write it
    if not data:
        raise _refusal("empty_data")
    if encoding == ENCODING_HEX:
        if len(data) % 2:
            raise _refusal("odd_length_hex")
        try:
            payload = bytes.fromhex(data)
        except ValueError:
            raise _refusal("invalid_hex") from None
    else:
        try:
            payload = data.encode()
        except UnicodeEncodeError:  # a lone surrogate, such as a template's '\ud800'
            raise _refusal("invalid_text") from None
    if len(payload) > MAX_PAYLOAD:
        raise _refusal("data_too_long", length=str(len(payload)), maximum=str(MAX_PAYLOAD))
    return payload


def _integer(value: Any) -> int | None:
    """`value` as a whole number, or None: true, 19.7 and "19.7" are none."""
    if isinstance(value, bool):
        return None  # true is not an id, whatever Python thinks of it
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        return parse_id(value)
    return None


def _whole_number(value: Any, field: str) -> int:
    """An id: 0-65535 as a number or a string of digits (what a template renders)."""
    number = _integer(value)
    if number is None or not 0 <= number <= MAX_ID:
        raise _refusal("invalid_id", field=field, value=_shown(value), maximum=str(MAX_ID))
    return number


def _boolean(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise _refusal("invalid_boolean", field=field, value=_shown(value))
    return value


def _shown(value: Any) -> str:
    """`value` for an error message, cut short."""
    try:
        return str(value)[:40]
    except ValueError:  # an int of more than 4,300 digits, alone or in a list
        return "a number too long to show"


def _path(coordinator: Bc26Coordinator, call: Mapping[str, Any]) -> ResourcePath:
    """The resource to send to: the one given, or the only one the module reports."""
    reportable = coordinator.declared.reportable
    declared = ", ".join(str(path) for path in reportable) or "-"
    given = {key: _whole_number(call[key], key) for key in ATTR_IDS if key in call}
    if not given and len(reportable) == 1:
        return reportable[0]
    if len(given) != len(ATTR_IDS):
        raise _refusal("path_needed", declared=declared)
    path = ResourcePath(*(given[key] for key in ATTR_IDS))
    if path not in reportable:
        raise _refusal("path_not_declared", path=str(path), declared=declared)
    return path


def _uplink(coordinator: Bc26Coordinator, call: Mapping[str, Any]) -> Uplink:
    payload = _payload(call[ATTR_DATA], call[ATTR_ENCODING])
    path = _path(coordinator, call)
    confirmable = _boolean(call[ATTR_CONFIRMABLE], ATTR_CONFIRMABLE)
    return Uplink(path, payload, confirmable)


async def _async_send(call: ServiceCall) -> ServiceResponse:
    """bc26.send: validate, queue in call order, wait for the module or the platform."""
    data = _loaded(call.hass, call.data[ATTR_CONFIG_ENTRY_ID])
    coordinator = data.session
    uplink = _uplink(coordinator, call.data)
    if call.data[ATTR_DELIVERY] == DELIVERY_QUEUE:
        try:
            data.forwarder.put(uplink)
        except OutboxFullError:
            raise _refusal("outbox_full", limit=str(data.forwarder.outbox.limit)) from None
        except SendQueueClosedError as err:  # Home Assistant stops: the outbox is saved
            raise user_error(coordinator, err) from err
        return {"status": "queued"}
    try:
        if not coordinator.connected:
            raise ModemUnavailableError("the serial port is not open")
        if not coordinator.registered:
            raise NotRegisteredError("the module is not registered")
        status = await data.uplinks.send(uplink)
    except (ModemError, SendQueueFullError, SendQueueClosedError, SendOutcomeUnknownError) as err:
        raise user_error(coordinator, err) from err
    return {"status": status.value}


def _entry_action(
    action: Callable[[Bc26Coordinator], Awaitable[None]],
) -> Callable[[ServiceCall], Coroutine[Any, Any, None]]:
    async def handle(call: ServiceCall) -> None:
        await action(_loaded(call.hass, call.data[ATTR_CONFIG_ENTRY_ID]).session)

    return handle


async def async_reregister(coordinator: Bc26Coordinator) -> None:
    """Deregister, register again, and wait for the result."""
    await _registration_step(coordinator, coordinator.async_reregister(), "reregister_failed")


async def async_update_registration(coordinator: Bc26Coordinator) -> None:
    """Send a registration update and wait for the result."""
    await _registration_step(coordinator, coordinator.async_update_registration(), "update_failed")


async def _registration_step(
    coordinator: Bc26Coordinator, step: Awaitable[None], failed_key: str
) -> None:
    try:
        await step
    except ModemError as err:
        raise user_error(coordinator, err, failed_key) from err
