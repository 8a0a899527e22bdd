"""Faults against the virtual BC26: reboot, unplug, garbage, split lines, interleaved URCs,
silence, slow answers and late replies; over a pseudo-terminal and over socket://."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bc26sim import Bc26Simulator, ScriptedNetwork
from custom_components.bc26.modem import (
    Bc26Modem,
    DataMode,
    ModemRebooted,
    ModemRebootedError,
    ModemTimeoutError,
    NetworkRegistration,
    NetworkRegistrationChanged,
    NoResponseError,
    ObserveRequest,
    PortError,
    SignalQuality,
    Timeouts,
    UnknownUrc,
)
from tests.modem_fixtures import FAST, Events, until
from tests.test_modem_api import IMEI, UPLINK, configure

SLOW_SCALE = 0.01  # the module's 128 s final timeout becomes 1.28 s


def _sent(sim: Bc26Simulator, command: str) -> bool:
    return command in sim.commands


@pytest.fixture
async def slow_platform(tmp_path: Path) -> AsyncIterator[tuple[Bc26Simulator, ScriptedNetwork]]:
    """A simulator whose platform takes about 1 s to answer a registration."""
    network = ScriptedNetwork(time_scale=SLOW_SCALE, register_delay=100.0)
    simulator = Bc26Simulator(time_scale=SLOW_SCALE, network=network)
    await simulator.start_pty()
    yield simulator, network
    await simulator.stop()


async def test_reboot_mid_command_fails_it_at_once(
    modem: Bc26Modem, modem_sim: Bc26Simulator, modem_events: Events
) -> None:
    await modem.probe()
    modem_sim.response_delay = 0.3
    signal = asyncio.create_task(modem.signal())
    await until(lambda: _sent(modem_sim, "AT+CSQ"))
    await modem_sim.reboot()
    with pytest.raises(ModemRebootedError):  # not ModemTimeoutError: no waiting it out
        await signal
    modem_sim.response_delay = 0
    await modem_events.wait_for(lambda received: ModemRebooted() in received)
    # Echo is back on after the reboot; the next calls work all the same.
    assert (await modem.identify()).imei == IMEI
    assert modem_sim.echo
    await modem.probe()
    assert modem_events.received.count(ModemRebooted()) == 1


async def test_reboot_while_waiting_for_connect(
    slow_platform: tuple[Bc26Simulator, ScriptedNetwork],
) -> None:
    simulator, _ = slow_platform
    modem = Bc26Modem(simulator.url, timeouts=FAST)
    await modem.open()
    try:
        await configure(modem)
        register = asyncio.create_task(modem.register(DataMode.DIRECT_PUSH))
        await until(lambda: _sent(simulator, "AT+QLWOPEN=0"))
        await simulator.reboot()
        with pytest.raises(ModemRebootedError):
            await register
        assert not modem.registered
        await modem.probe()
    finally:
        await modem.close()


async def test_registration_lost_with_a_reboot(
    modem: Bc26Modem, modem_sim: Bc26Simulator, modem_events: Events
) -> None:
    await configure(modem)
    await modem.register(DataMode.DIRECT_PUSH)
    assert modem.registered
    await modem_sim.reboot()
    await modem_events.wait_for(lambda received: ModemRebooted() in received)
    assert not modem.registered


async def test_final_result_timeout_and_its_late_arrival(
    slow_platform: tuple[Bc26Simulator, ScriptedNetwork],
) -> None:
    simulator, _ = slow_platform
    modem = Bc26Modem(simulator.url, timeouts=Timeouts(response=0.5, final=0.3))
    events = Events()
    modem.subscribe(events)
    await modem.open()
    try:
        await configure(modem)
        with pytest.raises(ModemTimeoutError, match="final result"):
            await modem.register(DataMode.DIRECT_PUSH)
        await events.wait_for(lambda received: UnknownUrc("CONNECT OK") in received)
        assert (await modem.signal()).rssi_dbm == -67  # the line stayed in step
    finally:
        await modem.close()


async def test_unplug_mid_command_and_replug(modem: Bc26Modem, modem_sim: Bc26Simulator) -> None:
    lost: list[Exception | None] = []
    modem.on_connection_lost(lost.append)
    await modem.probe()
    modem_sim.response_delay = 0.3
    signal = asyncio.create_task(modem.signal())
    await until(lambda: _sent(modem_sim, "AT+CSQ"))
    await modem_sim.unplug()
    with pytest.raises(PortError):
        await signal
    assert len(lost) == 1
    assert isinstance(lost[0], PortError)
    assert not modem.is_open
    with pytest.raises(PortError):
        await modem.identify()
    await modem.close()
    modem_sim.response_delay = 0
    await modem_sim.replug()
    await modem.open()
    await modem.probe()
    assert (await modem.identify()).imei == IMEI
    assert len(lost) == 1


async def test_garbage_on_the_line(
    modem: Bc26Modem, modem_sim: Bc26Simulator, modem_events: Events
) -> None:
    await modem.probe()
    modem_sim.inject(b"\x00\xff\xfe garbage \x01\r\n\xff\xff\x00")
    assert await modem.signal() == SignalQuality(-67, 0)  # noise glued to the answer: ignored
    modem_sim.inject(b"\r\n\x80\x81\r\n\n\r\r\r+QLWOBSERVE: 0,19,0,0\n\n")
    await modem_events.wait_count(2)
    assert modem_events.received == [UnknownUrc("garbage"), ObserveRequest(UPLINK, cancel=False)]


@pytest.mark.parametrize("chunk", [1, 3, 7])
async def test_split_writes(
    modem: Bc26Modem, modem_sim: Bc26Simulator, modem_events: Events, chunk: int
) -> None:
    modem_sim.split_writes = chunk
    modem_sim.split_pause = 0.0005
    await configure(modem)  # echo on at first: echo lines split too
    assert (await modem.identify()).imei == IMEI
    await modem.register(DataMode.DIRECT_PUSH)
    await modem_events.wait_for(lambda received: ObserveRequest(UPLINK, False) in received)
    await modem.send(UPLINK, b"split", confirmable=True)


async def test_urcs_interleaved_in_answers(
    modem: Bc26Modem, modem_sim: Bc26Simulator, modem_events: Events
) -> None:
    await modem.probe()
    modem_sim.interleave_next("+QLWOBSERVE: 0,19,0,0")
    assert await modem.signal() == SignalQuality(-67, 0)
    modem_sim.interleave_next("+CEREG: 2")  # a URC with the prefix of the answer
    modem_sim.interleave_next("+QFOO: 7")  # unknown: reported, not taken into the answer
    assert await modem.network_registration() is NetworkRegistration.REGISTERED_HOME
    modem_sim.interleave_next("CONNECT OK")  # nobody waits for it: reported
    identity = await modem.identify()
    assert identity.model == "Quectel_BC26"
    await modem_events.wait_count(4)
    assert modem_events.received == [
        ObserveRequest(UPLINK, cancel=False),
        NetworkRegistrationChanged(NetworkRegistration.SEARCHING),
        UnknownUrc("+QFOO: 7"),
        UnknownUrc("CONNECT OK"),
    ]


async def test_late_reply_after_a_timeout(
    modem: Bc26Modem, modem_sim: Bc26Simulator, modem_events: Events
) -> None:
    await modem.probe()
    modem_sim.response_delay = FAST.response + 0.2
    with pytest.raises(ModemTimeoutError):
        await modem.identify()  # ATI's three lines and OK come after the timeout
    modem_sim.response_delay = 0
    assert await modem.signal() == SignalQuality(-67, 0)
    assert await modem.ip_address() == "10.52.241.198"
    commands = list(modem_sim.commands)
    assert commands[commands.index("ATI") + 1] == "AT+CMEE?"  # the resynchronisation probe
    assert modem_events.received == []  # the late lines were neither answers nor URCs


async def test_silence_then_recovery(modem: Bc26Modem, modem_sim: Bc26Simulator) -> None:
    """After the module was silent for a while, the first command it can answer works."""
    await modem.probe()
    modem_sim.mute = True
    with pytest.raises(ModemTimeoutError):
        await modem.signal()
    for _ in range(3):  # more unanswered probes than there are kinds of probe
        with pytest.raises(NoResponseError):
            await modem.probe(attempts=3)
    modem_sim.mute = False
    await modem.probe()  # no reopening, no waiting for the final timeout
    assert (await modem.identify()).imei == IMEI


async def test_open_failures(socket_enabled: None, tmp_path: Path) -> None:
    for url in (str(tmp_path / "no-such-port"), "socket://127.0.0.1:1", "bogus://nothing"):
        modem = Bc26Modem(url, timeouts=FAST)
        with pytest.raises(PortError):
            await modem.open()
        assert not modem.is_open
        await modem.close()
