"""The LwM2M session of one BC26: connect, initialise, register, heal, drain, poll.

The coordinator is the only owner of the modem. One background task (created by the
config entry) runs the session; entities read its state and listen for changes;
sends and the registration actions go through it, and it serialises their AT
sequences with its own (`modem_session()`), holding the serial line only for the
immediate part of a command: a confirmable send waiting for SEND OK, or an update
waiting for UPDATE OK, leaves drains, polls and queries free to run. Payloads and
observations go to the resources (`resources.py`), which tell the entities.

What the session believes about the module (registered, observed) is a hint that
the module's answers correct, never a gate that outlives the evidence. A send the
module accepts proves the platform observes its resource; a module that refuses a
send it should take, a reboot sign (`+CPIN: READY`, `+IP:`), a confirmable message
the platform reset, repeated confirmable timeouts, and the periodic check all lead
to a registration update. Its refusal (the module lost its LwM2M context) or
`UPDATE FAIL` (the platform forgot the registration) leads to a fresh registration,
logged once and counted on the registration state sensor.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
import enum
import ipaddress
import socket
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.util import dt as dt_util

from .connection import async_reopen_module
from .const import (
    CONF_CHECK_INTERVAL,
    CONF_DATA_MODE,
    CONF_ENDPOINT,
    CONF_POLL_INTERVAL,
    CONF_PORT,
    CONF_SERVER,
    CONF_SERVER_PORT,
    DATA_MODES,
    DEFAULT_CHECK_INTERVAL,
    DEFAULT_DATA_MODE,
    DEFAULT_POLL_INTERVAL,
    DOMAIN,
    LOGGER,
    SUBENTRY_OBJECT,
)
from .modem import (
    Bc26Modem,
    CommandRejectedError,
    ConStatus,
    DataMode,
    DataReceived,
    FinalResult,
    IpAddressAssigned,
    ModemError,
    ModemIdentity,
    ModemRebooted,
    ModemRebootedError,
    ModemTimeoutError,
    NetworkRegistration,
    NetworkRegistrationChanged,
    ObserveRequest,
    PortError,
    RegistrationError,
    ResourcePath,
    SendFailedError,
    SimReady,
    UrcEvent,
)
from .resources import Payload, Resources, ResourceTable, table_from
from .timing import SessionTiming
from .uplink import SendQueue, SendStatus, Uplink

# Registration attempts kept for diagnostics.
ATTEMPT_HISTORY = 20
# Unanswered polls or reads in a row that make a silent module count as gone.
SILENCE_LIMIT = 3
# A failed poll is tried again this soon (seconds), or at the poll interval if shorter.
POLL_RETRY = 60.0
# Confirmable sends in a row that timed out before the registration is checked.
CON_TIMEOUTS_BEFORE_CHECK = 2


class SessionError(ModemError):
    """The session cannot run the request now (a ModemError, like every modem failure)."""


class ModemUnavailableError(SessionError):
    """The serial port is not open; the session is reconnecting."""


class NotRegisteredError(SessionError):
    """The module is not registered with the LwM2M server."""


class NotObservedError(SessionError):
    """The module refused a send to a resource the platform does not observe (yet)."""

    def __init__(self, path: ResourcePath) -> None:
        super().__init__(f"{path} is not observed")
        self.path = path


class ServerNotFoundError(SessionError):
    """The server's host name does not resolve to an IPv4 address."""


class RegistrationState(enum.StrEnum):
    """Where the session is; the registration state sensor shows it."""

    NOT_REGISTERED = "not_registered"
    CONFIGURING = "configuring"
    REGISTERING = "registering"
    REGISTERED = "registered"
    WAITING_TO_RETRY = "waiting_to_retry"


class Recovery(enum.StrEnum):
    """Why the session registered again by itself."""

    MODULE_RESTARTED = "module_restarted"  # the boot banner
    CONTEXT_LOST = "context_lost"  # the module refused a registration update
    PLATFORM_FORGOT = "platform_forgot"  # UPDATE FAIL
    MODULE_SILENT = "module_silent"  # several polls or reads in a row unanswered


_RECOVERY_TEXT = {
    Recovery.MODULE_RESTARTED: "the module restarted",
    Recovery.CONTEXT_LOST: "the module lost its LwM2M context",
    Recovery.PLATFORM_FORGOT: "the platform no longer knows the registration",
    Recovery.MODULE_SILENT: "the module stopped answering",
}


@dataclass(slots=True)
class LinkQuality:
    """The radio link as last polled (None: not known yet, or the module did not say)."""

    signal_dbm: int | None = None
    network: NetworkRegistration | None = None
    ip_address: str | None = None


@dataclass(frozen=True, slots=True)
class RegistrationAttempt:
    """One AT+QLWOPEN and how it ended, for diagnostics."""

    started_at: datetime
    mode: str
    outcome: str  # "registered" or the error's class name
    detail: str = ""


@dataclass(slots=True)
class Recoveries:
    """How often the session healed itself, and the last time why."""

    count: int = 0
    last: Recovery | None = None
    last_at: datetime | None = None


def configured_table(entry: ConfigEntry[Any]) -> ResourceTable:
    """What the entry's object subentries declare now (the next registration's table)."""
    return table_from(
        {
            subentry_id: subentry.data
            for subentry_id, subentry in entry.subentries.items()
            if subentry.subentry_type == SUBENTRY_OBJECT
        }
    )


class Bc26Coordinator:
    """Runs the LwM2M session of one module and tells entities what changed."""

    def __init__(
        self,
        hass: HomeAssistant,
        config_entry: ConfigEntry[Any],
        modem: Bc26Modem,
        identity: ModemIdentity,
        timing: SessionTiming,
    ) -> None:
        """Take over an open, identified modem; `async_start` runs the session."""
        self.hass = hass
        self.config_entry = config_entry
        self.modem_identity = identity
        self.timing = timing
        self.declared = configured_table(config_entry)  # what the module declares now
        self.data_mode = DATA_MODES[config_entry.options.get(CONF_DATA_MODE, DEFAULT_DATA_MODE)]
        self.resources = Resources(hass.loop.call_soon, self._async_notify)
        self.connected = True
        self.state = RegistrationState.NOT_REGISTERED
        self.con_status: ConStatus | None = None
        self.link = LinkQuality()
        self.attempts: deque[RegistrationAttempt] = deque(maxlen=ATTEMPT_HISTORY)
        self.recoveries = Recoveries()
        self.consecutive_failures = 0
        self.server_address: str | None = None  # what the server's name resolved to
        self._modem = modem
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._port_lost: Exception | None = None
        self._drain_pending = False
        self._drain_path: ResourcePath | None = None  # of the last +QLWDATARECV
        self._unanswered = 0  # polls and reads in a row the module did not answer
        self._con_timeouts = 0  # confirmable sends in a row without an answer
        self._generation = 0  # registrations so far: a check's verdict is for its own
        self._check: asyncio.Task[None] | None = None
        self._listeners: list[CALLBACK_TYPE] = []
        self._task: asyncio.Task[None] | None = None
        # Sends from actions, in call order, between the session's own commands.
        self.uplinks = SendQueue(self.async_transmit)
        modem.subscribe(self._async_handle_urc)
        modem.on_connection_lost(self._async_connection_lost)

    # ------------------------------------------------------------------ public API

    @property
    def registered(self) -> bool:
        """Whether the module is registered with the LwM2M server right now."""
        return self.state is RegistrationState.REGISTERED

    @property
    def transcript(self) -> list[str]:
        """The modem's recent lines, `tx`/`rx` and text, oldest first."""
        return [f"{line.direction} {line.text}" for line in self._modem.transcript]

    @callback
    def async_add_listener(self, update_callback: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call `update_callback` whenever the session state changes; returns the remover."""
        self._listeners.append(update_callback)
        return lambda: self._listeners.remove(update_callback)

    @asynccontextmanager
    async def modem_session(self) -> AsyncIterator[Bc26Modem]:
        """Exclusive use of the modem for a sequence of AT calls (ModemUnavailableError)."""
        async with self._lock:
            if not self.connected:
                raise ModemUnavailableError("the serial port is not open")
            yield self._modem

    @callback
    def record_con_status(self, status: ConStatus) -> None:
        """Note the status of the last confirmable send."""
        if status != self.con_status:
            self.con_status = status
            self._async_notify()

    async def async_transmit(self, uplink: Uplink, on_written: Callable[[], None]) -> SendStatus:
        """Hand one send to the module; wait outside the line for a CON send's result.

        Raises ModemUnavailableError, NotRegisteredError, NotObservedError (the module
        refused a resource the platform does not observe), SendFailedError, and what
        the modem raises.
        """
        pending = await self._async_begin_send(uplink, on_written)
        self.resources.observe(uplink.path)  # the module took it: the platform observes it
        if not uplink.confirmable:
            return SendStatus.SENT
        try:
            await pending.wait()
        except (SendFailedError, ModemTimeoutError) as err:
            await self._async_con_failed(err)
            raise
        self._con_timeouts = 0
        self.record_con_status(ConStatus.SUCCESS)
        return SendStatus.ACKNOWLEDGED

    async def async_reregister(self) -> None:
        """Deregister when registered, register again with the table configured now.

        On failure the session takes over again: it re-initialises and retries with backoff.
        """
        async with self.modem_session():
            self._async_set_unregistered()
        self._wake.set()
        async with asyncio.timeout(self.timing.timeouts.final + 60):
            while not self.registered:
                if not self.connected:
                    raise ModemUnavailableError("the serial port is not open")
                if self.state is RegistrationState.WAITING_TO_RETRY:
                    attempt = self.attempts[-1]
                    raise RegistrationError(attempt.detail or attempt.outcome)
                await self._async_changed()

    @callback
    def async_schedule_reregister(self) -> None:
        """Register again soon, in the background (a changed table); the session retries."""

        async def reregister() -> None:
            try:
                await self.async_reregister()
            except (ModemError, TimeoutError) as err:
                LOGGER.debug("Registering again with the new objects failed: %s", err)

        self._async_background(reregister(), f"{DOMAIN} registering again")

    async def async_update_registration(self) -> None:
        """Send a registration update (AT+QLWUPDATE) and wait for UPDATE OK.

        A refusal (no LwM2M context) or UPDATE FAIL (the platform forgot the module)
        also makes the session register again by itself.
        """
        generation = self._generation
        async with self.modem_session() as modem:
            if not self.registered:
                raise NotRegisteredError("the module is not registered")
            try:
                pending = await modem.begin_update()
            except CommandRejectedError:
                self._async_recover(generation, Recovery.CONTEXT_LOST)
                raise
        try:
            await pending.wait()
        except (RegistrationError, ModemTimeoutError):
            self._async_recover(generation, Recovery.PLATFORM_FORGOT)
            raise

    # ------------------------------------------------------------------ life cycle

    @callback
    def async_start(self) -> None:
        """Run the session as a background task of the config entry."""
        self.uplinks.start(self._async_background)
        self._task = self._async_background(self._async_run(), f"{DOMAIN} session")

    def _async_background(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        entry = self.config_entry
        return entry.async_create_background_task(self.hass, work, f"{name} {entry.title}")

    async def async_stop_session(self) -> None:
        """Stop sending and reading, between two reads: what the module holds stays there.

        A read cut off in flight would lose its node: the module forgets what it
        answered. So the session's lock is taken first (a drain holds it from the first
        read until the buffer is empty), briefly: a registration waiting for its result
        holds it too, and reads nothing.
        """
        self.uplinks.close()
        locked = False
        with suppress(TimeoutError):
            async with asyncio.timeout(self.timing.timeouts.response):
                locked = await self._lock.acquire()
        try:
            for task in (self._task, self._check):
                if task is not None:
                    task.cancel()
                    with suppress(asyncio.CancelledError):
                        await task
            self._task = self._check = None
        finally:
            if locked:
                self._lock.release()

    async def async_stop(self, deregister: bool) -> None:
        """Stop the session; deregister first when asked and registered; close the port."""
        await self.async_stop_session()
        if deregister and self.connected and self.registered:
            await self._async_deregister_quickly()
        await self._modem.close()
        self.connected = False
        self.state = RegistrationState.NOT_REGISTERED
        # The entry no longer runs a session: whatever the issue said is no longer known.
        ir.async_delete_issue(self.hass, DOMAIN, self.issue_id)

    async def _async_deregister_quickly(self) -> None:
        """AT+QLWCLOSE, waiting at most `deregister_wait`; a refusal: not registered."""
        try:
            async with asyncio.timeout(self.timing.deregister_wait):
                await self._modem.deregister()
        except (ModemError, TimeoutError) as err:
            LOGGER.debug("No deregistration: %s", err)

    # ------------------------------------------------------------------ the session task

    async def _async_run(self) -> None:
        """Keep the module registered until the entry unloads."""
        while True:
            try:
                if not self.connected:
                    await self._async_reconnect()
                await self._async_register_until_done()
                await self._async_serve()
            except PortError as err:
                self._async_port_lost(err)
            except ModemError as err:
                # The module stopped making sense (an answer no parser reads ...): start over.
                LOGGER.debug("Session error, initialising again: %s", err)
                self._async_set_unregistered()

    async def _async_register_until_done(self) -> None:
        """Initialise and register; retry with growing delays; raise an issue when stuck."""
        while not self.registered:
            self._raise_if_port_lost()
            self._wake.clear()  # what woke the session so far is dealt with by this attempt
            try:
                await self._async_initialise()
            except PortError:
                raise
            except ModemError as err:
                self._async_registration_failed(err)
                await self._async_wait(self.timing.registration.delay(self.consecutive_failures))
            else:
                self.consecutive_failures = 0
                self._unanswered = 0
                ir.async_delete_issue(self.hass, DOMAIN, self.issue_id)

    async def _async_initialise(self) -> None:
        """A fresh LwM2M context (manual 5.1) that loses nothing the module holds.

        A registered module is deregistered first, so the platform writes nothing more
        (a write during AT+QLWDEL's own deregistration would be accepted and then
        deleted); then its buffer is read empty, whatever the data mode (it may hold
        writes of an earlier buffer access session); only then is the context deleted.
        """
        data = self.config_entry.data
        async with self._lock:
            modem = self._modem
            self._async_set_state(RegistrationState.CONFIGURING)
            address = await self._async_server_address()
            await modem.probe()
            await self._async_deregister_quickly()
            await modem.drain_buffer(self._async_node)
            await modem.delete_context()
            self.resources.forget_observed()
            await modem.set_server(address, data[CONF_SERVER_PORT])
            await modem.set_endpoint(data[CONF_ENDPOINT])
            self.declared = configured_table(self.config_entry)
            await modem.declare(self.declared.objects())
            await modem.set_data_format(send_hex=True, recv_hex=True)
            await self._async_register(modem)

    async def _async_server_address(self) -> str:
        """The server's IPv4 address (AT+QLWSERV takes addresses), resolved every attempt."""
        host = str(self.config_entry.data[CONF_SERVER])
        with suppress(ValueError):
            return str(ipaddress.IPv4Address(host))
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(
                host, None, family=socket.AF_INET, type=socket.SOCK_DGRAM
            )
        except OSError as err:
            raise ServerNotFoundError(f"cannot resolve {host}: {err}") from err
        self.server_address = str(infos[0][4][0])
        return self.server_address

    async def _async_register(self, modem: Bc26Modem) -> None:
        """AT+QLWOPEN in the configured mode, waiting for CONNECT OK; the attempt is recorded."""
        started = dt_util.utcnow()
        mode = self.data_mode.name.lower()
        self._async_set_state(RegistrationState.REGISTERING)
        try:
            await modem.register(self.data_mode)
        except ModemError as err:
            self.attempts.append(RegistrationAttempt(started, mode, type(err).__name__, str(err)))
            self._async_set_state(RegistrationState.WAITING_TO_RETRY)
            raise
        self.attempts.append(RegistrationAttempt(started, mode, "registered"))
        self._generation += 1
        self._con_timeouts = 0
        self._async_set_state(RegistrationState.REGISTERED)

    async def _async_serve(self) -> None:
        """While registered: poll, drain what the module buffered, check, wait for URCs."""
        loop = asyncio.get_running_loop()
        next_poll = loop.time()
        next_check = loop.time() + self._interval(CONF_CHECK_INTERVAL, DEFAULT_CHECK_INTERVAL)
        while self.registered:
            self._raise_if_port_lost()
            now = loop.time()
            if now >= next_poll:  # first: a steady stream of writes must not starve it
                next_poll = loop.time() + await self._async_poll()
            elif self._drain_pending:
                await self._async_drain()
            elif now >= next_check:
                self._async_suspect("periodic check")
                next_check = now + self._interval(CONF_CHECK_INTERVAL, DEFAULT_CHECK_INTERVAL)
            else:
                await self._async_wait(min(next_poll, next_check) - now)

    def _interval(self, option: str, default: float) -> float:
        """An interval option in seconds; 0 switches the thing off (infinite)."""
        interval = float(self.config_entry.options.get(option, default))
        return interval if interval > 0 else float("inf")

    async def _async_poll(self) -> float:
        """Signal, network registration, IP address, CON status; the delay to the next poll.

        An unanswered poll marks the link unknown and is tried again soon; only
        SILENCE_LIMIT of them in a row count as a module that is gone.
        """
        interval = self._interval(CONF_POLL_INTERVAL, DEFAULT_POLL_INTERVAL)
        try:
            async with self._lock:
                modem = self._modem
                signal = await _answer_or_none(modem.signal())
                network = await _answer_or_none(modem.network_registration())
                address = await _answer_or_none(modem.ip_address())
                status = await _answer_or_none(modem.con_status())
                if self.data_mode is DataMode.BUFFER_ACCESS or self._drain_pending:
                    # A missed +QLWDATARECV would stop all further ones (manual 3.10, note 1).
                    self._drain_pending = False
                    await modem.drain_buffer(self._async_node)
        except (ModemTimeoutError, ModemRebootedError) as err:
            self._async_unanswered(err)
            self.link = LinkQuality()
            self._async_notify()
            return min(POLL_RETRY, interval)
        self._unanswered = 0
        self.link = LinkQuality(signal.rssi_dbm if signal else None, network, address)
        if status is not None:
            self.con_status = status
        self._async_notify()
        return interval

    async def _async_drain(self) -> None:
        self._drain_pending = False
        try:
            async with self._lock:
                await self._modem.drain_buffer(self._async_node)
        except (ModemTimeoutError, ModemRebootedError) as err:
            self._drain_pending = True  # read again: the module still holds it
            self._async_unanswered(err)
            await self._async_wait(self.timing.reconnect.delay(self._unanswered))
        else:
            self._unanswered = 0

    @callback
    def _async_node(self, data: bytes) -> None:
        """One buffered node: the path of the +QLWDATARECV that announced its burst.

        AT+QLWRD does not say which resource a node is of, and only the first node of a
        burst is announced (manual 3.10); without an announcement (after a reconnect)
        the one writable resource declared. Buffer access is refused with more than one
        (config_flow.py), so the path is never a guess between two.
        """
        writable = self.declared.writable
        path = self._drain_path or (writable[0] if writable else None)
        if path is None:
            LOGGER.warning("A buffered write of %d bytes, and no writable resource", len(data))
            return
        self.resources.deliver(Payload(path, data, dt_util.utcnow()))

    @callback
    def _async_unanswered(self, err: ModemError) -> None:
        """One more poll or read without an answer; too many in a row: start over."""
        self._unanswered += 1
        LOGGER.debug("The module did not answer (%d in a row): %s", self._unanswered, err)
        if self._unanswered >= SILENCE_LIMIT:
            self._unanswered = 0
            self._async_recover(self._generation, Recovery.MODULE_SILENT)

    async def _async_reconnect(self) -> None:
        """Open the port again with growing delays until the same module answers."""
        await self._modem.close()
        port = self.config_entry.data[CONF_PORT]
        attempt = 0
        while True:
            attempt += 1
            await asyncio.sleep(self.timing.reconnect.delay(attempt))
            try:
                identity = await async_reopen_module(self._modem)
            except ModemError as err:
                LOGGER.debug("Reconnect attempt %d failed: %s", attempt, err)
                continue
            if identity.imei == self.modem_identity.imei:
                break
            LOGGER.debug("Another module answers on %s; waiting for ours", port)
            await self._modem.close()
        self._port_lost = None
        self.modem_identity = identity
        async_register_device(self.hass, self.config_entry, identity)  # firmware may be new
        self.connected = True
        LOGGER.info("The BC26 on %s is available again", port)
        self._async_notify()

    async def _async_wait(self, delay: float) -> None:
        """Sleep up to `delay` seconds; a URC or the port wakes the session earlier."""
        with suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._wake.wait()
        self._wake.clear()

    async def _async_changed(self) -> None:
        """Until the next change of the session's state."""
        changed = asyncio.Event()
        remove = self.async_add_listener(changed.set)
        try:
            await changed.wait()
        finally:
            remove()

    def _raise_if_port_lost(self) -> None:
        if self._port_lost is not None:
            raise PortError(str(self._port_lost) or "the serial port was lost")

    # ------------------------------------------------------------------ healing

    async def _async_begin_send(
        self, uplink: Uplink, on_written: Callable[[], None]
    ) -> FinalResult:
        """AT+QLWDATASEND up to its OK; a refusal is read against what the session believes."""
        async with self.modem_session() as modem:
            if not self.registered:
                raise NotRegisteredError("the module is not registered")
            try:
                pending = await modem.begin_send(
                    uplink.path, uplink.data, uplink.confirmable, on_written=on_written
                )
            except CommandRejectedError:
                if not self.resources.observed_now(uplink.path):
                    raise NotObservedError(uplink.path) from None
                # Registered and observed, as far as we knew, and yet refused.
                self._async_suspect("a send was refused")
                raise
        if uplink.confirmable:
            self.record_con_status(ConStatus.WAITING)
        return pending

    async def _async_con_failed(self, err: ModemError) -> None:
        """SEND FAIL or no result: note why; a reset or repeated timeouts check the session."""
        status = ConStatus.TIMEOUT
        if isinstance(err, SendFailedError):
            with suppress(ModemError):
                async with self.modem_session() as modem:
                    status = await modem.con_status()
        self.record_con_status(status)
        if status is ConStatus.RESET:
            self._async_suspect("the platform reset a confirmable message")
        elif status is ConStatus.TIMEOUT:
            self._con_timeouts += 1
            if self._con_timeouts >= CON_TIMEOUTS_BEFORE_CHECK:
                self._con_timeouts = 0
                self._async_suspect("confirmable messages keep timing out")

    @callback
    def _async_suspect(self, hint: str) -> None:
        """Something suggests the registration is gone: check it with an update."""
        if not self.registered or (self._check is not None and not self._check.done()):
            return
        LOGGER.debug("Checking the registration: %s", hint)
        self._check = self._async_background(
            self._async_check(self._generation), f"{DOMAIN} registration check"
        )

    async def _async_check(self, generation: int) -> None:
        """AT+QLWUPDATE; a refusal or UPDATE FAIL (or no result at all) means: register afresh."""
        try:
            async with self._lock:
                if generation != self._generation or not self.registered:
                    return
                pending = await self._modem.begin_update()
        except CommandRejectedError:
            self._async_recover(generation, Recovery.CONTEXT_LOST)
            return
        except ModemError as err:  # no answer, port lost, reboot: handled where they show
            LOGGER.debug("Registration check not done: %s", err)
            return
        try:
            await pending.wait()
        except (RegistrationError, ModemTimeoutError):
            self._async_recover(generation, Recovery.PLATFORM_FORGOT)
        except ModemError as err:
            LOGGER.debug("Registration check interrupted: %s", err)

    @callback
    def _async_recover(self, generation: int, reason: Recovery) -> None:
        """Register afresh (once per registration), logged once and counted."""
        if generation != self._generation or not self.registered:
            return
        LOGGER.info("%s: %s; registering again", self.config_entry.title, _RECOVERY_TEXT[reason])
        self.recoveries = Recoveries(self.recoveries.count + 1, reason, dt_util.utcnow())
        self._async_set_unregistered()
        self._wake.set()

    # ------------------------------------------------------------------ state changes

    @callback
    def _async_port_lost(self, err: Exception) -> None:
        if self.connected:
            LOGGER.info("The BC26 on %s is unavailable: %s", self.config_entry.data[CONF_PORT], err)
        self.connected = False
        self._async_set_unregistered()

    @callback
    def _async_registration_failed(self, err: ModemError) -> None:
        if self.state is not RegistrationState.WAITING_TO_RETRY:
            # It failed before AT+QLWOPEN (no answer, a refused setting, no address).
            mode = self.data_mode.name.lower()
            detail = f"before registering: {err}"
            self.attempts.append(
                RegistrationAttempt(dt_util.utcnow(), mode, type(err).__name__, detail)
            )
            self._async_set_state(RegistrationState.WAITING_TO_RETRY)
        self.consecutive_failures += 1
        LOGGER.debug("Registration attempt %d failed: %s", self.consecutive_failures, err)
        if self.consecutive_failures == self.timing.failures_before_issue:
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                self.issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key="registration_failed",
                translation_placeholders={"title": self.config_entry.title},
            )

    @property
    def issue_id(self) -> str:
        """The repair issue raised when registration keeps failing."""
        return f"registration_failed_{self.config_entry.entry_id}"

    @callback
    def _async_set_state(self, state: RegistrationState) -> None:
        if state is not self.state:
            self.state = state
            self._async_notify()

    @callback
    def _async_set_unregistered(self) -> None:
        self.resources.forget_observed()
        self.state = RegistrationState.NOT_REGISTERED
        self._async_notify()

    @callback
    def _async_notify(self) -> None:
        for update_callback in list(self._listeners):
            update_callback()

    # ------------------------------------------------------------------ modem events

    @callback
    def _async_connection_lost(self, err: Exception | None) -> None:
        self._port_lost = err or PortError("the serial port was closed")
        self._wake.set()

    @callback
    def _async_handle_urc(self, event: UrcEvent) -> None:
        match event:
            case ObserveRequest(path=path, cancel=cancel):
                self.resources.observe(path, cancel)
            case DataReceived(path=path, data=None):
                self._drain_path = path
                self._drain_pending = True
                self._wake.set()
            case DataReceived(path=path, data=bytes() as data):
                self.resources.deliver(Payload(path, data, dt_util.utcnow()))
            case ModemRebooted():
                self._async_recover(self._generation, Recovery.MODULE_RESTARTED)
                self._wake.set()  # also cuts short a wait before the next registration attempt
            case SimReady():
                self._async_suspect("the SIM became ready (a restart?)")
            case NetworkRegistrationChanged(status=status):
                self.link.network = status
                self._async_notify()
            case IpAddressAssigned(address=address):
                self.link.ip_address = address
                self._async_notify()
                self._async_suspect("a new IP address (a restart?)")
            case _:
                LOGGER.debug("Unsolicited: %s", event)


async def _answer_or_none[T](query: Awaitable[T]) -> T | None:
    """The module's answer to a link query, or None when it refuses it (silence raises)."""
    try:
        answer: T = await query
    except CommandRejectedError as err:
        LOGGER.debug("Link query refused: %s", err)
        return None
    return answer


@callback
def async_register_device(
    hass: HomeAssistant, entry: ConfigEntry[Any], identity: ModemIdentity
) -> None:
    """One device per module, known by its IMEI; updated when the firmware changes."""
    dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={(DOMAIN, identity.imei)},
        manufacturer="Quectel",
        model=identity.model,
        name=entry.title,
        serial_number=identity.imei,
        sw_version=identity.firmware,
    )
