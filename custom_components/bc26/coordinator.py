"""The LwM2M session of one BC26: connect, initialise, register, reconnect, drain, poll.

The coordinator is the only owner of the modem. One background task (created by the
config entry) runs the session; entities read its state and listen for changes;
actions and buttons go through `modem_session()`, which serialises their AT calls
with the session's own.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
import enum
import functools
import ipaddress
import socket
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .connection import async_open_module, model_name
from .const import (
    CONF_BAUDRATE,
    CONF_DATA_MODE,
    CONF_ENDPOINT,
    CONF_POLL_INTERVAL,
    CONF_PORT,
    CONF_SERVER,
    CONF_SERVER_PORT,
    DATA_MODES,
    DECLARED_PATHS,
    DEFAULT_DATA_MODE,
    DEFAULT_POLL_INTERVAL,
    DOMAIN,
    DOWNLINK_PATH,
    LOGGER,
)
from .modem import (
    MAX_PAYLOAD,
    Bc26Modem,
    CommandRejectedError,
    ConStatus,
    DataMode,
    DataReceived,
    IpAddressAssigned,
    ModemError,
    ModemIdentity,
    ModemRebooted,
    ModemTimeoutError,
    NetworkRegistration,
    NetworkRegistrationChanged,
    ObserveRequest,
    PortError,
    RegistrationError,
    ResourcePath,
    Timeouts,
    UrcEvent,
)
from .uplink import SendQueue, transmit

type Bc26ConfigEntry = ConfigEntry[Bc26Coordinator]
type DownlinkCallback = Callable[[Downlink], None]

# Registration attempts kept for diagnostics.
ATTEMPT_HISTORY = 20
# Objects declared to the module: (object, instance, resources), the manual's 19/0/0 and 19/1/0.
DECLARED_OBJECTS: tuple[tuple[int, int, tuple[int, ...]], ...] = tuple(
    (obj, inst, (res,)) for obj, inst, res in sorted(DECLARED_PATHS)
)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays that double from `first` up to `maximum` seconds."""

    first: float
    maximum: float

    def delay(self, attempt: int) -> float:
        """Seconds to wait before try number `attempt` + 1 (attempt >= 1)."""
        return float(min(self.first * 2 ** max(attempt - 1, 0), self.maximum))


@dataclass(frozen=True, slots=True)
class SessionTiming:
    """Every wait of the session, in one place.

    Tests shorten them by putting their own instance in `hass.data[SESSION_TIMING]`
    before the entry is set up; nothing else reads that key.
    """

    timeouts: Timeouts = field(default_factory=Timeouts)
    reconnect: Backoff = Backoff(first=5.0, maximum=300.0)
    registration: Backoff = Backoff(first=30.0, maximum=1800.0)
    failures_before_issue: int = 3
    deregister_on_unload: float = 15.0  # unloading must not hang for the manual's 128 s


SESSION_TIMING: HassKey[SessionTiming] = HassKey(f"{DOMAIN}_session_timing")


def session_timing(hass: HomeAssistant) -> SessionTiming:
    """The timing in force: the default, unless a test put its own in hass.data."""
    return hass.data.get(SESSION_TIMING) or SessionTiming()


class SessionError(ModemError):
    """The session cannot run the request now (a ModemError, like every modem failure)."""


class ModemUnavailableError(SessionError):
    """The serial port is not open; the session is reconnecting."""


class NotRegisteredError(SessionError):
    """The module is not registered with the LwM2M server."""


class ServerNotFoundError(SessionError):
    """The server's host name does not resolve to an IPv4 address."""


class RegistrationState(enum.StrEnum):
    """Where the session is; the registration state sensor shows it."""

    NOT_REGISTERED = "not_registered"
    CONFIGURING = "configuring"
    REGISTERING = "registering"
    REGISTERED = "registered"
    WAITING_TO_RETRY = "waiting_to_retry"


@dataclass(frozen=True, slots=True)
class Downlink:
    """One complete payload the platform wrote to `path`."""

    path: ResourcePath
    data: bytes
    received_at: datetime


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


class Bc26Coordinator:
    """Runs the LwM2M session of one module and tells entities what changed."""

    def __init__(
        self,
        hass: HomeAssistant,
        config_entry: Bc26ConfigEntry,
        modem: Bc26Modem,
        identity: ModemIdentity,
        timing: SessionTiming,
    ) -> None:
        """Take over an open, identified modem; `async_start` runs the session."""
        self.hass = hass
        self.config_entry = config_entry
        self.modem_identity = identity
        self.timing = timing
        self.declared_paths: frozenset[ResourcePath] = DECLARED_PATHS
        self.data_mode = DATA_MODES[config_entry.options.get(CONF_DATA_MODE, DEFAULT_DATA_MODE)]
        self.connected = True
        self.state = RegistrationState.NOT_REGISTERED
        self.observed: set[ResourcePath] = set()
        self.con_status: ConStatus | None = None
        self.link = LinkQuality()
        self.attempts: deque[RegistrationAttempt] = deque(maxlen=ATTEMPT_HISTORY)
        self.consecutive_failures = 0
        self.downlinks_received = 0
        self._modem = modem
        self._modem_unsubscribe: list[Callable[[], None]] = []
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._port_lost: Exception | None = None
        self._drain_pending = False
        self._drain_path: ResourcePath = DOWNLINK_PATH
        self._partial = bytearray()
        self._listeners: list[CALLBACK_TYPE] = []
        self._downlink_subscribers: dict[ResourcePath | None, list[DownlinkCallback]] = {}
        self._downlink_announcers: list[DownlinkCallback] = []
        # Payloads whose sensors are written, to be announced in the next loop iteration;
        # at most what one serial read carries.
        self._unannounced: deque[Downlink] = deque()
        self._announcing = False  # _async_announce is scheduled
        self._task: asyncio.Task[None] | None = None
        # Sends from actions, in call order, between the session's own commands.
        self.uplinks = SendQueue(functools.partial(transmit, self))

    # ------------------------------------------------------------------ public API

    @property
    def registered(self) -> bool:
        """Whether the module is registered with the LwM2M server right now."""
        return self.state is RegistrationState.REGISTERED

    @property
    def server(self) -> str:
        """`host:port` of the LwM2M server."""
        data = self.config_entry.data
        return f"{data[CONF_SERVER]}:{data[CONF_SERVER_PORT]}"

    @property
    def endpoint(self) -> str:
        """The endpoint name the module registers with."""
        return str(self.config_entry.data[CONF_ENDPOINT])

    @property
    def transcript(self) -> list[str]:
        """The modem's recent lines, `tx`/`rx` and text, oldest first."""
        return [f"{line.direction} {line.text}" for line in self._modem.transcript]

    @callback
    def async_add_listener(self, update_callback: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call `update_callback` whenever the session state changes; returns the remover."""
        self._listeners.append(update_callback)

        @callback
        def remove() -> None:
            self._listeners.remove(update_callback)

        return remove

    @callback
    def async_subscribe_downlink(
        self, path: ResourcePath | None, downlink_callback: DownlinkCallback
    ) -> CALLBACK_TYPE:
        """Call `downlink_callback` for each payload written to `path` (None: any path)."""
        return _subscribe(self._downlink_subscribers.setdefault(path, []), downlink_callback)

    @callback
    def async_subscribe_downlink_announcement(
        self, downlink_callback: DownlinkCallback
    ) -> CALLBACK_TYPE:
        """Call `downlink_callback` for every payload once all other subscribers have run.

        An automation triggered by the announcement (the data_received event) then
        already finds every sensor of the payload up to date. Announcements come in the
        event loop's next iteration, in order: the read that brought the payload only
        writes the sensors, so it stays short.
        """
        return _subscribe(self._downlink_announcers, downlink_callback)

    @asynccontextmanager
    async def modem_session(self) -> AsyncIterator[Bc26Modem]:
        """Exclusive use of the modem for a sequence of AT calls.

        Raises ModemUnavailableError while the port is down.
        """
        async with self._lock:
            if not self.connected:
                raise ModemUnavailableError("the serial port is not open")
            yield self._modem

    @callback
    def record_con_status(self, status: ConStatus) -> None:
        """Note the status of the last confirmable send (for callers inside modem_session)."""
        if status != self.con_status:
            self.con_status = status
            self._async_notify()

    async def async_refresh_con_status(self) -> ConStatus:
        """Ask the module how the last confirmable send went (AT+QLWDATASTATUS?)."""
        async with self.modem_session() as modem:
            status = await modem.con_status()
        self.record_con_status(status)
        return status

    async def async_reregister(self) -> None:
        """Deregister when registered, register again, and wait for the result.

        On failure the session takes over again: it re-initialises and retries with backoff.
        """
        async with self.modem_session() as modem:
            if self.registered:
                try:
                    await modem.deregister()
                except (CommandRejectedError, ModemTimeoutError, RegistrationError) as err:
                    # CLOSE FAIL or no answer: the module counts as unregistered either way.
                    LOGGER.debug("Deregistration before registering again failed: %s", err)
                self._async_set_unregistered()
            try:
                await self._async_register(modem)
            except ModemError:
                self._wake.set()
                raise
            self._async_registration_succeeded()

    async def async_update_registration(self) -> None:
        """Send a registration update (AT+QLWUPDATE) and wait for UPDATE OK."""
        async with self.modem_session() as modem:
            if not self.registered:
                raise NotRegisteredError("the module is not registered")
            try:
                await modem.update()
            except CommandRejectedError:
                # Registered as far as we knew, yet the module refuses: its context is gone.
                self.async_context_lost()
                raise

    @callback
    def async_context_lost(self) -> None:
        """The module turned out to have no LwM2M context: initialise and register again."""
        LOGGER.debug("The module lost its LwM2M context; registering again")
        self._async_set_unregistered()
        self._wake.set()

    # ------------------------------------------------------------------ life cycle

    @callback
    def async_start(self) -> None:
        """Run the session as a background task of the config entry."""
        self._async_attach(self._modem)
        self.uplinks.start(
            functools.partial(self.config_entry.async_create_background_task, self.hass)
        )
        self._task = self.config_entry.async_create_background_task(
            self.hass, self._async_run(), f"{DOMAIN} session {self.config_entry.title}"
        )

    async def async_stop(self, deregister: bool) -> None:
        """Stop the session; deregister first when asked and registered; close the port."""
        self.uplinks.close()
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if deregister and self.connected and self.registered:
            await self._async_deregister_quickly()
        self._async_detach()
        await self._modem.close()
        self.connected = False
        self.state = RegistrationState.NOT_REGISTERED
        # The entry no longer runs a session: whatever the issue said is no longer known.
        ir.async_delete_issue(self.hass, DOMAIN, self.issue_id)

    async def _async_deregister_quickly(self) -> None:
        try:
            async with asyncio.timeout(self.timing.deregister_on_unload):
                await self._modem.deregister()
        except (ModemError, TimeoutError) as err:
            LOGGER.debug("Deregistration on unload failed: %s", err)

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
                # The module stopped answering or making sense (a poll timed out ...): start over.
                LOGGER.debug("Session error, initialising again: %s", err)
                self._async_set_unregistered()

    async def _async_register_until_done(self) -> None:
        """Initialise and register; retry with growing delays; raise an issue when stuck."""
        while not self.registered:
            self._raise_if_port_lost()
            try:
                await self._async_initialise()
            except PortError:
                raise
            except ModemError as err:
                self._async_registration_failed(err)
                await self._async_wait(self.timing.registration.delay(self.consecutive_failures))
            else:
                self._async_registration_succeeded()

    async def _async_initialise(self) -> None:
        """Fresh LwM2M context (manual 5.1), hex data both ways, then register."""
        data = self.config_entry.data
        async with self._lock:
            if self.registered:
                return  # async_reregister got there first
            modem = self._modem
            self._async_set_state(RegistrationState.CONFIGURING)
            address = await self._async_server_address()
            await modem.probe()
            if self.data_mode is DataMode.BUFFER_ACCESS:
                await self._async_drain_locked(modem)  # keep what the module still holds
            await modem.delete_context()
            self._async_clear_observed()
            await modem.set_server(address, data[CONF_SERVER_PORT])
            await modem.set_endpoint(data[CONF_ENDPOINT])
            for obj, inst, resources in DECLARED_OBJECTS:
                await modem.add_object(obj, inst, resources)
            await modem.set_data_format(send_hex=True, recv_hex=True)
            await self._async_register(modem)

    async def _async_server_address(self) -> str:
        """The server's IPv4 address: AT+QLWSERV takes an address, users may give a name.

        Resolved again before every attempt, so a platform that moves is followed.
        """
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
        return str(infos[0][4][0])

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
        self._async_set_state(RegistrationState.REGISTERED)

    async def _async_serve(self) -> None:
        """While registered: drain what the module buffered, poll the link, wait for URCs."""
        loop = asyncio.get_running_loop()
        next_poll = loop.time()
        while self.registered:
            self._raise_if_port_lost()
            if self._drain_pending:
                async with self._lock:
                    await self._async_drain_locked(self._modem)
            elif loop.time() >= next_poll:
                await self._async_poll()
                next_poll = loop.time() + self._poll_interval
            else:
                await self._async_wait(next_poll - loop.time())

    @property
    def _poll_interval(self) -> float:
        return float(self.config_entry.options.get(CONF_POLL_INTERVAL, DEFAULT_POLL_INTERVAL))

    async def _async_poll(self) -> None:
        """Signal, network registration, IP address and the last CON status."""
        async with self._lock:
            modem = self._modem
            signal = await _answer_or_none(modem.signal())
            network = await _answer_or_none(modem.network_registration())
            address = await _answer_or_none(modem.ip_address())
            status = await _answer_or_none(modem.con_status())
            if self.data_mode is DataMode.BUFFER_ACCESS:
                # A missed +QLWDATARECV would stop all further ones (manual 3.10, note 1).
                await self._async_drain_locked(modem)
        self.link = LinkQuality(
            signal_dbm=signal.rssi_dbm if signal is not None else None,
            network=network,
            ip_address=address,
        )
        if status is not None:
            self.con_status = status
        self._async_notify()

    async def _async_drain_locked(self, modem: Bc26Modem) -> None:
        """AT+QLWRD until the buffer is empty; every finished node becomes one Downlink.

        AT+QLWRD does not say which resource a node belongs to, and only the first node
        is announced (manual 3.10): nodes take the path of the last +QLWDATARECV, or
        /19/1/0, the one writable resource declared, when none was seen (after a reconnect).
        """
        self._drain_pending = False
        while True:
            try:
                read = await modem.read_buffer(MAX_PAYLOAD)
            except CommandRejectedError as err:
                LOGGER.debug("Nothing to read (%s)", err)  # no LwM2M context yet
                return
            if not read.data:
                if self._partial:
                    LOGGER.debug(
                        "Dropping %d bytes of a node the module forgot", len(self._partial)
                    )
                    self._partial.clear()
                return
            self._partial += read.data
            if read.remaining == 0:
                data = bytes(self._partial)
                self._partial.clear()
                self._async_dispatch(Downlink(self._drain_path, data, dt_util.utcnow()))

    async def _async_reconnect(self) -> None:
        """Open the port again with growing delays until the same module answers."""
        self._async_detach()
        await self._modem.close()
        attempt = 0
        while True:
            attempt += 1
            await asyncio.sleep(self.timing.reconnect.delay(attempt))
            data = self.config_entry.data
            try:
                modem, identity = await async_open_module(
                    data[CONF_PORT], data[CONF_BAUDRATE], self.timing.timeouts
                )
            except ModemError as err:
                LOGGER.debug("Reconnect attempt %d failed: %s", attempt, err)
                continue
            if identity.imei != self.modem_identity.imei:
                LOGGER.debug("Another module answers on %s; waiting for ours", data[CONF_PORT])
                await modem.close()
                continue
            break
        self._modem = modem
        self._port_lost = None
        self._async_attach(modem)
        self._async_identified(identity)
        self.connected = True
        LOGGER.info("The BC26 on %s is available again", data[CONF_PORT])
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
            self.attempts.append(
                RegistrationAttempt(
                    dt_util.utcnow(),
                    self.data_mode.name.lower(),
                    type(err).__name__,
                    f"before registering: {err}",
                )
            )
            self._async_set_state(RegistrationState.WAITING_TO_RETRY)
        self.consecutive_failures += 1
        LOGGER.debug("Registration attempt %d failed: %s", self.consecutive_failures, err)
        if self.consecutive_failures == self.timing.failures_before_issue:
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                self.issue_id,
                # The fix flow (repairs.py) leads to the entry's Reconfigure.
                is_fixable=True,
                data={"entry_id": self.config_entry.entry_id},
                severity=ir.IssueSeverity.ERROR,
                translation_key="registration_failed",
                translation_placeholders={"title": self.config_entry.title},
            )

    @callback
    def _async_registration_succeeded(self) -> None:
        self.consecutive_failures = 0
        ir.async_delete_issue(self.hass, DOMAIN, self.issue_id)

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
        self._async_clear_observed()
        self.state = RegistrationState.NOT_REGISTERED
        self._async_notify()

    @callback
    def _async_clear_observed(self) -> None:
        if self.observed:
            self.observed.clear()
            self._async_notify()

    @callback
    def _async_identified(self, identity: ModemIdentity) -> None:
        """Keep the device's firmware current when the module comes back updated."""
        self.modem_identity = identity
        async_register_device(self.hass, self.config_entry, identity)

    @callback
    def _async_notify(self) -> None:
        for update_callback in list(self._listeners):
            update_callback()

    # ------------------------------------------------------------------ modem events

    @callback
    def _async_attach(self, modem: Bc26Modem) -> None:
        self._modem_unsubscribe = [
            modem.subscribe(self._async_handle_urc),
            modem.on_connection_lost(self._async_connection_lost),
        ]

    @callback
    def _async_detach(self) -> None:
        for unsubscribe in self._modem_unsubscribe:
            unsubscribe()
        self._modem_unsubscribe = []

    @callback
    def _async_connection_lost(self, err: Exception | None) -> None:
        self._port_lost = err or PortError("the serial port was closed")
        self._wake.set()

    @callback
    def _async_handle_urc(self, event: UrcEvent) -> None:
        match event:
            case ObserveRequest(path=path, cancel=cancel):
                self._async_observe(path, cancel)
            case DataReceived(path=path, data=None):
                self._drain_path = path
                self._drain_pending = True
                self._wake.set()
            case DataReceived(path=path, data=bytes() as data):
                self._async_dispatch(Downlink(path, data, dt_util.utcnow()))
            case ModemRebooted():
                LOGGER.info("The BC26 restarted; registering again")
                self._partial.clear()
                self._async_set_unregistered()
                self._wake.set()
            case NetworkRegistrationChanged(status=status):
                self.link.network = status
                self._async_notify()
            case IpAddressAssigned(address=address):
                self.link.ip_address = address
                self._async_notify()
            case _:
                LOGGER.debug("Unsolicited: %s", event)

    @callback
    def _async_observe(self, path: ResourcePath, cancel: bool) -> None:
        if cancel:
            self.observed.discard(path)
        else:
            self.observed.add(path)
        self._async_notify()

    @callback
    def _async_dispatch(self, downlink: Downlink) -> None:
        """Hand a payload to the subscribers of its path and to those of every path."""
        self.downlinks_received += 1
        _deliver(
            downlink,
            [
                *self._downlink_subscribers.get(downlink.path, ()),
                *self._downlink_subscribers.get(None, ()),
            ],
        )
        if self._downlink_announcers:
            self._unannounced.append(downlink)
            if not self._announcing:
                self._announcing = True
                self.hass.loop.call_soon(self._async_announce)

    @callback
    def _async_announce(self) -> None:
        self._announcing = False
        while self._unannounced:
            # The announcers of now: one removed meanwhile (entity gone) hears nothing.
            _deliver(self._unannounced.popleft(), list(self._downlink_announcers))

    def diagnostics(self) -> dict[str, Any]:
        """Session state for the diagnostics download (redaction happens there)."""
        return {
            "connected": self.connected,
            "state": self.state.value,
            "data_mode": self.data_mode.name.lower(),
            "observed": sorted("/".join(map(str, path)) for path in self.observed),
            "con_status": self.con_status.name.lower() if self.con_status is not None else None,
            "signal_dbm": self.link.signal_dbm,
            "network": self.link.network.name.lower() if self.link.network is not None else None,
            "ip_address": self.link.ip_address,
            "consecutive_failures": self.consecutive_failures,
            "downlinks_received": self.downlinks_received,
            "registration_attempts": [
                {
                    "started_at": attempt.started_at.isoformat(),
                    "mode": attempt.mode,
                    "outcome": attempt.outcome,
                    "detail": attempt.detail,
                }
                for attempt in self.attempts
            ],
        }


async def _answer_or_none[T](query: Awaitable[T]) -> T | None:
    """The module's answer to a link query, or None when it refuses it.

    Silence (ModemTimeoutError) is not absorbed here: a module that stops answering
    makes the session start over.
    """
    try:
        answer: T = await query
    except CommandRejectedError as err:
        LOGGER.debug("Link query refused: %s", err)
        return None
    return answer


@callback
def async_register_device(
    hass: HomeAssistant, entry: Bc26ConfigEntry, identity: ModemIdentity
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


def _deliver(downlink: Downlink, subscribers: list[DownlinkCallback]) -> None:
    for subscriber in subscribers:
        try:
            subscriber(downlink)
        except Exception:  # noqa: BLE001 - one broken subscriber must not starve the others
            LOGGER.exception("Error handling a payload for %s", downlink.path)


def _subscribe(
    subscribers: list[DownlinkCallback], downlink_callback: DownlinkCallback
) -> CALLBACK_TYPE:
    """Add `downlink_callback` to `subscribers`; return its remover."""
    subscribers.append(downlink_callback)

    @callback
    def remove() -> None:
        subscribers.remove(downlink_callback)

    return remove
