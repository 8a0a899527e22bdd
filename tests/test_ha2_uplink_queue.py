"""The send queue on its own: order, bound, errors kept to their caller, clean close.

The queue takes its transmit step as a parameter; here that step is a gate the test
opens, so the queue's own rules can be seen without a modem. The same queue runs
against the virtual BC26 in test_ha2_actions.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest

from custom_components.bc26.uplink import (
    SendOutcomeUnknownError,
    SendQueue,
    SendQueueClosedError,
    SendQueueFullError,
    SendStatus,
    Uplink,
)

from .ha_fixtures import until


class GatedLine:
    """Records what reaches the 'line' and lets the test decide when each send ends."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.started = asyncio.Event()
        self.gate = asyncio.Event()
        self.fail_on: set[bytes] = set()

    async def transmit(self, uplink: Uplink, on_written: Callable[[], None]) -> SendStatus:
        self.sent.append(uplink.data)
        on_written()
        self.started.set()
        await self.gate.wait()
        if uplink.data in self.fail_on:
            raise RuntimeError(f"refused {uplink.data!r}")
        return SendStatus.ACKNOWLEDGED if uplink.confirmable else SendStatus.SENT


def _start(coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
    return asyncio.get_running_loop().create_task(coro, name=name)


@pytest.fixture
async def line() -> GatedLine:
    return GatedLine()


@pytest.fixture
async def queue(line: GatedLine) -> AsyncIterator[SendQueue]:
    send_queue = SendQueue(line.transmit, limit=4)
    send_queue.start(_start)
    yield send_queue
    send_queue.close()
    await asyncio.sleep(0)  # let the cancelled worker finish


def _uplink(data: bytes, confirmable: bool = False) -> Uplink:
    return Uplink((19, 0, 0), data, confirmable)


async def test_sends_leave_in_call_order_one_at_a_time(line: GatedLine, queue: SendQueue) -> None:
    calls = [asyncio.create_task(queue.send(_uplink(bytes([n]), n % 2 == 1))) for n in range(4)]
    await line.started.wait()
    assert line.sent == [b"\x00"]  # the rest wait for the first to finish
    assert queue.pending == 4
    line.gate.set()
    results = await asyncio.gather(*calls)
    assert line.sent == [bytes([n]) for n in range(4)]
    assert results == [SendStatus.SENT, SendStatus.ACKNOWLEDGED] * 2
    assert queue.pending == 0


async def test_full_queue_refuses_at_once_and_keeps_what_it_has(
    line: GatedLine, queue: SendQueue
) -> None:
    first = asyncio.create_task(queue.send(_uplink(b"first")))
    await line.started.wait()
    waiting = [asyncio.create_task(queue.send(_uplink(bytes([n])))) for n in range(3)]
    await asyncio.sleep(0)
    with pytest.raises(SendQueueFullError):
        await queue.send(_uplink(b"one too many"))
    line.gate.set()
    await asyncio.gather(first, *waiting)
    assert line.sent == [b"first", b"\x00", b"\x01", b"\x02"]


async def test_an_error_belongs_to_its_send_only(line: GatedLine, queue: SendQueue) -> None:
    line.fail_on = {b"bad"}
    line.gate.set()
    bad = asyncio.create_task(queue.send(_uplink(b"bad")))
    good = asyncio.create_task(queue.send(_uplink(b"good")))
    with pytest.raises(RuntimeError, match="refused"):
        await bad
    assert await good == SendStatus.SENT


async def test_a_caller_that_gave_up_never_reaches_the_line(
    line: GatedLine, queue: SendQueue
) -> None:
    first = asyncio.create_task(queue.send(_uplink(b"first")))
    await line.started.wait()
    abandoned = asyncio.create_task(queue.send(_uplink(b"abandoned")))
    last = asyncio.create_task(queue.send(_uplink(b"last")))
    await asyncio.sleep(0)
    abandoned.cancel()
    line.gate.set()
    await asyncio.gather(first, last)
    assert abandoned.cancelled()
    assert line.sent == [b"first", b"last"]


async def test_close_tells_sent_from_not_sent(line: GatedLine) -> None:
    """The send on the line may have arrived: "outcome unknown"; those behind it: "not sent"."""
    queue = SendQueue(line.transmit, limit=3)
    with pytest.raises(SendQueueClosedError):
        await queue.send(_uplink(b"before start"))
    queue.start(_start)
    on_line = asyncio.create_task(queue.send(_uplink(b"on the line")))
    await line.started.wait()
    waiting = asyncio.create_task(queue.send(_uplink(b"waiting")))
    await asyncio.sleep(0)
    queue.close()
    with pytest.raises(SendOutcomeUnknownError):
        await on_line
    with pytest.raises(SendQueueClosedError):
        await waiting
    with pytest.raises(SendQueueClosedError):
        await queue.send(_uplink(b"after close"))
    assert line.sent == [b"on the line"]
    assert queue.pending == 0


async def test_close_before_the_line_is_reached_is_not_sent() -> None:
    """A send still waiting for the line (the session holds it) never went out."""
    entered = asyncio.Event()

    async def blocked(uplink: Uplink, on_written: Callable[[], None]) -> SendStatus:
        entered.set()
        await asyncio.Event().wait()  # never gets the line; on_written is never called
        return SendStatus.SENT

    queue = SendQueue(blocked, limit=3)
    queue.start(_start)
    call = asyncio.create_task(queue.send(_uplink(b"waiting for the line")))
    await entered.wait()
    queue.close()
    with pytest.raises(SendQueueClosedError):
        await call
    await asyncio.sleep(0)


async def _give_up_while_on_the_line(queue: SendQueue, line: GatedLine, data: bytes) -> None:
    call = asyncio.create_task(queue.send(_uplink(data)))
    await until(lambda: data in line.sent)
    call.cancel()  # the bytes are on the line already; the outcome has nobody to go to
    line.gate.set()
    await asyncio.sleep(0)
    line.gate.clear()


async def test_a_caller_that_gives_up_during_its_send_leaves_the_queue_working(
    line: GatedLine, queue: SendQueue
) -> None:
    line.fail_on = {b"fails late"}
    await _give_up_while_on_the_line(queue, line, b"ends late")
    await _give_up_while_on_the_line(queue, line, b"fails late")
    line.gate.set()
    assert await queue.send(_uplink(b"next")) == SendStatus.SENT
    assert line.sent == [b"ends late", b"fails late", b"next"]


async def test_close_skips_callers_that_already_gave_up(line: GatedLine) -> None:
    queue = SendQueue(line.transmit, limit=4)
    queue.close()  # never started: nothing to stop
    queue = SendQueue(line.transmit, limit=4)
    queue.start(_start)
    first = asyncio.create_task(queue.send(_uplink(b"first")))
    await line.started.wait()
    gave_up = asyncio.create_task(queue.send(_uplink(b"gave up")))
    await asyncio.sleep(0)
    gave_up.cancel()
    await asyncio.sleep(0)
    queue.close()
    with pytest.raises(SendOutcomeUnknownError):
        await first
    assert gave_up.cancelled()
