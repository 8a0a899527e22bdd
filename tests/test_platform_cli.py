"""The command lines: `python -m bc26sim.platform` and `python -m bc26sim --with-platform`.

Both run as real processes; the test talks to them over CoAP, a pty and stdin.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
from pathlib import Path
import re
import signal
import sys

import pytest

from bc26sim.lwm2m import Lwm2mClient
from bc26sim.network import SendOutcome
from bc26sim.platform import (
    ClientRegistration,
    ObservationEvent,
    RegistrationEvent,
    Uplink,
    describe,
    parse_path,
    parse_payload,
)
from bc26sim.platform.__main__ import parse_args
from tests.lwm2m_fixtures import ENDPOINT, SCALE, WAIT, AtHost, RecordingModem, registration

ROOT = Path(__file__).resolve().parents[1]


class Process:
    """A child process whose standard output the test reads line by line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []

    async def expect(self, pattern: str) -> re.Match[str]:
        """Read lines until one matches `pattern` (a regular expression)."""
        assert self.process.stdout is not None
        async with asyncio.timeout(WAIT):
            while True:
                raw = await self.process.stdout.readline()
                assert raw, f"process ended; output so far: {self.lines}"
                line = raw.decode().rstrip("\n")
                self.lines.append(line)
                if match := re.search(pattern, line):
                    return match

    async def type_line(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text.encode() + b"\n")
        await self.process.stdin.drain()


@contextlib.asynccontextmanager
async def running(*args: str) -> AsyncIterator[Process]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        *args,
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        yield Process(process)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(WAIT):
            assert process.stdout is not None
            await process.stdout.read()
            await process.wait()
        assert process.returncode == 0


async def test_platform_command_line(socket_enabled: None) -> None:
    modem = RecordingModem()
    client = Lwm2mClient(time_scale=SCALE)
    client.attach(modem)
    async with running("bc26sim.platform", "--port", "0", "--time-scale", str(SCALE)) as cli:
        port = int((await cli.expect(r"listening on coap://127\.0\.0\.1:(\d+)"))[1])
        try:
            assert await client.register(registration(port))
            await cli.expect(rf"^registered {ENDPOINT} /rd/\w+ from 127\.0\.0\.1:\d+")
            await cli.expect(rf"^observed {ENDPOINT} /19/0/0 \(2\.05\)")
            await modem.wait_for(lambda: modem.observed)

            assert await client.notify((19, 0, 0), b"\x01\xf0", True) is SendOutcome.ACKNOWLEDGED
            await cli.expect(rf"^uplink {ENDPOINT} /19/0/0 CON seq \d+ 2 bytes, ack: 01F0$")

            await cli.type_line("AAAA0000")
            await cli.expect(rf"^downlink {ENDPOINT} /19/1/0 4 bytes: AAAA0000 -> 2\.04$")
            await cli.type_line("hello")
            await cli.expect(r"-> 2\.04$")
            assert modem.writes == [
                ((19, 1, 0), bytes.fromhex("AAAA0000")),
                ((19, 1, 0), b"hello"),
            ]
            assert await client.deregister()
            await cli.expect(rf"^deregistered {ENDPOINT}")
            await cli.type_line("0102")
            await cli.expect(r"^downlink: no device registered$")
        finally:
            await client.close()


async def test_platform_sends_periodic_downlinks(socket_enabled: None) -> None:
    modem = RecordingModem()
    client = Lwm2mClient(time_scale=SCALE)
    client.attach(modem)
    args = ("--port", "0", "--no-observe", "--downlink-every", "0.05", "--downlink-hex", "0102")
    async with running("bc26sim.platform", *args) as cli:
        port = int((await cli.expect(r"coap://127\.0\.0\.1:(\d+)"))[1])
        await cli.expect(r"observes nothing")
        try:
            assert await client.register(registration(port))
            await modem.wait_for(lambda: len(modem.writes) >= 2)
            assert set(modem.writes) == {((19, 1, 0), b"\x01\x02")}
            assert modem.observe_calls == []
        finally:
            await client.close()


async def test_simulator_with_platform(socket_enabled: None) -> None:
    """`python -m bc26sim --pty --with-platform`: one command, modem and platform."""
    args = ("bc26sim", "--pty", "--with-platform", "--platform-port", "0")
    async with running(*args, "--time-scale", str(SCALE)) as cli:
        pty = (await cli.expect(r"^(/dev/\S+)$"))[1]
        port = (await cli.expect(r"^LwM2M platform on coap://127\.0\.0\.1:(\d+)$"))[1]
        await cli.expect(rf'^configure the module with AT\+QLWSERV="127\.0\.0\.1",{port}$')
        host = await AtHost.open(pty)
        try:
            assert await host.command(f'AT+QLWSERV="127.0.0.1",{port}') == ["OK"]
            assert await host.command(f'AT+QLWCONF="{ENDPOINT}"') == ["OK"]
            assert await host.command('AT+QLWADDOBJ=19,0,1,"0"') == ["OK"]
            assert await host.command("AT+QLWOPEN=0") == ["OK"]
            await host.expect("CONNECT OK")
            await host.expect("+QLWOBSERVE: 0,19,0,0")
            await cli.expect(rf"^registered {ENDPOINT} ")
            assert await host.command("AT+QLWDATASEND=19,0,0,2,hi,0x0000") == ["OK"]
            await cli.expect(rf"^uplink {ENDPOINT} /19/0/0 NON seq \d+ 2 bytes: 6869$")
        finally:
            await host.close()


def test_console_lines() -> None:
    registration_ = ClientRegistration(
        endpoint="ep", location="/rd/1", lifetime=60, binding="U", version="1.0",
        objects=("/19/0",), address=("127.0.0.1", 4000),
    )  # fmt: skip
    assert describe(RegistrationEvent("registered", registration_)) == (
        "registered ep /rd/1 from 127.0.0.1:4000 lifetime 60 s objects /19/0"
    )
    assert describe(RegistrationEvent("expired", registration_)) == (
        "expired ep /rd/1 from 127.0.0.1:4000"
    )
    non = Uplink("ep", (19, 0, 0), b"\x00\xff", False, 7, 42, "ignore")
    assert describe(non) == "uplink ep /19/0/0 NON seq 7 2 bytes: 00FF"
    reset = Uplink("ep", (19, 0, 0), b"", True, 8, 42, "reset")
    assert describe(reset) == "uplink ep /19/0/0 CON seq 8 0 bytes, reset: "
    assert describe(ObservationEvent("ended", "ep", (19, 0), "")) == "ended ep /19/0"


@pytest.mark.parametrize(
    ("text", "payload"),
    [("AAAA0000", b"\xaa\xaa\x00\x00"), ("aa", b"\xaa"), ("ABC", b"ABC"), ("on", b"on")],
)
def test_typed_downlinks(text: str, payload: bytes) -> None:
    assert parse_payload(text + "\n") == payload


def test_command_line_arguments() -> None:
    args = parse_args(["--observe", "19/0/0", "--observe", "/3/0", "--downlink-hex", "0A"])
    assert args.observe == [(19, 0, 0), (3, 0)]
    assert args.downlink_payload == b"\n"
    assert parse_path("/19/1/0") == (19, 1, 0)
    with pytest.raises(ValueError, match="not an LwM2M path"):
        parse_path("19/x")
    with pytest.raises(SystemExit):
        parse_args(["--downlink-hex", "xyz"])
