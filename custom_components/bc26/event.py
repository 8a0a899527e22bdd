"""The `data_received` event entity: one event per payload the platform writes."""

from __future__ import annotations

from homeassistant.components.event import EventEntity
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import Bc26ConfigEntry, Bc26Coordinator, Downlink
from .downlink import event_attributes
from .entity import Bc26Entity

EVENT_DATA_RECEIVED = "data_received"

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant, entry: Bc26ConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """One event entity per module."""
    async_add_entities([DownlinkEvent(entry.runtime_data)])


class DownlinkEvent(Bc26Entity, EventEntity):
    """Fires `data_received` with the path and the payload for every write of the platform."""

    _attr_translation_key = "downlink"

    def __init__(self, coordinator: Bc26Coordinator) -> None:
        super().__init__(coordinator)
        self._attr_event_types = [EVENT_DATA_RECEIVED]
        self._attr_unique_id = f"{coordinator.config_entry.unique_id}-downlink"

    async def async_added_to_hass(self) -> None:
        """Announce every payload, after the sensors have taken it."""
        await super().async_added_to_hass()
        self.async_on_remove(
            self.coordinator.async_subscribe_downlink_announcement(self._on_downlink)
        )

    @callback
    def _on_downlink(self, downlink: Downlink) -> None:
        self._trigger_event(EVENT_DATA_RECEIVED, event_attributes(downlink.path, downlink.data))
        self.async_write_ha_state()
