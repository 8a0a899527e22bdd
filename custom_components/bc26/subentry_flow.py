"""The "Add resource sensor" config subentry: a decoded sensor on one resource path."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.components.sensor import CONF_STATE_CLASS, SensorDeviceClass, SensorStateClass
from homeassistant.components.sensor.const import DEVICE_CLASS_STATE_CLASSES, DEVICE_CLASS_UNITS
from homeassistant.config_entries import SubentryFlowResult
from homeassistant.const import (
    CONF_DEVICE_CLASS,
    CONF_NAME,
    CONF_UNIT_OF_MEASUREMENT,
    CONF_VALUE_TEMPLATE,
)
from homeassistant.exceptions import TemplateError
from homeassistant.helpers import selector
from homeassistant.helpers.template import Template

from .compat import vol
from .object_flow import entry_declarations
from .subentry_form import Checked, FormSubentryFlow, Saved

CONF_RESOURCE_PATH = "resource_path"

# Device classes whose states are not numbers or text a template can produce as is.
_UNOFFERED_DEVICE_CLASSES = {
    SensorDeviceClass.DATE,
    SensorDeviceClass.ENUM,
    SensorDeviceClass.TIMESTAMP,
}
_OFFERED_STATE_CLASSES = (
    SensorStateClass.MEASUREMENT,
    SensorStateClass.TOTAL,
    SensorStateClass.TOTAL_INCREASING,
)


def _device_class_options() -> list[str]:
    """The values; the frontend labels them from the `device_class` selector's texts."""
    return [
        device_class.value
        for device_class in SensorDeviceClass
        if device_class not in _UNOFFERED_DEVICE_CLASSES
    ]


def _unit_options() -> list[str]:
    return sorted(
        {str(unit) for units in DEVICE_CLASS_UNITS.values() for unit in units if unit is not None}
    )


def _schema(paths: list[str]) -> vol.Schema:
    """The form; `paths` are the writable resources the module declares."""
    return vol.Schema(
        {
            vol.Required(CONF_NAME): selector.TextSelector(),
            vol.Required(CONF_RESOURCE_PATH, default=paths[0] if paths else vol.UNDEFINED): (
                selector.SelectSelector(
                    selector.SelectSelectorConfig(
                        options=paths, mode=selector.SelectSelectorMode.DROPDOWN
                    )
                )
            ),
            # A text field, not the template selector: its own syntax check would answer
            # before this flow's, with an untranslated message.
            vol.Required(CONF_VALUE_TEMPLATE): selector.TextSelector(
                selector.TextSelectorConfig(multiline=True)
            ),
            vol.Optional(CONF_UNIT_OF_MEASUREMENT): selector.SelectSelector(
                selector.SelectSelectorConfig(
                    options=_unit_options(),
                    mode=selector.SelectSelectorMode.DROPDOWN,
                    custom_value=True,
                    sort=True,
                )
            ),
            vol.Optional(CONF_DEVICE_CLASS): selector.SelectSelector(
                selector.SelectSelectorConfig(
                    options=_device_class_options(),
                    mode=selector.SelectSelectorMode.DROPDOWN,
                    translation_key=CONF_DEVICE_CLASS,
                    sort=True,
                )
            ),
            vol.Optional(CONF_STATE_CLASS): selector.SelectSelector(
                selector.SelectSelectorConfig(
                    options=[state_class.value for state_class in _OFFERED_STATE_CLASSES],
                    mode=selector.SelectSelectorMode.DROPDOWN,
                    translation_key=CONF_STATE_CLASS,
                )
            ),
        }
    )


def _unit_error(user_input: Mapping[str, Any]) -> tuple[str, str] | None:
    """('invalid_unit', the units the device class accepts) when the unit does not fit."""
    device_class = user_input.get(CONF_DEVICE_CLASS)
    units = DEVICE_CLASS_UNITS.get(SensorDeviceClass(device_class)) if device_class else None
    if units is None or user_input.get(CONF_UNIT_OF_MEASUREMENT) in units:
        return None
    expected = sorted(str(unit) if unit else "-" for unit in units)
    return "invalid_unit", ", ".join(expected)


def _state_class_error(user_input: Mapping[str, Any]) -> tuple[str, str] | None:
    device_class = user_input.get(CONF_DEVICE_CLASS)
    state_class = user_input.get(CONF_STATE_CLASS)
    if not device_class or not state_class:
        return None
    allowed = DEVICE_CLASS_STATE_CLASSES.get(SensorDeviceClass(device_class))
    if allowed is None or state_class in allowed:
        return None
    return "invalid_state_class", ", ".join(sorted(str(value) for value in allowed)) or "-"


class ResourceSensorSubentryFlow(FormSubentryFlow):
    """Add or reconfigure one decoded resource sensor."""

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Ask for name, path, template, unit and classes; create the subentry."""
        if not self._writable_paths():
            return self.async_abort(reason="no_writable_resources")
        return await super().async_step_user(user_input)

    def _writable_paths(self) -> list[str]:
        """The paths the platform writes, as the module declares them, sorted."""
        declarations = entry_declarations(self._get_entry())
        return [
            str(each.path)
            for each in sorted(declarations, key=lambda each: each.path)
            if each.direction.writable
        ]

    def _schema(self) -> vol.Schema:
        return _schema(self._writable_paths())

    def _validate(self, user_input: Mapping[str, Any], editing: str | None) -> Checked:
        """(errors, placeholders, the sensor to save)."""
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        data = dict(user_input)  # the path is one the selector offered: a declared, writable one
        try:
            Template(user_input[CONF_VALUE_TEMPLATE], self.hass).ensure_valid()
        except TemplateError as err:
            errors[CONF_VALUE_TEMPLATE] = "invalid_template"
            placeholders["error"] = str(err)
        if problem := _unit_error(user_input):
            errors[CONF_UNIT_OF_MEASUREMENT], placeholders["expected_units"] = problem
        if problem := _state_class_error(user_input):
            errors[CONF_STATE_CLASS], placeholders["expected_state_classes"] = problem
        return errors, placeholders, Saved(data[CONF_NAME], data)
