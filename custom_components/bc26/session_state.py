"""What a session shows: where the registration stands, the link, the last confirmable send.

Entities, the outbox and the registration checks read it and follow its changes; the
session (coordinator.py) and its parts (registrar.py, polling.py, sending.py) change it.
"""

from __future__ import annotations

import asyncio
import logging

from homeassistant.core import CALLBACK_TYPE, callback

from .modem import ConStatus, LinkStatus, RegistrationError
from .registration import RegistrationLog, RegistrationState

_LOGGER = logging.getLogger(__name__)


class SessionState:
    """The state of one module's session, and the listeners told of each change."""

    def __init__(self, registrations: RegistrationLog) -> None:
        """Not registered, port open."""
        self.registrations = registrations
        self.connected = True
        self.state = RegistrationState.NOT_REGISTERED
        self.link = LinkStatus()
        self.con_status: ConStatus | None = None
        # A confirmable send's result went with the port: the module is asked for it
        # once it is back, before its context (and the answer) goes.
        self.con_unresolved = False
        self.generation = 0  # registrations so far: a check's verdict is for its own
        self._listeners: list[CALLBACK_TYPE] = []

    @property
    def registered(self) -> bool:
        """Whether the module is registered with the LwM2M server right now."""
        return self.state is RegistrationState.REGISTERED

    @callback
    def async_add_listener(self, update_callback: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call `update_callback` whenever the session state changes; returns the remover."""
        self._listeners.append(update_callback)
        return lambda: self._listeners.remove(update_callback)

    @callback
    def async_notify(self) -> None:
        """Tell every listener that what the session shows changed."""
        for update_callback in list(self._listeners):
            try:
                update_callback()
            except Exception:  # one broken entity must not end the session that called
                # Not the listener's repr: an entity's repr computes its state, which may raise.
                _LOGGER.exception("Error telling a listener of a session change")

    @callback
    def async_set_state(self, state: RegistrationState) -> None:
        """Show where the session stands."""
        if state is not self.state:
            self.state = state
            self.async_notify()

    @callback
    def record_con_status(self, status: ConStatus) -> None:
        """Note the status of the last confirmable send."""
        if status != self.con_status:
            self.con_status = status
            self.async_notify()

    async def async_wait_registered(self, gone: Exception) -> None:
        """Until registered; `gone` when the port goes, RegistrationError when an attempt fails."""
        while not self.registered:
            if not self.connected:
                raise gone
            if self.state is RegistrationState.WAITING_TO_RETRY:
                attempt = self.registrations.attempts[-1]
                raise RegistrationError(attempt.detail or attempt.outcome)
            changed = asyncio.Event()
            remove = self.async_add_listener(changed.set)
            try:
                await changed.wait()
            finally:
                remove()
