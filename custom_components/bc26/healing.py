"""Checking that the registration holds when something suggests it does not.

A send the module refuses though the session believed it possible, a sign of a
module restart (`+CPIN: READY`, `+IP:`), a confirmable message the platform reset,
confirmable messages that keep timing out, and the periodic check each lead to one
registration update (AT+QLWUPDATE) at a time. Its refusal means the module lost its
LwM2M context, `UPDATE FAIL` (or no result at all) that the platform forgot the
registration: either way the session registers afresh, once per registration.

A confirmable message the platform did not acknowledge can end the observation: the
module drops an observer that does not answer (RFC 7641 4.5) and tells the host with
`+QLWOBSERVE: 1`. The platform never cancelled it, so it does not observe again by
itself, and an update does not make it; platforms observe when a device registers.
A resource still unobserved a moment after such a timeout is registered afresh for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from contextlib import AbstractAsyncContextManager
import logging
from typing import Any, Protocol

from .modem import (
    Bc26Modem,
    CommandRejectedError,
    ModemError,
    ModemTimeoutError,
    PortError,
    RegistrationError,
    ResourcePath,
)
from .registration import Recovery

_LOGGER = logging.getLogger(__name__)


class Session(Protocol):
    """What checking needs of the session."""

    @property
    def registered(self) -> bool:
        """Registered, as far as the session knows."""

    @property
    def generation(self) -> int:
        """How many registrations so far: a verdict is about the one it checked."""

    def modem_session(self) -> AbstractAsyncContextManager[Bc26Modem]:
        """The modem, between the session's own commands."""

    def async_register_afresh(self, generation: int, reason: Recovery) -> None:
        """Register again, if registration `generation` is still the current one."""

    def observed_now(self, path: ResourcePath) -> bool:
        """Whether the platform observes `path`, as far as the session knows."""


type StartTask = Callable[[Coroutine[Any, Any, None], str], asyncio.Task[None]]


class Healer:
    """One registration check at a time for a session."""

    def __init__(self, session: Session, start_task: StartTask, settle: float) -> None:
        self._session = session
        self._start_task = start_task
        self._settle = settle  # seconds for the module's +QLWOBSERVE after SEND FAIL
        self.task: asyncio.Task[None] | None = None
        self._update_task: asyncio.Task[None] | None = None
        self._observation_task: asyncio.Task[None] | None = None
        self._stopped = False

    def stop(self) -> tuple[asyncio.Task[None], ...]:
        """Start nothing from now on (the session stops); returns what runs, to cancel."""
        self._stopped = True
        running = (self.task, self._update_task, self._observation_task)
        return tuple(task for task in running if task is not None and not task.done())

    def suspect(self, hint: str) -> None:
        """Something suggests the registration is gone: check it (unless a check runs)."""
        if self._stopped or not self._session.registered:
            return
        if self.task is not None and not self.task.done():
            return
        _LOGGER.debug("Checking the registration: %s", hint)
        self.task = self._start_task(self._check(), "bc26 registration check")

    def unacknowledged(self, path: ResourcePath) -> None:
        """A confirmable message to `path` timed out: see whether the observation went with it."""
        if self._stopped:
            return
        if self._observation_task is not None and not self._observation_task.done():
            return  # one look at a time: the registration it may start covers every path
        generation = self._session.generation
        self._observation_task = self._start_task(
            self._observation_check(path, generation), "bc26 observation check"
        )

    async def _observation_check(self, path: ResourcePath, generation: int) -> None:
        await asyncio.sleep(self._settle)
        if not self._session.observed_now(path):
            _LOGGER.debug("%s is no longer observed after an unacknowledged message", path)
            self._session.async_register_afresh(generation, Recovery.OBSERVATION_ENDED)

    async def update(self) -> None:
        """AT+QLWUPDATE and its result; a refusal or a failure also registers afresh.

        One at a time, shared: a caller while one waits for its result (up to 128 s)
        awaits that one. A second AT+QLWUPDATE would wait for the first's result
        holding the session, and so every poll, read and send with it.
        Raises what the modem raised (NotRegistered... through `modem_session`), and
        PortError when the session stops first.
        """
        if self._stopped:
            raise PortError("the session stopped")
        if self._update_task is None or self._update_task.done():
            self._update_task = self._start_task(self._update(), "bc26 registration update")
            self._update_task.add_done_callback(_retrieve)
        task = self._update_task
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            caller = asyncio.current_task()
            if task.cancelled() and (caller is None or not caller.cancelling()):
                # The session stopped the update, not the caller: an error it can show.
                raise PortError("the session stopped before the update's result") from None
            raise

    async def _update(self) -> None:
        session = self._session
        generation = session.generation
        async with session.modem_session() as modem:
            if generation != session.generation or not session.registered:
                return  # registered again meanwhile: nothing left to check
            try:
                pending = await modem.begin_update()
            except CommandRejectedError:
                session.async_register_afresh(generation, Recovery.CONTEXT_LOST)
                raise
        try:
            await pending.wait()
        except (RegistrationError, ModemTimeoutError):
            session.async_register_afresh(generation, Recovery.PLATFORM_FORGOT)
            raise

    async def _check(self) -> None:
        try:
            await self.update()
        except ModemError as err:  # acted on in update(), or shows where it belongs
            _LOGGER.debug("Registration check: %s", err)


def _retrieve(task: asyncio.Task[None]) -> None:
    """Mark the update's error as seen: its callers may all have given up meanwhile."""
    if not task.cancelled():
        task.exception()
