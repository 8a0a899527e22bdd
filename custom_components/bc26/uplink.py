"""The bounded, ordered queue of sends from Home Assistant to the platform.

One worker takes sends in call order and hands each to the session only when the
previous one has finished, so a confirmable send always waits for the previous
one's SEND OK / SEND FAIL (manual 3.8, note 1). The queue is bounded: when
QUEUE_LIMIT sends are pending (waiting or on the modem) a caller gets an error at
once; nothing already queued is dropped.

A send is reported as what happened to it. When the queue closes (the entry
unloads), a send that never reached the serial line fails with
SendQueueClosedError ("not sent"); one whose command went out, whose outcome is
not known yet, fails with SendOutcomeUnknownError: its data may well have arrived.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
import enum
from typing import Any

from .modem import ResourcePath

# Sends pending at once, the one on the modem included. At up to 128 s per CON send a
# longer queue would only hold requests whose automations have long moved on.
QUEUE_LIMIT = 32


class SendStatus(enum.StrEnum):
    """How far a send got: the module took it (NON) or the platform acknowledged it (CON)."""

    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"


@dataclass(frozen=True, slots=True)
class Uplink:
    """One validated send: where, what, and whether the platform must acknowledge it."""

    path: ResourcePath
    data: bytes
    confirmable: bool


class SendQueueFullError(Exception):
    """The limit of pending sends is reached."""


class SendQueueClosedError(Exception):
    """The entry is unloading; the send never reached the module."""


class SendOutcomeUnknownError(Exception):
    """The send went out, and its outcome was lost (the entry unloaded, the port went)."""


@dataclass(slots=True)
class _Pending:
    uplink: Uplink
    future: asyncio.Future[SendStatus] = field(repr=False)
    written: bool = False

    def mark_written(self) -> None:
        self.written = True


# The step that hands one send to the module; it calls its second argument once the
# command line goes out.
type Transmit = Callable[[Uplink, Callable[[], None]], Awaitable[SendStatus]]
type StartTask = Callable[[Coroutine[Any, Any, None], str], asyncio.Task[None]]


class SendQueue:
    """FIFO of sends with one worker; `send` returns what `transmit` returned for it."""

    def __init__(self, transmit: Transmit, limit: int = QUEUE_LIMIT) -> None:
        self._transmit = transmit
        self.limit = limit
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._current: _Pending | None = None
        self._worker: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def pending(self) -> int:
        """Sends waiting or on the modem."""
        return self._queue.qsize() + (self._current is not None)

    def start(self, start_task: StartTask) -> None:
        """Start the worker with the entry's background-task factory."""
        self._worker = start_task(self._run(), "bc26 send queue")

    async def send(self, uplink: Uplink) -> SendStatus:
        """Queue `uplink` behind earlier sends and wait for its own outcome.

        Raises SendQueueFullError or SendQueueClosedError without queueing,
        SendQueueClosedError / SendOutcomeUnknownError when the queue closes before
        the outcome is known, or whatever `transmit` raised for this send.
        """
        if self._closed or self._worker is None or self._worker.done():
            raise SendQueueClosedError
        if self.pending >= self.limit:
            raise SendQueueFullError
        pending = _Pending(uplink, asyncio.get_running_loop().create_future())
        self._queue.put_nowait(pending)
        return await pending.future

    def close(self) -> None:
        """Stop the worker; fail every send that has not finished with what became of it."""
        self._closed = True
        if self._worker is not None:
            self._worker.cancel()
        unfinished = [self._current] if self._current is not None else []
        while not self._queue.empty():
            unfinished.append(self._queue.get_nowait())
        for pending in unfinished:
            _fail(pending)
        self._current = None

    async def _run(self) -> None:
        while True:
            pending = await self._queue.get()
            # A caller that gave up before its turn must not put bytes on the line.
            if pending.future.done():
                continue
            self._current = pending
            try:
                status = await self._transmit(pending.uplink, pending.mark_written)
            except asyncio.CancelledError:
                # Home Assistant cancels background tasks before it says it stops (and
                # before `close`): the caller still learns what became of its send.
                _fail(pending)
                raise
            except Exception as err:  # noqa: BLE001 - the error belongs to this caller alone
                if not pending.future.done():
                    pending.future.set_exception(err)
            else:
                if not pending.future.done():
                    pending.future.set_result(status)
            finally:
                self._current = None


def _fail(pending: _Pending) -> None:
    """End a send the queue gives up on: outcome unknown if its command went out."""
    if not pending.future.done():
        error = SendOutcomeUnknownError() if pending.written else SendQueueClosedError()
        pending.future.set_exception(error)
