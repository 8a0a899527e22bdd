"""The LwM2M session of one BC26: connect, register, serve, reconnect, stop.

The coordinator is the only owner of the modem; one background task runs the session:
registering (registrar.py) until it holds, then serving the registration (the link
poll and buffered reads, polling.py; the periodic check) and waking for what the
module announces; after a lost port it reconnects. Sends (sending.py) and the
registration actions run their AT sequences through `modem_session()`, between the
session's own; a wait for SEND OK or UPDATE OK holds no line. Payloads and
observations go to the resources (resources.py), attempts and recoveries to the
registration log (registration.py), what entities show to the session state
(session_state.py). What the session believes (registered, observed) is a hint the
module's answers correct (healing.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager, suppress
import dataclasses
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import Context, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.util import dt as dt_util

from .connection import async_reconnect, model_name
from .const import (
    CONF_CHECK_INTERVAL,
    CONF_DATA_MODE,
    CONF_PORT,
    DATA_MODES,
    DEFAULT_CHECK_INTERVAL,
    DEFAULT_DATA_MODE,
    DOMAIN,
    LOGGER,
)
from .healing import Healer
from .modem import (
    Bc26Modem,
    DataReceived,
    IpAddressAssigned,
    ModemError,
    ModemIdentity,
    ModemRebooted,
    NetworkRegistrationChanged,
    ObserveRequest,
    PortError,
    ResourcePath,
    SimReady,
    UrcEvent,
)
from .polling import LinkPoller, option_interval
from .reading import BufferReader
from .registrar import Registrar, configured_table
from .registration import Recovery, RegistrationLog, RegistrationState
from .resources import Payload, Resources
from .session_state import SessionState
from .timing import SessionTiming


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


class Bc26Coordinator(SessionState):
    """Runs the LwM2M session of one module; what it shows is its SessionState."""

    def __init__(
        self,
        hass: HomeAssistant,
        config_entry: ConfigEntry[Any],
        modem: Bc26Modem,
        identity: ModemIdentity,
        timing: SessionTiming,
    ) -> None:
        """Take over an open, identified modem; `async_start` runs the session."""
        super().__init__(RegistrationLog(hass, config_entry, timing.failures_before_issue))
        self.hass = hass
        self.config_entry = config_entry
        self.modem_identity = identity
        self.timing = timing
        self.declared = configured_table(config_entry)  # what the module declares now
        self.data_mode = DATA_MODES[config_entry.options.get(CONF_DATA_MODE, DEFAULT_DATA_MODE)]
        self.resources = Resources(hass.loop.call_soon, self.async_notify)
        self.server_address: str | None = None  # what the server's name resolved to
        self._modem = modem
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._port_lost: Exception | None = None
        self._buffer = BufferReader(self.resources, lambda: self.declared)
        self._registrar = Registrar(self, self._buffer)
        self._poller = LinkPoller(self, self._buffer)
        self._healer = Healer(self, self._async_background, self.timing.timeouts.response)
        self._task: asyncio.Task[None] | None = None
        modem.subscribe(self._async_handle_urc)
        modem.on_connection_lost(self._async_connection_lost)

    # ------------------------------------------------------------------ what others use

    @property
    def transcript(self) -> list[str]:
        """The modem's recent lines, `tx`/`rx` and text, oldest first."""
        return [f"{line.direction} {line.text}" for line in self._modem.transcript]

    @asynccontextmanager
    async def modem_session(self) -> AsyncIterator[Bc26Modem]:
        """Exclusive use of the modem for a sequence of AT calls (ModemUnavailableError)."""
        async with self._lock:
            if not self.connected:
                raise ModemUnavailableError("the serial port is not open")
            yield self._modem

    async def async_reregister(self) -> None:
        """Register again from scratch, with the objects configured now; wait for it."""
        async with self.modem_session():
            self._async_set_unregistered()
        self._wake.set()
        async with asyncio.timeout(self.timing.timeouts.final + 60):
            await self.async_wait_registered(ModemUnavailableError("the serial port is not open"))

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
    def async_unacknowledged(self, path: ResourcePath) -> None:
        """A confirmable message to `path` timed out: the observation may be gone (healing.py)."""
        self._healer.unacknowledged(path)

    def observed_now(self, path: ResourcePath) -> bool:
        """Whether the platform observes `path`, as far as the session knows."""
        return self.resources.observed_now(path)

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
        """Stop the session's tasks, between two reads (Bc26Modem.drain_buffer).

        A read on the line when they are cancelled is finished first: the module removed
        its node as it answered. That holds a stop up by one read's deadline at most (its
        timeout, and up to `Timeouts.delete` more while its answer is still arriving).
        """
        session = () if self._task is None else (self._task,)
        for task in (*session, *self._healer.stop()):
            task.cancel()
            with suppress(asyncio.CancelledError, ModemError):  # an update's, seen by its caller
                await task

    async def async_deregister(self) -> None:
        """AT+QLWCLOSE when registered; call it with the session stopped.

        The module still pushes what the platform writes until the platform answered.
        """
        if self.connected and self.registered:
            await self._registrar.deregister(self._modem)

    async def async_stop(self, deregister: bool) -> None:
        """Stop the session; deregister first when asked and registered; close the port."""
        await self.async_stop_session()
        if deregister:
            await self.async_deregister()
        await self._modem.close()
        self.connected = False
        self.state = RegistrationState.NOT_REGISTERED
        self.registrations.closed()

    # ------------------------------------------------------------------ the session task

    async def _async_run(self) -> None:
        """Keep the module registered until the entry unloads."""
        unexpected = 0
        while True:
            try:
                if not self.connected:
                    await self._async_reconnect()
                await self._async_register_until_done()
                unexpected = 0  # registered: a later bug starts its back-off afresh
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
            except Exception:  # noqa: BLE001 - a bug: logged; a session that ends heals nothing
                unexpected += 1
                delay = self.timing.reconnect.delay(unexpected)
                LOGGER.exception(
                    "Unexpected error in the session with the BC26 on %s; starting over in %.0f s",
                    self._port,
                    delay,
                )
                self._async_set_unregistered()
                await asyncio.sleep(delay)  # not woken early: a bug on every URC must not spin

    @property
    def _port(self) -> str:
        return str(self.config_entry.data[CONF_PORT])

    async def _async_register_until_done(self) -> None:
        """Initialise and register; retry with growing delays (the log raises the issue)."""
        while not self.registered:
            self._raise_if_port_lost()
            self._wake.clear()  # what woke the session so far is dealt with by this attempt
            try:
                await self._registrar.initialise()
            except PortError:
                raise
            except ModemError as err:
                before = self.state is not RegistrationState.WAITING_TO_RETRY
                self.registrations.failed(err, self._registrar.mode, before_registering=before)
                self.async_set_state(RegistrationState.WAITING_TO_RETRY)
                failures = self.registrations.consecutive_failures
                await self._async_wait_to_retry(self.timing.registration.delay(failures))
            else:
                self._poller.unanswered = 0
                self.registrations.succeeded()

    async def _async_wait_to_retry(self, delay: float) -> None:
        """Wait `delay` before registering again, polling the link meanwhile (what to check)."""
        end = asyncio.get_running_loop().time() + delay
        while (remaining := end - asyncio.get_running_loop().time()) > 0:
            interval = await self._poller.poll_link()
            if await self._async_wait(min(remaining, interval)):
                return  # woken: a restart, a lost port or a request cuts the wait short

    async def _async_serve(self) -> None:
        """While registered: poll, drain what the module buffered, check, wait for URCs."""
        loop = asyncio.get_running_loop()
        next_poll = loop.time()
        next_check = loop.time() + self._check_interval
        while self.registered:
            self._raise_if_port_lost()
            now = loop.time()
            if now >= next_poll:  # first: a steady stream of writes must not starve it
                next_poll = loop.time() + await self._poller.poll()
            elif self._buffer.pending:
                if delay := await self._poller.drain():
                    await self._async_wait(delay)
            elif now >= next_check:
                self.async_suspect("periodic check")
                next_check = now + self._check_interval
            else:
                await self._async_wait(min(next_poll, next_check) - now)

    @property
    def _check_interval(self) -> float:
        return option_interval(self.config_entry, CONF_CHECK_INTERVAL, DEFAULT_CHECK_INTERVAL)

    async def _async_reconnect(self) -> None:
        """Open the port again with growing delays until the same module answers."""
        imei = self.modem_identity.imei
        identity = await async_reconnect(self._modem, imei, self.timing.reconnect)
        self._port_lost = None
        self.modem_identity = identity
        async_register_device(self.hass, self.config_entry, identity)  # firmware may be new
        self.connected = True
        LOGGER.info("The BC26 on %s is available again", self._port)
        self.async_notify()

    async def _async_wait(self, delay: float) -> bool:
        """Sleep up to `delay` seconds; a URC or the port wakes the session earlier (True)."""
        woken = False
        with suppress(TimeoutError):
            async with asyncio.timeout(delay):
                woken = await self._wake.wait()
        self._wake.clear()
        return woken

    def _raise_if_port_lost(self) -> None:
        if self._port_lost is not None:
            raise PortError(str(self._port_lost) or "the serial port was lost")

    @callback
    def _async_set_unregistered(self) -> None:
        self.resources.forget_observed()
        self.state = RegistrationState.NOT_REGISTERED
        self.async_notify()

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
                self.resources.deliver(Payload(path, data, dt_util.utcnow(), Context()))
            case ModemRebooted():
                self.async_register_afresh(self.generation, Recovery.MODULE_RESTARTED)
                self._wake.set()  # also cuts short a wait before the next registration attempt
            case SimReady():
                self.async_suspect("the SIM became ready (a restart?)")
            case NetworkRegistrationChanged(status=status):
                self.link = dataclasses.replace(self.link, network=status)
                self.async_notify()
            case IpAddressAssigned(address=address):
                self.link = dataclasses.replace(self.link, ip_address=address)
                self.async_notify()
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
