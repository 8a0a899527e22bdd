"""The README's "Automations" examples, taken from the README itself and run for real.

Each automation passes Home Assistant's own automation config validation and then
runs against the virtual BC26 and the local platform; the decoded-sensor settings go
through the "Add resource sensor" flow and decode a real frame.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
import re
from typing import Any

from homeassistant.components.automation.config import async_validate_config_item
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util.yaml import parse_yaml
import pytest

from custom_components.bc26.const import DOMAIN, SUBENTRY_RESOURCE_SENSOR
from custom_components.bc26.resource_sensor import decoded_unique_id

from .ha2_fixtures import Rig
from .ha_fixtures import until

README = Path(__file__).parent.parent / "README.md"
EXAMPLE_ENTRY_ID = "01JDBC26EXAMPLE0000000000"


def _examples() -> list[Any]:
    """The YAML blocks of the README's "Automations" section, in order."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Automations\n", 1)[1].split("\n## ", 1)[0]
    return [parse_yaml(block) for block in re.findall(r"```yaml\n(.*?)```", section, re.S)]


def _with_entry(config: Any, entry_id: str) -> Any:
    """The example with the test module's config entry ID in place of the README's."""
    if isinstance(config, dict):
        return {key: _with_entry(value, entry_id) for key, value in config.items()}
    if isinstance(config, list):
        return [_with_entry(value, entry_id) for value in config]
    return entry_id if config == EXAMPLE_ENTRY_ID else config


def test_readme_has_the_three_examples() -> None:
    periodic, command, frame = _examples()
    assert periodic["triggers"][0]["trigger"] == "time_pattern"
    assert command["actions"][0]["action"] == "switch.turn_on"
    assert [sensor["resource_path"] for sensor in frame] == ["19/1/0", "19/1/0"]


@pytest.mark.parametrize("index", [0, 1])
async def test_readme_automations_pass_home_assistant_validation(
    hass: HomeAssistant, index: int
) -> None:
    config = _examples()[index]
    validated = await async_validate_config_item(hass, "automation", config)
    assert validated is not None
    assert validated.validation_status == "ok"


@pytest.fixture
async def automations(hass: HomeAssistant) -> AsyncIterator[None]:
    """Turn every automation off after the test: their triggers hold timers."""
    yield
    await hass.services.async_call(
        "automation", "turn_off", {"entity_id": "all", "stop_actions": True}, blocking=True
    )


async def _run_automation(hass: HomeAssistant, config: dict[str, Any]) -> None:
    assert await async_setup_component(hass, "automation", {"automation": [config]})
    await hass.async_block_till_done()


@pytest.mark.usefixtures("automations")
async def test_periodic_send_reaches_the_platform(rig: Rig, hass: HomeAssistant) -> None:
    periodic = _with_entry(_examples()[0], rig.entry.entry_id)
    hass.states.async_set("sensor.cellar_temperature", "12.5", {"unit_of_measurement": "°C"})
    await _run_automation(hass, periodic)
    automation_id = next(state.entity_id for state in hass.states.async_all("automation"))
    await hass.services.async_call(
        "automation", "trigger", {"entity_id": automation_id, "skip_condition": False}
    )
    uplink = await rig.platform.wait_uplink()
    assert uplink.payload == b"12.5"
    assert uplink.confirmable
    # The condition keeps a value that is not a number off the platform.
    hass.states.async_set("sensor.cellar_temperature", "unavailable")
    await hass.services.async_call(
        "automation",
        "trigger",
        {"entity_id": automation_id, "skip_condition": False},
        blocking=True,
    )
    await hass.async_block_till_done()
    assert len(rig.platform.uplinks) == 1


@pytest.mark.usefixtures("automations")
async def test_platform_command_turns_on_the_switch(rig: Rig, hass: HomeAssistant) -> None:
    command = _examples()[1]
    event_id = er.async_get(hass).async_get_entity_id(
        "event", DOMAIN, f"{rig.entry.unique_id}-downlink"
    )
    assert event_id is not None
    assert event_id == command["triggers"][0]["entity_id"]
    assert await async_setup_component(
        hass, "input_boolean", {"input_boolean": {"pump_relay": {"name": "Pump relay"}}}
    )
    assert await async_setup_component(
        hass,
        "template",
        {
            "template": [
                {
                    "switch": [
                        {
                            "name": "Pump",
                            "state": "{{ is_state('input_boolean.pump_relay', 'on') }}",
                            "turn_on": {
                                "action": "input_boolean.turn_on",
                                "target": {"entity_id": "input_boolean.pump_relay"},
                            },
                            "turn_off": {
                                "action": "input_boolean.turn_off",
                                "target": {"entity_id": "input_boolean.pump_relay"},
                            },
                        }
                    ]
                }
            ]
        },
    )
    await _run_automation(hass, command)
    assert hass.states.get("switch.pump").state == "off"  # type: ignore[union-attr]
    await rig.write(b"PUMP OFF")
    await until(lambda: hass.states.get(event_id).attributes.get("text") == "PUMP OFF")  # type: ignore[union-attr]
    await hass.async_block_till_done()
    assert hass.states.get("switch.pump").state == "off"  # type: ignore[union-attr]
    await rig.write(b"PUMP ON")
    await until(lambda: hass.states.get("switch.pump").state == "on")  # type: ignore[union-attr]


async def test_two_value_frame_decodes_into_two_sensors(rig: Rig, hass: HomeAssistant) -> None:
    entry_id = rig.entry.entry_id
    for settings in _examples()[2]:
        result = await hass.config_entries.subentries.async_init(
            (entry_id, SUBENTRY_RESOURCE_SENSOR), context={"source": "user"}
        )
        result = await hass.config_entries.subentries.async_configure(
            result["flow_id"], {key: str(value) for key, value in settings.items()}
        )
        assert result["type"] == "create_entry", result
    await hass.async_block_till_done()
    await rig.write(bytes.fromhex("FF9C01F4"))  # the README's example frame
    registry = er.async_get(hass)
    decoded = {
        subentry.title: registry.async_get_entity_id(
            "sensor", DOMAIN, decoded_unique_id(rig.entry, subentry_id)
        )
        for subentry_id, subentry in rig.entry.subentries.items()
    }

    def value(name: str) -> str | None:
        entity_id = decoded[name]
        state = hass.states.get(entity_id) if entity_id else None
        return None if state is None else state.state

    await until(lambda: value("Outdoor humidity") == "50.0")
    assert value("Outdoor temperature") == "-10.0"
