"""The LwM2M session of one BC26: connect, initialise, register, heal, drain, poll.

The coordinator is the only owner of the modem; one background task runs the session.
Sends (sending.py) and the registration actions run their AT sequences through
`modem_session()`, between the session's own; a wait for SEND OK or UPDATE OK holds
no line. Payloads and observations go to the resources (resources.py), attempts and
recoveries to the registration log (registration.py). What the session believes
(registered, observed) is a hint the module's answers correct (healing.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager, suppress
import dataclasses
import enum
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.util import dt as dt_util

from .connection import async_reconnect, async_resolve, model_name
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
from .healing import Healer
from .modem import (
    Bc26Modem,
    ConStatus,
    DataMode,
    DataReceived,
    IpAddressAssigned,
    LinkStatus,
    ModemError,
    ModemIdentity,
    ModemRebooted,
    ModemRebootedError,
    ModemTimeoutError,
    NetworkRegistrationChanged,
    ObserveRequest,
    PortError,
    RegistrationError,
    ResourcePath,
    SimReady,
    UrcEvent,
)
from .reading import BufferReader
from .registration import Recovery, RegistrationLog
from .resources import Payload, Resources, ResourceTable, table_from
from .timing import SessionTiming

# Unanswered polls or reads in a row that make a silent module count as gone.
SILENCE_LIMIT = 3
# A failed poll is tried again this soon (seconds), or at the poll interval if shorter.
POLL_RETRY = 60.0


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


class RegistrationState(enum.StrEnum):
    """Where the session is; the registration state sensor shows it."""

    NOT_REGISTERED = "not_registered"
    CONFIGURING = "configuring"
    REGISTERING = "registering"
    REGISTERED = "registered"
    WAITING_TO_RETRY = "waiting_to_retry"


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
        self.registrations = RegistrationLog(hass, config_entry, timing.failures_before_issue)
        self.connected = True
        self.state = RegistrationState.NOT_REGISTERED
        self.con_status: ConStatus | None = None
        self.link = LinkStatus()
        self.server_address: str | None = None  # what the server's name resolved to
        self._modem = modem
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._port_lost: Exception | None = None
        self._buffer = BufferReader(self.resources, lambda: self.declared)
        self._unanswered = 0  # polls and reads in a row the module did not answer
        self.generation = 0  # registrations so far: a check's verdict is for its own
        self._healer = Healer(self, self._async_background)
        self._listeners: list[CALLBACK_TYPE] = []
        self._task: asyncio.Task[None] | None = None
        modem.subscribe(self._async_handle_urc)
        modem.on_connection_lost(self._async_connection_lost)

    # ------------------------------------------------------------------ what others use

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

    async def async_reregister(self) -> None:
        """Register again from scratch, with the objects configured now; wait for it."""
        async with self.modem_session():
            self._async_set_unregistered()
        self._wake.set()
        async with asyncio.timeout(self.timing.timeouts.final + 60):
            while not self.registered:
                if not self.connected:
                    raise ModemUnavailableError("the serial port is not open")
                if self.state is RegistrationState.WAITING_TO_RETRY:
                    attempt = self.registrations.attempts[-1]
                    raise RegistrationError(attempt.detail or attempt.outcome)
                changed = asyncio.Event()
                remove = self.async_add_listener(changed.set)
                try:
                    await changed.wait()
                finally:
                    remove()

    @callback
    def async_schedule_reregister(self) -> None:
        """Register again soon, in the background (a changed table); the session retries."""

        async def reregister() -> None:
            with suppress(ModemError, TimeoutError):
                await self.async_reregister()

        self._async_background(reregister(), f"{DOMAIN} registering again")

    async def async_update_registration(self) -> None:
        """AT+QLWUPDATE and UPDATE OK; a refusal or a failure also registers afresh."""
        if not self.registered:
            raise NotRegisteredError("the module is not registered")
        await self._healer.update()

    @callback
    def async_suspect(self, hint: str) -> None:
        """Something suggests the registration is gone: check it (healing.py)."""
        self._healer.suspect(hint)

    @callback
    def async_register_afresh(self, generation: int, reason: Recovery) -> None:
        """Register afresh, once for the registration `generation`; logged and counted."""
        if generation != self.generation or not self.registered:
            return
        self.registrations.recovered(reason)
        self._async_set_unregistered()
        self._wake.set()

    # ------------------------------------------------------------------ life cycle

    @callback
    def async_start(self) -> None:
        """Run the session as a background task of the config entry."""
        self._task = self._async_background(self._async_run(), f"{DOMAIN} session")

    def _async_background(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        entry = self.config_entry
        return entry.async_create_background_task(self.hass, work, f"{name} {entry.title}")

    async def async_stop_session(self) -> None:
        """Stop between two reads: a read cut off in flight would lose its node.

        The lock is taken first (a drain holds it until the buffer is empty), briefly: a
        registration waiting for its result holds it too, and reads nothing.
        """
        locked = False
        with suppress(TimeoutError):
            async with asyncio.timeout(self.timing.timeouts.response):
                locked = await self._lock.acquire()
        try:
            for task in (self._task, self._healer.task):
                if task is not None:
                    task.cancel()
                    with suppress(asyncio.CancelledError):
                        await task
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
        self.registrations.closed()

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
                if self.connected:
                    LOGGER.info("The BC26 on %s is unavailable: %s", self._port, err)
                self.connected = False
                self._async_set_unregistered()
            except ModemError as err:
                # The module stopped making sense (an answer no parser reads ...): start over.
                LOGGER.debug("Session error, initialising again: %s", err)
                self._async_set_unregistered()

    @property
    def _port(self) -> str:
        return str(self.config_entry.data[CONF_PORT])

    async def _async_register_until_done(self) -> None:
        """Initialise and register; retry with growing delays (the log raises the issue)."""
        while not self.registered:
            self._raise_if_port_lost()
            self._wake.clear()  # what woke the session so far is dealt with by this attempt
            try:
                await self._async_initialise()
            except PortError:
                raise
            except ModemError as err:
                before = self.state is not RegistrationState.WAITING_TO_RETRY
                self.registrations.failed(err, self._mode, before_registering=before)
                self._async_set_state(RegistrationState.WAITING_TO_RETRY)
                failures = self.registrations.consecutive_failures
                await self._async_wait(self.timing.registration.delay(failures))
            else:
                self._unanswered = 0
                self.registrations.succeeded()

    async def _async_initialise(self) -> None:
        """A fresh LwM2M context (manual 5.1) that loses nothing the module holds.

        Deregistered first, the platform writes nothing more (a write during AT+QLWDEL's
        own deregistration would be deleted); then the buffer is read empty in either
        data mode (it may hold an earlier session's writes); then the context goes.
        """
        data = self.config_entry.data
        async with self._lock:
            modem = self._modem
            self._async_set_state(RegistrationState.CONFIGURING)
            # AT+QLWSERV takes an address: resolved every attempt, a platform may move.
            address = self.server_address = await async_resolve(data[CONF_SERVER])
            await modem.probe()
            await self._async_deregister_quickly()
            await self._buffer.read(modem)
            await modem.delete_context()
            self.resources.forget_observed()
            await modem.set_server(address, data[CONF_SERVER_PORT])
            await modem.set_endpoint(data[CONF_ENDPOINT])
            self.declared = configured_table(self.config_entry)
            await modem.declare(self.declared.objects())
            await modem.set_data_format(send_hex=True, recv_hex=True)
            await self._async_register(modem)

    @property
    def _mode(self) -> str:
        return self.data_mode.name.lower()

    async def _async_register(self, modem: Bc26Modem) -> None:
        """AT+QLWOPEN in the configured mode, waiting for CONNECT OK; the attempt is logged."""
        started = dt_util.utcnow()
        self._async_set_state(RegistrationState.REGISTERING)
        try:
            await modem.register(self.data_mode)
        except ModemError as err:
            self.registrations.attempted(started, self._mode, err)
            self._async_set_state(RegistrationState.WAITING_TO_RETRY)
            raise
        self.registrations.attempted(started, self._mode, None)
        self.generation += 1
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
            elif self._buffer.pending:
                await self._async_drain()
            elif now >= next_check:
                self.async_suspect("periodic check")
                next_check = now + self._interval(CONF_CHECK_INTERVAL, DEFAULT_CHECK_INTERVAL)
            else:
                await self._async_wait(min(next_poll, next_check) - now)

    def _interval(self, option: str, default: float) -> float:
        """An interval option in seconds; 0 switches the thing off (infinite)."""
        interval = float(self.config_entry.options.get(option, default))
        return interval if interval > 0 else float("inf")

    async def _async_poll(self) -> float:
        """The link and the last CON status; the delay to the next poll (sooner after silence)."""
        interval = self._interval(CONF_POLL_INTERVAL, DEFAULT_POLL_INTERVAL)
        try:
            async with self._lock:
                link = await self._modem.status()
                if self.data_mode is DataMode.BUFFER_ACCESS or self._buffer.pending:
                    # A missed +QLWDATARECV would stop all further ones (manual 3.10, note 1).
                    await self._buffer.read(self._modem)
        except (ModemTimeoutError, ModemRebootedError) as err:
            self._async_unanswered(err)
            self.link = LinkStatus()
            self._async_notify()
            return min(POLL_RETRY, interval)
        self._unanswered = 0
        self.link = link
        if link.con_status is not None:  # kept when the module refuses the query
            self.con_status = link.con_status
        self._async_notify()
        return interval

    async def _async_drain(self) -> None:
        try:
            async with self._lock:
                await self._buffer.read(self._modem)
        except (ModemTimeoutError, ModemRebootedError) as err:
            self._async_unanswered(err)
            await self._async_wait(self.timing.reconnect.delay(self._unanswered))
        else:
            self._unanswered = 0

    @callback
    def _async_unanswered(self, err: ModemError) -> None:
        """One more poll or read without an answer; too many in a row: start over."""
        self._unanswered += 1
        LOGGER.debug("The module did not answer (%d in a row): %s", self._unanswered, err)
        if self._unanswered >= SILENCE_LIMIT:
            self._unanswered = 0
            self.async_register_afresh(self.generation, Recovery.MODULE_SILENT)

    async def _async_reconnect(self) -> None:
        """Open the port again with growing delays until the same module answers."""
        imei = self.modem_identity.imei
        identity = await async_reconnect(self._modem, imei, self.timing.reconnect)
        self._port_lost = None
        self.modem_identity = identity
        async_register_device(self.hass, self.config_entry, identity)  # firmware may be new
        self.connected = True
        LOGGER.info("The BC26 on %s is available again", self._port)
        self._async_notify()

    async def _async_wait(self, delay: float) -> None:
        """Sleep up to `delay` seconds; a URC or the port wakes the session earlier."""
        with suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._wake.wait()
        self._wake.clear()

    def _raise_if_port_lost(self) -> None:
        if self._port_lost is not None:
            raise PortError(str(self._port_lost) or "the serial port was lost")

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
                self._buffer.announced(path)
                self._wake.set()
            case DataReceived(path=path, data=bytes() as data):
                self.resources.deliver(Payload(path, data, dt_util.utcnow()))
            case ModemRebooted():
                self.async_register_afresh(self.generation, Recovery.MODULE_RESTARTED)
                self._wake.set()  # also cuts short a wait before the next registration attempt
            case SimReady():
                self.async_suspect("the SIM became ready (a restart?)")
            case NetworkRegistrationChanged(status=status):
                self.link = dataclasses.replace(self.link, network=status)
                self._async_notify()
            case IpAddressAssigned(address=address):
                self.link = dataclasses.replace(self.link, ip_address=address)
                self._async_notify()
                self.async_suspect("a new IP address (a restart?)")
            case _:
                LOGGER.debug("Unsolicited: %s", event)


@callback
def async_register_device(
    hass: HomeAssistant, entry: ConfigEntry[Any], identity: ModemIdentity
) -> None:
    """One device per module, known by its IMEI; updated when the firmware changes."""
    dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={(DOMAIN, identity.imei)},
        manufacturer="Quectel",
        model=model_name(identity),
        name=entry.title,
        serial_number=identity.imei,
        sw_version=identity.firmware,
    )
