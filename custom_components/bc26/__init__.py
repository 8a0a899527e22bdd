"""The Quectel BC26 NB-IoT (LwM2M) integration."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from homeassistant.const import EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HassJob, HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.storage import Store
from homeassistant.helpers.typing import ConfigType

from .connection import NotBc26Error, async_open_module
from .const import (
    CONF_BAUDRATE,
    CONF_DEREGISTER_ON_UNLOAD,
    CONF_PORT,
    DEFAULT_DEREGISTER_ON_UNLOAD,
    DOMAIN,
)
from .coordinator import Bc26Coordinator, async_register_device
from .data import Bc26ConfigEntry, Bc26Data
from .forwarding import STORAGE_VERSION, outbox_key
from .modem import ModemError, PortError
from .object_flow import default_objects
from .services import async_setup_services
from .timing import session_timing

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)
PLATFORMS = [Platform.BINARY_SENSOR, Platform.BUTTON, Platform.EVENT, Platform.SENSOR]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Set up the integration; actions are registered here, once for all entries."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: Bc26ConfigEntry) -> bool:
    """Open the port, check the module answers, then run its session in the background."""
    timing = session_timing(hass)
    port = entry.data[CONF_PORT]
    try:
        modem, identity = await async_open_module(port, entry.data[CONF_BAUDRATE], timing.timeouts)
    except PortError as err:
        raise _not_ready("cannot_connect", port, err) from err
    except NotBc26Error as err:
        raise _not_ready("not_bc26", port, err) from err
    except ModemError as err:  # NoResponseError, or a reply that makes no sense
        raise _not_ready("no_response", port, err) from err
    if identity.imei != entry.unique_id:
        await modem.close()
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="wrong_module",
            translation_placeholders={"port": port},
        )

    async_register_device(hass, entry, identity)
    coordinator = Bc26Coordinator(hass, entry, modem, identity, timing)
    data = entry.runtime_data = Bc26Data.create(hass, coordinator)
    await data.forwarder.async_load()

    async def _async_shut_down() -> None:
        # Home Assistant stops: close the port, do not hold shutdown up with a deregistration.
        await data.forwarder.async_stop()
        await _async_close_outbox(data)
        data.uplinks.close()
        await coordinator.async_stop(deregister=False)

    async def _async_stop_session(_: Event) -> None:
        await _async_shut_down()  # done already, unless the shutdown job was cut short

    # Home Assistant runs shutdown jobs (for up to 20 s) before it cancels background
    # tasks and before its stop event, at which it saves the states it restores. Here an
    # uplink on its way gets its grace (10 s), a buffer read on the line its node, and
    # that node is in the saved states.
    shut_down = HassJob(_async_shut_down, f"bc26 stop {entry.title}")
    entry.async_on_unload(hass.async_add_shutdown_job(shut_down))
    # Not listen_once: its remover fails when an unload follows the stop.
    entry.async_on_unload(hass.bus.async_listen(EVENT_HOMEASSISTANT_STOP, _async_stop_session))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)

    def start_task(work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        return entry.async_create_background_task(hass, work, f"{name} {entry.title}")

    data.uplinks.start(start_task)
    data.forwarder.start(start_task)
    data.reporters.start()
    entry.async_on_unload(data.reporters.stop)
    coordinator.async_start()
    return True


async def async_migrate_entry(hass: HomeAssistant, entry: Bc26ConfigEntry) -> bool:
    """1.1 -> 1.2: the objects the module declares became subentries; add the /19 pair."""
    if entry.version > 1:
        return False  # made by a newer version of the integration
    if entry.minor_version < 2:
        for subentry in default_objects():
            hass.config_entries.async_add_subentry(entry, subentry)
        hass.config_entries.async_update_entry(entry, minor_version=2)
    return True


async def async_remove_entry(hass: HomeAssistant, entry: Bc26ConfigEntry) -> None:
    """The entry is deleted: so is what waited in its outbox."""
    await Store[dict[str, Any]](hass, STORAGE_VERSION, outbox_key(entry.entry_id)).async_remove()


async def async_unload_entry(hass: HomeAssistant, entry: Bc26ConfigEntry) -> bool:
    """Stop the session (deregistering when the option says so) and close the port."""
    data = entry.runtime_data
    coordinator = data.session
    await data.forwarder.async_stop()
    data.uplinks.close()
    try:
        # No read may start once the entities are going: what the module still holds is
        # read by the next session instead of being handed to entities that are gone.
        await coordinator.async_stop_session()
        # The entities go once the module deregistered: a write it took up to then is
        # pushed to entities that are still there.
        if entry.options.get(CONF_DEREGISTER_ON_UNLOAD, DEFAULT_DEREGISTER_ON_UNLOAD):
            await coordinator.async_deregister()
        unload_ok = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
        if unload_ok:
            await coordinator.async_stop(deregister=False)
    finally:
        await _async_close_outbox(data)
    return unload_ok


async def _async_close_outbox(data: Bc26Data) -> None:
    """The outbox's last save, once nothing reports any more.

    Last of all, so that values reported until then (during the deregistration too)
    wait for the next session; after it the outbox refuses, never drops (forwarding.py).
    """
    data.reporters.stop()
    await data.forwarder.async_close()


def _not_ready(key: str, port: str, err: Exception) -> ConfigEntryNotReady:
    return ConfigEntryNotReady(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders={"port": port, "error": str(err)},
    )
