"""Content formats, end to end: what a server's write becomes on the serial line,
and what the host's AT+QLWDATASEND becomes for an observer that asked a format.

The decision and its evidence are in `bc26sim.lwm2m` ("Content formats"). A host
on a real pseudo-terminal, the virtual BC26 with its real LwM2M client, real CoAP
on loopback to `bc26sim.platform`.
"""

from __future__ import annotations

import asyncio
import struct

import pytest

from bc26sim import Bc26Simulator, tlv
from bc26sim.lwm2m import (
    JSON,
    LEGACY_OPAQUE,
    LEGACY_TEXT,
    LEGACY_TLV,
    OPAQUE,
    TEXT,
    TLV,
)
from bc26sim.platform import LwM2mPlatform
from tests.lwm2m_fixtures import WAIT, AtHost, declare_and_register, quiet

ENDPOINT = "867724030023557"
TEMPERATURE = (3303, 0, 5700)
DECLARATIONS = ('19,0,1,"0"', '19,1,1,"0"', '3303,0,1,"5700"')
CELSIUS = struct.pack(">d", 21.5)  # a Float as TLV carries it: 8 bytes IEEE 754, big-endian
CELSIUS_TLV = tlv.encode_resources([(5700, CELSIUS)])
TEXT_TLV = tlv.encode_resources([(5700, b"21.5")])


@pytest.fixture
async def declared(
    coap_sim: tuple[Bc26Simulator, AtHost], iot_platform: LwM2mPlatform
) -> tuple[AtHost, LwM2mPlatform]:
    _, host = coap_sim
    await declare_and_register(host, iot_platform, DECLARATIONS)
    return host, iot_platform


@pytest.mark.parametrize(
    ("content_format", "payload", "urc"),
    [
        # text/plain: the text's bytes, not decoded ("21.5" is 4 bytes)
        (TEXT, b"21.5", "+QLWDATARECV: 3303,0,5700,4,32312E35"),
        (LEGACY_TEXT, b"-3", "+QLWDATARECV: 3303,0,5700,2,2D33"),
        # opaque: the bytes
        (OPAQUE, CELSIUS, "+QLWDATARECV: 3303,0,5700,8,4035800000000000"),
        (LEGACY_OPAQUE, b"\x00", "+QLWDATARECV: 3303,0,5700,1,00"),
        # TLV: the resource entry's value, without the TLV header
        (TLV, CELSIUS_TLV, "+QLWDATARECV: 3303,0,5700,8,4035800000000000"),
        (LEGACY_TLV, TEXT_TLV, "+QLWDATARECV: 3303,0,5700,4,32312E35"),
    ],
)
async def test_a_write_in_each_format_reaches_the_host(
    declared: tuple[AtHost, LwM2mPlatform], content_format: int, payload: bytes, urc: str
) -> None:
    host, platform = declared
    reply = await platform.write(ENDPOINT, TEMPERATURE, payload, content_format=content_format)
    assert reply.code == "2.04"
    await host.expect(urc)


async def test_a_text_write_in_text_data_format(declared: tuple[AtHost, LwM2mPlatform]) -> None:
    """With AT+QLWCFG="dataformat",1,0 the host reads the text itself."""
    host, platform = declared
    assert await host.command('AT+QLWCFG="dataformat",1,0') == ["OK"]
    assert (await platform.write(ENDPOINT, TEMPERATURE, b"21.5", content_format=TEXT)).ok
    await host.expect("+QLWDATARECV: 3303,0,5700,4,21.5")


async def test_a_tlv_write_in_buffer_access_mode(
    coap_sim: tuple[Bc26Simulator, AtHost], iot_platform: LwM2mPlatform
) -> None:
    _, host = coap_sim
    await declare_and_register(host, iot_platform, DECLARATIONS, mode=1)
    reply = await iot_platform.write(ENDPOINT, TEMPERATURE, CELSIUS_TLV, content_format=TLV)
    assert reply.ok
    await host.expect("+QLWDATARECV: 3303,0,5700,8")
    assert await host.command("AT+QLWRD=512") == ["+QLWRD: 8,0", "4035800000000000", "OK"]


@pytest.mark.parametrize(
    ("path", "content_format", "payload"),
    [
        (TEMPERATURE, JSON, b'{"bn":"/3303/0/5700","e":[{"v":21.5}]}'),
        (TEMPERATURE, 1543, b'{"e":[{"n":"","v":21.5}]}'),  # legacy JSON
        (TEMPERATURE, 60, b"\xf9\x4d\x60"),  # CBOR (LwM2M 1.1)
        (TEMPERATURE, 110, b'[{"n":"/3303/0/5700","v":21.5}]'),  # SenML JSON (1.1)
        (TEMPERATURE, 50, b"{}"),  # application/json: not an LwM2M format
        ((3303, 0), TEXT, b"21.5"),  # text and opaque carry one resource only
        ((3303, 0), OPAQUE, b"\x01"),
    ],
)
async def test_formats_the_module_does_not_take_are_415(
    declared: tuple[AtHost, LwM2mPlatform],
    path: tuple[int, ...],
    content_format: int,
    payload: bytes,
) -> None:
    host, platform = declared
    reply = await platform.write(ENDPOINT, path, payload, content_format=content_format)
    assert reply.code == "4.15"
    assert await quiet(host)


@pytest.mark.parametrize(
    ("accept", "sent", "notified"),
    [
        (None, CELSIUS, CELSIUS),  # no Accept: opaque
        (OPAQUE, CELSIUS, CELSIUS),
        (TEXT, b"21.5", b"21.5"),
        (TLV, CELSIUS, CELSIUS_TLV),
    ],
)
async def test_notifications_take_the_format_the_observer_asked(
    declared: tuple[AtHost, LwM2mPlatform],
    accept: int | None,
    sent: bytes,
    notified: bytes,
) -> None:
    host, platform = declared
    answered_as = OPAQUE if accept is None else accept
    first = await platform.observe(ENDPOINT, TEMPERATURE, accept=accept)
    assert (first.code, first.content_format) == ("2.05", answered_as)
    await host.expect("+QLWOBSERVE: 0,3303,0,5700")

    send = f"AT+QLWDATASEND=3303,0,5700,{len(sent)},{sent.hex().upper()},0x0100"
    assert await host.command(send) == ["OK"]
    await host.expect("SEND OK")
    async with asyncio.timeout(WAIT):
        uplink = await platform.wait_uplink(lambda u: u.path == TEMPERATURE)
    assert (uplink.content_format, uplink.payload) == (answered_as, notified)

    # A Read answers in the asked format too, with the value the host sent last.
    read = await platform.read(ENDPOINT, TEMPERATURE, accept=accept)
    assert (read.content_format, read.payload) == (answered_as, notified)

    # Cancelling (Observe: 1) ends the observation on the host.
    assert (await platform.cancel_observe(ENDPOINT, TEMPERATURE)).code == "2.05"
    await host.expect("+QLWOBSERVE: 1,3303,0,5700")


@pytest.mark.parametrize(
    ("path", "accept"),
    [
        (TEMPERATURE, JSON),
        (TEMPERATURE, 60),
        ((3303, 0), TEXT),  # text carries one resource only
        ((3303, 0), OPAQUE),
    ],
)
async def test_observes_asking_a_format_the_module_does_not_give_are_406(
    declared: tuple[AtHost, LwM2mPlatform], path: tuple[int, ...], accept: int
) -> None:
    host, platform = declared
    assert (await platform.observe(ENDPOINT, path, accept=accept)).code == "4.06"
    assert platform.observations(ENDPOINT) == {(19, 0, 0)}
    assert await quiet(host)


async def test_an_instance_observed_as_tlv(declared: tuple[AtHost, LwM2mPlatform]) -> None:
    host, platform = declared
    assert (await platform.observe(ENDPOINT, (3303, 0), accept=TLV)).code == "2.05"
    await host.expect("+QLWOBSERVE: 0,3303,0,-1")
    assert await host.command(f"AT+QLWDATASEND=3303,0,5700,8,{CELSIUS.hex()},0x0000") == ["OK"]
    async with asyncio.timeout(WAIT):
        uplink = await platform.wait_uplink(lambda u: u.path == (3303, 0))
    assert uplink.content_format == TLV
    assert tlv.resource_values(uplink.payload) == {5700: CELSIUS}
