"""The soak's parts: Home Assistant here, the virtual BC26 and its platform on a thread.

The module and the platform run on `SimulatorThread`'s event loop, so that when Home
Assistant's loop stalls they keep going, as a real module does: its answers wait in
the serial port's buffer. Everything they own is touched through `thread.run` and
`thread.call`. Home Assistant runs on this process's loop (`bench.inprocess`), is
driven through its HTTP API for what a user does (config flow, options flow), and
can be stopped and started again on the same configuration.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import contextlib
import dataclasses
from pathlib import Path
import socket
from typing import Any

from homeassistant.core import HomeAssistant

from bc26sim import Bc26Simulator
from bc26sim.hass_process import Login
from bc26sim.lwm2m import Lwm2mClient
from bc26sim.platform import LwM2mPlatform, ObserveTarget, PlatformEvent
from bc26sim.platform.server import TEXT
from bc26sim.threaded import SimulatorThread
from custom_components.bc26.const import DATA_MODE_BUFFER_ACCESS, DOMAIN
from custom_components.bc26.modem import Timeouts
from custom_components.bc26.timing import SESSION_TIMING, Backoff, SessionTiming

from ..hass_bench import IMEI
from ..inprocess import InProcessHass, prepare

ENDPOINT = "bc26-soak"
UPLINK = (19, 0, 0)
DOWNLINK = (19, 1, 0)
# An IPSO value Home Assistant reports ("Report an entity"): a counter the soak raises.
REPORTED = (3303, 0, 5700)
REPORTED_ENTITY = "sensor.soak_counter"
HOST = "127.0.0.1"
# Seconds (scaled like everything of the platform) before a Deregister is answered:
# NB-IoT round trips take about that long, and a deregistration that answers at once
# hides what happens meanwhile.
DEREGISTER_DELAY = 1.5
SETUP_WAIT = 60.0  # seconds for the first registration; generous, the machine is shared
LOG = "home-assistant.log"  # Home Assistant's log in the work directory, this run's

# Timeouts for the host's own I/O; they stay as they are: the module answers a command
# in milliseconds at any time scale, and a stalled event loop must meet the real ones.
_HOST_TIMEOUTS = ("response", "open")


def soak_timing(scale: float) -> SessionTiming:
    """The integration's waits at the soak's time scale.

    Waits for the module's later results (AT+QLWDEL, CONNECT/SEND/CLOSE OK ...) are the
    default times `scale`, plus the response timeout as a margin for a busy host (the
    module's own limits are scaled too, and must time out first). Backoffs and any
    other duration (also fields added later) are scaled; counts are not.
    """
    default = SessionTiming()
    margin = default.timeouts.response
    changes: dict[str, Any] = {}
    for field in dataclasses.fields(default):
        value = getattr(default, field.name)
        if isinstance(value, Timeouts):
            changes[field.name] = dataclasses.replace(
                value,
                **{
                    name: getattr(value, name) * scale + margin
                    for name in (f.name for f in dataclasses.fields(value))
                    if name not in _HOST_TIMEOUTS
                },
            )
        elif isinstance(value, Backoff):
            changes[field.name] = Backoff(value.first * scale, value.maximum * scale)
        elif field.name == "deregister_wait":
            changes[field.name] = value * scale + margin  # waits for the platform's answer
        elif isinstance(value, float):
            changes[field.name] = value * scale
    return dataclasses.replace(default, **changes)


def earlier_logs(workdir: Path) -> list[Path]:
    """The logs of Home Assistant's earlier runs, oldest first (see `SoakRig.restart_hass`)."""
    return sorted(workdir.glob("home-assistant.*.log"))


class PlatformHolder:
    """The platform now serving (None while it is down); read on the simulator thread."""

    def __init__(self, platform: LwM2mPlatform, scale: float, on_event: _OnEvent) -> None:
        self.platform: LwM2mPlatform | None = platform
        self.port = platform.port
        self._scale = scale
        self._on_event = on_event

    @classmethod
    async def start(cls, scale: float, on_event: _OnEvent) -> PlatformHolder:
        """Start the first platform on a free port (on the simulator thread)."""
        return cls(await _platform(0, scale, on_event), scale, on_event)

    async def stop(self) -> None:
        """Take the platform down: its socket closes, its state is gone."""
        platform, self.platform = self.platform, None
        if platform is not None:
            await platform.stop()

    async def restart(self) -> None:
        """A new platform on the same port, knowing nothing of the old one's devices."""
        await self.stop()
        self.platform = await _platform(self.port, self._scale, self._on_event)


type _OnEvent = Callable[[PlatformEvent], None]


async def _platform(port: int, scale: float, on_event: _OnEvent) -> LwM2mPlatform:
    # A history of one: the soak records every uplink itself, through `on_event`. It
    # observes both resources on every registration, as a platform that knows the model.
    platform = await LwM2mPlatform.start(
        HOST,
        port,
        time_scale=scale,
        history=1,
        on_event=on_event,
        observe=(ObserveTarget(UPLINK), ObserveTarget(REPORTED, TEXT)),
    )
    platform.deregister_delay = DEREGISTER_DELAY
    return platform


@dataclasses.dataclass
class SoakRig:
    """The running parts; `platforms` and `sim` belong to `thread`."""

    workdir: Path
    thread: SimulatorThread
    sim: Bc26Simulator
    platforms: PlatformHolder
    api: InProcessHass
    # Called with each new Home Assistant before its integrations are set up: a listener
    # added later could miss what the entry does while it starts.
    on_start: list[Callable[[HomeAssistant], None]]
    entry_id: str = ""
    registered_entity: str = ""
    event_entity: str = ""
    waiting_entity: str = ""  # the Waiting uplinks sensor
    data_mode: str = DATA_MODE_BUFFER_ACCESS

    @property
    def hass(self) -> HomeAssistant:
        """The Home Assistant now running (raises while it is stopped)."""
        return self.api.hass

    @property
    def link(self) -> Path:
        """The module's port as the integration opens it: a link that follows the pty."""
        return self.workdir / "bc26"

    @property
    def hass_running(self) -> bool:
        """Whether Home Assistant runs now (not during a restart)."""
        return self.api.running

    async def registered_end_to_end(self) -> bool:
        """Registered as far as anyone can tell, in the data mode the user chose.

        Home Assistant says registered; the module is registered in the configured data
        mode and observed on /19/0/0; the platform holds the registration and observes
        /19/0/0. Each side alone can be wrong: after the platform forgot the device,
        Home Assistant and the module still say registered; after a garbled reboot, Home
        Assistant and the platform do.
        """
        if not self.hass_running:
            return False
        state = self.hass.states.get(self.registered_entity)
        if state is None or state.state != "on":
            return False
        mode = self.data_mode

        def module_and_platform() -> bool:
            platform = self.platforms.platform
            sim = self.sim
            return (
                sim.registered
                and sim.data_mode is not None
                and sim.data_mode.name.lower() == mode
                and UPLINK in sim.observed
                and platform is not None
                and ENDPOINT in platform.registrations
                and UPLINK in platform.observations(ENDPOINT)
            )

        return await self.thread.call(module_and_platform)

    async def restart_hass(self) -> None:
        """Stop Home Assistant and start it again on the same configuration.

        Each start rolls the log over and keeps one backup only, so the log of the run
        that stopped is moved aside first: the soak measures them all at the end.
        """
        await self.api.stop()
        log = self.workdir / LOG
        kept = self.workdir / f"home-assistant.{len(earlier_logs(self.workdir)) + 1:04d}.log"
        if await asyncio.to_thread(log.exists):
            await asyncio.to_thread(log.rename, kept)
        await self.api.start()
        await self.api.log_in(Login())

    async def set_data_mode(self, mode: str) -> None:
        """The options flow through the HTTP API, as a user changes the data mode."""

        def answer(form: dict[str, Any]) -> dict[str, Any]:
            # Every other field as the form offers it, the way a user leaves them.
            values = {
                field["name"]: field.get("description", {}).get("suggested_value")
                for field in form["data_schema"]
            }
            return {**values, "data_mode": mode}

        result = await self.api.run_flow(
            "/api/config/config_entries/options/flow", {"handler": self.entry_id}, [answer]
        )
        if result.get("type") != "create_entry":
            raise RuntimeError(f"the options flow did not finish: {result}")
        self.data_mode = mode

    async def add_module(self) -> None:
        """The config flow through the HTTP API: the module on its link, buffer access mode."""
        result = await self.api.config_flow(
            DOMAIN,
            [
                {"port": str(self.link), "baudrate": "115200"},
                {
                    "server": HOST,
                    "server_port": self.platforms.port,
                    "endpoint": ENDPOINT,
                    "data_mode": self.data_mode,
                },
            ],
        )
        if result.get("type") != "create_entry":
            raise RuntimeError(f"the BC26 config flow did not finish: {result}")
        self.entry_id = str(result["result"]["entry_id"])
        await self._report_counter()
        ids = await self.api.entity_ids(DOMAIN)
        self.registered_entity = _entity(ids, "binary_sensor.", "-registered")
        self.event_entity = _entity(ids, "event.", "-downlink")
        self.waiting_entity = _entity(ids, "sensor.", "-waiting_uplinks")

    async def _report_counter(self) -> None:
        """Declare /3303/0/5700 and report the soak's counter on it, through the UI's flows.

        Every value counts (history kept) and must be acknowledged (confirmable).
        """
        declared = await self.api.subentry_flow(
            self.entry_id,
            "lwm2m_object",
            [
                {
                    "object": 3303,
                    "instance": 0,
                    "written": "",
                    "reported": "5700",
                    "name": "Soak counter",
                    "register_now": True,
                }
            ],
        )
        report = await self.api.subentry_flow(
            self.entry_id,
            "report_entity",
            [
                {
                    "entity_id": REPORTED_ENTITY,
                    "resource_path": "3303/0/5700",
                    "declare": False,
                    "encoding": "text",
                    "confirmable": True,
                    "min_interval": 0,
                    "heartbeat": 0,
                    "keep_history": True,
                }
            ],
        )
        for result in (declared, report):
            if result.get("type") != "create_entry":
                raise RuntimeError(f"a subentry flow did not finish: {result}")


def _entity(ids: dict[str, str], domain_prefix: str, unique_suffix: str) -> str:
    """The module's entity in a domain whose unique id ends so (Registered, Data received)."""
    (found,) = [
        entity_id
        for unique_id, entity_id in ids.items()
        if entity_id.startswith(domain_prefix) and unique_id.endswith(unique_suffix)
    ]
    return found


@contextlib.asynccontextmanager
async def soak_rig(
    workdir: Path, scale: float, on_platform_event: _OnEvent
) -> AsyncIterator[SoakRig]:
    """Everything up, the module added through the config flow and registered."""
    thread = SimulatorThread("bc26-soak-module")
    thread.start()
    timing = soak_timing(scale)
    on_start: list[Callable[[HomeAssistant], None]] = []

    def prepare_hass(hass: HomeAssistant) -> None:
        hass.data[SESSION_TIMING] = timing
        for hook in on_start:
            hook(hass)

    http_port = _free_tcp_port()
    api = InProcessHass(workdir / "config", http_port, workdir / LOG, prepare=prepare_hass)

    async def start_module() -> tuple[Bc26Simulator, PlatformHolder]:
        platforms = await PlatformHolder.start(scale, on_platform_event)
        sim = Bc26Simulator(imei=IMEI, time_scale=scale, network=Lwm2mClient(time_scale=scale))
        # The integration opens the link, which follows the pty across unplug and replug.
        await sim.start_pty(link=workdir / "bc26")
        return sim, platforms

    sim, platforms = await thread.run(start_module())
    rig = SoakRig(workdir, thread, sim, platforms, api, on_start)
    try:
        prepare(workdir / "config")
        await api.start()
        await api.log_in(Login())
        rig.hass.states.async_set(REPORTED_ENTITY, "0")  # the counter, before anything counts
        await rig.add_module()
        async with asyncio.timeout(SETUP_WAIT):
            while not await rig.registered_end_to_end():  # noqa: ASYNC110 - two sides to look at
                await asyncio.sleep(0.05)
        yield rig
    finally:
        await api.stop()

        async def stop_module() -> None:
            await sim.stop()
            await platforms.stop()

        await thread.run(stop_module())
        thread.stop()


def _free_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port
