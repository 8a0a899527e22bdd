"""Binary sensor of a BC26 module: registered with the LwM2M server."""

from __future__ import annotations

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .data import Bc26ConfigEntry, Bc26Data
from .entity import Bc26Entity

# Entities only read the session's state; nothing to limit.
PARALLEL_UPDATES = 0

REGISTERED = BinarySensorEntityDescription(
    key="registered",
    translation_key="registered",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
)


async def async_setup_entry(
    hass: HomeAssistant, entry: Bc26ConfigEntry, async_add_entities: AddEntitiesCallback
) -> None:
    """Add the registered binary sensor."""
    async_add_entities([RegisteredBinarySensor(entry.runtime_data)])


class RegisteredBinarySensor(Bc26Entity, BinarySensorEntity):
    """On while the module is registered with the LwM2M server."""

    entity_description = REGISTERED

    def __init__(self, data: Bc26Data) -> None:
        """Use the IMEI for the unique id."""
        super().__init__(data)
        self._attr_unique_id = f"{data.session.modem_identity.imei}-{REGISTERED.key}"

    @property
    def is_on(self) -> bool:
        """Whether the module is registered."""
        return self.session.registered
