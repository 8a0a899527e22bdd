"""The "cannot register" repair issue: fixable, and its fix is the entry's Reconfigure.

Driven through the HTTP API the Repairs dialog uses (`/api/repairs/issues/fix`),
against the virtual BC26 whose platform refuses registration until the test lets it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Any

from aiohttp.test_utils import TestClient
from homeassistant.config_entries import SOURCE_RECONFIGURE, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from bc26sim import Bc26Simulator, ScriptedNetwork
from custom_components.bc26.const import CONF_SERVER, CONF_SERVER_PORT, DOMAIN
from custom_components.bc26.coordinator import Bc26Coordinator

from .ha_fixtures import until

FIX = "/api/repairs/issues/fix"


@pytest.fixture
async def failing(
    hass: HomeAssistant,
    fast_timing: object,
    config_entry: MockConfigEntry,
    scripted_network: ScriptedNetwork,
) -> AsyncIterator[str]:
    """The entry set up while the platform refuses it, until the issue is raised."""
    assert await async_setup_component(hass, "repairs", {})
    scripted_network.register_result = False
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    issue_id = f"registration_failed_{config_entry.entry_id}"
    await until(lambda: ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None)
    yield issue_id
    if config_entry.state is ConfigEntryState.LOADED:
        assert await hass.config_entries.async_unload(config_entry.entry_id)


async def _post(client: TestClient, path: str, payload: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=payload)
    assert response.status == HTTPStatus.OK, await response.text()
    result: dict[str, Any] = await response.json()
    return result


def _reconfigure_flows(hass: HomeAssistant) -> list[Any]:
    return [
        flow
        for flow in hass.config_entries.flow.async_progress_by_handler(
            DOMAIN, include_uninitialized=True
        )
        if flow["context"]["source"] == SOURCE_RECONFIGURE
    ]


async def test_the_issue_names_the_entry_and_is_fixable(
    hass: HomeAssistant, failing: str, config_entry: MockConfigEntry
) -> None:
    issue = ir.async_get(hass).async_get_issue(DOMAIN, failing)
    assert issue is not None
    assert issue.is_fixable
    assert issue.translation_key == "registration_failed"
    assert issue.translation_placeholders == {"title": config_entry.title}
    assert issue.data == {"entry_id": config_entry.entry_id}


async def test_the_fix_is_the_reconfigure_form_and_it_registers_the_module(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    failing: str,
    config_entry: MockConfigEntry,
    scripted_network: ScriptedNetwork,
) -> None:
    client = await hass_client()
    form = await _post(client, FIX, {"handler": DOMAIN, "issue_id": failing})
    assert form["type"] == "form"
    assert form["step_id"] == "reconfigure"
    assert form["description_placeholders"] == {"title": config_entry.title}
    fields = {field["name"] for field in form["data_schema"]}
    assert fields == {"port", "baudrate", "server", "server_port", "endpoint"}
    current = {**config_entry.data, "baudrate": str(config_entry.data["baudrate"])}

    # A wrong answer comes back with the reconfigure flow's own error.
    again = await _post(client, f"{FIX}/{form['flow_id']}", {**current, CONF_SERVER: "bad host!"})
    assert again["type"] == "form"
    assert again["errors"] == {CONF_SERVER: "invalid_server"}
    assert config_entry.data[CONF_SERVER] == "127.0.0.1"

    scripted_network.register_result = True
    done = await _post(
        client,
        f"{FIX}/{form['flow_id']}",
        {**current, CONF_SERVER: "127.0.0.2", CONF_SERVER_PORT: 5684},
    )
    assert done["type"] == "create_entry"
    assert (config_entry.data[CONF_SERVER], config_entry.data[CONF_SERVER_PORT]) == (
        "127.0.0.2",
        5684,
    )
    await hass.async_block_till_done()
    coordinator: Bc26Coordinator = config_entry.runtime_data.session
    await until(lambda: coordinator.registered)
    assert ir.async_get(hass).async_get_issue(DOMAIN, failing) is None
    assert _reconfigure_flows(hass) == []


async def test_closing_the_dialog_leaves_no_reconfigure_flow_behind(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, failing: str
) -> None:
    client = await hass_client()
    form = await _post(client, FIX, {"handler": DOMAIN, "issue_id": failing})
    assert len(_reconfigure_flows(hass)) == 1
    response = await client.delete(f"{FIX}/{form['flow_id']}")
    assert response.status == HTTPStatus.OK
    assert _reconfigure_flows(hass) == []
    assert ir.async_get(hass).async_get_issue(DOMAIN, failing) is not None


async def test_an_entry_deleted_meanwhile_ends_the_fix(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    failing: str,
    config_entry: MockConfigEntry,
) -> None:
    client = await hass_client()
    form = await _post(client, FIX, {"handler": DOMAIN, "issue_id": failing})
    answer = {**config_entry.data, "baudrate": str(config_entry.data["baudrate"])}
    assert await hass.config_entries.async_remove(config_entry.entry_id)
    ended = await _post(client, f"{FIX}/{form['flow_id']}", answer)
    assert ended == {**ended, "type": "abort", "reason": "entry_removed"}
    assert _reconfigure_flows(hass) == []


# ---------------------------------------------------------------------- firmware
# Field notes: "An R01A03 module may refuse AT+QLWCFG, AT+QLWRD and AT+QLWDATASTATUS:
# say so clearly instead of retrying forever."


async def test_a_firmware_without_qlwcfg_is_named_at_the_first_attempt(
    hass: HomeAssistant,
    fast_timing: object,
    config_entry: MockConfigEntry,
    bc26: Bc26Simulator,
) -> None:
    """Not "check the server and the coverage" after three attempts: what is missing."""
    bc26.refused_commands.add("+QLWCFG")  # as a firmware before R01A05 answers it
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    coordinator: Bc26Coordinator = config_entry.runtime_data.session
    firmware = f"firmware_lacks_command_{config_entry.entry_id}"
    await until(lambda: coordinator.registrations.consecutive_failures >= 1)
    issue = ir.async_get(hass).async_get_issue(DOMAIN, firmware)
    assert issue is not None
    assert not issue.is_fixable
    assert issue.translation_placeholders == {
        "title": config_entry.title,
        "firmware": coordinator.modem_identity.firmware,
        "command": "AT+QLWCFG",
    }
    await until(lambda: coordinator.registrations.consecutive_failures >= 4)
    generic = f"registration_failed_{config_entry.entry_id}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, generic) is None  # it would mislead
    bc26.refused_commands.discard("+QLWCFG")  # the firmware was updated
    await until(lambda: coordinator.registered)
    assert ir.async_get(hass).async_get_issue(DOMAIN, firmware) is None
    assert await hass.config_entries.async_unload(config_entry.entry_id)
