"""The "Report an entity" config subentry: an entity the module reports to the platform.

The form asks for the entity (and optionally one of its attributes or a template),
the resource (one the module declares for Home Assistant to report, or a new one it
declares on the spot), the encoding, confirmable or not, and when to report. What
cannot work is refused with a clear error before anything is saved: an entity whose
current value cannot be encoded as chosen, an undeclared resource not to be declared,
a resource another entity is reported on already, a broken template.
"""

from __future__ import annotations

from collections.abc import Mapping
import math
from types import MappingProxyType
from typing import Any

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigEntryState,
    ConfigSubentry,
)
from homeassistant.const import (
    CONF_ENTITY_ID,
    CONF_VALUE_TEMPLATE,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import TemplateError
from homeassistant.helpers import selector
from homeassistant.helpers.template import Template

from .compat import vol
from .const import SUBENTRY_OBJECT, SUBENTRY_REPORT
from .encoding import Encoding
from .modem import InvalidArgumentError, ResourcePath
from .object_flow import (
    CONF_INSTANCE,
    CONF_OBJECT,
    CONF_REPORTED,
    entry_declarations,
    object_subentry,
)
from .reporting import (
    CONF_ATTRIBUTE,
    CONF_CONFIRMABLE,
    CONF_DEADBAND,
    CONF_ENCODING,
    CONF_HEARTBEAT,
    CONF_KEEP_HISTORY,
    CONF_MIN_INTERVAL,
    CONF_RESOURCE_PATH,
    CONF_SCALE,
    ReportConfig,
    SkipError,
    payload_of,
)
from .resources import Declaration, Direction, TableError, check_table
from .selectors import seconds, whole
from .subentry_form import Checked, FormSubentryFlow, Saved

CONF_DECLARE = "declare"
MAX_SECONDS = 86400


def _schema(paths: list[str]) -> vol.Schema:
    """The form; `paths` are the resources the module declares for Home Assistant to report."""
    return vol.Schema(
        {
            vol.Required(CONF_ENTITY_ID): selector.EntitySelector(),
            vol.Optional(CONF_ATTRIBUTE): selector.TextSelector(),
            vol.Required(CONF_RESOURCE_PATH): selector.SelectSelector(
                selector.SelectSelectorConfig(
                    options=paths, custom_value=True, mode=selector.SelectSelectorMode.DROPDOWN
                )
            ),
            vol.Required(CONF_DECLARE, default=True): selector.BooleanSelector(),
            vol.Required(CONF_ENCODING, default=Encoding.TEXT.value): selector.SelectSelector(
                selector.SelectSelectorConfig(
                    options=[encoding.value for encoding in Encoding],
                    translation_key="report_encoding",
                    mode=selector.SelectSelectorMode.DROPDOWN,
                )
            ),
            vol.Optional(CONF_SCALE, default=1): selector.NumberSelector(
                selector.NumberSelectorConfig(step="any", mode=selector.NumberSelectorMode.BOX)
            ),
            vol.Optional(CONF_VALUE_TEMPLATE): selector.TextSelector(
                selector.TextSelectorConfig(multiline=True)
            ),
            vol.Required(CONF_CONFIRMABLE, default=False): selector.BooleanSelector(),
            vol.Required(CONF_MIN_INTERVAL, default=10): seconds(0, MAX_SECONDS),
            vol.Optional(CONF_DEADBAND): selector.NumberSelector(
                selector.NumberSelectorConfig(
                    min=0, step="any", mode=selector.NumberSelectorMode.BOX
                )
            ),
            vol.Required(CONF_HEARTBEAT, default=0): seconds(0, MAX_SECONDS),
            vol.Required(CONF_KEEP_HISTORY, default=False): selector.BooleanSelector(),
        }
    )


class ReportSubentryFlow(FormSubentryFlow):
    """Report an entity, change how, or (from the entry's page) stop reporting it."""

    def _schema(self) -> vol.Schema:
        return _schema(self._reportable())

    def _reportable(self) -> list[str]:
        declarations = entry_declarations(self._get_entry())
        return sorted(str(each.path) for each in declarations if each.direction.reportable)

    def _validate(self, user_input: Mapping[str, Any], editing: str | None) -> Checked:
        """(errors, placeholders, what to save)."""
        data = {
            key: value
            for key, value in user_input.items()
            if value not in (None, "") and key != CONF_DECLARE
        }
        try:
            path = ResourcePath.parse(str(user_input[CONF_RESOURCE_PATH]))
        except InvalidArgumentError:
            return {CONF_RESOURCE_PATH: "invalid_path"}, {}, None
        data[CONF_RESOURCE_PATH] = str(path)
        if error := self._resource_error(path, bool(user_input[CONF_DECLARE]), editing):
            key, placeholders = error
            return {CONF_RESOURCE_PATH: key}, placeholders, None
        if errors := _number_errors(data):
            return errors, {}, None
        if problem := _content_problem(self.hass, data):
            return *problem, None
        return {}, {}, Saved(f"{data[CONF_ENTITY_ID]} → {path}", data, str(path))

    def _resource_error(
        self, path: ResourcePath, declare: bool, editing: str | None
    ) -> tuple[str, dict[str, str]] | None:
        """Why `path` cannot be reported on, with the error's placeholders."""
        entry = self._get_entry()
        for subentry_id, subentry in entry.subentries.items():
            if (
                subentry.subentry_type == SUBENTRY_REPORT
                and subentry_id != editing
                and subentry.data.get(CONF_RESOURCE_PATH) == str(path)
            ):
                return "already_reported", {}
        if str(path) in self._reportable():
            return None
        if not declare:
            return "resource_not_declared", {"paths": ", ".join(self._reportable()) or "-"}
        declared = entry_declarations(entry)
        if any(each.path == path for each in declared):
            return None  # declared for the platform to write: it becomes both
        try:
            check_table([*declared, Declaration(path, Direction.REPORTED)])
        except TableError as err:
            return err.key, err.placeholders
        return None

    def _on_save(self, user_input: Mapping[str, Any], saved: Saved) -> None:
        """Declare the resource for Home Assistant to report if the module does not yet."""
        path = ResourcePath.parse(saved.data[CONF_RESOURCE_PATH])
        if str(path) in self._reportable():
            return
        entry = self._get_entry()
        instance = _object_of(entry, path)
        if instance is None:
            new = object_subentry(path.object, path.instance, [], [path.resource], "")
            self.hass.config_entries.async_add_subentry(
                entry,
                ConfigSubentry(
                    data=MappingProxyType(dict(new["data"])),
                    subentry_type=new["subentry_type"],
                    title=new["title"],
                    unique_id=new["unique_id"],
                ),
            )
        else:
            reported = sorted({*instance.data[CONF_REPORTED], path.resource})
            self.hass.config_entries.async_update_subentry(
                entry, instance, data={**instance.data, CONF_REPORTED: reported}
            )
        if entry.state is ConfigEntryState.LOADED:
            entry.runtime_data.session.async_schedule_reregister()


def _number_errors(data: Mapping[str, Any]) -> dict[str, str]:
    """Whole seconds in range, a deadband of 0 or more, a scale other than 0; all finite.

    The number fields take "nan" and "inf": saved, a NaN would turn a feature off
    without a word, and Home Assistant's storage writes it as null.
    """
    errors: dict[str, str] = {}
    for key in (CONF_MIN_INTERVAL, CONF_HEARTBEAT):
        number = whole(data.get(key, 0))
        if number is None or not 0 <= number <= MAX_SECONDS:
            errors[key] = "invalid_seconds"
    deadband = float(data.get(CONF_DEADBAND, 0))
    if not (math.isfinite(deadband) and deadband >= 0):
        errors[CONF_DEADBAND] = "invalid_deadband"
    scale = float(data.get(CONF_SCALE, 1))
    if scale == 0 or not math.isfinite(scale):
        errors[CONF_SCALE] = "invalid_scale"
    return errors


def _content_problem(
    hass: HomeAssistant, data: dict[str, Any]
) -> tuple[dict[str, str], dict[str, str]] | None:
    """(errors, placeholders) when the template, the scale or the entity's value will not do."""
    if template := data.get(CONF_VALUE_TEMPLATE):
        try:
            Template(template, hass).ensure_valid()
        except TemplateError as err:
            return {CONF_VALUE_TEMPLATE: "invalid_template"}, {"error": str(err)}
    config = ReportConfig.from_data(data)
    state = hass.states.get(config.entity_id)
    try:
        payload_of(hass, config, state)
    except SkipError as err:
        # A value the entity does not have now (unknown, unavailable) says nothing yet.
        if state is not None and state.state not in (STATE_UNKNOWN, STATE_UNAVAILABLE):
            return {"base": "cannot_encode"}, {"error": str(err)}
    return None


def _object_of(entry: ConfigEntry[Any], path: ResourcePath) -> ConfigSubentry | None:
    """The object subentry of `path`'s instance, if there is one."""
    for subentry in entry.subentries.values():
        data = subentry.data
        if subentry.subentry_type == SUBENTRY_OBJECT and (
            data[CONF_OBJECT],
            data[CONF_INSTANCE],
        ) == (path.object, path.instance):
            return subentry
    return None
