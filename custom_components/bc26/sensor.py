"""Diagnostic sensors of a BC26 module: session, last confirmable send, radio link, outbox."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import SIGNAL_STRENGTH_DECIBELS_MILLIWATT, EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType
from homeassistant.util import dt as dt_util

from .coordinator import Bc26Coordinator
from .data import Bc26ConfigEntry, Bc26Data
from .entity import Bc26Entity
from .modem import ConStatus, NetworkRegistration
from .registration import RegistrationLog, RegistrationState
from .resource_sensor import async_setup_resource_sensors

# Entities only read the session's state; nothing to limit.
PARALLEL_UPDATES = 0


def _enum_name(value: ConStatus | NetworkRegistration | None) -> str | None:
    return value.name.lower() if value is not None else None


def _recoveries(log: RegistrationLog) -> dict[str, Any]:
    """How often the session registered again by itself, and the last time why."""
    last_at = log.last_recovery_at
    return {
        "recoveries": log.recoveries,
        "last_recovery": log.last_recovery.value if log.last_recovery is not None else None,
        "last_recovery_at": last_at.isoformat() if last_at is not None else None,
    }


@dataclass(frozen=True, kw_only=True)
class Bc26SensorEntityDescription(SensorEntityDescription):
    """A sensor whose value the session's state gives."""

    value_fn: Callable[[Bc26Coordinator], StateType]
    attributes_fn: Callable[[Bc26Coordinator], Mapping[str, Any]] | None = None


SENSORS: tuple[Bc26SensorEntityDescription, ...] = (
    Bc26SensorEntityDescription(
        key="registration_state",
        translation_key="registration_state",
        device_class=SensorDeviceClass.ENUM,
        options=[state.value for state in RegistrationState],
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda coordinator: coordinator.state.value,
        attributes_fn=lambda coordinator: _recoveries(coordinator.registrations),
    ),
    Bc26SensorEntityDescription(
        key="con_status",
        translation_key="con_status",
        device_class=SensorDeviceClass.ENUM,
        options=[status.name.lower() for status in ConStatus],
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda coordinator: _enum_name(coordinator.con_status),
    ),
    Bc26SensorEntityDescription(
        key="signal_strength",
        translation_key="signal_strength",
        device_class=SensorDeviceClass.SIGNAL_STRENGTH,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=SIGNAL_STRENGTH_DECIBELS_MILLIWATT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda coordinator: coordinator.link.signal_dbm,
    ),
    Bc26SensorEntityDescription(
        key="network_registration",
        translation_key="network_registration",
        device_class=SensorDeviceClass.ENUM,
        options=[status.name.lower() for status in NetworkRegistration],
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda coordinator: _enum_name(coordinator.link.network),
    ),
    Bc26SensorEntityDescription(
        key="ip_address",
        translation_key="ip_address",
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda coordinator: coordinator.link.ip_address,
    ),
    Bc26SensorEntityDescription(
        key="observed_resources",
        translation_key="observed_resources",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda coordinator: len(coordinator.resources.observed),
        attributes_fn=lambda coordinator: {
            "paths": [str(path) for path in sorted(coordinator.resources.observed)]
        },
    ),
)


async def async_setup_entry(
    hass: HomeAssistant, entry: Bc26ConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add the module's diagnostic sensors."""
    data = entry.runtime_data
    async_add_entities(Bc26Sensor(data, description) for description in SENSORS)
    async_add_entities([WaitingUplinksSensor(data)])
    await async_setup_resource_sensors(hass, entry, async_add_entities)


class Bc26Sensor(Bc26Entity, SensorEntity):
    """One value of the session's state."""

    entity_description: Bc26SensorEntityDescription

    def __init__(self, data: Bc26Data, description: Bc26SensorEntityDescription) -> None:
        """Use the IMEI and the description's key for the unique id."""
        super().__init__(data)
        self.entity_description = description
        self._attr_unique_id = f"{data.session.modem_identity.imei}-{description.key}"

    @property
    def native_value(self) -> StateType:
        """The value from the session's state."""
        return self.entity_description.value_fn(self.session)

    @property
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        """Extra attributes, where the description has any."""
        if self.entity_description.attributes_fn is None:
            return None
        return self.entity_description.attributes_fn(self.session)


class WaitingUplinksSensor(Bc26Entity, SensorEntity):
    """How many uplinks wait in the outbox, since when the oldest; what became of others.

    Shown while the port is gone too, when it matters most: the outbox is Home
    Assistant's own.
    """

    _attr_translation_key = "waiting_uplinks"
    _attr_entity_category = EntityCategory.DIAGNOSTIC
    _attr_state_class = SensorStateClass.MEASUREMENT

    def __init__(self, data: Bc26Data) -> None:
        """Use the IMEI for the unique id."""
        super().__init__(data)
        self._attr_unique_id = f"{data.session.modem_identity.imei}-waiting_uplinks"

    @property
    def available(self) -> bool:
        """Always: the outbox does not need the module."""
        return True

    async def async_added_to_hass(self) -> None:
        """Follow the outbox as well as the session."""
        await super().async_added_to_hass()
        forwarder = self.data.forwarder
        self.async_on_remove(forwarder.async_add_listener(self._handle_coordinator_update))

    @property
    def native_value(self) -> int:
        """Uplinks waiting."""
        return len(self.data.forwarder.outbox)

    @property
    def extra_state_attributes(self) -> Mapping[str, Any]:
        """Since when the oldest waits; how many were refused, dropped (too old) and sent."""
        outbox = self.data.forwarder.outbox
        oldest = outbox.oldest
        return {
            "oldest_queued_at": (
                dt_util.utc_from_timestamp(oldest.queued_at).isoformat() if oldest else None
            ),
            "refused_full": outbox.refused_full,
            "dropped_expired": outbox.dropped_expired,
            "sent": self.data.forwarder.sent,
        }
