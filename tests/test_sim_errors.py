"""Every error rule of the simulator (the decision table in bc26sim/modem.py), with AT+CMEE=1.

Pending states (registering, a CON send waiting, ...) are held by a network that does
not answer, under a simulator with time scale 1 so its 128 s final-result timeout
cannot end them during the test; the fixture's stop cancels them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bc26sim import Bc26Simulator, ScriptedNetwork

from .sim_fixtures import Host, open_host

HANG = 1e7  # network delay (scaled by 0.001: hours) that outlasts any test

SETUP = (
    'AT+QLWSERV="180.101.147.115",5683',
    'AT+QLWCONF="867724030023557"',
    'AT+QLWADDOBJ=19,0,1,"0"',
    'AT+QLWADDOBJ=19,1,1,"0"',
)


@pytest.fixture
def patient_net() -> ScriptedNetwork:
    return ScriptedNetwork(time_scale=0.001)


@pytest.fixture
async def patient(patient_net: ScriptedNetwork) -> AsyncIterator[Host]:
    """Host of a simulator whose timeouts are real (128 s), ready with ATE0 and AT+CMEE=1."""
    simulator = Bc26Simulator(time_scale=1.0, network=patient_net, banner_on_start=False)
    await simulator.start_pty()
    port = await open_host(simulator.url)
    await port.command("ATE0")
    await port.command("AT+CMEE=1")
    await port.command('AT+QLWCFG="dataformat",1,1')
    yield port
    await port.close()
    await simulator.stop()


async def ok(at_host: Host, command: str, *later: str) -> None:
    """`command` answers OK, then the `later` lines (final results, URCs)."""
    assert await at_host.command(command) == b"\r\nOK\r\n", command
    assert tuple(await at_host.lines(len(later))) == later, command


async def bring(at_host: Host, sim_net: ScriptedNetwork, state: str) -> None:
    """Put the module in `state`."""
    if state == "fresh":
        return
    for command in SETUP:
        await ok(at_host, command)
    if state == "configured":
        return
    if state == "registering":
        sim_net.register_delay = HANG
        await ok(at_host, "AT+QLWOPEN=0")
        return
    if state == "unobserved":
        sim_net.auto_observe = ()
        await ok(at_host, "AT+QLWOPEN=0", "CONNECT OK")
        return
    await ok(at_host, "AT+QLWOPEN=0", "CONNECT OK", "+QLWOBSERVE: 0,19,0,0")
    pending = {
        "con-pending": ("ack_delay", "AT+QLWDATASEND=19,0,0,1,01,0x0100"),
        "updating": ("update_delay", "AT+QLWUPDATE"),
        "deregistering": ("deregister_delay", "AT+QLWCLOSE"),
    }
    if state in pending:
        attribute, command = pending[state]
        setattr(sim_net, attribute, HANG)
        await ok(at_host, command)
    elif state == "closed":
        await ok(at_host, "AT+QLWCLOSE", "CLOSE OK")
    else:
        assert state == "registered"


SEND = "AT+QLWDATASEND=19,0,0,1,01,0x0000"

# (state, command, +CME ERROR code)
RULES = [
    # malformed or out of range: 50 whatever the state
    ("fresh", 'AT+QLWSERV="180.101.147.115",65536', 50),
    ("fresh", 'AT+QLWSERV="180.101.147.115",-1', 50),
    ("fresh", "AT+QLWSERV=180.101.147.115,5683", 50),
    ("fresh", 'AT+QLWSERV="iot_example.com",5683', 50),
    ("fresh", 'AT+QLWSERV="lwm2m.example.com",5683', 50),  # 3.1: an IP address, no name
    ("fresh", 'AT+QLWSERV="localhost",5683', 50),
    ("fresh", 'AT+QLWSERV="-iot.example.com",5683', 50),
    ("fresh", 'AT+QLWSERV="iot..example.com",5683', 50),
    ("fresh", 'AT+QLWSERV="",5683', 50),
    ("fresh", 'AT+QLWSERV="180.101.147.115"', 50),
    ("fresh", 'AT+QLWSERV="180.101.147.115",5683,1', 50),
    ("fresh", 'AT+QLWSERV="180.101.147.115,5683', 50),
    ("fresh", 'AT+QLWSERV="180.101.147.115",x', 50),
    ("fresh", 'AT+QLWSERV="180.101.147.115","5683"', 50),
    ("fresh", 'AT+QLWSERV="1"2",5683', 50),
    ("fresh", 'AT+QLWCONF=""', 50),
    ("fresh", 'AT+QLWCONF="' + "x" * 65 + '"', 50),
    ("fresh", 'AT+QLWCONF="tab\there"', 50),
    ("fresh", "AT+QLWCONF=867724030023557", 50),
    ("fresh", 'AT+QLWCONF="a","b"', 50),
    ("fresh", 'AT+QLWCONF=a"b"', 50),
    ("fresh", 'AT+QLWADDOBJ=65536,0,1,"0"', 50),
    ("fresh", 'AT+QLWADDOBJ=19,65536,1,"0"', 50),
    ("fresh", 'AT+QLWADDOBJ=19,0,1,"65536"', 50),
    ("fresh", 'AT+QLWADDOBJ=19,0,2,"0"', 50),
    ("fresh", 'AT+QLWADDOBJ=19,0,2,"0;0"', 50),
    ("fresh", 'AT+QLWADDOBJ=19,0,0,""', 50),
    ("fresh", 'AT+QLWADDOBJ=19,0,33,"0"', 50),
    ("fresh", "AT+QLWADDOBJ=19,0,1,0", 50),
    ("fresh", 'AT+QLWADDOBJ=3303,0,2,"5700,5701"', 50),  # the separator is ";"
    ("fresh", 'AT+QLWADDOBJ=3303,0,2,"5700 5701"', 50),
    ("fresh", "AT+QLWADDOBJ=3304,0,2,5700,5701", 50),  # the BC66 dialect's list
    ("fresh", 'AT+QLWADDOBJ=3303,0,2,"5700;"', 50),
    ("fresh", "AT+QLWADDOBJ=19,0,1", 50),
    ("fresh", "AT+QLWADDOBJ=19,", 50),
    ("fresh", "AT+QLWADDOBJ=-19", 50),
    ("fresh", "AT+QLWDELOBJ=65536", 50),
    ("fresh", "AT+QLWDELOBJ=", 50),
    ("fresh", "AT+QLWDELOBJ=19,0", 50),
    ("configured", "AT+QLWOPEN=2", 50),
    ("configured", "AT+QLWOPEN=", 50),
    ("configured", "AT+QLWOPEN=0,1", 50),
    ("registered", "AT+QLWDATASEND=19,0,0,513," + "00" * 513 + ",0x0000", 50),
    ("registered", "AT+QLWDATASEND=19,0,0,0,,0x0000", 50),
    ("registered", "AT+QLWDATASEND=19,0,0,2,01,0x0000", 50),
    ("registered", "AT+QLWDATASEND=19,0,0,1,0102,0x0000", 50),
    ("registered", "AT+QLWDATASEND=19,0,0,1,0G,0x0000", 50),
    ("registered", "AT+QLWDATASEND=19,0,0,1,01,0x0200", 50),
    ("registered", "AT+QLWDATASEND=19,0,0,1,01,0x0001", 50),
    ("registered", 'AT+QLWDATASEND=19,0,0,1,01,"0x0000"', 50),
    ("registered", "AT+QLWDATASEND=19,0,0,1,01", 50),
    ("registered", "AT+QLWDATASEND=65536,0,0,1,01,0x0000", 50),
    ("registered", "AT+QLWDATASEND=19,0,x,1,01,0x0000", 50),
    ("registered", "AT+QLWRD=0", 50),
    ("registered", "AT+QLWRD=513", 50),
    ("registered", "AT+QLWRD=a", 50),
    ("fresh", 'AT+QLWCFG="dataformat",2,1', 50),
    ("fresh", 'AT+QLWCFG="dataformat",1,2', 50),
    ("fresh", 'AT+QLWCFG="lifetime",1,1', 50),
    ("fresh", 'AT+QLWCFG="dataformat",1', 50),
    ("fresh", "AT+QLWCFG=dataformat,1,1", 50),
    ("fresh", "ATE2", 50),
    ("fresh", "AT+CMEE=3", 50),
    ("fresh", "AT+CGSN=2", 50),
    ("fresh", "AT+CGSN=1,1", 50),
    ("fresh", "AT+QRST=0", 50),
    ("fresh", "AT+QRST=", 50),
    ("fresh", "AT+CGPADDR=2", 50),
    ("fresh", "AT+CGPADDR=1,2", 50),
    ("fresh", "AT+CEREG=2", 50),
    ("fresh", "AT+CEREG=1,1", 50),
    ("fresh", "AT+CMEE=1,1", 50),
    ("fresh", "AT+QLWSERV*", 50),
    # unknown commands: 100
    ("fresh", "AT+FOO", 100),
    ("fresh", "ATX", 100),
    ("fresh", "AT&F", 100),
    ("fresh", "ATE0E1", 100),
    # wrong state: 3
    ("fresh", "AT+QLWSERV?", 3),
    ("fresh", "AT+QLWCONF?", 3),
    ("fresh", "AT+QLWOPEN=0", 3),
    ("fresh", "AT+QLWUPDATE", 3),
    ("fresh", "AT+QLWCLOSE", 3),
    ("fresh", SEND, 3),
    ("fresh", "AT+QLWDELOBJ=19", 3),
    ("configured", 'AT+QLWSERV="180.101.147.116",5683', 3),
    ("configured", 'AT+QLWSERV="180.101.147.115",5684', 3),
    ("configured", 'AT+QLWADDOBJ=19,0,2,"0;1"', 3),
    ("configured", "AT+QLWDELOBJ=3303", 3),
    ("configured", SEND, 3),
    ("configured", "AT+QLWUPDATE", 3),
    ("configured", "AT+QLWCLOSE", 3),
    ("registered", "AT+QLWOPEN=0", 3),
    ("registered", "AT+QLWOPEN=1", 3),
    ("registered", 'AT+QLWSERV="180.101.147.115",5683', 3),
    ("registered", 'AT+QLWCONF="other"', 3),
    ("registered", "AT+QLWDATASEND=19,1,0,1,01,0x0000", 3),
    ("registered", "AT+QLWDATASEND=20,0,0,1,01,0x0000", 3),
    ("registered", "AT+QLWDATASEND=19,0,1,1,01,0x0000", 3),
    ("unobserved", SEND, 3),
    ("unobserved", "AT+QLWDATASEND=19,0,0,1,01,0x0100", 3),
    ("registering", "AT+QLWOPEN=0", 3),
    ("registering", "AT+QLWUPDATE", 3),
    ("registering", "AT+QLWCLOSE", 3),
    ("registering", SEND, 3),
    ("registering", 'AT+QLWADDOBJ=20,0,1,"0"', 3),
    ("registering", "AT+QLWDELOBJ=19", 3),
    ("registering", 'AT+QLWSERV="180.101.147.115",5683', 3),
    ("registering", 'AT+QLWCONF="867724030023557"', 3),
    ("con-pending", SEND, 3),
    ("con-pending", "AT+QLWDATASEND=19,0,0,1,01,0x0100", 3),
    ("updating", "AT+QLWUPDATE", 3),
    ("updating", "AT+QLWCLOSE", 3),
    ("updating", "AT+QLWDELOBJ=19", 3),
    ("deregistering", "AT+QLWOPEN=0", 3),
    ("deregistering", "AT+QLWUPDATE", 3),
    ("deregistering", "AT+QLWCLOSE", 3),
    ("deregistering", SEND, 3),
    ("deregistering", 'AT+QLWADDOBJ=20,0,1,"0"', 3),
    ("closed", SEND, 3),
    ("closed", "AT+QLWUPDATE", 3),
    ("closed", "AT+QLWCLOSE", 3),
]


@pytest.mark.parametrize(
    ("state", "command", "code"), RULES, ids=[f"{s}:{c[:48]}" for s, c, _ in RULES]
)
async def test_error_rule(
    patient: Host, patient_net: ScriptedNetwork, state: str, command: str, code: int
) -> None:
    await bring(patient, patient_net, state)
    assert await patient.command(command) == f"\r\n+CME ERROR: {code}\r\n".encode()
    assert await patient.quiet()


# (state, command, the lines that follow its OK): what is allowed where the manual is silent
ALLOWED = [
    ("configured", 'AT+QLWSERV="180.101.147.115",5683', ()),
    ("configured", 'AT+QLWCONF="another-endpoint"', ()),
    ("configured", 'AT+QLWADDOBJ=19,0,1,"0"', ()),
    ("configured", "AT+QLWADDOBJ=3303", ()),
    ("configured", "AT+QLWADDOBJ=3303,1", ()),
    ("configured", 'AT+QLWADDOBJ=3303,0,3," 5700 ;5701;5601"', ()),
    ("configured", "AT+QLWDELOBJ=19", ()),
    ("registered", 'AT+QLWADDOBJ=3303,0,1,"5700"', ()),
    ("registered", "AT+QLWDELOBJ=19", ("UPDATE OK",)),
    ("registered", "AT+QLWRD=4", ()),
    ("registered", 'AT+QLWCFG="dataformat",0,0', ()),
    ("con-pending", "AT+QLWUPDATE", ("UPDATE OK",)),
    ("con-pending", "AT+QLWDATASTATUS?", ()),
    ("updating", "AT+QLWDATASEND=19,0,0,1,01,0x0000", ()),
    ("registered", "AT+QLWDATASEND = 19, 0, 0, 1, 01 ,0x0000", ()),
    ("registered", 'AT+QLWDATASEND=19,0,0,1,"ab",0x0100', ("SEND OK",)),
    ("closed", 'AT+QLWCONF="another-endpoint"', ()),
    ("closed", "AT+QLWOPEN=1", ("CONNECT OK", "+QLWOBSERVE: 0,19,0,0")),
]


@pytest.mark.parametrize(
    ("state", "command", "later"), ALLOWED, ids=[f"{s}:{c}" for s, c, _ in ALLOWED]
)
async def test_allowed_where_the_manual_is_silent(
    patient: Host, patient_net: ScriptedNetwork, state: str, command: str, later: tuple[str, ...]
) -> None:
    await bring(patient, patient_net, state)
    answer = await patient.command(command)
    assert answer.endswith(b"\r\nOK\r\n")
    assert tuple(await patient.lines(len(later))) == later
    assert await patient.quiet()


async def test_qlwrd_in_direct_push_mode_reports_an_empty_buffer(
    patient: Host, patient_net: ScriptedNetwork
) -> None:
    await bring(patient, patient_net, "registered")
    assert await patient.command("AT+QLWRD=4") == b"\r\n+QLWRD: 0\r\n\r\nOK\r\n"


async def test_open_needs_both_server_and_endpoint(patient: Host) -> None:
    await ok(patient, 'AT+QLWSERV="180.101.147.115",5683')
    assert await patient.command("AT+QLWOPEN=0") == b"\r\n+CME ERROR: 3\r\n"
    await ok(patient, "AT+QLWDEL")
    await ok(patient, 'AT+QLWCONF="ep"')
    assert await patient.command("AT+QLWOPEN=0") == b"\r\n+CME ERROR: 3\r\n"
    await ok(patient, 'AT+QLWSERV="127.0.0.1",5683')
    await ok(patient, "AT+QLWOPEN=0", "CONNECT OK")


async def test_another_server_needs_qlwdel_first(patient: Host) -> None:
    await ok(patient, 'AT+QLWSERV="180.101.147.115",5683')
    assert await patient.command('AT+QLWSERV="::1",5683') == b"\r\n+CME ERROR: 3\r\n"
    await ok(patient, "AT+QLWDEL")
    await ok(patient, 'AT+QLWSERV="::1",5683')
    assert await patient.command("AT+QLWSERV?") == b'\r\n+QLWSERV: "::1",5683\r\n\r\nOK\r\n'


async def test_object_table_is_bounded(patient: Host) -> None:
    for instance in range(16):
        await ok(patient, f"AT+QLWADDOBJ=3303,{instance}")
    assert await patient.command("AT+QLWADDOBJ=3303,16") == b"\r\n+CME ERROR: 20\r\n"
    await ok(patient, "AT+QLWADDOBJ=3303,15")  # the same one again is still fine


async def test_non_sends_in_flight_are_bounded(patient: Host, patient_net: ScriptedNetwork) -> None:
    await bring(patient, patient_net, "registered")
    patient_net.non_delay = HANG
    for _ in range(16):
        await ok(patient, SEND)
    assert await patient.command(SEND) == b"\r\n+CME ERROR: 20\r\n"


async def test_text_format_length_counts_bytes(patient: Host, patient_net: ScriptedNetwork) -> None:
    await bring(patient, patient_net, "registered")
    await ok(patient, 'AT+QLWCFG="dataformat",0,0')
    assert await patient.command("AT+QLWDATASEND=19,0,0,4,abc,0x0000") == (
        b"\r\n+CME ERROR: 50\r\n"
    )
    await ok(patient, "AT+QLWDATASEND=19,0,0,3,abc,0x0000")
    await ok(patient, 'AT+QLWDATASEND=19,0,0,12,"hello, world",0x0000')
    await ok(patient, "AT+QLWDATASEND=19,0,0,2,\xe9\xe8,0x0000")
    payloads = [n.payload for n in await patient_net.wait_notifications(3)]
    assert payloads == [b"abc", b"hello, world", b"\xe9\xe8"]
