"""End to end: the integration, a real pty, the virtual BC26's real LwM2M client, CoAP over
loopback, and the local LwM2M platform."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from homeassistant.core import HomeAssistant
import pytest

from bc26sim import Bc26Simulator
from bc26sim.lwm2m import Lwm2mClient
from bc26sim.platform import LwM2mPlatform
from custom_components.bc26.const import (
    DATA_MODE_BUFFER_ACCESS,
)
from custom_components.bc26.coordinator import Bc26Coordinator
from custom_components.bc26.resources import Payload, Phase

from .ha_fixtures import IMEI, module_entry, until

# CoAP and module delays at 1/50: an ACK timeout of 40 ms, the 128 s result in 2.6 s.
NETWORK_SCALE = 0.02
ENDPOINT = "bc26-e2e"


@pytest.fixture
async def platform(socket_enabled: None) -> AsyncIterator[LwM2mPlatform]:
    """The local LwM2M platform on a free UDP port of 127.0.0.1."""
    server = await LwM2mPlatform.start("127.0.0.1", 0, time_scale=NETWORK_SCALE)
    yield server
    await server.stop()


@pytest.fixture
async def lwm2m_module(tmp_path: Path) -> AsyncIterator[Bc26Simulator]:
    """A virtual BC26 whose network side is the real LwM2M client."""
    simulator = Bc26Simulator(
        imei=IMEI, time_scale=NETWORK_SCALE, network=Lwm2mClient(time_scale=NETWORK_SCALE)
    )
    await simulator.start_pty(link=tmp_path / "bc26")
    yield simulator
    await simulator.stop()


@pytest.mark.usefixtures("fast_timing", "lwm2m_module")
async def test_buffered_writes_of_the_platform_arrive_and_unload_deregisters(
    hass: HomeAssistant, platform: LwM2mPlatform, tmp_path: Path
) -> None:
    entry = module_entry(
        str(tmp_path / "bc26"),
        server_port=platform.port,
        endpoint=ENDPOINT,
        data_mode=DATA_MODE_BUFFER_ACCESS,
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    coordinator: Bc26Coordinator = entry.runtime_data.session
    received: list[Payload] = []
    coordinator.resources.listen(Phase.UPDATE, (19, 1, 0), received.append)

    await until(lambda: coordinator.registered and (19, 0, 0) in coordinator.resources.observed)
    assert ENDPOINT in platform.registrations
    for payload in (b"\xaa\xaa\x00\x00", b"set 21.5"):
        reply = await platform.write(ENDPOINT, (19, 1, 0), payload)
        assert reply.code == "2.04", reply
    await until(lambda: len(received) == 2)
    assert [downlink.data for downlink in received] == [b"\xaa\xaa\x00\x00", b"set 21.5"]
    assert all(downlink.path == (19, 1, 0) for downlink in received)

    assert await hass.config_entries.async_unload(entry.entry_id)
    await until(lambda: ENDPOINT not in platform.registrations)
