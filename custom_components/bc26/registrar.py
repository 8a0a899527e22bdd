"""Bringing the module to registered: a fresh LwM2M context that loses nothing it holds.

Deregistered first, the platform writes nothing more (a write during AT+QLWDEL's own
deregistration would be deleted); a confirmable send's result the lost port took is
asked for while the module still knows it; the buffer is read empty in either data
mode (it may hold an earlier session's writes); only then does the context go, and
the module is configured with the declared objects and registers (manual 5.1).
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
import logging
from typing import Any, Protocol

from homeassistant.config_entries import ConfigEntry
from homeassistant.util import dt as dt_util

from .connection import async_resolve
from .const import CONF_ENDPOINT, CONF_SERVER, CONF_SERVER_PORT, SUBENTRY_OBJECT
from .modem import (
    Bc26Modem,
    CommandRejectedError,
    ConStatus,
    DataMode,
    ModemError,
    ModemIdentity,
)
from .reading import BufferReader
from .registration import FirmwareLacksCommandError, RegistrationLog, RegistrationState
from .resources import Resources, ResourceTable, table_from
from .timing import SessionTiming

_LOGGER = logging.getLogger(__name__)


def configured_table(entry: ConfigEntry[Any]) -> ResourceTable:
    """What the entry's object subentries declare now (the next registration's table)."""
    return table_from(
        {
            subentry_id: subentry.data
            for subentry_id, subentry in entry.subentries.items()
            if subentry.subentry_type == SUBENTRY_OBJECT
        }
    )


class Session(Protocol):
    """What registering needs of the session, and what it sets there."""

    config_entry: ConfigEntry[Any]
    timing: SessionTiming
    data_mode: DataMode
    declared: ResourceTable
    resources: Resources
    registrations: RegistrationLog
    server_address: str | None
    con_unresolved: bool
    modem_identity: ModemIdentity
    generation: int

    def modem_session(self) -> AbstractAsyncContextManager[Bc26Modem]:
        """The modem, between the session's other commands."""

    def async_set_state(self, state: RegistrationState) -> None:
        """Show where the session stands."""

    def record_con_status(self, status: ConStatus) -> None:
        """Note the status of the last confirmable send."""

    def async_notify(self) -> None:
        """Tell the listeners something changed."""


class Registrar:
    """Initialises and registers the module of one session."""

    def __init__(self, session: Session, buffer: BufferReader) -> None:
        self._session = session
        self._buffer = buffer

    @property
    def mode(self) -> str:
        """The data mode's name, for the registration log."""
        return self._session.data_mode.name.lower()

    async def initialise(self) -> None:
        """Configure the module afresh and register it; raises what the modem raised."""
        session = self._session
        data = session.config_entry.data
        async with session.modem_session() as modem:
            session.async_set_state(RegistrationState.CONFIGURING)
            # AT+QLWSERV takes an address: resolved every attempt, a platform may move.
            address = session.server_address = await async_resolve(data[CONF_SERVER])
            await modem.probe()
            await self._resolve_con(modem)
            await self.deregister(modem)
            await self._buffer.read(modem)
            await modem.delete_context()
            session.resources.forget_observed()
            await modem.set_server(address, data[CONF_SERVER_PORT])
            await modem.set_endpoint(data[CONF_ENDPOINT])
            session.declared = configured_table(session.config_entry)
            await modem.declare(session.declared.objects())
            await self._set_data_format(modem)
            await self._register(modem)

    async def _set_data_format(self, modem: Bc26Modem) -> None:
        """Hex both ways; refused, the firmware predates AT+QLWCFG (field notes: R01A05)."""
        try:
            await modem.set_data_format(send_hex=True, recv_hex=True)
        except CommandRejectedError as err:
            firmware = self._session.modem_identity.firmware
            raise FirmwareLacksCommandError("AT+QLWCFG", firmware) from err

    async def deregister(self, modem: Bc26Modem) -> None:
        """AT+QLWCLOSE, waiting at most `deregister_wait`; a refusal: not registered."""
        try:
            async with asyncio.timeout(self._session.timing.deregister_wait):
                await modem.deregister()
        except (ModemError, TimeoutError) as err:
            _LOGGER.debug("No deregistration: %s", err)

    async def _resolve_con(self, modem: Bc26Modem) -> None:
        """The result of a confirmable send the lost port took, before the context goes.

        A module that refuses AT+QLWDATASTATUS? (older firmware) leaves the outcome
        unknown: the status stays as it was (waiting), so the outbox sends the uplink
        again (at least once) instead of the session never registering.
        """
        session = self._session
        if not session.con_unresolved:
            return
        status: ConStatus | None = None
        try:
            status = await modem.settled_con_status()
        except CommandRejectedError as err:
            _LOGGER.warning(
                "The module did not say whether the platform acknowledged the last "
                "confirmable uplink (%s); if it waits in the outbox, it is sent again",
                err,
            )
        session.con_unresolved = False
        if status is not None:
            session.record_con_status(status)
        session.async_notify()

    async def _register(self, modem: Bc26Modem) -> None:
        """AT+QLWOPEN in the configured mode, waiting for CONNECT OK; the attempt is logged."""
        session = self._session
        started = dt_util.utcnow()
        session.async_set_state(RegistrationState.REGISTERING)
        try:
            await modem.register(session.data_mode)
        except ModemError as err:
            session.registrations.attempted(started, self.mode, err)
            session.async_set_state(RegistrationState.WAITING_TO_RETRY)
            raise
        session.registrations.attempted(started, self.mode, None)
        session.generation += 1
        session.async_set_state(RegistrationState.REGISTERED)
