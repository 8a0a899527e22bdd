"""The slow side of a session: the link poll, buffered reads, silences.

The poll reads signal, network registration, IP address and the last confirmable
send's status (one `status()`), and in buffer access mode reads the buffer too: a
missed +QLWDATARECV would stop all further ones (manual 3.10, note 1). A poll or read
the module does not answer marks the link unknown and is tried again soon; only
SILENCE_LIMIT in a row count as a module that stopped answering, which registers
afresh. While the module cannot register, the link alone is polled.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
import logging
from typing import Any, Protocol

from homeassistant.config_entries import ConfigEntry

from .const import CONF_POLL_INTERVAL, DEFAULT_POLL_INTERVAL
from .modem import (
    Bc26Modem,
    ConStatus,
    DataMode,
    LinkStatus,
    ModemError,
    ModemRebootedError,
    ModemTimeoutError,
    PortError,
)
from .reading import BufferReader
from .registration import Recovery
from .timing import SessionTiming

_LOGGER = logging.getLogger(__name__)

# Unanswered polls or reads in a row that make a silent module count as gone.
SILENCE_LIMIT = 3
# A failed poll is tried again this soon (seconds), or at the poll interval if shorter.
POLL_RETRY = 60.0


def option_interval(entry: ConfigEntry[Any], option: str, default: float) -> float:
    """An interval option in seconds; 0 switches the thing off (infinite)."""
    interval = float(entry.options.get(option, default))
    return interval if interval > 0 else float("inf")


class Session(Protocol):
    """What polling needs of the session, and what it sets there."""

    config_entry: ConfigEntry[Any]
    timing: SessionTiming
    data_mode: DataMode
    generation: int
    link: LinkStatus
    con_status: ConStatus | None

    def modem_session(self) -> AbstractAsyncContextManager[Bc26Modem]:
        """The modem, between the session's other commands."""

    def async_notify(self) -> None:
        """Tell the listeners something changed."""

    def async_register_afresh(self, generation: int, reason: Recovery) -> None:
        """Register again, if registration `generation` is still the current one."""


class LinkPoller:
    """Polls and reads of one session, and how many in a row went unanswered."""

    def __init__(self, session: Session, buffer: BufferReader) -> None:
        self._session = session
        self._buffer = buffer
        self.unanswered = 0

    async def poll(self) -> float:
        """The link and the last CON status; the delay to the next poll (sooner after silence)."""
        session = self._session
        interval = self._interval
        try:
            async with session.modem_session() as modem:
                link = await modem.status()
                if session.data_mode is DataMode.BUFFER_ACCESS or self._buffer.pending:
                    await self._buffer.read(modem)
        except (ModemTimeoutError, ModemRebootedError) as err:
            self._unanswered(err)
            session.link = LinkStatus()
            session.async_notify()
            return min(POLL_RETRY, interval)
        self.unanswered = 0
        session.link = link
        if link.con_status is not None:  # kept when the module refuses the query
            session.con_status = link.con_status
        session.async_notify()
        return interval

    async def poll_link(self) -> float:
        """Signal, network and address while the module cannot register; the next poll's delay.

        They are what to check then (coverage, SIM). Silence only marks them unknown:
        registering already starts over on its own.
        """
        session = self._session
        try:
            async with session.modem_session() as modem:
                session.link = await modem.status()
        except PortError:
            raise  # the port went: that ends the wait
        except ModemError as err:  # silence, a restart, an answer no parser reads
            _LOGGER.debug("No link status while not registered: %s", err)
            session.link = LinkStatus()
        session.async_notify()
        return self._interval

    @property
    def _interval(self) -> float:
        """The poll interval option, in seconds."""
        return option_interval(
            self._session.config_entry, CONF_POLL_INTERVAL, DEFAULT_POLL_INTERVAL
        )

    async def drain(self) -> float:
        """Read what the module announced; the delay before trying again (0: all read)."""
        try:
            async with self._session.modem_session() as modem:
                await self._buffer.read(modem)
        except (ModemTimeoutError, ModemRebootedError) as err:
            self._unanswered(err)
            return self._session.timing.reconnect.delay(self.unanswered)
        self.unanswered = 0
        return 0.0

    def _unanswered(self, err: ModemError) -> None:
        """One more poll or read without an answer; too many in a row: start over."""
        self.unanswered += 1
        _LOGGER.debug("The module did not answer (%d in a row): %s", self.unanswered, err)
        if self.unanswered >= SILENCE_LIMIT:
            self.unanswered = 0
            session = self._session
            session.async_register_afresh(session.generation, Recovery.MODULE_SILENT)
