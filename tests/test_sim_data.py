"""Data both ways: formats, buffer access, observations, final results, the network boundary."""

from __future__ import annotations

import asyncio

import pytest

from bc26sim import Bc26Simulator, ConStatus, DataMode, Registration, ScriptedNetwork, SendOutcome

from .sim_fixtures import Host, open_host

HANG = 1e7  # network delay (scaled by 0.001: hours); the modem's scaled 128 s timeout ends it


async def ok(at_host: Host, command: str, *later: str) -> None:
    """`command` answers OK, then the `later` lines."""
    assert await at_host.command(command) == b"\r\nOK\r\n", command
    assert tuple(await at_host.lines(len(later))) == later, command


async def register(at_host: Host, mode: int = 0, data_format: str = "1,1") -> None:
    """Echo off, CMEE=1, configured, registered in `mode`, /19/0/0 observed."""
    await at_host.command("ATE0")
    await ok(at_host, "AT+CMEE=1")
    await ok(at_host, f'AT+QLWCFG="dataformat",{data_format}')
    await ok(at_host, 'AT+QLWSERV="127.0.0.1",5683')
    await ok(at_host, 'AT+QLWCONF="bc26-test"')
    await ok(at_host, 'AT+QLWADDOBJ=19,0,1,"0"')
    await ok(at_host, 'AT+QLWADDOBJ=19,1,1,"0"')
    await ok(at_host, f"AT+QLWOPEN={mode}", "CONNECT OK", "+QLWOBSERVE: 0,19,0,0")


DOWN = (19, 1, 0)


async def test_direct_push_text_and_hex(
    sim: Bc26Simulator, at_host: Host, sim_net: ScriptedNetwork
) -> None:
    await register(at_host, 0, "0,0")
    assert sim.data_mode is DataMode.DIRECT_PUSH
    assert await sim_net.write(DOWN, b"on")
    assert await at_host.line() == "+QLWDATARECV: 19,1,0,2,on"
    await ok(at_host, 'AT+QLWCFG="dataformat",0,1')
    assert await sim_net.write(DOWN, b"\x00\xab")
    assert await at_host.line() == "+QLWDATARECV: 19,1,0,2,00AB"
    assert await sim_net.read(DOWN) == b"\x00\xab"


async def test_buffer_access_mode_one_urc_until_drained(
    sim: Bc26Simulator, at_host: Host, sim_net: ScriptedNetwork
) -> None:
    await register(at_host, 1)
    assert sim.data_mode is DataMode.BUFFER_ACCESS
    assert await sim_net.write(DOWN, bytes.fromhex("AAAA0000"))
    assert await at_host.line() == "+QLWDATARECV: 19,1,0,4"
    assert await sim_net.write(DOWN, bytes(range(10)))  # buffer not empty: no URC
    assert sim.buffered == 2
    # <remain_length> is what is left of the current node only (manual 3.10 note 2)
    assert await at_host.command("AT+QLWRD=2") == b"\r\n+QLWRD: 2,2\r\nAAAA\r\n\r\nOK\r\n"
    assert await at_host.command("AT+QLWRD=10") == b"\r\n+QLWRD: 2,0\r\n0000\r\n\r\nOK\r\n"
    assert await at_host.command("AT+QLWRD=4") == b"\r\n+QLWRD: 4,6\r\n00010203\r\n\r\nOK\r\n"
    assert await at_host.command("AT+QLWRD=512") == (
        b"\r\n+QLWRD: 6,0\r\n040506070809\r\n\r\nOK\r\n"
    )
    assert await at_host.command("AT+QLWRD=512") == b"\r\n+QLWRD: 0\r\n\r\nOK\r\n"
    assert await sim_net.write(DOWN, b"\x01")  # drained: the next write is announced again
    assert await at_host.line() == "+QLWDATARECV: 19,1,0,1"
    assert await at_host.quiet()


async def test_buffer_access_mode_text_format(at_host: Host, sim_net: ScriptedNetwork) -> None:
    await register(at_host, 1, "1,0")
    assert await sim_net.write(DOWN, b"hello")
    assert await at_host.line() == "+QLWDATARECV: 19,1,0,5"
    assert await at_host.command("AT+QLWRD=3") == b"\r\n+QLWRD: 3,2\r\nhel\r\n\r\nOK\r\n"


async def test_buffer_overflow_drops_and_counts(
    sim: Bc26Simulator, at_host: Host, sim_net: ScriptedNetwork
) -> None:
    await register(at_host, 1)
    results = [await sim_net.write(DOWN, bytes([n])) for n in range(17)]
    assert results == [True] * 16 + [False]
    assert sim.modem.dropped_writes == 1
    assert await at_host.line() == "+QLWDATARECV: 19,1,0,1"
    for n in range(16):
        assert (
            await at_host.command("AT+QLWRD=1")
            == f"\r\n+QLWRD: 1,0\r\n{n:02X}\r\n\r\nOK\r\n".encode()
        )
    assert await at_host.command("AT+QLWRD=1") == b"\r\n+QLWRD: 0\r\n\r\nOK\r\n"


async def test_buffered_data_survives_close(at_host: Host, sim_net: ScriptedNetwork) -> None:
    await register(at_host, 1)
    assert await sim_net.write(DOWN, b"\x42")
    assert await at_host.line() == "+QLWDATARECV: 19,1,0,1"
    await ok(at_host, "AT+QLWCLOSE", "CLOSE OK")
    assert await at_host.command("AT+QLWRD=8") == b"\r\n+QLWRD: 1,0\r\n42\r\n\r\nOK\r\n"


async def test_writes_the_module_refuses(
    sim: Bc26Simulator, at_host: Host, sim_net: ScriptedNetwork
) -> None:
    assert not await sim_net.write(DOWN, b"x")  # not registered
    await register(at_host, 0)
    assert not await sim_net.write((19, 2, 0), b"x")  # instance not declared
    assert not await sim_net.write((19, 1, 1), b"x")  # resource not declared
    assert not await sim_net.write((19, 1, -1), b"x")  # a whole instance is not writable here
    assert not await sim_net.write(DOWN, bytes(513))  # above 512 bytes
    assert await sim_net.write(DOWN, b"")  # empty: accepted, nothing to report
    assert await sim_net.write(DOWN, bytes(512))
    assert await at_host.line() == "+QLWDATARECV: 19,1,0,512," + "00" * 512
    assert await at_host.quiet()


async def test_waiting_for_notifications(at_host: Host, sim_net: ScriptedNetwork) -> None:
    await register(at_host, 0)
    waiter = asyncio.create_task(sim_net.wait_notifications(2))
    await ok(at_host, "AT+QLWDATASEND=19,0,0,1,01,0x0000")
    await ok(at_host, "AT+QLWDATASEND=19,0,0,1,02,0x0100", "SEND OK")
    notifications = await waiter
    assert [(n.payload, n.confirmable) for n in notifications] == [
        (b"\x01", False),
        (b"\x02", True),
    ]


async def test_reads_by_the_platform(at_host: Host, sim_net: ScriptedNetwork) -> None:
    await register(at_host, 0)
    assert await sim_net.read((19, 0, 0)) == b""
    await ok(at_host, "AT+QLWDATASEND=19,0,0,2,CAFE,0x0000")
    assert await sim_net.read((19, 0, 0)) == b"\xca\xfe"
    assert await sim_net.read((19, 0, -1)) is None
    assert await sim_net.read((20, 0, 0)) is None


async def test_observations(sim: Bc26Simulator, at_host: Host, sim_net: ScriptedNetwork) -> None:
    await register(at_host, 0)
    assert sim.observed == {(19, 0, 0)}
    assert not await sim_net.observe((20, 0, 0))  # not declared: refused, no URC
    assert await sim_net.cancel_observe((19, 0, 0))
    assert await at_host.line() == "+QLWOBSERVE: 1,19,0,0"
    assert await at_host.command("AT+QLWDATASEND=19,0,0,1,01,0x0000") == b"\r\n+CME ERROR: 3\r\n"
    assert await sim_net.observe((19, 0, -1))  # the whole instance covers /19/0/0
    assert await at_host.line() == "+QLWOBSERVE: 0,19,0,-1"
    await ok(at_host, "AT+QLWDATASEND=19,0,0,1,01,0x0000")
    assert sim_net.observing == {(19, 0, -1)}
    await ok(at_host, "AT+QLWDELOBJ=19", "UPDATE OK")  # observations of a deleted object go too
    assert sim.observed == set()
    assert sim_net.updates[-1] == ()


async def test_observe_refused_when_unregistered(at_host: Host, sim_net: ScriptedNetwork) -> None:
    await at_host.command("ATE0")
    await ok(at_host, 'AT+QLWADDOBJ=19,0,1,"0"')
    assert not await sim_net.observe((19, 0, 0))
    with pytest.raises(RuntimeError):
        await ScriptedNetwork().observe((19, 0, 0))  # a network nobody attached


@pytest.mark.parametrize(
    ("outcome", "final", "status"),
    [
        (SendOutcome.ACKNOWLEDGED, "SEND OK", ConStatus.SUCCESS),
        (SendOutcome.RESET, "SEND FAIL", ConStatus.RESET),
        (SendOutcome.TIMEOUT, "SEND FAIL", ConStatus.TIMEOUT),
        (SendOutcome.FAILED, "SEND FAIL", ConStatus.FAILED),
    ],
)
async def test_con_outcomes(
    sim: Bc26Simulator,
    at_host: Host,
    sim_net: ScriptedNetwork,
    outcome: SendOutcome,
    final: str,
    status: ConStatus,
) -> None:
    await register(at_host, 0)
    sim_net.con_outcome = outcome
    await ok(at_host, "AT+QLWDATASEND=19,0,0,1,01,0x0100", final)
    assert sim.con_status is status
    assert await at_host.command("AT+QLWDATASTATUS?") == (
        f"\r\n+QLWDATASTATUS: {status.value}\r\n\r\nOK\r\n".encode()
    )
    await ok(at_host, "AT+QLWDATASEND=19,0,0,1,02,0x0000")  # the next send is allowed again


async def test_final_results_when_the_network_does_not_answer(
    sim: Bc26Simulator, at_host: Host, sim_net: ScriptedNetwork
) -> None:
    await register(at_host, 0)
    sim_net.ack_delay = HANG
    await ok(at_host, "AT+QLWDATASEND=19,0,0,1,01,0x0100", "SEND FAIL")
    assert sim.con_status is ConStatus.TIMEOUT
    sim_net.update_delay = HANG
    await ok(at_host, "AT+QLWUPDATE", "UPDATE FAIL")
    assert sim.registered  # an update that failed leaves the registration alone
    sim_net.deregister_delay = HANG
    await ok(at_host, "AT+QLWCLOSE", "CLOSE FAIL")
    assert not sim.registered
    sim_net.register_delay = HANG
    await ok(at_host, "AT+QLWOPEN=0", "CONNECT FAIL")
    assert not sim.registered
    assert sim.data_mode is None


async def test_refusals_by_the_platform(
    sim: Bc26Simulator, at_host: Host, sim_net: ScriptedNetwork
) -> None:
    sim_net.register_result = False
    await at_host.command("ATE0")
    for command in ('AT+QLWSERV="127.0.0.1",5683', 'AT+QLWCONF="ep"', 'AT+QLWADDOBJ=19,0,1,"0"'):
        await ok(at_host, command)
    await ok(at_host, "AT+QLWOPEN=0", "CONNECT FAIL")
    sim_net.register_result = True
    await ok(at_host, "AT+QLWOPEN=0", "CONNECT OK", "+QLWOBSERVE: 0,19,0,0")
    sim_net.update_result = False
    await ok(at_host, "AT+QLWUPDATE", "UPDATE FAIL")
    sim_net.deregister_result = False
    await ok(at_host, "AT+QLWCLOSE", "CLOSE FAIL")
    assert not sim.registered


class BrokenNetwork(ScriptedNetwork):
    """A network component with a bug: registering raises."""

    async def register(self, registration: Registration) -> bool:
        raise OSError("network down")


async def test_a_failing_network_gives_fail_results() -> None:
    broken = BrokenNetwork(time_scale=0.001)
    simulator = Bc26Simulator(time_scale=0.001, network=broken, banner_on_start=False)
    await simulator.start_pty()
    port = await open_host(simulator.url)
    try:
        await port.command("ATE0")
        await ok(port, 'AT+QLWSERV="127.0.0.1",5683')
        await ok(port, 'AT+QLWCONF="ep"')
        await ok(port, "AT+QLWOPEN=0", "CONNECT FAIL")
    finally:
        await port.close()
        await simulator.stop()


async def test_registration_carries_the_configuration(
    sim: Bc26Simulator, at_host: Host, sim_net: ScriptedNetwork
) -> None:
    await register(at_host, 0)
    registration = sim_net.registrations[-1]
    assert (registration.host, registration.port, registration.endpoint) == (
        "127.0.0.1",
        5683,
        "bc26-test",
    )
    assert registration.lifetime == 86400
    await ok(at_host, 'AT+QLWADDOBJ=3303,0,2,"5700;5701"')  # registered: no automatic update
    assert await at_host.quiet()
    await ok(at_host, "AT+QLWUPDATE", "UPDATE OK")
    assert [(o.object_id, o.resource_ids) for o in sim_net.updates[-1]] == [
        (19, (0,)),
        (19, (0,)),
        (3303, (5700, 5701)),
    ]
    assert [o.object_id for o in sim.objects] == [19, 19, 3303]


async def test_qlwdel_deregisters_and_forgets(
    sim: Bc26Simulator, at_host: Host, sim_net: ScriptedNetwork
) -> None:
    await register(at_host, 0)
    await ok(at_host, "AT+QLWDEL")
    assert sim_net.deregistrations == 1
    assert sim_net.resets == 1
    assert not sim.registered
    assert sim.objects == []
    assert await at_host.command("AT+QLWSERV?") == b"\r\n+CME ERROR: 3\r\n"
    # the data format is not LwM2M context: still hex
    await ok(at_host, 'AT+QLWSERV="127.0.0.1",5683')
    await ok(at_host, 'AT+QLWCONF="ep"')
    await ok(at_host, 'AT+QLWADDOBJ=19,0,1,"0"')
    await ok(at_host, "AT+QLWOPEN=0", "CONNECT OK", "+QLWOBSERVE: 0,19,0,0")
    await ok(at_host, "AT+QLWDATASEND=19,0,0,1,FF,0x0000")


async def test_qlwdel_cancels_a_pending_registration(
    sim: Bc26Simulator, at_host: Host, sim_net: ScriptedNetwork
) -> None:
    await at_host.command("ATE0")
    await ok(at_host, 'AT+QLWSERV="127.0.0.1",5683')
    await ok(at_host, 'AT+QLWCONF="ep"')
    sim_net.register_delay = HANG
    await ok(at_host, "AT+QLWOPEN=0")
    await ok(at_host, "AT+QLWDEL")
    assert await at_host.quiet()  # no CONNECT line ever comes for the cancelled registration
    assert sim_net.resets == 1
