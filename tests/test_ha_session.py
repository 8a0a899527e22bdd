"""The session coordinator against the virtual BC26: setup, registration, faults, unload."""

from __future__ import annotations

import logging
from pathlib import Path

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_HOMEASSISTANT_STOP, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from bc26sim import Bc26Simulator, ScriptedNetwork
from bc26sim.modem import Lwm2mContext
from custom_components.bc26.const import (
    CONF_DATA_MODE,
    CONF_DEREGISTER_ON_UNLOAD,
    CONF_POLL_INTERVAL,
    DATA_MODE_BUFFER_ACCESS,
    DATA_MODE_DIRECT_PUSH,
    DOMAIN,
)
from custom_components.bc26.coordinator import (
    Bc26Coordinator,
    ModemUnavailableError,
    NotRegisteredError,
)
from custom_components.bc26.modem import (
    CommandRejectedError,
    ConStatus,
    DataMode,
    RegistrationError,
)
from custom_components.bc26.registration import RegistrationState
from custom_components.bc26.resources import Payload, Phase, ResourceTable
from custom_components.bc26.timing import SessionTiming

from .ha_fixtures import IMEI, QUICK_TIMEOUTS, SLUG, TIME_SCALE, until

REGISTERED_ENTITY = f"binary_sensor.{SLUG}_registered"


def _repoint(link: Path, target: str) -> None:
    link.unlink(missing_ok=True)
    link.symlink_to(target)


def _count(commands: object, command: str) -> int:
    return sum(1 for line in commands if line == command)  # type: ignore[attr-defined]


async def test_setup_initialises_and_registers(
    hass: HomeAssistant,
    coordinator: Bc26Coordinator,
    bc26: Bc26Simulator,
    scripted_network: ScriptedNetwork,
) -> None:
    commands = list(bc26.commands)
    order = [
        "AT+QLWCLOSE",  # nothing more comes from the platform while the buffer is read
        "AT+QLWRD=512",  # in either data mode: nothing the module holds is deleted
        "AT+QLWDEL",
        'AT+QLWSERV="127.0.0.1",5683',
        'AT+QLWCONF="bc26-test"',
        'AT+QLWADDOBJ=19,0,1,"0"',
        'AT+QLWADDOBJ=19,1,1,"0"',
        'AT+QLWCFG="dataformat",1,1',
        "AT+QLWOPEN=0",
    ]
    positions = [commands.index(command) for command in order]
    assert positions == sorted(positions)
    assert bc26.registered
    assert scripted_network.registrations[-1].endpoint == "bc26-test"
    await until(lambda: coordinator.resources.observed == {(19, 0, 0)})
    assert coordinator.declared == ResourceTable.default()  # the /19 pair of new entries
    assert coordinator.state is RegistrationState.REGISTERED
    assert coordinator.modem_identity.imei == IMEI
    devices = dr.async_entries_for_config_entry(
        dr.async_get(hass), coordinator.config_entry.entry_id
    )
    assert len(devices) == 1
    device = devices[0]
    assert device.identifiers == {(DOMAIN, IMEI)}
    # ATI says "Quectel_BC26"; the device page shows "BC26 by Quectel".
    assert coordinator.modem_identity.model == "Quectel_BC26"
    assert (device.manufacturer, device.model, device.serial_number) == ("Quectel", "BC26", IMEI)
    assert device.sw_version == coordinator.modem_identity.firmware
    assert hass.states.get(REGISTERED_ENTITY).state == "on"


@pytest.mark.usefixtures("fast_timing", "bc26")
async def test_setup_retries_when_the_port_does_not_open(
    hass: HomeAssistant, config_entry: MockConfigEntry, bc26: Bc26Simulator, bc26_port: str
) -> None:
    await bc26.unplug()  # the link goes with the port, as udev does
    assert not await hass.config_entries.async_setup(config_entry.entry_id)
    assert config_entry.state is ConfigEntryState.SETUP_RETRY
    assert config_entry.reason is not None


async def test_setup_retries_when_another_module_answers(
    hass: HomeAssistant, fast_timing: object, bc26_port: str, bc26: Bc26Simulator
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id="866971030009999",
        data={
            "port": bc26_port,
            "baudrate": 115200,
            "server": "127.0.0.1",
            "server_port": 5683,
            "endpoint": "x",
        },
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert not any(command.startswith("AT+QLW") for command in bc26.commands)


@pytest.mark.usefixtures("fast_timing")
async def test_setup_retries_when_the_module_is_not_a_bc26(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    bc26: Bc26Simulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("bc26sim.modem.MODEL", "Quectel_BC95")
    assert not await hass.config_entries.async_setup(config_entry.entry_id)
    assert config_entry.state is ConfigEntryState.SETUP_RETRY


async def test_registration_failure_raises_and_clears_a_repair_issue(
    hass: HomeAssistant,
    fast_timing: object,
    config_entry: MockConfigEntry,
    bc26: Bc26Simulator,
    scripted_network: ScriptedNetwork,
) -> None:
    scripted_network.register_result = False
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    coordinator: Bc26Coordinator = config_entry.runtime_data.session
    issues = ir.async_get(hass)
    issue_id = f"registration_failed_{config_entry.entry_id}"
    await until(lambda: issues.async_get_issue(DOMAIN, issue_id) is not None)
    issue = issues.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "registration_failed"
    # The entry's title only: the issue is readable by every user, server and endpoint
    # are not theirs to read.
    assert issue.translation_placeholders == {"title": config_entry.title}
    assert issue.is_fixable  # its fix is the entry's Reconfigure form (repairs.py)
    assert coordinator.registrations.consecutive_failures >= 3
    assert hass.states.get(REGISTERED_ENTITY).state == "off"
    assert all(
        attempt.outcome == "RegistrationError" for attempt in coordinator.registrations.attempts
    )

    scripted_network.register_result = True
    await until(lambda: coordinator.registered)
    assert issues.async_get_issue(DOMAIN, issue_id) is None
    assert coordinator.registrations.consecutive_failures == 0
    assert coordinator.registrations.attempts[-1].outcome == "registered"
    assert await hass.config_entries.async_unload(config_entry.entry_id)


async def test_reboot_registers_again_without_user_action(
    hass: HomeAssistant,
    coordinator: Bc26Coordinator,
    bc26: Bc26Simulator,
    scripted_network: ScriptedNetwork,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await until(lambda: coordinator.resources.observed == {(19, 0, 0)})
    registrations = len(scripted_network.registrations)
    opened = _count(bc26.commands, "AT+QLWOPEN=0")
    await bc26.reboot()
    await until(lambda: len(scripted_network.registrations) > registrations)
    await until(lambda: coordinator.registered and bc26.registered)
    assert _count(bc26.commands, "AT+QLWOPEN=0") == opened + 1
    assert not bc26.echo  # ATE0 was sent again after the banner switched echo back on
    assert "restarted" in caplog.text
    await until(lambda: coordinator.resources.observed == {(19, 0, 0)})


async def test_unplug_logs_once_and_reconnects(
    hass: HomeAssistant,
    coordinator: Bc26Coordinator,
    bc26: Bc26Simulator,
    bc26_port: str,
    scripted_network: ScriptedNetwork,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="custom_components.bc26")
    await bc26.unplug()  # the link goes with the port, as udev does
    await until(lambda: not coordinator.connected)
    assert hass.states.get(REGISTERED_ENTITY).state == STATE_UNAVAILABLE
    with pytest.raises(ModemUnavailableError):
        async with coordinator.modem_session():
            pass
    assert coordinator.resources.observed == set()
    attempts = _count(bc26.commands, "AT")
    registrations = len(scripted_network.registrations)
    await bc26.replug()
    await until(lambda: coordinator.connected and coordinator.registered)
    assert len(scripted_network.registrations) > registrations
    assert _count(bc26.commands, "AT") > attempts
    assert hass.states.get(REGISTERED_ENTITY).state == "on"
    messages = [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith("custom_components.bc26") and record.levelno == logging.INFO
    ]
    assert sum("is unavailable" in message for message in messages) == 1
    assert sum("is available again" in message for message in messages) == 1


async def test_unplugged_for_a_while_logs_only_once(
    hass: HomeAssistant,
    coordinator: Bc26Coordinator,
    bc26: Bc26Simulator,
    bc26_port: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="custom_components.bc26")
    await bc26.unplug()  # the link goes with the port, as udev does
    await until(
        lambda: sum("Reconnect attempt" in record.getMessage() for record in caplog.records) >= 3
    )
    infos = [
        record
        for record in caplog.records
        if record.name.startswith("custom_components.bc26") and record.levelno >= logging.INFO
    ]
    assert len(infos) == 1
    assert "is unavailable" in infos[0].getMessage()
    await bc26.replug()
    await until(lambda: coordinator.registered)


async def test_direct_push_reaches_only_the_subscribers_of_its_path(
    coordinator: Bc26Coordinator, scripted_network: ScriptedNetwork
) -> None:
    downlink_path: list[Payload] = []
    every_path: list[Payload] = []
    other_path: list[Payload] = []
    unsubscribe = coordinator.resources.listen(Phase.UPDATE, (19, 1, 0), downlink_path.append)
    coordinator.resources.listen(Phase.UPDATE, None, every_path.append)
    coordinator.resources.listen(Phase.UPDATE, (19, 0, 0), other_path.append)
    assert await scripted_network.write((19, 1, 0), b"\xaa\xaa\x00\x00")
    await until(lambda: len(every_path) == 1)
    assert [d.data for d in downlink_path] == [b"\xaa\xaa\x00\x00"]
    assert downlink_path[0].path == (19, 1, 0)
    assert other_path == []
    unsubscribe()
    assert await scripted_network.write((19, 1, 0), b"ON")
    await until(lambda: len(every_path) == 2)
    assert len(downlink_path) == 1
    assert every_path[1].data == b"ON"


@pytest.mark.logs_errors
async def test_a_failing_subscriber_does_not_starve_the_others(
    coordinator: Bc26Coordinator,
    scripted_network: ScriptedNetwork,
    caplog: pytest.LogCaptureFixture,
) -> None:
    received: list[bytes] = []

    def broken(downlink: Payload) -> None:
        raise ValueError("broken subscriber")

    coordinator.resources.listen(Phase.UPDATE, (19, 1, 0), broken)
    coordinator.resources.listen(
        Phase.UPDATE, None, lambda downlink: received.append(downlink.data)
    )
    assert await scripted_network.write((19, 1, 0), b"x")
    await until(lambda: received == [b"x"])
    assert "broken subscriber" in caplog.text


@pytest.mark.parametrize(
    "entry_options",
    [{CONF_DATA_MODE: DATA_MODE_BUFFER_ACCESS, CONF_POLL_INTERVAL: 300}],
)
async def test_buffer_access_drains_every_node(
    coordinator: Bc26Coordinator,
    bc26: Bc26Simulator,
    scripted_network: ScriptedNetwork,
    entry_options: dict[str, object],
) -> None:
    assert coordinator.data_mode is DataMode.BUFFER_ACCESS
    assert "AT+QLWOPEN=1" in bc26.commands
    received: list[bytes] = []
    coordinator.resources.listen(
        Phase.UPDATE, (19, 1, 0), lambda downlink: received.append(downlink.data)
    )
    payloads = [b"first", bytes(range(256)) * 2, b"third"]
    for payload in payloads:
        assert await scripted_network.write((19, 1, 0), payload)
    await until(lambda: len(received) == 3)
    assert received == payloads
    assert bc26.buffered == 0
    assert any(command.startswith("AT+QLWRD=") for command in bc26.commands)


@pytest.mark.parametrize(
    "entry_options",
    [{CONF_DATA_MODE: DATA_MODE_BUFFER_ACCESS, CONF_POLL_INTERVAL: 300}],
)
async def test_buffer_access_keeps_what_arrived_while_unplugged(
    coordinator: Bc26Coordinator,
    bc26: Bc26Simulator,
    bc26_port: str,
    scripted_network: ScriptedNetwork,
    entry_options: dict[str, object],
) -> None:
    received: list[bytes] = []
    coordinator.resources.listen(
        Phase.UPDATE, None, lambda downlink: received.append(downlink.data)
    )
    await bc26.unplug()  # the link goes with the port, as udev does
    await until(lambda: not coordinator.connected)
    # The module is still registered: the platform's writes wait in its buffer, and the
    # +QLWDATARECV that announced them went nowhere.
    assert await scripted_network.write((19, 1, 0), b"while away 1")
    assert await scripted_network.write((19, 1, 0), b"while away 2")
    assert bc26.buffered == 2
    await bc26.replug()
    await until(lambda: len(received) == 2)
    assert received == [b"while away 1", b"while away 2"]
    await until(lambda: coordinator.registered)
    # New writes announce themselves again once the buffer was emptied.
    assert await scripted_network.write((19, 1, 0), b"after")
    await until(lambda: len(received) == 3)


@pytest.mark.parametrize(
    "entry_options",
    [{CONF_DATA_MODE: DATA_MODE_DIRECT_PUSH, CONF_POLL_INTERVAL: 0.05}],
)
async def test_link_quality_is_polled_at_the_interval(
    hass: HomeAssistant,
    coordinator: Bc26Coordinator,
    bc26: Bc26Simulator,
    entry_options: dict[str, object],
) -> None:
    # Options from the flow are at least 60 s; the entry here is built by hand to see
    # several polls quickly.
    await until(lambda: coordinator.link.signal_dbm == -67)
    assert coordinator.link.ip_address == "10.52.241.198"
    assert coordinator.con_status is ConStatus.NOT_SENT
    bc26.signal = (10, 0)
    bc26.ip_address = None
    await until(lambda: coordinator.link.signal_dbm == -93)
    await until(lambda: coordinator.link.ip_address is None)
    assert _count(bc26.commands, "AT+CSQ") >= 2


async def test_reregister_and_update_registration(
    coordinator: Bc26Coordinator, bc26: Bc26Simulator, scripted_network: ScriptedNetwork
) -> None:
    registrations = len(scripted_network.registrations)
    await coordinator.async_reregister()
    assert coordinator.registered
    assert len(scripted_network.registrations) == registrations + 1
    assert scripted_network.deregistrations == 1
    await coordinator.async_update_registration()
    assert len(scripted_network.updates) == 1
    assert coordinator.con_status is ConStatus.NOT_SENT  # polled: no CON send yet


async def test_failed_reregister_raises_and_the_session_retries(
    coordinator: Bc26Coordinator, scripted_network: ScriptedNetwork
) -> None:
    scripted_network.register_result = False
    with pytest.raises(RegistrationError):
        await coordinator.async_reregister()
    assert not coordinator.registered
    with pytest.raises(NotRegisteredError):
        await coordinator.async_update_registration()
    await until(lambda: coordinator.registrations.consecutive_failures >= 1)
    scripted_network.register_result = True
    await until(lambda: coordinator.registered)


async def test_unload_deregisters_and_closes(
    hass: HomeAssistant,
    coordinator: Bc26Coordinator,
    config_entry: MockConfigEntry,
    bc26: Bc26Simulator,
    scripted_network: ScriptedNetwork,
) -> None:
    assert await hass.config_entries.async_unload(config_entry.entry_id)
    assert config_entry.state is ConfigEntryState.NOT_LOADED
    assert scripted_network.deregistrations == 1
    assert not bc26.registered
    assert not coordinator.connected
    assert hass.states.get(REGISTERED_ENTITY).state == STATE_UNAVAILABLE


@pytest.mark.parametrize(
    "entry_options",
    [{CONF_DATA_MODE: DATA_MODE_DIRECT_PUSH, CONF_DEREGISTER_ON_UNLOAD: False}],
)
async def test_unload_without_deregistration_when_the_option_is_off(
    hass: HomeAssistant,
    coordinator: Bc26Coordinator,
    config_entry: MockConfigEntry,
    bc26: Bc26Simulator,
    scripted_network: ScriptedNetwork,
    entry_options: dict[str, object],
) -> None:
    closes = _count(bc26.commands, "AT+QLWCLOSE")  # one, refused, while initialising
    assert await hass.config_entries.async_unload(config_entry.entry_id)
    assert scripted_network.deregistrations == 0
    assert bc26.registered
    assert _count(bc26.commands, "AT+QLWCLOSE") == closes


async def test_home_assistant_stop_closes_the_port(
    hass: HomeAssistant,
    coordinator: Bc26Coordinator,
    config_entry: MockConfigEntry,
    scripted_network: ScriptedNetwork,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    assert not coordinator.connected
    assert scripted_network.deregistrations == 0  # shutdown is not held up by the network
    assert await hass.config_entries.async_unload(config_entry.entry_id)
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_reboot_while_unplugged_is_caught_on_reconnect(
    coordinator: Bc26Coordinator, bc26: Bc26Simulator, bc26_port: str
) -> None:
    await bc26.unplug()  # the link goes with the port, as udev does
    await until(lambda: not coordinator.connected)
    await bc26.reboot()  # its banner goes nowhere: the host cannot know
    assert not bc26.registered
    await bc26.replug()
    await until(lambda: coordinator.registered and bc26.registered)


async def test_update_refused_means_the_context_is_gone(
    coordinator: Bc26Coordinator, bc26: Bc26Simulator
) -> None:
    # A module that dropped its LwM2M context without a banner (no reboot seen).
    bc26.modem.context = Lwm2mContext()
    with pytest.raises(CommandRejectedError):
        await coordinator.async_update_registration()
    await until(lambda: coordinator.registered and bc26.registered)


@pytest.mark.parametrize("session_timing", [QUICK_TIMEOUTS])
@pytest.mark.usefixtures("fast_timing")
async def test_setup_retries_when_the_module_does_not_answer(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    bc26: Bc26Simulator,
    session_timing: SessionTiming,
) -> None:
    bc26.mute = True
    assert not await hass.config_entries.async_setup(config_entry.entry_id)
    assert config_entry.state is ConfigEntryState.SETUP_RETRY
    assert "AT" in bc26.commands
    assert not any(command.startswith("AT+QLW") for command in bc26.commands)


@pytest.mark.parametrize(
    ("session_timing", "entry_options"),
    [(QUICK_TIMEOUTS, {CONF_DATA_MODE: DATA_MODE_DIRECT_PUSH, CONF_POLL_INTERVAL: 0.05})],
)
async def test_a_module_that_stops_answering_is_initialised_again(
    coordinator: Bc26Coordinator,
    bc26: Bc26Simulator,
    session_timing: SessionTiming,
    entry_options: dict[str, object],
) -> None:
    registrations = _count(bc26.commands, "AT+QLWOPEN=0")
    bc26.mute = True
    await until(lambda: not coordinator.registered)
    await until(lambda: coordinator.registrations.consecutive_failures >= 1)
    assert coordinator.connected  # the port is fine; the module is not
    assert coordinator.state is RegistrationState.WAITING_TO_RETRY
    assert coordinator.registrations.attempts[-1].outcome == "NoResponseError"
    assert coordinator.registrations.attempts[-1].detail.startswith("before registering")
    bc26.mute = False
    await until(lambda: coordinator.registered)
    assert _count(bc26.commands, "AT+QLWOPEN=0") == registrations + 1


async def test_reregister_goes_on_when_deregistration_fails(
    coordinator: Bc26Coordinator, scripted_network: ScriptedNetwork
) -> None:
    scripted_network.deregister_result = False
    registrations = len(scripted_network.registrations)
    await coordinator.async_reregister()
    assert coordinator.registered
    assert len(scripted_network.registrations) == registrations + 1


async def test_unload_goes_on_when_deregistration_fails(
    hass: HomeAssistant,
    coordinator: Bc26Coordinator,
    config_entry: MockConfigEntry,
    scripted_network: ScriptedNetwork,
) -> None:
    scripted_network.deregister_result = False
    assert await hass.config_entries.async_unload(config_entry.entry_id)
    assert scripted_network.deregistrations == 1
    assert not coordinator.connected


async def test_reconnect_waits_for_the_same_module(
    coordinator: Bc26Coordinator,
    bc26: Bc26Simulator,
    bc26_port: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="custom_components.bc26")
    other = Bc26Simulator(
        imei="866971030009999",
        time_scale=TIME_SCALE,
        network=ScriptedNetwork(time_scale=TIME_SCALE),
    )
    try:
        await bc26.unplug()  # the link goes with the port, as udev does
        await until(lambda: not coordinator.connected)
        # Another module turns up where ours was.
        await other.start_pty(link=tmp_path / "other")
        _repoint(Path(bc26_port), str(other.path))
        await until(lambda: "Another module answers" in caplog.text)
        assert not coordinator.connected
        assert not any(command.startswith("AT+QLW") for command in other.commands)
        await bc26.replug()  # ours is back; the link points at it again
        await until(lambda: coordinator.connected and coordinator.registered)
        assert coordinator.modem_identity.imei == IMEI
    finally:
        await other.stop()


async def test_network_registration_urc_and_con_status_reach_the_sensors(
    hass: HomeAssistant, coordinator: Bc26Coordinator, bc26: Bc26Simulator
) -> None:
    network = f"sensor.{SLUG}_network_registration"
    con_status = f"sensor.{SLUG}_last_confirmable_send"
    await until(lambda: hass.states.get(network).state == "registered_home")
    bc26.inject(b"\r\n+CEREG: 2\r\n")
    await until(lambda: hass.states.get(network).state == "searching")
    coordinator.record_con_status(ConStatus.SUCCESS)
    assert hass.states.get(con_status).state == "success"
