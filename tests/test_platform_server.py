"""The local platform's registration interface and bookkeeping, over real CoAP.

Registrations come from the real LwM2M client, or from a bare CoAP endpoint where
a test needs to send what a correct client never would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiocoap
from aiocoap.numbers.codes import Code
import pytest

from bc26sim.coap import CoapEndpoint
from bc26sim.lwm2m import Lwm2mClient
from bc26sim.network import ObjectInstance, SendOutcome
from bc26sim.platform import LwM2mPlatform, PlatformEvent, RegistrationEvent
from tests.lwm2m_fixtures import ENDPOINT, SCALE, WAIT, RecordingModem, registration


async def _not_found(request: aiocoap.Message) -> aiocoap.Message:
    return aiocoap.Message(code=Code.NOT_FOUND)


@pytest.fixture
async def raw(socket_enabled: None) -> AsyncIterator[CoapEndpoint]:
    """A bare CoAP endpoint, for requests a correct LwM2M client would not send."""
    endpoint = await CoapEndpoint.open(_not_found, "127.0.0.1", 0, time_scale=SCALE, name="raw")
    yield endpoint
    await endpoint.close()


async def send(
    raw: CoapEndpoint,
    platform: LwM2mPlatform,
    code: Code,
    path: tuple[str, ...],
    query: tuple[str, ...] = (),
    payload: bytes = b"",
) -> aiocoap.Message:
    message = aiocoap.Message(
        code=code, uri_path=path, uri_query=query, payload=payload, transport_tuning=raw.tuning()
    )
    message.remote = raw.remote("127.0.0.1", platform.port)
    async with asyncio.timeout(WAIT):
        return await raw.request(message)


@pytest.mark.parametrize(
    ("code", "path", "query", "expected"),
    [
        (Code.POST, ("rd",), ("lt=60",), Code.BAD_REQUEST),  # no endpoint name
        (Code.POST, ("rd",), ("ep=x", "lt=soon"), Code.BAD_REQUEST),
        (Code.POST, ("rd",), ("ep=x", "lt=0"), Code.BAD_REQUEST),
        (Code.GET, ("rd",), (), Code.METHOD_NOT_ALLOWED),
        (Code.POST, ("rd", "nope"), (), Code.NOT_FOUND),
        (Code.DELETE, ("rd", "nope"), (), Code.NOT_FOUND),
        (Code.GET, ("bs",), (), Code.NOT_FOUND),
    ],
)
async def test_bad_registration_requests(
    raw: CoapEndpoint,
    iot_platform: LwM2mPlatform,
    code: Code,
    path: tuple[str, ...],
    query: tuple[str, ...],
    expected: Code,
) -> None:
    response = await send(raw, iot_platform, code, path, query)
    assert response.code == expected
    assert dict(iot_platform.registrations) == {}


async def test_register_defaults_update_and_deregister(
    raw: CoapEndpoint, iot_platform: LwM2mPlatform
) -> None:
    created = await send(raw, iot_platform, Code.POST, ("rd",), ("ep=dev",), b"</3/0>,</19/0>")
    assert created.code == Code.CREATED
    location = "/" + "/".join(created.opt.location_path)
    registered = iot_platform.registrations["dev"]
    assert (registered.location, registered.lifetime, registered.binding) == (location, 86400, "U")
    assert registered.objects == ("/3/0", "/19/0")
    assert registered.address == ("127.0.0.1", raw.port)

    path = tuple(created.opt.location_path)
    wrong = await send(raw, iot_platform, Code.PUT, path)
    assert wrong.code == Code.METHOD_NOT_ALLOWED
    updated = await send(raw, iot_platform, Code.POST, path, ("lt=120", "b=UQ"), b"</19/1>")
    assert updated.code == Code.CHANGED
    registered = iot_platform.registrations["dev"]
    assert (registered.lifetime, registered.binding, registered.objects) == (120, "UQ", ("/19/1",))
    assert registered.updates == 1
    bad_update = await send(raw, iot_platform, Code.POST, path, ("lt=x",))
    assert bad_update.code == Code.BAD_REQUEST

    deleted = await send(raw, iot_platform, Code.DELETE, path)
    assert deleted.code == Code.DELETED
    assert "dev" not in iot_platform.registrations
    gone = await send(raw, iot_platform, Code.POST, path)
    assert gone.code == Code.NOT_FOUND


async def test_registration_expires_after_its_lifetime(
    raw: CoapEndpoint, iot_platform: LwM2mPlatform
) -> None:
    events: list[PlatformEvent] = []
    iot_platform._on_event = events.append
    created = await send(raw, iot_platform, Code.POST, ("rd",), ("ep=brief", "lt=2"))
    assert created.code == Code.CREATED

    async with asyncio.timeout(WAIT):
        await iot_platform.wait_for(lambda: "brief" not in iot_platform.registrations)
    kinds = [e.kind for e in events if isinstance(e, RegistrationEvent)]
    assert kinds == ["registered", "expired"]


async def test_registering_again_replaces_the_old_registration(
    raw: CoapEndpoint, iot_platform: LwM2mPlatform
) -> None:
    first = await send(raw, iot_platform, Code.POST, ("rd",), ("ep=dev",))
    second = await send(raw, iot_platform, Code.POST, ("rd",), ("ep=dev",))
    assert first.opt.location_path != second.opt.location_path
    stale = await send(raw, iot_platform, Code.POST, tuple(first.opt.location_path))
    assert stale.code == Code.NOT_FOUND
    assert len(iot_platform.registrations) == 1


async def test_number_of_registered_devices_is_bounded(raw: CoapEndpoint) -> None:
    platform = await LwM2mPlatform.start("127.0.0.1", 0, time_scale=SCALE, max_clients=1)
    try:
        assert (await send(raw, platform, Code.POST, ("rd",), ("ep=a",))).code == Code.CREATED
        full = await send(raw, platform, Code.POST, ("rd",), ("ep=b",))
        assert full.code == Code.SERVICE_UNAVAILABLE
        again = await send(raw, platform, Code.POST, ("rd",), ("ep=a",))
        assert again.code == Code.CREATED  # the known device may register again
    finally:
        await platform.stop()


async def test_uplink_history_is_bounded(socket_enabled: None) -> None:
    platform = await LwM2mPlatform.start("127.0.0.1", 0, time_scale=SCALE, history=2)
    modem = RecordingModem()
    client = Lwm2mClient(time_scale=SCALE)
    client.attach(modem)
    try:
        assert await client.register(registration(platform.port))
        async with asyncio.timeout(WAIT):
            await platform.wait_for(lambda: platform.observations(ENDPOINT))
        for value in (b"1", b"2", b"3"):
            assert await client.notify((19, 0, 0), value, confirmable=True) is (
                SendOutcome.ACKNOWLEDGED
            )
        assert [u.payload for u in platform.uplinks] == [b"2", b"3"]
        assert platform.uplink_count == 3
    finally:
        await client.close()
        await platform.stop()


async def test_observes_only_what_is_configured_and_declared(socket_enabled: None) -> None:
    platform = await LwM2mPlatform.start(
        "127.0.0.1",
        0,
        time_scale=SCALE,
        observe=[(19, 0, 0), (19, 1, 0), (3, 0, 0)],
        observe_delay=1.0,
    )
    modem = RecordingModem()
    client = Lwm2mClient(time_scale=SCALE)
    client.attach(modem)
    try:
        assert await client.register(registration(platform.port))
        async with asyncio.timeout(WAIT):
            await platform.wait_for(lambda: len(platform.observations(ENDPOINT)) == 2)
        # /3/0/0 was not registered, so the platform did not try it.
        assert platform.observations(ENDPOINT) == {(19, 0, 0), (19, 1, 0)}
        assert {path for path, _ in modem.observe_calls} == {(19, 0, 0), (19, 1, 0)}
    finally:
        await client.close()
        await platform.stop()


async def test_observe_nothing(socket_enabled: None) -> None:
    platform = await LwM2mPlatform.start("127.0.0.1", 0, time_scale=SCALE, observe=())
    client = Lwm2mClient(time_scale=SCALE)
    modem = RecordingModem()
    client.attach(modem)
    try:
        assert await client.register(
            registration(platform.port, objects=(ObjectInstance(19, 0, (0,)),))
        )
        assert (await platform.read(ENDPOINT, (19, 0, 0))).code == "2.05"
        assert platform.observations(ENDPOINT) == set()
        assert modem.observe_calls == []
    finally:
        await client.close()
        await platform.stop()


async def test_requests_to_unknown_devices(iot_platform: LwM2mPlatform) -> None:
    with pytest.raises(LookupError):
        await iot_platform.write("nobody", (19, 1, 0), b"x")
    with pytest.raises(LookupError):
        await iot_platform.observe("nobody", (19, 0, 0))
    with pytest.raises(LookupError):
        await iot_platform.cancel_observe("nobody", (19, 0, 0))
    assert iot_platform.observations("nobody") == set()


async def test_device_that_went_away_times_out(raw: CoapEndpoint, socket_enabled: None) -> None:
    """A registered address that receives but never answers: the observe times out."""
    platform = await LwM2mPlatform.start("127.0.0.1", 0, time_scale=SCALE / 5, observe=())
    try:
        created = await send(raw, platform, Code.POST, ("rd",), ("ep=mute",), b"</19/0>")
        assert created.code == Code.CREATED
        await raw.close()  # ICMP port unreachable from now on
        with pytest.raises(ConnectionError):
            await platform.observe("mute", (19, 0, 0))
        assert platform.observations("mute") == set()
    finally:
        await platform.stop()


async def test_stopped_platform_refuses_work(socket_enabled: None) -> None:
    platform = await LwM2mPlatform.start("127.0.0.1", 0, time_scale=SCALE)
    await platform.stop()
    with pytest.raises(RuntimeError):
        _ = platform.port
    await platform.stop()  # twice is fine


async def test_forget_drops_a_registration_without_telling_the_device(
    raw: CoapEndpoint, iot_platform: LwM2mPlatform
) -> None:
    events: list[PlatformEvent] = []
    iot_platform._on_event = events.append
    created = await send(raw, iot_platform, Code.POST, ("rd",), ("ep=dev",))
    assert iot_platform.forget("dev")
    assert not iot_platform.forget("dev")
    assert "dev" not in iot_platform.registrations
    update = await send(raw, iot_platform, Code.POST, tuple(created.opt.location_path))
    assert update.code == Code.NOT_FOUND  # the device learns it only when it asks
    assert [e.kind for e in events if isinstance(e, RegistrationEvent)] == [
        "registered",
        "forgotten",
    ]


async def test_deregistration_can_be_answered_late(
    raw: CoapEndpoint, iot_platform: LwM2mPlatform
) -> None:
    iot_platform.deregister_delay = 10.0  # 0.2 s at the test scale
    created = await send(raw, iot_platform, Code.POST, ("rd",), ("ep=dev",))
    path = tuple(created.opt.location_path)
    deleting = asyncio.create_task(send(raw, iot_platform, Code.DELETE, path))
    await asyncio.sleep(0.05)
    assert "dev" in iot_platform.registrations  # still known while the answer is delayed
    assert (await deleting).code == Code.DELETED
    assert "dev" not in iot_platform.registrations
