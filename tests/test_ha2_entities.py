"""What the platform writes, as Home Assistant entities: raw sensors, decoded sensors, events.

The platform writes with real CoAP PUTs; the virtual BC26 reports them as
+QLWDATARECV (direct push) or buffers them for AT+QLWRD (buffer access).
"""

from __future__ import annotations

import logging
from typing import Any

from homeassistant.components.sensor import SensorEntity
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant, State, callback
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockEntityPlatform,
    async_mock_load_restore_state_from_storage,
    async_mock_restore_state_shutdown_restart,
    mock_restore_cache_with_extra_data,
)

from custom_components.bc26.const import (
    DATA_MODE_BUFFER_ACCESS,
    DATA_MODE_DIRECT_PUSH,
    DOMAIN,
    SUBENTRY_RESOURCE_SENSOR,
    module_title,
)
from custom_components.bc26.resource_sensor import decoded_unique_id
from custom_components.bc26.resources import Phase

from .ha2_fixtures import DOWNLINK, UPLINK, Rig
from .ha_fixtures import IMEI, until

RAW_DOWNLINK = f"{IMEI}-resource-19-1-0"
RAW_UPLINK = f"{IMEI}-resource-19-0-0"
EVENT = f"{IMEI}-downlink"

# A frame with two values: temperature in signed tenths of a degree, humidity in tenths of %.
TEMPERATURE = (
    "{% set raw = value_bytes[0] * 256 + value_bytes[1] %}"
    "{{ ((raw - 65536) if raw > 32767 else raw) / 10 }}"
)
HUMIDITY = "{{ (value_bytes[2] * 256 + value_bytes[3]) / 10 }}"


def _entity_id(hass: HomeAssistant, domain: str, unique_id: str) -> str | None:
    return er.async_get(hass).async_get_entity_id(domain, DOMAIN, unique_id)


def _state(hass: HomeAssistant, domain: str, unique_id: str) -> State:
    entity_id = _entity_id(hass, domain, unique_id)
    assert entity_id is not None, unique_id
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state


async def _written(rig: Rig, payload: bytes, unique_id: str = RAW_DOWNLINK) -> State:
    """Write `payload` from the platform; return the raw sensor's state once it shows it.

    Also waits for the event entity, which announces the payload one loop iteration
    after the sensors have it.
    """
    hex_payload = payload.hex().upper()
    await rig.write(payload, DOWNLINK if unique_id == RAW_DOWNLINK else UPLINK)

    def shown(domain: str, shown_by: str) -> bool:
        entity_id = _entity_id(rig.hass, domain, shown_by)
        state = rig.hass.states.get(entity_id) if entity_id else None
        return state is not None and state.attributes.get("hex") == hex_payload

    await until(lambda: shown("sensor", unique_id) and shown("event", EVENT))
    return _state(rig.hass, "sensor", unique_id)


@pytest.mark.parametrize(
    "ha2_data_mode", [DATA_MODE_DIRECT_PUSH, DATA_MODE_BUFFER_ACCESS], indirect=True
)
async def test_platform_writes_become_raw_sensor_and_events(rig: Rig) -> None:
    # The resource the platform writes has its sensor from the start, with no value yet.
    assert _state(rig.hass, "sensor", RAW_DOWNLINK).state == STATE_UNKNOWN
    event_before = _state(rig.hass, "event", EVENT)
    assert event_before.state == STATE_UNKNOWN

    text = await _written(rig, b"PUMP ON")
    assert text.state == "PUMP ON"
    assert text.attributes["length"] == 7
    assert text.attributes["hex"] == "50554D50204F4E"
    assert text.attributes["received_at"]
    assert text.name == f"{module_title(IMEI)} Resource 19/1/0"
    event = _state(rig.hass, "event", EVENT)
    assert event.attributes["event_type"] == "data_received"
    assert {key: event.attributes[key] for key in ("object", "instance", "resource")} == {
        "object": 19,
        "instance": 1,
        "resource": 0,
    }
    assert event.attributes["text"] == "PUMP ON"
    assert event.attributes["length"] == 7

    binary = await _written(rig, bytes.fromhex("AAAA0000"))
    assert binary.state == "AAAA0000"
    assert binary.attributes["length"] == 4
    event = _state(rig.hass, "event", EVENT)
    assert event.attributes["hex"] == "AAAA0000"
    assert "text" not in event.attributes

    full = await _written(rig, bytes(range(256)) * 2)
    assert len(full.state) == 255
    assert full.attributes["length"] == 512


async def test_a_payload_updates_only_the_entities_of_its_path(rig: Rig) -> None:
    await _written(rig, b"first")
    downlink_before = _state(rig.hass, "sensor", RAW_DOWNLINK)
    uplink_state = await _written(rig, b"other path", RAW_UPLINK)
    assert uplink_state.state == "other path"
    assert _state(rig.hass, "sensor", RAW_DOWNLINK) is downlink_before  # not written again
    assert _state(rig.hass, "event", EVENT).attributes["instance"] == 0


async def test_every_payload_fires_one_event(rig: Rig) -> None:
    events: list[dict[str, Any]] = []
    event_id = _entity_id(rig.hass, "event", EVENT)

    @callback  # inside the state write: a plain function would run later, in a thread
    def record(event: Any) -> None:
        if event.data["entity_id"] == event_id and event.data["new_state"] is not None:
            events.append(dict(event.data["new_state"].attributes))

    unsubscribe = rig.hass.bus.async_listen("state_changed", record)
    for payload in (b"one", b"two", b"three"):
        await _written(rig, payload)
    unsubscribe()
    assert [event["text"] for event in events] == ["one", "two", "three"]


async def test_the_event_finds_the_sensors_already_updated(rig: Rig) -> None:
    """An automation triggered by data_received reads the sensors' new values."""
    await _written(rig, b"first")  # the raw sensor exists from now on
    event_id = _entity_id(rig.hass, "event", EVENT)
    raw_id = _entity_id(rig.hass, "sensor", RAW_DOWNLINK)
    seen_by_event: list[str] = []

    @callback  # runs inside the event entity's state write, as a state trigger's check does
    def record(event: Any) -> None:
        if event.data["entity_id"] == event_id:
            seen_by_event.append(rig.hass.states.get(raw_id).state)

    unsubscribe = rig.hass.bus.async_listen("state_changed", record)
    await _written(rig, b"second")
    await until(lambda: bool(seen_by_event))
    unsubscribe()
    assert seen_by_event == ["second"]


async def test_announcements_come_after_every_subscriber(rig: Rig) -> None:
    """Whatever the order of subscribing, announcers hear of a payload last."""
    heard: list[str] = []
    session = rig.session
    unsubscribers = [
        session.resources.listen(Phase.ANNOUNCE, None, lambda _: heard.append("announcer")),
        session.resources.listen(Phase.UPDATE, None, lambda _: heard.append("every path")),
        session.resources.listen(Phase.UPDATE, DOWNLINK, lambda _: heard.append("its path")),
    ]
    await _written(rig, b"ordered")
    await until(lambda: len(heard) == 3)
    for unsubscribe in unsubscribers:
        unsubscribe()
    assert heard == ["its path", "every path", "announcer"]


async def test_one_read_writes_its_sensors_before_any_announcement(rig: Rig) -> None:
    """Payloads arriving in one read: all sensors first, then the announcements, in order."""
    await rig.ready()
    heard: list[str] = []
    session = rig.session
    unsubscribers = [
        session.resources.listen(
            Phase.ANNOUNCE,
            None,
            lambda downlink: heard.append(f"announce {downlink.data.decode()}"),
        ),
        session.resources.listen(
            Phase.UPDATE,
            DOWNLINK,
            lambda downlink: heard.append(f"sensor {downlink.data.decode()}"),
        ),
    ]
    # One write on the pty, as when the module prints two URCs back to back.
    rig.sim.inject(b"\r\n+QLWDATARECV: 19,1,0,1,41\r\n\r\n+QLWDATARECV: 19,1,0,1,42\r\n")
    await until(lambda: len(heard) == 4)
    for unsubscribe in unsubscribers:
        unsubscribe()
    assert heard == ["sensor A", "sensor B", "announce A", "announce B"]


async def test_an_announcer_gone_before_its_turn_hears_nothing(rig: Rig) -> None:
    """Removed between the sensors' write and the announcement (an entity unloading)."""
    await rig.ready()
    heard: list[str] = []
    session = rig.session
    remove_announcer = session.resources.listen(
        Phase.ANNOUNCE, None, lambda _: heard.append("announcer")
    )

    def sensor(_: object) -> None:
        heard.append("sensor")
        remove_announcer()  # in the read's own callback, before the next loop iteration

    remove_sensor = session.resources.listen(Phase.UPDATE, DOWNLINK, sensor)
    await _written(rig, b"late")
    await _written(rig, b"later")
    remove_sensor()
    assert heard == ["sensor", "sensor"]


async def test_a_disabled_event_entity_writes_nothing_and_sensors_still_update(
    rig: Rig, hass: HomeAssistant
) -> None:
    """A user who needs no events disables the entity: payloads then cost the sensors only."""
    await _written(rig, b"before")
    event_id = _entity_id(hass, "event", EVENT)
    raw_id = _state(hass, "sensor", RAW_DOWNLINK).entity_id
    assert event_id is not None
    er.async_get(hass).async_update_entity(event_id, disabled_by=er.RegistryEntryDisabler.USER)
    assert await hass.config_entries.async_reload(rig.entry.entry_id)
    await rig.ready()
    writes: list[tuple[str, str]] = []

    @callback  # inside the state write
    def record(event: Any) -> None:
        if event.data["new_state"] is not None:
            writes.append((event.data["entity_id"], event.data["new_state"].state))

    unsubscribe = hass.bus.async_listen("state_changed", record)
    for payload in (b"one", b"two", b"three"):
        await rig.write(payload)
        await until(lambda p=payload: _state(hass, "sensor", RAW_DOWNLINK).state == p.decode())
    await hass.async_block_till_done()
    unsubscribe()
    assert hass.states.get(event_id) is None
    assert [state for entity_id, state in writes if entity_id == raw_id] == ["one", "two", "three"]
    assert not [entity_id for entity_id, _ in writes if entity_id.startswith("event.")]

    er.async_get(hass).async_update_entity(event_id, disabled_by=None)
    assert await hass.config_entries.async_reload(rig.entry.entry_id)
    await rig.ready()
    await _written(rig, b"after")
    assert _state(hass, "event", EVENT).attributes["text"] == "after"


async def test_raw_sensors_come_back_after_a_restart(rig: Rig, hass: HomeAssistant) -> None:
    await _written(rig, b"before restart")
    await _written(rig, b"\x01\x02", RAW_UPLINK)
    await async_mock_restore_state_shutdown_restart(hass)  # stored as JSON, as at shutdown
    assert await hass.config_entries.async_unload(rig.entry.entry_id)
    await async_mock_load_restore_state_from_storage(hass)
    assert await hass.config_entries.async_setup(rig.entry.entry_id)
    await hass.async_block_till_done()
    restored = _state(hass, "sensor", RAW_DOWNLINK)
    assert restored.state == "before restart"
    assert restored.attributes["hex"] == b"before restart".hex().upper()
    assert _state(hass, "sensor", RAW_UPLINK).state == "0102"
    await rig.ready()
    assert (await _written(rig, b"after restart")).state == "after restart"


async def test_known_paths_come_back_even_without_stored_payload(
    hass: HomeAssistant, ha2_entry: MockConfigEntry, lwm2m_bc26: Any
) -> None:
    registry = er.async_get(hass)
    known = registry.async_get_or_create(
        "sensor", DOMAIN, RAW_UPLINK, config_entry=ha2_entry, suggested_object_id="uplink"
    )
    damaged = registry.async_get_or_create(
        "sensor", DOMAIN, RAW_DOWNLINK, config_entry=ha2_entry, suggested_object_id="downlink"
    )
    unrelated = registry.async_get_or_create(
        "sensor", DOMAIN, f"{IMEI}-resource-not-a-path", config_entry=ha2_entry
    )
    mock_restore_cache_with_extra_data(
        hass,
        [(State(damaged.entity_id, "x"), {"hex": "not hex", "received_at": "2026-11-24"})],
    )
    sim, platform = lwm2m_bc26
    rig = Rig(hass, ha2_entry, sim, platform)
    assert await hass.config_entries.async_setup(ha2_entry.entry_id)
    await rig.ready()
    assert hass.states.get(known.entity_id).state == STATE_UNKNOWN  # type: ignore[union-attr]
    assert hass.states.get(damaged.entity_id).state == STATE_UNKNOWN  # type: ignore[union-attr]
    assert hass.states.get(unrelated.entity_id) is None
    assert (await _written(rig, b"fresh")).entity_id == damaged.entity_id
    assert await hass.config_entries.async_unload(ha2_entry.entry_id)


def _sensor_data(name: str, template: str, **extra: str) -> dict[str, Any]:
    return {"name": name, "resource_path": "19/1/0", "value_template": template, **extra}


async def _add_decoded(hass: HomeAssistant, entry_id: str, data: dict[str, Any]) -> str:
    result = await hass.config_entries.subentries.async_init(
        (entry_id, SUBENTRY_RESOURCE_SENSOR), context={"source": "user"}
    )
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], data)
    assert result["type"] == "create_entry", result
    await hass.async_block_till_done()  # the sensor is added in a task of its own
    entry = hass.config_entries.async_get_entry(entry_id)
    assert entry is not None
    return next(
        decoded_unique_id(entry, subentry_id)
        for subentry_id, subentry in entry.subentries.items()
        if subentry.title == data["name"]
    )


async def test_decoded_sensors_share_one_frame(rig: Rig, hass: HomeAssistant) -> None:
    temperature = await _add_decoded(
        hass,
        rig.entry.entry_id,
        _sensor_data(
            "Outdoor temperature",
            TEMPERATURE,
            unit_of_measurement="°C",
            device_class="temperature",
            state_class="measurement",
        ),
    )
    humidity = await _add_decoded(
        hass,
        rig.entry.entry_id,
        _sensor_data(
            "Outdoor humidity",
            HUMIDITY,
            unit_of_measurement="%",
            device_class="humidity",
            state_class="measurement",
        ),
    )
    assert _state(hass, "sensor", temperature).state == STATE_UNKNOWN
    await _written(rig, bytes.fromhex("FF9C01F4"))  # -10.0 °C, 50.0 %
    await until(lambda: _state(hass, "sensor", humidity).state == "50.0")
    state = _state(hass, "sensor", temperature)
    assert state.state == "-10.0"
    assert state.attributes["unit_of_measurement"] == "°C"
    assert state.attributes["device_class"] == "temperature"
    assert state.name == f"{module_title(IMEI)} Outdoor temperature"
    # Decoded sensors sit on the module's device, next to its other entities.
    registry = er.async_get(hass)
    decoded_entry = registry.async_get(state.entity_id)
    raw_entry = registry.async_get(_state(hass, "sensor", RAW_DOWNLINK).entity_id)
    assert decoded_entry is not None
    assert raw_entry is not None
    assert decoded_entry.device_id == raw_entry.device_id


async def test_one_payload_is_one_cause_for_every_entity_it_changes(
    rig: Rig, hass: HomeAssistant
) -> None:
    """Raw sensor, decoded sensor and event of one payload share one context; the next has its own.

    The logbook and automations read a shared context as one cause, and Home Assistant
    ties each context to the first event it caused: one per payload, not one per state.
    """
    decoded = await _add_decoded(hass, rig.entry.entry_id, _sensor_data("Level", HUMIDITY))
    contexts: list[set[str]] = []
    for payload in (bytes.fromhex("000001F4"), bytes.fromhex("000001F5")):
        await _written(rig, payload)
        await until(lambda: _state(hass, "sensor", decoded).state != STATE_UNKNOWN)
        states = [
            _state(hass, "sensor", RAW_DOWNLINK),
            _state(hass, "sensor", decoded),
            _state(hass, "event", EVENT),
        ]
        assert states[0].attributes["hex"] == payload.hex().upper()
        assert states[2].attributes["hex"] == payload.hex().upper()
        contexts.append({state.context.id for state in states})
    assert [len(ids) for ids in contexts] == [1, 1]
    assert contexts[0] != contexts[1]


async def test_events_queued_behind_a_burst_keep_their_payloads_context(
    rig: Rig, hass: HomeAssistant
) -> None:
    """Three payloads in one read: one event a millisecond, each with its payload's context."""
    await _written(rig, b"first")  # the raw sensor exists from now on
    raw_id = _state(hass, "sensor", RAW_DOWNLINK).entity_id
    event_id = _state(hass, "event", EVENT).entity_id
    seen: dict[str, dict[str, str]] = {raw_id: {}, event_id: {}}

    @callback  # inside the state write
    def record(event: Any) -> None:
        new_state = event.data["new_state"]
        if event.data["entity_id"] in seen and new_state is not None:
            seen[event.data["entity_id"]][new_state.attributes["hex"]] = new_state.context.id

    unsubscribe = hass.bus.async_listen("state_changed", record)
    burst = (b"\r\n+QLWDATARECV: 19,1,0,1,%s\r\n" % h for h in (b"41", b"42", b"43"))
    rig.sim.inject(b"".join(burst))  # one write on the pty: one read
    await until(lambda: len(seen[event_id]) == 3)
    unsubscribe()
    assert seen[event_id] == seen[raw_id]
    assert len(set(seen[raw_id].values())) == 3


async def test_text_decoded_sensor(rig: Rig, hass: HomeAssistant) -> None:
    command = await _add_decoded(
        hass, rig.entry.entry_id, _sensor_data("Command", "{{ value | lower }} ({{ value_hex }})")
    )
    await _written(rig, b"STOP")
    await until(lambda: _state(hass, "sensor", command).state == "stop (53544F50)")


async def test_failing_template_is_unavailable_with_one_log_line_and_recovers(
    rig: Rig, hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    humidity = await _add_decoded(
        hass,
        rig.entry.entry_id,
        _sensor_data("Humidity", HUMIDITY, unit_of_measurement="%", state_class="measurement"),
    )
    await _written(rig, bytes.fromhex("000001F4"))
    await until(lambda: _state(hass, "sensor", humidity).state == "50.0")
    caplog.clear()
    caplog.set_level(logging.INFO, logger="custom_components.bc26")
    for short in (b"\x01", b"\x02", b"\x03"):  # too short: value_bytes[2] is undefined
        await _written(rig, short)
        await until(lambda: _state(hass, "sensor", humidity).state == STATE_UNAVAILABLE)
    failures = [r for r in caplog.records if "value template failed" in r.getMessage()]
    assert len(failures) == 1
    assert failures[0].levelno == logging.WARNING
    assert "01" in failures[0].getMessage()
    assert "19/1/0" in failures[0].getMessage()
    await _written(rig, bytes.fromhex("00000203"))
    await until(lambda: _state(hass, "sensor", humidity).state == "51.5")
    assert any("works again" in r.getMessage() for r in caplog.records)


async def test_non_numeric_result_for_a_numeric_sensor_fails_cleanly(
    rig: Rig, hass: HomeAssistant
) -> None:
    level = await _add_decoded(
        hass,
        rig.entry.entry_id,
        _sensor_data("Level", "{{ value }}", unit_of_measurement="%"),
    )
    await _written(rig, b"high")
    await until(lambda: _state(hass, "sensor", level).state == STATE_UNAVAILABLE)
    await _written(rig, b"42")
    await until(lambda: _state(hass, "sensor", level).state == "42")


@pytest.mark.parametrize(
    ("settings", "payload"),
    [
        ({"template": "{{ value * 100 }}"}, b"long"),  # 400 characters of text
        ({"template": "{{ value_bytes[0] > 0 }}", "unit_of_measurement": "%"}, b"\x01"),
        ({"template": "{{ value }}", "unit_of_measurement": "%"}, b"nan"),
        ({"template": "{{ value | float / 0 }}", "unit_of_measurement": "%"}, b"1"),
    ],
)
async def test_results_home_assistant_cannot_show_make_the_sensor_unavailable(
    rig: Rig, hass: HomeAssistant, settings: dict[str, str], payload: bytes
) -> None:
    sensor = await _add_decoded(hass, rig.entry.entry_id, _sensor_data("Odd", **settings))
    await _written(rig, payload)
    await until(lambda: _state(hass, "sensor", sensor).state == STATE_UNAVAILABLE)


async def test_changes_of_other_entries_are_ignored(rig: Rig, hass: HomeAssistant) -> None:
    sensor = await _add_decoded(hass, rig.entry.entry_id, _sensor_data("Text", "{{ value }}"))
    other = MockConfigEntry(domain="other", title="Other")
    other.add_to_hass(hass)
    hass.config_entries.async_update_entry(other, title="Still other")
    hass.config_entries.async_update_entry(rig.entry, title=rig.entry.title + " ")
    await hass.async_block_till_done()
    await _written(rig, b"still here")
    await until(lambda: _state(hass, "sensor", sensor).state == "still here")


async def test_subentry_reconfigure_and_remove(rig: Rig, hass: HomeAssistant) -> None:
    entry_id = rig.entry.entry_id
    temperature = await _add_decoded(
        hass, entry_id, _sensor_data("Temperature", HUMIDITY, unit_of_measurement="°C")
    )
    await _written(rig, bytes.fromhex("00D70190"))
    await until(lambda: _state(hass, "sensor", temperature).state == "40.0")
    entity_id = _entity_id(hass, "sensor", temperature)

    subentry_id = temperature.rsplit("-", 1)[1]
    result = await hass.config_entries.subentries.async_init(
        (entry_id, SUBENTRY_RESOURCE_SENSOR),
        context={"source": "reconfigure", "subentry_id": subentry_id},
    )
    assert result["type"] == "form"
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        _sensor_data(
            "Indoor temperature",
            "{{ (value_bytes[0] * 256 + value_bytes[1]) / 10 }}",
            unit_of_measurement="°C",
            device_class="temperature",
            state_class="measurement",
        ),
    )
    assert result["type"] == "abort"
    assert result["reason"] == "reconfigure_successful"
    # The new template decodes the last payload at once; the entity keeps its id.
    await until(lambda: _state(hass, "sensor", temperature).state == "21.5")
    state = _state(hass, "sensor", temperature)
    assert state.entity_id == entity_id
    assert state.name == f"{module_title(IMEI)} Indoor temperature"
    assert state.attributes["device_class"] == "temperature"
    assert state.attributes["state_class"] == "measurement"
    assert rig.entry.subentries[subentry_id].title == "Indoor temperature"
    await _written(rig, bytes.fromhex("00DC0190"))
    await until(lambda: _state(hass, "sensor", temperature).state == "22.0")

    assert hass.config_entries.async_remove_subentry(rig.entry, subentry_id)
    await hass.async_block_till_done()
    assert _entity_id(hass, "sensor", temperature) is None
    assert hass.states.get(entity_id) is None
    await _written(rig, bytes.fromhex("00010002"))  # nothing left to update; nothing breaks


@pytest.mark.parametrize(
    "ha2_subentries",
    [
        [
            ConfigSubentryData(
                data=_sensor_data("Humidity", HUMIDITY, unit_of_measurement="%"),
                subentry_type=SUBENTRY_RESOURCE_SENSOR,
                title="Humidity",
                unique_id=None,
            )
        ]
    ],
)
async def test_decoded_sensors_restore_their_value(rig: Rig, hass: HomeAssistant) -> None:
    (subentry_id,) = (
        subentry_id
        for subentry_id, subentry in rig.entry.subentries.items()
        if subentry.subentry_type == SUBENTRY_RESOURCE_SENSOR
    )
    humidity = decoded_unique_id(rig.entry, subentry_id)
    await _written(rig, bytes.fromhex("00000190"))
    await until(lambda: _state(hass, "sensor", humidity).state == "40.0")
    await async_mock_restore_state_shutdown_restart(hass)
    assert await hass.config_entries.async_unload(rig.entry.entry_id)
    await async_mock_load_restore_state_from_storage(hass)
    assert await hass.config_entries.async_setup(rig.entry.entry_id)
    await hass.async_block_till_done()
    assert _state(hass, "sensor", humidity).state == "40.0"
    await rig.ready()
    # A subentry removed while the entry is not loaded takes its sensor along at setup.
    assert await hass.config_entries.async_unload(rig.entry.entry_id)
    assert hass.config_entries.async_remove_subentry(rig.entry, subentry_id)
    assert _entity_id(hass, "sensor", humidity) is not None
    assert await hass.config_entries.async_setup(rig.entry.entry_id)
    await hass.async_block_till_done()
    assert _entity_id(hass, "sensor", humidity) is None
    assert _entity_id(hass, "sensor", RAW_DOWNLINK) is not None
    await rig.ready()


async def _reconfigure(
    hass: HomeAssistant, entry_id: str, subentry_id: str, data: dict[str, Any]
) -> None:
    result = await hass.config_entries.subentries.async_init(
        (entry_id, SUBENTRY_RESOURCE_SENSOR),
        context={"source": "reconfigure", "subentry_id": subentry_id},
    )
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], data)
    assert result["type"] == "abort", result
    assert result["reason"] == "reconfigure_successful"


def _decoded_subentry(data: dict[str, Any]) -> list[ConfigSubentryData]:
    return [
        ConfigSubentryData(
            data=data, subentry_type=SUBENTRY_RESOURCE_SENSOR, title=data["name"], unique_id=None
        )
    ]


@pytest.mark.parametrize(
    ("ha2_subentries", "before", "changed", "decoded", "after"),
    [
        (  # text becomes a temperature: Home Assistant would refuse "warming up"
            _decoded_subentry(_sensor_data("Reading", "{{ value }}")),
            b"warming up",
            _sensor_data(
                "Reading",
                "{{ value | float(0) }}",
                unit_of_measurement="°C",
                device_class="temperature",
                state_class="measurement",
            ),
            "0",
            "30.0",
        ),
        (  # °C becomes °F: 21.5 would show as 21.5 °F
            _decoded_subentry(
                _sensor_data("Reading", "{{ value | float }}", unit_of_measurement="°C")
            ),
            b"21.5",
            _sensor_data("Reading", "{{ value | float * 1.8 + 32 }}", unit_of_measurement="°F"),
            "70.7",
            "86.0",
        ),
    ],
)
async def test_a_sensor_changed_while_not_loaded_does_not_restore_what_no_longer_fits(
    rig: Rig,
    hass: HomeAssistant,
    caplog: pytest.LogCaptureFixture,
    before: bytes,
    changed: dict[str, Any],
    decoded: str,
    after: str,
) -> None:
    (subentry_id,) = (
        subentry_id
        for subentry_id, subentry in rig.entry.subentries.items()
        if subentry.subentry_type == SUBENTRY_RESOURCE_SENSOR
    )
    reading = decoded_unique_id(rig.entry, subentry_id)
    await _written(rig, before)
    await until(lambda: _state(hass, "sensor", reading).state == before.decode())
    await async_mock_restore_state_shutdown_restart(hass)
    assert await hass.config_entries.async_unload(rig.entry.entry_id)
    await async_mock_load_restore_state_from_storage(hass)
    await _reconfigure(hass, rig.entry.entry_id, subentry_id, changed)  # while not loaded
    caplog.set_level(logging.DEBUG, logger="custom_components.bc26.resource_sensor")
    assert await hass.config_entries.async_setup(rig.entry.entry_id)
    await hass.async_block_till_done()
    # The last payload as the new settings decode it (when the raw sensor restored it
    # first), or nothing yet; never the value of the old settings.
    assert _state(hass, "sensor", reading).state in (STATE_UNKNOWN, decoded)
    assert any("not restored" in record.getMessage() for record in caplog.records)
    await rig.ready()  # the session goes on: the module registers
    await _written(rig, b"30")
    await until(lambda: _state(hass, "sensor", reading).state == after)


class _NumericSensorTurningToText(SensorEntity):
    """A number at first; then text, which Home Assistant refuses at its next state write.

    It follows the session as the module's entities do.
    """

    _attr_should_poll = False
    _attr_native_unit_of_measurement = "°C"
    _attr_native_value: str | float = 21.5

    def __init__(self, rig: Rig) -> None:
        self._rig = rig

    async def async_added_to_hass(self) -> None:
        self.async_on_remove(self._rig.session.async_add_listener(self.async_write_ha_state))


@pytest.mark.logs_errors
async def test_an_entity_whose_state_write_fails_never_stops_the_session(
    rig: Rig, hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    broken = _NumericSensorTurningToText(rig)
    await MockEntityPlatform(hass, domain="sensor").async_add_entities([broken])
    added = hass.states.get(broken.entity_id) if broken.entity_id else None
    assert added is not None  # added: its state was a number
    assert added.state == "21.5"
    broken._attr_native_value = "warming up"  # each session change now raises in its write
    heard: list[bool] = []  # follows the session after the broken entity
    rig.entry.async_on_unload(rig.session.async_add_listener(lambda: heard.append(True)))
    caplog.clear()
    await rig.sim.unplug()  # the session tells its listeners the module is gone ...
    await until(lambda: not rig.session.connected)
    await rig.sim.replug()
    await rig.ready()  # ... and that it is back and registered
    assert heard
    assert _state(hass, "binary_sensor", f"{IMEI}-registered").state == "on"
    assert any(
        record.name == "custom_components.bc26.session_state" and record.exc_info
        for record in caplog.records
    )


async def test_an_oversized_integer_from_a_numeric_template_is_a_clean_failure(
    rig: Rig, hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    """A counter decoded from the frame's hex, and a frame longer than expected.

    120 bytes make an integer of 289 digits: a finite float, but a state of 289
    characters, which Home Assistant refused with a traceback at every such payload.
    """
    counter = await _add_decoded(
        hass,
        rig.entry.entry_id,
        _sensor_data("Counter", "{{ value_hex | int(base=16) }}", state_class="total_increasing"),
    )
    await _written(rig, bytes.fromhex("00000102"))
    await until(lambda: _state(hass, "sensor", counter).state == "258")
    caplog.clear()
    long_frame = bytes(range(1, 121))  # what the platform wrote to the wrong resource
    await _written(rig, long_frame)
    await _written(rig, long_frame[::-1])
    await until(lambda: _state(hass, "sensor", counter).state == STATE_UNAVAILABLE)
    await hass.async_block_till_done()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # one for the run of failures
    assert "more digits than a state holds" in warnings[0]


async def test_a_decoded_text_with_a_nul_is_a_clean_failure(
    rig: Rig, hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    """A C string ("ON" and its NUL) decoded with `{{ value }}`: the NUL is refused.

    Shown, it looked like ON and no `== 'ON'` matched it, and a PostgreSQL recorder
    cannot store it (Home Assistant strips NULs from attributes only). The warning
    says how to drop it, and that template works.
    """
    data = _sensor_data("Command", "{{ value }}")
    command = await _add_decoded(hass, rig.entry.entry_id, data)
    await _written(rig, b"ON\x00")
    await until(lambda: _state(hass, "sensor", command).state == STATE_UNAVAILABLE)
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "NUL" in warning
    fixed = await _add_decoded(
        hass, rig.entry.entry_id, _sensor_data("Fixed", "{{ value | replace('\\x00', '') }}")
    )
    await _written(rig, b"ON\x00")
    await until(lambda: _state(hass, "sensor", fixed).state == "ON")
