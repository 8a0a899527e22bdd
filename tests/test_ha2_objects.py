"""Any LwM2M object, declared from the UI: written by the platform, reported by Home Assistant.

Every test declares objects through the real "Declare an LwM2M object" subentry flow,
lets the module register with them, and checks what the local platform sees over
real CoAP and what Home Assistant shows.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

from homeassistant.config_entries import SOURCE_RECONFIGURE, SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import ServiceValidationError
import pytest

from bc26sim import tlv
from bc26sim.platform.server import OPAQUE, TEXT, TLV, ClientRegistration
from custom_components.bc26.const import (
    CONF_DATA_MODE,
    CONF_DEREGISTER_ON_UNLOAD,
    CONF_POLL_INTERVAL,
    DATA_MODE_BUFFER_ACCESS,
    DATA_MODE_DIRECT_PUSH,
    SUBENTRY_OBJECT,
)
from custom_components.bc26.modem import ResourcePath
from custom_components.bc26.resources import MAX_INSTANCES, Phase

from .ha2_fixtures import ENDPOINT, Rig, call_send as _send, entity_of
from .ha_fixtures import IMEI, WAIT, until

TEMPERATURE = ResourcePath(3303, 0, 5700)
LIGHT = ResourcePath(3311, 0, 5850)


def _object(
    obj: int, instance: int = 0, written: str = "", reported: str = "", name: str = ""
) -> dict[str, Any]:
    return {
        "object": obj,
        "instance": instance,
        "written": written,
        "reported": reported,
        "name": name,
        "register_now": True,
    }


async def _declare(rig: Rig, answer: dict[str, Any]) -> dict[str, Any]:
    """Run the subentry flow with `answer`; return its result."""
    result = await rig.hass.config_entries.subentries.async_init(
        (rig.entry.entry_id, SUBENTRY_OBJECT), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    return dict(await rig.hass.config_entries.subentries.async_configure(result["flow_id"], answer))


async def _registered_again(rig: Rig, before: ClientRegistration) -> ClientRegistration:
    async with asyncio.timeout(WAIT):
        registration = await rig.platform.wait_registered(ENDPOINT, newer_than=before)
    await rig.ready()
    return registration


def _ids(path: ResourcePath) -> dict[str, int]:
    return {"object_id": path.object, "instance_id": path.instance, "resource_id": path.resource}


def _sends(rig: Rig) -> list[str]:
    return [command for command in rig.sim.commands if command.startswith("AT+QLWDATASEND")]


async def test_an_object_declared_in_the_ui_is_written_by_the_platform_and_shown(
    rig: Rig,
) -> None:
    before = rig.platform.registrations[ENDPOINT]
    result = await _declare(rig, _object(3311, written="5850", name="Light"))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "3311/0 Light"
    registration = await _registered_again(rig, before)  # "register again now" was on
    assert registration.objects == ("/19/0", "/19/1", "/3311/0")
    assert 'AT+QLWADDOBJ=3311,0,1,"5850"' in rig.sim.commands
    assert (await rig.platform.write(ENDPOINT, LIGHT, b"1")).code == "2.04"
    entity_id = await entity_of(rig.hass, "sensor", f"{IMEI}-resource-3311-0-5850")
    await until(lambda: rig.hass.states.get(entity_id).state == "1")  # type: ignore[union-attr]
    event_id = await entity_of(rig.hass, "event", f"{IMEI}-downlink")
    await until(lambda: rig.hass.states.get(event_id).attributes.get("object") == 3311)  # type: ignore[union-attr]


async def test_home_assistant_reports_on_a_declared_ipso_resource(rig: Rig) -> None:
    before = rig.platform.registrations[ENDPOINT]
    await _declare(rig, _object(3303, reported="5700", name="Temperature"))
    await _registered_again(rig, before)
    assert (await rig.platform.observe(ENDPOINT, TEMPERATURE)).ok
    await until(lambda: TEMPERATURE in rig.session.resources.observed)
    answer = await _send(rig.hass, rig.entry.entry_id, data="21.5", **_ids(TEMPERATURE))
    assert answer == {"status": "sent"}
    async with asyncio.timeout(WAIT):
        uplink = await rig.platform.wait_uplink(lambda u: u.path == TEMPERATURE)
    assert uplink.payload == b"21.5"
    # Two resources to report on now: the action must be told which.
    with pytest.raises(ServiceValidationError) as caught:
        await _send(rig.hass, rig.entry.entry_id, data="which?")
    assert caught.value.translation_key == "path_needed"
    assert "19/0/0, 3303/0/5700" in str(caught.value)


async def test_undeclared_resources_are_refused_on_both_sides(rig: Rig) -> None:
    before = rig.platform.registrations[ENDPOINT]
    await _declare(rig, _object(3303, reported="5700"))
    await _registered_again(rig, before)
    undeclared = ResourcePath(3303, 0, 5701)
    assert (await rig.platform.write(ENDPOINT, undeclared, b"1")).code == "4.04"
    assert (await rig.platform.observe(ENDPOINT, undeclared)).code == "4.04"
    with pytest.raises(ServiceValidationError) as caught:
        await _send(rig.hass, rig.entry.entry_id, data="1", **_ids(undeclared))
    assert caught.value.translation_key == "path_not_declared"
    assert "3303/0/5701" in str(caught.value)
    assert _sends(rig) == []


async def test_the_binary_container_pair_can_be_removed(rig: Rig) -> None:
    before = rig.platform.registrations[ENDPOINT]
    await _declare(rig, _object(3311, written="5850"))
    registration = await _registered_again(rig, before)
    downlink = next(
        subentry_id
        for subentry_id, subentry in rig.entry.subentries.items()
        if subentry.unique_id == "19/1"
    )
    assert rig.hass.config_entries.async_remove_subentry(rig.entry, downlink)
    await rig.session.async_reregister()  # the Register again button's step
    registration = await _registered_again(rig, registration)
    assert registration.objects == ("/19/0", "/3311/0")
    assert (await rig.platform.write(ENDPOINT, (19, 1, 0), b"x")).code == "4.04"


async def test_changing_an_object_takes_effect_at_the_next_registration(rig: Rig) -> None:
    before = rig.platform.registrations[ENDPOINT]
    uplink = next(
        subentry for subentry in rig.entry.subentries.values() if subentry.unique_id == "19/0"
    )
    result = await rig.hass.config_entries.subentries.async_init(
        (rig.entry.entry_id, SUBENTRY_OBJECT),
        context={"source": SOURCE_RECONFIGURE, "subentry_id": uplink.subentry_id},
    )
    assert result["type"] is FlowResultType.FORM
    assert result["data_schema"] is not None
    suggested = {
        str(key): key.description["suggested_value"]
        for key in result["data_schema"].schema
        if key.description
    }
    assert suggested["reported"] == "0"
    answer = {**_object(19, reported="0, 1", name="Uplink"), "register_now": False}
    result = await rig.hass.config_entries.subentries.async_configure(result["flow_id"], answer)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await asyncio.sleep(0.2)
    assert rig.platform.registrations[ENDPOINT].location == before.location  # not yet
    assert rig.session.declared.reportable == ((19, 0, 0),)
    await rig.session.async_reregister()
    await _registered_again(rig, before)
    assert 'AT+QLWADDOBJ=19,0,2,"0;1"' in rig.sim.commands
    assert rig.session.declared.reportable == ((19, 0, 0), (19, 0, 1))


@pytest.mark.parametrize(
    ("answer", "errors"),
    [
        (_object(3303, reported="5700.5"), {"reported": "invalid_resources"}),
        (_object(3303, written="5850, x"), {"written": "invalid_resources"}),
        (_object(3303, written="70000"), {"written": "invalid_resources"}),
        (_object(3303, instance=1.5, reported="5700"), {"instance": "invalid_id"}),
        (_object(3303), {"base": "no_resources"}),
        (_object(19, instance=0, reported="1"), {"base": "already_declared"}),
        (
            _object(3303, reported=", ".join(str(n) for n in range(17))),
            {"base": "too_many_resources"},
        ),
    ],
)
async def test_objects_the_module_cannot_declare_are_refused(
    rig: Rig, answer: dict[str, Any], errors: dict[str, str]
) -> None:
    before = dict(rig.entry.subentries)
    result = await _declare(rig, answer)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors
    assert dict(rig.entry.subentries) == before  # nothing saved, nothing sent
    assert not any(command.startswith("AT+QLWADDOBJ=3303") for command in rig.sim.commands)


async def test_no_more_instances_than_the_module_holds(rig: Rig) -> None:
    for instance in range(MAX_INSTANCES - 2):  # the /19 pair takes two
        answer = {**_object(3303, instance=instance, reported="5700"), "register_now": False}
        assert (await _declare(rig, answer))["type"] is FlowResultType.CREATE_ENTRY
    result = await _declare(rig, _object(3303, instance=99, reported="5700"))
    assert result["errors"] == {"base": "too_many_instances"}
    assert result["description_placeholders"] == {"maximum": str(MAX_INSTANCES)}


BUFFER = {
    CONF_DATA_MODE: DATA_MODE_BUFFER_ACCESS,
    CONF_POLL_INTERVAL: 300,
    CONF_DEREGISTER_ON_UNLOAD: True,
}


@pytest.mark.parametrize("ha2_options", [BUFFER])
async def test_buffer_access_takes_one_writable_resource(rig: Rig) -> None:
    """A buffered write does not say which resource it is for: no guess between two."""
    result = await _declare(rig, _object(3311, written="5850"))
    assert result["errors"] == {"base": "buffer_access_one_writable"}
    result = await _declare(rig, _object(3303, reported="5700"))  # reported only: fine
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_switching_to_buffer_access_with_two_writable_resources_is_refused(
    rig: Rig,
) -> None:
    answer = {**_object(3311, written="5850"), "register_now": False}
    assert (await _declare(rig, answer))["type"] is FlowResultType.CREATE_ENTRY
    result = await rig.hass.config_entries.options.async_init(rig.entry.entry_id)
    result = await rig.hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_DATA_MODE: DATA_MODE_BUFFER_ACCESS,
            CONF_POLL_INTERVAL: 300,
            "check_interval": 3600,
            CONF_DEREGISTER_ON_UNLOAD: True,
        },
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_DATA_MODE: "buffer_access_one_writable"}
    assert rig.entry.options[CONF_DATA_MODE] == DATA_MODE_DIRECT_PUSH


@pytest.mark.parametrize("ha2_options", [BUFFER])
async def test_buffered_writes_go_to_the_one_writable_resource(rig: Rig) -> None:
    downlink = next(
        subentry_id
        for subentry_id, subentry in rig.entry.subentries.items()
        if subentry.unique_id == "19/1"
    )
    assert rig.hass.config_entries.async_remove_subentry(rig.entry, downlink)
    before = rig.platform.registrations[ENDPOINT]
    await _declare(rig, _object(3311, written="5850"))
    await _registered_again(rig, before)
    received: list[tuple[ResourcePath, bytes]] = []
    rig.session.resources.listen(
        Phase.UPDATE, None, lambda payload: received.append((payload.path, payload.data))
    )
    for payload in (b"1", b"0", b"1"):
        assert (await rig.platform.write(ENDPOINT, LIGHT, payload)).code == "2.04"
    await until(lambda: len(received) == 3)
    assert received == [(LIGHT, b"1"), (LIGHT, b"0"), (LIGHT, b"1")]
    entity_id = await entity_of(rig.hass, "sensor", f"{IMEI}-resource-3311-0-5850")
    await until(lambda: rig.hass.states.get(entity_id).state == "1")  # type: ignore[union-attr]


async def test_entries_made_before_objects_were_subentries_get_the_pair(
    hass: HomeAssistant, rig: Rig
) -> None:
    objects = sorted(
        subentry.unique_id or ""
        for subentry in rig.entry.subentries.values()
        if subentry.subentry_type == SUBENTRY_OBJECT
    )
    assert objects == ["19/0", "19/1"]
    assert rig.entry.minor_version == 2


@pytest.mark.parametrize(
    ("content_format", "written", "shown"),
    [
        (TEXT, b"21.5", "21.5"),  # text/plain: the characters, as Leshan's TEXT writes them
        (OPAQUE, b"\x00\xd7", "00D7"),  # opaque: the bytes
        (TLV, tlv.encode_resources([(5700, struct.pack(">d", 21.5))]), "4035800000000000"),
    ],
)
async def test_every_content_format_a_platform_writes_reaches_the_sensor(
    rig: Rig, content_format: int, written: bytes, shown: str
) -> None:
    """What the module passes on for each format (the simulator's decision, see lwm2m.py)."""
    before = rig.platform.registrations[ENDPOINT]
    await _declare(rig, _object(3303, written="5700"))
    await _registered_again(rig, before)
    reply = await rig.platform.write(ENDPOINT, TEMPERATURE, written, content_format=content_format)
    assert reply.code == "2.04"
    entity_id = await entity_of(rig.hass, "sensor", f"{IMEI}-resource-3303-0-5700")
    await until(lambda: rig.hass.states.get(entity_id).state == shown)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("accept", "sent", "received"),
    [
        (TEXT, {"data": "21.5"}, b"21.5"),
        (OPAQUE, {"data": "00D7", "encoding": "hex"}, b"\x00\xd7"),
        (
            TLV,
            {"data": struct.pack(">d", 21.5).hex(), "encoding": "hex"},
            tlv.encode_resources([(5700, struct.pack(">d", 21.5))]),
        ),
    ],
)
async def test_a_send_reaches_an_observer_in_the_format_it_asked_for(
    rig: Rig, accept: int, sent: dict[str, str], received: bytes
) -> None:
    """Home Assistant sends the value's bytes; the module wraps them as the observer asked."""
    before = rig.platform.registrations[ENDPOINT]
    await _declare(rig, _object(3303, reported="5700"))
    await _registered_again(rig, before)
    assert (await rig.platform.observe(ENDPOINT, TEMPERATURE, accept=accept)).ok
    await until(lambda: TEMPERATURE in rig.session.resources.observed)
    assert await _send(rig.hass, rig.entry.entry_id, **sent, **_ids(TEMPERATURE)) == {
        "status": "sent"
    }
    async with asyncio.timeout(WAIT):
        uplink = await rig.platform.wait_uplink(lambda u: u.path == TEMPERATURE)
    assert uplink.payload == received
    assert uplink.content_format == accept
