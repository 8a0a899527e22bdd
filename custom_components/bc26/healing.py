"""Checking that the registration holds when something suggests it does not.

A send the module refuses though the session believed it possible, a sign of a
module restart (`+CPIN: READY`, `+IP:`), a confirmable message the platform reset,
confirmable messages that keep timing out, and the periodic check each lead to one
registration update (AT+QLWUPDATE) at a time. Its refusal means the module lost its
LwM2M context, `UPDATE FAIL` (or no result at all) that the platform forgot the
registration: either way the session registers afresh, once per registration.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from contextlib import AbstractAsyncContextManager
import logging
from typing import Any, Protocol

from .modem import Bc26Modem, CommandRejectedError, ModemError, ModemTimeoutError, RegistrationError
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


type StartTask = Callable[[Coroutine[Any, Any, None], str], asyncio.Task[None]]


class Healer:
    """One registration check at a time for a session."""

    def __init__(self, session: Session, start_task: StartTask) -> None:
        self._session = session
        self._start_task = start_task
        self.task: asyncio.Task[None] | None = None

    def suspect(self, hint: str) -> None:
        """Something suggests the registration is gone: check it (unless a check runs)."""
        if not self._session.registered or (self.task is not None and not self.task.done()):
            return
        _LOGGER.debug("Checking the registration: %s", hint)
        self.task = self._start_task(self._check(), "bc26 registration check")

    async def update(self) -> None:
        """AT+QLWUPDATE and its result; a refusal or a failure also registers afresh.

        Raises what the modem raised (NotRegistered... through `modem_session`).
        """
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
