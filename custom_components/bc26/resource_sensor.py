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
    SensorExtraStoredData,
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

from .const import DOMAIN, SUBENTRY_RESOURCE_SENSOR
from .data import Bc26ConfigEntry, Bc26Data
from .downlink import (
    MAX_STATE_LENGTH,
    payload_attributes,
    payload_hex,
    payload_state,
    template_variables,
)
from .entity import Bc26Entity
from .modem import InvalidArgumentError, ResourcePath
from .resources import Payload, Phase
from .subentry_flow import CONF_RESOURCE_PATH

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
        return ResourcePath.parse(unique_id.removeprefix(prefix).replace("-", "/"))
    except InvalidArgumentError:
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
    """Raw sensors of the declared and known paths, decoded sensors; follow what comes."""
    data = entry.runtime_data
    raw = RawSensors(data, async_add_entities)
    raw.add_known(er.async_get(hass))
    entry.async_on_unload(data.resources.listen(Phase.UPDATE, None, raw.on_payload))
    decoded = DecodedSensors(entry, data, async_add_entities)
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

    def __init__(self, data: Bc26Data, path: ResourcePath) -> None:
        super().__init__(data)
        self.path = path
        self._attr_unique_id = raw_unique_id(data.session.config_entry, path)
        self._attr_translation_placeholders = {"path": str(path)}

    @property
    def extra_restore_state_data(self) -> _StoredPayload | None:
        """Keep the payload itself; state and attributes follow from it."""
        last = self.data.resources.last.get(self.path)
        return None if last is None else _StoredPayload(last.data, last.received_at)

    async def async_added_to_hass(self) -> None:
        """Show the path's last payload: of this run, or else of the last one."""
        await super().async_added_to_hass()
        if self.path not in self.data.resources.last and (
            extra := await self.async_get_last_extra_data()
        ):
            stored = _StoredPayload.from_dict(extra.as_dict())
            if stored is not None:
                self.data.resources.remember(Payload(self.path, stored.data, stored.received_at))
        self._show_last()

    @callback
    def show(self, cause: object = None) -> None:
        """A new payload for this path."""
        if self.hass is not None:
            self._show_last()
            self.async_write_caused_by(cause)

    def _show_last(self) -> None:
        last = self.data.resources.last.get(self.path)
        if last is None:
            return
        hex_text = payload_hex(last.data)
        self._attr_native_value = payload_state(last.data, hex_text)
        self._attr_extra_state_attributes = payload_attributes(
            last.data, last.received_at, hex_text
        )


class RawSensors:
    """One raw sensor per writable path declared, and per path the platform wrote to."""

    def __init__(self, data: Bc26Data, async_add_entities: AddConfigEntryEntitiesCallback) -> None:
        self._data = data
        self._add = async_add_entities
        self._sensors: dict[ResourcePath, RawResourceSensor] = {}

    def add_known(self, registry: er.EntityRegistry) -> None:
        """The declared writable paths and those seen in earlier runs, if still declared.

        The sensor of a path no longer declared would never change again: it leaves the
        entity registry, rather than stay as an entity the integration still provides.
        """
        entry = self._data.session.config_entry
        declared = self._data.session.declared
        paths = set(declared.writable)
        for registry_entry in _own_sensors(registry, entry):
            if (path := _path_of_raw_unique_id(entry, registry_entry.unique_id)) is None:
                continue
            if declared.get(path) is not None:
                paths.add(path)
            else:
                registry.async_remove(registry_entry.entity_id)
        self._add([self._sensor(path) for path in sorted(paths)])

    def _sensor(self, path: ResourcePath) -> RawResourceSensor:
        sensor = self._sensors[path] = RawResourceSensor(self._data, path)
        return sensor

    @callback
    def on_payload(self, payload: Payload) -> None:
        """Route a payload to the sensor of its path, creating one for a new path."""
        if (sensor := self._sensors.get(payload.path)) is not None:
            sensor.show(payload.cause)
        else:
            self._add([self._sensor(payload.path)])


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
            path=ResourcePath.parse(data[CONF_RESOURCE_PATH]),
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


def _finite_number(value: Any) -> int | float | None:
    """`value` as a number Home Assistant can show, or None (text, a bool, NaN, infinity)."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int beyond any float
        return None
    if not math.isfinite(number):
        return None
    return value if isinstance(value, int | float) else number


class DecodedResourceSensor(Bc26Entity, RestoreSensor):
    """A value decoded from the payloads of one path by the user's template."""

    def __init__(
        self,
        data: Bc26Data,
        subentry_id: str,
        config: DecodedConfig,
        restore: bool,
    ) -> None:
        super().__init__(data)
        self.config = config
        self._restore = restore
        self._template = Template(config.template, data.session.hass)
        self._failing = False
        self._attr_unique_id = decoded_unique_id(data.session.config_entry, subentry_id)
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
            self._restore_value(restored)
        self.async_on_remove(self.data.resources.listen(Phase.UPDATE, self.config.path, self.show))

    def _restore_value(self, restored: SensorExtraStoredData) -> None:
        """Show the last run's value if it fits the sensor as configured now.

        The subentry may have changed while the entry was not loaded: a value Home
        Assistant refuses would keep the entity from being added, one in another unit
        would show a wrong number.
        """
        value = restored.native_value
        if value is None:
            return
        if restored.native_unit_of_measurement != self.config.unit:
            why = f"it was in {restored.native_unit_of_measurement or 'no unit'}"
        elif self.config.numeric and _finite_number(value) is None:
            why = "the sensor now needs a number"
        else:
            self._attr_native_value = value
            return
        _LOGGER.debug("%s: last value %r not restored: %s", self.entity_id, value, why)

    @callback
    def show(self, payload: Payload) -> None:
        """Decode a payload of this sensor's path."""
        self.decode(payload)
        self.async_write_caused_by(payload.cause)

    @callback
    def decode(self, payload: Payload) -> None:
        """Render the template; on failure go unavailable with one log line per failure run."""
        try:
            value = self._render(payload.data)
        except _RenderError as err:
            if not self._failing:
                _LOGGER.warning(
                    "%s: value template failed for payload %s on %s: %s",
                    self.entity_id or self.config.name,
                    payload_hex(payload.data),
                    payload.path,
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
            if "\x00" in text:  # a C string's end: invisible, and no recorder stores it
                raise _RenderError(
                    "result holds a NUL character; drop it in the template: "
                    "{{ value | replace('\\x00', '') }}"
                )
            return text
        if (number := _finite_number(value)) is None:
            raise _RenderError(f"result {value!r} is not a number")
        if isinstance(number, int) and len(str(number)) > MAX_STATE_LENGTH:
            raise _RenderError(f"result has more digits than a state holds ({MAX_STATE_LENGTH})")
        return number


class DecodedSensors:
    """The decoded sensors of the entry's subentries, kept in step with them."""

    def __init__(
        self,
        entry: Bc26ConfigEntry,
        data: Bc26Data,
        async_add_entities: AddConfigEntryEntitiesCallback,
    ) -> None:
        self._entry = entry
        self._data = data
        self._add = async_add_entities
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
                    self._data.session.hass,
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
            self._data, subentry_id, DecodedConfig.from_subentry(subentry), restore
        )
        # A new or changed sensor shows the path's last payload at once.
        if (last := self._data.resources.last.get(sensor.config.path)) is not None:
            sensor.decode(last)
        self._sensors[subentry_id] = sensor
        self._add([sensor])

    def _remove(self, subentry_id: str) -> None:
        """Remove the sensor's registry entry; the registry then removes the entity."""
        del self._sensors[subentry_id]
        registry = er.async_get(self._data.session.hass)
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
