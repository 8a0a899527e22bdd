"""Fixtures of the Home Assistant tests: a virtual BC26 on a real pty, fast session timing.

Loaded as a pytest plugin (see `pytest_plugins` in conftest.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
import dataclasses
import logging
from pathlib import Path
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion
from syrupy.location import PyTestLocation

from bc26sim import Bc26Simulator, ScriptedNetwork
from custom_components.bc26.const import (
    CONF_BAUDRATE,
    CONF_DATA_MODE,
    CONF_DEREGISTER_ON_UNLOAD,
    CONF_ENDPOINT,
    CONF_POLL_INTERVAL,
    CONF_PORT,
    CONF_SERVER,
    CONF_SERVER_PORT,
    DATA_MODE_DIRECT_PUSH,
    DOMAIN,
    module_title,
)
from custom_components.bc26.coordinator import Bc26Coordinator
from custom_components.bc26.modem import Timeouts
from custom_components.bc26.timing import SESSION_TIMING, Backoff, SessionTiming

IMEI = "866971030001361"
# Entity IDs begin with the entry's title, `BC26 …1361`.
SLUG = "bc26_1361"
# Modem-side delays run a thousand times faster: the manual's 128 s final result in 0.128 s.
TIME_SCALE = 0.001
# Generous against noisy machines, yet short enough that a silent module fails in seconds.
FAST_TIMING = SessionTiming(
    timeouts=Timeouts(response=1.0, delete=2.0, final=3.0),
    reconnect=Backoff(first=0.05, maximum=0.2),
    registration=Backoff(first=0.05, maximum=0.2),
    failures_before_issue=3,
    deregister_wait=3.0,
    stop_grace=3.0,
    forward_retry=0.2,
    unobserved_retry=0.5,
    expiry_check=0.2,
)
# How long a test waits for something the session should do by itself.
WAIT = 15.0


async def until(predicate: Callable[[], bool]) -> None:
    """Wait until `predicate()` holds; fail the test after WAIT seconds.

    The conditions span the simulator, the session and Home Assistant's state machine,
    which share no single event to wait on: look again every few milliseconds.
    """
    async with asyncio.timeout(WAIT):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker of tests that provoke an error log on purpose."""
    config.addinivalue_line("markers", "logs_errors: the test makes the integration log an error")


@pytest.fixture(autouse=True)
def no_errors_logged(
    request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> Iterator[None]:
    """Fail a Home Assistant test of this area in which anything logs an error."""
    yield
    if not request.module.__name__.split(".")[-1].startswith("test_ha_"):
        return
    if request.node.get_closest_marker("logs_errors") is not None:
        return
    errors = [
        f"{record.name}: {record.getMessage()}"
        for record in caplog.get_records("call")
        if record.levelno >= logging.ERROR
    ]
    assert not errors, errors


class Bc26SnapshotExtension(HomeAssistantSnapshotExtension):
    """Home Assistant's serializer, always in tests/snapshots/ (older plugins put it elsewhere)."""

    @classmethod
    def dirname(cls, *, test_location: PyTestLocation) -> str:
        """The `snapshots` folder next to the test file."""
        return str(Path(test_location.filepath).parent / "snapshots")


@pytest.fixture
def bc26_snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """The snapshot fixture, with the same format and place on every Home Assistant lane."""
    return snapshot.use_extension(Bc26SnapshotExtension)


@pytest.fixture
def scripted_network() -> ScriptedNetwork:
    """The platform behind the virtual module, as fast as the module."""
    return ScriptedNetwork(time_scale=TIME_SCALE)


@pytest.fixture
async def bc26(scripted_network: ScriptedNetwork, tmp_path: Path) -> AsyncIterator[Bc26Simulator]:
    """A virtual BC26 on a pseudo-terminal, reachable through a stable symlink."""
    simulator = Bc26Simulator(imei=IMEI, echo=True, time_scale=TIME_SCALE, network=scripted_network)
    await simulator.start_pty(link=tmp_path / "bc26")
    yield simulator
    await simulator.stop()


@pytest.fixture
def bc26_port(tmp_path: Path, bc26: Bc26Simulator) -> str:
    """The path the integration opens: the symlink, which survives unplug and replug."""
    return str(tmp_path / "bc26")


# For tests of a silent module: the probe gives up after three short waits.
QUICK_TIMEOUTS = dataclasses.replace(
    FAST_TIMING, timeouts=Timeouts(response=0.2, delete=1.0, final=1.0)
)


@pytest.fixture
def session_timing() -> SessionTiming:
    """The timing the tests use; a test parametrizes this to change it."""
    return FAST_TIMING


@pytest.fixture
def fast_timing(hass: HomeAssistant, session_timing: SessionTiming) -> SessionTiming:
    """Shorten every wait of the session and the config flow."""
    hass.data[SESSION_TIMING] = session_timing
    return session_timing


@pytest.fixture
def entry_options() -> dict[str, object]:
    """Options of the test entry; tests override this fixture to change them."""
    return {
        CONF_DATA_MODE: DATA_MODE_DIRECT_PUSH,
        CONF_POLL_INTERVAL: 300,
        CONF_DEREGISTER_ON_UNLOAD: True,
    }


def module_entry(
    port: str,
    *,
    server: str = "127.0.0.1",
    server_port: int = 5683,
    endpoint: str = "bc26-test",
    data_mode: str = DATA_MODE_DIRECT_PUSH,
    **extra: Any,
) -> MockConfigEntry:
    """A config entry of the test module as the config flow would create it."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=module_title(IMEI),
        unique_id=IMEI,
        data={
            CONF_PORT: port,
            CONF_BAUDRATE: 115200,
            CONF_SERVER: server,
            CONF_SERVER_PORT: server_port,
            CONF_ENDPOINT: endpoint,
        },
        options=extra.pop("options", None)
        or {
            CONF_DATA_MODE: data_mode,
            CONF_POLL_INTERVAL: 300,
            CONF_DEREGISTER_ON_UNLOAD: True,
        },
        **extra,
    )


@pytest.fixture
def config_entry(
    hass: HomeAssistant, bc26_port: str, entry_options: dict[str, object]
) -> MockConfigEntry:
    """A configured module on the virtual BC26's port."""
    entry = module_entry(bc26_port, options=entry_options)
    entry.add_to_hass(hass)
    return entry


@pytest.fixture
async def coordinator(
    hass: HomeAssistant, fast_timing: SessionTiming, config_entry: MockConfigEntry
) -> AsyncIterator[Bc26Coordinator]:
    """The entry set up and registered; unloaded again after the test."""
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    session: Bc26Coordinator = config_entry.runtime_data.session
    await until(lambda: session.registered)
    yield session
    if config_entry.state is ConfigEntryState.LOADED:
        assert await hass.config_entries.async_unload(config_entry.entry_id)
