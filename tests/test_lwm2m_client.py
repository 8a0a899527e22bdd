"""The LwM2M client against the local platform, over real CoAP on loopback.

The AT side is replaced by `RecordingModem`, the other side of `bc26sim.network`.
"""

from __future__ import annotations

import asyncio

import pytest

from bc26sim import tlv
from bc26sim.lwm2m import JSON, OPAQUE, TEXT, TLV, Lwm2mClient
from bc26sim.network import ObjectInstance, SendOutcome
from bc26sim.platform import LwM2mPlatform, PlatformEvent, RegistrationEvent
from tests.lwm2m_fixtures import (
    ENDPOINT,
    FAST_SCALE,
    SCALE,
    WAIT,
    Lwm2mRig,
    RecordingModem,
    registration,
)

UPLINK = (19, 0, 0)
DOWNLINK = (19, 1, 0)


async def registered(lwm2m: Lwm2mRig) -> None:
    """Register and wait until the platform observes /19/0/0."""
    assert await lwm2m.client.register(registration(lwm2m.platform.port))
    await lwm2m.modem.wait_for(lambda: UPLINK in lwm2m.modem.observed)
    async with asyncio.timeout(WAIT):
        await lwm2m.platform.wait_for(lambda: lwm2m.platform.observations(ENDPOINT))


async def test_register_announces_endpoint_lifetime_and_objects(lwm2m: Lwm2mRig) -> None:
    assert await lwm2m.client.register(registration(lwm2m.platform.port, lifetime=3600))

    registered_as = lwm2m.platform.registrations[ENDPOINT]
    assert registered_as.lifetime == 3600
    assert registered_as.version == "1.0"
    assert registered_as.binding == "U"
    assert registered_as.objects == ("/19/0", "/19/1")
    assert registered_as.address == ("127.0.0.1", lwm2m.client.local_port)
    assert lwm2m.client.registered
    assert lwm2m.client.location == registered_as.location
    # The platform observes /19/0/0 once registered; the modem hears of it.
    await lwm2m.modem.wait_for(lambda: lwm2m.modem.observe_calls)
    assert lwm2m.modem.observe_calls == [(UPLINK, False)]


async def test_host_name_is_resolved(lwm2m: Lwm2mRig) -> None:
    assert await lwm2m.client.register(registration(lwm2m.platform.port, host="localhost"))
    assert lwm2m.platform.registrations[ENDPOINT].address[0] == "127.0.0.1"


async def test_platform_down_fails_registration(
    socket_enabled: None, modem_side: RecordingModem
) -> None:
    platform = await LwM2mPlatform.start("127.0.0.1", 0, time_scale=SCALE)
    port = platform.port
    await platform.stop()  # nothing listens on the port any more
    client = Lwm2mClient(time_scale=SCALE)
    client.attach(modem_side)
    try:
        assert not await client.register(registration(port))
        assert not client.registered
        assert client.local_port is None  # the socket is released after a failure
    finally:
        await client.close()


async def test_silent_server_fails_registration(
    socket_enabled: None, modem_side: RecordingModem
) -> None:
    """A server that receives but never answers: retransmissions run out."""
    loop = asyncio.get_running_loop()
    received: list[bytes] = []

    class Silent(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            received.append(data)

    transport, _ = await loop.create_datagram_endpoint(Silent, local_addr=("127.0.0.1", 0))
    client = Lwm2mClient(time_scale=FAST_SCALE)
    client.attach(modem_side)
    try:
        port = transport.get_extra_info("sockname")[1]
        assert not await client.register(registration(port))
        # The first transmission and MAX_RETRANSMIT (4) retransmissions of one message.
        assert len(received) == 5
        assert len(set(received)) == 1
    finally:
        await client.close()
        transport.close()


async def test_update_and_deregister(lwm2m: Lwm2mRig) -> None:
    await registered(lwm2m)

    assert await lwm2m.client.update(
        (*registration(0).objects, ObjectInstance(3, 0, (0, 1))),
    )
    assert lwm2m.platform.registrations[ENDPOINT].updates == 1
    assert lwm2m.platform.registrations[ENDPOINT].objects == ("/19/0", "/19/1", "/3/0")

    assert await lwm2m.client.deregister()
    assert ENDPOINT not in lwm2m.platform.registrations
    assert not lwm2m.client.registered
    assert not await lwm2m.client.deregister()  # nothing left to deregister
    assert not await lwm2m.client.update(())


async def test_update_fails_when_the_platform_forgot_the_registration(lwm2m: Lwm2mRig) -> None:
    await registered(lwm2m)
    lwm2m.platform._forget(ENDPOINT)  # as if the platform had been restarted
    assert not await lwm2m.client.update(registration(0).objects)


async def test_non_and_con_uplinks_are_recorded_byte_for_byte(lwm2m: Lwm2mRig) -> None:
    await registered(lwm2m)
    first = bytes(range(256)) * 2  # 512 bytes, the manual's maximum

    assert await lwm2m.client.notify(UPLINK, first, confirmable=False) is SendOutcome.SENT
    assert await lwm2m.client.notify(UPLINK, b"\x01", confirmable=True) is SendOutcome.ACKNOWLEDGED
    assert await lwm2m.client.notify(UPLINK, b"", confirmable=False) is SendOutcome.SENT

    async with asyncio.timeout(WAIT):
        await lwm2m.platform.wait_for(lambda: len(lwm2m.platform.uplinks) == 3)
    non, con, empty = lwm2m.platform.uplinks
    assert (non.payload, non.confirmable, non.content_format) == (first, False, OPAQUE)
    assert (con.payload, con.confirmable, con.answer) == (b"\x01", True, "ack")
    assert empty.payload == b""
    assert all(u.endpoint == ENDPOINT and u.path == UPLINK for u in lwm2m.platform.uplinks)
    sequence = [u.observe_seq or 0 for u in lwm2m.platform.uplinks]
    assert sequence == sorted(sequence)
    assert len(set(sequence)) == 3


async def test_notify_without_observation_fails(lwm2m: Lwm2mRig) -> None:
    assert await lwm2m.client.notify(UPLINK, b"x", confirmable=True) is SendOutcome.FAILED
    await registered(lwm2m)
    assert await lwm2m.client.notify(DOWNLINK, b"x", confirmable=False) is SendOutcome.FAILED


async def test_reset_con_ends_the_observation(lwm2m: Lwm2mRig) -> None:
    await registered(lwm2m)
    lwm2m.platform.con_policy = "reset"

    assert await lwm2m.client.notify(UPLINK, b"\x05", confirmable=True) is SendOutcome.RESET
    # The modem hears of the end just after the outcome (SEND FAIL comes first).
    await lwm2m.modem.wait_for(lambda: lwm2m.modem.observe_calls[-1] == (UPLINK, True))
    assert lwm2m.client.observations == set()
    assert lwm2m.platform.observations(ENDPOINT) == set()
    (uplink,) = lwm2m.platform.uplinks
    assert uplink.answer == "reset"


async def test_reset_non_ends_the_observation(lwm2m: Lwm2mRig) -> None:
    await registered(lwm2m)
    lwm2m.platform.con_policy = "reset"

    assert await lwm2m.client.notify(UPLINK, b"\x05", confirmable=False) is SendOutcome.SENT
    await lwm2m.modem.wait_for(lambda: (UPLINK, True) in lwm2m.modem.observe_calls)
    assert lwm2m.client.observations == set()


async def test_lost_acks_time_out_and_end_the_observation(
    iot_platform: LwM2mPlatform, modem_side: RecordingModem
) -> None:
    client = Lwm2mClient(time_scale=FAST_SCALE)
    client.attach(modem_side)
    platform, modem = iot_platform, modem_side
    try:
        await registered(Lwm2mRig(client, platform, modem))
        platform.con_policy = "ignore"

        assert await client.notify(UPLINK, b"\x07", confirmable=True) is SendOutcome.TIMEOUT
        # Retransmissions reached the platform, which records the uplink once.
        (uplink,) = platform.uplinks
        assert (uplink.payload, uplink.answer) == (b"\x07", "ignore")
        # RFC 7641 4.5: an unacknowledged CON notification removes the observer.
        await modem.wait_for(lambda: modem.observe_calls[-1] == (UPLINK, True))
        assert await client.notify(UPLINK, b"\x08", confirmable=False) is SendOutcome.FAILED
    finally:
        await client.close()


async def test_server_cancels_observation_with_observe_1(lwm2m: Lwm2mRig) -> None:
    await registered(lwm2m)
    lwm2m.modem.values[UPLINK] = b"last"

    reply = await lwm2m.platform.cancel_observe(ENDPOINT, UPLINK)

    assert (reply.code, reply.payload) == ("2.05", b"last")
    assert lwm2m.modem.observe_calls == [(UPLINK, False), (UPLINK, True)]
    assert lwm2m.platform.observations(ENDPOINT) == set()
    assert await lwm2m.client.notify(UPLINK, b"x", confirmable=False) is SendOutcome.FAILED
    with pytest.raises(LookupError):
        await lwm2m.platform.cancel_observe(ENDPOINT, UPLINK)


async def test_write_and_read(lwm2m: Lwm2mRig) -> None:
    await registered(lwm2m)

    written = await lwm2m.platform.write(ENDPOINT, DOWNLINK, bytes.fromhex("AAAA0000"))
    assert written.code == "2.04"
    assert lwm2m.modem.writes == [(DOWNLINK, bytes.fromhex("AAAA0000"))]

    legacy = await lwm2m.platform.write(ENDPOINT, DOWNLINK, b"\x01", content_format=1544)
    assert legacy.code == "2.04"
    as_tlv = await lwm2m.platform.write(
        ENDPOINT, DOWNLINK, tlv.encode_resources([(0, b"\x02\x03")]), content_format=TLV
    )
    assert as_tlv.code == "2.04"
    assert lwm2m.modem.values[DOWNLINK] == b"\x02\x03"

    read = await lwm2m.platform.read(ENDPOINT, DOWNLINK)
    assert (read.code, read.payload, read.content_format) == ("2.05", b"\x02\x03", OPAQUE)
    instance = await lwm2m.platform.read(ENDPOINT, (19, 1))
    assert (instance.content_format, tlv.resource_values(instance.payload)) == (
        TLV,
        {0: b"\x02\x03"},
    )
    whole = await lwm2m.platform.read(ENDPOINT, (19,))
    assert [(e.identifier, tlv.resource_values(e.value)) for e in tlv.decode(whole.payload)] == [
        (0, {0: b""}),
        (1, {0: b"\x02\x03"}),
    ]
    discovered = await lwm2m.platform.read(ENDPOINT, (19,), accept=40)
    assert discovered.payload == b"</19>,</19/0/0>,</19/1/0>"


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("write", (19, 2, 0), "4.04"),  # undeclared instance
        ("write", (19, 1, 5), "4.04"),  # undeclared resource
        ("write", (3, 0, 0), "4.04"),  # undeclared object
        ("read", (19, 9, 0), "4.04"),
        ("read", (19, 9), "4.04"),
        ("observe", (19, 0, 1), "4.04"),
        ("observe", (20,), "4.04"),
    ],
)
async def test_undeclared_paths_are_not_found(
    lwm2m: Lwm2mRig,
    method: str,
    path: tuple[int, ...],
    code: str,
) -> None:
    await registered(lwm2m)
    platform = lwm2m.platform
    if method == "write":
        reply = await platform.write(ENDPOINT, path, b"\x00")
    elif method == "read":
        reply = await platform.read(ENDPOINT, path)
    else:
        reply = await platform.observe(ENDPOINT, path)
    assert reply.code == code
    assert lwm2m.modem.writes == []
    assert lwm2m.modem.observe_calls == [(UPLINK, False)]


async def test_requests_the_client_does_not_support(lwm2m: Lwm2mRig) -> None:
    await registered(lwm2m)
    json = await lwm2m.platform.write(ENDPOINT, DOWNLINK, b"{}", content_format=JSON)
    assert json.code == "4.15"
    text_on_instance = await lwm2m.platform.write(ENDPOINT, (19, 1), b"hi", content_format=TEXT)
    assert text_on_instance.code == "4.15"
    broken_tlv = await lwm2m.platform.write(
        ENDPOINT, DOWNLINK, b"\xc8\x00\x05ab", content_format=TLV
    )
    assert broken_tlv.code == "4.00"
    other_resource = await lwm2m.platform.write(
        ENDPOINT, DOWNLINK, tlv.encode_resources([(1, b"x")]), content_format=TLV
    )
    assert other_resource.code == "4.00"
    as_json = await lwm2m.platform.read(ENDPOINT, DOWNLINK, accept=JSON)
    assert as_json.code == "4.06"
    assert lwm2m.modem.writes == []


async def test_instance_observation_notifies_tlv(lwm2m: Lwm2mRig) -> None:
    await registered(lwm2m)
    assert (await lwm2m.platform.observe(ENDPOINT, (19, 0))).code == "2.05"
    assert lwm2m.modem.observe_calls[-1] == ((19, 0, -1), False)
    await lwm2m.platform.cancel_observe(ENDPOINT, UPLINK)  # only the instance remains

    assert (
        await lwm2m.client.notify(UPLINK, b"\x0a\x0b", confirmable=True) is SendOutcome.ACKNOWLEDGED
    )

    uplink = await lwm2m.platform.wait_uplink()
    assert uplink.path == (19, 0)
    assert uplink.content_format == TLV
    assert tlv.resource_values(uplink.payload) == {0: b"\x0a\x0b"}
    await lwm2m.platform.cancel_observe(ENDPOINT, (19, 0))
    assert lwm2m.modem.observe_calls[-1] == ((19, 0, -1), True)


async def test_object_observation_covers_every_declared_instance(lwm2m: Lwm2mRig) -> None:
    await registered(lwm2m)
    await lwm2m.platform.cancel_observe(ENDPOINT, UPLINK)
    assert (await lwm2m.platform.observe(ENDPOINT, (19,))).code == "2.05"
    assert {(19, 0, -1), (19, 1, -1)} <= lwm2m.modem.observed

    assert await lwm2m.client.notify(UPLINK, b"\x01", confirmable=False) is SendOutcome.SENT

    uplink = await lwm2m.platform.wait_uplink()
    instances = {e.identifier: tlv.resource_values(e.value) for e in tlv.decode(uplink.payload)}
    assert instances == {0: {0: b"\x01"}, 1: {0: b""}}


async def test_lifetime_is_refreshed_before_it_runs_out(lwm2m: Lwm2mRig) -> None:
    events: list[PlatformEvent] = []
    lwm2m.platform._on_event = events.append
    # 20 s of lifetime is 0.4 s here; the client updates every 0.2 s.
    assert await lwm2m.client.register(registration(lwm2m.platform.port, lifetime=20))
    location = lwm2m.client.location

    async with asyncio.timeout(WAIT):
        await lwm2m.platform.wait_for(lambda: lwm2m.platform.registrations[ENDPOINT].updates >= 3)

    kinds = [e.kind for e in events if isinstance(e, RegistrationEvent)]
    assert kinds == ["registered", "updated", "updated", "updated"]
    assert lwm2m.platform.registrations[ENDPOINT].location == location


async def test_lost_registration_is_registered_again(
    socket_enabled: None, modem_side: RecordingModem
) -> None:
    # The platform's clock runs ten times faster: lifetimes expire before the
    # client's refresh, whose Update then gets 4.04.
    platform = await LwM2mPlatform.start("127.0.0.1", 0, time_scale=SCALE / 10)
    client = Lwm2mClient(time_scale=SCALE)
    modem = modem_side
    client.attach(modem)
    try:
        assert await client.register(registration(platform.port, lifetime=20))
        first = platform.registrations[ENDPOINT]
        await modem.wait_for(lambda: UPLINK in modem.observed)

        async with asyncio.timeout(WAIT):
            again = await platform.wait_registered(ENDPOINT, newer_than=first)

        assert again.location != first.location
        # The lost observation was reported as cancelled, the new one as new.
        await modem.wait_for(lambda: modem.observe_calls[-1:] == [(UPLINK, False)])
        assert (UPLINK, True) in modem.observe_calls
    finally:
        await client.close()
        await platform.stop()


async def test_reset_forgets_everything_without_telling_the_server(lwm2m: Lwm2mRig) -> None:
    await registered(lwm2m)
    calls = list(lwm2m.modem.observe_calls)

    await lwm2m.client.reset()

    assert not lwm2m.client.registered
    assert lwm2m.client.local_port is None
    assert lwm2m.client.observations == set()
    assert ENDPOINT in lwm2m.platform.registrations  # no Deregister went out
    assert lwm2m.modem.observe_calls == calls  # no cancel reported to the modem
    with pytest.raises(ConnectionError):  # the module's socket is gone
        await lwm2m.platform.write(ENDPOINT, DOWNLINK, b"\x01")

    assert await lwm2m.client.register(registration(lwm2m.platform.port))
    await lwm2m.modem.wait_for(lambda: len(lwm2m.modem.observe_calls) == len(calls) + 1)


async def test_observe_waits_for_the_registration_result(lwm2m: Lwm2mRig) -> None:
    """+QLWOBSERVE never overtakes CONNECT OK (manual 5.1)."""
    order: list[str] = []

    class OrderedModem(RecordingModem):
        def observe(self, path: tuple[int, int, int], cancel: bool) -> bool:
            order.append("observe")
            return super().observe(path, cancel)

    modem = OrderedModem()
    lwm2m.client.attach(modem)
    assert await lwm2m.client.register(registration(lwm2m.platform.port))
    order.append("connect ok")
    await modem.wait_for(lambda: modem.observed)
    assert order == ["connect ok", "observe"]
