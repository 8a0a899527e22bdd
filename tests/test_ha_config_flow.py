"""Config flow, options flow and reconfigure flow against the virtual BC26 on a real pty."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from unittest.mock import patch

from homeassistant import config_entries
from homeassistant.components import usb
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from homeassistant.helpers import device_registry as dr, entity_registry as er, selector
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import voluptuous as vol

from bc26sim import Bc26Simulator, ScriptedNetwork
from custom_components.bc26.const import (
    CONF_BAUDRATE,
    CONF_CHECK_INTERVAL,
    CONF_DATA_MODE,
    CONF_DEREGISTER_ON_UNLOAD,
    CONF_ENDPOINT,
    CONF_POLL_INTERVAL,
    CONF_PORT,
    CONF_QUEUE_AGE,
    CONF_QUEUE_SIZE,
    CONF_SERVER,
    CONF_SERVER_PORT,
    DATA_MODE_BUFFER_ACCESS,
    DATA_MODE_DIRECT_PUSH,
    DOMAIN,
)
from custom_components.bc26.coordinator import Bc26Coordinator
from custom_components.bc26.timing import SessionTiming

from .ha_fixtures import IMEI, QUICK_TIMEOUTS, TIME_SCALE, until

OTHER_IMEI = "866971030009999"


async def _start_user_flow(hass: HomeAssistant) -> str:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {}
    return str(result["flow_id"])


async def _unload_all(hass: HomeAssistant) -> None:
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.state is ConfigEntryState.LOADED:
            assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.fixture
async def second_bc26(tmp_path: Path) -> AsyncIterator[Bc26Simulator]:
    """Another virtual module (another IMEI) on its own pty."""
    simulator = Bc26Simulator(
        imei=OTHER_IMEI, time_scale=TIME_SCALE, network=ScriptedNetwork(time_scale=TIME_SCALE)
    )
    await simulator.start_pty(link=tmp_path / "other")
    yield simulator
    await simulator.stop()


@pytest.mark.usefixtures("fast_timing")
async def test_user_flow_creates_entry_and_registers(
    hass: HomeAssistant, bc26: Bc26Simulator, bc26_port: str, scripted_network: ScriptedNetwork
) -> None:
    flow_id = await _start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_PORT: f" {bc26_port} ", CONF_BAUDRATE: "115200"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "platform"
    assert {"ATI", "AT+CGMR", "AT+CGSN=1"} <= set(bc26.commands)
    defaults = {
        str(key): key.default()
        for key in result["data_schema"].schema
        if key.default is not vol.UNDEFINED
    }
    assert defaults[CONF_ENDPOINT] == IMEI
    assert defaults[CONF_SERVER_PORT] == 5683
    assert defaults[CONF_DATA_MODE] == DATA_MODE_DIRECT_PUSH

    result = await hass.config_entries.flow.async_configure(
        flow_id,
        {
            CONF_SERVER: "127.0.0.1",
            CONF_SERVER_PORT: 5683,
            CONF_ENDPOINT: IMEI,
            CONF_DATA_MODE: DATA_MODE_BUFFER_ACCESS,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    assert entry.unique_id == IMEI
    assert entry.title == f"BC26 …{IMEI[-4:]}"  # not the whole IMEI: titles end up everywhere
    assert entry.data == {
        CONF_PORT: bc26_port,
        CONF_BAUDRATE: 115200,
        CONF_SERVER: "127.0.0.1",
        CONF_SERVER_PORT: 5683,
        CONF_ENDPOINT: IMEI,
    }
    assert entry.options == {
        CONF_DATA_MODE: DATA_MODE_BUFFER_ACCESS,
        CONF_POLL_INTERVAL: 300,
        CONF_CHECK_INTERVAL: 3600,
        CONF_QUEUE_SIZE: 100,
        CONF_QUEUE_AGE: 86400,
        CONF_DEREGISTER_ON_UNLOAD: True,
    }
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    coordinator: Bc26Coordinator = entry.runtime_data.session
    await until(lambda: coordinator.registered)
    assert scripted_network.registrations[-1].endpoint == IMEI
    assert int(bc26.data_mode or 0) == 1
    # The IMEI names no entity and no device: IDs and names end up in screenshots.
    entity_ids = [
        registered.entity_id
        for registered in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    ]
    assert entity_ids
    assert all(IMEI not in entity_id and "_1361_" in entity_id for entity_id in entity_ids)
    (device,) = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    assert device.name == entry.title
    assert device.serial_number == IMEI  # where it belongs, on the device page
    await _unload_all(hass)


async def test_port_field_lists_ports_and_takes_a_typed_path(hass: HomeAssistant) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    port_field = next(
        validator
        for key, validator in result["data_schema"].schema.items()
        if str(key) == CONF_PORT
    )
    # HA 2026.5+ brings its own serial port selector; older versions get a dropdown of the
    # ports serialx finds that also accepts whatever the user types.
    serial_port_selector = getattr(selector, "SerialPortSelector", None)
    if serial_port_selector is not None:
        assert isinstance(port_field, serial_port_selector)
    else:
        assert isinstance(port_field, selector.SelectSelector)
        assert port_field.config["custom_value"] is True
    assert port_field("socket://192.0.2.10:4000") == "socket://192.0.2.10:4000"


@pytest.mark.usefixtures("fast_timing", "bc26")
async def test_user_flow_port_that_does_not_open(
    hass: HomeAssistant, tmp_path: Path, bc26_port: str
) -> None:
    flow_id = await _start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_PORT: str(tmp_path / "nothing-here"), CONF_BAUDRATE: "115200"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}
    # The user corrects the path and goes on.
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_PORT: bc26_port, CONF_BAUDRATE: "115200"}
    )
    assert result["step_id"] == "platform"


@pytest.mark.parametrize("session_timing", [QUICK_TIMEOUTS])
@pytest.mark.usefixtures("fast_timing")
async def test_user_flow_module_that_does_not_answer(
    hass: HomeAssistant, bc26: Bc26Simulator, bc26_port: str, session_timing: SessionTiming
) -> None:
    bc26.mute = True
    flow_id = await _start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_PORT: bc26_port, CONF_BAUDRATE: "115200"}
    )
    assert result["errors"] == {"base": "no_response"}
    assert "AT" in bc26.commands


@pytest.mark.usefixtures("fast_timing")
async def test_user_flow_module_that_is_not_a_bc26(
    hass: HomeAssistant, bc26: Bc26Simulator, bc26_port: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A BC95 cannot exist here: the virtual module introduces itself as one.
    monkeypatch.setattr("bc26sim.modem.MODEL", "Quectel_BC95")
    flow_id = await _start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_PORT: bc26_port, CONF_BAUDRATE: "115200"}
    )
    assert result["errors"] == {"base": "not_bc26"}


@pytest.mark.usefixtures("fast_timing")
async def test_user_flow_aborts_for_a_port_already_in_use(
    hass: HomeAssistant, bc26: Bc26Simulator, config_entry: MockConfigEntry, bc26_port: str
) -> None:
    flow_id = await _start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_PORT: bc26_port, CONF_BAUDRATE: "115200"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert not bc26.commands  # nothing was sent to a module that already has an entry


@pytest.mark.usefixtures("fast_timing", "bc26")
async def test_user_flow_updates_the_port_of_a_module_that_moved(
    hass: HomeAssistant, bc26_port: str, tmp_path: Path
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=IMEI,
        data={
            CONF_PORT: str(tmp_path / "old-port"),
            CONF_BAUDRATE: 9600,
            CONF_SERVER: "127.0.0.1",
            CONF_SERVER_PORT: 5683,
            CONF_ENDPOINT: IMEI,
        },
    )
    entry.add_to_hass(hass)
    flow_id = await _start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_PORT: bc26_port, CONF_BAUDRATE: "115200"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data[CONF_PORT] == bc26_port
    assert entry.data[CONF_BAUDRATE] == 115200


@pytest.mark.usefixtures("fast_timing")
async def test_user_flow_stores_the_stable_by_id_path(
    hass: HomeAssistant, bc26: Bc26Simulator, tmp_path: Path
) -> None:
    # /dev/serial/by-id belongs to udev; a real symlink elsewhere stands in for it, and
    # Home Assistant's lookup is pointed there (the only thing replaced in this file).
    by_id = tmp_path / "usb-Silicon_Labs_CP2102_0001-if00-port0"
    by_id.symlink_to(str(bc26.path))

    def serial_by_id(path: str) -> str:
        return str(by_id) if path == bc26.path else path

    flow_id = await _start_user_flow(hass)
    with patch.object(usb, "get_serial_by_id", serial_by_id):
        result = await hass.config_entries.flow.async_configure(
            flow_id, {CONF_PORT: str(bc26.path), CONF_BAUDRATE: "115200"}
        )
    assert result["step_id"] == "platform"
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        {
            CONF_SERVER: "127.0.0.1",
            CONF_SERVER_PORT: 5683,
            CONF_ENDPOINT: IMEI,
            CONF_DATA_MODE: DATA_MODE_DIRECT_PUSH,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].data[CONF_PORT] == str(by_id)
    await hass.async_block_till_done()
    await _unload_all(hass)


@pytest.mark.usefixtures("fast_timing", "socket_enabled")
async def test_user_flow_over_a_socket_url(hass: HomeAssistant) -> None:
    simulator = Bc26Simulator(
        imei=IMEI, time_scale=TIME_SCALE, network=ScriptedNetwork(time_scale=TIME_SCALE)
    )
    port = await simulator.start_tcp("127.0.0.1", 0)
    try:
        flow_id = await _start_user_flow(hass)
        result = await hass.config_entries.flow.async_configure(
            flow_id, {CONF_PORT: f"socket://127.0.0.1:{port}", CONF_BAUDRATE: "115200"}
        )
        assert result["step_id"] == "platform"
        assert "ATI" in simulator.commands
    finally:
        await simulator.stop()


@pytest.mark.usefixtures("fast_timing", "bc26")
async def test_platform_step_rejects_bad_server_and_endpoint(
    hass: HomeAssistant, bc26_port: str
) -> None:
    flow_id = await _start_user_flow(hass)
    await hass.config_entries.flow.async_configure(
        flow_id, {CONF_PORT: bc26_port, CONF_BAUDRATE: "115200"}
    )
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        {
            CONF_SERVER: "not a host!",
            CONF_SERVER_PORT: 5683.5,  # never stored as 5683
            CONF_ENDPOINT: 'ep"\r\nAT+QLWDEL',
            CONF_DATA_MODE: DATA_MODE_DIRECT_PUSH,
        },
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "platform"
    assert result["errors"] == {
        CONF_SERVER: "invalid_server",
        CONF_SERVER_PORT: "invalid_server_port",
        CONF_ENDPOINT: "invalid_endpoint",
    }
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        {
            CONF_SERVER: "localhost",
            CONF_SERVER_PORT: 5684,
            CONF_ENDPOINT: "urn:imei:866971030001361",
            CONF_DATA_MODE: DATA_MODE_DIRECT_PUSH,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].data[CONF_SERVER] == "localhost"
    assert result["result"].data[CONF_SERVER_PORT] == 5684
    await hass.async_block_till_done()
    await _unload_all(hass)


async def test_options_flow_saves_and_reloads(
    hass: HomeAssistant, coordinator: Bc26Coordinator, config_entry: MockConfigEntry
) -> None:
    result = await hass.config_entries.options.async_init(config_entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_DATA_MODE: DATA_MODE_BUFFER_ACCESS,
            CONF_POLL_INTERVAL: 120,
            CONF_CHECK_INTERVAL: 600.0,
            CONF_QUEUE_SIZE: 50.0,
            CONF_QUEUE_AGE: 3600,
            CONF_DEREGISTER_ON_UNLOAD: False,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert config_entry.options == {
        CONF_DATA_MODE: DATA_MODE_BUFFER_ACCESS,
        CONF_POLL_INTERVAL: 120,
        CONF_CHECK_INTERVAL: 600,
        CONF_QUEUE_SIZE: 50,
        CONF_QUEUE_AGE: 3600,
        CONF_DEREGISTER_ON_UNLOAD: False,
    }
    await hass.async_block_till_done()
    reloaded: Bc26Coordinator = config_entry.runtime_data.session
    assert reloaded is not coordinator
    await until(lambda: reloaded.registered)
    assert reloaded.data_mode == 1
    outbox = config_entry.runtime_data.forwarder.outbox
    assert (outbox.limit, outbox.max_age) == (50, 3600)


VALID_OPTIONS = {
    CONF_DATA_MODE: DATA_MODE_DIRECT_PUSH,
    CONF_POLL_INTERVAL: 300,
    CONF_CHECK_INTERVAL: 3600,
    CONF_DEREGISTER_ON_UNLOAD: True,
}


async def _configure_options(
    hass: HomeAssistant, entry: MockConfigEntry, changes: dict[str, Any]
) -> Any:
    result = await hass.config_entries.options.async_init(entry.entry_id)
    return await hass.config_entries.options.async_configure(
        result["flow_id"], {**VALID_OPTIONS, **changes}
    )


@pytest.mark.parametrize(
    "changes",
    [
        {CONF_POLL_INTERVAL: 10},
        {CONF_QUEUE_SIZE: 0},
        {CONF_QUEUE_SIZE: 1001},
        {CONF_QUEUE_AGE: 59},
        {CONF_QUEUE_AGE: 31 * 86400},
    ],
)
async def test_options_flow_out_of_the_form_s_range_is_refused(
    hass: HomeAssistant,
    coordinator: Bc26Coordinator,
    config_entry: MockConfigEntry,
    changes: dict[str, Any],
) -> None:
    with pytest.raises(InvalidData):
        await _configure_options(hass, config_entry, changes)
    assert config_entry.options[CONF_POLL_INTERVAL] == 300
    assert CONF_QUEUE_SIZE not in config_entry.options
    assert config_entry.runtime_data.session is coordinator


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({CONF_POLL_INTERVAL: 60.5}, {CONF_POLL_INTERVAL: "invalid_poll_interval"}),
        ({CONF_CHECK_INTERVAL: 100}, {CONF_CHECK_INTERVAL: "invalid_check_interval"}),
        ({CONF_CHECK_INTERVAL: 3600.5}, {CONF_CHECK_INTERVAL: "invalid_check_interval"}),
        ({CONF_QUEUE_SIZE: 10.5}, {CONF_QUEUE_SIZE: "invalid_queue_size"}),
        ({CONF_QUEUE_AGE: 3600.5}, {CONF_QUEUE_AGE: "invalid_queue_age"}),
    ],
)
async def test_options_flow_refuses_values_it_cannot_keep(
    hass: HomeAssistant,
    coordinator: Bc26Coordinator,
    config_entry: MockConfigEntry,
    changes: dict[str, Any],
    errors: dict[str, str],
) -> None:
    result = await _configure_options(hass, config_entry, changes)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors
    assert CONF_CHECK_INTERVAL not in config_entry.options  # nothing saved
    assert config_entry.runtime_data.session is coordinator


async def test_options_flow_checks_can_be_switched_off(
    hass: HomeAssistant, coordinator: Bc26Coordinator, config_entry: MockConfigEntry
) -> None:
    result = await hass.config_entries.options.async_init(config_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_DATA_MODE: DATA_MODE_DIRECT_PUSH,
            CONF_POLL_INTERVAL: 300,
            CONF_CHECK_INTERVAL: 0,
            CONF_DEREGISTER_ON_UNLOAD: True,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert config_entry.options[CONF_CHECK_INTERVAL] == 0
    await hass.async_block_till_done()


async def test_reconfigure_server_and_endpoint_registers_again(
    hass: HomeAssistant,
    coordinator: Bc26Coordinator,
    config_entry: MockConfigEntry,
    bc26_port: str,
    scripted_network: ScriptedNetwork,
) -> None:
    result = await config_entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_PORT: bc26_port,
            CONF_BAUDRATE: "115200",
            CONF_SERVER: "localhost",
            CONF_SERVER_PORT: 5690,
            CONF_ENDPOINT: "new-endpoint",
        },
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert config_entry.data[CONF_ENDPOINT] == "new-endpoint"
    await hass.async_block_till_done()
    reloaded: Bc26Coordinator = config_entry.runtime_data.session
    await until(lambda: reloaded.registered and reloaded is not coordinator)
    registration = scripted_network.registrations[-1]
    assert (registration.endpoint, registration.port) == ("new-endpoint", 5690)
    assert registration.host == "127.0.0.1"  # the name was resolved: AT+QLWSERV takes addresses


async def test_reconfigure_to_another_port_talks_to_the_module_there(
    hass: HomeAssistant,
    coordinator: Bc26Coordinator,
    config_entry: MockConfigEntry,
    tmp_path: Path,
    second_bc26: Bc26Simulator,
) -> None:
    flow = await config_entry.start_reconfigure_flow(hass)
    answer = {
        CONF_PORT: str(tmp_path / "missing"),
        CONF_BAUDRATE: "115200",
        CONF_SERVER: "127.0.0.1",
        CONF_SERVER_PORT: 5683,
        CONF_ENDPOINT: "bc26-test",
    }
    result = await hass.config_entries.flow.async_configure(flow["flow_id"], answer)
    assert result["errors"] == {"base": "cannot_connect"}
    # Another module (another IMEI) answers on the other port: not this entry's module.
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {**answer, CONF_PORT: str(tmp_path / "other")}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_module"
    assert config_entry.data[CONF_PORT] == str(tmp_path / "bc26")


async def test_reconfigure_checks_server_and_endpoint(
    hass: HomeAssistant, coordinator: Bc26Coordinator, config_entry: MockConfigEntry
) -> None:
    flow = await config_entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"],
        {
            CONF_PORT: config_entry.data[CONF_PORT],
            CONF_BAUDRATE: "115200",
            CONF_SERVER: "-bad-",
            CONF_SERVER_PORT: 80.25,
            CONF_ENDPOINT: "",
        },
    )
    assert result["errors"] == {
        CONF_SERVER: "invalid_server",
        CONF_SERVER_PORT: "invalid_server_port",
        CONF_ENDPOINT: "invalid_endpoint",
    }
    assert config_entry.data[CONF_SERVER_PORT] == 5683


async def test_reconfigure_baud_rate_of_the_loaded_port_is_saved_without_probing(
    hass: HomeAssistant, coordinator: Bc26Coordinator, config_entry: MockConfigEntry
) -> None:
    flow = await config_entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"],
        {
            CONF_PORT: config_entry.data[CONF_PORT],
            CONF_BAUDRATE: "9600",
            CONF_SERVER: "127.0.0.1",
            CONF_SERVER_PORT: 5683,
            CONF_ENDPOINT: "bc26-test",
        },
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert config_entry.data[CONF_BAUDRATE] == 9600
    await hass.async_block_till_done()


@pytest.mark.usefixtures("fast_timing")
async def test_reconfigure_of_an_entry_not_loaded_probes_the_module(
    hass: HomeAssistant, bc26: Bc26Simulator, config_entry: MockConfigEntry, bc26_port: str
) -> None:
    flow = await config_entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"],
        {
            CONF_PORT: bc26_port,
            CONF_BAUDRATE: "57600",
            CONF_SERVER: "127.0.0.1",
            CONF_SERVER_PORT: 5683,
            CONF_ENDPOINT: "bc26-test",
        },
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert "AT+CGSN=1" in bc26.commands
    assert config_entry.data[CONF_BAUDRATE] == 57600
    await hass.async_block_till_done()
    await _unload_all(hass)
