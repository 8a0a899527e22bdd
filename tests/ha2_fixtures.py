"""Fixtures of the part-2 Home Assistant tests: the whole path through real parts.

Home Assistant -> the integration -> a real pty -> the virtual BC26 -> the real LwM2M
client -> CoAP over loopback -> the local platform, and back. Loaded as a pytest
plugin (see `pytest_plugins` in conftest.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from homeassistant.config_entries import ConfigEntryState, ConfigSubentryData
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from bc26sim import Bc26Simulator
from bc26sim.lwm2m import Lwm2mClient
from bc26sim.platform import LwM2mPlatform, ObserveTarget
from bc26sim.threaded import SimulatorThread
from custom_components.bc26.const import DATA_MODE_DIRECT_PUSH, DOMAIN
from custom_components.bc26.coordinator import Bc26Coordinator
from custom_components.bc26.timing import SESSION_TIMING, SessionTiming
from custom_components.bc26.uplink import SendQueue

from .ha_fixtures import FAST_TIMING, IMEI, module_entry, until

# CoAP and module delays at 1/50: an ACK timeout of 40 ms, the 128 s result in 2.6 s.
NETWORK_SCALE = 0.02
ENDPOINT = "bc26-ha2"
UPLINK = (19, 0, 0)
DOWNLINK = (19, 1, 0)


@dataclass(frozen=True)
class Rig:
    """Everything a part-2 test touches: Home Assistant's side and the platform's side."""

    hass: HomeAssistant
    entry: MockConfigEntry
    sim: Bc26Simulator
    platform: LwM2mPlatform

    @property
    def session(self) -> Bc26Coordinator:
        """The entry's coordinator (changes when the entry is reloaded)."""
        coordinator: Bc26Coordinator = self.entry.runtime_data.session
        return coordinator

    @property
    def uplinks(self) -> SendQueue:
        """The entry's queue of sends."""
        queue: SendQueue = self.entry.runtime_data.uplinks
        return queue

    async def write(self, payload: bytes, path: tuple[int, int, int] = DOWNLINK) -> None:
        """The platform writes `payload` (PUT) and the module accepts it."""
        reply = await self.platform.write(ENDPOINT, path, payload)
        assert reply.code == "2.04", reply

    async def ready(self) -> None:
        """Registered, observed by the platform, and the session's first link poll done.

        After that first poll the session stays quiet for the poll interval, so a test
        that silences the module meets only its own commands.
        """
        await until(
            lambda: (
                self.session.registered
                and UPLINK in self.session.resources.observed
                and self.session.link.signal_dbm is not None
            )
        )


async def entity_of(hass: HomeAssistant, domain: str, unique_id: str) -> str:
    """The entity id of `unique_id`, once the entity is added (a new path's sensor comes later)."""
    registry = er.async_get(hass)
    await until(lambda: registry.async_get_entity_id(domain, DOMAIN, unique_id) is not None)
    entity_id = registry.async_get_entity_id(domain, DOMAIN, unique_id)
    assert entity_id is not None
    return entity_id


async def call_send(hass: HomeAssistant, entry_id: str, **fields: Any) -> dict[str, Any] | None:
    """bc26.send with `fields`, waiting for its response."""
    return await hass.services.async_call(
        DOMAIN,
        "send",
        {"config_entry_id": entry_id, **fields},
        blocking=True,
        return_response=True,
    )


@pytest.fixture
def ha2_data_mode() -> str:
    """The data mode of the entry; tests parametrise it indirectly."""
    return DATA_MODE_DIRECT_PUSH


@pytest.fixture
def ha2_options() -> dict[str, object] | None:
    """Options of the entry (None: the defaults for `ha2_data_mode`); tests parametrise it."""
    return None


@pytest.fixture
def ha2_timing() -> SessionTiming:
    """The session's timing; tests parametrise it to lengthen a wait."""
    return FAST_TIMING


@pytest.fixture
def ha2_subentries() -> list[ConfigSubentryData]:
    """Subentries the entry starts with (decoded sensors); tests override this fixture."""
    return []


@pytest.fixture
def ha2_observe() -> list[ObserveTarget]:
    """What the platform observes after every registration; tests override this fixture."""
    return [ObserveTarget(UPLINK)]


@pytest.fixture
async def lwm2m_bc26(
    socket_enabled: None, tmp_path: Path, ha2_observe: list[ObserveTarget]
) -> AsyncIterator[tuple[Bc26Simulator, LwM2mPlatform]]:
    """The local platform and a virtual BC26 with the real LwM2M client, on a pty."""
    platform = await LwM2mPlatform.start(
        "127.0.0.1", 0, time_scale=NETWORK_SCALE, observe=ha2_observe
    )
    simulator = Bc26Simulator(
        imei=IMEI, time_scale=NETWORK_SCALE, network=Lwm2mClient(time_scale=NETWORK_SCALE)
    )
    try:
        await simulator.start_pty(link=tmp_path / "bc26")
        yield simulator, platform
    finally:
        await simulator.stop()
        await platform.stop()


@pytest.fixture
def ha2_entry(
    hass: HomeAssistant,
    tmp_path: Path,
    lwm2m_bc26: tuple[Bc26Simulator, LwM2mPlatform],
    ha2_data_mode: str,
    ha2_options: dict[str, object] | None,
    ha2_timing: SessionTiming,
    ha2_subentries: list[ConfigSubentryData],
) -> MockConfigEntry:
    """A module configured against the local platform."""
    hass.data[SESSION_TIMING] = ha2_timing
    _, platform = lwm2m_bc26
    entry = module_entry(
        str(tmp_path / "bc26"),
        server_port=platform.port,
        endpoint=ENDPOINT,
        data_mode=ha2_data_mode,
        options=ha2_options,
        subentries_data=ha2_subentries,
    )
    entry.add_to_hass(hass)
    return entry


@pytest.fixture
async def rig(
    hass: HomeAssistant,
    ha2_entry: MockConfigEntry,
    lwm2m_bc26: tuple[Bc26Simulator, LwM2mPlatform],
) -> AsyncIterator[Rig]:
    """The entry loaded, registered and observed; unloaded after the test."""
    sim, platform = lwm2m_bc26
    assert await hass.config_entries.async_setup(ha2_entry.entry_id)
    setup = Rig(hass, ha2_entry, sim, platform)
    await setup.ready()
    yield setup
    if ha2_entry.state is ConfigEntryState.LOADED:
        assert await hass.config_entries.async_unload(ha2_entry.entry_id)


@dataclass(frozen=True)
class ThreadedRig:
    """A rig whose module and platform run on a loop of their own (`SimulatorThread`).

    For stalls of Home Assistant's loop: the module keeps answering meanwhile, into
    the serial port's buffer, as hardware would. Whatever the module or the platform
    own is reached through `thread`.
    """

    hass: HomeAssistant
    entry: MockConfigEntry
    sim: Bc26Simulator
    platform: LwM2mPlatform
    thread: SimulatorThread

    @property
    def session(self) -> Bc26Coordinator:
        """The entry's coordinator."""
        coordinator: Bc26Coordinator = self.entry.runtime_data.session
        return coordinator

    async def commands(self) -> list[str]:
        """The command lines the module received so far."""
        return await self.thread.call(lambda: list(self.sim.commands))

    async def ready(self) -> None:
        """Registered, observed and the first link poll done (as `Rig.ready`)."""
        await until(
            lambda: (
                self.session.registered
                and UPLINK in self.session.resources.observed
                and self.session.link.signal_dbm is not None
            )
        )


@pytest.fixture
async def threaded_rig(
    hass: HomeAssistant,
    socket_enabled: None,
    tmp_path: Path,
    ha2_options: dict[str, object] | None,
) -> AsyncIterator[ThreadedRig]:
    """The entry loaded against a module and a platform on their own event loop."""
    thread = SimulatorThread()
    thread.start()

    async def start() -> tuple[Bc26Simulator, LwM2mPlatform]:
        platform = await LwM2mPlatform.start("127.0.0.1", 0, time_scale=NETWORK_SCALE)
        simulator = Bc26Simulator(
            imei=IMEI, time_scale=NETWORK_SCALE, network=Lwm2mClient(time_scale=NETWORK_SCALE)
        )
        await simulator.start_pty(link=tmp_path / "bc26")
        return simulator, platform

    async def stop(simulator: Bc26Simulator, platform: LwM2mPlatform) -> None:
        await simulator.stop()
        await platform.stop()

    sim, platform = await thread.run(start())
    try:
        hass.data[SESSION_TIMING] = FAST_TIMING
        entry = module_entry(
            str(tmp_path / "bc26"),
            server_port=platform.port,
            endpoint=ENDPOINT,
            options=ha2_options,
        )
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        rig = ThreadedRig(hass, entry, sim, platform, thread)
        await rig.ready()
        yield rig
        if entry.state is ConfigEntryState.LOADED:
            assert await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await thread.run(stop(sim, platform))
        thread.stop()
