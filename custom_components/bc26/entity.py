"""The base of every entity of a BC26 module: one device, availability, push updates."""

from __future__ import annotations

from homeassistant.core import Context, callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity

from .const import DOMAIN
from .data import Bc26Data


class Bc26Entity(Entity):
    """An entity of the module's device, updated when the session reports a change."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, data: Bc26Data) -> None:
        """Attach the entity to the module's device; subclasses set the unique id."""
        self.data = data
        self.session = data.session
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, data.session.modem_identity.imei)}
        )

    @property
    def available(self) -> bool:
        """Available while the serial port is open."""
        return self.session.connected

    async def async_added_to_hass(self) -> None:
        """Follow the session's state."""
        await super().async_added_to_hass()
        self.async_on_remove(self.session.async_add_listener(self._handle_coordinator_update))

    @callback
    def async_write_caused_by(self, cause: object) -> None:
        """Write the state with `cause` (a payload's Context) as its context, if it is one."""
        if isinstance(cause, Context):
            self.async_set_context(cause)
        self.async_write_ha_state()

    @callback
    def _handle_coordinator_update(self) -> None:
        """The session changed: write the state again."""
        self.async_write_ha_state()
