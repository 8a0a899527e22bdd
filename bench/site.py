"""A site: one Home Assistant with up to ten modules and ten core serial sensors.

Each module is its own virtual BC26 on its own pseudo-terminal, added through the real
config flow over the HTTP API, and talks at 115200 baud (bc26sim's paced line, in the
packets of up to 64 bytes a USB serial adapter delivers): its answers to the
integration take their wire time, as do the integration's commands. Each core
`serial` sensor reads its own pseudo-terminal, paced alike. The platform behind each
module is bc26sim's scripted one, timed like the field notes (registration 2 s,
observation 1 s later, acknowledgements 1 s): no CoAP traffic on the event loop
besides what is measured.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
from dataclasses import dataclass, field
import functools
import logging
from pathlib import Path
import sys
import time
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er

from bc26sim import Bc26Simulator, ScriptedNetwork
from bc26sim.hass_process import Login
import custom_components.bc26  # noqa: F401 - loaded before Home Assistant, so it can be timed

from .inprocess import InProcessHass, free_tcp_port, prepare
from .probes import StateWatch

MAX_MODULES = 10
BAUD = 115200
USB_PACKET = 64  # bytes a USB serial adapter hands over at most at a time
WAIT = 60.0  # seconds for anything to happen; generous, the machine is shared
INTEGRATION = "custom_components.bc26"
IMEI_PREFIX = "8669710300"  # a BC26's type allocation code and serial prefix


def imei(number: int) -> str:
    """A well-formed IMEI (Luhn check digit) for module `number`."""
    body = f"{IMEI_PREFIX}{number:04d}"
    total = 0
    for index, digit in enumerate(int(d) for d in reversed(body)):
        doubled = digit * 2 if index % 2 == 0 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return f"{body}{(10 - total % 10) % 10}"


async def until(
    predicate: Callable[[], Awaitable[bool]] | Callable[[], bool], every: float = 0.05
) -> None:
    """Poll `predicate` (a function or a coroutine function) until it holds."""
    while True:
        held = predicate()
        if held if isinstance(held, bool) else await held:
            return
        await asyncio.sleep(every)


def serial_entity(number: int) -> str:
    """The entity of core serial sensor `number` (the last one cuts its lines to 255)."""
    return f"sensor.serial_{number}"


def _serial_yaml(workdir: Path, count: int) -> str:
    """`count` serial sensors; the last cuts its lines to a state's 255 characters.

    A 512-byte URC's line (1,049 characters) is longer than a state may be: a user
    would cut it with a value template, as the last sensor does. The others take
    their lines as they are (a template costs the serial sensor's lane CPU).
    """
    lines = ["sensor:"]
    for number in range(count):
        lines += [
            "  - platform: serial",
            f"    name: Serial {number}",
            f"    serial_port: {workdir / f'serial-{number}'}",
            f"    baudrate: {BAUD}",
        ]
    lines.append('    value_template: "{{ value[:255] }}"')
    return "\n".join(lines) + "\n"


@dataclass
class SiteModule:
    """One module of the site: its virtual BC26, its entry and entities, how its setup went."""

    number: int
    imei: str
    simulator: Bc26Simulator
    network: ScriptedNetwork
    entry_id: str = ""
    raw_entity: str = ""
    event_entity: str = ""
    received: list[tuple[int, bytes]] = field(default_factory=list)  # (ns, host bytes)


@dataclass
class SetupTime:
    """One call of the integration's async_setup_entry."""

    entry_id: str
    start: float  # time.perf_counter()
    end: float
    state_at_load: str  # the session's registration state when setup returned

    @property
    def seconds(self) -> float:
        """How long the setup took."""
        return self.end - self.start


class SetupClock:
    """Times the integration's `async_setup_entry` (Home Assistant looks it up per call)."""

    def __init__(self) -> None:
        self.times: list[SetupTime] = []
        self._module: Any = sys.modules[INTEGRATION]
        self._original: Callable[..., Awaitable[bool]] = getattr(self._module, "async_setup_entry")  # noqa: B009

        async def timed(hass: HomeAssistant, entry: ConfigEntry[Any]) -> bool:
            start = time.perf_counter()
            result = await self._original(hass, entry)
            end = time.perf_counter()
            session = getattr(getattr(entry, "runtime_data", None), "session", None)
            state = str(getattr(session, "state", "?"))
            self.times.append(SetupTime(entry.entry_id, start, end, state))
            return result

        setattr(self._module, "async_setup_entry", timed)  # noqa: B010

    def close(self) -> None:
        """Put the integration's own function back."""
        setattr(self._module, "async_setup_entry", self._original)  # noqa: B010


class SlowWarnings(logging.Handler):
    """Home Assistant's "... is taking over 10 seconds" warnings (and its other waits)."""

    MARKS = ("taking over", "Waiting on integrations", "Waiting for integrations")

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []
        logging.getLogger("homeassistant").addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if any(mark in message for mark in self.MARKS):
            self.messages.append(message)

    def close(self) -> None:
        logging.getLogger("homeassistant").removeHandler(self)
        super().close()


@dataclass
class Site:
    """Home Assistant, its modules and its serial-sensor feeds."""

    workdir: Path
    api: InProcessHass
    feeds: list[Bc26Simulator]
    states: StateWatch
    setup_clock: SetupClock
    slow: SlowWarnings
    modules: list[SiteModule] = field(default_factory=list)
    # The platform's delays (registration 2 s ...) are multiplied by this.
    platform_scale: float = 1.0
    hass_stopped: bool = False
    added: int = 0  # modules added so far, removed ones included (each has its own IMEI)

    @property
    def hass(self) -> HomeAssistant:
        """The Home Assistant object."""
        return self.api.hass

    @property
    def simulators(self) -> list[Bc26Simulator]:
        """Every virtual BC26 of the site: modules and serial-sensor feeds."""
        return [module.simulator for module in self.modules] + self.feeds

    def entry(self, module: SiteModule) -> ConfigEntry[Any]:
        """The config entry of `module`."""
        entry = self.hass.config_entries.async_get_entry(module.entry_id)
        if entry is None:
            raise RuntimeError(f"no entry {module.entry_id}")
        return entry

    def session(self, module: SiteModule) -> Any:
        """The session (coordinator) of `module`."""
        return self.entry(module).runtime_data.session

    async def add_module(
        self,
        *,
        data_mode: str = "direct_push",
        network: ScriptedNetwork | None = None,
        options: dict[str, Any] | None = None,
    ) -> SiteModule:
        """A new virtual BC26 on its own pty, added through the config flow.

        `options` go into the entry right after the flow (before the first poll: the
        registration takes the platform's 2 s), as the options flow would store them,
        but also below its limits.
        """
        number = self.added
        self.added += 1
        network = network or ScriptedNetwork.field_timed(self.platform_scale)
        simulator = Bc26Simulator(imei=imei(number), network=network, time_scale=1.0)
        module = SiteModule(number, imei(number), simulator, network)
        _stamp_host_bytes(module)
        path = await simulator.start_pty(link=self.workdir / f"bc26-{number}")
        simulator.pace(BAUD, USB_PACKET)
        fill_history(simulator)
        result = await self.api.config_flow(
            "bc26",
            [
                {"port": path, "baudrate": str(BAUD)},
                {
                    "server": "127.0.0.1",
                    "server_port": 5683,
                    "endpoint": module.imei,
                    "data_mode": data_mode,
                },
            ],
        )
        if result.get("type") != "create_entry":
            raise RuntimeError(f"the BC26 config flow did not finish: {result}")
        module.entry_id = str(result["result"]["entry_id"])
        self.modules.append(module)
        if options:
            entry = self.entry(module)
            self.hass.config_entries.async_update_entry(entry, options={**entry.options, **options})
        ids = await self.api.entity_ids("bc26")
        module.event_entity = ids[f"{module.imei}-downlink"]
        return module

    async def remove(self, module: SiteModule) -> None:
        """Delete the module's entry (as the UI does) and power its virtual BC26 off."""
        await self.hass.config_entries.async_remove(module.entry_id)
        self.modules.remove(module)
        await module.simulator.stop()

    async def stop_hass(self) -> None:
        """Stop Home Assistant; the virtual modules and serial feeds keep running."""
        if not self.hass_stopped:
            self.hass_stopped = True
            self.states.close()
            await self.api.stop()

    async def disable_events(self, modules: list[SiteModule]) -> None:
        """Disable each module's Data received entity, reload its entry, wait for registration."""
        registry = er.async_get(self.hass)
        for module in modules:
            registry.async_update_entity(
                module.event_entity, disabled_by=er.RegistryEntryDisabler.USER
            )
            if not await self.hass.config_entries.async_reload(module.entry_id):
                raise RuntimeError(f"the entry of {module.imei} did not load again")
        await self.wait_registered(modules)

    async def wait_registered(self, modules: list[SiteModule]) -> None:
        """Until each module is registered and its uplink observed."""
        async with asyncio.timeout(WAIT):
            for simulator in [module.simulator for module in modules]:
                await until(functools.partial(_registered, simulator))

    async def raw_sensor(self, module: SiteModule, line: bytes) -> None:
        """Send `line` (a URC) to make the raw sensor of /19/1/0 appear; note its entity."""
        module.simulator.inject(line)
        await self.wait_raw_sensor(module)

    async def wait_raw_sensor(self, module: SiteModule) -> None:
        """Until the raw sensor of /19/1/0 exists; note its entity."""
        key = f"{module.imei}-resource-19-1-0"

        async def present() -> bool:
            module.raw_entity = (await self.api.entity_ids("bc26")).get(key, "")
            return bool(module.raw_entity)

        async with asyncio.timeout(WAIT):
            await until(present)


def fill_history(simulator: Bc26Simulator) -> None:
    """Fill the paced line's lateness record to its bound now (the simulator's memory).

    Otherwise it grows by some 0.4 MiB a line during the first flood, and the process's
    memory would show the simulator's record, not Home Assistant's and the integration's.
    The filler's moments are negative: no URC's is.
    """
    line = simulator.line
    if line is not None:
        size = line.lateness.maxlen or 0
        line.lateness.extend((-1.0 - n, -1 - n) for n in range(size))


def history_bytes(simulator: Bc26Simulator) -> int:
    """Memory the paced line's lateness record holds, bytes."""
    line = simulator.line
    if line is None:
        return 0
    record = list(line.lateness)
    size = sys.getsizeof
    return size(line.lateness) + sum(size(e) + size(e[0]) + size(e[1]) for e in record)


def _registered(simulator: Bc26Simulator) -> bool:
    return simulator.registered and bool(simulator.observed)


def _stamp_host_bytes(module: SiteModule) -> None:
    """Record when the module receives the host's bytes (before the port binds `feed`)."""
    modem = module.simulator.modem
    feed = modem.feed
    received = module.received

    def stamped(data: bytes) -> None:
        received.append((time.perf_counter_ns(), data))
        if len(received) > 4096:
            del received[:2048]
        feed(data)

    setattr(modem, "feed", stamped)  # noqa: B010 - the pty binds modem.feed at open


@contextlib.asynccontextmanager
async def site(
    workdir: Path, feeds: int = MAX_MODULES + 1, platform_scale: float = 1.0
) -> AsyncIterator[Site]:
    """Home Assistant with `feeds` core serial sensors on paced ptys, no module yet.

    One per module of the largest count, and one more that cuts long lines.
    """
    simulators = [Bc26Simulator(imei=imei(900 + n), time_scale=1.0) for n in range(feeds)]
    api = InProcessHass(workdir / "config", free_tcp_port(), workdir / "home-assistant.log")
    clock: SetupClock | None = None
    slow: SlowWarnings | None = None
    states: StateWatch | None = None
    built: Site | None = None
    try:
        await asyncio.gather(
            *(
                simulator.start_pty(link=workdir / f"serial-{number}")
                for number, simulator in enumerate(simulators)
            )
        )
        for simulator in simulators:
            simulator.pace(BAUD, USB_PACKET)
            fill_history(simulator)
        prepare(workdir / "config", _serial_yaml(workdir, feeds))
        clock = SetupClock()
        slow = SlowWarnings()
        await api.start()
        await api.log_in(Login())
        states = StateWatch(api.hass)
        built = Site(workdir, api, simulators, states, clock, slow, platform_scale=platform_scale)
        yield built
    finally:
        if states is not None and not (built is not None and built.hass_stopped):
            states.close()
        await api.stop()  # nothing when stop_hass came first
        if clock is not None:
            clock.close()
        if slow is not None:
            slow.close()
        everything = simulators + ([m.simulator for m in built.modules] if built else [])
        for simulator in everything:
            await simulator.stop()
