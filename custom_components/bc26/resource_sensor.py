"""Sensors for what the platform writes: one raw sensor per path, decoded sensors per subentry.

Raw sensors appear with the first payload of a path and come back after a restart
from the entity registry (their unique id names the path) with their last payload.
Decoded sensors are config subentries; adding, changing or removing one takes
effect at once, without reloading the entry (a reload would re-register the module
with the platform).

Decoded sensors sit on the module's device and belong to the entry itself, not to
their subentry: Home Assistant 2026 lets a device belong to one subentry only, and
adding a subentry's entity to the module's device would move the whole device (and
drop the entry's other entities). So this module removes a decoded sensor itself
when its subentry goes, and at setup removes those whose subentry went while the
entry was not loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
import logging
import math
from typing import Any

from homeassistant.components.sensor import (
    CONF_STATE_CLASS,
    RestoreSensor,
    SensorDeviceClass,
    SensorEntity,
    SensorStateClass,
)
from homeassistant.config_entries import (
    SIGNAL_CONFIG_ENTRY_CHANGED,
    ConfigEntry,
    ConfigEntryChange,
    ConfigSubentry,
)
from homeassistant.const import (
    CONF_DEVICE_CLASS,
    CONF_NAME,
    CONF_UNIT_OF_MEASUREMENT,
    CONF_VALUE_TEMPLATE,
    Platform,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import TemplateError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import ExtraStoredData, RestoreEntity
from homeassistant.helpers.template import Template
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .coordinator import Bc26ConfigEntry, Bc26Coordinator, Downlink
from .downlink import (
    MAX_STATE_LENGTH,
    format_path,
    parse_path,
    payload_attributes,
    payload_hex,
    payload_state,
    template_variables,
)
from .entity import Bc26Entity
from .modem import ResourcePath
from .subentry_flow import CONF_RESOURCE_PATH, SUBENTRY_RESOURCE_SENSOR

_LOGGER = logging.getLogger(__name__)


def raw_unique_id(entry: ConfigEntry, path: ResourcePath) -> str:
    """`<IMEI>-resource-19-1-0`: the path is read back from it after a restart."""
    return f"{entry.unique_id}-resource-{path[0]}-{path[1]}-{path[2]}"


def decoded_unique_id(entry: ConfigEntry, subentry_id: str) -> str:
    """`<IMEI>-decoded-<subentry id>`."""
    return f"{entry.unique_id}-decoded-{subentry_id}"


def _path_of_raw_unique_id(entry: ConfigEntry, unique_id: str) -> ResourcePath | None:
    prefix = f"{entry.unique_id}-resource-"
    if not unique_id.startswith(prefix):
        return None
    try:
        return parse_path(unique_id.removeprefix(prefix).replace("-", "/"))
    except ValueError:
        return None


def _own_sensors(registry: er.EntityRegistry, entry: ConfigEntry) -> list[er.RegistryEntry]:
    return [
        registry_entry
        for registry_entry in er.async_entries_for_config_entry(registry, entry.entry_id)
        if registry_entry.domain == Platform.SENSOR and registry_entry.platform == DOMAIN
    ]


async def async_setup_resource_sensors(
    hass: HomeAssistant, entry: Bc26ConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add raw sensors known from earlier runs and decoded sensors; follow what comes."""
    coordinator = entry.runtime_data
    raw = RawSensors(entry, coordinator, async_add_entities)
    raw.restore_known(er.async_get(hass))
    entry.async_on_unload(coordinator.async_subscribe_downlink(None, raw.on_downlink))
    decoded = DecodedSensors(entry, coordinator, async_add_entities, raw)
    decoded.remove_stale(er.async_get(hass))
    decoded.add_configured()
    entry.async_on_unload(
        async_dispatcher_connect(hass, SIGNAL_CONFIG_ENTRY_CHANGED, decoded.on_entry_changed)
    )


@dataclass(frozen=True, slots=True)
class _StoredPayload(ExtraStoredData):
    """The last payload of a raw sensor, kept across restarts."""

    data: bytes
    received_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"hex": payload_hex(self.data), "received_at": self.received_at.isoformat()}

    @classmethod
    def from_dict(cls, stored: Mapping[str, Any]) -> _StoredPayload | None:
        try:
            data = bytes.fromhex(stored["hex"])
            received_at = dt_util.parse_datetime(stored["received_at"])
        except (KeyError, TypeError, ValueError):
            return None
        return None if received_at is None else cls(data, received_at)


class RawResourceSensor(Bc26Entity, SensorEntity, RestoreEntity):
    """The last payload written to one path: text when printable, otherwise hex."""

    _attr_translation_key = "resource"

    def __init__(self, coordinator: Bc26Coordinator, path: ResourcePath) -> None:
        super().__init__(coordinator)
        self.path = path
        self._attr_unique_id = raw_unique_id(coordinator.config_entry, path)
        self._attr_translation_placeholders = {"path": format_path(path)}
        self.last: Downlink | None = None

    @property
    def extra_restore_state_data(self) -> _StoredPayload | None:
        """Keep the payload itself; state and attributes follow from it."""
        if self.last is None:
            return None
        return _StoredPayload(self.last.data, self.last.received_at)

    async def async_added_to_hass(self) -> None:
        """Show the payload that created this sensor, or the one from the last run."""
        await super().async_added_to_hass()
        if self.last is None and (extra := await self.async_get_last_extra_data()):
            stored = _StoredPayload.from_dict(extra.as_dict())
            if stored is not None:
                self.last = Downlink(self.path, stored.data, stored.received_at)
        self._show_last()

    @callback
    def show(self, downlink: Downlink) -> None:
        """A new payload for this path."""
        self.last = downlink
        if self.hass is not None:
            self._show_last()
            self.async_write_ha_state()

    def _show_last(self) -> None:
        if self.last is None:
            return
        data = self.last.data
        hex_text = payload_hex(data)
        self._attr_native_value = payload_state(data, hex_text)
        self._attr_extra_state_attributes = payload_attributes(
            data, self.last.received_at, hex_text
        )


class RawSensors:
    """One raw sensor per path the platform wrote to; the first payload creates it."""

    def __init__(
        self,
        entry: Bc26ConfigEntry,
        coordinator: Bc26Coordinator,
        async_add_entities: AddConfigEntryEntitiesCallback,
    ) -> None:
        self._entry = entry
        self._coordinator = coordinator
        self._add = async_add_entities
        self._sensors: dict[ResourcePath, RawResourceSensor] = {}

    def restore_known(self, registry: er.EntityRegistry) -> None:
        """Bring back the sensors of paths seen in earlier runs."""
        known = []
        for registry_entry in _own_sensors(registry, self._entry):
            if (path := _path_of_raw_unique_id(self._entry, registry_entry.unique_id)) is None:
                continue
            known.append(self._sensors.setdefault(path, RawResourceSensor(self._coordinator, path)))
        self._add(known)

    def last(self, path: ResourcePath) -> Downlink | None:
        """The last payload of `path` this run (or restored), if any."""
        sensor = self._sensors.get(path)
        return None if sensor is None else sensor.last

    @callback
    def on_downlink(self, downlink: Downlink) -> None:
        """Route a payload to the sensor of its path, creating it the first time."""
        if (sensor := self._sensors.get(downlink.path)) is not None:
            sensor.show(downlink)
            return
        sensor = RawResourceSensor(self._coordinator, downlink.path)
        sensor.last = downlink
        self._sensors[downlink.path] = sensor
        self._add([sensor])


@dataclass(frozen=True, slots=True)
class DecodedConfig:
    """What one resource-sensor subentry says."""

    name: str
    path: ResourcePath
    template: str
    unit: str | None
    device_class: SensorDeviceClass | None
    state_class: SensorStateClass | None

    @classmethod
    def from_subentry(cls, subentry: ConfigSubentry) -> DecodedConfig:
        data = subentry.data
        device_class = data.get(CONF_DEVICE_CLASS)
        state_class = data.get(CONF_STATE_CLASS)
        return cls(
            name=data.get(CONF_NAME, subentry.title),
            path=parse_path(data[CONF_RESOURCE_PATH]),
            template=data[CONF_VALUE_TEMPLATE],
            unit=data.get(CONF_UNIT_OF_MEASUREMENT) or None,
            device_class=SensorDeviceClass(device_class) if device_class else None,
            state_class=SensorStateClass(state_class) if state_class else None,
        )

    @property
    def numeric(self) -> bool:
        """Home Assistant requires a number when any of these is set."""
        return any((self.unit, self.device_class, self.state_class))


class _RenderError(Exception):
    """The template could not turn this payload into a state."""


class DecodedResourceSensor(Bc26Entity, RestoreSensor):
    """A value decoded from the payloads of one path by the user's template."""

    def __init__(
        self,
        coordinator: Bc26Coordinator,
        subentry_id: str,
        config: DecodedConfig,
        restore: bool,
    ) -> None:
        super().__init__(coordinator)
        self.config = config
        self._restore = restore
        self._template = Template(config.template, coordinator.hass)
        self._failing = False
        self._attr_unique_id = decoded_unique_id(coordinator.config_entry, subentry_id)
        self._attr_name = config.name
        self._attr_native_unit_of_measurement = config.unit
        self._attr_device_class = config.device_class
        self._attr_state_class = config.state_class

    @property
    def available(self) -> bool:
        """Unavailable while the template fails on the last payload."""
        return super().available and not self._failing

    async def async_added_to_hass(self) -> None:
        """Restore the last value (at startup only), then follow the payloads of the path."""
        await super().async_added_to_hass()
        if self._restore and (restored := await self.async_get_last_sensor_data()) is not None:
            self._attr_native_value = restored.native_value
        self.async_on_remove(self.coordinator.async_subscribe_downlink(self.config.path, self.show))

    @callback
    def show(self, downlink: Downlink) -> None:
        """Decode a payload of this sensor's path."""
        self.decode(downlink)
        self.async_write_ha_state()

    @callback
    def decode(self, downlink: Downlink) -> None:
        """Render the template; on failure go unavailable with one log line per failure run."""
        try:
            value = self._render(downlink.data)
        except _RenderError as err:
            if not self._failing:
                _LOGGER.warning(
                    "%s: value template failed for payload %s on %s: %s",
                    self.entity_id or self.config.name,
                    payload_hex(downlink.data),
                    format_path(downlink.path),
                    err,
                )
            self._failing = True
            return
        if self._failing:
            _LOGGER.info("%s: value template works again", self.entity_id or self.config.name)
        self._failing = False
        self._attr_native_value = value

    def _render(self, data: bytes) -> Any:
        try:
            value = self._template.async_render(template_variables(data), strict=True)
        except TemplateError as err:
            raise _RenderError(err) from err
        if not self.config.numeric:
            text = str(value)
            if len(text) > MAX_STATE_LENGTH:
                raise _RenderError(f"result is longer than {MAX_STATE_LENGTH} characters")
            return text
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise _RenderError(f"result {value!r} is not a number") from None
        if isinstance(value, bool) or not math.isfinite(number):
            raise _RenderError(f"result {value!r} is not a number")
        return value if isinstance(value, int | float) else number


class DecodedSensors:
    """The decoded sensors of the entry's subentries, kept in step with them."""

    def __init__(
        self,
        entry: Bc26ConfigEntry,
        coordinator: Bc26Coordinator,
        async_add_entities: AddConfigEntryEntitiesCallback,
        raw: RawSensors,
    ) -> None:
        self._entry = entry
        self._coordinator = coordinator
        self._add = async_add_entities
        self._raw = raw
        self._sensors: dict[str, DecodedResourceSensor] = {}

    def remove_stale(self, registry: er.EntityRegistry) -> None:
        """Remove the sensors of subentries removed while the entry was not loaded."""
        wanted = {decoded_unique_id(self._entry, subentry_id) for subentry_id in self._subentries()}
        prefix = decoded_unique_id(self._entry, "")
        for registry_entry in _own_sensors(registry, self._entry):
            if registry_entry.unique_id.startswith(prefix) and (
                registry_entry.unique_id not in wanted
            ):
                registry.async_remove(registry_entry.entity_id)

    def add_configured(self) -> None:
        """Add a sensor for every resource-sensor subentry."""
        for subentry_id, subentry in self._subentries().items():
            self._add_sensor(subentry_id, subentry, restore=True)

    @callback
    def on_entry_changed(self, change: ConfigEntryChange, entry: ConfigEntry) -> None:
        """A subentry was added, changed or removed (or something else about the entry)."""
        if entry.entry_id != self._entry.entry_id or change is not ConfigEntryChange.UPDATED:
            return
        current = self._subentries()
        for subentry_id in self._sensors.keys() - current.keys():
            self._remove(subentry_id)
        for subentry_id, subentry in current.items():
            sensor = self._sensors.get(subentry_id)
            if sensor is None:
                self._add_sensor(subentry_id, subentry, restore=False)
            elif sensor.config != DecodedConfig.from_subentry(subentry):
                self._entry.async_create_task(
                    self._coordinator.hass,
                    self._replace(subentry_id, sensor),
                    f"bc26 reconfigure {subentry.title}",
                )

    def _subentries(self) -> dict[str, ConfigSubentry]:
        return {
            subentry_id: subentry
            for subentry_id, subentry in self._entry.subentries.items()
            if subentry.subentry_type == SUBENTRY_RESOURCE_SENSOR
        }

    def _add_sensor(self, subentry_id: str, subentry: ConfigSubentry, restore: bool) -> None:
        # Restored values belong to the configuration of the last run, not to a new one.
        sensor = DecodedResourceSensor(
            self._coordinator, subentry_id, DecodedConfig.from_subentry(subentry), restore
        )
        # A new or changed sensor shows the path's last payload at once.
        if (last := self._raw.last(sensor.config.path)) is not None:
            sensor.decode(last)
        self._sensors[subentry_id] = sensor
        self._add([sensor])

    def _remove(self, subentry_id: str) -> None:
        """Remove the sensor's registry entry; the registry then removes the entity."""
        del self._sensors[subentry_id]
        registry = er.async_get(self._coordinator.hass)
        unique_id = decoded_unique_id(self._entry, subentry_id)
        if entity_id := registry.async_get_entity_id(Platform.SENSOR, DOMAIN, unique_id):
            registry.async_remove(entity_id)

    async def _replace(self, subentry_id: str, sensor: DecodedResourceSensor) -> None:
        """A new entity object, so that the registry takes the new name, unit and classes."""
        await sensor.async_remove()
        subentry = self._entry.subentries.get(subentry_id)
        if subentry is None or self._sensors.get(subentry_id) is not sensor:
            return  # removed, or already replaced, meanwhile
        self._add_sensor(subentry_id, subentry, restore=False)
