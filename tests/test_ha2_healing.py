"""The session heals itself: stale beliefs give way to what the module and platform say.

Each test stages a fault an NB-IoT installation meets (a stalled Home Assistant, a
silent module, a corrupted line, a reboot nobody saw, a platform that forgot the
module) through the simulator and the platform, and checks through Home Assistant's
actions and the platform's records that nothing needs a hand to recover.
"""

from __future__ import annotations

import asyncio
import dataclasses

from homeassistant.exceptions import HomeAssistantError
import pytest

from custom_components.bc26.const import (
    CONF_CHECK_INTERVAL,
    CONF_DATA_MODE,
    CONF_DEREGISTER_ON_UNLOAD,
    CONF_POLL_INTERVAL,
    DATA_MODE_DIRECT_PUSH,
)
from custom_components.bc26.modem import Timeouts
from custom_components.bc26.registration import Recovery

from .ha2_fixtures import ENDPOINT, UPLINK, Rig, ThreadedRig, call_send as _send
from .ha_fixtures import FAST_TIMING, WAIT, until
from .modem_fixtures import stall_the_event_loop

DIRECT: dict[str, object] = {
    CONF_DATA_MODE: DATA_MODE_DIRECT_PUSH,
    CONF_POLL_INTERVAL: 300,
    CONF_DEREGISTER_ON_UNLOAD: True,
}
# The module's first answer takes this long (real seconds): time to stall the loop.
SLOW_ANSWER = 0.3
# Longer than the immediate-answer timeout (FAST_TIMING: 1 s) by a clear margin.
STALL = FAST_TIMING.timeouts.response + 0.5


def _count(commands: list[str], prefix: str) -> int:
    return sum(1 for command in commands if command.startswith(prefix))


# ---------------------------------------------------------------------- F2: a stalled loop


async def test_an_answer_that_came_while_home_assistant_stalled_is_taken(
    threaded_rig: ThreadedRig,
) -> None:
    rig = threaded_rig
    await rig.thread.call(lambda: setattr(rig.sim, "response_delay", SLOW_ANSWER))
    call = asyncio.ensure_future(_send(rig.hass, rig.entry.entry_id, data="through a stall"))
    await until(lambda: _count(list(rig.sim.commands), "AT+QLWDATASEND") == 1)
    stall_the_event_loop(STALL)  # the answer arrives meanwhile and waits in the port
    assert await call == {"status": "sent"}
    await rig.thread.call(lambda: setattr(rig.sim, "response_delay", 0.0))
    uplinks = await rig.thread.call(lambda: rig.platform.uplinks)
    assert [uplink.payload for uplink in uplinks] == [b"through a stall"]


@pytest.mark.parametrize("ha2_options", [{**DIRECT, CONF_POLL_INTERVAL: 0.5}])
async def test_a_poll_through_a_stall_keeps_the_registration(threaded_rig: ThreadedRig) -> None:
    rig = threaded_rig
    location = (await rig.thread.call(lambda: rig.platform.registrations))[ENDPOINT].location
    before = await rig.commands()
    await rig.thread.call(lambda: setattr(rig.sim, "response_delay", SLOW_ANSWER))
    await until(lambda: _count(list(rig.sim.commands), "AT+CSQ") > _count(before, "AT+CSQ"))
    stall_the_event_loop(STALL)  # the poll's answer arrives meanwhile
    polls = _count(await rig.commands(), "AT+CSQ")
    await until(lambda: _count(list(rig.sim.commands), "AT+CSQ") >= polls + 1)  # polls go on
    await rig.thread.call(lambda: setattr(rig.sim, "response_delay", 0.0))
    assert rig.session.registered
    after = await rig.commands()
    assert _count(after, "AT+QLWOPEN") == _count(before, "AT+QLWOPEN")
    assert _count(after, "AT+QLWDEL") == _count(before, "AT+QLWDEL")
    registrations = await rig.thread.call(lambda: rig.platform.registrations)
    assert registrations[ENDPOINT].location == location


@pytest.mark.parametrize("ha2_options", [{**DIRECT, CONF_POLL_INTERVAL: 0.3}])
async def test_one_unanswered_poll_marks_the_link_unknown_and_nothing_more(rig: Rig) -> None:
    registrations = _count(list(rig.sim.commands), "AT+QLWOPEN")
    polls = _count(list(rig.sim.commands), "AT+CSQ")
    rig.sim.mute = True
    await until(lambda: rig.session.link.signal_dbm is None)  # one poll went unanswered
    rig.sim.mute = False
    await until(lambda: rig.session.link.signal_dbm is not None)  # the next one is answered
    assert _count(list(rig.sim.commands), "AT+CSQ") >= polls + 2
    assert rig.session.registered
    assert _count(list(rig.sim.commands), "AT+QLWOPEN") == registrations


# ---------------------------------------------------------------------- F3: after a silence


@pytest.mark.parametrize(
    "ha2_timing",
    # The manual's long final-result timeout, which the line must not wait out.
    [dataclasses.replace(FAST_TIMING, timeouts=Timeouts(response=0.3, delete=1.0, final=60.0))],
)
async def test_sends_work_as_soon_as_a_silent_module_answers_again(rig: Rig) -> None:
    rig.sim.mute = True
    for n in range(8):  # more unanswered commands than there are resynchronisation probes
        with pytest.raises(HomeAssistantError) as caught:
            await _send(rig.hass, rig.entry.entry_id, data=f"lost {n}")
        assert caught.value.translation_key == "send_timeout"
    rig.sim.mute = False
    assert await _send(rig.hass, rig.entry.entry_id, data="back") == {"status": "sent"}
    assert [uplink.payload for uplink in rig.platform.uplinks] == [b"back"]


# ---------------------------------------------------------------------- F6: a corrupted URC


async def test_a_corrupted_observe_line_does_not_block_sends(rig: Rig) -> None:
    assert (await rig.platform.cancel_observe(ENDPOINT, UPLINK)).ok
    await until(lambda: UPLINK not in rig.session.resources.observed)
    rig.sim.garble_next_urc("+QLWOBSERVE")
    assert (await rig.platform.observe(ENDPOINT, UPLINK)).ok  # the module observes ...
    await asyncio.sleep(0.1)
    assert UPLINK not in rig.session.resources.observed  # ... but Home Assistant never read it so
    assert await _send(rig.hass, rig.entry.entry_id, data="goes anyway") == {"status": "sent"}
    async with asyncio.timeout(WAIT):
        assert (await rig.platform.wait_uplink()).payload == b"goes anyway"
    assert UPLINK in rig.session.resources.observed  # the module's acceptance corrected the belief


# ---------------------------------------------------------------------- F7: an unseen reboot


async def test_a_reboot_with_a_garbled_banner_is_found_and_healed(rig: Rig) -> None:
    before = rig.platform.registrations[ENDPOINT]
    await rig.sim.reboot(garbled=True)  # no banner the host can read; +CPIN and +IP follow
    async with asyncio.timeout(WAIT):
        registration = await rig.platform.wait_registered(ENDPOINT, newer_than=before)
    assert registration.location != before.location
    await rig.ready()
    assert rig.session.registrations.last_recovery is Recovery.CONTEXT_LOST
    assert await _send(rig.hass, rig.entry.entry_id, data="healed") == {"status": "sent"}


# ---------------------------------------------------------------------- F11: a forgetful platform


async def test_a_reset_message_from_a_platform_that_forgot_leads_to_a_new_registration(
    rig: Rig,
) -> None:
    before = rig.platform.registrations[ENDPOINT]
    assert rig.platform.forget(ENDPOINT)
    with pytest.raises(HomeAssistantError) as caught:
        await _send(rig.hass, rig.entry.entry_id, data="to nobody", confirmable=True)
    assert caught.value.translation_key == "send_failed_reset"
    async with asyncio.timeout(WAIT):
        registration = await rig.platform.wait_registered(ENDPOINT)  # by itself, no hand
    assert registration.location != before.location
    await rig.ready()
    assert rig.session.registrations.last_recovery is Recovery.PLATFORM_FORGOT
    answer = await _send(rig.hass, rig.entry.entry_id, data="known again", confirmable=True)
    assert answer == {"status": "acknowledged"}


# Seconds here; at least 300 through the options flow.
@pytest.mark.parametrize("ha2_options", [{**DIRECT, CONF_CHECK_INTERVAL: 0.5}])
async def test_an_idle_module_learns_that_the_platform_forgot_it(rig: Rig) -> None:
    first = rig.platform.registrations[ENDPOINT]
    assert rig.platform.forget(ENDPOINT)
    async with asyncio.timeout(WAIT):  # nothing sent, nothing written: the check finds it
        again = await rig.platform.wait_registered(ENDPOINT)
    assert again.location != first.location
    await rig.ready()
    assert rig.session.registrations.last_recovery is Recovery.PLATFORM_FORGOT


# ---------------------------------------------------------------------- lost acknowledgements


async def test_an_observation_ended_by_a_lost_acknowledgement_comes_back(rig: Rig) -> None:
    before = rig.platform.registrations[ENDPOINT]
    rig.platform.con_policy = "ignore"  # the platform records it and never acknowledges
    with pytest.raises(HomeAssistantError) as caught:
        await _send(rig.hass, rig.entry.entry_id, data="unanswered", confirmable=True)
    assert caught.value.translation_key == "send_failed_timeout"
    rig.platform.con_policy = "ack"
    # The module dropped the observer (RFC 7641 4.5); the platform, which never cancelled,
    # observes again only when the module registers: that happens without a hand.
    async with asyncio.timeout(WAIT):
        registration = await rig.platform.wait_registered(ENDPOINT, newer_than=before)
    assert registration.location != before.location
    await rig.ready()
    assert rig.session.registrations.last_recovery is Recovery.OBSERVATION_ENDED
    answer = await _send(rig.hass, rig.entry.entry_id, data="observed again", confirmable=True)
    assert answer == {"status": "acknowledged"}
