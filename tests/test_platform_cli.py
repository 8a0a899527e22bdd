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

from bc26sim import tlv
from bc26sim.lwm2m import Lwm2mClient
from bc26sim.network import ObjectInstance, SendOutcome
from bc26sim.platform import (
    ClientRegistration,
    ObservationEvent,
    ObserveTarget,
    RegistrationEvent,
    Uplink,
    describe,
    parse_path,
    parse_payload,
)
from bc26sim.platform.__main__ import parse_args
from bc26sim.platform.console import (
    Downlink,
    format_name,
    observe_text,
    parse_downlink,
    parse_observe,
)
from bc26sim.platform.server import OPAQUE, TEXT, TLV
from tests.lwm2m_fixtures import (
    ENDPOINT,
    OBJECTS,
    SCALE,
    WAIT,
    AtHost,
    RecordingModem,
    registration,
)

ROOT = Path(__file__).resolve().parents[1]
TEMPERATURE = (3303, 0, 5700)
CELSIUS = bytes.fromhex("4035800000000000")  # 21.5 as a TLV Float: IEEE 754, 8 bytes
CELSIUS_TLV = tlv.encode_resources([(5700, CELSIUS)])
IPSO_OBJECTS = (*OBJECTS, ObjectInstance(3303, 0, (5700,)))


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


async def test_typed_downlinks_and_observes_name_a_path_and_a_format(
    socket_enabled: None,
) -> None:
    modem = RecordingModem(((19, 0, 0), (19, 1, 0), TEMPERATURE))
    client = Lwm2mClient(time_scale=SCALE)
    client.attach(modem)
    args = ("--port", "0", "--time-scale", str(SCALE), "--observe", "3303/0/5700:text")
    async with running("bc26sim.platform", *args) as cli:
        port = int((await cli.expect(r"listening on coap://127\.0\.0\.1:(\d+)"))[1])
        await cli.expect(r"^observes /3303/0/5700:text after registration")
        try:
            assert await client.register(registration(port, objects=IPSO_OBJECTS))
            await cli.expect(rf"^observed {ENDPOINT} /3303/0/5700 \(2\.05\)")
            await modem.wait_for(lambda: modem.observed)
            assert modem.observe_calls == [(TEMPERATURE, False)]  # only what was asked

            assert await client.notify(TEMPERATURE, b"21.5", True) is SendOutcome.ACKNOWLEDGED
            await cli.expect(rf"^uplink {ENDPOINT} /3303/0/5700 CON seq \d+ text 4 bytes, ack")

            await cli.type_line("3303/0/5700 text 22")
            await cli.expect(rf"^downlink {ENDPOINT} /3303/0/5700 text 2 bytes: 3232 -> 2\.04$")
            await cli.type_line("3303/0/5700 tlv 4035800000000000")
            wire = tlv.encode_resources([(5700, CELSIUS)]).hex().upper()
            await cli.expect(rf"^downlink {ENDPOINT} /3303/0/5700 tlv 12 bytes: {wire} -> 2\.04$")
            await cli.type_line("3303/0/5701 text 1")
            await cli.expect(r"/3303/0/5701 text 1 bytes: 31 -> 4\.04$")
            await cli.type_line("19/1 tlv 00")
            await cli.expect(r"^downlink: tlv needs a resource path, not /19/1$")
            await cli.type_line("0102")  # a plain line, as before
            await cli.expect(rf"^downlink {ENDPOINT} /19/1/0 2 bytes: 0102 -> 2\.04$")
            assert modem.writes == [
                (TEMPERATURE, b"22"),
                (TEMPERATURE, CELSIUS),
                ((19, 1, 0), b"\x01\x02"),
            ]
        finally:
            await client.close()


async def test_periodic_downlink_as_a_typed_line(socket_enabled: None) -> None:
    modem = RecordingModem(((19, 0, 0), (19, 1, 0), TEMPERATURE))
    client = Lwm2mClient(time_scale=SCALE)
    client.attach(modem)
    line = "3303/0/5700 text 21.5"
    args = ("--port", "0", "--no-observe", "--downlink-every", "0.05", "--downlink-line", line)
    async with running("bc26sim.platform", *args) as cli:
        port = int((await cli.expect(r"coap://127\.0\.0\.1:(\d+)"))[1])
        try:
            assert await client.register(registration(port, objects=IPSO_OBJECTS))
            await cli.expect(rf"^downlink {ENDPOINT} /3303/0/5700 text 4 bytes: 32312E35 -> 2\.04$")
            await modem.wait_for(lambda: modem.writes)
            assert modem.writes[0] == (TEMPERATURE, b"21.5")
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
    text = Uplink("ep", TEMPERATURE, b"21.5", False, 9, TEXT, "ignore")
    assert describe(text) == "uplink ep /3303/0/5700 NON seq 9 text 4 bytes: 32312E35"
    assert describe(ObservationEvent("ended", "ep", (19, 0), "")) == "ended ep /19/0"


@pytest.mark.parametrize(
    ("text", "payload"),
    [("AAAA0000", b"\xaa\xaa\x00\x00"), ("aa", b"\xaa"), ("ABC", b"ABC"), ("on", b"on")],
)
def test_typed_downlinks(text: str, payload: bytes) -> None:
    assert parse_payload(text + "\n") == payload


def test_command_line_arguments() -> None:
    args = parse_args(["--observe", "19/0/0", "--observe", "/3303/0/5700:tlv"])
    assert args.observe == [ObserveTarget((19, 0, 0)), ObserveTarget((3303, 0, 5700), TLV)]
    assert args.downlink == Downlink((19, 1, 0), OPAQUE, bytes.fromhex("AAAA0000"))
    args = parse_args(["--downlink-path", "3303/0/5700", "--downlink-format", "tlv"])
    assert args.downlink == Downlink((3303, 0, 5700), TLV, b"\xe4\x16\x44\xaa\xaa\x00\x00")
    args = parse_args(["--downlink-line", "3311/0/5850 text 1"])
    assert args.downlink == Downlink((3311, 0, 5850), TEXT, b"1")
    assert parse_path("/19/1/0") == (19, 1, 0)
    with pytest.raises(ValueError, match="not an LwM2M path"):
        parse_path("19/x")
    with pytest.raises(ValueError, match="not an LwM2M path"):
        parse_path("65536/0")


@pytest.mark.parametrize(
    "argv",
    [
        ["--downlink-hex", "xyz"],
        ["--downlink-hex", "00", "--downlink-line", "00"],
        ["--downlink-format", "json"],
        ["--downlink-path", "19/1", "--downlink-format", "tlv"],  # TLV needs a resource
        ["--downlink-line", "19/1 tlv 00"],
        ["--observe", "19/0/0:cbor"],
        ["--observe", "19/0/0/0"],
    ],
)
def test_bad_command_lines(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(argv)


@pytest.mark.parametrize(
    ("line", "downlink"),
    [
        ("AAAA0000", Downlink((19, 1, 0), OPAQUE, b"\xaa\xaa\x00\x00")),  # as before
        ("hello world", Downlink((19, 1, 0), OPAQUE, b"hello world")),
        ("19/1/0", Downlink((19, 1, 0), OPAQUE, b"19/1/0")),  # a path alone is text
        ("a/b c", Downlink((19, 1, 0), OPAQUE, b"a/b c")),  # not a path: text
        ("3311/0/5850 01", Downlink((3311, 0, 5850), OPAQUE, b"\x01")),
        ("/3311/0/5850 on", Downlink((3311, 0, 5850), OPAQUE, b"on")),
        ("3303/0/5700 text 21.5", Downlink((3303, 0, 5700), TEXT, b"21.5")),
        ("3303/0/5700 TEXT 0A0B", Downlink((3303, 0, 5700), TEXT, b"0A0B")),  # never hex
        ("19/1/0 text two words", Downlink((19, 1, 0), TEXT, b"two words")),
        ("19/1/0 text", Downlink((19, 1, 0), OPAQUE, b"text")),  # no payload: not a format
        ("19/1/0 opaque 0102", Downlink((19, 1, 0), OPAQUE, b"\x01\x02")),
        ("19/1/1 tlv 0102", Downlink((19, 1, 1), TLV, b"\xc2\x01\x01\x02")),
        ("3303/0/5700 tlv 4035800000000000", Downlink((3303, 0, 5700), TLV, CELSIUS_TLV)),
        ("19/1 tlv 0102", None),  # TLV of a value needs a resource path
        ("1/2/3/4 x", None),
        ("70000/0/0 x", None),
    ],
)
def test_typed_downlinks_with_path_and_format(line: str, downlink: Downlink | None) -> None:
    if downlink is None:
        with pytest.raises(ValueError, match="path"):
            parse_downlink(line)
    else:
        assert parse_downlink(line) == downlink


def test_default_path_and_format_of_typed_lines() -> None:
    assert parse_downlink("21.5", (3303, 0, 5700), TEXT) == Downlink((3303, 0, 5700), TEXT, b"21.5")
    assert parse_downlink("19/1/0 00", (3303, 0, 5700), TEXT) == Downlink((19, 1, 0), TEXT, b"00")
    assert observe_text(parse_observe("3303/0/5700:text")) == "/3303/0/5700:text"
    assert observe_text(parse_observe("/19/0/0")) == "/19/0/0"
    assert format_name(TLV) == "tlv"
    assert format_name(11543) == "11543"
