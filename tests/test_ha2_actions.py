"""The actions bc26.send, bc26.reregister and bc26.update_registration, and the buttons.

Every test runs the whole path: Home Assistant, the integration, a real pty, the
virtual BC26, the real LwM2M client and the local platform on loopback. Payloads are
checked byte for byte where the platform received them; refused calls are checked
not to have reached the module (`sim.commands`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er
import pytest
import voluptuous as vol

from bc26sim.platform import LwM2mPlatform
from custom_components.bc26.const import DOMAIN
from custom_components.bc26.modem import ConStatus
from custom_components.bc26.uplink import QUEUE_LIMIT

from .ha2_fixtures import ENDPOINT, UPLINK, Rig
from .ha_fixtures import IMEI, WAIT, until


def _path(obj: int, instance: int, resource: int) -> dict[str, int]:
    return {"object_id": obj, "instance_id": instance, "resource_id": resource}


def _con_status(rig: Rig) -> ConStatus | None:
    """The session's last CON status (read through a call: it changes between awaits)."""
    return rig.session.con_status


def _sends(rig: Rig) -> list[str]:
    return [command for command in rig.sim.commands if command.startswith("AT+QLWDATASEND")]


async def _send(rig: Rig, **fields: Any) -> dict[str, Any] | None:
    return await rig.hass.services.async_call(
        DOMAIN,
        "send",
        {"config_entry_id": rig.entry.entry_id, **fields},
        blocking=True,
        return_response=True,
    )


async def _uplinks(platform: LwM2mPlatform, count: int) -> list[bytes]:
    async with asyncio.timeout(WAIT):
        await platform.wait_for(lambda: len(platform.uplinks) >= count)
    return [uplink.payload for uplink in platform.uplinks]


async def test_send_text_non_returns_once_the_module_took_it(rig: Rig) -> None:
    response = await _send(rig, data="21.5 °C")
    assert response == {"status": "sent"}
    uplink = (await rig.platform.wait_uplink()), rig.platform.uplinks
    assert uplink[0].payload == "21.5 °C".encode()
    assert uplink[0].path == UPLINK
    assert uplink[0].endpoint == ENDPOINT
    assert not uplink[0].confirmable


async def test_send_hex_con_returns_once_the_platform_acknowledged(rig: Rig) -> None:
    frame = "01F00035020056FFFFFCD3"  # the start of the manual's example frame
    spaced = " ".join(frame[i : i + 2] for i in range(0, len(frame), 2)).lower()
    sensor = er.async_get(rig.hass).async_get_entity_id("sensor", DOMAIN, f"{IMEI}-con_status")
    shown: list[str] = []

    @callback  # inside the state write, in order
    def record(event: Any) -> None:
        if event.data["entity_id"] == sensor and event.data["new_state"] is not None:
            shown.append(event.data["new_state"].state)

    unsubscribe = rig.hass.bus.async_listen("state_changed", record)
    response = await _send(rig, data=spaced, encoding="hex", confirmable=True)
    await rig.hass.async_block_till_done()
    unsubscribe()
    assert response == {"status": "acknowledged"}
    assert shown[-2:] == ["waiting", "success"]  # the last CON send, as the sensor showed it
    (uplink,) = rig.platform.uplinks  # acknowledged means the platform already has it
    assert uplink.payload == bytes.fromhex(frame)
    assert uplink.confirmable
    assert _con_status(rig) is ConStatus.SUCCESS


async def test_quotes_and_line_breaks_arrive_as_data_not_commands(rig: Rig) -> None:
    text = 'say "hi"\r\nAT+QLWDEL\r\n'
    deletes = list(rig.sim.commands).count("AT+QLWDEL")
    assert await _send(rig, data=text) == {"status": "sent"}
    assert await _uplinks(rig.platform, 1) == [text.encode()]
    assert list(rig.sim.commands).count("AT+QLWDEL") == deletes
    assert rig.session.registered


async def test_send_without_asking_for_the_response(rig: Rig) -> None:
    result = await rig.hass.services.async_call(
        DOMAIN,
        "send",
        {"config_entry_id": rig.entry.entry_id, "data": "no reply wanted"},
        blocking=True,
    )
    assert result is None
    assert await _uplinks(rig.platform, 1) == [b"no reply wanted"]


async def test_largest_payload_arrives_whole(rig: Rig) -> None:
    payload = bytes(range(256)) * 2  # 512 bytes, the manual's maximum
    assert await _send(rig, data=payload.hex(), encoding="hex", confirmable=True) == {
        "status": "acknowledged"
    }
    assert rig.platform.uplinks[0].payload == payload


@pytest.mark.parametrize(
    ("fields", "key"),
    [
        ({"data": ""}, "empty_data"),
        ({"data": "", "encoding": "hex"}, "empty_data"),
        ({"data": " \n", "encoding": "hex"}, "empty_data"),
        ({"data": "x" * 513}, "data_too_long"),
        ({"data": "é" * 257}, "data_too_long"),  # 514 bytes in UTF-8
        ({"data": "00" * 513, "encoding": "hex"}, "data_too_long"),
        ({"data": "ABC", "encoding": "hex"}, "odd_length_hex"),
        ({"data": "AB C", "encoding": "hex"}, "odd_length_hex"),
        ({"data": "ZZ", "encoding": "hex"}, "invalid_hex"),
        ({"data": "0x01", "encoding": "hex"}, "invalid_hex"),
        ({"data": "A\r\nAT+QLWDEL", **_path(3303, 0, 5700)}, "path_not_declared"),
        ({"data": "ON", **_path(19, 2, 0)}, "path_not_declared"),
        ({"data": "ON", **_path(19, 0, 1)}, "path_not_declared"),
        ({"data": "ON", **_path(19, 1, 0)}, "path_not_declared"),  # written, not reported
        ({"data": "ON", "instance_id": 0}, "path_needed"),  # the three IDs or none
        ({"data": "ON", "object_id": 70000}, "invalid_id"),
        ({"data": "ON", "instance_id": -1}, "invalid_id"),
        ({"data": "ON", "object_id": 19.7}, "invalid_id"),  # never rounded to 19
        ({"data": "ON", "object_id": "19.7"}, "invalid_id"),
        ({"data": "ON", "object_id": True}, "invalid_id"),  # true is not 1 here
        ({"data": "ON", "resource_id": "zero"}, "invalid_id"),
        ({"data": "ON", "resource_id": None}, "invalid_id"),
        ({"data": "ON", "confirmable": "maybe"}, "invalid_boolean"),
        ({"data": "ON", "confirmable": "yes"}, "invalid_boolean"),
        ({"data": "ON", "confirmable": 2}, "invalid_boolean"),
        ({"data": "ON", "confirmable": 0.5}, "invalid_boolean"),
        ({"data": "ON", "confirmable": 1}, "invalid_boolean"),
    ],
)
async def test_invalid_input_is_refused_before_the_module(
    rig: Rig, fields: dict[str, Any], key: str
) -> None:
    with pytest.raises(ServiceValidationError) as caught:
        await _send(rig, **fields)
    assert caught.value.translation_domain == DOMAIN
    assert caught.value.translation_key == key
    assert str(caught.value)  # the translated message, not an empty one
    assert _sends(rig) == []
    # The module still works: the refusal left nothing half-done.
    assert await _send(rig, data="after") == {"status": "sent"}
    assert [uplink.payload for uplink in rig.platform.uplinks] == [b"after"]


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"object_id": 19.0, "instance_id": "0", "resource_id": " 0 "}, (19, 0, 0)),
        ({"object_id": "19", "instance_id": 0.0, "resource_id": 0}, (19, 0, 0)),
        ({}, (19, 0, 0)),  # the one resource the module reports on
    ],
)
async def test_ids_written_as_whole_numbers_in_other_forms_are_taken(
    rig: Rig, fields: dict[str, Any], path: tuple[int, int, int]
) -> None:
    """What a template renders ("19") or a number field gives (19.0) is still 19."""
    assert await _send(rig, data="ok", **fields) == {"status": "sent"}
    assert (await rig.platform.wait_uplink()).path == path


@pytest.mark.parametrize(
    "fields",
    [
        {"data": "ON", "encoding": "base64"},
        {"data": "ON", "color": "red"},
    ],
)
async def test_fields_outside_the_schema_are_refused(rig: Rig, fields: dict[str, Any]) -> None:
    with pytest.raises(vol.Invalid):
        await _send(rig, **fields)
    assert _sends(rig) == []


async def test_unknown_or_unloaded_entry_is_refused(rig: Rig) -> None:
    with pytest.raises(ServiceValidationError) as caught:
        await rig.hass.services.async_call(
            DOMAIN, "send", {"config_entry_id": "nope", "data": "ON"}, blocking=True
        )
    assert caught.value.translation_key == "entry_not_found"
    assert await rig.hass.config_entries.async_unload(rig.entry.entry_id)
    commands = len(rig.sim.commands)
    for action, fields in (
        ("send", {"data": "ON"}),
        ("reregister", {}),
        ("update_registration", {}),
    ):
        with pytest.raises(ServiceValidationError) as caught:
            await rig.hass.services.async_call(
                DOMAIN,
                action,
                {"config_entry_id": rig.entry.entry_id, **fields},
                blocking=True,
            )
        assert caught.value.translation_key == "entry_not_loaded"
        assert rig.entry.title in str(caught.value)
    assert len(rig.sim.commands) == commands


async def test_send_before_the_platform_observes_is_refused(rig: Rig) -> None:
    await rig.platform.cancel_observe(ENDPOINT, UPLINK)
    await until(lambda: UPLINK not in rig.session.resources.observed)
    # Not observed, as far as the session knows: the module is asked all the same (the
    # session's belief may be stale), and it refuses.
    with pytest.raises(ServiceValidationError) as caught:
        await _send(rig, data="too early")
    assert caught.value.translation_key == "not_observed"
    assert "19/0/0" in str(caught.value)
    assert len(_sends(rig)) == 1
    assert rig.platform.uplinks == []
    reply = await rig.platform.observe(ENDPOINT, UPLINK)
    assert reply.ok
    await until(lambda: UPLINK in rig.session.resources.observed)
    assert await _send(rig, data="now") == {"status": "sent"}
    assert await _uplinks(rig.platform, 1) == [b"now"]


async def test_con_send_fail_is_an_error_and_the_queue_goes_on(rig: Rig) -> None:
    rig.platform.con_policy = "reset"
    with pytest.raises(HomeAssistantError) as caught:
        await _send(rig, data="refused", confirmable=True)
    assert caught.value.translation_key == "send_failed_reset"
    assert _con_status(rig) is ConStatus.RESET
    assert "rejected the confirmable message (reset)" in str(caught.value)
    # A reset ends the observation (RFC 7641); the platform observes again, sends go on.
    await until(lambda: UPLINK not in rig.session.resources.observed)
    rig.platform.con_policy = "ack"
    assert (await rig.platform.observe(ENDPOINT, UPLINK)).ok
    await until(lambda: UPLINK in rig.session.resources.observed)
    assert await _send(rig, data="accepted", confirmable=True) == {"status": "acknowledged"}
    assert _con_status(rig) is ConStatus.SUCCESS


async def test_silent_module_times_out(rig: Rig) -> None:
    rig.sim.mute = True
    try:
        with pytest.raises(HomeAssistantError) as caught:
            await _send(rig, data="into the void")
    finally:
        rig.sim.mute = False
    assert caught.value.translation_key == "send_timeout"
    assert rig.platform.uplinks == []


async def _con_send_in_flight(rig: Rig) -> asyncio.Future[dict[str, Any] | None]:
    """A CON send the platform never acknowledges, once it is on the serial line."""
    rig.platform.con_policy = "ignore"
    call = asyncio.ensure_future(_send(rig, data="in flight", confirmable=True))
    await until(lambda: bool(_sends(rig)))
    return call


async def test_port_lost_during_a_send(rig: Rig) -> None:
    call = await _con_send_in_flight(rig)
    behind = asyncio.ensure_future(_send(rig, data="queued behind"))
    await until(lambda: rig.uplinks.pending == 2)
    await rig.sim.unplug()
    # The module took the first: whether the platform got it went with the port.
    for pending, key in ((call, "send_outcome_unknown"), (behind, "module_unavailable")):
        with pytest.raises(HomeAssistantError) as caught:
            await pending
        assert caught.value.translation_key == key
    assert len(_sends(rig)) == 1
    await until(lambda: not rig.session.connected)
    # While the port is gone, actions are refused before anything is queued.
    with pytest.raises(HomeAssistantError) as caught:
        await _send(rig, data="no port")
    assert caught.value.translation_key == "module_unavailable"
    with pytest.raises(HomeAssistantError) as caught:
        await rig.hass.services.async_call(
            DOMAIN, "reregister", {"config_entry_id": rig.entry.entry_id}, blocking=True
        )
    assert caught.value.translation_key == "module_unavailable"
    await rig.sim.replug()
    await rig.ready()
    rig.platform.con_policy = "ack"
    assert await _send(rig, data="back", confirmable=True) == {"status": "acknowledged"}


async def test_module_restart_during_a_send(rig: Rig) -> None:
    call = await _con_send_in_flight(rig)
    await rig.sim.reboot()
    with pytest.raises(HomeAssistantError) as caught:
        await call
    assert caught.value.translation_key == "send_error"
    assert str(caught.value).startswith("Sending failed: ")
    rig.platform.con_policy = "ack"
    await rig.ready()  # the session registers the restarted module again
    assert await _send(rig, data="after restart") == {"status": "sent"}


async def test_a_send_the_module_refuses(rig: Rig) -> None:
    # The platform stops observing, and the line that says so is garbled: Home Assistant
    # still believes the resource observed; the module itself refuses the send.
    rig.sim.garble_next_urc("+QLWOBSERVE")
    assert (await rig.platform.cancel_observe(ENDPOINT, UPLINK)).ok
    assert UPLINK in rig.session.resources.observed
    updates = rig.platform.registrations[ENDPOINT].updates
    with pytest.raises(HomeAssistantError) as caught:
        await _send(rig, data="to nobody")
    assert caught.value.translation_key == "send_rejected"
    assert len(_sends(rig)) == 1
    assert rig.platform.uplinks == []
    # A refusal the session did not expect makes it check the registration: still there.
    async with asyncio.timeout(WAIT):
        await rig.platform.wait_for(lambda: rig.platform.registrations[ENDPOINT].updates > updates)
    assert rig.session.registered
    assert (await rig.platform.observe(ENDPOINT, UPLINK)).ok
    await until(lambda: UPLINK in rig.session.resources.observed)
    assert await _send(rig, data="to the platform") == {"status": "sent"}


async def test_concurrent_sends_arrive_complete_and_in_call_order(rig: Rig) -> None:
    payloads = [f"reading {n:02d}".encode() * (n + 1) for n in range(20)]
    calls = [
        _send(rig, data=payload.hex(), encoding="hex", confirmable=n % 3 == 0)
        for n, payload in enumerate(payloads)
    ]
    responses = await asyncio.gather(*calls)
    assert responses == [{"status": "acknowledged" if n % 3 == 0 else "sent"} for n in range(20)]
    assert await _uplinks(rig.platform, 20) == payloads
    assert [uplink.confirmable for uplink in rig.platform.uplinks] == [
        n % 3 == 0 for n in range(20)
    ]


async def test_full_queue_refuses_without_losing_what_is_queued(rig: Rig) -> None:
    async with rig.session.modem_session():
        # The first send waits for the modem (held here); the others wait behind it.
        queued = [asyncio.ensure_future(_send(rig, data=f"queued {n}")) for n in range(QUEUE_LIMIT)]
        await until(lambda: rig.uplinks.pending == QUEUE_LIMIT)
        with pytest.raises(HomeAssistantError) as caught:
            await _send(rig, data="one too many")
        assert caught.value.translation_key == "queue_full"
        assert str(QUEUE_LIMIT) in str(caught.value)
        assert _sends(rig) == []
    assert await asyncio.gather(*queued) == [{"status": "sent"}] * QUEUE_LIMIT
    expected = [f"queued {n}".encode() for n in range(QUEUE_LIMIT)]
    assert await _uplinks(rig.platform, QUEUE_LIMIT) == expected


async def test_unload_fails_pending_sends_cleanly(rig: Rig) -> None:
    async with rig.session.modem_session():
        pending = [asyncio.ensure_future(_send(rig, data=f"pending {n}")) for n in range(3)]
        await until(lambda: rig.uplinks.pending == 3)
        assert await rig.hass.config_entries.async_unload(rig.entry.entry_id)
        for call in pending:
            with pytest.raises(HomeAssistantError) as caught:
                await call
            assert caught.value.translation_key == "send_cancelled"
    assert _sends(rig) == []
    assert rig.entry.state is ConfigEntryState.NOT_LOADED


async def test_reregister_registers_again(rig: Rig) -> None:
    before = rig.platform.registrations[ENDPOINT]
    await rig.hass.services.async_call(
        DOMAIN, "reregister", {"config_entry_id": rig.entry.entry_id}, blocking=True
    )
    assert rig.session.registered
    after = rig.platform.registrations[ENDPOINT]
    assert after.location != before.location
    assert "AT+QLWCLOSE" in rig.sim.commands


async def test_update_registration_updates(rig: Rig) -> None:
    before = rig.platform.registrations[ENDPOINT].updates
    await rig.hass.services.async_call(
        DOMAIN, "update_registration", {"config_entry_id": rig.entry.entry_id}, blocking=True
    )
    assert rig.platform.registrations[ENDPOINT].updates == before + 1


async def test_a_second_update_shares_the_first_and_holds_no_line(rig: Rig) -> None:
    """While the platform is slow to answer an update, a second one holds nothing up."""
    rig.platform.update_delay = 50.0  # 1 s here (the module gives up at 2): it may take 128 s
    before = rig.platform.registrations[ENDPOINT].updates

    def update() -> asyncio.Future[Any]:
        return asyncio.ensure_future(
            rig.hass.services.async_call(
                DOMAIN,
                "update_registration",
                {"config_entry_id": rig.entry.entry_id},
                blocking=True,
            )
        )

    first = update()
    await until(lambda: "AT+QLWUPDATE" in rig.sim.commands)
    second = update()  # the button pressed while the periodic check's update waits, say
    # The second call reaches the session before the send does: counted in loop
    # iterations, not time, so that a busy machine cannot reorder them. Its way there
    # waits for nothing outside the loop.
    for _ in range(100):
        await asyncio.sleep(0)
    await rig.hass.services.async_call(
        DOMAIN, "send", {"config_entry_id": rig.entry.entry_id, "data": "AA"}, blocking=True
    )
    assert rig.platform.uplinks[-1].payload == b"AA"
    assert not first.done()  # the send did not wait for the update
    assert not second.done()
    await first
    await second
    assert list(rig.sim.commands).count("AT+QLWUPDATE") == 1
    assert rig.platform.registrations[ENDPOINT].updates == before + 1


async def test_an_update_cut_short_by_an_unload_says_so(rig: Rig) -> None:
    """The session stops the update it waits for: the caller learns why, not a bare cancel."""
    rig.platform.update_delay = 500.0  # 10 s here
    call = asyncio.ensure_future(
        rig.hass.services.async_call(
            DOMAIN, "update_registration", {"config_entry_id": rig.entry.entry_id}, blocking=True
        )
    )
    await until(lambda: "AT+QLWUPDATE" in rig.sim.commands)
    assert await rig.hass.config_entries.async_unload(rig.entry.entry_id)
    with pytest.raises(HomeAssistantError) as caught:
        await call
    assert caught.value.translation_key == "module_unavailable"


async def test_no_update_starts_once_the_session_stopped(
    rig: Rig, entity_registry: er.EntityRegistry
) -> None:
    """The button pressed while the module deregisters (the entities are there until it did)."""
    button = entity_registry.async_get_entity_id("button", DOMAIN, f"{IMEI}-update_registration")
    rig.platform.deregister_delay = 50.0  # 1 s here
    unloading = asyncio.ensure_future(rig.hass.config_entries.async_unload(rig.entry.entry_id))
    await until(lambda: rig.sim.commands[-1] == "AT+QLWCLOSE")
    with pytest.raises(HomeAssistantError) as caught:
        await rig.hass.services.async_call(
            "button", "press", {ATTR_ENTITY_ID: button}, blocking=True
        )
    assert caught.value.translation_key == "module_unavailable"
    assert await unloading
    assert "AT+QLWUPDATE" not in rig.sim.commands


async def test_registration_actions_report_failures(rig: Rig) -> None:
    await rig.platform.stop()  # nobody answers any more
    with pytest.raises(HomeAssistantError) as caught:
        await rig.hass.services.async_call(
            DOMAIN, "update_registration", {"config_entry_id": rig.entry.entry_id}, blocking=True
        )
    assert caught.value.translation_key == "update_failed"
    assert "UPDATE FAIL" in str(caught.value)
    with pytest.raises(HomeAssistantError) as caught:
        await rig.hass.services.async_call(
            DOMAIN, "reregister", {"config_entry_id": rig.entry.entry_id}, blocking=True
        )
    assert caught.value.translation_key == "reregister_failed"


async def test_unregistered_module_refuses_without_touching_the_line(rig: Rig) -> None:
    await rig.platform.stop()
    await rig.sim.reboot()  # the module forgets its registration and cannot register again
    await until(lambda: not rig.session.registered)
    with pytest.raises(HomeAssistantError) as caught:
        await _send(rig, data="nobody there")
    assert caught.value.translation_key == "not_registered"
    with pytest.raises(HomeAssistantError) as caught:
        await rig.hass.services.async_call(
            DOMAIN, "update_registration", {"config_entry_id": rig.entry.entry_id}, blocking=True
        )
    assert caught.value.translation_key == "not_registered"
    assert _sends(rig) == []
    assert "AT+QLWUPDATE" not in rig.sim.commands


async def test_buttons_run_the_same_steps(rig: Rig, entity_registry: er.EntityRegistry) -> None:
    reregister = entity_registry.async_get_entity_id("button", DOMAIN, f"{IMEI}-reregister")
    update = entity_registry.async_get_entity_id("button", DOMAIN, f"{IMEI}-update_registration")
    assert reregister is not None
    assert update is not None
    before = rig.platform.registrations[ENDPOINT]
    await rig.hass.services.async_call("button", "press", {ATTR_ENTITY_ID: update}, blocking=True)
    assert rig.platform.registrations[ENDPOINT].updates == before.updates + 1
    await rig.hass.services.async_call(
        "button", "press", {ATTR_ENTITY_ID: reregister}, blocking=True
    )
    assert rig.platform.registrations[ENDPOINT].location != before.location
