"""Inputs that pass Home Assistant's schemas and must still be refused, with a translated error.

Each goes through a public face (a service call, a subentry flow) against the virtual
BC26 and the local platform; nothing may reach the modem or be saved.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from homeassistant.config_entries import SOURCE_RECONFIGURE, SOURCE_USER, ConfigSubentryData
from homeassistant.const import CONF_ENTITY_ID
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.template import Template
import pytest

from custom_components.bc26.const import DOMAIN, SUBENTRY_OBJECT, SUBENTRY_REPORT
from custom_components.bc26.object_flow import object_subentry
from custom_components.bc26.reporting import (
    CONF_CONFIRMABLE,
    CONF_DEADBAND,
    CONF_ENCODING,
    CONF_HEARTBEAT,
    CONF_KEEP_HISTORY,
    CONF_MIN_INTERVAL,
    CONF_RESOURCE_PATH,
)

from .ha2_fixtures import ENDPOINT, Rig, call_send
from .ha_fixtures import until
from .test_ha2_reporting import SENSOR, start_report

HUGE_DIGITS = "1" * 5000  # more digits than Python turns into an int (4300 by default)


@pytest.fixture
def ha2_subentries() -> list[ConfigSubentryData]:
    """The module declares an IPSO temperature for Home Assistant to report."""
    return [object_subentry(3303, 0, [], [5700], "Temperature")]


def _sends(rig: Rig) -> list[str]:
    return [command for command in rig.sim.commands if command.startswith("AT+QLWDATASEND")]


async def _send(rig: Rig, **fields: Any) -> Any:
    return await call_send(rig.hass, rig.entry.entry_id, **fields)


async def _object_flow(rig: Rig, answer: dict[str, Any]) -> dict[str, Any]:
    result = await rig.hass.config_entries.subentries.async_init(
        (rig.entry.entry_id, SUBENTRY_OBJECT), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    return dict(await rig.hass.config_entries.subentries.async_configure(result["flow_id"], answer))


# ---------------------------------------------------------------------- bc26.send


async def test_send_text_a_template_renders_with_a_lone_surrogate_is_refused(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """A Jinja string literal such as '\\ud800' renders to a lone surrogate: not UTF-8."""
    # Home Assistant's debug line of the call holds the surrogate, and pytest-xdist cannot
    # carry a report with one back from its worker.
    caplog.set_level(logging.INFO, logger="homeassistant.core")
    data = Template("{{ '\\ud800' }}", rig.hass).async_render(parse_result=False)
    assert data == "\ud800"  # what an automation's template hands the action
    with pytest.raises(ServiceValidationError) as caught:
        await _send(rig, data=data)
    assert caught.value.translation_domain == DOMAIN
    assert caught.value.translation_key == "invalid_text"
    assert _sends(rig) == []


async def test_send_with_an_overlong_number_is_refused_with_a_translated_error(rig: Rig) -> None:
    """int() and str() refuse more than 4,300 digits: the refusal must not need them.

    (A template renders such a number as digits. A Python int that long fails in Home
    Assistant's own debug log of the call, before any integration sees it.)
    """
    fields = {"object_id": HUGE_DIGITS, "instance_id": 0, "resource_id": 0}
    with pytest.raises(ServiceValidationError) as caught:
        await _send(rig, data="ON", **fields)
    assert caught.value.translation_domain == DOMAIN
    assert caught.value.translation_key == "invalid_id"
    assert _sends(rig) == []


# ---------------------------------------------------------------------- object flow


async def test_object_flow_resource_list_with_an_overlong_number_shows_a_form_error(
    rig: Rig,
) -> None:
    """More digits than int() takes: a form error, not an unknown error."""
    before = dict(rig.entry.subentries)
    answer = {
        "object": 3311,
        "instance": 0,
        "written": "",
        "reported": HUGE_DIGITS,
        "name": "",
        "register_now": False,
    }
    result = await _object_flow(rig, answer)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"reported": "invalid_resources"}
    assert dict(rig.entry.subentries) == before


async def test_object_reconfigure_cannot_undeclare_a_resource_an_entity_is_reported_on(
    rig: Rig,
) -> None:
    """Dropping 5700 from 3303/0 while an entity is reported on 3303/0/5700 is refused.

    Saved, the entity's values would go on into the outbox for a resource the module
    no longer declares, be refused by the module again and again, and expire.
    """
    rig.hass.states.async_set(SENSOR, "21.5")
    result = await start_report(rig)
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await rig.hass.async_block_till_done()
    (object_id,) = [
        key
        for key, sub in rig.entry.subentries.items()
        if sub.subentry_type == SUBENTRY_OBJECT and sub.unique_id == "3303/0"
    ]
    result = await rig.hass.config_entries.subentries.async_init(
        (rig.entry.entry_id, SUBENTRY_OBJECT),
        context={"source": SOURCE_RECONFIGURE, "subentry_id": object_id},
    )
    answer = {
        "object": 3303,
        "instance": 0,
        "written": "",
        "reported": "5701",
        "name": "Temperature",
        "register_now": False,
    }
    result = await rig.hass.config_entries.subentries.async_configure(result["flow_id"], answer)
    assert result["type"] is FlowResultType.FORM, (
        "5700 undeclared while an entity is still reported on 3303/0/5700: "
        f"{rig.entry.subentries[object_id].data}"
    )
    assert result["errors"] == {"base": "still_reported"}
    assert result["description_placeholders"] == {"entity": SENSOR, "path": "3303/0/5700"}


# ---------------------------------------------------------------------- report flow


async def test_report_flow_path_with_an_overlong_number_shows_a_form_error(rig: Rig) -> None:
    """A custom path typed into the dropdown with more digits than int() takes."""
    rig.hass.states.async_set(SENSOR, "21.5")
    before = dict(rig.entry.subentries)
    result = await start_report(rig, **{CONF_RESOURCE_PATH: f"{HUGE_DIGITS}/0/0"})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_RESOURCE_PATH: "invalid_path"}
    assert dict(rig.entry.subentries) == before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (CONF_MIN_INTERVAL, "nan"),
        (CONF_HEARTBEAT, "nan"),
        (CONF_DEADBAND, "nan"),
        (CONF_HEARTBEAT, 0.001),  # the selector says whole seconds; this is 1 ms
        (CONF_DEADBAND, "inf"),  # the selectors' ranges refuse inf elsewhere, not here
    ],
)
async def test_report_flow_refuses_nan_and_sub_second_timing(
    rig: Rig, field: str, value: Any
) -> None:
    """A NumberSelector takes "nan" and "inf" (no range check refuses them).

    A NaN minimum interval, deadband or heartbeat would turn that feature off without
    a word, and Home Assistant's storage writes NaN as null: after a restart the entry
    would fail to set up. A heartbeat of 0.001 s would report every millisecond.
    """
    rig.hass.states.async_set(SENSOR, "21.5")
    before = dict(rig.entry.subentries)
    result = await start_report(rig, **{field: value})
    assert result["type"] is FlowResultType.FORM, f"{field}={value!r} was saved"
    assert field in result["errors"]
    assert dict(rig.entry.subentries) == before
    await asyncio.sleep(0)


@pytest.mark.parametrize(
    "ha2_subentries",
    [
        [
            object_subentry(3303, 0, [], [5700], "Temperature"),
            ConfigSubentryData(
                data={
                    CONF_ENTITY_ID: SENSOR,
                    CONF_RESOURCE_PATH: "3303/0/5700",
                    CONF_ENCODING: "text",
                    CONF_CONFIRMABLE: False,
                    CONF_MIN_INTERVAL: None,  # NaN, as Home Assistant's storage wrote it
                    CONF_HEARTBEAT: None,
                    CONF_KEEP_HISTORY: False,
                },
                subentry_type=SUBENTRY_REPORT,
                title=f"{SENSOR} → 3303/0/5700",
                unique_id="3303/0/5700",
            ),
        ]
    ],
)
async def test_a_report_saved_with_nan_before_the_form_refused_it_still_loads(rig: Rig) -> None:
    """Such an entry failed to set up (float(None)); its timing now reads as none."""
    assert (await rig.platform.observe(ENDPOINT, (3303, 0, 5700))).ok
    rig.hass.states.async_set(SENSOR, "21.5")
    await until(lambda: [u.payload for u in rig.platform.uplinks][-1:] == [b"21.5"])
