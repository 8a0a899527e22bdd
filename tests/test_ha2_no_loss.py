"""Nothing the module accepted is lost, and every send is reported as what happened to it.

The platform numbers what it writes and counts which writes the module accepted (2.04);
Home Assistant's side counts what reached its event entity. Across reloads, data-mode
changes and confirmable sends that wait, the two must match.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
import contextlib
from typing import Any

from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
import pytest

from custom_components.bc26.const import (
    CONF_DATA_MODE,
    CONF_DEREGISTER_ON_UNLOAD,
    CONF_POLL_INTERVAL,
    DATA_MODE_BUFFER_ACCESS,
    DATA_MODE_DIRECT_PUSH,
    DOMAIN,
)

from .ha2_fixtures import DOWNLINK, ENDPOINT, Rig, call_send as _send
from .ha_fixtures import IMEI, until

BUFFER_KEEPING_REGISTRATION = {
    CONF_DATA_MODE: DATA_MODE_BUFFER_ACCESS,
    CONF_POLL_INTERVAL: 300,
    CONF_DEREGISTER_ON_UNLOAD: False,  # as when Home Assistant stops or restarts
}
DIRECT_PUSH_DEREGISTERING = {  # the defaults
    CONF_DATA_MODE: DATA_MODE_DIRECT_PUSH,
    CONF_POLL_INTERVAL: 300,
    CONF_DEREGISTER_ON_UNLOAD: True,
}


class Received:
    """Every payload announced by the entry's event entity, in order (from the bus)."""

    def __init__(self, hass: HomeAssistant) -> None:
        entity_id = er.async_get(hass).async_get_entity_id("event", DOMAIN, f"{IMEI}-downlink")
        assert entity_id is not None
        self.entity_id = entity_id
        self.payloads: list[bytes] = []
        self.changes = 0

    @callback
    def on_change(self, event: Event[EventStateChangedData]) -> None:
        if event.data["entity_id"] != self.entity_id:
            return
        state, old = event.data["new_state"], event.data["old_state"]
        if state is None or "hex" not in state.attributes:
            return
        if old is None or old.state == STATE_UNAVAILABLE:
            return  # the entity came back with its last event: not a new one
        self.changes += 1
        self.payloads.append(bytes.fromhex(state.attributes["hex"]))


@contextlib.contextmanager
def received(hass: HomeAssistant) -> Iterator[Received]:
    record = Received(hass)
    remove = hass.bus.async_listen("state_changed", record.on_change)
    try:
        yield record
    finally:
        remove()


class Writer:
    """The platform writing numbered payloads without pause; remembers what was accepted."""

    def __init__(self, rig: Rig) -> None:
        self._rig = rig
        self.accepted: list[bytes] = []
        self.refused = 0
        self._count = 0
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    async def write_one(self) -> None:
        self._count += 1
        payload = f"write {self._count:05d}".encode()
        try:
            reply = await self._rig.platform.write(ENDPOINT, DOWNLINK, payload)
        except (ConnectionError, TimeoutError, LookupError):
            self.refused += 1
            await asyncio.sleep(0.005)  # not registered right now: try again soon
            return
        if reply.ok:
            self.accepted.append(payload)
        else:
            self.refused += 1

    async def _run(self) -> None:
        while not self._stopping:
            await self.write_one()

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop after the write in flight: its outcome is counted, not cut off."""
        assert self._task is not None
        self._stopping = True
        await self._task


# ---------------------------------------------------------------------- F1


@pytest.mark.parametrize("ha2_options", [BUFFER_KEEPING_REGISTRATION, DIRECT_PUSH_DEREGISTERING])
async def test_writes_accepted_while_the_session_starts_again_are_not_lost(rig: Rig) -> None:
    """The platform answers a deregistration late, as NB-IoT round trips go (~1.5 s).

    Kept registered, the module buffers what comes meanwhile; deregistering, what it
    took up to AT+QLWCLOSE reaches entities still there.
    """
    rig.platform.deregister_delay = 10.0  # scaled with the rest of the platform: 0.2 s
    with received(rig.hass) as got:
        writer = Writer(rig)
        writer.start()
        await until(lambda: len(writer.accepted) >= 10)
        assert await rig.hass.config_entries.async_reload(rig.entry.entry_id)
        await rig.ready()
        accepted_before = len(writer.accepted)
        await until(lambda: len(writer.accepted) >= accepted_before + 10)
        await writer.stop()
        try:
            await until(lambda: len(got.payloads) >= len(writer.accepted))
        except TimeoutError:
            lost = [payload for payload in writer.accepted if payload not in got.payloads]
            pytest.fail(f"accepted by the module, never delivered: {lost}")
        await asyncio.sleep(0.1)
    assert writer.refused > 0  # the restart did happen while the platform kept writing
    assert got.payloads == writer.accepted  # all of them, once each, in order


@pytest.mark.parametrize("ha2_options", [DIRECT_PUSH_DEREGISTERING])
async def test_a_write_pushed_while_the_module_deregisters_reaches_the_entities(rig: Rig) -> None:
    """The module may push a write it took just before AT+QLWCLOSE until it answers.

    The entities stay until the deregistration is over, so such a payload is shown and
    announced, not read into a session whose entities are gone.
    """
    rig.platform.deregister_delay = 25.0  # scaled with the rest of the platform: 0.5 s
    closes = list(rig.sim.commands).count("AT+QLWCLOSE")  # starting a session may close one
    with received(rig.hass) as got:
        unloading = asyncio.ensure_future(rig.hass.config_entries.async_unload(rig.entry.entry_id))
        await until(lambda: list(rig.sim.commands).count("AT+QLWCLOSE") > closes)
        rig.sim.inject(b"\r\n+QLWDATARECV: 19,1,0,4,4C415445\r\n")  # "LATE"
        await until(lambda: got.payloads == [b"LATE"])
        assert not unloading.done()  # it came while the module deregistered
        assert await unloading


# ---------------------------------------------------------------------- F9


@pytest.mark.parametrize("ha2_options", [BUFFER_KEEPING_REGISTRATION])
async def test_switching_to_direct_push_keeps_what_the_module_holds(rig: Rig) -> None:
    assert await rig.hass.config_entries.async_unload(rig.entry.entry_id)
    held = [f"held {n}".encode() for n in range(5)]
    for payload in held:  # Home Assistant is away; the module is registered and buffers
        await rig.write(payload)
    assert rig.sim.buffered == 5
    rig.hass.config_entries.async_update_entry(
        rig.entry, options={**rig.entry.options, CONF_DATA_MODE: DATA_MODE_DIRECT_PUSH}
    )
    with received(rig.hass) as got:
        assert await rig.hass.config_entries.async_setup(rig.entry.entry_id)
        await rig.ready()
        await until(lambda: len(got.payloads) == 5)
    assert got.payloads == held
    assert rig.sim.data_mode == 0
    assert rig.sim.buffered == 0


# ---------------------------------------------------------------------- F8


@pytest.mark.parametrize("ha2_options", [BUFFER_KEEPING_REGISTRATION])
async def test_a_pending_confirmable_send_does_not_hold_up_buffer_reads(rig: Rig) -> None:
    rig.platform.con_policy = "ignore"  # the acknowledgement never comes: ~2.6 s of waiting
    call = asyncio.ensure_future(_send(rig.hass, rig.entry.entry_id, data="slow", confirmable=True))
    await until(lambda: any(c.startswith("AT+QLWDATASEND") for c in rig.sim.commands))
    payloads = [f"meanwhile {n:02d}".encode() for n in range(20)]  # more than the 16 nodes
    with received(rig.hass) as got:
        for payload in payloads:
            await rig.write(payload)  # 2.04 each: the module had room, so it was read meanwhile
        await until(lambda: got.payloads == payloads)
        assert not call.done()  # all of that while the send still waited
    with pytest.raises(HomeAssistantError):
        await call
    assert rig.sim.modem.dropped_writes == 0


# ---------------------------------------------------------------------- F4


async def _one_on_its_way_one_behind(rig: Rig) -> tuple[asyncio.Future[Any], asyncio.Future[Any]]:
    """A confirmable send the platform has and does not answer, and one queued behind it."""
    rig.platform.con_policy = "ignore"
    entry_id = rig.entry.entry_id
    on_its_way = asyncio.ensure_future(
        _send(rig.hass, entry_id, data="on its way", confirmable=True)
    )
    await until(lambda: rig.uplinks.pending == 1 and len(rig.platform.uplinks) == 1)
    behind = asyncio.ensure_future(_send(rig.hass, entry_id, data="behind it"))
    await until(lambda: rig.uplinks.pending == 2)
    return on_its_way, behind


async def test_unloading_tells_sent_from_not_sent(rig: Rig) -> None:
    on_its_way, behind = await _one_on_its_way_one_behind(rig)
    assert await rig.hass.config_entries.async_unload(rig.entry.entry_id)
    with pytest.raises(HomeAssistantError) as caught:
        await on_its_way
    assert caught.value.translation_key == "send_outcome_unknown"  # it did reach the platform
    with pytest.raises(HomeAssistantError) as caught:
        await behind
    assert caught.value.translation_key == "send_cancelled"
    assert [uplink.payload for uplink in rig.platform.uplinks] == [b"on its way"]


async def test_stopping_home_assistant_tells_sent_from_not_sent(rig: Rig) -> None:
    # Home Assistant cancels background tasks (the send queue's worker among them)
    # before the integration hears that it stops: the calls still get their outcome.
    on_its_way, behind = await _one_on_its_way_one_behind(rig)
    await rig.hass.async_stop()
    with pytest.raises(HomeAssistantError) as caught:
        await on_its_way
    assert caught.value.translation_key == "send_outcome_unknown"
    with pytest.raises(HomeAssistantError) as caught:
        await behind
    assert caught.value.translation_key == "send_cancelled"


# ---------------------------------------------------------------------- F5


async def test_identical_payloads_in_one_read_are_two_events(rig: Rig) -> None:
    urc = b"\r\n+QLWDATARECV: 19,1,0,2,4F4E\r\n"
    with received(rig.hass) as got:
        rig.sim.inject(urc * 2)  # one read, the same millisecond
        await until(lambda: got.changes >= 2)
        await asyncio.sleep(0.05)
    assert got.payloads == [b"ON", b"ON"]
    assert got.changes == 2


async def test_an_automation_runs_for_every_identical_command(
    rig: Rig, hass: HomeAssistant
) -> None:
    entity_id = Received(hass).entity_id
    assert await async_setup_component(hass, "counter", {"counter": {"pump_starts": {}}})
    automation = {
        "alias": "Count pump commands",
        "triggers": [{"trigger": "state", "entity_id": entity_id, "not_from": "unavailable"}],
        "conditions": [
            {
                "condition": "template",
                "value_template": "{{ trigger.to_state.attributes.text | default('') == 'PUMP' }}",
            }
        ],
        "actions": [
            {"action": "counter.increment", "target": {"entity_id": "counter.pump_starts"}}
        ],
        "mode": "queued",
        "max": 100,
    }
    assert await async_setup_component(hass, "automation", {"automation": [automation]})
    for _ in range(3):
        rig.sim.inject(b"\r\n+QLWDATARECV: 19,1,0,4,50554D50\r\n" * 2)  # pairs in one read
    await until(lambda: hass.states.get("counter.pump_starts").state == "6")
    await asyncio.sleep(0.1)
    assert hass.states.get("counter.pump_starts").state == "6"
