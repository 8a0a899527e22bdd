"""The actions: bc26.send, bc26.reregister and bc26.update_registration.

Everything a caller got wrong is refused with ServiceValidationError before anything
is queued; what the module or the platform did wrong is a HomeAssistantError. Either
way nothing reaches the serial line unless it is a valid send for a registered,
observed path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv

from .compat import vol
from .const import DOMAIN
from .coordinator import (
    Bc26ConfigEntry,
    Bc26Coordinator,
    ModemUnavailableError,
    NotRegisteredError,
)
from .downlink import format_path
from .modem import MAX_PAYLOAD, ModemError, PortError
from .uplink import (
    QUEUE_LIMIT,
    SendQueueClosedError,
    SendQueueFullError,
    Uplink,
    check_ready,
    module_error,
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

ENCODING_TEXT = "text"
ENCODING_HEX = "hex"

_ID = vol.All(vol.Coerce(int), vol.Range(min=0, max=65535))

ENTRY_SCHEMA = vol.Schema({vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string})
SEND_SCHEMA = ENTRY_SCHEMA.extend(
    {
        vol.Required(ATTR_DATA): cv.string,
        vol.Optional(ATTR_ENCODING, default=ENCODING_TEXT): vol.In([ENCODING_TEXT, ENCODING_HEX]),
        vol.Optional(ATTR_OBJECT_ID, default=19): _ID,
        vol.Optional(ATTR_INSTANCE_ID, default=0): _ID,
        vol.Optional(ATTR_RESOURCE_ID, default=0): _ID,
        vol.Optional(ATTR_CONFIRMABLE, default=False): cv.boolean,
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
    hass.services.async_register(
        DOMAIN, SERVICE_REREGISTER, _entry_action(async_reregister), schema=ENTRY_SCHEMA
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_UPDATE_REGISTRATION,
        _entry_action(async_update_registration),
        schema=ENTRY_SCHEMA,
    )


def _validation_error(key: str, **placeholders: str) -> ServiceValidationError:
    return ServiceValidationError(
        translation_domain=DOMAIN, translation_key=key, translation_placeholders=placeholders
    )


def _loaded_coordinator(hass: HomeAssistant, entry_id: str) -> Bc26Coordinator:
    entry: Bc26ConfigEntry | None = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise _validation_error("entry_not_found", entry_id=entry_id)
    if entry.state is not ConfigEntryState.LOADED:
        raise _validation_error("entry_not_loaded", title=entry.title)
    return entry.runtime_data


def _payload(data: str, encoding: str) -> bytes:
    """The bytes to send, or ServiceValidationError for empty, bad hex or too long."""
    if encoding == ENCODING_HEX:
        data = "".join(data.split())  # "01 F0 00" as people write it
    if not data:
        raise _validation_error("empty_data")
    if encoding == ENCODING_HEX:
        if len(data) % 2:
            raise _validation_error("odd_length_hex")
        try:
            payload = bytes.fromhex(data)
        except ValueError:
            raise _validation_error("invalid_hex") from None
    else:
        payload = data.encode()
    if len(payload) > MAX_PAYLOAD:
        raise _validation_error("data_too_long", length=str(len(payload)), maximum=str(MAX_PAYLOAD))
    return payload


def _uplink(coordinator: Bc26Coordinator, call: Mapping[str, Any]) -> Uplink:
    payload = _payload(call[ATTR_DATA], call[ATTR_ENCODING])
    path = (call[ATTR_OBJECT_ID], call[ATTR_INSTANCE_ID], call[ATTR_RESOURCE_ID])
    if path not in coordinator.declared_paths:
        raise _validation_error(
            "path_not_declared",
            path=format_path(path),
            declared=", ".join(format_path(known) for known in sorted(coordinator.declared_paths)),
        )
    return Uplink(path, payload, call[ATTR_CONFIRMABLE])


async def _async_send(call: ServiceCall) -> ServiceResponse:
    """bc26.send: validate, queue in call order, wait for the module or the platform."""
    coordinator = _loaded_coordinator(call.hass, call.data[ATTR_CONFIG_ENTRY_ID])
    uplink = _uplink(coordinator, call.data)
    check_ready(coordinator, uplink.path)
    try:
        status = await coordinator.uplinks.send(uplink)
    except SendQueueFullError:
        raise module_error("queue_full", limit=str(QUEUE_LIMIT)) from None
    except SendQueueClosedError:
        raise module_error("send_cancelled") from None
    return {"status": status.value}


def _entry_action(
    action: Callable[[Bc26Coordinator], Awaitable[None]],
) -> Callable[[ServiceCall], Coroutine[Any, Any, None]]:
    async def handle(call: ServiceCall) -> None:
        await action(_loaded_coordinator(call.hass, call.data[ATTR_CONFIG_ENTRY_ID]))

    return handle


async def async_reregister(coordinator: Bc26Coordinator) -> None:
    """Deregister, register again, and wait for the result."""
    await _registration_step(coordinator.async_reregister(), "reregister_failed")


async def async_update_registration(coordinator: Bc26Coordinator) -> None:
    """Send a registration update and wait for the result."""
    await _registration_step(coordinator.async_update_registration(), "update_failed")


async def _registration_step(step: Awaitable[None], failed_key: str) -> None:
    try:
        await step
    except NotRegisteredError as err:
        raise module_error("not_registered") from err
    except (ModemUnavailableError, PortError) as err:
        raise module_error("module_unavailable") from err
    except ModemError as err:
        raise module_error(failed_key, error=str(err)) from err
