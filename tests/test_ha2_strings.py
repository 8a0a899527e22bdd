"""Action descriptions, texts and icons: what the user sees next to the actions and errors."""

from __future__ import annotations

import json
from pathlib import Path
import re
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.service import async_get_all_descriptions
from homeassistant.setup import async_setup_component
from homeassistant.util.yaml import load_yaml_dict

from custom_components.bc26.const import DOMAIN
from custom_components.bc26.encoding import Encoding

COMPONENT = Path(__file__).parent.parent / "custom_components" / DOMAIN
STRINGS: dict[str, Any] = json.loads((COMPONENT / "strings.json").read_text(encoding="utf-8"))
ICONS: dict[str, Any] = json.loads((COMPONENT / "icons.json").read_text(encoding="utf-8"))
SERVICES = load_yaml_dict(str(COMPONENT / "services.yaml"))
ACTIONS = {"send", "reregister", "update_registration"}


def _source(module: str) -> str:
    return (COMPONENT / module).read_text(encoding="utf-8")


def _keys_raised(module: str, function: str) -> set[str]:
    return set(re.findall(rf'{function}\(\s*"([a-z_]+)"', _source(module)))


ACTION_ERRORS = {
    # ServiceValidationError: the call is wrong, or the session cannot take it now
    "entry_not_found",
    "entry_not_loaded",
    "empty_data",
    "data_too_long",
    "odd_length_hex",
    "invalid_hex",
    "invalid_text",
    "invalid_id",
    "invalid_boolean",
    "path_not_declared",
    "path_needed",
    "outbox_full",
    "module_unavailable",
    "not_registered",
    "not_observed",
    "queue_full",
    "send_cancelled",
    # HomeAssistantError: the module or the platform could not do it
    "send_failed",
    "send_failed_timeout",
    "send_failed_reset",
    "send_timeout",
    "send_rejected",
    "send_error",
    "send_outcome_unknown",
    "reregister_failed",
    "update_failed",
}


def test_every_error_raised_has_a_text() -> None:
    services = _source("services.py")
    raised = (
        _keys_raised("services.py", "_refusal")
        | _keys_raised("services.py", "_failure")
        | set(re.findall(r'"(send_[a-z_]+)"', services))  # defaults and tables too
        | set(re.findall(r'_registration_step\(\s*coordinator,.*?"([a-z_]+)"\s*\)', services, re.S))
    )
    assert raised == ACTION_ERRORS
    assert STRINGS["exceptions"].keys() >= ACTION_ERRORS


def test_every_form_error_has_a_text() -> None:
    raised = set(re.findall(r'"(invalid_[a-z_]+)"', _source("subentry_flow.py")))
    assert raised == set(STRINGS["config_subentries"]["resource_sensor"]["error"])
    object_errors = set(
        re.findall(r'"((?:invalid|no|already|buffer|still)_[a-z_]+)"', _source("object_flow.py"))
    ) | set(re.findall(r'TableError\(\s*"([a-z_]+)"', _source("resources.py")))
    assert object_errors == set(STRINGS["config_subentries"]["lwm2m_object"]["error"])
    options_errors = set(re.findall(r'"((?:invalid|buffer)_[a-z_]+)"', _source("config_flow.py")))
    options_errors -= {"invalid_server", "invalid_endpoint", "invalid_server_port"}
    options_errors.add("buffer_access_one_writable")  # raised through object_flow's check
    assert options_errors == set(STRINGS["options"]["error"])
    report_errors = set(
        re.findall(r'"((?:invalid|already|resource|cannot)_[a-z_]+)"', _source("report_flow.py"))
    ) | set(re.findall(r'TableError\(\s*"([a-z_]+)"', _source("resources.py")))
    assert report_errors == set(STRINGS["config_subentries"]["report_entity"]["error"])


def test_actions_fields_texts_and_icons_match() -> None:
    assert set(SERVICES) == ACTIONS
    for action, description in SERVICES.items():
        texts = STRINGS["services"][action]
        assert texts["name"]
        assert texts["description"]
        assert set(description["fields"]) == set(texts["fields"])
        assert ICONS["services"][action]["service"].startswith("mdi:")
    for field in ("encoding", "delivery"):
        select = SERVICES["send"]["fields"][field]["selector"]["select"]
        options = STRINGS["selector"][select["translation_key"]]["options"]
        assert set(select["options"]) == set(options)


def test_report_encodings_have_texts() -> None:
    options = STRINGS["selector"]["report_encoding"]["options"]
    assert set(options) == {encoding.value for encoding in Encoding}


def test_entities_have_names_and_icons() -> None:
    for platform, key in (
        ("sensor", "resource"),
        ("event", "downlink"),
        ("button", "reregister"),
        ("button", "update_registration"),
    ):
        assert STRINGS["entity"][platform][key]["name"]
        assert ICONS["entity"][platform][key]["default"].startswith("mdi:")


async def test_home_assistant_reads_the_action_descriptions(hass: HomeAssistant) -> None:
    assert await async_setup_component(hass, DOMAIN, {})
    descriptions = (await async_get_all_descriptions(hass))[DOMAIN]
    assert set(descriptions) == ACTIONS
    send = descriptions["send"]
    assert send["fields"]["config_entry_id"]["selector"] == {
        "config_entry": {"integration": DOMAIN}
    }
    assert send["fields"]["encoding"]["default"] == "text"
    assert "default" not in send["fields"]["object_id"]  # the table decides (see bc26.send)
    assert "boolean" in send["fields"]["confirmable"]["selector"]
    assert send["fields"]["data"]["required"] is True


def test_the_repair_fix_flow_has_the_texts_of_the_reconfigure_step() -> None:
    """The fix flow shows the reconfigure flow's form, errors and aborts: each needs a text."""
    reconfigure = STRINGS["config"]["step"]["reconfigure"]
    fix_flow = STRINGS["issues"]["registration_failed"]["fix_flow"]
    step = fix_flow["step"]["reconfigure"]
    assert step["data"] == reconfigure["data"]
    assert step["data_description"] == reconfigure["data_description"]
    assert fix_flow["error"] == STRINGS["config"]["error"]
    assert set(fix_flow["abort"]) == {"wrong_module", "entry_removed"}
    placeholders = re.findall(r"{(\w+)}", json.dumps(STRINGS["issues"]["registration_failed"]))
    assert set(placeholders) == {"title"}
    firmware = re.findall(r"{(\w+)}", json.dumps(STRINGS["issues"]["firmware_lacks_command"]))
    assert set(firmware) == {"title", "firmware", "command"}


def test_binary_sensors_name_their_states() -> None:
    """A device class words on/off for other things (connectivity: "Connected")."""
    for texts in STRINGS["entity"]["binary_sensor"].values():
        assert set(texts["state"]) == {"on", "off"}
