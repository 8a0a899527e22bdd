"""What a user or a download gives away, who may disturb the module, and what gets logged."""

from __future__ import annotations

import json
import logging
from typing import Any

from homeassistant.auth.const import GROUP_ID_USER
from homeassistant.auth.models import User
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import Unauthorized
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    WebSocketGenerator,
)

from bc26sim import Bc26Simulator, ScriptedNetwork
from custom_components.bc26.const import DOMAIN
from custom_components.bc26.coordinator import Bc26Coordinator
from custom_components.bc26.timing import SessionTiming

from .ha2_fixtures import ENDPOINT, Rig
from .ha_fixtures import IMEI, SLUG, module_entry, until

# ---------------------------------------------------------------------- S1: who may act


@pytest.mark.parametrize("action", ["reregister", "update_registration"])
async def test_registration_actions_are_for_administrators(
    rig: Rig, hass_read_only_user: User, action: str
) -> None:
    before = rig.platform.registrations[ENDPOINT]
    with pytest.raises(Unauthorized):
        await rig.hass.services.async_call(
            DOMAIN,
            action,
            {"config_entry_id": rig.entry.entry_id},
            blocking=True,
            context=Context(user_id=hass_read_only_user.id),
        )
    after = rig.platform.registrations[ENDPOINT]
    assert (after.location, after.updates) == (before.location, before.updates)


@pytest.mark.parametrize("button", ["register_again", "update_registration"])
async def test_registration_buttons_are_for_administrators_too(
    rig: Rig, hass_admin_user: User, button: str
) -> None:
    """A button must not open what its action keeps to administrators.

    A user (not read-only) may press any button: the button itself must refuse.
    """
    user = await rig.hass.auth.async_create_user("Guest", group_ids=[GROUP_ID_USER])

    async def press(by: User) -> None:
        await rig.hass.services.async_call(
            "button",
            "press",
            {"entity_id": f"button.{SLUG}_{button}"},
            blocking=True,
            context=Context(user_id=by.id),
        )

    before = rig.platform.registrations[ENDPOINT]
    with pytest.raises(Unauthorized):
        await press(user)
    after = rig.platform.registrations[ENDPOINT]
    assert (after.location, after.updates) == (before.location, before.updates)
    await press(hass_admin_user)
    after = rig.platform.registrations[ENDPOINT]
    assert (after.location, after.updates) != (before.location, before.updates)


async def test_every_user_may_send(rig: Rig, hass_read_only_user: User) -> None:
    answer = await rig.hass.services.async_call(
        DOMAIN,
        "send",
        {"config_entry_id": rig.entry.entry_id, "data": "from a user"},
        blocking=True,
        return_response=True,
        context=Context(user_id=hass_read_only_user.id),
    )
    assert answer == {"status": "sent"}


# ---------------------------------------------------------------------- S3: diagnostics


@pytest.fixture
async def short_endpoint_entry(
    hass: HomeAssistant, fast_timing: SessionTiming, bc26_port: str
) -> MockConfigEntry:
    """An endpoint named "2" (a substring of half the transcript) and a server by name."""
    entry = module_entry(bc26_port, server="localhost", endpoint="2")
    entry.add_to_hass(hass)
    return entry


async def test_diagnostics_redact_by_token_and_leave_the_rest_readable(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    short_endpoint_entry: MockConfigEntry,
    bc26: Bc26Simulator,
    scripted_network: ScriptedNetwork,
) -> None:
    entry = short_endpoint_entry
    assert await hass.config_entries.async_setup(entry.entry_id)
    session: Bc26Coordinator = entry.runtime_data.session
    await until(lambda: session.registered and (19, 0, 0) in session.resources.observed)
    await until(lambda: session.link.ip_address is not None)
    assert await scripted_network.write((19, 1, 0), b"secret downlink")
    await until(lambda: session.resources.received == 1)
    await hass.services.async_call(
        DOMAIN,
        "send",
        {"config_entry_id": entry.entry_id, "data": "secret uplink"},
        blocking=True,
    )
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = json.dumps(diagnostics)
    for secret in (
        IMEI,
        "localhost",  # the server as configured
        "127.0.0.1",  # the server as resolved
        "10.52.241.198",  # the module's address
        b"secret downlink".hex().upper(),
        b"secret uplink".hex().upper(),
    ):
        assert secret not in text, secret
    transcript = diagnostics["transcript"]
    assert 'tx AT+QLWCONF="**REDACTED**"' in transcript
    assert "rx +CSQ: 23,0" in transcript  # an endpoint named 2 garbles nothing
    assert 'tx AT+QLWSERV="**REDACTED**",5683' in transcript
    assert "rx +CGPADDR: 1,**REDACTED**" in transcript
    assert any(line.startswith("rx +QLWDATARECV: 19,1,0,15,**REDACTED**") for line in transcript)
    assert any(
        line.startswith("tx AT+QLWDATASEND=19,0,0,13,**REDACTED**,0x0000") for line in transcript
    )
    assert await hass.config_entries.async_unload(entry.entry_id)


# ---------------------------------------------------------------------- F12: logging


async def test_a_refused_send_is_one_log_line_without_a_traceback(
    rig: Rig,
    hass_ws_client: WebSocketGenerator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await rig.platform.stop()
    await rig.sim.reboot()  # the module forgets its registration and cannot register again
    await until(lambda: not rig.session.registered)
    client = await hass_ws_client(rig.hass)
    caplog.clear()
    for n in range(20):
        await client.send_json_auto_id(
            {
                "type": "call_service",
                "domain": DOMAIN,
                "service": "send",
                "service_data": {"config_entry_id": rig.entry.entry_id, "data": f"refused {n}"},
            }
        )
        answer: dict[str, Any] = await client.receive_json()
        assert not answer["success"]
        assert answer["error"]["translation_key"] == "not_registered"
        assert "not registered" in answer["error"]["message"]
    records = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert all(record.exc_info is None for record in records)
    assert not any("Unexpected exception" in record.getMessage() for record in records)
    assert len(records) <= 20  # at most one line a call (Home Assistant's own)
