"""The "Add resource sensor" subentry flow: the form, its checks, add and reconfigure.

The flow needs the module's config entry but not a running module, so the entry here
is not set up; test_ha2_entities.py runs the same flow against a loaded entry.
"""

from __future__ import annotations

from collections.abc import Mapping
import json
from pathlib import Path

from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    SOURCE_USER,
    ConfigSubentry,
    ConfigSubentryData,
    SubentryFlowResult,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from homeassistant.helpers.selector import SelectSelector
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.bc26.const import (
    DOMAIN,
    SUBENTRY_OBJECT,
    SUBENTRY_REPORT,
    SUBENTRY_RESOURCE_SENSOR,
    module_title,
)
from custom_components.bc26.object_flow import default_object_data

from .ha_fixtures import IMEI

STRINGS = json.loads(
    (Path(__file__).parent.parent / "custom_components" / DOMAIN / "strings.json").read_text()
)

TEMPERATURE = {
    "name": "Outdoor temperature",
    "resource_path": "19/1/0",
    "value_template": "{{ (value_bytes[0] * 256 + value_bytes[1]) / 10 }}",
    "unit_of_measurement": "°C",
    "device_class": "temperature",
    "state_class": "measurement",
}


@pytest.fixture
def entry(hass: HomeAssistant) -> MockConfigEntry:
    """The module's entry with one decoded sensor; never set up here."""
    config_entry = MockConfigEntry(
        domain=DOMAIN,
        title=module_title(IMEI),
        unique_id=IMEI,
        minor_version=2,
        subentries_data=[
            *default_object_data(),
            ConfigSubentryData(
                data=TEMPERATURE,
                subentry_type=SUBENTRY_RESOURCE_SENSOR,
                title=TEMPERATURE["name"],
                unique_id=None,
            ),
        ],
    )
    config_entry.add_to_hass(hass)
    return config_entry


async def _start(hass: HomeAssistant, entry: MockConfigEntry) -> SubentryFlowResult:
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_RESOURCE_SENSOR), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    return result


def _sensors(entry: MockConfigEntry) -> list[ConfigSubentry]:
    return [
        subentry
        for subentry in entry.subentries.values()
        if subentry.subentry_type == SUBENTRY_RESOURCE_SENSOR
    ]


def _placeholders(result: SubentryFlowResult) -> Mapping[str, str]:
    placeholders = result["description_placeholders"]
    assert placeholders is not None
    return placeholders


async def test_entry_offers_the_resource_sensor_subentry(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    await _start(hass, entry)  # loads the config flow handler
    assert entry.supported_subentry_types == {
        SUBENTRY_OBJECT: {"supports_reconfigure": True},
        SUBENTRY_RESOURCE_SENSOR: {"supports_reconfigure": True},
        SUBENTRY_REPORT: {"supports_reconfigure": True},
    }


async def test_every_dropdown_option_has_a_translated_label(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """Device class and state class options read "PM2.5", "pH", not "Pm25", "Ph".

    The frontend labels the options of a select selector with a translation_key from
    the `selector` section of strings.json, as Home Assistant's template helper does.
    """
    result = await _start(hass, entry)
    assert result["data_schema"] is not None
    selects = {
        str(key): selector.config
        for key, selector in result["data_schema"].schema.items()
        # Units and resource paths are their own labels.
        if isinstance(selector, SelectSelector)
        and str(key) not in ("unit_of_measurement", "resource_path")
    }
    assert set(selects) == {"device_class", "state_class"}
    for config in selects.values():
        labels = STRINGS["selector"][config["translation_key"]]["options"]
        assert config["options"]
        assert all(isinstance(option, str) for option in config["options"])
        assert set(config["options"]) <= set(labels)
    device_classes = STRINGS["selector"]["device_class"]["options"]
    assert (device_classes["pm25"], device_classes["ph"], device_classes["aqi"]) == (
        "PM2.5",
        "pH",
        "Air quality index",
    )


async def test_add_with_defaults(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    result = await _start(hass, entry)
    assert result["data_schema"] is not None
    schema = result["data_schema"].schema
    defaults = {str(key): key.default() for key in schema if callable(key.default)}
    assert defaults == {"resource_path": "19/1/0"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"name": "Command", "value_template": "{{ value }}"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Command"
    added = [sub for sub in entry.subentries.values() if sub.title == "Command"]
    assert len(added) == 1
    assert dict(added[0].data) == {
        "name": "Command",
        "resource_path": "19/1/0",
        "value_template": "{{ value }}",
    }


async def test_several_sensors_may_read_one_path(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    result = await _start(hass, entry)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            "name": "Outdoor humidity",
            "resource_path": "19/1/0",
            "value_template": "{{ (value_bytes[2] * 256 + value_bytes[3]) / 10 }}",
            "unit_of_measurement": "%",
            "device_class": "humidity",
            "state_class": "measurement",
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert [sub.data["resource_path"] for sub in _sensors(entry)] == ["19/1/0", "19/1/0"]


@pytest.mark.parametrize("path", ["19/0/0", "19/1", "3303/0/5700", "/19/1/0"])
async def test_only_declared_writable_paths_are_offered(
    hass: HomeAssistant, entry: MockConfigEntry, path: str
) -> None:
    result = await _start(hass, entry)
    assert result["data_schema"] is not None
    schema = result["data_schema"].schema
    (selector,) = [value for key, value in schema.items() if str(key) == "resource_path"]
    assert selector.config["options"] == ["19/1/0"]  # 19/0/0 is one Home Assistant reports
    with pytest.raises(InvalidData):
        await hass.config_entries.subentries.async_configure(
            result["flow_id"], {**TEMPERATURE, "resource_path": path}
        )
    assert len(_sensors(entry)) == 1


async def test_without_a_writable_resource_there_is_nothing_to_decode(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    for subentry_id, subentry in list(entry.subentries.items()):
        if subentry.subentry_type == SUBENTRY_OBJECT:
            hass.config_entries.async_remove_subentry(entry, subentry_id)
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_RESOURCE_SENSOR), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_writable_resources"


@pytest.mark.parametrize(
    ("change", "field", "error", "placeholder"),
    [
        ({"value_template": "{{ value_bytes[0] "}, "value_template", "invalid_template", "error"),
        ({"value_template": "{% if %}"}, "value_template", "invalid_template", "error"),
        ({"unit_of_measurement": "%"}, "unit_of_measurement", "invalid_unit", "expected_units"),
        ({"state_class": "total"}, "state_class", "invalid_state_class", "expected_state_classes"),
    ],
)
async def test_form_refuses_what_cannot_work(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    change: dict[str, str],
    field: str,
    error: str,
    placeholder: str | None,
) -> None:
    result = await _start(hass, entry)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**TEMPERATURE, "name": "Broken", **change}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {field: error}
    if placeholder is not None:
        assert _placeholders(result)[placeholder]
    assert len(_sensors(entry)) == 1  # nothing added
    # The user corrects the field and the sensor is added.
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**TEMPERATURE, "name": "Fixed"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_unit_check_names_the_units_that_fit(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    result = await _start(hass, entry)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**TEMPERATURE, "unit_of_measurement": "kWh"}
    )
    assert _placeholders(result)["expected_units"] == "K, °C, °F"


async def test_a_class_without_unit_needs_none(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    result = await _start(hass, entry)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            "name": "Air quality",
            "value_template": "{{ value_bytes[0] }}",
            "device_class": "aqi",
            "unit_of_measurement": "%",
        },
    )
    assert result["errors"] == {"unit_of_measurement": "invalid_unit"}
    assert _placeholders(result)["expected_units"] == "-"


async def test_reconfigure_shows_the_current_settings_and_saves(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    (subentry_id,) = (sensor.subentry_id for sensor in _sensors(entry))
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_RESOURCE_SENSOR),
        context={"source": SOURCE_RECONFIGURE, "subentry_id": subentry_id},
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    assert result["data_schema"] is not None
    suggested = {
        str(key): key.description["suggested_value"]
        for key in result["data_schema"].schema
        if key.description
    }
    assert suggested == TEMPERATURE
    changed = {**TEMPERATURE, "name": "Cellar temperature", "unit_of_measurement": "°F"}
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], changed)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    subentry = entry.subentries[subentry_id]
    assert subentry.title == "Cellar temperature"
    assert dict(subentry.data) == changed


async def test_reconfigure_may_clear_optional_fields(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    (subentry_id,) = (sensor.subentry_id for sensor in _sensors(entry))
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_RESOURCE_SENSOR),
        context={"source": SOURCE_RECONFIGURE, "subentry_id": subentry_id},
    )
    text_only = {"name": "Raw text", "resource_path": "19/1/0", "value_template": "{{ value }}"}
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], text_only)
    assert result["type"] is FlowResultType.ABORT
    assert dict(entry.subentries[subentry_id].data) == text_only


async def test_a_value_too_large_for_its_encoding_is_a_form_error(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """1e300 / 1e-10 is infinite: not a crash ("Unknown error") but the translated error."""
    hass.states.async_set("sensor.huge", "1e300")
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_REPORT), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            "entity_id": "sensor.huge",
            "resource_path": "19/0/0",
            "declare": False,
            "encoding": "int16",
            "scale": 1e-10,
        },
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_encode"}
    assert "int16" in _placeholders(result)["error"]
    assert "{error}" in STRINGS["config_subentries"][SUBENTRY_REPORT]["error"]["cannot_encode"]
    assert not [sub for sub in entry.subentries.values() if sub.subentry_type == SUBENTRY_REPORT]
