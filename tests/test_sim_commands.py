"""Every command in every form, byte for byte: echo, framing, texts the host parses."""

from __future__ import annotations

import pytest

from bc26sim import Bc26Simulator

from .sim_fixtures import Host, open_host

IMEI = "866971030001361"

# (command, exact bytes after the echo `command\r`)
ANSWERS = [
    ("AT", b"\r\nOK\r\n"),
    ("at", b"\r\nOK\r\n"),
    ("ATI", b"\r\nQuectel_Ltd\r\nQuectel_BC26\r\nRevision: BC26NBR01A02\r\n\r\nOK\r\n"),
    ("AT+CGMR", b"\r\nRevision: BC26NBR01A02\r\n\r\nOK\r\n"),
    ("AT+CGSN=1", f"\r\n+CGSN: {IMEI}\r\n\r\nOK\r\n".encode()),
    ("AT+CGSN=?", b"\r\n+CGSN: (1)\r\n\r\nOK\r\n"),
    ("AT+CSQ", b"\r\n+CSQ: 23,0\r\n\r\nOK\r\n"),
    ("at+csq", b"\r\n+CSQ: 23,0\r\n\r\nOK\r\n"),
    ("AT+CSQ=?", b"\r\n+CSQ: (0-31,99),(0-7,99)\r\n\r\nOK\r\n"),
    ("AT+CEREG?", b"\r\n+CEREG: 0,1\r\n\r\nOK\r\n"),
    ("AT+CEREG=?", b"\r\n+CEREG: (0,1)\r\n\r\nOK\r\n"),
    ("AT+CGPADDR=1", b"\r\n+CGPADDR: 1,10.52.241.198\r\n\r\nOK\r\n"),
    ("AT+CGPADDR", b"\r\n+CGPADDR: 1,10.52.241.198\r\n\r\nOK\r\n"),
    ("AT+CGPADDR=?", b"\r\n+CGPADDR: (1)\r\n\r\nOK\r\n"),
    ("AT+CPIN?", b"\r\n+CPIN: READY\r\n\r\nOK\r\n"),
    ("AT+CFUN?", b"\r\n+CFUN: 1\r\n\r\nOK\r\n"),
    ("AT+CMEE?", b"\r\n+CMEE: 0\r\n\r\nOK\r\n"),
    ("AT+CMEE=?", b"\r\n+CMEE: (0-2)\r\n\r\nOK\r\n"),
    ("AT+QRST=?", b"\r\n+QRST: (1)\r\n\r\nOK\r\n"),
    ("AT+QLWSERV=?", b'\r\n+QLWSERV: "IP_address",(0-65535)\r\n\r\nOK\r\n'),
    ("AT+QLWCONF=?", b'\r\n+QLWCONF: "endpointname"\r\n\r\nOK\r\n'),
    ("AT+QLWCFG=?", b'\r\n+QLWCFG: "dataformat",(0,1),(0,1)\r\n\r\nOK\r\n'),
    ("AT+QLWRD=?", b"\r\n+QLWRD: (1-512)\r\n\r\nOK\r\n"),
    ("AT+QLWRD=512", b"\r\n+QLWRD: 0\r\n\r\nOK\r\n"),
    ("AT+QLWDATASTATUS?", b"\r\n+QLWDATASTATUS: 0\r\n\r\nOK\r\n"),
    ('AT+QLWSERV="180.101.147.115",5683', b"\r\nOK\r\n"),
    ('AT+QLWCFG="dataformat",0,1', b"\r\nOK\r\n"),
    ('AT+QLWCFG = "DATAFORMAT" , 1 , 1', b"\r\nOK\r\n"),
    ("AT+QLWDEL", b"\r\nOK\r\n"),
    ("AT+CMEE=1", b"\r\nOK\r\n"),
]


@pytest.mark.parametrize(("command", "answer"), ANSWERS, ids=[c for c, _ in ANSWERS])
async def test_answer_is_exact(
    sim: Bc26Simulator, at_host: Host, command: str, answer: bytes
) -> None:
    assert await at_host.command(command) == command.encode() + b"\r" + answer
    assert sim.commands[-1] == command


async def test_ate0_is_echoed_once_then_echo_is_off_until_ate1(
    sim: Bc26Simulator, at_host: Host
) -> None:
    assert await at_host.command("ATE0") == b"ATE0\r\r\nOK\r\n"
    assert not sim.echo
    assert await at_host.command("AT+CSQ") == b"\r\n+CSQ: 23,0\r\n\r\nOK\r\n"
    assert await at_host.command("ATE1") == b"\r\nOK\r\n"
    assert await at_host.command("AT") == b"AT\r\r\nOK\r\n"
    assert await at_host.command("ATE") == b"ATE\r\r\nOK\r\n"
    assert await at_host.command("AT") == b"\r\nOK\r\n"


@pytest.mark.parametrize("end", [b"\r", b"\r\n", b"\n"], ids=["cr", "crlf", "lf"])
async def test_command_terminators(at_host: Host, end: bytes) -> None:
    await at_host.send("AT+CGMR", end)
    assert (
        await at_host.read_until(b"OK\r\n") == b"AT+CGMR\r\r\nRevision: BC26NBR01A02\r\n\r\nOK\r\n"
    )
    assert await at_host.quiet()


async def test_cme_error_verbosity(sim: Bc26Simulator, at_host: Host) -> None:
    assert await at_host.command("AT+QLWOPEN=0") == b"AT+QLWOPEN=0\r\r\nERROR\r\n"
    await at_host.command("AT+CMEE=1")
    assert await at_host.command("AT+QLWOPEN=0") == b"AT+QLWOPEN=0\r\r\n+CME ERROR: 3\r\n"
    assert await at_host.command("AT+CMEE?") == b"AT+CMEE?\r\r\n+CMEE: 1\r\n\r\nOK\r\n"
    await at_host.command("AT+CMEE=2")
    assert await at_host.command("AT+QLWOPEN=0") == (
        b"AT+QLWOPEN=0\r\r\n+CME ERROR: operation not allowed\r\n"
    )
    await at_host.command("AT+CMEE=0")
    assert await at_host.command("AT+FOO") == b"AT+FOO\r\r\nERROR\r\n"


async def test_radio_state_is_settable_from_the_api(sim: Bc26Simulator, at_host: Host) -> None:
    await at_host.command("ATE0")
    sim.signal = (10, 99)
    sim.ip_address = None
    assert sim.signal == (10, 99)
    assert sim.ip_address is None
    assert await at_host.command("AT+CSQ") == b"\r\n+CSQ: 10,99\r\n\r\nOK\r\n"
    assert await at_host.command("AT+CGPADDR=1") == b"\r\n+CGPADDR: 1\r\n\r\nOK\r\n"
    sim.network_registration = 2  # no URC: AT+CEREG=0
    assert await at_host.command("AT+CEREG?") == b"\r\n+CEREG: 0,2\r\n\r\nOK\r\n"
    assert await at_host.command("AT+CEREG=1") == b"\r\nOK\r\n"
    sim.network_registration = 5
    sim.network_registration = 5  # unchanged: no second URC
    assert await at_host.read_until(b"\r\n+CEREG: 5\r\n") == b"\r\n+CEREG: 5\r\n"
    assert sim.network_registration == 5
    assert await at_host.command("AT+CEREG?") == b"\r\n+CEREG: 1,5\r\n\r\nOK\r\n"


async def test_imei_and_echo_default_come_from_the_constructor() -> None:
    simulator = Bc26Simulator(imei="123456789012345", echo=False, time_scale=0.001)
    await simulator.start_pty()
    port = await open_host(simulator.url)
    try:
        assert await port.command("AT+CGSN=1") == b"\r\n+CGSN: 123456789012345\r\n\r\nOK\r\n"
    finally:
        await port.close()
        await simulator.stop()


async def test_multi_line_answers_are_one_block(sim: Bc26Simulator, at_host: Host) -> None:
    """Information lines of one response are joined by a single CRLF, as Quectel does."""
    await at_host.command("ATE0")
    answer = await at_host.command("ATI")
    assert answer.count(b"\r\n\r\n") == 1


@pytest.mark.parametrize(
    "command",
    [
        "AT+QLWSERV",
        "AT+QLWCONF",
        "AT+QLWADDOBJ",
        "AT+QLWADDOBJ?",
        "AT+QLWADDOBJ=?",
        "AT+QLWDELOBJ",
        "AT+QLWDELOBJ?",
        "AT+QLWDELOBJ=?",
        "AT+QLWOPEN",
        "AT+QLWOPEN?",
        "AT+QLWOPEN=?",
        "AT+QLWUPDATE?",
        "AT+QLWUPDATE=?",
        "AT+QLWUPDATE=1",
        "AT+QLWCLOSE?",
        "AT+QLWCLOSE=?",
        "AT+QLWCLOSE=1",
        "AT+QLWDATASEND",
        "AT+QLWDATASEND?",
        "AT+QLWDATASEND=?",
        "AT+QLWDATASTATUS",
        "AT+QLWDATASTATUS=?",
        "AT+QLWDATASTATUS=1",
        "AT+QLWRD",
        "AT+QLWRD?",
        "AT+QLWCFG",
        "AT+QLWCFG?",
        "AT+QLWDEL?",
        "AT+QLWDEL=?",
        "AT+QLWDEL=1",
        "ATI0",
        "AT+CGMR?",
        "AT+CGSN",
        "AT+CSQ?",
        "AT+CEREG",
        "AT+CGPADDR?",
        "AT+CPIN",
        "AT+CFUN=1",
        "AT+CMEE",
        "AT+QRST",
    ],
)
async def test_forms_the_manual_does_not_list_are_not_supported(
    at_host: Host, command: str
) -> None:
    await at_host.command("AT+CMEE=1")
    assert await at_host.command(command) == command.encode() + b"\r\r\n+CME ERROR: 4\r\n"
