"""The CoAP endpoint under the client and the platform: timers, outcomes, sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import contextlib
import math

import aiocoap
from aiocoap.numbers.codes import Code
import pytest

from bc26sim.coap import Answer, CoapEndpoint, ScaledTuning
from bc26sim.network import SendOutcome
from tests.lwm2m_fixtures import SCALE, WAIT


async def _echo(request: aiocoap.Message) -> aiocoap.Message:
    return aiocoap.Message(code=Code.CONTENT, payload=request.payload)


@contextlib.asynccontextmanager
async def endpoint(host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[CoapEndpoint]:
    opened = await CoapEndpoint.open(_echo, host, port, time_scale=SCALE, name="test")
    try:
        yield opened
    finally:
        await opened.close()


@contextlib.asynccontextmanager
async def silent_peer() -> AsyncIterator[int]:
    """A UDP port that takes every datagram and never answers."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    try:
        yield transport.get_extra_info("sockname")[1]
    finally:
        transport.close()


def test_every_duration_is_scaled() -> None:
    tuning = ScaledTuning(0.01, reliability=True)
    assert math.isclose(tuning.ACK_TIMEOUT, 0.02)
    assert math.isclose(tuning.MAX_TRANSMIT_WAIT, 0.93)  # RFC 7252: 93 s
    assert math.isclose(tuning.EXCHANGE_LIFETIME, 2.47)  # RFC 7252: 247 s
    assert math.isclose(tuning.EMPTY_ACK_DELAY, 0.005)
    assert tuning.reliability is True
    assert math.isclose(ScaledTuning(1.0).EMPTY_ACK_DELAY, 0.1)  # aiocoap's default


def confirmable(sender: CoapEndpoint, port: int, payload: bytes = b"") -> aiocoap.Message:
    message = aiocoap.Message(
        code=Code.CONTENT, payload=payload, transport_tuning=sender.tuning(True)
    )
    message.mtype = aiocoap.CON
    message.token = b"\x07"
    message.remote = sender.remote("127.0.0.1", port)
    return message


async def test_unanswered_con_is_failed_when_the_endpoint_closes(socket_enabled: None) -> None:
    async with silent_peer() as port:
        sender = await CoapEndpoint.open(_echo, "127.0.0.1", 0, time_scale=SCALE, name="test")
        sending = asyncio.create_task(sender.send(confirmable(sender, port)))
        await asyncio.sleep(0)
        await sender.close()
        async with asyncio.timeout(WAIT):
            assert await sending is SendOutcome.FAILED
        await sender.close()  # closing twice is harmless


async def test_routed_con_can_be_ignored_then_acknowledged(socket_enabled: None) -> None:
    """A routed token's answer decides the ACK: ignored twice, then acknowledged."""
    answers: list[Answer] = ["ignore", "ignore", "ack"]
    seen: list[bytes] = []

    def answer(message: aiocoap.Message) -> Answer:
        seen.append(message.payload)
        return answers[len(seen) - 1]

    async with endpoint() as receiver, endpoint() as sender:
        receiver.route(b"\x07", answer)
        outcome = await sender.send(confirmable(sender, receiver.port, b"x"))
        assert outcome is SendOutcome.ACKNOWLEDGED
        assert seen == [b"x", b"x", b"x"]  # the first transmission and two retransmissions
        receiver.unroute(b"\x07")
        # Unrouted, aiocoap knows no such token and resets the CON response.
        assert await sender.send(confirmable(sender, receiver.port)) is SendOutcome.RESET


async def test_many_requests_leave_no_timer_behind(socket_enabled: None) -> None:
    """Each request starts a duplicate-detection timer; closing cancels them all."""
    async with endpoint() as server, endpoint() as client:
        for index in range(80):
            request = aiocoap.Message(
                code=Code.GET, payload=bytes([index]), transport_tuning=client.tuning(True)
            )
            request.remote = client.remote("127.0.0.1", server.port)
            response = await client.request(request)
            assert response.payload == bytes([index])


async def test_binding_by_name_and_to_a_busy_port(socket_enabled: None) -> None:
    async with endpoint("localhost") as by_name:
        assert by_name.port > 0
        with pytest.raises(OSError, match="in use"):
            await CoapEndpoint.open(_echo, "127.0.0.1", by_name.port, time_scale=1, name="x")


def _after_iterations(count: int, then: Callable[[], object]) -> None:
    """Call `then` `count` event-loop iterations from now."""
    if count == 0:
        then()
    else:
        asyncio.get_running_loop().call_soon(_after_iterations, count - 1, then)


@pytest.mark.parametrize("iterations", range(6))
async def test_an_answer_to_a_request_given_up_on_meanwhile_is_dropped(
    socket_enabled: None, iterations: int
) -> None:
    """The sender stops waiting in the loop iteration in which the answer arrives.

    aiocoap set the result of the request's cancelled future, and the error reached the
    event loop's handler (a teardown error in Home Assistant's test harness). Which
    iteration that is depends on aiocoap's sending: every one of the first few is tried.
    """
    loop = asyncio.get_running_loop()
    errors: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _, context: errors.append(context))
    waiting: list[asyncio.Task[aiocoap.Message]] = []

    async def give_up_then_answer(request: aiocoap.Message) -> aiocoap.Message:
        _after_iterations(iterations, waiting[0].cancel)
        return aiocoap.Message(code=Code.CONTENT, payload=request.payload)

    server = await CoapEndpoint.open(
        give_up_then_answer, "127.0.0.1", 0, time_scale=SCALE, name="server"
    )
    try:
        async with endpoint() as client:
            request = aiocoap.Message(code=Code.GET, transport_tuning=client.tuning(True))
            request.remote = client.remote("127.0.0.1", server.port)
            waiting.append(asyncio.create_task(client.request(request)))
            with contextlib.suppress(asyncio.CancelledError):
                await waiting[0]
            await asyncio.sleep(0.05)  # the answer's datagram, and anything it raised
    finally:
        await server.close()
        loop.set_exception_handler(None)
    assert errors == []
