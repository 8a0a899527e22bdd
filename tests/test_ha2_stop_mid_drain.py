"""A read under way when the session stops is finished: its node reaches the entities.

The module removes a node from its buffer as it answers AT+QLWRD (manual 3.10), so a
read cut off once its command went out loses that node. Here the entry unloads, or
Home Assistant stops, while the session drains a long buffer one slow answer at a
time, as the manual allows: in the drain that initialises a session, or in one that
serves +QLWDATARECV. The node must also be in the states Home Assistant saves at its
stop event, or the restart shows the one before it.
"""

from __future__ import annotations

from homeassistant.helpers import restore_state
import pytest

from .ha2_fixtures import Rig, entity_of
from .ha_fixtures import until
from .test_ha2_entities import RAW_DOWNLINK
from .test_ha2_no_loss import BUFFER_KEEPING_REGISTRATION, received

# Real seconds per answer of the module (the manual allows 0.3 for AT+QLWRD): a drain of
# 12 nodes takes about 1.8 s, longer than the session's response timeout (1 s).
SLOW_ANSWER = 0.15
DRAINS = ["initialising", "serving"]


def _reads(rig: Rig) -> int:
    return sum(command.startswith("AT+QLWRD") for command in rig.sim.commands)


async def _second_read_on_the_line(rig: Rig, draining: str, count: int) -> list[bytes]:
    """`count` writes the module buffers; returns while the session reads the second."""
    held = [f"held {n:02d}".encode() for n in range(count)]
    if draining == "initialising":  # written while Home Assistant is away
        assert await rig.hass.config_entries.async_unload(rig.entry.entry_id)
    rig.sim.response_delay = SLOW_ANSWER
    before = _reads(rig)
    for payload in held:
        await rig.write(payload)
    if draining == "initialising":
        assert await rig.hass.config_entries.async_setup(rig.entry.entry_id)
    await until(lambda: _reads(rig) >= before + 2)
    return held


@pytest.mark.parametrize("ha2_options", [BUFFER_KEEPING_REGISTRATION])
@pytest.mark.parametrize("draining", DRAINS)
async def test_unloading_mid_drain_loses_no_node(rig: Rig, draining: str) -> None:
    hass, entry_id = rig.hass, rig.entry.entry_id
    with received(hass) as got:
        held = await _second_read_on_the_line(rig, draining, 12)
        assert await hass.config_entries.async_unload(entry_id)
        assert len(got.payloads) >= 2  # the read on the line was finished
        assert len(got.payloads) + rig.sim.buffered == len(held)
        assert rig.sim.buffered > 0  # it stopped between two reads, not at the end
        rig.sim.response_delay = 0.0
        assert await hass.config_entries.async_setup(entry_id)
        await until(lambda: len(got.payloads) >= len(held))
    assert got.payloads == held


@pytest.mark.parametrize("ha2_options", [BUFFER_KEEPING_REGISTRATION])
@pytest.mark.parametrize("draining", DRAINS)
async def test_stopping_home_assistant_mid_drain_keeps_the_node_for_the_restart(
    rig: Rig, draining: str
) -> None:
    hass = rig.hass
    raw_sensor = await entity_of(hass, "sensor", RAW_DOWNLINK)
    restore_state.async_get(hass).async_setup_dump()  # as Home Assistant's start: dump at stop
    with received(hass) as got:
        held = await _second_read_on_the_line(rig, draining, 12)
        await hass.async_stop()
    assert len(got.payloads) >= 2  # the read on the line was finished
    assert got.payloads == held[: len(got.payloads)]
    assert len(got.payloads) + rig.sim.buffered == len(held)
    restored = restore_state.async_get(hass)
    await restored.async_load()  # what the next start restores
    stored = restored.last_states[raw_sensor].extra_data
    assert stored is not None
    assert stored.as_dict()["hex"] == got.payloads[-1].hex().upper()
