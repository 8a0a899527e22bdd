"""The "Declare an LwM2M object" config subentry: an object instance the module declares.

Each subentry is one AT+QLWADDOBJ: an object, an instance, the resources the platform
writes and those Home Assistant reports (a resource in both lists is both), and a
name. New entries start with the /19 pair Huawei-style platforms use; any of it can
be removed or changed. The module learns the table when it registers, so a change
takes effect at the next registration; the form offers to register again at once.
"""

from __future__ import annotations

from collections.abc import Mapping
import re
from types import MappingProxyType
from typing import Any

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigEntryState,
    ConfigSubentry,
    ConfigSubentryData,
)
from homeassistant.const import CONF_ENTITY_ID, CONF_NAME
from homeassistant.helpers import selector

from .compat import vol
from .const import CONF_DATA_MODE, DATA_MODE_BUFFER_ACCESS, SUBENTRY_OBJECT, SUBENTRY_REPORT
from .modem import MAX_ID, parse_id
from .reporting import CONF_RESOURCE_PATH
from .resources import (
    Declaration,
    TableError,
    check_table,
    declarations_of,
)
from .selectors import whole, whole_number
from .subentry_form import Checked, FormSubentryFlow, Saved

CONF_OBJECT = "object"
CONF_INSTANCE = "instance"
CONF_WRITTEN = "written"
CONF_REPORTED = "reported"
CONF_REGISTER_NOW = "register_now"

_ID_LIST = re.compile(r"[\s,;]+")
_NUMBER = whole_number(0, MAX_ID)
_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_OBJECT): _NUMBER,
        vol.Required(CONF_INSTANCE, default=0): _NUMBER,
        vol.Optional(CONF_WRITTEN, default=""): selector.TextSelector(),
        vol.Optional(CONF_REPORTED, default=""): selector.TextSelector(),
        vol.Optional(CONF_NAME, default=""): selector.TextSelector(),
        vol.Required(CONF_REGISTER_NOW, default=True): selector.BooleanSelector(),
    }
)


def object_subentry(
    obj: int, instance: int, written: list[int], reported: list[int], name: str
) -> ConfigSubentryData:
    """The subentry of one object instance."""
    return ConfigSubentryData(
        data={
            CONF_OBJECT: obj,
            CONF_INSTANCE: instance,
            CONF_WRITTEN: written,
            CONF_REPORTED: reported,
            CONF_NAME: name,
        },
        subentry_type=SUBENTRY_OBJECT,
        title=f"{obj}/{instance} {name}".strip(),
        unique_id=f"{obj}/{instance}",
    )


def default_object_data() -> list[ConfigSubentryData]:
    """The /19 pair (manual 5.1): /19/0/0 the module reports on, /19/1/0 the platform writes."""
    return [
        object_subentry(19, 0, [], [0], "Uplink"),
        object_subentry(19, 1, [0], [], "Downlink"),
    ]


def default_objects() -> list[ConfigSubentry]:
    """`default_object_data` as subentries to add to an existing entry."""
    return [
        ConfigSubentry(
            data=MappingProxyType(dict(data["data"])),
            subentry_type=data["subentry_type"],
            title=data["title"],
            unique_id=data["unique_id"],
        )
        for data in default_object_data()
    ]


def buffer_access_error(declarations: list[Declaration], data_mode: str) -> str | None:
    """'buffer_access_one_writable' when buffer access meets more than one writable resource.

    In buffer access mode AT+QLWRD does not say which resource a node belongs to, and
    only the first node of a burst is announced with its path (manual 3.10): with two
    writable resources the session could only guess. So it is refused, not guessed.
    """
    writable = [each for each in declarations if each.direction.writable]
    if data_mode == DATA_MODE_BUFFER_ACCESS and len(writable) > 1:
        return "buffer_access_one_writable"
    return None


def entry_declarations(entry: ConfigEntry[Any], without: str | None = None) -> list[Declaration]:
    """What the entry's object subentries declare, but for the subentry `without`."""
    declarations: list[Declaration] = []
    for subentry_id, subentry in entry.subentries.items():
        if subentry.subentry_type == SUBENTRY_OBJECT and subentry_id != without:
            declarations.extend(declarations_of(subentry.data))
    return declarations


def _ids(text: str) -> list[int] | None:
    """`"5850, 5851"` -> [5850, 5851]; None when it is not a list of IDs."""
    ids = [parse_id(part) for part in _ID_LIST.split(str(text).strip()) if part]
    if None in ids:
        return None
    return sorted({number for number in ids if number is not None})


def _id(value: Any) -> int | None:
    number = whole(value)
    return number if number is not None and 0 <= number <= MAX_ID else None


class ObjectSubentryFlow(FormSubentryFlow):
    """Declare, change or (from the entry's page) remove one LwM2M object instance."""

    def _schema(self) -> vol.Schema:
        return _SCHEMA

    def _current(self, subentry: ConfigSubentry | None) -> Mapping[str, Any] | None:
        if subentry is None:
            return None
        return {
            **subentry.data,
            CONF_WRITTEN: ", ".join(str(res) for res in subentry.data[CONF_WRITTEN]),
            CONF_REPORTED: ", ".join(str(res) for res in subentry.data[CONF_REPORTED]),
        }

    def _validate(self, user_input: Mapping[str, Any], editing: str | None) -> Checked:
        """(errors, placeholders, the object instance to save)."""
        obj, instance = _id(user_input[CONF_OBJECT]), _id(user_input[CONF_INSTANCE])
        written, reported = _ids(user_input[CONF_WRITTEN]), _ids(user_input[CONF_REPORTED])
        errors = _field_errors(obj, instance, written, reported)
        if errors or obj is None or instance is None or written is None or reported is None:
            return errors, {}, None
        name = str(user_input.get(CONF_NAME, "")).strip()
        data = object_subentry(obj, instance, written, reported, name)
        entry = self._get_entry()
        others = entry_declarations(entry, without=editing)
        if any(each.path[:2] == (obj, instance) for each in others):
            return {"base": "already_declared"}, {}, None
        table = [*others, *declarations_of(data["data"])]
        try:
            check_table(table)
        except TableError as err:
            return {"base": err.key}, err.placeholders, None
        if still := _reports_undeclared(entry, table):
            return {"base": "still_reported"}, still, None
        if problem := buffer_access_error(table, entry.options.get(CONF_DATA_MODE, "")):
            return {"base": problem}, {}, None
        return {}, {}, Saved(data["title"], dict(data["data"]), data["unique_id"])

    def _on_save(self, user_input: Mapping[str, Any], saved: Saved) -> None:
        """Register again now, when asked and the entry runs."""
        entry = self._get_entry()
        if user_input.get(CONF_REGISTER_NOW) and entry.state is ConfigEntryState.LOADED:
            entry.runtime_data.session.async_schedule_reregister()


def _reports_undeclared(entry: ConfigEntry[Any], table: list[Declaration]) -> dict[str, str]:
    """The entity (and resource) a report subentry reports on, if `table` stops declaring it.

    Home Assistant would go on reporting a value the module refuses to send. A report
    on a resource no longer declared before this change is not this change's doing.
    """
    before = {str(each.path) for each in entry_declarations(entry) if each.direction.reportable}
    after = {str(each.path) for each in table if each.direction.reportable}
    for subentry in entry.subentries.values():
        path = subentry.data.get(CONF_RESOURCE_PATH)
        if subentry.subentry_type == SUBENTRY_REPORT and path in before - after:
            return {"entity": str(subentry.data.get(CONF_ENTITY_ID)), "path": str(path)}
    return {}


def _field_errors(
    obj: int | None, instance: int | None, written: list[int] | None, reported: list[int] | None
) -> dict[str, str]:
    errors: dict[str, str] = {}
    for key, value in ((CONF_OBJECT, obj), (CONF_INSTANCE, instance)):
        if value is None:
            errors[key] = "invalid_id"
    for key, ids in ((CONF_WRITTEN, written), (CONF_REPORTED, reported)):
        if ids is None:
            errors[key] = "invalid_resources"
    if not errors and not (written or reported):
        errors["base"] = "no_resources"
    return errors
