"""End to end: a real `hass` process, the virtual BC26 on a pty, the local LwM2M platform.

Home Assistant is driven only through its HTTP and websocket APIs, as the frontend
would drive it; the module is added through the real config flow and a decoded
sensor through the real subentry flow (the same code `scripts/develop` runs).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
import os
from pathlib import Path
import socket
from typing import Any

import pytest

from bc26sim import Bc26Simulator
from bc26sim.develop import SAMPLE_SENSOR, add_module, add_sample_sensor, sample_frame
from bc26sim.hass_process import HassProcess, Login, write_config
from bc26sim.lwm2m import Lwm2mClient
from bc26sim.platform.server import LwM2mPlatform

IMEI = "866971030001361"
DOWNLINK = (19, 1, 0)
UPLINK = (19, 0, 0)


@dataclass
class Trio:
    """What the test drives: the platform, the module and Home Assistant."""

    platform: LwM2mPlatform
    simulator: Bc26Simulator
    hass: HassProcess
    serial_path: str
    log: Path

    def log_lines(self) -> list[str]:
        """Home Assistant's warnings and errors so far."""
        text = self.log.read_text(errors="replace")
        return [line for line in text.splitlines() if " WARNING " in line or " ERROR " in line]


def _free_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
async def trio(tmp_path: Path, socket_enabled: None) -> AsyncIterator[Trio]:
    """The three parts, stopped in reverse order whatever the test did."""
    platform = await LwM2mPlatform.start("127.0.0.1", 0)
    simulator = Bc26Simulator(imei=IMEI, network=Lwm2mClient(), time_scale=0.1)
    config_dir = tmp_path / "config"
    write_config(config_dir)
    hass = HassProcess(config_dir, _free_tcp_port(), tmp_path / "hass.log")
    try:
        serial_path = await simulator.start_pty(link=str(tmp_path / "bc26-modem"))
        await hass.start()
        yield Trio(platform, simulator, hass, serial_path, tmp_path / "hass.log")
    finally:
        await hass.stop()
        await simulator.stop()
        await platform.stop()


async def _set_up(trio: Trio) -> dict[str, str]:
    """Onboard, add the module and the decoded sensor; return entity ids by unique id."""
    await trio.hass.log_in(Login())
    entry_id = await add_module(trio.hass, trio.serial_path, trio.platform.port)
    await add_sample_sensor(trio.hass, entry_id)
    async with asyncio.timeout(30):
        await trio.platform.wait_registered(IMEI)
    return await trio.hass.entity_ids("bc26")


async def _wait_entity(trio: Trio, prefix: str) -> str:
    """The entity id whose unique id starts with `prefix`, once it exists."""
    async with asyncio.timeout(30):
        while True:
            ids = await trio.hass.entity_ids("bc26")
            found = [eid for uid, eid in ids.items() if uid.startswith(prefix)]
            if found:
                return found[0]
            await asyncio.sleep(0.1)


def _is(value: str) -> Any:
    return lambda state: state["state"] == value


async def test_module_works_end_to_end_in_a_real_home_assistant(trio: Trio) -> None:
    hass = trio.hass
    ids = await _set_up(trio)
    registered = ids[f"{IMEI}-registered"]
    await hass.wait_state(registered, _is("on"))

    # The platform observes /19/0/0 after registration; sends need that observation.
    async with asyncio.timeout(30):
        await trio.platform.wait_for(lambda: UPLINK in trio.platform.observations(IMEI) or None)

    # A platform write: raw sensor, decoded sensor and event.
    frame = sample_frame(3)
    await trio.platform.write(IMEI, DOWNLINK, frame)
    raw = await _wait_entity(trio, f"{IMEI}-resource-19-1-0")
    raw_state = await hass.wait_state(raw, _is(frame.hex().upper()))
    assert raw_state["attributes"]["length"] == len(frame)
    decoded = await _wait_entity(trio, f"{IMEI}-decoded-")
    temperature = (frame[2] * 256 + frame[3]) / 10
    decoded_state = await hass.wait_state(decoded, _is(str(temperature)))
    assert (
        decoded_state["attributes"]["unit_of_measurement"] == SAMPLE_SENSOR["unit_of_measurement"]
    )
    event = ids[f"{IMEI}-downlink"]
    event_state = await hass.wait_state(
        event, lambda s: s["attributes"].get("hex") == frame.hex().upper()
    )
    assert event_state["attributes"]["event_type"] == "data_received"
    assert event_state["attributes"]["length"] == len(frame)

    # bc26.send, NON then CON, arrive at the platform byte for byte.
    entry_id = (await hass.config_entries("bc26"))[0]["entry_id"]
    non = await hass.call_action(
        "bc26", "send", {"config_entry_id": entry_id, "data": "hello"}, response=True
    )
    assert non["service_response"] == {"status": "sent"}
    con = await hass.call_action(
        "bc26",
        "send",
        {"config_entry_id": entry_id, "data": "00ff10", "encoding": "hex", "confirmable": True},
        response=True,
    )
    assert con["service_response"] == {"status": "acknowledged"}
    async with asyncio.timeout(30):
        await trio.platform.wait_for(lambda: len(trio.platform.uplinks) >= 2 or None)
    uplinks = [(u.payload, u.confirmable) for u in trio.platform.uplinks]
    assert uplinks == [(b"hello", False), (b"\x00\xff\x10", True)]

    # bc26.reregister: a fresh registration reaches the platform.
    registrations_before = trio.platform.registrations[IMEI].location
    await hass.call_action("bc26", "reregister", {"config_entry_id": entry_id})
    assert trio.platform.registrations[IMEI].location != registrations_before
    await hass.wait_state(registered, _is("on"))

    # Home Assistant has nothing to repair in how the tools configured it (the newest
    # flags an http: block in configuration.yaml) and warns of nothing deprecated. Newer
    # versions deprecate running from a virtual environment ("Core" installations):
    # that is how the tools run it, not something they configure.
    issues = await hass.websocket_command({"type": "repairs/list_issues"})
    raised = {(issue["domain"], issue["issue_id"]) for issue in issues["issues"]}
    assert raised <= {("homeassistant", "deprecated_method")}
    assert not [line for line in trio.log_lines() if "deprecat" in line.lower()]

    # hass stops cleanly (Ctrl-C, exit code 0) and leaves no process behind.
    pid = hass.pid
    assert pid is not None
    assert await hass.stop() == 0
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
