"""The client's device-management interface, driven by a bare CoAP endpoint.

The platform only sends what a well-behaved server sends; here the test sends the
rest of what LwM2M 1.0 servers may send (Write-Attributes, Execute, Delete,
Discover, Accept variants, odd paths) to the registered client.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiocoap
from aiocoap.numbers.codes import Code
import pytest

from bc26sim import tlv
from bc26sim.coap import Answer, CoapEndpoint
from bc26sim.lwm2m import TLV
from bc26sim.network import SendOutcome
from tests.lwm2m_fixtures import SCALE, WAIT, Lwm2mRig, registration


async def _not_found(request: aiocoap.Message) -> aiocoap.Message:
    return aiocoap.Message(code=Code.NOT_FOUND)


@pytest.fixture
async def server(lwm2m: Lwm2mRig) -> AsyncIterator[CoapEndpoint]:
    """A bare endpoint aimed at the client, which is registered with the platform."""
    assert await lwm2m.client.register(registration(lwm2m.platform.port))
    endpoint = await CoapEndpoint.open(_not_found, "127.0.0.1", 0, time_scale=SCALE, name="srv")
    yield endpoint
    await endpoint.close()


async def ask(
    server: CoapEndpoint,
    lwm2m: Lwm2mRig,
    code: Code,
    path: tuple[str, ...],
    **options: object,
) -> aiocoap.Message:
    message = aiocoap.Message(code=code, uri_path=path, transport_tuning=server.tuning(), **options)
    assert lwm2m.client.local_port is not None
    message.remote = server.remote("127.0.0.1", lwm2m.client.local_port)
    async with asyncio.timeout(WAIT):
        return await server.request(message)


@pytest.mark.parametrize(
    ("code", "path", "options", "expected"),
    [
        (Code.POST, ("19", "1", "0"), {}, Code.METHOD_NOT_ALLOWED),  # Execute
        (Code.DELETE, ("19", "1"), {}, Code.METHOD_NOT_ALLOWED),
        (Code.POST, ("19",), {"payload": b"\x00"}, Code.METHOD_NOT_ALLOWED),  # Create
        (Code.DELETE, ("5", "0"), {}, Code.NOT_FOUND),
        (Code.GET, ("19", "0", "0", "0"), {}, Code.NOT_FOUND),  # resource instance
        (Code.GET, ("rd",), {}, Code.NOT_FOUND),
        (Code.GET, (), {}, Code.NOT_FOUND),
        (Code.GET, ("19", "0"), {"accept": 42}, Code.NOT_ACCEPTABLE),
        (Code.PUT, ("19", "1"), {"payload": b"\x01", "content_format": 42}, 0x8F),  # 4.15
        (Code.PUT, ("19", "1"), {"payload": b"\x01", "content_format": 0}, 0x8F),
        (Code.PUT, ("19", "1", "0"), {"uri_query": ("pmin=10",)}, Code.CHANGED),  # attributes
        (Code.PUT, ("19", "7"), {"uri_query": ("pmax=60",)}, Code.NOT_FOUND),
    ],
)
async def test_device_management_requests(
    server: CoapEndpoint,
    lwm2m: Lwm2mRig,
    code: Code,
    path: tuple[str, ...],
    options: dict[str, object],
    expected: int,
) -> None:
    response = await ask(server, lwm2m, code, path, **options)
    assert response.code == expected
    assert lwm2m.modem.writes == []


async def test_discover(server: CoapEndpoint, lwm2m: Lwm2mRig) -> None:
    on_instance = await ask(server, lwm2m, Code.GET, ("19", "1"), accept=40)
    assert (on_instance.code, on_instance.payload) == (Code.CONTENT, b"</19/1>,</19/1/0>")
    on_resource = await ask(server, lwm2m, Code.GET, ("19", "1", "0"), accept=40)
    assert on_resource.payload == b"</19/1/0>"


async def test_tlv_write_to_an_instance_and_tlv_read_of_a_resource(
    server: CoapEndpoint, lwm2m: Lwm2mRig
) -> None:
    written = await ask(
        server,
        lwm2m,
        Code.POST,  # partial update of the instance
        ("19", "1"),
        payload=tlv.encode_resources([(0, b"\xaa")]),
        content_format=TLV,
    )
    assert written.code == Code.CHANGED
    assert lwm2m.modem.writes == [((19, 1, 0), b"\xaa")]

    read = await ask(server, lwm2m, Code.GET, ("19", "1", "0"), accept=TLV)
    assert read.opt.content_format == TLV
    assert tlv.resource_values(read.payload) == {0: b"\xaa"}


async def test_tlv_observation_of_a_resource(server: CoapEndpoint, lwm2m: Lwm2mRig) -> None:
    """An observe with Accept: TLV gets TLV notifications."""
    # The platform's own observation of /19/0/0 comes first; ours replaces it.
    await lwm2m.modem.wait_for(lambda: lwm2m.modem.observed)
    notifications: list[aiocoap.Message] = []
    token = b"\x01\x02\x03\x04"

    def record(message: aiocoap.Message) -> Answer:
        notifications.append(message)
        return "ack"

    server.route(token, record)
    message = aiocoap.Message(
        code=Code.GET, uri_path=("19", "0", "0"), observe=0, accept=TLV,
        transport_tuning=server.tuning(True),
    )  # fmt: skip
    message.token = token
    assert lwm2m.client.local_port is not None
    message.remote = server.remote("127.0.0.1", lwm2m.client.local_port)
    message.mtype = aiocoap.CON
    assert await server.send(message) is SendOutcome.ACKNOWLEDGED

    assert await lwm2m.client.notify((19, 0, 0), b"\x09", confirmable=True) is (
        SendOutcome.ACKNOWLEDGED
    )
    first, notification = notifications
    assert first.opt.observe is not None
    assert notification.opt.content_format == TLV
    assert tlv.resource_values(notification.payload) == {0: b"\x09"}
    assert notification.opt.observe > first.opt.observe


async def test_notification_to_a_vanished_platform_fails(lwm2m: Lwm2mRig) -> None:
    """ICMP port unreachable for a CON notification: SEND FAIL with status 2."""
    assert await lwm2m.client.register(registration(lwm2m.platform.port))
    await lwm2m.modem.wait_for(lambda: lwm2m.modem.observed)
    async with asyncio.timeout(WAIT):
        await lwm2m.platform.wait_for(lambda: lwm2m.platform.observations("867724030023557"))
    await lwm2m.platform.stop()

    assert await lwm2m.client.notify((19, 0, 0), b"\x01", confirmable=True) is (SendOutcome.FAILED)
    assert not await lwm2m.client.deregister()  # CLOSE FAIL; the registration stays
    assert lwm2m.client.registered
