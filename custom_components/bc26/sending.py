"""Handing one send to the module: the serial line only until OK, beliefs corrected.

`Sender.transmit` is the send queue's step (uplink.py): AT+QLWDATASEND inside the
session's lock, then, for a confirmable send, the wait for SEND OK / SEND FAIL
outside it, so drains and polls go on meanwhile. What the module says corrects the
session: a send it takes proves the platform observes the resource; one it refuses
although the session believed it possible, a reset, or repeated timeouts make the
session check its registration.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress

from .coordinator import Bc26Coordinator, NotObservedError, NotRegisteredError
from .modem import (
    CommandRejectedError,
    ConStatus,
    FinalResult,
    ModemError,
    ModemTimeoutError,
    PortError,
    ResourcePath,
    SendFailedError,
)
from .uplink import SendOutcomeUnknownError, SendStatus, Uplink

# Confirmable sends in a row that timed out before the registration is checked.
CON_TIMEOUTS_BEFORE_CHECK = 2


class Sender:
    """Sends of one session, one at a time (the queue calls `transmit` in order)."""

    def __init__(self, session: Bc26Coordinator) -> None:
        self._session = session
        self._con_timeouts = 0  # confirmable sends in a row without an answer

    async def transmit(self, uplink: Uplink, on_written: Callable[[], None]) -> SendStatus:
        """Hand one send to the module; wait outside the line for a CON send's result.

        Raises ModemUnavailableError, NotRegisteredError, NotObservedError (the module
        refused a resource the platform does not observe), SendFailedError,
        SendOutcomeUnknownError (the port went while a CON send waited for its result;
        `con_unresolved` tells when the session has it), and what the modem raises.
        """
        session = self._session
        pending = await self._begin(uplink, on_written)
        session.resources.observe(uplink.path)  # the module took it: the platform observes it
        if not uplink.confirmable:
            return SendStatus.SENT
        try:
            await pending.wait()
        except (SendFailedError, ModemTimeoutError) as err:
            await self._failed(uplink.path, err)
            raise
        except PortError as err:
            # The platform may have acknowledged it: the session asks the module later.
            session.con_unresolved = True
            raise SendOutcomeUnknownError(str(err)) from err
        self._con_timeouts = 0
        session.record_con_status(ConStatus.SUCCESS)
        return SendStatus.ACKNOWLEDGED

    async def _begin(self, uplink: Uplink, on_written: Callable[[], None]) -> FinalResult:
        """AT+QLWDATASEND up to its OK; a refusal is read against what the session believes."""
        session = self._session
        async with session.modem_session() as modem:
            if not session.registered:
                raise NotRegisteredError("the module is not registered")
            try:
                pending = await modem.begin_send(
                    uplink.path, uplink.data, uplink.confirmable, on_written=on_written
                )
            except CommandRejectedError:
                if not session.resources.observed_now(uplink.path):
                    raise NotObservedError(uplink.path) from None
                # Registered and observed, as far as it knew, and yet refused.
                session.async_suspect("a send was refused")
                raise
        if uplink.confirmable:
            session.record_con_status(ConStatus.WAITING)
        return pending

    async def _failed(self, path: ResourcePath, err: ModemError) -> None:
        """SEND FAIL or no result: note why; a reset or repeated timeouts check the session.

        A timeout may also have ended the observation of `path` (healing.py).
        """
        session = self._session
        status = ConStatus.TIMEOUT
        if isinstance(err, SendFailedError):
            with suppress(ModemError):
                async with session.modem_session() as modem:
                    status = await modem.con_status()
        session.record_con_status(status)
        if status is ConStatus.RESET:
            session.async_suspect("the platform reset a confirmable message")
        elif status is ConStatus.TIMEOUT:
            session.async_unacknowledged(path)
            self._con_timeouts += 1
            if self._con_timeouts >= CON_TIMEOUTS_BEFORE_CHECK:
                self._con_timeouts = 0
                session.async_suspect("confirmable messages keep timing out")
