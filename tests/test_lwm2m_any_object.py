"""Any object, not only /19: IPSO resources declared with AT+QLWADDOBJ, end to end.

A host on a real pseudo-terminal declares objects; the virtual BC26 registers them
over real CoAP with `bc26sim.platform`, which observes, writes and reads any path.
What was not declared is refused with 4.04, as a real client refuses it, and
nothing reaches the serial line.
"""

from __future__ import annotations

import asyncio

import pytest

from bc26sim import Bc26Simulator, tlv
from bc26sim.lwm2m import TLV
from bc26sim.platform import LwM2mPlatform
from tests.lwm2m_fixtures import WAIT, AtHost, declare_and_register, quiet

ENDPOINT = "867724030023557"
# The /19 pair with a second writable resource, and one IPSO resource per object:
# temperature (reported by the host), light on/off and digital input.
DECLARATIONS = (
    '19,0,1,"0"',
    '19,1,2,"0;1"',
    '3303,0,1,"5700"',
    '3311,0,1,"5850"',
    '3200,0,1,"5500"',
)


@pytest.fixture
async def declared(
    coap_sim: tuple[Bc26Simulator, AtHost], iot_platform: LwM2mPlatform
) -> tuple[AtHost, LwM2mPlatform]:
    _, host = coap_sim
    await declare_and_register(host, iot_platform, DECLARATIONS)
    return host, iot_platform


async def test_registration_lists_every_declared_instance(
    declared: tuple[AtHost, LwM2mPlatform],
) -> None:
    _, platform = declared
    assert platform.registrations[ENDPOINT].objects == (
        "/19/0",
        "/19/1",
        "/3303/0",
        "/3311/0",
        "/3200/0",
    )
    discovered = await platform.read(ENDPOINT, (19, 1), accept=40)
    assert discovered.payload == b"</19/1>,</19/1/0>,</19/1/1>"


@pytest.mark.parametrize(
    ("path", "payload", "urc"),
    [
        ((3311, 0, 5850), b"\x01", "+QLWDATARECV: 3311,0,5850,1,01"),
        ((3200, 0, 5500), b"\x00", "+QLWDATARECV: 3200,0,5500,1,00"),
        ((3303, 0, 5700), b"21.5", "+QLWDATARECV: 3303,0,5700,4,32312E35"),
        ((19, 1, 1), b"\xaa\xbb", "+QLWDATARECV: 19,1,1,2,AABB"),  # the second resource
    ],
)
async def test_writes_to_declared_resources_reach_the_host(
    declared: tuple[AtHost, LwM2mPlatform], path: tuple[int, int, int], payload: bytes, urc: str
) -> None:
    host, platform = declared
    assert (await platform.write(ENDPOINT, path, payload)).code == "2.04"
    await host.expect(urc)
    read = await platform.read(ENDPOINT, path)
    assert (read.code, read.payload) == ("2.05", payload)


@pytest.mark.parametrize(
    "path",
    [
        (3303, 0, 5701),  # a resource of a declared instance that was not declared
        (3303, 1, 5700),  # an instance that was not declared
        (3311, 0, 5851),
        (3200, 0, 5501),
        (3201, 0, 5550),  # an object that was not declared
        (19, 1, 2),  # past the second writable resource of /19/1
    ],
)
async def test_undeclared_paths_are_not_found_and_reach_nobody(
    declared: tuple[AtHost, LwM2mPlatform], path: tuple[int, int, int]
) -> None:
    host, platform = declared
    assert (await platform.write(ENDPOINT, path, b"\x01")).code == "4.04"
    assert (await platform.observe(ENDPOINT, path)).code == "4.04"
    assert (await platform.read(ENDPOINT, path)).code == "4.04"
    assert await quiet(host)


async def test_a_tlv_write_with_one_undeclared_resource_delivers_nothing(
    declared: tuple[AtHost, LwM2mPlatform],
) -> None:
    host, platform = declared
    both = tlv.encode_resources([(0, b"\x01"), (7, b"\x02")])
    reply = await platform.write(ENDPOINT, (19, 1), both, content_format=TLV)
    assert reply.code == "4.04"
    assert await quiet(host)

    declared_pair = tlv.encode_resources([(0, b"\x01"), (1, b"\x02")])
    reply = await platform.write(ENDPOINT, (19, 1), declared_pair, content_format=TLV)
    assert reply.code == "2.04"
    await host.expect("+QLWDATARECV: 19,1,0,1,01")
    await host.expect("+QLWDATARECV: 19,1,1,1,02")


async def test_the_platform_observes_an_ipso_resource_and_the_host_reports_it(
    declared: tuple[AtHost, LwM2mPlatform],
) -> None:
    host, platform = declared
    assert (await platform.observe(ENDPOINT, (3303, 0, 5700))).code == "2.05"
    await host.expect("+QLWOBSERVE: 0,3303,0,5700")
    assert await host.command("AT+QLWDATASEND=3303,0,5700,4,32312E35,0x0100") == ["OK"]
    await host.expect("SEND OK")
    async with asyncio.timeout(WAIT):
        uplink = await platform.wait_uplink(lambda u: u.path == (3303, 0, 5700))
    assert (uplink.payload, uplink.confirmable) == (b"21.5", True)

    # Observing the whole instance covers the resource: +QLWOBSERVE with -1 (manual 4.1).
    assert (await platform.observe(ENDPOINT, (3311, 0))).code == "2.05"
    await host.expect("+QLWOBSERVE: 0,3311,0,-1")
    await platform.cancel_observe(ENDPOINT, (3311, 0))
    await host.expect("+QLWOBSERVE: 1,3311,0,-1")
