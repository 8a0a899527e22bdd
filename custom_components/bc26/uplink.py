"""The bounded, ordered queue of sends from Home Assistant to the platform.

One worker takes sends in call order and hands each to the modem only when the
previous one has finished, so a confirmable send always waits for the previous
one's SEND OK / SEND FAIL (manual 3.8, note 1). The queue is bounded: when
QUEUE_LIMIT sends are pending (waiting or on the modem) a caller gets an error at
once; nothing already queued is dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
import enum
from typing import TYPE_CHECKING, Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import translation

from .const import DOMAIN
from .downlink import format_path
from .modem import (
    Bc26Modem,
    CommandRejectedError,
    ConStatus,
    ModemError,
    ModemTimeoutError,
    PortError,
    ResourcePath,
    SendFailedError,
)

if TYPE_CHECKING:
    from .coordinator import Bc26Coordinator

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


@dataclass(slots=True)
class _Pending:
    uplink: Uplink
    future: asyncio.Future[SendStatus] = field(repr=False)


type Transmit = Callable[[Uplink], Awaitable[SendStatus]]
type StartTask = Callable[[Coroutine[Any, Any, None], str], asyncio.Task[None]]


class SendQueue:
    """FIFO of sends with one worker; `send` returns what `transmit` returned for it."""

    def __init__(self, transmit: Transmit, limit: int = QUEUE_LIMIT) -> None:
        self._transmit = transmit
        self._limit = limit
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

        Raises SendQueueFullError or SendQueueClosedError without queueing, or
        whatever `transmit` raised for this send.
        """
        if self._closed or self._worker is None:
            raise SendQueueClosedError
        if self.pending >= self._limit:
            raise SendQueueFullError
        pending = _Pending(uplink, asyncio.get_running_loop().create_future())
        self._queue.put_nowait(pending)
        return await pending.future

    def close(self) -> None:
        """Stop the worker and fail every send that has not finished."""
        self._closed = True
        if self._worker is not None:
            self._worker.cancel()
        unfinished = [self._current] if self._current is not None else []
        while not self._queue.empty():
            unfinished.append(self._queue.get_nowait())
        for pending in unfinished:
            if not pending.future.done():
                pending.future.set_exception(SendQueueClosedError())
        self._current = None

    async def _run(self) -> None:
        while True:
            pending = await self._queue.get()
            # A caller that gave up before its turn must not put bytes on the line.
            if pending.future.done():
                continue
            self._current = pending
            try:
                status = await self._transmit(pending.uplink)
            except Exception as err:  # noqa: BLE001 - the error belongs to this caller alone
                if not pending.future.done():
                    pending.future.set_exception(err)
            else:
                if not pending.future.done():
                    pending.future.set_result(status)
            finally:
                self._current = None


def module_error(key: str, **placeholders: str) -> HomeAssistantError:
    """A translated error of a valid request the module or the platform could not carry out."""
    return HomeAssistantError(
        translation_domain=DOMAIN, translation_key=key, translation_placeholders=placeholders
    )


def check_ready(coordinator: Bc26Coordinator, path: ResourcePath) -> None:
    """Refuse a send the module would refuse: not registered, or `path` not observed yet.

    Real modules answer a send before the platform's observe with an error (a
    notification needs an observer), so it is not even tried.
    """
    if not coordinator.connected:
        raise module_error("module_unavailable")
    if not coordinator.registered:
        raise module_error("not_registered")
    if path not in coordinator.observed:
        raise module_error("not_observed", path=format_path(path))


async def transmit(coordinator: Bc26Coordinator, uplink: Uplink) -> SendStatus:
    """Hand one send to the module, between the session's own AT commands."""
    try:
        async with coordinator.modem_session() as modem:
            # The session may have lost the registration while this send waited.
            check_ready(coordinator, uplink.path)
            if uplink.confirmable:
                coordinator.record_con_status(ConStatus.WAITING)
            try:
                await modem.send(uplink.path, uplink.data, uplink.confirmable)
            except SendFailedError:
                coordinator.record_con_status(await _con_status_after_failure(modem))
                raise
    except ModemError as err:
        raise _delivery_error(coordinator, err) from err
    if not uplink.confirmable:
        return SendStatus.SENT
    coordinator.record_con_status(ConStatus.SUCCESS)
    return SendStatus.ACKNOWLEDGED


async def _con_status_after_failure(modem: Bc26Modem) -> ConStatus:
    """Why the CON send failed (timeout, reset ...), as AT+QLWDATASTATUS? tells."""
    try:
        status: ConStatus = await modem.con_status()
    except ModemError:
        return ConStatus.FAILED
    return status


def _delivery_error(coordinator: Bc26Coordinator, err: ModemError) -> HomeAssistantError:
    match err:
        case SendFailedError():
            status = coordinator.con_status or ConStatus.FAILED
            return module_error("send_failed", status=_con_status_text(coordinator.hass, status))
        case ModemTimeoutError():
            return module_error("send_timeout")
        case CommandRejectedError():
            return module_error("send_rejected", error=str(err))
        case PortError():
            return module_error("module_unavailable")
        case _ if not coordinator.connected:
            return module_error("module_unavailable")
        case _:
            return module_error("send_error", error=str(err))


def _con_status_text(hass: HomeAssistant, status: ConStatus) -> str:
    """`status` as the Last confirmable send sensor shows it, in English like the error text.

    The sensor platform loaded the integration's entity texts when it was set up.
    """
    texts = translation.async_get_cached_translations(hass, "en", "entity", DOMAIN)
    key = f"component.{DOMAIN}.entity.sensor.con_status.state.{status.name.lower()}"
    return texts.get(key, status.name.lower())
