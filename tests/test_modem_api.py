"""Every Bc26Modem call against the virtual BC26, over a pseudo-terminal and over socket://."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bc26sim import Bc26Simulator, ScriptedNetwork, SendOutcome
from custom_components.bc26.modem import (
    MAX_PAYLOAD,
    Bc26Modem,
    BufferRead,
    CommandRejectedError,
    ConStatus,
    DataMode,
    DataReceived,
    InvalidArgumentError,
    ModemIdentity,
    NetworkRegistration,
    ObserveRequest,
    RegistrationError,
    SendFailedError,
    SignalQuality,
    Timeouts,
)
from tests.modem_fixtures import TIME_SCALE, Events, until

IMEI = "866971030001361"
UPLINK = (19, 0, 0)
DOWNLINK = (19, 1, 0)


async def configure(modem: Bc26Modem, endpoint: str = "bc26-test") -> None:
    """What the integration does before registering (manual 5.1)."""
    await modem.probe()
    await modem.delete_context()
    await modem.set_server("127.0.0.1", 5683)
    await modem.set_endpoint(endpoint)
    await modem.add_object(19, 0, (0,))
    await modem.add_object(19, 1, (0,))
    await modem.set_data_format(send_hex=True, recv_hex=True)


async def registered(modem: Bc26Modem, events: Events, mode: DataMode) -> None:
    """Configure, register, and wait for the platform's observe of /19/0/0."""
    await configure(modem)
    await modem.register(mode)
    await events.wait_for(lambda received: ObserveRequest(UPLINK, cancel=False) in received)


async def test_probe_and_identify(modem: Bc26Modem, modem_sim: Bc26Simulator) -> None:
    assert modem.is_open
    assert modem_sim.echo
    await modem.probe()
    assert not modem_sim.echo
    assert list(modem_sim.commands)[-2:] == ["ATE0", "AT+CMEE=1"]
    assert await modem.identify() == ModemIdentity(
        manufacturer="Quectel_Ltd",
        model="Quectel_BC26",
        revision="BC26NBR01A02",
        firmware="BC26NBR01A02",
        imei=IMEI,
    )


async def test_identify_with_echo_on(modem: Bc26Modem, modem_sim: Bc26Simulator) -> None:
    assert modem_sim.echo
    identity = await modem.identify()
    assert identity.imei == IMEI
    assert modem_sim.echo  # echo was stripped, never switched off


async def test_configuration_reaches_the_module(modem: Bc26Modem, modem_sim: Bc26Simulator) -> None:
    await configure(modem, endpoint="urn:imei:866971030001361")
    commands = list(modem_sim.commands)
    assert commands[-6:] == [
        "AT+QLWDEL",
        'AT+QLWSERV="127.0.0.1",5683',
        'AT+QLWCONF="urn:imei:866971030001361"',
        'AT+QLWADDOBJ=19,0,1,"0"',
        'AT+QLWADDOBJ=19,1,1,"0"',
        'AT+QLWCFG="dataformat",1,1',
    ]
    assert sorted((item.object_id, item.instance_id) for item in modem_sim.objects) == [
        (19, 0),
        (19, 1),
    ]
    await modem.delete_object(19)  # not registered: no UPDATE result to wait for
    assert modem_sim.objects == []


async def test_register_send_receive_direct_push(
    modem: Bc26Modem,
    modem_sim: Bc26Simulator,
    modem_net: ScriptedNetwork,
    modem_events: Events,
) -> None:
    await registered(modem, modem_events, DataMode.DIRECT_PUSH)
    assert modem.registered
    assert modem_sim.registered
    assert modem_sim.data_mode == 0
    await modem.send(UPLINK, b"\x00\x01non", confirmable=False)
    await modem.send(UPLINK, bytes(range(256)) * 2, confirmable=True)
    notifications = await modem_net.wait_notifications(2)
    assert [(item.payload[:5], item.confirmable) for item in notifications] == [
        (b"\x00\x01non", False),
        (bytes(range(5)), True),
    ]
    assert len(notifications[1].payload) == MAX_PAYLOAD
    assert await modem.con_status() is ConStatus.SUCCESS
    assert await modem_net.write(DOWNLINK, b"\xaa\xbb") is True
    await modem_events.wait_for(lambda received: isinstance(received[-1], DataReceived))
    assert modem_events.received[-1] == DataReceived(DOWNLINK, 2, b"\xaa\xbb")
    await modem.update()
    assert len(modem_net.updates) == 1
    await modem.deregister()
    assert not modem.registered
    assert not modem_sim.registered


async def test_buffer_access_mode_reads(
    modem: Bc26Modem, modem_sim: Bc26Simulator, modem_net: ScriptedNetwork, modem_events: Events
) -> None:
    await registered(modem, modem_events, DataMode.BUFFER_ACCESS)
    assert await modem.read_buffer() == BufferRead(b"", 0)
    assert await modem_net.write(DOWNLINK, b"\xaa\xaa\x00\x00") is True
    assert await modem_net.write(DOWNLINK, b"\x01") is True  # buffered without a new URC
    await modem_events.wait_for(lambda received: isinstance(received[-1], DataReceived))
    assert modem_events.received[-1] == DataReceived(DOWNLINK, 4, None)
    assert await modem.read_buffer(2) == BufferRead(b"\xaa\xaa", 2)
    assert await modem.read_buffer(2) == BufferRead(b"\x00\x00", 0)
    assert await modem.read_buffer(MAX_PAYLOAD) == BufferRead(b"\x01", 0)
    assert await modem.read_buffer() == BufferRead(b"", 0)
    assert modem_sim.buffered == 0


async def test_a_full_node_is_read_whole_at_9600_baud(
    modem_net: ScriptedNetwork, tmp_path: Path
) -> None:
    """Its answer takes 1.1 s on the wire, longer than the default 1-s deadline.

    The module removes the node as it answers: an answer cut off by the deadline loses it.
    """
    simulator = Bc26Simulator(time_scale=TIME_SCALE, network=modem_net)
    await simulator.start_pty(link=tmp_path / "bc26")
    modem = Bc26Modem(str(tmp_path / "bc26"), baudrate=9600, timeouts=Timeouts())
    events = Events()
    modem.subscribe(events)
    await modem.open()
    try:
        await registered(modem, events, DataMode.BUFFER_ACCESS)
        simulator.pace(9600)
        payload = bytes(range(256)) * 2
        assert await modem_net.write(DOWNLINK, payload) is True
        await events.wait_for(lambda received: DataReceived(DOWNLINK, 512, None) in received)
        drained: list[bytes] = []
        await modem.drain_buffer(drained.append)
        assert drained == [payload]
        assert simulator.buffered == 0
    finally:
        await modem.close()
        await simulator.stop()


async def test_a_cancelled_drain_finishes_the_read_on_the_line_and_stops(
    modem: Bc26Modem, modem_sim: Bc26Simulator, modem_net: ScriptedNetwork, modem_events: Events
) -> None:
    """The module removes a node as it answers: a cancelled drain still hands that one over."""
    await registered(modem, modem_events, DataMode.BUFFER_ACCESS)
    held = [bytes([n]) * 4 for n in range(5)]
    for node in held:
        assert await modem_net.write(DOWNLINK, node) is True
    modem_sim.response_delay = 0.1  # real seconds: time to cancel while the module answers

    def reads() -> int:
        return sum(command.startswith("AT+QLWRD") for command in modem_sim.commands)

    drained: list[bytes] = []
    drain = asyncio.create_task(modem.drain_buffer(drained.append))
    await until(lambda: reads() == 2)  # the second read is on the line
    drain.cancel()
    drain.cancel()  # as Home Assistant's stop, then the integration's own
    with pytest.raises(asyncio.CancelledError):
        await drain
    assert drained == held[:2]
    assert modem_sim.buffered == 3
    assert reads() == 2  # stopped before the next read
    modem_sim.response_delay = 0.0
    await modem.drain_buffer(drained.append)
    assert drained == held


async def test_registration_failures(
    modem: Bc26Modem, modem_net: ScriptedNetwork, modem_events: Events
) -> None:
    await configure(modem)
    modem_net.register_result = False
    with pytest.raises(RegistrationError, match="CONNECT FAIL"):
        await modem.register(DataMode.DIRECT_PUSH)
    assert not modem.registered
    modem_net.register_result = True
    await modem.register(DataMode.DIRECT_PUSH)
    modem_net.update_result = False
    with pytest.raises(RegistrationError, match="UPDATE FAIL"):
        await modem.update()
    with pytest.raises(RegistrationError, match="UPDATE FAIL"):
        await modem.delete_object(19)  # registered: the module updates the platform
    modem_net.deregister_result = False
    with pytest.raises(RegistrationError, match="CLOSE FAIL"):
        await modem.deregister()
    assert not modem.registered


async def test_delete_object_while_registered_waits_for_the_update(
    modem: Bc26Modem, modem_sim: Bc26Simulator, modem_net: ScriptedNetwork, modem_events: Events
) -> None:
    await registered(modem, modem_events, DataMode.DIRECT_PUSH)
    await modem.add_object(3303, 0, (5700, 5701))
    await modem.delete_object(3303)
    assert len(modem_net.updates) == 1
    assert all(item.object_id == 19 for item in modem_sim.objects)


async def test_confirmable_send_failures(
    modem: Bc26Modem, modem_net: ScriptedNetwork, modem_events: Events
) -> None:
    await registered(modem, modem_events, DataMode.DIRECT_PUSH)
    modem_net.con_outcome = SendOutcome.RESET
    with pytest.raises(SendFailedError):
        await modem.send(UPLINK, b"x", confirmable=True)
    assert await modem.con_status() is ConStatus.RESET
    await modem.send(UPLINK, b"non", confirmable=False)  # NON has no result to fail


async def test_rejections_carry_the_cme_code(modem: Bc26Modem, modem_events: Events) -> None:
    await configure(modem)
    with pytest.raises(CommandRejectedError) as caught:
        await modem.send(UPLINK, b"x", confirmable=False)  # not registered
    assert caught.value.code == 3
    with pytest.raises(CommandRejectedError) as caught:
        await modem.update()
    assert caught.value.code == 3
    with pytest.raises(CommandRejectedError) as caught:
        await modem.set_server("127.0.0.2", 5683)  # another server needs AT+QLWDEL first
    assert caught.value.code == 3
    await modem.register(DataMode.DIRECT_PUSH)
    with pytest.raises(CommandRejectedError):
        await modem.send((19, 1, 0), b"x", confirmable=False)  # not observed


async def test_radio_status(modem: Bc26Modem, modem_sim: Bc26Simulator) -> None:
    await modem.probe()
    assert await modem.signal() == SignalQuality(rssi_dbm=-67, ber=0)
    modem_sim.signal = (99, 99)
    assert await modem.signal() == SignalQuality(rssi_dbm=None, ber=None)
    assert await modem.network_registration() is NetworkRegistration.REGISTERED_HOME
    modem_sim.network_registration = 2
    assert await modem.network_registration() is NetworkRegistration.SEARCHING
    assert await modem.ip_address() == "10.52.241.198"
    modem_sim.ip_address = None
    assert await modem.ip_address() is None
    assert await modem.con_status() is ConStatus.NOT_SENT


async def test_bad_arguments_never_reach_the_module(
    modem: Bc26Modem, modem_sim: Bc26Simulator
) -> None:
    await modem.probe()
    before = list(modem_sim.commands)
    calls = [
        modem.set_endpoint('ep"\r\nAT+QLWDEL'),
        modem.set_endpoint("a,b"),
        modem.set_server('1.2.3.4",1\rAT', 5683),
        modem.set_server("127.0.0.1", 70000),
        modem.add_object(19, 0, (0, 0)),
        modem.delete_object(-1),
        modem.send(UPLINK, b"", confirmable=False),
        modem.send(UPLINK, b"x" * (MAX_PAYLOAD + 1), confirmable=True),
        modem.send((19, 0), b"x", confirmable=False),  # type: ignore[arg-type]
        modem.read_buffer(0),
        modem.register(2),  # type: ignore[arg-type]
        modem.probe(attempts=0),
    ]
    for call in calls:
        with pytest.raises(InvalidArgumentError):
            await call
    assert list(modem_sim.commands) == before


async def test_events_in_order_to_every_subscriber(
    modem: Bc26Modem, modem_sim: Bc26Simulator
) -> None:
    first, second = Events(), Events()
    modem.subscribe(first)
    unsubscribe = modem.subscribe(second)
    modem_sim.inject(b"\r\n+QLWOBSERVE: 0,19,0,0\r\n\r\n+QLWOBSERVE: 1,19,0,0\r\n")
    await second.wait_count(2)
    unsubscribe()
    modem_sim.inject(b"\r\n+CPIN: READY\r\n")
    await first.wait_count(3)
    assert (
        first.received[:2]
        == second.received
        == [
            ObserveRequest(UPLINK, cancel=False),
            ObserveRequest(UPLINK, cancel=True),
        ]
    )
    assert len(second.received) == 2


async def test_transcript(modem_url: str, modem_sim: Bc26Simulator) -> None:
    modem = Bc26Modem(modem_url, transcript_size=6)
    await modem.open()
    try:
        await modem.probe()
        await modem.signal()
    finally:
        await modem.close()
    transcript = modem.transcript
    assert len(transcript) == 6
    assert [(line.direction, line.text) for line in transcript[-3:]] == [
        ("tx", "AT+CSQ"),
        ("rx", "+CSQ: 23,0"),
        ("rx", "OK"),
    ]


async def test_close_then_reopen(modem: Bc26Modem, modem_sim: Bc26Simulator) -> None:
    await modem.probe()
    await modem.close()
    await modem.close()
    assert not modem.is_open
    await until(lambda: modem_sim.host_connected is not True)  # socket://: one host at a time
    await modem.open()
    assert (await modem.identify()).imei == IMEI
