"""Entities and diagnostics of a registered module, compared with snapshots.

Registry entries and states are reduced to the fields this integration decides, so the
snapshots read the same on every Home Assistant version.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
import dataclasses
from enum import StrEnum
import json
from typing import Any

from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from bc26sim import Bc26Simulator, ScriptedNetwork
from custom_components.bc26.const import DOMAIN, SUBENTRY_OBJECT
from custom_components.bc26.coordinator import Bc26Coordinator
from custom_components.bc26.timing import Backoff

from .ha_fixtures import FAST_TIMING, IMEI, SLUG, TIME_SCALE, module_entry, until


def _value(member: StrEnum | str | None) -> str | None:
    """Enum members as their plain value: their repr is not the same on every version."""
    return str(member) if member is not None else None


def _plain_keys(mapping: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Newer versions key some attributes and capabilities by an enum; the text is the same."""
    return {str(key): value for key, value in mapping.items()} if mapping is not None else None


def _entity_view(hass: HomeAssistant, entry: er.RegistryEntry) -> dict[str, Any]:
    state = hass.states.get(entry.entity_id)
    return {
        "unique_id": entry.unique_id,
        "translation_key": entry.translation_key,
        "device_class": _value(entry.original_device_class),
        "entity_category": _value(entry.entity_category),
        "disabled_by": _value(entry.disabled_by),
        "capabilities": _plain_keys(entry.capabilities),
        "unit": entry.unit_of_measurement,
        "state": state.state if state is not None else None,
        # Newer versions key some attributes by an enum; their text is the same.
        "attributes": _plain_keys(state.attributes) if state is not None else None,
    }


async def test_entities(
    hass: HomeAssistant,
    coordinator: Bc26Coordinator,
    config_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    bc26_snapshot: SnapshotAssertion,
) -> None:
    await until(lambda: coordinator.resources.observed == {(19, 0, 0)})
    await until(lambda: coordinator.link.signal_dbm is not None)
    entries = er.async_entries_for_config_entry(entity_registry, config_entry.entry_id)
    view = {entry.entity_id: _entity_view(hass, entry) for entry in entries}
    assert dict(sorted(view.items())) == bc26_snapshot


async def test_ip_address_sensor_is_disabled_by_default_and_works_when_enabled(
    hass: HomeAssistant,
    coordinator: Bc26Coordinator,
    config_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    entity_id = f"sensor.{SLUG}_ip_address"
    entry = entity_registry.async_get(entity_id)
    assert entry is not None
    assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    entity_registry.async_update_entity(entity_id, disabled_by=None)
    assert await hass.config_entries.async_reload(config_entry.entry_id)
    await hass.async_block_till_done()
    reloaded: Bc26Coordinator = config_entry.runtime_data.session
    await until(lambda: reloaded.link.ip_address is not None)
    await until(lambda: hass.states.get(entity_id) is not None)
    assert hass.states.get(entity_id).state == "10.52.241.198"


async def test_entities_follow_the_session(
    hass: HomeAssistant,
    coordinator: Bc26Coordinator,
    bc26: Bc26Simulator,
    scripted_network: ScriptedNetwork,
    bc26_port: str,
) -> None:
    observed = f"sensor.{SLUG}_observed_resources"
    state = f"sensor.{SLUG}_registration_state"
    await until(lambda: hass.states.get(observed).state == "1")
    assert hass.states.get(observed).attributes["paths"] == ["19/0/0"]
    assert await scripted_network.cancel_observe((19, 0, 0))
    await until(lambda: hass.states.get(observed).state == "0")
    await bc26.unplug()  # the link goes with the port, as udev does
    await until(lambda: hass.states.get(state).state == STATE_UNAVAILABLE)
    await bc26.replug()
    await until(lambda: hass.states.get(state).state == "registered")


async def test_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    coordinator: Bc26Coordinator,
    config_entry: MockConfigEntry,
    bc26_snapshot: SnapshotAssertion,
) -> None:
    await until(lambda: coordinator.resources.observed == {(19, 0, 0)})
    await until(lambda: coordinator.link.signal_dbm is not None)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, config_entry)
    assert diagnostics == bc26_snapshot(exclude=props("started_at", "transcript", "port"))
    text = json.dumps(diagnostics)
    assert IMEI not in text
    assert "bc26-test" not in text
    assert "127.0.0.1" not in text
    transcript = diagnostics["transcript"]
    assert transcript
    assert any("AT+QLWCONF" in line and "**REDACTED**" in line for line in transcript)


async def test_link_sensors_follow_the_module_while_it_cannot_register(
    hass: HomeAssistant,
    coordinator: Bc26Coordinator,
    bc26: Bc26Simulator,
    scripted_network: ScriptedNetwork,
) -> None:
    """They are what to check then (README, Troubleshooting): not the registered session's."""
    signal = f"sensor.{SLUG}_signal_strength"
    await until(lambda: hass.states.get(signal).state == "-67")
    scripted_network.register_result = False
    await bc26.reboot()  # the session registers afresh, and now fails
    bc26.signal = (3, 0)  # -107 dBm: coverage went
    await until(lambda: coordinator.registrations.consecutive_failures >= 1)
    await until(lambda: hass.states.get(signal).state == "-107")
    assert hass.states.get(f"sensor.{SLUG}_registration_state").state == "waiting_to_retry"


async def test_diagnostics_redact_an_endpoint_in_urn_form(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    fast_timing: object,
    bc26_port: str,
) -> None:
    """A name holding the characters AT lines split fields at is no single token."""
    entry = module_entry(bc26_port, endpoint="urn:dev:ops:acme-meter-0042")  # as LwM2M advises
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await until(lambda: entry.runtime_data.session.registered)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert any(
        "AT+QLWCONF" in line and "**REDACTED**" in line for line in diagnostics["transcript"]
    )
    assert "acme-meter-0042" not in json.dumps(diagnostics)
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_the_raw_sensor_of_a_path_no_longer_declared_leaves_the_registry(
    hass: HomeAssistant,
    coordinator: Bc26Coordinator,
    config_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    """It could never change again; kept, the frontend would refuse to delete it."""
    unique_id = f"{IMEI}-resource-19-1-0"
    entity_id = entity_registry.async_get_entity_id("sensor", DOMAIN, unique_id)
    assert entity_id is not None
    (downlink,) = (
        subentry_id
        for subentry_id, subentry in config_entry.subentries.items()
        if subentry.subentry_type == SUBENTRY_OBJECT and subentry.unique_id == "19/1"
    )
    assert hass.config_entries.async_remove_subentry(config_entry, downlink)
    assert await hass.config_entries.async_reload(config_entry.entry_id)
    session: Bc26Coordinator = config_entry.runtime_data.session
    await until(lambda: session.registered)
    assert entity_registry.async_get_entity_id("sensor", DOMAIN, unique_id) is None
    assert hass.states.get(entity_id) is None


SLOW_RETRY = dataclasses.replace(FAST_TIMING, registration=Backoff(first=30.0, maximum=30.0))


@pytest.mark.parametrize("session_timing", [SLOW_RETRY], ids=["retry_30s"])
async def test_the_link_poll_while_waiting_to_retry_keeps_the_back_off(
    hass: HomeAssistant,
    fast_timing: object,
    config_entry: MockConfigEntry,
    bc26: Bc26Simulator,
    scripted_network: ScriptedNetwork,
) -> None:
    """An answer the link's parsers cannot read must not end the wait before registering.

    It did: the attempts followed one another at once (35 in 2 s) instead of 30 s apart.
    """
    scripted_network.register_result = False  # CONNECT FAIL: the module cannot register
    bc26.network_registration = 8  # "+CEREG: 0,8": a <stat> the library does not know
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    coordinator: Bc26Coordinator = config_entry.runtime_data.session
    await until(lambda: coordinator.registrations.consecutive_failures >= 1)
    await asyncio.sleep(2.0)  # the back-off asks for 30 s
    attempts = sum(command.startswith("AT+QLWOPEN") for command in bc26.commands)
    assert await hass.config_entries.async_unload(config_entry.entry_id)
    assert attempts == 1


async def test_a_network_state_beyond_the_manual_leaves_that_sensor_unknown(
    hass: HomeAssistant,
    fast_timing: object,
    config_entry: MockConfigEntry,
    bc26: Bc26Simulator,
) -> None:
    """`+CEREG: 0,8` (3GPP: emergency services only) is no <stat> the manual lists.

    The link poll failed as a whole and the session registered again, over and over
    (36 registrations in 2 s); now only that field is unknown.
    """
    bc26.network_registration = 8
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    coordinator: Bc26Coordinator = config_entry.runtime_data.session
    await until(lambda: coordinator.link.signal_dbm == -67)  # the poll went through
    assert coordinator.registered
    assert sum(command.startswith("AT+QLWOPEN") for command in bc26.commands) == 1
    assert hass.states.get(f"sensor.{SLUG}_network_registration").state == "unknown"
    assert hass.states.get(f"sensor.{SLUG}_signal_strength").state == "-67"
    assert await hass.config_entries.async_unload(config_entry.entry_id)


@pytest.mark.usefixtures("socket_enabled")
async def test_diagnostics_redact_a_serial_servers_address(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, fast_timing: object
) -> None:
    """`socket://192.168.1.20:4000` is a LAN address, as the server's is: redacted too."""
    simulator = Bc26Simulator(
        imei=IMEI, time_scale=TIME_SCALE, network=ScriptedNetwork(time_scale=TIME_SCALE)
    )
    port = await simulator.start_tcp("127.0.0.1", 0)
    try:
        entry = module_entry(f"socket://127.0.0.1:{port}", server="localhost")
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await until(lambda: entry.runtime_data.session.registered)
        diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
        assert diagnostics["entry"]["data"]["port"] == f"socket:**REDACTED**:{port}"
        assert "127.0.0.1" not in json.dumps(diagnostics)
        assert await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await simulator.stop()
